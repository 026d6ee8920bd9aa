/* index.h: a queue's in-memory index: live messages by id, the ready heap and the timer heap. */
#ifndef MMQ_INDEX_H
#define MMQ_INDEX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum entry_state {
	ENTRY_GONE = 0,	/* removed; kept only until the array is compacted */
	ENTRY_READY,	/* can be delivered now */
	ENTRY_DELAYED,	/* waits until visible_ms */
	ENTRY_LEASED,	/* hidden until visible_ms, the lease's expiry */
	ENTRY_MOVING	/* on its way to the dead-letter queue */
};

/* One live message: about 40 bytes, no payload. */
struct entry {
	uint64_t id;
	uint64_t visible_ms; /* delayed: end of the delay; leased: lease expiry */
	uint64_t lease;	     /* the current lease token, 0 if never leased */
	uint32_t segment;    /* segment number */
	uint32_t offset;     /* the record's offset in its segment */
	uint32_t len;	     /* payload bytes */
	uint32_t deliveries;
	uint8_t state;
};

struct timer {
	uint64_t at;
	uint64_t id;
};

/*
 * Entries sit in one array sorted by id (ids only grow); removed ones turn
 * ENTRY_GONE and are squeezed out from time to time. ready is a min-heap of
 * ids and timers a min-heap by time; both may hold stale items, which the
 * caller recognises by the entry's state and skips.
 */
struct index {
	struct entry *e;
	size_t head, tail, cap; /* entries live in e[head..tail) */
	size_t gone;		/* ENTRY_GONE entries inside [head, tail) */
	uint64_t *ready;
	size_t nready, cap_ready;
	struct timer *timers;
	size_t ntimers, cap_timers;
};

/* idx_free frees the index's arrays. This function can't fail. */
void idx_free(struct index *x);

/* idx_append adds e, whose id must exceed every id in the index. Returns false when out of memory. */
bool idx_append(struct index *x, const struct entry *e);

/* idx_reserve makes room for n more entries, ready ids and timers, so applying n records cannot fail. */
bool idx_reserve(struct index *x, size_t n);

/* idx_find returns the live entry with id, or NULL. Borrowed until the next idx_remove or idx_append. */
struct entry *idx_find(struct index *x, uint64_t id);

/* idx_remove marks e gone and compacts when worthwhile; entry pointers are then invalid. */
void idx_remove(struct index *x, struct entry *e);

/* idx_first returns the index of the first entry (maybe gone) in x->e, for iteration up to x->tail. */
size_t idx_first(const struct index *x);

/* ready_push adds id to the ready heap. Returns false when out of memory. */
bool ready_push(struct index *x, uint64_t id);

/* ready_pop removes the smallest id into *id; false when the heap is empty. */
bool ready_pop(struct index *x, uint64_t *id);

/* timer_push adds (at, id) to the timer heap. Returns false when out of memory. */
bool timer_push(struct index *x, uint64_t at, uint64_t id);

/* timer_peek returns the earliest timer, or NULL when there is none. */
const struct timer *timer_peek(const struct index *x);

/* timer_pop removes the earliest timer. The heap must not be empty. */
void timer_pop(struct index *x);

/* idx_clear_heaps empties both heaps, for a rebuild. This function can't fail. */
void idx_clear_heaps(struct index *x);

#endif

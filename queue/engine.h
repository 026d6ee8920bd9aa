/* engine.h: the engine's internal structures and the calls between its files (not for api/). */
#ifndef MMQ_ENGINE_H
#define MMQ_ENGINE_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "index.h"
#include "meta.h"
#include "queue.h"
#include "record.h"
#include "segment.h"

/* A durability waiter registered with queue_ticket_notify(). */
struct waiter {
	uint64_t pos;
	enum queue_err result; /* set when it is settled */
	queue_done_fn fn;
	void *ctx;
	struct waiter *next;
};

/*
 * One open queue. Everything below lock is guarded by it; refs by atomics.
 * The sync path reads segments under lock and syncs them without it.
 */
struct queue {
	char name[QUEUE_NAME_MAX + 1];
	struct queue_store *store;
	atomic_int refs;
	int dirfd;
	int metafd;
	pthread_mutex_t lock;
	pthread_cond_t durable_cond;
	bool deleted;
	bool dirty_listed;	  /* on the store's dirty list (guarded by the store's sync_lock) */
	bool syncing;		  /* a thread is syncing this queue */
	bool sync_again;	  /* and another pass was asked for meanwhile */
	struct queue *dirty_next; /* guarded by the store's sync_lock */
	struct meta meta;	  /* settings and the last checkpoint written */
	struct index idx;
	struct segment **segs;	  /* live segments in order */
	size_t nsegs, cap_segs;
	size_t active;		  /* segs[active] takes appends; later ones were made ahead for a batch */
	uint64_t next_seg_size;
	uint64_t next_seq;
	uint64_t durable_seq;	  /* every record up to this seq is on stable storage */
	enum queue_err failed;	  /* QUEUE_SYNCFAIL once a sync failed */
	struct waiter *waiters;
	uint64_t sync_waiters;	  /* tickets handed out since the last sync pass */
	uint64_t totals[TOTAL_COUNT];
	uint64_t depth, in_flight, delayed, bytes, live_bytes;
	uint64_t written_bytes;	  /* record bytes in the live segments, live or not */
	uint64_t next_timer_ms;	  /* earliest timer, UINT64_MAX when none */
	bool replaying;
	bool open_batch;	  /* the last record appended has MORE: the next one continues its batch */
	uint64_t replayed; /* records applied when the queue was opened */
};

struct queue_watch {
	struct queue_store *store;
	char name[QUEUE_NAME_MAX + 1];
	queue_watch_fn fn;
	void *ctx;
	struct queue_watch *prev, *next;
};

struct queue_store {
	struct queue_store_options opts;
	int dirfd;	  /* the data directory */
	int queues_dirfd; /* <data>/queues */
	int lockfd;
	pthread_rwlock_t map_lock; /* guards queues[] */
	struct queue **queues;	   /* sorted by name */
	size_t nqueues, cap_queues;
	pthread_mutex_t admin_lock; /* serialises creating and deleting queues */
	uint64_t delete_counter;
	pthread_mutex_t watch_lock;
	struct queue_watch *watches;
	atomic_size_t nwatches;
	pthread_mutex_t sync_lock;
	pthread_cond_t sync_cond;
	struct queue *dirty_head, *dirty_tail;
	pthread_t sync_threads[2]; /* always: two, so one queue's msync does not hold up another's */
	size_t nsync_threads;
	pthread_mutex_t tick_lock; /* one tick at a time: a tick returns with its dead-letter moves done */
	pthread_mutex_t timer_lock;
	pthread_cond_t timer_cond;
	_Atomic uint64_t next_deadline;
	pthread_t timer_thread;
	bool timer_started;
	bool stopping;
	struct queue_recovery recovery;
	atomic_uint_fast64_t syncs, sync_failures, sync_ns, synced_records, synced_waiters;
	atomic_uint_fast64_t sync_buckets[QUEUE_SYNC_BUCKETS];
	_Atomic uint64_t free_bytes;	  /* free space last seen on the data directory's filesystem */
	_Atomic uint64_t free_checked_ms; /* when */
};

/* registry.c */
uint64_t store_now(const struct queue_store *st);
struct queue *queue_new(struct queue_store *st, const char *name);
void queue_free(struct queue *q);
void queue_unref(struct queue *q);
void queue_ref(struct queue *q);
enum queue_err store_insert(struct queue_store *st, struct queue *q);
size_t store_size(struct queue_store *st);
struct queue *store_lookup(struct queue_store *st, const char *name);
enum queue_err store_unlist(struct queue_store *st, const char *name, struct queue **out);
struct queue **store_snapshot(struct queue_store *st, size_t *count);
void store_timer_hint(struct queue_store *st, uint64_t at);
void store_count_sync(struct queue_store *st, uint64_t ns, uint64_t records, uint64_t waiters, bool ok);

/* watches.c */
void store_notify(struct queue_store *st, const char *name);

/* admin.c */
enum queue_err store_create(struct queue_store *st, const char *name, const struct queue_settings *s,
			    struct queue **out);
enum queue_err store_get(struct queue_store *st, const char *name, bool create, struct queue **out);

/* qfile.c: opening, creating and checkpointing one queue's files */
enum queue_err qf_create(struct queue_store *st, const char *name, const struct queue_settings *s,
			 struct queue **out);
enum queue_err qf_open(struct queue_store *st, const char *name, struct queue_recovery *rep,
		       struct queue **out);
enum queue_err qf_checkpoint(struct queue *q, bool clean);
enum queue_err qf_remove_dir(struct queue_store *st, const char *name);
void qf_remove_leftovers(int queues_dirfd);
typedef enum queue_err (*qf_walk_fn)(void *ctx, const char *name);
enum queue_err qf_walk(int dirfd, qf_walk_fn fn, void *ctx);

/* apply.c */
struct segment *apply_segment(struct queue *q, uint64_t number);
void apply_record(struct queue *q, const struct rec_header *h, const uint8_t *body,
		  const struct segment *seg, uint64_t off);
void apply_set_state(struct queue *q, struct entry *e, uint8_t state);
void apply_drop_corrupt(struct queue *q, struct entry *e);
uint64_t apply_due_timers(struct queue *q, uint64_t now, uint64_t **moves, size_t *nmoves,
			  bool *woke);

/* qlog.c */
bool qlog_space_ok(struct queue *q, uint64_t bytes);
enum queue_err qlog_reserve(struct queue *q, const uint64_t *sizes, size_t n, uint64_t each);
void qlog_append(struct queue *q, uint8_t type, uint8_t flags, uint64_t word, const void *body,
		 uint32_t body_len);
void qlog_trim_front(struct queue *q);

/* enqueue.c */
enum queue_err op_begin(struct queue_store *st, const char *name, bool create,
			struct queue_ticket *t, struct queue **out);
enum queue_err op_fail(struct queue *q, enum queue_err err);
enum queue_err op_done(struct queue *q, struct queue_ticket *out, bool woke);
enum queue_err op_writable(struct queue *q, const uint64_t *sizes, size_t n, uint64_t each);

/* qsync.c: group commit */
bool qsync_ticket(struct queue *q, struct queue_ticket *t);
void qsync_kick(struct queue *q);
void *qsync_thread(void *arg);
void qsync_interval_pass(struct queue_store *st);

/* qmove.c: dead-lettering */
void qmove_dead_letters(struct queue *q, const uint64_t *ids, size_t n);

#endif

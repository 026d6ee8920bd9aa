/* apply.c: the record-to-index state machine: applying records, entry states and counts, due timers. */
#include <stdlib.h>

#include "engine.h"

struct segment *apply_segment(struct queue *q, uint64_t number)
{
	size_t lo = 0, hi = q->nsegs;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (q->segs[mid]->number < number)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < q->nsegs && q->segs[lo]->number == number ? q->segs[lo] : NULL;
}

static uint64_t *state_counter(struct queue *q, uint8_t state)
{
	switch (state) {
	case ENTRY_READY:
		return &q->depth;
	case ENTRY_DELAYED:
		return &q->delayed;
	case ENTRY_LEASED:
	case ENTRY_MOVING:
		return &q->in_flight;
	default:
		return NULL;
	}
}

void apply_set_state(struct queue *q, struct entry *e, uint8_t state)
{
	uint64_t *from = state_counter(q, e->state), *to = state_counter(q, state);
	if (from != NULL)
		(*from)--;
	if (to != NULL)
		(*to)++;
	e->state = state;
	if (q->replaying)
		return;
	/* The heaps were reserved before the record was written, so these pushes cannot fail. */
	if (state == ENTRY_READY)
		ready_push(&q->idx, e->id);
	else if (state == ENTRY_DELAYED || state == ENTRY_LEASED) {
		timer_push(&q->idx, e->visible_ms, e->id);
		if (e->visible_ms < q->next_timer_ms) {
			q->next_timer_ms = e->visible_ms;
			store_timer_hint(q->store, e->visible_ms);
		}
	}
}

/* remove_entry drops e from the index and the live counts of its segment. */
static void remove_entry(struct queue *q, struct entry *e, uint64_t by_seq)
{
	struct segment *s = apply_segment(q, e->segment);
	if (s != NULL) {
		s->live--;
		if (by_seq > s->removed_seq)
			s->removed_seq = by_seq;
	}
	q->bytes -= e->len;
	q->live_bytes -= rec_size(e->len);
	apply_set_state(q, e, ENTRY_GONE);
	idx_remove(&q->idx, e);
}

void apply_drop_corrupt(struct queue *q, struct entry *e)
{
	q->totals[TOTAL_CORRUPT]++;
	remove_entry(q, e, 0);
}

static void apply_data(struct queue *q, const struct rec_header *h, const uint8_t *body,
		       struct segment *s, uint64_t off)
{
	(void)body;
	struct entry e = {
		.id = h->seq,
		.visible_ms = h->word,
		.segment = (uint32_t)s->number,
		.offset = (uint32_t)off,
		.len = h->body_len,
		.state = ENTRY_GONE,
	};
	if (q->idx.tail > 0 && q->idx.e[q->idx.tail - 1].id >= e.id)
		return; /* ids only grow; recovery never applies an older one */
	if (!idx_append(&q->idx, &e))
		return; /* only possible during replay; the caller reserved otherwise */
	struct entry *p = &q->idx.e[q->idx.tail - 1];
	s->live++;
	q->bytes += h->body_len;
	q->live_bytes += rec_size(h->body_len);
	q->totals[TOTAL_ENQUEUED]++;
	apply_set_state(q, p, h->word > store_now(q->store) ? ENTRY_DELAYED : ENTRY_READY);
}

static void apply_remove(struct queue *q, const struct rec_header *h, const uint8_t *body,
			 struct segment *s, uint64_t off)
{
	(void)body, (void)s, (void)off;
	static const int total_of[] = { [REC_POP] = TOTAL_POPPED, [REC_ACK] = TOTAL_ACKED,
					[REC_DEAD] = TOTAL_DEAD_LETTERED };
	struct entry *e = idx_find(&q->idx, h->word);
	if (e == NULL)
		return;
	q->totals[total_of[h->type]]++;
	remove_entry(q, e, h->seq);
}

static void apply_lease(struct queue *q, const struct rec_header *h, const uint8_t *body,
			struct segment *s, uint64_t off)
{
	(void)s, (void)off;
	struct entry *e = idx_find(&q->idx, h->word);
	if (e == NULL || h->body_len < 8)
		return;
	e->lease = h->seq;
	e->visible_ms = le_get64(body);
	e->deliveries++;
	q->totals[TOTAL_LEASED]++;
	if (e->deliveries > 1)
		q->totals[TOTAL_REDELIVERED]++;
	apply_set_state(q, e, ENTRY_LEASED);
}

/* retime finds the target of a release or extend record and gives it the time in the body. */
static struct entry *retime(struct queue *q, const struct rec_header *h, const uint8_t *body)
{
	struct entry *e = idx_find(&q->idx, h->word);
	if (e == NULL || h->body_len < 8)
		return NULL;
	e->visible_ms = le_get64(body);
	return e;
}

static void apply_release(struct queue *q, const struct rec_header *h, const uint8_t *body,
			  struct segment *s, uint64_t off)
{
	(void)s, (void)off;
	struct entry *e = retime(q, h, body);
	if (e == NULL)
		return;
	q->totals[TOTAL_RELEASED]++;
	apply_set_state(q, e, e->visible_ms > store_now(q->store) ? ENTRY_DELAYED : ENTRY_READY);
}

static void apply_extend(struct queue *q, const struct rec_header *h, const uint8_t *body,
			 struct segment *s, uint64_t off)
{
	(void)s, (void)off;
	struct entry *e = retime(q, h, body);
	if (e != NULL)
		apply_set_state(q, e, ENTRY_LEASED);
}

static void apply_purge(struct queue *q, const struct rec_header *h, const uint8_t *body,
			struct segment *s, uint64_t off)
{
	(void)body, (void)s, (void)off;
	size_t i = idx_first(&q->idx);
	while (i < q->idx.tail && q->idx.e[i].id <= h->word) {
		struct entry *e = &q->idx.e[i];
		if (e->state == ENTRY_GONE) {
			i++;
			continue;
		}
		remove_entry(q, e, h->seq);
		i = idx_first(&q->idx); /* removal may compact the array */
	}
}

typedef void (*apply_fn)(struct queue *q, const struct rec_header *h, const uint8_t *body,
			 struct segment *s, uint64_t off);

static const apply_fn apply_table[REC_TYPE_MAX + 1] = {
	[REC_DATA] = apply_data,       [REC_POP] = apply_remove,     [REC_LEASE] = apply_lease,
	[REC_ACK] = apply_remove,      [REC_RELEASE] = apply_release, [REC_EXTEND] = apply_extend,
	[REC_DEAD] = apply_remove,     [REC_PURGE] = apply_purge,
};

void apply_record(struct queue *q, const struct rec_header *h, const uint8_t *body,
		const struct segment *seg, uint64_t off)
{
	apply_table[h->type](q, h, body, (struct segment *)seg, off);
}

uint64_t apply_due_timers(struct queue *q, uint64_t now, uint64_t **moves, size_t *nmoves,
			  bool *woke)
{
	const struct timer *t;
	size_t cap = 0;
	while ((t = timer_peek(&q->idx)) != NULL && t->at <= now) {
		struct timer due = *t;
		timer_pop(&q->idx);
		struct entry *e = idx_find(&q->idx, due.id);
		if (e == NULL || e->visible_ms != due.at ||
		    (e->state != ENTRY_DELAYED && e->state != ENTRY_LEASED))
			continue;
		const struct queue_settings *s = &q->meta.settings;
		bool dead = e->state == ENTRY_LEASED && s->max_deliveries > 0 &&
			    e->deliveries >= s->max_deliveries && s->dead_letter[0] != '\0';
		if (dead && *nmoves == cap) {
			size_t n = cap ? cap * 2 : 16;
			uint64_t *p = realloc(*moves, n * sizeof(*p));
			dead = p != NULL;
			if (p != NULL) {
				*moves = p;
				cap = n;
			}
		}
		if (dead) {
			(*moves)[(*nmoves)++] = e->id;
			apply_set_state(q, e, ENTRY_MOVING);
		} else {
			apply_set_state(q, e, ENTRY_READY);
			*woke = true;
		}
	}
	q->next_timer_ms = t != NULL ? t->at : UINT64_MAX;
	return q->next_timer_ms;
}

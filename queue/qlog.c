/* qlog.c: appending records to a queue's log and applying them to its in-memory index. */
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>

#include "engine.h"

#define PAGE 4096u
#define FREE_CHECK_MS 100u

struct segment *qlog_segment(struct queue *q, uint64_t number)
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

/*
 * qlog_space_ok says whether writing bytes more keeps the store's free-space
 * reserve. A passing answer is cached for FREE_CHECK_MS; a refusal is always
 * checked afresh, so writes resume as soon as space returns.
 */
bool qlog_space_ok(struct queue *q, uint64_t bytes)
{
	struct queue_store *st = q->store;
	uint64_t reserve = st->opts.min_free_bytes;
	if (reserve == 0)
		return true;
	uint64_t now = store_now(st), avail = atomic_load(&st->free_bytes);
	bool fresh = now - atomic_load(&st->free_checked_ms) < FREE_CHECK_MS;
	if (!fresh || avail < bytes || avail - bytes < reserve) {
		struct statvfs sv;
		if (fstatvfs(q->dirfd, &sv) != 0)
			return true;
		avail = (uint64_t)sv.f_bavail * (uint64_t)sv.f_frsize;
		atomic_store(&st->free_bytes, avail);
		atomic_store(&st->free_checked_ms, now);
	}
	return avail >= bytes && avail - bytes >= reserve;
}

/* roll starts a new segment big enough for bytes of records, the first of which gets seq first_seq. */
static enum queue_err roll(struct queue *q, uint64_t bytes, uint64_t first_seq)
{
	struct queue_store_options *o = &q->store->opts;
	uint64_t size = q->next_seg_size;
	uint64_t need = (SEG_HEADER_BYTES + bytes + PAGE - 1) & ~(uint64_t)(PAGE - 1);
	if (size < need)
		size = need;
	if (!qlog_space_ok(q, size))
		return QUEUE_DISKFULL;
	if (q->nsegs == q->cap_segs) {
		size_t n = q->cap_segs ? q->cap_segs * 2 : 8;
		struct segment **p = realloc(q->segs, n * sizeof(*p));
		if (p == NULL)
			return QUEUE_NOMEM;
		q->segs = p;
		q->cap_segs = n;
	}
	struct segment *last = q->nsegs ? q->segs[q->nsegs - 1] : NULL;
	struct seg_header h = {
		.number = last ? last->number + 1 : q->meta.first_segment ? q->meta.first_segment : 1,
		.first_seq = first_seq,
		.size = size,
		.created_ms = store_now(q->store),
		.epoch = q->meta.epoch,
	};
	struct segment *s;
	enum queue_err err = seg_create(q->dirfd, &h, o->allocate, &s);
	if (err != QUEUE_OK)
		return err;
	q->segs[q->nsegs++] = s;
	if (q->next_seg_size < o->max_segment_bytes)
		q->next_seg_size = q->next_seg_size * 2 > o->max_segment_bytes ? o->max_segment_bytes
										: q->next_seg_size * 2;
	return QUEUE_OK;
}

/* unroll removes the segments from index from on, made ahead for a call that failed. */
static void unroll(struct queue *q, size_t from)
{
	while (q->nsegs > from) {
		struct segment *s = q->segs[--q->nsegs];
		seg_unlink(q->dirfd, s->number);
		seg_release(s);
	}
}

/* takes says whether segment s can take the record that gets seq next. */
static bool takes(const struct segment *s, uint64_t used, uint64_t size, uint64_t next)
{
	if (s->sealed || used + size > s->size)
		return false;
	return used > SEG_HEADER_BYTES || s->first_seq == next;
}

/*
 * qlog_reserve makes sure the n records of sizes[i] bytes (or each bytes when
 * sizes is NULL) fit in the active segment and the ones after it, creating
 * segments ahead as needed, each named with the seq of the record that will
 * open it. So a batch is never half written: it fails here with nothing
 * written (and nothing made), or every record of it fits.
 */
enum queue_err qlog_reserve(struct queue *q, const uint64_t *sizes, size_t n, uint64_t each)
{
	size_t at = q->active, made = q->nsegs;
	uint64_t used = q->nsegs ? q->segs[at]->write_off : 0;
	for (size_t i = 0; i < n || (n == 0 && q->nsegs == 0); i++) {
		uint64_t size = n == 0 ? 0 : sizes != NULL ? sizes[i] : each;
		while (q->nsegs == 0 || !takes(q->segs[at], used, size, q->next_seq + i)) {
			if (q->nsegs > 0 && at + 1 < q->nsegs) {
				at++;
				used = q->segs[at]->write_off;
				continue;
			}
			enum queue_err err = roll(q, size, q->next_seq + i);
			if (err != QUEUE_OK) {
				unroll(q, made);
				return err;
			}
			at = q->nsegs - 1;
			used = q->segs[at]->write_off;
		}
		used += size;
		if (n == 0)
			break;
	}
	return QUEUE_OK;
}

void qlog_append(struct queue *q, uint8_t type, uint8_t flags, uint64_t word, const void *body,
		 uint32_t body_len, struct segment **seg_out, uint64_t *off_out)
{
	while (q->active + 1 < q->nsegs &&
	       !takes(q->segs[q->active], q->segs[q->active]->write_off, rec_size(body_len), q->next_seq)) {
		seg_drop_behind(q->segs[q->active], q->segs[q->active]->size);
		q->active++; /* qlog_reserve made the segment this record goes to */
	}
	struct segment *s = q->segs[q->active];
	/* A record that does not continue a batch starts one: recovery can then tell orphans apart. */
	if (!q->open_batch)
		flags |= REC_FLAG_FIRST;
	q->open_batch = (flags & REC_FLAG_MORE) != 0;
	struct rec_header h = {
		.type = type,
		.flags = flags,
		.body_len = body_len,
		.seq = q->next_seq++,
		.ts_ms = store_now(q->store),
		.word = word,
		.epoch = q->meta.epoch,
	};
	uint64_t off = s->write_off;
	rec_write(s->map + off, &h, body);
	s->write_off += rec_size(body_len);
	q->written_bytes += rec_size(body_len);
	seg_drop_behind(s, s->write_off);
	if (q->store->opts.sync == QUEUE_SYNC_NONE)
		q->durable_seq = h.seq;
	qlog_apply(q, &h, (const uint8_t *)body, s, off);
	if (seg_out != NULL)
		*seg_out = s;
	if (off_out != NULL)
		*off_out = off;
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

void qlog_set_state(struct queue *q, struct entry *e, uint8_t state)
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
	struct segment *s = qlog_segment(q, e->segment);
	if (s != NULL) {
		s->live--;
		if (by_seq > s->removed_seq)
			s->removed_seq = by_seq;
	}
	q->bytes -= e->len;
	q->live_bytes -= rec_size(e->len);
	qlog_set_state(q, e, ENTRY_GONE);
	idx_remove(&q->idx, e);
}

void qlog_drop_corrupt(struct queue *q, struct entry *e)
{
	q->totals[TOTAL_CORRUPT]++;
	remove_entry(q, e, 0);
}

void qlog_trim_front(struct queue *q)
{
	size_t n = 0;
	while (n < q->active && q->segs[n]->live == 0 && q->segs[n]->removed_seq <= q->durable_seq) {
		if (seg_unlink(q->dirfd, q->segs[n]->number) != QUEUE_OK)
			break;
		q->written_bytes -= q->segs[n]->write_off - SEG_HEADER_BYTES;
		seg_release(q->segs[n]);
		n++;
	}
	if (n == 0)
		return;
	memmove(q->segs, q->segs + n, (q->nsegs - n) * sizeof(*q->segs));
	q->nsegs -= n;
	q->active -= n;
	q->meta.first_segment = q->segs[0]->number;
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
	qlog_set_state(q, p, h->word > store_now(q->store) ? ENTRY_DELAYED : ENTRY_READY);
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
	qlog_set_state(q, e, ENTRY_LEASED);
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
	qlog_set_state(q, e, e->visible_ms > store_now(q->store) ? ENTRY_DELAYED : ENTRY_READY);
}

static void apply_extend(struct queue *q, const struct rec_header *h, const uint8_t *body,
			 struct segment *s, uint64_t off)
{
	(void)s, (void)off;
	struct entry *e = retime(q, h, body);
	if (e != NULL)
		qlog_set_state(q, e, ENTRY_LEASED);
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
		q->totals[TOTAL_PURGED]++;
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

void qlog_apply(struct queue *q, const struct rec_header *h, const uint8_t *body,
		const struct segment *seg, uint64_t off)
{
	apply_table[h->type](q, h, body, (struct segment *)seg, off);
}

uint64_t qlog_tick_locked(struct queue *q, uint64_t now, uint64_t **moves, size_t *nmoves,
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
			qlog_set_state(q, e, ENTRY_MOVING);
		} else {
			qlog_set_state(q, e, ENTRY_READY);
			*woke = true;
		}
	}
	q->next_timer_ms = t != NULL ? t->at : UINT64_MAX;
	return q->next_timer_ms;
}

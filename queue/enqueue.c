/* enqueue.c: the steps every message operation shares (begin, fail, writable, done) and enqueue itself. */
#include <stdlib.h>
#include <string.h>

#include "engine.h"

#define BATCH_BYTES_MAX (1ull << 30)

/* too_big applies the size limits to item i: the queue's rule (to counted[i] when given) and the hard one. */
static bool too_big(const struct queue_settings *s, const struct queue_payload *items,
		    const size_t *counted, size_t i)
{
	size_t size = counted != NULL ? counted[i] : items[i].len;
	return size > s->max_message_bytes || items[i].len > QUEUE_PAYLOAD_MAX;
}

/* op_begin looks up name for an operation and returns it locked; NOTFOUND when absent. */
enum queue_err op_begin(struct queue_store *st, const char *name, bool create,
			    struct queue_ticket *t, struct queue **out)
{
	if (t != NULL)
		*t = (struct queue_ticket){ .waiter = t->waiter };
	if (!queue_name_valid(name))
		return QUEUE_BADNAME;
	for (int attempt = 0; attempt < 3; attempt++) {
		struct queue *q;
		enum queue_err err = store_get(st, name, create, &q);
		if (err != QUEUE_OK)
			return err;
		pthread_mutex_lock(&q->lock);
		if (!q->deleted) {
			*out = q;
			return QUEUE_OK;
		}
		pthread_mutex_unlock(&q->lock);
		queue_unref(q);
		if (!create)
			break;
	}
	return QUEUE_NOTFOUND;
}

/* op_fail unlocks and drops q after a refused operation. */
enum queue_err op_fail(struct queue *q, enum queue_err err)
{
	pthread_mutex_unlock(&q->lock);
	queue_unref(q);
	return err;
}

/*
 * op_done unlocks q after a change, wakes watchers when woke, and hands the
 * caller a ticket, or waits for durability when the caller gave none. When
 * nobody is syncing q and the caller waits now (no ticket) or gave a waiter,
 * this thread syncs before it returns (the ticket then needs no wait); a sync
 * failure then is this call's error.
 */
enum queue_err op_done(struct queue *q, struct queue_ticket *out, bool woke)
{
	struct queue_ticket t;
	if (q->nsegs > 1 && q->segs[0]->live == 0)
		qlog_trim_front(q);
	struct queue_waiter *w = out != NULL ? out->waiter : NULL;
	enum qsync_next next = qsync_ticket(q, &t, w, out != NULL && w == NULL);
	struct segment *ahead = q->segs[q->active];
	bool prefault = seg_prefault_due(ahead, ahead->write_off);
	if (prefault)
		seg_hold(ahead);
	pthread_mutex_unlock(&q->lock);
	/* The sync, and the mapping of pages ahead, run without the queue's lock held. */
	enum queue_err err = next == QSYNC_INLINE ? qsync_inline(q, t.pos) : QUEUE_OK;
	if (next == QSYNC_KICK)
		qsync_kick(q);
	if (prefault) {
		seg_prefault(ahead);
		seg_release(ahead);
	}
	if (woke)
		store_notify(q->store, q->name);
	queue_unref(q);
	if (err != QUEUE_OK)
		return err;
	if (out != NULL) {
		*out = t;
		return QUEUE_OK;
	}
	return queue_ticket_wait(&t);
}

/* op_writable checks that q takes writes and has room for n records (see qlog_reserve) and their index entries. */
enum queue_err op_writable(struct queue *q, const uint64_t *sizes, size_t n, uint64_t each)
{
	if (q->store->opts.read_only)
		return QUEUE_BADARG;
	if (q->failed != QUEUE_OK)
		return q->failed;
	if (!idx_reserve(&q->idx, n))
		return QUEUE_NOMEM;
	return qlog_reserve(q, sizes, n, each);
}

enum queue_err queue_enqueue(struct queue_store *st, const char *name,
			     const struct queue_payload *items, size_t count, uint64_t delay_ms,
			     uint64_t *ids, struct queue_ticket *ticket)
{
	return queue_enqueue_sized(st, name, items, NULL, count, delay_ms, ids, ticket);
}

enum queue_err queue_enqueue_sized(struct queue_store *st, const char *name,
				   const struct queue_payload *items, const size_t *counted,
				   size_t count, uint64_t delay_ms, uint64_t *ids,
				   struct queue_ticket *ticket)
{
	struct queue *q;
	if (count == 0 || count > QUEUE_BATCH_MAX || items == NULL)
		return queue_name_valid(name) ? QUEUE_BADARG : QUEUE_BADNAME;
	enum queue_err err = op_begin(st, name, true, ticket, &q);
	if (err != QUEUE_OK)
		return err;
	const struct queue_settings *s = &q->meta.settings;
	uint64_t payload = 0, bytes = 0, sizes[QUEUE_BATCH_MAX];
	for (size_t i = 0; i < count; i++) {
		if (too_big(s, items, counted, i))
			return op_fail(q, QUEUE_TOOBIG);
		payload += items[i].len;
		sizes[i] = rec_size(items[i].len);
		bytes += sizes[i];
	}
	if (bytes > BATCH_BYTES_MAX)
		return op_fail(q, QUEUE_TOOBIG);
	if (q->failed == QUEUE_OK && s->max_bytes > 0 && q->bytes + payload > s->max_bytes)
		return op_fail(q, QUEUE_FULL);
	if (q->failed == QUEUE_OK && !qlog_space_ok(q, bytes))
		return op_fail(q, QUEUE_DISKFULL);
	if ((err = op_writable(q, sizes, count, 0)) != QUEUE_OK)
		return op_fail(q, err);
	uint64_t visible = delay_ms ? store_now(st) + delay_ms : 0;
	for (size_t i = 0; i < count; i++) {
		if (ids != NULL)
			ids[i] = q->next_seq;
		qlog_append(q, REC_DATA, i + 1 < count ? REC_FLAG_MORE : 0, visible, items[i].data,
			    (uint32_t)items[i].len);
	}
	return op_done(q, ticket, delay_ms == 0);
}

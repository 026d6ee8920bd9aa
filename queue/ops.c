/* ops.c: the message operations that read or settle messages: peek, pop, lease, ack, release, extend, purge. */
#include <stdlib.h>
#include <string.h>

#include "engine.h"

/* The sizes of control records: a reservation must match what is written, record by record. */
#define TIMED_BYTES (REC_HEADER_BYTES + 8u) /* lease, release and extend carry a time */
#define PLAIN_BYTES REC_HEADER_BYTES	     /* pop, ack, purge */

/*
 * msgs_add appends entry e of q to m, holding its segment. A payload that
 * fails its CRC is dropped from the index instead (never served) and false
 * returned; entry pointers are then invalid.
 */
static bool msgs_add(struct queue *q, struct queue_msgs *m, const struct entry *e)
{
	struct segment *s = apply_segment(q, e->segment);
	if (s == NULL)
		return false;
	const uint8_t *rec = s->map + e->offset;
	struct rec_header h;
	if (rec_read(rec, s->size - e->offset, &h) != REC_VALID || !rec_body_ok(rec, &h)) {
		apply_drop_corrupt(q, (struct entry *)e);
		return false;
	}
	struct queue_msg *msg = &m->items[m->count];
	*msg = (struct queue_msg){
		.id = e->id,
		.enqueued_ms = h.ts_ms,
		.deliveries = e->deliveries,
		.payload = rec + REC_HEADER_BYTES,
		.len = e->len,
	};
	seg_hold(s);
	((struct segment **)m->holds)[m->count++] = s;
	return true;
}

static enum queue_err msgs_init(struct queue_msgs *m, size_t limit)
{
	m->count = 0;
	m->items = calloc(limit, sizeof(*m->items));
	m->holds = calloc(limit, sizeof(struct segment *));
	if (m->items == NULL || m->holds == NULL) {
		free(m->items);
		free(m->holds);
		*m = (struct queue_msgs){ 0 };
		return QUEUE_NOMEM;
	}
	return QUEUE_OK;
}

void queue_msgs_free(struct queue_msgs *m)
{
	if (m == NULL)
		return;
	for (size_t i = 0; i < m->count; i++)
		seg_release(((struct segment **)m->holds)[i]);
	free(m->items);
	free(m->holds);
	*m = (struct queue_msgs){ 0 };
}

/* A read (peek, pop, lease) in progress: the locked queue and the dead-letter moves its timers found. */
struct reading {
	struct queue *q;
	uint64_t *moves;
	size_t nmoves;
};

/*
 * read_begin checks a read's arguments, finds queue name locked and runs its
 * due timers, so what the read sees is current. QUEUE_NOTFOUND: no queue.
 */
static enum queue_err read_begin(struct queue_store *st, const char *name, size_t limit,
				 struct queue_ticket *t, struct reading *r)
{
	*r = (struct reading){ 0 };
	if (t != NULL)
		*t = (struct queue_ticket){ .waiter = t->waiter };
	if (!queue_name_valid(name))
		return QUEUE_BADNAME;
	if (limit == 0 || limit > QUEUE_BATCH_MAX)
		return QUEUE_BADARG;
	enum queue_err err = op_begin(st, name, false, t, &r->q);
	if (err == QUEUE_OK) {
		bool woke = false;
		apply_due_timers(r->q, store_now(st), &r->moves, &r->nmoves, &woke);
	}
	return err;
}

/* read_end finishes a read: unlocks (unless op_done() did), moves dead letters outside every lock, drops q. */
static void read_end(struct reading *r, bool locked)
{
	if (locked)
		pthread_mutex_unlock(&r->q->lock);
	qmove_dead_letters(r->q, r->moves, r->nmoves);
	free(r->moves);
	queue_unref(r->q);
}

enum queue_err queue_peek(struct queue_store *st, const char *name, size_t limit,
			  struct queue_msgs *out)
{
	struct reading r;
	*out = (struct queue_msgs){ 0 };
	enum queue_err err = read_begin(st, name, limit, NULL, &r);
	if (err != QUEUE_OK)
		return err == QUEUE_NOTFOUND ? QUEUE_OK : err;
	struct queue *q = r.q;
	err = msgs_init(out, limit);
	for (size_t i = idx_first(&q->idx); err == QUEUE_OK && i < q->idx.tail && out->count < limit;) {
		if (q->idx.e[i].state == ENTRY_READY && !msgs_add(q, out, &q->idx.e[i]))
			i = idx_first(&q->idx); /* a corrupt one was dropped: the array may have moved */
		else
			i++;
	}
	read_end(&r, true);
	return err;
}

/* take moves up to limit ready messages of q into out, writing a POP or LEASE record for each. */
static void take(struct queue *q, size_t limit, uint64_t lease_until, struct queue_msgs *out)
{
	uint64_t id;
	while (out->count < limit && ready_pop(&q->idx, &id)) {
		struct entry *e = idx_find(&q->idx, id);
		if (e != NULL && e->state == ENTRY_READY)
			msgs_add(q, out, e);
	}
	uint8_t body[8];
	le_put64(body, lease_until);
	for (size_t i = 0; i < out->count; i++) {
		struct queue_msg *msg = &out->items[i];
		/* The records of one call form a batch: a crash keeps all of them or none. */
		uint8_t flags = i + 1 < out->count ? REC_FLAG_MORE : 0;
		msg->deliveries++;
		if (lease_until == 0) {
			qlog_append(q, REC_POP, flags, msg->id, NULL, 0);
			continue;
		}
		msg->lease = q->next_seq;
		msg->lease_expires_ms = lease_until;
		qlog_append(q, REC_LEASE, flags, msg->id, body, sizeof(body));
	}
}

static enum queue_err deliver(struct queue_store *st, const char *name, size_t limit,
			      uint64_t ttl_ms, bool lease, struct queue_msgs *out,
			      struct queue_ticket *ticket)
{
	struct reading r;
	*out = (struct queue_msgs){ 0 };
	enum queue_err err = read_begin(st, name, limit, ticket, &r);
	if (err != QUEUE_OK)
		return err == QUEUE_NOTFOUND ? QUEUE_OK : err;
	struct queue *q = r.q;
	size_t n = q->depth < limit ? (size_t)q->depth : limit;
	if (n > 0 && (err = op_writable(q, NULL, n, lease ? TIMED_BYTES : PLAIN_BYTES)) == QUEUE_OK)
		err = msgs_init(out, n);
	if (n == 0 || err != QUEUE_OK) {
		read_end(&r, true);
		return err;
	}
	if (ttl_ms == 0)
		ttl_ms = (uint64_t)q->meta.settings.lease_seconds * 1000u;
	take(q, n, lease ? store_now(st) + ttl_ms : 0, out);
	if (lease && q->store->opts.sync == QUEUE_SYNC_ALWAYS) {
		/* A lost lease record only means a redelivery: a lease need not wait for the disk. */
		read_end(&r, true);
		return QUEUE_OK;
	}
	queue_ref(q); /* op_done() drops the reference op_begin() took; read_end() drops this one */
	err = op_done(q, ticket, false);
	read_end(&r, false);
	if (err != QUEUE_OK)
		queue_msgs_free(out);
	return err;
}

enum queue_err queue_pop(struct queue_store *st, const char *name, size_t limit,
			 struct queue_msgs *out, struct queue_ticket *ticket)
{
	return deliver(st, name, limit, 0, false, out, ticket);
}

enum queue_err queue_lease(struct queue_store *st, const char *name, size_t limit,
			   uint64_t ttl_ms, struct queue_msgs *out, struct queue_ticket *ticket)
{
	return deliver(st, name, limit, ttl_ms, true, out, ticket);
}

/* leased finds message id of q holding lease token; the error says why not. */
static enum queue_err leased(struct queue *q, uint64_t id, uint64_t lease, struct entry **out)
{
	struct entry *e = idx_find(&q->idx, id);
	if (e == NULL || e->state == ENTRY_MOVING)
		return QUEUE_NOMSG;
	if (lease == 0 || e->lease != lease)
		return QUEUE_STALE;
	*out = e;
	return QUEUE_OK;
}

/*
 * begin_leased starts an ack, release or extend: queue name locked, room for
 * one record of size bytes, and message id under lease token. On error
 * nothing is held.
 */
static enum queue_err begin_leased(struct queue_store *st, const char *name, uint64_t id,
				   uint64_t lease, uint64_t size, struct queue_ticket *ticket,
				   struct queue **q, struct entry **e)
{
	enum queue_err err = op_begin(st, name, false, ticket, q);
	if (err != QUEUE_OK)
		return err;
	if ((err = op_writable(*q, NULL, 1, size)) != QUEUE_OK || (err = leased(*q, id, lease, e)))
		return op_fail(*q, err);
	return QUEUE_OK;
}

enum queue_err queue_ack(struct queue_store *st, const char *name, uint64_t id, uint64_t lease,
			 struct queue_ticket *ticket)
{
	struct queue *q;
	struct entry *e;
	enum queue_err err = begin_leased(st, name, id, lease, PLAIN_BYTES, ticket, &q, &e);
	if (err != QUEUE_OK)
		return err;
	qlog_append(q, REC_ACK, 0, id, NULL, 0);
	return op_done(q, ticket, false);
}

enum queue_err queue_release(struct queue_store *st, const char *name, uint64_t id,
			     uint64_t lease, uint64_t delay_ms, struct queue_ticket *ticket)
{
	struct queue *q;
	struct entry *e;
	enum queue_err err = begin_leased(st, name, id, lease, TIMED_BYTES, ticket, &q, &e);
	if (err != QUEUE_OK)
		return err;
	const struct queue_settings *s = &q->meta.settings;
	if (s->max_deliveries > 0 && e->deliveries >= s->max_deliveries && s->dead_letter[0]) {
		apply_set_state(q, e, ENTRY_MOVING);
		pthread_mutex_unlock(&q->lock);
		qmove_dead_letters(q, &id, 1);
		queue_unref(q);
		return QUEUE_OK;
	}
	uint8_t body[8];
	le_put64(body, store_now(st) + delay_ms);
	qlog_append(q, REC_RELEASE, 0, id, body, sizeof(body));
	return op_done(q, ticket, delay_ms == 0);
}

enum queue_err queue_extend(struct queue_store *st, const char *name, uint64_t id,
			    uint64_t lease, uint64_t ttl_ms, uint64_t *expires_ms,
			    struct queue_ticket *ticket)
{
	struct queue *q;
	struct entry *e;
	enum queue_err err = begin_leased(st, name, id, lease, TIMED_BYTES, ticket, &q, &e);
	if (err != QUEUE_OK)
		return err;
	uint64_t until = store_now(st) + ttl_ms;
	uint8_t body[8];
	le_put64(body, until);
	qlog_append(q, REC_EXTEND, 0, id, body, sizeof(body));
	if (expires_ms != NULL)
		*expires_ms = until;
	return op_done(q, ticket, false);
}

enum queue_err queue_purge(struct queue_store *st, const char *name, struct queue_ticket *ticket)
{
	struct queue *q;
	enum queue_err err = op_begin(st, name, false, ticket, &q);
	if (err != QUEUE_OK)
		return err;
	if ((err = op_writable(q, NULL, 1, PLAIN_BYTES)) != QUEUE_OK)
		return op_fail(q, err);
	qlog_append(q, REC_PURGE, 0, q->next_seq - 1, NULL, 0);
	qlog_trim_front(q);
	return op_done(q, ticket, false);
}

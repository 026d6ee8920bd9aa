/* ops.c: the message operations: enqueue, peek, pop, lease, ack, release, extend, purge. */
#include <stdlib.h>
#include <string.h>

#include "crc32c.h"
#include "engine.h"

/* The sizes of control records: a reservation must match what is written, record by record. */
#define TIMED_BYTES (REC_HEADER_BYTES + 8u) /* lease, release and extend carry a time */
#define PLAIN_BYTES REC_HEADER_BYTES	     /* pop, ack, purge */
#define BATCH_BYTES_MAX (1ull << 30)

/* begin looks up name for an operation and returns it locked; NOTFOUND when absent. */
static enum queue_err begin(struct queue_store *st, const char *name, bool create,
			    struct queue_ticket *t, struct queue **out)
{
	if (t != NULL)
		*t = (struct queue_ticket){ 0 };
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

/* fail unlocks and drops q after a refused operation. */
static enum queue_err fail(struct queue *q, enum queue_err err)
{
	pthread_mutex_unlock(&q->lock);
	queue_unref(q);
	return err;
}

/*
 * done unlocks q after a change, wakes watchers when woke, and hands the
 * caller a ticket, or waits for durability when the caller gave none.
 */
static enum queue_err done(struct queue *q, struct queue_ticket *out, bool woke)
{
	struct queue_ticket t;
	if (q->nsegs > 1 && q->segs[0]->live == 0)
		qlog_trim_front(q);
	bool kick = qsync_ticket(q, &t);
	struct segment *ahead = q->segs[q->active];
	bool prefault = seg_prefault_due(ahead, ahead->write_off);
	if (prefault)
		seg_hold(ahead);
	pthread_mutex_unlock(&q->lock);
	/* The sync thread is woken, and pages are mapped ahead, without the queue's lock held. */
	if (kick)
		qsync_kick(q);
	if (prefault) {
		seg_prefault(ahead);
		seg_release(ahead);
	}
	if (woke)
		store_notify(q->store, q->name);
	queue_unref(q);
	if (out != NULL) {
		*out = t;
		return QUEUE_OK;
	}
	return queue_ticket_wait(&t);
}

/* writable checks that q takes writes and has room for n records (see qlog_reserve) and their index entries. */
static enum queue_err writable(struct queue *q, const uint64_t *sizes, size_t n, uint64_t each)
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
	struct queue *q;
	if (count == 0 || count > QUEUE_BATCH_MAX || items == NULL)
		return queue_name_valid(name) ? QUEUE_BADARG : QUEUE_BADNAME;
	enum queue_err err = begin(st, name, true, ticket, &q);
	if (err != QUEUE_OK)
		return err;
	const struct queue_settings *s = &q->meta.settings;
	uint64_t payload = 0, bytes = 0, sizes[QUEUE_BATCH_MAX];
	for (size_t i = 0; i < count; i++) {
		if (items[i].len > s->max_message_bytes)
			return fail(q, QUEUE_TOOBIG);
		payload += items[i].len;
		sizes[i] = rec_size(items[i].len);
		bytes += sizes[i];
	}
	if (bytes > BATCH_BYTES_MAX)
		return fail(q, QUEUE_TOOBIG);
	if (q->failed == QUEUE_OK && s->max_bytes > 0 && q->bytes + payload > s->max_bytes)
		return fail(q, QUEUE_FULL);
	if (q->failed == QUEUE_OK && !qlog_space_ok(q, bytes))
		return fail(q, QUEUE_DISKFULL);
	if ((err = writable(q, sizes, count, 0)) != QUEUE_OK)
		return fail(q, err);
	uint64_t visible = delay_ms ? store_now(st) + delay_ms : 0;
	for (size_t i = 0; i < count; i++) {
		if (ids != NULL)
			ids[i] = q->next_seq;
		qlog_append(q, REC_DATA, i + 1 < count ? REC_FLAG_MORE : 0, visible, items[i].data,
			    (uint32_t)items[i].len, NULL, NULL);
	}
	return done(q, ticket, delay_ms == 0);
}

/*
 * msgs_add appends entry e of q to m, holding its segment. A payload that
 * fails its CRC is dropped from the index instead (never served) and false
 * returned; entry pointers are then invalid.
 */
static bool msgs_add(struct queue *q, struct queue_msgs *m, const struct entry *e)
{
	struct segment *s = qlog_segment(q, e->segment);
	if (s == NULL)
		return false;
	const uint8_t *rec = s->map + e->offset;
	struct rec_header h;
	if (rec_read(rec, s->size - e->offset, &h) != REC_VALID || !rec_body_ok(rec, &h)) {
		qlog_drop_corrupt(q, (struct entry *)e);
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
		*t = (struct queue_ticket){ 0 };
	if (!queue_name_valid(name))
		return QUEUE_BADNAME;
	if (limit == 0 || limit > QUEUE_BATCH_MAX)
		return QUEUE_BADARG;
	enum queue_err err = begin(st, name, false, t, &r->q);
	if (err == QUEUE_OK) {
		bool woke = false;
		qlog_tick_locked(r->q, store_now(st), &r->moves, &r->nmoves, &woke);
	}
	return err;
}

/* read_end finishes a read: unlocks (unless done() did), moves dead letters outside every lock, drops q. */
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
			qlog_append(q, REC_POP, flags, msg->id, NULL, 0, NULL, NULL);
			continue;
		}
		msg->lease = q->next_seq;
		msg->lease_expires_ms = lease_until;
		qlog_append(q, REC_LEASE, flags, msg->id, body, sizeof(body), NULL, NULL);
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
	if (n > 0 && (err = writable(q, NULL, n, lease ? TIMED_BYTES : PLAIN_BYTES)) == QUEUE_OK)
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
	queue_ref(q); /* done() drops the reference begin() took; read_end() drops this one */
	err = done(q, ticket, false);
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
	enum queue_err err = begin(st, name, false, ticket, q);
	if (err != QUEUE_OK)
		return err;
	if ((err = writable(*q, NULL, 1, size)) != QUEUE_OK || (err = leased(*q, id, lease, e)))
		return fail(*q, err);
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
	qlog_append(q, REC_ACK, 0, id, NULL, 0, NULL, NULL);
	return done(q, ticket, false);
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
		qlog_set_state(q, e, ENTRY_MOVING);
		pthread_mutex_unlock(&q->lock);
		qmove_dead_letters(q, &id, 1);
		queue_unref(q);
		return QUEUE_OK;
	}
	uint8_t body[8];
	le_put64(body, store_now(st) + delay_ms);
	qlog_append(q, REC_RELEASE, 0, id, body, sizeof(body), NULL, NULL);
	return done(q, ticket, delay_ms == 0);
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
	qlog_append(q, REC_EXTEND, 0, id, body, sizeof(body), NULL, NULL);
	if (expires_ms != NULL)
		*expires_ms = until;
	return done(q, ticket, false);
}

enum queue_err queue_purge(struct queue_store *st, const char *name, struct queue_ticket *ticket)
{
	struct queue *q;
	enum queue_err err = begin(st, name, false, ticket, &q);
	if (err != QUEUE_OK)
		return err;
	if ((err = writable(q, NULL, 1, PLAIN_BYTES)) != QUEUE_OK)
		return fail(q, err);
	qlog_append(q, REC_PURGE, 0, q->next_seq - 1, NULL, 0, NULL, NULL);
	qlog_trim_front(q);
	return done(q, ticket, false);
}

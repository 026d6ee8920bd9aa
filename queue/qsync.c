/* qsync.c: group commit: one thread syncs what many writers appended and releases their waiters. */
#include <stdlib.h>
#include <time.h>

#include "engine.h"

#define SYNC_BATCH 8

enum qsync_next qsync_ticket(struct queue *q, struct queue_ticket *t, struct queue_waiter *w,
			     bool keep)
{
	uint64_t pos = q->next_seq - 1;
	*t = (struct queue_ticket){ .waiter = w };
	if (q->store->opts.sync != QUEUE_SYNC_ALWAYS || q->durable_seq >= pos)
		return QSYNC_NONE;
	q->sync_waiters++;
	if (!q->syncing) {
		q->syncing = true;
		t->pos = pos;
		/* Nobody syncs q: a writer that waits anyway syncs at once, with no hand-off and no wake-up. */
		if (w != NULL || !keep)
			return QSYNC_INLINE;
		/* One that keeps a plain ticket (and may never wait) leaves it to a sync thread. */
		queue_ref(q);
		t->queue = q;
		return QSYNC_KICK;
	}
	/* A sync is under way; its syncer goes on until everything appended is covered. */
	queue_ref(q);
	if (w != NULL) {
		w->pos = pos;
		w->result = QUEUE_OK;
		w->owned = false;
		w->next = q->waiters;
		q->waiters = w;
		t->waiting = true;
		return QSYNC_NONE;
	}
	t->queue = q;
	t->pos = pos;
	return QSYNC_NONE;
}

void qsync_kick(struct queue *q)
{
	struct queue_store *st = q->store;
	pthread_mutex_lock(&st->sync_lock);
	if (!q->dirty_listed) {
		q->dirty_listed = true;
		q->dirty_next = NULL;
		queue_ref(q);
		if (st->dirty_tail != NULL)
			st->dirty_tail->dirty_next = q;
		else
			st->dirty_head = q;
		st->dirty_tail = q;
		pthread_cond_signal(&st->sync_cond);
	}
	pthread_mutex_unlock(&st->sync_lock);
}

enum queue_err queue_ticket_wait(struct queue_ticket *t)
{
	struct queue *q = t->queue;
	if (q == NULL)
		return QUEUE_OK;
	pthread_mutex_lock(&q->lock);
	while (q->durable_seq < t->pos && q->failed == QUEUE_OK)
		pthread_cond_wait(&q->durable_cond, &q->lock);
	enum queue_err err = q->durable_seq >= t->pos ? QUEUE_OK : q->failed;
	pthread_mutex_unlock(&q->lock);
	t->queue = NULL;
	queue_unref(q);
	return err;
}

void queue_ticket_release(struct queue_ticket *t)
{
	struct queue *q = t->queue;
	t->queue = NULL;
	if (q != NULL)
		queue_unref(q);
}

void queue_ticket_notify(struct queue_ticket *t, queue_done_fn fn, void *ctx)
{
	struct queue *q = t->queue;
	struct queue_waiter *w = q != NULL ? malloc(sizeof(*w)) : NULL;
	if (w == NULL) {
		fn(ctx, queue_ticket_wait(t)); /* without memory for a waiter, wait here */
		return;
	}
	pthread_mutex_lock(&q->lock);
	if (q->durable_seq < t->pos && q->failed == QUEUE_OK) {
		*w = (struct queue_waiter){ .fn = fn, .ctx = ctx, .pos = t->pos, .owned = true,
					    .next = q->waiters };
		q->waiters = w;
		pthread_mutex_unlock(&q->lock);
		t->queue = NULL; /* the waiter keeps the ticket's reference */
		return;
	}
	enum queue_err err = q->durable_seq >= t->pos ? QUEUE_OK : q->failed;
	pthread_mutex_unlock(&q->lock);
	free(w);
	t->queue = NULL;
	queue_unref(q);
	fn(ctx, err);
}

void qsync_fire(struct queue *q, struct queue_waiter *w, bool use_result, enum queue_err err)
{
	while (w != NULL) {
		/* Read before the call: once fn runs, the waiter belongs to its owner again. */
		struct queue_waiter *next = w->next;
		bool owned = w->owned;
		w->fn(w->ctx, use_result ? w->result : err);
		if (owned)
			free(w);
		queue_unref(q);
		w = next;
	}
}

/* take_waiters unlinks the waiters that are settled now. Call with q->lock held. */
static struct queue_waiter *take_waiters(struct queue *q)
{
	struct queue_waiter *done = NULL, **p = &q->waiters;
	while (*p != NULL) {
		struct queue_waiter *w = *p;
		if (w->pos <= q->durable_seq || q->failed != QUEUE_OK) {
			w->result = w->pos <= q->durable_seq ? QUEUE_OK : QUEUE_SYNCFAIL;
			*p = w->next;
			w->next = done;
			done = w;
		} else {
			p = &w->next;
		}
	}
	return done;
}

/*
 * sync_queue syncs everything q has appended so far without holding its lock
 * during msync, then advances durable_seq and settles the waiters it covered.
 * A failed sync marks the queue failed for good: it is never retried.
 */
static enum queue_err sync_queue(struct queue *q)
{
	struct segment *held[SYNC_BATCH];
	uint64_t from[SYNC_BATCH], to[SYNC_BATCH];
	enum queue_err err = QUEUE_OK;
	for (;;) {
		size_t n = 0;
		pthread_mutex_lock(&q->lock);
		uint64_t target = q->next_seq - 1;
		for (size_t i = 0; i < q->nsegs && n < SYNC_BATCH; i++) {
			struct segment *s = q->segs[i];
			if (s->write_off > s->synced_off) {
				seg_hold(s);
				held[n] = s;
				from[n] = s->synced_off;
				to[n++] = s->write_off;
			}
		}
		bool more = n == SYNC_BATCH;
		uint64_t was_durable = q->durable_seq;
		pthread_mutex_unlock(&q->lock);
		struct timespec t0, t1;
		clock_gettime(CLOCK_MONOTONIC, &t0);
		for (size_t i = 0; i < n && err == QUEUE_OK; i++)
			err = seg_sync(held[i], from[i], to[i]);
		clock_gettime(CLOCK_MONOTONIC, &t1);
		pthread_mutex_lock(&q->lock);
		for (size_t i = 0; i < n; i++) {
			if (err == QUEUE_OK && to[i] > held[i]->synced_off)
				held[i]->synced_off = to[i];
		}
		if (err != QUEUE_OK)
			q->failed = QUEUE_SYNCFAIL;
		else if (!more && target > q->durable_seq)
			q->durable_seq = target;
		struct queue_waiter *w = take_waiters(q);
		pthread_cond_broadcast(&q->durable_cond);
		if (n > 0) {
			uint64_t ns = (uint64_t)(t1.tv_sec - t0.tv_sec) * 1000000000u +
				      (uint64_t)t1.tv_nsec - (uint64_t)t0.tv_nsec;
			uint64_t waiters = q->sync_waiters;
			q->sync_waiters = 0;
			store_count_sync(q->store, ns, q->durable_seq - was_durable, waiters, err == QUEUE_OK);
		}
		if (err == QUEUE_OK && !q->deleted)
			qlog_trim_front(q);
		pthread_mutex_unlock(&q->lock);
		for (size_t i = 0; i < n; i++)
			seg_release(held[i]);
		qsync_fire(q, w, true, QUEUE_OK);
		if (!more || err != QUEUE_OK)
			return err;
	}
}

/* qsync_interval_pass syncs every queue of the store once (the interval mode's pass). */
static void qsync_interval_pass(struct queue_store *st)
{
	size_t n;
	struct queue **qs = store_snapshot(st, &n);
	if (qs == NULL)
		return;
	for (size_t i = 0; i < n; i++) {
		sync_queue(qs[i]);
		queue_unref(qs[i]);
	}
	free(qs);
}

/* next_dirty waits for a dirty queue (always mode) or for the interval; NULL means stop or run a pass. */
static struct queue *next_dirty(struct queue_store *st, bool *stop)
{
	struct queue *q = NULL;
	pthread_mutex_lock(&st->sync_lock);
	if (st->opts.sync == QUEUE_SYNC_INTERVAL) {
		if (!st->stopping) {
			struct timespec ts;
			clock_gettime(CLOCK_REALTIME, &ts);
			uint64_t ns = (uint64_t)ts.tv_nsec + (uint64_t)st->opts.sync_interval_ms * 1000000u;
			ts.tv_sec += (time_t)(ns / 1000000000u);
			ts.tv_nsec = (long)(ns % 1000000000u);
			pthread_cond_timedwait(&st->sync_cond, &st->sync_lock, &ts);
		}
	} else {
		while (st->dirty_head == NULL && !st->stopping)
			pthread_cond_wait(&st->sync_cond, &st->sync_lock);
		q = st->dirty_head;
		if (q != NULL) {
			st->dirty_head = q->dirty_next;
			if (st->dirty_head == NULL)
				st->dirty_tail = NULL;
			q->dirty_listed = false;
		}
	}
	*stop = st->stopping && q == NULL;
	pthread_mutex_unlock(&st->sync_lock);
	return q;
}

/*
 * sync_owned runs one sync pass on q, whose syncing flag the caller holds,
 * and says whether more was appended meanwhile: then the caller keeps the
 * flag and must go on (PostgreSQL's XLogFlush likewise flushes up to the
 * insert position, not to its own record). Otherwise the flag is cleared:
 * the next writer finds nobody syncing and syncs itself. Only one thread
 * syncs a queue at a time, so no two msyncs of the same pages overlap.
 */
static bool sync_owned(struct queue *q)
{
	enum queue_err err = sync_queue(q);
	pthread_mutex_lock(&q->lock);
	bool more = err == QUEUE_OK && q->failed == QUEUE_OK && q->next_seq - 1 > q->durable_seq;
	if (!more)
		q->syncing = false;
	pthread_mutex_unlock(&q->lock);
	return more;
}

enum queue_err qsync_inline(struct queue *q, uint64_t pos)
{
	if (sync_owned(q))
		qsync_kick(q); /* more came in during the pass: a sync thread takes over */
	pthread_mutex_lock(&q->lock);
	enum queue_err err = q->durable_seq >= pos ? QUEUE_OK : QUEUE_SYNCFAIL;
	pthread_mutex_unlock(&q->lock);
	return err;
}

void *qsync_thread(void *arg)
{
	struct queue_store *st = arg;
	for (;;) {
		bool stop;
		struct queue *q = next_dirty(st, &stop);
		if (q != NULL) {
			while (sync_owned(q))
				;
			queue_unref(q);
		} else if (st->opts.sync == QUEUE_SYNC_INTERVAL) {
			qsync_interval_pass(st);
		}
		if (stop)
			return NULL;
	}
}

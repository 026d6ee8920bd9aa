/* longpoll.c: pop and lease, which may wait for a message without holding a thread, and their timer. */
#include <errno.h>
#include <stdlib.h>
#include <time.h>

#include "internal.h"

/* The longest a pop or lease may wait, in seconds. */
#define WAIT_MAX_SECONDS 60u

/* ---- The deadline heap: a binary min-heap on deadline_ms; each req knows its slot. ---- */

static void heap_set(struct api_timer *t, size_t i, struct api_req *req)
{
	t->heap[i] = req;
	req->heap_pos = i;
}

static void heap_swap(struct api_timer *t, size_t a, size_t b)
{
	struct api_req *x = t->heap[a];
	heap_set(t, a, t->heap[b]);
	heap_set(t, b, x);
}

static void heap_up(struct api_timer *t, size_t i)
{
	while (i > 0 && t->heap[(i - 1) / 2]->deadline_ms > t->heap[i]->deadline_ms) {
		heap_swap(t, i, (i - 1) / 2);
		i = (i - 1) / 2;
	}
}

static void heap_down(struct api_timer *t, size_t i)
{
	for (;;) {
		size_t l = 2 * i + 1, r = l + 1, m = i;
		if (l < t->len && t->heap[l]->deadline_ms < t->heap[m]->deadline_ms)
			m = l;
		if (r < t->len && t->heap[r]->deadline_ms < t->heap[m]->deadline_ms)
			m = r;
		if (m == i)
			return;
		heap_swap(t, i, m);
		i = m;
	}
}

/* heap_take removes the entry at i; the timer's lock is held. */
static void heap_take(struct api_timer *t, size_t i)
{
	struct api_req *req = t->heap[i];

	req->in_heap = false;
	t->len--;
	if (i == t->len)
		return;
	heap_set(t, i, t->heap[t->len]);
	heap_down(t, i);
	heap_up(t, i);
}

/* timer_main wakes each waiter whose deadline has come, sleeping until the next one. */
static void *timer_main(void *arg)
{
	struct api_timer *t = arg;

	pthread_mutex_lock(&t->lock);
	while (!t->quit) {
		uint64_t now = api_mono_ms();
		while (t->len > 0 && (t->stopping || t->heap[0]->deadline_ms <= now)) {
			struct api_req *req = t->heap[0];
			heap_take(t, 0);
			/* Woken under the lock, so api_timer_remove() cannot free req meanwhile. */
			api_wake(req);
		}
		if (t->len == 0) {
			pthread_cond_wait(&t->cond, &t->lock);
		} else {
			uint64_t at = t->heap[0]->deadline_ms;
			struct timespec ts = { (time_t)(at / 1000u), (long)(at % 1000u) * 1000000L };
			pthread_cond_timedwait(&t->cond, &t->lock, &ts);
		}
	}
	pthread_mutex_unlock(&t->lock);
	return NULL;
}

bool api_timer_start(struct api_timer *t)
{
	pthread_condattr_t attr;

	pthread_mutex_init(&t->lock, NULL);
	pthread_condattr_init(&attr);
	pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	pthread_cond_init(&t->cond, &attr);
	pthread_condattr_destroy(&attr);
	if (pthread_create(&t->thread, NULL, timer_main, t) != 0)
		return false;
	t->started = true;
	return true;
}

void api_timer_wake_all(struct api_timer *t)
{
	pthread_mutex_lock(&t->lock);
	t->stopping = true;
	pthread_cond_signal(&t->cond);
	pthread_mutex_unlock(&t->lock);
}

void api_timer_stop(struct api_timer *t)
{
	if (t->started) {
		pthread_mutex_lock(&t->lock);
		t->stopping = true;
		t->quit = true;
		pthread_cond_signal(&t->cond);
		pthread_mutex_unlock(&t->lock);
		pthread_join(t->thread, NULL);
	}
	free(t->heap);
	t->heap = NULL;
	pthread_cond_destroy(&t->cond);
	pthread_mutex_destroy(&t->lock);
}

bool api_timer_add(struct api_timer *t, struct api_req *req)
{
	bool ok = false;

	pthread_mutex_lock(&t->lock);
	if (t->stopping)
		goto out;
	if (t->len == t->cap) {
		size_t cap = t->cap ? t->cap * 2 : 64;
		struct api_req **heap = realloc(t->heap, cap * sizeof(*heap));
		if (heap == NULL)
			goto out;
		t->heap = heap;
		t->cap = cap;
	}
	req->in_heap = true;
	req->timed = true;
	heap_set(t, t->len++, req);
	heap_up(t, req->heap_pos);
	if (req->heap_pos == 0)
		pthread_cond_signal(&t->cond);
	ok = true;
out:
	pthread_mutex_unlock(&t->lock);
	return ok;
}

void api_timer_remove(struct api_timer *t, struct api_req *req)
{
	pthread_mutex_lock(&t->lock);
	if (req->in_heap)
		heap_take(t, req->heap_pos);
	pthread_mutex_unlock(&t->lock);
}

/* ---- Pop and lease ---- */

/* on_watch runs in an engine thread when the queue may have a visible message. */
static void on_watch(void *ctx)
{
	api_wake(ctx);
}

void api_longpoll_cleanup(struct api_req *req)
{
	queue_watch_remove(req->watch);
	req->watch = NULL;
	/* The timer's lock is shared by every thread: only a request that used the timer takes it. */
	if (req->timed) {
		api_timer_remove(&req->srv->timer, req);
		req->timed = false;
	}
	if (req->polling) {
		atomic_fetch_sub(&req->srv->long_polls, 1);
		req->polling = false;
	}
}

/* finish answers with what was received (maybe nothing), once it is durable. */
static enum api_step finish(struct api_req *req, struct queue_msgs *m, struct queue_ticket *ticket)
{
	struct jbuf b;

	/* No spurious wake may end the durability wait early. */
	api_longpoll_cleanup(req);
	if (req->poll_finish != NULL)
		return req->poll_finish(req, m, ticket);
	jb_init(&b);
	jo_messages(&b, m, req->lease);
	queue_msgs_free(m);
	return api_respond_durable(req, ticket, 200, &b);
}

/* try_receive pops or leases once. */
static enum queue_err try_receive(struct api_req *req, struct queue_msgs *m, struct queue_ticket *t)
{
	struct api_server *srv = req->srv;

	if (req->lease)
		return queue_lease(srv->store, req->path.queue, req->limit, req->ttl_ms, m, t);
	return queue_pop(srv->store, req->path.queue, req->limit, m, t);
}

/* count_poll counts req among the waiting requests; false when --max-long-polls are waiting already. */
static bool count_poll(struct api_req *req)
{
	struct api_server *srv = req->srv;
	unsigned waiting = atomic_fetch_add(&srv->long_polls, 1) + 1;

	if (srv->max_long_polls != 0 && waiting > srv->max_long_polls) {
		atomic_fetch_sub(&srv->long_polls, 1);
		return false;
	}
	req->polling = true;
	return true;
}

/*
 * arm counts the request as waiting and registers its watch and deadline.
 * Returns API_E_NONE, API_E_TOO_MANY_LONG_POLLS when the cap is reached, or
 * API_E_INTERNAL when it cannot wait (out of memory, or the server stopping).
 */
static enum api_error arm(struct api_req *req)
{
	if (!req->polling && !count_poll(req))
		return API_E_TOO_MANY_LONG_POLLS;
	if (req->watch == NULL &&
	    queue_watch_add(req->srv->store, req->path.queue, on_watch, req, &req->watch) != QUEUE_OK)
		return API_E_INTERNAL;
	if (!req->in_heap && !api_timer_add(&req->srv->timer, req))
		return API_E_INTERNAL;
	return API_E_NONE;
}

/*
 * attempt receives, and when nothing is there and time is left, suspends until
 * the watch or the timer wakes it. The watch is registered before the retry
 * and woken is cleared before each try, so a message arriving at any moment
 * either is received or wakes the request.
 */
static enum api_step attempt(struct api_req *req)
{
	for (;;) {
		struct queue_ticket ticket = api_ticket(req);
		struct queue_msgs m = { NULL, 0, NULL };
		bool armed = req->watch != NULL;
		enum queue_err err;

		pthread_mutex_lock(&req->lock);
		req->woken = false;
		pthread_mutex_unlock(&req->lock);
		err = try_receive(req, &m, &ticket);
		if (err != QUEUE_OK) {
			api_ticket_drop(&ticket);
			api_longpoll_cleanup(req);
			return api_respond_queue_err(req, err, req->lease ? "queue_lease" : "queue_pop");
		}
		if (m.count > 0 || api_mono_ms() >= req->deadline_ms ||
		    atomic_load(&req->srv->stopping))
			return finish(req, &m, &ticket);
		queue_msgs_free(&m);
		api_ticket_drop(&ticket);
		if (!armed) {
			enum api_error e = arm(req);
			if (e == API_E_TOO_MANY_LONG_POLLS) {
				/* Nothing was received: refusing to wait loses no message. */
				api_longpoll_cleanup(req);
				return api_respond_error(req, e);
			}
			if (e != API_E_NONE)
				return finish(req, NULL, &ticket);
			continue;
		}
		if (api_suspend(req)) {
			req->resume = attempt;
			return API_STEP_SUSPENDED;
		}
	}
}

/* receive reads the parameters pop and lease share and starts the first attempt. */
static enum api_step receive(struct api_req *req, bool lease)
{
	uint64_t limit, wait, ttl = 0;

	if (!req->path.queue_ok)
		return api_respond_error(req, API_E_INVALID_QUEUE_NAME);
	if (!api_param_u64(req, "limit", 1, QUEUE_BATCH_MAX, 1, &limit) ||
	    !api_param_u64(req, "wait", 0, WAIT_MAX_SECONDS, 0, &wait) ||
	    (lease && !api_param_u64(req, "ttl", 1, QUEUE_LEASE_SECONDS_MAX, 0, &ttl)))
		return api_respond_error(req, API_E_INVALID_PARAMETER);
	return api_longpoll_start(req, lease, (size_t)limit, ttl * 1000u, wait * 1000u);
}

enum api_step api_longpoll_start(struct api_req *req, bool lease, size_t limit, uint64_t ttl_ms,
				 uint64_t wait_ms)
{
	req->lease = lease;
	req->limit = limit;
	req->ttl_ms = ttl_ms;
	req->deadline_ms = api_mono_ms() + wait_ms;
	return attempt(req);
}

enum api_step api_h_pop(struct api_req *req)
{
	return receive(req, false);
}

enum api_step api_h_lease(struct api_req *req)
{
	return receive(req, true);
}

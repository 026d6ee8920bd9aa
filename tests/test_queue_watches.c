/* test_queue_watches.c: the engine's callbacks: watches on a queue, the timer thread, and durability tickets in every sync mode. */
#include <criterion/criterion.h>

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../queue/queue.h"
#include "queuetest.h"
#include "testutil.h"

TestSuite(queue_watches, .init = qt_setup, .fini = qt_teardown, .timeout = 30);

/* Watches. */

static atomic_int watch_calls;

static void on_watch(void *ctx)
{
	atomic_fetch_add((atomic_int *)ctx, 1);
}

/* wait_calls waits up to ms for the watch counter to exceed before; returns the new count. */
static int wait_calls(int before, unsigned ms)
{
	uint64_t end = tu_now_ms() + ms;
	while (atomic_load(&watch_calls) <= before && tu_now_ms() < end)
		tu_sleep_ms(2);
	return atomic_load(&watch_calls);
}

/* settle lets asynchronous watch calls finish and returns the count. */
static int settle(void)
{
	tu_sleep_ms(40);
	return atomic_load(&watch_calls);
}

Test(queue_watches, watch_fires_on_enqueue_release_expiry_and_delay_end)
{
	struct queue_watch *w = NULL;
	atomic_store(&watch_calls, 0);
	cr_assert_eq(queue_watch_add(qt_st, "w", on_watch, &watch_calls, &w), QUEUE_OK, "the queue need not exist");
	cr_assert_not_null(w);
	int n = settle();
	qt_enq("w", "a");
	cr_assert_gt(wait_calls(n, 1000), n, "enqueue");
	n = settle();
	struct queue_msg l = qt_lease_one("w", 100);
	n = settle();
	cr_assert_eq(queue_release(qt_st, "w", l.id, l.lease, 0, NULL), QUEUE_OK);
	cr_assert_gt(wait_calls(n, 1000), n, "release");

	l = qt_lease_one("w", 100);
	n = settle();
	qt_set_now(QT_T0 + 200);
	queue_store_tick(qt_st);
	cr_assert_gt(wait_calls(n, 1000), n, "lease expiry");

	struct queue_msgs m = { 0 };
	cr_assert_eq(queue_pop(qt_st, "w", 10, &m, NULL), QUEUE_OK);
	cr_assert_eq(m.count, 1);
	queue_msgs_free(&m);
	qt_enq_delay("w", "later", 1000);
	n = settle();
	qt_set_now(QT_T0 + 1300);
	queue_store_tick(qt_st);
	cr_assert_gt(wait_calls(n, 1000), n, "end of delay");

	n = settle();
	cr_assert_eq(queue_delete(qt_st, "w"), QUEUE_OK);
	cr_assert_gt(wait_calls(n, 1000), n, "delete");

	queue_watch_remove(w);
	n = settle();
	qt_enq("w", "b");
	cr_assert_eq(settle(), n, "a removed watch never runs again");
}

Test(queue_watches, watch_on_other_queue_is_not_called)
{
	struct queue_watch *w = NULL;
	atomic_store(&watch_calls, 0);
	cr_assert_eq(queue_watch_add(qt_st, "mine", on_watch, &watch_calls, &w), QUEUE_OK);
	qt_enq("theirs", "x");
	cr_assert_eq(settle(), 0);
	qt_enq("mine", "x");
	cr_assert_gt(wait_calls(0, 1000), 0);
	queue_watch_remove(w);
}

Test(queue_watches, engine_timer_expires_leases_without_tick, .init = qt_setup_bare)
{
	struct queue_watch *w = NULL;
	qt_open_with(QUEUE_SYNC_NONE, false);
	atomic_store(&watch_calls, 0);
	qt_enq("q", "x");
	cr_assert_eq(queue_watch_add(qt_st, "q", on_watch, &watch_calls, &w), QUEUE_OK);
	struct queue_msg l = qt_lease_one("q", 30);
	int n = atomic_load(&watch_calls);
	cr_assert_gt(wait_calls(n, 3000), n, "the timer thread must expire the lease");
	cr_assert_eq(qt_count_visible("q"), 1);
	struct queue_msg again = qt_lease_one("q", 60000);
	cr_assert_eq(again.id, l.id);
	cr_assert_eq(again.deliveries, 2);
	qt_enq_delay("q", "d", 30);
	n = atomic_load(&watch_calls);
	cr_assert_gt(wait_calls(n, 3000), n, "the timer thread must end the delay");
	cr_assert_eq(qt_count_visible("q"), 1);
	queue_watch_remove(w);
}

/* Tickets. */

struct notified {
	atomic_int calls;
	atomic_int err;
};

static void on_done(void *ctx, enum queue_err err)
{
	struct notified *n = ctx;
	atomic_store(&n->err, (int)err);
	atomic_fetch_add(&n->calls, 1);
}

/* notify_once hands t to queue_ticket_notify and checks the callback ran exactly once with QUEUE_OK. */
static void notify_once(struct queue_ticket *t)
{
	struct notified *n = calloc(1, sizeof(*n));
	atomic_store(&n->err, -1);
	queue_ticket_notify(t, on_done, n);
	uint64_t end = tu_now_ms() + 3000;
	while (atomic_load(&n->calls) == 0 && tu_now_ms() < end)
		tu_sleep_ms(1);
	tu_sleep_ms(30);
	cr_assert_eq(atomic_load(&n->calls), 1);
	cr_assert_eq(atomic_load(&n->err), QUEUE_OK);
	free(n);
}

/* exercise_tickets runs every mutating call with a ticket, alternating wait and notify. */
static void exercise_tickets(enum queue_sync mode)
{
	struct queue_ticket t = { 0 };
	struct queue_payload p = { "{\"t\":1}", 7 };
	struct queue_msgs m = { 0 };
	uint64_t ids[2];
	qt_open_with(mode, false);
	cr_assert_eq(queue_store_sync_mode(qt_st), mode);
	cr_assert_eq(queue_enqueue(qt_st, "q", &p, 1, 0, ids, &t), QUEUE_OK);
	cr_assert_eq(queue_ticket_wait(&t), QUEUE_OK);
	cr_assert_eq(queue_enqueue(qt_st, "q", &p, 1, 0, ids + 1, &t), QUEUE_OK);
	notify_once(&t);
	for (int i = 0; i < 4; i++) {
		cr_assert_eq(queue_enqueue(qt_st, "q", &p, 1, 0, NULL, &t), QUEUE_OK);
		if (i % 2)
			notify_once(&t);
		else
			cr_assert_eq(queue_ticket_wait(&t), QUEUE_OK);
	}
	cr_assert_eq(queue_pop(qt_st, "q", 1, &m, &t), QUEUE_OK);
	cr_assert_eq(m.count, 1);
	cr_assert_eq(m.items[0].id, ids[0]);
	queue_msgs_free(&m);
	cr_assert_eq(queue_ticket_wait(&t), QUEUE_OK);
	cr_assert_eq(queue_lease(qt_st, "q", 2, 60000, &m, &t), QUEUE_OK);
	cr_assert_eq(m.count, 2);
	notify_once(&t);
	cr_assert_eq(queue_extend(qt_st, "q", m.items[0].id, m.items[0].lease, 60000, NULL, &t), QUEUE_OK);
	cr_assert_eq(queue_ticket_wait(&t), QUEUE_OK);
	cr_assert_eq(queue_ack(qt_st, "q", m.items[0].id, m.items[0].lease, &t), QUEUE_OK);
	notify_once(&t);
	cr_assert_eq(queue_release(qt_st, "q", m.items[1].id, m.items[1].lease, 0, &t), QUEUE_OK);
	cr_assert_eq(queue_ticket_wait(&t), QUEUE_OK);
	queue_msgs_free(&m);
	cr_assert_eq(queue_purge(qt_st, "q", &t), QUEUE_OK);
	notify_once(&t);
	/* A ticket that has been waited on can be filled again and notified. */
	cr_assert_eq(queue_enqueue(qt_st, "q", &p, 1, 0, NULL, &t), QUEUE_OK);
	notify_once(&t);
	cr_assert_eq(qt_count_visible("q"), 1);
}

Test(queue_watches, a_later_ticket_covers_released_earlier_ones, .init = qt_setup_bare)
{
	struct queue_payload p = { "{\"r\":1}", 7 };
	struct queue_ticket t[5];
	struct queue_stats s;
	qt_open_with(QUEUE_SYNC_ALWAYS, false);
	for (int i = 0; i < 5; i++) {
		t[i] = (struct queue_ticket){ 0 };
		cr_assert_eq(queue_enqueue(qt_st, "q", &p, 1, 0, NULL, &t[i]), QUEUE_OK);
	}
	/* The first four are given up (each holds a reference until then); the last is waited for. */
	for (int i = 0; i < 4; i++) {
		queue_ticket_release(&t[i]);
		cr_assert_null(t[i].queue);
	}
	queue_ticket_release(&t[0]); /* a released ticket needs nothing: releasing it again is a no-op */
	cr_assert_eq(queue_ticket_wait(&t[4]), QUEUE_OK);
	cr_assert_eq(queue_stats(qt_st, "q", &s), QUEUE_OK);
	cr_assert_eq(s.depth, 5);
	/* A reference a release failed to drop would leak the queue: the sanitizer build's leak check sees it. */
	cr_assert_eq(queue_delete(qt_st, "q"), QUEUE_OK);
}

Test(queue_watches, tickets_complete_in_sync_always, .init = qt_setup_bare)
{
	exercise_tickets(QUEUE_SYNC_ALWAYS);
}

Test(queue_watches, tickets_complete_in_sync_interval, .init = qt_setup_bare)
{
	exercise_tickets(QUEUE_SYNC_INTERVAL);
}

Test(queue_watches, tickets_complete_in_sync_none, .init = qt_setup_bare)
{
	exercise_tickets(QUEUE_SYNC_NONE);
}

/* Many notify tickets outstanding at once each get exactly one callback. */
Test(queue_watches, many_outstanding_tickets_each_notify_once, .init = qt_setup_bare)
{
	enum { N = 50 };
	struct notified *n = calloc(N, sizeof(*n));
	struct queue_ticket t = { 0 };
	struct queue_payload p = { "x", 1 };
	qt_open_with(QUEUE_SYNC_INTERVAL, false);
	for (int i = 0; i < N; i++) {
		cr_assert_eq(queue_enqueue(qt_st, "q", &p, 1, 0, NULL, &t), QUEUE_OK);
		queue_ticket_notify(&t, on_done, &n[i]);
	}
	uint64_t end = tu_now_ms() + 3000;
	for (int i = 0; i < N; i++)
		while (atomic_load(&n[i].calls) == 0 && tu_now_ms() < end)
			tu_sleep_ms(1);
	tu_sleep_ms(50);
	for (int i = 0; i < N; i++) {
		cr_assert_eq(atomic_load(&n[i].calls), 1, "ticket %d", i);
		cr_assert_eq(atomic_load(&n[i].err), QUEUE_OK);
	}
	free(n);
}

/* One writer thread with its own waiter slot, reused for every call, as mmqd's connections do. */
struct slot_writer {
	pthread_t thread;
	struct queue_waiter w;
	struct notified n;
	int waited, inline_done, wrong;
};

enum { SLOT_WRITERS = 8, SLOT_OPS = 150 };

static void *slot_writer_main(void *arg)
{
	struct slot_writer *s = arg;
	struct queue_payload p = { "{\"s\":1}", 7 };
	for (int i = 0; i < SLOT_OPS; i++) {
		struct queue_ticket t = { .waiter = &s->w };
		int before = atomic_load(&s->n.calls);
		s->w.fn = on_done;
		s->w.ctx = &s->n;
		if (queue_enqueue(qt_st, "slots", &p, 1, 0, NULL, &t) != QUEUE_OK || t.queue != NULL) {
			s->wrong++;
			continue;
		}
		if (!t.waiting) {
			s->inline_done++;
			continue;
		}
		/* The slot may be reused only once its callback ran. */
		uint64_t end = tu_now_ms() + 5000;
		while (atomic_load(&s->n.calls) == before && tu_now_ms() < end)
			tu_sleep_ms(0);
		s->waited++;
		if (atomic_load(&s->n.err) != QUEUE_OK)
			s->wrong++;
	}
	return NULL;
}

/*
 * Writers that hand the engine their own waiter get it called exactly once
 * for each call that said it was waiting and never for the others (which
 * synced before they returned), and every change is counted by a sync.
 */
Test(queue_messages, caller_owned_waiters_are_called_once_per_waiting_call, .init = qt_setup_bare)
{
	struct slot_writer *w = calloc(SLOT_WRITERS, sizeof(*w));
	struct queue_store_stats before, after;
	qt_open_with(QUEUE_SYNC_ALWAYS, false);
	queue_store_stats(qt_st, &before);
	for (int i = 0; i < SLOT_WRITERS; i++)
		cr_assert_eq(pthread_create(&w[i].thread, NULL, slot_writer_main, &w[i]), 0);
	int waited = 0;
	for (int i = 0; i < SLOT_WRITERS; i++) {
		pthread_join(w[i].thread, NULL);
		cr_assert_eq(w[i].wrong, 0, "writer %d", i);
		cr_assert_eq(w[i].waited + w[i].inline_done, SLOT_OPS, "writer %d", i);
		waited += w[i].waited;
	}
	tu_sleep_ms(50);
	for (int i = 0; i < SLOT_WRITERS; i++)
		cr_assert_eq(atomic_load(&w[i].n.calls), w[i].waited,
			     "writer %d: a callback for a call that did not wait", i);
	queue_store_stats(qt_st, &after);
	cr_assert_eq(after.synced_waiters - before.synced_waiters, SLOT_WRITERS * SLOT_OPS);
	cr_assert_leq(after.syncs - before.syncs, SLOT_WRITERS * SLOT_OPS);
	struct queue_stats qs;
	cr_assert_eq(queue_stats(qt_st, "slots", &qs), QUEUE_OK);
	cr_assert_eq(qs.depth, SLOT_WRITERS * SLOT_OPS);
	cr_log_info("%d of %d calls waited for another thread's sync; %llu syncs", waited,
		    SLOT_WRITERS * SLOT_OPS, (unsigned long long)(after.syncs - before.syncs));
	free(w);
}

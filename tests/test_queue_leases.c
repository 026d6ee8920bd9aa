/* test_queue_leases.c: leases of one queue: lease, ack, release, extend, stale tokens, expiry and dead-lettering. */
#include <criterion/criterion.h>

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../queue/queue.h"
#include "queuetest.h"
#include "testutil.h"

#define T0 1700000000000ull

static char *dir;
static struct queue_store *st;
static _Atomic uint64_t fake_now = T0;

static uint64_t fake_clock(void)
{
	return atomic_load(&fake_now);
}

static void set_now(uint64_t ms)
{
	atomic_store(&fake_now, ms);
}

static void open_with(enum queue_sync sync, bool fake)
{
	struct queue_store_options o;
	queue_store_options_default(&o);
	o.sync = sync;
	o.sync_interval_ms = 20;
	o.clock = fake ? fake_clock : NULL;
	cr_assert_eq(queue_store_open(dir, &o, &st, NULL), QUEUE_OK);
}

static void teardown(void);

/* Criterion runs the suite's .init before a test's own .init: start from a clean slate. */
static void setup(void)
{
	set_now(T0);
	dir = tu_tempdir();
	st = NULL;
	open_with(QUEUE_SYNC_NONE, true);
}

static void teardown(void)
{
	queue_store_close(st);
	st = NULL;
	tu_rmrf(dir);
	free(dir);
	dir = NULL;
}

TestSuite(queue_messages, .init = setup, .fini = teardown, .timeout = 30);

/* The helpers below bind this file's store to the shared ones in queuetest.c. */
static uint64_t enq(const char *name, const char *text)
{
	return qt_enqueue(st, name, text, 0);
}

static void assert_payload(const struct queue_msg *m, const char *text)
{
	qt_assert_payload(m, text);
}

/* count_visible returns how many messages a peek of up to 1000 sees. */
static size_t count_visible(const char *name)
{
	return qt_count_visible(st, name);
}

/* lease_one leases exactly one message of name for ttl and returns it (payload not kept). */
static struct queue_msg lease_one(const char *name, uint64_t ttl)
{
	return qt_lease_one(st, name, ttl);
}

Test(queue_messages, lease_hides_for_ttl_and_counts_deliveries)
{
	struct queue_stats s;
	uint64_t id = enq("q", "job");
	struct queue_msgs m = { 0 };
	cr_assert_eq(queue_lease(st, "q", 5, 1000, &m, NULL), QUEUE_OK);
	cr_assert_eq(m.count, 1);
	cr_assert_eq(m.items[0].id, id);
	cr_assert_eq(m.items[0].deliveries, 1);
	cr_assert_neq(m.items[0].lease, 0);
	cr_assert_eq(m.items[0].lease_expires_ms, T0 + 1000);
	cr_assert_eq(m.items[0].enqueued_ms, T0);
	assert_payload(&m.items[0], "job");
	uint64_t first = m.items[0].lease;
	queue_msgs_free(&m);
	cr_assert_eq(queue_stats(st, "q", &s), QUEUE_OK);
	cr_assert_eq(s.in_flight, 1);
	cr_assert_eq(s.depth, 0);

	set_now(T0 + 999);
	queue_store_tick(st);
	cr_assert_eq(count_visible("q"), 0);
	set_now(T0 + 1001);
	queue_store_tick(st);
	cr_assert_eq(queue_peek(st, "q", 10, &m), QUEUE_OK);
	cr_assert_eq(m.count, 1);
	cr_assert_eq(m.items[0].deliveries, 1);
	queue_msgs_free(&m);

	struct queue_msg again = lease_one("q", 0);
	cr_assert_eq(again.id, id);
	cr_assert_eq(again.deliveries, 2);
	cr_assert_neq(again.lease, 0);
	cr_assert_neq(again.lease, first);
	cr_assert_eq(again.lease_expires_ms, T0 + 1001 + 30000, "ttl 0 means lease_seconds");
	cr_assert_eq(queue_stats(st, "q", &s), QUEUE_OK);
	cr_assert_eq(s.leased_total, 2);
	cr_assert_eq(s.redelivered_total, 1);
}

Test(queue_messages, ack_with_current_token_removes_the_message)
{
	struct queue_stats s;
	uint64_t id = enq("q", "job");
	struct queue_msg l = lease_one("q", 5000);
	cr_assert_eq(queue_ack(st, "q", id, l.lease, NULL), QUEUE_OK);
	cr_assert_eq(queue_stats(st, "q", &s), QUEUE_OK);
	cr_assert_eq(s.in_flight, 0);
	cr_assert_eq(s.depth, 0);
	cr_assert_eq(s.bytes, 0);
	cr_assert_eq(s.acked_total, 1);
	cr_assert_eq(s.dequeued_total, 1);
	cr_assert_eq(queue_ack(st, "q", id, l.lease, NULL), QUEUE_NOMSG, "a second ack finds nothing");
	set_now(T0 + 10000);
	queue_store_tick(st);
	cr_assert_eq(count_visible("q"), 0);
}

Test(queue_messages, stale_token_is_refused_by_ack_release_and_extend)
{
	uint64_t id = enq("q", "job");
	struct queue_msg l1 = lease_one("q", 100);
	set_now(T0 + 200);
	queue_store_tick(st);
	struct queue_msg l2 = lease_one("q", 5000);
	cr_assert_eq(l2.id, id);
	cr_assert_neq(l2.lease, l1.lease);
	cr_assert_eq(queue_ack(st, "q", id, l1.lease, NULL), QUEUE_STALE);
	cr_assert_eq(queue_release(st, "q", id, l1.lease, 0, NULL), QUEUE_STALE);
	cr_assert_eq(queue_extend(st, "q", id, l1.lease, 1000, NULL, NULL), QUEUE_STALE);
	cr_assert_eq(queue_ack(st, "q", id, l2.lease + 12345, NULL), QUEUE_STALE);
	cr_assert_eq(count_visible("q"), 0, "refused calls change nothing");
	cr_assert_eq(queue_ack(st, "q", id, l2.lease, NULL), QUEUE_OK);
}

Test(queue_messages, unknown_id_is_nomsg_and_unleased_id_is_stale)
{
	uint64_t id = enq("q", "ready");
	struct queue_msg l = lease_one("q", 5000);
	cr_assert_eq(queue_ack(st, "q", id + 1000, l.lease, NULL), QUEUE_NOMSG);
	cr_assert_eq(queue_release(st, "q", id + 1000, l.lease, 0, NULL), QUEUE_NOMSG);
	cr_assert_eq(queue_extend(st, "q", id + 1000, l.lease, 1000, NULL, NULL), QUEUE_NOMSG);
	uint64_t ready = enq("q", "never leased");
	/* A message that was never leased has no current token: any token is a mismatch (HTTP 409). */
	cr_assert_eq(queue_ack(st, "q", ready, l.lease, NULL), QUEUE_STALE);
	cr_assert_eq(queue_release(st, "q", ready, 1, 0, NULL), QUEUE_STALE);
	cr_assert_eq(queue_extend(st, "q", ready, 1, 1000, NULL, NULL), QUEUE_STALE);
	cr_assert_eq(queue_ack(st, "missing", id, l.lease, NULL), QUEUE_NOTFOUND);
	cr_assert_eq(queue_release(st, "missing", id, l.lease, 0, NULL), QUEUE_NOTFOUND);
	cr_assert_eq(queue_extend(st, "missing", id, l.lease, 1, NULL, NULL), QUEUE_NOTFOUND);
	cr_assert_eq(count_visible("q"), 1);
}

Test(queue_messages, ack_after_expiry_succeeds_until_someone_leases_again)
{
	uint64_t id = enq("q", "slow");
	struct queue_msg l = lease_one("q", 100);
	set_now(T0 + 500);
	queue_store_tick(st);
	cr_assert_eq(count_visible("q"), 1, "the expired lease made it visible");
	cr_assert_eq(queue_ack(st, "q", id, l.lease, NULL), QUEUE_OK);
	cr_assert_eq(count_visible("q"), 0);
	struct queue_msgs m = { 0 };
	cr_assert_eq(queue_lease(st, "q", 1, 0, &m, NULL), QUEUE_OK);
	cr_assert_eq(m.count, 0);
	queue_msgs_free(&m);
	/* Without a tick in between, too. */
	uint64_t id2 = enq("q", "slow2");
	struct queue_msg l2 = lease_one("q", 100);
	cr_assert_eq(l2.id, id2);
	set_now(T0 + 1000);
	cr_assert_eq(queue_ack(st, "q", id2, l2.lease, NULL), QUEUE_OK);
	queue_store_tick(st);
	cr_assert_eq(count_visible("q"), 0);
}

Test(queue_messages, expired_lease_redelivers_with_one_more_delivery)
{
	enq("q", "a");
	uint64_t id = enq("q", "b");
	struct queue_msg first = lease_one("q", 100);
	struct queue_msg second = lease_one("q", 100);
	cr_assert_eq(second.id, id);
	set_now(T0 + 101);
	queue_store_tick(st);
	struct queue_msgs m = { 0 };
	cr_assert_eq(queue_lease(st, "q", 10, 100, &m, NULL), QUEUE_OK);
	cr_assert_eq(m.count, 2);
	cr_assert_eq(m.items[0].id, first.id, "redelivery keeps id order");
	cr_assert_eq(m.items[1].id, second.id);
	cr_assert_eq(m.items[0].deliveries, 2);
	cr_assert_eq(m.items[1].deliveries, 2);
	assert_payload(&m.items[1], "b");
	queue_msgs_free(&m);
	set_now(T0 + 202);
	queue_store_tick(st);
	cr_assert_eq(queue_pop(st, "q", 10, &m, NULL), QUEUE_OK);
	cr_assert_eq(m.count, 2);
	cr_assert_eq(m.items[0].deliveries, 3);
	queue_msgs_free(&m);
}

Test(queue_messages, release_with_delay_hides_until_then)
{
	struct queue_stats s;
	uint64_t id = enq("q", "retry");
	struct queue_msg l = lease_one("q", 5000);
	cr_assert_eq(queue_release(st, "q", id, l.lease, 300, NULL), QUEUE_OK);
	cr_assert_eq(queue_stats(st, "q", &s), QUEUE_OK);
	cr_assert_eq(s.in_flight, 0);
	cr_assert_eq(s.delayed, 1);
	cr_assert_eq(s.depth, 0);
	cr_assert_eq(s.released_total, 1);
	set_now(T0 + 299);
	queue_store_tick(st);
	cr_assert_eq(count_visible("q"), 0);
	set_now(T0 + 301);
	queue_store_tick(st);
	struct queue_msg again = lease_one("q", 5000);
	cr_assert_eq(again.id, id);
	cr_assert_eq(again.deliveries, 2);
	cr_assert_eq(queue_ack(st, "q", id, l.lease, NULL), QUEUE_STALE, "leased again: the old token is stale");
	cr_assert_eq(queue_release(st, "q", id, again.lease, 0, NULL), QUEUE_OK);
	cr_assert_eq(count_visible("q"), 1, "release without delay is visible at once");
}

/* A token stays current until the message is leased again or removed, release included. */
Test(queue_messages, token_stays_current_after_release_until_leased_again)
{
	uint64_t id = enq("q", "nack");
	struct queue_msg l = lease_one("q", 5000);
	cr_assert_eq(queue_release(st, "q", id, l.lease, 0, NULL), QUEUE_OK);
	cr_assert_eq(count_visible("q"), 1);
	cr_assert_eq(queue_ack(st, "q", id, l.lease, NULL), QUEUE_OK);
	cr_assert_eq(count_visible("q"), 0);
	cr_assert_eq(queue_ack(st, "q", id, l.lease, NULL), QUEUE_NOMSG, "removed: no such message");
}

Test(queue_messages, extend_moves_the_expiry)
{
	uint64_t id = enq("q", "long job");
	uint64_t expires = 0;
	struct queue_msg l = lease_one("q", 1000);
	set_now(T0 + 500);
	cr_assert_eq(queue_extend(st, "q", id, l.lease, 2000, &expires, NULL), QUEUE_OK);
	cr_assert_eq(expires, T0 + 2500);
	set_now(T0 + 1500);
	queue_store_tick(st);
	cr_assert_eq(count_visible("q"), 0, "the old expiry no longer applies");
	set_now(T0 + 2400);
	cr_assert_eq(queue_extend(st, "q", id, l.lease, 50, NULL, NULL), QUEUE_OK);
	set_now(T0 + 2499);
	queue_store_tick(st);
	cr_assert_eq(count_visible("q"), 1, "extend can shorten the lease too");
	cr_assert_eq(queue_ack(st, "q", id, l.lease, NULL), QUEUE_OK, "the token survives extend");
}

static void set_dead_letter(const char *name, uint32_t max_deliveries, const char *dlq)
{
	struct queue_settings s;
	queue_settings_default(&s);
	s.max_deliveries = max_deliveries;
	strcpy(s.dead_letter, dlq);
	cr_assert_eq(queue_put_settings(st, name, &s, QUEUE_SET_MAX_DELIVERIES | QUEUE_SET_DEAD_LETTER, NULL),
		     QUEUE_OK);
}

Test(queue_messages, expired_leases_beyond_max_deliveries_go_to_dead_letter)
{
	static const char body[] = "{\"poison\":true,\"bin\":\"\\u0000\"}";
	struct queue_stats s;
	struct queue_msgs m = { 0 };
	set_dead_letter("src", 2, "dlq");
	uint64_t id = enq("src", body);
	uint64_t keep = enq("src", "healthy");
	uint64_t now = T0;
	struct queue_msg l = { 0 };
	for (uint32_t d = 1; d <= 2; d++) {
		l = lease_one("src", 100);
		cr_assert_eq(l.id, id);
		cr_assert_eq(l.deliveries, d);
		now += 101;
		set_now(now);
		queue_store_tick(st);
	}
	cr_assert_eq(queue_peek(st, "src", 10, &m), QUEUE_OK);
	cr_assert_eq(m.count, 1);
	cr_assert_eq(m.items[0].id, keep);
	queue_msgs_free(&m);
	cr_assert_eq(queue_stats(st, "src", &s), QUEUE_OK);
	cr_assert_eq(s.in_flight + s.delayed, 0);
	cr_assert_eq(s.depth, 1);
	cr_assert_eq(s.dead_lettered_total, 1);
	cr_assert_eq(queue_ack(st, "src", id, l.lease, NULL), QUEUE_NOMSG);
	cr_assert_eq(queue_pop(st, "dlq", 10, &m, NULL), QUEUE_OK);
	cr_assert_eq(m.count, 1);
	assert_payload(&m.items[0], body);
	queue_msgs_free(&m);
}

Test(queue_messages, release_beyond_max_deliveries_goes_to_dead_letter)
{
	char body[300];
	struct queue_msgs m = { 0 };
	for (size_t i = 0; i < sizeof(body); i++)
		body[i] = (char)(i * 7 + 1);
	struct queue_payload p = { body, sizeof(body) };
	set_dead_letter("src", 3, "dlq");
	uint64_t id = 0;
	cr_assert_eq(queue_enqueue(st, "src", &p, 1, 0, &id, NULL), QUEUE_OK);
	for (int d = 1; d <= 3; d++) {
		struct queue_msg l = lease_one("src", 5000);
		cr_assert_eq(l.id, id);
		cr_assert_eq(queue_release(st, "src", id, l.lease, 0, NULL), QUEUE_OK);
	}
	cr_assert_eq(count_visible("src"), 0);
	cr_assert_eq(queue_lease(st, "src", 10, 0, &m, NULL), QUEUE_OK);
	cr_assert_eq(m.count, 0);
	queue_msgs_free(&m);
	cr_assert_eq(queue_pop(st, "dlq", 10, &m, NULL), QUEUE_OK);
	cr_assert_eq(m.count, 1);
	cr_assert_eq(m.items[0].len, sizeof(body));
	cr_assert_eq(memcmp(m.items[0].payload, body, sizeof(body)), 0);
	queue_msgs_free(&m);
	/* An acked message never goes to the dead-letter queue. */
	enq("src", "fine");
	struct queue_msg l = lease_one("src", 5000);
	cr_assert_eq(queue_ack(st, "src", l.id, l.lease, NULL), QUEUE_OK);
	cr_assert_eq(count_visible("dlq"), 0);
}

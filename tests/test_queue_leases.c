/* test_queue_leases.c: leases of one queue: lease, ack, release, extend, stale tokens, expiry and dead-lettering. */
#include <criterion/criterion.h>

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../queue/queue.h"
#include "queuetest.h"
#include "testutil.h"

TestSuite(queue_leases, .init = qt_setup, .fini = qt_teardown, .timeout = 30);

Test(queue_leases, lease_hides_for_ttl_and_counts_deliveries)
{
	struct queue_stats s;
	uint64_t id = qt_enq("q", "job");
	struct queue_msgs m = { 0 };
	cr_assert_eq(queue_lease(qt_st, "q", 5, 1000, &m, NULL), QUEUE_OK);
	cr_assert_eq(m.count, 1);
	cr_assert_eq(m.items[0].id, id);
	cr_assert_eq(m.items[0].deliveries, 1);
	cr_assert_neq(m.items[0].lease, 0);
	cr_assert_eq(m.items[0].lease_expires_ms, QT_T0 + 1000);
	cr_assert_eq(m.items[0].enqueued_ms, QT_T0);
	qt_assert_payload(&m.items[0], "job");
	uint64_t first = m.items[0].lease;
	queue_msgs_free(&m);
	cr_assert_eq(queue_stats(qt_st, "q", &s), QUEUE_OK);
	cr_assert_eq(s.in_flight, 1);
	cr_assert_eq(s.depth, 0);

	qt_set_now(QT_T0 + 999);
	queue_store_tick(qt_st);
	cr_assert_eq(qt_count_visible("q"), 0);
	qt_set_now(QT_T0 + 1001);
	queue_store_tick(qt_st);
	cr_assert_eq(queue_peek(qt_st, "q", 10, &m), QUEUE_OK);
	cr_assert_eq(m.count, 1);
	cr_assert_eq(m.items[0].deliveries, 1);
	queue_msgs_free(&m);

	struct queue_msg again = qt_lease_one("q", 0);
	cr_assert_eq(again.id, id);
	cr_assert_eq(again.deliveries, 2);
	cr_assert_neq(again.lease, 0);
	cr_assert_neq(again.lease, first);
	cr_assert_eq(again.lease_expires_ms, QT_T0 + 1001 + 30000, "ttl 0 means lease_seconds");
	cr_assert_eq(queue_stats(qt_st, "q", &s), QUEUE_OK);
	cr_assert_eq(s.leased_total, 2);
	cr_assert_eq(s.redelivered_total, 1);
}

Test(queue_leases, ack_with_current_token_removes_the_message)
{
	struct queue_stats s;
	uint64_t id = qt_enq("q", "job");
	struct queue_msg l = qt_lease_one("q", 5000);
	cr_assert_eq(queue_ack(qt_st, "q", id, l.lease, NULL), QUEUE_OK);
	cr_assert_eq(queue_stats(qt_st, "q", &s), QUEUE_OK);
	cr_assert_eq(s.in_flight, 0);
	cr_assert_eq(s.depth, 0);
	cr_assert_eq(s.bytes, 0);
	cr_assert_eq(s.acked_total, 1);
	cr_assert_eq(s.dequeued_total, 1);
	cr_assert_eq(queue_ack(qt_st, "q", id, l.lease, NULL), QUEUE_NOMSG, "a second ack finds nothing");
	qt_set_now(QT_T0 + 10000);
	queue_store_tick(qt_st);
	cr_assert_eq(qt_count_visible("q"), 0);
}

Test(queue_leases, stale_token_is_refused_by_ack_release_and_extend)
{
	uint64_t id = qt_enq("q", "job");
	struct queue_msg l1 = qt_lease_one("q", 100);
	qt_set_now(QT_T0 + 200);
	queue_store_tick(qt_st);
	struct queue_msg l2 = qt_lease_one("q", 5000);
	cr_assert_eq(l2.id, id);
	cr_assert_neq(l2.lease, l1.lease);
	cr_assert_eq(queue_ack(qt_st, "q", id, l1.lease, NULL), QUEUE_STALE);
	cr_assert_eq(queue_release(qt_st, "q", id, l1.lease, 0, NULL), QUEUE_STALE);
	cr_assert_eq(queue_extend(qt_st, "q", id, l1.lease, 1000, NULL, NULL), QUEUE_STALE);
	cr_assert_eq(queue_ack(qt_st, "q", id, l2.lease + 12345, NULL), QUEUE_STALE);
	cr_assert_eq(qt_count_visible("q"), 0, "refused calls change nothing");
	cr_assert_eq(queue_ack(qt_st, "q", id, l2.lease, NULL), QUEUE_OK);
}

Test(queue_leases, unknown_id_is_nomsg_and_unleased_id_is_stale)
{
	uint64_t id = qt_enq("q", "ready");
	struct queue_msg l = qt_lease_one("q", 5000);
	cr_assert_eq(queue_ack(qt_st, "q", id + 1000, l.lease, NULL), QUEUE_NOMSG);
	cr_assert_eq(queue_release(qt_st, "q", id + 1000, l.lease, 0, NULL), QUEUE_NOMSG);
	cr_assert_eq(queue_extend(qt_st, "q", id + 1000, l.lease, 1000, NULL, NULL), QUEUE_NOMSG);
	uint64_t ready = qt_enq("q", "never leased");
	/* A message that was never leased has no current token: any token is a mismatch (HTTP 409). */
	cr_assert_eq(queue_ack(qt_st, "q", ready, l.lease, NULL), QUEUE_STALE);
	cr_assert_eq(queue_release(qt_st, "q", ready, 1, 0, NULL), QUEUE_STALE);
	cr_assert_eq(queue_extend(qt_st, "q", ready, 1, 1000, NULL, NULL), QUEUE_STALE);
	cr_assert_eq(queue_ack(qt_st, "missing", id, l.lease, NULL), QUEUE_NOTFOUND);
	cr_assert_eq(queue_release(qt_st, "missing", id, l.lease, 0, NULL), QUEUE_NOTFOUND);
	cr_assert_eq(queue_extend(qt_st, "missing", id, l.lease, 1, NULL, NULL), QUEUE_NOTFOUND);
	cr_assert_eq(qt_count_visible("q"), 1);
}

Test(queue_leases, ack_after_expiry_succeeds_until_someone_leases_again)
{
	uint64_t id = qt_enq("q", "slow");
	struct queue_msg l = qt_lease_one("q", 100);
	qt_set_now(QT_T0 + 500);
	queue_store_tick(qt_st);
	cr_assert_eq(qt_count_visible("q"), 1, "the expired lease made it visible");
	cr_assert_eq(queue_ack(qt_st, "q", id, l.lease, NULL), QUEUE_OK);
	cr_assert_eq(qt_count_visible("q"), 0);
	struct queue_msgs m = { 0 };
	cr_assert_eq(queue_lease(qt_st, "q", 1, 0, &m, NULL), QUEUE_OK);
	cr_assert_eq(m.count, 0);
	queue_msgs_free(&m);
	/* Without a tick in between, too. */
	uint64_t id2 = qt_enq("q", "slow2");
	struct queue_msg l2 = qt_lease_one("q", 100);
	cr_assert_eq(l2.id, id2);
	qt_set_now(QT_T0 + 1000);
	cr_assert_eq(queue_ack(qt_st, "q", id2, l2.lease, NULL), QUEUE_OK);
	queue_store_tick(qt_st);
	cr_assert_eq(qt_count_visible("q"), 0);
}

Test(queue_leases, expired_lease_redelivers_with_one_more_delivery)
{
	qt_enq("q", "a");
	uint64_t id = qt_enq("q", "b");
	struct queue_msg first = qt_lease_one("q", 100);
	struct queue_msg second = qt_lease_one("q", 100);
	cr_assert_eq(second.id, id);
	qt_set_now(QT_T0 + 101);
	queue_store_tick(qt_st);
	struct queue_msgs m = { 0 };
	cr_assert_eq(queue_lease(qt_st, "q", 10, 100, &m, NULL), QUEUE_OK);
	cr_assert_eq(m.count, 2);
	cr_assert_eq(m.items[0].id, first.id, "redelivery keeps id order");
	cr_assert_eq(m.items[1].id, second.id);
	cr_assert_eq(m.items[0].deliveries, 2);
	cr_assert_eq(m.items[1].deliveries, 2);
	qt_assert_payload(&m.items[1], "b");
	queue_msgs_free(&m);
	qt_set_now(QT_T0 + 202);
	queue_store_tick(qt_st);
	cr_assert_eq(queue_pop(qt_st, "q", 10, &m, NULL), QUEUE_OK);
	cr_assert_eq(m.count, 2);
	cr_assert_eq(m.items[0].deliveries, 3);
	queue_msgs_free(&m);
}

Test(queue_leases, release_with_delay_hides_until_then)
{
	struct queue_stats s;
	uint64_t id = qt_enq("q", "retry");
	struct queue_msg l = qt_lease_one("q", 5000);
	cr_assert_eq(queue_release(qt_st, "q", id, l.lease, 300, NULL), QUEUE_OK);
	cr_assert_eq(queue_stats(qt_st, "q", &s), QUEUE_OK);
	cr_assert_eq(s.in_flight, 0);
	cr_assert_eq(s.delayed, 1);
	cr_assert_eq(s.depth, 0);
	cr_assert_eq(s.released_total, 1);
	qt_set_now(QT_T0 + 299);
	queue_store_tick(qt_st);
	cr_assert_eq(qt_count_visible("q"), 0);
	qt_set_now(QT_T0 + 301);
	queue_store_tick(qt_st);
	struct queue_msg again = qt_lease_one("q", 5000);
	cr_assert_eq(again.id, id);
	cr_assert_eq(again.deliveries, 2);
	cr_assert_eq(queue_ack(qt_st, "q", id, l.lease, NULL), QUEUE_STALE, "leased again: the old token is stale");
	cr_assert_eq(queue_release(qt_st, "q", id, again.lease, 0, NULL), QUEUE_OK);
	cr_assert_eq(qt_count_visible("q"), 1, "release without delay is visible at once");
}

/* A token stays current until the message is leased again or removed, release included. */
Test(queue_leases, token_stays_current_after_release_until_leased_again)
{
	uint64_t id = qt_enq("q", "nack");
	struct queue_msg l = qt_lease_one("q", 5000);
	cr_assert_eq(queue_release(qt_st, "q", id, l.lease, 0, NULL), QUEUE_OK);
	cr_assert_eq(qt_count_visible("q"), 1);
	cr_assert_eq(queue_ack(qt_st, "q", id, l.lease, NULL), QUEUE_OK);
	cr_assert_eq(qt_count_visible("q"), 0);
	cr_assert_eq(queue_ack(qt_st, "q", id, l.lease, NULL), QUEUE_NOMSG, "removed: no such message");
}

Test(queue_leases, extend_moves_the_expiry)
{
	uint64_t id = qt_enq("q", "long job");
	uint64_t expires = 0;
	struct queue_msg l = qt_lease_one("q", 1000);
	qt_set_now(QT_T0 + 500);
	cr_assert_eq(queue_extend(qt_st, "q", id, l.lease, 2000, &expires, NULL), QUEUE_OK);
	cr_assert_eq(expires, QT_T0 + 2500);
	qt_set_now(QT_T0 + 1500);
	queue_store_tick(qt_st);
	cr_assert_eq(qt_count_visible("q"), 0, "the old expiry no longer applies");
	qt_set_now(QT_T0 + 2400);
	cr_assert_eq(queue_extend(qt_st, "q", id, l.lease, 50, NULL, NULL), QUEUE_OK);
	qt_set_now(QT_T0 + 2499);
	queue_store_tick(qt_st);
	cr_assert_eq(qt_count_visible("q"), 1, "extend can shorten the lease too");
	cr_assert_eq(queue_ack(qt_st, "q", id, l.lease, NULL), QUEUE_OK, "the token survives extend");
}

static void set_dead_letter(const char *name, uint32_t max_deliveries, const char *dlq)
{
	struct queue_settings s;
	queue_settings_default(&s);
	s.max_deliveries = max_deliveries;
	strcpy(s.dead_letter, dlq);
	cr_assert_eq(queue_put_settings(qt_st, name, &s, QUEUE_SET_MAX_DELIVERIES | QUEUE_SET_DEAD_LETTER, NULL),
		     QUEUE_OK);
}

Test(queue_leases, expired_leases_beyond_max_deliveries_go_to_dead_letter)
{
	static const char body[] = "{\"poison\":true,\"bin\":\"\\u0000\"}";
	struct queue_stats s;
	struct queue_msgs m = { 0 };
	set_dead_letter("src", 2, "dlq");
	uint64_t id = qt_enq("src", body);
	uint64_t keep = qt_enq("src", "healthy");
	uint64_t now = QT_T0;
	struct queue_msg l = { 0 };
	for (uint32_t d = 1; d <= 2; d++) {
		l = qt_lease_one("src", 100);
		cr_assert_eq(l.id, id);
		cr_assert_eq(l.deliveries, d);
		now += 101;
		qt_set_now(now);
		queue_store_tick(qt_st);
	}
	cr_assert_eq(queue_peek(qt_st, "src", 10, &m), QUEUE_OK);
	cr_assert_eq(m.count, 1);
	cr_assert_eq(m.items[0].id, keep);
	queue_msgs_free(&m);
	cr_assert_eq(queue_stats(qt_st, "src", &s), QUEUE_OK);
	cr_assert_eq(s.in_flight + s.delayed, 0);
	cr_assert_eq(s.depth, 1);
	cr_assert_eq(s.dead_lettered_total, 1);
	cr_assert_eq(queue_ack(qt_st, "src", id, l.lease, NULL), QUEUE_NOMSG);
	cr_assert_eq(queue_pop(qt_st, "dlq", 10, &m, NULL), QUEUE_OK);
	cr_assert_eq(m.count, 1);
	qt_assert_payload(&m.items[0], body);
	queue_msgs_free(&m);
}

Test(queue_leases, release_beyond_max_deliveries_goes_to_dead_letter)
{
	char body[300];
	struct queue_msgs m = { 0 };
	for (size_t i = 0; i < sizeof(body); i++)
		body[i] = (char)(i * 7 + 1);
	struct queue_payload p = { body, sizeof(body) };
	set_dead_letter("src", 3, "dlq");
	uint64_t id = 0;
	cr_assert_eq(queue_enqueue(qt_st, "src", &p, 1, 0, &id, NULL), QUEUE_OK);
	for (int d = 1; d <= 3; d++) {
		struct queue_msg l = qt_lease_one("src", 5000);
		cr_assert_eq(l.id, id);
		cr_assert_eq(queue_release(qt_st, "src", id, l.lease, 0, NULL), QUEUE_OK);
	}
	cr_assert_eq(qt_count_visible("src"), 0);
	cr_assert_eq(queue_lease(qt_st, "src", 10, 0, &m, NULL), QUEUE_OK);
	cr_assert_eq(m.count, 0);
	queue_msgs_free(&m);
	cr_assert_eq(queue_pop(qt_st, "dlq", 10, &m, NULL), QUEUE_OK);
	cr_assert_eq(m.count, 1);
	cr_assert_eq(m.items[0].len, sizeof(body));
	cr_assert_eq(memcmp(m.items[0].payload, body, sizeof(body)), 0);
	queue_msgs_free(&m);
	/* An acked message never goes to the dead-letter queue. */
	qt_enq("src", "fine");
	struct queue_msg l = qt_lease_one("src", 5000);
	cr_assert_eq(queue_ack(qt_st, "src", l.id, l.lease, NULL), QUEUE_OK);
	cr_assert_eq(qt_count_visible("dlq"), 0);
}

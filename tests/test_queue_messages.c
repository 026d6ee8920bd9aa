/* test_queue_messages.c: messages through one queue: enqueue, peek, pop, batches, limits, delays, ids and payload bytes. */
#include <criterion/criterion.h>

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../queue/queue.h"
#include "queuetest.h"
#include "testutil.h"

TestSuite(queue_messages, .init = qt_setup, .fini = qt_teardown, .timeout = 30);

static void set_queue(const char *name, unsigned mask, uint64_t max_bytes, uint32_t max_msg)
{
	struct queue_settings s;
	queue_settings_default(&s);
	s.max_bytes = max_bytes;
	s.max_message_bytes = max_msg;
	cr_assert_eq(queue_put_settings(qt_st, name, &s, mask, NULL), QUEUE_OK);
}

Test(queue_messages, pop_on_empty_queue_returns_no_messages)
{
	struct queue_msgs m = { 0 };
	cr_assert_eq(queue_put_settings(qt_st, "q", NULL, 0, NULL), QUEUE_OK);
	cr_assert_eq(queue_pop(qt_st, "q", 10, &m, NULL), QUEUE_OK);
	cr_assert_eq(m.count, 0);
	queue_msgs_free(&m);
	cr_assert_eq(queue_lease(qt_st, "q", 10, 0, &m, NULL), QUEUE_OK);
	cr_assert_eq(m.count, 0);
	queue_msgs_free(&m);
	cr_assert_eq(queue_peek(qt_st, "q", 10, &m), QUEUE_OK);
	cr_assert_eq(m.count, 0);
	queue_msgs_free(&m);
}

Test(queue_messages, pop_returns_messages_in_fifo_order)
{
	static const char *const texts[] = { "{\"n\":1}", "{\"n\":2}", "[3]", "\"four\"", "5" };
	uint64_t ids[5];
	struct queue_msgs m = { 0 };
	for (int i = 0; i < 5; i++)
		ids[i] = qt_enq("q", texts[i]);
	cr_assert_eq(queue_pop(qt_st, "q", 2, &m, NULL), QUEUE_OK);
	cr_assert_eq(m.count, 2);
	for (int i = 0; i < 2; i++) {
		cr_assert_eq(m.items[i].id, ids[i]);
		qt_assert_payload(&m.items[i], texts[i]);
		cr_assert_eq(m.items[i].deliveries, 1);
		cr_assert_eq(m.items[i].enqueued_ms, QT_T0);
		cr_assert_eq(m.items[i].lease, 0);
		cr_assert_eq(m.items[i].lease_expires_ms, 0);
	}
	queue_msgs_free(&m);
	cr_assert_eq(queue_pop(qt_st, "q", 10, &m, NULL), QUEUE_OK);
	cr_assert_eq(m.count, 3);
	for (int i = 0; i < 3; i++) {
		cr_assert_eq(m.items[i].id, ids[i + 2]);
		qt_assert_payload(&m.items[i], texts[i + 2]);
	}
	queue_msgs_free(&m);
	cr_assert_eq(qt_count_visible("q"), 0);
}

Test(queue_messages, peek_removes_nothing)
{
	struct queue_msgs a = { 0 }, b = { 0 };
	struct queue_stats s;
	uint64_t id1 = qt_enq("q", "one"), id2 = qt_enq("q", "two");
	qt_enq("q", "three");
	cr_assert_eq(queue_peek(qt_st, "q", 2, &a), QUEUE_OK);
	cr_assert_eq(queue_peek(qt_st, "q", 2, &b), QUEUE_OK);
	cr_assert_eq(a.count, 2);
	cr_assert_eq(b.count, 2);
	cr_assert_eq(a.items[0].id, id1);
	cr_assert_eq(a.items[1].id, id2);
	cr_assert_eq(b.items[0].id, id1);
	cr_assert_eq(b.items[1].id, id2);
	qt_assert_payload(&a.items[0], "one");
	cr_assert_eq(a.items[0].deliveries, 0);
	cr_assert_eq(a.items[0].lease, 0);
	queue_msgs_free(&a);
	queue_msgs_free(&b);
	cr_assert_eq(queue_stats(qt_st, "q", &s), QUEUE_OK);
	cr_assert_eq(s.depth, 3);
	cr_assert_eq(s.dequeued_total, 0);
	cr_assert_eq(queue_pop(qt_st, "q", 1, &a, NULL), QUEUE_OK);
	cr_assert_eq(a.items[0].id, id1);
	cr_assert_eq(a.items[0].deliveries, 1);
	queue_msgs_free(&a);
}

Test(queue_messages, peek_and_pop_skip_leased_messages)
{
	qt_enq("q", "a");
	uint64_t id2 = qt_enq("q", "b");
	struct queue_msg l = qt_lease_one("q", 10000);
	struct queue_msgs m = { 0 };
	cr_assert_eq(queue_peek(qt_st, "q", 10, &m), QUEUE_OK);
	cr_assert_eq(m.count, 1);
	cr_assert_eq(m.items[0].id, id2);
	queue_msgs_free(&m);
	cr_assert_eq(queue_pop(qt_st, "q", 10, &m, NULL), QUEUE_OK);
	cr_assert_eq(m.count, 1);
	cr_assert_eq(m.items[0].id, id2);
	queue_msgs_free(&m);
	cr_assert_eq(queue_ack(qt_st, "q", l.id, l.lease, NULL), QUEUE_OK);
}

Test(queue_messages, limit_must_be_1_to_batch_max)
{
	struct queue_msgs m = { 0 };
	struct queue_payload *items = calloc(QUEUE_BATCH_MAX + 1, sizeof(*items));
	uint64_t *ids = calloc(QUEUE_BATCH_MAX + 1, sizeof(*ids));
	for (size_t i = 0; i <= QUEUE_BATCH_MAX; i++)
		items[i] = (struct queue_payload){ "{}", 2 };
	cr_assert_eq(queue_enqueue(qt_st, "q", items, 0, 0, ids, NULL), QUEUE_BADARG);
	cr_assert_eq(queue_enqueue(qt_st, "q", items, QUEUE_BATCH_MAX + 1, 0, ids, NULL), QUEUE_BADARG);
	cr_assert_eq(qt_count_visible("q"), 0);
	cr_assert_eq(queue_enqueue(qt_st, "q", items, QUEUE_BATCH_MAX, 0, ids, NULL), QUEUE_OK);
	for (size_t i = 1; i < QUEUE_BATCH_MAX; i++)
		cr_assert_gt(ids[i], ids[i - 1]);
	cr_assert_eq(queue_enqueue(qt_st, "q", items, 1, 0, ids, NULL), QUEUE_OK);

	cr_assert_eq(queue_peek(qt_st, "q", 0, &m), QUEUE_BADARG);
	cr_assert_eq(queue_pop(qt_st, "q", 0, &m, NULL), QUEUE_BADARG);
	cr_assert_eq(queue_lease(qt_st, "q", 0, 0, &m, NULL), QUEUE_BADARG);
	cr_assert_eq(queue_peek(qt_st, "q", QUEUE_BATCH_MAX + 1, &m), QUEUE_BADARG);
	cr_assert_eq(queue_pop(qt_st, "q", QUEUE_BATCH_MAX + 1, &m, NULL), QUEUE_BADARG);
	cr_assert_eq(queue_lease(qt_st, "q", QUEUE_BATCH_MAX + 1, 0, &m, NULL), QUEUE_BADARG);

	cr_assert_eq(queue_peek(qt_st, "q", QUEUE_BATCH_MAX, &m), QUEUE_OK);
	cr_assert_eq(m.count, QUEUE_BATCH_MAX);
	queue_msgs_free(&m);
	cr_assert_eq(queue_lease(qt_st, "q", 1, 0, &m, NULL), QUEUE_OK);
	cr_assert_eq(m.count, 1);
	queue_msgs_free(&m);
	cr_assert_eq(queue_pop(qt_st, "q", 1, &m, NULL), QUEUE_OK);
	cr_assert_eq(m.count, 1);
	queue_msgs_free(&m);
	cr_assert_eq(queue_pop(qt_st, "q", QUEUE_BATCH_MAX, &m, NULL), QUEUE_OK);
	cr_assert_eq(m.count, QUEUE_BATCH_MAX - 1);
	for (size_t i = 1; i < m.count; i++)
		cr_assert_gt(m.items[i].id, m.items[i - 1].id);
	queue_msgs_free(&m);
	free(items);
	free(ids);
}

Test(queue_messages, payload_of_exactly_max_message_bytes_is_accepted)
{
	char buf[101];
	struct queue_payload p = { buf, 100 };
	struct queue_stats s;
	memset(buf, 'x', sizeof(buf));
	set_queue("q", QUEUE_SET_MAX_MESSAGE_BYTES, 0, 100);
	cr_assert_eq(queue_enqueue(qt_st, "q", &p, 1, 0, NULL, NULL), QUEUE_OK);
	p.len = 101;
	cr_assert_eq(queue_enqueue(qt_st, "q", &p, 1, 0, NULL, NULL), QUEUE_TOOBIG);
	cr_assert_eq(queue_stats(qt_st, "q", &s), QUEUE_OK);
	cr_assert_eq(s.depth, 1);
	cr_assert_eq(s.bytes, 100);
	cr_assert_eq(s.enqueued_total, 1);
}

Test(queue_messages, default_max_message_bytes_is_one_mib)
{
	size_t n = 1048576 + 1;
	char *buf = malloc(n);
	memset(buf, 'y', n);
	struct queue_payload p = { buf, n };
	cr_assert_eq(queue_enqueue(qt_st, "q", &p, 1, 0, NULL, NULL), QUEUE_TOOBIG);
	p.len = n - 1;
	cr_assert_eq(queue_enqueue(qt_st, "q", &p, 1, 0, NULL, NULL), QUEUE_OK);
	struct queue_msgs m = { 0 };
	cr_assert_eq(queue_pop(qt_st, "q", 1, &m, NULL), QUEUE_OK);
	cr_assert_eq(m.count, 1);
	cr_assert_eq(m.items[0].len, n - 1);
	cr_assert_eq(memcmp(m.items[0].payload, buf, n - 1), 0);
	queue_msgs_free(&m);
	free(buf);
}

Test(queue_messages, enqueue_sized_checks_the_callers_measure_and_stores_the_whole_payload)
{
	char buf[300];
	size_t counted[2] = { 100, 100 };
	struct queue_payload p[2] = { { buf, 250 }, { buf, 300 } };
	struct queue_msgs m = { 0 };
	memset(buf, 'w', sizeof(buf));
	set_queue("q", QUEUE_SET_MAX_MESSAGE_BYTES, 0, 100);
	cr_assert_eq(queue_enqueue(qt_st, "q", p, 1, 0, NULL, NULL), QUEUE_TOOBIG);
	cr_assert_eq(queue_enqueue_sized(qt_st, "q", p, counted, 2, 0, NULL, NULL), QUEUE_OK,
		     "counted exactly max_message_bytes fits, whatever the payload's length");
	counted[1] = 101;
	cr_assert_eq(queue_enqueue_sized(qt_st, "q", p, counted, 2, 0, NULL, NULL), QUEUE_TOOBIG);
	cr_assert_eq(queue_enqueue_sized(qt_st, "q", p, NULL, 1, 0, NULL, NULL), QUEUE_TOOBIG,
		     "without counted sizes it is queue_enqueue");
	/* The hard limit holds whatever is counted; the payload is refused before it is read. */
	p[1].len = (size_t)QUEUE_PAYLOAD_MAX + 1;
	counted[1] = 1;
	cr_assert_eq(queue_enqueue_sized(qt_st, "q", p + 1, counted + 1, 1, 0, NULL, NULL), QUEUE_TOOBIG);
	cr_assert_eq(queue_pop(qt_st, "q", 10, &m, NULL), QUEUE_OK);
	cr_assert_eq(m.count, 2);
	cr_assert_eq(m.items[0].len, 250);
	cr_assert_eq(m.items[1].len, 300);
	cr_assert_eq(memcmp(m.items[1].payload, buf, 300), 0);
	queue_msgs_free(&m);
}

Test(queue_messages, max_bytes_makes_the_queue_full)
{
	char buf[100];
	struct queue_payload p = { buf, 60 };
	struct queue_msgs m = { 0 };
	struct queue_stats s;
	memset(buf, 'f', sizeof(buf));
	set_queue("q", QUEUE_SET_MAX_BYTES, 100, 0);
	cr_assert_eq(queue_enqueue(qt_st, "q", &p, 1, 0, NULL, NULL), QUEUE_OK);
	p.len = 41;
	cr_assert_eq(queue_enqueue(qt_st, "q", &p, 1, 0, NULL, NULL), QUEUE_FULL);
	p.len = 40;
	cr_assert_eq(queue_enqueue(qt_st, "q", &p, 1, 0, NULL, NULL), QUEUE_OK, "exactly max_bytes fits");
	p.len = 1;
	cr_assert_eq(queue_enqueue(qt_st, "q", &p, 1, 0, NULL, NULL), QUEUE_FULL);
	cr_assert_eq(queue_stats(qt_st, "q", &s), QUEUE_OK);
	cr_assert_eq(s.bytes, 100);
	cr_assert_eq(s.depth, 2);
	/* A leased message still counts; removing one makes room. */
	struct queue_msg l = qt_lease_one("q", 10000);
	cr_assert_eq(queue_enqueue(qt_st, "q", &p, 1, 0, NULL, NULL), QUEUE_FULL);
	cr_assert_eq(queue_ack(qt_st, "q", l.id, l.lease, NULL), QUEUE_OK);
	p.len = 60;
	cr_assert_eq(queue_enqueue(qt_st, "q", &p, 1, 0, NULL, NULL), QUEUE_OK);
	cr_assert_eq(queue_pop(qt_st, "q", 10, &m, NULL), QUEUE_OK);
	cr_assert_eq(m.count, 2);
	queue_msgs_free(&m);
}

Test(queue_messages, batch_is_all_or_nothing)
{
	char buf[20];
	struct queue_payload items[4] = { { buf, 5 }, { buf, 5 }, { buf, 11 }, { buf, 5 } };
	struct queue_stats s;
	uint64_t ids[4];
	memset(buf, 'b', sizeof(buf));
	set_queue("q", QUEUE_SET_MAX_MESSAGE_BYTES | QUEUE_SET_MAX_BYTES, 20, 10);
	uint64_t before = qt_enq("q", "x");
	cr_assert_eq(queue_enqueue(qt_st, "q", items, 4, 0, ids, NULL), QUEUE_TOOBIG);
	items[2].len = 5;
	/* 1 + 4 * 5 = 21 bytes > max_bytes 20: the whole batch is refused. */
	cr_assert_eq(queue_enqueue(qt_st, "q", items, 4, 0, ids, NULL), QUEUE_FULL);
	cr_assert_eq(queue_stats(qt_st, "q", &s), QUEUE_OK);
	cr_assert_eq(s.depth, 1);
	cr_assert_eq(s.bytes, 1);
	cr_assert_eq(s.enqueued_total, 1);
	cr_assert_eq(queue_enqueue(qt_st, "q", items, 3, 0, ids, NULL), QUEUE_OK);
	cr_assert_gt(ids[0], before);
	cr_assert_gt(ids[1], ids[0]);
	cr_assert_gt(ids[2], ids[1]);
	cr_assert_eq(qt_count_visible("q"), 4);
}

Test(queue_messages, ids_rise_strictly_across_all_operations)
{
	uint64_t last = 0;
	for (int round = 0; round < 20; round++) {
		uint64_t id = qt_enq("q", "r");
		cr_assert_gt(id, last);
		last = id;
		if (round % 3 == 0) {
			struct queue_msg l = qt_lease_one("q", 1000);
			cr_assert_eq(queue_release(qt_st, "q", l.id, l.lease, 0, NULL), QUEUE_OK);
		} else {
			struct queue_msgs m = { 0 };
			cr_assert_eq(queue_pop(qt_st, "q", 1, &m, NULL), QUEUE_OK);
			queue_msgs_free(&m);
		}
	}
	cr_assert_eq(queue_purge(qt_st, "q", NULL), QUEUE_OK);
	cr_assert_gt(qt_enq("q", "after purge"), last);
	/* Ids are per queue or per store; either way a second queue's ids rise too. */
	uint64_t a = qt_enq("other", "1"), b = qt_enq("other", "2");
	cr_assert_gt(b, a);
}

Test(queue_messages, delayed_message_is_invisible_until_its_time)
{
	struct queue_stats s;
	struct queue_msgs m = { 0 };
	uint64_t late = qt_enq_delay("q", "late", 500);
	uint64_t now_id = qt_enq("q", "now");
	cr_assert_eq(queue_stats(qt_st, "q", &s), QUEUE_OK);
	cr_assert_eq(s.delayed, 1);
	cr_assert_eq(s.depth, 1);
	cr_assert_eq(s.bytes, 7);
	cr_assert_eq(queue_peek(qt_st, "q", 10, &m), QUEUE_OK);
	cr_assert_eq(m.count, 1);
	cr_assert_eq(m.items[0].id, now_id);
	queue_msgs_free(&m);
	cr_assert_eq(queue_pop(qt_st, "q", 10, &m, NULL), QUEUE_OK);
	cr_assert_eq(m.count, 1);
	cr_assert_eq(m.items[0].id, now_id);
	queue_msgs_free(&m);

	qt_set_now(QT_T0 + 499);
	queue_store_tick(qt_st);
	cr_assert_eq(qt_count_visible("q"), 0);
	cr_assert_eq(queue_lease(qt_st, "q", 10, 0, &m, NULL), QUEUE_OK);
	cr_assert_eq(m.count, 0);
	queue_msgs_free(&m);

	qt_set_now(QT_T0 + 501);
	queue_store_tick(qt_st);
	cr_assert_eq(queue_stats(qt_st, "q", &s), QUEUE_OK);
	cr_assert_eq(s.delayed, 0);
	cr_assert_eq(s.depth, 1);
	cr_assert_eq(queue_pop(qt_st, "q", 10, &m, NULL), QUEUE_OK);
	cr_assert_eq(m.count, 1);
	cr_assert_eq(m.items[0].id, late);
	qt_assert_payload(&m.items[0], "late");
	queue_msgs_free(&m);
}

Test(queue_messages, payload_bytes_are_stored_verbatim)
{
	uint8_t all[256];
	uint8_t big[5000];
	uint32_t x = 12345;
	for (int i = 0; i < 256; i++)
		all[i] = (uint8_t)i;
	for (size_t i = 0; i < sizeof(big); i++) {
		x = x * 1103515245u + 12345u;
		big[i] = (uint8_t)(x >> 16);
	}
	struct queue_payload p[3] = { { all, sizeof(all) }, { big, sizeof(big) }, { "\0\0\0", 3 } };
	cr_assert_eq(queue_enqueue(qt_st, "q", p, 3, 0, NULL, NULL), QUEUE_OK);
	struct queue_msgs m = { 0 };
	cr_assert_eq(queue_peek(qt_st, "q", 3, &m), QUEUE_OK);
	cr_assert_eq(m.count, 3);
	for (int i = 0; i < 3; i++) {
		cr_assert_eq(m.items[i].len, p[i].len);
		cr_assert_eq(memcmp(m.items[i].payload, p[i].data, p[i].len), 0);
	}
	queue_msgs_free(&m);
	cr_assert_eq(queue_lease(qt_st, "q", 1, 1000, &m, NULL), QUEUE_OK);
	cr_assert_eq(memcmp(m.items[0].payload, all, sizeof(all)), 0);
	queue_msgs_free(&m);
	cr_assert_eq(queue_pop(qt_st, "q", 3, &m, NULL), QUEUE_OK);
	cr_assert_eq(m.count, 2);
	cr_assert_eq(memcmp(m.items[0].payload, big, sizeof(big)), 0);
	cr_assert_eq(memcmp(m.items[1].payload, "\0\0\0", 3), 0);
	queue_msgs_free(&m);
}

Test(queue_messages, popped_payload_stays_readable_after_later_writes)
{
	char text[64];
	struct queue_msgs m = { 0 };
	qt_enq("q", "first-payload");
	cr_assert_eq(queue_pop(qt_st, "q", 1, &m, NULL), QUEUE_OK);
	for (int i = 0; i < 200; i++) {
		snprintf(text, sizeof(text), "filler-%d", i);
		qt_enq("q", text);
	}
	cr_assert_eq(queue_purge(qt_st, "q", NULL), QUEUE_OK);
	qt_assert_payload(&m.items[0], "first-payload");
	queue_msgs_free(&m);
}

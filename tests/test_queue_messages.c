/* test_queue_messages.c: messages through one queue: enqueue, peek, pop, lease, ack, release, extend, limits, watches, tickets. */
#include <criterion/criterion.h>

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../queue/queue.h"
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

static void setup_bare(void)
{
	teardown();
	set_now(T0);
	dir = tu_tempdir();
	st = NULL;
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

static uint64_t enq_delay(const char *name, const char *text, uint64_t delay)
{
	struct queue_payload p = { text, strlen(text) };
	uint64_t id = 0;
	cr_assert_eq(queue_enqueue(st, name, &p, 1, delay, &id, NULL), QUEUE_OK);
	return id;
}

static uint64_t enq(const char *name, const char *text)
{
	return enq_delay(name, text, 0);
}

static void assert_payload(const struct queue_msg *m, const char *text)
{
	cr_assert_eq(m->len, strlen(text));
	cr_assert_eq(memcmp(m->payload, text, m->len), 0);
}

/* count_visible returns how many messages a peek of up to 1000 sees. */
static size_t count_visible(const char *name)
{
	struct queue_msgs m = { 0 };
	cr_assert_eq(queue_peek(st, name, 1000, &m), QUEUE_OK);
	size_t n = m.count;
	queue_msgs_free(&m);
	return n;
}

/* lease_one leases exactly one message of name for ttl and returns it (payload not kept). */
static struct queue_msg lease_one(const char *name, uint64_t ttl)
{
	struct queue_msgs m = { 0 };
	cr_assert_eq(queue_lease(st, name, 1, ttl, &m, NULL), QUEUE_OK);
	cr_assert_eq(m.count, 1);
	struct queue_msg msg = m.items[0];
	msg.payload = NULL;
	queue_msgs_free(&m);
	return msg;
}

static void set_queue(const char *name, unsigned mask, uint64_t max_bytes, uint32_t max_msg)
{
	struct queue_settings s;
	queue_settings_default(&s);
	s.max_bytes = max_bytes;
	s.max_message_bytes = max_msg;
	cr_assert_eq(queue_put_settings(st, name, &s, mask, NULL), QUEUE_OK);
}

Test(queue_messages, pop_on_empty_queue_returns_no_messages)
{
	struct queue_msgs m = { 0 };
	cr_assert_eq(queue_put_settings(st, "q", NULL, 0, NULL), QUEUE_OK);
	cr_assert_eq(queue_pop(st, "q", 10, &m, NULL), QUEUE_OK);
	cr_assert_eq(m.count, 0);
	queue_msgs_free(&m);
	cr_assert_eq(queue_lease(st, "q", 10, 0, &m, NULL), QUEUE_OK);
	cr_assert_eq(m.count, 0);
	queue_msgs_free(&m);
	cr_assert_eq(queue_peek(st, "q", 10, &m), QUEUE_OK);
	cr_assert_eq(m.count, 0);
	queue_msgs_free(&m);
}

Test(queue_messages, pop_returns_messages_in_fifo_order)
{
	static const char *const texts[] = { "{\"n\":1}", "{\"n\":2}", "[3]", "\"four\"", "5" };
	uint64_t ids[5];
	struct queue_msgs m = { 0 };
	for (int i = 0; i < 5; i++)
		ids[i] = enq("q", texts[i]);
	cr_assert_eq(queue_pop(st, "q", 2, &m, NULL), QUEUE_OK);
	cr_assert_eq(m.count, 2);
	for (int i = 0; i < 2; i++) {
		cr_assert_eq(m.items[i].id, ids[i]);
		assert_payload(&m.items[i], texts[i]);
		cr_assert_eq(m.items[i].deliveries, 1);
		cr_assert_eq(m.items[i].enqueued_ms, T0);
		cr_assert_eq(m.items[i].lease, 0);
		cr_assert_eq(m.items[i].lease_expires_ms, 0);
	}
	queue_msgs_free(&m);
	cr_assert_eq(queue_pop(st, "q", 10, &m, NULL), QUEUE_OK);
	cr_assert_eq(m.count, 3);
	for (int i = 0; i < 3; i++) {
		cr_assert_eq(m.items[i].id, ids[i + 2]);
		assert_payload(&m.items[i], texts[i + 2]);
	}
	queue_msgs_free(&m);
	cr_assert_eq(count_visible("q"), 0);
}

Test(queue_messages, peek_removes_nothing)
{
	struct queue_msgs a = { 0 }, b = { 0 };
	struct queue_stats s;
	uint64_t id1 = enq("q", "one"), id2 = enq("q", "two");
	enq("q", "three");
	cr_assert_eq(queue_peek(st, "q", 2, &a), QUEUE_OK);
	cr_assert_eq(queue_peek(st, "q", 2, &b), QUEUE_OK);
	cr_assert_eq(a.count, 2);
	cr_assert_eq(b.count, 2);
	cr_assert_eq(a.items[0].id, id1);
	cr_assert_eq(a.items[1].id, id2);
	cr_assert_eq(b.items[0].id, id1);
	cr_assert_eq(b.items[1].id, id2);
	assert_payload(&a.items[0], "one");
	cr_assert_eq(a.items[0].deliveries, 0);
	cr_assert_eq(a.items[0].lease, 0);
	queue_msgs_free(&a);
	queue_msgs_free(&b);
	cr_assert_eq(queue_stats(st, "q", &s), QUEUE_OK);
	cr_assert_eq(s.depth, 3);
	cr_assert_eq(s.dequeued_total, 0);
	cr_assert_eq(queue_pop(st, "q", 1, &a, NULL), QUEUE_OK);
	cr_assert_eq(a.items[0].id, id1);
	cr_assert_eq(a.items[0].deliveries, 1);
	queue_msgs_free(&a);
}

Test(queue_messages, peek_and_pop_skip_leased_messages)
{
	enq("q", "a");
	uint64_t id2 = enq("q", "b");
	struct queue_msg l = lease_one("q", 10000);
	struct queue_msgs m = { 0 };
	cr_assert_eq(queue_peek(st, "q", 10, &m), QUEUE_OK);
	cr_assert_eq(m.count, 1);
	cr_assert_eq(m.items[0].id, id2);
	queue_msgs_free(&m);
	cr_assert_eq(queue_pop(st, "q", 10, &m, NULL), QUEUE_OK);
	cr_assert_eq(m.count, 1);
	cr_assert_eq(m.items[0].id, id2);
	queue_msgs_free(&m);
	cr_assert_eq(queue_ack(st, "q", l.id, l.lease, NULL), QUEUE_OK);
}

Test(queue_messages, limit_must_be_1_to_batch_max)
{
	struct queue_msgs m = { 0 };
	struct queue_payload *items = calloc(QUEUE_BATCH_MAX + 1, sizeof(*items));
	uint64_t *ids = calloc(QUEUE_BATCH_MAX + 1, sizeof(*ids));
	for (size_t i = 0; i <= QUEUE_BATCH_MAX; i++)
		items[i] = (struct queue_payload){ "{}", 2 };
	cr_assert_eq(queue_enqueue(st, "q", items, 0, 0, ids, NULL), QUEUE_BADARG);
	cr_assert_eq(queue_enqueue(st, "q", items, QUEUE_BATCH_MAX + 1, 0, ids, NULL), QUEUE_BADARG);
	cr_assert_eq(count_visible("q"), 0);
	cr_assert_eq(queue_enqueue(st, "q", items, QUEUE_BATCH_MAX, 0, ids, NULL), QUEUE_OK);
	for (size_t i = 1; i < QUEUE_BATCH_MAX; i++)
		cr_assert_gt(ids[i], ids[i - 1]);
	cr_assert_eq(queue_enqueue(st, "q", items, 1, 0, ids, NULL), QUEUE_OK);

	cr_assert_eq(queue_peek(st, "q", 0, &m), QUEUE_BADARG);
	cr_assert_eq(queue_pop(st, "q", 0, &m, NULL), QUEUE_BADARG);
	cr_assert_eq(queue_lease(st, "q", 0, 0, &m, NULL), QUEUE_BADARG);
	cr_assert_eq(queue_peek(st, "q", QUEUE_BATCH_MAX + 1, &m), QUEUE_BADARG);
	cr_assert_eq(queue_pop(st, "q", QUEUE_BATCH_MAX + 1, &m, NULL), QUEUE_BADARG);
	cr_assert_eq(queue_lease(st, "q", QUEUE_BATCH_MAX + 1, 0, &m, NULL), QUEUE_BADARG);

	cr_assert_eq(queue_peek(st, "q", QUEUE_BATCH_MAX, &m), QUEUE_OK);
	cr_assert_eq(m.count, QUEUE_BATCH_MAX);
	queue_msgs_free(&m);
	cr_assert_eq(queue_lease(st, "q", 1, 0, &m, NULL), QUEUE_OK);
	cr_assert_eq(m.count, 1);
	queue_msgs_free(&m);
	cr_assert_eq(queue_pop(st, "q", 1, &m, NULL), QUEUE_OK);
	cr_assert_eq(m.count, 1);
	queue_msgs_free(&m);
	cr_assert_eq(queue_pop(st, "q", QUEUE_BATCH_MAX, &m, NULL), QUEUE_OK);
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
	cr_assert_eq(queue_enqueue(st, "q", &p, 1, 0, NULL, NULL), QUEUE_OK);
	p.len = 101;
	cr_assert_eq(queue_enqueue(st, "q", &p, 1, 0, NULL, NULL), QUEUE_TOOBIG);
	cr_assert_eq(queue_stats(st, "q", &s), QUEUE_OK);
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
	cr_assert_eq(queue_enqueue(st, "q", &p, 1, 0, NULL, NULL), QUEUE_TOOBIG);
	p.len = n - 1;
	cr_assert_eq(queue_enqueue(st, "q", &p, 1, 0, NULL, NULL), QUEUE_OK);
	struct queue_msgs m = { 0 };
	cr_assert_eq(queue_pop(st, "q", 1, &m, NULL), QUEUE_OK);
	cr_assert_eq(m.count, 1);
	cr_assert_eq(m.items[0].len, n - 1);
	cr_assert_eq(memcmp(m.items[0].payload, buf, n - 1), 0);
	queue_msgs_free(&m);
	free(buf);
}

Test(queue_messages, max_bytes_makes_the_queue_full)
{
	char buf[100];
	struct queue_payload p = { buf, 60 };
	struct queue_msgs m = { 0 };
	struct queue_stats s;
	memset(buf, 'f', sizeof(buf));
	set_queue("q", QUEUE_SET_MAX_BYTES, 100, 0);
	cr_assert_eq(queue_enqueue(st, "q", &p, 1, 0, NULL, NULL), QUEUE_OK);
	p.len = 41;
	cr_assert_eq(queue_enqueue(st, "q", &p, 1, 0, NULL, NULL), QUEUE_FULL);
	p.len = 40;
	cr_assert_eq(queue_enqueue(st, "q", &p, 1, 0, NULL, NULL), QUEUE_OK, "exactly max_bytes fits");
	p.len = 1;
	cr_assert_eq(queue_enqueue(st, "q", &p, 1, 0, NULL, NULL), QUEUE_FULL);
	cr_assert_eq(queue_stats(st, "q", &s), QUEUE_OK);
	cr_assert_eq(s.bytes, 100);
	cr_assert_eq(s.depth, 2);
	/* A leased message still counts; removing one makes room. */
	struct queue_msg l = lease_one("q", 10000);
	cr_assert_eq(queue_enqueue(st, "q", &p, 1, 0, NULL, NULL), QUEUE_FULL);
	cr_assert_eq(queue_ack(st, "q", l.id, l.lease, NULL), QUEUE_OK);
	p.len = 60;
	cr_assert_eq(queue_enqueue(st, "q", &p, 1, 0, NULL, NULL), QUEUE_OK);
	cr_assert_eq(queue_pop(st, "q", 10, &m, NULL), QUEUE_OK);
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
	uint64_t before = enq("q", "x");
	cr_assert_eq(queue_enqueue(st, "q", items, 4, 0, ids, NULL), QUEUE_TOOBIG);
	items[2].len = 5;
	/* 1 + 4 * 5 = 21 bytes > max_bytes 20: the whole batch is refused. */
	cr_assert_eq(queue_enqueue(st, "q", items, 4, 0, ids, NULL), QUEUE_FULL);
	cr_assert_eq(queue_stats(st, "q", &s), QUEUE_OK);
	cr_assert_eq(s.depth, 1);
	cr_assert_eq(s.bytes, 1);
	cr_assert_eq(s.enqueued_total, 1);
	cr_assert_eq(queue_enqueue(st, "q", items, 3, 0, ids, NULL), QUEUE_OK);
	cr_assert_gt(ids[0], before);
	cr_assert_gt(ids[1], ids[0]);
	cr_assert_gt(ids[2], ids[1]);
	cr_assert_eq(count_visible("q"), 4);
}

Test(queue_messages, ids_rise_strictly_across_all_operations)
{
	uint64_t last = 0;
	for (int round = 0; round < 20; round++) {
		uint64_t id = enq("q", "r");
		cr_assert_gt(id, last);
		last = id;
		if (round % 3 == 0) {
			struct queue_msg l = lease_one("q", 1000);
			cr_assert_eq(queue_release(st, "q", l.id, l.lease, 0, NULL), QUEUE_OK);
		} else {
			struct queue_msgs m = { 0 };
			cr_assert_eq(queue_pop(st, "q", 1, &m, NULL), QUEUE_OK);
			queue_msgs_free(&m);
		}
	}
	cr_assert_eq(queue_purge(st, "q", NULL), QUEUE_OK);
	cr_assert_gt(enq("q", "after purge"), last);
	/* Ids are per queue or per store; either way a second queue's ids rise too. */
	uint64_t a = enq("other", "1"), b = enq("other", "2");
	cr_assert_gt(b, a);
}

Test(queue_messages, delayed_message_is_invisible_until_its_time)
{
	struct queue_stats s;
	struct queue_msgs m = { 0 };
	uint64_t late = enq_delay("q", "late", 500);
	uint64_t now_id = enq("q", "now");
	cr_assert_eq(queue_stats(st, "q", &s), QUEUE_OK);
	cr_assert_eq(s.delayed, 1);
	cr_assert_eq(s.depth, 1);
	cr_assert_eq(s.bytes, 7);
	cr_assert_eq(queue_peek(st, "q", 10, &m), QUEUE_OK);
	cr_assert_eq(m.count, 1);
	cr_assert_eq(m.items[0].id, now_id);
	queue_msgs_free(&m);
	cr_assert_eq(queue_pop(st, "q", 10, &m, NULL), QUEUE_OK);
	cr_assert_eq(m.count, 1);
	cr_assert_eq(m.items[0].id, now_id);
	queue_msgs_free(&m);

	set_now(T0 + 499);
	queue_store_tick(st);
	cr_assert_eq(count_visible("q"), 0);
	cr_assert_eq(queue_lease(st, "q", 10, 0, &m, NULL), QUEUE_OK);
	cr_assert_eq(m.count, 0);
	queue_msgs_free(&m);

	set_now(T0 + 501);
	queue_store_tick(st);
	cr_assert_eq(queue_stats(st, "q", &s), QUEUE_OK);
	cr_assert_eq(s.delayed, 0);
	cr_assert_eq(s.depth, 1);
	cr_assert_eq(queue_pop(st, "q", 10, &m, NULL), QUEUE_OK);
	cr_assert_eq(m.count, 1);
	cr_assert_eq(m.items[0].id, late);
	assert_payload(&m.items[0], "late");
	queue_msgs_free(&m);
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
	cr_assert_eq(queue_enqueue(st, "q", p, 3, 0, NULL, NULL), QUEUE_OK);
	struct queue_msgs m = { 0 };
	cr_assert_eq(queue_peek(st, "q", 3, &m), QUEUE_OK);
	cr_assert_eq(m.count, 3);
	for (int i = 0; i < 3; i++) {
		cr_assert_eq(m.items[i].len, p[i].len);
		cr_assert_eq(memcmp(m.items[i].payload, p[i].data, p[i].len), 0);
	}
	queue_msgs_free(&m);
	cr_assert_eq(queue_lease(st, "q", 1, 1000, &m, NULL), QUEUE_OK);
	cr_assert_eq(memcmp(m.items[0].payload, all, sizeof(all)), 0);
	queue_msgs_free(&m);
	cr_assert_eq(queue_pop(st, "q", 3, &m, NULL), QUEUE_OK);
	cr_assert_eq(m.count, 2);
	cr_assert_eq(memcmp(m.items[0].payload, big, sizeof(big)), 0);
	cr_assert_eq(memcmp(m.items[1].payload, "\0\0\0", 3), 0);
	queue_msgs_free(&m);
}

Test(queue_messages, popped_payload_stays_readable_after_later_writes)
{
	char text[64];
	struct queue_msgs m = { 0 };
	enq("q", "first-payload");
	cr_assert_eq(queue_pop(st, "q", 1, &m, NULL), QUEUE_OK);
	for (int i = 0; i < 200; i++) {
		snprintf(text, sizeof(text), "filler-%d", i);
		enq("q", text);
	}
	cr_assert_eq(queue_purge(st, "q", NULL), QUEUE_OK);
	assert_payload(&m.items[0], "first-payload");
	queue_msgs_free(&m);
}

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

Test(queue_messages, watch_fires_on_enqueue_release_expiry_and_delay_end)
{
	struct queue_watch *w = NULL;
	atomic_store(&watch_calls, 0);
	cr_assert_eq(queue_watch_add(st, "w", on_watch, &watch_calls, &w), QUEUE_OK, "the queue need not exist");
	cr_assert_not_null(w);
	int n = settle();
	enq("w", "a");
	cr_assert_gt(wait_calls(n, 1000), n, "enqueue");
	n = settle();
	struct queue_msg l = lease_one("w", 100);
	n = settle();
	cr_assert_eq(queue_release(st, "w", l.id, l.lease, 0, NULL), QUEUE_OK);
	cr_assert_gt(wait_calls(n, 1000), n, "release");

	l = lease_one("w", 100);
	n = settle();
	set_now(T0 + 200);
	queue_store_tick(st);
	cr_assert_gt(wait_calls(n, 1000), n, "lease expiry");

	struct queue_msgs m = { 0 };
	cr_assert_eq(queue_pop(st, "w", 10, &m, NULL), QUEUE_OK);
	cr_assert_eq(m.count, 1);
	queue_msgs_free(&m);
	enq_delay("w", "later", 1000);
	n = settle();
	set_now(T0 + 1300);
	queue_store_tick(st);
	cr_assert_gt(wait_calls(n, 1000), n, "end of delay");

	n = settle();
	cr_assert_eq(queue_delete(st, "w"), QUEUE_OK);
	cr_assert_gt(wait_calls(n, 1000), n, "delete");

	queue_watch_remove(w);
	n = settle();
	enq("w", "b");
	cr_assert_eq(settle(), n, "a removed watch never runs again");
}

Test(queue_messages, watch_on_other_queue_is_not_called)
{
	struct queue_watch *w = NULL;
	atomic_store(&watch_calls, 0);
	cr_assert_eq(queue_watch_add(st, "mine", on_watch, &watch_calls, &w), QUEUE_OK);
	enq("theirs", "x");
	cr_assert_eq(settle(), 0);
	enq("mine", "x");
	cr_assert_gt(wait_calls(0, 1000), 0);
	queue_watch_remove(w);
}

Test(queue_messages, engine_timer_expires_leases_without_tick, .init = setup_bare)
{
	struct queue_watch *w = NULL;
	open_with(QUEUE_SYNC_NONE, false);
	atomic_store(&watch_calls, 0);
	enq("q", "x");
	cr_assert_eq(queue_watch_add(st, "q", on_watch, &watch_calls, &w), QUEUE_OK);
	struct queue_msg l = lease_one("q", 30);
	int n = atomic_load(&watch_calls);
	cr_assert_gt(wait_calls(n, 3000), n, "the timer thread must expire the lease");
	cr_assert_eq(count_visible("q"), 1);
	struct queue_msg again = lease_one("q", 60000);
	cr_assert_eq(again.id, l.id);
	cr_assert_eq(again.deliveries, 2);
	enq_delay("q", "d", 30);
	n = atomic_load(&watch_calls);
	cr_assert_gt(wait_calls(n, 3000), n, "the timer thread must end the delay");
	cr_assert_eq(count_visible("q"), 1);
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
	struct queue_ticket t;
	struct queue_payload p = { "{\"t\":1}", 7 };
	struct queue_msgs m = { 0 };
	uint64_t ids[2];
	open_with(mode, false);
	cr_assert_eq(queue_store_sync_mode(st), mode);
	cr_assert_eq(queue_enqueue(st, "q", &p, 1, 0, ids, &t), QUEUE_OK);
	cr_assert_eq(queue_ticket_wait(&t), QUEUE_OK);
	cr_assert_eq(queue_enqueue(st, "q", &p, 1, 0, ids + 1, &t), QUEUE_OK);
	notify_once(&t);
	for (int i = 0; i < 4; i++) {
		cr_assert_eq(queue_enqueue(st, "q", &p, 1, 0, NULL, &t), QUEUE_OK);
		if (i % 2)
			notify_once(&t);
		else
			cr_assert_eq(queue_ticket_wait(&t), QUEUE_OK);
	}
	cr_assert_eq(queue_pop(st, "q", 1, &m, &t), QUEUE_OK);
	cr_assert_eq(m.count, 1);
	cr_assert_eq(m.items[0].id, ids[0]);
	queue_msgs_free(&m);
	cr_assert_eq(queue_ticket_wait(&t), QUEUE_OK);
	cr_assert_eq(queue_lease(st, "q", 2, 60000, &m, &t), QUEUE_OK);
	cr_assert_eq(m.count, 2);
	notify_once(&t);
	cr_assert_eq(queue_extend(st, "q", m.items[0].id, m.items[0].lease, 60000, NULL, &t), QUEUE_OK);
	cr_assert_eq(queue_ticket_wait(&t), QUEUE_OK);
	cr_assert_eq(queue_ack(st, "q", m.items[0].id, m.items[0].lease, &t), QUEUE_OK);
	notify_once(&t);
	cr_assert_eq(queue_release(st, "q", m.items[1].id, m.items[1].lease, 0, &t), QUEUE_OK);
	cr_assert_eq(queue_ticket_wait(&t), QUEUE_OK);
	queue_msgs_free(&m);
	cr_assert_eq(queue_purge(st, "q", &t), QUEUE_OK);
	notify_once(&t);
	/* A ticket that has been waited on can be filled again and notified. */
	cr_assert_eq(queue_enqueue(st, "q", &p, 1, 0, NULL, &t), QUEUE_OK);
	notify_once(&t);
	cr_assert_eq(count_visible("q"), 1);
}

Test(queue_messages, tickets_complete_in_sync_always, .init = setup_bare)
{
	exercise_tickets(QUEUE_SYNC_ALWAYS);
}

Test(queue_messages, tickets_complete_in_sync_interval, .init = setup_bare)
{
	exercise_tickets(QUEUE_SYNC_INTERVAL);
}

Test(queue_messages, tickets_complete_in_sync_none, .init = setup_bare)
{
	exercise_tickets(QUEUE_SYNC_NONE);
}

/* Many notify tickets outstanding at once each get exactly one callback. */
Test(queue_messages, many_outstanding_tickets_each_notify_once, .init = setup_bare)
{
	enum { N = 50 };
	struct notified *n = calloc(N, sizeof(*n));
	struct queue_ticket t;
	struct queue_payload p = { "x", 1 };
	open_with(QUEUE_SYNC_INTERVAL, false);
	for (int i = 0; i < N; i++) {
		cr_assert_eq(queue_enqueue(st, "q", &p, 1, 0, NULL, &t), QUEUE_OK);
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

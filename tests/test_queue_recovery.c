/* test_queue_recovery.c: what survives close and reopen: order, ids, leases, settings, segment rolls and unlinks. */
#include <criterion/criterion.h>

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "../queue/queue.h"
#include "queuetest.h"
#include "testutil.h"

#define T0 1700000000000ull
#define SMALL_SEG 16384u
#define MAXN 4096

static char *dir;
static struct queue_store *st;
static struct queue_recovery rep;
static _Atomic uint64_t fake_now = T0;
static uint64_t seg_first, seg_max;

static uint64_t fake_clock(void)
{
	return atomic_load(&fake_now);
}

static void reopen(void)
{
	struct queue_store_options o;
	if (st != NULL)
		cr_assert_eq(queue_store_close(st), QUEUE_OK);
	st = NULL;
	queue_store_options_default(&o);
	o.sync = QUEUE_SYNC_NONE;
	o.clock = fake_clock;
	o.first_segment_bytes = seg_first;
	o.max_segment_bytes = seg_max;
	memset(&rep, 0, sizeof(rep));
	cr_assert_eq(queue_store_open(dir, &o, &st, &rep), QUEUE_OK);
}

static void teardown(void);

/* Criterion runs the suite's .init before a test's own .init: start from a clean slate. */
static void setup_with(uint64_t first, uint64_t max)
{
	if (dir != NULL)
		teardown();
	atomic_store(&fake_now, T0);
	dir = tu_tempdir();
	st = NULL;
	seg_first = first;
	seg_max = max;
	reopen();
}

static void setup(void)
{
	setup_with(0, 0);
}

static void setup_small(void)
{
	setup_with(SMALL_SEG, SMALL_SEG);
}

static void teardown(void)
{
	queue_store_close(st);
	st = NULL;
	tu_rmrf(dir);
	free(dir);
	dir = NULL;
}

TestSuite(queue_recovery, .init = setup, .fini = teardown, .timeout = 60);

/* The helpers below bind this file's store to the shared ones in queuetest.c. */
/* enq_range enqueues messages first..first+n-1 one by one, each of qt_payload_len(i, base) bytes, into ids[i]. */
static void enq_range(const char *name, int first, int n, size_t base, uint64_t *ids)
{
	qt_enqueue_range(st, name, first, n, base, ids);
}

/* enq_batch enqueues messages first..first+n-1 as one batch. */
static void enq_batch(const char *name, int first, int n, size_t base, uint64_t *ids)
{
	qt_enqueue_batch(st, name, first, n, base, ids);
}

static void pop_n(const char *name, size_t n)
{
	qt_pop_n(st, name, n);
}

/* expect_survivors drains queue name and checks it returns exactly the messages listed in want (see queuetest.h). */
static void expect_survivors(const char *name, const uint64_t *ids, const int *want, size_t nwant, size_t base)
{
	qt_expect_survivors(st, name, ids, want, nwant, base);
}

/* all_but fills want with 0..n-1 except the indices in skip (ascending) and returns the count. */
static size_t all_but(int *want, int n, const int *skip, size_t nskip)
{
	return qt_all_but(want, n, skip, nskip);
}

static char *qdir(const char *name)
{
	return qt_queue_dir(dir, name);
}

static size_t segment_count(const char *name)
{
	return qt_segment_count(dir, name);
}

/* segment_of returns the index of the segment holding record seq, or -1. */
static long segment_of(char **segs, size_t n, uint64_t seq)
{
	return qt_segment_of(segs, n, seq);
}

static uint64_t ids[MAXN];
static int want[MAXN];

Test(queue_recovery, reopen_keeps_messages_in_order)
{
	enq_range("q", 0, 50, 40, ids);
	pop_n("q", 10);
	reopen();
	cr_assert_eq(rep.queues, 1);
	cr_assert_eq(rep.messages, 40, "rep.messages %llu", (unsigned long long)rep.messages);
	cr_assert_eq(rep.corrupt_records, 0);
	cr_assert_eq(rep.torn_bytes, 0);
	cr_assert_str_eq(rep.first_problem, "");
	int skip[10] = { 0, 1, 2, 3, 4, 5, 6, 7, 8, 9 };
	size_t n = all_but(want, 50, skip, 10);
	expect_survivors("q", ids, want, n, 40);
}

Test(queue_recovery, open_of_empty_directory_reports_nothing)
{
	reopen();
	cr_assert_eq(rep.queues, 0);
	cr_assert_eq(rep.messages, 0, "rep.messages %llu", (unsigned long long)rep.messages);
	cr_assert_eq(rep.corrupt_records, 0);
}

Test(queue_recovery, ids_continue_after_restart)
{
	enq_range("q", 0, 5, 20, ids);
	reopen();
	enq_range("q", 5, 1, 20, ids);
	cr_assert_gt(ids[5], ids[4]);
	pop_n("q", 6);
	reopen();
	enq_range("q", 6, 1, 20, ids);
	cr_assert_gt(ids[6], ids[5], "ids must not be reused after every message was popped");
	reopen();
	reopen();
	enq_range("q", 7, 1, 20, ids);
	cr_assert_gt(ids[7], ids[6]);
	int w[2] = { 6, 7 };
	expect_survivors("q", ids, w, 2, 20);
}

Test(queue_recovery, removed_messages_stay_removed_after_restart)
{
	struct queue_msgs m = { 0 };
	enq_range("q", 0, 8, 30, ids);
	pop_n("q", 2); /* 0, 1 */
	cr_assert_eq(queue_lease(st, "q", 3, 60000, &m, NULL), QUEUE_OK); /* 2, 3, 4 */
	cr_assert_eq(m.count, 3);
	cr_assert_eq(queue_ack(st, "q", m.items[0].id, m.items[0].lease, NULL), QUEUE_OK);
	cr_assert_eq(queue_release(st, "q", m.items[1].id, m.items[1].lease, 0, NULL), QUEUE_OK);
	cr_assert_eq(queue_ack(st, "q", m.items[2].id, m.items[2].lease, NULL), QUEUE_OK);
	queue_msgs_free(&m);
	reopen();
	cr_assert_eq(rep.messages, 4, "rep.messages %llu", (unsigned long long)rep.messages);
	int w[4] = { 3, 5, 6, 7 };
	expect_survivors("q", ids, w, 4, 30);
}

Test(queue_recovery, leases_survive_restart)
{
	struct queue_msgs m = { 0 };
	struct queue_stats s;
	enq_range("q", 0, 3, 30, ids);
	cr_assert_eq(queue_lease(st, "q", 2, 1000, &m, NULL), QUEUE_OK);
	cr_assert_eq(m.count, 2);
	uint64_t tok0 = m.items[0].lease, tok1 = m.items[1].lease;
	queue_msgs_free(&m);
	reopen();
	cr_assert_eq(queue_stats(st, "q", &s), QUEUE_OK);
	cr_assert_eq(s.in_flight, 2);
	cr_assert_eq(s.depth, 1);
	cr_assert_eq(queue_peek(st, "q", 10, &m), QUEUE_OK);
	cr_assert_eq(m.count, 1);
	cr_assert_eq(m.items[0].id, ids[2]);
	queue_msgs_free(&m);
	cr_assert_eq(queue_ack(st, "q", ids[0], tok0, NULL), QUEUE_OK, "the lease token survives");
	cr_assert_eq(queue_ack(st, "q", ids[1], tok1 + 1, NULL), QUEUE_STALE);
	atomic_store(&fake_now, T0 + 1001);
	queue_store_tick(st);
	cr_assert_eq(queue_lease(st, "q", 10, 1000, &m, NULL), QUEUE_OK);
	cr_assert_eq(m.count, 2);
	cr_assert_eq(m.items[0].id, ids[1]);
	cr_assert_eq(m.items[0].deliveries, 2, "the delivery count survives");
	cr_assert_eq(m.items[1].id, ids[2]);
	cr_assert_eq(m.items[1].deliveries, 1);
	queue_msgs_free(&m);
}

Test(queue_recovery, extended_lease_and_delay_survive_restart)
{
	struct queue_msgs m = { 0 };
	struct queue_payload p = { "later", 5 };
	enq_range("q", 0, 1, 30, ids);
	cr_assert_eq(queue_lease(st, "q", 1, 1000, &m, NULL), QUEUE_OK);
	uint64_t tok = m.items[0].lease;
	queue_msgs_free(&m);
	cr_assert_eq(queue_extend(st, "q", ids[0], tok, 5000, NULL, NULL), QUEUE_OK);
	cr_assert_eq(queue_enqueue(st, "q", &p, 1, 3000, NULL, NULL), QUEUE_OK);
	reopen();
	atomic_store(&fake_now, T0 + 2000);
	queue_store_tick(st);
	cr_assert_eq(queue_peek(st, "q", 10, &m), QUEUE_OK);
	cr_assert_eq(m.count, 0, "neither the extended lease nor the delay has run out");
	queue_msgs_free(&m);
	atomic_store(&fake_now, T0 + 3001);
	queue_store_tick(st);
	cr_assert_eq(queue_peek(st, "q", 10, &m), QUEUE_OK);
	cr_assert_eq(m.count, 1);
	cr_assert_eq(m.items[0].len, 5);
	queue_msgs_free(&m);
	atomic_store(&fake_now, T0 + 5001);
	queue_store_tick(st);
	cr_assert_eq(queue_peek(st, "q", 10, &m), QUEUE_OK);
	cr_assert_eq(m.count, 2);
	cr_assert_eq(m.items[0].id, ids[0]);
	queue_msgs_free(&m);
}

Test(queue_recovery, settings_survive_restart)
{
	struct queue_settings s, got;
	memset(&s, 0, sizeof(s));
	s.max_bytes = 1u << 20;
	s.max_message_bytes = 2048;
	s.lease_seconds = 77;
	s.max_deliveries = 4;
	strcpy(s.dead_letter, "dead");
	cr_assert_eq(queue_put_settings(st, "q", &s, 0x1fu, NULL), QUEUE_OK);
	enq_range("q", 0, 3, 30, ids);
	reopen();
	reopen();
	cr_assert_eq(queue_get_settings(st, "q", &got), QUEUE_OK);
	cr_assert_eq(got.max_bytes, 1u << 20);
	cr_assert_eq(got.max_message_bytes, 2048);
	cr_assert_eq(got.lease_seconds, 77);
	cr_assert_eq(got.max_deliveries, 4);
	cr_assert_str_eq(got.dead_letter, "dead");
}

Test(queue_recovery, segments_roll_over_and_survive_restart, .init = setup_small)
{
	struct queue_stats s;
	enq_range("q", 0, 200, 1000, ids);
	size_t segs = segment_count("q");
	cr_assert_geq(segs, 15, "200 x ~1 KB in 16 KiB segments: %zu segments", segs);
	cr_assert_eq(queue_stats(st, "q", &s), QUEUE_OK);
	cr_assert_eq(s.segments, segs);
	cr_assert_eq(s.depth, 200);
	reopen();
	cr_assert_eq(rep.messages, 200, "rep.messages %llu", (unsigned long long)rep.messages);
	cr_assert_eq(rep.corrupt_records, 0);
	for (int i = 0; i < 200; i++)
		want[i] = i;
	expect_survivors("q", ids, want, 200, 1000);
}

/* A batch that does not fit in the current segment runs on into the next ones (FORMAT.md: MORE across segments). */
Test(queue_recovery, batch_rolls_over_in_the_middle, .init = setup_small)
{
	enq_range("q", 0, 5, 1000, ids);
	enq_batch("q", 5, 30, 1000, ids); /* about 31 KB: spans at least two segment boundaries */
	enq_range("q", 35, 2, 1000, ids);
	for (int i = 1; i < 37; i++)
		cr_assert_gt(ids[i], ids[i - 1]);
	char *q = qdir("q");
	char **segs = NULL;
	size_t n = tu_segments(q, &segs), spans = 0;
	struct tu_record *r = calloc(512, sizeof(*r));
	cr_assert_geq(n, 3);
	for (size_t k = 0; k + 1 < n; k++) {
		size_t nr = tu_seg_records(segs[k], r, 512);
		if (nr > 0 && (r[nr - 1].flags & 1u))
			spans++;
	}
	cr_assert_geq(spans, 2, "the batch must cross segment boundaries (%zu crossings)", spans);
	free(r);
	tu_strv_free(segs, n);
	free(q);
	reopen();
	cr_assert_eq(rep.messages, 37, "rep.messages %llu", (unsigned long long)rep.messages);
	cr_assert_eq(rep.corrupt_records, 0);
	for (int i = 0; i < 37; i++)
		want[i] = i;
	expect_survivors("q", ids, want, 37, 1000);
}

Test(queue_recovery, segment_sizes_double_up_to_the_maximum)
{
	seg_first = SMALL_SEG;
	seg_max = 4 * SMALL_SEG;
	reopen();
	enq_range("q", 0, 150, 1000, ids);
	char *q = qdir("q");
	char **segs = NULL;
	size_t n = tu_segments(q, &segs);
	cr_assert_geq(n, 4);
	cr_assert_eq(tu_file_size(segs[0]), SMALL_SEG);
	cr_assert_eq(tu_file_size(segs[1]), 2 * SMALL_SEG);
	cr_assert_eq(tu_file_size(segs[2]), 4 * SMALL_SEG);
	cr_assert_eq(tu_file_size(segs[3]), 4 * SMALL_SEG);
	/* Segment names are 20-digit numbers that rise. */
	for (size_t k = 0; k < n; k++) {
		const char *base = strrchr(segs[k], '/') + 1;
		cr_assert_eq(strlen(base), 24, "%s", base);
		cr_assert_eq(strspn(base, "0123456789"), 20, "%s", base);
	}
	tu_strv_free(segs, n);
	free(q);
	reopen();
	for (int i = 0; i < 150; i++)
		want[i] = i;
	expect_survivors("q", ids, want, 150, 1000);
}

Test(queue_recovery, consumed_front_segments_are_unlinked, .init = setup_small)
{
	struct queue_stats s;
	enq_range("q", 0, 200, 1000, ids);
	char *q = qdir("q");
	char **segs = NULL;
	size_t n = tu_segments(q, &segs);
	long live = segment_of(segs, n, ids[150]);
	cr_assert_geq(live, 10, "message 150 sits in segment %ld", live);
	pop_n("q", 150);
	queue_store_tick(st);
	for (long k = 0; k < live; k++)
		cr_assert_not(tu_exists(segs[k]), "consumed segment %s must be unlinked", segs[k]);
	cr_assert(tu_exists(segs[live]));
	cr_assert_eq(queue_stats(st, "q", &s), QUEUE_OK);
	cr_assert_eq(s.segments, segment_count("q"));
	cr_assert_leq(s.segments, n - (size_t)live + 1);
	tu_strv_free(segs, n);
	free(q);
	reopen();
	cr_assert_eq(rep.messages, 50, "rep.messages %llu", (unsigned long long)rep.messages);
	for (int i = 0; i < 50; i++)
		want[i] = 150 + i;
	expect_survivors("q", ids, want, 50, 1000);
	/* Draining everything leaves at most the tail segment. */
	enq_range("q", 200, 1, 1000, ids);
	pop_n("q", 1);
	queue_store_tick(st);
	cr_assert_leq(segment_count("q"), 2);
}

Test(queue_recovery, many_segments_with_batches_survive_restart, .init = setup_small)
{
	for (int b = 0; b < 100; b++)
		enq_batch("q", b * 20, 20, 200, ids);
	cr_assert_geq(segment_count("q"), 30);
	pop_n("q", 500);
	reopen();
	cr_assert_eq(rep.messages, 1500, "rep.messages %llu", (unsigned long long)rep.messages);
	for (int i = 0; i < 1500; i++)
		want[i] = 500 + i;
	expect_survivors("q", ids, want, 1500, 200);
}

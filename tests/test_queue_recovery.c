/* test_queue_recovery.c: what survives close and reopen: order, ids, leases, settings, segment rolls and unlinks. */
#include <criterion/criterion.h>

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "../queue/queue.h"
#include "queuetest.h"
#include "testutil.h"

#define MAXN 4096

TestSuite(queue_recovery, .init = qt_setup_default, .fini = qt_teardown, .timeout = 60);

static uint64_t ids[MAXN];
static int want[MAXN];

Test(queue_recovery, reopen_keeps_messages_in_order)
{
	qt_enqueue_range("q", 0, 50, 40, ids);
	qt_pop_n("q", 10);
	qt_reopen();
	cr_assert_eq(qt_rep.queues, 1);
	cr_assert_eq(qt_rep.messages, 40, "rep.messages %llu", (unsigned long long)qt_rep.messages);
	cr_assert_eq(qt_rep.corrupt_records, 0);
	cr_assert_eq(qt_rep.torn_bytes, 0);
	cr_assert_str_eq(qt_rep.first_problem, "");
	int skip[10] = { 0, 1, 2, 3, 4, 5, 6, 7, 8, 9 };
	size_t n = qt_all_but(want, 50, skip, 10);
	qt_expect_survivors("q", ids, want, n, 40);
}

Test(queue_recovery, open_of_empty_directory_reports_nothing)
{
	qt_reopen();
	cr_assert_eq(qt_rep.queues, 0);
	cr_assert_eq(qt_rep.messages, 0, "rep.messages %llu", (unsigned long long)qt_rep.messages);
	cr_assert_eq(qt_rep.corrupt_records, 0);
}

Test(queue_recovery, ids_continue_after_restart)
{
	qt_enqueue_range("q", 0, 5, 20, ids);
	qt_reopen();
	qt_enqueue_range("q", 5, 1, 20, ids);
	cr_assert_gt(ids[5], ids[4]);
	qt_pop_n("q", 6);
	qt_reopen();
	qt_enqueue_range("q", 6, 1, 20, ids);
	cr_assert_gt(ids[6], ids[5], "ids must not be reused after every message was popped");
	qt_reopen();
	qt_reopen();
	qt_enqueue_range("q", 7, 1, 20, ids);
	cr_assert_gt(ids[7], ids[6]);
	int w[2] = { 6, 7 };
	qt_expect_survivors("q", ids, w, 2, 20);
}

Test(queue_recovery, removed_messages_stay_removed_after_restart)
{
	struct queue_msgs m = { 0 };
	qt_enqueue_range("q", 0, 8, 30, ids);
	qt_pop_n("q", 2); /* 0, 1 */
	cr_assert_eq(queue_lease(qt_st, "q", 3, 60000, &m, NULL), QUEUE_OK); /* 2, 3, 4 */
	cr_assert_eq(m.count, 3);
	cr_assert_eq(queue_ack(qt_st, "q", m.items[0].id, m.items[0].lease, NULL), QUEUE_OK);
	cr_assert_eq(queue_release(qt_st, "q", m.items[1].id, m.items[1].lease, 0, NULL), QUEUE_OK);
	cr_assert_eq(queue_ack(qt_st, "q", m.items[2].id, m.items[2].lease, NULL), QUEUE_OK);
	queue_msgs_free(&m);
	qt_reopen();
	cr_assert_eq(qt_rep.messages, 4, "rep.messages %llu", (unsigned long long)qt_rep.messages);
	int w[4] = { 3, 5, 6, 7 };
	qt_expect_survivors("q", ids, w, 4, 30);
}

Test(queue_recovery, leases_survive_restart)
{
	struct queue_msgs m = { 0 };
	struct queue_stats s;
	qt_enqueue_range("q", 0, 3, 30, ids);
	cr_assert_eq(queue_lease(qt_st, "q", 2, 1000, &m, NULL), QUEUE_OK);
	cr_assert_eq(m.count, 2);
	uint64_t tok0 = m.items[0].lease, tok1 = m.items[1].lease;
	queue_msgs_free(&m);
	qt_reopen();
	cr_assert_eq(queue_stats(qt_st, "q", &s), QUEUE_OK);
	cr_assert_eq(s.in_flight, 2);
	cr_assert_eq(s.depth, 1);
	cr_assert_eq(queue_peek(qt_st, "q", 10, &m), QUEUE_OK);
	cr_assert_eq(m.count, 1);
	cr_assert_eq(m.items[0].id, ids[2]);
	queue_msgs_free(&m);
	cr_assert_eq(queue_ack(qt_st, "q", ids[0], tok0, NULL), QUEUE_OK, "the lease token survives");
	cr_assert_eq(queue_ack(qt_st, "q", ids[1], tok1 + 1, NULL), QUEUE_STALE);
	qt_set_now(QT_T0 + 1001);
	queue_store_tick(qt_st);
	cr_assert_eq(queue_lease(qt_st, "q", 10, 1000, &m, NULL), QUEUE_OK);
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
	qt_enqueue_range("q", 0, 1, 30, ids);
	cr_assert_eq(queue_lease(qt_st, "q", 1, 1000, &m, NULL), QUEUE_OK);
	uint64_t tok = m.items[0].lease;
	queue_msgs_free(&m);
	cr_assert_eq(queue_extend(qt_st, "q", ids[0], tok, 5000, NULL, NULL), QUEUE_OK);
	cr_assert_eq(queue_enqueue(qt_st, "q", &p, 1, 3000, NULL, NULL), QUEUE_OK);
	qt_reopen();
	qt_set_now(QT_T0 + 2000);
	queue_store_tick(qt_st);
	cr_assert_eq(queue_peek(qt_st, "q", 10, &m), QUEUE_OK);
	cr_assert_eq(m.count, 0, "neither the extended lease nor the delay has run out");
	queue_msgs_free(&m);
	qt_set_now(QT_T0 + 3001);
	queue_store_tick(qt_st);
	cr_assert_eq(queue_peek(qt_st, "q", 10, &m), QUEUE_OK);
	cr_assert_eq(m.count, 1);
	cr_assert_eq(m.items[0].len, 5);
	queue_msgs_free(&m);
	qt_set_now(QT_T0 + 5001);
	queue_store_tick(qt_st);
	cr_assert_eq(queue_peek(qt_st, "q", 10, &m), QUEUE_OK);
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
	cr_assert_eq(queue_put_settings(qt_st, "q", &s, 0x1fu, NULL), QUEUE_OK);
	qt_enqueue_range("q", 0, 3, 30, ids);
	qt_reopen();
	qt_reopen();
	cr_assert_eq(queue_get_settings(qt_st, "q", &got), QUEUE_OK);
	cr_assert_eq(got.max_bytes, 1u << 20);
	cr_assert_eq(got.max_message_bytes, 2048);
	cr_assert_eq(got.lease_seconds, 77);
	cr_assert_eq(got.max_deliveries, 4);
	cr_assert_str_eq(got.dead_letter, "dead");
}

Test(queue_recovery, segments_roll_over_and_survive_restart, .init = qt_setup_small)
{
	struct queue_stats s;
	qt_enqueue_range("q", 0, 200, 1000, ids);
	size_t segs = qt_segment_count("q");
	cr_assert_geq(segs, 15, "200 x ~1 KB in 16 KiB segments: %zu segments", segs);
	cr_assert_eq(queue_stats(qt_st, "q", &s), QUEUE_OK);
	cr_assert_eq(s.segments, segs);
	cr_assert_eq(s.depth, 200);
	qt_reopen();
	cr_assert_eq(qt_rep.messages, 200, "rep.messages %llu", (unsigned long long)qt_rep.messages);
	cr_assert_eq(qt_rep.corrupt_records, 0);
	for (int i = 0; i < 200; i++)
		want[i] = i;
	qt_expect_survivors("q", ids, want, 200, 1000);
}

/* A batch that does not fit in the current segment runs on into the next ones (FORMAT.md: MORE across segments). */
Test(queue_recovery, batch_rolls_over_in_the_middle, .init = qt_setup_small)
{
	qt_enqueue_range("q", 0, 5, 1000, ids);
	qt_enqueue_batch("q", 5, 30, 1000, ids); /* about 31 KB: spans at least two segment boundaries */
	qt_enqueue_range("q", 35, 2, 1000, ids);
	for (int i = 1; i < 37; i++)
		cr_assert_gt(ids[i], ids[i - 1]);
	char *q = qt_queue_dir("q");
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
	qt_reopen();
	cr_assert_eq(qt_rep.messages, 37, "rep.messages %llu", (unsigned long long)qt_rep.messages);
	cr_assert_eq(qt_rep.corrupt_records, 0);
	for (int i = 0; i < 37; i++)
		want[i] = i;
	qt_expect_survivors("q", ids, want, 37, 1000);
}

Test(queue_recovery, segment_sizes_double_up_to_the_maximum)
{
	qt_seg_first = QT_SMALL_SEG;
	qt_seg_max = 4 * QT_SMALL_SEG;
	qt_reopen();
	qt_enqueue_range("q", 0, 150, 1000, ids);
	char *q = qt_queue_dir("q");
	char **segs = NULL;
	size_t n = tu_segments(q, &segs);
	cr_assert_geq(n, 4);
	cr_assert_eq(tu_file_size(segs[0]), QT_SMALL_SEG);
	cr_assert_eq(tu_file_size(segs[1]), 2 * QT_SMALL_SEG);
	cr_assert_eq(tu_file_size(segs[2]), 4 * QT_SMALL_SEG);
	cr_assert_eq(tu_file_size(segs[3]), 4 * QT_SMALL_SEG);
	/* Segment names are 20-digit numbers that rise. */
	for (size_t k = 0; k < n; k++) {
		const char *base = strrchr(segs[k], '/') + 1;
		cr_assert_eq(strlen(base), 24, "%s", base);
		cr_assert_eq(strspn(base, "0123456789"), 20, "%s", base);
	}
	tu_strv_free(segs, n);
	free(q);
	qt_reopen();
	for (int i = 0; i < 150; i++)
		want[i] = i;
	qt_expect_survivors("q", ids, want, 150, 1000);
}

Test(queue_recovery, consumed_front_segments_are_unlinked, .init = qt_setup_small)
{
	struct queue_stats s;
	qt_enqueue_range("q", 0, 200, 1000, ids);
	char *q = qt_queue_dir("q");
	char **segs = NULL;
	size_t n = tu_segments(q, &segs);
	long live = qt_segment_of(segs, n, ids[150]);
	cr_assert_geq(live, 10, "message 150 sits in segment %ld", live);
	qt_pop_n("q", 150);
	queue_store_tick(qt_st);
	for (long k = 0; k < live; k++)
		cr_assert_not(tu_exists(segs[k]), "consumed segment %s must be unlinked", segs[k]);
	cr_assert(tu_exists(segs[live]));
	cr_assert_eq(queue_stats(qt_st, "q", &s), QUEUE_OK);
	cr_assert_eq(s.segments, qt_segment_count("q"));
	cr_assert_leq(s.segments, n - (size_t)live + 1);
	tu_strv_free(segs, n);
	free(q);
	qt_reopen();
	cr_assert_eq(qt_rep.messages, 50, "rep.messages %llu", (unsigned long long)qt_rep.messages);
	for (int i = 0; i < 50; i++)
		want[i] = 150 + i;
	qt_expect_survivors("q", ids, want, 50, 1000);
	/* Draining everything leaves at most the tail segment. */
	qt_enqueue_range("q", 200, 1, 1000, ids);
	qt_pop_n("q", 1);
	queue_store_tick(qt_st);
	cr_assert_leq(qt_segment_count("q"), 2);
}

Test(queue_recovery, many_segments_with_batches_survive_restart, .init = qt_setup_small)
{
	for (int b = 0; b < 100; b++)
		qt_enqueue_batch("q", b * 20, 20, 200, ids);
	cr_assert_geq(qt_segment_count("q"), 30);
	qt_pop_n("q", 500);
	qt_reopen();
	cr_assert_eq(qt_rep.messages, 1500, "rep.messages %llu", (unsigned long long)qt_rep.messages);
	for (int i = 0; i < 1500; i++)
		want[i] = 500 + i;
	qt_expect_survivors("q", ids, want, 1500, 200);
}

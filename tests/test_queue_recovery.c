/* test_queue_recovery.c: what survives close and reopen: order, ids, leases, segment rolls, torn and corrupt files. */
#include <criterion/criterion.h>

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../queue/queue.h"
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

/* close_store closes the store so a test can damage its files. */
static void close_store(void)
{
	cr_assert_eq(queue_store_close(st), QUEUE_OK);
	st = NULL;
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

/* make_payload writes message i's payload of len bytes (len >= 8) into buf: a tag, then a pattern. */
static void make_payload(char *buf, int i, size_t len)
{
	char tag[16];
	int n = snprintf(tag, sizeof(tag), "m%06d:", i);
	for (size_t j = 0; j < len; j++)
		buf[j] = (char)('a' + (int)((j * 7 + (size_t)i) % 26));
	memcpy(buf, tag, (size_t)n < len ? (size_t)n : len);
}

static size_t len_of(int i, size_t base)
{
	return base + (size_t)(i % 5) * 13;
}

/* enq_range enqueues messages first..first+n-1 one by one, each of len_of(i, base) bytes, into ids[i]. */
static void enq_range(const char *name, int first, int n, size_t base, uint64_t *ids)
{
	char *buf = malloc(base + 100);
	for (int i = first; i < first + n; i++) {
		size_t len = len_of(i, base);
		struct queue_payload p = { buf, len };
		make_payload(buf, i, len);
		cr_assert_eq(queue_enqueue(st, name, &p, 1, 0, &ids[i], NULL), QUEUE_OK);
	}
	free(buf);
}

/* enq_batch enqueues messages first..first+n-1 as one batch. */
static void enq_batch(const char *name, int first, int n, size_t base, uint64_t *ids)
{
	struct queue_payload *p = calloc((size_t)n, sizeof(*p));
	char **bufs = calloc((size_t)n, sizeof(*bufs));
	for (int k = 0; k < n; k++) {
		size_t len = len_of(first + k, base);
		bufs[k] = malloc(len);
		make_payload(bufs[k], first + k, len);
		p[k] = (struct queue_payload){ bufs[k], len };
	}
	cr_assert_eq(queue_enqueue(st, name, p, (size_t)n, 0, &ids[first], NULL), QUEUE_OK);
	for (int k = 0; k < n; k++)
		free(bufs[k]);
	free(bufs);
	free(p);
}

static void pop_n(const char *name, size_t n)
{
	struct queue_msgs m = { 0 };
	cr_assert_eq(queue_pop(st, name, n, &m, NULL), QUEUE_OK);
	cr_assert_eq(m.count, n);
	queue_msgs_free(&m);
}

/*
 * expect_survivors drains queue name with pop and checks it returns exactly the
 * messages whose indices are listed in want (ascending), with their ids and payloads.
 */
static void expect_survivors(const char *name, const uint64_t *ids, const int *want, size_t nwant, size_t base)
{
	struct queue_msgs m = { 0 };
	size_t k = 0;
	char *buf = malloc(base + 100);
	char served[400] = "";
	size_t used = 0;
	for (;;) {
		cr_assert_eq(queue_pop(st, name, QUEUE_BATCH_MAX, &m, NULL), QUEUE_OK);
		if (m.count == 0)
			break;
		for (size_t j = 0; j < m.count && used + 24 < sizeof(served); j++)
			used += (size_t)snprintf(served + used, sizeof(served) - used, " %llu",
						 (unsigned long long)m.items[j].id);
		for (size_t j = 0; j < m.count; j++, k++) {
			cr_assert_lt(k, nwant, "more messages than expected: extra id %llu; served:%s",
				     (unsigned long long)m.items[j].id, served);
			int i = want[k];
			size_t len = len_of(i, base);
			make_payload(buf, i, len);
			cr_assert_eq(m.items[j].id, ids[i], "survivor %zu: id %llu, want %llu (message %d); served:%s",
				     k, (unsigned long long)m.items[j].id, (unsigned long long)ids[i], i, served);
			cr_assert_eq(m.items[j].len, len, "message %d", i);
			cr_assert_eq(memcmp(m.items[j].payload, buf, len), 0, "payload of message %d", i);
		}
		queue_msgs_free(&m);
	}
	queue_msgs_free(&m);
	cr_assert_eq(k, nwant, "got %zu messages, want %zu; served:%s", k, nwant, served);
	free(buf);
}

/* all_but fills want with 0..n-1 except the indices in skip (ascending) and returns the count. */
static size_t all_but(int *want, int n, const int *skip, size_t nskip)
{
	size_t k = 0, s = 0;
	for (int i = 0; i < n; i++) {
		if (s < nskip && skip[s] == i) {
			s++;
			continue;
		}
		want[k++] = i;
	}
	return k;
}

static char *qdir(const char *name)
{
	char *qs = tu_path(dir, "queues");
	char *q = tu_path(qs, name);
	free(qs);
	return q;
}

/* last_segment returns the path of the queue's newest segment. Caller frees. */
static char *segment_at(const char *name, long idx)
{
	char *q = qdir(name);
	char **segs = NULL;
	size_t n = tu_segments(q, &segs);
	cr_assert_gt(n, 0);
	size_t pick = idx < 0 ? n - 1 : (size_t)idx;
	cr_assert_lt(pick, n);
	char *p = strdup(segs[pick]);
	tu_strv_free(segs, n);
	free(q);
	return p;
}

static size_t segment_count(const char *name)
{
	char *q = qdir(name);
	char **segs = NULL;
	size_t n = tu_segments(q, &segs);
	tu_strv_free(segs, n);
	free(q);
	return n;
}

/* segment_of returns the index of the segment holding record seq, or -1. */
static long segment_of(char **segs, size_t n, uint64_t seq)
{
	struct tu_record *r = calloc(1024, sizeof(*r));
	long found = -1;
	for (size_t k = 0; k < n && found < 0; k++) {
		size_t nr = tu_seg_records(segs[k], r, 1024);
		for (size_t j = 0; j < nr && j < 1024; j++)
			if (r[j].seq == seq && r[j].type == 1)
				found = (long)k;
	}
	free(r);
	return found;
}

static uint64_t ids[MAXN];
static void after_damage(const char *name, int last_index, size_t base);
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

/* A batch spanning segments whose last record is torn is dropped in every segment it touched. */
Test(queue_recovery, torn_batch_spanning_segments_is_dropped_entirely, .init = setup_small)
{
	enq_range("q", 0, 5, 1000, ids);
	enq_batch("q", 5, 30, 1000, ids);
	close_store();
	char *q = qdir("q");
	char **segs = NULL;
	size_t n = tu_segments(q, &segs);
	long last = segment_of(segs, n, ids[34]);
	cr_assert_neq(last, segment_of(segs, n, ids[5]), "the batch spans segments");
	struct tu_record *r = calloc(512, sizeof(*r));
	size_t nr = tu_seg_records(segs[last], r, 512);
	cr_assert_gt(nr, 0);
	cr_assert_eq(r[nr - 1].seq, ids[34]);
	cr_assert_eq(tu_file_zero(segs[last], r[nr - 1].off, r[nr - 1].size), 0);
	free(r);
	tu_strv_free(segs, n);
	free(q);
	reopen();
	cr_assert_eq(rep.messages, 5, "rep.messages %llu", (unsigned long long)rep.messages);
	int w[5] = { 0, 1, 2, 3, 4 };
	expect_survivors("q", ids, w, 5, 1000);
	after_damage("q", 4, 1000);
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

/* Damaged files. Each test closes the store, damages a file, reopens and checks the exact survivors. */

/* tail_records fills r with the records of the queue's newest segment and returns their number. */
static size_t tail_records(const char *name, struct tu_record *r, size_t max, char **path)
{
	*path = segment_at(name, -1);
	return tu_seg_records(*path, r, max);
}

/* after_damage checks that the repaired queue keeps working and stays repaired across another reopen. */
static void after_damage(const char *name, int last_index, size_t base)
{
	uint64_t more[1];
	char buf[64];
	struct queue_payload p = { buf, 0 };
	make_payload(buf, 9999, 40);
	p.len = 40;
	cr_assert_eq(queue_enqueue(st, name, &p, 1, 0, more, NULL), QUEUE_OK);
	if (last_index >= 0)
		cr_assert_gt(more[0], ids[last_index]);
	reopen();
	struct queue_msgs m = { 0 };
	cr_assert_eq(queue_pop(st, name, 10, &m, NULL), QUEUE_OK);
	cr_assert_eq(m.count, 1, "the message enqueued after the repair must survive the next reopen (%llu corrupt: %s)",
		     (unsigned long long)rep.corrupt_records, rep.first_problem);
	cr_assert_eq(m.items[0].id, more[0]);
	cr_assert_eq(memcmp(m.items[0].payload, buf, 40), 0);
	queue_msgs_free(&m);
	cr_assert_eq(rep.corrupt_records, 0, "a repaired log is clean on the next open: %llu corrupt (%s)",
		     (unsigned long long)rep.corrupt_records, rep.first_problem);
	cr_assert_eq(rep.torn_bytes, 0, "a repaired log is clean on the next open: %llu torn bytes",
		     (unsigned long long)rep.torn_bytes);
	(void)base;
}

Test(queue_recovery, truncated_last_record_is_cut)
{
	struct tu_record r[16];
	char *seg;
	enq_range("q", 0, 10, 100, ids);
	close_store();
	size_t n = tail_records("q", r, 16, &seg);
	cr_assert_eq(n, 10);
	cr_assert_eq(r[9].seq, ids[9]);
	cr_assert_eq(tu_file_truncate(seg, r[9].off + 20), 0);
	reopen();
	cr_assert_eq(rep.messages, 9, "rep.messages %llu", (unsigned long long)rep.messages);
	cr_assert_gt(rep.torn_bytes, 0);
	cr_assert_eq(rep.corrupt_records, 0, "a torn tail is not corruption");
	for (int i = 0; i < 9; i++)
		want[i] = i;
	expect_survivors("q", ids, want, 9, 100);
	after_damage("q", 8, 100);
	free(seg);
}

Test(queue_recovery, truncated_to_the_header_page_keeps_nothing_of_that_segment)
{
	char *seg;
	struct tu_record r[16];
	enq_range("q", 0, 4, 100, ids);
	close_store();
	cr_assert_eq(tail_records("q", r, 16, &seg), 4);
	cr_assert_eq(tu_file_truncate(seg, TU_SEG_HEADER), 0);
	reopen();
	cr_assert_eq(rep.messages, 0, "rep.messages %llu", (unsigned long long)rep.messages);
	expect_survivors("q", ids, want, 0, 100);
	after_damage("q", -1, 100);
	free(seg);
}

Test(queue_recovery, zeroed_last_record_is_cut)
{
	struct tu_record r[16];
	char *seg;
	enq_range("q", 0, 10, 100, ids);
	close_store();
	cr_assert_eq(tail_records("q", r, 16, &seg), 10);
	cr_assert_eq(tu_file_zero(seg, r[9].off, r[9].size), 0);
	reopen();
	cr_assert_eq(rep.messages, 9, "rep.messages %llu", (unsigned long long)rep.messages);
	for (int i = 0; i < 9; i++)
		want[i] = i;
	expect_survivors("q", ids, want, 9, 100);
	after_damage("q", 8, 100);
	free(seg);
}

Test(queue_recovery, zeroed_bytes_inside_a_tail_body_lose_only_that_record)
{
	struct tu_record r[16];
	char *seg;
	enq_range("q", 0, 10, 100, ids);
	close_store();
	cr_assert_eq(tail_records("q", r, 16, &seg), 10);
	/* Sixteen zero bytes in the middle of record 7's body; records 8 and 9 stay intact. */
	cr_assert_eq(tu_file_zero(seg, r[7].off + TU_REC_HEADER + 40, 16), 0);
	reopen();
	int skip = 7;
	size_t n = all_but(want, 10, &skip, 1);
	expect_survivors("q", ids, want, n, 100);
	struct queue_stats s;
	cr_assert_eq(queue_stats(st, "q", &s), QUEUE_OK);
	cr_assert(rep.corrupt_records > 0 || s.corrupt_total > 0, "the damage must be reported");
	free(seg);
}

/* An all-zero record header ends the log in the last segment (FORMAT.md rule 4): the tail is cut there. */
Test(queue_recovery, zeroed_header_inside_the_tail_cuts_the_log_there)
{
	struct tu_record r[16];
	char *seg;
	enq_range("q", 0, 10, 100, ids);
	close_store();
	cr_assert_eq(tail_records("q", r, 16, &seg), 10);
	cr_assert_eq(tu_file_zero(seg, r[7].off, TU_REC_HEADER), 0);
	reopen();
	cr_assert_eq(rep.messages, 7, "rep.messages %llu", (unsigned long long)rep.messages);
	for (int i = 0; i < 7; i++)
		want[i] = i;
	expect_survivors("q", ids, want, 7, 100);
	after_damage("q", 6, 100);
	free(seg);
}

Test(queue_recovery, garbled_last_record_body_loses_only_that_record)
{
	struct tu_record r[16];
	char *seg;
	enq_range("q", 0, 10, 100, ids);
	close_store();
	cr_assert_eq(tail_records("q", r, 16, &seg), 10);
	cr_assert_eq(tu_file_xor(seg, r[9].off + TU_REC_HEADER + 50, 0x5a), 0);
	reopen();
	for (int i = 0; i < 9; i++)
		want[i] = i;
	expect_survivors("q", ids, want, 9, 100);
	after_damage("q", 8, 100);
	free(seg);
}

Test(queue_recovery, garbled_last_record_header_loses_only_that_record)
{
	struct tu_record r[16];
	char *seg;
	enq_range("q", 0, 10, 100, ids);
	close_store();
	cr_assert_eq(tail_records("q", r, 16, &seg), 10);
	cr_assert_eq(tu_file_xor(seg, r[9].off + 25, 0x01), 0); /* a timestamp bit */
	reopen();
	cr_assert_eq(rep.messages, 9, "rep.messages %llu", (unsigned long long)rep.messages);
	for (int i = 0; i < 9; i++)
		want[i] = i;
	expect_survivors("q", ids, want, 9, 100);
	after_damage("q", 8, 100);
	free(seg);
}

/* damage_earlier fills 4+ small segments, damages record k of segment 0 at byte delta and returns its index. */
static int damage_earlier(uint64_t delta, uint8_t mask, int *nmsgs)
{
	struct tu_record r[64];
	enq_range("q", 0, 50, 1000, ids);
	cr_assert_geq(segment_count("q"), 4);
	close_store();
	char *seg = segment_at("q", 0);
	size_t nr = tu_seg_records(seg, r, 64);
	cr_assert_geq(nr, 6);
	size_t k = nr / 2;
	cr_assert_eq(r[k].type, 1);
	int victim = -1;
	for (int i = 0; i < 50; i++)
		if (ids[i] == r[k].seq)
			victim = i;
	cr_assert_geq(victim, 1);
	cr_assert_eq(tu_file_xor(seg, r[k].off + delta, mask), 0);
	free(seg);
	*nmsgs = 50;
	return victim;
}

Test(queue_recovery, garbled_header_in_earlier_segment_is_reported_and_skipped, .init = setup_small)
{
	int n = 0;
	int victim = damage_earlier(25, 0x01, &n);
	reopen();
	cr_assert_gt(rep.corrupt_records, 0);
	cr_assert_neq(rep.first_problem[0], '\0');
	cr_assert_eq(rep.messages, (uint64_t)n - 1, "rep.messages %llu", (unsigned long long)rep.messages);
	size_t k = all_but(want, n, &victim, 1);
	expect_survivors("q", ids, want, k, 1000);
	struct queue_stats s;
	cr_assert_eq(queue_stats(st, "q", &s), QUEUE_OK);
	cr_assert_eq(s.depth + s.in_flight + s.delayed, 0);
}

Test(queue_recovery, garbled_body_in_earlier_segment_is_never_served, .init = setup_small)
{
	int n = 0;
	int victim = damage_earlier(TU_REC_HEADER + 100, 0x20, &n);
	reopen();
	size_t k = all_but(want, n, &victim, 1);
	expect_survivors("q", ids, want, k, 1000);
	struct queue_stats s;
	cr_assert_eq(queue_stats(st, "q", &s), QUEUE_OK);
	cr_assert(rep.corrupt_records > 0 || s.corrupt_total > 0,
		  "the damage must be reported (at open or when served)");
	cr_assert_eq(s.depth + s.in_flight + s.delayed, 0);
	reopen();
	expect_survivors("q", ids, want, 0, 1000);
}

Test(queue_recovery, torn_batch_at_the_tail_is_dropped_entirely)
{
	struct tu_record r[16];
	char *seg;
	enq_range("q", 0, 3, 100, ids);
	enq_batch("q", 3, 5, 100, ids);
	close_store();
	cr_assert_eq(tail_records("q", r, 16, &seg), 8);
	for (int i = 3; i < 7; i++)
		cr_assert_eq(r[i].flags & 1u, 1u, "batch record %d has MORE", i);
	cr_assert_eq(r[7].flags & 1u, 0u);
	cr_assert_eq(tu_file_truncate(seg, r[7].off + 30), 0);
	reopen();
	cr_assert_eq(rep.messages, 3, "rep.messages %llu", (unsigned long long)rep.messages);
	int w[3] = { 0, 1, 2 };
	expect_survivors("q", ids, w, 3, 100);
	after_damage("q", 2, 100);
	free(seg);
}

/* A committed batch (its last record is there) that is damaged in the middle keeps its intact records. */
/*
 * From the bytes, damage inside a batch looks the same as a batch torn by a
 * power cut, which must never be served in part: the whole batch goes, the
 * records around it stay.
 */
Test(queue_recovery, garbled_record_inside_a_batch_loses_the_whole_batch_only)
{
	struct tu_record r[16];
	char *seg;
	enq_range("q", 0, 3, 100, ids);
	enq_batch("q", 3, 5, 100, ids);
	close_store();
	cr_assert_eq(tail_records("q", r, 16, &seg), 8);
	cr_assert_eq(tu_file_xor(seg, r[5].off + 30, 0x80), 0);
	reopen();
	int w[3] = { 0, 1, 2 };
	expect_survivors("q", ids, w, 3, 100);
	cr_assert_gt(rep.corrupt_records, 0);
	free(seg);
}

/* prepare_meta makes a queue whose meta has two valid slots and returns the meta path. */
static char *prepare_meta(void)
{
	struct queue_settings s;
	queue_settings_default(&s);
	s.lease_seconds = 77;
	cr_assert_eq(queue_put_settings(st, "q", &s, QUEUE_SET_LEASE_SECONDS, NULL), QUEUE_OK);
	enq_range("q", 0, 5, 60, ids);
	pop_n("q", 2);
	reopen();
	close_store();
	char *q = qdir("q");
	char *meta = tu_path(q, "queue.meta");
	uint8_t m0[4], m1[4];
	cr_assert_eq(tu_file_read(meta, 0, m0, 4), 0);
	cr_assert_eq(tu_file_read(meta, 4096, m1, 4), 0);
	cr_assert_eq(memcmp(m0, "MMQM", 4), 0);
	cr_assert_eq(memcmp(m1, "MMQM", 4), 0);
	free(q);
	return meta;
}

static void check_meta_survivors(uint32_t lease_seconds)
{
	struct queue_settings got;
	cr_assert_eq(queue_get_settings(st, "q", &got), QUEUE_OK);
	cr_assert_eq(got.lease_seconds, lease_seconds);
	int w[3] = { 2, 3, 4 };
	expect_survivors("q", ids, w, 3, 60);
	after_damage("q", 4, 60);
	struct queue_settings again;
	cr_assert_eq(queue_get_settings(st, "q", &again), QUEUE_OK);
	cr_assert_eq(again.lease_seconds, lease_seconds);
}

Test(queue_recovery, damaged_meta_slot_0_uses_slot_1)
{
	char *meta = prepare_meta();
	cr_assert_eq(tu_file_xor(meta, 100, 0xff), 0);
	cr_assert_eq(tu_file_xor(meta, 9, 0x01), 0);
	reopen();
	check_meta_survivors(77);
	free(meta);
}

Test(queue_recovery, damaged_meta_slot_1_uses_slot_0)
{
	char *meta = prepare_meta();
	cr_assert_eq(tu_file_xor(meta, 4096 + 100, 0xff), 0);
	cr_assert_eq(tu_file_xor(meta, 4096 + 9, 0x01), 0);
	reopen();
	check_meta_survivors(77);
	free(meta);
}

Test(queue_recovery, both_meta_slots_damaged_rebuilds_from_segments)
{
	char *meta = prepare_meta();
	cr_assert_eq(tu_file_zero(meta, 0, 64), 0);
	cr_assert_eq(tu_file_xor(meta, 4096 + 4092, 0xff), 0);
	reopen();
	cr_assert_eq(rep.queues, 1);
	check_meta_survivors(30);
	free(meta);
}

Test(queue_recovery, missing_meta_file_rebuilds_from_segments)
{
	char *meta = prepare_meta();
	cr_assert_eq(unlink(meta), 0);
	reopen();
	check_meta_survivors(30);
	free(meta);
}

Test(queue_recovery, leftover_temporary_directory_is_ignored)
{
	enq_range("q", 0, 2, 30, ids);
	close_store();
	char *qs = tu_path(dir, "queues");
	char *tmpq = tu_path(qs, ".half-created");
	char *junk = tu_path(tmpq, "00000000000000000001.seg");
	cr_assert_eq(mkdir(tmpq, 0755), 0);
	FILE *f = fopen(junk, "w");
	cr_assert_not_null(f);
	fputs("not a segment", f);
	fclose(f);
	reopen();
	cr_assert_eq(rep.queues, 1);
	struct queue_stats *all = NULL;
	size_t count = 0;
	cr_assert_eq(queue_list(st, &all, &count), QUEUE_OK);
	cr_assert_eq(count, 1);
	cr_assert_str_eq(all[0].name, "q");
	free(all);
	int w[2] = { 0, 1 };
	expect_survivors("q", ids, w, 2, 30);
	free(junk);
	free(tmpq);
	free(qs);
}

/* Random damage anywhere in the log must never crash the engine or serve a wrong payload. */
Test(queue_recovery, random_damage_never_serves_a_wrong_payload, .init = setup_small)
{
	uint32_t x = 2463534242u;
	char buf[1100];
	for (int round = 0; round < 6; round++) {
		struct queue_msgs m = { 0 };
		enq_range("q", 0, 40, 1000, ids);
		close_store();
		char *q = qdir("q");
		char **segs = NULL;
		size_t n = tu_segments(q, &segs);
		for (int hit = 0; hit < 8; hit++) {
			x ^= x << 13, x ^= x >> 17, x ^= x << 5;
			size_t k = x % n;
			x ^= x << 13, x ^= x >> 17, x ^= x << 5;
			/* Records only: a damaged segment header is a different matter. */
			uint64_t off = TU_SEG_HEADER + x % ((uint64_t)tu_file_size(segs[k]) - TU_SEG_HEADER);
			cr_assert_eq(tu_file_xor(segs[k], off, (uint8_t)(1u << (x % 8))), 0);
		}
		tu_strv_free(segs, n);
		free(q);
		reopen();
		uint64_t last = 0;
		for (;;) {
			cr_assert_eq(queue_pop(st, "q", 100, &m, NULL), QUEUE_OK);
			if (m.count == 0)
				break;
			for (size_t j = 0; j < m.count; j++) {
				int i = -1;
				for (int c = 0; c < 40; c++)
					if (ids[c] == m.items[j].id)
						i = c;
				cr_assert_geq(i, 0, "served an id that was never enqueued");
				cr_assert_gt(m.items[j].id, last);
				last = m.items[j].id;
				make_payload(buf, i, len_of(i, 1000));
				cr_assert_eq(m.items[j].len, len_of(i, 1000));
				cr_assert_eq(memcmp(m.items[j].payload, buf, m.items[j].len), 0);
			}
			queue_msgs_free(&m);
		}
		queue_msgs_free(&m);
	}
}

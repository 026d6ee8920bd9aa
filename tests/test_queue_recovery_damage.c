/* test_queue_recovery_damage.c: recovery from damaged files: torn, zeroed and garbled records and batches, damaged or missing meta. */
#include <criterion/criterion.h>

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../queue/queue.h"
#include "queuetest.h"
#include "testutil.h"

#define MAXN 4096

TestSuite(queue_recovery_damage, .init = qt_setup_default, .fini = qt_teardown, .timeout = 60);

/* last_segment returns the path of the queue's newest segment. Caller frees. */
static char *segment_at(const char *name, long idx)
{
	char *q = qt_queue_dir(name);
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

static uint64_t ids[MAXN];
static int want[MAXN];

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
	qt_payload(buf, 9999, 40);
	p.len = 40;
	cr_assert_eq(queue_enqueue(qt_st, name, &p, 1, 0, more, NULL), QUEUE_OK);
	if (last_index >= 0)
		cr_assert_gt(more[0], ids[last_index]);
	qt_reopen();
	struct queue_msgs m = { 0 };
	cr_assert_eq(queue_pop(qt_st, name, 10, &m, NULL), QUEUE_OK);
	cr_assert_eq(m.count, 1, "the message enqueued after the repair must survive the next reopen (%llu corrupt: %s)",
		     (unsigned long long)qt_rep.corrupt_records, qt_rep.first_problem);
	cr_assert_eq(m.items[0].id, more[0]);
	cr_assert_eq(memcmp(m.items[0].payload, buf, 40), 0);
	queue_msgs_free(&m);
	cr_assert_eq(qt_rep.corrupt_records, 0, "a repaired log is clean on the next open: %llu corrupt (%s)",
		     (unsigned long long)qt_rep.corrupt_records, qt_rep.first_problem);
	cr_assert_eq(qt_rep.torn_bytes, 0, "a repaired log is clean on the next open: %llu torn bytes",
		     (unsigned long long)qt_rep.torn_bytes);
	(void)base;
}

/* fill_tail enqueues messages 0..n-1 (base 100) into "q", closes the store, and asserts the newest segment holds exactly those n records, into r and *seg (caller frees *seg). */
static void fill_tail(int n, struct tu_record *r, char **seg)
{
	qt_enqueue_range("q", 0, n, 100, ids);
	qt_close_store();
	cr_assert_eq(tail_records("q", r, 16, seg), (size_t)n);
}

/* expect_prefix asserts that "q" serves exactly messages 0..n-1 (base 100), then that the repaired queue keeps working (after_damage). */
static void expect_prefix(int n)
{
	for (int i = 0; i < n; i++)
		want[i] = i;
	qt_expect_survivors("q", ids, want, (size_t)n, 100);
	after_damage("q", n - 1, 100);
}

Test(queue_recovery_damage, truncated_last_record_is_cut)
{
	struct tu_record r[16];
	char *seg;
	qt_enqueue_range("q", 0, 10, 100, ids);
	qt_close_store();
	size_t n = tail_records("q", r, 16, &seg);
	cr_assert_eq(n, 10);
	cr_assert_eq(r[9].seq, ids[9]);
	cr_assert_eq(tu_file_truncate(seg, r[9].off + 20), 0);
	qt_reopen();
	cr_assert_eq(qt_rep.messages, 9, "rep.messages %llu", (unsigned long long)qt_rep.messages);
	cr_assert_gt(qt_rep.torn_bytes, 0);
	cr_assert_eq(qt_rep.corrupt_records, 0, "a torn tail is not corruption");
	expect_prefix(9);
	free(seg);
}

Test(queue_recovery_damage, truncated_to_the_header_page_keeps_nothing_of_that_segment)
{
	char *seg;
	struct tu_record r[16];
	fill_tail(4, r, &seg);
	cr_assert_eq(tu_file_truncate(seg, TU_SEG_HEADER), 0);
	qt_reopen();
	cr_assert_eq(qt_rep.messages, 0, "rep.messages %llu", (unsigned long long)qt_rep.messages);
	qt_expect_survivors("q", ids, want, 0, 100);
	after_damage("q", -1, 100);
	free(seg);
}

Test(queue_recovery_damage, zeroed_last_record_is_cut)
{
	struct tu_record r[16];
	char *seg;
	fill_tail(10, r, &seg);
	cr_assert_eq(tu_file_zero(seg, r[9].off, r[9].size), 0);
	qt_reopen();
	cr_assert_eq(qt_rep.messages, 9, "rep.messages %llu", (unsigned long long)qt_rep.messages);
	expect_prefix(9);
	free(seg);
}

Test(queue_recovery_damage, zeroed_bytes_inside_a_tail_body_lose_only_that_record)
{
	struct tu_record r[16];
	char *seg;
	fill_tail(10, r, &seg);
	/* Sixteen zero bytes in the middle of record 7's body; records 8 and 9 stay intact. */
	cr_assert_eq(tu_file_zero(seg, r[7].off + TU_REC_HEADER + 40, 16), 0);
	qt_reopen();
	int skip = 7;
	size_t n = qt_all_but(want, 10, &skip, 1);
	qt_expect_survivors("q", ids, want, n, 100);
	struct queue_stats s;
	cr_assert_eq(queue_stats(qt_st, "q", &s), QUEUE_OK);
	cr_assert(qt_rep.corrupt_records > 0 || s.corrupt_total > 0, "the damage must be reported");
	free(seg);
}

/* An all-zero record header ends the log in the last segment (FORMAT.md rule 4): the tail is cut there. */
Test(queue_recovery_damage, zeroed_header_inside_the_tail_cuts_the_log_there)
{
	struct tu_record r[16];
	char *seg;
	fill_tail(10, r, &seg);
	cr_assert_eq(tu_file_zero(seg, r[7].off, TU_REC_HEADER), 0);
	qt_reopen();
	cr_assert_eq(qt_rep.messages, 7, "rep.messages %llu", (unsigned long long)qt_rep.messages);
	expect_prefix(7);
	free(seg);
}

Test(queue_recovery_damage, garbled_last_record_body_loses_only_that_record)
{
	struct tu_record r[16];
	char *seg;
	fill_tail(10, r, &seg);
	cr_assert_eq(tu_file_xor(seg, r[9].off + TU_REC_HEADER + 50, 0x5a), 0);
	qt_reopen();
	expect_prefix(9);
	free(seg);
}

Test(queue_recovery_damage, garbled_last_record_header_loses_only_that_record)
{
	struct tu_record r[16];
	char *seg;
	fill_tail(10, r, &seg);
	cr_assert_eq(tu_file_xor(seg, r[9].off + 25, 0x01), 0); /* a timestamp bit */
	qt_reopen();
	cr_assert_eq(qt_rep.messages, 9, "rep.messages %llu", (unsigned long long)qt_rep.messages);
	expect_prefix(9);
	free(seg);
}

/* damage_earlier fills 4+ small segments, damages record k of segment 0 at byte delta and returns its index. */
static int damage_earlier(uint64_t delta, uint8_t mask, int *nmsgs)
{
	struct tu_record r[64];
	qt_enqueue_range("q", 0, 50, 1000, ids);
	cr_assert_geq(qt_segment_count("q"), 4);
	qt_close_store();
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

Test(queue_recovery_damage, garbled_header_in_earlier_segment_is_reported_and_skipped, .init = qt_setup_small)
{
	int n = 0;
	int victim = damage_earlier(25, 0x01, &n);
	qt_reopen();
	cr_assert_gt(qt_rep.corrupt_records, 0);
	cr_assert_neq(qt_rep.first_problem[0], '\0');
	cr_assert_eq(qt_rep.messages, (uint64_t)n - 1, "rep.messages %llu", (unsigned long long)qt_rep.messages);
	size_t k = qt_all_but(want, n, &victim, 1);
	qt_expect_survivors("q", ids, want, k, 1000);
	struct queue_stats s;
	cr_assert_eq(queue_stats(qt_st, "q", &s), QUEUE_OK);
	cr_assert_eq(s.depth + s.in_flight + s.delayed, 0);
}

Test(queue_recovery_damage, garbled_body_in_earlier_segment_is_never_served, .init = qt_setup_small)
{
	int n = 0;
	int victim = damage_earlier(TU_REC_HEADER + 100, 0x20, &n);
	qt_reopen();
	size_t k = qt_all_but(want, n, &victim, 1);
	qt_expect_survivors("q", ids, want, k, 1000);
	struct queue_stats s;
	cr_assert_eq(queue_stats(qt_st, "q", &s), QUEUE_OK);
	cr_assert(qt_rep.corrupt_records > 0 || s.corrupt_total > 0,
		  "the damage must be reported (at open or when served)");
	cr_assert_eq(s.depth + s.in_flight + s.delayed, 0);
	qt_reopen();
	qt_expect_survivors("q", ids, want, 0, 1000);
}

Test(queue_recovery_damage, torn_batch_at_the_tail_is_dropped_entirely)
{
	struct tu_record r[16];
	char *seg;
	qt_enqueue_range("q", 0, 3, 100, ids);
	qt_enqueue_batch("q", 3, 5, 100, ids);
	qt_close_store();
	cr_assert_eq(tail_records("q", r, 16, &seg), 8);
	for (int i = 3; i < 7; i++)
		cr_assert_eq(r[i].flags & 1u, 1u, "batch record %d has MORE", i);
	cr_assert_eq(r[7].flags & 1u, 0u);
	cr_assert_eq(tu_file_truncate(seg, r[7].off + 30), 0);
	qt_reopen();
	cr_assert_eq(qt_rep.messages, 3, "rep.messages %llu", (unsigned long long)qt_rep.messages);
	int w[3] = { 0, 1, 2 };
	qt_expect_survivors("q", ids, w, 3, 100);
	after_damage("q", 2, 100);
	free(seg);
}

/* A batch spanning segments whose last record is torn is dropped in every segment it touched. */
Test(queue_recovery_damage, torn_batch_spanning_segments_is_dropped_entirely, .init = qt_setup_small)
{
	qt_enqueue_range("q", 0, 5, 1000, ids);
	qt_enqueue_batch("q", 5, 30, 1000, ids);
	qt_close_store();
	char *q = qt_queue_dir("q");
	char **segs = NULL;
	size_t n = tu_segments(q, &segs);
	long last = qt_segment_of(segs, n, ids[34]);
	cr_assert_neq(last, qt_segment_of(segs, n, ids[5]), "the batch spans segments");
	struct tu_record *r = calloc(512, sizeof(*r));
	size_t nr = tu_seg_records(segs[last], r, 512);
	cr_assert_gt(nr, 0);
	cr_assert_eq(r[nr - 1].seq, ids[34]);
	cr_assert_eq(tu_file_zero(segs[last], r[nr - 1].off, r[nr - 1].size), 0);
	free(r);
	tu_strv_free(segs, n);
	free(q);
	qt_reopen();
	cr_assert_eq(qt_rep.messages, 5, "rep.messages %llu", (unsigned long long)qt_rep.messages);
	int w[5] = { 0, 1, 2, 3, 4 };
	qt_expect_survivors("q", ids, w, 5, 1000);
	after_damage("q", 4, 1000);
}

/* A committed batch (its last record is there) that is damaged in the middle keeps its intact records. */
/*
 * From the bytes, damage inside a batch looks the same as a batch torn by a
 * power cut, which must never be served in part: the whole batch goes, the
 * records around it stay.
 */
Test(queue_recovery_damage, garbled_record_inside_a_batch_loses_the_whole_batch_only)
{
	struct tu_record r[16];
	char *seg;
	qt_enqueue_range("q", 0, 3, 100, ids);
	qt_enqueue_batch("q", 3, 5, 100, ids);
	qt_close_store();
	cr_assert_eq(tail_records("q", r, 16, &seg), 8);
	cr_assert_eq(tu_file_xor(seg, r[5].off + 30, 0x80), 0);
	qt_reopen();
	int w[3] = { 0, 1, 2 };
	qt_expect_survivors("q", ids, w, 3, 100);
	cr_assert_gt(qt_rep.corrupt_records, 0);
	free(seg);
}

/* prepare_meta makes a queue whose meta has two valid slots and returns the meta path. */
static char *prepare_meta(void)
{
	struct queue_settings s;
	queue_settings_default(&s);
	s.lease_seconds = 77;
	cr_assert_eq(queue_put_settings(qt_st, "q", &s, QUEUE_SET_LEASE_SECONDS, NULL), QUEUE_OK);
	qt_enqueue_range("q", 0, 5, 60, ids);
	qt_pop_n("q", 2);
	qt_reopen();
	qt_close_store();
	char *q = qt_queue_dir("q");
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
	cr_assert_eq(queue_get_settings(qt_st, "q", &got), QUEUE_OK);
	cr_assert_eq(got.lease_seconds, lease_seconds);
	int w[3] = { 2, 3, 4 };
	qt_expect_survivors("q", ids, w, 3, 60);
	after_damage("q", 4, 60);
	struct queue_settings again;
	cr_assert_eq(queue_get_settings(qt_st, "q", &again), QUEUE_OK);
	cr_assert_eq(again.lease_seconds, lease_seconds);
}

Test(queue_recovery_damage, damaged_meta_slot_0_uses_slot_1)
{
	char *meta = prepare_meta();
	cr_assert_eq(tu_file_xor(meta, 100, 0xff), 0);
	cr_assert_eq(tu_file_xor(meta, 9, 0x01), 0);
	qt_reopen();
	check_meta_survivors(77);
	free(meta);
}

Test(queue_recovery_damage, damaged_meta_slot_1_uses_slot_0)
{
	char *meta = prepare_meta();
	cr_assert_eq(tu_file_xor(meta, 4096 + 100, 0xff), 0);
	cr_assert_eq(tu_file_xor(meta, 4096 + 9, 0x01), 0);
	qt_reopen();
	check_meta_survivors(77);
	free(meta);
}

Test(queue_recovery_damage, both_meta_slots_damaged_rebuilds_from_segments)
{
	char *meta = prepare_meta();
	cr_assert_eq(tu_file_zero(meta, 0, 64), 0);
	cr_assert_eq(tu_file_xor(meta, 4096 + 4092, 0xff), 0);
	qt_reopen();
	cr_assert_eq(qt_rep.queues, 1);
	check_meta_survivors(30);
	free(meta);
}

Test(queue_recovery_damage, missing_meta_file_rebuilds_from_segments)
{
	char *meta = prepare_meta();
	cr_assert_eq(unlink(meta), 0);
	qt_reopen();
	check_meta_survivors(30);
	free(meta);
}

Test(queue_recovery_damage, leftover_temporary_directory_is_ignored)
{
	qt_enqueue_range("q", 0, 2, 30, ids);
	qt_close_store();
	char *qs = tu_path(qt_dir, "queues");
	char *tmpq = tu_path(qs, ".half-created");
	char *junk = tu_path(tmpq, "00000000000000000001.seg");
	cr_assert_eq(mkdir(tmpq, 0755), 0);
	FILE *f = fopen(junk, "w");
	cr_assert_not_null(f);
	fputs("not a segment", f);
	fclose(f);
	qt_reopen();
	cr_assert_eq(qt_rep.queues, 1);
	struct queue_stats *all = NULL;
	size_t count = 0;
	cr_assert_eq(queue_list(qt_st, &all, &count), QUEUE_OK);
	cr_assert_eq(count, 1);
	cr_assert_str_eq(all[0].name, "q");
	free(all);
	int w[2] = { 0, 1 };
	qt_expect_survivors("q", ids, w, 2, 30);
	free(junk);
	free(tmpq);
	free(qs);
}

/* Random damage anywhere in the log must never crash the engine or serve a wrong payload. */
Test(queue_recovery_damage, random_damage_never_serves_a_wrong_payload, .init = qt_setup_small)
{
	uint32_t x = 2463534242u;
	char buf[1100];
	for (int round = 0; round < 6; round++) {
		struct queue_msgs m = { 0 };
		qt_enqueue_range("q", 0, 40, 1000, ids);
		qt_close_store();
		char *q = qt_queue_dir("q");
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
		qt_reopen();
		uint64_t last = 0;
		for (;;) {
			cr_assert_eq(queue_pop(qt_st, "q", 100, &m, NULL), QUEUE_OK);
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
				qt_payload(buf, i, qt_payload_len(i, 1000));
				cr_assert_eq(m.items[j].len, qt_payload_len(i, 1000));
				cr_assert_eq(memcmp(m.items[j].payload, buf, m.items[j].len), 0);
			}
			queue_msgs_free(&m);
		}
		queue_msgs_free(&m);
	}
}

/* Problems as on_problem hears of them: typed, with where they are. */

#define MAX_HEARD 8

/* What one open's on_problem heard (copies: the pointers are borrowed for the call only). */
static struct heard {
	enum queue_damage kind;
	char queue[QUEUE_NAME_MAX + 1];
	char file[64];
	char aside[64]; /* "" for NULL */
	uint64_t segment, offset;
} heard[MAX_HEARD];
static size_t nheard;

static void hear(void *ctx, const struct queue_problem *p)
{
	(void)ctx;
	cr_assert_lt(nheard, MAX_HEARD);
	struct heard *h = &heard[nheard++];
	h->kind = p->kind;
	snprintf(h->queue, sizeof(h->queue), "%s", p->queue);
	snprintf(h->file, sizeof(h->file), "%s", p->file);
	snprintf(h->aside, sizeof(h->aside), "%s", p->aside != NULL ? p->aside : "");
	h->segment = p->segment;
	h->offset = p->offset;
}

/* open_hearing opens qt_dir into qt_st with on_problem set (and repair when asked). */
static void open_hearing(bool repair)
{
	struct queue_store_options o = qt_test_options();
	o.on_problem = hear;
	o.repair = repair;
	nheard = 0;
	cr_assert_eq(queue_store_open(qt_dir, &o, &qt_st, &qt_rep), QUEUE_OK);
}

Test(queue_recovery_damage, torn_tail_is_reported_by_kind_file_and_offset)
{
	struct tu_record r[16];
	char *seg;
	qt_enqueue_range("q", 0, 10, 100, ids);
	qt_close_store();
	cr_assert_eq(tail_records("q", r, 16, &seg), 10);
	cr_assert_eq(tu_file_truncate(seg, r[9].off + 20), 0);
	open_hearing(false);
	cr_assert_eq(nheard, 1);
	cr_assert_eq(heard[0].kind, QUEUE_DAMAGE_TORN_TAIL);
	cr_assert_str_eq(heard[0].queue, "q");
	cr_assert_str_eq(heard[0].file, strrchr(seg, '/') + 1);
	cr_assert_eq(heard[0].offset, r[9].off);
	cr_assert_str_eq(heard[0].aside, "", "a torn tail is cut, never moved aside");
	cr_assert_str_eq(queue_damage_text(heard[0].kind), "torn tail after the last valid record");
	free(seg);
}

Test(queue_recovery_damage, damaged_segment_header_is_reported_and_repair_moves_it_to_its_aside_name)
{
	char *seg, path[4096];
	qt_enqueue_range("q", 0, 3, 100, ids);
	qt_close_store();
	seg = segment_at("q", 0);
	cr_assert_eq(tu_file_xor(seg, 8, 0x01), 0); /* the segment number in its header */
	open_hearing(true);
	cr_assert_eq(nheard, 1);
	cr_assert_eq(heard[0].kind, QUEUE_DAMAGE_SEGMENT_HEADER);
	cr_assert_str_eq(heard[0].queue, "q");
	cr_assert_str_eq(heard[0].file, strrchr(seg, '/') + 1);
	cr_assert_eq(heard[0].offset, 0);
	char aside[80];
	snprintf(aside, sizeof(aside), "%s.damaged", heard[0].file);
	cr_assert_str_eq(heard[0].aside, aside);
	cr_assert(queue_file_path(path, sizeof(path), qt_dir, "q", heard[0].aside));
	cr_assert(tu_exists(path), "repair moved %s aside to %s", seg, path);
	cr_assert_eq(qt_rep.messages, 0);
	free(seg);
}

Test(queue_recovery_damage, queue_file_path_names_files_in_the_queue_directory)
{
	char buf[32];
	cr_assert(queue_file_path(buf, sizeof(buf), "/d", "q", "f.seg"));
	cr_assert_str_eq(buf, "/d/queues/q/f.seg");
	cr_assert(queue_file_path(buf, sizeof(buf), "/d", "q", NULL));
	cr_assert_str_eq(buf, "/d/queues/q");
	cr_assert_not(queue_file_path(buf, 12, "/d", "q", "f.seg"), "a path that does not fit is refused");
}

/* test_queue_store.c: the store and queue life cycle: open, lock, names, stats, list, purge, delete. */
#include <criterion/criterion.h>

#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../queue/queue.h"
#include "queuetest.h"
#include "testutil.h"

static void no_watch(void *ctx)
{
	(void)ctx;
}

TestSuite(queue_store, .init = qt_setup_data, .fini = qt_teardown, .timeout = 30);

Test(queue_store, open_creates_missing_data_directory_and_lock)
{
	struct stat sb;
	char *lock = tu_path(qt_dir, "LOCK");
	cr_assert_eq(stat(qt_dir, &sb), 0);
	cr_assert(S_ISDIR(sb.st_mode));
	cr_assert(tu_exists(lock));
	free(lock);
}

Test(queue_store, open_creates_nested_missing_directory)
{
	char *deep = tu_path(qt_tmp, "a/b/c");
	struct queue_store *other = NULL;
	struct queue_store_options o = qt_test_options();
	struct stat sb;
	cr_assert_eq(queue_store_open(deep, &o, &other, NULL), QUEUE_OK);
	cr_assert_eq(stat(deep, &sb), 0);
	cr_assert(S_ISDIR(sb.st_mode));
	cr_assert_eq(queue_store_close(other), QUEUE_OK);
	free(deep);
}

Test(queue_store, second_process_gets_locked_at_once_while_first_keeps_working)
{
	uint64_t id1 = qt_enq("q", "before");
	pid_t pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		struct queue_store_options o = qt_test_options();
		struct queue_store *other = NULL;
		uint64_t start = tu_now_ms();
		enum queue_err e = queue_store_open(qt_dir, &o, &other, NULL);
		uint64_t took = tu_now_ms() - start;
		/* Exit 0 only when the open was refused with QUEUE_LOCKED within a second. */
		_exit(e == QUEUE_LOCKED && other == NULL && took < 1000 ? 0 : 10 + (int)e);
	}
	int status = 0;
	cr_assert_eq(waitpid(pid, &status, 0), pid);
	cr_assert(WIFEXITED(status));
	cr_assert_eq(WEXITSTATUS(status), 0, "child: exit %d (10 + queue_err)", WEXITSTATUS(status));

	uint64_t id2 = qt_enq("q", "after");
	cr_assert_gt(id2, id1);
	struct queue_msgs m = { 0 };
	cr_assert_eq(queue_pop(qt_st, "q", 10, &m, NULL), QUEUE_OK);
	cr_assert_eq(m.count, 2);
	cr_assert_eq(m.items[0].id, id1);
	cr_assert_eq(m.items[1].id, id2);
	queue_msgs_free(&m);
}

Test(queue_store, close_releases_the_lock_for_the_next_open)
{
	qt_enq("q", "x");
	cr_assert_eq(queue_store_close(qt_st), QUEUE_OK);
	qt_st = NULL;
	pid_t pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		struct queue_store_options o = qt_test_options();
		struct queue_store *other = NULL;
		enum queue_err e = queue_store_open(qt_dir, &o, &other, NULL);
		if (e == QUEUE_OK)
			e = queue_store_close(other);
		_exit((int)e);
	}
	int status = 0;
	cr_assert_eq(waitpid(pid, &status, 0), pid);
	cr_assert(WIFEXITED(status));
	cr_assert_eq(WEXITSTATUS(status), QUEUE_OK);
	qt_reopen();
}

Test(queue_store, close_null_and_free_null_are_no_ops)
{
	cr_assert_eq(queue_store_close(NULL), QUEUE_OK);
	queue_msgs_free(NULL);
	queue_watch_remove(NULL);
}

Test(queue_store, sync_mode_names_parse_and_round_trip)
{
	static const enum queue_sync modes[] = { QUEUE_SYNC_ALWAYS, QUEUE_SYNC_INTERVAL, QUEUE_SYNC_NONE };
	static const char *const names[] = { "always", "interval", "none" };
	enum queue_sync out;
	for (size_t i = 0; i < 3; i++) {
		cr_assert_str_eq(queue_sync_name(modes[i]), names[i]);
		out = QUEUE_SYNC_NONE;
		cr_assert(queue_sync_parse(names[i], &out));
		cr_assert_eq(out, modes[i]);
	}
	cr_assert_not(queue_sync_parse("sometimes", &out));
	cr_assert_not(queue_sync_parse("", &out));
	cr_assert_not(queue_sync_parse("ALWAYS ", &out));
	cr_assert_eq(queue_store_sync_mode(qt_st), QUEUE_SYNC_NONE);
}

Test(queue_store, strerror_has_a_sentence_for_every_error)
{
	for (int e = 0; e < QUEUE_ERR_COUNT; e++) {
		const char *s = queue_strerror((enum queue_err)e);
		cr_assert_not_null(s);
		cr_assert_gt(strlen(s), 0);
	}
}

Test(queue_store, valid_names_are_accepted)
{
	char longest[QUEUE_NAME_MAX + 1];
	memset(longest, 'z', QUEUE_NAME_MAX);
	longest[QUEUE_NAME_MAX] = '\0';
	static const char *const ok[] = { "a", "Z", "0", "_", "-", "orders_2024-EU", "A-Z_a-z_0-9" };
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		bool created = false;
		cr_assert(queue_name_valid(ok[i]), "%s", ok[i]);
		cr_assert_eq(queue_put_settings(qt_st, ok[i], NULL, 0, &created), QUEUE_OK, "%s", ok[i]);
		cr_assert(created);
	}
	cr_assert(queue_name_valid(longest));
	cr_assert_eq(queue_put_settings(qt_st, longest, NULL, 0, NULL), QUEUE_OK);
	char *q = qt_queue_dir(longest);
	cr_assert(tu_exists(q));
	free(q);
}

Test(queue_store, invalid_names_are_badname_everywhere_and_create_nothing)
{
	char toolong[QUEUE_NAME_MAX + 2];
	memset(toolong, 'a', QUEUE_NAME_MAX + 1);
	toolong[QUEUE_NAME_MAX + 1] = '\0';
	const char *const bad[] = { "", toolong, "a/b", "/", ".", "..", ".hidden", "a b", " ", "a.b",
				    "caf\xc3\xa9", "\xe2\x82\xac", "tab\t", "new\nline", "a*", "q?" };
	struct queue_payload p = { "x", 1 };
	struct queue_settings s;
	struct queue_stats stats;
	struct queue_msgs m = { 0 };
	struct queue_watch *w = NULL;
	char *qs = tu_path(qt_dir, "queues");
	queue_settings_default(&s);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		const char *n = bad[i];
		cr_assert_not(queue_name_valid(n), "[%zu]", i);
		cr_assert_eq(queue_put_settings(qt_st, n, &s, 0, NULL), QUEUE_BADNAME, "[%zu]", i);
		cr_assert_eq(queue_enqueue(qt_st, n, &p, 1, 0, NULL, NULL), QUEUE_BADNAME, "[%zu]", i);
		cr_assert_eq(queue_get_settings(qt_st, n, &s), QUEUE_BADNAME, "[%zu]", i);
		cr_assert_eq(queue_stats(qt_st, n, &stats), QUEUE_BADNAME, "[%zu]", i);
		cr_assert_eq(queue_peek(qt_st, n, 1, &m), QUEUE_BADNAME, "[%zu]", i);
		cr_assert_eq(queue_pop(qt_st, n, 1, &m, NULL), QUEUE_BADNAME, "[%zu]", i);
		cr_assert_eq(queue_lease(qt_st, n, 1, 0, &m, NULL), QUEUE_BADNAME, "[%zu]", i);
		cr_assert_eq(queue_ack(qt_st, n, 1, 1, NULL), QUEUE_BADNAME, "[%zu]", i);
		cr_assert_eq(queue_purge(qt_st, n, NULL), QUEUE_BADNAME, "[%zu]", i);
		cr_assert_eq(queue_delete(qt_st, n), QUEUE_BADNAME, "[%zu]", i);
		cr_assert_eq(queue_watch_add(qt_st, n, no_watch, NULL, &w), QUEUE_BADNAME, "[%zu]", i);
	}
	cr_assert_eq(tu_count_suffix(qs, ""), 0);
	cr_assert_eq(tu_count_suffix(qt_dir, ""), tu_exists(qs) ? 2 : 1, "only LOCK (and queues/)");
	size_t count = 99;
	struct queue_stats *all = NULL;
	cr_assert_eq(queue_list(qt_st, &all, &count), QUEUE_OK);
	cr_assert_eq(count, 0);
	free(all);
	free(qs);
}

Test(queue_store, list_is_sorted_by_name)
{
	static const char *const names[] = { "zeta", "alpha-2", "mid", "alpha", "beta_1", "b" };
	static const char *const sorted[] = { "alpha", "alpha-2", "b", "beta_1", "mid", "zeta" };
	struct queue_stats *all = NULL;
	size_t count = 0;
	cr_assert_eq(queue_list(qt_st, &all, &count), QUEUE_OK);
	cr_assert_eq(count, 0);
	free(all);
	for (size_t i = 0; i < 6; i++)
		cr_assert_eq(queue_put_settings(qt_st, names[i], NULL, 0, NULL), QUEUE_OK);
	qt_enq("mid", "one");
	cr_assert_eq(queue_list(qt_st, &all, &count), QUEUE_OK);
	cr_assert_eq(count, 6);
	for (size_t i = 0; i < 6; i++) {
		cr_assert_str_eq(all[i].name, sorted[i]);
		cr_assert_eq(all[i].depth, strcmp(sorted[i], "mid") == 0 ? 1 : 0);
	}
	free(all);
	qt_reopen();
	cr_assert_eq(queue_list(qt_st, &all, &count), QUEUE_OK);
	cr_assert_eq(count, 6);
	for (size_t i = 0; i < 6; i++)
		cr_assert_str_eq(all[i].name, sorted[i]);
	free(all);
}

static void get_stats(const char *name, struct queue_stats *s)
{
	cr_assert_eq(queue_stats(qt_st, name, s), QUEUE_OK);
	cr_assert_str_eq(s->name, name);
}

Test(queue_store, stats_count_every_state_exactly)
{
	struct queue_payload p[3] = { { "abc", 3 }, { "defgh", 5 }, { "ijklmno", 7 } };
	struct queue_payload d = { "delayed-msg", 11 };
	struct queue_stats s;
	struct queue_msgs m = { 0 };
	uint64_t ids[3];

	cr_assert_eq(queue_stats(qt_st, "q", &s), QUEUE_NOTFOUND);
	cr_assert_eq(queue_put_settings(qt_st, "q", NULL, 0, NULL), QUEUE_OK);
	get_stats("q", &s);
	cr_assert_eq(s.depth + s.in_flight + s.delayed + s.bytes, 0);
	cr_assert_eq(s.oldest_enqueued_ms, 0);
	cr_assert_eq(s.enqueued_total + s.dequeued_total, 0);
	cr_assert_not(s.failed);
	cr_assert_eq(s.settings.lease_seconds, 30);

	cr_assert_eq(queue_enqueue(qt_st, "q", p, 3, 0, ids, NULL), QUEUE_OK);
	qt_set_now(QT_T0 + 10);
	cr_assert_eq(queue_enqueue(qt_st, "q", &d, 1, 1000, NULL, NULL), QUEUE_OK);
	get_stats("q", &s);
	cr_assert_eq(s.depth, 3);
	cr_assert_eq(s.in_flight, 0);
	cr_assert_eq(s.delayed, 1);
	cr_assert_eq(s.bytes, 26);
	cr_assert_eq(s.enqueued_total, 4);
	cr_assert_eq(s.dequeued_total, 0);
	cr_assert_eq(s.oldest_enqueued_ms, QT_T0);
	cr_assert_geq(s.segments, 1);

	cr_assert_eq(queue_lease(qt_st, "q", 1, 5000, &m, NULL), QUEUE_OK);
	cr_assert_eq(m.count, 1);
	uint64_t lease = m.items[0].lease;
	queue_msgs_free(&m);
	get_stats("q", &s);
	cr_assert_eq(s.depth, 2);
	cr_assert_eq(s.in_flight, 1);
	cr_assert_eq(s.delayed, 1);
	cr_assert_eq(s.bytes, 26);
	cr_assert_eq(s.leased_total, 1);

	cr_assert_eq(queue_pop(qt_st, "q", 1, &m, NULL), QUEUE_OK);
	cr_assert_eq(m.count, 1);
	cr_assert_eq(m.items[0].id, ids[1]);
	queue_msgs_free(&m);
	get_stats("q", &s);
	cr_assert_eq(s.depth, 1);
	cr_assert_eq(s.in_flight, 1);
	cr_assert_eq(s.bytes, 21);
	cr_assert_eq(s.dequeued_total, 1);
	cr_assert_eq(s.popped_total, 1);
	cr_assert_eq(s.oldest_enqueued_ms, QT_T0, "the leased message is still the oldest");

	cr_assert_eq(queue_ack(qt_st, "q", ids[0], lease, NULL), QUEUE_OK);
	get_stats("q", &s);
	cr_assert_eq(s.depth, 1);
	cr_assert_eq(s.in_flight, 0);
	cr_assert_eq(s.delayed, 1);
	cr_assert_eq(s.bytes, 18);
	cr_assert_eq(s.dequeued_total, 2);
	cr_assert_eq(s.acked_total, 1);
	cr_assert_eq(s.oldest_enqueued_ms, QT_T0);

	cr_assert_eq(queue_pop(qt_st, "q", 10, &m, NULL), QUEUE_OK);
	cr_assert_eq(m.count, 1);
	queue_msgs_free(&m);
	get_stats("q", &s);
	cr_assert_eq(s.oldest_enqueued_ms, QT_T0 + 10, "only the delayed message is left");
	cr_assert_eq(s.bytes, 11);

	qt_set_now(QT_T0 + 10 + 1001);
	queue_store_tick(qt_st);
	get_stats("q", &s);
	cr_assert_eq(s.depth, 1);
	cr_assert_eq(s.delayed, 0);
	cr_assert_eq(s.enqueued_total, 4);
	cr_assert_eq(s.dequeued_total, 3);

	cr_assert_eq(queue_pop(qt_st, "q", 10, &m, NULL), QUEUE_OK);
	cr_assert_eq(m.count, 1);
	queue_msgs_free(&m);
	get_stats("q", &s);
	cr_assert_eq(s.depth + s.in_flight + s.delayed + s.bytes, 0);
	cr_assert_eq(s.oldest_enqueued_ms, 0);
	cr_assert_eq(s.enqueued_total, 4);
	cr_assert_eq(s.dequeued_total, 4);
	cr_assert_eq(s.popped_total, 3);
}

Test(queue_store, stats_totals_survive_reopen)
{
	qt_enq("q", "a");
	qt_enq("q", "bb");
	struct queue_msgs m = { 0 };
	cr_assert_eq(queue_pop(qt_st, "q", 1, &m, NULL), QUEUE_OK);
	queue_msgs_free(&m);
	qt_reopen();
	struct queue_stats s;
	get_stats("q", &s);
	cr_assert_eq(s.depth, 1);
	cr_assert_eq(s.bytes, 2);
	cr_assert_eq(s.oldest_enqueued_ms, QT_T0);
	cr_assert_eq(s.enqueued_total, 2);
	cr_assert_eq(s.dequeued_total, 1);
}

Test(queue_store, purge_removes_every_message_for_good)
{
	struct queue_msgs m = { 0 };
	struct queue_stats s;
	struct queue_payload d = { "later", 5 };
	uint64_t last = 0;
	for (int i = 0; i < 5; i++)
		last = qt_enq("q", "msg");
	cr_assert_eq(queue_enqueue(qt_st, "q", &d, 1, 60000, NULL, NULL), QUEUE_OK);
	cr_assert_eq(queue_lease(qt_st, "q", 1, 60000, &m, NULL), QUEUE_OK);
	cr_assert_eq(m.count, 1);
	uint64_t leased = m.items[0].id, token = m.items[0].lease;
	queue_msgs_free(&m);

	cr_assert_eq(queue_purge(qt_st, "q", NULL), QUEUE_OK);
	get_stats("q", &s);
	cr_assert_eq(s.depth, 0);
	cr_assert_eq(s.in_flight, 0);
	cr_assert_eq(s.delayed, 0);
	cr_assert_eq(s.bytes, 0);
	cr_assert_eq(s.oldest_enqueued_ms, 0);
	cr_assert_eq(queue_ack(qt_st, "q", leased, token, NULL), QUEUE_NOMSG);
	cr_assert_eq(queue_pop(qt_st, "q", 10, &m, NULL), QUEUE_OK);
	cr_assert_eq(m.count, 0);
	queue_msgs_free(&m);

	uint64_t next = qt_enq("q", "fresh");
	cr_assert_gt(next, last);
	qt_reopen();
	qt_set_now(QT_T0 + 120000);
	queue_store_tick(qt_st);
	cr_assert_eq(queue_pop(qt_st, "q", 10, &m, NULL), QUEUE_OK);
	cr_assert_eq(m.count, 1, "purged messages must not come back after reopen");
	cr_assert_eq(m.items[0].id, next);
	queue_msgs_free(&m);
	cr_assert_eq(queue_purge(qt_st, "missing", NULL), QUEUE_NOTFOUND);
}

Test(queue_store, delete_removes_the_directory_and_a_new_queue_starts_afresh)
{
	struct queue_settings s, got;
	struct queue_stats stats;
	struct queue_msgs m = { 0 };
	char *q = qt_queue_dir("q");
	queue_settings_default(&s);
	s.lease_seconds = 99;
	cr_assert_eq(queue_put_settings(qt_st, "q", &s, QUEUE_SET_LEASE_SECONDS, NULL), QUEUE_OK);
	qt_enq("q", "old-1");
	qt_enq("q", "old-2");
	cr_assert(tu_exists(q));

	cr_assert_eq(queue_delete(qt_st, "q"), QUEUE_OK);
	cr_assert_not(tu_exists(q), "queues/q must be gone");
	cr_assert_eq(queue_stats(qt_st, "q", &stats), QUEUE_NOTFOUND);
	cr_assert_eq(queue_get_settings(qt_st, "q", &got), QUEUE_NOTFOUND);
	cr_assert_eq(queue_delete(qt_st, "q"), QUEUE_NOTFOUND);
	size_t count = 9;
	struct queue_stats *all = NULL;
	cr_assert_eq(queue_list(qt_st, &all, &count), QUEUE_OK);
	cr_assert_eq(count, 0);
	free(all);

	uint64_t id = qt_enq("q", "new");
	get_stats("q", &stats);
	cr_assert_eq(stats.depth, 1);
	cr_assert_eq(stats.enqueued_total, 1);
	cr_assert_eq(stats.dequeued_total, 0);
	cr_assert_eq(stats.settings.lease_seconds, 30);
	cr_assert_eq(queue_pop(qt_st, "q", 10, &m, NULL), QUEUE_OK);
	cr_assert_eq(m.count, 1);
	cr_assert_eq(m.items[0].id, id);
	cr_assert_eq(m.items[0].len, 3);
	cr_assert_eq(memcmp(m.items[0].payload, "new", 3), 0);
	queue_msgs_free(&m);
	free(q);
}

Test(queue_store, delete_survives_reopen)
{
	qt_enq("q", "gone");
	qt_enq("keep", "kept");
	cr_assert_eq(queue_delete(qt_st, "q"), QUEUE_OK);
	qt_reopen();
	struct queue_stats s;
	cr_assert_eq(queue_stats(qt_st, "q", &s), QUEUE_NOTFOUND);
	get_stats("keep", &s);
	cr_assert_eq(s.depth, 1);
	char *qs = tu_path(qt_dir, "queues");
	cr_assert_eq(tu_count_suffix(qs, ""), 1, "only keep/ is left under queues/");
	free(qs);
}

Test(queue_store, delete_while_leased_kills_the_lease)
{
	struct queue_msgs m = { 0 };
	uint64_t expires = 0;
	qt_enq("q", "a");
	qt_enq("q", "b");
	cr_assert_eq(queue_lease(qt_st, "q", 2, 60000, &m, NULL), QUEUE_OK);
	cr_assert_eq(m.count, 2);
	cr_assert_eq(queue_delete(qt_st, "q"), QUEUE_OK);
	/* The payloads borrowed before the delete stay readable until freed. */
	cr_assert_eq(memcmp(m.items[0].payload, "a", 1), 0);
	cr_assert_eq(queue_ack(qt_st, "q", m.items[0].id, m.items[0].lease, NULL), QUEUE_NOTFOUND);
	cr_assert_eq(queue_release(qt_st, "q", m.items[1].id, m.items[1].lease, 0, NULL), QUEUE_NOTFOUND);
	cr_assert_eq(queue_extend(qt_st, "q", m.items[1].id, m.items[1].lease, 1000, &expires, NULL),
		     QUEUE_NOTFOUND);
	queue_msgs_free(&m);
}

Test(queue_store, delete_of_a_missing_queue_is_notfound)
{
	cr_assert_eq(queue_delete(qt_st, "never"), QUEUE_NOTFOUND);
}

Test(queue_store, peek_of_a_missing_queue_is_empty)
{
	struct queue_msgs m = { 0 };
	cr_assert_eq(queue_peek(qt_st, "never", 10, &m), QUEUE_OK);
	cr_assert_eq(m.count, 0);
	queue_msgs_free(&m);
}

/* Each mapped segment file of qt_dir, in file name order, and whether its mapping has readahead off. */
struct mapped_seg {
	char path[512];
	bool random;
};

static size_t mapped_segments(struct mapped_seg *out, size_t max)
{
	FILE *fp = fopen("/proc/self/smaps", "r");
	char line[1024], path[512] = "";
	size_t n = 0;
	cr_assert_not_null(fp);
	while (fgets(line, sizeof(line), fp) != NULL) {
		unsigned long lo, hi;
		int at = 0;
		if (sscanf(line, "%lx-%lx %*s %*s %*s %*s %n", &lo, &hi, &at) == 2 && at > 0) {
			snprintf(path, sizeof(path), "%s", line + at);
			path[strcspn(path, "\n")] = '\0';
		} else if (strncmp(line, "VmFlags:", 8) == 0 && strstr(path, qt_dir) == path &&
			   strlen(path) > 4 && strcmp(path + strlen(path) - 4, ".seg") == 0 && n < max) {
			snprintf(out[n].path, sizeof(out[n].path), "%s", path);
			out[n++].random = strstr(line, " rr") != NULL;
		}
	}
	fclose(fp);
	for (size_t i = 1; i < n; i++) /* insertion sort by path: segment numbers are zero-padded */
		for (size_t j = i; j > 0 && strcmp(out[j - 1].path, out[j].path) > 0; j--) {
			struct mapped_seg t = out[j];
			out[j] = out[j - 1];
			out[j - 1] = t;
		}
	return n;
}

/*
 * msync writes back whole page-cache folios, and readahead on page faults
 * makes them up to 2 MiB: so the segment that takes appends is mapped with
 * readahead off (MADV_RANDOM, "rr" in smaps), new or recovered; segments
 * that are only read keep it.
 */
Test(queue_store, the_segment_taking_appends_has_readahead_off, .init = qt_setup_small,
     .fini = qt_teardown)
{
	struct mapped_seg segs[16];
	char text[2000];
	memset(text, 'x', sizeof(text) - 1);
	text[sizeof(text) - 1] = '\0';
	for (int i = 0; i < 20; i++)
		qt_enq("q", text);
	size_t n = mapped_segments(segs, 16);
	cr_assert_geq(n, 3, "20 messages of 2000 bytes fill at least 3 segments of 16 KiB");
	for (size_t i = 0; i < n; i++)
		cr_assert(segs[i].random, "new segment %s has readahead off", segs[i].path);

	qt_reopen();
	size_t m = mapped_segments(segs, 16);
	cr_assert_eq(m, n);
	for (size_t i = 0; i + 1 < m; i++)
		cr_assert(!segs[i].random, "recovered segment %s that is only read keeps readahead", segs[i].path);
	cr_assert(segs[m - 1].random, "recovered active segment %s has readahead off", segs[m - 1].path);
	qt_enq("q", "{\"after\":\"reopen\"}");
	cr_assert(mapped_segments(segs, 16) >= m);
	cr_assert(segs[m - 1].random);
}

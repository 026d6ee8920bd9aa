/* test_queue_diskfull.c: a full disk simulated through the allocation hook: clean errors, no SIGBUS, nothing lost. */
#include <criterion/criterion.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../queue/queue.h"
#include "testutil.h"

#define SEG 16384u
#define PAYLOAD 1000u
#define MAXMSG 512

static char *dir;
static struct queue_store *st;
static atomic_bool disk_full;
static atomic_int alloc_calls;
static atomic_int alloc_refused;
static uint64_t ids[MAXMSG];

/* full_disk_alloc is the hook: ENOSPC while disk_full is set, else posix_fallocate. */
static int full_disk_alloc(int fd, off_t offset, off_t len)
{
	atomic_fetch_add(&alloc_calls, 1);
	if (atomic_load(&disk_full)) {
		atomic_fetch_add(&alloc_refused, 1);
		return ENOSPC;
	}
	return posix_fallocate(fd, offset, len);
}

static void reopen_with(uint64_t min_free)
{
	struct queue_store_options o;
	if (st != NULL)
		cr_assert_eq(queue_store_close(st), QUEUE_OK);
	st = NULL;
	queue_store_options_default(&o);
	o.sync = QUEUE_SYNC_ALWAYS;
	o.first_segment_bytes = SEG;
	o.max_segment_bytes = SEG;
	o.allocate = full_disk_alloc;
	o.min_free_bytes = min_free;
	cr_assert_eq(queue_store_open(dir, &o, &st, NULL), QUEUE_OK);
}

static void setup(void)
{
	atomic_store(&disk_full, false);
	atomic_store(&alloc_calls, 0);
	atomic_store(&alloc_refused, 0);
	dir = tu_tempdir();
	st = NULL;
	reopen_with(0);
}

static void teardown(void)
{
	queue_store_close(st);
	st = NULL;
	tu_rmrf(dir);
	free(dir);
}

TestSuite(queue_diskfull, .init = setup, .fini = teardown, .timeout = 60);

static void make_payload(char *buf, int i)
{
	memset(buf, 'a' + i % 26, PAYLOAD);
	snprintf(buf, 16, "d%05d", i);
	buf[6] = ':';
}

static enum queue_err enq(const char *name, int i)
{
	char buf[PAYLOAD];
	struct queue_payload p = { buf, PAYLOAD };
	make_payload(buf, i);
	return queue_enqueue(st, name, &p, 1, 0, &ids[i], NULL);
}

/* expect_messages pops everything of name and checks it is exactly messages first..first+n-1. */
static void expect_messages(const char *name, int first, int n)
{
	char buf[PAYLOAD];
	struct queue_msgs m = { 0 };
	cr_assert_eq(queue_pop(st, name, QUEUE_BATCH_MAX, &m, NULL), QUEUE_OK);
	cr_assert_eq(m.count, (size_t)n);
	for (int k = 0; k < n; k++) {
		make_payload(buf, first + k);
		cr_assert_eq(m.items[k].id, ids[first + k]);
		cr_assert_eq(m.items[k].len, PAYLOAD);
		cr_assert_eq(memcmp(m.items[k].payload, buf, PAYLOAD), 0, "message %d", first + k);
	}
	queue_msgs_free(&m);
}

/* fill_until_full enqueues with the disk full until QUEUE_DISKFULL and returns how many went in. */
static int fill_until_full(const char *name)
{
	cr_assert_eq(queue_put_settings(st, name, NULL, 0, NULL), QUEUE_OK);
	atomic_store(&disk_full, true);
	int n = 0;
	enum queue_err e;
	while ((e = enq(name, n)) == QUEUE_OK) {
		n++;
		cr_assert_lt(n, 40, "a 16 KiB segment cannot hold 40 KB: a roll must have been needed");
	}
	cr_assert_eq(e, QUEUE_DISKFULL, "got %s", queue_strerror(e));
	cr_assert_gt(n, 3, "the first segment holds several messages");
	cr_assert_gt(atomic_load(&alloc_refused), 0, "the hook was asked");
	return n;
}

/* qdir_clean checks that the queue directory holds only queue.meta and 20-digit .seg files. */
static void qdir_clean(const char *name)
{
	char *qs = tu_path(dir, "queues");
	char *q = tu_path(qs, name);
	DIR *d = opendir(q);
	struct dirent *e;
	cr_assert_not_null(d);
	while ((e = readdir(d)) != NULL) {
		const char *n = e->d_name;
		if (strcmp(n, ".") == 0 || strcmp(n, "..") == 0 || strcmp(n, "queue.meta") == 0)
			continue;
		cr_assert(strlen(n) == 24 && strspn(n, "0123456789") == 20 && strcmp(n + 20, ".seg") == 0,
			  "leftover file %s", n);
	}
	closedir(d);
	free(q);
	free(qs);
}

Test(queue_diskfull, roll_on_full_disk_is_a_clean_error_and_data_stays)
{
	struct queue_stats s;
	int n = fill_until_full("q");
	cr_assert_eq(enq("q", n), QUEUE_DISKFULL, "still full");
	cr_assert_eq(queue_stats(st, "q", &s), QUEUE_OK);
	cr_assert_eq(s.depth, (uint64_t)n);
	cr_assert_eq(s.enqueued_total, (uint64_t)n);
	cr_assert_eq(s.bytes, (uint64_t)n * PAYLOAD);
	cr_assert_not(s.failed, "a full disk is not a failed sync");
	qdir_clean("q");
	/* Reads work while the disk is full. */
	struct queue_msgs m = { 0 };
	cr_assert_eq(queue_peek(st, "q", QUEUE_BATCH_MAX, &m), QUEUE_OK);
	cr_assert_eq(m.count, (size_t)n);
	queue_msgs_free(&m);

	atomic_store(&disk_full, false);
	cr_assert_eq(enq("q", n), QUEUE_OK);
	cr_assert_eq(enq("q", n + 1), QUEUE_OK);
	cr_assert_gt(ids[n], ids[n - 1]);
	reopen_with(0);
	expect_messages("q", 0, n + 2);
}

Test(queue_diskfull, batch_needing_a_roll_on_full_disk_stores_nothing)
{
	char bufs[20][PAYLOAD];
	struct queue_payload p[20];
	struct queue_stats s;
	cr_assert_eq(enq("q", 0), QUEUE_OK);
	cr_assert_eq(enq("q", 1), QUEUE_OK);
	for (int k = 0; k < 20; k++) {
		make_payload(bufs[k], 2 + k);
		p[k] = (struct queue_payload){ bufs[k], PAYLOAD };
	}
	atomic_store(&disk_full, true);
	cr_assert_eq(queue_enqueue(st, "q", p, 20, 0, &ids[2], NULL), QUEUE_DISKFULL);
	cr_assert_eq(queue_stats(st, "q", &s), QUEUE_OK);
	cr_assert_eq(s.depth, 2);
	cr_assert_eq(s.enqueued_total, 2);
	reopen_with(0);
	cr_assert_eq(queue_stats(st, "q", &s), QUEUE_OK);
	cr_assert_eq(s.depth, 2, "no part of the refused batch may appear after reopening");
	atomic_store(&disk_full, false);
	cr_assert_eq(queue_enqueue(st, "q", p, 20, 0, &ids[2], NULL), QUEUE_OK);
	expect_messages("q", 0, 22);
}

Test(queue_diskfull, removal_on_full_disk_is_all_or_nothing)
{
	int n = fill_until_full("q");
	struct queue_msgs m = { 0 };
	int removed = 0;
	/* Control records need room too: each removal either happens or is refused with nothing changed. */
	for (int k = 0; k < n; k++) {
		enum queue_err e = queue_pop(st, "q", 1, &m, NULL);
		cr_assert(e == QUEUE_OK || e == QUEUE_DISKFULL, "pop: %s", queue_strerror(e));
		if (e == QUEUE_OK) {
			cr_assert_eq(m.count, 1);
			cr_assert_eq(m.items[0].id, ids[removed]);
			removed++;
		}
		queue_msgs_free(&m);
		memset(&m, 0, sizeof(m));
		if (e == QUEUE_DISKFULL)
			break;
	}
	struct queue_stats s;
	cr_assert_eq(queue_stats(st, "q", &s), QUEUE_OK);
	cr_assert_eq(s.depth, (uint64_t)(n - removed));
	atomic_store(&disk_full, false);
	reopen_with(0);
	expect_messages("q", removed, n - removed);
}

Test(queue_diskfull, creating_a_queue_on_full_disk_fails_cleanly)
{
	struct queue_settings got;
	struct queue_payload p = { "{}", 2 };
	bool created = true;
	char *qs = tu_path(dir, "queues");
	char *newq = tu_path(qs, "newq");
	cr_assert_eq(queue_put_settings(st, "existing", NULL, 0, NULL), QUEUE_OK);
	atomic_store(&disk_full, true);
	cr_assert_eq(queue_put_settings(st, "newq", NULL, 0, &created), QUEUE_DISKFULL);
	cr_assert_eq(queue_get_settings(st, "newq", &got), QUEUE_NOTFOUND);
	cr_assert_eq(queue_enqueue(st, "auto", &p, 1, 0, NULL, NULL), QUEUE_DISKFULL);
	cr_assert_eq(queue_get_settings(st, "auto", &got), QUEUE_NOTFOUND);
	cr_assert_not(tu_exists(newq));
	cr_assert_eq(tu_count_suffix(qs, ""), 1, "only existing/ may be under queues/, no temporary leftovers");
	struct queue_stats *all = NULL;
	size_t count = 0;
	cr_assert_eq(queue_list(st, &all, &count), QUEUE_OK);
	cr_assert_eq(count, 1);
	cr_assert_str_eq(all[0].name, "existing");
	free(all);

	atomic_store(&disk_full, false);
	cr_assert_eq(queue_put_settings(st, "newq", NULL, 0, &created), QUEUE_OK);
	cr_assert(created);
	cr_assert_eq(queue_enqueue(st, "auto", &p, 1, 0, NULL, NULL), QUEUE_OK);
	reopen_with(0);
	cr_assert_eq(queue_get_settings(st, "newq", &got), QUEUE_OK);
	cr_assert_eq(queue_list(st, &all, &count), QUEUE_OK);
	cr_assert_eq(count, 3);
	free(all);
	free(newq);
	free(qs);
}

Test(queue_diskfull, reopen_after_disk_full_recovers_everything)
{
	int n = fill_until_full("q");
	cr_assert_eq(queue_store_close(st), QUEUE_OK);
	st = NULL;
	atomic_store(&disk_full, false);
	reopen_with(0);
	expect_messages("q", 0, n);
	cr_assert_eq(enq("q", n), QUEUE_OK);
	cr_assert_gt(ids[n], ids[n - 1]);
}

Test(queue_diskfull, min_free_bytes_refuses_writes_but_not_reads)
{
	struct queue_msgs m = { 0 };
	cr_assert_eq(enq("q", 0), QUEUE_OK);
	reopen_with(UINT64_MAX / 4);
	cr_assert_eq(enq("q", 1), QUEUE_DISKFULL);
	cr_assert_eq(queue_peek(st, "q", 10, &m), QUEUE_OK);
	cr_assert_eq(m.count, 1);
	cr_assert_eq(m.items[0].id, ids[0]);
	queue_msgs_free(&m);
	reopen_with(0);
	cr_assert_eq(enq("q", 1), QUEUE_OK);
	expect_messages("q", 0, 2);
}

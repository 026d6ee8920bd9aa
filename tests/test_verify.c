/* test_verify.c: mmqd verify and verify --repair on clean, torn and damaged data directories. */
#include <criterion/criterion.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../queue/queue.h"
#include "httptest.h"
#include "testutil.h"

TestSuite(verify, .timeout = 60);

/* Small segments, so a few dozen messages fill several of them. */
#define SEG_BYTES 16384u
#define PAYLOAD_BYTES 1000u
#define NMSGS 40

/*
 * run_verify runs "$MMQD verify --data-dir DATA" plus args (NULL-terminated,
 * may be NULL), capturing stdout and stderr into *out. Returns the exit status.
 */
static int run_verify(const char *data, const char *const *args, char **out)
{
	const char *argv[16];
	int argc = 0;

	argv[argc++] = "verify";
	if (data != NULL) {
		argv[argc++] = "--data-dir";
		argv[argc++] = data;
	}
	for (int i = 0; args != NULL && args[i] != NULL && argc < 15; i++)
		argv[argc++] = args[i];
	argv[argc] = NULL;
	return ht_run_mmqd(argv, out);
}

/* expect_verify runs verify, checks its exit status and that its output holds every string of want. */
static void expect_verify(const char *const *args, int status, const char *const *want)
{
	char *out = NULL;
	int rc = run_verify(ht_srv.data, args, &out);

	cr_assert_eq(rc, status, "mmqd verify exited %d, not %d; it said:\n%s", rc, status, out);
	for (int i = 0; want != NULL && want[i] != NULL; i++)
		cr_assert_not_null(strstr(out, want[i]), "no \"%s\" in:\n%s", want[i], out);
	free(out);
}

static struct queue_store *open_engine(void)
{
	struct queue_store_options o;
	struct queue_store *st = NULL;

	queue_store_options_default(&o);
	o.sync = QUEUE_SYNC_NONE;
	o.first_segment_bytes = SEG_BYTES;
	o.max_segment_bytes = SEG_BYTES;
	cr_assert_eq(queue_store_open(ht_srv.data, &o, &st, NULL), QUEUE_OK);
	return st;
}

/* fill writes NMSGS messages of PAYLOAD_BYTES to queue "jobs" and one to "mail", with the engine. */
static void fill(void)
{
	struct queue_store *st = open_engine();
	char buf[PAYLOAD_BYTES + 1];
	struct queue_payload p = { buf, PAYLOAD_BYTES };

	memset(buf, 'x', sizeof(buf));
	for (int i = 0; i < NMSGS; i++) {
		int n = snprintf(buf, sizeof(buf), "{\"n\":%d,\"pad\":\"", i);
		buf[n] = 'x';
		memcpy(buf + PAYLOAD_BYTES - 2, "\"}", 2);
		cr_assert_eq(queue_enqueue(st, "jobs", &p, 1, 0, NULL, NULL), QUEUE_OK);
	}
	p.len = 2;
	cr_assert_eq(queue_enqueue(st, "mail", &p, 1, 0, NULL, NULL), QUEUE_OK);
	cr_assert_eq(queue_store_close(st), QUEUE_OK);
}

/* messages opens the data directory with the engine and returns the messages of queue name. */
static uint64_t messages(const char *name)
{
	struct queue_store *st = open_engine();
	struct queue_stats s;

	cr_assert_eq(queue_stats(st, name, &s), QUEUE_OK);
	cr_assert_eq(queue_store_close(st), QUEUE_OK);
	return s.depth + s.in_flight + s.delayed;
}

/* segment returns the path of segment i of queue "jobs" (-1: the last), their number in *count. */
static char *segment(int i, size_t *count)
{
	char *qdir = tu_path(ht_srv.data, "queues/jobs"), **v = NULL, *path;
	size_t n = tu_segments(qdir, &v);

	cr_assert_gt(n, 0);
	path = strdup(v[i < 0 ? n - 1 : (size_t)i]);
	if (count != NULL)
		*count = n;
	tu_strv_free(v, n);
	free(qdir);
	return path;
}

/* segment_name returns the file name part of path. */
static const char *segment_name(const char *path)
{
	return strrchr(path, '/') + 1;
}

Test(verify, clean_dir_written_by_mmqd_exits_0_with_figures, .init = ht_setup, .fini = ht_stop)
{
	struct th_resp r;

	cr_assert(th_start(&ht_srv, NULL));
	for (int i = 0; i < 3; i++) {
		cr_assert_eq(th_call(&ht_srv, "POST", "/v1/queues/jobs/messages", "{\"a\":1}", &r), 201);
		th_resp_free(&r);
	}
	cr_assert_eq(th_call(&ht_srv, "POST", "/v1/queues/jobs/messages/pop", NULL, &r), 200);
	th_resp_free(&r);
	cr_assert_eq(th_stop(&ht_srv, SIGTERM), 0);
	/* 3 data records and a pop; the popped message's 2 records are dead, and the header page. */
	expect_verify(NULL, 0,
		      (const char *const[]){ "data dir ", ": 1 queues\n",
					     "queue jobs: 4 records, 2 messages, 1 segments, "
					     "112 live bytes, 104 dead bytes: ok\n",
					     "result: clean\n", NULL });
}

Test(verify, refuses_while_mmqd_runs, .init = ht_setup, .fini = ht_stop)
{
	cr_assert(th_start(&ht_srv, NULL));
	expect_verify(NULL, 2,
		      (const char *const[]){ "is in use by a running mmqd; stop it first", NULL });
	expect_verify((const char *const[]){ "--repair", NULL }, 2,
		      (const char *const[]){ "is in use by a running mmqd", NULL });
	cr_assert_eq(th_stop(&ht_srv, SIGTERM), 0, "the server was not disturbed");
	expect_verify(NULL, 0, (const char *const[]){ "result: clean\n", NULL });
}

Test(verify, usage_errors_exit_2, .init = ht_setup, .fini = ht_stop)
{
	char *out = NULL;

	cr_assert_eq(run_verify(ht_srv.data, (const char *const[]){ "--bogus", NULL }, &out), 2);
	cr_assert_not_null(strstr(out, "unknown option \"--bogus\""), "%s", out);
	free(out);
	cr_assert_eq(run_verify(NULL, (const char *const[]){ "--data-dir", NULL }, &out), 2);
	cr_assert_not_null(strstr(out, "missing value for \"--data-dir\""), "%s", out);
	free(out);
	cr_assert_eq(run_verify(ht_srv.data, NULL, &out), 2, "a missing data dir is not created");
	cr_assert_not_null(strstr(out, "No such file or directory"), "%s", out);
	cr_assert_eq(tu_exists(ht_srv.data), 0);
	free(out);
	cr_assert_eq(run_verify(NULL, (const char *const[]){ "--help", NULL }, &out), 0);
	cr_assert_not_null(strstr(out, "Usage: mmqd verify [--data-dir DIR] [--repair]"), "%s", out);
	free(out);
}

Test(verify, clean_dir_with_several_segments_exits_0, .init = ht_setup, .fini = ht_stop)
{
	size_t n = 0;

	fill();
	free(segment(0, &n));
	cr_assert_geq(n, 4);
	expect_verify(NULL, 0,
		      (const char *const[]){ ": 2 queues\n", "queue jobs: 40 records, 40 messages, ",
					     "queue mail: 1 records, 1 messages, 1 segments, ",
					     "result: clean\n", NULL });
	expect_verify((const char *const[]){ "--repair", NULL }, 0,
		      (const char *const[]){ ": 0 problems found\n", "check after repair:\n",
					     "result: clean\n", NULL });
}

Test(verify, garbled_bytes_after_the_last_record_are_a_torn_tail, .init = ht_setup,
     .fini = ht_stop)
{
	struct tu_record rec[64];
	char *seg, at[128], garbage[16] = "garbage!garbage";
	unsigned char back[8];
	size_t n;

	fill();
	seg = segment(-1, NULL);
	n = tu_seg_records(seg, rec, 64);
	cr_assert_gt(n, 0);
	uint64_t end = rec[n - 1].off + rec[n - 1].size;
	cr_assert_eq(tu_file_write(seg, end, garbage, sizeof(garbage)), 0);
	snprintf(at, sizeof(at), "  problem: %s offset %llu: torn tail", segment_name(seg),
		 (unsigned long long)end);
	expect_verify(NULL, 1,
		      (const char *const[]){ "queue jobs: 40 records, 40 messages, ", ": PROBLEMS\n",
					     at, "--repair cuts it", "queue mail: 1 records, 1 messages",
					     "result: problems found; with mmqd stopped, run: mmqd "
					     "verify --repair",
					     NULL });
	cr_assert_eq(tu_file_read(seg, end, back, sizeof(back)), 0);
	cr_assert_eq(memcmp(back, garbage, sizeof(back)), 0, "a plain verify changes nothing");
	snprintf(at, sizeof(at), "  jobs: %s offset %llu: torn tail", segment_name(seg),
		 (unsigned long long)end);
	expect_verify((const char *const[]){ "--repair", NULL }, 0,
		      (const char *const[]){ ": 1 problems found:\n", at,
					     "cut: the bytes after the last valid record are zeroed",
					     "check after repair:\n", "queue jobs: 40 records, 40 messages",
					     "result: clean\n", NULL });
	expect_verify(NULL, 0, (const char *const[]){ "result: clean\n", NULL });
	cr_assert_eq(messages("jobs"), NMSGS, "every intact record is kept");
	free(seg);
}

Test(verify, truncated_last_record_is_cut_by_repair, .init = ht_setup, .fini = ht_stop)
{
	struct tu_record rec[64];
	char *seg, at[128];
	size_t n;

	fill();
	seg = segment(-1, NULL);
	n = tu_seg_records(seg, rec, 64);
	cr_assert_gt(n, 0);
	/* Cut inside the record's header. (A cut inside a body of a cleanly closed log is not
	 * seen at open: bodies before the recovery point are checked only when served.) */
	cr_assert_eq(tu_file_truncate(seg, rec[n - 1].off + 20), 0);
	snprintf(at, sizeof(at), "  problem: %s offset %llu: torn tail", segment_name(seg),
		 (unsigned long long)rec[n - 1].off);
	expect_verify(NULL, 1,
		      (const char *const[]){ "queue jobs: 39 records, 39 messages", at, NULL });
	expect_verify((const char *const[]){ "--repair", NULL }, 0,
		      (const char *const[]){ "cut: ", "queue jobs: 39 records, 39 messages",
					     "result: clean\n", NULL });
	expect_verify(NULL, 0, (const char *const[]){ "result: clean\n", NULL });
	cr_assert_eq(messages("jobs"), NMSGS - 1);
	free(seg);
}

Test(verify, damaged_segment_header_is_moved_aside_by_repair, .init = ht_setup,
     .fini = ht_stop)
{
	struct tu_record rec[64];
	char *seg, at[128], *aside;
	size_t nsegs = 0, lost;

	fill();
	seg = segment(1, &nsegs);
	cr_assert_geq(nsegs, 4);
	lost = tu_seg_records(seg, rec, 64);
	cr_assert_gt(lost, 0);
	cr_assert_eq(tu_file_xor(seg, 20, 0x01), 0); /* a bit of its first seq: the header CRC fails */
	snprintf(at, sizeof(at), "  problem: %s offset 0: damaged segment header", segment_name(seg));
	expect_verify(NULL, 1,
		      (const char *const[]){ at, "--repair moves the file aside", NULL });
	snprintf(at, sizeof(at), "moved aside to %s.damaged", segment_name(seg));
	expect_verify((const char *const[]){ "--repair", NULL }, 0,
		      (const char *const[]){ at, "check after repair:\n", "result: clean\n", NULL });
	aside = malloc(strlen(seg) + 16);
	sprintf(aside, "%s.damaged", seg);
	cr_assert(tu_exists(aside), "%s is kept for inspection", aside);
	cr_assert_not(tu_exists(seg));
	expect_verify(NULL, 0, (const char *const[]){ "result: clean\n", NULL });
	cr_assert_eq(messages("jobs"), NMSGS - lost, "only the records of that segment are lost");
	cr_assert_eq(messages("mail"), 1);
	free(aside);
	free(seg);
}

Test(verify, damaged_record_in_an_earlier_segment_cannot_be_repaired, .init = ht_setup,
     .fini = ht_stop)
{
	struct tu_record rec[64];
	char *seg, at[160];
	size_t n;

	fill();
	seg = segment(0, NULL);
	n = tu_seg_records(seg, rec, 64);
	cr_assert_geq(n, 3);
	cr_assert_eq(tu_file_xor(seg, rec[n / 2].off + 25, 0x01), 0); /* a timestamp bit */
	snprintf(at, sizeof(at), "  problem: %s offset %llu: damaged record (cannot be repaired",
		 segment_name(seg), (unsigned long long)rec[n / 2].off);
	expect_verify(NULL, 1,
		      (const char *const[]){ "queue jobs: 39 records, 39 messages", at, NULL });
	expect_verify((const char *const[]){ "--repair", NULL }, 1,
		      (const char *const[]){ ": 1 problems found:\n",
					     "damaged record: cannot be repaired", at,
					     "result: damage remains that --repair cannot fix", NULL });
	expect_verify(NULL, 1,
		      (const char *const[]){ at, "result: damage remains that --repair cannot fix",
					     NULL });
	cr_assert_eq(messages("jobs"), NMSGS - 1, "the intact records around it are kept");
	free(seg);
}

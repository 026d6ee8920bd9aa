/* test_http_diskfull.c: mmqd on a really full file system: 507, nothing acknowledged lost. */
#include <criterion/criterion.h>
#include <cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include "httptest.h"
#include "testutil.h"

/*
 * Each test mounts a small file system of its own on the server's data
 * directory: an ext4 image on a loop device (posix_fallocate really reserves
 * blocks there, as on a production disk), or a tmpfs where loop devices are
 * missing. It needs root; without it every test is skipped. Filler files on
 * the same file system use up the space precisely.
 */

#define PAYLOAD_PAD 16000 /* bytes of padding per message: about 16 KiB each */
#define MAX_MSGS 1000	  /* what one peek can show */

static char *image;   /* the ext4 image, NULL when on tmpfs */
static bool mounted;
static char *payloads[MAX_MSGS + 1]; /* payloads[k]: the k-th acknowledged message */
static uint64_t ids[MAX_MSGS + 1];
static size_t acked;

/* mount_ext4 makes an ext4 image of mib MiB and mounts it on ht_srv.data; false when it cannot. */
static bool mount_ext4(unsigned mib)
{
	char size[32];
	int fd;

	image = tu_path(ht_srv.dir, "disk.img");
	fd = open(image, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	if (fd < 0 || ftruncate(fd, (off_t)mib << 20) != 0) {
		if (fd >= 0)
			close(fd);
		return false;
	}
	close(fd);
	snprintf(size, sizeof(size), "%u", mib);
	/* -m 0: no blocks reserved for root, so statvfs's f_bavail is the whole truth. */
	if (th_run((const char *const[]){ "mkfs.ext4", "-q", "-F", "-m", "0", image, NULL }, NULL) != 0)
		return false;
	return th_run((const char *const[]){ "mount", "-o", "loop", image, ht_srv.data, NULL }, NULL) == 0;
}

/* mount_small mounts mib MiB of ext4 (or tmpfs) on ht_srv.data, or skips the test. */
static void mount_small(unsigned mib, bool tmpfs)
{
	char opt[32];

	if (geteuid() != 0)
		cr_skip_test("needs root to mount a small file system (run the suite as root)");
	cr_assert_eq(mkdir(ht_srv.data, 0755), 0);
	mounted = !tmpfs && mount_ext4(mib);
	if (!mounted) {
		free(image);
		image = NULL;
		snprintf(opt, sizeof(opt), "size=%um", mib);
		mounted = th_run((const char *const[]){ "mount", "-t", "tmpfs", "-o", opt, "tmpfs",
						     ht_srv.data, NULL }, NULL) == 0;
	}
	if (!mounted)
		cr_skip_test("cannot mount a loop ext4 image nor a tmpfs here");
	cr_log_info("data directory on %s of %u MiB", image ? "a loop-mounted ext4 image" : "tmpfs",
		    mib);
}

/* free_bytes returns the space an unprivileged writer could still use on the data's file system. */
static uint64_t free_bytes(void)
{
	struct statvfs sv;

	cr_assert_eq(statvfs(ht_srv.data, &sv), 0);
	return (uint64_t)sv.f_bavail * sv.f_frsize;
}

/*
 * fill reserves space in the filler file name on the data's file system
 * until at most leave bytes are free, in ever smaller pieces at the end.
 */
static void fill(const char *name, uint64_t leave)
{
	char *path = tu_path(ht_srv.data, name);
	int fd = open(path, O_WRONLY | O_CREAT | O_APPEND, 0600);
	off_t end;

	cr_assert_geq(fd, 0);
	end = lseek(fd, 0, SEEK_END);
	for (off_t piece = 1 << 20; piece >= 1024; piece /= 4) {
		while (free_bytes() > leave + (uint64_t)piece && posix_fallocate(fd, end, piece) == 0)
			end += piece;
	}
	while (leave == 0 && free_bytes() > 0 && posix_fallocate(fd, end, 1024) == 0)
		end += 1024;
	close(fd);
	free(path);
}

/* unfill removes the filler file name. */
static void unfill(const char *name)
{
	char *path = tu_path(ht_srv.data, name);
	cr_assert_eq(unlink(path), 0);
	free(path);
}

static void setup(void)
{
	ht_setup();
	image = NULL;
	mounted = false;
	acked = 0;
}

/* teardown stops the server, unmounts, judges the server's exit as th_teardown does, cleans up. */
static void teardown(void)
{
	int status = ht_srv.pid > 0 ? th_stop(&ht_srv, SIGTERM) : 0;

	if (mounted && th_run((const char *const[]){ "umount", ht_srv.data, NULL }, NULL) != 0)
		th_run((const char *const[]){ "umount", "-l", ht_srv.data, NULL }, NULL);
	if (status == TH_TOOL_ERROR || status >= 128) {
		fprintf(stderr, "test_http_diskfull: mmqd exited with status %d on SIGTERM\n", status);
		abort(); /* a SIGBUS or a sanitizer finding: fail the binary, as th_teardown does */
	}
	ht_stop();
	if (image != NULL)
		unlink(image);
	free(image);
	for (size_t i = 0; i < acked; i++)
		free(payloads[i]);
}

TestSuite(http_diskfull, .init = setup, .fini = teardown, .timeout = 180);

/* make_payload returns message k's payload: {"n":k,"pad":"k.k.k...."} (caller frees). */
static char *make_payload(size_t k)
{
	char *p = malloc(PAYLOAD_PAD + 64), unit[24];
	size_t len, ulen = (size_t)snprintf(unit, sizeof(unit), "%zu.", k);

	cr_assert_not_null(p);
	len = (size_t)snprintf(p, 64, "{\"n\":%zu,\"pad\":\"", k);
	for (size_t i = 0; i < PAYLOAD_PAD; i++)
		p[len++] = unit[i % ulen];
	memcpy(p + len, "\"}", 3);
	return p;
}

/* enqueue sends the next message to q and returns the status; a 201 is remembered. */
static long enqueue(const char *q)
{
	char path[128];
	char *p = make_payload(acked);
	struct th_resp r;
	long status;

	snprintf(path, sizeof(path), "/v1/queues/%s/messages", q);
	status = th_call(&ht_srv, "POST", path, p, &r);
	if (status == 201) {
		cr_assert_lt(acked, MAX_MSGS, "the file system holds more than one peek can show");
		cr_assert_eq(sscanf(r.body, "{\"id\":%lu}", &ids[acked]), 1, "%s", r.body);
		payloads[acked++] = p;
	} else {
		cr_assert_eq(status, 507, "enqueue answered %ld %s", status, r.body);
		cr_assert_not_null(strstr(r.body, "\"code\":\"disk_full\""), "%s", r.body);
		free(p);
	}
	th_resp_free(&r);
	return status;
}

/* post_small enqueues a small message to q, not remembered; returns the status. */
static long post_small(const char *q)
{
	char path[128];
	struct th_resp r;
	long status;

	snprintf(path, sizeof(path), "/v1/queues/%s/messages", q);
	status = th_call(&ht_srv, "POST", path, "{\"small\":true}", &r);
	th_resp_free(&r);
	return status;
}

/* enqueue_until_refused enqueues to q until it answers 507 disk_full; returns how many it took. */
static size_t enqueue_until_refused(const char *q)
{
	size_t before = acked;

	while (enqueue(q) == 201)
		;
	return acked - before;
}

static void healthy(void)
{
	struct th_resp r;
	cr_assert_eq(th_call(&ht_srv, "GET", "/healthz", NULL, &r), 200, "the server still answers");
	th_resp_free(&r);
}

/* expect_exact checks that body holds every acknowledged message byte for byte, and no other. */
static void expect_exact(const char *body)
{
	cJSON *root = cJSON_Parse(body);
	const cJSON *msgs = cJSON_GetObjectItem(root, "messages");
	size_t need = PAYLOAD_PAD + 128;
	char *want = malloc(need);

	cr_assert(cJSON_IsArray(msgs), "%.200s", body);
	cr_assert_eq((size_t)cJSON_GetArraySize(msgs), acked, "messages served vs acknowledged");
	for (size_t k = 0; k < acked; k++) {
		snprintf(want, need, "{\"id\":%lu,\"payload\":%s,", ids[k], payloads[k]);
		cr_assert_not_null(strstr(body, want), "message %lu is missing or changed", ids[k]);
	}
	free(want);
	cJSON_Delete(root);
}

/* expect_all_peekable peeks at queue q and checks every acknowledged message is there. */
static void expect_all_peekable(const char *q)
{
	char path[128];
	struct th_resp r;

	snprintf(path, sizeof(path), "/v1/queues/%s/messages?limit=%d", q, MAX_MSGS);
	cr_assert_eq(th_call(&ht_srv, "GET", path, NULL, &r), 200, "%s", r.body);
	expect_exact(r.body);
	th_resp_free(&r);
}

/* expect_all_poppable pops queue q empty and checks it returned every acknowledged message. */
static void expect_all_poppable(const char *q)
{
	char path[128];
	struct th_resp r;

	snprintf(path, sizeof(path), "/v1/queues/%s/messages/pop?limit=%d", q, MAX_MSGS);
	cr_assert_eq(th_call(&ht_srv, "POST", path, NULL, &r), 200, "%s", r.body);
	expect_exact(r.body);
	th_resp_free(&r);
	cr_assert_eq(th_call(&ht_srv, "POST", path, NULL, &r), 200);
	cr_assert_str_eq(r.body, "{\"messages\":[]}");
	th_resp_free(&r);
}

/* expect_big_batch_refused sends q a batch larger than its segment's room left: 507. */
static void expect_big_batch_refused(const char *q)
{
	char path[128], *one = make_payload(MAX_MSGS), *batch = malloc(3 * PAYLOAD_PAD + 256);
	struct th_resp r;

	sprintf(batch, "[%s,%s]", one, one);
	snprintf(path, sizeof(path), "/v1/queues/%s/messages/batch", q);
	cr_assert_eq(th_call(&ht_srv, "POST", path, batch, &r), 507, "batch answered %ld %s", r.status,
		     r.body);
	th_resp_free(&r);
	free(batch);
	free(one);
}

/*
 * pop_one_on_full_disk pops one message of q. Removing needs a record
 * written, so on a full disk either answer is right: 507 with the message
 * kept, or 200 with exactly the oldest acknowledged message, then gone.
 */
static void pop_one_on_full_disk(const char *q)
{
	char path[128], *want;
	struct th_resp r;
	size_t need = PAYLOAD_PAD + 128;

	snprintf(path, sizeof(path), "/v1/queues/%s/messages/pop?limit=1", q);
	th_call(&ht_srv, "POST", path, NULL, &r);
	cr_log_info("a pop on the full disk answered %ld", r.status);
	if (r.status == 507) {
		cr_assert_not_null(strstr(r.body, "\"code\":\"disk_full\""), "%s", r.body);
		th_resp_free(&r);
		return;
	}
	cr_assert_eq(r.status, 200, "%s", r.body);
	want = malloc(need);
	snprintf(want, need, "{\"messages\":[{\"id\":%lu,\"payload\":%s,", ids[0], payloads[0]);
	cr_assert_eq(strncmp(r.body, want, strlen(want)), 0, "the pop did not return the oldest");
	free(want);
	th_resp_free(&r);
	free(payloads[0]);
	memmove(payloads, payloads + 1, (acked - 1) * sizeof(payloads[0]));
	memmove(ids, ids + 1, (acked - 1) * sizeof(ids[0]));
	acked--;
}

/*
 * full_disk_flow fills a 16 MiB file system through the API until 507, then
 * to the last block, and checks that every acknowledged message stays
 * readable (also across a restart on the full disk) and that writes resume
 * once the filler files are removed.
 */
static void full_disk_flow(bool tmpfs)
{
	struct th_resp r;

	mount_small(16, tmpfs);
	/* 4 MiB free: room for the first segments (1 and 2 MiB), not for the third (4 MiB). */
	fill("filler1", 4u << 20);
	cr_assert(th_start(&ht_srv, NULL), "mmqd did not start");
	cr_assert_gt(enqueue_until_refused("q"), 0);
	cr_log_info("%zu messages acknowledged, then 507 with %lu bytes free", acked,
		    (unsigned long)free_bytes());
	healthy();

	/* Now the last block: segment files, a new queue and a restart all meet ENOSPC. */
	fill("filler2", 0);
	cr_assert_lt(free_bytes(), 64u << 10, "the file system is not full: %lu bytes free",
		     (unsigned long)free_bytes());
	cr_assert_eq(enqueue("q"), 507);
	cr_assert_eq(post_small("fresh"), 507, "creating a queue on a full disk");
	cr_assert_eq(th_call(&ht_srv, "PUT", "/v1/queues/other", NULL, &r), 507, "PUT answered %ld %s",
		     r.status, r.body);
	th_resp_free(&r);
	expect_big_batch_refused("q");
	healthy();
	expect_all_peekable("q");
	pop_one_on_full_disk("q");
	expect_all_peekable("q");

	cr_assert_eq(th_stop(&ht_srv, SIGTERM), 0, "mmqd did not stop cleanly on a full disk");
	cr_assert(th_start(&ht_srv, NULL), "mmqd does not start again on a full disk");
	healthy();
	expect_all_peekable("q");

	/* Space comes back: writes resume at once, and everything is still there. */
	unfill("filler1");
	unfill("filler2");
	cr_assert_eq(enqueue("q"), 201);
	cr_assert_eq(post_small("fresh"), 201, "a new queue once space is back");
	expect_all_poppable("q");
}

Test(http_diskfull, full_disk_answers_507_keeps_every_acknowledged_message_and_recovers)
{
	full_disk_flow(false);
}

/* tmpfs reserves memory pages rather than blocks, and has no extents to convert on a write. */
Test(http_diskfull, full_tmpfs_answers_507_keeps_every_acknowledged_message_and_recovers)
{
	full_disk_flow(true);
}

Test(http_diskfull, min_free_bytes_refuses_writes_before_the_disk_is_full)
{
	const uint64_t reserve = 8u << 20;
	const char *const args[] = { "--min-free-bytes", "8388608", NULL };
	struct th_resp r;

	mount_small(32, false);
	/* 12 MiB free: segments of 1 and 2 MiB fit above the reserve, one of 4 MiB does not. */
	fill("filler", 12u << 20);
	cr_assert(th_start(&ht_srv, args), "mmqd did not start");
	cr_assert_gt(enqueue_until_refused("q"), 0);
	cr_log_info("%zu messages acknowledged, then 507 with %lu bytes free", acked,
		    (unsigned long)free_bytes());
	cr_assert_geq(free_bytes(), reserve, "only %lu bytes left under a reserve of %lu",
		      (unsigned long)free_bytes(), (unsigned long)reserve);
	healthy();
	expect_all_peekable("q");

	/* Deleting the queue gives its segments back: writes resume, still above the reserve. */
	cr_assert_eq(th_call(&ht_srv, "DELETE", "/v1/queues/q", NULL, &r), 204);
	th_resp_free(&r);
	for (size_t i = 0; i < acked; i++)
		free(payloads[i]);
	acked = 0;
	cr_assert_eq(enqueue("q"), 201);
	cr_assert_geq(free_bytes(), reserve);
	expect_all_poppable("q");
}

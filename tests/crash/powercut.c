/* powercut.c: simulated power cuts under --sync always: crash images of a queue's files must recover every acknowledged change. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "../../queue/queue.h"
#include "../testutil.h"
#include "image.h"
#include "payload.h"
#include "scenario.h"

/*
 * What a power cut can leave, and how this program models it.
 *
 * A scenario opens a store with sync always and runs phase A: random enqueues,
 * batches, pops, leases, acks, releases and rare purges, each waiting until it
 * is durable, ending with a waited extend when needed so that the lease
 * records (which do not wait) are synced too. The queue's files are then state A:
 * everything acknowledged. Phase B runs more operations with tickets nobody
 * waits for: their writes land in the mapped files (state B) but none of them
 * was acknowledged. What really makes them "not yet synced" is that the engine
 * syncs in the background: this program is linked with --wrap=msync and holds
 * every msync of an engine thread during phase B, so the background sync
 * cannot complete, durable_seq stays at A, and nothing the engine does only
 * after a sync (unlinking a front segment whose removals were not yet durable)
 * can happen. msync from the calling thread still runs: that is a new segment's
 * header page, synced before the file is renamed into place. So a power cut at
 * the end of phase B leaves exactly: state A, plus any subset of the pages
 * written since, each page old, new or torn at a 512-byte sector (image.h),
 * plus the segments made since (header synced, a prefix of them in order),
 * minus perhaps the front segments unlinked since (their removals were in A).
 *
 * Each image is opened as a fresh data directory (with a clock ten days ahead,
 * so every lease has run out and every message can be peeked) and must give:
 * recovery succeeds; every message live at A is there with its exact payload
 * unless phase B removed it; nothing removed at A is back; every message held
 * is one that was sent, byte for byte; a batch of phase B is there whole or
 * not at all; leases taken in A still ack with their token; and a new enqueue
 * gets an id above every id and token handed out in A and every id held.
 *
 * tests/crash/scenario.c runs the scenarios; this file builds and checks the images.
 */

#define IMAGES_PER_SCENARIO 50u

/* The totals of the run. */
struct totals {
	uint64_t scenarios, images, corrupt_reports, torn_bytes, checked_msgs, new_ids, partial_batches;
	struct img_stats img;
};

/* check_held checks every message the recovered queue holds; *max_id gets the highest. */
static bool check_held(struct scen *s, struct queue_store *st, uint64_t *max_id, struct totals *t)
{
	struct queue_msgs m;
	struct queue_stats qs;
	enum queue_err e = queue_peek(st, SCEN_QUEUE, SCEN_PEEK_MAX, &m);
	if (e != QUEUE_OK)
		return scen_fail(s, "peek: %s", queue_strerror(e));
	bool ok = queue_stats(st, SCEN_QUEUE, &qs) == QUEUE_OK && qs.depth == m.count && qs.in_flight == 0 &&
		  qs.delayed == 0 && m.count < SCEN_PEEK_MAX;
	if (!ok)
		scen_fail(s, "peek listed %zu messages, stats say %llu ready, %llu leased, %llu delayed", m.count,
		     (unsigned long long)qs.depth, (unsigned long long)qs.in_flight, (unsigned long long)qs.delayed);
	for (size_t i = 0; i < m.count && ok; i++) {
		const struct queue_msg *msg = &m.items[i];
		struct pay_tag tag;
		struct scen_msg *p = scen_find(s, msg->id);
		if (!pay_check(msg->payload, msg->len, &tag))
			ok = scen_fail(s, "id %llu is held with a damaged payload", (unsigned long long)msg->id);
		else if (p == NULL || !pay_tag_equal(&tag, &p->tag))
			ok = scen_fail(s, "id %llu holds payload %u/%u/%u, which was never sent under that id",
				  (unsigned long long)msg->id, tag.round, tag.client, tag.n);
		else if (p->removed_a)
			ok = scen_fail(s, "id %llu is back although its removal was acknowledged", (unsigned long long)msg->id);
		else if (p->seen)
			ok = scen_fail(s, "id %llu is held twice", (unsigned long long)msg->id);
		else
			p->seen = true;
		*max_id = msg->id > *max_id ? msg->id : *max_id;
	}
	t->checked_msgs += m.count;
	queue_msgs_free(&m);
	return ok;
}

/* With POWERCUT_LENIENT_BATCHES=1 a batch of phase B found in part is counted, not failed. */
static bool lenient_batches;

/* check_model checks what the queue must hold against what it holds (pmsg.seen). */
static bool check_model(struct scen *s, struct totals *t)
{
	for (size_t i = 0; i < s->n; i++) {
		const struct scen_msg *p = &s->m[i];
		if (!p->in_b && !p->removed_a && !p->removed_b && !p->seen)
			return scen_fail(s, "id %llu (acknowledged in A) is lost", (unsigned long long)p->id);
		if (p->batch == 0 || !p->seen)
			continue;
		/* One member of a phase B batch is there: then all of it that phase B did not remove. */
		for (size_t j = 0; j < s->n; j++) {
			if (s->m[j].batch != p->batch || s->m[j].seen || s->m[j].removed_b)
				continue;
			if (!lenient_batches)
				return scen_fail(s, "batch %u is there only in part: id %llu without id %llu",
					    (unsigned)p->batch, (unsigned long long)p->id,
					    (unsigned long long)s->m[j].id);
			t->partial_batches++;
			break;
		}
	}
	return true;
}

/* check_after checks that leases of A still ack and that new ids continue above A's. */
static bool check_after(struct scen *s, struct queue_store *st, uint64_t max_id, struct totals *t)
{
	char buf[PAY_MAX];
	struct pay_tag tag = { s->number, 3, 0 };
	struct queue_payload p = { buf, pay_make(&tag, buf) };
	uint64_t id = 0, floor = max_id > s->max_a ? max_id : s->max_a;
	enum queue_err e = queue_enqueue(st, SCEN_QUEUE, &p, 1, 0, &id, NULL);
	if (e != QUEUE_OK || id <= floor)
		return scen_fail(s, "a new enqueue got %s, id %llu; A handed out up to %llu, the queue holds up to %llu",
			    queue_strerror(e), (unsigned long long)id, (unsigned long long)s->max_a,
			    (unsigned long long)max_id);
	t->new_ids++;
	for (size_t i = 0, acks = 0; i < s->n && acks < 4; i++) {
		const struct scen_msg *m = &s->m[i];
		if (m->in_b || !m->leased || m->removed_a || m->touched_b)
			continue;
		acks++;
		e = queue_ack(st, SCEN_QUEUE, m->id, m->token, NULL);
		if (e != QUEUE_OK)
			return scen_fail(s, "the lease token %llu of id %llu, taken in A, does not ack: %s",
				    (unsigned long long)m->token, (unsigned long long)m->id, queue_strerror(e));
	}
	return true;
}

/* check_image opens one image as a data directory and checks it. */
static bool check_image(struct scen *s, const char *dir, struct totals *t)
{
	struct queue_store_options o = scen_store_options();
	struct queue_store *st = NULL;
	struct queue_recovery rep;
	uint64_t max_id = 0;
	for (size_t i = 0; i < s->n; i++)
		s->m[i].seen = false;
	enum queue_err e = queue_store_open(dir, &o, &st, &rep);
	if (e != QUEUE_OK)
		return scen_fail(s, "recovery failed: %s (%s)", queue_strerror(e), rep.first_problem);
	t->corrupt_reports += rep.corrupt_records > 0;
	t->torn_bytes += rep.torn_bytes;
	bool ok = check_held(s, st, &max_id, t) && check_model(s, t) && check_after(s, st, max_id, t);
	e = queue_store_close(st);
	if (ok && e != QUEUE_OK)
		ok = scen_fail(s, "close after recovery: %s", queue_strerror(e));
	t->images++;
	return ok;
}

/* The line a crash in recovery prints: which image of which scenario, and where it is kept. */
static char crash_note[512];

static void on_crash(int sig)
{
	ssize_t w = write(2, crash_note, strlen(crash_note));
	(void)w;
	signal(sig, SIG_DFL);
	raise(sig);
}

/*
 * keep_failed writes the image that failed again, as it was before recovery
 * touched it, to <img>-failed (a data directory to open for a reproducer).
 */
static bool keep_failed(struct scen *s, const struct img_set *set, const char *img, unsigned i, uint64_t seed)
{
	struct img_stats ignored = { 0 };
	char *dir = tu_path(img, "../image-failed"), *queues = tu_path(dir, "queues"), *q = tu_path(queues, SCEN_QUEUE);
	size_t len = strlen(s->err);
	bool kept = (mkdir(dir, 0755) == 0 || errno == EEXIST) && (mkdir(queues, 0755) == 0 || errno == EEXIST) &&
		    (mkdir(q, 0755) == 0 || errno == EEXIST) && img_build(set, q, seed, &ignored);
	snprintf(s->err + len, sizeof(s->err) - len, " [image %u, seed %llu; %s %s]", i, (unsigned long long)seed,
		 kept ? "as written, before recovery, in" : "could not keep it in", dir);
	free(q);
	free(queues);
	free(dir);
	return false;
}

/* run_scenario makes one scenario in work and checks images of it in img. */
static bool run_scenario(struct scen *s, const char *work, const char *img, unsigned images, struct totals *t)
{
	struct img_set set = { 0 };
	char *qimg = tu_path(img, "queues/" SCEN_QUEUE);
	scen_set_clock(1700000000000ull + (uint64_t)s->number * 1000u);
	bool ok = scen_snapshot(s, work, &set);
	scen_set_clock(scen_clock() + 10ull * 86400000u);
	for (unsigned i = 0; ok && i < images; i++) {
		uint64_t seed = scen_rand(s);
		snprintf(crash_note, sizeof(crash_note),
			 "powercut: crashed in scenario %u, image %u (image seed %llu); the image is in %s\n",
			 (unsigned)s->number, i, (unsigned long long)seed, qimg);
		if (!img_build(&set, qimg, seed, &t->img))
			ok = scen_fail(s, "cannot write image %u into %s", i, qimg);
		else if (!check_image(s, img, t))
			ok = keep_failed(s, &set, img, i, seed);
	}
	img_free(&set);
	free(qimg);
	t->scenarios++;
	return ok;
}

/* scratch_base picks a tmpfs for the images when there is one. */
static char *scratch_base(void)
{
	struct stat st;
	const char *base = getenv("TMPDIR");
	if (stat("/dev/shm", &st) == 0 && S_ISDIR(st.st_mode) && access("/dev/shm", W_OK) == 0)
		base = "/dev/shm";
	char *path = tu_path(base != NULL && *base ? base : "/tmp", "mmq-powercut-XXXXXX");
	if (mkdtemp(path) == NULL) {
		perror("powercut: mkdtemp");
		exit(2);
	}
	return path;
}

static void report(const struct totals *t, uint64_t ms)
{
	printf("powercut passed: %llu images of %llu scenarios in %.1f s; pages changed since A: %llu "
	       "(%llu old, %llu new, %llu torn); segments made after A left out: %llu, unlinked ones kept: %llu; "
	       "recoveries reporting corruption: %llu, torn bytes cut: %llu; %llu messages checked, %llu new ids; "
	       "batches found in part (lenient): %llu\n",
	       (unsigned long long)t->images, (unsigned long long)t->scenarios, (double)ms / 1000.0,
	       (unsigned long long)t->img.pages_mixed, (unsigned long long)t->img.pages_old,
	       (unsigned long long)t->img.pages_new, (unsigned long long)t->img.pages_torn,
	       (unsigned long long)t->img.files_dropped, (unsigned long long)t->img.files_kept,
	       (unsigned long long)t->corrupt_reports, (unsigned long long)t->torn_bytes,
	       (unsigned long long)t->checked_msgs, (unsigned long long)t->new_ids,
	       (unsigned long long)t->partial_batches);
}

int main(int argc, char **argv)
{
	const char *env = getenv("POWERCUT_IMAGES"), *seed_env = getenv("POWERCUT_SEED");
	unsigned images = argc > 1 ? (unsigned)strtoul(argv[1], NULL, 10) : env ? (unsigned)strtoul(env, NULL, 10) : 1000;
	unsigned seed = seed_env ? (unsigned)strtoul(seed_env, NULL, 10) : (unsigned)time(NULL) ^ (unsigned)getpid();
	struct totals t = { 0 };
	uint64_t t0 = tu_now_ms();
	scen_hold_init();
	lenient_batches = getenv("POWERCUT_LENIENT_BATCHES") != NULL;
	signal(SIGSEGV, on_crash);
	signal(SIGBUS, on_crash);
	signal(SIGABRT, on_crash);
	char *base = scratch_base(), *img = tu_path(base, "image"), *queues = tu_path(img, "queues");
	char *qimg = tu_path(queues, SCEN_QUEUE);
	if (mkdir(img, 0755) != 0 || mkdir(queues, 0755) != 0 || mkdir(qimg, 0755) != 0) {
		perror("powercut: mkdir");
		return 2;
	}
	printf("powercut: %u images, seed %u (POWERCUT_SEED), scratch %s\n", images, seed, base);
	fflush(stdout);
	for (uint32_t n = 0; t.images < images; n++) {
		struct scen s = { .number = n, .rs = ((uint64_t)seed << 20 ^ n) * 0x9e3779b97f4a7c15ull | 1u };
		char name[32];
		snprintf(name, sizeof(name), "scenario-%u", (unsigned)n);
		char *work = tu_path(base, name);
		unsigned left = images - (unsigned)t.images;
		bool ok = run_scenario(&s, work, img, left < IMAGES_PER_SCENARIO ? left : IMAGES_PER_SCENARIO, &t);
		if (!ok) {
			fprintf(stderr, "powercut FAILED (seed %u) in scenario %u (files in %s): %s\n", seed,
				(unsigned)n, work, s.err);
			return 1;
		}
		tu_rmrf(work);
		free(work);
		free(s.m);
		free(s.tickets);
	}
	report(&t, tu_now_ms() - t0);
	tu_rmrf(base);
	free(qimg);
	free(queues);
	free(img);
	free(base);
	return 0;
}

/* powercut.c: simulated power cuts under --sync always: crash images of a queue's files must recover every acknowledged change. */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "../../queue/queue.h"
#include "../testutil.h"
#include "image.h"
#include "payload.h"

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
 */

#define IMAGES_PER_SCENARIO 50u
#define SEGMENT_BYTES 16384u
#define MAX_SEGMENT_BYTES 32768u
#define LEASE_MS 60000u
#define QNAME "pc"
#define PEEK_MAX 1000u

/* The msync hold: while holding, msync from any thread but the main one waits. */
int __real_msync(void *addr, size_t len, int flags);
int __wrap_msync(void *addr, size_t len, int flags);
static pthread_mutex_t hold_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t hold_cond = PTHREAD_COND_INITIALIZER;
static bool holding;
static pthread_t main_thread;

int __wrap_msync(void *addr, size_t len, int flags)
{
	if (!pthread_equal(pthread_self(), main_thread)) {
		pthread_mutex_lock(&hold_lock);
		while (holding)
			pthread_cond_wait(&hold_cond, &hold_lock);
		pthread_mutex_unlock(&hold_lock);
	}
	return __real_msync(addr, len, flags);
}

static void hold_syncs(bool on)
{
	pthread_mutex_lock(&hold_lock);
	holding = on;
	pthread_cond_broadcast(&hold_cond);
	pthread_mutex_unlock(&hold_lock);
}

/* The stores' clock: fixed during a scenario, so no lease runs out; ten days on when checking images. */
static _Atomic uint64_t fake_now;

static uint64_t fake_clock(void)
{
	return atomic_load(&fake_now);
}

/* One message a scenario enqueued. */
struct pmsg {
	uint64_t id;
	struct pay_tag tag;
	uint64_t token;	   /* the lease taken in A, when leased */
	bool in_b;	   /* enqueued in phase B */
	bool removed_a;	   /* removed in A (acknowledged) */
	bool leased;	   /* leased in A and neither acked nor released since */
	bool removed_b;	   /* phase B removed it (not acknowledged: it may be back) */
	bool touched_b;	   /* phase B acked, released or took it */
	uint32_t batch;	   /* the phase B batch it came in, 0 for none */
	bool seen;
};

/* A scenario: its store, what it sent and what the images must show. */
struct scen {
	uint32_t number;
	uint64_t rs;
	struct queue_store *st;
	bool phase_b, purged_b;
	struct pmsg *m;
	size_t n, cap;
	uint32_t next_n, next_batch;
	uint64_t max_a; /* highest id or lease token handed out in A */
	struct pmsg *unsynced_lease; /* leased in A after the last call that waited for the disk */
	struct queue_ticket *tickets;
	size_t ntickets, capt;
	char err[512];
};

/* The totals of the run. */
struct totals {
	uint64_t scenarios, images, corrupt_reports, torn_bytes, checked_msgs, new_ids, partial_batches;
	struct img_stats img;
};

static uint64_t rnd(struct scen *s)
{
	s->rs ^= s->rs << 13;
	s->rs ^= s->rs >> 7;
	s->rs ^= s->rs << 17;
	return s->rs;
}

static bool fail(struct scen *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static bool fail(struct scen *s, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(s->err, sizeof(s->err), fmt, ap);
	va_end(ap);
	return false;
}

static struct pmsg *find(struct scen *s, uint64_t id)
{
	size_t lo = 0, hi = s->n;
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		if (s->m[mid].id < id)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < s->n && s->m[lo].id == id ? &s->m[lo] : NULL;
}

/* ticket gives phase B calls a ticket to keep (nobody waits for it); phase A calls wait. */
static struct queue_ticket *ticket(struct scen *s)
{
	if (!s->phase_b)
		return NULL;
	if (s->ntickets == s->capt) {
		s->capt = s->capt ? s->capt * 2 : 64;
		s->tickets = realloc(s->tickets, s->capt * sizeof(*s->tickets));
		if (s->tickets == NULL)
			abort();
	}
	s->tickets[s->ntickets] = (struct queue_ticket){ 0 };
	return &s->tickets[s->ntickets++];
}

/* op_enqueue enqueues count new payloads as one call. */
static bool op_enqueue(struct scen *s, size_t count)
{
	static char bufs[6][PAY_MAX];
	struct queue_payload items[6];
	uint64_t ids[6];
	struct pay_tag tags[6];
	for (size_t i = 0; i < count; i++) {
		tags[i] = (struct pay_tag){ s->number, s->phase_b ? 2u : 1u, s->next_n++ };
		items[i] = (struct queue_payload){ bufs[i], pay_make(&tags[i], bufs[i]) };
	}
	enum queue_err e = queue_enqueue(s->st, QNAME, items, count, 0, ids, ticket(s));
	if (e != QUEUE_OK)
		return fail(s, "enqueue: %s", queue_strerror(e));
	s->unsynced_lease = NULL; /* a call that waited: every record before it is synced too */
	uint32_t batch = s->phase_b && count > 1 ? ++s->next_batch : 0;
	for (size_t i = 0; i < count; i++) {
		if (s->n > 0 && ids[i] <= s->m[s->n - 1].id)
			return fail(s, "enqueue: id %llu after %llu", (unsigned long long)ids[i],
				    (unsigned long long)s->m[s->n - 1].id);
		if (s->n == s->cap) {
			s->cap = s->cap ? s->cap * 2 : 256;
			s->m = realloc(s->m, s->cap * sizeof(*s->m));
			if (s->m == NULL)
				abort();
		}
		s->m[s->n++] = (struct pmsg){ .id = ids[i], .tag = tags[i], .in_b = s->phase_b, .batch = batch };
		if (!s->phase_b && ids[i] > s->max_a)
			s->max_a = ids[i];
	}
	return true;
}

/* op_take pops or leases up to limit messages and checks what it got. */
static bool op_take(struct scen *s, size_t limit, bool lease)
{
	struct queue_msgs out;
	enum queue_err e = lease ? queue_lease(s->st, QNAME, limit, LEASE_MS, &out, ticket(s))
				 : queue_pop(s->st, QNAME, limit, &out, ticket(s));
	if (e != QUEUE_OK)
		return fail(s, "%s: %s", lease ? "lease" : "pop", queue_strerror(e));
	bool ok = true;
	if (!lease && out.count > 0)
		s->unsynced_lease = NULL; /* a pop that wrote records waited for them */
	for (size_t i = 0; i < out.count && ok; i++) {
		struct pay_tag tag;
		struct pmsg *p = find(s, out.items[i].id);
		if (p == NULL || p->removed_a || !pay_check(out.items[i].payload, out.items[i].len, &tag) ||
		    !pay_tag_equal(&tag, &p->tag)) {
			ok = fail(s, "%s delivered id %llu wrongly", lease ? "lease" : "pop",
				  (unsigned long long)out.items[i].id);
		} else if (s->phase_b) {
			p->removed_b |= !lease;
			p->touched_b = true;
		} else if (lease) {
			s->unsynced_lease = p;
			p->leased = true;
			p->token = out.items[i].lease;
			s->max_a = p->token > s->max_a ? p->token : s->max_a;
		} else {
			p->removed_a = true;
		}
	}
	queue_msgs_free(&out);
	return ok;
}

/* op_settle acks or releases one message leased in A. */
static bool op_settle(struct scen *s, bool ack)
{
	size_t start = s->n ? (size_t)(rnd(s) % s->n) : 0;
	for (size_t k = 0; k < s->n; k++) {
		struct pmsg *p = &s->m[(start + k) % s->n];
		if (!p->leased || p->removed_a || p->touched_b)
			continue;
		enum queue_err e = ack ? queue_ack(s->st, QNAME, p->id, p->token, ticket(s))
				       : queue_release(s->st, QNAME, p->id, p->token, 0, ticket(s));
		if (e != QUEUE_OK)
			return fail(s, "%s of id %llu: %s", ack ? "ack" : "release", (unsigned long long)p->id,
				    queue_strerror(e));
		s->unsynced_lease = NULL;
		if (s->phase_b) {
			p->touched_b = true;
			p->removed_b |= ack;
		} else {
			p->leased = false;
			p->removed_a |= ack;
		}
		return true;
	}
	return true;
}

static bool op_purge(struct scen *s)
{
	enum queue_err e = queue_purge(s->st, QNAME, ticket(s));
	if (e == QUEUE_NOTFOUND)
		return true; /* nothing enqueued yet */
	if (e != QUEUE_OK)
		return fail(s, "purge: %s", queue_strerror(e));
	for (size_t i = 0; i < s->n; i++) {
		if (s->phase_b)
			s->m[i].removed_b = s->m[i].touched_b = true;
		else
			s->m[i].removed_a = true;
	}
	s->purged_b |= s->phase_b;
	s->unsynced_lease = NULL;
	return true;
}

/*
 * sync_leases ends phase A: a lease does not wait for the disk, so when leases
 * were taken after the last waited call, a waited extend of the latest one
 * syncs them (and, unlike an enqueue, leaves a drained segment drained, so
 * phase B can unlink it).
 */
static bool sync_leases(struct scen *s)
{
	struct pmsg *p = s->unsynced_lease;
	if (p == NULL)
		return true;
	enum queue_err e = p->leased && !p->removed_a
				   ? queue_extend(s->st, QNAME, p->id, p->token, LEASE_MS, NULL, ticket(s))
				   : QUEUE_STALE;
	return e == QUEUE_OK || fail(s, "extend of id %llu: %s", (unsigned long long)p->id, queue_strerror(e));
}

/*
 * drain removes every message (acks the leased ones, pops the rest), so that
 * the segments of A hold nothing live: once phase B rolls to a new segment the
 * engine may unlink them, and the images test the unlink not reaching the disk.
 */
static bool drain(struct scen *s)
{
	for (size_t i = 0; i < s->n; i++) {
		struct pmsg *p = &s->m[i];
		if (p->leased && !p->removed_a && queue_ack(s->st, QNAME, p->id, p->token, NULL) != QUEUE_OK)
			return fail(s, "drain: ack of id %llu failed", (unsigned long long)p->id);
		p->removed_a |= p->leased;
	}
	s->unsynced_lease = NULL;
	return op_take(s, PEEK_MAX, false);
}

/* run_ops runs count random operations of the current phase. */
static bool run_ops(struct scen *s, unsigned count)
{
	bool ok = true;
	for (unsigned i = 0; i < count && ok; i++) {
		unsigned r = (unsigned)(rnd(s) % 200);
		if (r < 70)
			ok = op_enqueue(s, 1);
		else if (r < 100)
			ok = op_enqueue(s, 2 + (size_t)(rnd(s) % 5));
		else if (r < 130)
			ok = op_take(s, 1 + (size_t)(rnd(s) % 3), false);
		else if (r < 160)
			ok = op_take(s, 1 + (size_t)(rnd(s) % 3), true);
		else if (r < 185)
			ok = op_settle(s, true);
		else if (r < 199)
			ok = op_settle(s, false);
		else
			ok = op_purge(s);
	}
	return ok;
}

static struct queue_store_options store_options(void)
{
	struct queue_store_options o;
	queue_store_options_default(&o);
	o.sync = QUEUE_SYNC_ALWAYS;
	o.first_segment_bytes = SEGMENT_BYTES;
	o.max_segment_bytes = MAX_SEGMENT_BYTES;
	o.clock = fake_clock;
	return o;
}

/* check_held checks every message the recovered queue holds; *max_id gets the highest. */
static bool check_held(struct scen *s, struct queue_store *st, uint64_t *max_id, struct totals *t)
{
	struct queue_msgs m;
	struct queue_stats qs;
	enum queue_err e = queue_peek(st, QNAME, PEEK_MAX, &m);
	if (e != QUEUE_OK)
		return fail(s, "peek: %s", queue_strerror(e));
	bool ok = queue_stats(st, QNAME, &qs) == QUEUE_OK && qs.depth == m.count && qs.in_flight == 0 &&
		  qs.delayed == 0 && m.count < PEEK_MAX;
	if (!ok)
		fail(s, "peek listed %zu messages, stats say %llu ready, %llu leased, %llu delayed", m.count,
		     (unsigned long long)qs.depth, (unsigned long long)qs.in_flight, (unsigned long long)qs.delayed);
	for (size_t i = 0; i < m.count && ok; i++) {
		const struct queue_msg *msg = &m.items[i];
		struct pay_tag tag;
		struct pmsg *p = find(s, msg->id);
		if (!pay_check(msg->payload, msg->len, &tag))
			ok = fail(s, "id %llu is held with a damaged payload", (unsigned long long)msg->id);
		else if (p == NULL || !pay_tag_equal(&tag, &p->tag))
			ok = fail(s, "id %llu holds payload %u/%u/%u, which was never sent under that id",
				  (unsigned long long)msg->id, tag.round, tag.client, tag.n);
		else if (p->removed_a)
			ok = fail(s, "id %llu is back although its removal was acknowledged", (unsigned long long)msg->id);
		else if (p->seen)
			ok = fail(s, "id %llu is held twice", (unsigned long long)msg->id);
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
		const struct pmsg *p = &s->m[i];
		if (!p->in_b && !p->removed_a && !p->removed_b && !p->seen)
			return fail(s, "id %llu (acknowledged in A) is lost", (unsigned long long)p->id);
		if (p->batch == 0 || !p->seen)
			continue;
		/* One member of a phase B batch is there: then all of it that phase B did not remove. */
		for (size_t j = 0; j < s->n; j++) {
			if (s->m[j].batch != p->batch || s->m[j].seen || s->m[j].removed_b)
				continue;
			if (!lenient_batches)
				return fail(s, "batch %u is there only in part: id %llu without id %llu",
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
	enum queue_err e = queue_enqueue(st, QNAME, &p, 1, 0, &id, NULL);
	if (e != QUEUE_OK || id <= floor)
		return fail(s, "a new enqueue got %s, id %llu; A handed out up to %llu, the queue holds up to %llu",
			    queue_strerror(e), (unsigned long long)id, (unsigned long long)s->max_a,
			    (unsigned long long)max_id);
	t->new_ids++;
	for (size_t i = 0, acks = 0; i < s->n && acks < 4; i++) {
		const struct pmsg *m = &s->m[i];
		if (m->in_b || !m->leased || m->removed_a || m->touched_b)
			continue;
		acks++;
		e = queue_ack(st, QNAME, m->id, m->token, NULL);
		if (e != QUEUE_OK)
			return fail(s, "the lease token %llu of id %llu, taken in A, does not ack: %s",
				    (unsigned long long)m->token, (unsigned long long)m->id, queue_strerror(e));
	}
	return true;
}

/* check_image opens one image as a data directory and checks it. */
static bool check_image(struct scen *s, const char *dir, struct totals *t)
{
	struct queue_store_options o = store_options();
	struct queue_store *st = NULL;
	struct queue_recovery rep;
	uint64_t max_id = 0;
	for (size_t i = 0; i < s->n; i++)
		s->m[i].seen = false;
	enum queue_err e = queue_store_open(dir, &o, &st, &rep);
	if (e != QUEUE_OK)
		return fail(s, "recovery failed: %s (%s)", queue_strerror(e), rep.first_problem);
	t->corrupt_reports += rep.corrupt_records > 0;
	t->torn_bytes += rep.torn_bytes;
	bool ok = check_held(s, st, &max_id, t) && check_model(s, t) && check_after(s, st, max_id, t);
	e = queue_store_close(st);
	if (ok && e != QUEUE_OK)
		ok = fail(s, "close after recovery: %s", queue_strerror(e));
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

/* snapshot_states runs phase A, snapshots it, runs phase B with syncs held and snapshots that. */
static bool snapshot_states(struct scen *s, const char *work, struct img_set *set)
{
	char *qdir = tu_path(work, "queues/" QNAME);
	struct queue_store_options o = store_options();
	bool ok = queue_store_open(work, &o, &s->st, NULL) == QUEUE_OK;
	if (!ok)
		fail(s, "cannot open the scenario's store in %s", work);
	ok = ok && run_ops(s, 20 + (unsigned)(rnd(s) % 150)) && sync_leases(s) && (rnd(s) % 4 != 0 || drain(s));
	if (ok && !img_snapshot(set, qdir, 0))
		ok = fail(s, "cannot read state A in %s", qdir);
	if (ok) {
		s->phase_b = true;
		hold_syncs(true);
		ok = run_ops(s, 1 + (unsigned)(rnd(s) % 40));
		if (ok && !img_snapshot(set, qdir, 1))
			ok = fail(s, "cannot read state B in %s", qdir);
		hold_syncs(false);
	}
	for (size_t i = 0; i < s->ntickets; i++)
		queue_ticket_wait(&s->tickets[i]);
	if (s->st != NULL)
		queue_store_close(s->st);
	s->st = NULL;
	free(qdir);
	return ok;
}

/*
 * keep_failed writes the image that failed again, as it was before recovery
 * touched it, to <img>-failed (a data directory to open for a reproducer).
 */
static bool keep_failed(struct scen *s, const struct img_set *set, const char *img, unsigned i, uint64_t seed)
{
	struct img_stats ignored = { 0 };
	char *dir = tu_path(img, "../image-failed"), *queues = tu_path(dir, "queues"), *q = tu_path(queues, QNAME);
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
	char *qimg = tu_path(img, "queues/" QNAME);
	atomic_store(&fake_now, 1700000000000ull + (uint64_t)s->number * 1000u);
	bool ok = snapshot_states(s, work, &set);
	atomic_store(&fake_now, atomic_load(&fake_now) + 10ull * 86400000u);
	for (unsigned i = 0; ok && i < images; i++) {
		uint64_t seed = rnd(s);
		snprintf(crash_note, sizeof(crash_note),
			 "powercut: crashed in scenario %u, image %u (image seed %llu); the image is in %s\n",
			 (unsigned)s->number, i, (unsigned long long)seed, qimg);
		if (!img_build(&set, qimg, seed, &t->img))
			ok = fail(s, "cannot write image %u into %s", i, qimg);
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
	main_thread = pthread_self();
	lenient_batches = getenv("POWERCUT_LENIENT_BATCHES") != NULL;
	signal(SIGSEGV, on_crash);
	signal(SIGBUS, on_crash);
	signal(SIGABRT, on_crash);
	char *base = scratch_base(), *img = tu_path(base, "image"), *queues = tu_path(img, "queues");
	char *qimg = tu_path(queues, QNAME);
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

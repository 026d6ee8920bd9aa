/* scenario.c: runs a power-cut scenario: random engine calls in phase A (each waited for) and phase B (never waited for). */
#include "scenario.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "../testutil.h"

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

void scen_hold_init(void)
{
	main_thread = pthread_self();
}

/* The stores' clock. */
static _Atomic uint64_t fake_now;

uint64_t scen_clock(void)
{
	return atomic_load(&fake_now);
}

void scen_set_clock(uint64_t ms)
{
	atomic_store(&fake_now, ms);
}

uint64_t scen_rand(struct scen *s)
{
	s->rs ^= s->rs << 13;
	s->rs ^= s->rs >> 7;
	s->rs ^= s->rs << 17;
	return s->rs;
}

bool scen_fail(struct scen *s, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(s->err, sizeof(s->err), fmt, ap);
	va_end(ap);
	return false;
}

struct scen_msg *scen_find(struct scen *s, uint64_t id)
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
	enum queue_err e = queue_enqueue(s->st, SCEN_QUEUE, items, count, 0, ids, ticket(s));
	if (e != QUEUE_OK)
		return scen_fail(s, "enqueue: %s", queue_strerror(e));
	s->unsynced_lease = NULL; /* a call that waited: every record before it is synced too */
	uint32_t batch = s->phase_b && count > 1 ? ++s->next_batch : 0;
	for (size_t i = 0; i < count; i++) {
		if (s->n > 0 && ids[i] <= s->m[s->n - 1].id)
			return scen_fail(s, "enqueue: id %llu after %llu", (unsigned long long)ids[i],
				    (unsigned long long)s->m[s->n - 1].id);
		if (s->n == s->cap) {
			s->cap = s->cap ? s->cap * 2 : 256;
			s->m = realloc(s->m, s->cap * sizeof(*s->m));
			if (s->m == NULL)
				abort();
		}
		s->m[s->n++] = (struct scen_msg){ .id = ids[i], .tag = tags[i], .in_b = s->phase_b, .batch = batch };
		if (!s->phase_b && ids[i] > s->max_a)
			s->max_a = ids[i];
	}
	return true;
}

/* op_take pops or leases up to limit messages and checks what it got. */
static bool op_take(struct scen *s, size_t limit, bool lease)
{
	struct queue_msgs out;
	enum queue_err e = lease ? queue_lease(s->st, SCEN_QUEUE, limit, SCEN_LEASE_MS, &out, ticket(s))
				 : queue_pop(s->st, SCEN_QUEUE, limit, &out, ticket(s));
	if (e != QUEUE_OK)
		return scen_fail(s, "%s: %s", lease ? "lease" : "pop", queue_strerror(e));
	bool ok = true;
	if (!lease && out.count > 0)
		s->unsynced_lease = NULL; /* a pop that wrote records waited for them */
	for (size_t i = 0; i < out.count && ok; i++) {
		struct pay_tag tag;
		struct scen_msg *p = scen_find(s, out.items[i].id);
		if (p == NULL || p->removed_a || !pay_check(out.items[i].payload, out.items[i].len, &tag) ||
		    !pay_tag_equal(&tag, &p->tag)) {
			ok = scen_fail(s, "%s delivered id %llu wrongly", lease ? "lease" : "pop",
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
	size_t start = s->n ? (size_t)(scen_rand(s) % s->n) : 0;
	for (size_t k = 0; k < s->n; k++) {
		struct scen_msg *p = &s->m[(start + k) % s->n];
		if (!p->leased || p->removed_a || p->touched_b)
			continue;
		enum queue_err e = ack ? queue_ack(s->st, SCEN_QUEUE, p->id, p->token, ticket(s))
				       : queue_release(s->st, SCEN_QUEUE, p->id, p->token, 0, ticket(s));
		if (e != QUEUE_OK)
			return scen_fail(s, "%s of id %llu: %s", ack ? "ack" : "release", (unsigned long long)p->id,
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
	enum queue_err e = queue_purge(s->st, SCEN_QUEUE, ticket(s));
	if (e == QUEUE_NOTFOUND)
		return true; /* nothing enqueued yet */
	if (e != QUEUE_OK)
		return scen_fail(s, "purge: %s", queue_strerror(e));
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
	struct scen_msg *p = s->unsynced_lease;
	if (p == NULL)
		return true;
	enum queue_err e = p->leased && !p->removed_a
				   ? queue_extend(s->st, SCEN_QUEUE, p->id, p->token, SCEN_LEASE_MS, NULL, ticket(s))
				   : QUEUE_STALE;
	return e == QUEUE_OK || scen_fail(s, "extend of id %llu: %s", (unsigned long long)p->id, queue_strerror(e));
}

/*
 * drain removes every message (acks the leased ones, pops the rest), so that
 * the segments of A hold nothing live: once phase B rolls to a new segment the
 * engine may unlink them, and the images test the unlink not reaching the disk.
 */
static bool drain(struct scen *s)
{
	for (size_t i = 0; i < s->n; i++) {
		struct scen_msg *p = &s->m[i];
		if (p->leased && !p->removed_a && queue_ack(s->st, SCEN_QUEUE, p->id, p->token, NULL) != QUEUE_OK)
			return scen_fail(s, "drain: ack of id %llu failed", (unsigned long long)p->id);
		p->removed_a |= p->leased;
	}
	s->unsynced_lease = NULL;
	return op_take(s, SCEN_PEEK_MAX, false);
}

/* run_ops runs count random operations of the current phase. */
static bool run_ops(struct scen *s, unsigned count)
{
	bool ok = true;
	for (unsigned i = 0; i < count && ok; i++) {
		unsigned r = (unsigned)(scen_rand(s) % 200);
		if (r < 70)
			ok = op_enqueue(s, 1);
		else if (r < 100)
			ok = op_enqueue(s, 2 + (size_t)(scen_rand(s) % 5));
		else if (r < 130)
			ok = op_take(s, 1 + (size_t)(scen_rand(s) % 3), false);
		else if (r < 160)
			ok = op_take(s, 1 + (size_t)(scen_rand(s) % 3), true);
		else if (r < 185)
			ok = op_settle(s, true);
		else if (r < 199)
			ok = op_settle(s, false);
		else
			ok = op_purge(s);
	}
	return ok;
}

struct queue_store_options scen_store_options(void)
{
	struct queue_store_options o;
	queue_store_options_default(&o);
	o.sync = QUEUE_SYNC_ALWAYS;
	o.first_segment_bytes = SCEN_SEGMENT_BYTES;
	o.max_segment_bytes = SCEN_MAX_SEGMENT_BYTES;
	o.clock = scen_clock;
	return o;
}

bool scen_snapshot(struct scen *s, const char *work, struct img_set *set)
{
	char *qdir = tu_path(work, "queues/" SCEN_QUEUE);
	struct queue_store_options o = scen_store_options();
	bool ok = queue_store_open(work, &o, &s->st, NULL) == QUEUE_OK;
	if (!ok)
		scen_fail(s, "cannot open the scenario's store in %s", work);
	ok = ok && run_ops(s, 20 + (unsigned)(scen_rand(s) % 150)) && sync_leases(s) && (scen_rand(s) % 4 != 0 || drain(s));
	if (ok && !img_snapshot(set, qdir, 0))
		ok = scen_fail(s, "cannot read state A in %s", qdir);
	if (ok) {
		s->phase_b = true;
		hold_syncs(true);
		ok = run_ops(s, 1 + (unsigned)(scen_rand(s) % 40));
		if (ok && !img_snapshot(set, qdir, 1))
			ok = scen_fail(s, "cannot read state B in %s", qdir);
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

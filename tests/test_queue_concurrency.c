/* test_queue_concurrency.c: many threads on one store, checked against exact models (also run under ThreadSanitizer). */
#include <criterion/criterion.h>

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../queue/queue.h"
#include "testutil.h"

#define THREADS 4
#define OWNED_OPS 3000
#define SHARED_OPS 2500
#define SEG 32768u

static char *dir;
static struct queue_store *st;

static void open_store(enum queue_sync sync)
{
	struct queue_store_options o;
	queue_store_options_default(&o);
	o.sync = sync;
	o.sync_interval_ms = 5;
	o.first_segment_bytes = SEG;
	o.max_segment_bytes = 2 * SEG;
	cr_assert_eq(queue_store_open(dir, &o, &st, NULL), QUEUE_OK);
}

static void setup(void)
{
	dir = tu_tempdir();
	st = NULL;
}

static void teardown(void)
{
	queue_store_close(st);
	st = NULL;
	tu_rmrf(dir);
	free(dir);
}

TestSuite(queue_concurrency, .init = setup, .fini = teardown, .timeout = 120);

static uint64_t next_rand(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

/* Worker threads report the first mismatch here instead of asserting off the main thread. */
static pthread_mutex_t fail_lock = PTHREAD_MUTEX_INITIALIZER;
static char fail_msg[256];

#define CHECK(cond, ...)                                                                   \
	do {                                                                               \
		if (!(cond)) {                                                             \
			pthread_mutex_lock(&fail_lock);                                    \
			if (fail_msg[0] == '\0')                                           \
				snprintf(fail_msg, sizeof(fail_msg), __VA_ARGS__);         \
			pthread_mutex_unlock(&fail_lock);                                  \
			return false;                                                      \
		}                                                                          \
	} while (0)

static bool failed(void)
{
	pthread_mutex_lock(&fail_lock);
	bool f = fail_msg[0] != '\0';
	pthread_mutex_unlock(&fail_lock);
	return f;
}

static size_t make_payload(char *buf, int tid, long n)
{
	int k = snprintf(buf, 64, "{\"t\":%d,\"n\":%ld,\"pad\":\"", tid, n);
	size_t pad = (size_t)(n % 97);
	memset(buf + k, 'p', pad);
	memcpy(buf + (size_t)k + pad, "\"}", 2);
	return (size_t)k + pad + 2;
}

/* The exact model of one thread's own queue. */
enum mstate { M_READY, M_LEASED, M_GONE };

struct mmsg {
	uint64_t id;
	long n;
	enum mstate state;
	uint64_t lease;
};

struct owned {
	int tid;
	char name[16];
	struct mmsg *msgs;
	size_t count, cap;
	long next_n;
	uint64_t seed;
	long ops[10];
};

static bool check_msg(struct owned *o, const struct queue_msg *got, const struct mmsg *want)
{
	char buf[256];
	size_t len = make_payload(buf, o->tid, want->n);
	CHECK(got->id == want->id, "%s: id %llu, model %llu", o->name, (unsigned long long)got->id,
	      (unsigned long long)want->id);
	CHECK(got->len == len && memcmp(got->payload, buf, len) == 0, "%s: payload of id %llu", o->name,
	      (unsigned long long)got->id);
	return true;
}

/* ready_at returns the model index of the k-th ready message, or -1. */
static long ready_at(struct owned *o, size_t k)
{
	for (size_t i = 0; i < o->count; i++)
		if (o->msgs[i].state == M_READY && k-- == 0)
			return (long)i;
	return -1;
}

static size_t count_state(struct owned *o, enum mstate s)
{
	size_t n = 0;
	for (size_t i = 0; i < o->count; i++)
		n += o->msgs[i].state == s;
	return n;
}

static long random_leased(struct owned *o)
{
	size_t n = count_state(o, M_LEASED);
	if (n == 0)
		return -1;
	size_t k = next_rand(&o->seed) % n;
	for (size_t i = 0; i < o->count; i++)
		if (o->msgs[i].state == M_LEASED && k-- == 0)
			return (long)i;
	return -1;
}

static void compact(struct owned *o)
{
	size_t j = 0;
	for (size_t i = 0; i < o->count; i++)
		if (o->msgs[i].state != M_GONE)
			o->msgs[j++] = o->msgs[i];
	o->count = j;
}

static bool op_enqueue(struct owned *o)
{
	char bufs[4][256];
	struct queue_payload p[4];
	uint64_t ids[4];
	size_t n = 1 + next_rand(&o->seed) % 4;
	for (size_t k = 0; k < n; k++)
		p[k] = (struct queue_payload){ bufs[k], make_payload(bufs[k], o->tid, o->next_n + (long)k) };
	enum queue_err e = queue_enqueue(st, o->name, p, n, 0, ids, NULL);
	CHECK(e == QUEUE_OK, "%s: enqueue: %s", o->name, queue_strerror(e));
	if (o->count + n > o->cap) {
		o->cap = (o->cap + n) * 2;
		o->msgs = realloc(o->msgs, o->cap * sizeof(*o->msgs));
	}
	for (size_t k = 0; k < n; k++) {
		CHECK(o->count == 0 || ids[k] > o->msgs[o->count - 1].id, "%s: ids do not rise", o->name);
		o->msgs[o->count++] = (struct mmsg){ ids[k], o->next_n++, M_READY, 0 };
	}
	return true;
}

/* op_take peeks, pops or leases up to a few messages and compares with the model's head. */
static bool op_take(struct owned *o, int kind)
{
	struct queue_msgs m = { 0 };
	size_t limit = 1 + next_rand(&o->seed) % 3;
	enum queue_err e = kind == 0   ? queue_peek(st, o->name, limit, &m)
			   : kind == 1 ? queue_pop(st, o->name, limit, &m, NULL)
				       : queue_lease(st, o->name, limit, 60000, &m, NULL);
	CHECK(e == QUEUE_OK, "%s: take %d: %s", o->name, kind, queue_strerror(e));
	size_t ready = count_state(o, M_READY);
	size_t want = ready < limit ? ready : limit;
	size_t got = m.count;
	if (got != want)
		queue_msgs_free(&m);
	CHECK(got == want, "%s: take %d got %zu, model %zu", o->name, kind, got, want);
	long idx[3];
	for (size_t k = 0; k < want; k++)
		idx[k] = ready_at(o, k);
	for (size_t k = 0; k < want; k++) {
		struct mmsg *mm = &o->msgs[idx[k]];
		if (!check_msg(o, &m.items[k], mm)) {
			queue_msgs_free(&m);
			return false;
		}
		if (kind == 1)
			mm->state = M_GONE;
		else if (kind == 2) {
			mm->state = M_LEASED;
			mm->lease = m.items[k].lease;
		}
	}
	queue_msgs_free(&m);
	return true;
}

static bool op_settle(struct owned *o, int kind)
{
	long i = random_leased(o);
	if (i < 0)
		return true;
	struct mmsg *mm = &o->msgs[i];
	enum queue_err e;
	if (kind == 0) {
		e = queue_ack(st, o->name, mm->id, mm->lease, NULL);
		mm->state = M_GONE;
	} else if (kind == 1) {
		e = queue_release(st, o->name, mm->id, mm->lease, 0, NULL);
		mm->state = M_READY;
	} else if (kind == 2) {
		e = queue_extend(st, o->name, mm->id, mm->lease, 60000, NULL, NULL);
	} else {
		e = queue_ack(st, o->name, mm->id, mm->lease ^ 0x5555, NULL);
		CHECK(e == QUEUE_STALE, "%s: ack with a wrong token: %s", o->name, queue_strerror(e));
		return true;
	}
	CHECK(e == QUEUE_OK, "%s: settle %d of %llu: %s", o->name, kind, (unsigned long long)mm->id,
	      queue_strerror(e));
	return true;
}

static bool op_check_stats(struct owned *o)
{
	struct queue_stats s;
	enum queue_err e = queue_stats(st, o->name, &s);
	CHECK(e == QUEUE_OK, "%s: stats: %s", o->name, queue_strerror(e));
	CHECK(s.depth == count_state(o, M_READY), "%s: depth %llu, model %zu", o->name,
	      (unsigned long long)s.depth, count_state(o, M_READY));
	CHECK(s.in_flight == count_state(o, M_LEASED), "%s: in_flight %llu, model %zu", o->name,
	      (unsigned long long)s.in_flight, count_state(o, M_LEASED));
	CHECK(s.delayed == 0, "%s: delayed %llu", o->name, (unsigned long long)s.delayed);
	return true;
}

static bool op_purge(struct owned *o)
{
	enum queue_err e = queue_purge(st, o->name, NULL);
	CHECK(e == QUEUE_OK, "%s: purge: %s", o->name, queue_strerror(e));
	for (size_t i = 0; i < o->count; i++)
		o->msgs[i].state = M_GONE;
	return true;
}

static bool owned_step(struct owned *o)
{
	uint64_t r = next_rand(&o->seed) % 100;
	int kind = r < 30 ? 0 : r < 40 ? 1 : r < 52 ? 2 : r < 64 ? 3 : r < 74 ? 4 : r < 80 ? 5 : r < 86 ? 6 : r < 90 ? 7 : r < 99 ? 8 : 9;
	o->ops[kind]++;
	switch (kind) {
	case 0:
		return op_enqueue(o);
	case 1:
	case 2:
	case 3:
		return op_take(o, kind - 1);
	case 4:
	case 5:
	case 6:
	case 7:
		return op_settle(o, kind - 4);
	case 8:
		return op_check_stats(o);
	default:
		return op_purge(o);
	}
}

static void *owned_worker(void *arg)
{
	struct owned *o = arg;
	for (int i = 0; i < OWNED_OPS && !failed(); i++) {
		if (!owned_step(o))
			break;
		if (o->count > 256)
			compact(o);
	}
	return NULL;
}

/* A bystander thread lists, peeks and reads stats while the workers run. */
static atomic_bool stop_bystander;

static void *bystander(void *arg)
{
	(void)arg;
	while (!atomic_load(&stop_bystander)) {
		struct queue_stats *all = NULL;
		size_t count = 0;
		if (queue_list(st, &all, &count) == QUEUE_OK)
			free(all);
		struct queue_msgs m = { 0 };
		if (queue_peek(st, "shared", 5, &m) == QUEUE_OK)
			queue_msgs_free(&m);
		queue_store_tick(st);
		tu_sleep_ms(1);
	}
	return NULL;
}

Test(queue_concurrency, owned_queues_match_an_exact_model_under_contention)
{
	pthread_t th[THREADS], by;
	struct owned *o = calloc(THREADS, sizeof(*o));
	fail_msg[0] = '\0';
	open_store(QUEUE_SYNC_NONE);
	atomic_store(&stop_bystander, false);
	cr_assert_eq(pthread_create(&by, NULL, bystander, NULL), 0);
	for (int t = 0; t < THREADS; t++) {
		o[t].tid = t;
		snprintf(o[t].name, sizeof(o[t].name), "own-%d", t);
		o[t].seed = 0x2545f4914f6cdd1dull * (uint64_t)(t + 1);
		cr_assert_eq(pthread_create(&th[t], NULL, owned_worker, &o[t]), 0);
	}
	for (int t = 0; t < THREADS; t++)
		pthread_join(th[t], NULL);
	atomic_store(&stop_bystander, true);
	pthread_join(by, NULL);
	cr_assert_str_eq(fail_msg, "", "%s", fail_msg);

	/* The models still hold after a reopen (leases included). */
	cr_assert_eq(queue_store_close(st), QUEUE_OK);
	st = NULL;
	open_store(QUEUE_SYNC_NONE);
	for (int t = 0; t < THREADS; t++) {
		compact(&o[t]);
		cr_assert(op_check_stats(&o[t]), "%s", fail_msg);
		while (count_state(&o[t], M_READY) > 0)
			cr_assert(op_take(&o[t], 1), "%s", fail_msg);
		while (count_state(&o[t], M_LEASED) > 0)
			cr_assert(op_settle(&o[t], 0), "%s", fail_msg);
		cr_assert(op_check_stats(&o[t]), "%s", fail_msg);
		free(o[t].msgs);
	}
	free(o);
}

/* The shared queue: every thread enqueues and removes; each id must be removed exactly once. */
struct sharer {
	int tid;
	uint64_t seed;
	uint64_t *enq, *rem;
	size_t nenq, nrem;
	atomic_int notified;
	int tickets;
};

static void on_done(void *ctx, enum queue_err err)
{
	struct sharer *s = ctx;
	if (err == QUEUE_OK)
		atomic_fetch_add(&s->notified, 1);
}

static bool shared_step(struct sharer *s)
{
	char buf[256];
	struct queue_msgs m = { 0 };
	struct queue_ticket t = { 0 };
	uint64_t r = next_rand(&s->seed) % 10, id;
	enum queue_err e;
	if (r < 4) {
		struct queue_payload p = { buf, make_payload(buf, s->tid, (long)s->nenq) };
		e = queue_enqueue(st, "shared", &p, 1, 0, &id, &t);
		CHECK(e == QUEUE_OK, "shared enqueue: %s", queue_strerror(e));
		s->tickets++;
		queue_ticket_notify(&t, on_done, s);
		s->enq[s->nenq++] = id;
	} else if (r < 7) {
		e = queue_pop(st, "shared", 1 + next_rand(&s->seed) % 3, &m, NULL);
		CHECK(e == QUEUE_OK, "shared pop: %s", queue_strerror(e));
		for (size_t k = 0; k < m.count; k++)
			s->rem[s->nrem++] = m.items[k].id;
		queue_msgs_free(&m);
	} else {
		e = queue_lease(st, "shared", 2, 60000, &m, NULL);
		CHECK(e == QUEUE_OK, "shared lease: %s", queue_strerror(e));
		for (size_t k = 0; k < m.count; k++) {
			if (next_rand(&s->seed) % 3 == 0) {
				e = queue_release(st, "shared", m.items[k].id, m.items[k].lease, 0, NULL);
			} else {
				e = queue_ack(st, "shared", m.items[k].id, m.items[k].lease, NULL);
				s->rem[s->nrem++] = m.items[k].id;
			}
			if (e != QUEUE_OK)
				queue_msgs_free(&m);
			CHECK(e == QUEUE_OK, "shared settle: %s", queue_strerror(e));
		}
		queue_msgs_free(&m);
	}
	return true;
}

static void *shared_worker(void *arg)
{
	struct sharer *s = arg;
	for (int i = 0; i < SHARED_OPS && !failed(); i++)
		if (!shared_step(s))
			break;
	return NULL;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

Test(queue_concurrency, shared_queue_removes_every_message_exactly_once)
{
	pthread_t th[THREADS], by;
	struct sharer *s = calloc(THREADS, sizeof(*s));
	fail_msg[0] = '\0';
	open_store(QUEUE_SYNC_INTERVAL);
	atomic_store(&stop_bystander, false);
	cr_assert_eq(pthread_create(&by, NULL, bystander, NULL), 0);
	for (int t = 0; t < THREADS; t++) {
		s[t].tid = t;
		s[t].seed = 0x9e3779b97f4a7c15ull * (uint64_t)(t + 3);
		s[t].enq = calloc(SHARED_OPS, sizeof(uint64_t));
		s[t].rem = calloc(SHARED_OPS * 3, sizeof(uint64_t));
		cr_assert_eq(pthread_create(&th[t], NULL, shared_worker, &s[t]), 0);
	}
	for (int t = 0; t < THREADS; t++)
		pthread_join(th[t], NULL);
	atomic_store(&stop_bystander, true);
	pthread_join(by, NULL);
	cr_assert_str_eq(fail_msg, "", "%s", fail_msg);

	size_t nenq = 0, nrem = 0;
	for (int t = 0; t < THREADS; t++) {
		nenq += s[t].nenq;
		nrem += s[t].nrem;
	}
	uint64_t *all_enq = calloc(nenq + 1, sizeof(uint64_t));
	uint64_t *all_rem = calloc(nenq + 1, sizeof(uint64_t));
	size_t a = 0, b = 0;
	cr_assert_leq(nrem, nenq, "more removals than enqueues");
	for (int t = 0; t < THREADS; t++) {
		memcpy(all_enq + a, s[t].enq, s[t].nenq * sizeof(uint64_t));
		a += s[t].nenq;
		memcpy(all_rem + b, s[t].rem, s[t].nrem * sizeof(uint64_t));
		b += s[t].nrem;
	}
	/* Drain what is left: every message is visible again (all leases were settled). */
	struct queue_stats st_before;
	cr_assert_eq(queue_stats(st, "shared", &st_before), QUEUE_OK);
	cr_assert_eq(st_before.in_flight, 0);
	cr_assert_eq(st_before.depth, nenq - nrem);
	for (;;) {
		struct queue_msgs m = { 0 };
		cr_assert_eq(queue_pop(st, "shared", QUEUE_BATCH_MAX, &m, NULL), QUEUE_OK);
		size_t got = m.count;
		for (size_t k = 0; k < got; k++) {
			cr_assert_lt(b, nenq + 1, "more messages than enqueues");
			all_rem[b++] = m.items[k].id;
		}
		queue_msgs_free(&m);
		if (got == 0)
			break;
	}
	cr_assert_eq(b, nenq);
	qsort(all_enq, nenq, sizeof(uint64_t), cmp_u64);
	qsort(all_rem, nenq, sizeof(uint64_t), cmp_u64);
	for (size_t k = 0; k < nenq; k++) {
		cr_assert_eq(all_rem[k], all_enq[k], "id %llu removed (%zu): every id exactly once",
			     (unsigned long long)all_rem[k], k);
		if (k > 0)
			cr_assert_gt(all_enq[k], all_enq[k - 1], "ids are unique");
	}
	struct queue_stats fin;
	cr_assert_eq(queue_stats(st, "shared", &fin), QUEUE_OK);
	cr_assert_eq(fin.enqueued_total, nenq);
	cr_assert_eq(fin.dequeued_total, nenq);
	cr_assert_eq(fin.depth + fin.in_flight + fin.delayed + fin.bytes, 0);

	/* Every notify ticket was called exactly once. */
	uint64_t end = tu_now_ms() + 3000;
	for (int t = 0; t < THREADS; t++)
		while (atomic_load(&s[t].notified) < s[t].tickets && tu_now_ms() < end)
			tu_sleep_ms(2);
	tu_sleep_ms(30);
	for (int t = 0; t < THREADS; t++) {
		cr_assert_eq(atomic_load(&s[t].notified), s[t].tickets, "thread %d", t);
		free(s[t].enq);
		free(s[t].rem);
	}
	free(s);
	free(all_enq);
	free(all_rem);
}

/* Churn: one thread deletes and recreates a queue while others use it. Nothing may crash or leak. */
struct churner {
	int tid;
	uint64_t seed;
	atomic_int *stop;
};

static void *churn_user(void *arg)
{
	struct churner *c = arg;
	char buf[256];
	long n = 0;
	while (!atomic_load(c->stop)) {
		struct queue_payload p = { buf, make_payload(buf, c->tid, n++) };
		struct queue_msgs m = { 0 };
		enum queue_err e = queue_enqueue(st, "churn", &p, 1, 0, NULL, NULL);
		if (e != QUEUE_OK && e != QUEUE_NOTFOUND) {
			CHECK(false, "churn enqueue: %s", queue_strerror(e));
		}
		e = queue_lease(st, "churn", 2, 60000, &m, NULL);
		CHECK(e == QUEUE_OK || e == QUEUE_NOTFOUND, "churn lease: %s", queue_strerror(e));
		for (size_t k = 0; e == QUEUE_OK && k < m.count; k++) {
			enum queue_err a = queue_ack(st, "churn", m.items[k].id, m.items[k].lease, NULL);
			if (a != QUEUE_OK && a != QUEUE_NOTFOUND && a != QUEUE_NOMSG) {
				queue_msgs_free(&m);
				CHECK(false, "churn ack: %s", queue_strerror(a));
			}
		}
		queue_msgs_free(&m);
	}
	return NULL;
}

static void *churn_deleter(void *arg)
{
	struct churner *c = arg;
	for (int i = 0; i < 150 && !failed(); i++) {
		enum queue_err e = queue_delete(st, "churn");
		if (e != QUEUE_OK && e != QUEUE_NOTFOUND) {
			CHECK(false, "churn delete: %s", queue_strerror(e));
		}
		tu_sleep_ms(1);
	}
	atomic_store(c->stop, 1);
	return NULL;
}

Test(queue_concurrency, delete_while_in_use_is_safe)
{
	pthread_t th[3];
	atomic_int stop = 0;
	struct churner c[3];
	fail_msg[0] = '\0';
	open_store(QUEUE_SYNC_NONE);
	for (int t = 0; t < 3; t++) {
		c[t] = (struct churner){ t, (uint64_t)t + 1, &stop };
		cr_assert_eq(pthread_create(&th[t], NULL, t == 0 ? churn_deleter : churn_user, &c[t]), 0);
	}
	for (int t = 0; t < 3; t++)
		pthread_join(th[t], NULL);
	cr_assert_str_eq(fail_msg, "", "%s", fail_msg);
	/* Whatever is left is consistent: stats agree with a full drain, and survives a reopen. */
	struct queue_stats s;
	if (queue_stats(st, "churn", &s) == QUEUE_OK) {
		uint64_t left = s.depth + s.in_flight;
		cr_assert_eq(queue_store_close(st), QUEUE_OK);
		st = NULL;
		open_store(QUEUE_SYNC_NONE);
		struct queue_stats again;
		cr_assert_eq(queue_stats(st, "churn", &again), QUEUE_OK);
		cr_assert_eq(again.depth + again.in_flight, left);
	}
	char *qs = tu_path(dir, "queues");
	cr_assert_leq(tu_count_suffix(qs, ""), 1, "no temporary directories are left behind");
	free(qs);
}

/* Several queues with sync always: concurrent writers share syncs and every waiter is released. */
static void *always_writer(void *arg)
{
	struct churner *c = arg;
	char name[16], buf[256];
	snprintf(name, sizeof(name), "sync-%d", c->tid % 2);
	for (long n = 0; n < 150; n++) {
		struct queue_payload p = { buf, make_payload(buf, c->tid, n) };
		enum queue_err e = queue_enqueue(st, name, &p, 1, 0, NULL, NULL);
		CHECK(e == QUEUE_OK, "always enqueue: %s", queue_strerror(e));
	}
	return NULL;
}

Test(queue_concurrency, sync_always_writers_all_complete)
{
	pthread_t th[THREADS];
	struct churner c[THREADS];
	atomic_int stop = 0;
	fail_msg[0] = '\0';
	open_store(QUEUE_SYNC_ALWAYS);
	for (int t = 0; t < THREADS; t++) {
		c[t] = (struct churner){ t, 0, &stop };
		cr_assert_eq(pthread_create(&th[t], NULL, always_writer, &c[t]), 0);
	}
	for (int t = 0; t < THREADS; t++)
		pthread_join(th[t], NULL);
	cr_assert_str_eq(fail_msg, "", "%s", fail_msg);
	struct queue_stats a, b;
	cr_assert_eq(queue_stats(st, "sync-0", &a), QUEUE_OK);
	cr_assert_eq(queue_stats(st, "sync-1", &b), QUEUE_OK);
	cr_assert_eq(a.depth, 300);
	cr_assert_eq(b.depth, 300);
}

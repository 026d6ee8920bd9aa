/* test_queue_crash.c: fork, write under load, SIGKILL, reopen, and check every acknowledged change. */
#include <criterion/criterion.h>

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../queue/queue.h"
#include "testutil.h"

#define ROUNDS 20
#define THREADS 3
#define QUEUES 2
#define LEASE_TTL_MS 150u
#define POP_LIMIT 2u
#define SEG_BYTES 16384u

static const char *const qnames[QUEUES] = { "crash-a", "crash-b" };

/*
 * The child logs, with one write(2) per line on an O_APPEND fd:
 *   E q id round tid n len   an enqueue that returned durable
 *   p q tid                  a pop is about to start (it may remove up to POP_LIMIT messages)
 *   P q tid id...            the pop returned durable with these ids
 *   a q tid id               an ack is about to start
 *   A q tid id               the ack returned durable
 *   X q tid id               the ack was refused
 * A thread whose last line is p or a was killed in the middle of a removal.
 */

static void make_payload(char *buf, size_t len, int round, int tid, long n)
{
	int k = snprintf(buf, len + 1, "c%d-%d-%ld:", round, tid, n);
	for (size_t j = (size_t)k; j < len; j++)
		buf[j] = (char)('a' + (int)((j * 31 + (size_t)n * 7 + (size_t)tid) % 26));
}

static uint64_t next_rand(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

struct worker {
	struct queue_store *st;
	int fd;
	int round;
	int tid;
};

static void log_line(int fd, const char *line, size_t len)
{
	ssize_t w = write(fd, line, len);
	(void)w;
}

static void child_enqueue(struct worker *w, uint64_t *rs, long *n)
{
	char bufs[3][520];
	struct queue_payload p[3];
	uint64_t ids[3];
	char line[512];
	size_t used = 0;
	int q = (int)(next_rand(rs) % QUEUES);
	size_t count = 1 + next_rand(rs) % 3;
	for (size_t k = 0; k < count; k++) {
		size_t len = 20 + next_rand(rs) % 480;
		make_payload(bufs[k], len, w->round, w->tid, *n + (long)k);
		p[k] = (struct queue_payload){ bufs[k], len };
	}
	if (queue_enqueue(w->st, qnames[q], p, count, 0, ids, NULL) != QUEUE_OK)
		return;
	for (size_t k = 0; k < count; k++)
		used += (size_t)snprintf(line + used, sizeof(line) - used, "E %d %llu %d %d %ld %zu\n", q,
					 (unsigned long long)ids[k], w->round, w->tid, *n + (long)k, p[k].len);
	*n += (long)count;
	log_line(w->fd, line, used);
}

static void child_pop(struct worker *w, uint64_t *rs)
{
	char line[256];
	struct queue_msgs m = { 0 };
	int q = (int)(next_rand(rs) % QUEUES);
	int len = snprintf(line, sizeof(line), "p %d %d\n", q, w->tid);
	log_line(w->fd, line, (size_t)len);
	enum queue_err e = queue_pop(w->st, qnames[q], POP_LIMIT, &m, NULL);
	len = snprintf(line, sizeof(line), "P %d %d", q, w->tid);
	for (size_t k = 0; e == QUEUE_OK && k < m.count; k++)
		len += snprintf(line + len, sizeof(line) - (size_t)len, " %llu", (unsigned long long)m.items[k].id);
	len += snprintf(line + len, sizeof(line) - (size_t)len, "\n");
	log_line(w->fd, line, (size_t)len);
	queue_msgs_free(&m);
}

static void child_lease(struct worker *w, uint64_t *rs)
{
	char line[128];
	struct queue_msgs m = { 0 };
	int q = (int)(next_rand(rs) % QUEUES);
	if (queue_lease(w->st, qnames[q], 2, LEASE_TTL_MS, &m, NULL) != QUEUE_OK)
		return;
	for (size_t k = 0; k < m.count; k++) {
		const struct queue_msg *msg = &m.items[k];
		uint64_t what = next_rand(rs) % 8;
		if (what < 5) {
			int len = snprintf(line, sizeof(line), "a %d %d %llu\n", q, w->tid,
					   (unsigned long long)msg->id);
			log_line(w->fd, line, (size_t)len);
			enum queue_err e = queue_ack(w->st, qnames[q], msg->id, msg->lease, NULL);
			len = snprintf(line, sizeof(line), "%c %d %d %llu\n", e == QUEUE_OK ? 'A' : 'X', q, w->tid,
				       (unsigned long long)msg->id);
			log_line(w->fd, line, (size_t)len);
		} else if (what < 7) {
			queue_release(w->st, qnames[q], msg->id, msg->lease, 0, NULL);
		} else {
			queue_extend(w->st, qnames[q], msg->id, msg->lease, LEASE_TTL_MS, NULL, NULL);
		}
	}
	queue_msgs_free(&m);
}

static void *child_worker(void *arg)
{
	struct worker *w = arg;
	uint64_t rs = 0x9e3779b97f4a7c15ull ^ ((uint64_t)w->round << 32) ^ (uint64_t)(w->tid + 1) * 7919u;
	long n = 0;
	for (;;) {
		uint64_t op = next_rand(&rs) % 6;
		if (op < 3)
			child_enqueue(w, &rs, &n);
		else if (op < 5)
			child_pop(w, &rs);
		else
			child_lease(w, &rs);
	}
	return NULL;
}

static struct queue_store_options crash_options(enum queue_sync sync)
{
	struct queue_store_options o;
	queue_store_options_default(&o);
	o.sync = sync;
	o.first_segment_bytes = SEG_BYTES;
	o.max_segment_bytes = SEG_BYTES;
	return o;
}

static void run_child(const char *dir, int fd, int round)
{
	struct queue_store_options o = crash_options(round % 2 ? QUEUE_SYNC_ALWAYS : QUEUE_SYNC_NONE);
	struct queue_store *st = NULL;
	pthread_t th[THREADS];
	struct worker w[THREADS];
	if (queue_store_open(dir, &o, &st, NULL) != QUEUE_OK)
		_exit(3);
	for (int t = 0; t < THREADS; t++) {
		w[t] = (struct worker){ st, fd, round, t };
		if (pthread_create(&th[t], NULL, child_worker, &w[t]) != 0)
			_exit(4);
	}
	for (;;)
		pause();
}

/* The parent's view of one round's log. */
struct enq {
	int q;
	uint64_t id;
	int round, tid;
	long n;
	size_t len;
};

struct qid {
	int q;
	uint64_t id;
};

struct model {
	struct enq *enq;
	size_t nenq, capenq;
	struct qid *removed;
	size_t nrem, caprem;
	char last[THREADS][64]; /* each thread's last line */
};

static int cmp_qid(const void *a, const void *b)
{
	const struct qid *x = a, *y = b;
	if (x->q != y->q)
		return x->q < y->q ? -1 : 1;
	return x->id < y->id ? -1 : x->id > y->id;
}

static int cmp_enq(const void *a, const void *b)
{
	const struct enq *x = a, *y = b;
	if (x->q != y->q)
		return x->q < y->q ? -1 : 1;
	return x->id < y->id ? -1 : x->id > y->id;
}

static void add_removed(struct model *m, int q, uint64_t id)
{
	if (m->nrem == m->caprem) {
		m->caprem = m->caprem ? m->caprem * 2 : 256;
		m->removed = realloc(m->removed, m->caprem * sizeof(*m->removed));
	}
	m->removed[m->nrem++] = (struct qid){ q, id };
}

static void parse_line(struct model *m, char *line)
{
	int q = -1, tid = -1, round = 0, used = 0;
	unsigned long long id = 0;
	long n = 0;
	size_t len = 0;
	if (line[0] == 'E' && sscanf(line, "E %d %llu %d %d %ld %zu", &q, &id, &round, &tid, &n, &len) == 6) {
		if (m->nenq == m->capenq) {
			m->capenq = m->capenq ? m->capenq * 2 : 256;
			m->enq = realloc(m->enq, m->capenq * sizeof(*m->enq));
		}
		m->enq[m->nenq++] = (struct enq){ q, id, round, tid, n, len };
	} else if (line[0] == 'P' && sscanf(line, "P %d %d%n", &q, &tid, &used) == 2) {
		char *p = line + used, *end;
		for (;;) {
			id = strtoull(p, &end, 10);
			if (end == p)
				break;
			add_removed(m, q, id);
			p = end;
		}
	} else if (line[0] == 'A' && sscanf(line, "A %d %d %llu", &q, &tid, &id) == 3) {
		add_removed(m, q, id);
	} else if (sscanf(line, "%*c %d %d", &q, &tid) != 2) {
		cr_assert_fail("bad log line: %s", line);
	}
	if (line[0] != 'E' && tid >= 0 && tid < THREADS)
		snprintf(m->last[tid], sizeof(m->last[tid]), "%s", line);
	else if (tid >= 0 && tid < THREADS)
		m->last[tid][0] = '\0';
}

/* load_log reads the complete lines of the log file into m. */
static void load_log(const char *path, struct model *m)
{
	long long size = tu_file_size(path);
	cr_assert_geq(size, 0);
	char *buf = malloc((size_t)size + 1);
	cr_assert_eq(size == 0 ? 0 : tu_file_read(path, 0, buf, (size_t)size), 0);
	buf[size] = '\0';
	char *p = buf;
	for (;;) {
		char *nl = strchr(p, '\n');
		if (nl == NULL)
			break; /* a torn last line was never acknowledged */
		*nl = '\0';
		parse_line(m, p);
		p = nl + 1;
	}
	free(buf);
	qsort(m->enq, m->nenq, sizeof(*m->enq), cmp_enq);
	qsort(m->removed, m->nrem, sizeof(*m->removed), cmp_qid);
}

static uint64_t max_id[QUEUES];

/* check_message checks one drained message of queue q and returns its writer's tag in *tid_out, *n_out. */
static void check_message(const struct model *m, int q, int round, const struct queue_msg *msg, int *tid_out,
			  long *n_out)
{
	char buf[600];
	int r = -1, tid = -1;
	long n = -1;
	cr_assert_lt(msg->len, sizeof(buf));
	memcpy(buf, msg->payload, msg->len);
	buf[msg->len] = '\0';
	cr_assert_eq(sscanf(buf, "c%d-%d-%ld:", &r, &tid, &n), 3, "unparseable payload of id %llu",
		     (unsigned long long)msg->id);
	cr_assert_eq(r, round, "a message from round %d came back in round %d", r, round);
	char want[600];
	make_payload(want, msg->len, r, tid, n);
	cr_assert_eq(memcmp(want, msg->payload, msg->len), 0, "payload of id %llu differs",
		     (unsigned long long)msg->id);
	struct qid key = { q, msg->id };
	cr_assert_null(bsearch(&key, m->removed, m->nrem, sizeof(key), cmp_qid),
		       "round %d: id %llu in %s was acknowledged removed but came back", round,
		       (unsigned long long)msg->id, qnames[q]);
	struct enq ek = { .q = q, .id = msg->id };
	const struct enq *e = bsearch(&ek, m->enq, m->nenq, sizeof(ek), cmp_enq);
	if (e != NULL) {
		cr_assert_eq(e->tid, tid);
		cr_assert_eq(e->n, n);
		cr_assert_eq(e->len, msg->len);
	}
	*tid_out = tid;
	*n_out = n;
}

struct tag {
	int tid;
	long n;
};

static int cmp_tag(const void *a, const void *b)
{
	const struct tag *x = a, *y = b;
	if (x->tid != y->tid)
		return x->tid - y->tid;
	return x->n < y->n ? -1 : x->n > y->n;
}

/* verify_round reopens dir and checks it against the round's log, draining every queue. */
static void verify_round(const char *dir, const char *log, int round, uint64_t killed_at)
{
	struct model m;
	struct queue_store *st = NULL;
	struct queue_store_options o = crash_options(QUEUE_SYNC_NONE);
	struct qid *seen = NULL;
	struct tag *tags = NULL;
	size_t nseen = 0, cap = 0;
	memset(&m, 0, sizeof(m));
	load_log(log, &m);
	struct queue_recovery rep;
	cr_assert_eq(queue_store_open(dir, &o, &st, &rep), QUEUE_OK, "round %d: reopen", round);
	if (getenv("MMQ_CRASH_VERBOSE") != NULL)
		fprintf(stderr, "round %d: records %llu corrupt %llu torn %llu %s\n", round,
			(unsigned long long)rep.records, (unsigned long long)rep.corrupt_records,
			(unsigned long long)rep.torn_bytes, rep.first_problem);
	uint64_t now = tu_now_ms();
	if (now < killed_at + LEASE_TTL_MS + 60)
		tu_sleep_ms((unsigned)(killed_at + LEASE_TTL_MS + 60 - now));
	queue_store_tick(st);
	for (int q = 0; q < QUEUES; q++) {
		uint64_t last = 0;
		for (;;) {
			struct queue_msgs msgs = { 0 };
			enum queue_err e = queue_pop(st, qnames[q], QUEUE_BATCH_MAX, &msgs, NULL);
			cr_assert_eq(e, QUEUE_OK, "round %d: drain %s: %s", round, qnames[q], queue_strerror(e));
			if (msgs.count == 0)
				break;
			for (size_t k = 0; k < msgs.count; k++) {
				cr_assert_gt(msgs.items[k].id, last, "round %d: %s out of id order", round, qnames[q]);
				last = msgs.items[k].id;
				int tid;
				long n;
				check_message(&m, q, round, &msgs.items[k], &tid, &n);
				if (nseen == cap) {
					cap = cap ? cap * 2 : 256;
					seen = realloc(seen, cap * sizeof(*seen));
					tags = realloc(tags, cap * sizeof(*tags));
				}
				tags[nseen] = (struct tag){ tid, n };
				seen[nseen++] = (struct qid){ q, msgs.items[k].id };
			}
			queue_msgs_free(&msgs);
		}
		struct queue_stats s;
		if (queue_stats(st, qnames[q], &s) == QUEUE_OK)
			cr_assert_eq(s.depth + s.in_flight + s.delayed, 0, "round %d: %s not drained", round, qnames[q]);
		if (last > max_id[q])
			max_id[q] = last;
	}
	/* No enqueue may appear twice, under any id. */
	qsort(tags, nseen, sizeof(*tags), cmp_tag);
	for (size_t k = 1; k < nseen; k++)
		cr_assert(tags[k].tid != tags[k - 1].tid || tags[k].n != tags[k - 1].n,
			  "round %d: enqueue %d/%ld delivered twice", round, tags[k].tid, tags[k].n);
	qsort(seen, nseen, sizeof(*seen), cmp_qid);

	/* Every acknowledged enqueue is there unless its removal was acknowledged or was in flight. */
	size_t missing[QUEUES] = { 0 }, pending_pops[QUEUES] = { 0 };
	for (int t = 0; t < THREADS; t++) {
		int q;
		if (m.last[t][0] == 'p' && sscanf(m.last[t], "p %d", &q) == 1)
			pending_pops[q] += POP_LIMIT;
	}
	for (size_t k = 0; k < m.nenq; k++) {
		const struct enq *e = &m.enq[k];
		struct qid key = { e->q, e->id };
		if (e->id > max_id[e->q])
			max_id[e->q] = e->id;
		if (bsearch(&key, m.removed, m.nrem, sizeof(key), cmp_qid) != NULL)
			continue;
		if (bsearch(&key, seen, nseen, sizeof(key), cmp_qid) != NULL)
			continue;
		int acked_in_flight = 0;
		for (int t = 0; t < THREADS; t++) {
			int q, tid;
			unsigned long long id;
			if (m.last[t][0] == 'a' && sscanf(m.last[t], "a %d %d %llu", &q, &tid, &id) == 3 &&
			    q == e->q && id == e->id)
				acked_in_flight = 1;
		}
		if (!acked_in_flight)
			missing[e->q]++;
	}
	for (int q = 0; q < QUEUES; q++)
		cr_assert_leq(missing[q], pending_pops[q],
			      "round %d (%s): %zu acknowledged messages of %s lost (only %zu pops were in flight)",
			      round, round % 2 ? "always" : "none", missing[q], qnames[q], pending_pops[q]);
	for (size_t k = 0; k < m.nrem; k++)
		if (m.removed[k].id > max_id[m.removed[k].q])
			max_id[m.removed[k].q] = m.removed[k].id;

	/* New ids continue above every id seen so far. */
	for (int q = 0; q < QUEUES; q++) {
		struct queue_payload p = { "c-probe", 7 };
		struct queue_msgs msgs = { 0 };
		uint64_t id = 0;
		cr_assert_eq(queue_enqueue(st, qnames[q], &p, 1, 0, &id, NULL), QUEUE_OK);
		cr_assert_gt(id, max_id[q], "round %d: new id %llu not above %llu", round, (unsigned long long)id,
			     (unsigned long long)max_id[q]);
		max_id[q] = id;
		cr_assert_eq(queue_pop(st, qnames[q], 10, &msgs, NULL), QUEUE_OK);
		cr_assert_eq(msgs.count, 1);
		queue_msgs_free(&msgs);
	}
	cr_assert_eq(queue_store_close(st), QUEUE_OK);
	cr_log_info("round %d: %zu enqueues, %zu removals logged, %zu drained", round, m.nenq, m.nrem, nseen);
	free(seen);
	free(tags);
	free(m.enq);
	free(m.removed);
}

Test(queue_crash, sigkill_under_load_loses_no_acknowledged_change, .timeout = 120)
{
	char *dir = tu_tempdir();
	char *data = tu_path(dir, "data");
	char *log = tu_path(dir, "acked.log");
	uint64_t seed = (uint64_t)getpid() * 2654435761u ^ tu_now_ms();
	cr_log_info("crash seed %llu", (unsigned long long)seed);
	for (int round = 0; round < ROUNDS; round++) {
		int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0644);
		cr_assert_geq(fd, 0);
		pid_t pid = fork();
		cr_assert_geq(pid, 0);
		if (pid == 0)
			run_child(data, fd, round);
		close(fd);
		/* 20..200 ms of life: opening the store, then load. */
		tu_sleep_ms(20 + (unsigned)(next_rand(&seed) % 181));
		cr_assert_eq(kill(pid, SIGKILL), 0);
		int status = 0;
		cr_assert_eq(waitpid(pid, &status, 0), pid);
		cr_assert(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL,
			  "round %d: the child died on its own (status %#x)", round, status);
		verify_round(data, log, round, tu_now_ms());
	}
	tu_rmrf(dir);
	free(log);
	free(data);
	free(dir);
}

/* bench_queue.c: in-process throughput of the mmq engine against SQLite used as a queue, and mmq's peak memory. */
#include <errno.h>
#include <ftw.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"

/*
 * Every row runs one workload for a fixed time (BENCH_BASE_SECONDS times
 * BENCH_SCALE) or until a payload-byte cap, on a fresh mmq store and on a
 * fresh SQLite database in the matching durability mode. The enqueue run
 * fills the queue that the pop run then drains; lease+ack gets its own
 * prefill. An op is one enqueue, one pop, or one lease followed by its ack.
 */

#define BENCH_BASE_SECONDS 1.0
#define BENCH_CAP_BYTES (256ull << 20)
#define BENCH_QNAME "bench"
#define BENCH_RSS_COUNT 1000000ull
#define BENCH_RSS_PAYLOAD 1024u
#define BENCH_MAX_THREADS 8

/* One timed run of one workload by several threads. */
struct bench_run {
	const struct bench_backend *be;
	void *env;
	bench_op_fn op;
	const char *payload;
	size_t len;
	uint64_t cap_per_thread;
	uint64_t deadline_ns;
	pthread_barrier_t opened, go;
	atomic_uint_fast64_t ops;
	atomic_uint_fast64_t end_ns;
	atomic_int failed;
};

static const char *const WORK_NAMES[WORK_COUNT] = { "enqueue", "pop", "lease+ack" };
static const size_t PAYLOADS[] = { 128, 4096 };
static const enum queue_sync SYNCS[] = { QUEUE_SYNC_ALWAYS, QUEUE_SYNC_INTERVAL, QUEUE_SYNC_NONE };
static const unsigned THREADS[] = { 1, BENCH_MAX_THREADS };
#define NPAY (sizeof(PAYLOADS) / sizeof(PAYLOADS[0]))
#define NSYNC (sizeof(SYNCS) / sizeof(SYNCS[0]))
#define NTHR (sizeof(THREADS) / sizeof(THREADS[0]))

static uint64_t bench_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

uint64_t bench_wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000ull + (uint64_t)ts.tv_nsec / 1000000ull;
}

/* bench_payload_fill writes a JSON object of exactly len bytes (len >= 16) into buf. */
static void bench_payload_fill(char *buf, size_t len)
{
	memset(buf, 'x', len);
	memcpy(buf, "{\"data\":\"", 9);
	memcpy(buf + len - 2, "\"}", 2);
}

/* ---- mmq ---- */

struct mmq_conn {
	struct queue_store *store;
};

static int mmq_open(const char *path, enum queue_sync sync, void **env)
{
	struct queue_store_options o;
	struct queue_store *store = NULL;
	enum queue_err err;

	queue_store_options_default(&o);
	o.sync = sync;
	err = queue_store_open(path, &o, &store, NULL);
	if (err != QUEUE_OK) {
		fprintf(stderr, "bench_queue: queue_store_open: %s\n", queue_strerror(err));
		return -1;
	}
	*env = store;
	return 0;
}

static void mmq_close(void *env)
{
	queue_store_close(env);
}

static int mmq_conn_open(void *env, void **conn)
{
	struct mmq_conn *c = malloc(sizeof(*c));

	if (c == NULL)
		return -1;
	c->store = env;
	*conn = c;
	return 0;
}

static void mmq_conn_close(void *conn)
{
	free(conn);
}

/* mmq_done waits for t when err is QUEUE_OK and says whether both went well. */
static int mmq_done(enum queue_err err, struct queue_ticket *t, const char *what)
{
	if (err == QUEUE_OK)
		err = queue_ticket_wait(t);
	if (err != QUEUE_OK) {
		fprintf(stderr, "bench_queue: %s: %s\n", what, queue_strerror(err));
		return -1;
	}
	return 1;
}

static int mmq_prefill(void *conn, const void *payload, size_t len, uint64_t count)
{
	struct mmq_conn *c = conn;
	struct queue_payload items[QUEUE_BATCH_MAX];
	struct queue_ticket t = { 0 };

	for (size_t i = 0; i < QUEUE_BATCH_MAX; i++)
		items[i] = (struct queue_payload){ payload, len };
	while (count > 0) {
		size_t n = count < QUEUE_BATCH_MAX ? (size_t)count : QUEUE_BATCH_MAX;

		if (mmq_done(queue_enqueue(c->store, BENCH_QNAME, items, n, 0, NULL, &t), &t,
			     "queue_enqueue") < 0)
			return -1;
		count -= n;
	}
	return 0;
}

static int mmq_enqueue(void *conn, const void *payload, size_t len, char *scratch)
{
	struct mmq_conn *c = conn;
	struct queue_payload item = { payload, len };
	struct queue_ticket t = { 0 };

	(void)scratch;
	return mmq_done(queue_enqueue(c->store, BENCH_QNAME, &item, 1, 0, NULL, &t), &t,
			"queue_enqueue");
}

/* mmq_take copies the one message of m into scratch, as a client would, and frees m. */
static int mmq_take(struct queue_msgs *m, char *scratch)
{
	int got = m->count > 0;

	if (got)
		memcpy(scratch, m->items[0].payload, m->items[0].len);
	queue_msgs_free(m);
	return got;
}

static int mmq_pop(void *conn, const void *payload, size_t len, char *scratch)
{
	struct mmq_conn *c = conn;
	struct queue_msgs m = { 0 };
	struct queue_ticket t = { 0 };

	(void)payload;
	(void)len;
	if (mmq_done(queue_pop(c->store, BENCH_QNAME, 1, &m, &t), &t, "queue_pop") < 0) {
		queue_msgs_free(&m);
		return -1;
	}
	return mmq_take(&m, scratch);
}

static int mmq_lease_ack(void *conn, const void *payload, size_t len, char *scratch)
{
	struct mmq_conn *c = conn;
	struct queue_msgs m = { 0 };
	struct queue_ticket t = { 0 };
	uint64_t id, lease;

	(void)payload;
	(void)len;
	if (mmq_done(queue_lease(c->store, BENCH_QNAME, 1, BENCH_LEASE_MS, &m, &t), &t,
		     "queue_lease") < 0) {
		queue_msgs_free(&m);
		return -1;
	}
	if (m.count == 0) {
		queue_msgs_free(&m);
		return 0;
	}
	id = m.items[0].id;
	lease = m.items[0].lease;
	mmq_take(&m, scratch);
	return mmq_done(queue_ack(c->store, BENCH_QNAME, id, lease, &t), &t, "queue_ack");
}

static const struct bench_backend MMQ_BACKEND = {
	"mmq", mmq_open, mmq_close, mmq_conn_open, mmq_conn_close, mmq_prefill,
	{ mmq_enqueue, mmq_pop, mmq_lease_ack },
};

/* ---- the runner ---- */

static void *bench_thread(void *arg)
{
	struct bench_run *run = arg;
	void *conn = NULL;
	char *scratch = malloc(run->len);
	uint64_t n = 0;
	int opened = scratch != NULL && run->be->conn_open(run->env, &conn) == 0;

	if (!opened)
		atomic_store(&run->failed, 1);
	pthread_barrier_wait(&run->opened);
	pthread_barrier_wait(&run->go);
	while (opened && n < run->cap_per_thread && bench_now_ns() < run->deadline_ns) {
		int rc = run->op(conn, run->payload, run->len, scratch);

		if (rc < 0)
			atomic_store(&run->failed, 1);
		if (rc <= 0)
			break;
		n++;
	}
	uint64_t end = bench_now_ns(), prev = atomic_load(&run->end_ns);

	while (end > prev && !atomic_compare_exchange_weak(&run->end_ns, &prev, end))
		;
	atomic_fetch_add(&run->ops, n);
	if (conn != NULL)
		run->be->conn_close(conn);
	free(scratch);
	return NULL;
}

/* bench_timed runs run->op on nthreads threads; returns ops per second, or -1 on failure. */
static double bench_timed(struct bench_run *run, unsigned nthreads, double seconds,
			  uint64_t *done)
{
	pthread_t tid[BENCH_MAX_THREADS];
	uint64_t start;

	atomic_store(&run->ops, 0);
	atomic_store(&run->end_ns, 0);
	atomic_store(&run->failed, 0);
	pthread_barrier_init(&run->opened, NULL, nthreads + 1);
	pthread_barrier_init(&run->go, NULL, nthreads + 1);
	for (unsigned i = 0; i < nthreads; i++)
		pthread_create(&tid[i], NULL, bench_thread, run);
	pthread_barrier_wait(&run->opened);
	start = bench_now_ns();
	run->deadline_ns = start + (uint64_t)(seconds * 1e9);
	pthread_barrier_wait(&run->go);
	for (unsigned i = 0; i < nthreads; i++)
		pthread_join(tid[i], NULL);
	pthread_barrier_destroy(&run->opened);
	pthread_barrier_destroy(&run->go);
	*done = atomic_load(&run->ops);
	if (atomic_load(&run->failed) || *done == 0)
		return -1;
	return (double)*done / ((double)(atomic_load(&run->end_ns) - start) / 1e9);
}

static int bench_rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	remove(path);
	return 0;
}

static void bench_rm_tree(const char *path)
{
	nftw(path, bench_rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* bench_group measures the three workloads on one backend; rates[w] gets ops/s or -1. */
static void bench_group(const struct bench_backend *be, const char *path, size_t len,
			enum queue_sync sync, unsigned nthreads, double seconds, double rates[])
{
	struct bench_run run = { .be = be, .len = len };
	char *payload = malloc(len);
	void *conn = NULL;
	uint64_t cap = BENCH_CAP_BYTES / len, filled = 0;

	for (int w = 0; w < WORK_COUNT; w++)
		rates[w] = -1;
	if (payload == NULL || be->open(path, sync, &run.env) < 0)
		goto done;
	bench_payload_fill(payload, len);
	run.payload = payload;
	run.cap_per_thread = cap / nthreads;
	run.op = be->ops[WORK_ENQUEUE];
	rates[WORK_ENQUEUE] = bench_timed(&run, nthreads, seconds, &filled);
	run.cap_per_thread = UINT64_MAX;
	run.op = be->ops[WORK_POP];
	rates[WORK_POP] = bench_timed(&run, nthreads, seconds, &filled);
	/* Lease+ack drains a fresh prefill as large as what enqueue managed. */
	if (be->conn_open(run.env, &conn) == 0) {
		filled = rates[WORK_ENQUEUE] > 0 ? (uint64_t)(rates[WORK_ENQUEUE] * seconds) : 1000;
		if (be->prefill(conn, payload, len, filled < cap ? filled + 1000 : cap) == 0) {
			run.op = be->ops[WORK_LEASE_ACK];
			rates[WORK_LEASE_ACK] = bench_timed(&run, nthreads, seconds, &filled);
		}
		be->conn_close(conn);
	}
	be->close(run.env);
done:
	bench_rm_tree(path);
	free(payload);
}

/* ---- peak memory ---- */

/* bench_status_kib returns field (e.g. "VmHWM:") of /proc/self/status in KiB, or -1. */
static long bench_status_kib(const char *field)
{
	FILE *f = fopen("/proc/self/status", "r");
	char line[256];
	long kib = -1;

	if (f == NULL)
		return -1;
	while (fgets(line, sizeof(line), f) != NULL)
		if (strncmp(line, field, strlen(field)) == 0)
			kib = strtol(line + strlen(field), NULL, 10);
	fclose(f);
	return kib;
}

/* bench_rss_child is the whole of the child process: fill a fresh store, report its peak. */
static int bench_rss_child(const char *dir, uint64_t count)
{
	struct queue_store_options o;
	struct queue_store *store = NULL;
	struct queue_payload item;
	struct rusage ru;
	char payload[BENCH_RSS_PAYLOAD];
	uint64_t start = bench_now_ns();
	enum queue_err err;

	bench_payload_fill(payload, sizeof(payload));
	item = (struct queue_payload){ payload, sizeof(payload) };
	queue_store_options_default(&o);
	o.sync = QUEUE_SYNC_NONE;
	err = queue_store_open(dir, &o, &store, NULL);
	for (uint64_t i = 0; err == QUEUE_OK && i < count; i++)
		err = queue_enqueue(store, BENCH_QNAME, &item, 1, 0, NULL, NULL);
	if (err != QUEUE_OK) {
		fprintf(stderr, "bench_queue: rss child: %s\n", queue_strerror(err));
		queue_store_close(store);
		return 1;
	}
	getrusage(RUSAGE_SELF, &ru);
	printf("enqueued %llu x %u B (one per call, --sync none) in %.2f s\n",
	       (unsigned long long)count, BENCH_RSS_PAYLOAD, (double)(bench_now_ns() - start) / 1e9);
	printf("peak RSS: ru_maxrss %.1f MiB, VmHWM %.1f MiB (goal < 100 MiB)\n",
	       (double)ru.ru_maxrss / 1024.0, (double)bench_status_kib("VmHWM:") / 1024.0);
	printf("now:      VmRSS %.1f MiB = RssAnon %.1f MiB + RssFile %.1f MiB + RssShmem %.1f MiB\n",
	       (double)bench_status_kib("VmRSS:") / 1024.0,
	       (double)bench_status_kib("RssAnon:") / 1024.0,
	       (double)bench_status_kib("RssFile:") / 1024.0,
	       (double)bench_status_kib("RssShmem:") / 1024.0);
	fflush(stdout);
	return queue_store_close(store) == QUEUE_OK ? 0 : 1;
}

/*
 * bench_rss runs bench_rss_child in a fresh process before anything else is
 * measured: Linux carries the high-water mark of the image a child replaces
 * into its ru_maxrss at exec, so the parent must still be small. The child's
 * report goes to report_path, for bench_rss_print() to show after the table.
 */
static void bench_rss(const char *root, uint64_t count, const char *report_path)
{
	char dir[4096], num[32];
	struct rusage ru;
	int status = 0;
	pid_t pid;
	FILE *out;

	snprintf(dir, sizeof(dir), "%s/rss", root);
	snprintf(num, sizeof(num), "%llu", (unsigned long long)count);
	fprintf(stderr, "  mmq peak memory: %s x %u B\n", num, BENCH_RSS_PAYLOAD);
	fflush(stdout);
	getrusage(RUSAGE_SELF, &ru);
	pid = fork();
	if (pid == 0) {
		if (freopen(report_path, "w", stdout) == NULL)
			_exit(126);
		printf("(the parent's ru_maxrss when it forked: %.1f MiB)\n", (double)ru.ru_maxrss / 1024.0);
		fflush(stdout);
		execl("/proc/self/exe", "bench_queue", "--rss-child", dir, num, (char *)NULL);
		_exit(127);
	}
	out = fopen(report_path, "a");
	if (pid < 0 || waitpid(pid, &status, 0) != pid || !WIFEXITED(status) ||
	    WEXITSTATUS(status) != 0)
		fprintf(out != NULL ? out : stderr, "the child failed (status %d)\n", status);
	getrusage(RUSAGE_CHILDREN, &ru);
	if (out != NULL) {
		fprintf(out, "the child's ru_maxrss as its parent saw it: %.1f MiB\n",
			(double)ru.ru_maxrss / 1024.0);
		fclose(out);
	}
	bench_rm_tree(dir);
}

/* bench_rss_print copies the child's report to stdout. */
static void bench_rss_print(const char *report_path)
{
	FILE *in = fopen(report_path, "r");
	char line[512];

	printf("\nPeak memory of a fresh process enqueuing into a fresh store (run first):\n");
	while (in != NULL && fgets(line, sizeof(line), in) != NULL)
		fputs(line, stdout);
	if (in != NULL)
		fclose(in);
}

/* ---- main ---- */

static double g_rates[WORK_COUNT][NPAY][NSYNC][NTHR][2];

static void bench_print(void)
{
	unsigned below = 0, rows = 0;

	printf("\n%-10s %8s %-9s %7s %14s %14s %8s\n", "workload", "payload", "sync", "threads",
	       "mmq ops/s", "sqlite ops/s", "ratio");
	for (int w = 0; w < WORK_COUNT; w++)
		for (size_t p = 0; p < NPAY; p++)
			for (size_t s = 0; s < NSYNC; s++)
				for (size_t t = 0; t < NTHR; t++) {
					double m = g_rates[w][p][s][t][0], q = g_rates[w][p][s][t][1];
					double r = m > 0 && q > 0 ? m / q : 0;

					printf("%-10s %6zu B %-9s %7u %14.0f %14.0f %7.1fx\n",
					       WORK_NAMES[w], PAYLOADS[p], queue_sync_name(SYNCS[s]),
					       THREADS[t], m, q, r);
					rows++;
					below += r < 10.0;
				}
	printf("(an op is one enqueue, one pop, or one lease and its ack; -1 = failed)\n");
	printf("goal: mmq >= 10x SQLite in every row: %u of %u rows below 10x\n", below, rows);
}

static double bench_scale(int argc, char **argv)
{
	const char *env = getenv("BENCH_SCALE");
	double scale = env != NULL ? strtod(env, NULL) : 1.0;

	for (int i = 1; i < argc; i++)
		if (strcmp(argv[i], "--quick") == 0)
			scale = 0.2;
	return scale > 0 && scale <= 100 ? scale : 1.0;
}

int main(int argc, char **argv)
{
	static const struct bench_backend *const BACKENDS[2] = { &MMQ_BACKEND, &BENCH_SQLITE };
	char root[] = "/tmp/mmq-bench-XXXXXX", path[4200], report[4200];
	double scale, seconds, rates[WORK_COUNT];
	uint64_t rss_count;

	if (argc == 4 && strcmp(argv[1], "--rss-child") == 0)
		return bench_rss_child(argv[2], strtoull(argv[3], NULL, 10));
	scale = bench_scale(argc, argv);
	seconds = BENCH_BASE_SECONDS * scale;
	rss_count = scale < 1.0 ? (uint64_t)((double)BENCH_RSS_COUNT * scale) : BENCH_RSS_COUNT;
	if (mkdtemp(root) == NULL) {
		perror("bench_queue: mkdtemp");
		return 1;
	}
	printf("bench_queue: %.2f s per run (BENCH_SCALE %.2f), data in %s, SQLite %s\n", seconds,
	       scale, root, sqlite3_libversion());
	fflush(stdout);
	snprintf(report, sizeof(report), "%s/rss.txt", root);
	bench_rss(root, rss_count, report);
	for (size_t p = 0; p < NPAY; p++)
		for (size_t s = 0; s < NSYNC; s++)
			for (size_t t = 0; t < NTHR; t++)
				for (int b = 0; b < 2; b++) {
					fprintf(stderr, "  %s %zu B %s %u threads\n", BACKENDS[b]->name,
						PAYLOADS[p], queue_sync_name(SYNCS[s]), THREADS[t]);
					snprintf(path, sizeof(path), "%s/%s", root, BACKENDS[b]->name);
					bench_group(BACKENDS[b], path, PAYLOADS[p], SYNCS[s], THREADS[t],
						    seconds, rates);
					for (int w = 0; w < WORK_COUNT; w++)
						g_rates[w][p][s][t][b] = rates[w];
				}
	bench_print();
	bench_rss_print(report);
	bench_rm_tree(root);
	return 0;
}

/* crash_loop.c: mmqd under concurrent HTTP load, SIGKILLed at random moments and restarted, checked after every restart. */
#include <curl/curl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../httputil.h"
#include "../testutil.h"
#include "check.h"
#include "client.h"
#include "journal.h"
#include "payload.h"

/*
 * How a round goes. One mmqd process serves a whole round: it is started on
 * the data directory the previous round left behind (right after that round's
 * SIGKILL), first checked, then put under load by CLIENTS processes, then
 * killed at a random moment. Its sync mode cycles through always, interval and
 * none. A kill -9 loses nothing acknowledged in any mode (the page cache
 * outlives the process), so the same invariants hold after every round.
 *
 * How the check observes "present" without changing anything. The clients'
 * leases last one second, so the checker first waits until the server reports
 * no message in flight and none delayed (every lease of a killed client has
 * run out). Then every message of a queue is visible, and one peek
 * (GET messages?limit=1000, which removes nothing, writes nothing and returns
 * messages in id order) lists them all; the checker insists the peek returns
 * exactly the queue's depth. The clients add fewer messages when the backlog
 * nears BACKLOG (see cli_config), so a queue stays well below the 1000 a peek can list;
 * a bigger backlog fails the run rather than being checked partially. Because
 * the check only reads, the state it saw is exactly the state the next round
 * starts from, and the model carries it forward: a message must stay until an
 * acknowledged removal, round after round.
 */

#define CLIENTS 4
#define PEEK_MAX 1000
#define BACKLOG 200
#define LOAD_MIN_MS 200u
#define LOAD_SPAN_MS 1300u

static const char *const sync_modes[] = { "always", "interval", "none" };

/* The run: its server, where the journals go, the model and the random stream. */
struct run {
	struct th_server srv;
	struct chk_model model;
	uint64_t rs;
	unsigned rounds;
	char err[1024];
};

static uint64_t rnd(struct run *run)
{
	run->rs ^= run->rs << 13;
	run->rs ^= run->rs >> 7;
	run->rs ^= run->rs << 17;
	return run->rs;
}

static char *journal_path(const struct run *run, uint32_t round, uint32_t client)
{
	char name[64];
	snprintf(name, sizeof(name), "journal-%u-%u.log", (unsigned)round, (unsigned)client);
	return tu_path(run->srv.dir, name);
}

/* stat_field reads "name":N from a stats answer; UINT64_MAX when absent. */
static uint64_t stat_field(const char *body, const char *name)
{
	char key[64];
	snprintf(key, sizeof(key), "\"%s\":", name);
	const char *p = strstr(body, key);
	return p != NULL ? strtoull(p + strlen(key), NULL, 10) : UINT64_MAX;
}

/* settle waits until queue q has nothing leased or delayed and returns its depth, or UINT64_MAX. */
static uint64_t settle(struct run *run, int q)
{
	char path[128];
	struct th_resp r;
	uint64_t until = tu_now_ms() + 20000, depth = UINT64_MAX;
	while (depth == UINT64_MAX && tu_now_ms() < until) {
		/* A read runs the queue's due timers, so leases that ran out show at once. */
		snprintf(path, sizeof(path), "/v1/queues/%s/messages?limit=1", cli_queue_names[q]);
		th_call(&run->srv, "GET", path, NULL, &r);
		th_resp_free(&r);
		snprintf(path, sizeof(path), "/v1/queues/%s", cli_queue_names[q]);
		long status = th_call(&run->srv, "GET", path, NULL, &r);
		if (status == 404)
			depth = 0;
		else if (status == 200 && stat_field(r.body, "in_flight") == 0 && stat_field(r.body, "delayed") == 0)
			depth = stat_field(r.body, "depth");
		th_resp_free(&r);
		if (depth == UINT64_MAX)
			tu_sleep_ms(50);
	}
	return depth;
}

/* observe lists every message of queue q into *out (*n of them), verifying each payload. */
static bool observe(struct run *run, int q, struct chk_msg **out, size_t *n)
{
	static struct json_msg msgs[PEEK_MAX + 1];
	char path[128];
	struct th_resp r;
	uint64_t depth = settle(run, q);
	*out = NULL;
	*n = 0;
	if (depth == UINT64_MAX || depth > PEEK_MAX) {
		snprintf(run->err, sizeof(run->err), "queue %s: %s", cli_queue_names[q],
			 depth == UINT64_MAX ? "leases did not run out within 20 s" : "backlog above 1000");
		return false;
	}
	snprintf(path, sizeof(path), "/v1/queues/%s/messages?limit=%d", cli_queue_names[q], PEEK_MAX);
	long status = th_call(&run->srv, "GET", path, NULL, &r);
	int got = status == 200 ? json_messages(r.body, r.len, msgs, PEEK_MAX) : -1;
	bool ok = got >= 0 && (uint64_t)got == depth;
	*out = calloc((size_t)(got > 0 ? got : 1), sizeof(**out));
	if (*out == NULL)
		abort();
	for (int i = 0; ok && i < got; i++) {
		(*out)[i].id = msgs[i].id;
		ok = pay_check(msgs[i].payload, msgs[i].len, &(*out)[i].tag);
		if (!ok)
			snprintf(run->err, sizeof(run->err), "queue %s: id %llu is held with a damaged payload",
				 cli_queue_names[q], (unsigned long long)msgs[i].id);
	}
	if (!ok && run->err[0] == '\0')
		snprintf(run->err, sizeof(run->err), "queue %s: peek answered %ld with %d messages, depth %llu",
			 cli_queue_names[q], status, got, (unsigned long long)depth);
	*n = ok ? (size_t)got : 0;
	th_resp_free(&r);
	return ok;
}

/* check_round reads round's journals and checks them against what the restarted server holds. */
static bool check_round(struct run *run, uint32_t round, unsigned clients)
{
	struct jr_round jr = { .round = round };
	struct chk_msg *seen[CLI_QUEUES] = { NULL };
	size_t nseen[CLI_QUEUES] = { 0 };
	bool ok = true;
	run->err[0] = '\0';
	for (uint32_t c = 0; c < clients && ok; c++) {
		char *path = journal_path(run, round, c);
		ok = jr_load(&jr, path, c, run->err, sizeof(run->err));
		free(path);
	}
	for (int q = 0; q < CLI_QUEUES && ok; q++)
		ok = observe(run, q, &seen[q], &nseen[q]);
	if (ok)
		ok = chk_round(&run->model, &jr, seen, nseen, run->err, sizeof(run->err));
	for (uint32_t c = 0; c < clients && ok; c++) {
		char *path = journal_path(run, round, c);
		unlink(path);
		free(path);
	}
	for (int q = 0; q < CLI_QUEUES; q++)
		free(seen[q]);
	jr_free(&jr);
	return ok;
}

/* start_server starts mmqd on the run's data directory in round's sync mode. */
static bool start_server(struct run *run, uint32_t round)
{
	const char *args[] = { "--sync", sync_modes[round % 3], "--sync-interval-ms", "100", NULL };
	if (!th_start(&run->srv, args)) {
		snprintf(run->err, sizeof(run->err), "mmqd did not (re)start; its log is %s", run->srv.log);
		return false;
	}
	/* A kill -9 leaves at most a torn tail; damage inside the log would mean the engine broke it. */
	if (!th_log_contains(&run->srv, "corrupt_records=0 ")) {
		snprintf(run->err, sizeof(run->err), "recovery after the kill found damaged records; see %s",
			 run->srv.log);
		return false;
	}
	return true;
}

/* client_failure explains a client that stopped for another reason than the kill. */
static void client_failure(struct run *run, uint32_t round, uint32_t client, int status)
{
	struct jr_round jr = { .round = round };
	char *path = journal_path(run, round, client);
	if (jr_load(&jr, path, client, run->err, sizeof(run->err)) || run->err[0] == '\0')
		snprintf(run->err, sizeof(run->err), "round %u: client %u stopped with status %d (journal %s)",
			 (unsigned)round, (unsigned)client, status, path);
	jr_free(&jr);
	free(path);
}

/* wait_clients reaps the clients after the kill; false when one failed or hangs. */
static bool wait_clients(struct run *run, uint32_t round, const pid_t *pids)
{
	uint64_t until = tu_now_ms() + 30000;
	bool ok = true;
	for (uint32_t c = 0; c < CLIENTS; c++) {
		int status = 0;
		while (waitpid(pids[c], &status, WNOHANG) == 0) {
			if (tu_now_ms() > until) {
				kill(pids[c], SIGKILL);
				waitpid(pids[c], &status, 0);
				break;
			}
			tu_sleep_ms(2);
		}
		int code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
		if (code != 0 && ok) {
			client_failure(run, round, c, code);
			ok = false;
		}
	}
	return ok;
}

/* run_load puts the server under load from CLIENTS processes and SIGKILLs it at a random moment. */
static bool run_load(struct run *run, uint32_t round)
{
	pid_t pids[CLIENTS];
	for (uint32_t c = 0; c < CLIENTS; c++) {
		struct cli_config cfg = { .round = round, .client = c, .port = run->srv.port,
					  .backlog = BACKLOG, .seed = rnd(run),
					  .deadline_ms = tu_now_ms() + 60000 };
		char *path = journal_path(run, round, c);
		cfg.journal = path;
		fflush(NULL);
		pids[c] = fork();
		if (pids[c] == 0)
			_exit(cli_run(&cfg));
		free(path);
		if (pids[c] < 0)
			abort();
	}
	tu_sleep_ms(LOAD_MIN_MS + (unsigned)(rnd(run) % LOAD_SPAN_MS));
	th_stop(&run->srv, SIGKILL);
	return wait_clients(run, round, pids);
}

/*
 * sabotage (CRASH_SABOTAGE=1, to test the checker) zeroes the last 2 KiB of
 * records of crash-a's newest segment after a kill, as a broken engine would
 * lose them: the next check must fail.
 */
static void sabotage(struct run *run)
{
	char *qdir = tu_path(run->srv.data, "queues/crash-a"), **segs = NULL;
	size_t n = tu_segments(qdir, &segs);
	long long size = n > 0 ? tu_file_size(segs[n - 1]) : -1;
	uint8_t *buf = size > 0 ? malloc((size_t)size) : NULL;
	if (buf != NULL && tu_file_read(segs[n - 1], 0, buf, (size_t)size) == 0) {
		long long end = size;
		while (end > 4096 && buf[end - 1] == 0)
			end--;
		long long from = end - 2048 > 4096 ? end - 2048 : 4096;
		tu_file_zero(segs[n - 1], (uint64_t)from, (size_t)(end - from));
		printf("sabotage: zeroed %lld bytes of %s\n", end - from, segs[n - 1]);
	}
	free(buf);
	tu_strv_free(segs, n);
	free(qdir);
}

/* final_checks restarts after the last kill, then stops cleanly and checks the clean restart too. */
static bool final_checks(struct run *run)
{
	if (!start_server(run, run->rounds) || !check_round(run, run->rounds - 1, CLIENTS))
		return false;
	int code = th_stop(&run->srv, SIGTERM);
	if (code != 0) {
		snprintf(run->err, sizeof(run->err), "mmqd exited %d on SIGTERM", code);
		return false;
	}
	if (!start_server(run, run->rounds + 1) || !check_round(run, run->rounds, 0))
		return false;
	th_stop(&run->srv, SIGTERM);
	return true;
}

static unsigned env_number(const char *name, unsigned dflt)
{
	const char *v = getenv(name);
	return v != NULL && *v != '\0' ? (unsigned)strtoul(v, NULL, 10) : dflt;
}

static bool run_rounds(struct run *run)
{
	for (uint32_t r = 0; r < run->rounds; r++) {
		uint64_t t0 = tu_now_ms();
		if (!start_server(run, r) || (r > 0 && !check_round(run, r - 1, CLIENTS)) || !run_load(run, r))
			return false;
		if (r == 1 && getenv("CRASH_SABOTAGE") != NULL)
			sabotage(run);
		printf("round %u (%s): checked; %zu + %zu messages held; %llu operations so far, %.1f s\n",
		       (unsigned)r, sync_modes[r % 3], run->model.q[0].npresent, run->model.q[1].npresent,
		       (unsigned long long)run->model.totals.ops, (double)(tu_now_ms() - t0) / 1000.0);
		fflush(stdout);
	}
	return final_checks(run);
}

int main(int argc, char **argv)
{
	static struct run run;
	uint64_t t0 = tu_now_ms();
	run.rounds = argc > 1 ? (unsigned)strtoul(argv[1], NULL, 10) : env_number("CRASH_ROUNDS", 20);
	run.rs = env_number("CRASH_SEED", (unsigned)time(NULL) ^ (unsigned)getpid());
	unsigned seed = (unsigned)run.rs;
	if (run.rounds == 0 || getenv("MMQD") == NULL) {
		fprintf(stderr, "usage: MMQD=path/to/mmqd %s [rounds]  (env CRASH_ROUNDS, CRASH_SEED)\n", argv[0]);
		return 2;
	}
	run.rs = run.rs * 0x9e3779b97f4a7c15ull | 1u;
	th_setup(&run.srv);
	printf("crash loop: %u rounds, %d clients, seed %u (CRASH_SEED), data in %s\n", run.rounds, CLIENTS, seed,
	       run.srv.data);
	bool ok = run_rounds(&run);
	const struct chk_totals *t = &run.model.totals;
	if (!ok) {
		th_stop(&run.srv, SIGKILL);
		fprintf(stderr, "crash loop FAILED (seed %u): %s\nkept %s for inspection\n", seed, run.err, run.srv.dir);
		return 1;
	}
	printf("crash loop passed: %u rounds in %.1f s; %llu operations (%llu unanswered at a kill), %llu enqueues "
	       "and %llu removals acknowledged, %llu deliveries, %llu messages checked present, %llu outcomes "
	       "left open by a kill\n",
	       run.rounds, (double)(tu_now_ms() - t0) / 1000.0, (unsigned long long)t->ops,
	       (unsigned long long)t->in_flight, (unsigned long long)t->acked_enqueued,
	       (unsigned long long)t->acked_removed, (unsigned long long)t->deliveries,
	       (unsigned long long)t->observed, (unsigned long long)t->ambiguous);
	chk_free(&run.model);
	th_teardown(&run.srv);
	curl_global_cleanup();
	return 0;
}

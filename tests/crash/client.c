/* client.c: one load client of the crash loop: random enqueue, batch, pop, lease, ack and release over HTTP. */
#include "client.h"

#include <curl/curl.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "payload.h"

const char *const cli_queue_names[CLI_QUEUES] = { "crash-a", "crash-b" };

/* The exit codes of cli_run(). */
enum { CLI_SERVER_GONE = 0, CLI_BAD_STATUS = 2, CLI_BAD_PAYLOAD = 3, CLI_DEADLINE = 4, CLI_NO_JOURNAL = 5 };

/* A client's state: its connection, its answer buffer, its journal and its random stream. */
struct cli {
	const struct cli_config *cfg;
	CURL *curl;
	char *body;
	size_t len, cap;
	long status;
	int fd;
	uint64_t rs;
	uint32_t next_n; /* the next payload sequence number */
	uint64_t k;	 /* the next operation number */
	char line[1024];
	size_t used;
	char *batch; /* a buffer for batch bodies */
	unsigned percent[CLI_QUEUES]; /* share of operations on each queue that add messages */
	uint64_t since_refresh;
	uint64_t last_slow_us; /* when a lease was last left to run out or released with a delay */
};

/* How often (in operations) a client looks at the queues' depths to steer their backlog. */
#define CLI_REFRESH_OPS 20

uint64_t cli_now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static uint64_t rnd(struct cli *c)
{
	c->rs ^= c->rs << 13;
	c->rs ^= c->rs >> 7;
	c->rs ^= c->rs << 17;
	return c->rs;
}

/* jprintf appends formatted text to the journal line being built. */
static void jprintf(struct cli *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void jprintf(struct cli *c, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(c->line + c->used, sizeof(c->line) - c->used, fmt, ap);
	va_end(ap);
	if (n > 0)
		c->used += (size_t)n;
	if (c->used >= sizeof(c->line))
		c->used = sizeof(c->line) - 1;
}

/* jflush writes the line built so far, newline included, with one write(2). */
static bool jflush(struct cli *c)
{
	c->line[c->used++] = '\n';
	bool ok = write(c->fd, c->line, c->used) == (ssize_t)c->used;
	c->used = 0;
	return ok;
}

static size_t on_body(char *p, size_t size, size_t n, void *ctx)
{
	struct cli *c = ctx;
	size_t add = size * n;
	if (c->len + add + 1 > c->cap) {
		size_t cap = c->cap ? c->cap : 4096;
		while (cap < c->len + add + 1)
			cap *= 2;
		char *b = realloc(c->body, cap);
		if (b == NULL)
			return 0;
		c->body = b;
		c->cap = cap;
	}
	memcpy(c->body + c->len, p, add);
	c->len += add;
	c->body[c->len] = '\0';
	return add;
}

/* request sends one request on the client's keep-alive connection; false on a transport failure. */
static bool request(struct cli *c, const char *method, const char *path, const char *body, size_t len)
{
	char url[256];
	snprintf(url, sizeof(url), "http://127.0.0.1:%u%s", (unsigned)c->cfg->port, path);
	c->len = 0;
	c->status = 0;
	curl_easy_setopt(c->curl, CURLOPT_URL, url);
	curl_easy_setopt(c->curl, CURLOPT_CUSTOMREQUEST, method);
	curl_easy_setopt(c->curl, CURLOPT_POSTFIELDS, body != NULL ? body : "");
	curl_easy_setopt(c->curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)(body != NULL ? len : 0));
	if (curl_easy_perform(c->curl) != CURLE_OK)
		return false;
	curl_easy_getinfo(c->curl, CURLINFO_RESPONSE_CODE, &c->status);
	if (c->body == NULL)
		on_body(NULL, 0, 0, c);
	return c->status != 0;
}

/* outcome starts the D line of operation k; false (the caller stops) when status is none of ok. */
static bool outcome(struct cli *c, uint64_t k, long ok1, long ok2, long ok3)
{
	jprintf(c, "D %llu %llu %ld", (unsigned long long)k, (unsigned long long)cli_now_us(), c->status);
	return c->status == ok1 || c->status == ok2 || c->status == ok3;
}

/* intent writes the I line of a new operation and returns its number. */
static uint64_t intent(struct cli *c, const char *what)
{
	uint64_t k = c->k++;
	jprintf(c, "I %llu %llu %s", (unsigned long long)k, (unsigned long long)cli_now_us(), what);
	return k;
}

/* enqueue adds count (1: a single enqueue, more: a batch) new payloads to queue q. */
static int enqueue(struct cli *c, int q, uint32_t count)
{
	char path[128], what[64];
	size_t len = 0;
	uint32_t n0 = c->next_n;
	for (uint32_t i = 0; i < count; i++) {
		struct pay_tag tag = { c->cfg->round, c->cfg->client, c->next_n++ };
		if (count > 1)
			len += (size_t)sprintf(c->batch + len, "%s", i == 0 ? "[" : (i % 2 ? "," : " ,\n "));
		len += pay_make(&tag, c->batch + len);
	}
	if (count > 1)
		c->batch[len++] = ']';
	snprintf(path, sizeof(path), "/v1/queues/%s/messages%s", cli_queue_names[q], count > 1 ? "/batch" : "");
	if (count > 1)
		snprintf(what, sizeof(what), "b %d %u %u", q, (unsigned)n0, (unsigned)count);
	else
		snprintf(what, sizeof(what), "e %d %u", q, (unsigned)n0);
	uint64_t k = intent(c, what);
	if (!jflush(c))
		return CLI_NO_JOURNAL;
	if (!request(c, "POST", path, c->batch, len))
		return CLI_SERVER_GONE;
	bool ok = outcome(c, k, 201, 201, 201);
	for (const char *p = c->body; ok && (p = strpbrk(p, "0123456789")) != NULL;) {
		char *end;
		jprintf(c, " %llu", strtoull(p, &end, 10));
		p = end;
	}
	if (!jflush(c))
		return CLI_NO_JOURNAL;
	return ok ? -1 : CLI_BAD_STATUS;
}

/* settle acks or releases a leased message, or leaves its lease to run out. */
static int settle(struct cli *c, int q, const struct json_msg *m)
{
	char path[160], what[96];
	uint64_t r = rnd(c) % 100, now = cli_now_us();
	/*
	 * Leaving a lease to run out, or releasing with a delay, hides a message
	 * for a second; at most ten times a second per client, so that at any
	 * throughput few messages are hidden when the server is killed.
	 */
	bool slow = r >= 92 && now - c->last_slow_us > 100000;
	if (slow)
		c->last_slow_us = now;
	if (slow && r >= 96)
		return -1; /* the lease runs out: the message comes back after CLI_LEASE_SECONDS */
	bool ack = r < 65 || (r >= 92 && !slow);
	unsigned delay = slow ? 1 : 0;
	if (ack) {
		snprintf(path, sizeof(path), "/v1/queues/%s/messages/%llu?lease=%llu", cli_queue_names[q],
			 (unsigned long long)m->id, (unsigned long long)m->lease);
		snprintf(what, sizeof(what), "a %d %llu %llu", q, (unsigned long long)m->id,
			 (unsigned long long)m->lease);
	} else {
		snprintf(path, sizeof(path), "/v1/queues/%s/messages/%llu/release?lease=%llu&delay=%u",
			 cli_queue_names[q], (unsigned long long)m->id, (unsigned long long)m->lease, delay);
		snprintf(what, sizeof(what), "r %d %llu %llu %u", q, (unsigned long long)m->id,
			 (unsigned long long)m->lease, delay);
	}
	uint64_t k = intent(c, what);
	if (!jflush(c))
		return CLI_NO_JOURNAL;
	if (!request(c, ack ? "DELETE" : "POST", path, NULL, 0))
		return CLI_SERVER_GONE;
	/* 409 and 404: someone leased or removed the message after this lease ran out. */
	bool ok = outcome(c, k, 204, 409, 404);
	if (!jflush(c))
		return CLI_NO_JOURNAL;
	return ok ? -1 : CLI_BAD_STATUS;
}

/* take pops or leases up to limit messages of queue q, checks every payload and settles leases. */
static int take(struct cli *c, int q, bool lease)
{
	char path[160], what[32];
	struct json_msg m[CLI_TAKE_MAX];
	unsigned limit = 1 + (unsigned)(rnd(c) % CLI_TAKE_MAX);
	snprintf(path, sizeof(path), "/v1/queues/%s/messages/%s?limit=%u%s", cli_queue_names[q],
		 lease ? "lease" : "pop", limit, lease ? "&ttl=1" : "");
	snprintf(what, sizeof(what), "%c %d %u", lease ? 'l' : 'p', q, limit);
	uint64_t k = intent(c, what);
	if (!jflush(c))
		return CLI_NO_JOURNAL;
	if (!request(c, "POST", path, NULL, 0))
		return CLI_SERVER_GONE;
	bool ok = outcome(c, k, 200, 200, 200);
	int n = ok ? json_messages(c->body, c->len, m, CLI_TAKE_MAX) : 0;
	for (int i = 0; i < n; i++) {
		struct pay_tag tag;
		if (!pay_check(m[i].payload, m[i].len, &tag)) {
			c->used = 0;
			jprintf(c, "X %llu %llu", (unsigned long long)k, (unsigned long long)m[i].id);
			jflush(c);
			return CLI_BAD_PAYLOAD;
		}
		jprintf(c, " %llu/%u/%u/%u", (unsigned long long)m[i].id, (unsigned)tag.round,
			(unsigned)tag.client, (unsigned)tag.n);
		if (lease)
			jprintf(c, "/%llu", (unsigned long long)m[i].lease);
	}
	if (!jflush(c))
		return CLI_NO_JOURNAL;
	if (!ok || n < 0)
		return CLI_BAD_STATUS;
	for (int i = 0; lease && i < n; i++) {
		int rc = settle(c, q, &m[i]);
		if (rc >= 0)
			return rc;
	}
	return -1;
}

/*
 * refresh steers each queue's backlog towards cfg->backlog messages: below it
 * more operations add messages than remove them, above it fewer (on average a
 * batch adds as many as a pop or lease takes). The stats are only read.
 */
static int refresh(struct cli *c)
{
	char path[128];
	for (int q = 0; q < CLI_QUEUES; q++) {
		snprintf(path, sizeof(path), "/v1/queues/%s", cli_queue_names[q]);
		if (!request(c, "GET", path, NULL, 0))
			return CLI_SERVER_GONE;
		const char *d = strstr(c->body, "\"depth\":"), *f = strstr(c->body, "\"in_flight\":"),
			   *w = strstr(c->body, "\"delayed\":");
		unsigned long long n = 0;
		if (c->status == 200 && d != NULL && f != NULL && w != NULL)
			n = strtoull(d + 8, NULL, 10) + strtoull(f + 12, NULL, 10) + strtoull(w + 10, NULL, 10);
		else if (c->status != 404)
			return CLI_BAD_STATUS;
		c->percent[q] = n < c->cfg->backlog / 2 ? 60 : n < c->cfg->backlog ? 52 : 35;
	}
	return -1;
}

/* step runs one random operation; -1 means go on, anything else is cli_run()'s result. */
static int step(struct cli *c)
{
	if (c->since_refresh++ % CLI_REFRESH_OPS == 0) {
		int rc = refresh(c);
		if (rc >= 0)
			return rc;
	}
	int q = (int)(rnd(c) % CLI_QUEUES);
	uint64_t r = rnd(c) % 100;
	if (r < c->percent[q])
		return r * 4 < c->percent[q] * 3
			       ? enqueue(c, q, 1)
			       : enqueue(c, q, 2 + (uint32_t)(rnd(c) % (CLI_BATCH_MAX - 1)));
	return take(c, q, r % 2 == 0);
}

int cli_run(const struct cli_config *cfg)
{
	struct cli c = { .cfg = cfg, .rs = cfg->seed | 1u };
	int rc = CLI_NO_JOURNAL;
	c.fd = open(cfg->journal, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
	c.batch = malloc((size_t)CLI_BATCH_MAX * (PAY_MAX + 8) + 8);
	c.curl = curl_easy_init();
	if (c.fd < 0 || c.batch == NULL || c.curl == NULL)
		goto fail;
	curl_easy_setopt(c.curl, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(c.curl, CURLOPT_WRITEDATA, &c);
	curl_easy_setopt(c.curl, CURLOPT_TIMEOUT, 30L);
	curl_easy_setopt(c.curl, CURLOPT_NOSIGNAL, 1L);
	struct curl_slist *hdr = curl_slist_append(NULL, "Expect:");
	curl_easy_setopt(c.curl, CURLOPT_HTTPHEADER, hdr);
	rc = -1;
	while (rc < 0)
		rc = cli_now_us() / 1000u > cfg->deadline_ms ? CLI_DEADLINE : step(&c);
	curl_slist_free_all(hdr);
fail:
	if (c.curl != NULL)
		curl_easy_cleanup(c.curl);
	if (c.fd >= 0)
		close(c.fd);
	free(c.batch);
	free(c.body);
	return rc;
}

/* fuzz_request.c: libFuzzer target: HTTP requests through libmicrohttpd, api/ and a real store. */
#include <cJSON.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "../../api/internal.h"
#include "../../api/payload.h"
#include "fuzzutil.h"

/*
 * Why a real daemon: the handlers read their query parameters and headers
 * through the MHD connection, and the body reader, the early 413s, the
 * suspension for durability and long polls all live in the adapter, so
 * calling the pure functions alone would leave most of api/ unfuzzed. Each
 * request is handed to a real api_start() server (started without a listen
 * socket) through MHD_add_connection() on an AF_UNIX socketpair: no network,
 * every layer from header parsing to the engine's files, at about a thousand
 * inputs a second. The pure functions (route matching on the raw target,
 * payload_check, payload_split) are also called directly on every input,
 * with invariants no socket could check.
 *
 * An input is up to four requests separated by a line "~". Each request is
 *
 *   METHOD TARGET            (no version: the harness adds HTTP/1.1)
 *   Header: value            (any number; Host, Content-Length,
 *   ...                       Transfer-Encoding and Connection are dropped)
 *   @auth                    (optional: send to the server that wants
 *                             "Authorization: Bearer fuzz-token")
 *   @chunk N                 (optional: send the body chunked, N bytes a chunk)
 *                            (an empty line)
 *   body
 *
 * and "$I" and "$L" in a target or body become the last message id and
 * lease token that an earlier response of the same input named, so inputs
 * can ack, release and extend real leases. A pop or lease that waits is
 * woken by a message the harness enqueues straight into the store, so long
 * polls cost milliseconds, not their wait. Every queue is deleted after each
 * input, so inputs do not depend on each other (the clock aside).
 *
 * Invariants (MMQ_FUZZ_NO_INVARIANTS=1 turns them off): every JSON response
 * is strict JSON (payloads are spliced in verbatim), no response is a 500,
 * payload_check accepts only what cJSON parses, and every batch item
 * payload_split finds is valid JSON on its own.
 */

#define MAX_REQUESTS 4
#define TOKEN "fuzz-token"
#define REPLY_MAX (1u << 20)
#define HANG_MS 5000u

static char base_dir[64];
static struct queue_store *store;
static struct api_server *plain_srv, *auth_srv;
static bool check_invariants = true;
static bool verbose; /* MMQ_FUZZ_VERBOSE=1: print each request line and its answer */

/* A piece of the input: n bytes at p, not NUL-terminated. */
struct span {
	const char *p;
	size_t n;
};

/* One request as the input spells it, pointing into the input. */
struct fz_req {
	struct span method, target, headers, body;
	bool auth;
	size_t chunk; /* 0: Content-Length */
};

/* What earlier responses of this input named, for "$I" and "$L". */
struct fz_memory {
	char id[24], lease[24];
};

static void quiet_log(enum api_log_level level, const char *line)
{
	(void)level;
	(void)line;
}

static void fail_invariant(const char *what, const char *detail)
{
	fprintf(stderr, "fuzz_request: invariant broken: %s\n%s\n", what, detail ? detail : "");
	abort();
}

/* start_server serves the shared store without a listen socket; aborts when it cannot. */
static struct api_server *start_server(const char *token)
{
	struct api_config cfg;
	struct api_server *srv = NULL;
	char err[256];

	memset(&cfg, 0, sizeof(cfg));
	cfg.threads = 2;
	cfg.max_connections = 256;
	cfg.connection_timeout = 10;
	cfg.max_body_bytes = 4096;
	cfg.auth_token = token;
	cfg.log = quiet_log;
	cfg.max_long_polls = 8;
	if (!api_start(store, &cfg, &srv, err, sizeof(err))) {
		fprintf(stderr, "fuzz_request: api_start: %s\n", err);
		abort();
	}
	return srv;
}

/* ---- Pure functions, called directly ---- */

/* check_payload runs payload_check and payload_split on body and checks them against cJSON. */
static void check_payload(const char *body, size_t n)
{
	char *p = malloc(n + 1);
	struct queue_payload *items = NULL;
	size_t start = 0, len = 0, count = 0;

	if (p == NULL)
		abort();
	memcpy(p, body, n);
	p[n] = '\0';
	if (payload_check(p, n, &start, &len)) {
		cJSON *root = cJSON_ParseWithLength(p + start, len);
		if (start + len > n || root == NULL)
			fail_invariant("payload_check accepted what cJSON cannot parse", p);
		cJSON_Delete(root);
	}
	if (payload_split(p, n, &items, &count) == PAYLOAD_BATCH_OK) {
		for (size_t i = 0; i < count; i++) {
			char *item = strndup(items[i].data, items[i].len);
			if (item == NULL)
				abort();
			if (items[i].len != strlen(item) || !payload_check(item, items[i].len, &start, &len) ||
			    start != 0 || len != items[i].len)
				fail_invariant("payload_split found an item that is not one JSON value", p);
			free(item);
		}
	}
	free(items);
	free(p);
}

/* check_route matches the raw target, query and all, as libmicrohttpd would never pass it. */
static void check_route(const char *method, const char *target)
{
	const struct api_route *route;
	struct api_path path;
	char allow[64];

	if (api_route_find(method, target, &route, &path, allow, sizeof(allow)) == API_E_NONE &&
	    route == NULL)
		fail_invariant("api_route_find matched without a route", target);
}

/* ---- Parsing an input into requests ---- */

/* next_line takes the line at the front of *s (without its "\n"); false when *s is empty. */
static bool next_line(struct span *s, struct span *line)
{
	const char *nl;

	if (s->n == 0)
		return false;
	nl = memchr(s->p, '\n', s->n);
	line->p = s->p;
	line->n = nl ? (size_t)(nl - s->p) : s->n;
	s->p += line->n + (nl != NULL);
	s->n -= line->n + (nl != NULL);
	return true;
}

static bool span_is(struct span s, const char *text)
{
	return s.n == strlen(text) && memcmp(s.p, text, s.n) == 0;
}

/* parse_request splits the text of one request into r. */
static void parse_request(struct span s, struct fz_req *r)
{
	struct span line = { "", 0 };
	const char *sp;

	memset(r, 0, sizeof(*r));
	next_line(&s, &line);
	sp = memchr(line.p, ' ', line.n);
	r->method = (struct span){ line.p, sp ? (size_t)(sp - line.p) : line.n };
	r->target = sp ? (struct span){ sp + 1, line.n - (size_t)(sp + 1 - line.p) }
		       : (struct span){ "/", 1 };
	r->headers = (struct span){ s.p, 0 };
	while (next_line(&s, &line) && line.n > 0) {
		if (span_is(line, "@auth"))
			r->auth = true;
		else if (line.n > 7 && memcmp(line.p, "@chunk ", 7) == 0)
			r->chunk = (size_t)atoi(line.p + 7) % 4096u; /* stops at the newline */
		r->headers.n = (size_t)(s.p - r->headers.p);
	}
	r->body = s;
}

/* split_input cuts the input into at most MAX_REQUESTS requests separated by "\n~\n". */
static size_t split_input(const char *data, size_t n, struct fz_req *reqs)
{
	struct span s = { data, n };
	size_t count = 0;

	while (count < MAX_REQUESTS) {
		const char *sep = memmem(s.p, s.n, "\n~\n", 3);
		size_t len = sep ? (size_t)(sep - s.p) : s.n;
		parse_request((struct span){ s.p, len }, &reqs[count++]);
		if (sep == NULL)
			break;
		s.p += len + 3;
		s.n -= len + 3;
	}
	return count;
}

/* ---- Building and sending the wire request ---- */

/* put_subst appends s to out with "$I" and "$L" replaced by what mem remembers. */
static void put_subst(struct fz_buf *out, struct span s, const struct fz_memory *mem)
{
	for (size_t i = 0; i < s.n; i++) {
		if (s.p[i] == '$' && i + 1 < s.n && (s.p[i + 1] == 'I' || s.p[i + 1] == 'L')) {
			const char *v = s.p[i + 1] == 'I' ? mem->id : mem->lease;
			fz_buf_put(out, v, strlen(v));
			i++;
		} else {
			fz_buf_put(out, s.p + i, 1);
		}
	}
}

static void put_str(struct fz_buf *out, const char *s)
{
	fz_buf_put(out, s, strlen(s));
}

/* framing_header says whether the header line is one the harness writes itself. */
static bool framing_header(struct span line)
{
	static const char *const names[] = { "host:", "content-length:", "transfer-encoding:",
					     "connection:" };

	if (line.n > 0 && line.p[0] == '@')
		return true;
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		size_t n = strlen(names[i]);
		if (line.n >= n && strncasecmp(line.p, names[i], n) == 0)
			return true;
	}
	return false;
}

/* put_body appends the body, with Content-Length or in chunks of r->chunk bytes. */
static void put_body(struct fz_buf *out, const struct fz_req *r, const struct fz_memory *mem)
{
	struct fz_buf body = { NULL, 0, 0 };
	char line[48];

	put_subst(&body, r->body, mem);
	if (r->chunk == 0) {
		snprintf(line, sizeof(line), "Content-Length: %zu\r\n\r\n", body.len);
		put_str(out, line);
		fz_buf_put(out, body.data, body.len);
	} else {
		put_str(out, "Transfer-Encoding: chunked\r\n\r\n");
		for (size_t at = 0; at < body.len; at += r->chunk) {
			size_t n = body.len - at < r->chunk ? body.len - at : r->chunk;
			snprintf(line, sizeof(line), "%zx\r\n", n);
			put_str(out, line);
			fz_buf_put(out, body.data + at, n);
			put_str(out, "\r\n");
		}
		put_str(out, "0\r\n\r\n");
	}
	free(body.data);
}

/* build_request writes r as an HTTP/1.1 request that closes its connection. */
static void build_request(const struct fz_req *r, const struct fz_memory *mem, struct fz_buf *out)
{
	struct span hs = r->headers, line;

	fz_buf_reset(out);
	fz_buf_put(out, r->method.p, r->method.n);
	put_str(out, " ");
	put_subst(out, r->target, mem);
	put_str(out, " HTTP/1.1\r\nHost: fuzz\r\nConnection: close\r\n");
	while (next_line(&hs, &line)) {
		if (framing_header(line))
			continue;
		fz_buf_put(out, line.p, line.n);
		put_str(out, "\r\n");
	}
	put_body(out, r, mem);
}

/*
 * long_poll_queue copies the queue of a pop or lease that may wait into name;
 * false otherwise. An SQS ReceiveMessage (which may wait too, on a queue named
 * in its body) gives "": every queue is fed then.
 */
static bool long_poll_queue(const char *wire, char *name, size_t size)
{
	const char *line_end = strstr(wire, "\r\n"), *q = strstr(wire, " /v1/queues/");
	size_t n;

	if (strstr(wire, "ReceiveMessage") != NULL && size > 0) {
		name[0] = '\0';
		return true;
	}
	if (strncmp(wire, "POST ", 5) != 0 || q == NULL || q > line_end ||
	    strstr(wire, "wait=") == NULL)
		return false;
	q += strlen(" /v1/queues/");
	n = strcspn(q, "/? \r");
	if (n == 0 || n >= size || strncmp(q + n, "/messages/", 10) != 0)
		return false;
	memcpy(name, q, n);
	name[n] = '\0';
	return true;
}

/* ---- Reading and checking the response ---- */

/* A response as read from the socket. */
struct fz_reply {
	struct fz_buf raw; /* NUL-terminated past raw.len */
	unsigned status;
	size_t head_len;   /* bytes up to and including the blank line; 0 until seen */
	long long length;  /* Content-Length, -1 when absent */
};

/* parse_head looks for the end of the final (non-1xx) response head in r->raw. */
static void parse_head(struct fz_reply *r)
{
	const char *s = (const char *)r->raw.data, *end, *cl;

	for (;;) {
		end = strstr(s, "\r\n\r\n");
		if (end == NULL || strncmp(s, "HTTP/1.1 ", 9) != 0)
			return;
		r->status = (unsigned)atoi(s + 9);
		if (r->status >= 200)
			break;
		s = end + 4; /* an interim 100 Continue */
	}
	r->head_len = (size_t)(end + 4 - (const char *)r->raw.data);
	cl = strcasestr(s, "\r\nContent-Length:");
	r->length = cl != NULL && cl < end ? atoll(cl + 17) : -1;
	if (r->length < 0 && (r->status == 204 || r->status == 304))
		r->length = 0;
}

/* reply_done says whether the whole response is in. */
static bool reply_done(const struct fz_reply *r)
{
	return r->head_len > 0 && r->length >= 0 &&
	       r->raw.len >= r->head_len + (unsigned long long)r->length;
}

static uint64_t mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* feed enqueues a message into queue name, or into every queue when name is "". */
static void feed(const char *name)
{
	struct queue_payload m = { "\"wake\"", 6 };
	struct queue_stats *all = NULL;
	size_t count = 0;

	if (name[0] != '\0') {
		queue_enqueue(store, name, &m, 1, 0, NULL, NULL);
		return;
	}
	if (queue_list(store, &all, &count) != QUEUE_OK)
		return;
	for (size_t i = 0; i < count; i++)
		queue_enqueue(store, all[i].name, &m, 1, 0, NULL, NULL);
	free(all);
}

/*
 * read_reply reads the response on fd. A pop or lease that waits is given a
 * message after a few quiet milliseconds, enqueued straight into the store,
 * so long polls end at once instead of after their wait. Returns false when
 * nothing complete came within HANG_MS.
 */
static bool read_reply(int fd, const char *poll_queue, struct fz_reply *r)
{
	uint64_t start = mono_ms();
	bool fed = poll_queue == NULL;
	char buf[8192];

	while (!reply_done(r) && r->raw.len < REPLY_MAX) {
		struct pollfd p = { fd, POLLIN, 0 };
		int ready = poll(&p, 1, fed ? 50 : 3);
		ssize_t n;
		if (ready == 0 && !fed) {
			feed(poll_queue);
			fed = true;
		}
		if (ready == 0 && mono_ms() - start > HANG_MS)
			return false;
		if (ready <= 0)
			continue;
		n = recv(fd, buf, sizeof(buf), 0);
		if (n <= 0)
			return true; /* closed: complete or not, the server is done */
		fz_buf_put(&r->raw, buf, (size_t)n);
		fz_buf_put(&r->raw, "", 1);
		r->raw.len--;
		if (r->head_len == 0)
			parse_head(r);
	}
	return true;
}

/* remember keeps the first message id and lease token the response names. */
static void remember(const char *body, struct fz_memory *mem)
{
	const char *id = strstr(body, "\"id\":"), *lease = strstr(body, "\"lease\":\"");

	if (id != NULL)
		snprintf(mem->id, sizeof(mem->id), "%.20s", id + 5);
	if (lease != NULL)
		snprintf(mem->lease, sizeof(mem->lease), "%.20s", lease + 9);
	mem->id[strspn(mem->id, "0123456789")] = '\0';
	mem->lease[strspn(mem->lease, "0123456789")] = '\0';
}

/* check_reply checks a complete response: no 500, and JSON bodies are strict JSON. */
static void check_reply(const struct fz_reply *r, const char *wire)
{
	const char *body, *type;
	size_t len, start, vlen;

	if (!check_invariants || r->head_len == 0)
		return;
	body = (const char *)r->raw.data + r->head_len;
	len = r->raw.len - r->head_len;
	/* Bytes past Content-Length belong to the answer to a further (pipelined) request. */
	if (r->length >= 0 && len > (size_t)r->length)
		len = (size_t)r->length;
	type = strcasestr((const char *)r->raw.data, "\r\nContent-Type: application/json");
	if (r->status == 500)
		fail_invariant("a request was answered 500", wire);
	if (type != NULL && type < body && len > 0 && !payload_check(body, len, &start, &vlen))
		fail_invariant("a JSON response is not valid JSON", (const char *)r->raw.data);
}

/* header_line_ok says whether line (n bytes) is "token: value" with no control bytes but tab. */
static bool header_line_ok(const char *line, size_t n)
{
	static const char tchar[] = "!#$%&'*+-.^_`|~0123456789"
				    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
	size_t name = 0;
	while (name < n && line[name] != '\0' && strchr(tchar, line[name]) != NULL)
		name++;
	if (name == 0 || name >= n || line[name] != ':')
		return false;
	for (size_t i = name + 1; i < n; i++)
		if (((unsigned char)line[i] < 0x20 && line[i] != '\t') || line[i] == 0x7f)
			return false;
	return true;
}

/*
 * well_formed says whether the request head is plain HTTP/1.x: a request line
 * "METHOD TARGET HTTP/1.0|1.1" and "name: value" header lines. libmicrohttpd
 * itself handles anything else (README, Bad input), and with some malformed
 * heads it waits for more bytes until the connection times out, so only a
 * well-formed request must be answered within the time limit.
 */
static bool well_formed(const char *wire)
{
	size_t n = strcspn(wire, "\r\n"), spaces = 0;
	for (size_t i = 0; i < n; i++)
		spaces += wire[i] == ' ';
	if (spaces != 2 || n < 9 ||
	    (strncmp(wire + n - 9, " HTTP/1.1", 9) != 0 && strncmp(wire + n - 9, " HTTP/1.0", 9) != 0))
		return false;
	for (const char *line = wire + n; *line != '\0';) {
		line += *line == '\r' ? 1 : 0;
		line += *line == '\n' ? 1 : 0;
		n = strcspn(line, "\r\n");
		if (n == 0)
			return true; /* the blank line ends the head */
		if (!header_line_ok(line, n))
			return false;
		line += n;
	}
	return false; /* no blank line: the head is not complete, or holds a NUL byte */
}

/* exchange sends one request on a fresh connection to srv and reads and checks its response. */
static void exchange(struct api_server *srv, const struct fz_buf *wire, struct fz_memory *mem)
{
	struct sockaddr_in peer = { .sin_family = AF_INET, .sin_port = htons(40000) };
	struct fz_reply r = { { NULL, 0, 0 }, 0, 0, -1 };
	char queue[QUEUE_NAME_MAX + 2];
	bool waits = long_poll_queue((const char *)wire->data, queue, sizeof(queue));
	int sv[2];

	peer.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0)
		abort();
	/* libmicrohttpd owns sv[0] from here on, and closes it even when it refuses it. */
	if (MHD_add_connection(srv->daemon, sv[0], (struct sockaddr *)&peer, sizeof(peer)) != MHD_YES)
		goto done;
	if (send(sv[1], wire->data, wire->len, MSG_NOSIGNAL) != (ssize_t)wire->len)
		goto done;
	if (!read_reply(sv[1], waits ? queue : NULL, &r)) {
		if (!waits && check_invariants && well_formed((const char *)wire->data))
			fail_invariant("no response within 5 seconds", (const char *)wire->data);
		goto done;
	}
	check_reply(&r, (const char *)wire->data);
	if (verbose)
		fprintf(stderr, "%.*s -> %u %s\n", (int)strcspn((const char *)wire->data, "\r"),
			(const char *)wire->data, r.status,
			r.head_len > 0 ? (const char *)r.raw.data + r.head_len : "(no answer)");
	if (r.head_len > 0)
		remember((const char *)r.raw.data + r.head_len, mem);
done:
	close(sv[1]);
	free(r.raw.data);
}

/* delete_all removes every queue, so the next input starts from an empty store. */
static void delete_all(void)
{
	struct queue_stats *all = NULL;
	size_t count = 0;

	if (queue_list(store, &all, &count) != QUEUE_OK)
		return;
	for (size_t i = 0; i < count; i++)
		queue_delete(store, all[i].name);
	free(all);
}

/* check_pure calls the pure functions on the request's raw pieces. */
static void check_pure(const struct fz_req *r)
{
	char *method = strndup(r->method.p, r->method.n), *target = strndup(r->target.p, r->target.n);

	if (method == NULL || target == NULL)
		abort();
	check_route(method, target);
	check_payload(r->body.p, r->body.n);
	free(method);
	free(target);
}

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	const char *no = getenv("MMQ_FUZZ_NO_INVARIANTS");
	struct queue_store_options o;
	char dir[128];

	(void)argc;
	(void)argv;
	check_invariants = no == NULL || no[0] == '\0' || no[0] == '0';
	verbose = getenv("MMQ_FUZZ_VERBOSE") != NULL;
	if (fz_base_dir(base_dir, sizeof(base_dir), "request") != 0)
		abort();
	snprintf(dir, sizeof(dir), "%s/data", base_dir);
	queue_store_options_default(&o);
	o.sync = QUEUE_SYNC_ALWAYS; /* so that answers wait for durability, suspended */
	o.first_segment_bytes = 65536;
	o.max_segment_bytes = 1u << 20;
	if (queue_store_open(dir, &o, &store, NULL) != QUEUE_OK)
		abort();
	plain_srv = start_server(NULL);
	auth_srv = start_server(TOKEN);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fz_req reqs[MAX_REQUESTS];
	struct fz_memory mem = { "0", "0" };
	struct fz_buf wire = { NULL, 0, 0 };
	char *text = malloc(size + 1);
	size_t count;

	if (text == NULL)
		abort();
	/* A NUL after the input lets the parsing use C string functions safely. */
	memcpy(text, data, size);
	text[size] = '\0';
	count = split_input(text, size, reqs);
	for (size_t i = 0; i < count; i++) {
		check_pure(&reqs[i]);
		build_request(&reqs[i], &mem, &wire);
		fz_buf_put(&wire, "", 1);
		wire.len--;
		exchange(reqs[i].auth ? auth_srv : plain_srv, &wire, &mem);
	}
	delete_all();
	free(wire.data);
	free(text);
	return 0;
}

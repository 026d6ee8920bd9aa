/* test_http_framing.c: bad HTTP framing (Content-Length, chunks, versions, sizes) and requests during shutdown. */
#include <criterion/criterion.h>
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "httptest.h"
#include "httputil.h"
#include "testutil.h"

TestSuite(http_framing, .init = ht_setup, .fini = ht_stop, .timeout = 90);

/* closed_unanswered says whether the server closes fd within ms without sending a byte. */
static bool closed_unanswered(int fd, unsigned ms)
{
	struct pollfd p = { fd, POLLIN, 0 };
	char c;

	if (poll(&p, 1, (int)ms) != 1)
		return false;
	ssize_t n = recv(fd, &c, 1, 0);
	return n == 0 || (n < 0 && errno == ECONNRESET);
}

/* raw_exchange sends req on a new connection and returns what comes back within ms (caller frees). */
static char *raw_exchange(const char *req, size_t len, unsigned ms)
{
	int fd = th_raw(&ht_srv);
	char *buf = calloc(1, 65536);
	size_t got = 0;
	uint64_t until = tu_now_ms() + ms;

	cr_assert_geq(fd, 0);
	cr_assert_eq(send(fd, req, len, MSG_NOSIGNAL), (ssize_t)len);
	while (got < 65535 && tu_now_ms() < until) {
		struct pollfd p = { fd, POLLIN, 0 };
		ssize_t n;
		if (poll(&p, 1, 50) <= 0)
			continue;
		n = recv(fd, buf + got, 65535 - got, 0);
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	close(fd);
	return buf;
}

/* expect_raw asserts that the answer to a POST with content-length header cl starts with status. */
static void expect_raw(const char *path, const char *cl, const char *status, const char *has)
{
	char req[512];
	char *reply;
	int n = snprintf(req, sizeof(req), "POST %s HTTP/1.1\r\nHost: x\r\n%s\r\n12345", path, cl);

	reply = raw_exchange(req, (size_t)n, th_wrapped() ? 10000 : 1500);
	cr_assert(strncmp(reply, status, strlen(status)) == 0, "%s%s: %s", path, cl, reply);
	cr_assert(strstr(reply, has) != NULL, "%s%s: %s", path, cl, reply);
	cr_assert(strstr(reply, "Connection: close") != NULL, "%s%s: %s", path, cl, reply);
	free(reply);
}

Test(http_framing, bad_content_length_headers_are_refused_and_the_connection_closed)
{
	cr_assert(th_start(&ht_srv, NULL));
	/* Not a decimal number: libmicrohttpd answers 400 itself, before mmqd sees the request. */
	expect_raw("/v1/queues/h/messages", "Content-Length: -5\r\n", "HTTP/1.1 400 ", "<html>");
	expect_raw("/v1/queues/h/messages", "Content-Length: 1e3\r\n", "HTTP/1.1 400 ", "<html>");
	expect_raw("/v1/queues/h/messages", "Content-Length: 0x10\r\n", "HTTP/1.1 400 ", "<html>");
	expect_raw("/v1/queues/h/messages", "Content-Length: 5 5\r\n", "HTTP/1.1 400 ", "<html>");
	/* Beyond 2^64-1: libmicrohttpd answers 413 itself. */
	expect_raw("/v1/queues/h/messages", "Content-Length: 18446744073709551616\r\n",
		   "HTTP/1.1 413 ", "<html>");
	/* Huge but well formed: mmqd answers 413 before reading the body. */
	expect_raw("/v1/queues/h/messages", "Content-Length: 18446744073709551615\r\n",
		   "HTTP/1.1 413 ", "\"code\":\"message_too_large\"");
	expect_raw("/v1/queues/h/messages/batch", "Content-Length: 18446744073709551615\r\n",
		   "HTTP/1.1 413 ", "\"code\":\"request_too_large\"");
	expect_raw("/v1/queues/h", "Content-Length: 9223372036854775808\r\n", "HTTP/1.1 413 ",
		   "\"code\":\"request_too_large\"");
	/* Two lengths: refused rather than guessed at. */
	expect_raw("/v1/queues/h/messages", "Content-Length: 5\r\nContent-Length: 7\r\n",
		   "HTTP/1.1 400 ", HT_E_PARAM);
	expect_raw("/v1/queues/h/messages", "Content-Length: 5\r\ncontent-length: 5\r\n",
		   "HTTP/1.1 400 ", HT_E_PARAM);
	ht_expect_on(&ht_srv, "GET", "/v1/queues/h", NULL, 404, NULL);
	ht_expect_on(&ht_srv, "GET", "/healthz", NULL, 200, NULL);
}

/* raw_status sends req on a new connection and returns the status line's code, or 0 with no answer. */
static int raw_status(const char *req, size_t len, char **reply)
{
	char *r = raw_exchange(req, len, th_wrapped() ? 10000 : 1500);
	int status = strncmp(r, "HTTP/1.1 ", 9) == 0 ? atoi(r + 9) : 0;

	if (reply != NULL)
		*reply = r;
	else
		free(r);
	return status;
}

Test(http_framing, malformed_http_gets_the_documented_answers)
{
	size_t big = 100000;
	char *req = malloc(big + 200), *reply;
	int n;

	cr_assert(th_start(&ht_srv, NULL));
	/* HTTP versions libmicrohttpd does not speak: 505, from libmicrohttpd. */
	cr_assert_eq(raw_status("GET /healthz HTTP/9.9\r\nHost: x\r\n\r\n", 35, NULL), 505);
	/* A request line or headers beyond the connection's memory: 414 and 431, from libmicrohttpd. */
	n = snprintf(req, 200, "GET /v1/queues/");
	memset(req + n, 'a', big);
	n += (int)big;
	n += snprintf(req + n, 200, " HTTP/1.1\r\nHost: x\r\n\r\n");
	cr_assert_eq(raw_status(req, (size_t)n, NULL), 414);
	n = snprintf(req, 200, "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: ");
	memset(req + n, 'a', big);
	n += (int)big;
	n += snprintf(req + n, 200, "\r\n\r\n");
	cr_assert_eq(raw_status(req, (size_t)n, NULL), 431);
	/* Broken chunked framing: 400, from libmicrohttpd. */
	n = snprintf(req, 200, "POST /v1/queues/c/messages HTTP/1.1\r\nHost: x\r\n"
			       "Transfer-Encoding: chunked\r\n\r\nzz\r\n");
	cr_assert_eq(raw_status(req, (size_t)n, NULL), 400);
	n = snprintf(req, 200, "POST /v1/queues/c/messages HTTP/1.1\r\nHost: x\r\n"
			       "Transfer-Encoding: chunked\r\n\r\nFFFFFFFFFFFFFFFFFFFF\r\n");
	cr_assert_eq(raw_status(req, (size_t)n, NULL), 413);
	/* Chunked and a Content-Length: the chunks count (libmicrohttpd). */
	n = snprintf(req, 200, "POST /v1/queues/c/messages HTTP/1.1\r\nHost: x\r\n"
			       "Transfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n"
			       "1\r\n5\r\n0\r\n\r\n");
	cr_assert_eq(raw_status(req, (size_t)n, &reply), 201);
	cr_assert(strstr(reply, "{\"id\":1}") != NULL, "%s", reply);
	free(reply);
	/* HTTP/1.1 without Host is served (libmicrohttpd 0.9.75 does not insist). */
	n = snprintf(req, 200, "GET /healthz HTTP/1.1\r\n\r\n");
	cr_assert_eq(raw_status(req, (size_t)n, NULL), 200);
	/* HEAD and OPTIONS are not served: 405 with Allow. */
	n = snprintf(req, 200, "OPTIONS /v1/queues/c/messages HTTP/1.1\r\nHost: x\r\n\r\n");
	cr_assert_eq(raw_status(req, (size_t)n, &reply), 405);
	cr_assert(strstr(reply, "Allow: POST, GET, DELETE\r\n") != NULL, "%s", reply);
	free(reply);
	n = snprintf(req, 200, "HEAD /healthz HTTP/1.1\r\nHost: x\r\n\r\n");
	cr_assert_eq(raw_status(req, (size_t)n, NULL), 405);
	/* Each path segment is decoded on its own: an escaped slash is part of the name. */
	ht_expect_on(&ht_srv, "GET", "/v1/queues/a%2Fb", NULL, 400, HT_E_NAME);
	ht_expect_on(&ht_srv, "GET", "/v1/queues/%zz", NULL, 400, NULL);
	ht_expect_on(&ht_srv, "GET", "/v1/queues/%71", NULL, 404,
	       "{\"error\":{\"code\":\"queue_not_found\",\"message\":\"No such queue.\"}}");
	/* Of a parameter given twice the first counts; unknown parameters are ignored. */
	ht_expect_on(&ht_srv, "GET", "/v1/queues/c/messages?limit=1&limit=2000", NULL, 200, NULL);
	ht_expect_on(&ht_srv, "GET", "/v1/queues/c/messages?limit=2000&limit=1", NULL, 400, HT_E_PARAM);
	ht_expect_on(&ht_srv, "GET", "/v1/queues/c/messages?limit=%31%30&bogus=x", NULL, 200, NULL);
	ht_expect_on(&ht_srv, "GET", "/healthz", NULL, 200, NULL);
	free(req);
}

/* A request whose body never finishes, keeping mmqd's shutdown waiting. */
static int start_slow_upload(void)
{
	static const char head[] = "POST /v1/queues/slow/messages HTTP/1.1\r\nHost: x\r\n"
				   "Content-Length: 100\r\n\r\n{\"a\":";
	int fd = th_raw(&ht_srv);

	cr_assert_geq(fd, 0);
	cr_assert_eq(send(fd, head, sizeof(head) - 1, MSG_NOSIGNAL), (ssize_t)(sizeof(head) - 1));
	return fd;
}

Test(http_framing, requests_during_shutdown_answer_503_shutting_down)
{
	int slow, status;
	struct th_resp r;
	char *conn;

	cr_assert(th_start(&ht_srv, NULL));
	slow = start_slow_upload();
	tu_sleep_ms(th_wrapped() ? 2000 : 300);
	kill(ht_srv.pid, SIGTERM);
	tu_sleep_ms(th_wrapped() ? 1000 : 300);
	th_call(&ht_srv, "GET", "/v1/queues", NULL, &r);
	cr_assert_eq(r.status, 503, "%ld %s", r.status, r.body);
	cr_assert_str_eq(r.body, "{\"error\":{\"code\":\"shutting_down\",\"message\":\"The server is "
				 "shutting down.\"}}");
	conn = th_header(&r, "Connection");
	cr_assert_not_null(conn);
	cr_assert_str_eq(conn, "close");
	free(conn);
	th_resp_free(&r);
	status = th_stop(&ht_srv, SIGTERM);
	cr_assert_eq(status, 0, "mmqd exits 0 once the unfinished request's 3 s are up");
	close(slow);
}

Test(http_framing, an_unknown_transfer_encoding_is_never_answered_and_times_out)
{
	static const char req[] = "POST /v1/queues/te/messages HTTP/1.1\r\nHost: x\r\n"
				  "Transfer-Encoding: gzip\r\n\r\n1";
	const char *const args[] = { "--connection-timeout", "1", NULL };
	int fd;

	cr_assert(th_start(&ht_srv, args));
	fd = th_raw(&ht_srv);
	cr_assert_geq(fd, 0);
	cr_assert_eq(send(fd, req, sizeof(req) - 1, MSG_NOSIGNAL), (ssize_t)(sizeof(req) - 1));
	cr_assert(closed_unanswered(fd, 10000), "closed without an answer after the timeout");
	close(fd);
	ht_expect_on(&ht_srv, "GET", "/v1/queues/te", NULL, 404, NULL);
}

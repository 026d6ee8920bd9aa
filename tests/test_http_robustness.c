/* test_http_robustness.c: stalled clients, garbage on the wire, oversized bodies, and authentication. */
#include <criterion/criterion.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "httptest.h"
#include "testutil.h"

TestSuite(http_robustness, .init = ht_setup, .fini = ht_stop, .timeout = 60);

static void send_all(int fd, const void *p, size_t n)
{
	cr_assert_eq(send(fd, p, n, MSG_NOSIGNAL), (ssize_t)n);
}

/* read_reply reads what the server sends on fd within ms milliseconds (caller frees). */
static char *read_reply(int fd, unsigned ms)
{
	char *buf = calloc(1, 65536);
	size_t got = 0;
	uint64_t until = tu_now_ms() + ms;

	while (got < 65535 && tu_now_ms() < until) {
		struct pollfd p = { fd, POLLIN, 0 };
		ssize_t n;
		if (poll(&p, 1, 50) <= 0)
			continue;
		n = recv(fd, buf + got, 65535 - got, 0);
		if (n <= 0)
			break;
		got += (size_t)n;
		if (strstr(buf, "\r\n\r\n") != NULL && strstr(buf, "}}") != NULL)
			break;
	}
	return buf;
}

static void healthy(void)
{
	struct th_resp r;
	cr_assert_eq(th_call(&ht_srv, "GET", "/healthz", NULL, &r), 200, "the server still answers");
	th_resp_free(&r);
}

Test(http_robustness, stalled_clients_do_not_delay_a_normal_request)
{
	enum { STALLED = 50 };
	int fds[STALLED];
	struct th_resp r;

	cr_assert(th_start(&ht_srv, NULL));
	for (int i = 0; i < STALLED; i++) {
		static const char half_headers[] = "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ";
		static const char half_body[] = "POST /v1/queues/s/messages HTTP/1.1\r\nHost: x\r\n"
						"Content-Length: 100\r\n\r\n{\"a\":";
		fds[i] = th_raw(&ht_srv);
		cr_assert_geq(fds[i], 0);
		if (i % 2)
			send_all(fds[i], half_headers, sizeof(half_headers) - 1);
		else
			send_all(fds[i], half_body, sizeof(half_body) - 1);
	}
	tu_sleep_ms(200);
	cr_assert_eq(th_call(&ht_srv, "POST", "/v1/queues/s/messages", "1", &r), 201);
	cr_assert_lt(r.seconds, 2.0, "took %.2f s", r.seconds);
	th_resp_free(&r);
	cr_assert_eq(th_call(&ht_srv, "GET", "/healthz", NULL, &r), 200);
	cr_assert_lt(r.seconds, 2.0, "took %.2f s", r.seconds);
	th_resp_free(&r);
	for (int i = 0; i < STALLED; i++)
		close(fds[i]);
}

Test(http_robustness, garbage_and_malformed_http_never_take_the_server_down)
{
	static const char *const malformed[] = {
		"\r\n\r\n",
		"GET\r\n\r\n",
		"GET / HTTP/9.9\r\n\r\n",
		"GET /healthz HTTP/1.1\r\n\r\n", /* no Host */
		"POST /v1/queues/q/messages HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n",
		"POST /v1/queues/q/messages HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999999999999\r\n\r\n",
		"POST /v1/queues/q/messages HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
		"GET /v1/queues/%zz HTTP/1.1\r\nHost: x\r\n\r\n",
		"PUT /v1/queues/q HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\n\xff\xfe\x00",
	};
	static const char with_nul[] = "GET /v1/queues/q\0x HTTP/1.1\r\nHost: x\r\n\r\n";
	unsigned seed = 12345;
	int fd0;

	cr_assert(th_start(&ht_srv, NULL));
	fd0 = th_raw(&ht_srv);
	send(fd0, with_nul, sizeof(with_nul) - 1, MSG_NOSIGNAL);
	free(read_reply(fd0, 300));
	close(fd0);
	for (size_t i = 0; i < sizeof(malformed) / sizeof(malformed[0]); i++) {
		int fd = th_raw(&ht_srv);
		char *reply;
		cr_assert_geq(fd, 0);
		send(fd, malformed[i], strlen(malformed[i]), MSG_NOSIGNAL);
		reply = read_reply(fd, 300);
		free(reply);
		close(fd);
	}
	for (int i = 0; i < 100; i++) {
		char junk[4096];
		size_t n = (size_t)(rand_r(&seed) % sizeof(junk)) + 1;
		int fd = th_raw(&ht_srv);
		cr_assert_geq(fd, 0);
		for (size_t k = 0; k < n; k++)
			junk[k] = (char)rand_r(&seed);
		if (i % 3 == 0)
			memcpy(junk, "POST /v1/queues/q/messages HTTP/1.1\r\n", n < 37 ? n : 37);
		send(fd, junk, n, MSG_NOSIGNAL);
		if (i % 10 == 0)
			free(read_reply(fd, 100));
		close(fd);
	}
	healthy();
	cr_assert_eq(kill(ht_srv.pid, 0), 0);
	cr_assert_eq(th_stop(&ht_srv, SIGTERM), 0);
}

Test(http_robustness, an_announced_oversized_message_is_refused_before_its_body)
{
	static const char req[] = "POST /v1/queues/big/messages HTTP/1.1\r\nHost: x\r\n"
				  "Content-Length: 1048577\r\n\r\n";
	int fd;
	char *reply;

	cr_assert(th_start(&ht_srv, NULL));
	fd = th_raw(&ht_srv);
	send_all(fd, req, sizeof(req) - 1);
	reply = read_reply(fd, 2000);
	cr_assert(strncmp(reply, "HTTP/1.1 413 ", 13) == 0, "%s", reply);
	cr_assert(strstr(reply, "{\"error\":{\"code\":\"message_too_large\",\"message\":\"The message is "
				"larger than the queue's max_message_bytes.\"}}") != NULL,
		  "%s", reply);
	free(reply);
	close(fd);
	healthy();
}

Test(http_robustness, an_announced_oversized_batch_is_refused_before_its_body)
{
	static const char req[] = "POST /v1/queues/big/messages/batch HTTP/1.1\r\nHost: x\r\n"
				  "Content-Length: 2049\r\n\r\n[";
	const char *const args[] = { "--max-body-bytes", "2048", NULL };
	int fd;
	char *reply;

	cr_assert(th_start(&ht_srv, args));
	fd = th_raw(&ht_srv);
	send_all(fd, req, sizeof(req) - 1);
	reply = read_reply(fd, 2000);
	cr_assert(strncmp(reply, "HTTP/1.1 413 ", 13) == 0, "%s", reply);
	cr_assert(strstr(reply, "{\"error\":{\"code\":\"request_too_large\",\"message\":\"The request "
				"body is larger than the server accepts.\"}}") != NULL,
		  "%s", reply);
	free(reply);
	close(fd);
	healthy();
}

Test(http_robustness, a_chunked_body_over_the_cap_is_refused_and_dropped)
{
	static const char head[] = "POST /v1/queues/big/messages/batch HTTP/1.1\r\nHost: x\r\n"
				   "Transfer-Encoding: chunked\r\n\r\n";
	const char *const args[] = { "--max-body-bytes", "4096", NULL };
	char chunk[1100];
	int fd;
	char *reply;

	cr_assert(th_start(&ht_srv, args));
	fd = th_raw(&ht_srv);
	send_all(fd, head, sizeof(head) - 1);
	memset(chunk, ' ', sizeof(chunk));
	memcpy(chunk, "400\r\n", 5);
	memcpy(chunk + 5 + 0x400, "\r\n", 2);
	for (int i = 0; i < 5; i++) {
		send_all(fd, chunk, 5 + 0x400 + 2);
		tu_sleep_ms(50);
	}
	/* 5 KiB sent, 4 KiB allowed: the rest is dropped and the end of the body answered 413. */
	send_all(fd, "0\r\n\r\n", 5);
	reply = read_reply(fd, 2000);
	cr_assert(strncmp(reply, "HTTP/1.1 413 ", 13) == 0, "%s", reply);
	cr_assert(strstr(reply, "\"code\":\"request_too_large\"") != NULL, "%s", reply);
	free(reply);
	close(fd);
	healthy();
}

Test(http_robustness, large_messages_within_the_limit_are_accepted)
{
	size_t n = 1048576;
	char *body = malloc(n + 1);
	struct th_resp r;

	cr_assert(th_start(&ht_srv, NULL));
	memset(body, 'x', n);
	body[0] = '"';
	body[n - 1] = '"';
	body[n] = '\0';
	cr_assert_eq(th_req(&ht_srv, "POST", "/v1/queues/big/messages", body, n, NULL, &r), 201);
	th_resp_free(&r);
	cr_assert_eq(th_call(&ht_srv, "POST", "/v1/queues/big/messages/pop", NULL, &r), 200);
	cr_assert_gt(r.len, n);
	cr_assert(strstr(r.body, "\"payload\":\"xxxxxxxx") != NULL);
	th_resp_free(&r);
	free(body);
}

/* expect_auth asserts the status of GET path with an Authorization header (NULL: none). */
static void expect_auth(const char *path, const char *authorization, long status)
{
	const char *headers[] = { authorization, NULL };
	struct th_resp r;

	th_req(&ht_srv, "GET", path, NULL, 0, authorization ? headers : NULL, &r);
	cr_assert_eq(r.status, status, "%s with %s", path, authorization ? authorization : "nothing");
	if (status == 401) {
		char *h = th_header(&r, "WWW-Authenticate");
		cr_assert_str_eq(r.body, "{\"error\":{\"code\":\"unauthorized\",\"message\":\"A valid "
					 "bearer token is required.\"}}");
		cr_assert_not_null(h);
		cr_assert_str_eq(h, "Bearer");
		free(h);
	}
	th_resp_free(&r);
}

Test(http_robustness, a_token_file_protects_every_route_but_healthz)
{
	char *file = tu_path(ht_srv.dir, "token");
	FILE *f = fopen(file, "w");
	const char *const args[] = { "--auth-token-file", file, NULL };

	fputs("s3cret-token\n", f);
	fclose(f);
	cr_assert(th_start(&ht_srv, args));
	expect_auth("/healthz", NULL, 200);
	expect_auth("/v1/queues", NULL, 401);
	expect_auth("/metrics", NULL, 401);
	expect_auth("/nowhere", NULL, 401);
	expect_auth("/v1/queues", "Authorization: Bearer wrong", 401);
	expect_auth("/v1/queues", "Authorization: Bearer s3cret-toke", 401);
	expect_auth("/v1/queues", "Authorization: Bearer s3cret-token2", 401);
	expect_auth("/v1/queues", "Authorization: Basic czNjcmV0LXRva2Vu", 401);
	expect_auth("/v1/queues", "Authorization: Bearer s3cret-token", 200);
	expect_auth("/metrics", "Authorization: bearer s3cret-token", 200);
	expect_auth("/nowhere", "Authorization: Bearer s3cret-token", 404);
	free(file);
}

Test(http_robustness, the_token_may_come_from_the_environment)
{
	setenv("MMQ_AUTH_TOKEN", "from-env", 1);
	cr_assert(th_start(&ht_srv, NULL));
	unsetenv("MMQ_AUTH_TOKEN");
	expect_auth("/v1/queues", NULL, 401);
	expect_auth("/v1/queues", "Authorization: Bearer from-env", 200);
	expect_auth("/healthz", NULL, 200);
}

/* test_http_keepalive.c: what one connection remembers between its requests never outlives a settings change. */
#include <criterion/criterion.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "httptest.h"
#include "testutil.h"

TestSuite(http_keepalive, .init = ht_start, .fini = ht_stop, .timeout = 60);

/* body_end returns where the response in buf (len bytes) ends, or 0 while it is incomplete. */
static size_t body_end(const char *buf, size_t len)
{
	const char *head_end = strstr(buf, "\r\n\r\n");
	const char *cl = strstr(buf, "Content-Length: ");
	size_t end;

	if (head_end == NULL || cl == NULL || cl > head_end)
		return 0;
	end = (size_t)(head_end - buf) + 4 + strtoul(cl + 16, NULL, 10);
	return len >= end ? end : 0;
}

/* read_reply reads one response (with a Content-Length) from fd and returns its status; 0: none. */
static int read_reply(int fd)
{
	char buf[4096];
	size_t len = 0;

	buf[0] = '\0';
	while (body_end(buf, len) == 0) {
		struct pollfd p = { fd, POLLIN, 0 };
		ssize_t n;
		if (len + 1 >= sizeof(buf) || poll(&p, 1, th_wrapped() ? 20000 : 5000) != 1)
			return 0;
		n = read(fd, buf + len, sizeof(buf) - 1 - len);
		if (n <= 0)
			return 0;
		len += (size_t)n;
		buf[len] = '\0';
	}
	return strncmp(buf, "HTTP/1.1 ", 9) == 0 ? atoi(buf + 9) : 0;
}

/* post sends a message of size bytes (a JSON string) on fd, kept alive, and returns the status. */
static int post(int fd, size_t size)
{
	char req[512], body[256];
	int n;

	cr_assert(size >= 2 && size < sizeof(body));
	memset(body, 'x', size);
	body[0] = body[size - 1] = '"';
	body[size] = '\0';
	n = snprintf(req, sizeof(req),
		     "POST /v1/queues/ka/messages HTTP/1.1\r\nHost: x\r\nContent-Length: %zu\r\n\r\n%s",
		     size, body);
	cr_assert_eq(write(fd, req, (size_t)n), n);
	return read_reply(fd);
}

/* put_limit sets queue ka's max_message_bytes over another connection. */
static void put_limit(unsigned limit, long want)
{
	char body[64];
	struct th_resp r;

	snprintf(body, sizeof(body), "{\"max_message_bytes\":%u}", limit);
	cr_assert_eq(th_call(&ht_srv, "PUT", "/v1/queues/ka", body, &r), want, "%s", r.body);
	th_resp_free(&r);
}

/*
 * A connection remembers its queue's max_message_bytes between requests; a
 * change made over another connection must apply to its very next request.
 * (A 413 for an announced length closes the connection, so each ends one.)
 */
Test(http_keepalive, a_settings_change_applies_to_the_next_request_of_an_open_connection)
{
	int fd = th_raw(&ht_srv);
	struct th_resp r;

	cr_assert(fd >= 0);
	put_limit(16, 201);
	cr_assert_eq(post(fd, 16), 201);
	put_limit(64, 200);
	cr_assert_eq(post(fd, 40), 201);
	cr_assert_eq(post(fd, 64), 201);
	put_limit(16, 200);
	cr_assert_eq(post(fd, 17), 413);
	close(fd);

	fd = th_raw(&ht_srv);
	cr_assert(fd >= 0);
	cr_assert_eq(post(fd, 16), 201);
	/* A queue made again after its deletion has the default limit (1 MiB). */
	cr_assert_eq(th_call(&ht_srv, "DELETE", "/v1/queues/ka", NULL, &r), 204);
	th_resp_free(&r);
	cr_assert_eq(post(fd, 200), 201);
	close(fd);
}

/* test_http_limits.c: the caps on queues, connections per address and long polls, numbers out of range, bad options. */
#include <criterion/criterion.h>
#include <cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "httptest.h"
#include "httputil.h"
#include "testutil.h"

TestSuite(http_limits, .init = ht_setup, .fini = ht_stop, .timeout = 90);

#define E_TOO_MANY_QUEUES \
	"{\"error\":{\"code\":\"too_many_queues\",\"message\":\"The server already holds as many queues as it may.\"}}"
#define E_TOO_MANY_POLLS \
	"{\"error\":{\"code\":\"too_many_long_polls\",\"message\":\"Too many requests are waiting for messages; try again later.\"}}"

/* queue_count returns how many queues GET /v1/queues lists. */
static int queue_count(void)
{
	struct th_resp r;
	cJSON *j;
	int n;

	cr_assert_eq(th_call(&ht_srv, "GET", "/v1/queues", NULL, &r), 200);
	j = cJSON_Parse(r.body);
	n = cJSON_GetArraySize(cJSON_GetObjectItem(j, "queues"));
	cJSON_Delete(j);
	th_resp_free(&r);
	return n;
}

Test(http_limits, creating_more_queues_than_the_cap_answers_507_too_many_queues)
{
	const char *const args[] = { "--max-queues", "3", NULL };

	cr_assert(th_start(&ht_srv, args));
	ht_expect_on(&ht_srv, "PUT", "/v1/queues/a", NULL, 201, NULL);
	ht_expect_on(&ht_srv, "POST", "/v1/queues/b/messages", "1", 201, NULL);
	ht_expect_on(&ht_srv, "POST", "/v1/queues/c/messages/batch", "[1,2]", 201, NULL);
	ht_expect_on(&ht_srv, "PUT", "/v1/queues/d", NULL, 507, E_TOO_MANY_QUEUES);
	ht_expect_on(&ht_srv, "POST", "/v1/queues/d/messages", "1", 507, E_TOO_MANY_QUEUES);
	ht_expect_on(&ht_srv, "POST", "/v1/queues/d/messages/batch", "[1]", 507, E_TOO_MANY_QUEUES);
	cr_assert_eq(queue_count(), 3, "nothing was created");
	/* Existing queues still take settings and messages. */
	ht_expect_on(&ht_srv, "PUT", "/v1/queues/a", "{\"lease_seconds\":9}", 200, NULL);
	ht_expect_on(&ht_srv, "POST", "/v1/queues/a/messages", "2", 201, NULL);
	/* Deleting one makes room for another. */
	ht_expect_on(&ht_srv, "DELETE", "/v1/queues/b", NULL, 204, NULL);
	ht_expect_on(&ht_srv, "PUT", "/v1/queues/d", NULL, 201, NULL);
	cr_assert_eq(queue_count(), 3);
	{
		struct th_resp r;
		th_call(&ht_srv, "GET", "/metrics", NULL, &r);
		cr_assert(strstr(r.body, "route=\"/v1/queues/{q}\",status=\"507\"} 1") != NULL,
			  "%s", r.body);
		th_resp_free(&r);
	}
}

Test(http_limits, the_queue_cap_comes_from_the_environment_and_0_means_none)
{
	char path[64];

	setenv("MMQ_MAX_QUEUES", "1", 1);
	cr_assert(th_start(&ht_srv, NULL));
	unsetenv("MMQ_MAX_QUEUES");
	ht_expect_on(&ht_srv, "PUT", "/v1/queues/one", NULL, 201, NULL);
	ht_expect_on(&ht_srv, "PUT", "/v1/queues/two", NULL, 507, E_TOO_MANY_QUEUES);
	cr_assert_eq(th_stop(&ht_srv, SIGTERM), 0);
	{
		const char *const args[] = { "--max-queues", "0", NULL };
		cr_assert(th_start(&ht_srv, args));
	}
	for (int i = 0; i < 20; i++) {
		snprintf(path, sizeof(path), "/v1/queues/q%d", i);
		ht_expect_on(&ht_srv, "PUT", path, NULL, 201, NULL);
	}
	cr_assert_eq(queue_count(), 21);
}

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

/* healthz_on sends GET /healthz on the open connection fd and says whether it was answered 200. */
static bool healthz_on(int fd)
{
	static const char req[] = "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n";
	char buf[512] = "";
	struct pollfd p = { fd, POLLIN, 0 };

	if (send(fd, req, sizeof(req) - 1, MSG_NOSIGNAL) != (ssize_t)(sizeof(req) - 1))
		return false;
	if (poll(&p, 1, 10000) != 1 || recv(fd, buf, sizeof(buf) - 1, 0) <= 0)
		return false;
	return strncmp(buf, "HTTP/1.1 200 ", 13) == 0;
}

Test(http_limits, connections_over_the_per_address_cap_are_closed_unanswered)
{
	const char *const args[] = { "--max-connections-per-ip", "2", NULL };
	unsigned settle = th_wrapped() ? 2000 : 300;
	int a, b, c, d;
	struct th_resp r;

	cr_assert(th_start(&ht_srv, args));
	a = th_raw(&ht_srv);
	b = th_raw(&ht_srv);
	cr_assert(a >= 0 && b >= 0);
	tu_sleep_ms(settle);
	/* The kernel completes the connection; mmqd then closes it without a word. */
	c = th_raw(&ht_srv);
	cr_assert_geq(c, 0);
	cr_assert(closed_unanswered(c, 5000), "a third connection from 127.0.0.1 is closed");
	close(c);
	cr_assert_eq(th_call(&ht_srv, "GET", "/healthz", NULL, &r), 0, "curl gets no answer either");
	th_resp_free(&r);
	/* The two open connections are served as usual. */
	cr_assert(healthz_on(a), "the first connection is served");
	cr_assert(healthz_on(b), "the second connection is served");
	/* Closing one makes room for a new one, and only one. */
	close(b);
	tu_sleep_ms(settle);
	b = th_raw(&ht_srv);
	cr_assert_geq(b, 0);
	cr_assert(healthz_on(b), "a connection that replaces a closed one is served");
	d = th_raw(&ht_srv);
	cr_assert_geq(d, 0);
	cr_assert(closed_unanswered(d, 5000), "a third connection is closed again");
	close(d);
	close(b);
	close(a);
}

/* A request run on its own thread. */
struct call {
	pthread_t thread;
	char path[160];
	struct th_resp r;
};

static void *call_main(void *arg)
{
	struct call *c = arg;
	th_call(&ht_srv, "POST", c->path, NULL, &c->r);
	return NULL;
}

static void call_start(struct call *c, const char *path)
{
	snprintf(c->path, sizeof(c->path), "%s", path);
	cr_assert_eq(pthread_create(&c->thread, NULL, call_main, c), 0);
}

Test(http_limits, long_polls_over_the_cap_answer_429_at_once)
{
	const char *const args[] = { "--max-long-polls", "2", NULL };
	struct call c[2];
	struct th_resp r;
	char *retry;

	cr_assert(th_start(&ht_srv, args));
	call_start(&c[0], "/v1/queues/lp/messages/pop?wait=30");
	call_start(&c[1], "/v1/queues/other/messages/lease?wait=30");
	tu_sleep_ms(th_wrapped() ? 3000 : 500);
	/* A third waiter, on any queue, is refused at once with Retry-After. */
	th_call(&ht_srv, "POST", "/v1/queues/lp/messages/pop?wait=30", NULL, &r);
	cr_assert_eq(r.status, 429, "%ld %s", r.status, r.body);
	cr_assert_str_eq(r.body, E_TOO_MANY_POLLS);
	cr_assert_lt(r.seconds, 5.0, "answered at once, not after the wait");
	retry = th_header(&r, "Retry-After");
	cr_assert_not_null(retry);
	cr_assert_str_eq(retry, "1");
	free(retry);
	th_resp_free(&r);
	ht_expect_on(&ht_srv, "POST", "/v1/queues/third/messages/lease?wait=1", NULL, 429, E_TOO_MANY_POLLS);
	/* Requests that need not wait are served as usual. */
	ht_expect_on(&ht_srv, "POST", "/v1/queues/lp/messages/pop", NULL, 200, "{\"messages\":[]}");
	ht_expect_on(&ht_srv, "POST", "/v1/queues/ready/messages", "\"x\"", 201, NULL);
	ht_expect_on(&ht_srv, "POST", "/v1/queues/ready/messages/pop?wait=30", NULL, 200, NULL);
	/* The waiters get their messages; then there is room again. */
	ht_expect_on(&ht_srv, "POST", "/v1/queues/lp/messages", "\"for 0\"", 201, NULL);
	ht_expect_on(&ht_srv, "POST", "/v1/queues/other/messages", "\"for 1\"", 201, NULL);
	for (int i = 0; i < 2; i++) {
		pthread_join(c[i].thread, NULL);
		cr_assert_eq(c[i].r.status, 200);
		cr_assert(strstr(c[i].r.body, "\"payload\":\"for ") != NULL, "%s", c[i].r.body);
		th_resp_free(&c[i].r);
	}
	th_call(&ht_srv, "POST", "/v1/queues/lp/messages/pop?wait=1", NULL, &r);
	cr_assert_eq(r.status, 200, "room again after the waiters left");
	cr_assert_str_eq(r.body, "{\"messages\":[]}");
	cr_assert_geq(r.seconds, 0.9, "it waited");
	th_resp_free(&r);
	th_call(&ht_srv, "GET", "/metrics", NULL, &r);
	cr_assert(strstr(r.body, "route=\"/v1/queues/{q}/messages/pop\",status=\"429\"} 1") != NULL,
		  "%s", r.body);
	th_resp_free(&r);
}

Test(http_limits, numeric_query_parameters_out_of_range_or_overflowing_answer_400)
{
	static const char *const gets[] = {
		"/v1/queues/n/messages?limit=18446744073709551616",
		"/v1/queues/n/messages?limit=18446744073709551615",
		"/v1/queues/n/messages?limit=99999999999999999999999",
		"/v1/queues/n/messages?limit=4294967297",
		"/v1/queues/n/messages?limit=0x10",
		"/v1/queues/n/messages?limit=1e2",
		"/v1/queues/n/messages?limit=+1",
		"/v1/queues/n/messages?limit=%201",
		"/v1/queues/n/messages?limit=1%20",
		"/v1/queues/n/messages?limit=1%00",
		"/v1/queues/n/messages?limit",
	};
	static const char *const posts[] = {
		"/v1/queues/n/messages/pop?wait=18446744073709551616",
		"/v1/queues/n/messages/pop?wait=4294967356",
		"/v1/queues/n/messages/pop?wait=60.5",
		"/v1/queues/n/messages/pop?wait=-0",
		"/v1/queues/n/messages/lease?ttl=18446744073709551615",
		"/v1/queues/n/messages/lease?ttl=4294967297",
		"/v1/queues/n/messages/lease?ttl=1.0",
		"/v1/queues/n/messages/lease?limit=1001&wait=0",
		"/v1/queues/n/messages?delay=18446744073709551616",
		"/v1/queues/n/messages?delay=4294967296",
		"/v1/queues/n/messages?delay=1e9",
		"/v1/queues/n/messages/batch?delay=43201",
		"/v1/queues/n/messages/batch?delay=",
		"/v1/queues/n/messages/1/release?lease=1&delay=18446744073709551616",
		"/v1/queues/n/messages/1/release?lease=1&delay=-1",
		"/v1/queues/n/messages/1/extend?lease=1&ttl=18446744073709551616",
		"/v1/queues/n/messages/1/extend?lease=1&ttl=43201",
	};

	cr_assert(th_start(&ht_srv, NULL));
	for (size_t i = 0; i < sizeof(gets) / sizeof(gets[0]); i++)
		ht_expect_on(&ht_srv, "GET", gets[i], NULL, 400, HT_E_PARAM);
	for (size_t i = 0; i < sizeof(posts) / sizeof(posts[0]); i++)
		ht_expect_on(&ht_srv, "POST", posts[i], "1", 400, HT_E_PARAM);
	/* The largest values in range are accepted. */
	ht_expect_on(&ht_srv, "GET", "/v1/queues/n/messages?limit=1000", NULL, 200, "{\"messages\":[]}");
	ht_expect_on(&ht_srv, "GET", "/v1/queues/n/messages?limit=00000000000000000001", NULL, 200, NULL);
	ht_expect_on(&ht_srv, "POST", "/v1/queues/n/messages?delay=43200", "1", 201, NULL);
	ht_expect_on(&ht_srv, "POST", "/v1/queues/n/messages/lease?ttl=43200&limit=1000", NULL, 200,
	       "{\"messages\":[]}");
	ht_expect_on(&ht_srv, "GET", "/v1/queues/n", NULL, 200, NULL);
}

Test(http_limits, message_ids_and_lease_tokens_that_overflow_answer_400)
{
	static const char *const bad[] = {
		"/v1/queues/m/messages/18446744073709551616?lease=1",
		"/v1/queues/m/messages/99999999999999999999999?lease=1",
		"/v1/queues/m/messages/-1?lease=1",
		"/v1/queues/m/messages/1.0?lease=1",
		"/v1/queues/m/messages/0x1?lease=1",
		"/v1/queues/m/messages/1e3?lease=1",
		"/v1/queues/m/messages/1?lease=18446744073709551616",
		"/v1/queues/m/messages/1?lease=-1",
		"/v1/queues/m/messages/1?lease=1e3",
		"/v1/queues/m/messages/1?lease=%2B1",
		"/v1/queues/m/messages/1?lease=",
		"/v1/queues/m/messages/1?lease",
		"/v1/queues/m/messages/1",
	};

	cr_assert(th_start(&ht_srv, NULL));
	ht_expect_on(&ht_srv, "POST", "/v1/queues/m/messages", "1", 201, "{\"id\":1}");
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char path[160];
		ht_expect_on(&ht_srv, "DELETE", bad[i], NULL, 400, HT_E_PARAM);
		snprintf(path, sizeof(path), "%s", bad[i]);
		{
			/* The same id and token on release and extend. */
			char *q = strchr(path, '?');
			char rel[200], ext[200];
			if (q != NULL)
				*q = '\0';
			snprintf(rel, sizeof(rel), "%s/release%s", path, q ? strchr(bad[i], '?') : "");
			snprintf(ext, sizeof(ext), "%s/extend%s", path, q ? strchr(bad[i], '?') : "");
			ht_expect_on(&ht_srv, "POST", rel, NULL, 400, HT_E_PARAM);
			ht_expect_on(&ht_srv, "POST", ext, NULL, 400, HT_E_PARAM);
		}
	}
	/* The largest id and token are well formed: no such message, no such lease. */
	ht_expect_on(&ht_srv, "DELETE", "/v1/queues/m/messages/18446744073709551615?lease=1", NULL, 404, NULL);
	ht_expect_on(&ht_srv, "DELETE", "/v1/queues/m/messages/1?lease=18446744073709551615", NULL, 409, NULL);
	ht_expect_on(&ht_srv, "DELETE", "/v1/queues/m/messages/00001?lease=0", NULL, 409, NULL);
}

Test(http_limits, numeric_settings_must_be_whole_numbers_in_range)
{
	static const char *const names[] = { "max_bytes", "max_message_bytes", "lease_seconds",
					     "max_deliveries" };
	static const char *const bad_values[] = {
		"-1",	 "0.5",	 "1.5",	 "1e30",  "-1e30", "18446744073709551616", "18446744073709551615",
		"1e400", "\"5\"", "true", "null",  "[5]",   "{\"v\":5}",	   "9007199254740994",
	};
	static const char *const out_of_range[] = {
		"{\"max_message_bytes\":0}",	      "{\"max_message_bytes\":1073741825}",
		"{\"lease_seconds\":0}",	      "{\"lease_seconds\":43201}",
		"{\"lease_seconds\":4294967297}",     "{\"max_deliveries\":4294967296}",
		"{\"max_bytes\":9007199254740994}",   "{\"lease_seconds\":5,\"lease_seconds\":0}",
		"{\"dead_letter\":\"x\",\"max_deliveries\":-1}",
	};
	char body[128];

	cr_assert(th_start(&ht_srv, NULL));
	for (size_t n = 0; n < sizeof(names) / sizeof(names[0]); n++) {
		for (size_t v = 0; v < sizeof(bad_values) / sizeof(bad_values[0]); v++) {
			snprintf(body, sizeof(body), "{\"%s\":%s}", names[n], bad_values[v]);
			ht_expect_on(&ht_srv, "PUT", "/v1/queues/s", body, 400, HT_E_PARAM);
		}
	}
	for (size_t i = 0; i < sizeof(out_of_range) / sizeof(out_of_range[0]); i++)
		ht_expect_on(&ht_srv, "PUT", "/v1/queues/s", out_of_range[i], 400, HT_E_PARAM);
	ht_expect_on(&ht_srv, "GET", "/v1/queues/s", NULL, 404, NULL);
	/* Whole numbers at the ends of the ranges are taken, however they are spelled. */
	ht_expect_on(&ht_srv, "PUT", "/v1/queues/dl", NULL, 201, NULL);
	ht_expect_on(&ht_srv, "PUT", "/v1/queues/s",
	       "{\"max_bytes\":9007199254740992,\"max_message_bytes\":1073741824,"
	       "\"lease_seconds\":43200,\"max_deliveries\":4294967295,\"dead_letter\":\"dl\"}",
	       201, NULL);
	ht_expect_on(&ht_srv, "PUT", "/v1/queues/s", "{\"max_message_bytes\":1,\"lease_seconds\":1}", 200, NULL);
	ht_expect_on(&ht_srv, "PUT", "/v1/queues/s", "{\"lease_seconds\":1e2,\"max_bytes\":10.0}", 200, NULL);
	{
		struct th_resp r;
		th_call(&ht_srv, "GET", "/v1/queues/s", NULL, &r);
		cr_assert(strstr(r.body, "\"lease_seconds\":100") != NULL, "%s", r.body);
		cr_assert(strstr(r.body, "\"max_bytes\":10,") != NULL, "%s", r.body);
		cr_assert(strstr(r.body, "\"max_deliveries\":4294967295") != NULL, "%s", r.body);
		th_resp_free(&r);
	}
}

Test(http_limits, limit_options_out_of_range_exit_2)
{
	static const char *const flags[] = { "--max-queues", "--max-connections-per-ip",
					      "--max-long-polls" };
	static const char *const bad[] = { "-1", "1000001", "18446744073709551616", "1e3", "", "x" };

	for (size_t f = 0; f < sizeof(flags) / sizeof(flags[0]); f++) {
		for (size_t b = 0; b < sizeof(bad) / sizeof(bad[0]); b++) {
			const char *const args[] = { flags[f], bad[b], "--version", NULL };
			cr_assert_eq(th_run_mmqd(args, NULL), 2, "%s %s", flags[f], bad[b]);
		}
		{
			const char *const args[] = { flags[f], "1000000", "--version", NULL };
			cr_assert_eq(th_run_mmqd(args, NULL), 0, "%s 1000000", flags[f]);
		}
	}
}

Test(http_limits, unusable_token_files_stop_mmqd_with_exit_1)
{
	char *empty = tu_path(ht_srv.dir, "empty-token"), *missing = tu_path(ht_srv.dir, "missing");
	FILE *f = fopen(empty, "w");
	const char *const none[] = { "--auth-token-file", missing, "--data-dir", ht_srv.data,
				     "--listen", "127.0.0.1:0", NULL };
	const char *const blank[] = { "--auth-token-file", empty, "--data-dir", ht_srv.data,
				      "--listen", "127.0.0.1:0", NULL };

	fputs(" \n\n", f);
	fclose(f);
	cr_assert_eq(th_run_mmqd(none, NULL), 1);
	cr_assert_eq(th_run_mmqd(blank, NULL), 1);
	free(empty);
	free(missing);
}

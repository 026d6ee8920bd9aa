/* test_http_errors.c: every error status of the v1 contract with its exact body, and refused requests changing nothing. */
#include <criterion/criterion.h>
#include <cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "httptest.h"
#include "httputil.h"

TestSuite(http_errors, .init = ht_start, .fini = ht_stop, .timeout = 60);

Test(http_errors, unknown_paths_answer_404_not_found)
{
	ht_expect("GET", "/nope", NULL, 404, HT_E_NOT_FOUND);
	ht_expect("GET", "/v2/queues", NULL, 404, HT_E_NOT_FOUND);
	ht_expect("GET", "/v1/queues/", NULL, 404, HT_E_NOT_FOUND);
	ht_expect("GET", "/v1/queues/q/other", NULL, 404, HT_E_NOT_FOUND);
	ht_expect("POST", "/v1/queues/q/messages/1/nope", NULL, 404, HT_E_NOT_FOUND);
}

/* expect_allow asserts a 405 with the exact Allow header. */
static void expect_allow(const char *method, const char *path, const char *allow)
{
	struct th_resp r;
	char *h;

	th_call(&ht_srv, method, path, NULL, &r);
	cr_assert_eq(r.status, 405, "%s %s: %ld", method, path, r.status);
	cr_assert_str_eq(r.body, HT_E_METHOD);
	h = th_header(&r, "Allow");
	cr_assert_not_null(h, "%s %s: no Allow header", method, path);
	cr_assert_str_eq(h, allow, "%s %s", method, path);
	free(h);
	th_resp_free(&r);
}

Test(http_errors, wrong_methods_answer_405_with_allow)
{
	expect_allow("POST", "/healthz", "GET");
	/* The root is the Amazon SQS endpoint, which takes POST only. */
	expect_allow("GET", "/", "POST");
	expect_allow("DELETE", "/metrics", "GET");
	expect_allow("POST", "/v1/queues", "GET");
	expect_allow("PATCH", "/v1/queues/q", "PUT, GET, DELETE");
	expect_allow("PUT", "/v1/queues/q/messages", "POST, GET, DELETE");
	expect_allow("GET", "/v1/queues/q/messages/batch", "POST");
	expect_allow("GET", "/v1/queues/q/messages/pop", "POST");
	expect_allow("DELETE", "/v1/queues/q/messages/lease", "POST");
	expect_allow("GET", "/v1/queues/q/messages/7", "DELETE");
	expect_allow("GET", "/v1/queues/q/messages/7/release", "POST");
	expect_allow("PUT", "/v1/queues/q/messages/7/extend", "POST");
}

Test(http_errors, missing_queues_answer_404_or_empty)
{
	ht_expect("GET", "/v1/queues/nope", NULL, 404, HT_E_QNF);
	ht_expect("DELETE", "/v1/queues/nope", NULL, 404, HT_E_QNF);
	ht_expect("DELETE", "/v1/queues/nope/messages", NULL, 404, HT_E_QNF);
	ht_expect("DELETE", "/v1/queues/nope/messages/1?lease=1", NULL, 404, HT_E_QNF);
	ht_expect("POST", "/v1/queues/nope/messages/1/release?lease=1", NULL, 404, HT_E_QNF);
	ht_expect("POST", "/v1/queues/nope/messages/1/extend?lease=1", NULL, 404, HT_E_QNF);
	ht_expect("GET", "/v1/queues/nope/messages", NULL, 200, "{\"messages\":[]}");
	ht_expect("POST", "/v1/queues/nope/messages/pop", NULL, 200, "{\"messages\":[]}");
	ht_expect("POST", "/v1/queues/nope/messages/lease", NULL, 200, "{\"messages\":[]}");
	ht_expect("GET", "/v1/queues", NULL, 200, "{\"queues\":[]}");
}

Test(http_errors, bad_queue_names_answer_400_and_create_nothing)
{
	char long_name[80], path[128];

	memset(long_name, 'a', 65);
	long_name[65] = '\0';
	snprintf(path, sizeof(path), "/v1/queues/%s", long_name);
	ht_expect("PUT", path, NULL, 400, HT_E_NAME);
	snprintf(path, sizeof(path), "/v1/queues/%s/messages", long_name);
	ht_expect("POST", path, "1", 400, HT_E_NAME);
	ht_expect("PUT", "/v1/queues/a.b", NULL, 400, HT_E_NAME);
	ht_expect("POST", "/v1/queues/a.b/messages", "1", 400, HT_E_NAME);
	ht_expect("POST", "/v1/queues/a%20b/messages/batch", "[1]", 400, HT_E_NAME);
	ht_expect("GET", "/v1/queues/a$b", NULL, 400, HT_E_NAME);
	ht_expect("DELETE", "/v1/queues/a$b", NULL, 400, HT_E_NAME);
	ht_expect("GET", "/v1/queues/a$b/messages", NULL, 400, HT_E_NAME);
	ht_expect("POST", "/v1/queues/a$b/messages/pop", NULL, 400, HT_E_NAME);
	ht_expect("POST", "/v1/queues/a$b/messages/lease", NULL, 400, HT_E_NAME);
	ht_expect("DELETE", "/v1/queues/a$b/messages", NULL, 400, HT_E_NAME);
	ht_expect("DELETE", "/v1/queues/a$b/messages/1?lease=1", NULL, 400, HT_E_NAME);
	memset(long_name, 'b', 64);
	long_name[64] = '\0';
	snprintf(path, sizeof(path), "/v1/queues/%s", long_name);
	ht_expect("PUT", path, NULL, 201, NULL);
	ht_expect("GET", "/v1/queues", NULL, 200, NULL);
	{
		cJSON *j = ht_json_of("GET", "/v1/queues", NULL, 200);
		cr_assert_eq(cJSON_GetArraySize(cJSON_GetObjectItem(j, "queues")), 1);
		cJSON_Delete(j);
	}
}

Test(http_errors, invalid_json_is_refused_and_nothing_stored)
{
	static const char *const bad[] = {
		"", "   ", "{", "{\"a\":1", "01", "1.", ".5", "+1", "[1,]", "{\"a\":1,}", "1 2",
		"'x'", "nul", "\"\xff\"", "\"\xc0\xaf\"", "\"\xed\xa0\x80\"", "\"a\tb\"", "\x01 1",
		"[1]\x0b", "NaN", "1e", "-", "\"\\x\"",
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		ht_expect("POST", "/v1/queues/j/messages", bad[i], 400, HT_E_JSON);
	{
		struct th_resp r;
		th_req(&ht_srv, "POST", "/v1/queues/j/messages", "1\0", 2, NULL, &r);
		cr_assert_eq(r.status, 400, "a NUL after the value is refused");
		th_resp_free(&r);
	}
	ht_expect("GET", "/v1/queues/j", NULL, 404, HT_E_QNF);
}

Test(http_errors, bad_batches_answer_400_and_store_nothing)
{
	char *big = malloc(1001 * 2 + 2);
	size_t n = 0;

	big[n++] = '[';
	for (int i = 0; i < 1001; i++) {
		big[n++] = '1';
		big[n++] = ',';
	}
	big[n - 1] = ']';
	big[n] = '\0';
	ht_expect("POST", "/v1/queues/bb/messages/batch", big, 400, HT_E_BATCH);
	big[n - 3] = ']';
	big[n - 2] = '\0';
	ht_expect("POST", "/v1/queues/bb/messages/batch", big, 201, NULL);
	ht_expect("DELETE", "/v1/queues/bb", NULL, 204, NULL);
	free(big);
	ht_expect("POST", "/v1/queues/bb/messages/batch", "[]", 400, HT_E_BATCH);
	ht_expect("POST", "/v1/queues/bb/messages/batch", "{\"a\":1}", 400, HT_E_BATCH);
	ht_expect("POST", "/v1/queues/bb/messages/batch", "1", 400, HT_E_BATCH);
	ht_expect("POST", "/v1/queues/bb/messages/batch", "", 400, HT_E_JSON);
	ht_expect("POST", "/v1/queues/bb/messages/batch", "[1, {]", 400, HT_E_JSON);
	ht_expect("POST", "/v1/queues/bb/messages/batch", "[1, \"\xfe\"]", 400, HT_E_JSON);
	ht_expect("GET", "/v1/queues/bb", NULL, 404, HT_E_QNF);
}

Test(http_errors, batch_with_an_item_over_the_limit_is_413)
{
	ht_expect("PUT", "/v1/queues/lim", "{\"max_message_bytes\": 8}", 201, NULL);
	ht_expect("POST", "/v1/queues/lim/messages/batch", "[1, \"123456789\"]", 413, HT_E_TOO_LARGE);
	ht_expect("POST", "/v1/queues/lim/messages", "\"1234567\"", 413, HT_E_TOO_LARGE);
	ht_expect("POST", "/v1/queues/lim/messages", "\"123456\"", 201, "{\"id\":1}");
	ht_expect("GET", "/v1/queues/lim/messages?limit=10", NULL, 200, NULL);
}

Test(http_errors, max_bytes_full_answers_507)
{
	ht_expect("PUT", "/v1/queues/full", "{\"max_bytes\": 11}", 201, NULL);
	ht_expect("POST", "/v1/queues/full/messages", "\"12345678\"", 201, "{\"id\":1}");
	ht_expect("POST", "/v1/queues/full/messages", "12", 507, HT_E_FULL);
	ht_expect("POST", "/v1/queues/full/messages/batch", "[1,2]", 507, HT_E_FULL);
	ht_expect("POST", "/v1/queues/full/messages", "1", 201, "{\"id\":2}");
}

Test(http_errors, out_of_range_parameters_answer_400)
{
	static const char *const paths[] = {
		"/v1/queues/p/messages?limit=0",      "/v1/queues/p/messages?limit=1001",
		"/v1/queues/p/messages?limit=x",      "/v1/queues/p/messages?limit=",
		"/v1/queues/p/messages?limit=-1",     "/v1/queues/p/messages?limit=1.5",
	};
	static const char *const posts[] = {
		"/v1/queues/p/messages/pop?wait=61",	    "/v1/queues/p/messages/pop?limit=1001",
		"/v1/queues/p/messages/pop?wait=1e1",	    "/v1/queues/p/messages/lease?ttl=0",
		"/v1/queues/p/messages/lease?ttl=43201",    "/v1/queues/p/messages/lease?wait=x",
		"/v1/queues/p/messages?delay=43201",	    "/v1/queues/p/messages?delay=-1",
		"/v1/queues/p/messages/batch?delay=abc",    "/v1/queues/p/messages/1/release?lease=1&delay=43201",
		"/v1/queues/p/messages/1/extend?lease=1&ttl=0", "/v1/queues/p/messages/x/release?lease=1",
		"/v1/queues/p/messages/1/release",	    "/v1/queues/p/messages/1/extend?lease=abc",
	};

	for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++)
		ht_expect("GET", paths[i], NULL, 400, HT_E_PARAM);
	for (size_t i = 0; i < sizeof(posts) / sizeof(posts[0]); i++)
		ht_expect("POST", posts[i], "1", 400, HT_E_PARAM);
	ht_expect("DELETE", "/v1/queues/p/messages/1", NULL, 400, HT_E_PARAM);
	ht_expect("DELETE", "/v1/queues/p/messages/1?lease=", NULL, 400, HT_E_PARAM);
	ht_expect("DELETE", "/v1/queues/p/messages/99999999999999999999999?lease=1", NULL, 400, HT_E_PARAM);
	ht_expect("GET", "/v1/queues/p", NULL, 404, HT_E_QNF);
}

Test(http_errors, bad_settings_answer_400)
{
	static const char *const bodies[] = {
		"{\"lease_seconds\":0}",      "{\"lease_seconds\":43201}", "{\"lease_seconds\":1.5}",
		"{\"max_message_bytes\":0}",  "{\"max_bytes\":-1}",	   "{\"max_deliveries\":\"3\"}",
		"{\"max_deliveries\":2}",     "{\"dead_letter\":\"a.b\"}", "{\"dead_letter\":5}",
		"{\"unknown\":1}",	      "[1]",			   "3",
		"{\"dead_letter\":\"cfg\"}",
	};

	for (size_t i = 0; i < sizeof(bodies) / sizeof(bodies[0]); i++)
		ht_expect("PUT", "/v1/queues/cfg", bodies[i], 400, HT_E_PARAM);
	ht_expect("PUT", "/v1/queues/cfg", "{", 400, HT_E_JSON);
	ht_expect("GET", "/v1/queues/cfg", NULL, 404, HT_E_QNF);
	ht_expect("PUT", "/v1/queues/cfg", "{}", 201, NULL);
}

Test(http_errors, bodies_of_routes_that_take_none_are_capped)
{
	size_t n = 70000;
	char *body = malloc(n + 1);
	struct th_resp r;
	static const char want[] = "{\"error\":{\"code\":\"request_too_large\",\"message\":\"The "
				   "request body is larger than the server accepts.\"}}";

	memset(body, ' ', n);
	body[n] = '\0';
	body[0] = '{';
	body[n - 1] = '}';
	th_req(&ht_srv, "POST", "/v1/queues/cap/messages/pop", body, n, NULL, &r);
	cr_assert_eq(r.status, 413);
	cr_assert_str_eq(r.body, want);
	th_resp_free(&r);
	th_req(&ht_srv, "PUT", "/v1/queues/cap", body, n, NULL, &r);
	cr_assert_eq(r.status, 413);
	cr_assert_str_eq(r.body, want);
	th_resp_free(&r);
	th_req(&ht_srv, "POST", "/v1/queues/cap/messages/pop", body, 1000, NULL, &r);
	cr_assert_eq(r.status, 200, "a small ignored body is fine");
	th_resp_free(&r);
	free(body);
	ht_expect("GET", "/v1/queues/cap", NULL, 404, NULL);
}

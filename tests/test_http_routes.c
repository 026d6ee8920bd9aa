/* test_http_routes.c: every route of the v1 contract and every error status, with exact bodies. */
#include <criterion/criterion.h>
#include <cJSON.h>
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "httputil.h"
#include "testutil.h"

static struct th_server srv;

static void start(void)
{
	th_setup(&srv);
	cr_assert(th_start(&srv, NULL), "mmqd did not start");
}

static void stop(void)
{
	th_teardown(&srv);
}

/* expect sends a request and asserts its status and, when want is not NULL, its exact body. */
static void expect(const char *method, const char *path, const char *body, long status,
		   const char *want)
{
	struct th_resp r;

	th_call(&srv, method, path, body, &r);
	cr_assert_eq(r.status, status, "%s %s: status %ld, want %ld (%s)", method, path, r.status,
		     status, r.body);
	if (want != NULL)
		cr_assert_str_eq(r.body, want, "%s %s", method, path);
	th_resp_free(&r);
}

/* json_of sends a request, asserts its status, and returns the parsed body (caller frees). */
static cJSON *json_of(const char *method, const char *path, const char *body, long status)
{
	struct th_resp r;
	cJSON *j;

	th_call(&srv, method, path, body, &r);
	cr_assert_eq(r.status, status, "%s %s: status %ld, want %ld (%s)", method, path, r.status,
		     status, r.body);
	j = cJSON_Parse(r.body);
	cr_assert_not_null(j, "%s %s: body is not JSON: %s", method, path, r.body);
	th_resp_free(&r);
	return j;
}

static double num(const cJSON *o, const char *name)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
	cr_assert(cJSON_IsNumber(v), "field %s is not a number", name);
	return v->valuedouble;
}

#define E_NOT_FOUND "{\"error\":{\"code\":\"not_found\",\"message\":\"No such route.\"}}"
#define E_METHOD \
	"{\"error\":{\"code\":\"method_not_allowed\",\"message\":\"This route does not accept that method.\"}}"
#define E_PARAM \
	"{\"error\":{\"code\":\"invalid_parameter\",\"message\":\"A parameter is missing, malformed or out of range.\"}}"
#define E_NAME \
	"{\"error\":{\"code\":\"invalid_queue_name\",\"message\":\"Queue names are 1 to 64 characters from A-Z, a-z, 0-9, _ and -.\"}}"
#define E_JSON "{\"error\":{\"code\":\"invalid_json\",\"message\":\"The body is not valid JSON in UTF-8.\"}}"
#define E_BATCH \
	"{\"error\":{\"code\":\"invalid_batch\",\"message\":\"A batch must be a JSON array of 1 to 1000 payloads.\"}}"
#define E_QNF "{\"error\":{\"code\":\"queue_not_found\",\"message\":\"No such queue.\"}}"
#define E_MNF \
	"{\"error\":{\"code\":\"message_not_found\",\"message\":\"No such message.\"}}"
#define E_LEASE \
	"{\"error\":{\"code\":\"lease_mismatch\",\"message\":\"The lease token is not the message's current lease.\"}}"
#define E_TOO_LARGE \
	"{\"error\":{\"code\":\"message_too_large\",\"message\":\"The message is larger than the queue's max_message_bytes.\"}}"
#define E_FULL "{\"error\":{\"code\":\"queue_full\",\"message\":\"The queue would exceed its max_bytes.\"}}"

TestSuite(http_routes, .init = start, .fini = stop, .timeout = 60);

Test(http_routes, healthz_answers_ok_as_json)
{
	struct th_resp r;
	char *type;

	cr_assert_eq(th_call(&srv, "GET", "/healthz", NULL, &r), 200);
	cr_assert_str_eq(r.body, "{\"status\":\"ok\"}");
	type = th_header(&r, "Content-Type");
	cr_assert_str_eq(type, "application/json; charset=utf-8");
	free(type);
	th_resp_free(&r);
}

Test(http_routes, unknown_paths_answer_404_not_found)
{
	expect("GET", "/", NULL, 404, E_NOT_FOUND);
	expect("GET", "/v2/queues", NULL, 404, E_NOT_FOUND);
	expect("GET", "/v1/queues/", NULL, 404, E_NOT_FOUND);
	expect("GET", "/v1/queues/q/other", NULL, 404, E_NOT_FOUND);
	expect("POST", "/v1/queues/q/messages/1/nope", NULL, 404, E_NOT_FOUND);
}

/* expect_allow asserts a 405 with the exact Allow header. */
static void expect_allow(const char *method, const char *path, const char *allow)
{
	struct th_resp r;
	char *h;

	th_call(&srv, method, path, NULL, &r);
	cr_assert_eq(r.status, 405, "%s %s: %ld", method, path, r.status);
	cr_assert_str_eq(r.body, E_METHOD);
	h = th_header(&r, "Allow");
	cr_assert_not_null(h, "%s %s: no Allow header", method, path);
	cr_assert_str_eq(h, allow, "%s %s", method, path);
	free(h);
	th_resp_free(&r);
}

Test(http_routes, wrong_methods_answer_405_with_allow)
{
	expect_allow("POST", "/healthz", "GET");
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

Test(http_routes, put_creates_then_updates_and_shows_stats)
{
	cJSON *j = json_of("PUT", "/v1/queues/orders", NULL, 201), *s;

	cr_assert_str_eq(cJSON_GetObjectItem(j, "name")->valuestring, "orders");
	cr_assert_eq(num(j, "depth"), 0);
	cr_assert_eq(num(j, "in_flight"), 0);
	cr_assert_eq(num(j, "delayed"), 0);
	cr_assert_eq(num(j, "bytes"), 0);
	cr_assert(num(j, "disk_bytes") > 0);
	cr_assert_eq(num(j, "enqueued_total"), 0);
	cr_assert_eq(num(j, "dequeued_total"), 0);
	cr_assert_eq(num(j, "oldest_age_seconds"), 0);
	cr_assert_eq(num(j, "live_bytes"), 0);
	cr_assert_eq(num(j, "dead_bytes"), 0, "a new queue has no records");
	cr_assert_eq(num(j, "segments"), 1);
	cr_assert_eq(num(j, "popped_total"), 0);
	cr_assert_eq(num(j, "leased_total"), 0);
	cr_assert_eq(num(j, "acked_total"), 0);
	cr_assert_eq(num(j, "released_total"), 0);
	cr_assert_eq(num(j, "redelivered_total"), 0);
	cr_assert_eq(num(j, "dead_lettered_total"), 0);
	s = cJSON_GetObjectItem(j, "settings");
	cr_assert_eq(num(s, "max_bytes"), 0);
	cr_assert_eq(num(s, "max_message_bytes"), 1048576);
	cr_assert_eq(num(s, "lease_seconds"), 30);
	cr_assert_eq(num(s, "max_deliveries"), 0);
	cr_assert(cJSON_IsNull(cJSON_GetObjectItem(s, "dead_letter")));
	cJSON_Delete(j);

	expect("PUT", "/v1/queues/dead", NULL, 201, NULL);
	j = json_of("PUT", "/v1/queues/orders",
		    "{\"lease_seconds\": 5, \"max_deliveries\": 3, \"dead_letter\": \"dead\"}", 200);
	s = cJSON_GetObjectItem(j, "settings");
	cr_assert_eq(num(s, "lease_seconds"), 5);
	cr_assert_eq(num(s, "max_deliveries"), 3);
	cr_assert_str_eq(cJSON_GetObjectItem(s, "dead_letter")->valuestring, "dead");
	cr_assert_eq(num(s, "max_message_bytes"), 1048576, "unnamed settings stay");
	cJSON_Delete(j);

	j = json_of("GET", "/v1/queues/orders", NULL, 200);
	cr_assert_eq(num(cJSON_GetObjectItem(j, "settings"), "lease_seconds"), 5);
	cJSON_Delete(j);
}

Test(http_routes, list_is_sorted_by_name)
{
	cJSON *j, *q;

	j = json_of("GET", "/v1/queues", NULL, 200);
	cr_assert_eq(cJSON_GetArraySize(cJSON_GetObjectItem(j, "queues")), 0);
	cJSON_Delete(j);
	expect("PUT", "/v1/queues/b", NULL, 201, NULL);
	expect("PUT", "/v1/queues/a", NULL, 201, NULL);
	expect("PUT", "/v1/queues/c_-9", NULL, 201, NULL);
	j = json_of("GET", "/v1/queues", NULL, 200);
	q = cJSON_GetObjectItem(j, "queues");
	cr_assert_eq(cJSON_GetArraySize(q), 3);
	cr_assert_str_eq(cJSON_GetObjectItem(cJSON_GetArrayItem(q, 0), "name")->valuestring, "a");
	cr_assert_str_eq(cJSON_GetObjectItem(cJSON_GetArrayItem(q, 1), "name")->valuestring, "b");
	cr_assert_str_eq(cJSON_GetObjectItem(cJSON_GetArrayItem(q, 2), "name")->valuestring, "c_-9");
	cJSON_Delete(j);
}

Test(http_routes, delete_removes_the_queue)
{
	expect("PUT", "/v1/queues/gone", NULL, 201, NULL);
	expect("POST", "/v1/queues/gone/messages", "1", 201, "{\"id\":1}");
	expect("DELETE", "/v1/queues/gone", NULL, 204, "");
	expect("GET", "/v1/queues/gone", NULL, 404, E_QNF);
	expect("DELETE", "/v1/queues/gone", NULL, 404, E_QNF);
	expect("GET", "/v1/queues/gone/messages", NULL, 200, "{\"messages\":[]}");
	expect("POST", "/v1/queues/gone/messages", "2", 201, NULL);
	expect("GET", "/v1/queues/gone/messages?limit=5", NULL, 200, NULL);
}

Test(http_routes, missing_queues_answer_404_or_empty)
{
	expect("GET", "/v1/queues/nope", NULL, 404, E_QNF);
	expect("DELETE", "/v1/queues/nope", NULL, 404, E_QNF);
	expect("DELETE", "/v1/queues/nope/messages", NULL, 404, E_QNF);
	expect("DELETE", "/v1/queues/nope/messages/1?lease=1", NULL, 404, E_QNF);
	expect("POST", "/v1/queues/nope/messages/1/release?lease=1", NULL, 404, E_QNF);
	expect("POST", "/v1/queues/nope/messages/1/extend?lease=1", NULL, 404, E_QNF);
	expect("GET", "/v1/queues/nope/messages", NULL, 200, "{\"messages\":[]}");
	expect("POST", "/v1/queues/nope/messages/pop", NULL, 200, "{\"messages\":[]}");
	expect("POST", "/v1/queues/nope/messages/lease", NULL, 200, "{\"messages\":[]}");
	expect("GET", "/v1/queues", NULL, 200, "{\"queues\":[]}");
}

Test(http_routes, bad_queue_names_answer_400_and_create_nothing)
{
	char long_name[80], path[128];

	memset(long_name, 'a', 65);
	long_name[65] = '\0';
	snprintf(path, sizeof(path), "/v1/queues/%s", long_name);
	expect("PUT", path, NULL, 400, E_NAME);
	snprintf(path, sizeof(path), "/v1/queues/%s/messages", long_name);
	expect("POST", path, "1", 400, E_NAME);
	expect("PUT", "/v1/queues/a.b", NULL, 400, E_NAME);
	expect("POST", "/v1/queues/a.b/messages", "1", 400, E_NAME);
	expect("POST", "/v1/queues/a%20b/messages/batch", "[1]", 400, E_NAME);
	expect("GET", "/v1/queues/a$b", NULL, 400, E_NAME);
	expect("DELETE", "/v1/queues/a$b", NULL, 400, E_NAME);
	expect("GET", "/v1/queues/a$b/messages", NULL, 400, E_NAME);
	expect("POST", "/v1/queues/a$b/messages/pop", NULL, 400, E_NAME);
	expect("POST", "/v1/queues/a$b/messages/lease", NULL, 400, E_NAME);
	expect("DELETE", "/v1/queues/a$b/messages", NULL, 400, E_NAME);
	expect("DELETE", "/v1/queues/a$b/messages/1?lease=1", NULL, 400, E_NAME);
	memset(long_name, 'b', 64);
	long_name[64] = '\0';
	snprintf(path, sizeof(path), "/v1/queues/%s", long_name);
	expect("PUT", path, NULL, 201, NULL);
	expect("GET", "/v1/queues", NULL, 200, NULL);
	{
		cJSON *j = json_of("GET", "/v1/queues", NULL, 200);
		cr_assert_eq(cJSON_GetArraySize(cJSON_GetObjectItem(j, "queues")), 1);
		cJSON_Delete(j);
	}
}

Test(http_routes, payloads_are_stored_and_returned_verbatim)
{
	struct th_resp r;
	const char *body = " \n{\"b\": [1, 2.50, \"\\u00e9\"],  \"a\":null}\t";

	expect("POST", "/v1/queues/v/messages", body, 201, "{\"id\":1}");
	expect("POST", "/v1/queues/v/messages", "\"caf\xc3\xa9 \xf0\x9f\x98\x80\"", 201, "{\"id\":2}");
	th_call(&srv, "GET", "/v1/queues/v/messages?limit=2", NULL, &r);
	cr_assert_eq(r.status, 200);
	cr_assert(strstr(r.body, "\"payload\":{\"b\": [1, 2.50, \"\\u00e9\"],  \"a\":null},") != NULL,
		  "%s", r.body);
	cr_assert(strstr(r.body, "\"payload\":\"caf\xc3\xa9 \xf0\x9f\x98\x80\",") != NULL, "%s", r.body);
	th_resp_free(&r);
}

Test(http_routes, messages_have_the_documented_shape)
{
	cJSON *j, *m;
	const char *at;

	expect("POST", "/v1/queues/s/messages", "{\"k\":1}", 201, "{\"id\":1}");
	j = json_of("GET", "/v1/queues/s/messages", NULL, 200);
	m = cJSON_GetArrayItem(cJSON_GetObjectItem(j, "messages"), 0);
	cr_assert_eq(cJSON_GetArraySize(m), 4, "id, payload, enqueued_at, deliveries");
	cr_assert_eq(num(m, "id"), 1);
	cr_assert_eq(num(cJSON_GetObjectItem(m, "payload"), "k"), 1);
	cr_assert_eq(num(m, "deliveries"), 0);
	at = cJSON_GetObjectItem(m, "enqueued_at")->valuestring;
	cr_assert_eq(strlen(at), 24, "%s", at);
	cr_assert(at[4] == '-' && at[10] == 'T' && at[19] == '.' && at[23] == 'Z', "%s", at);
	cJSON_Delete(j);
}

Test(http_routes, invalid_json_is_refused_and_nothing_stored)
{
	static const char *const bad[] = {
		"", "   ", "{", "{\"a\":1", "01", "1.", ".5", "+1", "[1,]", "{\"a\":1,}", "1 2",
		"'x'", "nul", "\"\xff\"", "\"\xc0\xaf\"", "\"\xed\xa0\x80\"", "\"a\tb\"", "\x01 1",
		"[1]\x0b", "NaN", "1e", "-", "\"\\x\"",
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		expect("POST", "/v1/queues/j/messages", bad[i], 400, E_JSON);
	{
		struct th_resp r;
		th_req(&srv, "POST", "/v1/queues/j/messages", "1\0", 2, NULL, &r);
		cr_assert_eq(r.status, 400, "a NUL after the value is refused");
		th_resp_free(&r);
	}
	expect("GET", "/v1/queues/j", NULL, 404, E_QNF);
}

Test(http_routes, batch_keeps_each_item_as_sent)
{
	struct th_resp r;

	expect("POST", "/v1/queues/b/messages/batch", " [1, {\"x\" : [2,3]} ,\"s,]\", null,[ ] ]\n",
	       201, "{\"ids\":[1,2,3,4,5]}");
	th_call(&srv, "POST", "/v1/queues/b/messages/pop?limit=10", NULL, &r);
	cr_assert_eq(r.status, 200);
	cr_assert(strstr(r.body, "\"payload\":1,") != NULL, "%s", r.body);
	cr_assert(strstr(r.body, "\"payload\":{\"x\" : [2,3]},") != NULL, "%s", r.body);
	cr_assert(strstr(r.body, "\"payload\":\"s,]\",") != NULL, "%s", r.body);
	cr_assert(strstr(r.body, "\"payload\":null,") != NULL, "%s", r.body);
	cr_assert(strstr(r.body, "\"payload\":[ ],") != NULL, "%s", r.body);
	th_resp_free(&r);
	{
		cJSON *j = json_of("POST", "/v1/queues/b/messages/batch", "[7]", 201);
		cr_assert(cJSON_GetArrayItem(cJSON_GetObjectItem(j, "ids"), 0)->valuedouble > 5,
			  "ids are never reused");
		cJSON_Delete(j);
	}
}

Test(http_routes, bad_batches_answer_400_and_store_nothing)
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
	expect("POST", "/v1/queues/bb/messages/batch", big, 400, E_BATCH);
	big[n - 3] = ']';
	big[n - 2] = '\0';
	expect("POST", "/v1/queues/bb/messages/batch", big, 201, NULL);
	expect("DELETE", "/v1/queues/bb", NULL, 204, NULL);
	free(big);
	expect("POST", "/v1/queues/bb/messages/batch", "[]", 400, E_BATCH);
	expect("POST", "/v1/queues/bb/messages/batch", "{\"a\":1}", 400, E_BATCH);
	expect("POST", "/v1/queues/bb/messages/batch", "1", 400, E_BATCH);
	expect("POST", "/v1/queues/bb/messages/batch", "", 400, E_JSON);
	expect("POST", "/v1/queues/bb/messages/batch", "[1, {]", 400, E_JSON);
	expect("POST", "/v1/queues/bb/messages/batch", "[1, \"\xfe\"]", 400, E_JSON);
	expect("GET", "/v1/queues/bb", NULL, 404, E_QNF);
}

Test(http_routes, batch_with_an_item_over_the_limit_is_413)
{
	expect("PUT", "/v1/queues/lim", "{\"max_message_bytes\": 8}", 201, NULL);
	expect("POST", "/v1/queues/lim/messages/batch", "[1, \"123456789\"]", 413, E_TOO_LARGE);
	expect("POST", "/v1/queues/lim/messages", "\"1234567\"", 413, E_TOO_LARGE);
	expect("POST", "/v1/queues/lim/messages", "\"123456\"", 201, "{\"id\":1}");
	expect("GET", "/v1/queues/lim/messages?limit=10", NULL, 200, NULL);
}

Test(http_routes, max_bytes_full_answers_507)
{
	expect("PUT", "/v1/queues/full", "{\"max_bytes\": 11}", 201, NULL);
	expect("POST", "/v1/queues/full/messages", "\"12345678\"", 201, "{\"id\":1}");
	expect("POST", "/v1/queues/full/messages", "12", 507, E_FULL);
	expect("POST", "/v1/queues/full/messages/batch", "[1,2]", 507, E_FULL);
	expect("POST", "/v1/queues/full/messages", "1", 201, "{\"id\":2}");
}

Test(http_routes, out_of_range_parameters_answer_400)
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
		expect("GET", paths[i], NULL, 400, E_PARAM);
	for (size_t i = 0; i < sizeof(posts) / sizeof(posts[0]); i++)
		expect("POST", posts[i], "1", 400, E_PARAM);
	expect("DELETE", "/v1/queues/p/messages/1", NULL, 400, E_PARAM);
	expect("DELETE", "/v1/queues/p/messages/1?lease=", NULL, 400, E_PARAM);
	expect("DELETE", "/v1/queues/p/messages/99999999999999999999999?lease=1", NULL, 400, E_PARAM);
	expect("GET", "/v1/queues/p", NULL, 404, E_QNF);
}

Test(http_routes, bad_settings_answer_400)
{
	static const char *const bodies[] = {
		"{\"lease_seconds\":0}",      "{\"lease_seconds\":43201}", "{\"lease_seconds\":1.5}",
		"{\"max_message_bytes\":0}",  "{\"max_bytes\":-1}",	   "{\"max_deliveries\":\"3\"}",
		"{\"max_deliveries\":2}",     "{\"dead_letter\":\"a.b\"}", "{\"dead_letter\":5}",
		"{\"unknown\":1}",	      "[1]",			   "3",
		"{\"dead_letter\":\"cfg\"}",
	};

	for (size_t i = 0; i < sizeof(bodies) / sizeof(bodies[0]); i++)
		expect("PUT", "/v1/queues/cfg", bodies[i], 400, E_PARAM);
	expect("PUT", "/v1/queues/cfg", "{", 400, E_JSON);
	expect("GET", "/v1/queues/cfg", NULL, 404, E_QNF);
	expect("PUT", "/v1/queues/cfg", "{}", 201, NULL);
}

Test(http_routes, pop_and_peek_follow_fifo_order_and_limit)
{
	expect("POST", "/v1/queues/f/messages/batch", "[1,2,3,4,5]", 201, NULL);
	{
		cJSON *j = json_of("GET", "/v1/queues/f/messages?limit=3", NULL, 200);
		cJSON *m = cJSON_GetObjectItem(j, "messages");
		cr_assert_eq(cJSON_GetArraySize(m), 3);
		cr_assert_eq(num(cJSON_GetArrayItem(m, 0), "id"), 1);
		cr_assert_eq(num(cJSON_GetArrayItem(m, 2), "id"), 3);
		cJSON_Delete(j);
		j = json_of("POST", "/v1/queues/f/messages/pop?limit=2", NULL, 200);
		m = cJSON_GetObjectItem(j, "messages");
		cr_assert_eq(cJSON_GetArraySize(m), 2);
		cr_assert_eq(num(cJSON_GetArrayItem(m, 0), "id"), 1);
		cr_assert_eq(num(cJSON_GetArrayItem(m, 0), "deliveries"), 1);
		cr_assert_eq(num(cJSON_GetArrayItem(m, 1), "id"), 2);
		cJSON_Delete(j);
		j = json_of("POST", "/v1/queues/f/messages/pop?limit=1000", NULL, 200);
		cr_assert_eq(cJSON_GetArraySize(cJSON_GetObjectItem(j, "messages")), 3);
		cJSON_Delete(j);
	}
	expect("POST", "/v1/queues/f/messages/pop", NULL, 200, "{\"messages\":[]}");
}

Test(http_routes, delayed_messages_become_visible_later)
{
	cJSON *j;

	expect("POST", "/v1/queues/d/messages?delay=1", "\"later\"", 201, "{\"id\":1}");
	expect("GET", "/v1/queues/d/messages", NULL, 200, "{\"messages\":[]}");
	j = json_of("GET", "/v1/queues/d", NULL, 200);
	cr_assert_eq(num(j, "delayed"), 1);
	cr_assert_eq(num(j, "depth"), 0);
	cJSON_Delete(j);
	tu_sleep_ms(1300);
	j = json_of("POST", "/v1/queues/d/messages/pop", NULL, 200);
	cr_assert_eq(cJSON_GetArraySize(cJSON_GetObjectItem(j, "messages")), 1);
	cJSON_Delete(j);
}

/* lease_one leases one message from q and returns its id and token. */
static void lease_one(const char *path, double *id, char *token, size_t toklen, double *deliveries)
{
	cJSON *j = json_of("POST", path, NULL, 200);
	cJSON *m = cJSON_GetArrayItem(cJSON_GetObjectItem(j, "messages"), 0);
	const cJSON *lease;

	cr_assert_not_null(m, "nothing leased");
	cr_assert_eq(cJSON_GetArraySize(m), 6, "id, payload, enqueued_at, deliveries, lease, lease_expires_at");
	lease = cJSON_GetObjectItem(m, "lease");
	cr_assert(cJSON_IsString(lease));
	cr_assert(cJSON_IsString(cJSON_GetObjectItem(m, "lease_expires_at")));
	*id = num(m, "id");
	*deliveries = num(m, "deliveries");
	snprintf(token, toklen, "%s", lease->valuestring);
	cJSON_Delete(j);
}

Test(http_routes, lease_ack_release_extend_with_tokens)
{
	char token[64], path[160], old[64];
	double id, deliveries;
	cJSON *j;

	expect("POST", "/v1/queues/l/messages/batch", "[\"a\",\"b\"]", 201, NULL);
	lease_one("/v1/queues/l/messages/lease?ttl=60", &id, token, sizeof(token), &deliveries);
	cr_assert_eq(id, 1);
	cr_assert_eq(deliveries, 1);
	j = json_of("GET", "/v1/queues/l", NULL, 200);
	cr_assert_eq(num(j, "in_flight"), 1);
	cr_assert_eq(num(j, "depth"), 1);
	cJSON_Delete(j);

	snprintf(path, sizeof(path), "/v1/queues/l/messages/1/extend?lease=%s&ttl=120", token);
	j = json_of("POST", path, NULL, 200);
	cr_assert_eq(cJSON_GetArraySize(j), 1);
	cr_assert(cJSON_IsString(cJSON_GetObjectItem(j, "lease_expires_at")));
	cJSON_Delete(j);
	snprintf(path, sizeof(path), "/v1/queues/l/messages/1/release?lease=%s", token);
	expect("POST", path, NULL, 204, "");

	snprintf(old, sizeof(old), "%s", token);
	lease_one("/v1/queues/l/messages/lease", &id, token, sizeof(token), &deliveries);
	cr_assert_eq(id, 1);
	cr_assert_eq(deliveries, 2);
	cr_assert_str_neq(token, old);
	snprintf(path, sizeof(path), "/v1/queues/l/messages/1?lease=%s", old);
	expect("DELETE", path, NULL, 409, E_LEASE);
	snprintf(path, sizeof(path), "/v1/queues/l/messages/1/extend?lease=%s", old);
	expect("POST", path, NULL, 409, E_LEASE);
	snprintf(path, sizeof(path), "/v1/queues/l/messages/1/release?lease=%s", old);
	expect("POST", path, NULL, 409, E_LEASE);
	expect("DELETE", "/v1/queues/l/messages/1?lease=not-a-token", NULL, 400, E_PARAM);
	expect("DELETE", "/v1/queues/l/messages/2?lease=1", NULL, 409, E_LEASE);
	expect("DELETE", "/v1/queues/l/messages/999?lease=1", NULL, 404, E_MNF);
	snprintf(path, sizeof(path), "/v1/queues/l/messages/1?lease=%s", token);
	expect("DELETE", path, NULL, 204, "");
	expect("DELETE", path, NULL, 404, E_MNF);
	j = json_of("GET", "/v1/queues/l", NULL, 200);
	cr_assert_eq(num(j, "in_flight"), 0);
	cr_assert_eq(num(j, "depth"), 1);
	cJSON_Delete(j);
}

Test(http_routes, purge_removes_every_message)
{
	expect("POST", "/v1/queues/pg/messages/batch", "[1,2,3]", 201, NULL);
	expect("DELETE", "/v1/queues/pg/messages", NULL, 204, "");
	expect("GET", "/v1/queues/pg/messages", NULL, 200, "{\"messages\":[]}");
	{
		cJSON *j = json_of("POST", "/v1/queues/pg/messages", "4", 201);
		cr_assert(num(j, "id") > 3, "ids are never reused");
		cJSON_Delete(j);
	}
}

Test(http_routes, metrics_show_queues_and_requests)
{
	struct th_resp r;
	char *type;

	expect("POST", "/v1/queues/m/messages", "1", 201, NULL);
	expect("GET", "/nowhere", NULL, 404, NULL);
	th_call(&srv, "GET", "/metrics", NULL, &r);
	cr_assert_eq(r.status, 200);
	type = th_header(&r, "Content-Type");
	cr_assert_str_eq(type, "text/plain; version=0.0.4; charset=utf-8");
	free(type);
	cr_assert(strstr(r.body, "# TYPE mmq_queue_depth gauge\n") != NULL);
	cr_assert(strstr(r.body, "\nmmq_queue_depth{queue=\"m\"} 1\n") != NULL, "%s", r.body);
	cr_assert(strstr(r.body, "\nmmq_queue_enqueued_total{queue=\"m\"} 1\n") != NULL);
	cr_assert(strstr(r.body, "# TYPE mmq_http_requests_total counter\n") != NULL);
	cr_assert(strstr(r.body, "\nmmq_http_requests_total{method=\"POST\",route=\"/v1/queues/{q}/"
				 "messages\",status=\"201\"} 1\n") != NULL,
		  "%s", r.body);
	cr_assert(strstr(r.body, "\nmmq_http_requests_total{method=\"\",route=\"unmatched\",status="
				 "\"404\"} 1\n") != NULL);
	th_resp_free(&r);
}

static size_t discard(char *p, size_t size, size_t n, void *ctx)
{
	(void)p;
	(void)ctx;
	return size * n;
}

Test(http_routes, requests_on_one_keepalive_connection)
{
	char *url = th_url(&srv, "/healthz");
	CURL *c = curl_easy_init();
	long count = 0;

	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, discard);
	for (int i = 0; i < 5; i++) {
		long status = 0, conns = -1;
		cr_assert_eq(curl_easy_perform(c), CURLE_OK);
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
		curl_easy_getinfo(c, CURLINFO_NUM_CONNECTS, &conns);
		cr_assert_eq(status, 200);
		count += conns;
	}
	cr_assert_eq(count, 1, "five requests, one connection");
	curl_easy_cleanup(c);
	free(url);
}

Test(http_routes, dead_letter_is_cleared_with_null_or_empty)
{
	cJSON *j;

	expect("PUT", "/v1/queues/dl", NULL, 201, NULL);
	expect("PUT", "/v1/queues/w", "{\"dead_letter\":\"dl\"}", 201, NULL);
	j = json_of("PUT", "/v1/queues/w", "{\"dead_letter\":null}", 200);
	cr_assert(cJSON_IsNull(cJSON_GetObjectItem(cJSON_GetObjectItem(j, "settings"), "dead_letter")));
	cJSON_Delete(j);
	expect("PUT", "/v1/queues/w", "{\"dead_letter\":\"dl\"}", 200, NULL);
	j = json_of("PUT", "/v1/queues/w", "{\"dead_letter\":\"\"}", 200);
	cr_assert(cJSON_IsNull(cJSON_GetObjectItem(cJSON_GetObjectItem(j, "settings"), "dead_letter")));
	cJSON_Delete(j);
}

Test(http_routes, bodies_of_routes_that_take_none_are_capped)
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
	th_req(&srv, "POST", "/v1/queues/cap/messages/pop", body, n, NULL, &r);
	cr_assert_eq(r.status, 413);
	cr_assert_str_eq(r.body, want);
	th_resp_free(&r);
	th_req(&srv, "PUT", "/v1/queues/cap", body, n, NULL, &r);
	cr_assert_eq(r.status, 413);
	cr_assert_str_eq(r.body, want);
	th_resp_free(&r);
	th_req(&srv, "POST", "/v1/queues/cap/messages/pop", body, 1000, NULL, &r);
	cr_assert_eq(r.status, 200, "a small ignored body is fine");
	th_resp_free(&r);
	free(body);
	expect("GET", "/v1/queues/cap", NULL, 404, NULL);
}

/* test_http_routes.c: every route of the v1 contract doing its job, with exact bodies. */
#include <criterion/criterion.h>
#include <cJSON.h>
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "httptest.h"
#include "httputil.h"
#include "testutil.h"

static double num(const cJSON *o, const char *name)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
	cr_assert(cJSON_IsNumber(v), "field %s is not a number", name);
	return v->valuedouble;
}

TestSuite(http_routes, .init = ht_start, .fini = ht_stop, .timeout = 60);

Test(http_routes, healthz_answers_ok_as_json)
{
	struct th_resp r;
	char *type;

	cr_assert_eq(th_call(&ht_srv, "GET", "/healthz", NULL, &r), 200);
	cr_assert_str_eq(r.body, "{\"status\":\"ok\"}");
	type = th_header(&r, "Content-Type");
	cr_assert_str_eq(type, "application/json; charset=utf-8");
	free(type);
	th_resp_free(&r);
}

Test(http_routes, put_creates_then_updates_and_shows_stats)
{
	cJSON *j = ht_json_of("PUT", "/v1/queues/orders", NULL, 201), *s;

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

	ht_expect("PUT", "/v1/queues/dead", NULL, 201, NULL);
	j = ht_json_of("PUT", "/v1/queues/orders",
		    "{\"lease_seconds\": 5, \"max_deliveries\": 3, \"dead_letter\": \"dead\"}", 200);
	s = cJSON_GetObjectItem(j, "settings");
	cr_assert_eq(num(s, "lease_seconds"), 5);
	cr_assert_eq(num(s, "max_deliveries"), 3);
	cr_assert_str_eq(cJSON_GetObjectItem(s, "dead_letter")->valuestring, "dead");
	cr_assert_eq(num(s, "max_message_bytes"), 1048576, "unnamed settings stay");
	cJSON_Delete(j);

	j = ht_json_of("GET", "/v1/queues/orders", NULL, 200);
	cr_assert_eq(num(cJSON_GetObjectItem(j, "settings"), "lease_seconds"), 5);
	cJSON_Delete(j);
}

Test(http_routes, list_is_sorted_by_name)
{
	cJSON *j, *q;

	j = ht_json_of("GET", "/v1/queues", NULL, 200);
	cr_assert_eq(cJSON_GetArraySize(cJSON_GetObjectItem(j, "queues")), 0);
	cJSON_Delete(j);
	ht_expect("PUT", "/v1/queues/b", NULL, 201, NULL);
	ht_expect("PUT", "/v1/queues/a", NULL, 201, NULL);
	ht_expect("PUT", "/v1/queues/c_-9", NULL, 201, NULL);
	j = ht_json_of("GET", "/v1/queues", NULL, 200);
	q = cJSON_GetObjectItem(j, "queues");
	cr_assert_eq(cJSON_GetArraySize(q), 3);
	cr_assert_str_eq(cJSON_GetObjectItem(cJSON_GetArrayItem(q, 0), "name")->valuestring, "a");
	cr_assert_str_eq(cJSON_GetObjectItem(cJSON_GetArrayItem(q, 1), "name")->valuestring, "b");
	cr_assert_str_eq(cJSON_GetObjectItem(cJSON_GetArrayItem(q, 2), "name")->valuestring, "c_-9");
	cJSON_Delete(j);
}

Test(http_routes, delete_removes_the_queue)
{
	ht_expect("PUT", "/v1/queues/gone", NULL, 201, NULL);
	ht_expect("POST", "/v1/queues/gone/messages", "1", 201, "{\"id\":1}");
	ht_expect("DELETE", "/v1/queues/gone", NULL, 204, "");
	ht_expect("GET", "/v1/queues/gone", NULL, 404, HT_E_QNF);
	ht_expect("DELETE", "/v1/queues/gone", NULL, 404, HT_E_QNF);
	ht_expect("GET", "/v1/queues/gone/messages", NULL, 200, "{\"messages\":[]}");
	ht_expect("POST", "/v1/queues/gone/messages", "2", 201, NULL);
	ht_expect("GET", "/v1/queues/gone/messages?limit=5", NULL, 200, NULL);
}

Test(http_routes, payloads_are_stored_and_returned_verbatim)
{
	struct th_resp r;
	const char *body = " \n{\"b\": [1, 2.50, \"\\u00e9\"],  \"a\":null}\t";

	ht_expect("POST", "/v1/queues/v/messages", body, 201, "{\"id\":1}");
	ht_expect("POST", "/v1/queues/v/messages", "\"caf\xc3\xa9 \xf0\x9f\x98\x80\"", 201, "{\"id\":2}");
	th_call(&ht_srv, "GET", "/v1/queues/v/messages?limit=2", NULL, &r);
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

	ht_expect("POST", "/v1/queues/s/messages", "{\"k\":1}", 201, "{\"id\":1}");
	j = ht_json_of("GET", "/v1/queues/s/messages", NULL, 200);
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

Test(http_routes, batch_keeps_each_item_as_sent)
{
	struct th_resp r;

	ht_expect("POST", "/v1/queues/b/messages/batch", " [1, {\"x\" : [2,3]} ,\"s,]\", null,[ ] ]\n",
	       201, "{\"ids\":[1,2,3,4,5]}");
	th_call(&ht_srv, "POST", "/v1/queues/b/messages/pop?limit=10", NULL, &r);
	cr_assert_eq(r.status, 200);
	cr_assert(strstr(r.body, "\"payload\":1,") != NULL, "%s", r.body);
	cr_assert(strstr(r.body, "\"payload\":{\"x\" : [2,3]},") != NULL, "%s", r.body);
	cr_assert(strstr(r.body, "\"payload\":\"s,]\",") != NULL, "%s", r.body);
	cr_assert(strstr(r.body, "\"payload\":null,") != NULL, "%s", r.body);
	cr_assert(strstr(r.body, "\"payload\":[ ],") != NULL, "%s", r.body);
	th_resp_free(&r);
	{
		cJSON *j = ht_json_of("POST", "/v1/queues/b/messages/batch", "[7]", 201);
		cr_assert(cJSON_GetArrayItem(cJSON_GetObjectItem(j, "ids"), 0)->valuedouble > 5,
			  "ids are never reused");
		cJSON_Delete(j);
	}
}

Test(http_routes, pop_and_peek_follow_fifo_order_and_limit)
{
	ht_expect("POST", "/v1/queues/f/messages/batch", "[1,2,3,4,5]", 201, NULL);
	{
		cJSON *j = ht_json_of("GET", "/v1/queues/f/messages?limit=3", NULL, 200);
		cJSON *m = cJSON_GetObjectItem(j, "messages");
		cr_assert_eq(cJSON_GetArraySize(m), 3);
		cr_assert_eq(num(cJSON_GetArrayItem(m, 0), "id"), 1);
		cr_assert_eq(num(cJSON_GetArrayItem(m, 2), "id"), 3);
		cJSON_Delete(j);
		j = ht_json_of("POST", "/v1/queues/f/messages/pop?limit=2", NULL, 200);
		m = cJSON_GetObjectItem(j, "messages");
		cr_assert_eq(cJSON_GetArraySize(m), 2);
		cr_assert_eq(num(cJSON_GetArrayItem(m, 0), "id"), 1);
		cr_assert_eq(num(cJSON_GetArrayItem(m, 0), "deliveries"), 1);
		cr_assert_eq(num(cJSON_GetArrayItem(m, 1), "id"), 2);
		cJSON_Delete(j);
		j = ht_json_of("POST", "/v1/queues/f/messages/pop?limit=1000", NULL, 200);
		cr_assert_eq(cJSON_GetArraySize(cJSON_GetObjectItem(j, "messages")), 3);
		cJSON_Delete(j);
	}
	ht_expect("POST", "/v1/queues/f/messages/pop", NULL, 200, "{\"messages\":[]}");
}

Test(http_routes, delayed_messages_become_visible_later)
{
	cJSON *j;

	ht_expect("POST", "/v1/queues/d/messages?delay=1", "\"later\"", 201, "{\"id\":1}");
	ht_expect("GET", "/v1/queues/d/messages", NULL, 200, "{\"messages\":[]}");
	j = ht_json_of("GET", "/v1/queues/d", NULL, 200);
	cr_assert_eq(num(j, "delayed"), 1);
	cr_assert_eq(num(j, "depth"), 0);
	cJSON_Delete(j);
	tu_sleep_ms(1300);
	j = ht_json_of("POST", "/v1/queues/d/messages/pop", NULL, 200);
	cr_assert_eq(cJSON_GetArraySize(cJSON_GetObjectItem(j, "messages")), 1);
	cJSON_Delete(j);
}

/* lease_one leases one message from q and returns its id and token. */
static void lease_one(const char *path, double *id, char *token, size_t toklen, double *deliveries)
{
	cJSON *j = ht_json_of("POST", path, NULL, 200);
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

	ht_expect("POST", "/v1/queues/l/messages/batch", "[\"a\",\"b\"]", 201, NULL);
	lease_one("/v1/queues/l/messages/lease?ttl=60", &id, token, sizeof(token), &deliveries);
	cr_assert_eq(id, 1);
	cr_assert_eq(deliveries, 1);
	j = ht_json_of("GET", "/v1/queues/l", NULL, 200);
	cr_assert_eq(num(j, "in_flight"), 1);
	cr_assert_eq(num(j, "depth"), 1);
	cJSON_Delete(j);

	snprintf(path, sizeof(path), "/v1/queues/l/messages/1/extend?lease=%s&ttl=120", token);
	j = ht_json_of("POST", path, NULL, 200);
	cr_assert_eq(cJSON_GetArraySize(j), 1);
	cr_assert(cJSON_IsString(cJSON_GetObjectItem(j, "lease_expires_at")));
	cJSON_Delete(j);
	snprintf(path, sizeof(path), "/v1/queues/l/messages/1/release?lease=%s", token);
	ht_expect("POST", path, NULL, 204, "");

	snprintf(old, sizeof(old), "%s", token);
	lease_one("/v1/queues/l/messages/lease", &id, token, sizeof(token), &deliveries);
	cr_assert_eq(id, 1);
	cr_assert_eq(deliveries, 2);
	cr_assert_str_neq(token, old);
	snprintf(path, sizeof(path), "/v1/queues/l/messages/1?lease=%s", old);
	ht_expect("DELETE", path, NULL, 409, HT_E_LEASE);
	snprintf(path, sizeof(path), "/v1/queues/l/messages/1/extend?lease=%s", old);
	ht_expect("POST", path, NULL, 409, HT_E_LEASE);
	snprintf(path, sizeof(path), "/v1/queues/l/messages/1/release?lease=%s", old);
	ht_expect("POST", path, NULL, 409, HT_E_LEASE);
	ht_expect("DELETE", "/v1/queues/l/messages/1?lease=not-a-token", NULL, 400, HT_E_PARAM);
	ht_expect("DELETE", "/v1/queues/l/messages/2?lease=1", NULL, 409, HT_E_LEASE);
	ht_expect("DELETE", "/v1/queues/l/messages/999?lease=1", NULL, 404, HT_E_MNF);
	snprintf(path, sizeof(path), "/v1/queues/l/messages/1?lease=%s", token);
	ht_expect("DELETE", path, NULL, 204, "");
	ht_expect("DELETE", path, NULL, 404, HT_E_MNF);
	j = ht_json_of("GET", "/v1/queues/l", NULL, 200);
	cr_assert_eq(num(j, "in_flight"), 0);
	cr_assert_eq(num(j, "depth"), 1);
	cJSON_Delete(j);
}

Test(http_routes, purge_removes_every_message)
{
	ht_expect("POST", "/v1/queues/pg/messages/batch", "[1,2,3]", 201, NULL);
	ht_expect("DELETE", "/v1/queues/pg/messages", NULL, 204, "");
	ht_expect("GET", "/v1/queues/pg/messages", NULL, 200, "{\"messages\":[]}");
	{
		cJSON *j = ht_json_of("POST", "/v1/queues/pg/messages", "4", 201);
		cr_assert(num(j, "id") > 3, "ids are never reused");
		cJSON_Delete(j);
	}
}

Test(http_routes, metrics_show_queues_and_requests)
{
	struct th_resp r;
	char *type;

	ht_expect("POST", "/v1/queues/m/messages", "1", 201, NULL);
	ht_expect("GET", "/nowhere", NULL, 404, NULL);
	th_call(&ht_srv, "GET", "/metrics", NULL, &r);
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
	char *url = th_url(&ht_srv, "/healthz");
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

	ht_expect("PUT", "/v1/queues/dl", NULL, 201, NULL);
	ht_expect("PUT", "/v1/queues/w", "{\"dead_letter\":\"dl\"}", 201, NULL);
	j = ht_json_of("PUT", "/v1/queues/w", "{\"dead_letter\":null}", 200);
	cr_assert(cJSON_IsNull(cJSON_GetObjectItem(cJSON_GetObjectItem(j, "settings"), "dead_letter")));
	cJSON_Delete(j);
	ht_expect("PUT", "/v1/queues/w", "{\"dead_letter\":\"dl\"}", 200, NULL);
	j = ht_json_of("PUT", "/v1/queues/w", "{\"dead_letter\":\"\"}", 200);
	cr_assert(cJSON_IsNull(cJSON_GetObjectItem(cJSON_GetObjectItem(j, "settings"), "dead_letter")));
	cJSON_Delete(j);
}

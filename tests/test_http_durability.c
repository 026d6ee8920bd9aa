/* test_http_durability.c: what survives a clean restart, a kill -9, and a second server on the same data. */
#include <criterion/criterion.h>
#include <cJSON.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "httptest.h"
#include "testutil.h"

TestSuite(http_durability, .init = ht_setup, .fini = ht_stop, .timeout = 90);

/* peek_all returns the parsed messages array of up to 1000 visible messages of q (caller frees root). */
static cJSON *peek_all(const char *q, cJSON **root)
{
	char path[128];
	struct th_resp r;

	snprintf(path, sizeof(path), "/v1/queues/%s/messages?limit=1000", q);
	cr_assert_eq(th_call(&ht_srv, "GET", path, NULL, &r), 200);
	*root = cJSON_Parse(r.body);
	th_resp_free(&r);
	cr_assert_not_null(*root);
	return cJSON_GetObjectItem(*root, "messages");
}

static void restart_persistence(const char *sync)
{
	const char *const args[] = { "--sync", sync, NULL };
	struct th_resp r;
	cJSON *root, *m;
	double last_id;

	cr_assert(th_start(&ht_srv, args));
	cr_assert_eq(th_call(&ht_srv, "POST", "/v1/queues/keep/messages/batch", "[\"a\",\"b\",\"c\"]", &r),
		     201);
	th_resp_free(&r);
	cr_assert_eq(th_call(&ht_srv, "PUT", "/v1/queues/keep", "{\"lease_seconds\":7}", &r), 200);
	th_resp_free(&r);
	cr_assert_eq(th_call(&ht_srv, "POST", "/v1/queues/keep/messages/pop", NULL, &r), 200);
	cr_assert(strstr(r.body, "\"payload\":\"a\"") != NULL);
	th_resp_free(&r);
	cr_assert_eq(th_stop(&ht_srv, SIGTERM), 0);

	cr_assert(th_start(&ht_srv, args));
	cr_assert(th_log_contains(&ht_srv, "recovered 1 queues"), "recovery is logged");
	m = peek_all("keep", &root);
	cr_assert_eq(cJSON_GetArraySize(m), 2);
	cr_assert_eq(cJSON_GetObjectItem(cJSON_GetArrayItem(m, 0), "id")->valuedouble, 2);
	cr_assert_str_eq(cJSON_GetObjectItem(cJSON_GetArrayItem(m, 0), "payload")->valuestring, "b");
	cr_assert_eq(cJSON_GetObjectItem(cJSON_GetArrayItem(m, 1), "id")->valuedouble, 3);
	cr_assert_str_eq(cJSON_GetObjectItem(cJSON_GetArrayItem(m, 1), "payload")->valuestring, "c");
	last_id = 3;
	cJSON_Delete(root);
	cr_assert_eq(th_call(&ht_srv, "GET", "/v1/queues/keep", NULL, &r), 200);
	cr_assert(strstr(r.body, "\"lease_seconds\":7") != NULL, "settings persist: %s", r.body);
	th_resp_free(&r);
	cr_assert_eq(th_call(&ht_srv, "POST", "/v1/queues/keep/messages", "\"d\"", &r), 201);
	root = cJSON_Parse(r.body);
	cr_assert_gt(cJSON_GetObjectItem(root, "id")->valuedouble, last_id, "ids continue");
	cJSON_Delete(root);
	th_resp_free(&r);
	cr_assert_eq(th_stop(&ht_srv, SIGTERM), 0);
}

Test(http_durability, messages_survive_a_clean_restart_sync_always)
{
	restart_persistence("always");
}

Test(http_durability, messages_survive_a_clean_restart_sync_interval)
{
	restart_persistence("interval");
}

Test(http_durability, messages_survive_a_clean_restart_sync_none)
{
	restart_persistence("none");
}

/* One client enqueueing numbered messages until the server dies, remembering what was acknowledged. */
struct client {
	pthread_t thread;
	int index;
	int acked; /* messages 0..acked-1 were answered 201 */
};

static void *client_main(void *arg)
{
	struct client *c = arg;
	char path[64], body[64];

	snprintf(path, sizeof(path), "/v1/queues/crash/messages");
	for (int n = 0; n < 100000; n++) {
		struct th_resp r;
		long status;
		snprintf(body, sizeof(body), "{\"c\":%d,\"n\":%d}", c->index, n);
		status = th_call(&ht_srv, "POST", path, body, &r);
		th_resp_free(&r);
		if (status != 201)
			break;
		c->acked = n + 1;
	}
	return NULL;
}

/* check_crash_survivors pops everything and checks each acknowledged message once, in client order. */
static void check_crash_survivors(struct client *clients, int count)
{
	int next[8] = { 0 };
	cJSON *root, *m, *item;

	m = peek_all("crash", &root);
	(void)m;
	cJSON_Delete(root);
	for (;;) {
		struct th_resp r;
		int got;
		cr_assert_eq(th_call(&ht_srv, "POST", "/v1/queues/crash/messages/pop?limit=1000", NULL, &r),
			     200);
		root = cJSON_Parse(r.body);
		th_resp_free(&r);
		m = cJSON_GetObjectItem(root, "messages");
		got = cJSON_GetArraySize(m);
		cJSON_ArrayForEach(item, m)
		{
			cJSON *p = cJSON_GetObjectItem(item, "payload");
			int c = (int)cJSON_GetObjectItem(p, "c")->valuedouble;
			int n = (int)cJSON_GetObjectItem(p, "n")->valuedouble;
			cr_assert_eq(n, next[c], "client %d: got message %d, expected %d", c, n, next[c]);
			next[c]++;
		}
		cJSON_Delete(root);
		if (got == 0)
			break;
	}
	for (int c = 0; c < count; c++) {
		/* Every acknowledged message is there; one more may be, if it was stored but not answered. */
		cr_assert(next[c] == clients[c].acked || next[c] == clients[c].acked + 1,
			  "client %d: %d acknowledged, %d recovered", c, clients[c].acked, next[c]);
	}
}

Test(http_durability, kill_9_during_concurrent_enqueues_loses_nothing_acknowledged)
{
	enum { CLIENTS = 4 };
	struct client clients[CLIENTS];
	int total = 0;

	cr_assert(th_start(&ht_srv, NULL));
	for (int i = 0; i < CLIENTS; i++) {
		clients[i].index = i;
		clients[i].acked = 0;
		cr_assert_eq(pthread_create(&clients[i].thread, NULL, client_main, &clients[i]), 0);
	}
	tu_sleep_ms(700);
	cr_assert_eq(th_stop(&ht_srv, SIGKILL), 128 + SIGKILL);
	for (int i = 0; i < CLIENTS; i++) {
		pthread_join(clients[i].thread, NULL);
		total += clients[i].acked;
	}
	cr_assert_gt(total, 0, "some enqueues were acknowledged before the kill");
	cr_assert(th_start(&ht_srv, NULL));
	check_crash_survivors(clients, CLIENTS);
}

Test(http_durability, a_second_server_on_the_same_data_exits_at_once)
{
	struct th_server other;
	int status;
	uint64_t t0;

	cr_assert(th_start(&ht_srv, NULL));
	th_setup(&other);
	t0 = tu_now_ms();
	status = th_run_mmqd((const char *const[]){ "--listen", "127.0.0.1:0", "--data-dir", ht_srv.data,
						    NULL },
			     other.log);
	cr_assert_lt(tu_now_ms() - t0, 3000, "it exits at once");
	cr_assert_gt(status, 0, "it exits with an error, not a signal");
	cr_assert(th_log_contains(&other, "is in use by another mmqd"));
	th_teardown(&other);
	{
		struct th_resp r;
		cr_assert_eq(th_call(&ht_srv, "GET", "/healthz", NULL, &r), 200, "the first one still serves");
		th_resp_free(&r);
	}
}

/* test_http_longpoll.c: long polls, lease expiry and redelivery, stale tokens, dead-lettering, shutdown. */
#include <criterion/criterion.h>
#include <cJSON.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "httptest.h"
#include "testutil.h"

TestSuite(http_longpoll, .init = ht_start, .fini = ht_stop, .timeout = 60);

/* A request run on its own thread. */
struct call {
	pthread_t thread;
	const char *method;
	char path[160];
	struct th_resp r;
};

static void *call_main(void *arg)
{
	struct call *c = arg;
	th_call(&ht_srv, c->method, c->path, NULL, &c->r);
	return NULL;
}

static void call_start(struct call *c, const char *method, const char *path)
{
	c->method = method;
	snprintf(c->path, sizeof(c->path), "%s", path);
	cr_assert_eq(pthread_create(&c->thread, NULL, call_main, c), 0);
}

static void call_join(struct call *c)
{
	pthread_join(c->thread, NULL);
}

/* messages returns the number of messages in a {"messages":[...]} body. */
static int messages(const char *body)
{
	cJSON *j = cJSON_Parse(body);
	int n;

	cr_assert_not_null(j, "%s", body);
	n = cJSON_GetArraySize(cJSON_GetObjectItem(j, "messages"));
	cJSON_Delete(j);
	return n;
}

Test(http_longpoll, pop_wakes_as_soon_as_a_message_arrives)
{
	struct call c;
	struct th_resp r;
	uint64_t t0 = tu_now_ms();

	call_start(&c, "POST", "/v1/queues/lp/messages/pop?wait=5");
	tu_sleep_ms(300);
	cr_assert_eq(th_call(&ht_srv, "POST", "/v1/queues/lp/messages", "{\"n\":1}", &r), 201);
	th_resp_free(&r);
	call_join(&c);
	cr_assert_eq(c.r.status, 200);
	cr_assert(strstr(c.r.body, "\"payload\":{\"n\":1}") != NULL, "%s", c.r.body);
	cr_assert_lt(tu_now_ms() - t0, 2000, "the long poll took %llu ms",
		     (unsigned long long)(tu_now_ms() - t0));
	th_resp_free(&c.r);
}

Test(http_longpoll, lease_long_poll_wakes_on_release)
{
	struct call c;
	struct th_resp r;
	char path[128];
	cJSON *j;
	const char *token;

	cr_assert_eq(th_call(&ht_srv, "POST", "/v1/queues/lr/messages", "1", &r), 201);
	th_resp_free(&r);
	cr_assert_eq(th_call(&ht_srv, "POST", "/v1/queues/lr/messages/lease?ttl=60", NULL, &r), 200);
	j = cJSON_Parse(r.body);
	token = cJSON_GetObjectItem(cJSON_GetArrayItem(cJSON_GetObjectItem(j, "messages"), 0), "lease")
			->valuestring;
	snprintf(path, sizeof(path), "/v1/queues/lr/messages/1/release?lease=%s", token);
	cJSON_Delete(j);
	th_resp_free(&r);
	call_start(&c, "POST", "/v1/queues/lr/messages/lease?wait=10");
	tu_sleep_ms(300);
	cr_assert_eq(th_call(&ht_srv, "POST", path, NULL, &r), 204);
	th_resp_free(&r);
	call_join(&c);
	cr_assert_eq(c.r.status, 200);
	cr_assert_lt(c.r.seconds, 3.0);
	cr_assert(strstr(c.r.body, "\"deliveries\":2") != NULL, "%s", c.r.body);
	th_resp_free(&c.r);
}

Test(http_longpoll, long_poll_on_a_missing_queue_wakes_when_it_is_created)
{
	struct call c;
	struct th_resp r;

	call_start(&c, "POST", "/v1/queues/fresh/messages/pop?wait=10");
	tu_sleep_ms(300);
	cr_assert_eq(th_call(&ht_srv, "POST", "/v1/queues/fresh/messages/batch", "[1,2]", &r), 201);
	th_resp_free(&r);
	call_join(&c);
	cr_assert_eq(c.r.status, 200);
	cr_assert_eq(messages(c.r.body), 1);
	cr_assert_lt(c.r.seconds, 3.0);
	th_resp_free(&c.r);
}

Test(http_longpoll, wait_times_out_with_an_empty_list)
{
	struct th_resp r;

	cr_assert_eq(th_call(&ht_srv, "POST", "/v1/queues/empty/messages/pop?wait=1", NULL, &r), 200);
	cr_assert_str_eq(r.body, "{\"messages\":[]}");
	cr_assert(r.seconds >= 0.9 && r.seconds < 4.0, "took %.2f s", r.seconds);
	th_resp_free(&r);
	cr_assert_eq(th_call(&ht_srv, "POST", "/v1/queues/empty/messages/lease?wait=1", NULL, &r), 200);
	cr_assert_str_eq(r.body, "{\"messages\":[]}");
	cr_assert(r.seconds >= 0.9 && r.seconds < 4.0, "took %.2f s", r.seconds);
	th_resp_free(&r);
}

Test(http_longpoll, idle_long_polls_do_not_delay_others)
{
	enum { IDLE = 64 };
	struct call *c = calloc(IDLE, sizeof(*c));
	struct th_resp r;
	char batch[IDLE * 2 + 2];
	uint64_t t0;

	for (int i = 0; i < IDLE; i++)
		call_start(&c[i], "POST", "/v1/queues/idle/messages/pop?wait=30");
	tu_sleep_ms(500);
	/* Correctness, not a benchmark: the bound is generous for a busy machine. */
	for (int i = 0; i < 10; i++) {
		cr_assert_eq(th_call(&ht_srv, "POST", "/v1/queues/busy/messages", "1", &r), 201);
		cr_assert_lt(r.seconds, 2.0, "enqueue took %.2f s", r.seconds);
		th_resp_free(&r);
		cr_assert_eq(th_call(&ht_srv, "POST", "/v1/queues/busy/messages/pop", NULL, &r), 200);
		cr_assert_lt(r.seconds, 2.0, "pop took %.2f s", r.seconds);
		cr_assert_eq(messages(r.body), 1);
		th_resp_free(&r);
	}
	/* As many messages as waiters: every one of them wakes with exactly one. */
	batch[0] = '[';
	for (int i = 0; i < IDLE; i++) {
		batch[1 + 2 * i] = '1';
		batch[2 + 2 * i] = i + 1 < IDLE ? ',' : ']';
	}
	batch[IDLE * 2 + 1] = '\0';
	t0 = tu_now_ms();
	cr_assert_eq(th_call(&ht_srv, "POST", "/v1/queues/idle/messages/batch", batch, &r), 201);
	th_resp_free(&r);
	for (int i = 0; i < IDLE; i++) {
		call_join(&c[i]);
		cr_assert_eq(c[i].r.status, 200);
		cr_assert_eq(messages(c[i].r.body), 1, "waiter %d: %s", i, c[i].r.body);
		th_resp_free(&c[i].r);
	}
	cr_assert_lt(tu_now_ms() - t0, 10000, "every waiter woke");
	free(c);
}

/* lease_token leases from path and returns the first message's token (caller frees), or NULL. */
static char *lease_token(const char *path, int *deliveries)
{
	struct th_resp r;
	cJSON *j, *m;
	char *token = NULL;

	cr_assert_eq(th_call(&ht_srv, "POST", path, NULL, &r), 200);
	j = cJSON_Parse(r.body);
	m = cJSON_GetArrayItem(cJSON_GetObjectItem(j, "messages"), 0);
	if (m != NULL) {
		token = strdup(cJSON_GetObjectItem(m, "lease")->valuestring);
		*deliveries = (int)cJSON_GetObjectItem(m, "deliveries")->valuedouble;
	}
	cJSON_Delete(j);
	th_resp_free(&r);
	return token;
}

Test(http_longpoll, expired_leases_are_redelivered_and_old_tokens_refused)
{
	struct th_resp r;
	char *first, *second, path[160];
	int deliveries = 0;

	cr_assert_eq(th_call(&ht_srv, "POST", "/v1/queues/ex/messages", "\"job\"", &r), 201);
	th_resp_free(&r);
	first = lease_token("/v1/queues/ex/messages/lease?ttl=1", &deliveries);
	cr_assert_not_null(first);
	cr_assert_eq(deliveries, 1);
	cr_assert_null(lease_token("/v1/queues/ex/messages/lease", &deliveries), "hidden while leased");
	/* A long poll is woken by the lease running out. */
	second = lease_token("/v1/queues/ex/messages/lease?wait=10&ttl=30", &deliveries);
	cr_assert_not_null(second, "redelivered after the lease expired");
	cr_assert_eq(deliveries, 2);
	snprintf(path, sizeof(path), "/v1/queues/ex/messages/1?lease=%s", first);
	cr_assert_eq(th_call(&ht_srv, "DELETE", path, NULL, &r), 409);
	cr_assert_str_eq(r.body, "{\"error\":{\"code\":\"lease_mismatch\",\"message\":\"The lease token "
				 "is not the message's current lease.\"}}");
	th_resp_free(&r);
	snprintf(path, sizeof(path), "/v1/queues/ex/messages/1?lease=%s", second);
	cr_assert_eq(th_call(&ht_srv, "DELETE", path, NULL, &r), 204);
	th_resp_free(&r);
	free(first);
	free(second);
}

Test(http_longpoll, messages_leased_too_often_move_to_the_dead_letter_queue)
{
	struct th_resp r;
	char *token;
	int deliveries = 0;
	uint64_t until;
	bool moved = false;

	cr_assert_eq(th_call(&ht_srv, "PUT", "/v1/queues/dlq", NULL, &r), 201);
	th_resp_free(&r);
	cr_assert_eq(th_call(&ht_srv, "PUT", "/v1/queues/work",
			     "{\"max_deliveries\":2,\"dead_letter\":\"dlq\",\"lease_seconds\":1}", &r),
		     201);
	th_resp_free(&r);
	cr_assert_eq(th_call(&ht_srv, "POST", "/v1/queues/work/messages", "{\"poison\":true}", &r), 201);
	th_resp_free(&r);
	token = lease_token("/v1/queues/work/messages/lease", &deliveries);
	cr_assert_eq(deliveries, 1);
	free(token);
	token = lease_token("/v1/queues/work/messages/lease?wait=5", &deliveries);
	cr_assert_not_null(token);
	cr_assert_eq(deliveries, 2);
	free(token);
	until = tu_now_ms() + 6000;
	while (!moved && tu_now_ms() < until) {
		th_call(&ht_srv, "GET", "/v1/queues/dlq/messages", NULL, &r);
		moved = strstr(r.body, "\"payload\":{\"poison\":true}") != NULL;
		th_resp_free(&r);
		if (!moved)
			tu_sleep_ms(100);
	}
	cr_assert(moved, "the message reached the dead-letter queue");
	cr_assert_eq(th_call(&ht_srv, "POST", "/v1/queues/work/messages/lease", NULL, &r), 200);
	cr_assert_str_eq(r.body, "{\"messages\":[]}");
	th_resp_free(&r);
}

Test(http_longpoll, shutdown_answers_open_long_polls)
{
	struct call c[3];
	uint64_t t0;
	int status;

	for (int i = 0; i < 3; i++)
		call_start(&c[i], "POST", "/v1/queues/sd/messages/pop?wait=30");
	tu_sleep_ms(400);
	t0 = tu_now_ms();
	status = th_stop(&ht_srv, SIGTERM);
	cr_assert_eq(status, 0, "mmqd exits 0 on SIGTERM");
	cr_assert_lt(tu_now_ms() - t0, 5000, "mmqd exits within 5 s");
	for (int i = 0; i < 3; i++) {
		call_join(&c[i]);
		cr_assert_eq(c[i].r.status, 200);
		cr_assert_str_eq(c[i].r.body, "{\"messages\":[]}");
		th_resp_free(&c[i].r);
	}
	cr_assert(th_log_contains(&ht_srv, "shutting down"));
}

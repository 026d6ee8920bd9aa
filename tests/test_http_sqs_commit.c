/* test_http_sqs_commit.c: SQS batches from concurrent keep-alive clients under --sync always, where their waits share the group commit. */
#include <criterion/criterion.h>
#include <curl/curl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "httptest.h"
#include "sqstest.h"

TestSuite(http_sqs_commit, .init = ht_start, .fini = ht_stop, .timeout = 120);

#define CLIENTS 4
#define ROUNDS 15
#define PER_BATCH 10

/* One client: its keep-alive connection, and what it did. Threads never assert; the test checks their counts. */
struct client {
	pthread_t thread;
	const char *url;
	CURL *curl;
	int sent, deleted, released, errors;
	char last_error[300];
};

/* grow_cb appends what curl received to a cJSON-parsable string buffer. */
static size_t grow_cb(char *p, size_t size, size_t n, void *ctx)
{
	char **buf = ctx;
	size_t have = *buf != NULL ? strlen(*buf) : 0;
	char *b = realloc(*buf, have + size * n + 1);

	if (b == NULL)
		return 0;
	memcpy(b + have, p, size * n);
	b[have + size * n] = '\0';
	*buf = b;
	return size * n;
}

/* call sends action with body over the client's own connection; returns the parsed 200 answer or NULL (error noted). */
static cJSON *call(struct client *c, const char *action, const char *body)
{
	char target[128], *out = NULL, *url = th_url(&ht_srv, "/");
	struct curl_slist *h = NULL;
	long status = 0;
	cJSON *j = NULL;

	snprintf(target, sizeof(target), "X-Amz-Target: AmazonSQS.%s", action);
	h = curl_slist_append(h, target);
	h = curl_slist_append(h, "Content-Type: application/x-amz-json-1.0");
	h = curl_slist_append(h, "Expect:");
	curl_easy_setopt(c->curl, CURLOPT_URL, url);
	curl_easy_setopt(c->curl, CURLOPT_POSTFIELDS, body);
	curl_easy_setopt(c->curl, CURLOPT_HTTPHEADER, h);
	curl_easy_setopt(c->curl, CURLOPT_WRITEFUNCTION, grow_cb);
	curl_easy_setopt(c->curl, CURLOPT_WRITEDATA, &out);
	if (curl_easy_perform(c->curl) == CURLE_OK)
		curl_easy_getinfo(c->curl, CURLINFO_RESPONSE_CODE, &status);
	if (status == 200)
		j = cJSON_Parse(out);
	if (j == NULL) {
		c->errors++;
		snprintf(c->last_error, sizeof(c->last_error), "%s: %ld %.200s", action, status,
			 out != NULL ? out : "");
	}
	curl_slist_free_all(h);
	free(out);
	free(url);
	return j;
}

/* send_batch sends PER_BATCH messages, half of them delayed a second (two engine calls in one request). */
static void send_batch(struct client *c)
{
	char body[2048];
	int n = snprintf(body, sizeof(body), "{\"QueueUrl\":\"%s\",\"Entries\":[", c->url);
	cJSON *j;

	for (int i = 0; i < PER_BATCH; i++)
		n += snprintf(body + n, sizeof(body) - (size_t)n,
			      "%s{\"Id\":\"e%d\",\"MessageBody\":\"m%d\",\"DelaySeconds\":%d}", i ? "," : "",
			      i, i, i % 2);
	snprintf(body + n, sizeof(body) - (size_t)n, "]}");
	j = call(c, "SendMessageBatch", body);
	c->sent += cJSON_GetArraySize(cJSON_GetObjectItem(j, "Successful"));
	cJSON_Delete(j);
}

/*
 * handle_batch runs action (DeleteMessageBatch or ChangeMessageVisibilityBatch
 * to 0) on messages [from, to) of msgs, plus one handle that is not valid, as
 * the first entry when bad_first, else the last (then no change carries the
 * connection's waiter); returns how many succeeded.
 */
static int handle_batch(struct client *c, const char *action, cJSON *msgs, int from, int to,
			bool bad_first)
{
	cJSON *o = cJSON_CreateObject(), *entries = cJSON_AddArrayToObject(o, "Entries"), *j;
	char id[16], *body;
	int ok;

	cJSON_AddStringToObject(o, "QueueUrl", c->url);
	for (int i = from; i <= to; i++) {
		cJSON *e = cJSON_CreateObject();
		int at = bad_first ? i - 1 : i; /* the message of this entry; from - 1 or to: the bad one */
		bool bad = at < from || at >= to;
		snprintf(id, sizeof(id), "h%d", i);
		cJSON_AddStringToObject(e, "Id", id);
		cJSON_AddStringToObject(e, "ReceiptHandle",
					bad ? "not-a-handle"
					    : cJSON_GetObjectItem(cJSON_GetArrayItem(msgs, at),
								  "ReceiptHandle")->valuestring);
		if (action[0] == 'C')
			cJSON_AddNumberToObject(e, "VisibilityTimeout", 0);
		cJSON_AddItemToArray(entries, e);
	}
	body = cJSON_PrintUnformatted(o);
	j = call(c, action, body);
	ok = cJSON_GetArraySize(cJSON_GetObjectItem(j, "Successful"));
	if (j != NULL && cJSON_GetArraySize(cJSON_GetObjectItem(j, "Failed")) != 1) {
		c->errors++;
		snprintf(c->last_error, sizeof(c->last_error), "%s: not one failed entry", action);
	}
	cJSON_Delete(j);
	cJSON_Delete(o);
	free(body);
	return ok;
}

/* client_main sends, receives, releases a third and deletes the rest, round after round. */
static void *client_main(void *arg)
{
	struct client *c = arg;
	char body[512];

	for (int r = 0; r < ROUNDS; r++) {
		cJSON *j, *msgs;
		int n;
		send_batch(c);
		snprintf(body, sizeof(body),
			 "{\"QueueUrl\":\"%s\",\"MaxNumberOfMessages\":10,\"VisibilityTimeout\":60}", c->url);
		j = call(c, "ReceiveMessage", body);
		msgs = cJSON_GetObjectItem(j, "Messages");
		n = cJSON_GetArraySize(msgs);
		if (n > 0) {
			c->released += handle_batch(c, "ChangeMessageVisibilityBatch", msgs, 0, n / 3, r % 2);
			c->deleted += handle_batch(c, "DeleteMessageBatch", msgs, n / 3, n, r % 2);
		}
		cJSON_Delete(j);
	}
	return NULL;
}

/* drain receives and deletes (one by one) until a receive that waited finds nothing; returns the count. */
static int drain(struct client *c)
{
	char body[512];
	int deleted = 0;

	for (;;) {
		cJSON *j, *msgs;
		snprintf(body, sizeof(body),
			 "{\"QueueUrl\":\"%s\",\"MaxNumberOfMessages\":10,\"WaitTimeSeconds\":2}", c->url);
		j = call(c, "ReceiveMessage", body);
		msgs = cJSON_GetObjectItem(j, "Messages");
		if (cJSON_GetArraySize(msgs) == 0) {
			cJSON_Delete(j);
			return deleted;
		}
		for (int i = 0; i < cJSON_GetArraySize(msgs); i++) {
			cJSON *d;
			snprintf(body, sizeof(body), "{\"QueueUrl\":\"%s\",\"ReceiptHandle\":\"%s\"}", c->url,
				 cJSON_GetObjectItem(cJSON_GetArrayItem(msgs, i), "ReceiptHandle")->valuestring);
			d = call(c, "DeleteMessage", body);
			deleted += d != NULL;
			cJSON_Delete(d);
		}
		cJSON_Delete(j);
	}
}

Test(http_sqs_commit, concurrent_batches_on_kept_alive_connections_lose_and_repeat_nothing)
{
	char url[160], body[256];
	struct client c[CLIENTS + 1];
	int sent = 0, deleted = 0;
	cJSON *j;

	sq_url(&ht_srv, "commit", url, sizeof(url));
	snprintf(body, sizeof(body), "{\"QueueName\":\"commit\"}");
	cJSON_Delete(sq_jobj(&ht_srv, "CreateQueue", body, 200));
	memset(c, 0, sizeof(c));
	for (int i = 0; i <= CLIENTS; i++) {
		c[i].url = url;
		c[i].curl = curl_easy_init();
		cr_assert_not_null(c[i].curl);
	}
	for (int i = 0; i < CLIENTS; i++)
		cr_assert_eq(pthread_create(&c[i].thread, NULL, client_main, &c[i]), 0);
	for (int i = 0; i < CLIENTS; i++) {
		pthread_join(c[i].thread, NULL);
		cr_expect_eq(c[i].errors, 0, "client %d: %s", i, c[i].last_error);
		cr_expect_eq(c[i].sent, ROUNDS * PER_BATCH);
		sent += c[i].sent;
		deleted += c[i].deleted;
	}
	deleted += drain(&c[CLIENTS]);
	cr_expect_eq(c[CLIENTS].errors, 0, "drain: %s", c[CLIENTS].last_error);
	for (int i = 0; i <= CLIENTS; i++)
		curl_easy_cleanup(c[i].curl);
	cr_assert_eq(deleted, sent, "every message sent is deleted exactly once");
	j = ht_json_of("GET", "/v1/queues/commit", NULL, 200);
	cr_assert_eq(cJSON_GetObjectItem(j, "depth")->valuedouble, 0);
	cr_assert_eq(cJSON_GetObjectItem(j, "in_flight")->valuedouble, 0);
	cr_assert_eq(cJSON_GetObjectItem(j, "delayed")->valuedouble, 0);
	cr_assert_eq(cJSON_GetObjectItem(j, "enqueued_total")->valuedouble, sent);
	cr_assert_eq(cJSON_GetObjectItem(j, "acked_total")->valuedouble, sent);
	cJSON_Delete(j);
}

/* test_http_sqs_limits.c: the SQS size rule to the byte (body plus attributes up to MaximumMessageSize), against a real mmqd. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "httptest.h"
#include "sqstest.h"

TestSuite(http_sqs_limits, .init = ht_start, .fini = ht_stop, .timeout = 60);

/* The attributes of the tests that count them: k, String, "v" (8 bytes) and b, Binary, 00 01 02 (10 bytes). */
#define ATTRS "{\"k\":{\"DataType\":\"String\",\"StringValue\":\"v\"}," \
	      "\"b\":{\"DataType\":\"Binary\",\"BinaryValue\":\"AAEC\"}}"
#define ATTRS_SIZE 18u

/* create makes queue name over SQS with MaximumMessageSize max (0: the default) and writes its URL into url. */
static void create(const char *name, unsigned max, char *url, size_t len)
{
	char body[512], want[256];

	sq_url(&ht_srv, name, url, len);
	if (max > 0)
		snprintf(body, sizeof(body),
			 "{\"QueueName\":\"%s\",\"Attributes\":{\"MaximumMessageSize\":\"%u\"}}", name, max);
	else
		snprintf(body, sizeof(body), "{\"QueueName\":\"%s\"}", name);
	snprintf(want, sizeof(want), "{\"QueueUrl\":\"%s\"}", url);
	sq_jbody(&ht_srv, "CreateQueue", body, 200, want);
}

/* text returns n bytes of the characters of set, in turn (caller frees). */
static char *text(size_t n, const char *set)
{
	char *s = malloc(n + 1);
	size_t k = strlen(set);

	cr_assert_not_null(s);
	for (size_t i = 0; i < n; i++)
		s[i] = set[i % k];
	s[n] = '\0';
	return s;
}

/* send_request returns the SendMessage parameters of body (and the attributes attrs, may be NULL) to url. */
static char *send_request(const char *url, const char *body, const char *attrs)
{
	cJSON *o = cJSON_CreateObject();
	char *out;

	cJSON_AddStringToObject(o, "QueueUrl", url);
	cJSON_AddStringToObject(o, "MessageBody", body);
	if (attrs != NULL)
		cJSON_AddItemToObject(o, "MessageAttributes", cJSON_Parse(attrs));
	out = cJSON_PrintUnformatted(o);
	cJSON_Delete(o);
	cr_assert_not_null(out);
	return out;
}

/* sends_ok sends body (and attrs) to url and asserts that it is accepted. */
static void sends_ok(const char *url, const char *body, const char *attrs)
{
	char *req = send_request(url, body, attrs);
	cJSON *j = sq_jobj(&ht_srv, "SendMessage", req, 200);

	cr_assert(cJSON_IsString(cJSON_GetObjectItem(j, "MessageId")));
	cJSON_Delete(j);
	free(req);
}

/* sends_too_long asserts that body (and attrs) sent to url is refused as longer than max. */
static void sends_too_long(const char *url, const char *body, const char *attrs, unsigned max)
{
	char *req = send_request(url, body, attrs), msg[200];

	snprintf(msg, sizeof(msg),
		 "One or more parameters are invalid. Reason: Message must be shorter than %u bytes.",
		 max + 1);
	sq_jerror(&ht_srv, "SendMessage", req, 400, "InvalidParameterValue", "InvalidParameterValue", msg);
	free(req);
}

/* receives_exactly receives one message of url (with visibility extra) and asserts that its body is want. */
static void receives_exactly(const char *url, const char *extra, const char *want)
{
	char req[512];
	cJSON *root, *msgs, *body;

	snprintf(req, sizeof(req), "{\"QueueUrl\":\"%s\",\"MessageAttributeNames\":[\"All\"]%s}", url,
		 extra);
	root = sq_jobj(&ht_srv, "ReceiveMessage", req, 200);
	msgs = cJSON_GetObjectItem(root, "Messages");
	cr_assert_eq(cJSON_GetArraySize(msgs), 1);
	body = cJSON_GetObjectItem(cJSON_GetArrayItem(msgs, 0), "Body");
	cr_assert(cJSON_IsString(body));
	cr_assert_eq(strlen(body->valuestring), strlen(want));
	cr_assert(memcmp(body->valuestring, want, strlen(want)) == 0, "the body came back changed");
	cJSON_Delete(root);
}

/* depth returns the v1 depth of queue name. */
static double depth(const char *name)
{
	char path[128];
	cJSON *j;
	double d;

	snprintf(path, sizeof(path), "/v1/queues/%s", name);
	j = ht_json_of("GET", path, NULL, 200);
	d = cJSON_GetObjectItem(j, "depth")->valuedouble;
	cJSON_Delete(j);
	return d;
}

Test(http_sqs_limits, a_body_of_exactly_the_default_1_mib_is_stored_and_one_byte_more_is_refused)
{
	char url[160];
	char *body = text(1048576, "x");

	create("mib", 0, url, sizeof(url));
	sends_ok(url, body, NULL);
	receives_exactly(url, "", body);
	free(body);
	body = text(1048577, "x");
	sends_too_long(url, body, NULL, 1048576);
	free(body);
	cr_assert_eq(depth("mib"), 0);
}

Test(http_sqs_limits, a_body_of_exactly_maximum_message_size_round_trips_byte_identical)
{
	char url[160];
	char *body = text(1024, "abc");

	create("kib", 1024, url, sizeof(url));
	sends_ok(url, body, NULL);
	receives_exactly(url, "", body);
	free(body);
	body = text(1025, "abc");
	sends_too_long(url, body, NULL, 1024);
	free(body);
}

Test(http_sqs_limits, a_body_of_quotes_and_line_breaks_at_the_limit_round_trips)
{
	char url[160];
	/* Every character takes two bytes in the stored JSON envelope. */
	char *body = text(1024, "\"\n");

	create("escapes", 1024, url, sizeof(url));
	sends_ok(url, body, NULL);
	receives_exactly(url, "", body);
	free(body);
	body = text(1024, "\\\r\t\"");
	sends_ok(url, body, NULL);
	receives_exactly(url, "", body);
	free(body);
	body = text(1025, "\"\n");
	sends_too_long(url, body, NULL, 1024);
	free(body);
}

Test(http_sqs_limits, body_and_attributes_totalling_the_limit_pass_and_one_byte_more_is_refused)
{
	char url[160];
	char *body = text(1024 - ATTRS_SIZE, "\"y");

	create("attrs", 1024, url, sizeof(url));
	sends_ok(url, body, ATTRS);
	receives_exactly(url, "", body);
	free(body);
	body = text(1024 - ATTRS_SIZE + 1, "\"y");
	sends_too_long(url, body, ATTRS, 1024);
	free(body);
	cr_assert_eq(depth("attrs"), 0);
}

/* batch_request returns a SendMessageBatch to url of entries with the bodies of sizes a and b. */
static char *batch_request(const char *url, size_t a, size_t b)
{
	cJSON *o = cJSON_CreateObject(), *entries = cJSON_AddArrayToObject(o, "Entries");
	size_t sizes[2] = { a, b };
	char *out;

	cJSON_AddStringToObject(o, "QueueUrl", url);
	for (size_t i = 0; i < 2; i++) {
		cJSON *e = cJSON_CreateObject();
		char *body = text(sizes[i], i == 0 ? "\"\\" : "z");
		cJSON_AddStringToObject(e, "Id", i == 0 ? "a" : "b");
		cJSON_AddStringToObject(e, "MessageBody", body);
		cJSON_AddItemToArray(entries, e);
		free(body);
	}
	out = cJSON_PrintUnformatted(o);
	cJSON_Delete(o);
	cr_assert_not_null(out);
	return out;
}

Test(http_sqs_limits, a_batch_totalling_exactly_the_limit_is_stored_and_one_byte_more_is_refused)
{
	char url[160];
	char *req;
	cJSON *j;

	create("batch", 1024, url, sizeof(url));
	req = batch_request(url, 512, 512);
	j = sq_jobj(&ht_srv, "SendMessageBatch", req, 200);
	cr_assert_eq(cJSON_GetArraySize(cJSON_GetObjectItem(j, "Successful")), 2);
	cr_assert_eq(cJSON_GetArraySize(cJSON_GetObjectItem(j, "Failed")), 0);
	cJSON_Delete(j);
	free(req);
	cr_assert_eq(depth("batch"), 2);
	req = batch_request(url, 512, 513);
	sq_jerror(&ht_srv, "SendMessageBatch", req, 400, "BatchRequestTooLong",
		  "AWS.SimpleQueueService.BatchRequestTooLong",
		  "Batch requests cannot be longer than 1024 bytes.");
	free(req);
	cr_assert_eq(depth("batch"), 2);
}

/* v1_body returns the SQS body in the envelope of v1 message m (borrowed from m). */
static const char *v1_body(const cJSON *m)
{
	const cJSON *payload = cJSON_GetObjectItem(m, "payload");

	cr_assert_eq(cJSON_GetObjectItem(payload, "sqs")->valuedouble, 1);
	cr_assert(cJSON_IsString(cJSON_GetObjectItem(payload, "body")));
	return cJSON_GetObjectItem(payload, "body")->valuestring;
}

Test(http_sqs_limits, the_v1_api_reads_leases_and_acks_an_envelope_larger_than_max_message_bytes)
{
	char url[160], path[200];
	char *body = text(1024, "\"\n");
	cJSON *j, *m;

	create("wide", 1024, url, sizeof(url));
	sends_ok(url, body, NULL);
	j = ht_json_of("GET", "/v1/queues/wide", NULL, 200);
	cr_assert_eq(cJSON_GetObjectItem(cJSON_GetObjectItem(j, "settings"), "max_message_bytes")->valuedouble,
		     1024);
	cr_assert_gt(cJSON_GetObjectItem(j, "bytes")->valuedouble, 2048, "the envelope is over twice the body");
	cJSON_Delete(j);
	j = ht_json_of("GET", "/v1/queues/wide/messages", NULL, 200);
	m = cJSON_GetArrayItem(cJSON_GetObjectItem(j, "messages"), 0);
	cr_assert_str_eq(v1_body(m), body);
	cJSON_Delete(j);
	j = ht_json_of("POST", "/v1/queues/wide/messages/lease", NULL, 200);
	m = cJSON_GetArrayItem(cJSON_GetObjectItem(j, "messages"), 0);
	cr_assert_str_eq(v1_body(m), body);
	snprintf(path, sizeof(path), "/v1/queues/wide/messages/%.0f?lease=%s",
		 cJSON_GetObjectItem(m, "id")->valuedouble, cJSON_GetObjectItem(m, "lease")->valuestring);
	cJSON_Delete(j);
	ht_expect("DELETE", path, NULL, 204, NULL);
	cr_assert_eq(depth("wide"), 0);
	free(body);
}

Test(http_sqs_limits, a_message_at_the_limit_moves_to_a_dead_letter_queue_of_the_same_limit)
{
	char url[160], dlq[160], req[512];
	char *body = text(1024, "\"\n");

	create("src", 1024, url, sizeof(url));
	create("dlq", 1024, dlq, sizeof(dlq));
	snprintf(req, sizeof(req),
		 "{\"QueueUrl\":\"%s\",\"Attributes\":{\"RedrivePolicy\":"
		 "\"{\\\"deadLetterTargetArn\\\":\\\"arn:aws:sqs:us-east-1:000000000000:dlq\\\","
		 "\\\"maxReceiveCount\\\":1}\"}}",
		 url);
	sq_jbody(&ht_srv, "SetQueueAttributes", req, 200, "{}");
	sends_ok(url, body, NULL);
	/* Received once and made visible again at once: its one delivery is spent, so it moves. */
	receives_exactly(url, ",\"VisibilityTimeout\":0", body);
	cr_assert_eq(depth("src"), 0);
	cr_assert_eq(depth("dlq"), 1);
	receives_exactly(dlq, "", body);
	free(body);
}

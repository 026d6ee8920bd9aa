/* test_http_sqs.c: the Amazon SQS endpoint in the AWS JSON 1.0 protocol, against a real mmqd. */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "httptest.h"
#include "sqstest.h"

TestSuite(http_sqs, .init = ht_start, .fini = ht_stop, .timeout = 60);

/*
 * Digests below were computed apart from mmqd with Python's hashlib:
 * hashlib.md5(b"hello").hexdigest(), and for attributes the AWS algorithm
 * (names sorted; each: 4-byte big-endian length + name, the same for the data
 * type, 1 byte 1=String/Number 2=Binary, 4-byte length + value).
 */
#define MD5_HELLO "5d41402abc4b2a76b9719d911017c592"
#define MD5_ATTRS_K_V "0a77b0642718c3d9dd47090567d11e0d"    /* k: String "v" */
#define MD5_ATTRS_SNB "94c1f82a132b049cf75fad3ec912d79c"    /* s: String v1, n: Number 42, b: Binary 00 01 02 */
#define MD5_ATTRS_S "17b03f57ac31905da48c0056433e82a2"      /* s: String v1 */
#define MD5_JSON_A1 "bb6cb5c68df4652941caf652a366f2d8"      /* {"a":1} */
#define MD5_UNICODE "77363a4752ff4d95e47ec96c6b215330"      /* "café 😀" */

/* create makes queue name over SQS and writes its URL into url. */
static void create(const char *name, char *url, size_t len)
{
	char body[256], want[256];

	sq_url(&ht_srv, name, url, len);
	snprintf(body, sizeof(body), "{\"QueueName\":\"%s\"}", name);
	snprintf(want, sizeof(want), "{\"QueueUrl\":\"%s\"}", url);
	sq_jbody(&ht_srv, "CreateQueue", body, 200, want);
}

/* receive_one receives exactly one message of url and returns it (caller frees the returned root in *root). */
static cJSON *receive_one(const char *url, const char *extra, cJSON **root)
{
	char body[1024];
	cJSON *msgs;

	snprintf(body, sizeof(body), "{\"QueueUrl\":\"%s\"%s}", url, extra != NULL ? extra : "");
	*root = sq_jobj(&ht_srv, "ReceiveMessage", body, 200);
	msgs = cJSON_GetObjectItem(*root, "Messages");
	cr_assert_eq(cJSON_GetArraySize(msgs), 1, "want one message");
	return cJSON_GetArrayItem(msgs, 0);
}

static const char *str(const cJSON *o, const char *name)
{
	const cJSON *v = cJSON_GetObjectItem(o, name);

	cr_assert(cJSON_IsString(v), "no string %s", name);
	return v->valuestring;
}

Test(http_sqs, queues_are_created_found_listed_and_deleted)
{
	char a[160], b[160], body[512], want[512];

	create("alpha", a, sizeof(a));
	create("beta", b, sizeof(b));
	snprintf(want, sizeof(want), "{\"QueueUrl\":\"%s\"}", a);
	sq_jbody(&ht_srv, "GetQueueUrl", "{\"QueueName\":\"alpha\"}", 200, want);
	snprintf(want, sizeof(want), "{\"QueueUrls\":[\"%s\",\"%s\"]}", a, b);
	sq_jbody(&ht_srv, "ListQueues", NULL, 200, want);
	snprintf(want, sizeof(want), "{\"QueueUrls\":[\"%s\"]}", b);
	sq_jbody(&ht_srv, "ListQueues", "{\"QueueNamePrefix\":\"be\"}", 200, want);
	/* Paging: the token leads to the next page, and the last page has none. */
	snprintf(want, sizeof(want), "{\"QueueUrls\":[\"%s\"],\"NextToken\":\"alpha\"}", a);
	sq_jbody(&ht_srv, "ListQueues", "{\"MaxResults\":1}", 200, want);
	snprintf(want, sizeof(want), "{\"QueueUrls\":[\"%s\"]}", b);
	sq_jbody(&ht_srv, "ListQueues", "{\"MaxResults\":1,\"NextToken\":\"alpha\"}", 200, want);
	/* An empty list is left out. */
	sq_jbody(&ht_srv, "ListQueues", "{\"QueueNamePrefix\":\"zzz\"}", 200, "{}");
	snprintf(body, sizeof(body), "{\"QueueUrl\":\"%s\"}", a);
	sq_jbody(&ht_srv, "DeleteQueue", body, 200, "{}");
	sq_jerror(&ht_srv, "GetQueueUrl", "{\"QueueName\":\"alpha\"}", 400, "QueueDoesNotExist",
		  "AWS.SimpleQueueService.NonExistentQueue", "The specified queue does not exist.");
	sq_jerror(&ht_srv, "DeleteQueue", body, 400, "QueueDoesNotExist",
		  "AWS.SimpleQueueService.NonExistentQueue", "The specified queue does not exist.");
	/* The v1 API sees the same queues. */
	ht_expect("GET", "/v1/queues/alpha", NULL, 404, HT_E_QNF);
	ht_expect("GET", "/v1/queues/beta", NULL, 200, NULL);
}

Test(http_sqs, create_queue_is_idempotent_only_with_the_same_attributes)
{
	char url[160], want[256];

	sq_url(&ht_srv, "idem", url, sizeof(url));
	snprintf(want, sizeof(want), "{\"QueueUrl\":\"%s\"}", url);
	sq_jbody(&ht_srv, "CreateQueue",
		 "{\"QueueName\":\"idem\",\"Attributes\":{\"VisibilityTimeout\":\"40\"}}", 200, want);
	sq_jbody(&ht_srv, "CreateQueue",
		 "{\"QueueName\":\"idem\",\"Attributes\":{\"VisibilityTimeout\":\"40\"}}", 200, want);
	sq_jbody(&ht_srv, "CreateQueue", "{\"QueueName\":\"idem\"}", 200, want);
	sq_jerror(&ht_srv, "CreateQueue",
		  "{\"QueueName\":\"idem\",\"Attributes\":{\"VisibilityTimeout\":\"41\"}}", 400,
		  "QueueNameExists", "QueueAlreadyExists",
		  "A queue already exists with the same name and a different value for attribute(s).");
	sq_jerror(&ht_srv, "CreateQueue", "{\"QueueName\":\"bad.name\"}", 400, "InvalidParameterValue",
		  "InvalidParameterValue",
		  "Can only include alphanumeric characters, hyphens, or underscores. 1 to 80 in length");
	sq_jerror(&ht_srv, "CreateQueue", "{}", 400, "MissingParameter", "MissingParameter",
		  "The request must contain the parameter QueueName.");
	sq_jerror(&ht_srv, "CreateQueue",
		  "{\"QueueName\":\"x\",\"Attributes\":{\"Colour\":\"blue\"}}", 400,
		  "InvalidAttributeName", "InvalidAttributeName", "Unknown Attribute Colour.");
	ht_expect("GET", "/v1/queues/x", NULL, 404, HT_E_QNF);
}

Test(http_sqs, send_receive_delete_with_exact_digests)
{
	char url[160], body[1024], handle[256];
	cJSON *root, *m, *j;

	create("q", url, sizeof(url));
	snprintf(body, sizeof(body),
		 "{\"QueueUrl\":\"%s\",\"MessageBody\":\"hello\",\"MessageAttributes\":{"
		 "\"s\":{\"DataType\":\"String\",\"StringValue\":\"v1\"},"
		 "\"n\":{\"DataType\":\"Number\",\"StringValue\":\"42\"},"
		 "\"b\":{\"DataType\":\"Binary\",\"BinaryValue\":\"AAEC\"}}}",
		 url);
	j = sq_jobj(&ht_srv, "SendMessage", body, 200);
	cr_assert_str_eq(str(j, "MD5OfMessageBody"), MD5_HELLO);
	cr_assert_str_eq(str(j, "MD5OfMessageAttributes"), MD5_ATTRS_SNB);
	cr_assert_eq(strlen(str(j, "MessageId")), 36);
	cJSON_Delete(j);
	m = receive_one(url, ",\"MessageAttributeNames\":[\"All\"],\"AttributeNames\":[\"All\"]", &root);
	cr_assert_str_eq(str(m, "Body"), "hello");
	cr_assert_str_eq(str(m, "MD5OfBody"), MD5_HELLO);
	cr_assert_str_eq(str(m, "MD5OfMessageAttributes"), MD5_ATTRS_SNB);
	cr_assert_str_eq(str(cJSON_GetObjectItem(cJSON_GetObjectItem(m, "MessageAttributes"), "b"),
			     "BinaryValue"),
			 "AAEC");
	cr_assert_str_eq(str(cJSON_GetObjectItem(m, "Attributes"), "ApproximateReceiveCount"), "1");
	cr_assert_str_eq(str(cJSON_GetObjectItem(m, "Attributes"), "SenderId"), "000000000000");
	snprintf(handle, sizeof(handle), "%s", str(m, "ReceiptHandle"));
	cJSON_Delete(root);
	snprintf(body, sizeof(body), "{\"QueueUrl\":\"%s\",\"ReceiptHandle\":\"%s\"}", url, handle);
	sq_jbody(&ht_srv, "DeleteMessage", body, 200, "{}");
	/* Gone: nothing left to receive, and deleting again is no error (as SQS). */
	snprintf(body, sizeof(body), "{\"QueueUrl\":\"%s\"}", url);
	sq_jbody(&ht_srv, "ReceiveMessage", body, 200, "{}");
	snprintf(body, sizeof(body), "{\"QueueUrl\":\"%s\",\"ReceiptHandle\":\"%s\"}", url, handle);
	sq_jbody(&ht_srv, "DeleteMessage", body, 200, "{}");
}

Test(http_sqs, only_the_asked_for_attributes_come_back_with_their_own_digest)
{
	char url[160], body[1024];
	cJSON *root, *m;

	create("attrs", url, sizeof(url));
	snprintf(body, sizeof(body),
		 "{\"QueueUrl\":\"%s\",\"MessageBody\":\"hello\",\"MessageAttributes\":{"
		 "\"s\":{\"DataType\":\"String\",\"StringValue\":\"v1\"},"
		 "\"n\":{\"DataType\":\"Number\",\"StringValue\":\"42\"}}}",
		 url);
	cJSON_Delete(sq_jobj(&ht_srv, "SendMessage", body, 200));
	m = receive_one(url, ",\"MessageAttributeNames\":[\"s\"],\"VisibilityTimeout\":0", &root);
	cr_assert_str_eq(str(m, "MD5OfMessageAttributes"), MD5_ATTRS_S);
	cr_assert_eq(cJSON_GetArraySize(cJSON_GetObjectItem(m, "MessageAttributes")), 1);
	cr_assert_null(cJSON_GetObjectItem(m, "Attributes"));
	cJSON_Delete(root);
	/* Without MessageAttributeNames no attributes and no digest. */
	m = receive_one(url, NULL, &root);
	cr_assert_null(cJSON_GetObjectItem(m, "MessageAttributes"));
	cr_assert_null(cJSON_GetObjectItem(m, "MD5OfMessageAttributes"));
	cJSON_Delete(root);
}

Test(http_sqs, bodies_keep_every_character_sqs_allows_and_refuse_the_others)
{
	char url[160], body[1024];
	cJSON *root, *m, *j;

	create("chars", url, sizeof(url));
	snprintf(body, sizeof(body), "{\"QueueUrl\":\"%s\",\"MessageBody\":\"caf\\u00e9 \\ud83d\\ude00\"}", url);
	j = sq_jobj(&ht_srv, "SendMessage", body, 200);
	cr_assert_str_eq(str(j, "MD5OfMessageBody"), MD5_UNICODE);
	cJSON_Delete(j);
	m = receive_one(url, NULL, &root);
	cr_assert_str_eq(str(m, "Body"), "caf\xc3\xa9 \xf0\x9f\x98\x80");
	cJSON_Delete(root);
	snprintf(body, sizeof(body), "{\"QueueUrl\":\"%s\",\"MessageBody\":\"a\\u0001b\"}", url);
	sq_jerror(&ht_srv, "SendMessage", body, 400, "InvalidMessageContents", "InvalidMessageContents",
		  "Invalid characters found. Valid Unicode characters are #x9 | #xA | #xD | #x20 to "
		  "#xD7FF | #xE000 to #xFFFD | #x10000 to #x10FFFF");
	snprintf(body, sizeof(body), "{\"QueueUrl\":\"%s\",\"MessageBody\":\"a\\uffffb\"}", url);
	sq_jerror(&ht_srv, "SendMessage", body, 400, "InvalidMessageContents", "InvalidMessageContents",
		  "Invalid characters found. Valid Unicode characters are #x9 | #xA | #xD | #x20 to "
		  "#xD7FF | #xE000 to #xFFFD | #x10000 to #x10FFFF");
	snprintf(body, sizeof(body), "{\"QueueUrl\":\"%s\"}", url);
	sq_jerror(&ht_srv, "SendMessage", body, 400, "MissingParameter", "MissingParameter",
		  "The request must contain the parameter MessageBody.");
	/* A NUL is refused, not cut off; an escaped backslash before u0000 is no NUL. */
	snprintf(body, sizeof(body), "{\"QueueUrl\":\"%s\",\"MessageBody\":\"a\\u0000b\"}", url);
	sq_jerror(&ht_srv, "SendMessage", body, 400, "InvalidMessageContents", "InvalidMessageContents",
		  "Invalid characters found. A request may not hold the character #x0.");
	snprintf(body, sizeof(body), "{\"QueueUrl\":\"%s\",\"MessageBody\":\"a\\\\u0000b\"}", url);
	cJSON_Delete(sq_jobj(&ht_srv, "SendMessage", body, 200));
	m = receive_one(url, NULL, &root);
	cr_assert_str_eq(str(m, "Body"), "a\\u0000b");
	cJSON_Delete(root);
}

Test(http_sqs, parameters_out_of_range_answer_invalid_parameter_value)
{
	char url[160], body[512];

	create("range", url, sizeof(url));
	snprintf(body, sizeof(body), "{\"QueueUrl\":\"%s\",\"MaxNumberOfMessages\":11}", url);
	sq_jerror(&ht_srv, "ReceiveMessage", body, 400, "InvalidParameterValue", "InvalidParameterValue",
		  "Value for parameter MaxNumberOfMessages is invalid. Reason: Must be between 1 and 10, if provided.");
	snprintf(body, sizeof(body), "{\"QueueUrl\":\"%s\",\"WaitTimeSeconds\":21}", url);
	sq_jerror(&ht_srv, "ReceiveMessage", body, 400, "InvalidParameterValue", "InvalidParameterValue",
		  "Value for parameter WaitTimeSeconds is invalid. Reason: Must be between 0 and 20, if provided.");
	snprintf(body, sizeof(body), "{\"QueueUrl\":\"%s\",\"VisibilityTimeout\":43201}", url);
	sq_jerror(&ht_srv, "ReceiveMessage", body, 400, "InvalidParameterValue", "InvalidParameterValue",
		  "Value for parameter VisibilityTimeout is invalid. Reason: Must be between 0 and 43200, if provided.");
	snprintf(body, sizeof(body), "{\"QueueUrl\":\"%s\",\"MessageBody\":\"x\",\"DelaySeconds\":901}", url);
	sq_jerror(&ht_srv, "SendMessage", body, 400, "InvalidParameterValue", "InvalidParameterValue",
		  "Value for parameter DelaySeconds is invalid. Reason: must be between 0 and 900, if provided.");
	sq_jerror(&ht_srv, "ReceiveMessage", "{\"QueueUrl\":\"http://h/000000000000/none\"}", 400,
		  "QueueDoesNotExist", "AWS.SimpleQueueService.NonExistentQueue",
		  "The specified queue does not exist.");
	sq_jerror(&ht_srv, "ReceiveMessage", "{}", 400, "MissingParameter", "MissingParameter",
		  "The request must contain the parameter QueueUrl.");
	sq_jerror(&ht_srv, "NoSuchThing", "{}", 400, "InvalidAction", "InvalidAction",
		  "The action or operation requested is invalid.");
	sq_jerror(&ht_srv, "TagQueue", "{}", 400, "UnsupportedOperation",
		  "AWS.SimpleQueueService.UnsupportedOperation", "mmqd does not support TagQueue.");
}

Test(http_sqs, messages_at_the_size_limit_pass_and_past_it_are_refused)
{
	char url[160], *body;
	size_t big = 1048576;

	create("size", url, sizeof(url));
	body = malloc(big + 512);
	cr_assert_not_null(body);
	/* 1 MiB of body, the default limit exactly, fits. */
	int n = snprintf(body, 512, "{\"QueueUrl\":\"%s\",\"MessageBody\":\"", url);
	memset(body + n, 'x', big);
	strcpy(body + n + big, "\"}");
	cJSON_Delete(sq_jobj(&ht_srv, "SendMessage", body, 200));
	snprintf(body, 512, "{\"QueueUrl\":\"%s\",\"Attributes\":{\"MaximumMessageSize\":\"1024\"}}", url);
	sq_jbody(&ht_srv, "SetQueueAttributes", body, 200, "{}");
	n = snprintf(body, 512, "{\"QueueUrl\":\"%s\",\"MessageBody\":\"", url);
	memset(body + n, 'x', 1025);
	strcpy(body + n + 1025, "\"}");
	sq_jerror(&ht_srv, "SendMessage", body, 400, "InvalidParameterValue", "InvalidParameterValue",
		  "One or more parameters are invalid. Reason: Message must be shorter than 1025 bytes.");
	free(body);
}

Test(http_sqs, batch_send_answers_per_entry_and_checks_the_batch)
{
	char url[160], body[2048];
	cJSON *j, *ok, *failed;

	create("batch", url, sizeof(url));
	snprintf(body, sizeof(body),
		 "{\"QueueUrl\":\"%s\",\"Entries\":[{\"Id\":\"a\",\"MessageBody\":\"hello\"},"
		 "{\"Id\":\"b\",\"MessageBody\":\"bad\\u0002\"},"
		 "{\"Id\":\"c\",\"MessageBody\":\"later\",\"DelaySeconds\":900,"
		 "\"MessageAttributes\":{\"k\":{\"DataType\":\"String\",\"StringValue\":\"v\"}}}]}",
		 url);
	j = sq_jobj(&ht_srv, "SendMessageBatch", body, 200);
	ok = cJSON_GetObjectItem(j, "Successful");
	failed = cJSON_GetObjectItem(j, "Failed");
	cr_assert_eq(cJSON_GetArraySize(ok), 2);
	cr_assert_str_eq(str(cJSON_GetArrayItem(ok, 0), "Id"), "a");
	cr_assert_str_eq(str(cJSON_GetArrayItem(ok, 0), "MD5OfMessageBody"), MD5_HELLO);
	cr_assert_str_eq(str(cJSON_GetArrayItem(ok, 1), "Id"), "c");
	cr_assert_str_eq(str(cJSON_GetArrayItem(ok, 1), "MD5OfMessageAttributes"), MD5_ATTRS_K_V);
	cr_assert_eq(cJSON_GetArraySize(failed), 1);
	cr_assert_str_eq(str(cJSON_GetArrayItem(failed, 0), "Id"), "b");
	cr_assert_str_eq(str(cJSON_GetArrayItem(failed, 0), "Code"), "InvalidMessageContents");
	cr_assert(cJSON_IsTrue(cJSON_GetObjectItem(cJSON_GetArrayItem(failed, 0), "SenderFault")));
	cJSON_Delete(j);
	/* One visible, one delayed: the v1 stats say so. */
	j = ht_json_of("GET", "/v1/queues/batch", NULL, 200);
	cr_assert_eq(cJSON_GetObjectItem(j, "depth")->valuedouble, 1);
	cr_assert_eq(cJSON_GetObjectItem(j, "delayed")->valuedouble, 1);
	cJSON_Delete(j);
	snprintf(body, sizeof(body), "{\"QueueUrl\":\"%s\",\"Entries\":[]}", url);
	sq_jerror(&ht_srv, "SendMessageBatch", body, 400, "EmptyBatchRequest",
		  "AWS.SimpleQueueService.EmptyBatchRequest",
		  "There should be at least one entry in the request.");
	snprintf(body, sizeof(body),
		 "{\"QueueUrl\":\"%s\",\"Entries\":[{\"Id\":\"a\",\"MessageBody\":\"1\"},"
		 "{\"Id\":\"a\",\"MessageBody\":\"2\"}]}", url);
	sq_jerror(&ht_srv, "SendMessageBatch", body, 400, "BatchEntryIdsNotDistinct",
		  "AWS.SimpleQueueService.BatchEntryIdsNotDistinct", "Id a repeated.");
	snprintf(body, sizeof(body),
		 "{\"QueueUrl\":\"%s\",\"Entries\":[{\"Id\":\"a b\",\"MessageBody\":\"1\"}]}", url);
	sq_jerror(&ht_srv, "SendMessageBatch", body, 400, "InvalidBatchEntryId",
		  "AWS.SimpleQueueService.InvalidBatchEntryId",
		  "A batch entry id can only contain alphanumeric characters, hyphens and underscores. "
		  "It can be at most 80 letters long.");
	int n = snprintf(body, sizeof(body), "{\"QueueUrl\":\"%s\",\"Entries\":[", url);
	for (int i = 0; i < 11; i++)
		n += snprintf(body + n, sizeof(body) - (size_t)n, "%s{\"Id\":\"e%d\",\"MessageBody\":\"x\"}",
			      i ? "," : "", i);
	snprintf(body + n, sizeof(body) - (size_t)n, "]}");
	sq_jerror(&ht_srv, "SendMessageBatch", body, 400, "TooManyEntriesInBatchRequest",
		  "AWS.SimpleQueueService.TooManyEntriesInBatchRequest",
		  "Maximum number of entries per request are 10. You have sent 11.");
}

Test(http_sqs, batch_request_too_long_stores_nothing)
{
	char url[160], *body;
	size_t part = 600;

	create("long", url, sizeof(url));
	body = malloc(8192);
	cr_assert_not_null(body);
	int n = snprintf(body, 8192, "{\"QueueUrl\":\"%s\",\"Attributes\":{\"MaximumMessageSize\":\"1024\"}}", url);
	sq_jbody(&ht_srv, "SetQueueAttributes", body, 200, "{}");
	n = snprintf(body, 8192, "{\"QueueUrl\":\"%s\",\"Entries\":[", url);
	for (int i = 0; i < 2; i++) {
		n += snprintf(body + n, 8192 - (size_t)n, "%s{\"Id\":\"e%d\",\"MessageBody\":\"", i ? "," : "", i);
		memset(body + n, 'y', part);
		n += (int)part;
		n += snprintf(body + n, 8192 - (size_t)n, "\"}");
	}
	snprintf(body + n, 8192 - (size_t)n, "]}");
	sq_jerror(&ht_srv, "SendMessageBatch", body, 400, "BatchRequestTooLong",
		  "AWS.SimpleQueueService.BatchRequestTooLong",
		  "Batch requests cannot be longer than 1024 bytes.");
	free(body);
	ht_expect("GET", "/v1/queues/long/messages", NULL, 200, "{\"messages\":[]}");
}

Test(http_sqs, visibility_changes_and_stale_handles_answer_as_sqs)
{
	char url[160], body[1024], first[256], second[256];
	cJSON *root, *m;

	create("vis", url, sizeof(url));
	snprintf(body, sizeof(body), "{\"QueueUrl\":\"%s\",\"MessageBody\":\"hello\"}", url);
	cJSON_Delete(sq_jobj(&ht_srv, "SendMessage", body, 200));
	m = receive_one(url, ",\"VisibilityTimeout\":600", &root);
	snprintf(first, sizeof(first), "%s", str(m, "ReceiptHandle"));
	cJSON_Delete(root);
	/* Hidden now; extending keeps it hidden; 0 makes it visible at once. */
	snprintf(body, sizeof(body), "{\"QueueUrl\":\"%s\"}", url);
	sq_jbody(&ht_srv, "ReceiveMessage", body, 200, "{}");
	snprintf(body, sizeof(body), "{\"QueueUrl\":\"%s\",\"ReceiptHandle\":\"%s\",\"VisibilityTimeout\":900}",
		 url, first);
	sq_jbody(&ht_srv, "ChangeMessageVisibility", body, 200, "{}");
	snprintf(body, sizeof(body), "{\"QueueUrl\":\"%s\",\"ReceiptHandle\":\"%s\",\"VisibilityTimeout\":0}",
		 url, first);
	sq_jbody(&ht_srv, "ChangeMessageVisibility", body, 200, "{}");
	m = receive_one(url, ",\"AttributeNames\":[\"ApproximateReceiveCount\"],\"VisibilityTimeout\":600", &root);
	cr_assert_str_eq(str(cJSON_GetObjectItem(m, "Attributes"), "ApproximateReceiveCount"), "2");
	snprintf(second, sizeof(second), "%s", str(m, "ReceiptHandle"));
	cr_assert_str_neq(first, second);
	cJSON_Delete(root);
	/* The first handle is stale: no visibility change, and a delete that deletes nothing. */
	snprintf(body, sizeof(body), "{\"QueueUrl\":\"%s\",\"ReceiptHandle\":\"%s\",\"VisibilityTimeout\":0}",
		 url, first);
	sq_jerror(&ht_srv, "ChangeMessageVisibility", body, 400, "MessageNotInflight",
		  "AWS.SimpleQueueService.MessageNotInflight",
		  "Message does not exist or is not available for visibility timeout change.");
	snprintf(body, sizeof(body), "{\"QueueUrl\":\"%s\",\"ReceiptHandle\":\"%s\"}", url, first);
	sq_jbody(&ht_srv, "DeleteMessage", body, 200, "{}");
	cJSON *j = ht_json_of("GET", "/v1/queues/vis", NULL, 200);
	cr_assert_eq(cJSON_GetObjectItem(j, "in_flight")->valuedouble, 1);
	cJSON_Delete(j);
	snprintf(body, sizeof(body), "{\"QueueUrl\":\"%s\",\"ReceiptHandle\":\"not-a-handle\"}", url);
	sq_jerror(&ht_srv, "DeleteMessage", body, 400, "ReceiptHandleIsInvalid", "ReceiptHandleIsInvalid",
		  "The input receipt handle \\\"not-a-handle\\\" is not a valid receipt handle.");
	/* The batch forms: one good entry, one stale. */
	snprintf(body, sizeof(body),
		 "{\"QueueUrl\":\"%s\",\"Entries\":[{\"Id\":\"s\",\"ReceiptHandle\":\"%s\",\"VisibilityTimeout\":5},"
		 "{\"Id\":\"o\",\"ReceiptHandle\":\"%s\",\"VisibilityTimeout\":5}]}",
		 url, second, first);
	sq_jbody(&ht_srv, "ChangeMessageVisibilityBatch", body, 200,
		 "{\"Successful\":[{\"Id\":\"s\"}],\"Failed\":[{\"Id\":\"o\",\"SenderFault\":true,"
		 "\"Code\":\"MessageNotInflight\",\"Message\":\"Message does not exist or is not "
		 "available for visibility timeout change.\"}]}");
	snprintf(body, sizeof(body),
		 "{\"QueueUrl\":\"%s\",\"Entries\":[{\"Id\":\"s\",\"ReceiptHandle\":\"%s\"}]}", url, second);
	sq_jbody(&ht_srv, "DeleteMessageBatch", body, 200, "{\"Successful\":[{\"Id\":\"s\"}],\"Failed\":[]}");
	ht_expect("GET", "/v1/queues/vis/messages", NULL, 200, "{\"messages\":[]}");
	j = ht_json_of("GET", "/v1/queues/vis", NULL, 200);
	cr_assert_eq(cJSON_GetObjectItem(j, "in_flight")->valuedouble, 0);
	cJSON_Delete(j);
}

/* A ReceiveMessage run on its own thread. */
struct receive_call {
	pthread_t thread;
	char body[256];
	struct th_resp r;
};

static void *receive_main(void *arg)
{
	struct receive_call *c = arg;
	const char *headers[] = { "X-Amz-Target: AmazonSQS.ReceiveMessage",
				  "Content-Type: application/x-amz-json-1.0", NULL };

	th_req(&ht_srv, "POST", "/", c->body, strlen(c->body), headers, &c->r);
	return NULL;
}

Test(http_sqs, receive_long_poll_wakes_when_a_message_arrives)
{
	char url[160], body[512];
	struct receive_call c;
	cJSON *j;

	create("wait", url, sizeof(url));
	snprintf(c.body, sizeof(c.body), "{\"QueueUrl\":\"%s\",\"WaitTimeSeconds\":20}", url);
	cr_assert_eq(pthread_create(&c.thread, NULL, receive_main, &c), 0);
	/* Sent while the receive waits (or just before): either way it gets the message. */
	snprintf(body, sizeof(body), "{\"QueueUrl\":\"%s\",\"MessageBody\":\"wake\"}", url);
	cJSON_Delete(sq_jobj(&ht_srv, "SendMessage", body, 200));
	pthread_join(c.thread, NULL);
	cr_assert_eq(c.r.status, 200, "%s", c.r.body);
	cr_assert_lt(c.r.seconds, 15.0, "the receive was not woken (%.1f s)", c.r.seconds);
	j = cJSON_Parse(c.r.body);
	cr_assert_str_eq(str(cJSON_GetArrayItem(cJSON_GetObjectItem(j, "Messages"), 0), "Body"), "wake");
	cJSON_Delete(j);
	th_resp_free(&c.r);
	/* With nothing to get, a short wait ends with no messages. */
	snprintf(body, sizeof(body), "{\"QueueUrl\":\"%s\",\"WaitTimeSeconds\":1}", url);
	sq_jbody(&ht_srv, "ReceiveMessage", body, 200, "{}");
}

Test(http_sqs, v1_and_sqs_see_each_others_messages)
{
	char url[160], body[512];
	cJSON *root, *m, *j;

	create("both", url, sizeof(url));
	ht_expect("POST", "/v1/queues/both/messages", "{\"a\":1}", 201, "{\"id\":1}");
	m = receive_one(url, ",\"VisibilityTimeout\":0", &root);
	/* A v1 payload comes through SQS as its JSON text. */
	cr_assert_str_eq(str(m, "Body"), "{\"a\":1}");
	cr_assert_str_eq(str(m, "MD5OfBody"), MD5_JSON_A1);
	cJSON_Delete(root);
	ht_expect("DELETE", "/v1/queues/both/messages", NULL, 204, NULL);
	snprintf(body, sizeof(body),
		 "{\"QueueUrl\":\"%s\",\"MessageBody\":\"plain \\\"text\\\"\",\"MessageAttributes\":"
		 "{\"k\":{\"DataType\":\"String\",\"StringValue\":\"v\"}}}", url);
	cJSON_Delete(sq_jobj(&ht_srv, "SendMessage", body, 200));
	/* An SQS message is a JSON envelope to the v1 API. */
	j = ht_json_of("GET", "/v1/queues/both/messages", NULL, 200);
	char *payload = cJSON_PrintUnformatted(
		cJSON_GetObjectItem(cJSON_GetArrayItem(cJSON_GetObjectItem(j, "messages"), 0), "payload"));
	cr_assert_str_eq(payload, "{\"sqs\":1,\"body\":\"plain \\\"text\\\"\",\"attributes\":{\"k\":"
				  "{\"DataType\":\"String\",\"StringValue\":\"v\"}}}");
	free(payload);
	cJSON_Delete(j);
}

Test(http_sqs, queue_attributes_map_onto_the_engine_settings)
{
	char url[160], dlq[160], body[1024], want[1024];
	cJSON *j, *a, *s;

	create("main", url, sizeof(url));
	create("dead", dlq, sizeof(dlq));
	snprintf(body, sizeof(body),
		 "{\"QueueUrl\":\"%s\",\"Attributes\":{\"VisibilityTimeout\":\"45\",\"DelaySeconds\":\"7\","
		 "\"MaximumMessageSize\":\"2048\",\"ReceiveMessageWaitTimeSeconds\":\"3\",\"RedrivePolicy\":"
		 "\"{\\\"deadLetterTargetArn\\\":\\\"arn:aws:sqs:us-east-1:000000000000:dead\\\","
		 "\\\"maxReceiveCount\\\":\\\"4\\\"}\"}}",
		 url);
	sq_jbody(&ht_srv, "SetQueueAttributes", body, 200, "{}");
	snprintf(body, sizeof(body), "{\"QueueUrl\":\"%s\",\"AttributeNames\":[\"All\"]}", url);
	j = sq_jobj(&ht_srv, "GetQueueAttributes", body, 200);
	a = cJSON_GetObjectItem(j, "Attributes");
	cr_assert_str_eq(str(a, "VisibilityTimeout"), "45");
	cr_assert_str_eq(str(a, "DelaySeconds"), "7");
	cr_assert_str_eq(str(a, "MaximumMessageSize"), "2048");
	cr_assert_str_eq(str(a, "ReceiveMessageWaitTimeSeconds"), "3");
	cr_assert_str_eq(str(a, "MessageRetentionPeriod"), "345600");
	cr_assert_str_eq(str(a, "QueueArn"), "arn:aws:sqs:us-east-1:000000000000:main");
	cr_assert_str_eq(str(a, "ApproximateNumberOfMessages"), "0");
	cr_assert_str_eq(str(a, "RedrivePolicy"),
			 "{\"deadLetterTargetArn\":\"arn:aws:sqs:us-east-1:000000000000:dead\",\"maxReceiveCount\":4}");
	cr_assert_gt(strtoull(str(a, "CreatedTimestamp"), NULL, 10), 1700000000ull);
	cr_assert_geq(strtoull(str(a, "LastModifiedTimestamp"), NULL, 10),
		      strtoull(str(a, "CreatedTimestamp"), NULL, 10));
	cJSON_Delete(j);
	/* The same settings through the v1 API. */
	j = ht_json_of("GET", "/v1/queues/main", NULL, 200);
	s = cJSON_GetObjectItem(j, "settings");
	cr_assert_eq(cJSON_GetObjectItem(s, "lease_seconds")->valuedouble, 45);
	cr_assert_eq(cJSON_GetObjectItem(s, "delay_seconds")->valuedouble, 7);
	cr_assert_eq(cJSON_GetObjectItem(s, "receive_wait_seconds")->valuedouble, 3);
	cr_assert_eq(cJSON_GetObjectItem(s, "max_message_bytes")->valuedouble, 2048);
	cr_assert_eq(cJSON_GetObjectItem(s, "max_deliveries")->valuedouble, 4);
	cr_assert_str_eq(cJSON_GetObjectItem(s, "dead_letter")->valuestring, "dead");
	cr_assert(cJSON_IsString(cJSON_GetObjectItem(j, "created_at")));
	cJSON_Delete(j);
	/* maxReceiveCount as a number works too; only the named attributes come back. */
	snprintf(body, sizeof(body),
		 "{\"QueueUrl\":\"%s\",\"Attributes\":{\"RedrivePolicy\":\"{\\\"deadLetterTargetArn\\\":"
		 "\\\"arn:aws:sqs:us-east-1:000000000000:dead\\\",\\\"maxReceiveCount\\\":9}\"}}", url);
	sq_jbody(&ht_srv, "SetQueueAttributes", body, 200, "{}");
	snprintf(body, sizeof(body),
		 "{\"QueueUrl\":\"%s\",\"AttributeNames\":[\"RedrivePolicy\",\"DelaySeconds\"]}", url);
	snprintf(want, sizeof(want),
		 "{\"Attributes\":{\"DelaySeconds\":\"7\",\"RedrivePolicy\":\"{\\\"deadLetterTargetArn\\\":"
		 "\\\"arn:aws:sqs:us-east-1:000000000000:dead\\\",\\\"maxReceiveCount\\\":9}\"}}");
	sq_jbody(&ht_srv, "GetQueueAttributes", body, 200, want);
	snprintf(body, sizeof(body), "{\"QueueUrl\":\"%s\",\"AttributeNames\":[\"Colour\"]}", url);
	sq_jerror(&ht_srv, "GetQueueAttributes", body, 400, "InvalidAttributeName",
		  "InvalidAttributeName", "Unknown Attribute Colour.");
	snprintf(body, sizeof(body),
		 "{\"QueueUrl\":\"%s\",\"Attributes\":{\"RedrivePolicy\":\"{\\\"deadLetterTargetArn\\\":"
		 "\\\"arn:aws:sqs:us-east-1:000000000000:nowhere\\\",\\\"maxReceiveCount\\\":2}\"}}", url);
	sq_jerror(&ht_srv, "SetQueueAttributes", body, 400, "InvalidAttributeValue",
		  "InvalidAttributeValue",
		  "Invalid value for the parameter RedrivePolicy. Reason: Dead letter target does not exist.");
	snprintf(body, sizeof(body), "{\"QueueUrl\":\"%s\",\"Attributes\":{\"DelaySeconds\":\"901\"}}", url);
	sq_jerror(&ht_srv, "SetQueueAttributes", body, 400, "InvalidAttributeValue",
		  "InvalidAttributeValue", "Invalid value for the parameter DelaySeconds.");
}

Test(http_sqs, queue_delay_applies_and_purge_empties_the_queue)
{
	char url[160], body[512];
	cJSON *j;

	create("slow", url, sizeof(url));
	snprintf(body, sizeof(body), "{\"QueueUrl\":\"%s\",\"Attributes\":{\"DelaySeconds\":\"900\"}}", url);
	sq_jbody(&ht_srv, "SetQueueAttributes", body, 200, "{}");
	snprintf(body, sizeof(body), "{\"QueueUrl\":\"%s\",\"MessageBody\":\"later\"}", url);
	cJSON_Delete(sq_jobj(&ht_srv, "SendMessage", body, 200));
	snprintf(body, sizeof(body), "{\"QueueUrl\":\"%s\",\"MessageBody\":\"now\",\"DelaySeconds\":0}", url);
	cJSON_Delete(sq_jobj(&ht_srv, "SendMessage", body, 200));
	snprintf(body, sizeof(body),
		 "{\"QueueUrl\":\"%s\",\"AttributeNames\":[\"ApproximateNumberOfMessages\","
		 "\"ApproximateNumberOfMessagesDelayed\",\"ApproximateNumberOfMessagesNotVisible\"]}", url);
	sq_jbody(&ht_srv, "GetQueueAttributes", body, 200,
		 "{\"Attributes\":{\"ApproximateNumberOfMessages\":\"1\",\"ApproximateNumberOfMessagesNotVisible\":\"0\","
		 "\"ApproximateNumberOfMessagesDelayed\":\"1\"}}");
	snprintf(body, sizeof(body), "{\"QueueUrl\":\"%s\"}", url);
	sq_jbody(&ht_srv, "PurgeQueue", body, 200, "{}");
	j = ht_json_of("GET", "/v1/queues/slow", NULL, 200);
	cr_assert_eq(cJSON_GetObjectItem(j, "depth")->valuedouble, 0);
	cr_assert_eq(cJSON_GetObjectItem(j, "delayed")->valuedouble, 0);
	cJSON_Delete(j);
}

Test(http_sqs, messages_move_to_the_dead_letter_queue_after_max_receive_count)
{
	char url[160], dlq[160], body[1024];
	cJSON *root, *m;

	create("work", url, sizeof(url));
	create("work-dlq", dlq, sizeof(dlq));
	snprintf(body, sizeof(body),
		 "{\"QueueUrl\":\"%s\",\"Attributes\":{\"RedrivePolicy\":\"{\\\"deadLetterTargetArn\\\":"
		 "\\\"arn:aws:sqs:us-east-1:000000000000:work-dlq\\\",\\\"maxReceiveCount\\\":\\\"2\\\"}\"}}",
		 url);
	sq_jbody(&ht_srv, "SetQueueAttributes", body, 200, "{}");
	snprintf(body, sizeof(body), "{\"QueueUrl\":\"%s\",\"MessageBody\":\"poison\"}", url);
	cJSON_Delete(sq_jobj(&ht_srv, "SendMessage", body, 200));
	for (int i = 0; i < 2; i++) {
		m = receive_one(url, ",\"VisibilityTimeout\":600", &root);
		snprintf(body, sizeof(body),
			 "{\"QueueUrl\":\"%s\",\"ReceiptHandle\":\"%s\",\"VisibilityTimeout\":0}", url,
			 str(m, "ReceiptHandle"));
		cJSON_Delete(root);
		sq_jbody(&ht_srv, "ChangeMessageVisibility", body, 200, "{}");
	}
	snprintf(body, sizeof(body), "{\"QueueUrl\":\"%s\"}", url);
	sq_jbody(&ht_srv, "ReceiveMessage", body, 200, "{}");
	m = receive_one(dlq, NULL, &root);
	cr_assert_str_eq(str(m, "Body"), "poison");
	cJSON_Delete(root);
	snprintf(body, sizeof(body), "{\"QueueUrl\":\"%s\"}", dlq);
	char want[512];
	snprintf(want, sizeof(want), "{\"queueUrls\":[\"%s\"]}", url);
	sq_jbody(&ht_srv, "ListDeadLetterSourceQueues", body, 200, want);
}

Test(http_sqs, requests_show_in_the_metrics_by_route_and_by_action)
{
	char url[160];
	struct th_resp r;

	create("metered", url, sizeof(url));
	cr_assert_eq(th_call(&ht_srv, "GET", "/metrics", NULL, &r), 200);
	cr_assert_not_null(strstr(r.body, "method=\"POST\",route=\"/\",status=\"200\"} 1"), "%s", r.body);
	cr_assert_not_null(strstr(r.body, "\nmmq_sqs_requests_total{action=\"CreateQueue\",status=\"200\"} 1\n"),
			   "%s", r.body);
	cr_assert_null(strstr(r.body, "mmq_sqs_requests_total{action=\"SendMessage\""), "%s", r.body);
	th_resp_free(&r);
	/* An unknown action and a failed one count under their own labels. */
	sq_jerror(&ht_srv, "Frobnicate", "{}", 400, "InvalidAction", "InvalidAction",
		  "The action or operation requested is invalid.");
	sq_jerror(&ht_srv, "SendMessage", "{}", 400, "MissingParameter", "MissingParameter",
		  "The request must contain the parameter QueueUrl.");
	cr_assert_eq(th_call(&ht_srv, "GET", "/metrics", NULL, &r), 200);
	cr_assert_not_null(strstr(r.body, "\nmmq_sqs_requests_total{action=\"unknown\",status=\"400\"} 1\n"),
			   "%s", r.body);
	cr_assert_not_null(strstr(r.body, "\nmmq_sqs_requests_total{action=\"SendMessage\",status=\"400\"} 1\n"),
			   "%s", r.body);
	th_resp_free(&r);
}

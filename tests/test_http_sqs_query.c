/* test_http_sqs_query.c: the SQS Query protocol (form in, XML out), restarts, durability and auth, against a real mmqd. */
#include <criterion/criterion.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "httptest.h"
#include "sqstest.h"

TestSuite(http_sqs_query, .init = ht_start, .fini = ht_stop, .timeout = 60);

#define XMLNS "http://queue.amazonaws.com/doc/2012-11-05/"
/* hashlib.md5(b"hi\r\nthere <&>").hexdigest() */
#define MD5_CRLF "8d9d6230eb86653d0094315fe0fd8ce8"
/* The AWS attribute digest of k: String "v" (see test_http_sqs.c). */
#define MD5_ATTRS_K_V "0a77b0642718c3d9dd47090567d11e0d"

/* request_id returns the x-amzn-RequestId of r (caller frees). */
static char *request_id(const struct th_resp *r)
{
	char *id = th_header(r, "x-amzn-RequestId");

	cr_assert_not_null(id);
	return id;
}

/* expect_xml POSTs form to path and asserts the exact XML answer of action with result (NULL: no Result element). */
static void expect_xml(const char *path, const char *form, const char *action, const char *result)
{
	struct th_resp r;
	char *id, want[8192];

	sq_query(&ht_srv, path, form, 200, &r);
	id = request_id(&r);
	if (result != NULL)
		snprintf(want, sizeof(want),
			 "<?xml version=\"1.0\"?><%sResponse xmlns=\"" XMLNS "\"><%sResult>%s</%sResult>"
			 "<ResponseMetadata><RequestId>%s</RequestId></ResponseMetadata></%sResponse>",
			 action, action, result, action, id, action);
	else
		snprintf(want, sizeof(want),
			 "<?xml version=\"1.0\"?><%sResponse xmlns=\"" XMLNS "\"><ResponseMetadata>"
			 "<RequestId>%s</RequestId></ResponseMetadata></%sResponse>",
			 action, id, action);
	cr_assert_str_eq(r.body, want, "%s", form);
	free(id);
	th_resp_free(&r);
}

/* expect_error asserts the exact XML error answer of form. */
static void expect_error(const char *form, long status, const char *type, const char *code,
			 const char *message)
{
	struct th_resp r;
	char *id, want[2048];

	sq_query(&ht_srv, "/", form, status, &r);
	id = request_id(&r);
	snprintf(want, sizeof(want),
		 "<?xml version=\"1.0\"?><ErrorResponse xmlns=\"" XMLNS "\"><Error><Type>%s</Type>"
		 "<Code>%s</Code><Message>%s</Message><Detail/></Error><RequestId>%s</RequestId>"
		 "</ErrorResponse>",
		 type, code, message, id);
	cr_assert_str_eq(r.body, want, "%s", form);
	free(id);
	th_resp_free(&r);
}

/* create makes queue name with the Query protocol and writes its URL into url. */
static void create(const char *name, char *url, size_t len)
{
	char form[256], result[256];

	sq_url(&ht_srv, name, url, len);
	snprintf(form, sizeof(form), "Action=CreateQueue&Version=2012-11-05&QueueName=%s", name);
	snprintf(result, sizeof(result), "<QueueUrl>%s</QueueUrl>", url);
	expect_xml("/", form, "CreateQueue", result);
}

Test(http_sqs_query, queue_actions_answer_exact_xml)
{
	char a[160], b[160], form[512], result[1024];

	create("qa", a, sizeof(a));
	create("qb", b, sizeof(b));
	snprintf(result, sizeof(result), "<QueueUrl>%s</QueueUrl>", a);
	expect_xml("/", "Action=GetQueueUrl&QueueName=qa", "GetQueueUrl", result);
	snprintf(result, sizeof(result), "<QueueUrl>%s</QueueUrl><QueueUrl>%s</QueueUrl>", a, b);
	expect_xml("/", "Action=ListQueues", "ListQueues", result);
	expect_xml("/", "Action=ListQueues&QueueNamePrefix=none", "ListQueues", "");
	snprintf(form, sizeof(form),
		 "Action=SetQueueAttributes&QueueUrl=%s&Attribute.1.Name=VisibilityTimeout"
		 "&Attribute.1.Value=77&Attribute.2.Name=DelaySeconds&Attribute.2.Value=0",
		 a);
	expect_xml("/", form, "SetQueueAttributes", NULL);
	snprintf(form, sizeof(form),
		 "Action=GetQueueAttributes&QueueUrl=%s&AttributeName.1=VisibilityTimeout&AttributeName.2=QueueArn", a);
	expect_xml("/", form, "GetQueueAttributes",
		   "<Attribute><Name>VisibilityTimeout</Name><Value>77</Value></Attribute>"
		   "<Attribute><Name>QueueArn</Name><Value>arn:aws:sqs:us-east-1:000000000000:qa</Value></Attribute>");
	snprintf(form, sizeof(form), "Action=PurgeQueue&QueueUrl=%s", a);
	expect_xml("/", form, "PurgeQueue", NULL);
	snprintf(form, sizeof(form), "Action=DeleteQueue&QueueUrl=%s", a);
	expect_xml("/", form, "DeleteQueue", NULL);
	expect_error("Action=GetQueueUrl&QueueName=qa", 400, "Sender",
		     "AWS.SimpleQueueService.NonExistentQueue", "The specified queue does not exist.");
	expect_error("Action=CreateQueue&QueueName=qb&Attribute.1.Name=DelaySeconds&Attribute.1.Value=5",
		     400, "Sender", "QueueAlreadyExists",
		     "A queue already exists with the same name and a different value for attribute(s).");
	expect_error("Action=Frobnicate", 400, "Sender", "InvalidAction",
		     "The action or operation requested is invalid.");
	expect_error("Version=2012-11-05", 400, "Sender", "MissingParameter",
		     "The request must contain the parameter Action.");
}

Test(http_sqs_query, messages_round_trip_with_attributes_and_xml_escapes)
{
	char url[160], form[1024], *md5, *handle, *body;
	struct th_resp r;

	create("qm", url, sizeof(url));
	/* "hi\r\nthere <&>" form-encoded, with one String attribute. */
	snprintf(form, sizeof(form),
		 "Action=SendMessage&QueueUrl=%s&MessageBody=hi%%0D%%0Athere+%%3C%%26%%3E"
		 "&MessageAttribute.1.Name=k&MessageAttribute.1.Value.DataType=String"
		 "&MessageAttribute.1.Value.StringValue=v",
		 url);
	sq_query(&ht_srv, "/", form, 200, &r);
	md5 = sq_between(r.body, "<MD5OfMessageBody>", "</MD5OfMessageBody>");
	cr_assert_str_eq(md5, MD5_CRLF);
	free(md5);
	md5 = sq_between(r.body, "<MD5OfMessageAttributes>", "</MD5OfMessageAttributes>");
	cr_assert_str_eq(md5, MD5_ATTRS_K_V);
	free(md5);
	th_resp_free(&r);
	snprintf(form, sizeof(form),
		 "Action=ReceiveMessage&QueueUrl=%s&MessageAttributeName.1=All&AttributeName.1=ApproximateReceiveCount",
		 url);
	sq_query(&ht_srv, "/", form, 200, &r);
	/* The CR survives XML parsing as a character reference. */
	body = sq_between(r.body, "<Body>", "</Body>");
	cr_assert_str_eq(body, "hi&#xD;\nthere &lt;&amp;&gt;");
	free(body);
	md5 = sq_between(r.body, "<MD5OfBody>", "</MD5OfBody>");
	cr_assert_str_eq(md5, MD5_CRLF);
	free(md5);
	cr_assert_not_null(strstr(r.body, "<Attribute><Name>ApproximateReceiveCount</Name><Value>1</Value></Attribute>"),
			   "%s", r.body);
	cr_assert_not_null(strstr(r.body, "<MD5OfMessageAttributes>" MD5_ATTRS_K_V "</MD5OfMessageAttributes>"
					  "<MessageAttribute><Name>k</Name><Value><DataType>String</DataType>"
					  "<StringValue>v</StringValue></Value></MessageAttribute>"),
			   "%s", r.body);
	handle = sq_between(r.body, "<ReceiptHandle>", "</ReceiptHandle>");
	cr_assert_not_null(handle);
	th_resp_free(&r);
	snprintf(form, sizeof(form), "Action=DeleteMessage&QueueUrl=%s&ReceiptHandle=%s", url, handle);
	expect_xml("/", form, "DeleteMessage", NULL);
	free(handle);
	snprintf(form, sizeof(form), "Action=ReceiveMessage&QueueUrl=%s", url);
	expect_xml("/", form, "ReceiveMessage", "");
}

/* quotes_form returns a SendMessage form to url whose body is n quotes, form-encoded (caller frees). */
static char *quotes_form(const char *url, size_t n)
{
	char *form = malloc(256 + 3 * n);
	int k;

	cr_assert_not_null(form);
	k = snprintf(form, 256, "Action=SendMessage&QueueUrl=%s&MessageBody=", url);
	for (size_t i = 0; i < n; i++)
		memcpy(form + k + 3 * i, "%22", 3);
	form[k + 3 * n] = '\0';
	return form;
}

Test(http_sqs_query, a_body_of_exactly_maximum_message_size_is_stored_whatever_its_escapes)
{
	char url[160], body[256], want[1100], *form;
	struct th_resp r;
	cJSON *j, *m;

	create("qlim", url, sizeof(url));
	snprintf(body, sizeof(body),
		 "Action=SetQueueAttributes&QueueUrl=%s&Attribute.1.Name=MaximumMessageSize&Attribute.1.Value=1024",
		 url);
	expect_xml("/", body, "SetQueueAttributes", NULL);
	/* 1024 quotes: SQS counts 1024 bytes, the stored envelope holds over 2048. */
	form = quotes_form(url, 1024);
	sq_query(&ht_srv, "/", form, 200, &r);
	th_resp_free(&r);
	free(form);
	form = quotes_form(url, 1025);
	expect_error(form, 400, "Sender", "InvalidParameterValue",
		     "One or more parameters are invalid. Reason: Message must be shorter than 1025 bytes.");
	free(form);
	memset(want, '"', 1024);
	want[1024] = '\0';
	snprintf(body, sizeof(body), "{\"QueueUrl\":\"%s\"}", url);
	j = sq_jobj(&ht_srv, "ReceiveMessage", body, 200);
	cr_assert_eq(cJSON_GetArraySize(cJSON_GetObjectItem(j, "Messages")), 1);
	m = cJSON_GetArrayItem(cJSON_GetObjectItem(j, "Messages"), 0);
	cr_assert_str_eq(cJSON_GetObjectItem(m, "Body")->valuestring, want);
	cJSON_Delete(j);
}

Test(http_sqs_query, batches_answer_their_entry_elements)
{
	char url[160], form[1024];
	struct th_resp r;

	create("qbatch", url, sizeof(url));
	snprintf(form, sizeof(form),
		 "Action=SendMessageBatch&QueueUrl=%s"
		 "&SendMessageBatchRequestEntry.2.Id=two&SendMessageBatchRequestEntry.2.MessageBody=b"
		 "&SendMessageBatchRequestEntry.1.Id=one&SendMessageBatchRequestEntry.1.MessageBody=a"
		 "&SendMessageBatchRequestEntry.3.Id=bad",
		 url);
	/* Entries come in the order of their numbers, whatever the order of the fields. */
	sq_query(&ht_srv, "/", form, 200, &r);
	cr_assert_not_null(strstr(r.body, "<SendMessageBatchResult><SendMessageBatchResultEntry><Id>one</Id>"
					  "<MD5OfMessageBody>0cc175b9c0f1b6a831c399e269772661</MD5OfMessageBody>"),
			   "%s", r.body);
	cr_assert_not_null(strstr(r.body, "<SendMessageBatchResultEntry><Id>two</Id>"
					  "<MD5OfMessageBody>92eb5ffee6ae2fec3ad71c777531578f</MD5OfMessageBody>"),
			   "%s", r.body);
	cr_assert_not_null(strstr(r.body, "<BatchResultErrorEntry><Id>bad</Id><SenderFault>true</SenderFault>"
					  "<Code>MissingParameter</Code><Message>The request must contain the "
					  "parameter MessageBody.</Message></BatchResultErrorEntry></SendMessageBatchResult>"),
			   "%s", r.body);
	th_resp_free(&r);
	snprintf(form, sizeof(form), "Action=SendMessageBatch&QueueUrl=%s", url);
	expect_error(form, 400, "Sender", "MissingParameter",
		     "There should be at least one entry in the request.");
	snprintf(form, sizeof(form),
		 "Action=DeleteMessageBatch&QueueUrl=%s&DeleteMessageBatchRequestEntry.1.Id=x"
		 "&DeleteMessageBatchRequestEntry.1.ReceiptHandle=junk", url);
	expect_xml("/", form, "DeleteMessageBatch",
		   "<BatchResultErrorEntry><Id>x</Id><SenderFault>true</SenderFault><Code>"
		   "ReceiptHandleIsInvalid</Code><Message>The input receipt handle &quot;junk&quot; is not a "
		   "valid receipt handle.</Message></BatchResultErrorEntry>");
}

Test(http_sqs_query, requests_sent_to_the_queue_url_need_no_queue_url_parameter)
{
	char url[160], path[128];
	struct th_resp r;

	create("byurl", url, sizeof(url));
	snprintf(path, sizeof(path), "/000000000000/byurl");
	sq_query(&ht_srv, path, "Action=SendMessage&MessageBody=direct", 200, &r);
	th_resp_free(&r);
	sq_query(&ht_srv, path, "Action=ReceiveMessage", 200, &r);
	cr_assert_not_null(strstr(r.body, "<Body>direct</Body>"), "%s", r.body);
	th_resp_free(&r);
	/* GET with the parameters in the URL, as the oldest clients send. */
	cr_assert_eq(th_call(&ht_srv, "GET", "/000000000000/byurl?Action=GetQueueAttributes&AttributeName.1=ApproximateNumberOfMessagesNotVisible", NULL, &r), 200);
	cr_assert_not_null(strstr(r.body, "<Attribute><Name>ApproximateNumberOfMessagesNotVisible</Name><Value>1</Value></Attribute>"),
			   "%s", r.body);
	th_resp_free(&r);
}

/* restart stops srv with sig and starts it again on the same data, with extra arguments. */
static void restart(struct th_server *srv, int sig, const char *const *extra)
{
	th_stop(srv, sig);
	cr_assert(th_start(srv, extra), "mmqd did not restart");
}

Test(http_sqs_query, messages_and_queue_attributes_survive_restarts)
{
	char url[160], form[512];
	struct th_resp r;
	const char *const always[] = { "--sync", "always", NULL };

	create("keep", url, sizeof(url));
	snprintf(form, sizeof(form),
		 "Action=SetQueueAttributes&QueueUrl=%s&Attribute.1.Name=DelaySeconds&Attribute.1.Value=0"
		 "&Attribute.2.Name=ReceiveMessageWaitTimeSeconds&Attribute.2.Value=2", url);
	expect_xml("/", form, "SetQueueAttributes", NULL);
	snprintf(form, sizeof(form),
		 "Action=SendMessage&QueueUrl=%s&MessageBody=durable&MessageAttribute.1.Name=k"
		 "&MessageAttribute.1.Value.DataType=String&MessageAttribute.1.Value.StringValue=v", url);
	sq_query(&ht_srv, "/", form, 200, &r);
	th_resp_free(&r);
	restart(&ht_srv, SIGTERM, always);
	/* The port may differ after a restart: the URL is built from the new Host. */
	sq_url(&ht_srv, "keep", url, sizeof(url));
	snprintf(form, sizeof(form), "Action=SendMessage&QueueUrl=%s&MessageBody=acked", url);
	sq_query(&ht_srv, "/", form, 200, &r);
	th_resp_free(&r);
	/* With --sync always an answered send survives a kill. */
	restart(&ht_srv, SIGKILL, NULL);
	sq_url(&ht_srv, "keep", url, sizeof(url));
	snprintf(form, sizeof(form),
		 "Action=GetQueueAttributes&QueueUrl=%s&AttributeName.1=ReceiveMessageWaitTimeSeconds"
		 "&AttributeName.2=ApproximateNumberOfMessages", url);
	expect_xml("/", form, "GetQueueAttributes",
		   "<Attribute><Name>ApproximateNumberOfMessages</Name><Value>2</Value></Attribute>"
		   "<Attribute><Name>ReceiveMessageWaitTimeSeconds</Name><Value>2</Value></Attribute>");
	snprintf(form, sizeof(form),
		 "Action=ReceiveMessage&QueueUrl=%s&MaxNumberOfMessages=10&MessageAttributeName.1=All", url);
	sq_query(&ht_srv, "/", form, 200, &r);
	cr_assert_not_null(strstr(r.body, "<Body>durable</Body>"), "%s", r.body);
	cr_assert_not_null(strstr(r.body, "<Body>acked</Body>"), "%s", r.body);
	cr_assert_not_null(strstr(r.body, "<MD5OfMessageAttributes>" MD5_ATTRS_K_V), "%s", r.body);
	th_resp_free(&r);
}

/* An mmqd with an auth token (and maybe an SQS access key), started by the test itself. */
static void auth_server(struct th_server *srv, const char *const *extra)
{
	char path[512];
	char *file;

	th_setup(srv);
	snprintf(path, sizeof(path), "%s/token", srv->dir);
	ht_write_text(path, "sekrit\n");
	file = strdup(path);
	const char *args[8] = { "--auth-token-file", file, NULL };
	for (int i = 0; extra != NULL && extra[i] != NULL && i < 5; i++)
		args[2 + i] = extra[i];
	cr_assert(th_start(srv, args), "mmqd did not start");
	free(file);
}

Test(http_sqs_query, an_auth_token_requires_the_configured_access_key)
{
	struct th_server srv;
	struct th_resp r;
	char *h;

	auth_server(&srv, NULL);
	sq_json(&srv, "ListQueues", NULL, NULL, 403, &r);
	cr_assert_str_eq(r.body, "{\"__type\":\"com.amazonaws.sqs#MissingAuthenticationToken\",\"message\":"
				 "\"The request must contain an AWS4-HMAC-SHA256 Authorization header.\"}");
	h = th_header(&r, "x-amzn-query-error");
	cr_assert_str_eq(h, "MissingAuthenticationToken;Sender");
	free(h);
	th_resp_free(&r);
	sq_json(&srv, "ListQueues", NULL, SQ_AUTH("wrong"), 403, &r);
	cr_assert_str_eq(r.body, "{\"__type\":\"com.amazonaws.sqs#InvalidClientTokenId\",\"message\":"
				 "\"The security token included in the request is invalid.\"}");
	th_resp_free(&r);
	/* The bearer token is no SQS credential, and the access key is no v1 one. */
	sq_json(&srv, "ListQueues", NULL, "Authorization: Bearer sekrit", 403, &r);
	th_resp_free(&r);
	sq_json(&srv, "ListQueues", NULL, SQ_AUTH("sekrit"), 200, &r);
	cr_assert_str_eq(r.body, "{}");
	th_resp_free(&r);
	const char *bearer[] = { SQ_AUTH("sekrit"), NULL };
	cr_assert_eq(th_req(&srv, "GET", "/v1/queues", NULL, 0, bearer, &r), 401);
	th_resp_free(&r);
	th_teardown(&srv);
}

Test(http_sqs_query, a_configured_access_key_replaces_the_token_for_sqs)
{
	struct th_server srv;
	struct th_resp r;
	const char *const extra[] = { "--sqs-access-key", "AKIDLOCAL", NULL };
	const char *headers[] = { "Content-Type: application/x-www-form-urlencoded",
				  SQ_AUTH("AKIDLOCAL"), NULL };

	auth_server(&srv, extra);
	sq_json(&srv, "ListQueues", NULL, SQ_AUTH("sekrit"), 403, &r);
	th_resp_free(&r);
	sq_json(&srv, "CreateQueue", "{\"QueueName\":\"authq\"}", SQ_AUTH("AKIDLOCAL"), 200, &r);
	th_resp_free(&r);
	/* Query requests are checked the same way, and answered in XML. */
	cr_assert_eq(th_req(&srv, "POST", "/", "Action=GetQueueUrl&QueueName=authq", 34, headers, &r), 200);
	cr_assert_not_null(strstr(r.body, "/000000000000/authq</QueueUrl>"), "%s", r.body);
	th_resp_free(&r);
	sq_query(&srv, "/", "Action=ListQueues", 403, &r);
	cr_assert_not_null(strstr(r.body, "<Code>MissingAuthenticationToken</Code>"), "%s", r.body);
	th_resp_free(&r);
	th_teardown(&srv);
}

/*
 * An independent SigV4 signer in Python's standard library (hmac, hashlib),
 * after the AWS documentation: argv is secret, access key, host, JSON body,
 * target; it prints the X-Amz-Date and Authorization header lines.
 */
static const char signer[] =
	"import datetime, hashlib, hmac, sys\n"
	"secret, key, host, body, target = sys.argv[1:6]\n"
	"now = datetime.datetime.now(datetime.timezone.utc)\n"
	"amz, day = now.strftime('%Y%m%dT%H%M%SZ'), now.strftime('%Y%m%d')\n"
	"ctype = 'application/x-amz-json-1.0'\n"
	"signed = 'content-type;host;x-amz-date;x-amz-target'\n"
	"canon = '\\n'.join(['POST', '/', '', 'content-type:' + ctype, 'host:' + host,\n"
	"    'x-amz-date:' + amz, 'x-amz-target:' + target, '', signed,\n"
	"    hashlib.sha256(body.encode()).hexdigest()])\n"
	"scope = day + '/eu-west-1/sqs/aws4_request'\n"
	"sts = '\\n'.join(['AWS4-HMAC-SHA256', amz, scope, hashlib.sha256(canon.encode()).hexdigest()])\n"
	"k = ('AWS4' + secret).encode()\n"
	"for part in (day, 'eu-west-1', 'sqs', 'aws4_request'):\n"
	"    k = hmac.new(k, part.encode(), hashlib.sha256).digest()\n"
	"sig = hmac.new(k, sts.encode(), hashlib.sha256).hexdigest()\n"
	"print('X-Amz-Date: ' + amz)\n"
	"print('Authorization: AWS4-HMAC-SHA256 Credential=' + key + '/' + scope +\n"
	"      ', SignedHeaders=' + signed + ', Signature=' + sig)\n";

/* signed_call signs body for target with secret using the Python signer and sends it (body sent may differ). */
static long signed_call(struct th_server *srv, const char *secret, const char *body,
			const char *sent, struct th_resp *r)
{
	char script[512], out[512], host[64], target_hdr[96];
	const char *target = "AmazonSQS.ListQueues";
	char *text, *nl;
	int status;
	pid_t pid;

	snprintf(script, sizeof(script), "%s/sign.py", srv->dir);
	snprintf(out, sizeof(out), "%s/sign.out", srv->dir);
	ht_write_text(script, signer);
	snprintf(host, sizeof(host), "127.0.0.1:%u", (unsigned)srv->port);
	pid = ht_spawn((const char *const[]){ "/usr/bin/python3", script, secret, "AKIDLOCAL", host,
					      body, target, NULL },
		       NULL, out);
	cr_assert_eq(waitpid(pid, &status, 0), pid);
	cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "the signer failed");
	text = th_read_text(out);
	nl = strchr(text, '\n');
	cr_assert_not_null(nl, "%s", text);
	*nl = '\0';
	nl[strcspn(nl + 1, "\n") + 1] = '\0';
	snprintf(target_hdr, sizeof(target_hdr), "X-Amz-Target: %s", target);
	const char *headers[] = { "Content-Type: application/x-amz-json-1.0", target_hdr, text, nl + 1,
				  NULL };
	th_req(srv, "POST", "/", sent, strlen(sent), headers, r);
	free(text);
	return r->status;
}

Test(http_sqs_query, a_secret_key_makes_signatures_checked_for_real)
{
	struct th_server srv;
	struct th_resp r;
	const char *const extra[] = { "--sqs-access-key", "AKIDLOCAL", "--sqs-secret-key", "s3cr3t", NULL };

	auth_server(&srv, extra);
	cr_assert_eq(signed_call(&srv, "s3cr3t", "{}", "{}", &r), 200, "%s", r.body);
	cr_assert_str_eq(r.body, "{}");
	th_resp_free(&r);
	/* Another secret, or another body than the one signed: refused. */
	cr_assert_eq(signed_call(&srv, "other", "{}", "{}", &r), 403);
	cr_assert_str_eq(r.body, "{\"__type\":\"com.amazonaws.sqs#SignatureDoesNotMatch\",\"message\":"
				 "\"The request signature we calculated does not match the signature you provided.\"}");
	th_resp_free(&r);
	cr_assert_eq(signed_call(&srv, "s3cr3t", "{}", "{\"QueueNamePrefix\":\"a\"}", &r), 403);
	th_resp_free(&r);
	/* The access key alone no longer does. */
	sq_json(&srv, "ListQueues", NULL, SQ_AUTH("AKIDLOCAL"), 403, &r);
	th_resp_free(&r);
	th_teardown(&srv);
}

Test(http_sqs_query, hostile_forms_are_refused_or_ignored_cheaply)
{
	size_t cap = 5000 * 12 + 64, n = 0;
	char *form = malloc(cap);
	struct th_resp r;

	cr_assert_not_null(form);
	/* More parameters than any SQS request has. */
	n += (size_t)snprintf(form, cap, "Action=ListQueues");
	for (int i = 0; i < 5000; i++)
		n += (size_t)snprintf(form + n, cap - n, "&p%d=x", i);
	expect_error(form, 400, "Sender", "InvalidParameterValue",
		     "The request has more parameters than any SQS action takes.");
	/* A NUL is refused, not cut off. */
	expect_error("Action=SendMessage&QueueUrl=x&MessageBody=a%00b", 400, "Sender",
		     "InvalidMessageContents",
		     "Invalid characters found. A request may not hold the character #x0.");
	/* A name of many dots is dropped, not followed. */
	n = (size_t)snprintf(form, cap, "Action=ListQueues&");
	for (int i = 0; i < 20000 && n + 3 < cap; i++)
		form[n++] = i % 2 ? '.' : 'a';
	strcpy(form + n, "=1");
	sq_query(&ht_srv, "/", form, 200, &r);
	th_resp_free(&r);
	free(form);
}

/* sqs_router.c: the Amazon SQS endpoint: protocol detection, the action table, auth, and answers. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "sqs.h"

#define JSON_TYPE "application/x-amz-json-1.0"
#define XML_TYPE "text/xml"
#define TARGET_PREFIX "AmazonSQS."

/* Every action, by name; the Query answer's batch entry element and whether it has a Result. */
static const struct sqs_action actions[] = {
	{ "CreateQueue", sqs_create_queue, NULL, true },
	{ "GetQueueUrl", sqs_get_queue_url, NULL, true },
	{ "ListQueues", sqs_list_queues, NULL, true },
	{ "DeleteQueue", sqs_delete_queue, NULL, false },
	{ "PurgeQueue", sqs_purge_queue, NULL, false },
	{ "GetQueueAttributes", sqs_get_queue_attributes, NULL, true },
	{ "SetQueueAttributes", sqs_set_queue_attributes, NULL, false },
	{ "ListDeadLetterSourceQueues", sqs_list_dead_letter_sources, NULL, true },
	{ "SendMessage", sqs_send_message, NULL, true },
	{ "SendMessageBatch", sqs_send_message_batch, "SendMessageBatchResultEntry", true },
	{ "ReceiveMessage", sqs_receive_message, NULL, true },
	{ "DeleteMessage", sqs_delete_message, NULL, false },
	{ "DeleteMessageBatch", sqs_delete_message_batch, "DeleteMessageBatchResultEntry", true },
	{ "ChangeMessageVisibility", sqs_change_visibility, NULL, false },
	{ "ChangeMessageVisibilityBatch", sqs_change_visibility_batch,
	  "ChangeMessageVisibilityBatchResultEntry", true },
};

/* Actions SQS has and mmqd does not: answered UnsupportedOperation rather than as unknown. */
static const char *const unsupported[] = {
	"TagQueue",	      "UntagQueue",	  "ListQueueTags",
	"AddPermission",      "RemovePermission", "StartMessageMoveTask",
	"CancelMessageMoveTask", "ListMessageMoveTasks",
};

#define ACTION_COUNT (sizeof(actions) / sizeof(actions[0]))
#define UNSUPPORTED_COUNT (sizeof(unsupported) / sizeof(unsupported[0]))

static const struct sqs_action *action_find(const char *name)
{
	for (size_t i = 0; name != NULL && i < ACTION_COUNT; i++) {
		if (strcmp(actions[i].name, name) == 0)
			return &actions[i];
	}
	return NULL;
}

static bool action_unsupported(const char *name)
{
	for (size_t i = 0; name != NULL && i < UNSUPPORTED_COUNT; i++) {
		if (strcmp(unsupported[i], name) == 0)
			return true;
	}
	return false;
}

/* header returns request header name of req, NULL when absent. */
static const char *header(struct api_req *req, const char *name)
{
	return MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND, name);
}

/*
 * request_id makes a fresh id in the shape of a UUID: the server's start time
 * and a counter, so no two requests of one server share one.
 */
static void request_id(char out[40])
{
	static atomic_uint_fast64_t counter;
	static uint64_t boot;
	uint64_t n = atomic_fetch_add(&counter, 1);

	if (boot == 0)
		boot = api_now_ms();
	snprintf(out, 40, "%08x-%04x-4%03x-a%03x-%012llx", (unsigned)(boot & 0xffffffffu),
		 (unsigned)((boot >> 32) & 0xffffu), (unsigned)((n >> 48) & 0xfffu),
		 (unsigned)((n >> 36) & 0xfffu), (unsigned long long)(n & 0xffffffffffffull));
}

/* call_new makes the SQS state of req: protocol, request id and origin. NULL when out of memory. */
static struct sqs_call *call_new(struct api_req *req)
{
	struct sqs_call *c = calloc(1, sizeof(*c));
	const char *target = header(req, "X-Amz-Target");
	const char *type = header(req, MHD_HTTP_HEADER_CONTENT_TYPE);
	const char *host = header(req, MHD_HTTP_HEADER_HOST);

	if (c == NULL)
		return NULL;
	c->req = req;
	c->proto = (target != NULL || (type != NULL && strstr(type, "amz-json") != NULL)) ? SQS_JSON
											 : SQS_QUERY;
	request_id(c->request_id);
	/* A Host header that could break out of a URL or an XML text is not used. */
	if (host == NULL || host[0] == '\0' || strlen(host) > 255 || strpbrk(host, "/<>&\"' ?#") != NULL)
		host = "localhost";
	snprintf(c->origin, sizeof(c->origin), "%s://%s", req->srv->tls ? "https" : "http", host);
	req->sqs = c;
	return c;
}

void api_sqs_free(struct sqs_call *c)
{
	if (c == NULL)
		return;
	cJSON_Delete(c->in);
	cJSON_Delete(c->out);
	cJSON_Delete(c->attribute_names);
	free(c);
}

/* respond queues body with the SQS headers: the request id, and for JSON errors the legacy code. */
static enum api_step respond(struct sqs_call *c, unsigned status, struct jbuf *body,
			     const char *query_error)
{
	const char *headers[] = { "x-amzn-RequestId", c->request_id, "x-amzn-query-error",
				  query_error, NULL };

	if (query_error == NULL)
		headers[2] = NULL;
	return api_respond_body(c->req, status, body, c->proto == SQS_JSON ? JSON_TYPE : XML_TYPE,
				headers);
}

enum api_step sqs_fail(struct sqs_call *c, enum sqs_err e, const char *message)
{
	const struct sqs_error_info *info = sqs_error_get(e);
	char query_error[128];
	struct jbuf b;

	if (message == NULL)
		message = c->message != NULL ? c->message : info->message;
	jb_init(&b);
	if (c->proto == SQS_QUERY) {
		sqs_query_error(c, info, message, &b);
		return respond(c, info->status, &b, NULL);
	}
	jb_lit(&b, "{\"__type\":\"com.amazonaws.sqs#");
	jb_lit(&b, info->json_name);
	jb_lit(&b, "\",\"message\":");
	jb_str(&b, message);
	jb_lit(&b, "}");
	snprintf(query_error, sizeof(query_error), "%s;%s", info->query_code,
		 info->receiver ? "Receiver" : "Sender");
	return respond(c, info->status, &b, query_error);
}

enum api_step sqs_failf(struct sqs_call *c, enum sqs_err e, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(c->message_buf, sizeof(c->message_buf), fmt, ap);
	va_end(ap);
	return sqs_fail(c, e, c->message_buf);
}

enum api_step sqs_queue_err(struct sqs_call *c, enum queue_err err, const char *what)
{
	enum sqs_err e = sqs_error_from_queue(err);

	if (sqs_error_get(e)->receiver)
		api_logf(c->req->srv, API_LOG_ERROR, "%s on queue \"%s\": %s", what, c->queue,
			 queue_strerror(err));
	return sqs_fail(c, e, NULL);
}

enum api_step api_sqs_error(struct api_req *req, enum api_error e)
{
	struct sqs_call *c = req->sqs != NULL ? req->sqs : call_new(req);
	enum sqs_err se = sqs_error_from_api(e);

	if (c == NULL) {
		/* Without memory for the SQS state, the plain error is still an answer. */
		struct jbuf b;
		jb_init(&b);
		return api_respond_body(req, 500, &b, JSON_TYPE, NULL);
	}
	/* Which of the two auth errors: no credentials at all, or the wrong ones. */
	if (e == API_E_SQS_DENIED && header(req, MHD_HTTP_HEADER_AUTHORIZATION) == NULL)
		se = SQS_E_MISSING_AUTH;
	return sqs_fail(c, se, NULL);
}

void sqs_render(struct sqs_call *c, struct jbuf *b)
{
	if (c->proto == SQS_QUERY) {
		sqs_query_render(c, b);
		return;
	}
	if (c->out == NULL) {
		jb_lit(b, "{}");
	} else {
		char *text = cJSON_PrintUnformatted(c->out);
		if (text == NULL)
			b->oom = true;
		else
			jb_lit(b, text);
		free(text);
	}
}

enum api_step sqs_ok(struct sqs_call *c)
{
	return sqs_ok_durable(c, NULL, 0);
}

enum api_step sqs_ok_durable(struct sqs_call *c, struct queue_ticket *tickets, size_t n)
{
	struct api_req *req = c->req;
	struct jbuf b;

	jb_init(&b);
	sqs_render(c, &b);
	if (b.oom) {
		jb_free(&b);
		for (size_t i = 0; i < n; i++)
			api_ticket_drop(&tickets[i]);
		return sqs_fail(c, SQS_E_INTERNAL, NULL);
	}
	/* The held-back answer carries the SQS type and request id. */
	c->message = NULL;
	req->pend_type = c->proto == SQS_JSON ? JSON_TYPE : XML_TYPE;
	c->pend_headers[0] = "x-amzn-RequestId";
	c->pend_headers[1] = c->request_id;
	c->pend_headers[2] = NULL;
	req->pend_headers = c->pend_headers;
	return api_respond_durable_n(req, tickets, n, 200, &b);
}

/*
 * access_key finds the access key of an "AWS4-HMAC-SHA256 Credential=KEY/date/..."
 * Authorization header; false when the header has no such credential.
 */
static bool access_key(const char *h, const char **key, size_t *len)
{
	const char *p;

	if (h == NULL || strncmp(h, "AWS4-HMAC-SHA256", 16) != 0)
		return false;
	p = strstr(h, "Credential=");
	if (p == NULL)
		return false;
	p += 11;
	*key = p;
	*len = strcspn(p, "/, ");
	return *len > 0 && p[*len] == '/';
}

bool api_sqs_auth_ok(struct api_req *req)
{
	const struct api_server *srv = req->srv;
	const char *key = NULL;
	size_t len = 0, want = strlen(srv->sqs_access_key);
	unsigned diff;

	if (!access_key(header(req, MHD_HTTP_HEADER_AUTHORIZATION), &key, &len))
		return false;
	/* Constant time over the configured key, whatever was given. */
	diff = len != want;
	for (size_t i = 0; i < want; i++)
		diff |= (unsigned char)srv->sqs_access_key[i] ^ (i < len ? (unsigned char)key[i] : 0u);
	return diff == 0;
}

/* parse_in reads the request's parameters in its protocol, and its action. */
static enum sqs_err parse_in(struct sqs_call *c, const char **action)
{
	struct api_req *req = c->req;
	const char *body = req->body.data != NULL ? req->body.data : "";

	if (c->proto == SQS_JSON) {
		const char *target = header(req, "X-Amz-Target");
		c->in = req->body.len > 0 ? cJSON_ParseWithLength(body, req->body.len)
					  : cJSON_CreateObject();
		if (c->in == NULL || !cJSON_IsObject(c->in)) {
			c->message = "The request body is not a JSON object.";
			return SQS_E_INVALID_PARAMETER_VALUE;
		}
		*action = target != NULL && strncmp(target, TARGET_PREFIX, strlen(TARGET_PREFIX)) == 0
				  ? target + strlen(TARGET_PREFIX)
				  : target;
		return SQS_OK;
	}
	c->in = sqs_query_parse(req, body, req->body.len);
	if (c->in == NULL)
		return SQS_E_INTERNAL;
	*action = sqs_str(c->in, "Action");
	return SQS_OK;
}

enum api_step api_h_sqs(struct api_req *req)
{
	struct sqs_call *c = call_new(req);
	const char *name = NULL;
	enum sqs_err e;

	if (c == NULL)
		return api_sqs_error(req, API_E_INTERNAL);
	e = parse_in(c, &name);
	if (e != SQS_OK)
		return sqs_fail(c, e, NULL);
	c->action = action_find(name);
	if (c->action != NULL)
		return c->action->fn(c);
	if (action_unsupported(name))
		return sqs_failf(c, SQS_E_UNSUPPORTED_OPERATION, "mmqd does not support %s.", name);
	if (name == NULL)
		return sqs_fail(c, SQS_E_MISSING_PARAMETER,
				"The request must contain the parameter Action.");
	return sqs_fail(c, SQS_E_INVALID_ACTION, "The action or operation requested is invalid.");
}

/* Parameters and queues. */

const char *sqs_str(const cJSON *in, const char *name)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(in, name);

	return cJSON_IsString(v) ? v->valuestring : NULL;
}

bool sqs_int_value(const cJSON *v, int64_t min, int64_t max, int64_t def, int64_t *out)
{
	int64_t n = 0;

	if (v == NULL || cJSON_IsNull(v)) {
		*out = def;
		return true;
	}
	if (cJSON_IsNumber(v)) {
		if (v->valuedouble != (double)(int64_t)v->valuedouble)
			return false;
		n = (int64_t)v->valuedouble;
	} else if (cJSON_IsString(v)) {
		const char *s = v->valuestring;
		bool neg = *s == '-';
		s += neg;
		if (*s == '\0' || strlen(s) > 15)
			return false;
		for (; *s; s++) {
			if (*s < '0' || *s > '9')
				return false;
			n = n * 10 + (*s - '0');
		}
		n = neg ? -n : n;
	} else {
		return false;
	}
	if (n < min || n > max)
		return false;
	*out = n;
	return true;
}

bool sqs_int(const cJSON *obj, const char *name, int64_t min, int64_t max, int64_t def,
	     int64_t *out)
{
	return sqs_int_value(cJSON_GetObjectItemCaseSensitive(obj, name), min, max, def, out);
}

void sqs_queue_url(struct sqs_call *c, struct jbuf *b, const char *name)
{
	jb_lit(b, c->origin);
	jb_lit(b, "/" SQS_ACCOUNT "/");
	jb_lit(b, name);
}

cJSON *sqs_queue_url_json(struct sqs_call *c, const char *name)
{
	char url[sizeof(c->origin) + QUEUE_NAME_MAX + 20];

	snprintf(url, sizeof(url), "%s/%s/%s", c->origin, SQS_ACCOUNT, name);
	return cJSON_CreateString(url);
}

enum sqs_err sqs_resolve(struct sqs_call *c)
{
	const char *url = sqs_str(c->in, "QueueUrl");
	const char *name;
	size_t n;
	enum queue_err err;

	if (url == NULL && c->req->path.queue[0] != '\0') {
		name = c->req->path.queue;
		n = strlen(name);
	} else if (url != NULL) {
		/* Any URL will do: its last path segment names the queue. */
		n = strlen(url);
		while (n > 0 && url[n - 1] == '/')
			n--;
		name = url + n;
		while (name > url && name[-1] != '/')
			name--;
		n = (size_t)(url + n - name);
	} else {
		c->message = "The request must contain the parameter QueueUrl.";
		return SQS_E_MISSING_PARAMETER;
	}
	c->message = "The specified queue does not exist.";
	if (n == 0 || n > QUEUE_NAME_MAX)
		return SQS_E_QUEUE_DOES_NOT_EXIST;
	memcpy(c->queue, name, n);
	c->queue[n] = '\0';
	err = queue_get_settings(c->req->srv->store, c->queue, &c->settings);
	if (err == QUEUE_NOTFOUND || err == QUEUE_BADNAME)
		return SQS_E_QUEUE_DOES_NOT_EXIST;
	c->message = NULL;
	return err == QUEUE_OK ? SQS_OK : sqs_error_from_queue(err);
}

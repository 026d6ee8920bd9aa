/* sqs_call.c: one SQS request's life: its state, its answers and errors in either protocol, and its queue. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sqs.h"

#define JSON_TYPE "application/x-amz-json-1.0"
#define XML_TYPE "text/xml"

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
	static atomic_uint_fast64_t counter, boot;
	uint64_t n = atomic_fetch_add(&counter, 1);
	uint_fast64_t b = atomic_load(&boot);

	/* The first request sets the time; any thread may, the first store wins. */
	if (b == 0) {
		uint_fast64_t zero = 0, now = api_now_ms();
		b = atomic_compare_exchange_strong(&boot, &zero, now) ? now : zero;
	}
	snprintf(out, 40, "%08x-%04x-4%03x-a%03x-%012llx", (unsigned)(b & 0xffffffffu),
		 (unsigned)((b >> 32) & 0xffffu), (unsigned)((n >> 48) & 0xfffu),
		 (unsigned)((n >> 36) & 0xfffu), (unsigned long long)(n & 0xffffffffffffull));
}

/* sqs_call_new makes the SQS state of req: protocol, request id and origin. NULL when out of memory. */
struct sqs_call *sqs_call_new(struct api_req *req)
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
	struct sqs_call *c = req->sqs != NULL ? req->sqs : sqs_call_new(req);
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

/*
 * answer_durable sends b (taken over) once the tickets' changes are durable.
 * A body that ran out of memory waits too (a registered waiter must settle
 * before the connection's next request), then answers the internal error
 * (api_respond_body).
 */
static enum api_step answer_durable(struct sqs_call *c, struct queue_ticket *tickets, size_t n,
				    struct jbuf *b)
{
	struct api_req *req = c->req;

	/* The held-back answer carries the SQS type and request id. */
	c->message = NULL;
	req->pend_type = c->proto == SQS_JSON ? JSON_TYPE : XML_TYPE;
	c->pend_headers[0] = "x-amzn-RequestId";
	c->pend_headers[1] = c->request_id;
	c->pend_headers[2] = NULL;
	req->pend_headers = c->pend_headers;
	return api_respond_durable_n(req, tickets, n, 200, b);
}

enum api_step sqs_ok_durable(struct sqs_call *c, struct queue_ticket *tickets, size_t n)
{
	struct jbuf b;

	jb_init(&b);
	sqs_render(c, &b);
	return answer_durable(c, tickets, n, &b);
}

enum api_step sqs_internal_durable(struct sqs_call *c, struct queue_ticket *tickets, size_t n)
{
	struct jbuf b;

	jb_init(&b);
	b.oom = true;
	return answer_durable(c, tickets, n, &b);
}

struct queue_ticket sqs_ticket(struct sqs_call *c, const struct sqs_tickets *k, bool last)
{
	for (size_t i = 0; i < k->n; i++) {
		if (k->t[i].waiting)
			return (struct queue_ticket){ 0 };
	}
	return last ? api_ticket(c->req) : (struct queue_ticket){ 0 };
}

void sqs_ticket_keep(struct sqs_tickets *k, struct queue_ticket *t)
{
	if (k->n > 0 && !k->t[k->n - 1].waiting)
		queue_ticket_release(&k->t[--k->n]);
	k->t[k->n++] = *t;
	*t = (struct queue_ticket){ 0 };
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

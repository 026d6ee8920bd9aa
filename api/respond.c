/* respond.c: queueing responses, waiting for durability, suspending and waking requests. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "internal.h"

#define JSON_TYPE "application/json; charset=utf-8"

void api_logf(struct api_server *srv, enum api_log_level level, const char *fmt, ...)
{
	char line[512];
	va_list ap;

	if (srv->log == NULL)
		return;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	srv->log(level, line);
}

uint64_t api_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

uint64_t api_mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

uint64_t api_mono_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* queue_it hands resp to libmicrohttpd with status and counts it. */
static enum api_step queue_it(struct api_req *req, unsigned status, struct MHD_Response *resp)
{
	if (resp == NULL) {
		api_logf(req->srv, API_LOG_ERROR, "api_respond: out of memory for a response");
		return API_STEP_DONE;
	}
	if (status == 401)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_WWW_AUTHENTICATE, "Bearer");
	if (status == 405)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, req->allow);
	if (status == 429)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_RETRY_AFTER, "1");
	if (atomic_load(&req->srv->stopping))
		MHD_add_response_header(resp, MHD_HTTP_HEADER_CONNECTION, "close");
	req->responded = true;
	if (MHD_queue_response(req->conn, status, resp) != MHD_YES)
		api_logf(req->srv, API_LOG_DEBUG, "api_respond: could not queue a %u response",
			 status);
	MHD_destroy_response(resp);
	if (!req->counted)
		api_metrics_count(&req->srv->metrics, req->route_row, status,
				  api_mono_ns() - req->start_ns);
	if (req->route != NULL && req->route->body == API_BODY_SQS)
		api_metrics_count_sqs(&req->srv->metrics, req->sqs_action, status);
	return API_STEP_DONE;
}

enum api_step api_respond_body(struct api_req *req, unsigned status, struct jbuf *body,
			       const char *type, const char *const *headers)
{
	struct MHD_Response *resp;

	if (body->oom) {
		jb_free(body);
		return api_respond_error(req, API_E_INTERNAL);
	}
	/* The buffer is handed over: libmicrohttpd frees it with free(). */
	resp = MHD_create_response_from_buffer(body->len, body->data, MHD_RESPMEM_MUST_FREE);
	if (resp == NULL) {
		jb_free(body);
		return queue_it(req, status, NULL);
	}
	jb_init(body);
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, type);
	for (size_t i = 0; headers != NULL && headers[i] != NULL; i += 2)
		MHD_add_response_header(resp, headers[i], headers[i + 1]);
	return queue_it(req, status, resp);
}

enum api_step api_respond(struct api_req *req, unsigned status, struct jbuf *body)
{
	if (status == 204) {
		jb_free(body);
		return api_respond_empty(req, status);
	}
	return api_respond_body(req, status, body, JSON_TYPE, NULL);
}

enum api_step api_respond_empty(struct api_req *req, unsigned status)
{
	return queue_it(req, status,
			MHD_create_response_from_buffer(0, NULL, MHD_RESPMEM_PERSISTENT));
}

enum api_step api_respond_error(struct api_req *req, enum api_error e)
{
	const struct api_error_info *info = api_error_get(e);
	struct jbuf b;

	if (req->route != NULL && req->route->error != NULL)
		return req->route->error(req, e);
	jb_init(&b);
	jo_error(&b, info->code, info->message);
	if (b.oom) {
		jb_free(&b);
		return queue_it(req, info->status, NULL);
	}
	return api_respond(req, info->status, &b);
}

enum api_step api_respond_queue_err(struct api_req *req, enum queue_err err, const char *what)
{
	enum api_error e = api_error_from_queue(err);

	if (api_error_get(e)->status >= 500)
		api_logf(req->srv, API_LOG_ERROR, "%s on queue \"%s\": %s", what, req->path.queue,
			 queue_strerror(err));
	return api_respond_error(req, e);
}

void api_wake(struct api_req *req)
{
	pthread_mutex_lock(&req->lock);
	req->woken = true;
	if (req->suspended) {
		req->suspended = false;
		MHD_resume_connection(req->conn);
	}
	pthread_mutex_unlock(&req->lock);
}

bool api_suspend(struct api_req *req)
{
	bool suspended = false;

	pthread_mutex_lock(&req->lock);
	if (!req->woken) {
		req->suspended = true;
		MHD_suspend_connection(req->conn);
		suspended = true;
	}
	pthread_mutex_unlock(&req->lock);
	return suspended;
}

/*
 * on_durable runs when a pending change is settled, in the thread that
 * completed its sync (an engine thread, or a request thread that synced
 * inline). The first error is kept; the last of a request's changes resumes
 * it, under the same lock that stores the result.
 */
static void on_durable(void *ctx, enum queue_err err)
{
	struct api_req *req = ctx;

	pthread_mutex_lock(&req->lock);
	if (req->durable_err == QUEUE_OK)
		req->durable_err = err;
	if (atomic_fetch_sub(&req->durable_left, 1) == 1) {
		req->durable_fired = true;
		if (req->suspended) {
			req->suspended = false;
			MHD_resume_connection(req->conn);
		}
	}
	pthread_mutex_unlock(&req->lock);
}

struct queue_ticket api_ticket(struct api_req *req)
{
	struct queue_ticket t = { 0 };

	pthread_mutex_lock(&req->lock);
	req->durable_fired = false;
	req->durable_err = QUEUE_OK;
	atomic_store(&req->durable_left, 1u);
	pthread_mutex_unlock(&req->lock);
	if (req->cctx != NULL) {
		req->cctx->waiter.fn = on_durable;
		req->cctx->waiter.ctx = req;
		t.waiter = &req->cctx->waiter;
	}
	return t;
}

/* durable_done sends the held-back answer, or 503 when the change could not be made durable. */
static enum api_step durable_done(struct api_req *req)
{
	enum queue_err err;

	pthread_mutex_lock(&req->lock);
	err = req->durable_err;
	pthread_mutex_unlock(&req->lock);
	if (err != QUEUE_OK) {
		jb_free(&req->pend);
		return api_respond_queue_err(req, err, "sync");
	}
	if (req->pend_status == 204 || req->pend_type == NULL)
		return api_respond(req, req->pend_status, &req->pend);
	return api_respond_body(req, req->pend_status, &req->pend, req->pend_type, req->pend_headers);
}

/*
 * register_tickets hands the tickets that carry no registered waiter to
 * queue_ticket_notify() (which allocates one each). With the connection's
 * waiter registered too (armed), they join its count: under the lock
 * on_durable takes, so that a count the waiter may have brought to zero
 * already starts again rather than growing after it fired. Returns false
 * when the request must wait for nothing.
 */
static bool register_tickets(struct api_req *req, struct queue_ticket *tickets, size_t n, bool armed)
{
	unsigned waits = 0;

	for (size_t i = 0; i < n; i++)
		waits += tickets[i].queue != NULL;
	pthread_mutex_lock(&req->lock);
	if (!armed) {
		req->durable_err = QUEUE_OK;
		atomic_store(&req->durable_left, waits);
	} else if (req->durable_fired) {
		atomic_store(&req->durable_left, waits); /* the waiter's result stays in durable_err */
	} else {
		atomic_fetch_add(&req->durable_left, waits);
	}
	req->durable_fired = atomic_load(&req->durable_left) == 0;
	pthread_mutex_unlock(&req->lock);
	for (size_t i = 0; i < n; i++) {
		if (tickets[i].queue != NULL)
			queue_ticket_notify(&tickets[i], on_durable, req);
	}
	return armed || waits > 0;
}

enum api_step api_respond_durable_n(struct api_req *req, struct queue_ticket *tickets, size_t n,
				    unsigned status, struct jbuf *body)
{
	bool armed = false, suspended = false;

	for (size_t i = 0; i < n; i++)
		armed |= tickets[i].waiting;
	req->pend_status = status;
	req->pend = *body;
	jb_init(body);
	/* Nothing to wait for (this thread synced, --sync interval or none, nothing changed): answer now. */
	if (!register_tickets(req, tickets, n, armed))
		return durable_done(req);
	pthread_mutex_lock(&req->lock);
	if (!req->durable_fired) {
		req->suspended = true;
		MHD_suspend_connection(req->conn);
		suspended = true;
	}
	pthread_mutex_unlock(&req->lock);
	if (suspended) {
		req->resume = durable_done;
		return API_STEP_SUSPENDED;
	}
	return durable_done(req);
}

enum api_step api_respond_durable(struct api_req *req, struct queue_ticket *ticket, unsigned status,
				  struct jbuf *body)
{
	return api_respond_durable_n(req, ticket, 1, status, body);
}

/* ignore_durable is the callback of a ticket whose change is reported elsewhere. */
static void ignore_durable(void *ctx, enum queue_err err)
{
	(void)ctx;
	(void)err;
}

void api_ticket_drop(struct queue_ticket *t)
{
	if (t->queue != NULL)
		queue_ticket_notify(t, ignore_durable, NULL);
	t->queue = NULL;
	t->pos = 0;
}

bool api_param_u64(struct api_req *req, const char *name, uint64_t min, uint64_t max, uint64_t def,
		   uint64_t *out)
{
	const char *s = NULL;
	size_t len = 0;
	uint64_t v = 0;

	if (MHD_lookup_connection_value_n(req->conn, MHD_GET_ARGUMENT_KIND, name, strlen(name), &s,
					  &len) != MHD_YES) {
		*out = def;
		return true;
	}
	/* A parameter given without a value ("?limit") is malformed, not absent. */
	if (s == NULL || len == 0 || len > 20 || strlen(s) != len)
		return false;
	for (; *s; s++) {
		unsigned d = (unsigned)(*s - '0');
		if (d > 9 || v > (UINT64_MAX - d) / 10u)
			return false;
		v = v * 10u + d;
	}
	if (v < min || v > max)
		return false;
	*out = v;
	return true;
}

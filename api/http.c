/* http.c: the libmicrohttpd adapter: the daemon's life, and each request from headers to completion. */
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "internal.h"

/* auth_ok compares the request's bearer token with the configured one in constant time. */
static bool auth_ok(struct api_req *req)
{
	const struct api_server *srv = req->srv;
	const char *h = MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND, "Authorization");
	const unsigned char *given, *want = (const unsigned char *)srv->auth_token;
	size_t given_len;
	unsigned diff;

	if (h == NULL || strncasecmp(h, "Bearer ", 7) != 0)
		return false;
	given = (const unsigned char *)h + 7;
	given_len = strlen((const char *)given);
	/* Every byte of the expected token is looked at, whatever the given one holds. */
	diff = given_len != srv->auth_len;
	for (size_t i = 0; i < srv->auth_len; i++)
		diff |= want[i] ^ (i < given_len ? given[i] : 0u);
	return diff == 0;
}

/* message_limit returns the largest single payload queue q accepts now. */
static size_t message_limit(struct api_req *req)
{
	struct queue_settings s;

	if (queue_get_settings(req->srv->store, req->path.queue, &s) != QUEUE_OK)
		queue_settings_default(&s);
	return s.max_message_bytes;
}

/* setup_body sizes the body reader for the route and says which error a too-large body is. */
static enum api_error setup_body(struct api_req *req)
{
	enum api_body_kind kind = req->early == API_E_NONE ? req->route->body : API_BODY_IGNORE;

	switch (kind) {
	case API_BODY_MESSAGE:
		body_init(&req->body, message_limit(req), true);
		return API_E_MESSAGE_TOO_LARGE;
	case API_BODY_BATCH:
		body_init(&req->body, req->srv->max_body_bytes, true);
		return API_E_REQUEST_TOO_LARGE;
	case API_BODY_SETTINGS:
		body_init(&req->body, API_SETTINGS_BODY_MAX, true);
		return API_E_REQUEST_TOO_LARGE;
	default:
		body_init(&req->body, API_IGNORED_BODY_MAX, false);
		return API_E_REQUEST_TOO_LARGE;
	}
}

/*
 * req_begin looks at the headers: authentication, route, path parameters and
 * the announced body size. A body announced too large is refused at once, on
 * this first call; libmicrohttpd then closes the connection after the answer
 * instead of reading a body nobody wants.
 */
static void req_begin(struct api_req *req, const char *method, const char *url)
{
	struct api_server *srv = req->srv;
	enum api_error too_large;
	const char *cl;

	if (atomic_load(&srv->stopping))
		req->early = API_E_SHUTTING_DOWN;
	else if (srv->auth_token != NULL && strcmp(url, "/healthz") != 0 && !auth_ok(req))
		req->early = API_E_UNAUTHORIZED;
	else
		req->early = api_route_find(method, url, &req->route, &req->path, req->allow,
					    sizeof(req->allow));
	if (req->early == API_E_NONE && req->route->body == API_BODY_MESSAGE && !req->path.queue_ok)
		req->early = API_E_INVALID_QUEUE_NAME;
	too_large = setup_body(req);
	cl = MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND, "Content-Length");
	if (too_large != API_E_NONE && cl != NULL) {
		char *end;
		errno = 0;
		unsigned long long n = strtoull(cl, &end, 10);
		if (errno == 0 && end != cl && *end == '\0' && n > req->body.limit) {
			req->early = too_large;
			api_respond_error(req, too_large);
		}
	}
}

/*
 * req_feed takes the next piece of the body. Past the cap nothing more is
 * stored: libmicrohttpd 0.9.75 cannot queue a response while a body is still
 * arriving, so a body without Content-Length that passes its cap is read to
 * its end, discarded, and answered 413 then; one that goes on past
 * API_DISCARD_MAX more bytes has its connection closed.
 */
static enum MHD_Result req_feed(struct api_req *req, const char *data, size_t size)
{
	if (req->early != API_E_NONE) {
		req->discarded += size;
		return req->discarded > API_DISCARD_MAX ? MHD_NO : MHD_YES;
	}
	switch (body_append(&req->body, data, size)) {
	case BODY_OK:
		return MHD_YES;
	case BODY_TOO_LARGE:
		req->early = req->route->body == API_BODY_MESSAGE ? API_E_MESSAGE_TOO_LARGE
								   : API_E_REQUEST_TOO_LARGE;
		break;
	case BODY_NOMEM:
		req->early = API_E_INTERNAL;
		break;
	}
	body_free(&req->body);
	return MHD_YES;
}

/* req_finish runs once the whole body is in, and again each time a suspended request wakes. */
static void req_finish(struct api_req *req)
{
	api_handler_fn next = req->resume;

	req->resume = NULL;
	if (next != NULL)
		next(req);
	else if (req->early != API_E_NONE)
		api_respond_error(req, req->early);
	else
		req->route->handler(req);
}

static struct api_req *req_new(struct api_server *srv, struct MHD_Connection *conn)
{
	struct api_req *req = calloc(1, sizeof(*req));

	if (req == NULL)
		return NULL;
	if (pthread_mutex_init(&req->lock, NULL) != 0) {
		free(req);
		return NULL;
	}
	req->srv = srv;
	req->conn = conn;
	jb_init(&req->pend);
	pthread_mutex_lock(&srv->lock);
	srv->inflight++;
	pthread_mutex_unlock(&srv->lock);
	return req;
}

static void req_free(struct api_req *req)
{
	struct api_server *srv = req->srv;

	api_longpoll_cleanup(req);
	body_free(&req->body);
	jb_free(&req->pend);
	/*
	 * api_wake() resumes the connection while holding req->lock, so the request
	 * can complete before that thread unlocks: wait for it to let go.
	 */
	pthread_mutex_lock(&req->lock);
	pthread_mutex_unlock(&req->lock);
	pthread_mutex_destroy(&req->lock);
	free(req);
	pthread_mutex_lock(&srv->lock);
	if (--srv->inflight == 0)
		pthread_cond_broadcast(&srv->idle);
	pthread_mutex_unlock(&srv->lock);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
				  const char *method, const char *version, const char *data,
				  size_t *size, void **con_cls)
{
	struct api_req *req = *con_cls;

	(void)version;
	if (req == NULL) {
		req = req_new(cls, conn);
		if (req == NULL)
			return MHD_NO;
		*con_cls = req;
		req_begin(req, method, url);
		return MHD_YES;
	}
	if (*size > 0) {
		enum MHD_Result keep = req_feed(req, data, *size);
		*size = 0;
		return keep;
	}
	if (!req->responded)
		req_finish(req);
	return MHD_YES;
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
			 enum MHD_RequestTerminationCode code)
{
	(void)cls;
	(void)conn;
	(void)code;
	if (*con_cls != NULL)
		req_free(*con_cls);
	*con_cls = NULL;
}

/* on_mhd_log passes libmicrohttpd's own messages on at debug level: they are about clients. */
static void on_mhd_log(void *cls, const char *fmt, va_list ap)
{
	struct api_server *srv = cls;
	char line[512];
	size_t n;

	if (srv->log == NULL)
		return;
	vsnprintf(line, sizeof(line), fmt, ap);
	n = strlen(line);
	while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
		line[--n] = '\0';
	srv->log(API_LOG_DEBUG, line);
}

/* start_daemon starts libmicrohttpd: epoll, a thread pool, suspend/resume, the limits. */
static bool start_daemon(struct api_server *srv, const struct api_config *cfg)
{
	unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME |
			 MHD_USE_ITC | MHD_USE_ERROR_LOG;
	unsigned threads = cfg->threads;
	const union MHD_DaemonInfo *info;

	if (threads == 0) {
		long n = sysconf(_SC_NPROCESSORS_ONLN);
		threads = n > 0 ? (unsigned)n : 1u;
	}
	if (cfg->addr->sa_family == AF_INET6)
		flags |= MHD_USE_IPv6;
	srv->daemon = MHD_start_daemon(
		flags, 0, NULL, NULL, on_request, srv, MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, srv,
		MHD_OPTION_SOCK_ADDR, cfg->addr,
		MHD_OPTION_THREAD_POOL_SIZE, threads, MHD_OPTION_CONNECTION_LIMIT,
		cfg->max_connections, MHD_OPTION_CONNECTION_TIMEOUT, cfg->connection_timeout,
		MHD_OPTION_NOTIFY_COMPLETED, on_completed, srv, MHD_OPTION_END);
	if (srv->daemon == NULL)
		return false;
	info = MHD_get_daemon_info(srv->daemon, MHD_DAEMON_INFO_BIND_PORT);
	srv->port = info != NULL ? info->port : 0;
	return true;
}

/* server_free frees what api_start set up; the daemon must be stopped. */
static void server_free(struct api_server *srv)
{
	api_timer_stop(&srv->timer);
	api_metrics_free(&srv->metrics);
	if (srv->auth_token != NULL)
		memset(srv->auth_token, 0, srv->auth_len);
	free(srv->auth_token);
	pthread_cond_destroy(&srv->idle);
	pthread_mutex_destroy(&srv->lock);
	free(srv);
}

bool api_start(struct queue_store *store, const struct api_config *cfg, struct api_server **out,
	       char *err, size_t errlen)
{
	struct api_server *srv = calloc(1, sizeof(*srv));

	*out = NULL;
	if (srv == NULL) {
		snprintf(err, errlen, "out of memory");
		return false;
	}
	pthread_mutex_init(&srv->lock, NULL);
	pthread_cond_init(&srv->idle, NULL);
	srv->store = store;
	srv->max_body_bytes = cfg->max_body_bytes;
	srv->log = cfg->log;
	if (!api_timer_start(&srv->timer))
		goto nomem;
	if (cfg->auth_token != NULL && cfg->auth_token[0] != '\0') {
		srv->auth_token = strdup(cfg->auth_token);
		if (srv->auth_token == NULL)
			goto nomem;
		srv->auth_len = strlen(srv->auth_token);
	}
	if (!api_metrics_init(&srv->metrics, api_route_count()))
		goto nomem;
	if (!start_daemon(srv, cfg)) {
		snprintf(err, errlen, "cannot listen on the requested address: %s", strerror(errno));
		goto fail;
	}
	*out = srv;
	return true;
nomem:
	snprintf(err, errlen, "out of memory");
fail:
	server_free(srv);
	return false;
}

uint16_t api_port(const struct api_server *srv)
{
	return srv->port;
}

/* drain waits until no request is in flight or drain_ms have passed. */
static void drain(struct api_server *srv, unsigned drain_ms)
{
	uint64_t until = api_mono_ms() + drain_ms;

	pthread_mutex_lock(&srv->lock);
	while (srv->inflight > 0 && api_mono_ms() < until) {
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_nsec += 50 * 1000000L;
		if (ts.tv_nsec >= 1000000000L) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000L;
		}
		pthread_cond_timedwait(&srv->idle, &srv->lock, &ts);
	}
	if (srv->inflight > 0)
		api_logf(srv, API_LOG_WARN, "api_stop: %u requests still open after %u ms",
			 srv->inflight, drain_ms);
	pthread_mutex_unlock(&srv->lock);
}

/*
 * api_stop does not use MHD_quiesce_daemon(): with epoll and a thread pool
 * libmicrohttpd 0.9.75 can abort in it (a race over the listen socket's epoll
 * registration). Instead a request that begins once stopping is set is
 * answered 503 with Connection: close, and the listen socket closes with the daemon.
 */
void api_stop(struct api_server *srv, unsigned drain_ms)
{
	if (srv == NULL)
		return;
	atomic_store(&srv->stopping, true);
	api_timer_wake_all(&srv->timer);
	drain(srv, drain_ms);
	MHD_stop_daemon(srv->daemon);
	server_free(srv);
}

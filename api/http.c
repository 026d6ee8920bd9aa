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

/* The most a body's announced length reserves before its bytes arrive. */
#define BODY_RESERVE_MAX (1u << 20)

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

/*
 * message_limit returns the largest single payload queue q accepts now. The
 * connection remembers the last answer until a queue's settings change
 * (settings_gen moves): a client enqueues to the same queue over and over, and
 * asking the engine each time took the queue's lock once more per request,
 * where it contended with the enqueues themselves.
 */
static size_t message_limit(struct api_req *req)
{
	struct api_conn *c = req->cctx;
	uint_fast64_t gen = atomic_load(&req->srv->settings_gen);
	struct queue_settings s;

	if (c != NULL && c->limit_ok && c->limit_gen == gen &&
	    strcmp(c->limit_queue, req->path.queue) == 0)
		return c->limit;
	if (queue_get_settings(req->srv->store, req->path.queue, &s) != QUEUE_OK)
		queue_settings_default(&s);
	if (c != NULL) {
		/* gen was read before the lookup: a change since then moved it, and is seen next time. */
		c->limit_ok = true;
		c->limit_gen = gen;
		c->limit = s.max_message_bytes;
		snprintf(c->limit_queue, sizeof(c->limit_queue), "%s", req->path.queue);
	}
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
	case API_BODY_SQS:
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

/* A header name and how many times a request carries it. */
struct header_count {
	const char *name;
	unsigned n;
};

/* count_header is a libmicrohttpd header iterator counting the headers named in *cls. */
static enum MHD_Result count_header(void *cls, enum MHD_ValueKind kind, const char *key,
				    const char *value)
{
	struct header_count *c = cls;

	(void)kind;
	(void)value;
	if (strcasecmp(key, c->name) == 0)
		c->n++;
	return MHD_YES;
}

/*
 * content_length_repeated says whether the request has more than one
 * Content-Length header. libmicrohttpd uses the first; a proxy in front might
 * use another, so such a request is refused rather than guessed at.
 */
static bool content_length_repeated(struct MHD_Connection *conn)
{
	struct header_count c = { MHD_HTTP_HEADER_CONTENT_LENGTH, 0 };

	MHD_get_connection_values(conn, MHD_HEADER_KIND, count_header, &c);
	return c.n > 1;
}

/*
 * refuse_now answers e before the body was read; libmicrohttpd then closes
 * the connection instead of reading a body nobody wants. When a body may
 * follow, the socket lingers (linger.c) so that the client reads the answer.
 */
static void refuse_now(struct api_req *req, enum api_error e)
{
	req->early = e;
	if (MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND, "Content-Length") != NULL ||
	    MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND, "Transfer-Encoding") != NULL)
		req->linger_fd = api_linger_hold(&req->srv->linger, req->conn);
	api_respond_error(req, e);
}

/*
 * req_begin looks at the headers: authentication, route, path parameters and
 * the announced body size. A body announced too large, or announced twice, is
 * refused at once, on this first call (refuse_now).
 */
static void req_begin(struct api_req *req, const char *method, const char *url)
{
	struct api_server *srv = req->srv;
	enum api_error too_large;
	const char *cl;

	if (atomic_load(&srv->stopping)) {
		req->early = API_E_SHUTTING_DOWN;
	} else {
		enum api_error found = api_route_find(method, req->raw_path, &req->route, &req->path,
						      req->allow, sizeof(req->allow));
		if (req->route != NULL)
			req->route_row = api_route_index(req->route);
		/* SQS clients authenticate the AWS way; everything else with the bearer token. */
		bool sqs = req->route != NULL && req->route->body == API_BODY_SQS;

		if (srv->auth_token != NULL && strcmp(url, "/healthz") != 0 &&
		    !(sqs ? api_sqs_auth_ok(req) : auth_ok(req)))
			req->early = sqs ? API_E_SQS_DENIED : API_E_UNAUTHORIZED;
		else
			req->early = found;
	}
	if (req->early == API_E_NONE && req->route->body == API_BODY_MESSAGE && !req->path.queue_ok)
		req->early = API_E_INVALID_QUEUE_NAME;
	too_large = setup_body(req);
	if (content_length_repeated(req->conn)) {
		refuse_now(req, API_E_INVALID_PARAMETER);
		return;
	}
	cl = MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND, "Content-Length");
	if (too_large != API_E_NONE && cl != NULL) {
		char *end;
		errno = 0;
		unsigned long long n = strtoull(cl, &end, 10);
		if (errno == 0 && end != cl && *end == '\0' && n > req->body.limit) {
			refuse_now(req, too_large);
		} else if (errno == 0 && end != cl && *end == '\0') {
			/* Up to 1 MiB: a length that is announced but never sent costs no more. */
			body_reserve(&req->body, n < BODY_RESERVE_MAX ? (size_t)n : BODY_RESERVE_MAX);
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

/* req_new allocates a request whose raw path is the first path_len bytes of path. */
static struct api_req *req_new(struct api_server *srv, struct MHD_Connection *conn,
			       const char *path, size_t path_len)
{
	struct api_req *req = calloc(1, sizeof(*req) + path_len + 1);

	if (req == NULL)
		return NULL;
	memcpy(req->raw_path, path, path_len);
	req->linger_fd = -1;
	if (pthread_mutex_init(&req->lock, NULL) != 0) {
		free(req);
		return NULL;
	}
	req->srv = srv;
	req->sqs_action = -1;
	req->conn = conn;
	req->start_ns = api_mono_ns();
	req->route_row = api_route_count();
	jb_init(&req->pend);
	/* An atomic, not srv->lock: every request passes here, on every thread. */
	atomic_fetch_add(&srv->inflight, 1);
	return req;
}

static void req_free(struct api_req *req)
{
	struct api_server *srv = req->srv;

	api_longpoll_cleanup(req);
	api_linger_start(&srv->linger, req->linger_fd);
	api_sqs_free(req->sqs);
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
	/*
	 * Only drain() waits for the count to reach zero, and it sets stopping
	 * before it looks: the last request out wakes it under the lock.
	 */
	if (atomic_fetch_sub(&srv->inflight, 1) == 1 && atomic_load(&srv->stopping)) {
		pthread_mutex_lock(&srv->lock);
		pthread_cond_broadcast(&srv->idle);
		pthread_mutex_unlock(&srv->lock);
	}
}

/*
 * on_connection counts the connections that have not sent a complete request
 * head yet: each gets a struct api_conn (its socket context) whose fresh flag
 * on_request clears. api_stop waits for them, since libmicrohttpd 0.9.75
 * crashes when it answers a malformed request itself while the daemon is
 * being stopped. Without memory for it a connection is simply not counted.
 */
static void on_connection(void *cls, struct MHD_Connection *conn, void **socket_context,
			  enum MHD_ConnectionNotificationCode code)
{
	struct api_server *srv = cls;
	struct api_conn *c = *socket_context;

	(void)conn;
	if (code == MHD_CONNECTION_NOTIFY_STARTED) {
		c = calloc(1, sizeof(*c));
		*socket_context = c;
		if (c == NULL)
			return;
		c->fresh = true;
		pthread_mutex_lock(&srv->lock);
		srv->fresh++;
		pthread_mutex_unlock(&srv->lock);
		return;
	}
	if (c != NULL && c->fresh) {
		pthread_mutex_lock(&srv->lock);
		srv->fresh--;
		pthread_mutex_unlock(&srv->lock);
	}
	free(c);
	*socket_context = NULL;
}

/*
 * conn_seen marks conn as having sent a request head (on_connection runs in
 * the same thread) and returns its context, NULL when it has none.
 */
static struct api_conn *conn_seen(struct api_server *srv, struct MHD_Connection *conn)
{
	const union MHD_ConnectionInfo *info =
		MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
	struct api_conn *c = info != NULL ? info->socket_context : NULL;

	if (c == NULL || !c->fresh)
		return c;
	c->fresh = false;
	pthread_mutex_lock(&srv->lock);
	srv->fresh--;
	pthread_mutex_unlock(&srv->lock);
	return c;
}

/*
 * on_uri sees each request line's target before libmicrohttpd decodes it and
 * starts the request with the raw path (up to a '?'), so that "a%2Fb" is one
 * segment (an invalid queue name), not two. Its result becomes the request's
 * context; NULL (no memory) makes on_request close the connection.
 */
static void *on_uri(void *cls, const char *uri, struct MHD_Connection *conn)
{
	return req_new(cls, conn, uri, strcspn(uri, "?"));
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
				  const char *method, const char *version, const char *data,
				  size_t *size, void **con_cls)
{
	struct api_req *req = *con_cls;

	(void)version;
	if (req == NULL)
		return MHD_NO;
	if (!req->begun) {
		req->begun = true;
		req->cctx = conn_seen(cls, conn);
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

/*
 * on_mhd_log passes libmicrohttpd's own messages on: at error level while the
 * daemon starts (they say why it cannot, e.g. a certificate it refuses), at
 * debug level afterwards, when they are about misbehaving clients. The
 * attribute tells clang's -Wformat-nonliteral that fmt is a printf format.
 */
static void on_mhd_log(void *cls, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));
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
	srv->log(atomic_load(&srv->starting) ? API_LOG_ERROR : API_LOG_DEBUG, line);
}

/*
 * extra_options fills opts (room for 3 items and the end) with the options that
 * depend on the configuration: the TLS certificate and key, and the limit of
 * connections per client address. The PEM text is kept in srv, since
 * libmicrohttpd keeps the pointers. Returns false when out of memory.
 */
static bool extra_options(struct api_server *srv, const struct api_config *cfg,
			  struct MHD_OptionItem *opts)
{
	size_t n = 0;

	if (cfg->tls_cert_pem != NULL) {
		srv->tls_cert = strdup(cfg->tls_cert_pem);
		srv->tls_key = strdup(cfg->tls_key_pem);
		if (srv->tls_cert == NULL || srv->tls_key == NULL)
			return false;
		opts[n++] = (struct MHD_OptionItem){ MHD_OPTION_HTTPS_MEM_CERT, 0, srv->tls_cert };
		opts[n++] = (struct MHD_OptionItem){ MHD_OPTION_HTTPS_MEM_KEY, 0, srv->tls_key };
	}
	if (cfg->max_connections_per_ip > 0)
		opts[n++] = (struct MHD_OptionItem){ MHD_OPTION_PER_IP_CONNECTION_LIMIT,
						     (intptr_t)cfg->max_connections_per_ip, NULL };
	opts[n] = (struct MHD_OptionItem){ MHD_OPTION_END, 0, NULL };
	return true;
}

/* tls_usable checks that TLS is asked for with both a certificate and a key, and can be served. */
static bool tls_usable(const struct api_config *cfg, char *err, size_t errlen)
{
	if ((cfg->tls_cert_pem == NULL) != (cfg->tls_key_pem == NULL)) {
		snprintf(err, errlen, "TLS needs both a certificate and a key");
		return false;
	}
	if (cfg->tls_cert_pem != NULL && MHD_is_feature_supported(MHD_FEATURE_TLS) != MHD_YES) {
		snprintf(err, errlen, "this libmicrohttpd was built without TLS support");
		return false;
	}
	return true;
}

/* start_daemon starts libmicrohttpd: epoll, a thread pool, suspend/resume, TLS, the limits. */
static bool start_daemon(struct api_server *srv, const struct api_config *cfg, char *err,
			 size_t errlen)
{
	unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME |
			 MHD_USE_ITC | MHD_USE_ERROR_LOG;
	unsigned threads = cfg->threads;
	const union MHD_DaemonInfo *info;
	struct MHD_OptionItem extra[4];

	if (threads == 0) {
		long n = sysconf(_SC_NPROCESSORS_ONLN);
		threads = n > 0 ? (unsigned)n : 1u;
	}
	/* Without an address nothing listens: connections are handed in (the fuzz target does). */
	if (cfg->addr == NULL)
		flags |= MHD_USE_NO_LISTEN_SOCKET;
	else if (cfg->addr->sa_family == AF_INET6)
		flags |= MHD_USE_IPv6;
	if (!tls_usable(cfg, err, errlen))
		return false;
	if (cfg->tls_cert_pem != NULL)
		flags |= MHD_USE_TLS;
	if (!extra_options(srv, cfg, extra)) {
		snprintf(err, errlen, "out of memory");
		return false;
	}
	atomic_store(&srv->starting, true);
	srv->daemon = MHD_start_daemon(
		flags, 0, NULL, NULL, on_request, srv, MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, srv,
		MHD_OPTION_SOCK_ADDR, cfg->addr,
		MHD_OPTION_THREAD_POOL_SIZE, threads, MHD_OPTION_CONNECTION_LIMIT,
		cfg->max_connections, MHD_OPTION_CONNECTION_TIMEOUT, cfg->connection_timeout,
		MHD_OPTION_NOTIFY_COMPLETED, on_completed, srv, MHD_OPTION_NOTIFY_CONNECTION,
		on_connection, srv, MHD_OPTION_URI_LOG_CALLBACK, on_uri, srv, MHD_OPTION_ARRAY, extra,
		MHD_OPTION_END);
	atomic_store(&srv->starting, false);
	if (srv->daemon == NULL) {
		snprintf(err, errlen, "%s: %s",
			 cfg->tls_cert_pem != NULL
				 ? "cannot listen on the requested address with the TLS certificate and key"
				 : "cannot listen on the requested address",
			 strerror(errno));
		return false;
	}
	info = MHD_get_daemon_info(srv->daemon, MHD_DAEMON_INFO_BIND_PORT);
	srv->port = info != NULL ? info->port : 0;
	return true;
}

/* server_free frees what api_start set up; the daemon must be stopped. */
static void server_free(struct api_server *srv)
{
	api_timer_stop(&srv->timer);
	api_linger_stop(&srv->linger);
	api_metrics_free(&srv->metrics);
	if (srv->auth_token != NULL)
		memset(srv->auth_token, 0, srv->auth_len);
	free(srv->auth_token);
	free(srv->sqs_access_key);
	if (srv->sqs_secret_key != NULL)
		memset(srv->sqs_secret_key, 0, strlen(srv->sqs_secret_key));
	free(srv->sqs_secret_key);
	if (srv->tls_key != NULL)
		memset(srv->tls_key, 0, strlen(srv->tls_key));
	free(srv->tls_key);
	free(srv->tls_cert);
	pthread_cond_destroy(&srv->idle);
	pthread_mutex_destroy(&srv->lock);
	free(srv);
}

/* metrics_init sets up the request counters: one row per route of the table, one per SQS action. */
static bool metrics_init(struct api_metrics *m)
{
	size_t n = api_route_count();
	const struct api_route_info **info = calloc(n ? n : 1, sizeof(*info));
	bool ok = info != NULL;

	for (size_t i = 0; ok && i < n; i++)
		info[i] = api_route_info(i);
	ok = ok && api_metrics_init(m, info, n, api_sqs_action_name, api_sqs_action_count());
	free(info);
	return ok;
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
	srv->max_long_polls = cfg->max_long_polls;
	srv->log = cfg->log;
	srv->linger.wake[0] = srv->linger.wake[1] = -1;
	if (!api_timer_start(&srv->timer) || !api_linger_init(&srv->linger))
		goto nomem;
	if (cfg->auth_token != NULL && cfg->auth_token[0] != '\0') {
		srv->auth_token = strdup(cfg->auth_token);
		if (srv->auth_token == NULL)
			goto nomem;
		srv->auth_len = strlen(srv->auth_token);
		srv->sqs_access_key = strdup(cfg->sqs_access_key != NULL && cfg->sqs_access_key[0] != '\0'
						     ? cfg->sqs_access_key
						     : cfg->auth_token);
		if (srv->sqs_access_key == NULL)
			goto nomem;
		if (cfg->sqs_secret_key != NULL && cfg->sqs_secret_key[0] != '\0') {
			srv->sqs_secret_key = strdup(cfg->sqs_secret_key);
			if (srv->sqs_secret_key == NULL)
				goto nomem;
		}
	}
	srv->tls = cfg->tls_cert_pem != NULL;
	if (!metrics_init(&srv->metrics))
		goto nomem;
	if (!start_daemon(srv, cfg, err, errlen))
		goto fail;
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

/*
 * drain waits until no request is in flight and every connection has sent a
 * request head (or closed), or drain_ms have passed.
 */
static void drain(struct api_server *srv, unsigned drain_ms)
{
	uint64_t until = api_mono_ms() + drain_ms;

	pthread_mutex_lock(&srv->lock);
	while ((atomic_load(&srv->inflight) > 0 || srv->fresh > 0) && api_mono_ms() < until) {
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_nsec += 50 * 1000000L;
		if (ts.tv_nsec >= 1000000000L) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000L;
		}
		pthread_cond_timedwait(&srv->idle, &srv->lock, &ts);
	}
	if (atomic_load(&srv->inflight) > 0)
		api_logf(srv, API_LOG_WARN, "api_stop: %u requests still open after %u ms",
			 atomic_load(&srv->inflight), drain_ms);
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

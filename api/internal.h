/* internal.h: the types and helpers the files of api/ share; not part of the api contract. */
#ifndef MMQ_API_INTERNAL_H
#define MMQ_API_INTERNAL_H

#include <microhttpd.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "api.h"
#include "body.h"
#include "json_out.h"

/* Every error a request can end in; errors.c maps each to a status, code and message. */
enum api_error {
	API_E_NONE = 0,
	API_E_NOT_FOUND,
	API_E_METHOD_NOT_ALLOWED,
	API_E_UNAUTHORIZED,
	API_E_INVALID_PARAMETER,
	API_E_INVALID_QUEUE_NAME,
	API_E_INVALID_JSON,
	API_E_INVALID_BATCH,
	API_E_MESSAGE_TOO_LARGE,
	API_E_REQUEST_TOO_LARGE,
	API_E_QUEUE_NOT_FOUND,
	API_E_MESSAGE_NOT_FOUND,
	API_E_LEASE_MISMATCH,
	API_E_QUEUE_FULL,
	API_E_DISK_FULL,
	API_E_TOO_MANY_QUEUES,
	API_E_TOO_MANY_LONG_POLLS,
	API_E_UNAVAILABLE,
	API_E_SHUTTING_DOWN,
	API_E_INTERNAL,
	API_E_SQS_DENIED, /* an SQS request without the configured access key (answered the SQS way) */
	API_E_COUNT
};

/* The HTTP face of an api_error. */
struct api_error_info {
	unsigned status;
	const char *code;
	const char *message;
};

/* api_error_get returns the status, code and message of e. This function can't fail. */
const struct api_error_info *api_error_get(enum api_error e);

/* api_error_from_queue returns the api_error an engine error answers as. This function can't fail. */
enum api_error api_error_from_queue(enum queue_err err);

/* What a handler did with its request. */
enum api_step {
	API_STEP_DONE,	    /* a response is queued */
	API_STEP_SUSPENDED  /* the connection is suspended; req->resume runs when it wakes */
};

struct api_req;
struct sqs_call;

/* An api_handler_fn serves one request (or continues it after a suspension). */
typedef enum api_step (*api_handler_fn)(struct api_req *req);

/* How a route treats the request body. */
enum api_body_kind {
	API_BODY_IGNORE,   /* read and dropped */
	API_BODY_MESSAGE,  /* one payload, capped at the queue's max_message_bytes */
	API_BODY_BATCH,	   /* a batch, capped at --max-body-bytes */
	API_BODY_SETTINGS, /* queue settings, capped at API_SETTINGS_BODY_MAX */
	API_BODY_SQS	   /* an Amazon SQS request, capped at --max-body-bytes; errors answer the SQS way */
};

#define API_SETTINGS_BODY_MAX 65536u
/* The account segment of SQS queue URLs: http://host/000000000000/<queue>. */
#define SQS_ACCOUNT_PATH "000000000000"
#define API_IGNORED_BODY_MAX 65536u
/* How many bytes past its cap a body is read and dropped before the connection is closed. */
#define API_DISCARD_MAX (64u << 20)

/* An api_error_fn answers error e for its route in that route's own shape. */
typedef enum api_step (*api_error_fn)(struct api_req *req, enum api_error e);

/* One row of the route table. info comes first so api_route_info() can hand it out. */
struct api_route {
	struct api_route_info info;
	api_handler_fn handler;
	enum api_body_kind body;
	api_error_fn error; /* NULL: the v1 JSON error */
};

/* The HTTP statuses counted one by one in the metrics; anything else counts as "other". */
#define API_STATUS_SLOTS 14

/*
 * Request counters for /metrics, by route (last row: no route matched) and
 * status, and the request duration histogram by route (metrics.c).
 */
struct api_metrics {
	atomic_uint_fast64_t *counts;	 /* (routes + 1) * API_STATUS_SLOTS */
	atomic_uint_fast64_t *durations; /* (routes + 1) rows of buckets, +Inf and the sum in ns */
	const struct api_route_info **info; /* routes rows: the method and pattern of each */
	size_t routes;
	/* SQS answers by action (last row: no action known) and status. */
	atomic_uint_fast64_t *sqs_counts; /* (sqs_actions + 1) * API_STATUS_SLOTS */
	const char *(*sqs_name)(size_t i); /* the name of action i */
	size_t sqs_actions;
};

/* The long-poll deadline heap and its thread. */
struct api_timer {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	pthread_t thread;
	struct api_req **heap;
	size_t len, cap;
	bool stopping; /* every waiter was woken; no new ones are taken */
	bool quit;     /* the thread must exit */
	bool started;
};

/* How many sockets may linger at once (linger.c); beyond that a refused connection is simply closed. */
#define API_LINGER_MAX 64

/* One lingering socket: dropped at until or idle_until (CLOCK_MONOTONIC ms), whichever comes first. */
struct api_linger_slot {
	int fd;
	uint64_t until;
	uint64_t idle_until;
};

/* The lingering-close thread and its sockets (linger.c). */
struct api_linger {
	pthread_mutex_t lock;
	pthread_t thread;
	int wake[2]; /* a pipe that wakes the thread's poll */
	struct api_linger_slot slot[API_LINGER_MAX];
	size_t n;     /* slots in use */
	size_t held;  /* duplicates handed out by api_linger_hold and not yet started */
	bool quit;
	bool started;
};

struct api_server {
	struct queue_store *store;
	struct MHD_Daemon *daemon;
	uint16_t port;
	size_t max_body_bytes;
	char *auth_token; /* NULL: no authentication */
	size_t auth_len;
	char *sqs_access_key; /* with auth_token: the access key SQS requests must name */
	char *sqs_secret_key; /* with auth_token: verify SQS signatures with it; NULL: not verified */
	bool tls;	      /* serving HTTPS: queue URLs say https */
	api_log_fn log;
	struct api_timer timer;
	struct api_linger linger;
	struct api_metrics metrics;
	pthread_mutex_t lock;
	pthread_cond_t idle;
	atomic_uint inflight; /* requests begun and not completed */
	unsigned fresh;	      /* connections that sent no request head yet (see api_stop); under lock */
	/*
	 * Bumped after every change of a queue's settings or existence (PUT and
	 * DELETE of a queue), so a connection's cached max_message_bytes is
	 * looked up again.
	 */
	atomic_uint_fast64_t settings_gen;
	atomic_bool stopping;
	char *tls_cert, *tls_key;  /* PEM text (NULL: plain HTTP); libmicrohttpd points into them */
	atomic_bool starting;	   /* MHD_start_daemon() is running: its messages are errors */
	unsigned max_long_polls;   /* waiting pops and leases allowed at once; 0 = no limit */
	atomic_uint long_polls;	   /* waiting now (armed and not cleaned up) */
};

/* Path parameters a route pattern captured. */
struct api_path {
	char queue[QUEUE_NAME_MAX + 2]; /* {q}, or "" when longer than a name can be */
	bool queue_ok;			/* {q} is a valid queue name */
	uint64_t id;			/* {id} */
	bool id_ok;			/* {id} is a well-formed id */
};

/*
 * What a connection keeps between its requests (its libmicrohttpd socket
 * context); only the thread serving the connection touches it.
 */
struct api_conn {
	bool fresh; /* no request head yet: counted in srv->fresh */
	/* The max_message_bytes of queue limit_queue, as of settings_gen limit_gen. */
	bool limit_ok;
	uint_fast64_t limit_gen;
	size_t limit;
	char limit_queue[QUEUE_NAME_MAX + 1];
	/*
	 * The connection's durability waiter (see api_ticket): the engine links it
	 * while a change waits for its sync, so waiting allocates nothing. One
	 * request at a time uses it, and its answer is only sent after the
	 * engine is done with it.
	 */
	struct queue_waiter waiter;
};

/* One request from its headers to its completion. */
struct api_req {
	struct api_server *srv;
	struct MHD_Connection *conn;
	struct api_conn *cctx; /* NULL when there was no memory for it */
	const struct api_route *route; /* NULL when none matched */
	size_t route_row;	       /* its row in the metrics: api_route_count() when none matched */
	struct api_path path;
	enum api_error early;	       /* an error known before the body was read */
	char allow[64];		       /* the Allow header of a 405 */
	struct api_body body;
	uint64_t start_ns; /* CLOCK_MONOTONIC when the headers arrived: for the duration histogram */
	size_t discarded; /* bytes dropped after the body passed its cap */
	bool begun;	  /* req_begin has looked at the headers */
	bool responded;
	bool counted; /* the answer is counted in the metrics already (a scrape counts itself) */
	int linger_fd;	  /* a duplicate of the socket to linger on once the request ends, or -1 */
	api_handler_fn resume; /* what to run when a suspended request wakes */

	/* Suspension: guarded by lock; woken may be set by any thread. */
	pthread_mutex_t lock;
	bool woken;
	bool suspended;
	bool durable_fired; /* the change of the last api_ticket() is settled: durable_err says how */
	enum queue_err durable_err;

	/* The answer held back until a change is durable, its type and extra headers (NULL: JSON, none). */
	unsigned pend_status;
	struct jbuf pend;
	const char *pend_type;
	const char *const *pend_headers;

	/* Long polls. heap_pos and in_heap are guarded by the timer's lock. */
	struct queue_watch *watch;
	uint64_t deadline_ms; /* CLOCK_MONOTONIC */
	size_t heap_pos;
	bool in_heap;
	bool timed; /* put on the timer's heap once: only the request's thread reads or writes it */
	bool polling; /* counted in srv->long_polls */
	bool lease;
	size_t limit;
	uint64_t ttl_ms;
	/* How a long poll answers (NULL: the v1 message list); it owns m and the ticket. */
	enum api_step (*poll_finish)(struct api_req *req, struct queue_msgs *m,
				     struct queue_ticket *ticket);

	/* Durability waits over several tickets (api_respond_durable_n). */
	atomic_uint durable_left;

	/* An Amazon SQS request's state (sqs_*.c); NULL on other routes. Freed with the request. */
	struct sqs_call *sqs;
	int sqs_action; /* its action's place in the metrics; -1 until known */

	/* The path as the client sent it, percent-escapes and all: the router decodes each segment. */
	char raw_path[];
};

/* api_logf formats a line and hands it to the server's log hook, if any. */
void api_logf(struct api_server *srv, enum api_log_level level, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* api_respond queues status with body (taken over: reset to empty) as the response. */
enum api_step api_respond(struct api_req *req, unsigned status, struct jbuf *body);

/* api_respond_empty queues a response without a body (204). */
enum api_step api_respond_empty(struct api_req *req, unsigned status);

/* api_respond_error queues the error response of e. */
enum api_step api_respond_error(struct api_req *req, enum api_error e);

/*
 * api_respond_queue_err queues the response an engine error answers as; what
 * says which call failed and is logged with the cause for server errors.
 */
enum api_step api_respond_queue_err(struct api_req *req, enum queue_err err, const char *what);

/*
 * api_respond_durable sends status with body (taken over) once the change of
 * ticket is durable, suspending the connection until then, or 503 when it
 * cannot be made durable.
 */
enum api_step api_respond_durable(struct api_req *req, struct queue_ticket *ticket, unsigned status,
				  struct jbuf *body);

/*
 * api_respond_durable_n is api_respond_durable for the changes of n tickets
 * (taken over; n may be 0): it answers once all are durable.
 */
enum api_step api_respond_durable_n(struct api_req *req, struct queue_ticket *tickets, size_t n,
				    unsigned status, struct jbuf *body);

/*
 * api_respond_body queues status with body (taken over) as a response of
 * content type type, with the extra headers (name, value pairs, NULL-terminated; may be NULL).
 */
enum api_step api_respond_body(struct api_req *req, unsigned status, struct jbuf *body,
			       const char *type, const char *const *headers);

/*
 * api_ticket returns the ticket to pass to a mutating engine call whose
 * answer api_respond_durable() sends: it carries the connection's waiter
 * (none when the connection has no context), so the engine registers it
 * while it holds the queue.
 */
struct queue_ticket api_ticket(struct api_req *req);

/*
 * api_ticket_drop hands a ticket nobody waits for back to the engine (after a
 * failed call that may still have filled it in). A ticket without a queue is ignored.
 */
void api_ticket_drop(struct queue_ticket *t);

/* api_wake marks req woken and resumes its connection if it is suspended. Any thread may call it. */
void api_wake(struct api_req *req);

/*
 * api_suspend suspends req's connection unless it was woken since req->woken
 * was last cleared; returns whether it suspended. Call it only from a handler.
 */
bool api_suspend(struct api_req *req);

/* api_now_ms returns the wall-clock time in ms since the Unix epoch. */
uint64_t api_now_ms(void);

/* api_mono_ms returns CLOCK_MONOTONIC in ms. */
uint64_t api_mono_ms(void);

/* api_mono_ns returns CLOCK_MONOTONIC in ns. This function can't fail. */
uint64_t api_mono_ns(void);

/*
 * api_route_find matches method and url, the path as sent (percent-escapes
 * not yet decoded, no query), against the route table (router.c). Each
 * segment is decoded on its own, so an escaped '/' stays inside its segment.
 */
enum api_error api_route_find(const char *method, const char *url, const struct api_route **route,
			      struct api_path *path, char *allow, size_t allow_len);

/* api_route_count returns the number of routes. This function can't fail. */
size_t api_route_count(void);

/* api_route_index returns the position of route in the table. */
size_t api_route_index(const struct api_route *route);

/* api_param_u64 reads query parameter name as a decimal in [min, max], or def when absent. */
bool api_param_u64(struct api_req *req, const char *name, uint64_t min, uint64_t max, uint64_t def,
		   uint64_t *out);

/*
 * Handlers, one per route of router.c (handlers_*.c, longpoll.c, sqs_*.c).
 * Each api_h_<name> serves its route for req: it queues exactly one response
 * (API_STEP_DONE) or suspends the connection with req->resume set
 * (API_STEP_SUSPENDED). They can't fail otherwise: errors become responses.
 */
enum api_step api_h_healthz(struct api_req *req);
enum api_step api_h_metrics(struct api_req *req);
enum api_step api_h_list_queues(struct api_req *req);
enum api_step api_h_put_queue(struct api_req *req);
enum api_step api_h_get_queue(struct api_req *req);
enum api_step api_h_delete_queue(struct api_req *req);
enum api_step api_h_enqueue(struct api_req *req);
enum api_step api_h_batch(struct api_req *req);
enum api_step api_h_peek(struct api_req *req);
enum api_step api_h_purge(struct api_req *req);
enum api_step api_h_pop(struct api_req *req);
enum api_step api_h_lease(struct api_req *req);
enum api_step api_h_ack(struct api_req *req);
enum api_step api_h_release(struct api_req *req);
enum api_step api_h_extend(struct api_req *req);
enum api_step api_h_sqs(struct api_req *req);

/* api_sqs_error answers e on an SQS route the SQS way (sqs_router.c). */
enum api_step api_sqs_error(struct api_req *req, enum api_error e);

/* api_sqs_auth_ok says whether an SQS request names the configured access key (sqs_router.c). */
bool api_sqs_auth_ok(struct api_req *req);

/* api_sqs_free frees an SQS request's state. api_sqs_free(NULL) is a no-op. */
void api_sqs_free(struct sqs_call *c);

/*
 * api_longpoll_start pops (lease false) or leases up to limit messages of
 * req->path.queue, waiting up to wait_ms for one; ttl_ms as queue_lease's.
 * It answers through req->poll_finish when set (longpoll.c).
 */
enum api_step api_longpoll_start(struct api_req *req, bool lease, size_t limit, uint64_t ttl_ms,
				 uint64_t wait_ms);

/*
 * api_metrics_init zeroes the counters of routes routes, whose method and
 * pattern info[i] names (copied; the infos themselves are borrowed: the route
 * table lives as long as the program), and of n SQS actions, action i named
 * sqs_name(i). False when out of memory.
 */
bool api_metrics_init(struct api_metrics *m, const struct api_route_info *const *info, size_t routes,
		      const char *(*sqs_name)(size_t i), size_t n);

/* api_metrics_count_sqs counts one SQS answer of status to action (-1: unknown). This function can't fail. */
void api_metrics_count_sqs(struct api_metrics *m, int action, unsigned status);

/* api_sqs_action_count returns the number of SQS actions (sqs_router.c). This function can't fail. */
size_t api_sqs_action_count(void);

/* api_sqs_action_name returns the name of SQS action i (static). This function can't fail. */
const char *api_sqs_action_name(size_t i);

/* api_metrics_free frees the counters. Calling it on zeroed metrics is a no-op. */
void api_metrics_free(struct api_metrics *m);

/*
 * api_metrics_count counts one response of status on route row row (routes:
 * none matched) that took elapsed_ns from its headers to its answer. This
 * function can't fail.
 */
void api_metrics_count(struct api_metrics *m, size_t row, unsigned status, uint64_t elapsed_ns);

/* api_metrics_http writes the HTTP request counters, the duration histogram and the SQS counters of /metrics. */
void api_metrics_http(struct jbuf *b, const struct api_metrics *m);

/*
 * api_metrics_queues writes the per-queue families of /metrics for the count
 * queues of all (metrics_store.c); now_ms is the wall-clock time.
 */
void api_metrics_queues(struct jbuf *b, const struct queue_stats *all, size_t count,
			uint64_t now_ms);

/* api_metrics_store writes the store-wide families of /metrics: syncs, recovery, disk space. */
void api_metrics_store(struct jbuf *b, const struct queue_store_stats *st);

/* api_timer_start starts the long-poll timer thread (longpoll.c); false when it cannot. */
bool api_timer_start(struct api_timer *t);
/* api_timer_stop wakes every waiter, stops the thread and frees the heap. */
void api_timer_stop(struct api_timer *t);
/* api_timer_wake_all wakes every waiter and refuses new ones from now on. */
void api_timer_wake_all(struct api_timer *t);
/* api_timer_add wakes req at req->deadline_ms; false when stopping or out of memory. */
bool api_timer_add(struct api_timer *t, struct api_req *req);
/* api_timer_remove takes req off the heap if it is there; once it returns the timer won't wake req. */
void api_timer_remove(struct api_timer *t, struct api_req *req);
/* api_linger_init starts the lingering-close thread; false when it cannot (then nothing lingers). */
bool api_linger_init(struct api_linger *l);
/* api_linger_stop closes every lingering socket and stops the thread. Safe after a failed init. */
void api_linger_stop(struct api_linger *l);
/*
 * api_linger_hold returns a duplicate of conn's socket for api_linger_start(),
 * or -1 when there is no room (then the connection just closes). Call it when
 * answering before the body was read.
 */
int api_linger_hold(struct api_linger *l, struct MHD_Connection *conn);
/*
 * api_linger_start takes over fd from api_linger_hold() once libmicrohttpd is
 * done with the connection: shuts its write side and drops what the client
 * still sends until it closes or time runs out. fd < 0 is a no-op.
 */
void api_linger_start(struct api_linger *l, int fd);

/* api_longpoll_cleanup removes req's watch and timer entry (before a durable wait, and at completion). */
void api_longpoll_cleanup(struct api_req *req);

#endif

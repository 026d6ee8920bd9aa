/* api.h: the contract of mmq's HTTP layer, the one header server/ uses. */
#ifndef MMQ_API_H
#define MMQ_API_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "../queue/queue.h"

/* Severity of a message the HTTP layer hands to its log hook, most severe first. */
enum api_log_level { API_LOG_ERROR = 0, API_LOG_WARN, API_LOG_INFO, API_LOG_DEBUG };

/*
 * An api_log_fn receives one finished log line (no trailing newline) at level.
 * It may be called from any thread at once and must be thread-safe.
 */
typedef void (*api_log_fn)(enum api_log_level level, const char *line);

/* How to serve. Every pointer is borrowed for the duration of api_start() only. */
struct api_config {
	const struct sockaddr *addr;  /* address to listen on (IPv4 or IPv6; port 0 picks one); NULL: none */
	socklen_t addr_len;
	unsigned threads;	      /* worker threads; 0 means one per online core */
	unsigned max_connections;     /* open connections at once, all threads together */
	unsigned connection_timeout;  /* seconds an idle or stalled connection may live; 0 = none */
	size_t max_body_bytes;	      /* largest batch request body */
	const char *auth_token;	      /* NULL or "" means no authentication */
	/*
	 * With auth_token: the access key SQS requests must name in their
	 * AWS4-HMAC-SHA256 Authorization header; NULL or "" means auth_token itself.
	 */
	const char *sqs_access_key;
	/* With auth_token: the secret key SQS signatures (SigV4) are verified with; NULL or "": not verified. */
	const char *sqs_secret_key;
	api_log_fn log;		      /* NULL means no logging */
	/* Serve HTTPS with this certificate chain and private key (PEM text); both NULL: plain HTTP. */
	const char *tls_cert_pem;
	const char *tls_key_pem;
	unsigned max_connections_per_ip; /* open connections from one client address; 0 = no limit */
	unsigned max_long_polls;	  /* pops and leases waiting at once; 0 = no limit */
};

struct api_server;

/*
 * api_start serves store over HTTP as configured by *cfg, on its own threads.
 * store is borrowed: it must outlive the server. On success *out is the
 * server; caller owns it, stop with api_stop(). On failure it returns false
 * and writes a one-line cause into err (errlen bytes).
 */
bool api_start(struct queue_store *store, const struct api_config *cfg, struct api_server **out,
	       char *err, size_t errlen);

/* api_port returns the TCP port the server listens on (the real one when 0 was asked for). */
uint16_t api_port(const struct api_server *srv);

/*
 * api_stop stops accepting connections, answers open long polls with an empty
 * list, lets in-flight requests finish and connections that are still sending
 * their first request head send it (waiting at most drain_ms), closes every
 * connection and frees srv. The store is left open. api_stop(NULL) is a no-op.
 */
void api_stop(struct api_server *srv, unsigned drain_ms);

/* One served route: its method and path pattern, e.g. "POST", "/v1/queues/{q}/messages". */
struct api_route_info {
	const char *method;
	const char *pattern;
};

/*
 * api_route_info returns the i-th route the server serves (counting from 0),
 * or NULL when i is past the last one. The result is static and constant.
 * This function can't fail.
 */
const struct api_route_info *api_route_info(size_t i);

#endif

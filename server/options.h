/* options.h: mmqd's command line and environment: every option, its default, and its variable. */
#ifndef MMQ_SRV_OPTIONS_H
#define MMQ_SRV_OPTIONS_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/socket.h>

#include "../queue/queue.h"
#include "log.h"

#define MMQD_VERSION "1.0.0"

/* Everything the command line and the environment decide. Strings are borrowed from argv or environ. */
struct srv_options {
	const char *listen;
	const char *data_dir;
	enum queue_sync sync;
	uint32_t sync_interval_ms;
	unsigned threads;
	uint64_t max_body_bytes;
	uint64_t min_free_bytes;
	const char *auth_token_file; /* NULL: none */
	const char *auth_token;	     /* MMQ_AUTH_TOKEN, NULL: none */
	const char *sqs_access_key;  /* NULL: SQS requests name the auth token as their access key */
	const char *sqs_secret_key;  /* NULL: SQS signatures are not verified */
	unsigned max_connections;
	unsigned connection_timeout;
	const char *tls_cert_file; /* NULL: plain HTTP; set together with tls_key_file */
	const char *tls_key_file;
	uint32_t max_queues;		 /* 0: no limit */
	unsigned max_connections_per_ip; /* 0: no limit */
	unsigned max_long_polls;	 /* 0: no limit */
	enum srv_log_level log_level;
	enum srv_log_format log_format;
	bool healthcheck;
	bool help;
	bool version;
};

/*
 * srv_options_parse fills *o from the defaults, then the MMQ_* environment,
 * then argv (flags win). On a bad value, an unknown flag, or only one of
 * --tls-cert and --tls-key, it returns false and writes one line saying which
 * into err (errlen bytes).
 */
bool srv_options_parse(int argc, char **argv, struct srv_options *o, char *err, size_t errlen);

/* srv_options_usage prints the help: every option with its default and variable. */
void srv_options_usage(FILE *out);

/*
 * srv_listen_addr turns "HOST:PORT" (HOST an IPv4 address, a name, or an IPv6
 * address in brackets) into a socket address. loopback maps the wildcard
 * addresses to the loopback ones (for --healthcheck). Returns false with a
 * cause in err when it cannot.
 */
bool srv_listen_addr(const char *listen, bool loopback, struct sockaddr_storage *ss,
		     socklen_t *len, char *err, size_t errlen);

#endif

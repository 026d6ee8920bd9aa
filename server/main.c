/* main.c: mmqd's life: parse options, open the store, serve, wait for a signal, shut down cleanly. */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../api/api.h"
#include "healthcheck.h"
#include "log.h"
#include "options.h"

/* How long open requests may take to finish on shutdown, leaving time to sync within 5 s. */
#define DRAIN_MS 3000u

/* log_hook passes the HTTP layer's log lines to ours. */
static void log_hook(enum api_log_level level, const char *line)
{
	srv_log((enum srv_log_level)level, "%s", line);
}

/*
 * load_token reads the bearer token from the token file (trailing whitespace
 * and newlines removed) into buf, or takes MMQ_AUTH_TOKEN. *token is NULL
 * without either. Returns false, logged, when the file is unusable.
 */
static bool load_token(const struct srv_options *o, char *buf, size_t buflen, const char **token)
{
	FILE *f;
	size_t n;

	*token = o->auth_token;
	if (o->auth_token_file == NULL)
		return true;
	f = fopen(o->auth_token_file, "r");
	if (f == NULL) {
		srv_log(SRV_LOG_ERROR, "cannot read the auth token file %s: %s", o->auth_token_file,
			strerror(errno));
		return false;
	}
	n = fread(buf, 1, buflen - 1, f);
	fclose(f);
	buf[n] = '\0';
	while (n > 0 && strchr(" \t\r\n", buf[n - 1]) != NULL)
		buf[--n] = '\0';
	if (n == 0 || strlen(buf) != n) {
		srv_log(SRV_LOG_ERROR, "the auth token file %s holds no usable token",
			o->auth_token_file);
		return false;
	}
	*token = buf;
	return true;
}

/* open_store opens and recovers the data directory, logging what recovery found. */
static struct queue_store *open_store(const struct srv_options *o)
{
	struct queue_store_options opts;
	struct queue_recovery rec;
	struct queue_store *store = NULL;
	enum queue_err err;

	queue_store_options_default(&opts);
	opts.sync = o->sync;
	opts.sync_interval_ms = o->sync_interval_ms;
	opts.min_free_bytes = o->min_free_bytes;
	memset(&rec, 0, sizeof(rec));
	srv_log(SRV_LOG_INFO, "data dir %s", o->data_dir);
	srv_log(SRV_LOG_INFO, "sync mode %s%s", queue_sync_name(o->sync),
		o->sync == QUEUE_SYNC_INTERVAL ? " (see --sync-interval-ms)" : "");
	err = queue_store_open(o->data_dir, &opts, &store, &rec);
	if (err == QUEUE_LOCKED) {
		srv_log(SRV_LOG_ERROR, "data dir %s is in use by another mmqd; exiting", o->data_dir);
		return NULL;
	}
	if (err != QUEUE_OK) {
		srv_log(SRV_LOG_ERROR, "cannot open data dir %s: %s%s%s", o->data_dir,
			queue_strerror(err), rec.first_problem[0] ? ": " : "", rec.first_problem);
		return NULL;
	}
	srv_log(SRV_LOG_INFO, "recovered %u queues: %llu records replayed, %llu messages, in %.1f ms",
		rec.queues, (unsigned long long)rec.records, (unsigned long long)rec.messages,
		(double)rec.elapsed_ns / 1e6);
	if (rec.corrupt_records > 0 || rec.torn_bytes > 0)
		srv_log(SRV_LOG_WARN, "recovery kept out %llu corrupt records and cut %llu torn bytes: %s",
			(unsigned long long)rec.corrupt_records, (unsigned long long)rec.torn_bytes,
			rec.first_problem);
	return store;
}

/* serve starts the HTTP server on store and logs the address it really listens on. */
static struct api_server *serve(const struct srv_options *o, struct queue_store *store,
				const char *token)
{
	struct sockaddr_storage ss;
	struct api_config cfg;
	struct api_server *srv = NULL;
	char err[256], host[256];

	memset(&cfg, 0, sizeof(cfg));
	if (!srv_listen_addr(o->listen, false, &ss, &cfg.addr_len, err, sizeof(err))) {
		srv_log(SRV_LOG_ERROR, "%s", err);
		return NULL;
	}
	cfg.addr = (const struct sockaddr *)&ss;
	cfg.threads = o->threads;
	cfg.max_connections = o->max_connections;
	cfg.connection_timeout = o->connection_timeout;
	cfg.max_body_bytes = (size_t)o->max_body_bytes;
	cfg.auth_token = token;
	cfg.log = log_hook;
	if (!api_start(store, &cfg, &srv, err, sizeof(err))) {
		srv_log(SRV_LOG_ERROR, "cannot serve on %s: %s", o->listen, err);
		return NULL;
	}
	snprintf(host, sizeof(host), "%s", o->listen);
	*strrchr(host, ':') = '\0';
	srv_log(SRV_LOG_INFO, "listening on %s:%u%s", host, (unsigned)api_port(srv),
		token != NULL ? " (bearer token required)" : "");
	return srv;
}

/* run serves until SIGTERM or SIGINT, then stops in order. Returns the exit status. */
static int run(const struct srv_options *o, const char *token)
{
	struct queue_store *store;
	struct api_server *srv;
	enum queue_err err;
	sigset_t set;
	int sig = 0;

	/* Blocked before any thread starts, so every thread inherits the mask and main alone takes them. */
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);
	store = open_store(o);
	if (store == NULL)
		return 1;
	srv = serve(o, store, token);
	if (srv == NULL) {
		queue_store_close(store);
		return 1;
	}
	while (sigwait(&set, &sig) != 0) {
	}
	srv_log(SRV_LOG_INFO, "%s: shutting down", sig == SIGINT ? "SIGINT" : "SIGTERM");
	api_stop(srv, DRAIN_MS);
	err = queue_store_close(store);
	if (err != QUEUE_OK) {
		srv_log(SRV_LOG_ERROR, "queue_store_close: %s", queue_strerror(err));
		return 1;
	}
	srv_log(SRV_LOG_INFO, "stopped");
	return 0;
}

int main(int argc, char **argv)
{
	struct srv_options o;
	char err[256], token_buf[4096];
	const char *token;

	if (!srv_options_parse(argc, argv, &o, err, sizeof(err))) {
		fprintf(stderr, "mmqd: %s\n", err);
		return 2;
	}
	if (o.help) {
		srv_options_usage(stdout);
		return 0;
	}
	if (o.version) {
		printf("mmqd %s\n", MMQD_VERSION);
		return 0;
	}
	srv_log_set_level(o.log_level);
	if (o.healthcheck)
		return srv_healthcheck(o.listen);
	if (!load_token(&o, token_buf, sizeof(token_buf), &token))
		return 1;
	return run(&o, token);
}

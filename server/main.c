/* main.c: mmqd's life: parse options, open the store, serve, wait for a signal, shut down cleanly. */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../api/api.h"
#include "healthcheck.h"
#include "log.h"
#include "options.h"
#include "tls.h"
#include "verify.h"

/* How long open requests may take to finish on shutdown, leaving time to sync within 5 s. */
#define DRAIN_MS 3000u

/* log_hook passes the HTTP layer's log lines to ours. */
static void log_hook(enum api_log_level level, const char *line)
{
	srv_log_event((enum srv_log_level)level, "http", NULL, "%s", line);
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
		srv_log_event(SRV_LOG_ERROR, "auth_token_file_unreadable",
			      SRV_FIELDS(SRV_STR("file", o->auth_token_file),
					 SRV_STR("error", strerror(errno))),
			      "cannot read the auth token file %s: %s", o->auth_token_file,
			      strerror(errno));
		return false;
	}
	n = fread(buf, 1, buflen - 1, f);
	fclose(f);
	buf[n] = '\0';
	while (n > 0 && strchr(" \t\r\n", buf[n - 1]) != NULL)
		buf[--n] = '\0';
	if (n == 0 || strlen(buf) != n) {
		srv_log_event(SRV_LOG_ERROR, "auth_token_file_empty",
			      SRV_FIELDS(SRV_STR("file", o->auth_token_file)),
			      "the auth token file %s holds no usable token", o->auth_token_file);
		return false;
	}
	*token = buf;
	return true;
}

/* log_problem logs one piece of damage recovery found, with where it is (never its bytes). */
static void log_problem(void *ctx, const struct queue_problem *p)
{
	const char *what = queue_damage_text(p->kind);

	(void)ctx;
	srv_log_event(SRV_LOG_WARN, "recovery_problem",
		      SRV_FIELDS(SRV_STR("queue", p->queue), SRV_STR("file", p->file),
				 SRV_UINT("offset", p->offset), SRV_STR("problem", what)),
		      "queue %s: %s offset %llu: %s", p->queue, p->file,
		      (unsigned long long)p->offset, what);
}

/* log_recovered logs what opening the data directory found and how long it took. */
static void log_recovered(const struct queue_recovery *rec)
{
	double ms = (double)rec->elapsed_ns / 1e6;

	srv_log_event(SRV_LOG_INFO, "recovered",
		      SRV_FIELDS(SRV_UINT("queues", rec->queues), SRV_UINT("records", rec->records),
				 SRV_UINT("messages", rec->messages),
				 SRV_UINT("corrupt_records", rec->corrupt_records),
				 SRV_UINT("torn_bytes", rec->torn_bytes), SRV_REAL("ms", ms)),
		      "recovered %u queues: %llu records replayed, %llu messages, in %.1f ms",
		      rec->queues, (unsigned long long)rec->records,
		      (unsigned long long)rec->messages, ms);
	if (rec->corrupt_records > 0 || rec->torn_bytes > 0)
		srv_log_event(SRV_LOG_WARN, "recovery_damage",
			      SRV_FIELDS(SRV_UINT("corrupt_records", rec->corrupt_records),
					 SRV_UINT("torn_bytes", rec->torn_bytes),
					 SRV_STR("first_problem", rec->first_problem)),
			      "recovery kept out %llu corrupt records and cut %llu torn bytes: %s",
			      (unsigned long long)rec->corrupt_records,
			      (unsigned long long)rec->torn_bytes, rec->first_problem);
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
	opts.max_queues = o->max_queues;
	opts.on_problem = log_problem;
	memset(&rec, 0, sizeof(rec));
	srv_log_event(SRV_LOG_INFO, "opening",
		      SRV_FIELDS(SRV_STR("data_dir", o->data_dir),
				 SRV_STR("sync", queue_sync_name(o->sync)),
				 SRV_UINT("sync_interval_ms", o->sync_interval_ms),
				 SRV_UINT("min_free_bytes", o->min_free_bytes)),
		      "data dir %s, sync mode %s%s", o->data_dir, queue_sync_name(o->sync),
		      o->sync == QUEUE_SYNC_INTERVAL ? " (see --sync-interval-ms)" : "");
	err = queue_store_open(o->data_dir, &opts, &store, &rec);
	if (err == QUEUE_LOCKED) {
		srv_log_event(SRV_LOG_ERROR, "data_dir_locked",
			      SRV_FIELDS(SRV_STR("data_dir", o->data_dir)),
			      "data dir %s is in use by another mmqd; exiting", o->data_dir);
		return NULL;
	}
	if (err != QUEUE_OK) {
		srv_log_event(SRV_LOG_ERROR, "open_failed",
			      SRV_FIELDS(SRV_STR("data_dir", o->data_dir),
					 SRV_STR("error", queue_strerror(err)),
					 SRV_STR("first_problem", rec.first_problem)),
			      "cannot open data dir %s: %s%s%s", o->data_dir, queue_strerror(err),
			      rec.first_problem[0] ? ": " : "", rec.first_problem);
		return NULL;
	}
	log_recovered(&rec);
	return store;
}

/* serve starts the HTTP server on store and logs the address it really listens on. */
static struct api_server *serve(const struct srv_options *o, struct queue_store *store,
				const char *token)
{
	struct sockaddr_storage ss;
	struct api_config cfg;
	struct api_server *srv = NULL;
	struct srv_tls tls;
	char err[256], host[256], addr[300], *colon;
	bool started;

	memset(&cfg, 0, sizeof(cfg));
	if (!srv_listen_addr(o->listen, false, &ss, &cfg.addr_len, err, sizeof(err))) {
		srv_log_event(SRV_LOG_ERROR, "listen_failed",
			      SRV_FIELDS(SRV_STR("listen", o->listen), SRV_STR("error", err)), "%s",
			      err);
		return NULL;
	}
	cfg.addr = (const struct sockaddr *)&ss;
	cfg.threads = o->threads;
	cfg.max_connections = o->max_connections;
	cfg.connection_timeout = o->connection_timeout;
	cfg.max_body_bytes = (size_t)o->max_body_bytes;
	cfg.auth_token = token;
	cfg.sqs_access_key = o->sqs_access_key;
	cfg.sqs_secret_key = o->sqs_secret_key;
	cfg.log = log_hook;
	cfg.max_connections_per_ip = o->max_connections_per_ip;
	cfg.max_long_polls = o->max_long_polls;
	if (!srv_tls_load(o, &tls))
		return NULL;
	cfg.tls_cert_pem = tls.cert;
	cfg.tls_key_pem = tls.key;
	started = api_start(store, &cfg, &srv, err, sizeof(err));
	srv_tls_free(&tls);
	if (!started) {
		srv_log_event(SRV_LOG_ERROR, "listen_failed",
			      SRV_FIELDS(SRV_STR("listen", o->listen), SRV_STR("error", err)),
			      "cannot serve on %s: %s", o->listen, err);
		return NULL;
	}
	snprintf(host, sizeof(host), "%s", o->listen);
	colon = strrchr(host, ':'); /* options.c took only a listen address with a port */
	if (colon != NULL)
		*colon = '\0';
	snprintf(addr, sizeof(addr), "%s:%u", host, (unsigned)api_port(srv));
	srv_log_event(SRV_LOG_INFO, "listening",
		      SRV_FIELDS(SRV_STR("addr", addr), SRV_BOOL("auth", token != NULL),
				 SRV_BOOL("tls", o->tls_cert_file != NULL)),
		      "listening on %s%s%s", addr, o->tls_cert_file != NULL ? " (HTTPS)" : "",
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
	srv_log_event(SRV_LOG_INFO, "starting",
		      SRV_FIELDS(SRV_STR("version", MMQD_VERSION), SRV_UINT("pid", getpid())),
		      "mmqd %s starting", MMQD_VERSION);
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
	srv_log_event(SRV_LOG_INFO, "shutting_down",
		      SRV_FIELDS(SRV_STR("signal", sig == SIGINT ? "SIGINT" : "SIGTERM")),
		      "%s: shutting down", sig == SIGINT ? "SIGINT" : "SIGTERM");
	api_stop(srv, DRAIN_MS);
	err = queue_store_close(store);
	if (err != QUEUE_OK) {
		srv_log_event(SRV_LOG_ERROR, "close_failed",
			      SRV_FIELDS(SRV_STR("error", queue_strerror(err))), "queue_store_close: %s",
			      queue_strerror(err));
		return 1;
	}
	srv_log_event(SRV_LOG_INFO, "stopped", NULL, "stopped");
	return 0;
}

int main(int argc, char **argv)
{
	struct srv_options o;
	char err[256], token_buf[4096];
	const char *token;

	if (argc > 1 && strcmp(argv[1], "verify") == 0)
		return srv_verify_main(argc - 1, argv + 1);
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
	srv_log_set_format(o.log_format);
	if (o.healthcheck && o.tls_cert_file != NULL) {
		/* A plain-HTTP probe cannot talk to an HTTPS server; say so rather than time out. */
		srv_log(SRV_LOG_ERROR, "healthcheck: --healthcheck speaks plain HTTP only and cannot "
				       "check a server started with --tls-cert");
		return 1;
	}
	if (o.healthcheck)
		return srv_healthcheck(o.listen);
	if (!load_token(&o, token_buf, sizeof(token_buf), &token))
		return 1;
	return run(&o, token);
}

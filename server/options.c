/* options.c: parses mmqd's flags and MMQ_* variables from one table, and prints the help from it. */
#include <errno.h>
#include <netdb.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "options.h"

/* set_number parses text as a decimal in [min, max]. */
static bool set_number(const char *text, uint64_t min, uint64_t max, uint64_t *out)
{
	char *end;
	unsigned long long v;

	if (text[0] < '0' || text[0] > '9')
		return false;
	errno = 0;
	v = strtoull(text, &end, 10);
	if (errno != 0 || *end != '\0' || v < min || v > max)
		return false;
	*out = v;
	return true;
}

static bool set_listen(struct srv_options *o, const char *v)
{
	struct sockaddr_storage ss;
	socklen_t len;
	char err[128];

	o->listen = v;
	return srv_listen_addr(v, false, &ss, &len, err, sizeof(err));
}

static bool set_data_dir(struct srv_options *o, const char *v)
{
	o->data_dir = v;
	return v[0] != '\0';
}

static bool set_sync(struct srv_options *o, const char *v)
{
	return queue_sync_parse(v, &o->sync);
}

static bool set_sqs_access_key(struct srv_options *o, const char *v)
{
	o->sqs_access_key = v[0] != '\0' ? v : NULL;
	return true;
}

static bool set_sqs_secret_key(struct srv_options *o, const char *v)
{
	o->sqs_secret_key = v[0] != '\0' ? v : NULL;
	return true;
}

static bool set_log_level(struct srv_options *o, const char *v)
{
	return srv_log_level_parse(v, &o->log_level);
}

static bool set_log_format(struct srv_options *o, const char *v)
{
	return srv_log_format_parse(v, &o->log_format);
}

#define FIELD(f)                                                                                  \
	.offset = offsetof(struct srv_options, f), .width = sizeof(((struct srv_options *)0)->f)
#define FUNC(fn) .kind = OPT_FUNC, .set = fn
#define NUMBER(f, lo, hi) .kind = OPT_NUMBER, FIELD(f), .min = lo, .max = hi
#define FILE_NAME(f) .kind = OPT_FILE, FIELD(f)

/* How an option's value is stored: by its own function, as a number in a range, or as a file name. */
enum option_kind { OPT_FUNC, OPT_NUMBER, OPT_FILE };

/* One option that takes a value: flag, variable, default, what the help says, and where it goes. */
static const struct option_def {
	const char *flag;
	const char *env;
	const char *arg;
	const char *def; /* NULL: none */
	const char *help;
	enum option_kind kind;
	bool (*set)(struct srv_options *o, const char *value); /* OPT_FUNC */
	size_t offset, width;				       /* OPT_NUMBER, OPT_FILE: the field */
	uint64_t min, max;				       /* OPT_NUMBER: its range */
} defs[] = {
	{ "--listen", "MMQ_LISTEN", "HOST:PORT", "0.0.0.0:8080", "address to listen on", FUNC(set_listen) },
	{ "--data-dir", "MMQ_DATA_DIR", "DIR", "./data", "directory of the queues' files",
	  FUNC(set_data_dir) },
	{ "--sync", "MMQ_SYNC", "MODE", "always", "always, interval or none: when changes reach disk",
	  FUNC(set_sync) },
	{ "--sync-interval-ms", "MMQ_SYNC_INTERVAL_MS", "N", "1000",
	  "milliseconds between syncs with --sync interval (1..3600000)", NUMBER(sync_interval_ms, 1, 3600000) },
	{ "--threads", "MMQ_THREADS", "N", "0", "HTTP worker threads; 0 = one per core (0..1024)",
	  NUMBER(threads, 0, 1024) },
	{ "--max-body-bytes", "MMQ_MAX_BODY_BYTES", "N", "16777216",
	  "largest batch request body (1024..1073741824)", NUMBER(max_body_bytes, 1024, 1ull << 30) },
	{ "--min-free-bytes", "MMQ_MIN_FREE_BYTES", "N", "0",
	  "free disk space to keep; writes below it answer 507 disk_full",
	  NUMBER(min_free_bytes, 0, 1ull << 50) },
	{ "--auth-token-file", "MMQ_AUTH_TOKEN_FILE", "FILE", NULL,
	  "file holding the bearer token every route but /healthz requires", FILE_NAME(auth_token_file) },
	{ "--sqs-access-key", "MMQ_SQS_ACCESS_KEY", "KEY", NULL,
	  "with an auth token: the AWS access key id SQS requests must sign with; default: the token",
	  FUNC(set_sqs_access_key) },
	{ "--sqs-secret-key", "MMQ_SQS_SECRET_KEY", "KEY", NULL,
	  "with an auth token: verify SQS request signatures (SigV4) with this secret key; default: not verified",
	  FUNC(set_sqs_secret_key) },
	{ "--max-connections", "MMQ_MAX_CONNECTIONS", "N", "1024",
	  "open connections at once (1..1000000)", NUMBER(max_connections, 1, 1000000) },
	{ "--connection-timeout", "MMQ_CONNECTION_TIMEOUT", "SECONDS", "30",
	  "close a connection idle or stalled this long; 0 = never (0..86400)",
	  NUMBER(connection_timeout, 0, 86400) },
	{ "--max-connections-per-ip", "MMQ_MAX_CONNECTIONS_PER_IP", "N", "0",
	  "open connections from one client address; 0 = no limit (0..1000000)", NUMBER(max_connections_per_ip, 0, 1000000) },
	{ "--max-long-polls", "MMQ_MAX_LONG_POLLS", "N", "1000",
	  "pops and leases waiting at once; more answer 429; 0 = no limit (0..1000000)",
	  NUMBER(max_long_polls, 0, 1000000) },
	{ "--max-queues", "MMQ_MAX_QUEUES", "N", "10000",
	  "queues the server may hold; more answer 507; 0 = no limit (0..1000000)",
	  NUMBER(max_queues, 0, 1000000) },
	{ "--tls-cert", "MMQ_TLS_CERT", "FILE", NULL,
	  "PEM certificate (chain) to serve HTTPS with; needs --tls-key", FILE_NAME(tls_cert_file) },
	{ "--tls-key", "MMQ_TLS_KEY", "FILE", NULL, "PEM private key of --tls-cert",
	  FILE_NAME(tls_key_file) },
	{ "--log-level", "MMQ_LOG_LEVEL", "LEVEL", "info", "error, warn, info or debug",
	  FUNC(set_log_level) },
	{ "--log-format", "MMQ_LOG_FORMAT", "FORMAT", "text",
	  "text (key=value) or json (one object per line)", FUNC(set_log_format) },
};

#define DEFS (sizeof(defs) / sizeof(defs[0]))

/* The flags that take no value. */
static const struct switch_def {
	const char *flag;
	const char *help;
	size_t offset;
} switches[] = {
	{ "--healthcheck", "GET /healthz on the listen address; exit 0 on 200, else 1",
	  offsetof(struct srv_options, healthcheck) },
	{ "--help", "print this help and exit", offsetof(struct srv_options, help) },
	{ "--version", "print the version and exit", offsetof(struct srv_options, version) },
};

#define SWITCHES (sizeof(switches) / sizeof(switches[0]))

void srv_options_usage(FILE *out)
{
	fprintf(out, "Usage: mmqd [OPTION]...\n"
		     "       mmqd verify [--data-dir DIR] [--repair]   (see mmqd verify --help)\n"
		     "Serve persistent JSON message queues over HTTP.\n\n");
	for (size_t i = 0; i < DEFS; i++) {
		char left[64];
		snprintf(left, sizeof(left), "%s %s", defs[i].flag, defs[i].arg);
		fprintf(out, "  %-30s %s\n  %-30s (default %s; env %s)\n", left, defs[i].help, "",
			defs[i].def ? defs[i].def : "none", defs[i].env);
	}
	for (size_t i = 0; i < SWITCHES; i++)
		fprintf(out, "  %-30s %s\n", switches[i].flag, switches[i].help);
	fprintf(out, "\nEnvironment: MMQ_AUTH_TOKEN=TOKEN gives the bearer token itself; a token\n"
		     "file, from the flag or MMQ_AUTH_TOKEN_FILE, wins over it.\n"
		     "Flags win over environment variables.\n");
}

/* set_def stores value into the field of option d; false when it does not parse. */
static bool set_def(struct srv_options *o, const struct option_def *d, const char *value)
{
	char *field = (char *)o + d->offset;
	uint64_t n = 0;
	const char *name = value[0] != '\0' ? value : NULL;

	switch (d->kind) {
	case OPT_FUNC:
		return d->set(o, value);
	case OPT_FILE:
		memcpy(field, &name, sizeof(name));
		return true;
	case OPT_NUMBER:
		break;
	}
	if (!set_number(value, d->min, d->max, &n))
		return false;
	if (d->width == sizeof(uint32_t)) {
		uint32_t n32 = (uint32_t)n;
		memcpy(field, &n32, sizeof(n32));
	} else {
		memcpy(field, &n, sizeof(n));
	}
	return true;
}

/* apply sets option d from value, naming where it came from on failure. */
static bool apply(struct srv_options *o, const struct option_def *d, const char *value,
		  const char *from, char *err, size_t errlen)
{
	if (set_def(o, d, value))
		return true;
	snprintf(err, errlen, "invalid value \"%s\" for %s (see --help)", value, from);
	return false;
}

/*
 * defaults_and_env applies each default, then each MMQ_* variable that is set.
 * A bad variable is remembered in bad_env, not refused yet: a flag may override it.
 */
static void defaults_and_env(struct srv_options *o, bool *bad_env)
{
	const char *token = getenv("MMQ_AUTH_TOKEN");

	memset(o, 0, sizeof(*o));
	for (size_t i = 0; i < DEFS; i++) {
		const char *env = getenv(defs[i].env);
		if (defs[i].def != NULL && !set_def(o, &defs[i], defs[i].def))
			abort(); /* A default that does not parse is a bug in the table. */
		bad_env[i] = env != NULL && !set_def(o, &defs[i], env);
	}
	o->auth_token = token != NULL && token[0] != '\0' ? token : NULL;
}

/* flag_value matches arg against flag, as "--flag" (value next) or "--flag=value". */
static bool flag_value(const char *arg, const char *flag, int *i, int argc, char **argv,
		       const char **value)
{
	size_t n = strlen(flag);

	if (strncmp(arg, flag, n) != 0)
		return false;
	if (arg[n] == '=') {
		*value = arg + n + 1;
		return true;
	}
	if (arg[n] != '\0')
		return false;
	*value = *i + 1 < argc ? argv[++*i] : NULL;
	return true;
}

/* parse_one handles argv[*i]; false with err set when it is unknown or bad. */
static bool parse_one(struct srv_options *o, int *i, int argc, char **argv, bool *bad_env,
		      char *err, size_t errlen)
{
	const char *arg = argv[*i], *value;

	for (size_t k = 0; k < SWITCHES; k++) {
		if (strcmp(arg, switches[k].flag) == 0) {
			*(bool *)((char *)o + switches[k].offset) = true;
			return true;
		}
	}
	for (size_t k = 0; k < DEFS; k++) {
		if (!flag_value(arg, defs[k].flag, i, argc, argv, &value))
			continue;
		if (value == NULL) {
			snprintf(err, errlen, "%s needs a value (see --help)", defs[k].flag);
			return false;
		}
		bad_env[k] = false;
		return apply(o, &defs[k], value, defs[k].flag, err, errlen);
	}
	snprintf(err, errlen, "unknown option \"%s\" (see --help)", arg);
	return false;
}

bool srv_options_parse(int argc, char **argv, struct srv_options *o, char *err, size_t errlen)
{
	bool bad_env[DEFS];

	defaults_and_env(o, bad_env);
	for (int i = 1; i < argc; i++) {
		if (!parse_one(o, &i, argc, argv, bad_env, err, errlen))
			return false;
	}
	for (size_t k = 0; k < DEFS; k++) {
		if (bad_env[k])
			return apply(o, &defs[k], getenv(defs[k].env), defs[k].env, err, errlen);
	}
	if ((o->tls_cert_file == NULL) != (o->tls_key_file == NULL)) {
		snprintf(err, errlen, "--tls-cert and --tls-key go together: give both or neither");
		return false;
	}
	return true;
}

/* split_host_port splits listen into host and port text, removing IPv6 brackets. */
static bool split_host_port(const char *listen, char *host, size_t hostlen, const char **port)
{
	const char *colon;
	size_t n;

	if (listen[0] == '[') {
		const char *close = strchr(listen, ']');
		if (close == NULL || close[1] != ':')
			return false;
		n = (size_t)(close - listen - 1);
		colon = close + 1;
		listen++;
	} else {
		colon = strrchr(listen, ':');
		if (colon == NULL)
			return false;
		n = (size_t)(colon - listen);
	}
	if (n == 0 || n >= hostlen)
		return false;
	memcpy(host, listen, n);
	host[n] = '\0';
	*port = colon + 1;
	return true;
}

bool srv_listen_addr(const char *listen, bool loopback, struct sockaddr_storage *ss,
		     socklen_t *len, char *err, size_t errlen)
{
	char host[256];
	const char *port;
	uint64_t portnum;
	struct addrinfo hints, *res = NULL;
	int rc;

	if (!split_host_port(listen, host, sizeof(host), &port) || !set_number(port, 0, 65535, &portnum)) {
		snprintf(err, errlen, "\"%s\" is not HOST:PORT", listen);
		return false;
	}
	if (loopback && strcmp(host, "0.0.0.0") == 0)
		strcpy(host, "127.0.0.1");
	if (loopback && strcmp(host, "::") == 0)
		strcpy(host, "::1");
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICSERV;
	rc = getaddrinfo(host, port, &hints, &res);
	if (rc != 0) {
		snprintf(err, errlen, "cannot resolve \"%s\": %s", host, gai_strerror(rc));
		return false;
	}
	memcpy(ss, res->ai_addr, res->ai_addrlen);
	*len = res->ai_addrlen;
	freeaddrinfo(res);
	return true;
}

/* stub_server.c: an HTTP server that stores nothing, the ceiling of mmqd's HTTP stack for bench_http.sh. */
#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/*
 * The stub answers every request with 201 and {"id":1}, using the same
 * libmicrohttpd flags mmqd uses (internal polling threads, epoll, a pool of
 * one thread per core, suspend/resume with an inter-thread channel), so the
 * difference between its numbers and mmqd's is the cost of the queue itself.
 */

static const char STUB_BODY[] = "{\"id\":1}";

struct stub_options {
	struct sockaddr_in addr;
	unsigned threads;
};

/* A non-NULL marker for *con_cls: the request's headers have been seen. */
static int stub_seen;

static void stub_usage(FILE *out)
{
	fprintf(out, "usage: stub_server [--listen 127.0.0.1:PORT] [--threads N]\n"
		     "Answers every request with 201 {\"id\":1}; stores nothing.\n");
}

/* stub_parse_listen fills *addr from "HOST:PORT" (HOST an IPv4 address); false if malformed. */
static bool stub_parse_listen(const char *text, struct sockaddr_in *addr)
{
	char host[64];
	const char *colon = strrchr(text, ':');
	char *end = NULL;
	long port;

	if (colon == NULL || (size_t)(colon - text) >= sizeof(host))
		return false;
	memcpy(host, text, (size_t)(colon - text));
	host[colon - text] = '\0';
	errno = 0;
	port = strtol(colon + 1, &end, 10);
	if (errno != 0 || *end != '\0' || end == colon + 1 || port < 0 || port > 65535)
		return false;
	memset(addr, 0, sizeof(*addr));
	addr->sin_family = AF_INET;
	addr->sin_port = htons((uint16_t)port);
	return inet_pton(AF_INET, host, &addr->sin_addr) == 1;
}

/* stub_parse_args fills *opts from argv; false (after printing why) on a bad argument. */
static bool stub_parse_args(int argc, char **argv, struct stub_options *opts)
{
	long cores = sysconf(_SC_NPROCESSORS_ONLN);

	opts->threads = cores > 0 ? (unsigned)cores : 1;
	stub_parse_listen("127.0.0.1:0", &opts->addr);
	for (int i = 1; i < argc; i++) {
		const char *val = i + 1 < argc ? argv[i + 1] : NULL;

		if (strcmp(argv[i], "--help") == 0) {
			stub_usage(stdout);
			exit(0);
		} else if (strcmp(argv[i], "--listen") == 0 && val != NULL) {
			if (!stub_parse_listen(val, &opts->addr)) {
				fprintf(stderr, "stub_server: bad --listen %s\n", val);
				return false;
			}
			i++;
		} else if (strcmp(argv[i], "--threads") == 0 && val != NULL) {
			long n = strtol(val, NULL, 10);

			if (n < 1 || n > 1024) {
				fprintf(stderr, "stub_server: bad --threads %s\n", val);
				return false;
			}
			opts->threads = (unsigned)n;
			i++;
		} else {
			stub_usage(stderr);
			return false;
		}
	}
	return true;
}

/*
 * stub_access reads the whole body and then answers 201. The first call only
 * announces the headers; answering there would make libmicrohttpd 0.9.75
 * close a keep-alive connection, so the answer waits for a later call.
 */
static enum MHD_Result stub_access(void *cls, struct MHD_Connection *conn, const char *url,
				   const char *method, const char *version,
				   const char *upload_data, size_t *upload_data_size,
				   void **con_cls)
{
	struct MHD_Response *resp;
	enum MHD_Result ret;

	(void)cls;
	(void)url;
	(void)method;
	(void)version;
	(void)upload_data;
	if (*con_cls == NULL) {
		*con_cls = &stub_seen;
		return MHD_YES;
	}
	if (*upload_data_size > 0) {
		*upload_data_size = 0;
		return MHD_YES;
	}
	resp = MHD_create_response_from_buffer(sizeof(STUB_BODY) - 1, (void *)STUB_BODY,
					       MHD_RESPMEM_MUST_COPY);
	if (resp == NULL)
		return MHD_NO;
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE,
				"application/json; charset=utf-8");
	ret = MHD_queue_response(conn, MHD_HTTP_CREATED, resp);
	MHD_destroy_response(resp);
	return ret;
}

int main(int argc, char **argv)
{
	struct stub_options opts;
	struct MHD_Daemon *d = NULL;
	const union MHD_DaemonInfo *info;
	sigset_t set;
	int sig = 0;

	if (!stub_parse_args(argc, argv, &opts))
		return 2;
	/* Block the stop signals in every thread libmicrohttpd starts; main waits for them. */
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);
	d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL |
				     MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ITC | MHD_USE_ERROR_LOG,
			     0, NULL, NULL, stub_access, NULL,
			     MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&opts.addr,
			     MHD_OPTION_THREAD_POOL_SIZE, opts.threads,
			     MHD_OPTION_CONNECTION_TIMEOUT, 30u,
			     MHD_OPTION_END);
	if (d == NULL) {
		fprintf(stderr, "stub_server: cannot listen\n");
		return 1;
	}
	info = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
	fprintf(stderr, "stub_server: listening on 127.0.0.1:%u\n",
		info != NULL ? (unsigned)info->port : 0u);
	if (sigwait(&set, &sig) != 0)
		sig = 0;
	MHD_stop_daemon(d);
	return 0;
}

/* httputil.h: helpers for the HTTP suites: run a real mmqd as a child and talk to it with libcurl. */
#ifndef MMQ_HTTPUTIL_H
#define MMQ_HTTPUTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* A running mmqd: its process, port, data directory and log file. */
struct th_server {
	pid_t pid;
	uint16_t port;
	char *dir;  /* the test's temporary directory (owned) */
	char *data; /* dir/data (owned) */
	char *log;  /* dir/mmqd.log: the server's stderr (owned) */
};

/* A response: status, body (NUL-terminated), and the raw header block. */
struct th_resp {
	long status;
	char *body;
	size_t len;
	char *headers;
	size_t headers_len;
	double seconds; /* how long the exchange took */
};

/*
 * th_setup makes a fresh temporary directory for s (no server yet). Aborts on
 * failure. Clean up with th_teardown().
 */
void th_setup(struct th_server *s);

/*
 * The exit status a checker running mmqd uses for its findings: valgrind's
 * --error-exitcode and AddressSanitizer's exitcode must be set to it.
 */
#define TH_TOOL_ERROR 99

/*
 * th_wrapped says whether mmqd runs under $MMQD_WRAPPER (a command and its
 * arguments separated by spaces, e.g. valgrind with its options), which
 * makes start and stop slower: the timeouts grow accordingly.
 */
bool th_wrapped(void);

/*
 * th_start starts $MMQD --listen 127.0.0.1:0 --data-dir s->data, plus extra
 * arguments (NULL-terminated list, may be NULL), and waits until its log names
 * the port. Returns false (server killed) when it does not start in 15 s
 * (120 s under $MMQD_WRAPPER).
 */
bool th_start(struct th_server *s, const char *const *extra);

/*
 * th_stop sends sig to the server and waits for it (at most 10 s, 60 s
 * under a wrapper, then SIGKILL). Returns its exit status, 128+signal when killed by one, or -1.
 */
int th_stop(struct th_server *s, int sig);

/*
 * th_teardown stops a server still running with SIGTERM and removes the
 * temporary directory. When the server exits TH_TOOL_ERROR, dies of a signal
 * or does not stop, it prints the server's log and aborts, which fails the
 * test binary (Criterion ignores assertions in a teardown).
 */
void th_teardown(struct th_server *s);

/* th_url returns "http://127.0.0.1:PORT" + path in a static-free buffer; caller frees. */
char *th_url(const struct th_server *s, const char *path);

/*
 * th_req sends method path with body (NULL: none; len bytes) and extra headers
 * (NULL-terminated, may be NULL), filling *r. Returns r->status (0 when the
 * exchange failed). Free with th_resp_free().
 */
long th_req(const struct th_server *s, const char *method, const char *path, const char *body,
	    size_t len, const char *const *headers, struct th_resp *r);

/* th_call is th_req with a NUL-terminated body (or NULL) and no extra headers. */
long th_call(const struct th_server *s, const char *method, const char *path, const char *body,
	     struct th_resp *r);

/* th_header returns the value of header name in r (malloc'd, caller frees), or NULL. */
char *th_header(const struct th_resp *r, const char *name);

/* th_resp_free frees r's buffers. th_resp_free(NULL) is a no-op. */
void th_resp_free(struct th_resp *r);

/* th_log_contains says whether the server's log holds text. */
bool th_log_contains(const struct th_server *s, const char *text);

/* th_raw connects to the server with a plain socket and returns the fd, or -1. */
int th_raw(const struct th_server *s);

/* th_mmqd returns the mmqd under test: $MMQD, else build/mmqd. Borrowed; do not free. */
const char *th_mmqd(void);

/*
 * th_run runs argv (argv[0] found in $PATH) to its end, its stdout and stderr
 * appended to file out (NULL: dropped). Returns its exit status, or -1 when it
 * could not run or died of a signal.
 */
int th_run(const char *const *argv, const char *out);

/*
 * th_run_mmqd is th_run for mmqd itself (th_mmqd(), not under $MMQD_WRAPPER)
 * with args (NULL-terminated, at most 30) after the program name.
 */
int th_run_mmqd(const char *const *args, const char *out);

/*
 * th_repo_path returns path inside the repository: path itself when it is readable from the
 * current directory, else path under the parent of $MMQD's directory ($MMQD is
 * <repo>/<build dir>/mmqd). Caller owns the result; free with free().
 */
char *th_repo_path(const char *path);

/* Helper programs of the suites (promtool, prometheus). */

/* th_find_tool returns the path of program name in $PATH, or NULL. Caller owns the result; free with free(). */
char *th_find_tool(const char *name);

/*
 * th_spawn runs argv (argv[0] a path) with stdin from in (NULL: /dev/null) and
 * stdout and stderr into file out; the child dies with the calling process.
 * Returns the child's pid, or -1 when fork fails. Reap it with waitpid().
 */
pid_t th_spawn(const char *const *argv, const char *in, const char *out);

/* th_read_text returns the first 64 KiB of path, NUL-terminated; "" when unreadable. Caller owns the result; free with free(). Aborts when out of memory. */
char *th_read_text(const char *path);

/* th_write_text writes text to path (created or truncated); returns false when path cannot be opened. */
bool th_write_text(const char *path, const char *text);

#endif

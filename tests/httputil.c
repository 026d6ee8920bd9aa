/* httputil.c: runs mmqd as a child process and talks to it over HTTP for the end-to-end suites. */
#include "httputil.h"

#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "testutil.h"

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;

static void curl_init(void)
{
	curl_global_init(CURL_GLOBAL_ALL);
}

void th_setup(struct th_server *s)
{
	memset(s, 0, sizeof(*s));
	s->pid = -1;
	s->dir = tu_tempdir();
	s->data = tu_path(s->dir, "data");
	s->log = tu_path(s->dir, "mmqd.log");
	pthread_once(&curl_once, curl_init);
}

/* read_log returns the whole log file (caller frees), or NULL. */
static char *read_log(const char *path)
{
	FILE *f = fopen(path, "r");
	char *buf;
	size_t n;

	if (f == NULL)
		return NULL;
	buf = malloc(1 << 20);
	if (buf == NULL) {
		fclose(f);
		return NULL;
	}
	n = fread(buf, 1, (1 << 20) - 1, f);
	buf[n] = '\0';
	fclose(f);
	return buf;
}

bool th_log_contains(const struct th_server *s, const char *text)
{
	char *log = read_log(s->log);
	bool found = log != NULL && strstr(log, text) != NULL;
	free(log);
	return found;
}

/*
 * wrapper_words splits $MMQD_WRAPPER (e.g. "valgrind --error-exitcode=99 -q")
 * at spaces into argv, at most max words; returns how many. The buffer keeps them.
 */
static int wrapper_words(char *buf, size_t buflen, const char **argv, int max)
{
	const char *w = getenv("MMQD_WRAPPER");
	int n = 0;

	if (w == NULL || snprintf(buf, buflen, "%s", w) >= (int)buflen)
		return 0;
	for (char *save = NULL, *t = strtok_r(buf, " \t", &save); t != NULL && n < max;
	     t = strtok_r(NULL, " \t", &save))
		argv[n++] = t;
	return n;
}

bool th_wrapped(void)
{
	const char *w = getenv("MMQD_WRAPPER");
	return w != NULL && w[0] != '\0';
}

/* spawn runs $MMQD (under $MMQD_WRAPPER, if set) with args, its stderr (and stdout) going to s->log. */
static pid_t spawn(struct th_server *s, const char *const *extra)
{
	const char *argv[48];
	char words[1024];
	int argc, fd;
	pid_t pid;

	argc = wrapper_words(words, sizeof(words), argv, 16);
	argv[argc++] = th_mmqd();
	argv[argc++] = "--listen";
	argv[argc++] = "127.0.0.1:0";
	argv[argc++] = "--data-dir";
	argv[argc++] = s->data;
	for (int i = 0; extra != NULL && extra[i] != NULL && argc < 47; i++)
		argv[argc++] = extra[i];
	argv[argc] = NULL;
	fd = open(s->log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return -1;
	pid = fork();
	if (pid == 0) {
		/* A test process that dies (a crash, not a failed assertion) takes its server with it. */
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		dup2(fd, 1);
		dup2(fd, 2);
		/*
		 * Under -fsanitize=undefined a finding stops the server, so the test sees
		 * it; an AddressSanitizer finding (a leak at exit too) exits TH_TOOL_ERROR
		 * like valgrind, so th_teardown() notices it.
		 */
		setenv("UBSAN_OPTIONS", "halt_on_error=1:print_stacktrace=1", 0);
		setenv("ASAN_OPTIONS", "exitcode=99", 0);
		execvp(argv[0], (char *const *)argv);
		_exit(127);
	}
	close(fd);
	return pid;
}

bool th_start(struct th_server *s, const char *const *extra)
{
	/* A server under valgrind starts about ten times slower. */
	uint64_t until = tu_now_ms() + (th_wrapped() ? 120000 : 15000);

	s->port = 0;
	s->pid = spawn(s, extra);
	if (s->pid < 0)
		return false;
	while (tu_now_ms() < until) {
		char *log = read_log(s->log);
		char *at = log ? strstr(log, "listening on 127.0.0.1:") : NULL;
		int status;
		if (at != NULL)
			s->port = (uint16_t)atoi(at + strlen("listening on 127.0.0.1:"));
		free(log);
		if (s->port != 0)
			return true;
		if (waitpid(s->pid, &status, WNOHANG) == s->pid) {
			s->pid = -1;
			return false;
		}
		tu_sleep_ms(10);
	}
	th_stop(s, SIGKILL);
	return false;
}

/* print_log copies the server's log to stderr, so a failure in teardown shows its cause. */
static void print_log(const struct th_server *s)
{
	char *log = read_log(s->log);

	fprintf(stderr, "---- %s ----\n%s---- end of log ----\n", s->log, log ? log : "");
	free(log);
}

int th_stop(struct th_server *s, int sig)
{
	uint64_t until = tu_now_ms() + (th_wrapped() ? 60000 : 10000);
	int status, code = -1;

	if (s->pid <= 0)
		return -1;
	kill(s->pid, sig);
	while (waitpid(s->pid, &status, WNOHANG) == 0) {
		if (tu_now_ms() > until) {
			kill(s->pid, SIGKILL);
			waitpid(s->pid, &status, 0);
			break;
		}
		tu_sleep_ms(5);
	}
	s->pid = -1;
	if (WIFEXITED(status))
		code = WEXITSTATUS(status);
	else if (WIFSIGNALED(status))
		code = 128 + WTERMSIG(status);
	/* A server that does not stop cleanly when asked shows why, whoever checks the status. */
	if (sig != SIGKILL && code != 0) {
		print_log(s);
		fprintf(stderr, "th_stop: mmqd exited with status %d on signal %d\n", code, sig);
	}
	return code;
}

void th_teardown(struct th_server *s)
{
	int status = s->pid > 0 ? th_stop(s, SIGTERM) : 0;

	/*
	 * Criterion ignores assertions in a teardown, but not a crash: a server
	 * whose checker found errors (TH_TOOL_ERROR), that died of a signal or that
	 * would not stop makes the test binary fail.
	 */
	if (status == TH_TOOL_ERROR || status >= 128) {
		fprintf(stderr, "th_teardown: mmqd exited with status %d on SIGTERM\n", status);
		abort();
	}
	tu_rmrf(s->dir);
	free(s->dir);
	free(s->data);
	free(s->log);
	memset(s, 0, sizeof(*s));
}

char *th_url(const struct th_server *s, const char *path)
{
	size_t n = strlen(path) + 40;
	char *url = malloc(n);
	if (url == NULL)
		abort();
	snprintf(url, n, "http://127.0.0.1:%u%s", (unsigned)s->port, path);
	return url;
}

/* A growing buffer for curl's write callbacks. */
struct grow {
	char *data;
	size_t len;
};

static size_t on_data(char *p, size_t size, size_t n, void *ctx)
{
	struct grow *g = ctx;
	char *d = realloc(g->data, g->len + size * n + 1);
	if (d == NULL)
		return 0;
	memcpy(d + g->len, p, size * n);
	g->len += size * n;
	d[g->len] = '\0';
	g->data = d;
	return size * n;
}

long th_req(const struct th_server *s, const char *method, const char *path, const char *body,
	    size_t len, const char *const *headers, struct th_resp *r)
{
	struct grow b = { NULL, 0 }, h = { NULL, 0 };
	struct curl_slist *list = NULL;
	char *url = th_url(s, path);
	uint64_t start = tu_now_ms();
	CURL *c = curl_easy_init();

	memset(r, 0, sizeof(*r));
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
	curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_data);
	curl_easy_setopt(c, CURLOPT_HEADERDATA, &h);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, 90L);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	if (body != NULL) {
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
		curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
	}
	for (int i = 0; headers != NULL && headers[i] != NULL; i++)
		list = curl_slist_append(list, headers[i]);
	list = curl_slist_append(list, "Expect:");
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, list);
	if (curl_easy_perform(c) == CURLE_OK)
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r->status);
	curl_easy_cleanup(c);
	curl_slist_free_all(list);
	free(url);
	r->body = b.data ? b.data : strdup("");
	r->len = b.len;
	r->headers = h.data ? h.data : strdup("");
	r->headers_len = h.len;
	r->seconds = (double)(tu_now_ms() - start) / 1000.0;
	return r->status;
}

long th_call(const struct th_server *s, const char *method, const char *path, const char *body,
	     struct th_resp *r)
{
	return th_req(s, method, path, body, body ? strlen(body) : 0, NULL, r);
}

char *th_header(const struct th_resp *r, const char *name)
{
	size_t n = strlen(name);

	for (const char *line = r->headers; line != NULL && *line;) {
		const char *eol = strstr(line, "\r\n");
		if (eol == NULL)
			eol = line + strlen(line);
		if (strncasecmp(line, name, n) == 0 && line[n] == ':') {
			const char *v = line + n + 1;
			while (*v == ' ')
				v++;
			return strndup(v, (size_t)(eol - v));
		}
		line = *eol ? eol + 2 : eol;
	}
	return NULL;
}

void th_resp_free(struct th_resp *r)
{
	if (r == NULL)
		return;
	free(r->body);
	free(r->headers);
	memset(r, 0, sizeof(*r));
}

int th_raw(const struct th_server *s)
{
	struct sockaddr_in sa;
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -1;
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_port = htons(s->port);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
		close(fd);
		return -1;
	}
	return fd;
}

/* Helper programs of the suites (promtool, prometheus). */

char *th_find_tool(const char *name)
{
	const char *path = getenv("PATH");
	char *dirs = strdup(path != NULL ? path : "/usr/bin:/bin"), *save = NULL;

	for (char *d = strtok_r(dirs, ":", &save); d != NULL; d = strtok_r(NULL, ":", &save)) {
		char *full = tu_path(d, name);
		if (access(full, X_OK) == 0) {
			free(dirs);
			return full;
		}
		free(full);
	}
	free(dirs);
	return NULL;
}

const char *th_mmqd(void)
{
	const char *mmqd = getenv("MMQD");
	return mmqd != NULL ? mmqd : "build/mmqd";
}

char *th_repo_path(const char *path)
{
	const char *mmqd = getenv("MMQD");
	char buf[4096], *slash;

	if (access(path, R_OK) == 0 || mmqd == NULL)
		return strdup(path);
	snprintf(buf, sizeof(buf), "%s", mmqd);
	for (int up = 0; up < 2; up++) {
		slash = strrchr(buf, '/');
		if (slash == NULL)
			return strdup(path);
		*slash = '\0';
	}
	return tu_path(buf, path);
}

int th_run(const char *const *argv, const char *out)
{
	int status = -1;
	pid_t pid = fork();

	if (pid == 0) {
		int fd = open(out != NULL ? out : "/dev/null", O_WRONLY | O_CREAT | O_APPEND, 0644);
		if (fd < 0)
			_exit(126);
		dup2(fd, 1);
		dup2(fd, 2);
		execvp(argv[0], (char *const *)argv);
		_exit(127);
	}
	if (pid < 0 || waitpid(pid, &status, 0) != pid)
		return -1;
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

int th_run_mmqd(const char *const *args, const char *out)
{
	const char *argv[32];
	int argc = 0;

	argv[argc++] = th_mmqd();
	for (int i = 0; args[i] != NULL && argc < 31; i++)
		argv[argc++] = args[i];
	argv[argc] = NULL;
	return th_run(argv, out);
}

pid_t th_spawn(const char *const *argv, const char *in, const char *out)
{
	pid_t pid = fork();

	if (pid == 0) {
		int ifd = open(in != NULL ? in : "/dev/null", O_RDONLY);
		int ofd = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (ifd < 0 || ofd < 0)
			_exit(126);
		dup2(ifd, 0);
		dup2(ofd, 1);
		dup2(ofd, 2);
		execv(argv[0], (char *const *)argv);
		_exit(127);
	}
	return pid;
}

char *th_read_text(const char *path)
{
	FILE *f = fopen(path, "r");
	char *buf = calloc(1, 1 << 16);
	size_t n;

	if (buf == NULL)
		abort();
	if (f == NULL)
		return buf;
	n = fread(buf, 1, (1 << 16) - 1, f);
	buf[n] = '\0';
	fclose(f);
	return buf;
}

bool th_write_text(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	if (f == NULL)
		return false;
	fputs(text, f);
	fclose(f);
	return true;
}

/* test_http_uploads.c: oversized uploads from clients that send the whole body before reading, and escaped queue names. */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "httptest.h"
#include "testutil.h"

TestSuite(http_uploads, .init = ht_start, .fini = ht_stop, .timeout = 120);

#define BODY_BYTES (2u << 20)

#define HT_E_REQ_TOO_LARGE \
	"{\"error\":{\"code\":\"request_too_large\",\"message\":\"The request body is larger than the server accepts.\"}}"

/* read_to_eof reads fd until the server closes it; asserts it closed cleanly (no reset). Caller frees. */
static char *read_to_eof(int fd)
{
	size_t cap = 65536, got = 0;
	char *buf = malloc(cap);

	cr_assert_not_null(buf);
	for (;;) {
		ssize_t n = recv(fd, buf + got, cap - 1 - got, 0);
		cr_assert_geq(n, 0, "reading the answer failed: %s", strerror(errno));
		if (n == 0)
			break;
		got += (size_t)n;
		cr_assert_lt(got, cap - 1, "answer too long");
	}
	buf[got] = '\0';
	return buf;
}

/*
 * send_whole_body posts a JSON string of BODY_BYTES bytes to path, writing
 * every byte before reading anything, as Node's fetch and Python's
 * http.client do, and returns the whole answer up to the server's close.
 */
static char *send_whole_body(const char *path)
{
	char head[256];
	int fd = th_raw(&ht_srv);
	int n = snprintf(head, sizeof(head),
			 "POST %s HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
			 "Content-Length: %u\r\n\r\n",
			 path, BODY_BYTES);
	char *body = malloc(BODY_BYTES);
	char *reply;

	cr_assert_not_null(body);
	memset(body, 'x', BODY_BYTES);
	body[0] = body[BODY_BYTES - 1] = '"';
	cr_assert_eq(send(fd, head, (size_t)n, MSG_NOSIGNAL), n);
	for (size_t off = 0; off < BODY_BYTES;) {
		ssize_t w = send(fd, body + off, BODY_BYTES - off, MSG_NOSIGNAL);
		cr_assert_gt(w, 0, "writing the body failed after %zu bytes: %s", off, strerror(errno));
		off += (size_t)w;
	}
	free(body);
	reply = read_to_eof(fd);
	close(fd);
	return reply;
}

/* body_of returns the part of a raw HTTP answer after its header block. */
static const char *body_of(const char *reply)
{
	const char *p = strstr(reply, "\r\n\r\n");

	cr_assert_not_null(p, "no header block in: %s", reply);
	return p + 4;
}

Test(http_uploads, a_client_writing_a_whole_2mib_message_before_reading_gets_the_413)
{
	char *reply = send_whole_body("/v1/queues/big/messages");

	cr_assert(strncmp(reply, "HTTP/1.1 413 ", 13) == 0, "%s", reply);
	cr_assert(strstr(reply, "\r\nConnection: close\r\n") != NULL, "%s", reply);
	cr_assert_str_eq(body_of(reply), HT_E_TOO_LARGE);
	free(reply);
	ht_expect("GET", "/v1/queues/big", NULL, 404, HT_E_QNF);
}

Test(http_uploads, a_client_writing_a_whole_oversized_batch_before_reading_gets_the_413)
{
	char *reply;

	/* Restart with a 1 MiB cap on request bodies. */
	const char *const args[] = { "--max-body-bytes", "1048576", NULL };
	cr_assert_eq(th_stop(&ht_srv, SIGTERM), 0);
	cr_assert(th_start(&ht_srv, args));
	reply = send_whole_body("/v1/queues/big/messages/batch");
	cr_assert(strncmp(reply, "HTTP/1.1 413 ", 13) == 0, "%s", reply);
	cr_assert_str_eq(body_of(reply), HT_E_REQ_TOO_LARGE);
	free(reply);
	ht_expect("GET", "/v1/queues/big", NULL, 404, HT_E_QNF);
	ht_expect("GET", "/healthz", NULL, 200, "{\"status\":\"ok\"}");
}

/* run_client runs argv (a client script and the URL) and returns what it printed; asserts exit 0. */
static char *run_client(const char *const *argv)
{
	char *out = tu_path(ht_srv.dir, "client.out"), *text;
	int status;
	pid_t pid = ht_spawn(argv, NULL, out);

	cr_assert_eq(waitpid(pid, &status, 0), pid);
	text = th_read_text(out);
	cr_assert_not_null(text);
	cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "%s exited %d: %s", argv[0], status,
		  text);
	free(out);
	return text;
}

static const char node_client[] =
	"const body = JSON.stringify('x'.repeat(2 * 1024 * 1024));\n"
	"fetch(process.argv[2], { method: 'POST', body, headers: { 'content-type': 'application/json' } })\n"
	"  .then(async (r) => console.log(r.status + ' ' + (await r.text())))\n"
	"  .catch((e) => console.log('error ' + (e.cause ? e.cause.code : e.message)));\n";

Test(http_uploads, node_fetch_reads_the_413_of_a_2mib_message)
{
	char *script = tu_path(ht_srv.dir, "client.js"), *url = th_url(&ht_srv, "/v1/queues/big/messages");
	const char *const argv[] = { "/usr/bin/node", script, url, NULL };
	char *text;

	cr_assert_eq(access("/usr/bin/node", X_OK), 0, "node is not installed: apt-get install nodejs");
	ht_write_text(script, node_client);
	text = run_client(argv);
	cr_assert_str_eq(text, "413 " HT_E_TOO_LARGE "\n");
	free(text);
	free(url);
	free(script);
}

static const char python_client[] =
	"import http.client, sys, urllib.parse\n"
	"u = urllib.parse.urlsplit(sys.argv[1])\n"
	"c = http.client.HTTPConnection(u.hostname, u.port, timeout=30)\n"
	"try:\n"
	"    c.request('POST', u.path, body=b'\"' + b'x' * (2 * 1024 * 1024 - 2) + b'\"',\n"
	"              headers={'Content-Type': 'application/json'})\n"
	"    r = c.getresponse()\n"
	"    print(r.status, r.read().decode())\n"
	"except OSError as e:\n"
	"    print('error', type(e).__name__)\n";

Test(http_uploads, python_http_client_reads_the_413_of_a_2mib_message)
{
	char *script = tu_path(ht_srv.dir, "client.py"), *url = th_url(&ht_srv, "/v1/queues/big/messages");
	const char *const argv[] = { "/usr/bin/python3", script, url, NULL };
	char *text;

	cr_assert_eq(access("/usr/bin/python3", X_OK), 0, "python3 is not installed: apt-get install python3");
	ht_write_text(script, python_client);
	text = run_client(argv);
	cr_assert_str_eq(text, "413 " HT_E_TOO_LARGE "\n");
	free(text);
	free(url);
	free(script);
}

Test(http_uploads, names_that_decode_to_invalid_ones_answer_400_invalid_queue_name)
{
	static const char *const names[] = { "%00x", "a%2Fb", "a%2fb", "%2F", "a%00", "%zz", "a%4", "a%2" };

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		char path[128];
		snprintf(path, sizeof(path), "/v1/queues/%s", names[i]);
		ht_expect("PUT", path, NULL, 400, HT_E_NAME);
		ht_expect("GET", path, NULL, 400, HT_E_NAME);
		ht_expect("DELETE", path, NULL, 400, HT_E_NAME);
		snprintf(path, sizeof(path), "/v1/queues/%s/messages", names[i]);
		ht_expect("POST", path, "1", 400, HT_E_NAME);
		ht_expect("GET", path, NULL, 400, HT_E_NAME);
		snprintf(path, sizeof(path), "/v1/queues/%s/messages/batch", names[i]);
		ht_expect("POST", path, "[1]", 400, HT_E_NAME);
		snprintf(path, sizeof(path), "/v1/queues/%s/messages/pop", names[i]);
		ht_expect("POST", path, NULL, 400, HT_E_NAME);
		snprintf(path, sizeof(path), "/v1/queues/%s/messages/7?lease=1", names[i]);
		ht_expect("DELETE", path, NULL, 400, HT_E_NAME);
	}
	ht_expect("GET", "/v1/queues", NULL, 200, "{\"queues\":[]}");
}

Test(http_uploads, escaped_valid_names_and_route_words_are_decoded)
{
	/* %71 is "q"; %6D is the "m" of "messages". */
	ht_expect("POST", "/v1/queues/%71/messages", "{\"a\":1}", 201, "{\"id\":1}");
	ht_expect("POST", "/v1/queues/q/%6Dessages/pop", NULL, 200, NULL);
	ht_expect("GET", "/v1/queues/q/messages", NULL, 200, "{\"messages\":[]}");
	/* An escaped slash never splits a path: this is no route. */
	ht_expect("GET", "/v1/queues/q%2Fmessages", NULL, 400, HT_E_NAME);
	ht_expect("GET", "/v1/queues/q/messages%2Fpop", NULL, 404, HT_E_NOT_FOUND);
}

/* httptest.h: the server fixture and request helpers of the Criterion suites that run mmqd: one mmqd per test, requests asserted with Criterion, bodies parsed with cJSON. */
#ifndef MMQ_HTTPTEST_H
#define MMQ_HTTPTEST_H

#include <cJSON.h>
#include <sys/types.h>

#include "httputil.h"

/*
 * Linked into the Criterion HTTP test binaries only, not into tests/crash/crash_loop (which links
 * httputil.o without Criterion or cJSON). Each binary links exactly one suite file, so the server
 * lives here as a shared global.
 */

/* The mmqd of the running test, started by ht_start. */
extern struct th_server ht_srv;

/*
 * The one server fixture of the HTTP suites. A suite whose tests start mmqd with their own
 * options takes .init = ht_setup and calls th_start(&ht_srv, args) in each test; a suite served
 * by a default mmqd takes .init = ht_start. Either way .fini = ht_stop; a suite needing more
 * (a mount, a certificate) wraps these in its own init and fini.
 */

/* ht_setup gives ht_srv a fresh temporary directory, with no server running yet. */
void ht_setup(void);

/* ht_start is ht_setup plus a running mmqd with default options, asserting that it started. */
void ht_start(void);

/* ht_stop stops ht_srv if it runs and removes its files; a server that crashed fails the binary. */
void ht_stop(void);

/* ht_expect sends a request to ht_srv and asserts its status and, when want is not NULL, its exact body. */
void ht_expect(const char *method, const char *path, const char *body, long status, const char *want);

/* ht_expect_on is ht_expect for a server a suite started itself (with its own options). */
void ht_expect_on(struct th_server *srv, const char *method, const char *path, const char *body,
		  long status, const char *want);

/* ht_spawn runs argv like th_spawn (stdin from in, output into out, dying with the test) and asserts it started; returns the pid. */
pid_t ht_spawn(const char *const *argv, const char *in, const char *out);

/*
 * ht_run_mmqd runs mmqd with args (NULL-terminated) to its end, its stdout and stderr captured
 * into *out (caller frees). Returns its exit status (-1 when it died of a signal).
 */
int ht_run_mmqd(const char *const *args, char **out);

/* ht_write_text writes text to path, asserting that it could. */
void ht_write_text(const char *path, const char *text);

/* ht_json_of sends a request to ht_srv, asserts its status, and returns the parsed body (caller frees with cJSON_Delete). */
cJSON *ht_json_of(const char *method, const char *path, const char *body, long status);

/* The exact error bodies of the v1 contract. */
#define HT_E_NOT_FOUND "{\"error\":{\"code\":\"not_found\",\"message\":\"No such route.\"}}"
#define HT_E_METHOD \
	"{\"error\":{\"code\":\"method_not_allowed\",\"message\":\"This route does not accept that method.\"}}"
#define HT_E_PARAM \
	"{\"error\":{\"code\":\"invalid_parameter\",\"message\":\"A parameter is missing, malformed or out of range.\"}}"
#define HT_E_NAME \
	"{\"error\":{\"code\":\"invalid_queue_name\",\"message\":\"Queue names are 1 to 64 characters from A-Z, a-z, 0-9, _ and -.\"}}"
#define HT_E_JSON "{\"error\":{\"code\":\"invalid_json\",\"message\":\"The body is not valid JSON in UTF-8.\"}}"
#define HT_E_BATCH \
	"{\"error\":{\"code\":\"invalid_batch\",\"message\":\"A batch must be a JSON array of 1 to 1000 payloads.\"}}"
#define HT_E_QNF "{\"error\":{\"code\":\"queue_not_found\",\"message\":\"No such queue.\"}}"
#define HT_E_TOO_LARGE \
	"{\"error\":{\"code\":\"message_too_large\",\"message\":\"The message is larger than the queue's max_message_bytes.\"}}"
#define HT_E_FULL "{\"error\":{\"code\":\"queue_full\",\"message\":\"The queue would exceed its max_bytes.\"}}"
#define HT_E_MNF \
	"{\"error\":{\"code\":\"message_not_found\",\"message\":\"No such message.\"}}"
#define HT_E_LEASE \
	"{\"error\":{\"code\":\"lease_mismatch\",\"message\":\"The lease token is not the message's current lease.\"}}"

#endif

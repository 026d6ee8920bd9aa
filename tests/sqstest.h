/* sqstest.h: helpers of the Amazon SQS suites (test_http_sqs*.c): calls in the JSON and Query protocols, asserted. */
#ifndef MMQ_SQSTEST_H
#define MMQ_SQSTEST_H

#include <cJSON.h>
#include <stddef.h>

#include "httputil.h"

/* The Authorization header the suites sign with when the server wants a key (any key otherwise). */
#define SQ_AUTH(key)                                                                              \
	"Authorization: AWS4-HMAC-SHA256 Credential=" key "/20261205/us-east-1/sqs/aws4_request, " \
	"SignedHeaders=host;x-amz-date, Signature=0123456789abcdef"

/*
 * sq_json sends the JSON-protocol action with body (NULL: "{}") to s, with
 * the extra header auth (NULL: none), asserts the status and the protocol's
 * headers (content type, a request id), and fills *r. Free with th_resp_free().
 */
void sq_json(struct th_server *s, const char *action, const char *body, const char *auth,
	     long status, struct th_resp *r);

/* sq_jobj is sq_json without auth, returning the parsed body (caller frees with cJSON_Delete). */
cJSON *sq_jobj(struct th_server *s, const char *action, const char *body, long status);

/* sq_jbody is sq_json without auth asserting the exact body want. */
void sq_jbody(struct th_server *s, const char *action, const char *body, long status,
	      const char *want);

/*
 * sq_jerror asserts that the JSON action answers 400 (or status) with exactly
 * {"__type":"com.amazonaws.sqs#<type>","message":<message>} and the header
 * x-amzn-query-error: <code>;Sender.
 */
void sq_jerror(struct th_server *s, const char *action, const char *body, long status,
	       const char *type, const char *code, const char *message);

/* sq_query POSTs the form to path ("/" or a queue URL path), asserts status and XML headers, fills *r. */
void sq_query(struct th_server *s, const char *path, const char *form, long status,
	      struct th_resp *r);

/* sq_url writes the queue URL of name on s into buf (len bytes) as the server builds it. */
void sq_url(const struct th_server *s, const char *name, char *buf, size_t len);

/* sq_between returns the text between the first open and the next close in s (malloc'd), or NULL. */
char *sq_between(const char *s, const char *open, const char *close);

#endif

/* sqstest.c: helpers of the Amazon SQS suites: calls in the JSON and Query protocols, asserted. */
#include "sqstest.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* check_headers asserts the headers every SQS answer has: its content type and a request id. */
static void check_headers(const struct th_resp *r, const char *type)
{
	char *ct = th_header(r, "Content-Type"), *id = th_header(r, "x-amzn-RequestId");

	cr_assert_not_null(ct);
	cr_assert_str_eq(ct, type);
	cr_assert_not_null(id, "no x-amzn-RequestId: %s", r->headers);
	cr_assert_eq(strlen(id), 36, "request id %s", id);
	free(ct);
	free(id);
}

void sq_json(struct th_server *s, const char *action, const char *body, const char *auth,
	     long status, struct th_resp *r)
{
	char target[128];
	const char *headers[] = { target, "Content-Type: application/x-amz-json-1.0", auth, NULL };

	if (body == NULL)
		body = "{}";
	snprintf(target, sizeof(target), "X-Amz-Target: AmazonSQS.%s", action);
	th_req(s, "POST", "/", body, strlen(body), headers, r);
	cr_assert_eq(r->status, status, "%s %s: status %ld, want %ld: %s", action, body, r->status,
		     status, r->body);
	check_headers(r, "application/x-amz-json-1.0");
}

cJSON *sq_jobj(struct th_server *s, const char *action, const char *body, long status)
{
	struct th_resp r;
	cJSON *j;

	sq_json(s, action, body, NULL, status, &r);
	j = cJSON_Parse(r.body);
	cr_assert_not_null(j, "%s: not JSON: %s", action, r.body);
	th_resp_free(&r);
	return j;
}

void sq_jbody(struct th_server *s, const char *action, const char *body, long status,
	      const char *want)
{
	struct th_resp r;

	sq_json(s, action, body, NULL, status, &r);
	cr_assert_str_eq(r.body, want, "%s %s", action, body != NULL ? body : "");
	th_resp_free(&r);
}

void sq_jerror(struct th_server *s, const char *action, const char *body, long status,
	       const char *type, const char *code, const char *message)
{
	struct th_resp r;
	char want[1024], hint[256];
	char *h;

	sq_json(s, action, body, NULL, status, &r);
	snprintf(want, sizeof(want), "{\"__type\":\"com.amazonaws.sqs#%s\",\"message\":\"%s\"}", type,
		 message);
	cr_assert_str_eq(r.body, want, "%s %s", action, body != NULL ? body : "");
	h = th_header(&r, "x-amzn-query-error");
	snprintf(hint, sizeof(hint), "%s;Sender", code);
	cr_assert_not_null(h, "%s: no x-amzn-query-error", action);
	cr_assert_str_eq(h, hint);
	free(h);
	th_resp_free(&r);
}

void sq_query(struct th_server *s, const char *path, const char *form, long status,
	      struct th_resp *r)
{
	const char *headers[] = { "Content-Type: application/x-www-form-urlencoded; charset=utf-8",
				  NULL };

	th_req(s, "POST", path, form, strlen(form), headers, r);
	cr_assert_eq(r->status, status, "%s: status %ld, want %ld: %s", form, r->status, status,
		     r->body);
	check_headers(r, "text/xml");
}

void sq_url(const struct th_server *s, const char *name, char *buf, size_t len)
{
	snprintf(buf, len, "http://127.0.0.1:%u/000000000000/%s", (unsigned)s->port, name);
}

char *sq_between(const char *s, const char *open, const char *close)
{
	const char *a = strstr(s, open), *b;
	char *out;

	if (a == NULL)
		return NULL;
	a += strlen(open);
	b = strstr(a, close);
	if (b == NULL)
		return NULL;
	out = strndup(a, (size_t)(b - a));
	cr_assert_not_null(out);
	return out;
}

/* router.c: the route table and the matching of a method and path against it. */
#include <stdio.h>
#include <string.h>

#include "internal.h"

/*
 * Every route the server serves. Literal segments come before {id} in the
 * same position so "/messages/pop" is the pop route, not message "pop".
 */
static const struct api_route routes[] = {
	{ { "GET", "/healthz" }, api_h_healthz, API_BODY_IGNORE, NULL },
	{ { "GET", "/metrics" }, api_h_metrics, API_BODY_IGNORE, NULL },
	{ { "GET", "/v1/queues" }, api_h_list_queues, API_BODY_IGNORE, NULL },
	{ { "PUT", "/v1/queues/{q}" }, api_h_put_queue, API_BODY_SETTINGS, NULL },
	{ { "GET", "/v1/queues/{q}" }, api_h_get_queue, API_BODY_IGNORE, NULL },
	{ { "DELETE", "/v1/queues/{q}" }, api_h_delete_queue, API_BODY_IGNORE, NULL },
	{ { "POST", "/v1/queues/{q}/messages" }, api_h_enqueue, API_BODY_MESSAGE, NULL },
	{ { "GET", "/v1/queues/{q}/messages" }, api_h_peek, API_BODY_IGNORE, NULL },
	{ { "DELETE", "/v1/queues/{q}/messages" }, api_h_purge, API_BODY_IGNORE, NULL },
	{ { "POST", "/v1/queues/{q}/messages/batch" }, api_h_batch, API_BODY_BATCH, NULL },
	{ { "POST", "/v1/queues/{q}/messages/pop" }, api_h_pop, API_BODY_IGNORE, NULL },
	{ { "POST", "/v1/queues/{q}/messages/lease" }, api_h_lease, API_BODY_IGNORE, NULL },
	{ { "DELETE", "/v1/queues/{q}/messages/{id}" }, api_h_ack, API_BODY_IGNORE, NULL },
	{ { "POST", "/v1/queues/{q}/messages/{id}/release" }, api_h_release, API_BODY_IGNORE, NULL },
	{ { "POST", "/v1/queues/{q}/messages/{id}/extend" }, api_h_extend, API_BODY_IGNORE, NULL },
	/*
	 * Amazon SQS (sqs_router.c): POST at the root, and POST or GET at a queue's
	 * URL as older Query clients send. GET / stays unknown (404).
	 */
	{ { "POST", "/" }, api_h_sqs, API_BODY_SQS, api_sqs_error },
	{ { "POST", "/" SQS_ACCOUNT_PATH "/{q}" }, api_h_sqs, API_BODY_SQS, api_sqs_error },
	{ { "GET", "/" SQS_ACCOUNT_PATH "/{q}" }, api_h_sqs, API_BODY_SQS, api_sqs_error },
};

#define ROUTE_COUNT (sizeof(routes) / sizeof(routes[0]))

const struct api_route_info *api_route_info(size_t i)
{
	return i < ROUTE_COUNT ? &routes[i].info : NULL;
}

size_t api_route_count(void)
{
	return ROUTE_COUNT;
}

size_t api_route_index(const struct api_route *route)
{
	return (size_t)(route - routes);
}

/* parse_id reads a path segment of n bytes as a decimal id; false if it is not one. */
static bool parse_id(const char *s, size_t n, uint64_t *out)
{
	uint64_t v = 0;

	if (n == 0 || n > 20)
		return false;
	for (size_t i = 0; i < n; i++) {
		unsigned d = (unsigned)(s[i] - '0');
		if (d > 9 || v > (UINT64_MAX - d) / 10u)
			return false;
		v = v * 10u + d;
	}
	*out = v;
	return true;
}

/* hex_digit returns the value of hex digit c, or -1. */
static int hex_digit(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/*
 * seg_decode percent-decodes the n bytes of one path segment into out (room
 * for cap bytes and a NUL) and sets *len. False when an escape is malformed
 * ("%zz", "%4") or the result does not fit: such a segment matches nothing
 * literally and is never a valid name or id.
 */
static bool seg_decode(const char *s, size_t n, char *out, size_t cap, size_t *len)
{
	size_t o = 0;

	for (size_t i = 0; i < n; i++) {
		int c = (unsigned char)s[i];
		if (c == '%') {
			int hi = i + 2 < n ? hex_digit(s[i + 1]) : -1;
			int lo = hi >= 0 ? hex_digit(s[i + 2]) : -1;
			if (lo < 0)
				return false;
			c = hi * 16 + lo;
			i += 2;
		}
		if (o == cap)
			return false;
		out[o++] = (char)c;
	}
	out[o] = '\0';
	*len = o;
	return true;
}

/*
 * capture stores a {q} or {id} segment (n raw bytes, still percent-encoded)
 * into path. A name is checked after decoding, so "a%2Fb" and "%00x" are
 * names (invalid ones), not other paths.
 */
static void capture(const char *var, const char *s, size_t n, struct api_path *path)
{
	char buf[QUEUE_NAME_MAX + 1];
	size_t len;
	bool ok = seg_decode(s, n, buf, sizeof(buf) - 1, &len);

	if (strcmp(var, "{q}") == 0) {
		path->queue_ok = false;
		path->queue[0] = '\0';
		if (ok && memchr(buf, '\0', len) == NULL) {
			memcpy(path->queue, buf, len + 1);
			path->queue_ok = queue_name_valid(path->queue);
		}
	} else {
		path->id_ok = ok && parse_id(buf, len, &path->id);
	}
}

/* literal_eq says whether the raw segment s (n bytes) decodes to the pn bytes of pattern p. */
static bool literal_eq(const char *p, size_t pn, const char *s, size_t n)
{
	char buf[32];
	size_t len;

	return seg_decode(s, n, buf, sizeof(buf) - 1, &len) && len == pn && memcmp(buf, p, pn) == 0;
}

/* match says whether the raw (still percent-encoded) url fits pattern, capturing its variables into path. */
static bool match(const char *pattern, const char *url, struct api_path *path)
{
	const char *p = pattern, *u = url;

	while (*p != '\0' && *u != '\0') {
		size_t pn, un;
		if (*p != '/' || *u != '/')
			return false;
		p++;
		u++;
		pn = strcspn(p, "/");
		un = strcspn(u, "/");
		if (pn >= 2 && p[0] == '{') {
			char var[8];
			if (un == 0 || pn >= sizeof(var))
				return false;
			memcpy(var, p, pn);
			var[pn] = '\0';
			capture(var, u, un, path);
		} else if (!literal_eq(p, pn, u, un)) {
			return false;
		}
		p += pn;
		u += un;
	}
	return *p == '\0' && *u == '\0';
}

/* allow_list writes the methods of every route with pattern, comma separated. */
static void allow_list(const char *pattern, char *allow, size_t allow_len)
{
	size_t used = 0;

	allow[0] = '\0';
	for (size_t i = 0; i < ROUTE_COUNT; i++) {
		if (strcmp(routes[i].info.pattern, pattern) != 0)
			continue;
		int n = snprintf(allow + used, allow_len - used, "%s%s", used ? ", " : "",
				 routes[i].info.method);
		if (n < 0 || (size_t)n >= allow_len - used)
			return;
		used += (size_t)n;
	}
}

enum api_error api_route_find(const char *method, const char *url, const struct api_route **route,
			      struct api_path *path, char *allow, size_t allow_len)
{
	const char *pattern = NULL;

	*route = NULL;
	memset(path, 0, sizeof(*path));
	for (size_t i = 0; i < ROUTE_COUNT && pattern == NULL; i++) {
		if (match(routes[i].info.pattern, url, path))
			pattern = routes[i].info.pattern;
	}
	if (pattern == NULL)
		return API_E_NOT_FOUND;
	for (size_t i = 0; i < ROUTE_COUNT; i++) {
		if (strcmp(routes[i].info.pattern, pattern) == 0 &&
		    strcmp(routes[i].info.method, method) == 0) {
			*route = &routes[i];
			return API_E_NONE;
		}
	}
	allow_list(pattern, allow, allow_len);
	return API_E_METHOD_NOT_ALLOWED;
}

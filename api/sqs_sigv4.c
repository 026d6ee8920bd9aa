/* sqs_sigv4.c: verifies the AWS Signature Version 4 of an SQS request against the configured secret key. */
#include <nettle/hmac.h>
#include <nettle/sha2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "sqs.h"

/* How far the request's X-Amz-Date may be from the server's clock, as AWS allows. */
#define SKEW_SECONDS 900
#define ALGORITHM "AWS4-HMAC-SHA256"

/* The parts of an Authorization header that the signature covers. */
struct sigv4 {
	char scope[128];	 /* date/region/service/aws4_request */
	char date[9];		 /* YYYYMMDD of the scope */
	char region[32];
	char service[32];
	char signed_headers[512]; /* lower case, ';'-separated, sorted */
	char signature[65];
};

/* field copies the value of "name=" in h (up to ',' or the end) into out; false when absent or too long. */
static bool field(const char *h, const char *name, char *out, size_t len)
{
	const char *p = strstr(h, name);
	size_t n;

	if (p == NULL)
		return false;
	p += strlen(name);
	n = strcspn(p, ", ");
	if (n == 0 || n >= len)
		return false;
	memcpy(out, p, n);
	out[n] = '\0';
	return true;
}

/* parse_auth reads the credential scope, signed headers and signature of header h. */
static bool parse_auth(const char *h, struct sigv4 *s)
{
	char cred[256];
	const char *slash;

	memset(s, 0, sizeof(*s));
	if (h == NULL || strncmp(h, ALGORITHM " ", strlen(ALGORITHM) + 1) != 0 ||
	    !field(h, "Credential=", cred, sizeof(cred)) ||
	    !field(h, "SignedHeaders=", s->signed_headers, sizeof(s->signed_headers)) ||
	    !field(h, "Signature=", s->signature, sizeof(s->signature)))
		return false;
	slash = strchr(cred, '/');
	if (slash == NULL || strlen(slash + 1) >= sizeof(s->scope))
		return false;
	strcpy(s->scope, slash + 1);
	/* date/region/service/aws4_request */
	return sscanf(s->scope, "%8[0-9]/%31[^/]/%31[^/]/aws4_request", s->date, s->region,
		      s->service) == 3 &&
	       strlen(s->scope) == strlen(s->date) + strlen(s->region) + strlen(s->service) + 15;
}

static void hex(const uint8_t *d, size_t n, char *out)
{
	for (size_t i = 0; i < n; i++)
		snprintf(out + 2 * i, 3, "%02x", d[i]);
}

static void sha256_hex(const void *p, size_t n, char out[65])
{
	struct sha256_ctx ctx;
	uint8_t d[SHA256_DIGEST_SIZE];

	sha256_init(&ctx);
	sha256_update(&ctx, n, p);
	sha256_digest(&ctx, sizeof(d), d);
	hex(d, sizeof(d), out);
}

static void hmac(const uint8_t *key, size_t keylen, const char *msg, uint8_t out[SHA256_DIGEST_SIZE])
{
	struct hmac_sha256_ctx ctx;

	hmac_sha256_set_key(&ctx, keylen, key);
	hmac_sha256_update(&ctx, strlen(msg), (const uint8_t *)msg);
	hmac_sha256_digest(&ctx, SHA256_DIGEST_SIZE, out);
}

/* uri_encode appends s encoded as SigV4 wants: unreserved characters kept, the rest %XX. */
static void uri_encode(struct jbuf *b, const char *s)
{
	for (; *s; s++) {
		unsigned char ch = (unsigned char)*s;
		char esc[4];
		if ((ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') ||
		    ch == '-' || ch == '_' || ch == '.' || ch == '~') {
			jb_raw(b, s, 1);
		} else {
			snprintf(esc, sizeof(esc), "%%%02X", ch);
			jb_raw(b, esc, 3);
		}
	}
}

/* One query argument, encoded, for sorting. */
struct arg {
	char *pair; /* "name=value", both encoded */
};

struct args {
	struct arg *items;
	size_t n, cap;
	bool oom;
};

static enum MHD_Result collect_arg(void *cls, enum MHD_ValueKind kind, const char *key,
				   const char *value)
{
	struct args *a = cls;
	struct jbuf b;

	(void)kind;
	if (a->n == a->cap) {
		size_t cap = a->cap ? a->cap * 2 : 8;
		struct arg *p = realloc(a->items, cap * sizeof(*p));
		if (p == NULL) {
			a->oom = true;
			return MHD_NO;
		}
		a->items = p;
		a->cap = cap;
	}
	jb_init(&b);
	uri_encode(&b, key);
	jb_lit(&b, "=");
	uri_encode(&b, value != NULL ? value : "");
	jb_raw(&b, "", 1);
	if (b.oom) {
		jb_free(&b);
		a->oom = true;
		return MHD_NO;
	}
	a->items[a->n++].pair = b.data;
	return MHD_YES;
}

static int by_pair(const void *x, const void *y)
{
	return strcmp(((const struct arg *)x)->pair, ((const struct arg *)y)->pair);
}

/* canonical_query appends the sorted, encoded query arguments of the request. */
static void canonical_query(struct api_req *req, struct jbuf *b)
{
	struct args a = { NULL, 0, 0, false };

	MHD_get_connection_values(req->conn, MHD_GET_ARGUMENT_KIND, collect_arg, &a);
	if (a.n > 1)
		qsort(a.items, a.n, sizeof(*a.items), by_pair);
	for (size_t i = 0; i < a.n; i++) {
		if (i > 0)
			jb_lit(b, "&");
		jb_lit(b, a.items[i].pair);
		free(a.items[i].pair);
	}
	if (a.oom)
		b->oom = true;
	free(a.items);
}

/* canonical_headers appends "name:value\n" for each signed header, values trimmed and spaces folded. */
static bool canonical_headers(struct api_req *req, const char *signed_headers, struct jbuf *b)
{
	char names[512];
	bool host = false;

	snprintf(names, sizeof(names), "%s", signed_headers);
	for (char *save = NULL, *name = strtok_r(names, ";", &save); name != NULL;
	     name = strtok_r(NULL, ";", &save)) {
		const char *v = MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND, name);
		if (v == NULL)
			return false;
		host = host || strcmp(name, "host") == 0;
		jb_lit(b, name);
		jb_lit(b, ":");
		while (*v == ' ' || *v == '\t')
			v++;
		for (bool space = false; *v; v++) {
			if (*v == ' ' || *v == '\t') {
				space = true;
				continue;
			}
			if (space)
				jb_lit(b, " ");
			space = false;
			jb_raw(b, v, 1);
		}
		jb_lit(b, "\n");
	}
	/* The Host header must be signed, so a request cannot be replayed to another endpoint. */
	return host;
}

/* date_ok checks X-Amz-Date (YYYYMMDDTHHMMSSZ): the scope's day, and within SKEW_SECONDS of now. */
static bool date_ok(const char *amz, const char *day)
{
	struct tm tm;
	time_t when;
	long long now = (long long)(api_now_ms() / 1000u), diff;

	memset(&tm, 0, sizeof(tm));
	if (amz == NULL || strlen(amz) != 16 || strncmp(amz, day, 8) != 0 ||
	    sscanf(amz, "%4d%2d%2dT%2d%2d%2dZ", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour,
		   &tm.tm_min, &tm.tm_sec) != 6)
		return false;
	tm.tm_year -= 1900;
	tm.tm_mon -= 1;
	when = timegm(&tm);
	diff = (long long)when - now;
	return when != (time_t)-1 && diff <= SKEW_SECONDS && diff >= -SKEW_SECONDS;
}

/* string_to_sign builds the canonical request of req and its string to sign into out. */
static bool string_to_sign(struct api_req *req, const struct sigv4 *s, const char *amz, struct jbuf *out)
{
	struct jbuf cr;
	char payload[65], crhash[65];
	bool ok;

	jb_init(&cr);
	jb_lit(&cr, req->route->info.method);
	jb_lit(&cr, "\n");
	jb_lit(&cr, req->raw_path);
	jb_lit(&cr, "\n");
	canonical_query(req, &cr);
	jb_lit(&cr, "\n");
	ok = canonical_headers(req, s->signed_headers, &cr);
	jb_lit(&cr, "\n");
	jb_lit(&cr, s->signed_headers);
	jb_lit(&cr, "\n");
	sha256_hex(req->body.data != NULL ? req->body.data : "", req->body.len, payload);
	jb_lit(&cr, payload);
	ok = ok && !cr.oom;
	if (ok)
		sha256_hex(cr.data, cr.len, crhash);
	jb_free(&cr);
	if (!ok)
		return false;
	jb_lit(out, ALGORITHM "\n");
	jb_lit(out, amz);
	jb_lit(out, "\n");
	jb_lit(out, s->scope);
	jb_lit(out, "\n");
	jb_lit(out, crhash);
	jb_raw(out, "", 1);
	return !out->oom;
}

bool sqs_sigv4_ok(struct sqs_call *c, const char *secret)
{
	struct api_req *req = c->req;
	const char *amz = MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND, "X-Amz-Date");
	struct sigv4 s;
	struct jbuf sts;
	uint8_t k[SHA256_DIGEST_SIZE], sig[SHA256_DIGEST_SIZE];
	char want[65], *key;
	size_t keylen = strlen(secret) + 4;
	unsigned diff = 0;

	if (!parse_auth(MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND, "Authorization"), &s) ||
	    !date_ok(amz, s.date))
		return false;
	jb_init(&sts);
	key = malloc(keylen + 1);
	if (key == NULL || !string_to_sign(req, &s, amz, &sts)) {
		free(key);
		jb_free(&sts);
		return false;
	}
	snprintf(key, keylen + 1, "AWS4%s", secret);
	hmac((const uint8_t *)key, keylen, s.date, k);
	memset(key, 0, keylen);
	free(key);
	hmac(k, sizeof(k), s.region, k);
	hmac(k, sizeof(k), s.service, k);
	hmac(k, sizeof(k), "aws4_request", k);
	hmac(k, sizeof(k), sts.data, sig);
	jb_free(&sts);
	hex(sig, sizeof(sig), want);
	/* Constant time over the expected signature. */
	for (size_t i = 0; i < 64; i++)
		diff |= (unsigned)(want[i] ^ s.signature[i]);
	return diff == 0 && strlen(s.signature) == 64;
}

/* sqs_message.c: SQS messages: MD5 digests, body and attribute checks, the stored envelope, ids and receipt handles. */
#include <inttypes.h>
#include <nettle/base64.h>
#include <nettle/md5.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "sqs.h"

/* Message attributes: at most this many, names this long. */
#define ATTRIBUTES_MAX 10
#define ATTRIBUTE_NAME_MAX 256
#define ATTRIBUTE_TYPE_MAX 256

void sqs_md5_hex(const void *p, size_t n, char hex[33])
{
	struct md5_ctx ctx;
	uint8_t d[MD5_DIGEST_SIZE];

	md5_init(&ctx);
	md5_update(&ctx, n, p);
	md5_digest(&ctx, sizeof(d), d);
	for (size_t i = 0; i < sizeof(d); i++)
		snprintf(hex + 2 * i, 3, "%02x", d[i]);
}

/* b64_decode decodes base64 text s into a new buffer (*out, *outlen); false when it is not base64. */
static bool b64_decode(const char *s, uint8_t **out, size_t *outlen)
{
	struct base64_decode_ctx ctx;
	size_t n = strlen(s);
	uint8_t *buf = malloc(BASE64_DECODE_LENGTH(n) + 1);
	size_t len = BASE64_DECODE_LENGTH(n) + 1;

	if (buf == NULL)
		return false;
	base64_decode_init(&ctx);
	if (!base64_decode_update(&ctx, &len, buf, n, s) || !base64_decode_final(&ctx)) {
		free(buf);
		return false;
	}
	*out = buf;
	*outlen = len;
	return true;
}

/* name_valid checks a message attribute name as SQS does: [A-Za-z0-9_.-], no AWS. prefix, no "..". */
static bool name_valid(const char *name)
{
	size_t n = strlen(name);

	if (n == 0 || n > ATTRIBUTE_NAME_MAX || name[0] == '.' || name[n - 1] == '.')
		return false;
	if (strncasecmp(name, "AWS.", 4) == 0 || strncasecmp(name, "Amazon.", 7) == 0)
		return false;
	if (strstr(name, "..") != NULL)
		return false;
	return strspn(name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-.") == n;
}

/* type_base returns 1 for a String or Number data type (with a ".custom" suffix or not), 2 for Binary, 0 else. */
static int type_base(const char *type)
{
	static const struct {
		const char *name;
		int transport;
	} bases[] = { { "String", 1 }, { "Number", 1 }, { "Binary", 2 } };

	for (size_t i = 0; i < 3; i++) {
		size_t n = strlen(bases[i].name);
		if (strncmp(type, bases[i].name, n) == 0 && (type[n] == '\0' || type[n] == '.'))
			return strlen(type) <= ATTRIBUTE_TYPE_MAX ? bases[i].transport : 0;
	}
	return 0;
}

/* check_one checks one attribute value and counts its bytes; false with msg set when it is wrong. */
static bool check_one(const cJSON *a, size_t *size, char *msg, size_t msglen)
{
	const cJSON *v = cJSON_IsObject(a) ? a : NULL;
	const char *type = sqs_str(v, "DataType");
	const char *s = sqs_str(v, "StringValue"), *bin = sqs_str(v, "BinaryValue");
	int transport = type != NULL ? type_base(type) : 0;
	uint8_t *raw = NULL;
	size_t rawlen = 0;

	if (transport == 0) {
		snprintf(msg, msglen, "The message attribute '%s' has an invalid message attribute type.",
			 a->string);
		return false;
	}
	if ((transport == 1 && (s == NULL || s[0] == '\0')) ||
	    (transport == 2 && (bin == NULL || !b64_decode(bin, &raw, &rawlen) || rawlen == 0))) {
		free(raw);
		snprintf(msg, msglen, "The message attribute '%s' must contain a non-empty value of type '%s'.",
			 a->string, type);
		return false;
	}
	if (transport == 1 && !sqs_body_valid(s, strlen(s))) {
		snprintf(msg, msglen, "The message attribute '%s' contains invalid characters.", a->string);
		return false;
	}
	free(raw);
	*size += strlen(a->string) + strlen(type) + (transport == 1 ? strlen(s) : rawlen);
	return true;
}

enum sqs_err sqs_check_attributes(const cJSON *attrs, size_t *size, char *msg, size_t msglen)
{
	const cJSON *a;

	if (attrs == NULL || cJSON_IsNull(attrs))
		return SQS_OK;
	if (!cJSON_IsObject(attrs)) {
		snprintf(msg, msglen, "MessageAttributes must be a map.");
		return SQS_E_INVALID_PARAMETER_VALUE;
	}
	if (cJSON_GetArraySize(attrs) > ATTRIBUTES_MAX) {
		snprintf(msg, msglen, "Number of message attributes [%d] exceeds the allowed maximum [%d].",
			 cJSON_GetArraySize(attrs), ATTRIBUTES_MAX);
		return SQS_E_INVALID_PARAMETER_VALUE;
	}
	cJSON_ArrayForEach(a, attrs)
	{
		if (!name_valid(a->string)) {
			snprintf(msg, msglen, "The message attribute name '%.256s' is invalid.", a->string);
			return SQS_E_INVALID_PARAMETER_VALUE;
		}
		if (!check_one(a, size, msg, msglen))
			return SQS_E_INVALID_PARAMETER_VALUE;
	}
	return SQS_OK;
}

/* md5_field feeds a 4-byte big-endian length and then the n bytes at p. */
static void md5_field(struct md5_ctx *ctx, const void *p, size_t n)
{
	uint8_t len[4] = { (uint8_t)(n >> 24), (uint8_t)(n >> 16), (uint8_t)(n >> 8), (uint8_t)n };

	md5_update(ctx, 4, len);
	md5_update(ctx, n, p);
}

/* by_name orders attributes by name, byte by byte, as the digest wants. */
static int by_name(const void *a, const void *b)
{
	const cJSON *x = *(const cJSON *const *)a, *y = *(const cJSON *const *)b;

	return strcmp(x->string, y->string);
}

/* md5_attribute feeds one attribute: name, data type, transport byte and value. */
static bool md5_attribute(struct md5_ctx *ctx, const cJSON *a)
{
	const char *type = sqs_str(a, "DataType");
	int transport = type_base(type);
	uint8_t t = (uint8_t)transport;

	md5_field(ctx, a->string, strlen(a->string));
	md5_field(ctx, type, strlen(type));
	md5_update(ctx, 1, &t);
	if (transport == 1) {
		const char *s = sqs_str(a, "StringValue");
		md5_field(ctx, s, strlen(s));
	} else {
		uint8_t *raw;
		size_t n;
		if (!b64_decode(sqs_str(a, "BinaryValue"), &raw, &n))
			return false;
		md5_field(ctx, raw, n);
		free(raw);
	}
	return true;
}

bool sqs_attributes_md5(const cJSON *attrs, char hex[33])
{
	int n = cJSON_IsObject(attrs) ? cJSON_GetArraySize(attrs) : 0;
	const cJSON **sorted, *a;
	struct md5_ctx ctx;
	uint8_t d[MD5_DIGEST_SIZE];
	bool ok = true;
	int i = 0;

	if (n == 0)
		return false;
	sorted = calloc((size_t)n, sizeof(*sorted));
	if (sorted == NULL)
		return false;
	cJSON_ArrayForEach(a, attrs)
		sorted[i++] = a;
	qsort(sorted, (size_t)n, sizeof(*sorted), by_name);
	md5_init(&ctx);
	for (i = 0; i < n && ok; i++)
		ok = md5_attribute(&ctx, sorted[i]);
	free(sorted);
	md5_digest(&ctx, sizeof(d), d);
	for (size_t j = 0; j < sizeof(d); j++)
		snprintf(hex + 2 * j, 3, "%02x", d[j]);
	return ok;
}

/*
 * next_char decodes the UTF-8 character at p (n bytes left) into *cp and
 * returns its length, or 0 when the bytes are not well-formed UTF-8.
 */
static size_t next_char(const unsigned char *p, size_t n, uint32_t *cp)
{
	size_t len = p[0] < 0x80 ? 1 : p[0] < 0xC2 ? 0 : p[0] < 0xE0 ? 2 : p[0] < 0xF0 ? 3 : p[0] < 0xF5 ? 4 : 0;
	uint32_t v;

	if (len == 0 || len > n)
		return 0;
	if (len == 1) {
		*cp = p[0];
		return 1;
	}
	v = p[0] & (0x7Fu >> len);
	for (size_t i = 1; i < len; i++) {
		if ((p[i] & 0xC0) != 0x80)
			return 0;
		v = (v << 6) | (p[i] & 0x3Fu);
	}
	/* Overlong forms and code points past U+10FFFF are not UTF-8. */
	if ((len == 3 && v < 0x800) || (len == 4 && (v < 0x10000 || v > 0x10FFFF)))
		return 0;
	*cp = v;
	return len;
}

bool sqs_body_valid(const char *p, size_t n)
{
	const unsigned char *s = (const unsigned char *)p;
	size_t i = 0;

	while (i < n) {
		uint32_t c;
		size_t len = next_char(s + i, n - i, &c);
		if (len == 0)
			return false;
		/* #x9 | #xA | #xD | #x20-#xD7FF | #xE000-#xFFFD | #x10000-#x10FFFF */
		if (!(c == 0x9 || c == 0xA || c == 0xD || (c >= 0x20 && c <= 0xD7FF) ||
		      (c >= 0xE000 && c <= 0xFFFD) || c >= 0x10000))
			return false;
		i += len;
	}
	return true;
}

/* attributes_copy returns the stored form of attrs: each with DataType and its one value. */
static cJSON *attributes_copy(const cJSON *attrs)
{
	cJSON *out = cJSON_CreateObject();
	const cJSON *a;

	cJSON_ArrayForEach(a, attrs)
	{
		const char *type = sqs_str(a, "DataType");
		const char *field = type_base(type) == 2 ? "BinaryValue" : "StringValue";
		cJSON *v = cJSON_CreateObject();
		cJSON_AddStringToObject(v, "DataType", type);
		cJSON_AddStringToObject(v, field, sqs_str(a, field));
		cJSON_AddItemToObject(out, a->string, v);
	}
	return out;
}

char *sqs_envelope(const char *body, const cJSON *attrs)
{
	cJSON *env = cJSON_CreateObject();
	char *text;

	if (env == NULL)
		return NULL;
	cJSON_AddNumberToObject(env, "sqs", 1);
	cJSON_AddStringToObject(env, "body", body);
	if (cJSON_IsObject(attrs) && cJSON_GetArraySize(attrs) > 0)
		cJSON_AddItemToObject(env, "attributes", attributes_copy(attrs));
	text = cJSON_PrintUnformatted(env);
	cJSON_Delete(env);
	return text;
}

bool sqs_unwrap(const void *payload, size_t n, char **body, cJSON **attrs)
{
	cJSON *env = cJSON_ParseWithLength(payload, n);
	const cJSON *tag = cJSON_GetObjectItemCaseSensitive(env, "sqs");
	const char *text = sqs_str(env, "body");

	*body = NULL;
	*attrs = NULL;
	if (cJSON_IsNumber(tag) && tag->valuedouble == 1 && text != NULL) {
		*body = strdup(text);
		*attrs = cJSON_DetachItemFromObjectCaseSensitive(env, "attributes");
		if (!cJSON_IsObject(*attrs)) {
			cJSON_Delete(*attrs);
			*attrs = NULL;
		}
	} else {
		/* Any other payload, e.g. one sent with the v1 API, is received as its JSON text. */
		*body = malloc(n + 1);
		if (*body != NULL) {
			memcpy(*body, payload, n);
			(*body)[n] = '\0';
		}
	}
	cJSON_Delete(env);
	return *body != NULL;
}

void sqs_message_id(const char *queue, uint64_t id, char out[37])
{
	uint32_t h = 2166136261u;

	/* FNV-1a of the queue name: ids of different queues differ in the first group. */
	for (const char *p = queue; *p; p++)
		h = (h ^ (unsigned char)*p) * 16777619u;
	snprintf(out, 37, "%08" PRIx32 "-%04x-4%03x-8000-%012" PRIx64, h,
		 (unsigned)((id >> 48) & 0xffffu), (unsigned)(h >> 20), (uint64_t)(id & 0xffffffffffffu));
}

/* A receipt handle is base64 of "mmq1 <queue> <id> <lease>". */
void sqs_handle_make(const char *queue, uint64_t id, uint64_t lease, char *out, size_t outlen)
{
	char raw[QUEUE_NAME_MAX + 64];
	int n = snprintf(raw, sizeof(raw), "mmq1 %s %" PRIu64 " %" PRIu64, queue, id, lease);
	size_t enc = BASE64_ENCODE_RAW_LENGTH((size_t)n);

	if (enc + 1 > outlen) {
		out[0] = '\0';
		return;
	}
	base64_encode_raw(out, (size_t)n, (const uint8_t *)raw);
	out[enc] = '\0';
}

bool sqs_handle_parse(const char *handle, char queue[QUEUE_NAME_MAX + 1], uint64_t *id,
		      uint64_t *lease)
{
	uint8_t *raw = NULL;
	size_t n = 0;
	char text[QUEUE_NAME_MAX + 64], name[QUEUE_NAME_MAX + 2], tail;
	bool ok;

	if (handle == NULL || strlen(handle) > 200 || !b64_decode(handle, &raw, &n))
		return false;
	ok = n < sizeof(text);
	if (ok) {
		memcpy(text, raw, n);
		text[n] = '\0';
		ok = strlen(text) == n &&
		     sscanf(text, "mmq1 %65s %" SCNu64 " %" SCNu64 "%c", name, id, lease, &tail) == 3 &&
		     queue_name_valid(name);
	}
	free(raw);
	if (ok)
		memcpy(queue, name, strlen(name) + 1);
	return ok;
}

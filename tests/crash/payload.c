/* payload.c: self-describing test payloads and a small JSON scanner for the crash tests. */
#include "payload.h"

#include <stdio.h>
#include <string.h>

/* Padding is built from these pieces: plain text, JSON escapes and bytes that look structural. */
static const char *const pieces[] = {
	"a", "b", "c", "d", "e", "f", "g", "h", "x", "y", "z", "0", "7", " ", "Q",
	"\\\"", "\\\\", "\\n", "\\u00e9", "\\/", "}", "]", "{", "[", ",", ":", "\xc3\xa9",
};

#define NPIECES (sizeof(pieces) / sizeof(pieces[0]))

static uint64_t mix(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static uint32_t fnv1a(const char *p, size_t len)
{
	uint32_t h = 2166136261u;
	for (size_t i = 0; i < len; i++) {
		h ^= (uint8_t)p[i];
		h *= 16777619u;
	}
	return h;
}

/* pad_length picks the padding length of a payload: mostly short, sometimes pages long. */
static size_t pad_length(uint64_t *s)
{
	uint64_t r = mix(s);
	if (r % 64 == 0)
		return 4000 + (size_t)(mix(s) % 3800);
	if (r % 16 == 0)
		return 200 + (size_t)(mix(s) % 3000);
	return 4 + (size_t)(mix(s) % 200);
}

size_t pay_make(const struct pay_tag *tag, char *buf)
{
	uint64_t s = ((uint64_t)tag->round << 40) ^ ((uint64_t)tag->client << 28) ^ tag->n;
	int n = snprintf(buf, PAY_MAX, "{\"r\":%u,\"c\":%u,\"n\":%u,\"p\":\"", (unsigned)tag->round,
			 (unsigned)tag->client, (unsigned)tag->n);
	size_t len = (size_t)n, want = len + pad_length(&s);
	for (;;) {
		const char *piece = pieces[mix(&s) % NPIECES];
		size_t k = strlen(piece);
		if (len + k > want)
			break;
		memcpy(buf + len, piece, k);
		len += k;
	}
	buf[len++] = '"';
	uint32_t sum = fnv1a(buf, len);
	n = snprintf(buf + len, PAY_MAX - len, ",\"k\":\"%08x\"}", (unsigned)sum);
	return len + (size_t)n;
}

/* parse_field reads "<key>":<digits> followed by a comma at *p, advancing *p past the comma. */
static bool parse_field(const char **p, const char *end, const char *key, uint32_t *out)
{
	size_t k = strlen(key);
	uint64_t v = 0;
	if ((size_t)(end - *p) < k || memcmp(*p, key, k) != 0)
		return false;
	const char *q = *p + k;
	if (q >= end || *q < '0' || *q > '9')
		return false;
	while (q < end && *q >= '0' && *q <= '9' && v <= UINT32_MAX)
		v = v * 10u + (uint64_t)(*q++ - '0');
	if (q >= end || *q != ',' || v > UINT32_MAX)
		return false;
	*out = (uint32_t)v;
	*p = q + 1;
	return true;
}

bool pay_check(const void *p, size_t len, struct pay_tag *tag)
{
	char want[PAY_MAX];
	const char *s = p, *end = s + len;
	*tag = (struct pay_tag){ 0 };
	if (!parse_field(&s, end, "{\"r\":", &tag->round) || !parse_field(&s, end, "\"c\":", &tag->client) ||
	    !parse_field(&s, end, "\"n\":", &tag->n))
		return false;
	size_t n = pay_make(tag, want);
	return n == len && memcmp(want, p, len) == 0;
}

bool pay_tag_equal(const struct pay_tag *a, const struct pay_tag *b)
{
	return a->round == b->round && a->client == b->client && a->n == b->n;
}

/* skip_string returns the byte after the string starting at the quote p, or NULL. */
static const char *skip_string(const char *p, const char *end)
{
	for (p++; p < end; p++) {
		if (*p == '\\')
			p++;
		else if (*p == '"')
			return p + 1;
	}
	return NULL;
}

const char *json_skip(const char *p, const char *end)
{
	int depth = 0;
	if (p >= end)
		return NULL;
	if (*p != '{' && *p != '[' && *p != '"') {
		while (p < end && strchr(",]} \t\r\n", *p) == NULL)
			p++;
		return p;
	}
	while (p < end) {
		if (*p == '"') {
			p = skip_string(p, end);
			if (p == NULL)
				return NULL;
		} else {
			if (*p == '{' || *p == '[')
				depth++;
			else if (*p == '}' || *p == ']')
				depth--;
			p++;
		}
		if (depth == 0)
			return p;
	}
	return NULL;
}

/* parse_u64 reads a decimal number, quoted or not, at [p, e). */
static uint64_t parse_u64(const char *p, const char *e)
{
	uint64_t v = 0;
	for (; p < e; p++)
		if (*p >= '0' && *p <= '9')
			v = v * 10u + (uint64_t)(*p - '0');
	return v;
}

/* parse_message reads one message object at *p into *m, advancing *p past it. */
static bool parse_message(const char **p, const char *end, struct json_msg *m)
{
	const char *s = *p;
	*m = (struct json_msg){ 0 };
	if (s >= end || *s++ != '{')
		return false;
	while (s < end && *s != '}') {
		const char *key = s, *kend = json_skip(s, end);
		if (*key != '"' || kend == NULL || kend >= end || *kend != ':')
			return false;
		const char *v = kend + 1, *vend = json_skip(v, end);
		if (vend == NULL)
			return false;
		size_t klen = (size_t)(kend - key);
		if (klen == 4 && memcmp(key, "\"id\"", 4) == 0)
			m->id = parse_u64(v, vend);
		else if (klen == 9 && memcmp(key, "\"payload\"", 9) == 0)
			m->payload = v, m->len = (size_t)(vend - v);
		else if (klen == 12 && memcmp(key, "\"deliveries\"", 12) == 0)
			m->deliveries = parse_u64(v, vend);
		else if (klen == 7 && memcmp(key, "\"lease\"", 7) == 0)
			m->lease = parse_u64(v, vend);
		s = vend < end && *vend == ',' ? vend + 1 : vend;
	}
	if (s >= end || m->payload == NULL || m->id == 0)
		return false;
	*p = s + 1;
	return true;
}

int json_messages(const char *body, size_t len, struct json_msg *out, int max)
{
	static const char head[] = "{\"messages\":[";
	const char *p = body, *end = body + len;
	int n = 0;
	if (len < sizeof(head) - 1 || memcmp(p, head, sizeof(head) - 1) != 0)
		return -1;
	p += sizeof(head) - 1;
	while (p < end && *p != ']') {
		if (n == max || !parse_message(&p, end, &out[n]))
			return -1;
		n++;
		if (p < end && *p == ',')
			p++;
	}
	return p < end ? n : -1;
}

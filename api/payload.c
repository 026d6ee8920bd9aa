/* payload.c: accepts exactly the JSON texts RFC 8259 allows, in UTF-8, and finds batch items' bytes. */
#include <cJSON.h>
#include <stdlib.h>
#include <string.h>

#include "payload.h"

/* utf8_seq returns the length of the valid UTF-8 sequence at p (n bytes left), 0 if invalid. */
static size_t utf8_seq(const unsigned char *p, size_t n)
{
	size_t len;
	uint32_t cp;

	if (p[0] < 0x80)
		return 1;
	if (p[0] >= 0xc2 && p[0] <= 0xdf) {
		len = 2;
		cp = p[0] & 0x1fu;
	} else if (p[0] >= 0xe0 && p[0] <= 0xef) {
		len = 3;
		cp = p[0] & 0x0fu;
	} else if (p[0] >= 0xf0 && p[0] <= 0xf4) {
		len = 4;
		cp = p[0] & 0x07u;
	} else {
		return 0;
	}
	if (n < len)
		return 0;
	for (size_t i = 1; i < len; i++) {
		if ((p[i] & 0xc0u) != 0x80u)
			return 0;
		cp = (cp << 6) | (p[i] & 0x3fu);
	}
	/* Overlong forms, UTF-16 surrogates and code points past U+10FFFF are not UTF-8. */
	if ((len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) || cp > 0x10ffff ||
	    (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return len;
}

/* string_end returns the index after the string opening at i, or 0 when it is not well formed. */
static size_t string_end(const unsigned char *p, size_t n, size_t i)
{
	for (i++; i < n;) {
		size_t len;
		if (p[i] == '"')
			return i + 1;
		if (p[i] < 0x20)
			return 0;
		if (p[i] == '\\') {
			i += 2;
			continue;
		}
		len = utf8_seq(p + i, n - i);
		if (len == 0)
			return 0;
		i += len;
	}
	return 0;
}

static bool is_digit(unsigned char c)
{
	return c >= '0' && c <= '9';
}

/* number_end returns the index after the number starting at i, or 0 when it breaks RFC 8259's grammar. */
static size_t number_end(const unsigned char *p, size_t n, size_t i)
{
	if (i < n && p[i] == '-')
		i++;
	if (i < n && p[i] == '0')
		i++;
	else if (i < n && is_digit(p[i]))
		while (i < n && is_digit(p[i]))
			i++;
	else
		return 0;
	if (i < n && p[i] == '.') {
		if (++i >= n || !is_digit(p[i]))
			return 0;
		while (i < n && is_digit(p[i]))
			i++;
	}
	if (i < n && (p[i] == 'e' || p[i] == 'E')) {
		if (++i < n && (p[i] == '+' || p[i] == '-'))
			i++;
		if (i >= n || !is_digit(p[i]))
			return 0;
		while (i < n && is_digit(p[i]))
			i++;
	}
	/* "01" or "1.2.3" would otherwise be read by cJSON as a number and a leftover. */
	if (i < n && (is_digit(p[i]) || p[i] == '.' || p[i] == 'e' || p[i] == 'E' || p[i] == '+' ||
		      p[i] == '-'))
		return 0;
	return i;
}

static bool is_space(unsigned char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/*
 * lexically_strict checks what cJSON lets through: raw control characters and
 * invalid UTF-8 in strings, lax numbers, and bytes outside strings that JSON
 * never allows (cJSON skips any byte up to 0x20 as whitespace).
 */
static bool lexically_strict(const unsigned char *p, size_t n)
{
	for (size_t i = 0; i < n;) {
		size_t next = i + 1;
		if (p[i] == '"')
			next = string_end(p, n, i);
		else if (p[i] == '-' || is_digit(p[i]))
			next = number_end(p, n, i);
		else if (p[i] < 0x20 && !is_space(p[i]))
			return false;
		else if (p[i] >= 0x80)
			return false;
		if (next == 0)
			return false;
		i = next;
	}
	return true;
}

/* parse validates p[0..n) and returns its cJSON tree (caller frees), NULL when not valid JSON. */
static cJSON *parse(const char *p, size_t n, size_t *start, size_t *len)
{
	const char *end = NULL;
	size_t a = 0, b = n;
	cJSON *root;

	if (!lexically_strict((const unsigned char *)p, n))
		return NULL;
	root = cJSON_ParseWithLengthOpts(p, n, &end, false);
	if (root == NULL)
		return NULL;
	for (const char *q = end; q < p + n; q++) {
		if (!is_space((unsigned char)*q)) {
			cJSON_Delete(root);
			return NULL;
		}
	}
	while (a < b && is_space((unsigned char)p[a]))
		a++;
	while (b > a && is_space((unsigned char)p[b - 1]))
		b--;
	*start = a;
	*len = b - a;
	return root;
}

bool payload_check(const char *p, size_t n, size_t *start, size_t *len)
{
	cJSON *root = parse(p, n, start, len);

	cJSON_Delete(root);
	return root != NULL;
}

/* value_end returns the index after the (already validated) JSON value starting at i. */
static size_t value_end(const unsigned char *p, size_t n, size_t i)
{
	int depth = 0;

	while (i < n) {
		unsigned char c = p[i];
		if (c == '"') {
			i = string_end(p, n, i);
			if (depth == 0)
				return i;
			continue;
		}
		if (c == '[' || c == '{') {
			depth++;
		} else if (c == ']' || c == '}') {
			if (depth == 0)
				return i;
			if (--depth == 0)
				return i + 1;
		} else if (depth == 0 && (c == ',' || is_space(c))) {
			return i;
		}
		i++;
	}
	return i;
}

/* locate fills items with the byte ranges of the count elements of the array at p[start]. */
static void locate(const char *p, size_t n, size_t start, struct queue_payload *items, size_t count)
{
	const unsigned char *u = (const unsigned char *)p;
	size_t i = start + 1;

	for (size_t k = 0; k < count; k++) {
		size_t end;
		while (is_space(u[i]) || u[i] == ',')
			i++;
		end = value_end(u, n, i);
		items[k].data = p + i;
		items[k].len = end - i;
		i = end;
	}
}

enum payload_batch_err payload_split(const char *p, size_t n, struct queue_payload **items,
				     size_t *count)
{
	size_t start, len;
	cJSON *root = parse(p, n, &start, &len);
	enum payload_batch_err err = PAYLOAD_BATCH_SHAPE;
	int size;

	*items = NULL;
	*count = 0;
	if (root == NULL)
		return PAYLOAD_BATCH_JSON;
	size = cJSON_GetArraySize(root);
	if (!cJSON_IsArray(root) || size < 1 || size > QUEUE_BATCH_MAX)
		goto fail;
	*items = calloc((size_t)size, sizeof(**items));
	if (*items == NULL) {
		err = PAYLOAD_BATCH_NOMEM;
		goto fail;
	}
	locate(p, n, start, *items, (size_t)size);
	*count = (size_t)size;
	err = PAYLOAD_BATCH_OK;
fail:
	cJSON_Delete(root);
	return err;
}

/* payload.c: accepts exactly the JSON texts RFC 8259 allows, in UTF-8, and finds batch items' bytes. */
#include <cJSON.h>
#include <stdlib.h>
#include <string.h>

#include "payload.h"

size_t payload_utf8_len(const unsigned char *p, size_t n)
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

/* Each byte of a 64-bit word set to x, and the masks of the low and high bit of every byte. */
#define BYTES(x) (0x0101010101010101ull * (uint64_t)(x))
#define LOW_BITS BYTES(0x01)
#define HIGH_BITS BYTES(0x80)

/*
 * plain_word says whether the 8 bytes at p are all plain string bytes: none is
 * a quote, a backslash, a control character or part of a multi-byte sequence.
 * It tests whole words (the classic "has a zero byte" trick, applied to the
 * word XORed with each special byte) because payloads are mostly long runs of
 * ASCII text and a byte at a time was the largest cost of a batch request.
 */
static bool plain_word(const unsigned char *p)
{
	uint64_t w, quote, slash, ctl;

	memcpy(&w, p, sizeof(w));
	quote = w ^ BYTES('"');
	slash = w ^ BYTES('\\');
	/* A byte below 0x20 borrows when 0x20 is taken from it; bytes >= 0x80 are caught by HIGH_BITS. */
	ctl = w - BYTES(0x20);
	return ((((quote - LOW_BITS) & ~quote) | ((slash - LOW_BITS) & ~slash) | (ctl & ~w) | w) &
		HIGH_BITS) == 0;
}

/* string_end returns the index after the string opening at i, or 0 when it is not well formed. */
static size_t string_end(const unsigned char *p, size_t n, size_t i)
{
	for (i++; i < n;) {
		size_t len;
		if (n - i >= 8 && plain_word(p + i)) {
			i += 8;
			continue;
		}
		if (p[i] == '"')
			return i + 1;
		if (p[i] < 0x20)
			return 0;
		if (p[i] == '\\') {
			i += 2;
			continue;
		}
		len = payload_utf8_len(p + i, n - i);
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
 * Where the lexer records the elements of a top-level array, for
 * payload_split: the byte ranges of the values at depth 1. They mean something
 * only once cJSON has accepted the text as a whole.
 */
struct item_list {
	const char *base;
	struct queue_payload *items;
	size_t cap;   /* room in items; elements past it are counted, not stored */
	size_t count; /* elements seen */
	long depth;   /* brackets and braces open */
	bool open;    /* an element has begun and not ended */
	size_t start, end;
};

/* close_item ends the element being read, if any. */
static void close_item(struct item_list *l)
{
	if (!l->open)
		return;
	if (l->count < l->cap) {
		l->items[l->count].data = l->base + l->start;
		l->items[l->count].len = l->end - l->start;
	}
	l->count++;
	l->open = false;
}

/*
 * note_token follows the token c spanning [at, next) (not whitespace): a ','
 * at depth 1 or the ']' closing the outer array ends an element; any other
 * token at depth 1 or deeper is part of one.
 */
static void note_token(struct item_list *l, unsigned char c, size_t at, size_t next)
{
	if (c == ']' || c == '}') {
		if (--l->depth == 0) {
			close_item(l);
			return;
		}
	}
	if (l->depth == 1 && c == ',') {
		close_item(l);
		return;
	}
	if (l->depth >= 1) {
		if (!l->open) {
			l->open = true;
			l->start = at;
		}
		l->end = next;
	}
	if (c == '[' || c == '{')
		l->depth++;
}

/*
 * lexically_strict checks what cJSON lets through: raw control characters and
 * invalid UTF-8 in strings, lax numbers, and bytes outside strings that JSON
 * never allows (cJSON skips any byte up to 0x20 as whitespace). With list it
 * also records the elements of an outer array in the same pass, so a batch is
 * not scanned a third time to find them.
 */
static bool lexically_strict(const unsigned char *p, size_t n, struct item_list *list)
{
	for (size_t i = 0; i < n;) {
		unsigned char c = p[i];
		size_t next = i + 1;
		if (c == '"')
			next = string_end(p, n, i);
		else if (c == '-' || is_digit(c))
			next = number_end(p, n, i);
		else if (c < 0x20 && !is_space(c))
			return false;
		else if (c >= 0x80)
			return false;
		if (next == 0)
			return false;
		if (list != NULL && !is_space(c))
			note_token(list, c, i, next);
		i = next;
	}
	return true;
}

/*
 * parse validates p[0..n) and returns its cJSON tree (caller frees), NULL when
 * not valid JSON; list (may be NULL) receives the elements of an outer array.
 */
static cJSON *parse(const char *p, size_t n, size_t *start, size_t *len, struct item_list *list)
{
	const char *end = NULL;
	size_t a = 0, b = n;
	cJSON *root;

	if (!lexically_strict((const unsigned char *)p, n, list))
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
	cJSON *root = parse(p, n, start, len, NULL);

	cJSON_Delete(root);
	return root != NULL;
}

enum payload_batch_err payload_split(const char *p, size_t n, struct queue_payload **items,
				     size_t *count)
{
	struct item_list list = { .base = p, .cap = QUEUE_BATCH_MAX };
	enum payload_batch_err err = PAYLOAD_BATCH_NOMEM;
	size_t start, len;
	cJSON *root = NULL;
	int size;

	*items = NULL;
	*count = 0;
	list.items = malloc(QUEUE_BATCH_MAX * sizeof(*list.items));
	if (list.items == NULL)
		goto fail;
	root = parse(p, n, &start, &len, &list);
	err = PAYLOAD_BATCH_JSON;
	if (root == NULL)
		goto fail;
	err = PAYLOAD_BATCH_SHAPE;
	size = cJSON_GetArraySize(root);
	if (!cJSON_IsArray(root) || size < 1 || size > QUEUE_BATCH_MAX)
		goto fail;
	/* The lexer saw exactly the elements cJSON did, or the text would not have parsed. */
	if (list.count != (size_t)size) {
		err = PAYLOAD_BATCH_JSON;
		goto fail;
	}
	*items = list.items;
	*count = list.count;
	list.items = NULL;
	err = PAYLOAD_BATCH_OK;
fail:
	free(list.items);
	cJSON_Delete(root);
	return err;
}

/* body.c: reads a request body piece by piece, refusing it as soon as it passes its cap. */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "body.h"

void body_init(struct api_body *b, size_t limit, bool keep)
{
	memset(b, 0, sizeof(*b));
	b->limit = limit;
	b->keep = keep;
}

/* grow makes room for need bytes plus the terminating NUL, doubling the buffer. */
static bool grow(struct api_body *b, size_t need)
{
	size_t cap = b->cap ? b->cap : 1024;
	char *p;

	while (cap < need + 1)
		cap *= 2;
	if (cap == b->cap)
		return true;
	p = realloc(b->data, cap);
	if (p == NULL)
		return false;
	b->data = p;
	b->cap = cap;
	return true;
}

void body_reserve(struct api_body *b, size_t n)
{
	if (b->keep && n > 0 && n <= b->limit)
		(void)grow(b, n);
}

enum body_result body_append(struct api_body *b, const char *p, size_t n)
{
	if (n > b->limit - b->len)
		return BODY_TOO_LARGE;
	if (!b->keep) {
		b->len += n;
		return BODY_OK;
	}
	if (!grow(b, b->len + n))
		return BODY_NOMEM;
	memcpy(b->data + b->len, p, n);
	b->len += n;
	b->data[b->len] = '\0';
	return BODY_OK;
}

void body_free(struct api_body *b)
{
	free(b->data);
	b->data = NULL;
	b->len = 0;
	b->cap = 0;
}

/* body.h: an incremental request-body reader with a size cap. */
#ifndef MMQ_API_BODY_H
#define MMQ_API_BODY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* A request body read so far; data is NUL-terminated past len when not NULL. */
struct api_body {
	char *data;
	size_t len;
	size_t cap;
	size_t limit; /* the most bytes it may hold */
	bool keep;    /* false: bytes are counted, not stored */
};

enum body_result { BODY_OK, BODY_TOO_LARGE, BODY_NOMEM };

/*
 * body_init prepares b to hold at most limit bytes, storing them when keep.
 * This function can't fail (memory is allocated as bytes arrive).
 */
void body_init(struct api_body *b, size_t limit, bool keep);

/*
 * body_append adds n bytes. BODY_TOO_LARGE when the total would exceed the
 * limit (nothing more is stored), BODY_NOMEM when memory ran out.
 */
enum body_result body_append(struct api_body *b, const char *p, size_t n);

/*
 * body_reserve makes room for n bytes up front (a body's announced length),
 * so it is not copied again each time the buffer doubles. Bodies are still
 * capped by the limit; a failure here is ignored (body_append grows as before).
 */
void body_reserve(struct api_body *b, size_t n);

/* body_free frees the stored bytes and empties b. body_free on an empty body is a no-op. */
void body_free(struct api_body *b);

#endif

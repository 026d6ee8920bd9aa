/* payload.h: strict validation of JSON payloads and the splitting of a batch into its items. */
#ifndef MMQ_API_PAYLOAD_H
#define MMQ_API_PAYLOAD_H

#include <stdbool.h>
#include <stddef.h>

#include "../queue/queue.h"

/*
 * payload_utf8_len returns the length of the well-formed UTF-8 sequence at p
 * (n > 0 bytes left), or 0 when there is none: overlong forms, UTF-16
 * surrogates and code points past U+10FFFF are not UTF-8. This function can't fail.
 */
size_t payload_utf8_len(const unsigned char *p, size_t n);

/*
 * payload_check says whether the n bytes at p are one JSON value (RFC 8259)
 * in valid UTF-8, with only JSON whitespace around it. On success *start and
 * *len give the value without that whitespace. p must be NUL-terminated at n.
 */
bool payload_check(const char *p, size_t n, size_t *start, size_t *len);

/* What payload_split found wrong with a batch. */
enum payload_batch_err { PAYLOAD_BATCH_OK, PAYLOAD_BATCH_JSON, PAYLOAD_BATCH_SHAPE, PAYLOAD_BATCH_NOMEM };

/*
 * payload_split checks that the n bytes at p are a JSON array of 1 to
 * QUEUE_BATCH_MAX values and points *items (count entries) at each element's
 * exact source bytes, inside p. Caller owns *items; free with free().
 * p must be NUL-terminated at n.
 */
enum payload_batch_err payload_split(const char *p, size_t n, struct queue_payload **items,
				     size_t *count);

#endif

/* payload.h: self-describing test payloads (who wrote them, a checksum) and a small JSON scanner for the crash tests. */
#ifndef MMQ_CRASH_PAYLOAD_H
#define MMQ_CRASH_PAYLOAD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The largest payload pay_make() writes, in bytes. */
#define PAY_MAX 8192u

/* Who wrote a payload: a round (or scenario), a client within it, and the client's sequence number. */
struct pay_tag {
	uint32_t round;
	uint32_t client;
	uint32_t n;
};

/*
 * pay_make writes the payload of tag into buf (at least PAY_MAX bytes) and
 * returns its length. The payload is a JSON object naming the tag, with a
 * padding string of a length and content derived from the tag (escapes,
 * quotes and braces included) and a checksum of everything before it, so any
 * payload can be regenerated and compared byte for byte. This function can't fail.
 */
size_t pay_make(const struct pay_tag *tag, char *buf);

/*
 * pay_check says whether the len bytes at p are exactly the payload of the tag
 * they name, and puts that tag in *tag (also when false, as far as it parsed).
 */
bool pay_check(const void *p, size_t len, struct pay_tag *tag);

/* pay_tag_equal says whether a and b name the same payload. */
bool pay_tag_equal(const struct pay_tag *a, const struct pay_tag *b);

/*
 * json_skip returns the first byte after the JSON value starting at p (no
 * leading whitespace), or NULL when there is no complete value before end.
 */
const char *json_skip(const char *p, const char *end);

/* One message of a {"messages":[...]} answer: the payload points into the answer's body. */
struct json_msg {
	uint64_t id;
	uint64_t deliveries;
	uint64_t lease; /* 0 when the answer carries none */
	const char *payload;
	size_t len;
};

/*
 * json_messages parses the {"messages":[...]} answer in body[0..len) into up
 * to max entries of out and returns how many it found, or -1 when the body is
 * not such an answer (or holds more than max messages).
 */
int json_messages(const char *body, size_t len, struct json_msg *out, int max);

#endif

/* json_out.h: builds JSON responses straight into a buffer, splicing stored payloads verbatim. */
#ifndef MMQ_API_JSON_OUT_H
#define MMQ_API_JSON_OUT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../queue/queue.h"

/* A growing output buffer. After a failed allocation it stays failed and ignores writes. */
struct jbuf {
	char *data;
	size_t len;
	size_t cap;
	bool oom;
};

/* jb_init makes b empty. This function can't fail. */
void jb_init(struct jbuf *b);

/* jb_free frees b's bytes and makes it empty. jb_free on an empty buffer is a no-op. */
void jb_free(struct jbuf *b);

/* jb_raw appends n bytes as they are. */
void jb_raw(struct jbuf *b, const void *p, size_t n);

/* jb_lit appends the NUL-terminated text s as it is. */
void jb_lit(struct jbuf *b, const char *s);

/* jb_str appends s as a quoted, escaped JSON string. */
void jb_str(struct jbuf *b, const char *s);

/* jb_u64 appends v in decimal. */
void jb_u64(struct jbuf *b, uint64_t v);

/* jb_time appends ms (since the Unix epoch) as a quoted RFC 3339 UTC time with milliseconds. */
void jb_time(struct jbuf *b, uint64_t ms);

/* jo_error appends {"error":{"code":code,"message":message}}. */
void jo_error(struct jbuf *b, const char *code, const char *message);

/* jo_messages appends {"messages":[...]} for m (NULL: none); leases are shown when leased. */
void jo_messages(struct jbuf *b, const struct queue_msgs *m, bool leased);

/* jo_stats appends the stats object of s; now_ms is the current wall-clock time. */
void jo_stats(struct jbuf *b, const struct queue_stats *s, uint64_t now_ms);

#endif

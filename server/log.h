/* log.h: mmqd's log: one line per event on stderr, as key=value text or JSON, filtered by level. */
#ifndef MMQ_SRV_LOG_H
#define MMQ_SRV_LOG_H

#include <stdbool.h>
#include <stdint.h>

/*
 * Every line is one event: a time stamp, a level, an event name, the event's
 * fields, and a human sentence "msg" saying the same. In text format:
 *   ts=2025-01-01T12:00:00.000Z level=info event=listening addr=127.0.0.1:8080 msg="listening on ..."
 * (values with spaces, quotes or '=' are quoted). In JSON format, one object per line:
 *   {"ts":"...","level":"info","event":"listening","addr":"127.0.0.1:8080","msg":"..."}
 * Callers never put payload bytes into a field or a message.
 */

/* Severity, most severe first; a line is written when its level is at or above the set one. */
enum srv_log_level { SRV_LOG_ERROR = 0, SRV_LOG_WARN, SRV_LOG_INFO, SRV_LOG_DEBUG };

/* How lines are written. */
enum srv_log_format { SRV_LOG_TEXT = 0, SRV_LOG_JSON };

/* The type of a field's value. */
enum srv_field_kind { SRV_FIELD_STR = 0, SRV_FIELD_UINT, SRV_FIELD_REAL, SRV_FIELD_BOOL };

/* One field of an event. A list of fields ends with one whose key is NULL. */
struct srv_log_field {
	const char *key; /* [a-z_]+ */
	enum srv_field_kind kind;
	const char *str; /* SRV_FIELD_STR; NULL is written as an empty string */
	uint64_t num;	 /* SRV_FIELD_UINT, SRV_FIELD_BOOL */
	double real;	 /* SRV_FIELD_REAL, written with three decimals */
};

#define SRV_STR(k, v) { (k), SRV_FIELD_STR, (v), 0, 0.0 }
#define SRV_UINT(k, v) { (k), SRV_FIELD_UINT, NULL, (uint64_t)(v), 0.0 }
#define SRV_REAL(k, v) { (k), SRV_FIELD_REAL, NULL, 0, (double)(v) }
#define SRV_BOOL(k, v) { (k), SRV_FIELD_BOOL, NULL, (v) ? 1u : 0u, 0.0 }
/* SRV_FIELDS(SRV_STR("addr", a), SRV_UINT("port", p)) makes a terminated field list. */
#define SRV_FIELDS(...) \
	((const struct srv_log_field[]){ __VA_ARGS__, { NULL, SRV_FIELD_STR, NULL, 0, 0.0 } })

/* srv_log_level_parse turns "error", "warn", "info" or "debug" into *out; false if unknown. */
bool srv_log_level_parse(const char *text, enum srv_log_level *out);

/* srv_log_format_parse turns "text" or "json" into *out; false if unknown. */
bool srv_log_format_parse(const char *text, enum srv_log_format *out);

/* srv_log_set_level sets the least severe level written. This function can't fail. */
void srv_log_set_level(enum srv_log_level level);

/* srv_log_set_format sets how lines are written (text by default). This function can't fail. */
void srv_log_set_format(enum srv_log_format format);

/*
 * srv_log_event writes event with fields (may be NULL) and the formatted
 * sentence as its "msg" to stderr, in one write. A field or message too long
 * for a line (about 4 KiB) is cut or left out, so every line stays well formed.
 * Thread-safe. This function can't fail.
 */
void srv_log_event(enum srv_log_level level, const char *event, const struct srv_log_field *fields,
		   const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* srv_log is srv_log_event with the event "message" and no fields. This function can't fail. */
void srv_log(enum srv_log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif

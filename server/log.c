/* log.c: writes mmqd's events to stderr as key=value text or JSON lines. */
#include <inttypes.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "../api/payload.h"
#include "log.h"

/* A line never grows past this; the last bytes are kept for "}\n" and the NUL. */
#define LINE_BYTES 4096u
#define LINE_RESERVE 4u
/* The longest message; a longer one is cut. */
#define MSG_BYTES 1024u

static const char *const level_names[] = { "error", "warn", "info", "debug" };
static const char *const format_names[] = { "text", "json" };

static atomic_int current_level = SRV_LOG_INFO;
static atomic_int current_format = SRV_LOG_TEXT;

/* A line being built. Once a piece does not fit, over is set and nothing more is added. */
struct line {
	char buf[LINE_BYTES];
	size_t len;
	bool over;
};

static bool lookup(const char *const *names, size_t n, const char *text, int *out)
{
	for (size_t i = 0; i < n; i++) {
		if (strcmp(text, names[i]) == 0) {
			*out = (int)i;
			return true;
		}
	}
	return false;
}

bool srv_log_level_parse(const char *text, enum srv_log_level *out)
{
	int i;
	if (!lookup(level_names, sizeof(level_names) / sizeof(level_names[0]), text, &i))
		return false;
	*out = (enum srv_log_level)i;
	return true;
}

bool srv_log_format_parse(const char *text, enum srv_log_format *out)
{
	int i;
	if (!lookup(format_names, sizeof(format_names) / sizeof(format_names[0]), text, &i))
		return false;
	*out = (enum srv_log_format)i;
	return true;
}

void srv_log_set_level(enum srv_log_level level)
{
	atomic_store(&current_level, (int)level);
}

void srv_log_set_format(enum srv_log_format f)
{
	atomic_store(&current_format, (int)f);
}

static void put(struct line *l, const char *s, size_t n)
{
	if (l->over || n > LINE_BYTES - LINE_RESERVE - l->len) {
		l->over = true;
		return;
	}
	memcpy(l->buf + l->len, s, n);
	l->len += n;
}

static void puts_(struct line *l, const char *s)
{
	put(l, s, strlen(s));
}

/*
 * put_escaped writes s as the inside of a quoted string: JSON escapes in JSON,
 * C-like ones in text. Control characters and bytes that are not UTF-8 are
 * escaped, so a line is always one line and always valid UTF-8.
 */
static void put_escaped(struct line *l, const char *s, bool json)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t n = strlen(s);
	char esc[8];

	for (size_t i = 0; i < n && !l->over;) {
		size_t k = payload_utf8_len(p + i, n - i);
		if (p[i] == '"' || p[i] == '\\') {
			esc[0] = '\\';
			esc[1] = (char)p[i];
			put(l, esc, 2);
		} else if (p[i] == '\n' || p[i] == '\t' || p[i] == '\r') {
			put(l, p[i] == '\n' ? "\\n" : p[i] == '\t' ? "\\t" : "\\r", 2);
		} else if (p[i] < 0x20 || p[i] == 0x7f || k == 0) {
			if (json && k == 0)
				snprintf(esc, sizeof(esc), "\\ufffd");
			else if (json)
				snprintf(esc, sizeof(esc), "\\u%04x", p[i]);
			else
				snprintf(esc, sizeof(esc), "\\x%02x", p[i]);
			puts_(l, esc);
			k = 1;
		} else {
			put(l, s + i, k);
		}
		i += k;
	}
}

/* needs_quotes says whether a text value must be quoted to read back as one value. */
static bool needs_quotes(const char *s)
{
	if (s[0] == '\0')
		return true;
	for (const unsigned char *p = (const unsigned char *)s; *p; p++)
		if (*p <= ' ' || *p == '"' || *p == '=' || *p == '\\' || *p >= 0x7f)
			return true;
	return false;
}

static void put_string(struct line *l, const char *s, bool json)
{
	if (s == NULL)
		s = "";
	if (json || needs_quotes(s)) {
		puts_(l, "\"");
		put_escaped(l, s, json);
		puts_(l, "\"");
	} else {
		puts_(l, s);
	}
}

/* put_field writes one "key=value" or ,"key":value; a field that does not fit is left out whole. */
static void put_field(struct line *l, const char *key, const struct srv_log_field *f,
		      const char *str, bool json)
{
	size_t mark = l->len;
	char num[48];

	puts_(l, json ? ",\"" : " ");
	puts_(l, key);
	puts_(l, json ? "\":" : "=");
	if (f == NULL || f->kind == SRV_FIELD_STR) {
		put_string(l, f == NULL ? str : f->str, json);
	} else {
		if (f->kind == SRV_FIELD_UINT)
			snprintf(num, sizeof(num), "%" PRIu64, f->num);
		else if (f->kind == SRV_FIELD_REAL)
			snprintf(num, sizeof(num), "%.3f", f->real);
		else
			snprintf(num, sizeof(num), "%s", f->num ? "true" : "false");
		puts_(l, num);
	}
	if (l->over) {
		l->len = mark;
		l->over = false;
	}
}

/* put_time writes the wall-clock time as 2025-01-01T12:00:00.000Z. */
static void put_time(struct line *l, bool json)
{
	struct timespec ts;
	struct tm tm;
	char text[40];
	size_t n;

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	n = strftime(text, sizeof(text), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(text + n, sizeof(text) - n, ".%03ldZ", ts.tv_nsec / 1000000L);
	puts_(l, json ? "{\"ts\":\"" : "ts=");
	puts_(l, text);
	puts_(l, json ? "\"" : "");
}

static void write_event(enum srv_log_level level, const char *event,
			const struct srv_log_field *fields, const char *msg)
{
	struct line l;
	bool json = atomic_load(&current_format) == SRV_LOG_JSON;

	l.len = 0;
	l.over = false;
	put_time(&l, json);
	put_field(&l, "level", NULL, level_names[level], json);
	put_field(&l, "event", NULL, event, json);
	for (size_t i = 0; fields != NULL && fields[i].key != NULL; i++)
		put_field(&l, fields[i].key, &fields[i], NULL, json);
	put_field(&l, "msg", NULL, msg, json);
	/* LINE_RESERVE keeps room for these whatever happened before. */
	if (json)
		l.buf[l.len++] = '}';
	l.buf[l.len++] = '\n';
	l.buf[l.len] = '\0';
	/* One fputs per line: stdio locks the stream, so threads never interleave within a line. */
	fputs(l.buf, stderr);
}

static void log_va(enum srv_log_level level, const char *event, const struct srv_log_field *fields,
		   const char *fmt, va_list ap)
{
	char msg[MSG_BYTES];

	if ((int)level > atomic_load(&current_level) || (unsigned)level > SRV_LOG_DEBUG)
		return;
	vsnprintf(msg, sizeof(msg), fmt, ap);
	/* A cut may split a UTF-8 sequence; put_escaped then escapes the stray bytes. */
	write_event(level, event, fields, msg);
}

void srv_log_event(enum srv_log_level level, const char *event, const struct srv_log_field *fields,
		   const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_va(level, event, fields, fmt, ap);
	va_end(ap);
}

void srv_log(enum srv_log_level level, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_va(level, "message", NULL, fmt, ap);
	va_end(ap);
}

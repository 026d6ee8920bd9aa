/* json_out.c: the JSON envelopes of responses, written directly so payload bytes are never re-serialised. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "json_out.h"

void jb_init(struct jbuf *b)
{
	memset(b, 0, sizeof(*b));
}

void jb_free(struct jbuf *b)
{
	free(b->data);
	jb_init(b);
}

/* reserve makes room for n more bytes plus a NUL; false (and b failed) when memory ran out. */
static bool reserve(struct jbuf *b, size_t n)
{
	size_t cap;
	char *p;

	if (b->oom)
		return false;
	if (b->len + n + 1 <= b->cap)
		return true;
	cap = b->cap ? b->cap : 256;
	while (cap < b->len + n + 1)
		cap *= 2;
	p = realloc(b->data, cap);
	if (p == NULL) {
		b->oom = true;
		return false;
	}
	b->data = p;
	b->cap = cap;
	return true;
}

void jb_raw(struct jbuf *b, const void *p, size_t n)
{
	if (!reserve(b, n))
		return;
	memcpy(b->data + b->len, p, n);
	b->len += n;
	b->data[b->len] = '\0';
}

void jb_lit(struct jbuf *b, const char *s)
{
	jb_raw(b, s, strlen(s));
}

void jb_str(struct jbuf *b, const char *s)
{
	char esc[8];

	jb_raw(b, "\"", 1);
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (c == '"' || c == '\\') {
			esc[0] = '\\';
			esc[1] = (char)c;
			jb_raw(b, esc, 2);
		} else if (c < 0x20) {
			snprintf(esc, sizeof(esc), "\\u%04x", c);
			jb_raw(b, esc, 6);
		} else {
			jb_raw(b, s, 1);
		}
	}
	jb_raw(b, "\"", 1);
}

void jb_u64(struct jbuf *b, uint64_t v)
{
	/* Digits from the end, by hand: snprintf was a visible cost of every response. */
	char num[24];
	size_t i = sizeof(num);

	do {
		num[--i] = (char)('0' + v % 10u);
		v /= 10u;
	} while (v != 0);
	jb_raw(b, num + i, sizeof(num) - i);
}

void jb_time(struct jbuf *b, uint64_t ms)
{
	char text[40];
	struct tm tm;
	time_t secs = (time_t)(ms / 1000u);
	int n;

	gmtime_r(&secs, &tm);
	n = snprintf(text, sizeof(text), "\"%04d-%02d-%02dT%02d:%02d:%02d.%03uZ\"", tm.tm_year + 1900,
		     tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
		     (unsigned)(ms % 1000u));
	jb_raw(b, text, (size_t)n);
}

void jo_error(struct jbuf *b, const char *code, const char *message)
{
	jb_lit(b, "{\"error\":{\"code\":");
	jb_str(b, code);
	jb_lit(b, ",\"message\":");
	jb_str(b, message);
	jb_lit(b, "}}");
}

/* jo_message appends one message; its payload is copied byte for byte from the store. */
static void jo_message(struct jbuf *b, const struct queue_msg *m, bool leased)
{
	jb_lit(b, "{\"id\":");
	jb_u64(b, m->id);
	jb_lit(b, ",\"payload\":");
	jb_raw(b, m->payload, m->len);
	jb_lit(b, ",\"enqueued_at\":");
	jb_time(b, m->enqueued_ms);
	jb_lit(b, ",\"deliveries\":");
	jb_u64(b, m->deliveries);
	if (leased) {
		/* The token is rendered as a decimal string: opaque to clients, exact for us. */
		jb_lit(b, ",\"lease\":\"");
		jb_u64(b, m->lease);
		jb_lit(b, "\",\"lease_expires_at\":");
		jb_time(b, m->lease_expires_ms);
	}
	jb_lit(b, "}");
}

void jo_messages(struct jbuf *b, const struct queue_msgs *m, bool leased)
{
	jb_lit(b, "{\"messages\":[");
	for (size_t i = 0; m != NULL && i < m->count; i++) {
		if (i > 0)
			jb_lit(b, ",");
		jo_message(b, &m->items[i], leased);
	}
	jb_lit(b, "]}");
}

/* field appends ,"name":v (or without the comma for the first field). */
static void field(struct jbuf *b, const char *name, uint64_t v, bool first)
{
	jb_lit(b, first ? "\"" : ",\"");
	jb_lit(b, name);
	jb_lit(b, "\":");
	jb_u64(b, v);
}

void jo_stats(struct jbuf *b, const struct queue_stats *s, uint64_t now_ms)
{
	uint64_t age = 0;

	if (s->oldest_enqueued_ms != 0 && now_ms > s->oldest_enqueued_ms)
		age = (now_ms - s->oldest_enqueued_ms) / 1000u;
	jb_lit(b, "{\"name\":");
	jb_str(b, s->name);
	field(b, "depth", s->depth, false);
	field(b, "in_flight", s->in_flight, false);
	field(b, "delayed", s->delayed, false);
	field(b, "bytes", s->bytes, false);
	field(b, "disk_bytes", s->disk_bytes, false);
	field(b, "enqueued_total", s->enqueued_total, false);
	field(b, "dequeued_total", s->dequeued_total, false);
	field(b, "oldest_age_seconds", age, false);
	field(b, "live_bytes", s->live_bytes, false);
	field(b, "dead_bytes", s->dead_bytes, false);
	field(b, "segments", s->segments, false);
	field(b, "popped_total", s->popped_total, false);
	field(b, "leased_total", s->leased_total, false);
	field(b, "acked_total", s->acked_total, false);
	field(b, "released_total", s->released_total, false);
	field(b, "redelivered_total", s->redelivered_total, false);
	field(b, "dead_lettered_total", s->dead_lettered_total, false);
	jb_lit(b, ",\"settings\":{");
	field(b, "max_bytes", s->settings.max_bytes, true);
	field(b, "max_message_bytes", s->settings.max_message_bytes, false);
	field(b, "lease_seconds", s->settings.lease_seconds, false);
	field(b, "max_deliveries", s->settings.max_deliveries, false);
	field(b, "delay_seconds", s->settings.delay_seconds, false);
	field(b, "receive_wait_seconds", s->settings.receive_wait_seconds, false);
	jb_lit(b, ",\"dead_letter\":");
	if (s->settings.dead_letter[0] != '\0')
		jb_str(b, s->settings.dead_letter);
	else
		jb_lit(b, "null");
	jb_lit(b, "}");
	/* Queues made before these times were kept have none: null. */
	jb_lit(b, ",\"created_at\":");
	if (s->settings.created_ms != 0)
		jb_time(b, s->settings.created_ms);
	else
		jb_lit(b, "null");
	jb_lit(b, ",\"modified_at\":");
	if (s->settings.modified_ms != 0)
		jb_time(b, s->settings.modified_ms);
	else
		jb_lit(b, "null");
	jb_lit(b, "}");
}

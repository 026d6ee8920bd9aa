/* queuetest.c: helpers shared by the engine suites: messages in and out of a store, and a queue's files. */
#include "queuetest.h"

#include <criterion/criterion.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

uint64_t qt_enqueue(struct queue_store *st, const char *name, const char *text, uint64_t delay)
{
	struct queue_payload p = { text, strlen(text) };
	uint64_t id = 0;
	cr_assert_eq(queue_enqueue(st, name, &p, 1, delay, &id, NULL), QUEUE_OK);
	return id;
}

void qt_assert_payload(const struct queue_msg *m, const char *text)
{
	cr_assert_eq(m->len, strlen(text));
	cr_assert_eq(memcmp(m->payload, text, m->len), 0);
}

size_t qt_count_visible(struct queue_store *st, const char *name)
{
	struct queue_msgs m = { 0 };
	cr_assert_eq(queue_peek(st, name, 1000, &m), QUEUE_OK);
	size_t n = m.count;
	queue_msgs_free(&m);
	return n;
}

struct queue_msg qt_lease_one(struct queue_store *st, const char *name, uint64_t ttl)
{
	struct queue_msgs m = { 0 };
	cr_assert_eq(queue_lease(st, name, 1, ttl, &m, NULL), QUEUE_OK);
	cr_assert_eq(m.count, 1);
	struct queue_msg msg = m.items[0];
	msg.payload = NULL;
	queue_msgs_free(&m);
	return msg;
}

size_t qt_payload_len(int i, size_t base)
{
	return base + (size_t)(i % 5) * 13;
}

void qt_payload(char *buf, int i, size_t len)
{
	char tag[16];
	int n = snprintf(tag, sizeof(tag), "m%06d:", i);
	for (size_t j = 0; j < len; j++)
		buf[j] = (char)('a' + (int)((j * 7 + (size_t)i) % 26));
	memcpy(buf, tag, (size_t)n < len ? (size_t)n : len);
}

void qt_enqueue_range(struct queue_store *st, const char *name, int first, int n, size_t base, uint64_t *ids)
{
	char *buf = malloc(base + 100);
	for (int i = first; i < first + n; i++) {
		size_t len = qt_payload_len(i, base);
		struct queue_payload p = { buf, len };
		qt_payload(buf, i, len);
		cr_assert_eq(queue_enqueue(st, name, &p, 1, 0, &ids[i], NULL), QUEUE_OK);
	}
	free(buf);
}

void qt_enqueue_batch(struct queue_store *st, const char *name, int first, int n, size_t base, uint64_t *ids)
{
	struct queue_payload *p = calloc((size_t)n, sizeof(*p));
	char **bufs = calloc((size_t)n, sizeof(*bufs));
	for (int k = 0; k < n; k++) {
		size_t len = qt_payload_len(first + k, base);
		bufs[k] = malloc(len);
		qt_payload(bufs[k], first + k, len);
		p[k] = (struct queue_payload){ bufs[k], len };
	}
	cr_assert_eq(queue_enqueue(st, name, p, (size_t)n, 0, &ids[first], NULL), QUEUE_OK);
	for (int k = 0; k < n; k++)
		free(bufs[k]);
	free(bufs);
	free(p);
}

void qt_pop_n(struct queue_store *st, const char *name, size_t n)
{
	struct queue_msgs m = { 0 };
	cr_assert_eq(queue_pop(st, name, n, &m, NULL), QUEUE_OK);
	cr_assert_eq(m.count, n);
	queue_msgs_free(&m);
}

void qt_expect_survivors(struct queue_store *st, const char *name, const uint64_t *ids, const int *want, size_t nwant,
			 size_t base)
{
	struct queue_msgs m = { 0 };
	size_t k = 0;
	char *buf = malloc(base + 100);
	char served[400] = "";
	size_t used = 0;
	for (;;) {
		cr_assert_eq(queue_pop(st, name, QUEUE_BATCH_MAX, &m, NULL), QUEUE_OK);
		if (m.count == 0)
			break;
		for (size_t j = 0; j < m.count && used + 24 < sizeof(served); j++)
			used += (size_t)snprintf(served + used, sizeof(served) - used, " %llu",
						 (unsigned long long)m.items[j].id);
		for (size_t j = 0; j < m.count; j++, k++) {
			cr_assert_lt(k, nwant, "more messages than expected: extra id %llu; served:%s",
				     (unsigned long long)m.items[j].id, served);
			int i = want[k];
			size_t len = qt_payload_len(i, base);
			qt_payload(buf, i, len);
			cr_assert_eq(m.items[j].id, ids[i], "survivor %zu: id %llu, want %llu (message %d); served:%s",
				     k, (unsigned long long)m.items[j].id, (unsigned long long)ids[i], i, served);
			cr_assert_eq(m.items[j].len, len, "message %d", i);
			cr_assert_eq(memcmp(m.items[j].payload, buf, len), 0, "payload of message %d", i);
		}
		queue_msgs_free(&m);
	}
	queue_msgs_free(&m);
	cr_assert_eq(k, nwant, "got %zu messages, want %zu; served:%s", k, nwant, served);
	free(buf);
}

size_t qt_all_but(int *want, int n, const int *skip, size_t nskip)
{
	size_t k = 0, s = 0;
	for (int i = 0; i < n; i++) {
		if (s < nskip && skip[s] == i) {
			s++;
			continue;
		}
		want[k++] = i;
	}
	return k;
}

char *qt_queue_dir(const char *dir, const char *name)
{
	char *qs = tu_path(dir, "queues");
	char *q = tu_path(qs, name);
	free(qs);
	return q;
}

size_t qt_segment_count(const char *dir, const char *name)
{
	char *q = qt_queue_dir(dir, name);
	char **segs = NULL;
	size_t n = tu_segments(q, &segs);
	tu_strv_free(segs, n);
	free(q);
	return n;
}

long qt_segment_of(char **segs, size_t n, uint64_t seq)
{
	struct tu_record *r = calloc(1024, sizeof(*r));
	long found = -1;
	for (size_t k = 0; k < n && found < 0; k++) {
		size_t nr = tu_seg_records(segs[k], r, 1024);
		for (size_t j = 0; j < nr && j < 1024; j++)
			if (r[j].seq == seq && r[j].type == 1)
				found = (long)k;
	}
	free(r);
	return found;
}

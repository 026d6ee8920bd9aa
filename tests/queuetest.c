/* queuetest.c: helpers shared by the engine suites: messages in and out of a store, and a queue's files. */
#include "queuetest.h"

#include <criterion/criterion.h>

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

char *qt_dir;
char *qt_tmp;
struct queue_store *qt_st;
struct queue_recovery qt_rep;
uint64_t qt_seg_first, qt_seg_max;

static _Atomic uint64_t fake_now = QT_T0;

uint64_t qt_fake_clock(void)
{
	return atomic_load(&fake_now);
}

void qt_set_now(uint64_t ms)
{
	atomic_store(&fake_now, ms);
}

void qt_open_with(enum queue_sync sync, bool fake)
{
	struct queue_store_options o;
	queue_store_options_default(&o);
	o.sync = sync;
	o.sync_interval_ms = 20;
	o.clock = fake ? qt_fake_clock : NULL;
	cr_assert_eq(queue_store_open(qt_dir, &o, &qt_st, NULL), QUEUE_OK);
}

void qt_setup_bare(void)
{
	qt_teardown();
	qt_set_now(QT_T0);
	qt_dir = tu_tempdir();
	qt_st = NULL;
}

/* Criterion runs the suite's .init before a test's own .init: each setup starts from a clean slate. */
void qt_setup(void)
{
	qt_setup_bare();
	qt_open_with(QUEUE_SYNC_NONE, true);
}

struct queue_store_options qt_test_options(void)
{
	struct queue_store_options o;
	queue_store_options_default(&o);
	o.sync = QUEUE_SYNC_NONE;
	o.clock = qt_fake_clock;
	return o;
}

void qt_reopen(void)
{
	struct queue_store_options o = qt_test_options();
	if (qt_st != NULL)
		cr_assert_eq(queue_store_close(qt_st), QUEUE_OK);
	qt_st = NULL;
	o.first_segment_bytes = qt_seg_first;
	o.max_segment_bytes = qt_seg_max;
	memset(&qt_rep, 0, sizeof(qt_rep));
	cr_assert_eq(queue_store_open(qt_dir, &o, &qt_st, &qt_rep), QUEUE_OK);
	cr_assert_not_null(qt_st);
}

void qt_close_store(void)
{
	cr_assert_eq(queue_store_close(qt_st), QUEUE_OK);
	qt_st = NULL;
}

void qt_setup_data(void)
{
	qt_teardown();
	qt_set_now(QT_T0);
	qt_tmp = tu_tempdir();
	qt_dir = tu_path(qt_tmp, "data");
	qt_seg_first = 0;
	qt_seg_max = 0;
	qt_reopen();
}

void qt_setup_with(uint64_t first, uint64_t max)
{
	qt_setup_bare();
	qt_seg_first = first;
	qt_seg_max = max;
	qt_reopen();
}

void qt_setup_default(void)
{
	qt_setup_with(0, 0);
}

void qt_setup_small(void)
{
	qt_setup_with(QT_SMALL_SEG, QT_SMALL_SEG);
}

void qt_teardown(void)
{
	queue_store_close(qt_st);
	qt_st = NULL;
	if (qt_tmp != NULL || qt_dir != NULL)
		tu_rmrf(qt_tmp != NULL ? qt_tmp : qt_dir);
	free(qt_dir);
	free(qt_tmp);
	qt_dir = NULL;
	qt_tmp = NULL;
}

uint64_t qt_enq_delay(const char *name, const char *text, uint64_t delay)
{
	struct queue_payload p = { text, strlen(text) };
	uint64_t id = 0;
	cr_assert_eq(queue_enqueue(qt_st, name, &p, 1, delay, &id, NULL), QUEUE_OK);
	return id;
}

uint64_t qt_enq(const char *name, const char *text)
{
	return qt_enq_delay(name, text, 0);
}

void qt_assert_payload(const struct queue_msg *m, const char *text)
{
	cr_assert_eq(m->len, strlen(text));
	cr_assert_eq(memcmp(m->payload, text, m->len), 0);
}

size_t qt_count_visible(const char *name)
{
	struct queue_msgs m = { 0 };
	cr_assert_eq(queue_peek(qt_st, name, 1000, &m), QUEUE_OK);
	size_t n = m.count;
	queue_msgs_free(&m);
	return n;
}

struct queue_msg qt_lease_one(const char *name, uint64_t ttl)
{
	struct queue_msgs m = { 0 };
	cr_assert_eq(queue_lease(qt_st, name, 1, ttl, &m, NULL), QUEUE_OK);
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

void qt_enqueue_range(const char *name, int first, int n, size_t base, uint64_t *ids)
{
	char *buf = malloc(base + 100);
	for (int i = first; i < first + n; i++) {
		size_t len = qt_payload_len(i, base);
		struct queue_payload p = { buf, len };
		qt_payload(buf, i, len);
		cr_assert_eq(queue_enqueue(qt_st, name, &p, 1, 0, &ids[i], NULL), QUEUE_OK);
	}
	free(buf);
}

void qt_enqueue_batch(const char *name, int first, int n, size_t base, uint64_t *ids)
{
	struct queue_payload *p = calloc((size_t)n, sizeof(*p));
	char **bufs = calloc((size_t)n, sizeof(*bufs));
	for (int k = 0; k < n; k++) {
		size_t len = qt_payload_len(first + k, base);
		bufs[k] = malloc(len);
		qt_payload(bufs[k], first + k, len);
		p[k] = (struct queue_payload){ bufs[k], len };
	}
	cr_assert_eq(queue_enqueue(qt_st, name, p, (size_t)n, 0, &ids[first], NULL), QUEUE_OK);
	for (int k = 0; k < n; k++)
		free(bufs[k]);
	free(bufs);
	free(p);
}

void qt_pop_n(const char *name, size_t n)
{
	struct queue_msgs m = { 0 };
	cr_assert_eq(queue_pop(qt_st, name, n, &m, NULL), QUEUE_OK);
	cr_assert_eq(m.count, n);
	queue_msgs_free(&m);
}

void qt_expect_survivors(const char *name, const uint64_t *ids, const int *want, size_t nwant, size_t base)
{
	struct queue_msgs m = { 0 };
	size_t k = 0;
	char *buf = malloc(base + 100);
	char served[400] = "";
	size_t used = 0;
	for (;;) {
		cr_assert_eq(queue_pop(qt_st, name, QUEUE_BATCH_MAX, &m, NULL), QUEUE_OK);
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

char *qt_queue_dir(const char *name)
{
	char *qs = tu_path(qt_dir, "queues");
	char *q = tu_path(qs, name);
	free(qs);
	return q;
}

size_t qt_segment_count(const char *name)
{
	char *q = qt_queue_dir(name);
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

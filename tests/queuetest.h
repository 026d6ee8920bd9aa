/* queuetest.h: helpers shared by the engine suites (test_queue_*.c): messages in and out of a store, and a queue's files. */
#ifndef MMQ_QUEUETEST_H
#define MMQ_QUEUETEST_H

#include <stddef.h>
#include <stdint.h>

#include "../queue/queue.h"

/*
 * These helpers assert with Criterion, so they fail the calling test; they
 * are linked into every test_queue_* binary. Each suite keeps its own store
 * and binds these to it with short file-local helpers.
 */

/* Single messages. */

/* qt_enqueue enqueues text (strlen(text) bytes) into queue name of st, visible after delay ms; asserts QUEUE_OK and returns the new id. */
uint64_t qt_enqueue(struct queue_store *st, const char *name, const char *text, uint64_t delay);

/* qt_assert_payload asserts that m's payload is exactly the bytes of text. */
void qt_assert_payload(const struct queue_msg *m, const char *text);

/* qt_count_visible returns how many messages of queue name a peek of up to 1000 sees. */
size_t qt_count_visible(struct queue_store *st, const char *name);

/* qt_lease_one leases exactly one message of queue name for ttl ms, asserting that, and returns it with payload NULL (not kept). */
struct queue_msg qt_lease_one(struct queue_store *st, const char *name, uint64_t ttl);

/* Numbered messages: message i has a payload made from i, so a survivor can be checked byte for byte. */

/* qt_payload_len returns the payload length of message i for base length base: base plus 0 to 52 bytes. */
size_t qt_payload_len(int i, size_t base);

/* qt_payload writes message i's payload of len bytes (len >= 8) into buf: a tag naming i, then a pattern. */
void qt_payload(char *buf, int i, size_t len);

/* qt_enqueue_range enqueues messages first..first+n-1 one call each, of qt_payload_len(i, base) bytes, storing their ids in ids[i]; asserts every call succeeds. */
void qt_enqueue_range(struct queue_store *st, const char *name, int first, int n, size_t base, uint64_t *ids);

/* qt_enqueue_batch enqueues messages first..first+n-1 as one batch, storing their ids in ids[first..]; asserts it succeeds. */
void qt_enqueue_batch(struct queue_store *st, const char *name, int first, int n, size_t base, uint64_t *ids);

/* qt_pop_n pops n messages of queue name and asserts it got exactly n. */
void qt_pop_n(struct queue_store *st, const char *name, size_t n);

/*
 * qt_expect_survivors drains queue name with pop and asserts it returns exactly
 * the messages whose indices are listed in want (ascending, nwant of them), with
 * the ids in ids and the payloads of qt_payload for base.
 */
void qt_expect_survivors(struct queue_store *st, const char *name, const uint64_t *ids, const int *want, size_t nwant,
			 size_t base);

/* qt_all_but fills want with 0..n-1 except the indices in skip (ascending, nskip of them) and returns the count. This function can't fail. */
size_t qt_all_but(int *want, int n, const int *skip, size_t nskip);

/* A queue's files. */

/* qt_queue_dir returns the directory of queue name under data directory dir. Caller owns the result; free with free(). */
char *qt_queue_dir(const char *dir, const char *name);

/* qt_segment_count returns how many segment files queue name has under data directory dir (0 when it has no directory). */
size_t qt_segment_count(const char *dir, const char *name);

/* qt_segment_of returns the index in segs (n paths from tu_segments) of the segment holding data record seq, or -1. */
long qt_segment_of(char **segs, size_t n, uint64_t seq);

#endif

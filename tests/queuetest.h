/* queuetest.h: helpers shared by the engine suites (test_queue_*.c): messages in and out of a store, and a queue's files. */
#ifndef MMQ_QUEUETEST_H
#define MMQ_QUEUETEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../queue/queue.h"

/*
 * These helpers assert with Criterion, so they fail the calling test; they
 * are linked into every test_queue_* binary, each of which links exactly one
 * suite file, so the suite's store fixture lives here as shared globals.
 */

/* The time the fake clock starts at in every suite (ms since the epoch). */
#define QT_T0 1700000000000ull

/* The store fixture: the suite's data directory, its open store and the last open's recovery report. */
extern char *qt_dir;		     /* the data directory */
extern char *qt_tmp;		     /* the temporary directory above qt_dir, or NULL when qt_dir is itself temporary */
extern struct queue_store *qt_st;    /* the open store, or NULL */
extern struct queue_recovery qt_rep; /* filled by qt_reopen */
extern uint64_t qt_seg_first;	     /* first segment size qt_reopen asks for (0 = default); set by qt_setup_with */
extern uint64_t qt_seg_max;	     /* largest segment size qt_reopen asks for (0 = default); set by qt_setup_with */

/* qt_fake_clock returns the fake time set by qt_set_now; it is the clock of every store the fixture opens. */
uint64_t qt_fake_clock(void);

/* qt_set_now sets the fake clock to ms. */
void qt_set_now(uint64_t ms);

/* qt_open_with opens qt_dir into qt_st in sync mode sync (sync interval 20 ms), on the fake clock when fake, else the real one; asserts QUEUE_OK. */
void qt_open_with(enum queue_sync sync, bool fake);

/* qt_setup starts a test with a fresh temporary qt_dir opened by qt_open_with(QUEUE_SYNC_NONE, true), the clock at QT_T0. */
void qt_setup(void);

/* qt_setup_bare closes and removes any previous fixture and starts a fresh temporary qt_dir with no store open, the clock at QT_T0. */
void qt_setup_bare(void);

/* qt_test_options returns the default store options with no syncing and the fake clock. */
struct queue_store_options qt_test_options(void);

/* qt_reopen closes qt_st if open, then opens qt_dir with qt_test_options and the segment sizes qt_seg_first and qt_seg_max into qt_st, filling qt_rep; asserts success. */
void qt_reopen(void);

/* qt_close_store closes qt_st, asserting QUEUE_OK, so a test can look at or damage its files. */
void qt_close_store(void);

/* qt_setup_data starts a test with data directory "data" (not yet existing) under a fresh temporary qt_tmp, opened by qt_reopen, the clock at QT_T0. */
void qt_setup_data(void);

/* qt_setup_with removes any previous fixture and starts a fresh temporary qt_dir opened by qt_reopen with segments of first then up to max bytes (0 = default). */
void qt_setup_with(uint64_t first, uint64_t max);

/* qt_setup_default is qt_setup_with(0, 0): default segment sizes. */
void qt_setup_default(void);

/* qt_setup_small is qt_setup_with(QT_SMALL_SEG, QT_SMALL_SEG): every segment 16 KiB, so tests roll segments quickly. */
void qt_setup_small(void);

/* The segment size qt_setup_small uses. */
#define QT_SMALL_SEG 16384u

/* qt_teardown closes qt_st, removes the fixture's temporary directory and frees and clears qt_dir and qt_tmp; safe to call twice. */
void qt_teardown(void);

/* Single messages, into qt_st. */

/* qt_enq enqueues text (strlen(text) bytes) into queue name, visible at once; asserts QUEUE_OK and returns the new id. */
uint64_t qt_enq(const char *name, const char *text);

/* qt_enq_delay enqueues text (strlen(text) bytes) into queue name, visible after delay ms; asserts QUEUE_OK and returns the new id. */
uint64_t qt_enq_delay(const char *name, const char *text, uint64_t delay);

/* qt_assert_payload asserts that m's payload is exactly the bytes of text. */
void qt_assert_payload(const struct queue_msg *m, const char *text);

/* qt_count_visible returns how many messages of queue name a peek of up to 1000 sees. */
size_t qt_count_visible(const char *name);

/* qt_lease_one leases exactly one message of queue name for ttl ms, asserting that, and returns it with payload NULL (not kept). */
struct queue_msg qt_lease_one(const char *name, uint64_t ttl);

/* Numbered messages: message i has a payload made from i, so a survivor can be checked byte for byte. */

/* qt_payload_len returns the payload length of message i for base length base: base plus 0 to 52 bytes. */
size_t qt_payload_len(int i, size_t base);

/* qt_payload writes message i's payload of len bytes (len >= 8) into buf: a tag naming i, then a pattern. */
void qt_payload(char *buf, int i, size_t len);

/* qt_enqueue_range enqueues messages first..first+n-1 one call each, of qt_payload_len(i, base) bytes, storing their ids in ids[i]; asserts every call succeeds. */
void qt_enqueue_range(const char *name, int first, int n, size_t base, uint64_t *ids);

/* qt_enqueue_batch enqueues messages first..first+n-1 as one batch, storing their ids in ids[first..]; asserts it succeeds. */
void qt_enqueue_batch(const char *name, int first, int n, size_t base, uint64_t *ids);

/* qt_pop_n pops n messages of queue name and asserts it got exactly n. */
void qt_pop_n(const char *name, size_t n);

/*
 * qt_expect_survivors drains queue name with pop and asserts it returns exactly
 * the messages whose indices are listed in want (ascending, nwant of them), with
 * the ids in ids and the payloads of qt_payload for base.
 */
void qt_expect_survivors(const char *name, const uint64_t *ids, const int *want, size_t nwant, size_t base);

/* qt_all_but fills want with 0..n-1 except the indices in skip (ascending, nskip of them) and returns the count. This function can't fail. */
size_t qt_all_but(int *want, int n, const int *skip, size_t nskip);

/* A queue's files. */

/* qt_queue_dir returns the directory of queue name under qt_dir. Caller owns the result; free with free(). */
char *qt_queue_dir(const char *name);

/* qt_segment_count returns how many segment files queue name has under qt_dir (0 when it has no directory). */
size_t qt_segment_count(const char *name);

/* qt_segment_of returns the index in segs (n paths from tu_segments) of the segment holding data record seq, or -1. */
long qt_segment_of(char **segs, size_t n, uint64_t seq);

#endif

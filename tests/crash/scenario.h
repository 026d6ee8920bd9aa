/* scenario.h: one power-cut scenario: a store driven through phase A (acknowledged) and phase B (never acknowledged), and its model. */
#ifndef MMQ_CRASH_SCENARIO_H
#define MMQ_CRASH_SCENARIO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../../queue/queue.h"
#include "image.h"
#include "payload.h"

/*
 * The scenarios of tests/crash/powercut.c (its opening comment explains the
 * model). This module runs them; powercut.c checks the crash images.
 */

#define SCEN_SEGMENT_BYTES 16384u
#define SCEN_MAX_SEGMENT_BYTES 32768u
#define SCEN_LEASE_MS 60000u
#define SCEN_QUEUE "pc"
#define SCEN_PEEK_MAX 1000u

/* One message a scenario enqueued. */
struct scen_msg {
	uint64_t id;
	struct pay_tag tag;
	uint64_t token;	   /* the lease taken in A, when leased */
	bool in_b;	   /* enqueued in phase B */
	bool removed_a;	   /* removed in A (acknowledged) */
	bool leased;	   /* leased in A and neither acked nor released since */
	bool removed_b;	   /* phase B removed it (not acknowledged: it may be back) */
	bool touched_b;	   /* phase B acked, released or took it */
	uint32_t batch;	   /* the phase B batch it came in, 0 for none */
	bool seen;
};

/* A scenario: its store, what it sent and what the images must show. */
struct scen {
	uint32_t number;
	uint64_t rs;
	struct queue_store *st;
	bool phase_b, purged_b;
	struct scen_msg *m;
	size_t n, cap;
	uint32_t next_n, next_batch;
	uint64_t max_a; /* highest id or lease token handed out in A */
	struct scen_msg *unsynced_lease; /* leased in A after the last call that waited for the disk */
	struct queue_ticket *tickets;
	size_t ntickets, capt;
	char err[512];
};

/*
 * scen_hold_init records the calling thread as the main one: the program is
 * linked with --wrap=msync, and while phase B runs, msync from any other
 * thread waits. Call it once, before the first scenario.
 */
void scen_hold_init(void);

/* scen_clock is the stores' clock (a queue_clock_fn): it returns what scen_set_clock set. This function can't fail. */
uint64_t scen_clock(void);

/* scen_set_clock sets the stores' clock to ms: fixed during a scenario, so no lease runs out; ten days on when checking images. */
void scen_set_clock(uint64_t ms);

/* scen_store_options returns the options of every store the test opens: sync always, small segments, scen_clock. */
struct queue_store_options scen_store_options(void);

/* scen_rand returns the next number of s's xorshift generator (s->rs). This function can't fail. */
uint64_t scen_rand(struct scen *s);

/* scen_fail writes the formatted message into s->err and returns false. */
bool scen_fail(struct scen *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* scen_find returns the message of s with that id (s->m is sorted by id), or NULL. Borrowed; valid until s->m grows. */
struct scen_msg *scen_find(struct scen *s, uint64_t id);

/*
 * scen_snapshot runs phase A of s on a store in data directory work and reads
 * the queue's files into set as state A, then runs phase B with the engine's
 * background syncs held and reads state B. It closes the store either way.
 * Returns false with s->err set when a call fails or delivers wrongly.
 */
bool scen_snapshot(struct scen *s, const char *work, struct img_set *set);

#endif

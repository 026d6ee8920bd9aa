/* engine.h: the engine's internal structures, its lock order and the calls between its files (not for api/). */
#ifndef MMQ_ENGINE_H
#define MMQ_ENGINE_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "index.h"
#include "meta.h"
#include "queue.h"
#include "record.h"
#include "segment.h"

/*
 * Locks, references and who may touch what.
 *
 * A store has these locks; a thread that holds one may take only those after
 * it in this order, never one before it:
 *
 *   1. st->tick_lock    one timer pass at a time (queue_store_tick), held
 *                       across its dead-letter moves;
 *   2. st->admin_lock   creating and deleting queues (store_get with create,
 *                       store_create, queue_put_settings, queue_delete) and
 *                       st->delete_counter;
 *   3. q->lock          everything in struct queue from meta on, the index,
 *                       the segment list, and the syncing flags. Never two
 *                       queues' locks at once: a dead-letter move unlocks
 *                       its queue before it enqueues into another;
 *   4. st->timer_lock   st->next_deadline's wake-ups and st->stopping
 *                       (store_timer_hint runs under q->lock);
 *   5. st->sync_lock    the dirty list (q->dirty_listed, q->dirty_next) and
 *                       st->stopping.
 *
 * Two more are leaves, held only around their own data with nothing else
 * taken inside them: st->map_lock (a rwlock over the queue table; taken under
 * 1 or 2, never while a q->lock is held) and st->watch_lock (the watch list;
 * its callbacks run under it and must not call the store, so store_notify is
 * only called with no engine lock held).
 *
 * References. A struct queue lives while it has references (q->refs, atomic):
 * one for the table while it is listed, one for each caller that looked it up
 * (store_lookup, store_get, store_create, store_snapshot, op_begin), one per
 * ticket and waiter (qsync_ticket) and one while it is on the dirty list
 * (qsync_kick). queue_unref() frees it with the last. A deleted queue is
 * unlisted at once but lives on, with q->deleted set, until its last
 * reference goes; every operation checks q->deleted under q->lock.
 *
 * Segments are reference counted too (seg_hold/seg_release, atomic): a
 * pointer into a mapping outlives q->lock only while its segment is held.
 * The sync threads hold the segments they sync and call msync without q->lock.
 */

/*
 * One open queue. Everything below lock is guarded by it; refs by atomics.
 * The sync path reads segments under lock and syncs them without it.
 */
struct queue {
	char name[QUEUE_NAME_MAX + 1];
	struct queue_store *store;
	atomic_int refs;
	int dirfd;
	int metafd;
	pthread_mutex_t lock;
	pthread_cond_t durable_cond;
	bool deleted;
	bool dirty_listed;	  /* on the store's dirty list (guarded by the store's sync_lock) */
	bool syncing;		  /* a thread is syncing this queue (a writer inline, or a sync thread) */
	struct queue *dirty_next; /* guarded by the store's sync_lock */
	struct meta meta;	  /* settings and the last checkpoint written */
	struct index idx;
	struct segment **segs;	  /* live segments in order */
	size_t nsegs, cap_segs;
	size_t active;		  /* segs[active] takes appends; later ones were made ahead for a batch */
	uint64_t next_seg_size;
	uint64_t next_seq;
	uint64_t durable_seq;	  /* every record up to this seq is on stable storage */
	enum queue_err failed;	  /* QUEUE_SYNCFAIL once a sync failed */
	struct queue_waiter *waiters; /* registered durability waiters, not in any order */
	uint64_t sync_waiters;	  /* tickets handed out since the last sync pass */
	uint64_t totals[TOTAL_COUNT];
	uint64_t depth, in_flight, delayed, bytes, live_bytes;
	uint64_t written_bytes;	  /* record bytes in the live segments, live or not */
	uint64_t next_timer_ms;	  /* earliest timer, UINT64_MAX when none */
	bool replaying;
	bool open_batch;	  /* the last record appended has MORE: the next one continues its batch */
	uint64_t replayed; /* records applied when the queue was opened */
};

struct queue_watch {
	struct queue_store *store;
	char name[QUEUE_NAME_MAX + 1];
	queue_watch_fn fn;
	void *ctx;
	struct queue_watch *prev, *next;
};

struct queue_store {
	struct queue_store_options opts;
	int dirfd;	  /* the data directory */
	int queues_dirfd; /* <data>/queues */
	int lockfd;
	pthread_rwlock_t map_lock; /* guards queues[] */
	struct queue **queues;	   /* sorted by name */
	size_t nqueues, cap_queues;
	pthread_mutex_t admin_lock; /* serialises creating and deleting queues */
	uint64_t delete_counter;
	pthread_mutex_t watch_lock;
	struct queue_watch *watches;
	atomic_size_t nwatches;
	pthread_mutex_t sync_lock;
	pthread_cond_t sync_cond;
	struct queue *dirty_head, *dirty_tail;
	pthread_t sync_threads[2]; /* always: two, so one queue's msync does not hold up another's */
	size_t nsync_threads;
	pthread_mutex_t tick_lock; /* one tick at a time: a tick returns with its dead-letter moves done */
	pthread_mutex_t timer_lock;
	pthread_cond_t timer_cond;
	_Atomic uint64_t next_deadline;
	pthread_t timer_thread;
	bool timer_started;
	bool stopping;
	struct queue_recovery recovery;
	atomic_uint_fast64_t syncs, sync_failures, sync_ns, synced_records, synced_waiters;
	atomic_uint_fast64_t sync_buckets[QUEUE_SYNC_BUCKETS];
	_Atomic uint64_t free_bytes;	  /* free space last seen on the data directory's filesystem */
	_Atomic uint64_t free_checked_ms; /* when */
};

/* registry.c: the queue table, references, the clock, the timer hint and the sync counters. */

/* store_now returns the store's clock in ms (queue_store_options.clock). This function can't fail. */
uint64_t store_now(const struct queue_store *st);

/*
 * queue_new allocates queue name of st with one reference (the caller's) and
 * no files. NULL when out of memory. Release with queue_unref() or, before
 * it is shared, queue_free().
 */
struct queue *queue_new(struct queue_store *st, const char *name);

/* queue_free closes q's files and frees it whatever its references. queue_free(NULL) is a no-op. */
void queue_free(struct queue *q);

/* queue_ref adds a reference to q. Call only while holding one already. This function can't fail. */
void queue_ref(struct queue *q);

/* queue_unref drops a reference to q; the last one frees it (queue_free()). */
void queue_unref(struct queue *q);

/*
 * store_insert lists q in st's table, which takes over the caller's
 * reference. Takes map_lock. Errors: QUEUE_NOMEM (q is still the caller's).
 */
enum queue_err store_insert(struct queue_store *st, struct queue *q);

/* store_size returns how many queues st lists. Takes map_lock. This function can't fail. */
size_t store_size(struct queue_store *st);

/* store_lookup returns listed queue name with a reference for the caller, or NULL. Takes map_lock. */
struct queue *store_lookup(struct queue_store *st, const char *name);

/*
 * store_unlist takes queue name out of st's table and hands the table's
 * reference to the caller in *out. Takes map_lock. Errors: QUEUE_NOTFOUND.
 */
enum queue_err store_unlist(struct queue_store *st, const char *name, struct queue **out);

/*
 * store_snapshot returns the listed queues in name order, each with a
 * reference, and their number in *count. Caller owns the array: drop every
 * reference with queue_unref(), then free() it. NULL when out of memory.
 */
struct queue **store_snapshot(struct queue_store *st, size_t *count);

/*
 * store_timer_hint wakes the timer thread if at (ms) is earlier than what it
 * waits for. Takes timer_lock; may be called under q->lock. This function can't fail.
 */
void store_timer_hint(struct queue_store *st, uint64_t at);

/* store_count_sync counts one sync pass of ns covering records and waiters (atomics only). */
void store_count_sync(struct queue_store *st, uint64_t ns, uint64_t records, uint64_t waiters, bool ok);

/* watches.c */

/*
 * store_notify calls the watches of queue name (a message may be visible, or
 * the queue was deleted or created). Takes watch_lock: call with no other
 * engine lock held. This function can't fail.
 */
void store_notify(struct queue_store *st, const char *name);

/* apply.c: the record-to-index state machine. Every call here needs q->lock (or a queue not yet shared). */

/* apply_segment returns q's live segment number, borrowed while q->lock is held, or NULL. */
struct segment *apply_segment(struct queue *q, uint64_t number);

/*
 * apply_record applies record h (its body at body, the record at off in seg)
 * to q's index, counts and totals. Records that do not apply (an unknown
 * target, an older id) change nothing. This function can't fail: the index
 * room was reserved before the record was written (op_writable).
 */
void apply_record(struct queue *q, const struct rec_header *h, const uint8_t *body,
		  const struct segment *seg, uint64_t off);

/*
 * apply_set_state moves entry e of q to state, keeping the counts, and queues
 * it on the ready or timer heap (except while replaying). This function can't
 * fail: the heaps were reserved.
 */
void apply_set_state(struct queue *q, struct entry *e, uint8_t state);

/* apply_drop_corrupt removes entry e, whose payload failed its CRC, and counts it. Entry pointers become invalid. */
void apply_drop_corrupt(struct queue *q, struct entry *e);

/*
 * apply_due_timers makes the delayed and leased entries of q due at now
 * ready, sets *woke if any became visible, and appends to *moves (caller
 * owns it: free() it; *nmoves counts) the ids of those that go to the
 * dead-letter queue instead, now in state ENTRY_MOVING: the caller moves
 * them with qmove_dead_letters() after unlocking q. Returns the next timer
 * (UINT64_MAX: none). Out of memory, an entry is made ready rather than moved.
 */
uint64_t apply_due_timers(struct queue *q, uint64_t now, uint64_t **moves, size_t *nmoves,
			  bool *woke);

/* qlog.c: a queue's log. Every call here needs q->lock (or a queue not yet shared). */

/*
 * qlog_space_ok says whether writing bytes more keeps the store's free-space
 * reserve (queue_store_options.min_free_bytes). This function can't fail.
 */
bool qlog_space_ok(struct queue *q, uint64_t bytes);

/*
 * qlog_reserve makes room for n records of sizes[i] bytes (each bytes when
 * sizes is NULL; n == 0 only makes sure a segment exists), creating segments
 * ahead as needed. Either every record fits or nothing was made. Errors:
 * QUEUE_DISKFULL, QUEUE_IO, QUEUE_NOMEM.
 */
enum queue_err qlog_reserve(struct queue *q, const uint64_t *sizes, size_t n, uint64_t each);

/*
 * qlog_append writes one record (the next seq) into room qlog_reserve() made
 * and applies it (apply_record()). This function can't fail.
 */
void qlog_append(struct queue *q, uint8_t type, uint8_t flags, uint64_t word, const void *body,
		 uint32_t body_len);

/* qlog_trim_front deletes the leading segments that hold nothing live and are durable. Failures leave them for later. */
void qlog_trim_front(struct queue *q);

/* qsync.c: group commit (the sync threads). */

/* What a writer does after qsync_ticket(), once it has let go of the queue's lock. */
enum qsync_next {
	QSYNC_NONE,   /* nothing: the ticket (or the waiter it registered) says when it is durable */
	QSYNC_INLINE, /* call qsync_inline(q, t->pos): this thread is the queue's syncer now */
	QSYNC_KICK    /* call qsync_kick(q): a sync thread is the queue's syncer now */
};

/*
 * qsync_ticket fills *t for the change just appended to q, under q->lock, and
 * registers w (may be NULL; it then takes a reference, released when it
 * fires) if the change must wait for a sync under way. keep says that the
 * caller keeps a plain ticket, to wait for later or never; the ticket then
 * holds a reference (released by queue_ticket_wait() or queue_ticket_notify()).
 */
enum qsync_next qsync_ticket(struct queue *q, struct queue_ticket *t, struct queue_waiter *w,
			     bool keep);

/* qsync_kick hands q, whose syncing flag the caller holds, to a sync thread (dirty list, a reference). Takes sync_lock; call without q->lock. */
void qsync_kick(struct queue *q);

/* qsync_inline syncs q in the calling thread up to at least pos; QUEUE_OK or QUEUE_SYNCFAIL. Call without q->lock. */
enum queue_err qsync_inline(struct queue *q, uint64_t pos);

/* qsync_fire calls the waiters of list w with their own results (use_result) or err, and drops their references. */
void qsync_fire(struct queue *q, struct queue_waiter *w, bool use_result, enum queue_err err);

/* qsync_thread is a sync thread's body (arg: the store); it returns when st->stopping is set. */
void *qsync_thread(void *arg);

/* qfile.c: one queue's directory. The calls that take a queue need q->lock or a queue not yet shared. */

/*
 * qf_create makes queue name's directory (under a temporary name, renamed
 * when complete) with settings s, and returns the open queue with one
 * reference in *out. Errors: QUEUE_DISKFULL, QUEUE_IO, QUEUE_NOMEM.
 */
enum queue_err qf_create(struct queue_store *st, const char *name, const struct queue_settings *s,
			 struct queue **out);

/*
 * qf_open opens and recovers queue name's directory, reporting damage in
 * *rep, and returns the queue with one reference in *out. Errors: QUEUE_IO,
 * QUEUE_CORRUPT, QUEUE_NOMEM, and those of qlog_reserve() and qf_checkpoint().
 */
enum queue_err qf_open(struct queue_store *st, const char *name, struct queue_recovery *rep,
		       struct queue **out);

/*
 * qf_checkpoint syncs every segment of q and writes its meta with a recovery
 * point at the end of the log (clean: it was shut down cleanly). A failed
 * segment sync marks q failed. Errors: QUEUE_SYNCFAIL, QUEUE_DISKFULL, QUEUE_IO.
 */
enum queue_err qf_checkpoint(struct queue *q, bool clean);

/*
 * qf_remove_dir renames queue name's directory away (durably: then the queue
 * is gone) and removes it. Call under admin_lock. Errors: QUEUE_IO.
 */
enum queue_err qf_remove_dir(struct queue_store *st, const char *name);

/* qf_remove_leftovers removes the temporary and deleted directories a crash left in queues_dirfd. */
void qf_remove_leftovers(int queues_dirfd);

/* A qf_walk_fn sees one directory entry; anything but QUEUE_OK stops the walk with that error. */
typedef enum queue_err (*qf_walk_fn)(void *ctx, const char *name);

/*
 * qf_walk calls fn for every entry of the directory open on dirfd but "." and
 * "..", and returns the first error fn returns. dirfd stays open. Errors:
 * QUEUE_IO when the directory cannot be read, and fn's.
 */
enum queue_err qf_walk(int dirfd, qf_walk_fn fn, void *ctx);

/* admin.c: creating queues on first use. */

/*
 * store_create makes queue name with settings s, lists it, and returns it
 * with a reference for the caller. Call under admin_lock. Errors:
 * QUEUE_TOOMANY, and those of qf_create().
 */
enum queue_err store_create(struct queue_store *st, const char *name, const struct queue_settings *s,
			    struct queue **out);

/*
 * store_get returns queue name with a reference for the caller; with create,
 * a missing queue is made with the default settings (taking admin_lock; call
 * with no engine lock held). Errors: QUEUE_NOTFOUND, QUEUE_BADARG (create on
 * a read-only store), and those of store_create().
 */
enum queue_err store_get(struct queue_store *st, const char *name, bool create, struct queue **out);

/* enqueue.c: the steps every message operation shares. */

/*
 * op_begin checks name, finds the queue (creating it when create) and returns
 * it in *out locked and with a reference; clears *t if not NULL. Errors:
 * QUEUE_BADNAME, QUEUE_NOTFOUND (also for a queue deleted meanwhile), and
 * those of store_get(). On error nothing is held.
 */
enum queue_err op_begin(struct queue_store *st, const char *name, bool create,
			struct queue_ticket *t, struct queue **out);

/* op_fail unlocks q and drops op_begin()'s reference; returns err. */
enum queue_err op_fail(struct queue *q, enum queue_err err);

/*
 * op_done finishes a change of q begun with op_begin(): trims the log, unlocks
 * q, wakes its watches when woke, drops the reference. With out, the caller
 * gets a ticket for the change's durability and QUEUE_OK; without, op_done
 * waits for it and returns queue_ticket_wait()'s result.
 */
enum queue_err op_done(struct queue *q, struct queue_ticket *out, bool woke);

/*
 * op_writable checks, under q->lock, that q takes writes and reserves index
 * room and log room for n records (see qlog_reserve()). Errors: QUEUE_BADARG
 * (read-only store), q->failed, QUEUE_NOMEM, and those of qlog_reserve().
 */
enum queue_err op_writable(struct queue *q, const uint64_t *sizes, size_t n, uint64_t each);

/* qmove.c: dead-lettering. */

/*
 * qmove_dead_letters moves messages ids[0..n) of q, in state ENTRY_MOVING,
 * to q's dead-letter queue: copied there durably first, then removed from q
 * (a crash between may duplicate, never lose). A message that cannot be
 * moved is made ready in q again. Call with no engine lock held other than
 * tick_lock, and a reference to q. This function can't fail.
 */
void qmove_dead_letters(struct queue *q, const uint64_t *ids, size_t n);

#endif

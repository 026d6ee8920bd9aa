/* queue.h: the contract of the mmq storage engine (named, crash-safe, memory-mapped queues). */
#ifndef MMQ_QUEUE_H
#define MMQ_QUEUE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/*
 * The engine keeps a data directory of named queues. Each queue is a log of
 * self-validating records in memory-mapped segment files (see queue/FORMAT.md).
 * Every function is thread-safe: many threads may use one store and one queue
 * at once, and different queues never serialise on one lock.
 *
 * Times are milliseconds. Wall-clock times (enqueued_ms, lease_expires_ms) are
 * milliseconds since the Unix epoch, from the store's clock.
 */

#define QUEUE_NAME_MAX 64
#define QUEUE_BATCH_MAX 1000
/* The largest payload the engine stores, whatever a queue's max_message_bytes (its top value too). */
#define QUEUE_PAYLOAD_MAX (1u << 30)
#define QUEUE_LEASE_SECONDS_MAX 43200u

enum queue_err {
	QUEUE_OK = 0,
	QUEUE_NOTFOUND,	   /* the queue does not exist */
	QUEUE_NOMSG,	   /* no such message */
	QUEUE_STALE,	   /* the token is not the message's current lease (or it has none) */
	QUEUE_FULL,	   /* the queue's max_bytes would be exceeded */
	QUEUE_DISKFULL,	   /* no space left on the device */
	QUEUE_TOOBIG,	   /* a payload exceeds max_message_bytes (or QUEUE_PAYLOAD_MAX) */
	QUEUE_BADNAME,	   /* a queue name outside [A-Za-z0-9_-]{1,64} */
	QUEUE_BADARG,	   /* a setting or argument out of range */
	QUEUE_LOCKED,	   /* the data directory is in use by another process */
	QUEUE_CORRUPT,	   /* a file failed validation */
	QUEUE_IO,	   /* an I/O call failed */
	QUEUE_SYNCFAIL,	   /* a sync failed earlier: the queue takes no more writes */
	QUEUE_NOMEM,	   /* out of memory */
	QUEUE_TOOMANY,	   /* the store already holds max_queues queues */
	QUEUE_ERR_COUNT
};

/* queue_strerror returns a constant sentence describing err. This function can't fail. */
const char *queue_strerror(enum queue_err err);

enum queue_sync {
	QUEUE_SYNC_ALWAYS = 0, /* a change is on stable storage before it is reported durable */
	QUEUE_SYNC_INTERVAL,   /* a background thread syncs every sync_interval_ms */
	QUEUE_SYNC_NONE	       /* the kernel writes back when it likes */
};

/* queue_sync_parse turns "always", "interval" or "none" into *out; false if unknown. */
bool queue_sync_parse(const char *text, enum queue_sync *out);

/* queue_sync_name returns "always", "interval" or "none". This function can't fail. */
const char *queue_sync_name(enum queue_sync mode);

/*
 * A queue_alloc_fn reserves [offset, offset+len) of fd, like posix_fallocate:
 * it returns 0 or an errno value (ENOSPC for a full disk). Tests swap it in to
 * simulate a full disk.
 */
typedef int (*queue_alloc_fn)(int fd, off_t offset, off_t len);

/* A queue_clock_fn returns the wall-clock time in milliseconds since the Unix epoch. */
typedef uint64_t (*queue_clock_fn)(void);

/* The kinds of damage recovery finds and reports (FORMAT.md, "Recovery rules", says what is done with each). */
enum queue_damage {
	QUEUE_DAMAGE_TORN_TAIL,	       /* bytes after the last valid record: zeroed unless read-only */
	QUEUE_DAMAGE_SEGMENT_HEADER,   /* the segment's header: the segment is skipped (repair moves it aside) */
	QUEUE_DAMAGE_RECORD,	       /* a damaged record before the end of the log: skipped */
	QUEUE_DAMAGE_BATCH_INCOMPLETE, /* a batch whose last record is missing: dropped */
	QUEUE_DAMAGE_BATCH_ORPHANS,    /* the rest of a batch whose start is lost: skipped */
	QUEUE_DAMAGE_OUT_OF_ORDER,     /* a segment that cannot belong to the log: moved aside unless read-only */
	QUEUE_DAMAGE_COUNT
};

/* One piece of damage, as on_problem hears of it. Every pointer is borrowed for the call only. */
struct queue_problem {
	enum queue_damage kind;
	const char *queue;  /* the queue's name */
	uint64_t segment;   /* the segment's number */
	const char *file;   /* the segment's file name, in the queue's directory */
	uint64_t offset;    /* where in that file */
	const char *aside;  /* the name the file is moved aside to when it is (see kind), else NULL */
};

/* A queue_problem_fn hears of one problem; ctx is queue_store_options.problem_ctx. It must not call the store. */
typedef void (*queue_problem_fn)(void *ctx, const struct queue_problem *problem);

/* queue_damage_text describes kind in a few words, as logs and mmqd verify print it. This function can't fail. */
const char *queue_damage_text(enum queue_damage kind);

/*
 * queue_file_path writes into buf the path of file (NULL: the directory
 * itself) of queue name in data directory dir. Returns false when it does not
 * fit in size bytes.
 */
bool queue_file_path(char *buf, size_t size, const char *dir, const char *name, const char *file);

struct queue_store_options {
	enum queue_sync sync;
	uint32_t sync_interval_ms; /* 0 means 1000 */
	uint64_t first_segment_bytes; /* 0 means 1 MiB; rounded up to 4 KiB */
	uint64_t max_segment_bytes;   /* 0 means 64 MiB; segments double up to this */
	uint64_t min_free_bytes;      /* refuse writes (QUEUE_DISKFULL) below this much free space */
	uint32_t max_queues;	      /* creating more answers QUEUE_TOOMANY; 0 = unlimited */
	queue_alloc_fn allocate;      /* NULL means posix_fallocate */
	queue_clock_fn clock;	      /* NULL means CLOCK_REALTIME */
	/*
	 * read_only opens for inspection: nothing on disk is changed (no tail is
	 * cut, no meta written), no thread runs, and every call that would write
	 * answers QUEUE_BADARG. The directory is still locked.
	 */
	bool read_only;
	/* on_problem (may be NULL) hears of every damage recovery finds, while the store opens. */
	queue_problem_fn on_problem;
	void *problem_ctx;
	/* repair: move segment files whose header is damaged aside to <name>.damaged instead of skipping them. */
	bool repair;
};

/* queue_store_options_default fills *opts with the defaults. This function can't fail. */
void queue_store_options_default(struct queue_store_options *opts);

/* What opening a data directory found: for the caller to log. */
struct queue_recovery {
	uint32_t queues;	   /* queues opened */
	uint64_t records;	   /* records replayed */
	uint64_t messages;	   /* live messages after replay */
	uint64_t corrupt_records;  /* invalid records found before the end of a log (kept out) */
	uint64_t torn_bytes;	   /* bytes after the last valid record that were zeroed */
	uint64_t elapsed_ns;	   /* time the whole recovery took */
	char first_problem[160];   /* "" or a description of the first corruption found */
};

struct queue_store;

/*
 * queue_store_open opens (creating if missing) the data directory dir, takes
 * its lock for the life of the store, and recovers every queue in it. On
 * success *out is the store; caller owns it, close with queue_store_close().
 * *report (may be NULL) is filled in either way. Errors: QUEUE_LOCKED when
 * another process holds the directory, QUEUE_IO, QUEUE_CORRUPT when a queue
 * cannot be opened at all, QUEUE_NOMEM.
 */
enum queue_err queue_store_open(const char *dir, const struct queue_store_options *opts,
				struct queue_store **out, struct queue_recovery *report);

/*
 * queue_store_close syncs every queue, marks it cleanly shut down, stops the
 * engine's threads and frees the store. Returns the first sync error, if any.
 * queue_store_close(NULL) is a no-op.
 */
enum queue_err queue_store_close(struct queue_store *store);

/* queue_store_sync_mode returns the store's sync mode. This function can't fail. */
enum queue_sync queue_store_sync_mode(const struct queue_store *store);

#define QUEUE_SYNC_BUCKETS 12

/* Store-wide figures, for metrics. */
struct queue_store_stats {
	uint64_t queues;
	uint64_t syncs;		 /* msync passes completed */
	uint64_t sync_failures;
	uint64_t sync_ns_total;	 /* time spent in them */
	/* sync_buckets[i] counts passes that took at most queue_sync_bucket_us(i) microseconds; the last bucket is +Inf. */
	uint64_t sync_buckets[QUEUE_SYNC_BUCKETS];
	uint64_t synced_records;  /* records made durable by those passes (group commit: per pass, on average, */
	uint64_t synced_waiters;  /* synced_records / syncs records and synced_waiters / syncs waiters) */
	uint64_t free_bytes;	  /* free space on the data directory's filesystem now */
	uint64_t min_free_bytes;  /* the reserve */
	struct queue_recovery recovery; /* what the last open found */
};

/* queue_sync_bucket_us returns the upper bound in microseconds of sync bucket i (UINT64_MAX for the last). */
uint64_t queue_sync_bucket_us(size_t i);

/* queue_store_stats fills *out. This function can't fail. */
void queue_store_stats(struct queue_store *store, struct queue_store_stats *out);

/* queue_name_valid says whether name is 1..64 characters of [A-Za-z0-9_-]. */
bool queue_name_valid(const char *name);

#define QUEUE_DELAY_SECONDS_MAX 900u
#define QUEUE_RECEIVE_WAIT_SECONDS_MAX 20u

/* Queue settings. Defaults: unlimited, 1048576, 30, 0, "", 0, 0. */
struct queue_settings {
	uint64_t max_bytes;	    /* payload bytes the queue may hold; 0 = unlimited */
	uint32_t max_message_bytes; /* 1 .. 1 GiB */
	uint32_t lease_seconds;	    /* 1 .. 43200 */
	uint32_t max_deliveries;    /* 0 = unlimited */
	char dead_letter[QUEUE_NAME_MAX + 1]; /* "" = none */
	/*
	 * Kept for the HTTP layer, which applies them (the engine only stores
	 * them): the default delay of a new message, 0 .. 900 seconds, and the
	 * default wait of a receive, 0 .. 20 seconds.
	 */
	uint32_t delay_seconds;
	uint32_t receive_wait_seconds;
	/* Set by the engine, never by the caller: when the queue was created and its settings last changed. */
	uint64_t created_ms;
	uint64_t modified_ms;
};

/* Bits of queue_set: which fields of a settings change apply. */
enum {
	QUEUE_SET_MAX_BYTES = 1u << 0,
	QUEUE_SET_MAX_MESSAGE_BYTES = 1u << 1,
	QUEUE_SET_LEASE_SECONDS = 1u << 2,
	QUEUE_SET_MAX_DELIVERIES = 1u << 3,
	QUEUE_SET_DEAD_LETTER = 1u << 4,
	QUEUE_SET_DELAY_SECONDS = 1u << 5,
	QUEUE_SET_RECEIVE_WAIT_SECONDS = 1u << 6
};

/* queue_settings_default fills *s with the default settings. This function can't fail. */
void queue_settings_default(struct queue_settings *s);

/* Statistics of one queue. */
struct queue_stats {
	char name[QUEUE_NAME_MAX + 1];
	uint64_t depth;		 /* messages that can be delivered now */
	uint64_t in_flight;	 /* leased messages */
	uint64_t delayed;	 /* messages waiting out a delay */
	uint64_t bytes;		 /* payload bytes of all three */
	uint64_t disk_bytes;	 /* bytes the queue's files take */
	uint64_t live_bytes;	 /* record bytes of live messages in the segments */
	uint64_t dead_bytes;	 /* record bytes in the segments that are no longer needed */
	uint64_t segments;	 /* segment files */
	uint64_t replayed_records; /* records read when the queue was last opened */
	uint64_t oldest_enqueued_ms; /* enqueue time of the oldest message; 0 when empty */
	uint64_t enqueued_total;
	uint64_t dequeued_total; /* removed by pop or ack */
	uint64_t popped_total;
	uint64_t leased_total;
	uint64_t acked_total;
	uint64_t released_total;
	uint64_t redelivered_total; /* leases of a message that had been delivered before */
	uint64_t dead_lettered_total;
	uint64_t corrupt_total;	 /* records found corrupt when served, never delivered */
	bool failed;		 /* a sync failed: the queue takes no more writes */
	struct queue_settings settings;
};

/*
 * queue_put_settings creates queue name with the defaults overridden by the
 * fields of *s named in mask, or changes those fields of an existing queue.
 * *created (may be NULL) says which. created_ms is set at creation and
 * modified_ms at creation and at every change, from the store's clock; the
 * caller's values of both are ignored. s may be NULL when mask is 0. Errors:
 * QUEUE_BADNAME, QUEUE_BADARG (a value out of range, a bad dead_letter name,
 * a queue naming itself, or max_deliveries > 0 without dead_letter),
 * QUEUE_DISKFULL, QUEUE_IO, QUEUE_NOMEM.
 */
enum queue_err queue_put_settings(struct queue_store *store, const char *name,
				  const struct queue_settings *s, unsigned mask, bool *created);

/* queue_get_settings copies the settings of queue name. Errors: QUEUE_BADNAME, QUEUE_NOTFOUND. */
enum queue_err queue_get_settings(struct queue_store *store, const char *name,
				  struct queue_settings *out);

/* queue_stats fills *out for queue name. Errors: QUEUE_BADNAME, QUEUE_NOTFOUND. */
enum queue_err queue_stats(struct queue_store *store, const char *name, struct queue_stats *out);

/*
 * queue_list fills *out with the stats of every queue, sorted by name, and
 * *count with their number. Caller owns *out; free with free(). Errors: QUEUE_NOMEM.
 */
enum queue_err queue_list(struct queue_store *store, struct queue_stats **out, size_t *count);

/*
 * queue_delete removes queue name and its files. Leases on it die with it;
 * a queue created later under the same name starts afresh.
 * Errors: QUEUE_BADNAME, QUEUE_NOTFOUND, QUEUE_IO.
 */
enum queue_err queue_delete(struct queue_store *store, const char *name);

/* A queue_done_fn learns that a change is durable (QUEUE_OK) or can't be made so (QUEUE_SYNCFAIL). */
typedef void (*queue_done_fn)(void *ctx, enum queue_err err);

/*
 * A queue_waiter is the caller's own storage for one durability wait, so that
 * waiting allocates nothing and takes no lock of its own (mmqd keeps one per
 * connection). The caller sets fn and ctx; the other fields are the engine's.
 */
struct queue_waiter {
	queue_done_fn fn;
	void *ctx;
	uint64_t pos;		   /* internal */
	enum queue_err result;	   /* internal */
	bool owned;		   /* internal: allocated by queue_ticket_notify() */
	struct queue_waiter *next; /* internal */
};

/*
 * A ticket says when a change is durable. Mutating calls fill one in; it
 * must be initialised before the call (= { 0 }, or with a waiter).
 *
 * With --sync always, a call without a ticket, or with a waiter, that finds
 * nobody syncing the queue syncs it itself before it returns (the ticket then
 * needs no wait); otherwise the wait is left to the thread syncing (a sync
 * thread for a plain ticket), which goes on until everything appended is
 * covered (group commit).
 *
 * A caller that set waiter before the call (then it must set waiter->fn and
 * waiter->ctx) gets it registered while the engine holds the queue: after a
 * successful call, waiting says that waiter->fn(ctx, result) will run exactly
 * once, later, from the thread that completes the sync, and that the waiter
 * must stay valid and untouched until then. Such a ticket needs nothing more.
 * Otherwise, the caller must pass the ticket to exactly one of
 * queue_ticket_wait() or queue_ticket_notify() (both accept a ticket that
 * needs no wait); until then it holds a reference on its queue.
 */
struct queue_ticket {
	void *queue; /* internal; NULL when nothing needs to be waited for */
	uint64_t pos;
	struct queue_waiter *waiter; /* in: may be NULL */
	bool waiting;		     /* out: waiter was registered */
};

/* queue_ticket_wait blocks until the ticket's change is durable. Returns QUEUE_OK or QUEUE_SYNCFAIL. */
enum queue_err queue_ticket_wait(struct queue_ticket *t);

/*
 * queue_ticket_notify calls fn(ctx, result) exactly once when the ticket's
 * change is durable: at once in the calling thread when it already is,
 * otherwise later from the thread that completes the sync, which must not be
 * blocked long. It allocates a waiter (or, without memory, waits here); a
 * caller with storage of its own sets the ticket's waiter instead.
 */
void queue_ticket_notify(struct queue_ticket *t, queue_done_fn fn, void *ctx);

/*
 * queue_ticket_release gives up a ticket without waiting, for a caller that
 * learns of its change from the ticket of a later change of the same queue:
 * a queue's changes become durable in the order they were made (a failed
 * sync fails every later ticket too), so the later ticket covers the earlier
 * change (or the queue was deleted meanwhile, and the change with it).
 * Accepts a ticket that needs no wait; not one whose waiter was registered.
 * This function can't fail.
 */
void queue_ticket_release(struct queue_ticket *t);

/* One payload to enqueue. Borrowed for the duration of the call. */
struct queue_payload {
	const void *data;
	size_t len;
};

/*
 * queue_enqueue appends count payloads (1..QUEUE_BATCH_MAX) to queue name as
 * one all-or-nothing batch, creating the queue with default settings if it
 * does not exist. Each becomes visible after delay_ms. ids (count entries,
 * may be NULL) receive the new ids, which rise strictly and are never
 * reused. *ticket (may be NULL, then the call waits) tells when it is
 * durable. Errors (nothing stored): QUEUE_BADNAME, QUEUE_BADARG (count out of
 * range), QUEUE_TOOBIG, QUEUE_FULL, QUEUE_DISKFULL, QUEUE_SYNCFAIL, QUEUE_IO,
 * QUEUE_NOMEM. QUEUE_SYNCFAIL also comes after the append when the call
 * synced itself and the sync failed, as it would from the ticket: like any
 * change not acknowledged, it may or may not survive a crash.
 */
enum queue_err queue_enqueue(struct queue_store *store, const char *name,
			     const struct queue_payload *items, size_t count, uint64_t delay_ms,
			     uint64_t *ids, struct queue_ticket *ticket);

/*
 * queue_enqueue_sized is queue_enqueue for a caller that stores each message
 * wrapped in a form of its own and measures messages in its own terms:
 * the queue's max_message_bytes applies to counted[i] (the message as the
 * caller counts it, count entries; NULL: the payload's length, which makes it
 * queue_enqueue) instead of to items[i].len. A stored payload may then be
 * larger than max_message_bytes, and readers get it as it was stored. The
 * engine's own limits still apply to the payloads themselves: each at most
 * QUEUE_PAYLOAD_MAX bytes, the records of a batch at most 1 GiB (QUEUE_TOOBIG).
 * The check runs under the queue's lock, so it sees the settings the
 * append is made under. Errors, ownership and ticket: as queue_enqueue.
 */
enum queue_err queue_enqueue_sized(struct queue_store *store, const char *name,
				   const struct queue_payload *items, const size_t *counted,
				   size_t count, uint64_t delay_ms, uint64_t *ids,
				   struct queue_ticket *ticket);

/* One delivered or peeked message. */
struct queue_msg {
	uint64_t id;
	uint64_t enqueued_ms;
	uint32_t deliveries;	   /* leases and pops so far, this one included */
	uint64_t lease;		   /* the lease token; 0 when not leased */
	uint64_t lease_expires_ms; /* 0 when not leased */
	const void *payload;	   /* borrowed from the mapping: valid until queue_msgs_free() */
	size_t len;
};

/* A set of messages whose payloads stay mapped until queue_msgs_free(). */
struct queue_msgs {
	struct queue_msg *items;
	size_t count;
	void *holds; /* internal: the segments held */
};

/* queue_msgs_free releases the segments and frees the array. queue_msgs_free(NULL) is a no-op. */
void queue_msgs_free(struct queue_msgs *m);

/*
 * queue_peek fills *out with up to limit visible messages from the head,
 * removing nothing. A missing queue is empty. Caller owns *out's contents;
 * free with queue_msgs_free(). Errors: QUEUE_BADNAME, QUEUE_BADARG, QUEUE_NOMEM.
 */
enum queue_err queue_peek(struct queue_store *store, const char *name, size_t limit,
			  struct queue_msgs *out);

/*
 * queue_pop removes and returns up to limit visible messages in FIFO (id)
 * order; out->count may be 0. *ticket (may be NULL, then the call waits)
 * tells when the removal is durable. Errors: QUEUE_BADNAME, QUEUE_BADARG,
 * QUEUE_SYNCFAIL, QUEUE_DISKFULL, QUEUE_IO, QUEUE_NOMEM.
 */
enum queue_err queue_pop(struct queue_store *store, const char *name, size_t limit,
			 struct queue_msgs *out, struct queue_ticket *ticket);

/*
 * queue_lease returns up to limit visible messages, each hidden for ttl_ms
 * (0 = the queue's lease_seconds) and given a new lease token and a delivery
 * counted. Same ownership and errors as queue_pop().
 */
enum queue_err queue_lease(struct queue_store *store, const char *name, size_t limit,
			   uint64_t ttl_ms, struct queue_msgs *out, struct queue_ticket *ticket);

/*
 * queue_ack removes leased message id when lease is its current lease token
 * (even after the lease ran out, as long as nobody leased it since).
 * Errors: QUEUE_BADNAME, QUEUE_NOTFOUND, QUEUE_NOMSG, QUEUE_STALE, QUEUE_SYNCFAIL, QUEUE_IO.
 */
enum queue_err queue_ack(struct queue_store *store, const char *name, uint64_t id, uint64_t lease,
			 struct queue_ticket *ticket);

/*
 * queue_release makes leased message id visible again after delay_ms. A
 * message already leased max_deliveries times goes to the dead-letter queue
 * instead. Same errors as queue_ack().
 */
enum queue_err queue_release(struct queue_store *store, const char *name, uint64_t id,
			     uint64_t lease, uint64_t delay_ms, struct queue_ticket *ticket);

/*
 * queue_extend keeps leased message id hidden until ttl_ms from now and puts
 * the new expiry in *expires_ms (may be NULL). Same errors as queue_ack().
 */
enum queue_err queue_extend(struct queue_store *store, const char *name, uint64_t id,
			    uint64_t lease, uint64_t ttl_ms, uint64_t *expires_ms,
			    struct queue_ticket *ticket);

/* queue_purge removes every message of queue name. Errors: QUEUE_BADNAME, QUEUE_NOTFOUND, QUEUE_SYNCFAIL, QUEUE_IO. */
enum queue_err queue_purge(struct queue_store *store, const char *name, struct queue_ticket *ticket);

/*
 * A queue_watch_fn is told that queue name may have a visible message: after
 * an enqueue, a release, the end of a delay, a lease expiry, or the queue's
 * deletion. It runs in an engine thread with the watch lock held: it must
 * return quickly and must not call the engine.
 */
typedef void (*queue_watch_fn)(void *ctx);

struct queue_watch;

/*
 * queue_watch_add calls fn(ctx) whenever queue name (which need not exist
 * yet) may have become non-empty, until queue_watch_remove(). Caller owns
 * *out. Errors: QUEUE_BADNAME, QUEUE_NOMEM.
 */
enum queue_err queue_watch_add(struct queue_store *store, const char *name, queue_watch_fn fn,
			       void *ctx, struct queue_watch **out);

/*
 * queue_watch_remove stops a watch and frees it; once it returns, fn is not
 * running and never runs again. queue_watch_remove(NULL) is a no-op.
 */
void queue_watch_remove(struct queue_watch *w);

/*
 * queue_store_tick processes every lease and delay that has run out by now,
 * dead-letter moves included, and returns when they are done (a tick running
 * in the engine's timer thread is waited for). The timer thread calls it;
 * tests may too.
 */
void queue_store_tick(struct queue_store *store);

#endif

/* segment.h: one memory-mapped segment file of a queue's log. */
#ifndef MMQ_SEGMENT_H
#define MMQ_SEGMENT_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "queue.h"
#include "record.h"

/*
 * A segment is mapped whole for its life; the mapping never grows or moves.
 * write_off, live and dropped_off belong to the owning queue's lock;
 * synced_off to the queue's sync path. refs counts holders: the queue's list
 * and every reader or syncer holding payload pointers into the mapping.
 */
struct segment {
	uint64_t number;
	uint64_t first_seq;   /* the seq of its first record */
	uint64_t end_seq;     /* recovery: the seq after its last valid record */
	bool ends_open;	      /* recovery: its last valid record is in a batch that never ended */
	bool skipped;	      /* recovery: not part of the log (seqs out of order) */
	uint32_t epoch;	      /* the queue's epoch when it was made: its records have no lower one */
	uint64_t size;	      /* usable bytes */
	uint64_t map_size;    /* bytes mapped */
	bool sealed;	      /* damaged from outside: takes no appends */
	uint8_t *map;
	uint64_t write_off;   /* end of the last record */
	uint64_t synced_off;  /* bytes before this are on stable storage */
	uint64_t dropped_off; /* pages before this were handed back to the page cache */
	_Atomic uint64_t prefaulted_off; /* pages before this were mapped ahead of the writer */
	uint64_t live;	      /* data records still live */
	uint64_t removed_seq; /* the last record that removed one of its messages */
	atomic_int refs;
};

/* The page size segments are sized and synced in. */
#define SEG_PAGE_BYTES 4096u
/* Room for a segment's file name, moved aside or not, with its NUL. */
#define SEG_NAME_BYTES 48u

/* seg_file_name writes the file name of segment number into buf (SEG_NAME_BYTES is enough). */
void seg_file_name(char *buf, size_t size, uint64_t number);

/* seg_aside_name writes the name segment number's file is moved aside to (<file>.damaged). */
void seg_aside_name(char *buf, size_t size, uint64_t number);

/*
 * seg_move_aside renames segment number's file in dirfd to its aside name
 * (never deleting it) and syncs the directory. Returns QUEUE_OK, QUEUE_IO
 * when the file was not renamed, or QUEUE_SYNCFAIL when the rename was made
 * but could not be synced.
 */
enum queue_err seg_move_aside(int dirfd, uint64_t number);

/* seg_parse_name returns true and sets *number when name is a segment file name. */
bool seg_parse_name(const char *name, uint64_t *number);

/*
 * seg_create makes segment number in the directory dirfd: a temporary file
 * reserved with alloc, its header page written and synced, then renamed into
 * place and the directory synced. On success *out holds one reference;
 * release it with seg_release(). Errors: QUEUE_DISKFULL, QUEUE_IO, QUEUE_NOMEM.
 */
enum queue_err seg_create(int dirfd, const struct seg_header *h, queue_alloc_fn alloc,
			  struct segment **out);

/*
 * seg_open maps the existing segment number in dirfd and checks its header;
 * a file cut short is given its size back with alloc. With alloc NULL the
 * file is opened read-only and mapped without write access.
 * On success *out holds one reference. Errors: QUEUE_CORRUPT, QUEUE_IO, QUEUE_NOMEM.
 */
enum queue_err seg_open(int dirfd, uint64_t number, queue_alloc_fn alloc, struct segment **out);

/* seg_hold adds a reference. This function can't fail. */
void seg_hold(struct segment *s);

/* seg_release drops a reference; the last one unmaps and closes. seg_release(NULL) is a no-op. */
void seg_release(struct segment *s);

/* seg_sync flushes bytes [from, to) of the mapping to stable storage. Returns QUEUE_OK or QUEUE_SYNCFAIL. */
enum queue_err seg_sync(struct segment *s, uint64_t from, uint64_t to);

/*
 * seg_drop_behind hands whole pages below off back to the page cache (they
 * are kept, dirty or not, and fault back in on access), so resident memory
 * does not grow with the bytes written. This function can't fail.
 */
void seg_drop_behind(struct segment *s, uint64_t off);

/*
 * seg_keep_small_folios turns off readahead on s's mapping, so the pages an
 * append dirties are 4 KiB folios and each msync writes back only those
 * (seg_create does it for new segments). This function can't fail.
 */
void seg_keep_small_folios(struct segment *s);

/*
 * seg_ready_for_appends readies a segment that recovery read for appends at
 * its write_off: seg_keep_small_folios, and the large folios readahead left
 * around the tail are dropped from the page cache (s's file is named in
 * dirfd). Call after recovery has unmapped its scan. This function can't fail.
 */
void seg_ready_for_appends(int dirfd, struct segment *s);

/*
 * seg_prefault_due says whether the writer at off is close to the end of the
 * pages mapped ahead. This function can't fail.
 */
bool seg_prefault_due(const struct segment *s, uint64_t off);

/*
 * seg_prefault maps the next chunk ahead of the writer (claimed atomically, so
 * two callers never map the same one), so appends do not take a page fault
 * per page. It needs no lock: callers run it outside the queue's lock while
 * holding a reference. This function can't fail.
 */
void seg_prefault(struct segment *s);

/* seg_unlink removes segment number's file from dirfd. Returns QUEUE_OK or QUEUE_IO. */
enum queue_err seg_unlink(int dirfd, uint64_t number);

#endif

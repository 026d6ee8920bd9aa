/* meta.h: the two-slot queue.meta file: settings, checkpoint and totals (see FORMAT.md). */
#ifndef MMQ_META_H
#define MMQ_META_H

#include <stdbool.h>
#include <stdint.h>

#include "queue.h"

#define META_MAGIC 0x4D514D4Du /* "MMQM" */
/* Version 2 added the delay, receive wait and timestamps; version 1 slots are still read. */
#define META_VERSION 2u
#define META_SLOT_BYTES 4096u
#define META_FILE_BYTES (2u * META_SLOT_BYTES)

/* Totals kept per queue (meta.c maps each to its place in the file). */
enum meta_total {
	TOTAL_ENQUEUED,
	TOTAL_POPPED,
	TOTAL_LEASED,
	TOTAL_ACKED,
	TOTAL_RELEASED,
	TOTAL_REDELIVERED,
	TOTAL_DEAD_LETTERED,
	TOTAL_CORRUPT,
	TOTAL_COUNT
};

struct meta {
	uint64_t generation;
	struct queue_settings settings;
	uint32_t epoch;
	bool clean;		  /* the queue was shut down cleanly */
	uint64_t first_segment;	  /* the first live segment */
	uint64_t rp_segment;	  /* recovery point: records before (rp_segment, rp_offset) */
	uint64_t rp_offset;	  /* were validated and synced ... */
	uint64_t rp_seq;	  /* ... the seq of the record at the recovery point ... */
	uint64_t totals[TOTAL_COUNT]; /* ... and these totals counted them */
};

/*
 * meta_load reads the newest valid slot of the meta file open on fd into *m.
 * Returns QUEUE_OK, QUEUE_CORRUPT when neither slot is valid, or QUEUE_IO.
 */
enum queue_err meta_load(int fd, struct meta *m);

/*
 * meta_store increments m->generation, writes *m to slot generation & 1 of
 * fd and syncs it. Returns QUEUE_OK, QUEUE_DISKFULL or QUEUE_IO.
 */
enum queue_err meta_store(int fd, struct meta *m);

#endif

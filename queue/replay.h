/* replay.h: recovery of one queue's log into its index. */
#ifndef MMQ_REPLAY_H
#define MMQ_REPLAY_H

#include <stdbool.h>

#include "engine.h"

/*
 * replay_queue scans q->segs in order, applies every valid record to q's
 * index, cuts a torn tail of the last segment (zeroing what follows), reports
 * damage before it in *rep and to the store's on_problem hook, moves segments
 * that are not part of the log aside, and sets q->next_seq, q->totals and a
 * new epoch in q->meta. Call before q is shared (no lock is taken). Errors:
 * QUEUE_NOMEM; QUEUE_IO when a cut tail or a move aside could not be synced.
 */
enum queue_err replay_queue(struct queue *q, struct queue_recovery *rep);

/*
 * replay_problem tells the store's on_problem hook, if any, of damage of kind
 * at off in segment number of q. This function can't fail.
 */
void replay_problem(struct queue *q, enum queue_damage kind, uint64_t segment, uint64_t off);

#endif

/* replay.h: recovery of one queue's log into its index. */
#ifndef MMQ_REPLAY_H
#define MMQ_REPLAY_H

#include <stdbool.h>

#include "engine.h"

/*
 * replay_queue scans q->segs in order, applies every valid record to q's
 * index, cuts a torn tail of the last segment (zeroing what follows), reports
 * damage before it in *rep, and sets q->next_seq, q->totals and a new epoch
 * in q->meta. Errors: QUEUE_NOMEM.
 */
enum queue_err replay_queue(struct queue *q, struct queue_recovery *rep);

#endif

/* qmove.c: moving messages that were leased too often to their queue's dead-letter queue. */
#include <string.h>

#include "engine.h"

/*
 * move_one copies message id of q (state ENTRY_MOVING) into the dead-letter
 * queue straight from q's mapping, waits until that copy is durable, and only
 * then writes the DEAD record that removes it from q. A crash in between can
 * duplicate the message, never lose it. If the copy fails, the message
 * becomes visible in q again.
 */
static void move_one(struct queue *q, uint64_t id)
{
	char dlq[QUEUE_NAME_MAX + 1];
	pthread_mutex_lock(&q->lock);
	struct entry *e = idx_find(&q->idx, id);
	if (e == NULL || e->state != ENTRY_MOVING || q->deleted) {
		pthread_mutex_unlock(&q->lock);
		return;
	}
	struct segment *s = apply_segment(q, e->segment);
	seg_hold(s);
	struct queue_payload p = { s->map + e->offset + REC_HEADER_BYTES, e->len };
	memcpy(dlq, q->meta.settings.dead_letter, sizeof(dlq));
	pthread_mutex_unlock(&q->lock);

	/*
	 * A move is no send: q accepted the message, so the dead-letter queue's
	 * max_message_bytes does not apply to it (counted as 0), only the
	 * engine's own limits. Else a message stored larger than a limit it was
	 * checked against in other terms (an SQS envelope) could never be moved.
	 */
	const size_t counted = 0;
	enum queue_err err = QUEUE_BADARG;
	if (dlq[0] != '\0' && strcmp(dlq, q->name) != 0)
		err = queue_enqueue_sized(q->store, dlq, &p, &counted, 1, 0, NULL, NULL);

	pthread_mutex_lock(&q->lock);
	e = idx_find(&q->idx, id);
	if (e != NULL && e->state == ENTRY_MOVING && !q->deleted) {
		if (err == QUEUE_OK && q->failed == QUEUE_OK && idx_reserve(&q->idx, 1) &&
		    qlog_reserve(q, NULL, 1, REC_HEADER_BYTES) == QUEUE_OK)
			qlog_append(q, REC_DEAD, 0, id, NULL, 0);
		else
			apply_set_state(q, e, ENTRY_READY);
	}
	bool woke = err != QUEUE_OK;
	pthread_mutex_unlock(&q->lock);
	seg_release(s);
	if (woke)
		store_notify(q->store, q->name);
}

void qmove_dead_letters(struct queue *q, const uint64_t *ids, size_t n)
{
	for (size_t i = 0; i < n; i++)
		move_one(q, ids[i]);
}

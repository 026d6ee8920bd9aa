/* admin.c: queue administration: settings, stats, listing and deletion. */
#include <stdlib.h>
#include <string.h>

#include "engine.h"

/* merge applies the fields of in named by mask to *s and checks the result for queue name. */
static enum queue_err merge(struct queue_settings *s, const struct queue_settings *in, unsigned mask,
			    const char *name)
{
	if (mask & QUEUE_SET_MAX_BYTES)
		s->max_bytes = in->max_bytes;
	if (mask & QUEUE_SET_MAX_MESSAGE_BYTES)
		s->max_message_bytes = in->max_message_bytes;
	if (mask & QUEUE_SET_LEASE_SECONDS)
		s->lease_seconds = in->lease_seconds;
	if (mask & QUEUE_SET_MAX_DELIVERIES)
		s->max_deliveries = in->max_deliveries;
	if (mask & QUEUE_SET_DELAY_SECONDS)
		s->delay_seconds = in->delay_seconds;
	if (mask & QUEUE_SET_RECEIVE_WAIT_SECONDS)
		s->receive_wait_seconds = in->receive_wait_seconds;
	if (mask & QUEUE_SET_DEAD_LETTER) {
		if (in->dead_letter[0] != '\0' && !queue_name_valid(in->dead_letter))
			return QUEUE_BADARG;
		memcpy(s->dead_letter, in->dead_letter, sizeof(s->dead_letter));
	}
	if (s->max_message_bytes == 0 || s->max_message_bytes > QUEUE_PAYLOAD_MAX)
		return QUEUE_BADARG;
	if (s->lease_seconds == 0 || s->lease_seconds > QUEUE_LEASE_SECONDS_MAX)
		return QUEUE_BADARG;
	if (s->max_deliveries > 0 && s->dead_letter[0] == '\0')
		return QUEUE_BADARG;
	if (s->delay_seconds > QUEUE_DELAY_SECONDS_MAX ||
	    s->receive_wait_seconds > QUEUE_RECEIVE_WAIT_SECONDS_MAX)
		return QUEUE_BADARG;
	if (strcmp(s->dead_letter, name) == 0)
		return QUEUE_BADARG;
	return QUEUE_OK;
}

enum queue_err store_create(struct queue_store *st, const char *name, const struct queue_settings *s,
			    struct queue **out)
{
	struct queue *q;
	if (st->opts.max_queues > 0 && store_size(st) >= st->opts.max_queues)
		return QUEUE_TOOMANY;
	/* Every queue knows when it was made, however it was (settings, enqueue, dead-lettering). */
	struct queue_settings stamped = *s;
	stamped.created_ms = stamped.modified_ms = store_now(st);
	enum queue_err err = qf_create(st, name, &stamped, &q);
	if (err != QUEUE_OK)
		return err;
	queue_ref(q); /* one reference for the table, one for the caller */
	err = store_insert(st, q);
	if (err != QUEUE_OK) {
		qf_remove_dir(st, name);
		queue_free(q);
		return err;
	}
	*out = q;
	return QUEUE_OK;
}

enum queue_err store_get(struct queue_store *st, const char *name, bool create, struct queue **out)
{
	struct queue *q = store_lookup(st, name);
	if (q == NULL && create && st->opts.read_only)
		return QUEUE_BADARG;
	if (q != NULL || !create) {
		*out = q;
		return q != NULL ? QUEUE_OK : QUEUE_NOTFOUND;
	}
	pthread_mutex_lock(&st->admin_lock);
	q = store_lookup(st, name);
	enum queue_err err = QUEUE_OK;
	if (q == NULL) {
		struct queue_settings s;
		queue_settings_default(&s);
		err = store_create(st, name, &s, &q);
	}
	pthread_mutex_unlock(&st->admin_lock);
	if (err == QUEUE_OK) {
		*out = q;
		store_notify(st, name);
	}
	return err;
}

enum queue_err queue_put_settings(struct queue_store *st, const char *name,
				  const struct queue_settings *in, unsigned mask, bool *created)
{
	if (!queue_name_valid(name))
		return QUEUE_BADNAME;
	if (created != NULL)
		*created = false;
	if (st->opts.read_only)
		return QUEUE_BADARG;
	struct queue_settings s;
	struct queue *q;
	pthread_mutex_lock(&st->admin_lock);
	enum queue_err err = store_get(st, name, false, &q);
	if (err == QUEUE_NOTFOUND) {
		queue_settings_default(&s);
		err = merge(&s, in, mask, name);
		if (err == QUEUE_OK)
			err = store_create(st, name, &s, &q);
		if (err == QUEUE_OK) {
			if (created != NULL)
				*created = true;
			queue_unref(q);
		}
		pthread_mutex_unlock(&st->admin_lock);
		return err;
	}
	pthread_mutex_unlock(&st->admin_lock);
	if (err != QUEUE_OK)
		return err;
	pthread_mutex_lock(&q->lock);
	s = q->meta.settings;
	err = q->deleted ? QUEUE_NOTFOUND : merge(&s, in, mask, name);
	if (err == QUEUE_OK) {
		s.modified_ms = store_now(st);
		struct queue_settings old = q->meta.settings;
		q->meta.settings = s;
		err = meta_store(q->metafd, &q->meta);
		if (err != QUEUE_OK)
			q->meta.settings = old;
	}
	pthread_mutex_unlock(&q->lock);
	queue_unref(q);
	return err;
}

/* lock_existing finds queue name and returns it locked, with a reference; release with unlock_put(). */
static enum queue_err lock_existing(struct queue_store *st, const char *name, struct queue **out)
{
	if (!queue_name_valid(name))
		return QUEUE_BADNAME;
	enum queue_err err = store_get(st, name, false, out);
	if (err == QUEUE_OK)
		pthread_mutex_lock(&(*out)->lock);
	return err;
}

static void unlock_put(struct queue *q)
{
	pthread_mutex_unlock(&q->lock);
	queue_unref(q);
}

enum queue_err queue_get_settings(struct queue_store *st, const char *name, struct queue_settings *out)
{
	struct queue *q;
	enum queue_err err = lock_existing(st, name, &q);
	if (err != QUEUE_OK)
		return err;
	*out = q->meta.settings;
	unlock_put(q);
	return QUEUE_OK;
}

/* oldest_ms returns the enqueue time of q's oldest live message, read from its record. */
static uint64_t oldest_ms(struct queue *q)
{
	struct index *x = &q->idx;
	size_t i = idx_first(x);
	if (i >= x->tail)
		return 0;
	struct segment *s = apply_segment(q, x->e[i].segment);
	return s != NULL ? rec_ts(s->map + x->e[i].offset) : 0;
}

static void fill_stats(struct queue *q, struct queue_stats *o)
{
	memset(o, 0, sizeof(*o));
	memcpy(o->name, q->name, sizeof(o->name));
	o->depth = q->depth;
	o->in_flight = q->in_flight;
	o->delayed = q->delayed;
	o->bytes = q->bytes;
	for (size_t i = 0; i < q->nsegs; i++)
		o->disk_bytes += q->segs[i]->size;
	o->disk_bytes += META_FILE_BYTES;
	o->live_bytes = q->live_bytes;
	o->dead_bytes = q->written_bytes - q->live_bytes;
	o->segments = q->nsegs;
	o->replayed_records = q->replayed;
	o->oldest_enqueued_ms = oldest_ms(q);
	o->enqueued_total = q->totals[TOTAL_ENQUEUED];
	o->popped_total = q->totals[TOTAL_POPPED];
	o->acked_total = q->totals[TOTAL_ACKED];
	o->dequeued_total = o->popped_total + o->acked_total;
	o->leased_total = q->totals[TOTAL_LEASED];
	o->released_total = q->totals[TOTAL_RELEASED];
	o->redelivered_total = q->totals[TOTAL_REDELIVERED];
	o->dead_lettered_total = q->totals[TOTAL_DEAD_LETTERED];
	o->corrupt_total = q->totals[TOTAL_CORRUPT];
	o->failed = q->failed != QUEUE_OK;
	o->settings = q->meta.settings;
}

enum queue_err queue_stats(struct queue_store *st, const char *name, struct queue_stats *out)
{
	struct queue *q;
	enum queue_err err = lock_existing(st, name, &q);
	if (err != QUEUE_OK)
		return err;
	fill_stats(q, out);
	unlock_put(q);
	return QUEUE_OK;
}

enum queue_err queue_list(struct queue_store *st, struct queue_stats **out, size_t *count)
{
	size_t n;
	struct queue **qs = store_snapshot(st, &n);
	if (qs == NULL)
		return QUEUE_NOMEM;
	struct queue_stats *o = calloc(n ? n : 1, sizeof(*o));
	for (size_t i = 0; i < n; i++) {
		if (o != NULL) {
			pthread_mutex_lock(&qs[i]->lock);
			fill_stats(qs[i], &o[i]);
			pthread_mutex_unlock(&qs[i]->lock);
		}
		queue_unref(qs[i]);
	}
	free(qs);
	if (o == NULL)
		return QUEUE_NOMEM;
	*out = o;
	*count = n;
	return QUEUE_OK;
}

enum queue_err queue_delete(struct queue_store *st, const char *name)
{
	struct queue *q;
	if (!queue_name_valid(name))
		return QUEUE_BADNAME;
	if (st->opts.read_only)
		return QUEUE_BADARG;
	pthread_mutex_lock(&st->admin_lock);
	enum queue_err err = store_unlist(st, name, &q);
	if (err == QUEUE_OK) {
		pthread_mutex_lock(&q->lock);
		q->deleted = true;
		pthread_mutex_unlock(&q->lock);
		err = qf_remove_dir(st, name);
	}
	pthread_mutex_unlock(&st->admin_lock);
	if (err != QUEUE_NOTFOUND) {
		store_notify(st, name);
		queue_unref(q);
	}
	return err;
}

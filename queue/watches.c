/* watches.c: callbacks that hear when a queue may have a new visible message or was deleted. */
#include <stdlib.h>
#include <string.h>

#include "engine.h"

void store_notify(struct queue_store *st, const char *name)
{
	if (atomic_load(&st->nwatches) == 0)
		return;
	pthread_mutex_lock(&st->watch_lock);
	for (struct queue_watch *w = st->watches; w != NULL; w = w->next)
		if (strcmp(w->name, name) == 0)
			w->fn(w->ctx);
	pthread_mutex_unlock(&st->watch_lock);
}

enum queue_err queue_watch_add(struct queue_store *st, const char *name, queue_watch_fn fn,
			       void *ctx, struct queue_watch **out)
{
	if (!queue_name_valid(name))
		return QUEUE_BADNAME;
	struct queue_watch *w = calloc(1, sizeof(*w));
	if (w == NULL)
		return QUEUE_NOMEM;
	w->store = st;
	memcpy(w->name, name, strlen(name) + 1);
	w->fn = fn;
	w->ctx = ctx;
	pthread_mutex_lock(&st->watch_lock);
	w->next = st->watches;
	if (st->watches != NULL)
		st->watches->prev = w;
	st->watches = w;
	atomic_fetch_add(&st->nwatches, 1);
	pthread_mutex_unlock(&st->watch_lock);
	*out = w;
	return QUEUE_OK;
}

void queue_watch_remove(struct queue_watch *w)
{
	if (w == NULL)
		return;
	struct queue_store *st = w->store;
	pthread_mutex_lock(&st->watch_lock);
	if (w->prev != NULL)
		w->prev->next = w->next;
	else
		st->watches = w->next;
	if (w->next != NULL)
		w->next->prev = w->prev;
	atomic_fetch_sub(&st->nwatches, 1);
	pthread_mutex_unlock(&st->watch_lock);
	free(w);
}

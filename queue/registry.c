/* registry.c: the store's table of open queues, their references, the clock, the timer hint and counters. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "engine.h"

uint64_t store_now(const struct queue_store *st)
{
	return st->opts.clock();
}

enum queue_sync queue_store_sync_mode(const struct queue_store *st)
{
	return st->opts.sync;
}

struct queue *queue_new(struct queue_store *st, const char *name)
{
	struct queue *q = calloc(1, sizeof(*q));
	if (q == NULL)
		return NULL;
	snprintf(q->name, sizeof(q->name), "%s", name);
	q->store = st;
	atomic_init(&q->refs, 1);
	q->dirfd = q->metafd = -1;
	pthread_mutex_init(&q->lock, NULL);
	pthread_cond_init(&q->durable_cond, NULL);
	q->next_timer_ms = UINT64_MAX;
	q->next_seg_size = st->opts.first_segment_bytes;
	q->failed = QUEUE_OK;
	return q;
}

void queue_free(struct queue *q)
{
	if (q == NULL)
		return;
	for (size_t i = 0; i < q->nsegs; i++)
		seg_release(q->segs[i]);
	free(q->segs);
	if (q->dirfd >= 0)
		close(q->dirfd);
	if (q->metafd >= 0)
		close(q->metafd);
	idx_free(&q->idx);
	pthread_mutex_destroy(&q->lock);
	pthread_cond_destroy(&q->durable_cond);
	free(q);
}

void queue_ref(struct queue *q)
{
	atomic_fetch_add_explicit(&q->refs, 1, memory_order_relaxed);
}

void queue_unref(struct queue *q)
{
	if (atomic_fetch_sub_explicit(&q->refs, 1, memory_order_acq_rel) == 1)
		queue_free(q);
}

/* find returns the position of name in the sorted table, or where it would go. */
static size_t find(const struct queue_store *st, const char *name, bool *found)
{
	size_t lo = 0, hi = st->nqueues;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = strcmp(st->queues[mid]->name, name);
		if (c == 0) {
			*found = true;
			return mid;
		}
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	*found = false;
	return lo;
}

enum queue_err store_insert(struct queue_store *st, struct queue *q)
{
	bool found;
	pthread_rwlock_wrlock(&st->map_lock);
	size_t at = find(st, q->name, &found);
	if (st->nqueues == st->cap_queues) {
		size_t n = st->cap_queues ? st->cap_queues * 2 : 16;
		struct queue **p = realloc(st->queues, n * sizeof(*p));
		if (p == NULL) {
			pthread_rwlock_unlock(&st->map_lock);
			return QUEUE_NOMEM;
		}
		st->queues = p;
		st->cap_queues = n;
	}
	memmove(st->queues + at + 1, st->queues + at, (st->nqueues - at) * sizeof(*st->queues));
	st->queues[at] = q;
	st->nqueues++;
	pthread_rwlock_unlock(&st->map_lock);
	return QUEUE_OK;
}

size_t store_size(struct queue_store *st)
{
	pthread_rwlock_rdlock(&st->map_lock);
	size_t n = st->nqueues;
	pthread_rwlock_unlock(&st->map_lock);
	return n;
}

struct queue *store_lookup(struct queue_store *st, const char *name)
{
	bool found;
	struct queue *q = NULL;
	pthread_rwlock_rdlock(&st->map_lock);
	size_t at = find(st, name, &found);
	if (found) {
		q = st->queues[at];
		queue_ref(q);
	}
	pthread_rwlock_unlock(&st->map_lock);
	return q;
}

enum queue_err store_unlist(struct queue_store *st, const char *name, struct queue **out)
{
	bool found;
	pthread_rwlock_wrlock(&st->map_lock);
	size_t at = find(st, name, &found);
	if (found) {
		*out = st->queues[at];
		memmove(st->queues + at, st->queues + at + 1,
			(st->nqueues - at - 1) * sizeof(*st->queues));
		st->nqueues--;
	}
	pthread_rwlock_unlock(&st->map_lock);
	return found ? QUEUE_OK : QUEUE_NOTFOUND;
}

struct queue **store_snapshot(struct queue_store *st, size_t *count)
{
	pthread_rwlock_rdlock(&st->map_lock);
	size_t n = st->nqueues;
	struct queue **qs = malloc((n ? n : 1) * sizeof(*qs));
	for (size_t i = 0; qs != NULL && i < n; i++) {
		qs[i] = st->queues[i];
		queue_ref(qs[i]);
	}
	pthread_rwlock_unlock(&st->map_lock);
	*count = qs != NULL ? n : 0;
	return qs;
}

static const uint64_t sync_bucket_us[QUEUE_SYNC_BUCKETS] = {
	50, 100, 250, 500, 1000, 2500, 5000, 10000, 25000, 100000, 1000000, UINT64_MAX
};

uint64_t queue_sync_bucket_us(size_t i)
{
	return i < QUEUE_SYNC_BUCKETS ? sync_bucket_us[i] : UINT64_MAX;
}

void store_count_sync(struct queue_store *st, uint64_t ns, uint64_t records, uint64_t waiters, bool ok)
{
	size_t b = 0;
	while (b + 1 < QUEUE_SYNC_BUCKETS && ns > sync_bucket_us[b] * 1000u)
		b++;
	atomic_fetch_add(&st->sync_buckets[b], 1);
	atomic_fetch_add(&st->syncs, 1);
	atomic_fetch_add(&st->sync_ns, ns);
	atomic_fetch_add(&st->synced_records, records);
	atomic_fetch_add(&st->synced_waiters, waiters);
	if (!ok)
		atomic_fetch_add(&st->sync_failures, 1);
}

void queue_store_stats(struct queue_store *st, struct queue_store_stats *o)
{
	memset(o, 0, sizeof(*o));
	pthread_rwlock_rdlock(&st->map_lock);
	o->queues = st->nqueues;
	pthread_rwlock_unlock(&st->map_lock);
	o->syncs = atomic_load(&st->syncs);
	o->sync_failures = atomic_load(&st->sync_failures);
	o->sync_ns_total = atomic_load(&st->sync_ns);
	for (size_t i = 0; i < QUEUE_SYNC_BUCKETS; i++)
		o->sync_buckets[i] = atomic_load(&st->sync_buckets[i]);
	o->synced_records = atomic_load(&st->synced_records);
	o->synced_waiters = atomic_load(&st->synced_waiters);
	struct statvfs sv;
	if (st->queues_dirfd >= 0 && fstatvfs(st->queues_dirfd, &sv) == 0)
		o->free_bytes = (uint64_t)sv.f_bavail * (uint64_t)sv.f_frsize;
	o->min_free_bytes = st->opts.min_free_bytes;
	o->recovery = st->recovery;
}

void store_timer_hint(struct queue_store *st, uint64_t at)
{
	if (at >= atomic_load(&st->next_deadline))
		return;
	pthread_mutex_lock(&st->timer_lock);
	if (at < atomic_load(&st->next_deadline)) {
		atomic_store(&st->next_deadline, at);
		pthread_cond_signal(&st->timer_cond);
	}
	pthread_mutex_unlock(&st->timer_lock);
}

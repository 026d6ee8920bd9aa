/* store.c: the data directory: opening it (lock, recovery of every queue), the sync and timer threads, the tick, closing. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "engine.h"

/* The data directory holds LOCK and this directory, which holds one directory per queue (FORMAT.md). */
#define QUEUES_DIR "queues"

bool queue_file_path(char *buf, size_t size, const char *dir, const char *name, const char *file)
{
	int n = file != NULL ? snprintf(buf, size, "%s/" QUEUES_DIR "/%s/%s", dir, name, file)
			     : snprintf(buf, size, "%s/" QUEUES_DIR "/%s", dir, name);
	return n >= 0 && (size_t)n < size;
}

static uint64_t realtime_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static int posix_alloc(int fd, off_t offset, off_t len)
{
	return posix_fallocate(fd, offset, len);
}

void queue_store_options_default(struct queue_store_options *o)
{
	*o = (struct queue_store_options){
		.sync = QUEUE_SYNC_ALWAYS,
		.sync_interval_ms = 1000,
		.first_segment_bytes = 1u << 20,
		.max_segment_bytes = 64u << 20,
	};
}

void queue_store_tick(struct queue_store *st)
{
	size_t n;
	pthread_mutex_lock(&st->tick_lock);
	struct queue **qs = store_snapshot(st, &n);
	for (size_t i = 0; i < n; i++) {
		struct queue *q = qs[i];
		uint64_t *moves = NULL;
		size_t nmoves = 0;
		bool woke = false;
		pthread_mutex_lock(&q->lock);
		uint64_t next = q->deleted ? UINT64_MAX
					   : apply_due_timers(q, store_now(st), &moves, &nmoves, &woke);
		pthread_mutex_unlock(&q->lock);
		if (woke)
			store_notify(st, q->name);
		qmove_dead_letters(q, moves, nmoves);
		free(moves);
		store_timer_hint(st, next);
		queue_unref(q);
	}
	free(qs);
	pthread_mutex_unlock(&st->tick_lock);
}

static void *timer_thread(void *arg)
{
	struct queue_store *st = arg;
	pthread_mutex_lock(&st->timer_lock);
	while (!st->stopping) {
		uint64_t at = atomic_load(&st->next_deadline);
		if (at == UINT64_MAX) {
			pthread_cond_wait(&st->timer_cond, &st->timer_lock);
			continue;
		}
		if (at > store_now(st)) {
			/* The condition variable's clock is CLOCK_REALTIME, like deadlines from the default clock. */
			struct timespec ts = { (time_t)(at / 1000u), (long)(at % 1000u) * 1000000L };
			pthread_cond_timedwait(&st->timer_cond, &st->timer_lock, &ts);
			continue;
		}
		atomic_store(&st->next_deadline, UINT64_MAX);
		pthread_mutex_unlock(&st->timer_lock);
		queue_store_tick(st);
		pthread_mutex_lock(&st->timer_lock);
	}
	pthread_mutex_unlock(&st->timer_lock);
	return NULL;
}

/* make_dirs creates dir and its missing parents. */
static int make_dirs(const char *dir)
{
	char path[4096];
	if (strlen(dir) >= sizeof(path))
		return -1;
	strcpy(path, dir);
	for (char *p = path + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(path, 0755) != 0 && errno != EEXIST)
			return -1;
		*p = '/';
	}
	return mkdir(path, 0755) != 0 && errno != EEXIST ? -1 : 0;
}

/* open_dirs opens and locks the data directory. */
static enum queue_err open_dirs(struct queue_store *st, const char *dir)
{
	bool ro = st->opts.read_only;
	if (!ro && make_dirs(dir) != 0)
		return QUEUE_IO;
	st->dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (st->dirfd < 0)
		return QUEUE_IO;
	st->lockfd = openat(st->dirfd, "LOCK", O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	if (st->lockfd < 0)
		return QUEUE_IO;
	if (flock(st->lockfd, LOCK_EX | LOCK_NB) != 0)
		return errno == EWOULDBLOCK ? QUEUE_LOCKED : QUEUE_IO;
	if (!ro && mkdirat(st->dirfd, QUEUES_DIR, 0755) != 0 && errno != EEXIST)
		return QUEUE_IO;
	st->queues_dirfd = openat(st->dirfd, QUEUES_DIR, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (st->queues_dirfd < 0)
		return ro && errno == ENOENT ? QUEUE_OK : QUEUE_IO;
	if (ro)
		return QUEUE_OK;
	if (fsync(st->dirfd) != 0)
		return QUEUE_IO;
	qf_remove_leftovers(st->queues_dirfd);
	return QUEUE_OK;
}

/* The recovery of every queue directory, one qf_walk() entry at a time. */
struct opening {
	struct queue_store *st;
	struct queue_recovery *rep;
};

static enum queue_err open_entry(void *ctx, const char *name)
{
	struct opening *o = ctx;
	struct queue *q;
	if (!queue_name_valid(name))
		return QUEUE_OK;
	enum queue_err err = qf_open(o->st, name, o->rep, &q);
	if (err == QUEUE_OK && (err = store_insert(o->st, q)) != QUEUE_OK)
		queue_free(q);
	return err;
}

/* open_queues recovers every queue directory. */
static enum queue_err open_queues(struct queue_store *st, struct queue_recovery *rep)
{
	struct opening o = { st, rep };
	return qf_walk(st->queues_dirfd, open_entry, &o);
}

static void store_init(struct queue_store *st, const struct queue_store_options *opts)
{
	queue_store_options_default(&st->opts);
	if (opts != NULL)
		st->opts = *opts;
	struct queue_store_options *o = &st->opts;
	if (o->sync_interval_ms == 0)
		o->sync_interval_ms = 1000;
	if (o->first_segment_bytes == 0)
		o->first_segment_bytes = 1u << 20;
	o->first_segment_bytes = (o->first_segment_bytes + SEG_PAGE_BYTES - 1) & ~(uint64_t)(SEG_PAGE_BYTES - 1);
	if (o->max_segment_bytes < o->first_segment_bytes)
		o->max_segment_bytes = o->max_segment_bytes ? o->first_segment_bytes : 64u << 20;
	if (o->allocate == NULL)
		o->allocate = posix_alloc;
	if (o->clock == NULL)
		o->clock = realtime_ms;
	st->dirfd = st->queues_dirfd = st->lockfd = -1;
	pthread_rwlock_init(&st->map_lock, NULL);
	pthread_mutex_init(&st->admin_lock, NULL);
	pthread_mutex_init(&st->watch_lock, NULL);
	pthread_mutex_init(&st->sync_lock, NULL);
	pthread_cond_init(&st->sync_cond, NULL);
	pthread_mutex_init(&st->tick_lock, NULL);
	pthread_mutex_init(&st->timer_lock, NULL);
	pthread_cond_init(&st->timer_cond, NULL);
	atomic_init(&st->next_deadline, 0);
	atomic_init(&st->nwatches, 0);
	atomic_init(&st->free_bytes, 0);
	atomic_init(&st->free_checked_ms, 0);
}

enum queue_err queue_store_open(const char *dir, const struct queue_store_options *opts,
				struct queue_store **out, struct queue_recovery *report)
{
	struct queue_recovery scratch;
	struct queue_recovery *rep = report != NULL ? report : &scratch;
	memset(rep, 0, sizeof(*rep));
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	struct queue_store *st = calloc(1, sizeof(*st));
	if (st == NULL)
		return QUEUE_NOMEM;
	store_init(st, opts);
	enum queue_err err = open_dirs(st, dir);
	if (err == QUEUE_OK && st->queues_dirfd >= 0)
		err = open_queues(st, rep);
	size_t want = st->opts.read_only ? 0
		      : st->opts.sync == QUEUE_SYNC_ALWAYS ? 2
							: st->opts.sync == QUEUE_SYNC_INTERVAL;
	while (err == QUEUE_OK && st->nsync_threads < want) {
		pthread_t *t = &st->sync_threads[st->nsync_threads];
		err = pthread_create(t, NULL, qsync_thread, st) == 0 ? QUEUE_OK : QUEUE_NOMEM;
		st->nsync_threads += err == QUEUE_OK;
	}
	if (err == QUEUE_OK && !st->opts.read_only) {
		err = pthread_create(&st->timer_thread, NULL, timer_thread, st) == 0 ? QUEUE_OK : QUEUE_NOMEM;
		st->timer_started = err == QUEUE_OK;
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	rep->elapsed_ns = (uint64_t)(t1.tv_sec - t0.tv_sec) * 1000000000u + (uint64_t)t1.tv_nsec -
			  (uint64_t)t0.tv_nsec;
	st->recovery = *rep;
	if (err != QUEUE_OK) {
		queue_store_close(st);
		return err;
	}
	*out = st;
	return QUEUE_OK;
}

static void stop_threads(struct queue_store *st)
{
	pthread_mutex_lock(&st->timer_lock);
	pthread_mutex_lock(&st->sync_lock);
	st->stopping = true;
	pthread_cond_broadcast(&st->sync_cond);
	pthread_mutex_unlock(&st->sync_lock);
	pthread_cond_broadcast(&st->timer_cond);
	pthread_mutex_unlock(&st->timer_lock);
	if (st->timer_started)
		pthread_join(st->timer_thread, NULL);
	for (size_t i = 0; i < st->nsync_threads; i++)
		pthread_join(st->sync_threads[i], NULL);
}

enum queue_err queue_store_close(struct queue_store *st)
{
	if (st == NULL)
		return QUEUE_OK;
	stop_threads(st);
	enum queue_err first = QUEUE_OK;
	for (size_t i = 0; i < st->nqueues; i++) {
		struct queue *q = st->queues[i];
		pthread_mutex_lock(&q->lock);
		enum queue_err err = q->failed != QUEUE_OK ? q->failed
				     : st->opts.read_only ? QUEUE_OK
							  : qf_checkpoint(q, true);
		struct queue_waiter *w = q->waiters;
		q->waiters = NULL;
		pthread_cond_broadcast(&q->durable_cond);
		pthread_mutex_unlock(&q->lock);
		qsync_fire(q, w, false, err);
		if (first == QUEUE_OK)
			first = err;
		queue_unref(q);
	}
	free(st->queues);
	if (st->queues_dirfd >= 0)
		close(st->queues_dirfd);
	if (st->lockfd >= 0)
		close(st->lockfd);
	if (st->dirfd >= 0)
		close(st->dirfd);
	pthread_rwlock_destroy(&st->map_lock);
	pthread_mutex_destroy(&st->admin_lock);
	pthread_mutex_destroy(&st->watch_lock);
	pthread_mutex_destroy(&st->sync_lock);
	pthread_cond_destroy(&st->sync_cond);
	pthread_mutex_destroy(&st->tick_lock);
	pthread_mutex_destroy(&st->timer_lock);
	pthread_cond_destroy(&st->timer_cond);
	free(st);
	return first;
}

/* qfile.c: one queue's directory: creating it, opening and recovering it, checkpoints, removal. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "engine.h"
#include "replay.h"

#define META_NAME "queue.meta"

enum queue_err qf_walk(int dirfd, qf_walk_fn fn, void *ctx)
{
	int fd = dup(dirfd);
	DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
	if (d == NULL) {
		if (fd >= 0)
			close(fd);
		return QUEUE_IO;
	}
	enum queue_err err = QUEUE_OK;
	struct dirent *de;
	rewinddir(d); /* a dup shares the offset of the descriptor it copies */
	while (err == QUEUE_OK && (de = readdir(d)) != NULL)
		if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0)
			err = fn(ctx, de->d_name);
	closedir(d);
	return err;
}

static enum queue_err unlink_entry(void *ctx, const char *name)
{
	unlinkat(*(const int *)ctx, name, 0);
	return QUEUE_OK;
}

/* rm_tree removes directory name under dirfd with the files in it (queue directories are flat). */
static void rm_tree(int dirfd, const char *name)
{
	int fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0) {
		unlinkat(dirfd, name, 0);
		return;
	}
	qf_walk(fd, unlink_entry, &fd);
	close(fd);
	unlinkat(dirfd, name, AT_REMOVEDIR);
}

static enum queue_err remove_leftover(void *ctx, const char *name)
{
	if (name[0] == '.')
		rm_tree(*(const int *)ctx, name);
	return QUEUE_OK;
}

void qf_remove_leftovers(int queues_dirfd)
{
	qf_walk(queues_dirfd, remove_leftover, &queues_dirfd);
}

enum queue_err qf_checkpoint(struct queue *q, bool clean)
{
	for (size_t i = 0; i < q->nsegs; i++) {
		struct segment *s = q->segs[i];
		if (s->write_off > s->synced_off && seg_sync(s, s->synced_off, s->write_off) != QUEUE_OK) {
			q->failed = QUEUE_SYNCFAIL;
			return QUEUE_SYNCFAIL;
		}
		s->synced_off = s->write_off;
	}
	q->durable_seq = q->next_seq - 1;
	struct segment *last = q->segs[q->active];
	q->meta.first_segment = q->segs[0]->number;
	q->meta.rp_segment = last->number;
	q->meta.rp_offset = last->write_off;
	q->meta.rp_seq = q->next_seq;
	q->meta.clean = clean;
	memcpy(q->meta.totals, q->totals, sizeof(q->totals));
	return meta_store(q->metafd, &q->meta);
}

enum queue_err qf_create(struct queue_store *st, const char *name, const struct queue_settings *s,
			 struct queue **out)
{
	char tmp[QUEUE_NAME_MAX + 8];
	snprintf(tmp, sizeof(tmp), ".new-%s", name);
	rm_tree(st->queues_dirfd, tmp);
	if (mkdirat(st->queues_dirfd, tmp, 0755) != 0)
		return errno == ENOSPC || errno == EDQUOT ? QUEUE_DISKFULL : QUEUE_IO;
	enum queue_err err = QUEUE_NOMEM;
	struct queue *q = queue_new(st, name);
	if (q == NULL)
		goto fail;
	err = QUEUE_IO;
	q->dirfd = openat(st->queues_dirfd, tmp, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (q->dirfd < 0)
		goto fail;
	q->metafd = openat(q->dirfd, META_NAME, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	if (q->metafd < 0)
		goto fail;
	int rc = st->opts.allocate(q->metafd, 0, META_FILE_BYTES);
	if (rc != 0) {
		err = rc == ENOSPC || rc == EDQUOT ? QUEUE_DISKFULL : QUEUE_IO;
		goto fail;
	}
	q->meta = (struct meta){ .settings = *s, .epoch = 1, .first_segment = 1, .rp_segment = 1,
				 .rp_offset = SEG_HEADER_BYTES, .rp_seq = 1 };
	q->next_seq = 1;
	if ((err = meta_store(q->metafd, &q->meta)) != QUEUE_OK)
		goto fail;
	if ((err = qlog_reserve(q, NULL, 0, 0)) != QUEUE_OK)
		goto fail;
	err = QUEUE_IO;
	if (fsync(q->dirfd) != 0 || renameat(st->queues_dirfd, tmp, st->queues_dirfd, name) != 0 ||
	    fsync(st->queues_dirfd) != 0)
		goto fail;
	*out = q;
	return QUEUE_OK;
fail:
	queue_free(q);
	rm_tree(st->queues_dirfd, tmp);
	return err;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

/* The segment numbers found in a queue's directory. */
struct seg_list {
	int dirfd;
	uint64_t *nums;
	size_t n, cap;
};

/* list_entry adds name to the list when it names a segment, and removes it when it is a stale temporary. */
static enum queue_err list_entry(void *ctx, const char *name)
{
	struct seg_list *l = ctx;
	uint64_t num;
	if (name[0] == '.' && strstr(name, ".tmp") != NULL)
		unlinkat(l->dirfd, name, 0);
	if (!seg_parse_name(name, &num))
		return QUEUE_OK;
	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 16;
		uint64_t *p = realloc(l->nums, cap * sizeof(*p));
		if (p == NULL)
			return QUEUE_NOMEM;
		l->nums = p;
		l->cap = cap;
	}
	l->nums[l->n++] = num;
	return QUEUE_OK;
}

/* list_segments returns the sorted segment numbers in q's directory and removes stale temporaries. */
static enum queue_err list_segments(struct queue *q, uint64_t **out, size_t *count)
{
	struct seg_list l = { .dirfd = q->dirfd };
	enum queue_err err = qf_walk(q->dirfd, list_entry, &l);
	if (err != QUEUE_OK) {
		free(l.nums);
		return err;
	}
	qsort(l.nums, l.n, sizeof(*l.nums), cmp_u64);
	*out = l.nums;
	*count = l.n;
	return QUEUE_OK;
}

/*
 * damaged_segment reports a segment whose header is damaged and, when
 * repairing, moves it aside. A move that fails leaves the file where it is,
 * for verify to name; one made but not synced fails the open (QUEUE_IO).
 */
static enum queue_err damaged_segment(struct queue *q, uint64_t number, struct queue_recovery *rep)
{
	const struct queue_store_options *o = &q->store->opts;
	rep->corrupt_records++;
	if (rep->first_problem[0] == '\0')
		snprintf(rep->first_problem, sizeof(rep->first_problem),
			 "queue %s: segment %" PRIu64 ": damaged header", q->name, number);
	replay_problem(q, QUEUE_DAMAGE_SEGMENT_HEADER, number, 0);
	if (!o->repair || o->read_only)
		return QUEUE_OK;
	return seg_move_aside(q->dirfd, number) == QUEUE_SYNCFAIL ? QUEUE_IO : QUEUE_OK;
}

/* load_segments maps q's segment files in order; one with a damaged header is reported and skipped. */
static enum queue_err load_segments(struct queue *q, struct queue_recovery *rep)
{
	uint64_t *nums = NULL;
	size_t n = 0;
	enum queue_err err = list_segments(q, &nums, &n);
	if (err != QUEUE_OK)
		return err;
	q->segs = calloc(n ? n : 1, sizeof(*q->segs));
	q->cap_segs = n ? n : 1;
	if (q->segs == NULL)
		err = QUEUE_NOMEM;
	for (size_t i = 0; err == QUEUE_OK && i < n; i++) {
		struct segment *s;
		const struct queue_store_options *o = &q->store->opts;
		err = seg_open(q->dirfd, nums[i], o->read_only ? NULL : o->allocate, &s);
		if (err == QUEUE_CORRUPT) {
			err = damaged_segment(q, nums[i], rep);
			continue;
		}
		if (err == QUEUE_OK)
			q->segs[q->nsegs++] = s;
	}
	free(nums);
	return err;
}

/* rebuild_heaps fills the ready and timer heaps from the replayed entries. */
static enum queue_err rebuild_heaps(struct queue *q)
{
	struct index *x = &q->idx;
	idx_clear_heaps(x);
	for (size_t i = idx_first(x); i < x->tail; i++) {
		struct entry *e = &x->e[i];
		bool ok = true;
		if (e->state == ENTRY_READY)
			ok = ready_push(x, e->id);
		else if (e->state == ENTRY_DELAYED || e->state == ENTRY_LEASED)
			ok = timer_push(x, e->visible_ms, e->id);
		if (!ok)
			return QUEUE_NOMEM;
	}
	const struct timer *t = timer_peek(x);
	q->next_timer_ms = t != NULL ? t->at : UINT64_MAX;
	return QUEUE_OK;
}

static void settings_sane(struct queue_settings *s)
{
	struct queue_settings d;
	queue_settings_default(&d);
	if (s->max_message_bytes == 0)
		s->max_message_bytes = d.max_message_bytes;
	if (s->lease_seconds == 0 || s->lease_seconds > QUEUE_LEASE_SECONDS_MAX)
		s->lease_seconds = d.lease_seconds;
}

enum queue_err qf_open(struct queue_store *st, const char *name, struct queue_recovery *rep,
		       struct queue **out)
{
	enum queue_err err = QUEUE_NOMEM;
	struct queue *q = queue_new(st, name);
	if (q == NULL)
		return err;
	err = QUEUE_IO;
	q->dirfd = openat(st->queues_dirfd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (q->dirfd < 0)
		goto fail;
	bool ro = st->opts.read_only;
	q->metafd = openat(q->dirfd, META_NAME, ro ? O_RDONLY | O_CLOEXEC : O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	if (q->metafd < 0 && !ro)
		goto fail;
	bool meta_valid = meta_load(q->metafd, &q->meta) == QUEUE_OK;
	if (!meta_valid) {
		q->meta = (struct meta){ 0 };
		queue_settings_default(&q->meta.settings);
	}
	settings_sane(&q->meta.settings);
	if ((err = load_segments(q, rep)) != QUEUE_OK)
		goto fail;
	if ((err = replay_queue(q, rep)) != QUEUE_OK)
		goto fail;
	if (q->nsegs > 0) {
		uint64_t size = q->segs[q->nsegs - 1]->size * 2;
		q->next_seg_size = size > st->opts.max_segment_bytes ? st->opts.max_segment_bytes : size;
	}
	if ((err = rebuild_heaps(q)) != QUEUE_OK)
		goto fail;
	if (!ro) {
		if ((err = qlog_reserve(q, NULL, 0, 0)) != QUEUE_OK || (err = qf_checkpoint(q, false)) != QUEUE_OK)
			goto fail;
		qlog_trim_front(q);
	}
	rep->queues++;
	rep->messages += q->depth + q->in_flight + q->delayed;
	*out = q;
	return QUEUE_OK;
fail:
	queue_free(q);
	return err;
}

enum queue_err qf_remove_dir(struct queue_store *st, const char *name)
{
	char gone[QUEUE_NAME_MAX + 32];
	snprintf(gone, sizeof(gone), ".del-%" PRIu64 "-%s", ++st->delete_counter, name);
	if (renameat(st->queues_dirfd, name, st->queues_dirfd, gone) != 0 ||
	    fsync(st->queues_dirfd) != 0)
		return QUEUE_IO;
	rm_tree(st->queues_dirfd, gone);
	/*
	 * The queue is gone for good once the rename is synced. This sync only
	 * hurries the removal: a .del- directory a crash leaves behind is removed
	 * on the next open, so its result changes nothing.
	 */
	(void)fsync(st->queues_dirfd);
	return QUEUE_OK;
}

/* qlog.c: a queue's log: reserving room (segments made ahead), appending records, trimming freed segments, the free-space check. */
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>

#include "engine.h"

#define FREE_CHECK_MS 100u

/*
 * qlog_space_ok says whether writing bytes more keeps the store's free-space
 * reserve. A passing answer is cached for FREE_CHECK_MS; a refusal is always
 * checked afresh, so writes resume as soon as space returns.
 */
bool qlog_space_ok(struct queue *q, uint64_t bytes)
{
	struct queue_store *st = q->store;
	uint64_t reserve = st->opts.min_free_bytes;
	if (reserve == 0)
		return true;
	uint64_t now = store_now(st), avail = atomic_load(&st->free_bytes);
	bool fresh = now - atomic_load(&st->free_checked_ms) < FREE_CHECK_MS;
	if (!fresh || avail < bytes || avail - bytes < reserve) {
		struct statvfs sv;
		if (fstatvfs(q->dirfd, &sv) != 0)
			return true;
		avail = (uint64_t)sv.f_bavail * (uint64_t)sv.f_frsize;
		atomic_store(&st->free_bytes, avail);
		atomic_store(&st->free_checked_ms, now);
	}
	return avail >= bytes && avail - bytes >= reserve;
}

/* roll starts a new segment big enough for bytes of records, the first of which gets seq first_seq. */
static enum queue_err roll(struct queue *q, uint64_t bytes, uint64_t first_seq)
{
	struct queue_store_options *o = &q->store->opts;
	uint64_t size = q->next_seg_size;
	uint64_t need = (SEG_HEADER_BYTES + bytes + SEG_PAGE_BYTES - 1) & ~(uint64_t)(SEG_PAGE_BYTES - 1);
	if (size < need)
		size = need;
	if (!qlog_space_ok(q, size))
		return QUEUE_DISKFULL;
	if (q->nsegs == q->cap_segs) {
		size_t n = q->cap_segs ? q->cap_segs * 2 : 8;
		struct segment **p = realloc(q->segs, n * sizeof(*p));
		if (p == NULL)
			return QUEUE_NOMEM;
		q->segs = p;
		q->cap_segs = n;
	}
	struct segment *last = q->nsegs ? q->segs[q->nsegs - 1] : NULL;
	struct seg_header h = {
		.number = last ? last->number + 1 : q->meta.first_segment ? q->meta.first_segment : 1,
		.first_seq = first_seq,
		.size = size,
		.created_ms = store_now(q->store),
		.epoch = q->meta.epoch,
	};
	struct segment *s;
	enum queue_err err = seg_create(q->dirfd, &h, o->allocate, &s);
	if (err != QUEUE_OK)
		return err;
	q->segs[q->nsegs++] = s;
	if (q->next_seg_size < o->max_segment_bytes)
		q->next_seg_size = q->next_seg_size * 2 > o->max_segment_bytes ? o->max_segment_bytes
										: q->next_seg_size * 2;
	return QUEUE_OK;
}

/* unroll removes the segments from index from on, made ahead for a call that failed. */
static void unroll(struct queue *q, size_t from)
{
	while (q->nsegs > from) {
		struct segment *s = q->segs[--q->nsegs];
		seg_unlink(q->dirfd, s->number);
		seg_release(s);
	}
}

/* takes says whether segment s can take the record that gets seq next. */
static bool takes(const struct segment *s, uint64_t used, uint64_t size, uint64_t next)
{
	if (s->sealed || used + size > s->size)
		return false;
	return used > SEG_HEADER_BYTES || s->first_seq == next;
}

/*
 * qlog_reserve makes sure the n records of sizes[i] bytes (or each bytes when
 * sizes is NULL) fit in the active segment and the ones after it, creating
 * segments ahead as needed, each named with the seq of the record that will
 * open it. So a batch is never half written: it fails here with nothing
 * written (and nothing made), or every record of it fits.
 */
enum queue_err qlog_reserve(struct queue *q, const uint64_t *sizes, size_t n, uint64_t each)
{
	size_t at = q->active, made = q->nsegs;
	uint64_t used = q->nsegs ? q->segs[at]->write_off : 0;
	for (size_t i = 0; i < n || (n == 0 && q->nsegs == 0); i++) {
		uint64_t size = n == 0 ? 0 : sizes != NULL ? sizes[i] : each;
		while (q->nsegs == 0 || !takes(q->segs[at], used, size, q->next_seq + i)) {
			if (q->nsegs > 0 && at + 1 < q->nsegs) {
				at++;
				used = q->segs[at]->write_off;
				continue;
			}
			enum queue_err err = roll(q, size, q->next_seq + i);
			if (err != QUEUE_OK) {
				unroll(q, made);
				return err;
			}
			at = q->nsegs - 1;
			used = q->segs[at]->write_off;
		}
		used += size;
		if (n == 0)
			break;
	}
	return QUEUE_OK;
}

void qlog_append(struct queue *q, uint8_t type, uint8_t flags, uint64_t word, const void *body,
		 uint32_t body_len)
{
	while (q->active + 1 < q->nsegs &&
	       !takes(q->segs[q->active], q->segs[q->active]->write_off, rec_size(body_len), q->next_seq)) {
		seg_drop_behind(q->segs[q->active], q->segs[q->active]->size);
		q->active++; /* qlog_reserve made the segment this record goes to */
	}
	struct segment *s = q->segs[q->active];
	/* A record that does not continue a batch starts one: recovery can then tell orphans apart. */
	if (!q->open_batch)
		flags |= REC_FLAG_FIRST;
	q->open_batch = (flags & REC_FLAG_MORE) != 0;
	struct rec_header h = {
		.type = type,
		.flags = flags,
		.body_len = body_len,
		.seq = q->next_seq++,
		.ts_ms = store_now(q->store),
		.word = word,
		.epoch = q->meta.epoch,
	};
	uint64_t off = s->write_off;
	rec_write(s->map + off, &h, body);
	s->write_off += rec_size(body_len);
	q->written_bytes += rec_size(body_len);
	seg_drop_behind(s, s->write_off);
	if (q->store->opts.sync == QUEUE_SYNC_NONE)
		q->durable_seq = h.seq;
	apply_record(q, &h, (const uint8_t *)body, s, off);
}

void qlog_trim_front(struct queue *q)
{
	size_t n = 0;
	while (n < q->active && q->segs[n]->live == 0 && q->segs[n]->removed_seq <= q->durable_seq) {
		if (seg_unlink(q->dirfd, q->segs[n]->number) != QUEUE_OK)
			break;
		q->written_bytes -= q->segs[n]->write_off - SEG_HEADER_BYTES;
		seg_release(q->segs[n]);
		n++;
	}
	if (n == 0)
		return;
	memmove(q->segs, q->segs + n, (q->nsegs - n) * sizeof(*q->segs));
	q->nsegs -= n;
	q->active -= n;
	q->meta.first_segment = q->segs[0]->number;
}

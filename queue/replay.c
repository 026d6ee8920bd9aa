/* replay.c: recovery of one queue: scan its segments, validate every record, rebuild the index. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "engine.h"
#include "replay.h"

struct pending {
	struct rec_header h;
	struct segment *seg;
	uint64_t off;
};

struct scan {
	struct queue *q;
	struct queue_recovery *rep;
	uint64_t expected;    /* the seq the next record must have */
	uint32_t epoch_floor; /* records never go back in epoch */
	uint32_t max_epoch;
	struct pending *batch; /* records of a batch whose last record is not read yet */
	size_t nbatch, cap;
	bool irregular;	       /* something was cut or skipped: appends go to a new segment */
	bool orphans;	       /* skipping the rest of a batch whose start was lost */
	bool at_start;	       /* no record read yet: a batch may have begun in a segment since freed */
	bool past_rp;
	uint64_t totals_at_rp[TOTAL_COUNT];
};

/* Seqs above this are damage: ids must never wrap. */
#define SEQ_MAX (1ull << 62)

void replay_problem(struct queue *q, enum queue_damage kind, uint64_t segment, uint64_t off)
{
	const struct queue_store_options *o = &q->store->opts;
	char file[SEG_NAME_BYTES], aside[SEG_NAME_BYTES];
	if (o->on_problem == NULL)
		return;
	bool moved = kind == QUEUE_DAMAGE_SEGMENT_HEADER || kind == QUEUE_DAMAGE_OUT_OF_ORDER;
	seg_file_name(file, sizeof(file), segment);
	seg_aside_name(aside, sizeof(aside), segment);
	struct queue_problem p = { kind, q->name, segment, file, off, moved ? aside : NULL };
	o->on_problem(o->problem_ctx, &p);
}

static void report(struct scan *sc, const struct segment *s, uint64_t off, enum queue_damage kind)
{
	replay_problem(sc->q, kind, s->number, off);
	sc->at_start = false;
	sc->rep->corrupt_records++;
	if (sc->rep->first_problem[0] == '\0')
		snprintf(sc->rep->first_problem, sizeof(sc->rep->first_problem),
			 "queue %s: segment %" PRIu64 " offset %" PRIu64 ": %s", sc->q->name,
			 s->number, off, queue_damage_text(kind));
}

/*
 * valid_at decodes the record at off and says whether it continues the log:
 * its seq is the expected one (with any_seq, at least that), its epoch is not
 * below the previous record's (nor its segment's), and its body checks. The rules use only this segment and what came before in it, so
 * every recovery of the same bytes decides the same way.
 */
static bool valid_at(struct scan *sc, const struct segment *s, uint64_t off, bool any_seq,
		     struct rec_header *h)
{
	if (rec_read(s->map + off, s->size - off, h) != REC_VALID || h->seq >= SEQ_MAX)
		return false;
	if (any_seq ? h->seq < sc->expected : h->seq != sc->expected)
		return false;
	if (h->epoch < sc->epoch_floor)
		return false;
	/*
	 * Every body is checked on every open (CRC32C runs at memory speed): a scan
	 * that trusted older bodies could decide differently from one that did not.
	 */
	return rec_body_ok(s->map + off, h);
}

/* resync looks past a damaged record for the next valid one; 0 when there is none. */
static uint64_t resync(struct scan *sc, const struct segment *s, uint64_t off)
{
	struct rec_header h;
	for (off += 8; off + REC_HEADER_BYTES <= s->size; off += 8)
		if (le_get32(s->map + off) == REC_MAGIC && valid_at(sc, s, off, true, &h))
			return off;
	return 0;
}

static void mark_rp(struct scan *sc, const struct segment *s, uint64_t off)
{
	const struct meta *m = &sc->q->meta;
	if (sc->past_rp || s->number < m->rp_segment || (s->number == m->rp_segment && off < m->rp_offset))
		return;
	sc->past_rp = true;
	memcpy(sc->totals_at_rp, sc->q->totals, sizeof(sc->totals_at_rp));
}

static bool batch_add(struct scan *sc, const struct rec_header *h, struct segment *seg, uint64_t off)
{
	if (sc->nbatch == sc->cap) {
		size_t n = sc->cap ? sc->cap * 2 : 64;
		struct pending *p = realloc(sc->batch, n * sizeof(*p));
		if (p == NULL)
			return false;
		sc->batch = p;
		sc->cap = n;
	}
	sc->batch[sc->nbatch++] = (struct pending){ *h, seg, off };
	return true;
}

static void batch_apply(struct scan *sc)
{
	for (size_t i = 0; i < sc->nbatch; i++) {
		const struct pending *p = &sc->batch[i];
		apply_record(sc->q, &p->h, p->seg->map + p->off + REC_HEADER_BYTES, p->seg, p->off);
		sc->rep->records++;
		sc->q->replayed++;
	}
	sc->nbatch = 0;
}

/*
 * zero_tail clears every byte after end, so old bytes can never look like
 * records, and returns how many were not zero. With write false it only
 * counts. *synced becomes false when the cleared bytes could not be synced.
 */
static uint64_t zero_tail(struct segment *s, uint64_t end, bool write, bool *synced)
{
	uint64_t dirty_from = 0, dirty_to = 0, zeroed = 0;
	for (uint64_t off = end; off < s->size; off += 8) {
		uint64_t word;
		memcpy(&word, s->map + off, 8);
		if (word == 0)
			continue;
		if (dirty_from == 0)
			dirty_from = off;
		if (write)
			memset(s->map + off, 0, 8);
		dirty_to = off + 8;
		zeroed += 8;
	}
	if (zeroed > 0 && write && seg_sync(s, dirty_from, dirty_to) != QUEUE_OK)
		*synced = false;
	return zeroed;
}

/* drop_batch forgets an open batch that cannot have been completed. */
static void drop_batch(struct scan *sc, const struct segment *s, uint64_t off)
{
	if (sc->nbatch == 0)
		return;
	report(sc, s, off, QUEUE_DAMAGE_BATCH_INCOMPLETE);
	sc->nbatch = 0;
	sc->irregular = true;
}

/*
 * take_record adds a valid record to the open batch and applies the batch
 * when it ends. A record that continues a batch whose start was lost is an
 * orphan: it and the rest of its batch are skipped, so no part of a batch
 * is ever applied without all of it. Returns false when out of memory.
 */
static bool take_record(struct scan *sc, struct segment *s, const struct rec_header *h, uint64_t off)
{
	if (h->epoch > sc->max_epoch)
		sc->max_epoch = h->epoch;
	sc->epoch_floor = h->epoch;
	sc->expected = h->seq + 1;
	bool at_start = sc->at_start;
	sc->at_start = false;
	if (h->flags & REC_FLAG_FIRST) {
		drop_batch(sc, s, off);
		sc->orphans = false;
	} else if (sc->nbatch == 0 && !sc->orphans && !at_start) {
		report(sc, s, off, QUEUE_DAMAGE_BATCH_ORPHANS);
		sc->orphans = true;
		sc->irregular = true;
	}
	if (sc->orphans) {
		sc->orphans = (h->flags & REC_FLAG_MORE) != 0;
		return true;
	}
	if (!batch_add(sc, h, s, off))
		return false;
	if (!(h->flags & REC_FLAG_MORE))
		batch_apply(sc);
	return true;
}

/*
 * scan_segment replays one segment. tail says that no later segment holds a
 * record, so damage with nothing valid after it is the torn end of the log.
 * A batch may go on into the next segment. Returns false when out of memory.
 */
static bool scan_segment(struct scan *sc, struct segment *s, bool tail)
{
	s->end_seq = s->first_seq;
	s->ends_open = false;
	if (s->first_seq < sc->expected) {
		/* Seqs never go back: such a segment cannot belong to this log. */
		report(sc, s, 0, QUEUE_DAMAGE_OUT_OF_ORDER);
		sc->irregular = true;
		s->skipped = true;
		return true;
	}
	/* A segment starts at the seq its header names: continuing the log, or moving it on. */
	if (s->first_seq != sc->expected)
		drop_batch(sc, s, SEG_HEADER_BYTES);
	sc->expected = s->first_seq;
	sc->epoch_floor = s->epoch;
	if (s->epoch > sc->max_epoch)
		sc->max_epoch = s->epoch; /* the next epoch must pass every segment's floor */
	uint64_t off = SEG_HEADER_BYTES;
	while (off < s->size) {
		struct rec_header h;
		mark_rp(sc, s, off);
		if (!valid_at(sc, s, off, false, &h)) {
			if (rec_read(s->map + off, s->size - off, &h) == REC_ZERO)
				break;
			uint64_t next = resync(sc, s, off);
			if (next == 0 && tail)
				break; /* a torn tail: the end of the log */
			report(sc, s, off, QUEUE_DAMAGE_RECORD);
			sc->irregular = true;
			/* A batch with a record missing is incomplete, whatever follows. */
			drop_batch(sc, s, off);
			if (next == 0)
				break;
			valid_at(sc, s, next, true, &h);
			off = next;
		}
		if (!take_record(sc, s, &h, off))
			return false;
		off += rec_size(h.body_len);
	}
	s->write_off = off;
	s->end_seq = sc->expected;
	s->ends_open = sc->nbatch > 0 || sc->orphans;
	s->synced_off = SEG_HEADER_BYTES; /* read from the page cache: the open checkpoint syncs it */
	return true;
}

/*
 * cut_batch drops a batch whose last record never made it: the log ends
 * where the batch began, in whichever segment that was.
 */
static void cut_batch(struct scan *sc)
{
	struct queue *q = sc->q;
	const struct pending *first = &sc->batch[0];
	sc->expected = first->h.seq;
	sc->irregular = true;
	for (size_t i = 0; i < q->nsegs; i++) {
		struct segment *s = q->segs[i];
		if (s->number > first->seg->number) {
			s->write_off = SEG_HEADER_BYTES;
			s->end_seq = s->first_seq;
		} else if (s == first->seg) {
			s->write_off = first->off;
			s->end_seq = first->h.seq;
		}
		s->ends_open = false;
	}
	sc->nbatch = 0;
}

/*
 * drop_skipped takes segments that are not part of the log out of the list
 * and, unless inspecting, moves their files aside (never deleting them), so
 * that the next recovery, seeing a changed log, cannot take them back in.
 * Returns QUEUE_IO when a file could not be moved aside for good.
 */
static enum queue_err drop_skipped(struct queue *q)
{
	enum queue_err err = QUEUE_OK;
	size_t w = 0;
	for (size_t i = 0; i < q->nsegs; i++) {
		struct segment *s = q->segs[i];
		if (!s->skipped) {
			q->segs[w++] = s;
			continue;
		}
		if (!q->store->opts.read_only && seg_move_aside(q->dirfd, s->number) != QUEUE_OK)
			err = QUEUE_IO;
		seg_release(s);
	}
	q->nsegs = w;
	return err;
}

/* has_records says whether segment s holds anything but its header. */
static bool has_records(const struct segment *s)
{
	struct rec_header h;
	return rec_read(s->map + SEG_HEADER_BYTES, s->size - SEG_HEADER_BYTES, &h) != REC_ZERO;
}

enum queue_err replay_queue(struct queue *q, struct queue_recovery *rep)
{
	struct scan sc = { .q = q, .rep = rep, .at_start = true };
	enum queue_err err = QUEUE_OK;
	size_t tail = 0;
	for (size_t i = 0; i < q->nsegs; i++)
		if (has_records(q->segs[i]))
			tail = i;
	q->replaying = true;
	for (size_t i = 0; i < q->nsegs && err == QUEUE_OK; i++)
		if (!scan_segment(&sc, q->segs[i], i >= tail))
			err = QUEUE_NOMEM;
	q->replaying = false;
	if (sc.nbatch > 0)
		cut_batch(&sc);
	free(sc.batch);
	enum queue_err moved = drop_skipped(q);
	if (err == QUEUE_OK)
		err = moved;
	/* Appends go on in the last segment that holds records; the tails are zeroed. */
	q->active = 0;
	for (size_t i = 0; i < q->nsegs; i++) {
		struct segment *s = q->segs[i];
		if (s->write_off > SEG_HEADER_BYTES)
			q->active = i;
		bool synced = true;
		uint64_t torn = zero_tail(s, s->write_off, !s->sealed && !q->store->opts.read_only, &synced);
		if (torn > 0)
			replay_problem(q, QUEUE_DAMAGE_TORN_TAIL, s->number, s->write_off);
		if (!synced && err == QUEUE_OK)
			err = QUEUE_IO;
		rep->torn_bytes += torn;
		q->written_bytes += s->write_off - SEG_HEADER_BYTES;
		madvise(s->map, (size_t)s->size, MADV_DONTNEED); /* the scan must not stay resident */
	}
	if (q->nsegs > 0 && !q->store->opts.read_only)
		seg_ready_for_appends(q->dirfd, q->segs[q->active]);
	if (!sc.past_rp)
		memcpy(sc.totals_at_rp, q->totals, sizeof(sc.totals_at_rp));
	for (int i = 0; i < TOTAL_COUNT; i++)
		q->totals[i] = q->meta.totals[i] + (q->totals[i] - sc.totals_at_rp[i]);
	/* Ids are never reused, even after damage: the next one is above everything seen. */
	q->next_seq = q->meta.rp_seq > 1 ? q->meta.rp_seq : 1;
	for (size_t i = 0; i < q->nsegs; i++)
		if (q->next_seq < q->segs[i]->end_seq)
			q->next_seq = q->segs[i]->end_seq;
	/*
	 * Appends go on after the last record of the active segment only when the
	 * seq there is the next one; otherwise they start a new segment whose header
	 * records the jump. Empty segments after the active one take no appends.
	 */
	for (size_t i = q->active; i < q->nsegs && !q->store->opts.read_only; i++)
		if (i > q->active || q->segs[i]->end_seq != q->next_seq || q->segs[i]->ends_open)
			q->segs[i]->sealed = true;
	q->meta.epoch = (sc.max_epoch > q->meta.epoch ? sc.max_epoch : q->meta.epoch) + 1;
	return err;
}

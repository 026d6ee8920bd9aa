/* replay.c: recovery of one queue: scan its segments, validate every record, rebuild the index. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "engine.h"
#include "replay.h"

struct pending {
	struct rec_header h;
	uint64_t off;
};

struct scan {
	struct queue *q;
	struct queue_recovery *rep;
	uint64_t expected;    /* the seq the next record must have; 0 before the first */
	uint32_t epoch_floor; /* records never go back in epoch ... */
	uint32_t epoch_cap;   /* ... nor beyond the meta's */
	uint32_t max_epoch;
	struct pending *batch; /* records of a batch whose last record is not read yet */
	size_t nbatch, cap;
	bool past_rp;
	uint64_t totals_at_rp[TOTAL_COUNT];
};

static void report(struct scan *sc, const struct segment *s, uint64_t off, const char *what)
{
	sc->rep->corrupt_records++;
	if (sc->rep->first_problem[0] == '\0')
		snprintf(sc->rep->first_problem, sizeof(sc->rep->first_problem),
			 "queue %s: segment %" PRIu64 " offset %" PRIu64 ": %s", sc->q->name,
			 s->number, off, what);
}

/* valid_at decodes the record at off and says whether it continues the log. */
static bool valid_at(struct scan *sc, const struct segment *s, uint64_t off, bool any_seq,
		     struct rec_header *h)
{
	if (rec_read(s->map + off, s->size - off, h) != REC_VALID)
		return false;
	if (any_seq ? h->seq < sc->expected : sc->expected != 0 && h->seq != sc->expected)
		return false;
	if (h->epoch < sc->epoch_floor || h->epoch > sc->epoch_cap)
		return false;
	const struct meta *m = &sc->q->meta;
	bool checked = !any_seq && (s->number < m->rp_segment ||
				    (s->number == m->rp_segment && off < m->rp_offset));
	return checked || rec_body_ok(s->map + off, h);
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

static bool batch_add(struct scan *sc, const struct rec_header *h, uint64_t off)
{
	if (sc->nbatch == sc->cap) {
		size_t n = sc->cap ? sc->cap * 2 : 64;
		struct pending *p = realloc(sc->batch, n * sizeof(*p));
		if (p == NULL)
			return false;
		sc->batch = p;
		sc->cap = n;
	}
	sc->batch[sc->nbatch++] = (struct pending){ *h, off };
	return true;
}

static void batch_apply(struct scan *sc, struct segment *s)
{
	for (size_t i = 0; i < sc->nbatch; i++) {
		const struct pending *p = &sc->batch[i];
		qlog_apply(sc->q, &p->h, s->map + p->off + REC_HEADER_BYTES, s, p->off);
		sc->rep->records++;
	}
	sc->nbatch = 0;
}

/* zero_tail clears every byte after end in the last segment, so old bytes can never look like records. */
static uint64_t zero_tail(struct segment *s, uint64_t end)
{
	uint64_t dirty_from = 0, dirty_to = 0, zeroed = 0;
	for (uint64_t off = end; off < s->size; off += 8) {
		uint64_t word;
		memcpy(&word, s->map + off, 8);
		if (word == 0)
			continue;
		if (dirty_from == 0)
			dirty_from = off;
		memset(s->map + off, 0, 8);
		dirty_to = off + 8;
		zeroed += 8;
	}
	if (zeroed > 0)
		seg_sync(s, dirty_from, dirty_to);
	return zeroed;
}

/* scan_segment replays one segment; returns false when out of memory. */
static bool scan_segment(struct scan *sc, struct segment *s, bool last)
{
	if (sc->expected != 0 && s->first_seq != sc->expected)
		report(sc, s, SEG_HEADER_BYTES, "records missing before this segment");
	sc->expected = s->first_seq;
	uint64_t off = SEG_HEADER_BYTES, batch_start = off;
	while (off < s->size) {
		struct rec_header h;
		mark_rp(sc, s, off);
		if (!valid_at(sc, s, off, false, &h)) {
			if (rec_read(s->map + off, s->size - off, &h) == REC_ZERO)
				break;
			uint64_t next = resync(sc, s, off);
			if (next == 0 && last)
				break; /* a torn tail: the end of the log */
			report(sc, s, off, "damaged record");
			sc->nbatch = 0;
			if (next == 0)
				break;
			valid_at(sc, s, next, true, &h);
			off = batch_start = next;
			sc->expected = h.seq;
		}
		if (sc->nbatch == 0)
			batch_start = off;
		if (!batch_add(sc, &h, off))
			return false;
		if (h.epoch > sc->max_epoch)
			sc->max_epoch = h.epoch;
		sc->epoch_floor = h.epoch;
		sc->expected = h.seq + 1;
		off += rec_size(h.body_len);
		if (!(h.flags & REC_FLAG_MORE))
			batch_apply(sc, s);
	}
	if (sc->nbatch > 0) {
		/* A batch without its last record was never acknowledged: drop all of it. */
		sc->expected = sc->batch[0].h.seq;
		sc->nbatch = 0;
		if (!last)
			report(sc, s, batch_start, "incomplete batch");
	} else {
		batch_start = off;
	}
	s->write_off = batch_start;
	s->synced_off = SEG_HEADER_BYTES; /* read from the page cache: the open checkpoint syncs it */
	sc->q->written_bytes += batch_start;
	if (last)
		sc->rep->torn_bytes += zero_tail(s, batch_start);
	madvise(s->map, (size_t)s->size, MADV_DONTNEED); /* the scan must not stay resident */
	return true;
}

enum queue_err replay_queue(struct queue *q, bool meta_valid, struct queue_recovery *rep)
{
	struct scan sc = { .q = q, .rep = rep, .epoch_cap = meta_valid ? q->meta.epoch : UINT32_MAX };
	enum queue_err err = QUEUE_OK;
	q->replaying = true;
	for (size_t i = 0; i < q->nsegs && err == QUEUE_OK; i++)
		if (!scan_segment(&sc, q->segs[i], i + 1 == q->nsegs))
			err = QUEUE_NOMEM;
	q->replaying = false;
	free(sc.batch);
	if (!sc.past_rp)
		memcpy(sc.totals_at_rp, q->totals, sizeof(sc.totals_at_rp));
	for (int i = 0; i < TOTAL_COUNT; i++)
		q->totals[i] = q->meta.totals[i] + (q->totals[i] - sc.totals_at_rp[i]);
	q->next_seq = sc.expected > q->meta.rp_seq ? sc.expected : q->meta.rp_seq;
	if (q->nsegs > 0 && q->next_seq < q->segs[q->nsegs - 1]->first_seq)
		q->next_seq = q->segs[q->nsegs - 1]->first_seq;
	if (q->next_seq == 0)
		q->next_seq = 1;
	q->meta.epoch = (sc.max_epoch > q->meta.epoch ? sc.max_epoch : q->meta.epoch) + 1;
	return err;
}

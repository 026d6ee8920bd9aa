/* check.c: the crash loop's checker: every fact a client was told, against what the restarted server holds. */
#include "check.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Where a fact about a message comes from. */
enum {
	F_PREV = 1 << 0,	/* held at the previous check */
	F_ENQ = 1 << 1,		/* an acknowledged enqueue or batch returned its id */
	F_POP = 1 << 2,		/* an acknowledged pop delivered (and removed) it */
	F_LEASE = 1 << 3,	/* an acknowledged lease delivered it */
	F_ACK = 1 << 4,		/* an acknowledged ack removed it */
	F_ACK_MAYBE = 1 << 5,	/* an ack of it was in flight at the kill */
	F_SEEN = 1 << 6		/* the restarted server holds it */
};

/* One fact: a message id, maybe its payload, and when the fact was established. */
struct fact {
	uint64_t id;
	struct pay_tag tag;
	bool has_tag;
	unsigned flag;
	uint64_t t_send, t_recv;
};

/* An unanswered enqueue or batch: its payloads may or may not be there, all or none. */
struct pending {
	struct pay_tag first;
	uint32_t count, seen;
};

/* A span of ids (or lease tokens) one answer handed out, for the rising-ids check. */
struct stamp {
	uint64_t t_send, t_recv, lo, hi;
};

/* The working state of one queue's check. */
struct qcheck {
	int q;
	uint32_t round;
	struct fact *f;
	size_t nf, capf;
	struct pending *pend;
	size_t npend;
	struct stamp *st;
	size_t nst;
	uint64_t pop_budget, missing, ambiguous, max_seen;
	uint64_t missing_ids[4];
	char *err;
	size_t errlen;
};

static void *grow(void *p, size_t *cap, size_t n, size_t size)
{
	if (n < *cap)
		return p;
	*cap = *cap ? *cap * 2 : 256;
	p = realloc(p, *cap * size);
	if (p == NULL)
		abort();
	return p;
}

static void add_fact(struct qcheck *c, uint64_t id, const struct pay_tag *tag, unsigned flag,
		     const struct jr_op *op)
{
	c->f = grow(c->f, &c->capf, c->nf, sizeof(*c->f));
	c->f[c->nf++] = (struct fact){ id, tag ? *tag : (struct pay_tag){ 0 }, tag != NULL, flag,
				       op ? op->t_send : 0, op ? op->t_recv : 0 };
	if (id > c->max_seen)
		c->max_seen = id;
}

static bool fail(struct qcheck *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static bool fail(struct qcheck *c, const char *fmt, ...)
{
	int n = snprintf(c->err, c->errlen, "round %u, queue %s: ", (unsigned)c->round, cli_queue_names[c->q]);
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(c->err + n, c->errlen - (size_t)n, fmt, ap);
	va_end(ap);
	return false;
}

/* add_answered turns one answered operation into facts and id stamps. */
static bool add_answered(struct qcheck *c, const struct jr_op *op)
{
	struct stamp s = { op->t_send, op->t_recv, UINT64_MAX, 0 };
	if (op->kind == 'a' && op->status == 204)
		add_fact(c, op->id, NULL, F_ACK, op);
	for (size_t i = 0; i < op->nitems; i++) {
		const struct jr_item *it = &op->items[i];
		if (op->kind == 'e' || op->kind == 'b') {
			struct pay_tag tag = { c->round, op->client, op->n + (uint32_t)i };
			if (i > 0 && it->id <= op->items[i - 1].id)
				return fail(c, "a batch got ids out of order (%llu after %llu)",
					    (unsigned long long)it->id, (unsigned long long)op->items[i - 1].id);
			add_fact(c, it->id, &tag, F_ENQ, op);
		} else {
			add_fact(c, it->id, &it->tag, op->kind == 'p' ? F_POP : F_LEASE, op);
		}
		uint64_t v = op->kind == 'l' ? it->token : it->id;
		if (op->kind == 'e' || op->kind == 'b' || op->kind == 'l') {
			s.lo = v < s.lo ? v : s.lo;
			s.hi = v > s.hi ? v : s.hi;
		}
		if (it->token > c->max_seen)
			c->max_seen = it->token;
	}
	if ((op->kind == 'e' || op->kind == 'b') && op->nitems != op->count)
		return fail(c, "a batch of %u got %zu ids", (unsigned)op->count, op->nitems);
	if (s.hi != 0) {
		c->st = realloc(c->st, (c->nst + 1) * sizeof(*c->st));
		if (c->st == NULL)
			abort();
		c->st[c->nst++] = s;
	}
	return true;
}

/* add_unanswered records what an operation cut off by the kill may have done. */
static void add_unanswered(struct qcheck *c, const struct jr_op *op)
{
	if (op->kind == 'p')
		c->pop_budget += op->limit;
	else if (op->kind == 'a')
		add_fact(c, op->id, NULL, F_ACK_MAYBE, op);
	else if (op->kind == 'e' || op->kind == 'b') {
		c->pend = realloc(c->pend, (c->npend + 1) * sizeof(*c->pend));
		if (c->pend == NULL)
			abort();
		c->pend[c->npend++] = (struct pending){ { c->round, op->client, op->n }, op->count, 0 };
	}
}

/* pending_match finds the unanswered enqueue that sent tag, and counts it seen. */
static bool pending_match(struct qcheck *c, const struct pay_tag *tag)
{
	for (size_t i = 0; i < c->npend; i++) {
		const struct pay_tag *f = &c->pend[i].first;
		if (tag->round == f->round && tag->client == f->client && tag->n >= f->n &&
		    tag->n < f->n + c->pend[i].count) {
			c->pend[i].seen++;
			return true;
		}
	}
	return false;
}

static int cmp_fact(const void *a, const void *b)
{
	const struct fact *x = a, *y = b;
	return x->id < y->id ? -1 : x->id > y->id;
}

static void note_missing(struct qcheck *c, uint64_t id)
{
	if (c->missing < sizeof(c->missing_ids) / sizeof(c->missing_ids[0]))
		c->missing_ids[c->missing] = id;
	c->missing++;
}

/* check_origin proves that a message the facts name was enqueued and not removed before this round. */
static bool check_origin(struct qcheck *c, const struct fact *f, unsigned flags, uint64_t prev_max)
{
	if (flags & (F_PREV | F_ENQ))
		return true;
	if (!f->has_tag)
		return fail(c, "id %llu was acked but never delivered", (unsigned long long)f->id);
	if (f->id <= prev_max)
		return fail(c, "id %llu (payload %u/%u/%u) came back after it was gone at the last check",
			    (unsigned long long)f->id, f->tag.round, f->tag.client, f->tag.n);
	if (!pending_match(c, &f->tag))
		return fail(c, "id %llu holds payload %u/%u/%u, which nobody was enqueueing",
			    (unsigned long long)f->id, f->tag.round, f->tag.client, f->tag.n);
	return true;
}

/* check_id checks every fact about one id: facts f[0..n), all with the same id. */
static bool check_id(struct qcheck *c, const struct fact *f, size_t n, uint64_t prev_max)
{
	unsigned flags = 0, removals = 0;
	const struct fact *tagged = NULL;
	uint64_t t_rm = UINT64_MAX;
	for (size_t i = 0; i < n; i++) {
		flags |= f[i].flag;
		if (f[i].has_tag && tagged != NULL && !pay_tag_equal(&tagged->tag, &f[i].tag))
			return fail(c, "id %llu carried payloads %u/%u/%u and %u/%u/%u", (unsigned long long)f->id,
				    tagged->tag.round, tagged->tag.client, tagged->tag.n, f[i].tag.round,
				    f[i].tag.client, f[i].tag.n);
		if (f[i].has_tag && tagged == NULL)
			tagged = &f[i];
		if (f[i].flag & (F_POP | F_ACK)) {
			removals++;
			t_rm = f[i].t_recv < t_rm ? f[i].t_recv : t_rm;
		}
	}
	if (!check_origin(c, tagged ? tagged : f, flags, prev_max))
		return false;
	if (removals > 1)
		return fail(c, "id %llu was removed (popped or acked) %u times", (unsigned long long)f->id, removals);
	for (size_t i = 0; i < n; i++)
		if ((f[i].flag & (F_POP | F_LEASE)) && f[i].t_send > t_rm)
			return fail(c, "id %llu was delivered again %llu us after its removal was acknowledged",
				    (unsigned long long)f->id, (unsigned long long)(f[i].t_send - t_rm));
	if ((flags & F_SEEN) && removals > 0)
		return fail(c, "id %llu is back after its removal was acknowledged", (unsigned long long)f->id);
	if ((flags & (F_PREV | F_ENQ | F_LEASE)) && removals == 0 && !(flags & F_SEEN)) {
		if (flags & F_ACK_MAYBE)
			c->ambiguous++;
		else
			note_missing(c, f->id);
	}
	return true;
}

static int cmp_tag(const void *a, const void *b)
{
	const struct fact *x = a, *y = b;
	const uint32_t kx[3] = { x->tag.round, x->tag.client, x->tag.n }, ky[3] = { y->tag.round, y->tag.client, y->tag.n };
	for (int i = 0; i < 3; i++)
		if (kx[i] != ky[i])
			return kx[i] < ky[i] ? -1 : 1;
	return x->id < y->id ? -1 : x->id > y->id;
}

/* check_tags proves that no payload is held or was delivered under two ids. */
static bool check_tags(struct qcheck *c)
{
	struct fact *t = malloc((c->nf + 1) * sizeof(*t));
	size_t n = 0;
	bool ok = true;
	if (t == NULL)
		abort();
	for (size_t i = 0; i < c->nf; i++)
		if (c->f[i].has_tag)
			t[n++] = c->f[i];
	qsort(t, n, sizeof(*t), cmp_tag);
	for (size_t i = 0; i + 1 < n && ok; i++)
		if (pay_tag_equal(&t[i].tag, &t[i + 1].tag) && t[i].id != t[i + 1].id)
			ok = fail(c, "payload %u/%u/%u is held under ids %llu and %llu", t[i].tag.round,
				  t[i].tag.client, t[i].tag.n, (unsigned long long)t[i].id,
				  (unsigned long long)t[i + 1].id);
	free(t);
	return ok;
}

static int cmp_send(const void *a, const void *b)
{
	const struct stamp *x = a, *y = b;
	return x->t_send < y->t_send ? -1 : x->t_send > y->t_send;
}

static int cmp_recv(const void *a, const void *b)
{
	const struct stamp *x = a, *y = b;
	return x->t_recv < y->t_recv ? -1 : x->t_recv > y->t_recv;
}

/*
 * check_rising proves that ids and lease tokens rise strictly: each answer's
 * are above everything known before the round (the restart included) and
 * above those of every answer that arrived before its request was sent.
 */
static bool check_rising(struct qcheck *c, uint64_t prev_max)
{
	struct stamp *by_recv = malloc((c->nst + 1) * sizeof(*by_recv));
	uint64_t done_max = prev_max;
	bool ok = true;
	if (by_recv == NULL)
		abort();
	memcpy(by_recv, c->st, c->nst * sizeof(*by_recv));
	qsort(c->st, c->nst, sizeof(*c->st), cmp_send);
	qsort(by_recv, c->nst, sizeof(*by_recv), cmp_recv);
	for (size_t i = 0, j = 0; i < c->nst && ok; i++) {
		while (j < c->nst && by_recv[j].t_recv < c->st[i].t_send) {
			done_max = by_recv[j].hi > done_max ? by_recv[j].hi : done_max;
			j++;
		}
		if (c->st[i].lo <= done_max)
			ok = fail(c, "id or token %llu handed out after %llu was (%s)",
				  (unsigned long long)c->st[i].lo, (unsigned long long)done_max,
				  done_max == prev_max ? "before the restart" : "in this round");
	}
	free(by_recv);
	return ok;
}

/* check_facts runs the per-id checks, the unanswered batches and the loss budget. */
static bool check_facts(struct qcheck *c, uint64_t prev_max)
{
	qsort(c->f, c->nf, sizeof(*c->f), cmp_fact);
	for (size_t i = 0, j; i < c->nf; i = j) {
		for (j = i + 1; j < c->nf && c->f[j].id == c->f[i].id; j++)
			;
		if (!check_id(c, &c->f[i], j - i, prev_max))
			return false;
	}
	for (size_t i = 0; i < c->npend; i++) {
		/* A batch is all or nothing: once one of its payloads showed up, all of them are accounted for. */
		if (c->pend[i].seen > 0 && c->pend[i].seen < c->pend[i].count)
			for (uint32_t k = c->pend[i].seen; k < c->pend[i].count; k++)
				note_missing(c, 0);
	}
	if (c->missing > c->pop_budget)
		return fail(c, "%llu acknowledged messages are gone (ids %llu %llu %llu %llu ...; 0 = part of a "
			       "batch) but the pops in flight at the kill could take only %llu",
			    (unsigned long long)c->missing, (unsigned long long)c->missing_ids[0],
			    (unsigned long long)c->missing_ids[1], (unsigned long long)c->missing_ids[2],
			    (unsigned long long)c->missing_ids[3], (unsigned long long)c->pop_budget);
	return check_tags(c);
}

/* check_queue checks queue q of round r and moves the model on. */
static bool check_queue(struct chk_model *m, struct qcheck *c, const struct jr_round *r,
			struct chk_msg *seen, size_t nseen)
{
	struct chk_queue *mq = &m->q[c->q];
	uint64_t prev_max = mq->max_seen;
	c->max_seen = prev_max;
	for (size_t i = 0; i < mq->npresent; i++)
		add_fact(c, mq->present[i].id, &mq->present[i].tag, F_PREV, NULL);
	for (size_t i = 0; i < r->nops; i++) {
		const struct jr_op *op = &r->ops[i];
		if (op->q != c->q)
			continue;
		m->totals.ops++;
		m->totals.in_flight += !op->done;
		m->totals.acked_enqueued += op->kind == 'e' || op->kind == 'b' ? op->nitems : 0;
		m->totals.acked_removed += op->kind == 'p' ? op->nitems : op->kind == 'a' && op->status == 204;
		m->totals.deliveries += op->kind == 'p' || op->kind == 'l' ? op->nitems : 0;
		if (!op->done)
			add_unanswered(c, op);
		else if (!add_answered(c, op))
			return false;
	}
	for (size_t i = 0; i < nseen; i++) {
		if (i > 0 && seen[i].id <= seen[i - 1].id)
			return fail(c, "the server listed id %llu after %llu", (unsigned long long)seen[i].id,
				    (unsigned long long)seen[i - 1].id);
		add_fact(c, seen[i].id, &seen[i].tag, F_SEEN, NULL);
	}
	if (!check_rising(c, prev_max) || !check_facts(c, prev_max))
		return false;
	m->totals.observed += nseen;
	m->totals.ambiguous += c->ambiguous + c->missing;
	free(mq->present);
	mq->present = malloc((nseen + 1) * sizeof(*seen));
	if (mq->present == NULL)
		abort();
	memcpy(mq->present, seen, nseen * sizeof(*seen));
	mq->npresent = nseen;
	mq->max_seen = c->max_seen;
	return true;
}

bool chk_round(struct chk_model *m, const struct jr_round *r, struct chk_msg *const seen[CLI_QUEUES],
	       const size_t nseen[CLI_QUEUES], char *err, size_t errlen)
{
	bool ok = true;
	for (int q = 0; q < CLI_QUEUES && ok; q++) {
		struct qcheck c = { .q = q, .round = r->round, .err = err, .errlen = errlen };
		ok = check_queue(m, &c, r, seen[q], nseen[q]);
		free(c.f);
		free(c.pend);
		free(c.st);
	}
	return ok;
}

void chk_free(struct chk_model *m)
{
	if (m == NULL)
		return;
	for (int q = 0; q < CLI_QUEUES; q++)
		free(m->q[q].present);
	memset(m, 0, sizeof(*m));
}

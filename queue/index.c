/* index.c: the sorted entry array and the two heaps of a queue's index. */
#include "index.h"

#include <stdlib.h>
#include <string.h>

static bool grow(void **arr, size_t *cap, size_t need, size_t size)
{
	if (need <= *cap)
		return true;
	size_t n = *cap ? *cap * 2 : 64;
	while (n < need)
		n *= 2;
	void *p = realloc(*arr, n * size);
	if (p == NULL)
		return false;
	*arr = p;
	*cap = n;
	return true;
}

void idx_free(struct index *x)
{
	free(x->e);
	free(x->ready);
	free(x->timers);
	memset(x, 0, sizeof(*x));
}

/* compact squeezes out gone entries so the array stays proportional to the live ones. */
static void compact(struct index *x)
{
	size_t w = 0;
	for (size_t r = x->head; r < x->tail; r++)
		if (x->e[r].state != ENTRY_GONE)
			x->e[w++] = x->e[r];
	x->head = 0;
	x->tail = w;
	x->gone = 0;
}

bool idx_append(struct index *x, const struct entry *e)
{
	if (x->tail == x->cap && x->head > 0 && x->head + x->gone >= x->cap / 4)
		compact(x);
	if (!grow((void **)&x->e, &x->cap, x->tail + 1, sizeof(*x->e)))
		return false;
	x->e[x->tail++] = *e;
	return true;
}

bool idx_reserve(struct index *x, size_t n)
{
	return grow((void **)&x->e, &x->cap, x->tail + n, sizeof(*x->e)) &&
	       grow((void **)&x->ready, &x->cap_ready, x->nready + n, sizeof(*x->ready)) &&
	       grow((void **)&x->timers, &x->cap_timers, x->ntimers + n, sizeof(*x->timers));
}

struct entry *idx_find(struct index *x, uint64_t id)
{
	size_t lo = x->head, hi = x->tail;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (x->e[mid].id < id)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo < x->tail && x->e[lo].id == id && x->e[lo].state != ENTRY_GONE)
		return &x->e[lo];
	return NULL;
}

void idx_remove(struct index *x, struct entry *e)
{
	e->state = ENTRY_GONE;
	x->gone++;
	while (x->head < x->tail && x->e[x->head].state == ENTRY_GONE) {
		x->head++;
		x->gone--;
	}
	if (x->head == x->tail)
		x->head = x->tail = 0;
	else if (x->gone > 1024 && x->gone > (x->tail - x->head) / 2)
		compact(x);
}

size_t idx_first(const struct index *x)
{
	return x->head;
}

bool ready_push(struct index *x, uint64_t id)
{
	if (!grow((void **)&x->ready, &x->cap_ready, x->nready + 1, sizeof(*x->ready)))
		return false;
	size_t i = x->nready++;
	while (i > 0 && x->ready[(i - 1) / 2] > id) {
		x->ready[i] = x->ready[(i - 1) / 2];
		i = (i - 1) / 2;
	}
	x->ready[i] = id;
	return true;
}

bool ready_pop(struct index *x, uint64_t *id)
{
	if (x->nready == 0)
		return false;
	*id = x->ready[0];
	uint64_t last = x->ready[--x->nready];
	size_t i = 0, n = x->nready;
	for (;;) {
		size_t c = 2 * i + 1;
		if (c >= n)
			break;
		if (c + 1 < n && x->ready[c + 1] < x->ready[c])
			c++;
		if (x->ready[c] >= last)
			break;
		x->ready[i] = x->ready[c];
		i = c;
	}
	if (n > 0)
		x->ready[i] = last;
	return true;
}

static bool timer_less(const struct timer *a, const struct timer *b)
{
	return a->at < b->at || (a->at == b->at && a->id < b->id);
}

bool timer_push(struct index *x, uint64_t at, uint64_t id)
{
	if (!grow((void **)&x->timers, &x->cap_timers, x->ntimers + 1, sizeof(*x->timers)))
		return false;
	struct timer t = { at, id };
	size_t i = x->ntimers++;
	while (i > 0 && timer_less(&t, &x->timers[(i - 1) / 2])) {
		x->timers[i] = x->timers[(i - 1) / 2];
		i = (i - 1) / 2;
	}
	x->timers[i] = t;
	return true;
}

const struct timer *timer_peek(const struct index *x)
{
	return x->ntimers ? &x->timers[0] : NULL;
}

void timer_pop(struct index *x)
{
	struct timer last = x->timers[--x->ntimers];
	size_t i = 0, n = x->ntimers;
	for (;;) {
		size_t c = 2 * i + 1;
		if (c >= n)
			break;
		if (c + 1 < n && timer_less(&x->timers[c + 1], &x->timers[c]))
			c++;
		if (!timer_less(&x->timers[c], &last))
			break;
		x->timers[i] = x->timers[c];
		i = c;
	}
	if (n > 0)
		x->timers[i] = last;
}

void idx_clear_heaps(struct index *x)
{
	x->nready = 0;
	x->ntimers = 0;
}

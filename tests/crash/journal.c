/* journal.c: reads the crash loop clients' journals back into operations. */
#include "journal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client.h"

/* The statuses each kind of operation may get; anything else fails the round. */
static const struct {
	char kind;
	long ok[3];
} allowed[] = {
	{ 'e', { 201, 201, 201 } }, { 'b', { 201, 201, 201 } }, { 'p', { 200, 200, 200 } },
	{ 'l', { 200, 200, 200 } }, { 'a', { 204, 409, 404 } }, { 'r', { 204, 409, 404 } },
};

static bool status_ok(char kind, long status)
{
	for (size_t i = 0; i < sizeof(allowed) / sizeof(allowed[0]); i++)
		if (allowed[i].kind == kind)
			return status == allowed[i].ok[0] || status == allowed[i].ok[1] ||
			       status == allowed[i].ok[2];
	return false;
}

static struct jr_op *push_op(struct jr_round *r)
{
	if (r->nops == r->cap) {
		size_t cap = r->cap ? r->cap * 2 : 1024;
		struct jr_op *ops = realloc(r->ops, cap * sizeof(*ops));
		if (ops == NULL)
			abort();
		r->ops = ops;
		r->cap = cap;
	}
	struct jr_op *op = &r->ops[r->nops++];
	memset(op, 0, sizeof(*op));
	return op;
}

/* parse_intent reads "I k t kind q args..." into a new operation. */
static bool parse_intent(struct jr_round *r, uint32_t client, const char *line)
{
	unsigned long long k, t, a1 = 0, a2 = 0, a3 = 0;
	char kind;
	int q, got = sscanf(line, "I %llu %llu %c %d %llu %llu %llu", &k, &t, &kind, &q, &a1, &a2, &a3);
	if (got < 5 || q < 0 || q >= CLI_QUEUES || strchr("ebplar", kind) == NULL)
		return false;
	struct jr_op *op = push_op(r);
	op->client = client;
	op->kind = kind;
	op->q = q;
	op->t_send = t;
	op->n = (uint32_t)a1;
	op->count = kind == 'b' ? (uint32_t)a2 : 1;
	op->limit = (uint32_t)a1;
	op->id = a1;
	op->token = a2;
	return true;
}

/* parse_item reads one item of an outcome: an id, or id/round/client/n[/token]. */
static const char *parse_item(const char *p, char kind, struct jr_item *it)
{
	unsigned long long id, token = 0;
	unsigned rr, cc, nn;
	int used = 0;
	memset(it, 0, sizeof(*it));
	if (kind == 'e' || kind == 'b') {
		if (sscanf(p, " %llu%n", &id, &used) != 1)
			return NULL;
	} else if (kind == 'p') {
		if (sscanf(p, " %llu/%u/%u/%u%n", &id, &rr, &cc, &nn, &used) != 4)
			return NULL;
	} else if (sscanf(p, " %llu/%u/%u/%u/%llu%n", &id, &rr, &cc, &nn, &token, &used) != 5) {
		return NULL;
	}
	it->id = id;
	it->token = token;
	if (kind == 'p' || kind == 'l')
		it->tag = (struct pay_tag){ rr, cc, nn };
	return p + used;
}

/* parse_outcome reads "D k t status items..." into the client's last operation. */
static bool parse_outcome(struct jr_round *r, uint32_t client, const char *line, char *err, size_t errlen)
{
	unsigned long long k, t;
	long status;
	int used = 0;
	struct jr_op *op = r->nops > 0 ? &r->ops[r->nops - 1] : NULL;
	if (sscanf(line, "D %llu %llu %ld%n", &k, &t, &status, &used) != 3 || op == NULL ||
	    op->client != client || op->done)
		return false;
	op->done = true;
	op->t_recv = t;
	op->status = status;
	if (!status_ok(op->kind, status)) {
		snprintf(err, errlen, "client %u: %c on queue %d answered %ld", (unsigned)client, op->kind,
			 op->q, status);
		return false;
	}
	const char *p = line + used;
	size_t cap = op->kind == 'b' ? op->count : CLI_TAKE_MAX;
	op->items = calloc(cap ? cap : 1, sizeof(*op->items));
	if (op->items == NULL)
		abort();
	while (*p == ' ' && op->nitems < cap) {
		p = parse_item(p, op->kind, &op->items[op->nitems]);
		if (p == NULL)
			return false;
		op->nitems++;
	}
	return *p == '\0';
}

/* parse_line dispatches one journal line; false with err set on any problem. */
static bool parse_line(struct jr_round *r, uint32_t client, const char *line, char *err, size_t errlen)
{
	unsigned long long k, id;
	if (r->nops > 0 && r->ops[r->nops - 1].client == client && !r->ops[r->nops - 1].done &&
	    line[0] != 'D') {
		snprintf(err, errlen, "client %u: an operation without an outcome before: %s", (unsigned)client,
			 line);
		return false;
	}
	if (line[0] == 'X' && sscanf(line, "X %llu %llu", &k, &id) == 2) {
		snprintf(err, errlen, "client %u: the payload of id %llu was delivered damaged", (unsigned)client, id);
		return false;
	}
	bool ok = line[0] == 'I' ? parse_intent(r, client, line) : parse_outcome(r, client, line, err, errlen);
	if (!ok && err[0] == '\0')
		snprintf(err, errlen, "client %u: bad journal line: %s", (unsigned)client, line);
	return ok;
}

bool jr_load(struct jr_round *r, const char *path, uint32_t client, char *err, size_t errlen)
{
	char line[4096];
	bool ok = true;
	err[0] = '\0';
	FILE *f = fopen(path, "r");
	if (f == NULL) {
		snprintf(err, errlen, "client %u: no journal at %s", (unsigned)client, path);
		return false;
	}
	while (ok && fgets(line, sizeof(line), f) != NULL) {
		size_t n = strlen(line);
		if (n == 0 || line[n - 1] != '\n') {
			snprintf(err, errlen, "client %u: torn journal line: %s", (unsigned)client, line);
			ok = false;
			break;
		}
		line[n - 1] = '\0';
		ok = parse_line(r, client, line, err, errlen);
	}
	fclose(f);
	return ok;
}

void jr_free(struct jr_round *r)
{
	if (r == NULL)
		return;
	for (size_t i = 0; i < r->nops; i++)
		free(r->ops[i].items);
	free(r->ops);
	memset(r, 0, sizeof(*r));
}

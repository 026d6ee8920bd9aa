/* journal.h: reads the crash loop clients' journals (format in client.h) back into operations. */
#ifndef MMQ_CRASH_JOURNAL_H
#define MMQ_CRASH_JOURNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "payload.h"

/* One message an operation's answer named: an enqueued id, or a delivered message. */
struct jr_item {
	uint64_t id;
	struct pay_tag tag;
	uint64_t token; /* lease token of a leased message, else 0 */
};

/* One operation of one client: its intent and, when the answer arrived, its outcome. */
struct jr_op {
	uint32_t client;
	char kind; /* 'e' enqueue, 'b' batch, 'p' pop, 'l' lease, 'a' ack, 'r' release */
	int q;
	uint64_t t_send, t_recv; /* microseconds; t_recv is 0 without an outcome */
	bool done;		 /* an answer arrived */
	long status;
	uint32_t n, count; /* e, b: the payloads (round, client, n) .. n+count-1 */
	uint32_t limit;	   /* p, l */
	uint64_t id, token; /* a, r */
	struct jr_item *items;
	size_t nitems;
};

/* The operations of every client of one round. */
struct jr_round {
	uint32_t round;
	struct jr_op *ops;
	size_t nops, cap;
};

/*
 * jr_load appends the operations in the journal at path, written by client
 * of r->round, to r. Returns false with a sentence in err when the journal
 * breaks its format, records a damaged payload or an unexpected status, or
 * has an operation without an outcome that is not its last line.
 */
bool jr_load(struct jr_round *r, const char *path, uint32_t client, char *err, size_t errlen);

/* jr_free frees r's operations and empties it. jr_free(NULL) is a no-op. */
void jr_free(struct jr_round *r);

#endif

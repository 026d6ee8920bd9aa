/* check.h: the crash loop's checker: what a restarted mmqd holds against what its clients were told. */
#ifndef MMQ_CRASH_CHECK_H
#define MMQ_CRASH_CHECK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "client.h"
#include "journal.h"
#include "payload.h"

/* One message of a queue: its id and the payload it carries (verified byte for byte by the caller). */
struct chk_msg {
	uint64_t id;
	struct pay_tag tag;
};

/* What the checker knows between rounds, per queue. */
struct chk_queue {
	struct chk_msg *present; /* every message after the last check, by id */
	size_t npresent;
	uint64_t max_seen; /* the highest id or lease token anyone was told so far */
};

/* Figures of the checks made, for the final report. */
struct chk_totals {
	uint64_t ops, acked_enqueued, acked_removed, deliveries, in_flight, observed, ambiguous;
};

struct chk_model {
	struct chk_queue q[CLI_QUEUES];
	struct chk_totals totals;
};

/*
 * chk_round checks one round: r holds every client's operations of the round,
 * seen[q] (nseen[q] messages, ascending ids) what the restarted server holds
 * in queue q. It proves that every message acknowledged enqueued is there
 * unless its removal was acknowledged or was in flight at the kill (an
 * unanswered pop removes at most its limit, an unanswered ack its message); that
 * nothing whose pop or ack was acknowledged is delivered or held again; that
 * an unanswered batch is there whole or not at all; that ids and lease tokens
 * rise strictly, also across the restart; that every message carries the
 * payload its id was given. On success the model moves on to the new state and
 * true is returned; otherwise err holds the first violation.
 */
bool chk_round(struct chk_model *m, const struct jr_round *r, struct chk_msg *const seen[CLI_QUEUES],
	       const size_t nseen[CLI_QUEUES], char *err, size_t errlen);

/* chk_free frees the model's arrays. chk_free(NULL) is a no-op. */
void chk_free(struct chk_model *m);

#endif

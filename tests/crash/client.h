/* client.h: one load client of the crash loop: random queue operations over HTTP, each logged to its own journal. */
#ifndef MMQ_CRASH_CLIENT_H
#define MMQ_CRASH_CLIENT_H

#include <stdint.h>

/* The queues the crash loop uses. */
#define CLI_QUEUES 2
extern const char *const cli_queue_names[CLI_QUEUES];

/* Lease time of the clients' leases, in seconds (the smallest mmqd accepts). */
#define CLI_LEASE_SECONDS 1

/* The most messages one pop or lease asks for, and the most payloads in one batch. */
#define CLI_TAKE_MAX 4
#define CLI_BATCH_MAX 8

/*
 * The journal: one line per event, each written with a single write(2) to an
 * O_APPEND file. Before a request the client writes its intent, after the
 * answer arrived the outcome; a client with an intent and no outcome was cut
 * off by the kill (at most one, its last line).
 *   I <k> <t_us> e <q> <n>                 enqueue the payload (round, client, n)
 *   I <k> <t_us> b <q> <n> <count>         batch of the payloads n .. n+count-1
 *   I <k> <t_us> p <q> <limit>             pop
 *   I <k> <t_us> l <q> <limit>             lease for CLI_LEASE_SECONDS
 *   I <k> <t_us> a <q> <id> <token>        ack
 *   I <k> <t_us> r <q> <id> <token> <delay> release, visible again after delay seconds
 *   D <k> <t_us> <status> <item>...        the answer: ids for e and b; id/round/client/n
 *                                          for p; id/round/client/n/token for l; none else
 *   X <k> <id>                             a delivered payload was not what was sent
 * t_us is CLOCK_MONOTONIC in microseconds, taken before sending (I) and after
 * the answer arrived (D), so the checker can order events of different clients.
 */

/* What one client does. */
struct cli_config {
	uint32_t round;
	uint32_t client;
	uint16_t port;
	const char *journal;	   /* path of the journal file */
	unsigned backlog;	   /* messages per queue to steer towards */
	uint64_t seed;
	uint64_t deadline_ms;	   /* CLOCK_MONOTONIC ms after which the client stops on its own */
};

/*
 * cli_run runs the client until a request fails at the transport level (the
 * server was killed: returns 0), an answer has an unexpected status (2), a
 * delivered payload is damaged (3), the deadline passes (4) or the journal
 * cannot be written (5). Call it in a child process after fork().
 */
int cli_run(const struct cli_config *cfg);

/* cli_now_us returns CLOCK_MONOTONIC in microseconds. */
uint64_t cli_now_us(void);

#endif

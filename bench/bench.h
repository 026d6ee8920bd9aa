/* bench.h: what bench_queue.c's runner and its backends (mmq, SQLite) share. */
#ifndef MMQ_BENCH_H
#define MMQ_BENCH_H

#include <stddef.h>
#include <stdint.h>

#include "../queue/queue.h"

#define BENCH_LEASE_MS 600000u

enum bench_work { WORK_ENQUEUE, WORK_POP, WORK_LEASE_ACK, WORK_COUNT };

/* A bench_op_fn does one op on conn: 1 done, 0 the queue was empty, -1 failed. */
typedef int (*bench_op_fn)(void *conn, const void *payload, size_t len, char *scratch);

/*
 * One system under test: a shared environment, and one connection per
 * thread. Hooks that return int give 0 on success and -1 (after printing
 * why) on failure.
 */
struct bench_backend {
	const char *name;
	/* open creates a fresh store at path (which must not exist yet) in mode sync. */
	int (*open)(const char *path, enum queue_sync sync, void **env);
	/* close frees env; the files stay for the caller to remove. */
	void (*close)(void *env);
	/* conn_open gives one thread its connection; free it with conn_close(). */
	int (*conn_open)(void *env, void **conn);
	void (*conn_close)(void *conn);
	/* prefill enqueues count copies of payload as fast as it can (batches, one transaction). */
	int (*prefill)(void *conn, const void *payload, size_t len, uint64_t count);
	bench_op_fn ops[WORK_COUNT];
};

/* bench_wall_ms returns the wall-clock time in ms since the Unix epoch. This function can't fail. */
uint64_t bench_wall_ms(void);

/* BENCH_SQLITE is SQLite used as a queue: one table, one transaction per op. */
extern const struct bench_backend BENCH_SQLITE;

#endif

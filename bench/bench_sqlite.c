/* bench_sqlite.c: SQLite used as a queue, the baseline of bench_queue.c. */
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "bench.h"

/*
 * The table is the usual SQL queue: an AUTOINCREMENT id (never reused, like
 * mmq's ids), the payload, and a lease deadline. WAL journal; the
 * synchronous setting follows mmq's sync mode. Every op is one statement in
 * its own transaction: pop deletes the lowest visible id and returns it,
 * lease sets leased_until on it, ack deletes it when the lease still matches.
 * Each thread has its own connection with a busy timeout.
 */

/* SQLite's synchronous setting matched to each mmq sync mode (always, interval, none). */
static const char *const SQLITE_SYNC[] = { "FULL", "NORMAL", "OFF" };


struct lite_env {
	char path[4096];
	const char *sync;
};

enum lite_stmt { LITE_INSERT, LITE_POP, LITE_LEASE, LITE_ACK, LITE_STMT_COUNT };

/* Each op is one statement in its own (autocommit) transaction. */
static const char *const LITE_SQL[LITE_STMT_COUNT] = {
	"INSERT INTO q (payload, enqueued_ms) VALUES (?1, ?2)",
	"DELETE FROM q WHERE id = (SELECT id FROM q WHERE leased_until <= ?1 ORDER BY id LIMIT 1)"
	" RETURNING payload",
	"UPDATE q SET leased_until = ?1, deliveries = deliveries + 1 WHERE id ="
	" (SELECT id FROM q WHERE leased_until <= ?2 ORDER BY id LIMIT 1)"
	" RETURNING id, payload",
	"DELETE FROM q WHERE id = ?1 AND leased_until = ?2",
};

static const char LITE_SCHEMA[] =
	"PRAGMA journal_mode=WAL;"
	"CREATE TABLE IF NOT EXISTS q (id INTEGER PRIMARY KEY AUTOINCREMENT,"
	" payload BLOB NOT NULL, enqueued_ms INTEGER NOT NULL,"
	" leased_until INTEGER NOT NULL DEFAULT 0, deliveries INTEGER NOT NULL DEFAULT 0);";

struct lite_conn {
	sqlite3 *db;
	sqlite3_stmt *st[LITE_STMT_COUNT];
};

static void lite_conn_close(void *conn)
{
	struct lite_conn *c = conn;

	if (c == NULL)
		return;
	for (int i = 0; i < LITE_STMT_COUNT; i++)
		sqlite3_finalize(c->st[i]);
	sqlite3_close(c->db);
	free(c);
}

static int lite_conn_open(void *env, void **conn)
{
	struct lite_env *e = env;
	struct lite_conn *c = calloc(1, sizeof(*c));
	char pragma[64];
	int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX;

	if (c == NULL)
		return -1;
	snprintf(pragma, sizeof(pragma), "PRAGMA synchronous=%s;", e->sync);
	if (sqlite3_open_v2(e->path, &c->db, flags, NULL) != SQLITE_OK)
		goto fail;
	sqlite3_busy_timeout(c->db, 30000);
	if (sqlite3_exec(c->db, LITE_SCHEMA, NULL, NULL, NULL) != SQLITE_OK ||
	    sqlite3_exec(c->db, pragma, NULL, NULL, NULL) != SQLITE_OK)
		goto fail;
	for (int i = 0; i < LITE_STMT_COUNT; i++)
		if (sqlite3_prepare_v2(c->db, LITE_SQL[i], -1, &c->st[i], NULL) != SQLITE_OK)
			goto fail;
	*conn = c;
	return 0;
fail:
	fprintf(stderr, "bench_queue: sqlite open: %s\n", sqlite3_errmsg(c->db));
	lite_conn_close(c);
	return -1;
}

static int lite_open(const char *path, enum queue_sync sync, void **env)
{
	struct lite_env *e = calloc(1, sizeof(*e));
	void *conn = NULL;

	if (e == NULL || mkdir(path, 0700) != 0) {
		free(e);
		return -1;
	}
	snprintf(e->path, sizeof(e->path), "%s/queue.db", path);
	e->sync = SQLITE_SYNC[sync];
	/* Create the database and its schema once, before the threads race to. */
	if (lite_conn_open(e, &conn) < 0) {
		free(e);
		return -1;
	}
	lite_conn_close(conn);
	*env = e;
	return 0;
}

static void lite_close(void *env)
{
	free(env);
}

/* lite_step runs st to completion; the first row's column col is copied into scratch. */
static int lite_step(sqlite3_stmt *st, int col, char *scratch, int64_t *id)
{
	int rc, rows = 0;

	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (rows++ == 0 && scratch != NULL)
			memcpy(scratch, sqlite3_column_blob(st, col),
			       (size_t)sqlite3_column_bytes(st, col));
		if (rows == 1 && id != NULL)
			*id = sqlite3_column_int64(st, 0);
	}
	sqlite3_reset(st);
	if (rc != SQLITE_DONE) {
		fprintf(stderr, "bench_queue: sqlite: %s\n", sqlite3_errstr(rc));
		return -1;
	}
	return rows > 0;
}

static int lite_enqueue(void *conn, const void *payload, size_t len, char *scratch)
{
	struct lite_conn *c = conn;
	sqlite3_stmt *st = c->st[LITE_INSERT];

	(void)scratch;
	sqlite3_bind_blob(st, 1, payload, (int)len, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, (int64_t)bench_wall_ms());
	return lite_step(st, 0, NULL, NULL) < 0 ? -1 : 1;
}

static int lite_prefill(void *conn, const void *payload, size_t len, uint64_t count)
{
	struct lite_conn *c = conn;

	if (sqlite3_exec(c->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK)
		return -1;
	for (uint64_t i = 0; i < count; i++)
		if (lite_enqueue(c, payload, len, NULL) < 0)
			return -1;
	return sqlite3_exec(c->db, "COMMIT", NULL, NULL, NULL) == SQLITE_OK ? 0 : -1;
}

static int lite_pop(void *conn, const void *payload, size_t len, char *scratch)
{
	struct lite_conn *c = conn;
	sqlite3_stmt *st = c->st[LITE_POP];

	(void)payload;
	(void)len;
	sqlite3_bind_int64(st, 1, (int64_t)bench_wall_ms());
	return lite_step(st, 0, scratch, NULL);
}

static int lite_lease_ack(void *conn, const void *payload, size_t len, char *scratch)
{
	struct lite_conn *c = conn;
	sqlite3_stmt *lease = c->st[LITE_LEASE], *ack = c->st[LITE_ACK];
	int64_t now = (int64_t)bench_wall_ms(), until = now + BENCH_LEASE_MS, id = 0;
	int got;

	(void)payload;
	(void)len;
	sqlite3_bind_int64(lease, 1, until);
	sqlite3_bind_int64(lease, 2, now);
	got = lite_step(lease, 1, scratch, &id);
	if (got <= 0)
		return got;
	sqlite3_bind_int64(ack, 1, id);
	sqlite3_bind_int64(ack, 2, until);
	if (lite_step(ack, 0, NULL, NULL) < 0)
		return -1;
	if (sqlite3_changes(c->db) != 1) {
		fprintf(stderr, "bench_queue: sqlite ack removed nothing\n");
		return -1;
	}
	return 1;
}

const struct bench_backend BENCH_SQLITE = {
	"sqlite", lite_open, lite_close, lite_conn_open, lite_conn_close, lite_prefill,
	{ lite_enqueue, lite_pop, lite_lease_ack },
};

/* verify.c: mmqd verify: checks a data directory offline, per queue, and with --repair repairs it. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "../queue/queue.h"
#include "verify.h"

enum { VERIFY_CLEAN = 0, VERIFY_PROBLEMS = 1, VERIFY_USAGE = 2 };

/* One piece of damage the engine reported while opening the directory. */
struct problem {
	enum queue_damage kind;
	char queue[QUEUE_NAME_MAX + 1];
	char file[64];
	char aside[64]; /* "" when the engine never moves this kind aside */
	uint64_t offset;
	bool printed;
};

/* Every problem one open found. */
struct findings {
	struct problem *items;
	size_t count, cap;
	bool nomem; /* a problem could not be recorded: the count is too low */
};

/* What a kind of damage means for verify. */
struct damage {
	const char *check_hint; /* printed by a plain verify */
	const char *repaired;	/* printed by --repair when the repair worked */
	bool moves_aside;	/* --repair renames the file to its aside name */
};

/* The kinds --repair fixes; every other kind is unrepairable. */
static const struct damage damages[QUEUE_DAMAGE_COUNT] = {
	[QUEUE_DAMAGE_TORN_TAIL] = { "--repair cuts it, as a normal start of mmqd does",
				     "cut: the bytes after the last valid record are zeroed", false },
	[QUEUE_DAMAGE_SEGMENT_HEADER] = { "--repair moves the file aside; none of its records can be read",
					  "none of its records can be read", true },
};

/* Any other damage: what a plain verify and --repair say about it. */
static const char unrepairable[] =
	"cannot be repaired: the damaged record is skipped on every open, the intact records "
	"around it are kept";

static const struct damage *damage_of(enum queue_damage kind)
{
	if ((unsigned)kind >= QUEUE_DAMAGE_COUNT || damages[kind].check_hint == NULL)
		return NULL;
	return &damages[kind];
}

/* on_problem records what the engine found; it must not fail, so a full list only sets nomem. */
static void on_problem(void *ctx, const struct queue_problem *problem)
{
	struct findings *f = ctx;
	struct problem *p;

	if (f->count == f->cap) {
		size_t cap = f->cap ? f->cap * 2 : 16;
		p = realloc(f->items, cap * sizeof(*p));
		if (p == NULL) {
			f->nomem = true;
			return;
		}
		f->items = p;
		f->cap = cap;
	}
	p = &f->items[f->count++];
	p->kind = problem->kind;
	snprintf(p->queue, sizeof(p->queue), "%s", problem->queue);
	snprintf(p->file, sizeof(p->file), "%s", problem->file);
	snprintf(p->aside, sizeof(p->aside), "%s", problem->aside != NULL ? problem->aside : "");
	p->offset = problem->offset;
	p->printed = false;
}

static void findings_free(struct findings *f)
{
	free(f->items);
	memset(f, 0, sizeof(*f));
}

static void usage(void)
{
	printf(
		"Usage: mmqd verify [--data-dir DIR] [--repair]\n"
		"Check every queue of a data directory while no mmqd uses it.\n\n"
		"  --data-dir DIR   the directory to check (default $MMQ_DATA_DIR, else ./data)\n"
		"  --repair         cut torn tails and move segments with a damaged header aside\n"
		"                   to <segment>.damaged, then check again\n\n"
		"Exit status: 0 clean, 1 problems found (or left after --repair), 2 usage error\n"
		"or the directory cannot be opened (for example while mmqd runs on it).\n");
}

/* parse_args reads the flags; returns -1 on a usage error (printed), 1 for --help, else 0. */
static int parse_args(int argc, char **argv, const char **dir, bool *repair)
{
	const char *env = getenv("MMQ_DATA_DIR");

	*dir = env != NULL && env[0] != '\0' ? env : "./data";
	*repair = false;
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--repair") == 0) {
			*repair = true;
		} else if (strcmp(argv[i], "--help") == 0) {
			return 1;
		} else if (strncmp(argv[i], "--data-dir=", 11) == 0 && argv[i][11] != '\0') {
			*dir = argv[i] + 11;
		} else if (strcmp(argv[i], "--data-dir") == 0 && i + 1 < argc && argv[i + 1][0]) {
			*dir = argv[++i];
		} else {
			fprintf(stderr, "mmqd verify: %s \"%s\" (see mmqd verify --help)\n",
				strcmp(argv[i], "--data-dir") == 0 ? "missing value for" : "unknown option",
				argv[i]);
			return -1;
		}
	}
	return 0;
}

/* open_dir opens dir read-only, or for repair; the cause of a failure is printed. */
static enum queue_err open_dir(const char *dir, bool repair, struct findings *f,
			       struct queue_store **out)
{
	struct queue_store_options opts;
	struct queue_recovery rec;
	enum queue_err err;

	queue_store_options_default(&opts);
	opts.read_only = !repair;
	opts.repair = repair;
	opts.on_problem = on_problem;
	opts.problem_ctx = f;
	err = queue_store_open(dir, &opts, out, &rec);
	if (err == QUEUE_LOCKED)
		fprintf(stderr,
			"mmqd verify: data dir %s is in use by a running mmqd; stop it first "
			"(verify needs the directory to itself)\n",
			dir);
	else if (err != QUEUE_OK)
		fprintf(stderr, "mmqd verify: cannot open data dir %s: %s%s%s\n", dir,
			queue_strerror(err), rec.first_problem[0] ? ": " : "", rec.first_problem);
	return err;
}

/* print_problem prints p as found by a check: where, what, and what can be done. */
static void print_problem(struct problem *p)
{
	const struct damage *d = damage_of(p->kind);

	printf("  problem: %s offset %llu: %s (%s)\n", p->file, (unsigned long long)p->offset,
	       queue_damage_text(p->kind), d != NULL ? d->check_hint : unrepairable);
	p->printed = true;
}

/* print_queue prints one queue's figures and its problems. */
static void print_queue(const struct queue_stats *s, struct findings *f)
{
	size_t n = 0;

	for (size_t i = 0; i < f->count; i++)
		n += strcmp(f->items[i].queue, s->name) == 0;
	printf("queue %s: %llu records, %llu messages, %llu segments, %llu live bytes, "
	       "%llu dead bytes: %s\n",
	       s->name, (unsigned long long)s->replayed_records,
	       (unsigned long long)(s->depth + s->in_flight + s->delayed),
	       (unsigned long long)s->segments, (unsigned long long)s->live_bytes,
	       (unsigned long long)s->dead_bytes, n == 0 ? "ok" : "PROBLEMS");
	for (size_t i = 0; i < f->count; i++)
		if (strcmp(f->items[i].queue, s->name) == 0)
			print_problem(&f->items[i]);
}

/*
 * check opens dir read-only and prints every queue and every problem, and
 * counts in *fixable those --repair can fix. Returns VERIFY_CLEAN,
 * VERIFY_PROBLEMS, or VERIFY_USAGE when it cannot open the directory.
 */
static int check(const char *dir, size_t *fixable)
{
	struct findings f = { 0 };
	struct queue_store *store = NULL;
	struct queue_stats *qs = NULL;
	size_t nq = 0;
	enum queue_err err;
	int rc = VERIFY_USAGE;

	if (open_dir(dir, false, &f, &store) != QUEUE_OK)
		goto fail;
	err = queue_list(store, &qs, &nq);
	if (err != QUEUE_OK) {
		fprintf(stderr, "mmqd verify: queue_list: %s\n", queue_strerror(err));
		goto fail;
	}
	printf("data dir %s: %zu queues\n", dir, nq);
	for (size_t i = 0; i < nq; i++)
		print_queue(&qs[i], &f);
	rc = f.count > 0 || f.nomem ? VERIFY_PROBLEMS : VERIFY_CLEAN;
	*fixable = f.nomem;
	for (size_t i = 0; i < f.count; i++)
		*fixable += damage_of(f.items[i].kind) != NULL;
	if (f.nomem)
		printf("more problems were found than could be listed (out of memory)\n");
fail:
	/* Problems of a queue that could not be opened, or of one not listed. */
	for (size_t i = 0; i < f.count; i++) {
		if (!f.items[i].printed) {
			printf("queue %s:\n", f.items[i].queue);
			print_problem(&f.items[i]);
		}
	}
	free(qs);
	queue_store_close(store);
	findings_free(&f);
	return rc;
}

/* print_repair says what --repair did about p, looking at the disk for a moved segment. */
static void print_repair(const char *dir, const struct problem *p)
{
	const struct damage *d = damage_of(p->kind);
	char path[4096];
	struct stat st;

	printf("  %s: %s offset %llu: %s: ", p->queue, p->file, (unsigned long long)p->offset,
	       queue_damage_text(p->kind));
	if (d == NULL) {
		printf("%s\n", unrepairable);
		return;
	}
	if (!d->moves_aside) {
		printf("%s\n", d->repaired);
		return;
	}
	if (!queue_file_path(path, sizeof(path), dir, p->queue, p->aside))
		printf("could not be moved aside (%s)\n", strerror(ENAMETOOLONG));
	else if (stat(path, &st) != 0)
		printf("could not be moved aside (%s)\n", strerror(errno));
	else
		printf("moved aside to %s; %s\n", p->aside, d->repaired);
}

/* repair opens dir for writing, which repairs it, and prints what it did. */
static int repair(const char *dir)
{
	struct findings f = { 0 };
	struct queue_store *store = NULL;
	enum queue_err err;
	int rc = VERIFY_USAGE;

	if (open_dir(dir, true, &f, &store) == QUEUE_OK) {
		err = queue_store_close(store);
		if (err == QUEUE_OK)
			rc = VERIFY_CLEAN;
		else
			fprintf(stderr, "mmqd verify: queue_store_close: %s\n", queue_strerror(err));
	}
	printf("repair of data dir %s%s: %zu problems found%s\n", dir,
	       rc == VERIFY_CLEAN ? "" : " (failed)", f.count, f.count > 0 ? ":" : "");
	for (size_t i = 0; i < f.count; i++)
		print_repair(dir, &f.items[i]);
	findings_free(&f);
	return rc;
}

int srv_verify_main(int argc, char **argv)
{
	const char *dir;
	bool fix;
	struct stat st;
	size_t fixable = 0;
	int rc;

	rc = parse_args(argc, argv, &dir, &fix);
	if (rc < 0)
		return VERIFY_USAGE;
	if (rc > 0) {
		usage();
		return VERIFY_CLEAN;
	}
	if (stat(dir, &st) != 0) {
		fprintf(stderr, "mmqd verify: data dir %s: %s\n", dir, strerror(errno));
		return VERIFY_USAGE;
	}
	if (!S_ISDIR(st.st_mode)) {
		fprintf(stderr, "mmqd verify: data dir %s: not a directory\n", dir);
		return VERIFY_USAGE;
	}
	if (fix) {
		rc = repair(dir);
		if (rc != VERIFY_CLEAN)
			return rc;
		printf("check after repair:\n");
	}
	rc = check(dir, &fixable);
	if (rc == VERIFY_CLEAN)
		printf("result: clean\n");
	else if (rc == VERIFY_PROBLEMS && (fix || fixable == 0))
		printf("result: damage remains that --repair cannot fix (listed above); the intact "
		       "records are kept and served\n");
	else if (rc == VERIFY_PROBLEMS)
		printf("result: problems found; with mmqd stopped, run: mmqd verify --repair "
		       "--data-dir %s\n",
		       dir);
	return rc;
}

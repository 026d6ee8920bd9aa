/* fuzz_recovery.c: libFuzzer target: recovery of a data directory made of fuzzer bytes. */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../../queue/crc32c.h"
#include "../../queue/queue.h"
#include "../../queue/record.h"
#include "fuzzutil.h"

/*
 * An input describes one queue "q": its queue.meta and one or two segment
 * files, written into a fresh directory, which is then opened, read, written
 * to, closed, reopened, drained and removed. Random bytes rarely pass the
 * CRCs, so a flag byte chooses between raw files and files this harness
 * builds with valid checksums around fuzzer-chosen fields:
 *
 *   byte 0    bits 0-1: segments: 0 raw bytes, 1 valid header + raw records,
 *                       2-3 valid header + records built from fuzzer fields
 *             bit 2: meta slot built with a valid CRC (else raw bytes)
 *             bit 3: a second segment file
 *             bit 4: open read-only      bit 5: open with repair
 *             bit 6: leave segment files short of their header's size
 *   then the meta, then each segment (see take_meta and take_segment).
 *
 * Invariants checked besides "no crash, no hang, no bad memory access" (set
 * MMQ_FUZZ_NO_INVARIANTS=1 to check only those): a message enqueued after
 * recovery gets an id above every id served, and a close and reopen serves
 * again every message served before plus that new one, with the same bytes.
 */

#define DATA_MAX (1u << 20)   /* the allocate hook refuses files past this */
#define SEG_MAX_PAGES 16u
#define PEEK_MAX 1000u
#define NOW_MS 1700000000000ull
#define CANARY "{\"canary\":true}"

static char base_dir[64];
static bool check_invariants = true;
static bool verbose; /* MMQ_FUZZ_VERBOSE=1: say what each step found, to study a reproducer */

/* fixed_clock makes leases, delays and timestamps independent of when an input runs. */
static uint64_t fixed_clock(void)
{
	return NOW_MS;
}

/* capped_alloc is posix_fallocate, refusing sizes a fuzzed header could ask for. */
static int capped_alloc(int fd, off_t off, off_t len)
{
	if (off < 0 || len < 0 || (uint64_t)off + (uint64_t)len > DATA_MAX)
		return ENOSPC;
	return posix_fallocate(fd, off, len);
}

static void on_problem(void *ctx, const struct queue_problem *p)
{
	if (verbose)
		fprintf(stderr, "  problem: queue %s file %s offset %llu: %s\n", p->queue, p->file,
			(unsigned long long)p->offset, queue_damage_text(p->kind));
	(*(unsigned *)ctx)++;
}


/* take_meta writes queue.meta: raw bytes, or one valid slot from compact fuzzer fields. */
static void take_meta(struct fz_reader *r, bool valid, struct fz_buf *out)
{
	uint8_t *s;
	uint8_t gen;

	fz_buf_reset(out);
	if (!valid) {
		size_t n = fz_u16(r) % 8193u;
		const uint8_t *p = fz_take(r, n, &n);
		fz_buf_put(out, p, n);
		return;
	}
	fz_buf_zero(out, 8192);
	gen = fz_u8(r);
	s = out->data + (gen & 1u) * 4096u;
	le_put32(s + 0, 0x4D514D4Du);
	le_put32(s + 4, FORMAT_VERSION);
	le_put64(s + 8, gen);
	le_put64(s + 16, (uint64_t)fz_u8(r) * 1024u);	  /* max_bytes */
	le_put32(s + 24, (uint32_t)fz_u8(r) * 64u);	  /* max_message_bytes */
	le_put32(s + 28, fz_u8(r));			  /* lease_seconds */
	le_put32(s + 32, fz_u8(r) % 4u);		  /* max_deliveries */
	le_put32(s + 36, fz_u8(r));			  /* epoch */
	le_put64(s + 40, fz_u8(r) % 6u);		  /* first live segment */
	le_put64(s + 48, fz_u8(r) % 6u);		  /* recovery point: segment */
	le_put64(s + 56, (uint64_t)fz_u16(r) * 8u);	  /* recovery point: offset */
	s[64] = fz_u8(r) & 1u;				  /* clean */
	s[65] = fz_u8(r) % 70u;				  /* dead-letter name length */
	for (unsigned i = 0; i < s[65] && i < 64u; i++)
		s[66 + i] = fz_u8(r) % 2u ? 'd' : 'q';
	le_put64(s + 136, fz_u8(r));			  /* seq at the recovery point */
	for (unsigned i = 0; i < 9; i++)
		le_put64(s + 144 + 8 * i, fz_u8(r));	  /* totals */
	le_put32(s + 4092, crc32c(0, s, 4092));
}

/* take_record appends one record built from fuzzer fields, possibly damaged afterwards. */
static void take_record(struct fz_reader *r, uint64_t *seq, uint32_t epoch, struct fz_buf *out)
{
	uint8_t body[256];
	struct rec_header h;
	uint8_t seq_step = fz_u8(r), damage;
	size_t at = out->len, got;
	const uint8_t *p;

	memset(&h, 0, sizeof(h));
	h.type = fz_u8(r) % 10u; /* 0 and 9 are not types */
	h.flags = fz_u8(r) & 1u;
	h.body_len = fz_u8(r);
	if (h.type >= REC_LEASE && h.type <= REC_EXTEND && h.body_len < 128)
		h.body_len = 8; /* the usual body: a time in ms */
	*seq = seq_step < 0xf0 ? *seq + 1 : *seq + (seq_step & 0x0fu) - 2u;
	h.seq = *seq;
	h.ts_ms = NOW_MS;
	h.word = fz_u8(r);
	if (h.type == REC_DATA && h.word != 0)
		h.word = NOW_MS - 128000u + h.word * 1000u; /* from 2 minutes ago to 2 ahead */
	h.epoch = epoch + (fz_u8(r) % 3u);
	memset(body, 0, sizeof(body));
	p = fz_take(r, h.body_len, &got);
	memcpy(body, p, got);
	if (h.body_len == 8)
		le_put64(body, NOW_MS + (uint64_t)body[0] * 1000u);
	fz_buf_zero(out, out->len + (size_t)rec_size(h.body_len));
	rec_write(out->data + at, &h, body);
	damage = fz_u8(r);
	if (damage >= 0xf8)
		out->data[at + fz_u8(r) % (size_t)rec_size(h.body_len)] ^= (uint8_t)(1u << (damage & 7u));
}

/*
 * take_segment builds one segment file: raw bytes, or a valid header page
 * (number, first seq, size, epoch from the input) followed by raw record
 * bytes or by records built from fuzzer fields. *number gets its number.
 */
static void take_segment(struct fz_reader *r, unsigned mode, bool cut, uint64_t *number,
			 struct fz_buf *out)
{
	struct seg_header h;
	uint8_t size_pages;
	const uint8_t *raw;
	size_t got;

	fz_buf_reset(out);
	*number = 1u + fz_u8(r) % 4u;
	if (mode == 0) {
		raw = fz_take(r, fz_u16(r), &got);
		fz_buf_put(out, raw, got);
		return;
	}
	memset(&h, 0, sizeof(h));
	h.number = *number;
	h.first_seq = fz_u8(r);
	size_pages = fz_u8(r) % (SEG_MAX_PAGES + 1u);
	h.created_ms = NOW_MS;
	h.epoch = fz_u8(r) % 4u;
	fz_buf_zero(out, SEG_HEADER_BYTES);
	if (mode == 1) {
		raw = fz_take(r, fz_u16(r), &got);
		fz_buf_put(out, raw, got);
	} else {
		uint64_t seq = h.first_seq ? h.first_seq - 1 : 0;
		for (unsigned n = fz_u8(r) % 48u; n > 0 && r->n > 0; n--)
			take_record(r, &seq, h.epoch, out);
	}
	/* Size 0 pages means "what the records need", rounded up to whole pages. */
	h.size = size_pages ? size_pages * 4096u : (out->len + 4095u) & ~(size_t)4095u;
	seg_header_write(out->data, &h);
	if (!cut && out->len < h.size)
		fz_buf_zero(out, (size_t)h.size);
}

/* write_queue_files lays the input out as the files of queue "q" under dir. */
static bool write_queue_files(const char *dir, const uint8_t *data, size_t size, uint8_t *flags)
{
	struct fz_reader r = { data, size };
	struct fz_buf buf = { NULL, 0, 0 };
	char path[256];
	uint64_t number;
	bool ok = false;

	*flags = fz_u8(&r);
	snprintf(path, sizeof(path), "%s/queues/q", dir);
	if (fz_mkdirs(path) != 0)
		goto fail;
	take_meta(&r, (*flags & 4u) != 0, &buf);
	snprintf(path, sizeof(path), "%s/queues/q/queue.meta", dir);
	if (fz_write_file(path, buf.data, buf.len) != 0)
		goto fail;
	for (int i = 0; i < ((*flags & 8u) ? 2 : 1); i++) {
		take_segment(&r, *flags & 3u, (*flags & 64u) != 0, &number, &buf);
		snprintf(path, sizeof(path), "%s/queues/q/%020llu.seg", dir,
			 (unsigned long long)number);
		if (fz_write_file(path, buf.data, buf.len) != 0)
			goto fail;
	}
	ok = true;
fail:
	free(buf.data);
	return ok;
}

/* A copy of the messages a peek served: ids and payload bytes. */
struct seen {
	size_t count;
	uint64_t ids[PEEK_MAX];
	uint32_t crcs[PEEK_MAX];
	size_t lens[PEEK_MAX];
};

/* say prints what an open found and which ids a peek served, when verbose. */
static void say(const char *step, const struct queue_recovery *rep, const struct seen *s)
{
	if (!verbose)
		return;
	fprintf(stderr, "%s: records %llu messages %llu corrupt %llu torn %llu \"%s\"\n  ids:", step,
		(unsigned long long)rep->records, (unsigned long long)rep->messages,
		(unsigned long long)rep->corrupt_records, (unsigned long long)rep->torn_bytes,
		rep->first_problem);
	for (size_t i = 0; s != NULL && i < s->count; i++)
		fprintf(stderr, " %llu", (unsigned long long)s->ids[i]);
	fprintf(stderr, "\n");
}

/* peek_all peeks at up to PEEK_MAX messages of q into *out. */
static void peek_all(struct queue_store *st, struct seen *out)
{
	struct queue_msgs m;

	out->count = 0;
	if (queue_peek(st, "q", PEEK_MAX, &m) != QUEUE_OK)
		return;
	for (size_t i = 0; i < m.count; i++) {
		out->ids[i] = m.items[i].id;
		out->lens[i] = m.items[i].len;
		out->crcs[i] = crc32c(0, m.items[i].payload, m.items[i].len);
	}
	out->count = m.count;
	queue_msgs_free(&m);
}

/* fail_invariant reports a broken invariant and aborts, so libFuzzer keeps the input. */
static void fail_invariant(const char *what, uint64_t id)
{
	fprintf(stderr, "fuzz_recovery: invariant broken: %s (id %llu)\n", what,
		(unsigned long long)id);
	abort();
}

/* find returns the index of id in s, or s->count. */
static size_t find(const struct seen *s, uint64_t id)
{
	size_t i = 0;
	while (i < s->count && s->ids[i] != id)
		i++;
	return i;
}

/*
 * check_reopened compares what a reopen serves with what was served before and
 * the canary. With a dead-letter queue set, a served message may rightly have
 * moved there in between (its lease ran out for the last time): then only its
 * absence is allowed, not a change.
 */
static void check_reopened(const struct seen *before, const struct seen *after, uint64_t canary,
			   bool dead_letters)
{
	for (size_t i = 0; i < before->count && after->count < PEEK_MAX; i++) {
		size_t j = find(after, before->ids[i]);
		if (j == after->count && dead_letters)
			continue;
		if (j == after->count)
			fail_invariant("a served message is gone after a reopen", before->ids[i]);
		if (after->lens[j] != before->lens[i] || after->crcs[j] != before->crcs[i])
			fail_invariant("a served message changed after a reopen", before->ids[i]);
	}
	if (canary != 0 && after->count < PEEK_MAX && find(after, canary) == after->count)
		fail_invariant("a message enqueued after recovery is gone after a reopen", canary);
}

/* drain pops and leases whatever is left, ticking leases along, to exercise the index. */
static void drain(struct queue_store *st)
{
	struct queue_msgs m;

	for (int round = 0; round < 4; round++) {
		if (queue_lease(st, "q", 3, 1000, &m, NULL) == QUEUE_OK) {
			if (m.count > 0)
				queue_ack(st, "q", m.items[0].id, m.items[0].lease, NULL);
			if (m.count > 1)
				queue_release(st, "q", m.items[1].id, m.items[1].lease, 0, NULL);
			queue_msgs_free(&m);
		}
		if (queue_pop(st, "q", PEEK_MAX, &m, NULL) != QUEUE_OK)
			break;
		queue_msgs_free(&m);
		queue_store_tick(st);
	}
}

/* exercise runs the open store through reads, one write, a reopen and a drain. */
static void exercise(const char *dir, struct queue_store *st, const struct queue_store_options *o,
		     bool read_only, const struct queue_recovery *rep)
{
	static struct seen before, after;
	struct queue_payload canary = { CANARY, strlen(CANARY) };
	struct queue_recovery rep2;
	struct queue_stats *all = NULL;
	size_t count = 0;
	uint64_t id = 0;

	if (queue_list(st, &all, &count) == QUEUE_OK)
		free(all);
	peek_all(st, &before);
	say("open", rep, &before);
	if (read_only) {
		queue_store_close(st);
		return;
	}
	if (queue_enqueue(st, "q", &canary, 1, 0, &id, NULL) != QUEUE_OK)
		id = 0;
	if (verbose)
		fprintf(stderr, "enqueued after recovery: id %llu\n", (unsigned long long)id);
	for (size_t i = 0; check_invariants && id != 0 && i < before.count; i++) {
		if (before.ids[i] >= id)
			fail_invariant("an id was reused after recovery", id);
	}
	queue_store_close(st);
	if (queue_store_open(dir, o, &st, &rep2) != QUEUE_OK) {
		if (check_invariants)
			fail_invariant("a recovered directory does not open again", 0);
		return;
	}
	peek_all(st, &after);
	say("reopen", &rep2, &after);
	struct queue_settings s;
	bool dead_letters = queue_get_settings(st, "q", &s) == QUEUE_OK && s.max_deliveries > 0 &&
			    s.dead_letter[0] != '\0';
	if (check_invariants)
		check_reopened(&before, &after, id, dead_letters);
	drain(st);
	queue_store_close(st);
}

/* ---- Seeds: MMQ_FUZZ_MAKE_SEEDS=DIR writes the committed seed corpus into DIR and exits ---- */

/* put_seg_file appends segment file number of qdir to b as a raw segment of the input format. */
static void put_seg_file(struct fz_buf *b, const char *qdir, uint64_t number, bool trim)
{
	char path[256];
	uint8_t *data = malloc(65536), n8 = (uint8_t)(number - 1);
	FILE *f;
	size_t len;

	snprintf(path, sizeof(path), "%s/%020llu.seg", qdir, (unsigned long long)number);
	f = fopen(path, "rb");
	if (data == NULL || f == NULL)
		abort();
	len = fread(data, 1, 65535, f);
	fclose(f);
	/* Trailing zeros cut off: the engine gives a short file its size back, as after a crash. */
	while (trim && len > SEG_HEADER_BYTES && data[len - 1] == 0)
		len--;
	fz_buf_put(b, &n8, 1);
	fz_buf_put(b, (uint8_t[2]){ (uint8_t)len, (uint8_t)(len >> 8) }, 2);
	fz_buf_put(b, data, len);
	free(data);
}

/* put_meta_file appends qdir's queue.meta to b as raw meta bytes. */
static void put_meta_file(struct fz_buf *b, const char *qdir)
{
	char path[256];
	uint8_t meta[8192];
	FILE *f;
	size_t len;

	snprintf(path, sizeof(path), "%s/queue.meta", qdir);
	f = fopen(path, "rb");
	if (f == NULL)
		abort();
	len = fread(meta, 1, sizeof(meta), f);
	fclose(f);
	fz_buf_put(b, (uint8_t[2]){ (uint8_t)len, (uint8_t)(len >> 8) }, 2);
	fz_buf_put(b, meta, len);
}

/* engine_scenario fills queue q: messages, a pop, leases, an ack, a release, an extend. */
static void engine_scenario(const char *dir)
{
	struct queue_store_options o;
	struct queue_store *st;
	struct queue_msgs m;
	char text[300];

	queue_store_options_default(&o);
	o.sync = QUEUE_SYNC_NONE;
	o.first_segment_bytes = 8192;
	o.max_segment_bytes = 16384;
	o.clock = fixed_clock;
	if (queue_store_open(dir, &o, &st, NULL) != QUEUE_OK)
		abort();
	/* Every tenth call is a batch of 5; every seventh is delayed. */
	for (int i = 0; i < 60; i++) {
		struct queue_payload p[5];
		size_t len = (size_t)snprintf(text, sizeof(text), "{\"n\":%d,\"pad\":\"%.*s\"}", i,
					      (i * 37) % 200, CANARY CANARY CANARY CANARY CANARY
					      CANARY CANARY CANARY CANARY CANARY CANARY CANARY CANARY);
		for (int k = 0; k < 5; k++)
			p[k] = (struct queue_payload){ text, len };
		queue_enqueue(st, "q", p, i % 10 == 9 ? 5 : 1, i % 7 == 0 ? 5000 : 0, NULL, NULL);
	}
	queue_pop(st, "q", 3, &m, NULL);
	queue_msgs_free(&m);
	if (queue_lease(st, "q", 3, 10000, &m, NULL) == QUEUE_OK && m.count == 3) {
		queue_ack(st, "q", m.items[0].id, m.items[0].lease, NULL);
		queue_release(st, "q", m.items[1].id, m.items[1].lease, 1000, NULL);
		queue_extend(st, "q", m.items[2].id, m.items[2].lease, 20000, NULL, NULL);
	}
	queue_msgs_free(&m);
	queue_store_close(st);
}

/* A structured seed: valid header, and records of every type, a batch among them. */
static const uint8_t structured_seed[] = {
	0x06, /* structured records, valid meta */
	/* meta: gen, max_bytes, max_msg, lease, max_deliv, epoch, first seg, rp seg, rp off (2),
	 * clean, dl len, seq at rp, 9 totals */
	2, 0, 16, 30, 0, 3, 1, 1, 0x00, 0x02, 1, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0,
	0, 1, 0, 2, /* segment 1, first seq 1, natural size, epoch 2 (the meta's is 3) */
	11,	       /* records: seq step, type, flags, body length, word, epoch, body, damage */
	0, 1, 0, 4, 0, 0, '"', 'a', 'b', '"', 0,
	0, 1, 0, 1, 0, 0, '7', 0,
	0, 1, 1, 2, 0, 0, '[', ']', 0,
	0, 1, 0, 2, 0, 0, '{', '}', 0,
	0, 3, 0, 8, 1, 0, 20, 0, 0, 0, 0, 0, 0, 0, 0,
	0, 4, 0, 0, 1, 0, 0,
	0, 3, 0, 8, 2, 0, 20, 0, 0, 0, 0, 0, 0, 0, 0,
	0, 5, 0, 8, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
	0, 6, 0, 8, 2, 0, 40, 0, 0, 0, 0, 0, 0, 0, 0,
	0, 2, 0, 0, 4, 0, 0,
	0, 8, 0, 0, 3, 0, 0,
};

/* write_seed writes one seed file. */
static void write_seed(const char *out, const char *name, const void *p, size_t n)
{
	char path[512];

	snprintf(path, sizeof(path), "%s/%s", out, name);
	if (fz_write_file(path, p, n) != 0)
		abort();
}

/* make_seeds writes the seed corpus into out. */
static void make_seeds(const char *out)
{
	struct fz_buf b = { NULL, 0, 0 };
	char dir[128], qdir[160];

	snprintf(dir, sizeof(dir), "%s/seed", base_dir);
	snprintf(qdir, sizeof(qdir), "%s/queues/q", dir);
	engine_scenario(dir);
	fz_buf_put(&b, (uint8_t[1]){ 0x08 }, 1); /* raw files, two segments */
	put_meta_file(&b, qdir);
	put_seg_file(&b, qdir, 1, true);
	put_seg_file(&b, qdir, 2, true);
	write_seed(out, "engine-two-segments", b.data, b.len);
	fz_buf_reset(&b);
	fz_buf_put(&b, (uint8_t[1]){ 0x00 }, 1); /* raw files, one segment, untrimmed */
	put_meta_file(&b, qdir);
	put_seg_file(&b, qdir, 1, false);
	write_seed(out, "engine-one-segment", b.data, b.len);
	write_seed(out, "structured-all-types", structured_seed, sizeof(structured_seed));
	free(b.data);
	fz_rmrf(dir);
}

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	const char *no = getenv("MMQ_FUZZ_NO_INVARIANTS");

	(void)argc;
	(void)argv;
	check_invariants = no == NULL || no[0] == '\0' || no[0] == '0';
	verbose = getenv("MMQ_FUZZ_VERBOSE") != NULL;
	if (fz_base_dir(base_dir, sizeof(base_dir), "recovery") != 0)
		abort();
	if (getenv("MMQ_FUZZ_MAKE_SEEDS") != NULL) {
		make_seeds(getenv("MMQ_FUZZ_MAKE_SEEDS"));
		exit(0);
	}
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct queue_store_options o;
	struct queue_store *st = NULL;
	struct queue_recovery rep;
	unsigned problems = 0;
	char dir[128];
	uint8_t flags = 0;

	snprintf(dir, sizeof(dir), "%s/data", base_dir);
	fz_rmrf(dir);
	if (!write_queue_files(dir, data, size, &flags))
		abort(); /* the temporary file system is full or gone: not the input's fault */
	/* MMQ_FUZZ_KEEP=DIR also writes the files into DIR, to study a reproducer with other tools. */
	if (getenv("MMQ_FUZZ_KEEP") != NULL &&
	    !write_queue_files(getenv("MMQ_FUZZ_KEEP"), data, size, &flags))
		fprintf(stderr, "fuzz_recovery: cannot write into MMQ_FUZZ_KEEP\n");
	queue_store_options_default(&o);
	o.sync = QUEUE_SYNC_NONE;
	o.first_segment_bytes = 8192;
	o.max_segment_bytes = 65536;
	o.allocate = capped_alloc;
	o.clock = fixed_clock;
	o.on_problem = on_problem;
	o.problem_ctx = &problems;
	o.read_only = (flags & 16u) != 0;
	o.repair = (flags & 32u) != 0;
	if (queue_store_open(dir, &o, &st, &rep) == QUEUE_OK) {
		bool read_only = o.read_only;
		/* The reopen in exercise() is an ordinary one. */
		o.read_only = false;
		o.repair = false;
		exercise(dir, st, &o, read_only, &rep);
	} else if (verbose) {
		fprintf(stderr, "open failed: \"%s\"\n", rep.first_problem);
	}
	fz_rmrf(dir);
	return 0;
}

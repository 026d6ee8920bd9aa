/* meta.c: encoding, decoding and durable writing of the queue.meta slots. */
#include "meta.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "crc32c.h"
#include "record.h"

/* Byte offsets of the fields in a slot. */
enum {
	M_MAGIC = 0,
	M_VERSION = 4,
	M_GEN = 8,
	M_MAX_BYTES = 16,
	M_MAX_MSG = 24,
	M_LEASE = 28,
	M_MAX_DELIV = 32,
	M_EPOCH = 36,
	M_FIRST_SEG = 40,
	M_RP_SEG = 48,
	M_RP_OFF = 56,
	M_CLEAN = 64,
	M_DLQ_LEN = 65,
	M_DLQ = 66,	/* 64 bytes */
	M_RP_SEQ = 136,
	M_TOTALS = 144, /* M_TOTAL_SLOTS x u64 */
	/* Since meta version 2; zero in version 1 slots, which read as these defaults. */
	M_DELAY = 512,
	M_RECEIVE_WAIT = 516,
	M_CREATED = 520,
	M_MODIFIED = 528,
	M_CRC = META_SLOT_BYTES - 4
};

/*
 * The slot of each total at M_TOTALS. Slot 7 once counted purges, which
 * nothing reads: it is written as zero and ignored when read.
 */
#define M_TOTAL_SLOTS 9
static const uint8_t total_slot[TOTAL_COUNT] = {
	[TOTAL_ENQUEUED] = 0, [TOTAL_POPPED] = 1,	 [TOTAL_LEASED] = 2,
	[TOTAL_ACKED] = 3,    [TOTAL_RELEASED] = 4,	 [TOTAL_REDELIVERED] = 5,
	[TOTAL_DEAD_LETTERED] = 6, [TOTAL_CORRUPT] = 8,
};
_Static_assert(M_TOTALS + 8 * M_TOTAL_SLOTS <= M_DELAY, "the totals end before the version 2 fields");

static void meta_encode(uint8_t *s, const struct meta *m)
{
	memset(s, 0, META_SLOT_BYTES);
	le_put32(s + M_MAGIC, META_MAGIC);
	le_put32(s + M_VERSION, META_VERSION);
	le_put64(s + M_GEN, m->generation);
	le_put64(s + M_MAX_BYTES, m->settings.max_bytes);
	le_put32(s + M_MAX_MSG, m->settings.max_message_bytes);
	le_put32(s + M_LEASE, m->settings.lease_seconds);
	le_put32(s + M_MAX_DELIV, m->settings.max_deliveries);
	le_put32(s + M_EPOCH, m->epoch);
	le_put64(s + M_FIRST_SEG, m->first_segment);
	le_put64(s + M_RP_SEG, m->rp_segment);
	le_put64(s + M_RP_OFF, m->rp_offset);
	le_put64(s + M_RP_SEQ, m->rp_seq);
	s[M_CLEAN] = m->clean ? 1 : 0;
	size_t dlq = strnlen(m->settings.dead_letter, QUEUE_NAME_MAX);
	s[M_DLQ_LEN] = (uint8_t)dlq;
	memcpy(s + M_DLQ, m->settings.dead_letter, dlq);
	for (int i = 0; i < TOTAL_COUNT; i++)
		le_put64(s + M_TOTALS + 8 * total_slot[i], m->totals[i]);
	le_put32(s + M_DELAY, m->settings.delay_seconds);
	le_put32(s + M_RECEIVE_WAIT, m->settings.receive_wait_seconds);
	le_put64(s + M_CREATED, m->settings.created_ms);
	le_put64(s + M_MODIFIED, m->settings.modified_ms);
	le_put32(s + M_CRC, crc32c(0, s, M_CRC));
}

static bool meta_decode(const uint8_t *s, struct meta *m)
{
	uint32_t version = le_get32(s + M_VERSION);

	/* Version 1 slots lack the fields from M_DELAY on; their zero bytes there read as the defaults. */
	if (le_get32(s + M_MAGIC) != META_MAGIC || (version != 1 && version != META_VERSION))
		return false;
	if (le_get32(s + M_CRC) != crc32c(0, s, M_CRC) || s[M_DLQ_LEN] > QUEUE_NAME_MAX)
		return false;
	memset(m, 0, sizeof(*m));
	m->generation = le_get64(s + M_GEN);
	m->settings.max_bytes = le_get64(s + M_MAX_BYTES);
	m->settings.max_message_bytes = le_get32(s + M_MAX_MSG);
	m->settings.lease_seconds = le_get32(s + M_LEASE);
	m->settings.max_deliveries = le_get32(s + M_MAX_DELIV);
	m->epoch = le_get32(s + M_EPOCH);
	m->first_segment = le_get64(s + M_FIRST_SEG);
	m->rp_segment = le_get64(s + M_RP_SEG);
	m->rp_offset = le_get64(s + M_RP_OFF);
	m->rp_seq = le_get64(s + M_RP_SEQ);
	m->clean = s[M_CLEAN] != 0;
	memcpy(m->settings.dead_letter, s + M_DLQ, s[M_DLQ_LEN]);
	m->settings.dead_letter[s[M_DLQ_LEN]] = '\0';
	for (int i = 0; i < TOTAL_COUNT; i++)
		m->totals[i] = le_get64(s + M_TOTALS + 8 * total_slot[i]);
	m->settings.delay_seconds = le_get32(s + M_DELAY);
	m->settings.receive_wait_seconds = le_get32(s + M_RECEIVE_WAIT);
	m->settings.created_ms = le_get64(s + M_CREATED);
	m->settings.modified_ms = le_get64(s + M_MODIFIED);
	return true;
}

enum queue_err meta_load(int fd, struct meta *m)
{
	uint8_t buf[META_FILE_BYTES];
	memset(buf, 0, sizeof(buf));
	ssize_t n = pread(fd, buf, sizeof(buf), 0);
	if (n < 0)
		return QUEUE_IO;
	struct meta slot[2];
	bool ok0 = meta_decode(buf, &slot[0]);
	bool ok1 = meta_decode(buf + META_SLOT_BYTES, &slot[1]);
	if (!ok0 && !ok1)
		return QUEUE_CORRUPT;
	if (ok0 && ok1)
		*m = slot[0].generation >= slot[1].generation ? slot[0] : slot[1];
	else
		*m = ok0 ? slot[0] : slot[1];
	return QUEUE_OK;
}

enum queue_err meta_store(int fd, struct meta *m)
{
	uint8_t slot[META_SLOT_BYTES];
	m->generation++;
	meta_encode(slot, m);
	off_t at = (off_t)((m->generation & 1u) * META_SLOT_BYTES);
	ssize_t n = pwrite(fd, slot, sizeof(slot), at);
	if (n != (ssize_t)sizeof(slot))
		return n < 0 && errno == ENOSPC ? QUEUE_DISKFULL : QUEUE_IO;
	if (fdatasync(fd) != 0)
		return QUEUE_IO;
	return QUEUE_OK;
}

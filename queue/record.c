/* record.c: encoding and validation of log records and segment headers. */
#include "record.h"

#include <string.h>

#include "crc32c.h"

/* Byte offsets of the fields in a record header (FORMAT.md). */
enum {
	R_MAGIC = 0,
	R_TYPE = 4,
	R_FLAGS = 5,
	R_HEADER_LEN = 6,
	R_RESERVED = 7,
	R_BODY_LEN = 8,
	R_BODY_CRC = 12,
	R_SEQ = 16,
	R_TS = 24,
	R_WORD = 32,
	R_EPOCH = 40,
	R_CRC = 44 /* CRC-32C of the bytes before it */
};

/* Byte offsets of the fields in a segment header (FORMAT.md). */
enum {
	S_MAGIC = 0,
	S_VERSION = 4,
	S_NUMBER = 8,
	S_FIRST_SEQ = 16,
	S_SIZE = 24,
	S_CREATED = 32,
	S_EPOCH = 40,
	S_CRC = 44 /* CRC-32C of the bytes before it */
};

void le_put32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

void le_put64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

uint32_t le_get32(const uint8_t *p)
{
	uint32_t v = 0;
	for (int i = 3; i >= 0; i--)
		v = (v << 8) | p[i];
	return v;
}

uint64_t le_get64(const uint8_t *p)
{
	uint64_t v = 0;
	for (int i = 7; i >= 0; i--)
		v = (v << 8) | p[i];
	return v;
}

uint64_t rec_size(uint64_t body_len)
{
	return REC_HEADER_BYTES + ((body_len + 7u) & ~(uint64_t)7u);
}

void rec_write(uint8_t *dst, struct rec_header *h, const void *body)
{
	uint8_t hdr[REC_HEADER_BYTES];
	h->body_crc = crc32c(0, body, h->body_len);
	le_put32(hdr + R_MAGIC, REC_MAGIC);
	hdr[R_TYPE] = h->type;
	hdr[R_FLAGS] = h->flags;
	hdr[R_HEADER_LEN] = (uint8_t)REC_HEADER_BYTES;
	hdr[R_RESERVED] = 0;
	le_put32(hdr + R_BODY_LEN, h->body_len);
	le_put32(hdr + R_BODY_CRC, h->body_crc);
	le_put64(hdr + R_SEQ, h->seq);
	le_put64(hdr + R_TS, h->ts_ms);
	le_put64(hdr + R_WORD, h->word);
	le_put32(hdr + R_EPOCH, h->epoch);
	le_put32(hdr + R_CRC, crc32c(0, hdr, R_CRC));
	/* The body and padding go first and the header last, so a reader never sees a valid header before its body. */
	uint64_t padded = rec_size(h->body_len) - REC_HEADER_BYTES;
	if (h->body_len > 0)
		memcpy(dst + REC_HEADER_BYTES, body, h->body_len);
	memset(dst + REC_HEADER_BYTES + h->body_len, 0, padded - h->body_len);
	memcpy(dst, hdr, REC_HEADER_BYTES);
}

static bool all_zero(const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i] != 0)
			return false;
	return true;
}

enum rec_check rec_read(const uint8_t *src, uint64_t avail, struct rec_header *h)
{
	if (avail < REC_HEADER_BYTES)
		return avail == 0 || all_zero(src, (size_t)avail) ? REC_ZERO : REC_INVALID;
	if (all_zero(src, REC_HEADER_BYTES))
		return REC_ZERO;
	if (le_get32(src + R_MAGIC) != REC_MAGIC || le_get32(src + R_CRC) != crc32c(0, src, R_CRC))
		return REC_INVALID;
	h->type = src[R_TYPE];
	h->flags = src[R_FLAGS];
	h->body_len = le_get32(src + R_BODY_LEN);
	h->body_crc = le_get32(src + R_BODY_CRC);
	h->seq = le_get64(src + R_SEQ);
	h->ts_ms = le_get64(src + R_TS);
	h->word = le_get64(src + R_WORD);
	h->epoch = le_get32(src + R_EPOCH);
	if (src[R_HEADER_LEN] != REC_HEADER_BYTES || src[R_RESERVED] != 0 || h->type < REC_DATA ||
	    h->type > REC_TYPE_MAX)
		return REC_INVALID;
	if (rec_size(h->body_len) > avail)
		return REC_INVALID;
	return REC_VALID;
}

bool rec_body_ok(const uint8_t *src, const struct rec_header *h)
{
	return crc32c(0, src + REC_HEADER_BYTES, h->body_len) == h->body_crc;
}

uint64_t rec_ts(const uint8_t *src)
{
	return le_get64(src + R_TS);
}

void seg_header_write(uint8_t *dst, const struct seg_header *h)
{
	memset(dst, 0, SEG_HEADER_BYTES);
	le_put32(dst + S_MAGIC, SEG_MAGIC);
	le_put32(dst + S_VERSION, FORMAT_VERSION);
	le_put64(dst + S_NUMBER, h->number);
	le_put64(dst + S_FIRST_SEQ, h->first_seq);
	le_put64(dst + S_SIZE, h->size);
	le_put64(dst + S_CREATED, h->created_ms);
	le_put32(dst + S_EPOCH, h->epoch);
	le_put32(dst + S_CRC, crc32c(0, dst, S_CRC));
}

bool seg_header_read(const uint8_t *src, struct seg_header *h)
{
	if (le_get32(src + S_MAGIC) != SEG_MAGIC || le_get32(src + S_VERSION) != FORMAT_VERSION)
		return false;
	if (le_get32(src + S_CRC) != crc32c(0, src, S_CRC))
		return false;
	h->number = le_get64(src + S_NUMBER);
	h->first_seq = le_get64(src + S_FIRST_SEQ);
	h->size = le_get64(src + S_SIZE);
	h->created_ms = le_get64(src + S_CREATED);
	h->epoch = le_get32(src + S_EPOCH);
	return true;
}

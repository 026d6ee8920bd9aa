/* record.c: encoding and validation of log records and segment headers. */
#include "record.h"

#include <string.h>

#include "crc32c.h"

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
	le_put32(hdr + 0, REC_MAGIC);
	hdr[4] = h->type;
	hdr[5] = h->flags;
	hdr[6] = (uint8_t)REC_HEADER_BYTES;
	hdr[7] = 0;
	le_put32(hdr + 8, h->body_len);
	le_put32(hdr + 12, h->body_crc);
	le_put64(hdr + 16, h->seq);
	le_put64(hdr + 24, h->ts_ms);
	le_put64(hdr + 32, h->word);
	le_put32(hdr + 40, h->epoch);
	le_put32(hdr + 44, crc32c(0, hdr, 44));
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
	if (le_get32(src) != REC_MAGIC || le_get32(src + 44) != crc32c(0, src, 44))
		return REC_INVALID;
	h->type = src[4];
	h->flags = src[5];
	h->body_len = le_get32(src + 8);
	h->body_crc = le_get32(src + 12);
	h->seq = le_get64(src + 16);
	h->ts_ms = le_get64(src + 24);
	h->word = le_get64(src + 32);
	h->epoch = le_get32(src + 40);
	if (src[6] != REC_HEADER_BYTES || src[7] != 0 || h->type < REC_DATA || h->type > REC_TYPE_MAX)
		return REC_INVALID;
	if (rec_size(h->body_len) > avail)
		return REC_INVALID;
	return REC_VALID;
}

bool rec_body_ok(const uint8_t *src, const struct rec_header *h)
{
	return crc32c(0, src + REC_HEADER_BYTES, h->body_len) == h->body_crc;
}

void seg_header_write(uint8_t *dst, const struct seg_header *h)
{
	memset(dst, 0, SEG_HEADER_BYTES);
	le_put32(dst + 0, SEG_MAGIC);
	le_put32(dst + 4, FORMAT_VERSION);
	le_put64(dst + 8, h->number);
	le_put64(dst + 16, h->first_seq);
	le_put64(dst + 24, h->size);
	le_put64(dst + 32, h->created_ms);
	le_put32(dst + 40, h->epoch);
	le_put32(dst + 44, crc32c(0, dst, 44));
}

bool seg_header_read(const uint8_t *src, struct seg_header *h)
{
	if (le_get32(src) != SEG_MAGIC || le_get32(src + 4) != FORMAT_VERSION)
		return false;
	if (le_get32(src + 44) != crc32c(0, src, 44))
		return false;
	h->number = le_get64(src + 8);
	h->first_seq = le_get64(src + 16);
	h->size = le_get64(src + 24);
	h->created_ms = le_get64(src + 32);
	h->epoch = le_get32(src + 40);
	return true;
}

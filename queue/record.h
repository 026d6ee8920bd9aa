/* record.h: the on-disk encoding of log records and segment headers (see FORMAT.md). */
#ifndef MMQ_RECORD_H
#define MMQ_RECORD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define REC_MAGIC 0x52514D4Du  /* "MMQR" */
#define SEG_MAGIC 0x53514D4Du  /* "MMQS" */
#define FORMAT_VERSION 1u
#define REC_HEADER_BYTES 48u
#define SEG_HEADER_BYTES 4096u
#define REC_FLAG_MORE 0x01u    /* another record of the same batch follows */
#define REC_FLAG_FIRST 0x02u   /* the first record of a batch (a single record is a batch of one) */

enum rec_type {
	REC_DATA = 1,
	REC_POP = 2,
	REC_LEASE = 3,
	REC_ACK = 4,
	REC_RELEASE = 5,
	REC_EXTEND = 6,
	REC_DEAD = 7,
	REC_PURGE = 8,
	REC_TYPE_MAX = 8
};

struct rec_header {
	uint8_t type;
	uint8_t flags;
	uint32_t body_len;
	uint32_t body_crc;
	uint64_t seq;
	uint64_t ts_ms;
	uint64_t word;	/* data: visible-at ms; control: the target message id */
	uint32_t epoch;
};

struct seg_header {
	uint64_t number;
	uint64_t first_seq;
	uint64_t size;
	uint64_t created_ms;
	uint32_t epoch;
};

enum rec_check {
	REC_VALID,	/* a well-formed header whose body fits */
	REC_ZERO,	/* an all-zero header: the end of the written part */
	REC_INVALID	/* anything else */
};

/* le_put64/le_put32/le_get64/le_get32 move little-endian integers to and from bytes. They can't fail. */
void le_put32(uint8_t *p, uint32_t v);
void le_put64(uint8_t *p, uint64_t v);
uint32_t le_get32(const uint8_t *p);
uint64_t le_get64(const uint8_t *p);

/* rec_size returns the bytes a record with a body of body_len takes, padding included. */
uint64_t rec_size(uint64_t body_len);

/*
 * rec_write writes header h (its body_crc computed from body) and the body of
 * h->body_len bytes at dst, zero padding included. dst must have rec_size()
 * bytes. This function can't fail.
 */
void rec_write(uint8_t *dst, struct rec_header *h, const void *body);

/*
 * rec_read decodes the header at src, which has avail readable bytes, into *h
 * and checks its magic, header CRC, type and that the body fits in avail.
 * It does not check the body: see rec_body_ok().
 */
enum rec_check rec_read(const uint8_t *src, uint64_t avail, struct rec_header *h);

/* rec_body_ok says whether the body after the header at src matches h->body_crc. */
bool rec_body_ok(const uint8_t *src, const struct rec_header *h);

/* rec_ts returns the enqueue time of the record at src, whose header was checked before. */
uint64_t rec_ts(const uint8_t *src);

/* seg_header_write encodes h into the SEG_HEADER_BYTES at dst. This function can't fail. */
void seg_header_write(uint8_t *dst, const struct seg_header *h);

/* seg_header_read decodes and checks the header page at src; false when it is not valid. */
bool seg_header_read(const uint8_t *src, struct seg_header *h);

#endif

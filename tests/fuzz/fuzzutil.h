/* fuzzutil.h: helpers the fuzz targets share: reading fuzzer bytes, growing buffers, temporary files. */
#ifndef MMQ_FUZZUTIL_H
#define MMQ_FUZZUTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The fuzzer's input, consumed from the front. */
struct fz_reader {
	const uint8_t *p;
	size_t n;
};

/* fz_u8 takes one byte, 0 when the input is used up. This function can't fail. */
uint8_t fz_u8(struct fz_reader *r);

/* fz_u16 takes two bytes, little-endian, missing ones reading as 0. This function can't fail. */
uint16_t fz_u16(struct fz_reader *r);

/*
 * fz_take consumes up to n bytes: it returns where they start and puts how
 * many there were in *got. This function can't fail.
 */
const uint8_t *fz_take(struct fz_reader *r, size_t n, size_t *got);

/* A growing byte buffer; all zeros is an empty one. */
struct fz_buf {
	uint8_t *data;
	size_t len, cap;
};

/* fz_buf_reset empties b, keeping its memory. This function can't fail. */
void fz_buf_reset(struct fz_buf *b);

/* fz_buf_put appends n bytes of p to b; aborts when out of memory. */
void fz_buf_put(struct fz_buf *b, const void *p, size_t n);

/* fz_buf_zero grows b with zero bytes to len bytes (never shrinks it); aborts when out of memory. */
void fz_buf_zero(struct fz_buf *b, size_t len);

/*
 * fz_base_dir makes a fresh directory for the target named name under
 * $MMQ_FUZZ_TMPDIR, else /dev/shm (else $TMPDIR or /tmp), writes its path
 * into buf and arranges for it to be removed at a normal exit (a crash
 * leaves it: tests/fuzz/run.sh removes its MMQ_FUZZ_TMPDIR). Returns 0 or -1.
 */
int fz_base_dir(char *buf, size_t size, const char *name);

/* fz_mkdirs makes path and its missing parents. Returns 0 or -1. */
int fz_mkdirs(const char *path);

/* fz_write_file creates (or truncates) path with the n bytes at p. Returns 0 or -1. */
int fz_write_file(const char *path, const void *p, size_t n);

/* fz_rmrf removes path and everything under it. Errors are ignored. */
void fz_rmrf(const char *path);

#endif

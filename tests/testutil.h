/* testutil.h: helpers shared by the test suites (temporary directories, files, processes). */
#ifndef MMQ_TESTUTIL_H
#define MMQ_TESTUTIL_H

#include <stddef.h>
#include <stdint.h>

/* tu_tempdir makes a fresh directory under $TMPDIR (or /tmp). Caller owns the result; free with free(). Aborts on failure. */
char *tu_tempdir(void);

/* tu_rmrf removes path and everything under it. Errors are ignored. tu_rmrf(NULL) is a no-op. */
void tu_rmrf(const char *path);

/* tu_path joins a and b with a slash into a static-free buffer. Caller owns the result; free with free(). */
char *tu_path(const char *a, const char *b);

/* tu_now_ms returns CLOCK_MONOTONIC in milliseconds. */
uint64_t tu_now_ms(void);

/* tu_sleep_ms sleeps for ms milliseconds. */
void tu_sleep_ms(unsigned ms);

/* Helpers for the storage suites: files, directories and segment records on disk. */

/* tu_exists says whether path exists (lstat succeeds). */
int tu_exists(const char *path);

/* tu_count_suffix counts the entries of dir whose names end with suffix ("" counts all but . and ..); 0 when dir is missing. */
int tu_count_suffix(const char *dir, const char *suffix);

/* tu_segments fills *out with the paths of the *.seg files in qdir, sorted by name, and returns their number. Caller owns *out; free with tu_strv_free(). */
size_t tu_segments(const char *qdir, char ***out);

/* tu_strv_free frees n strings and the array. tu_strv_free(NULL, 0) is a no-op. */
void tu_strv_free(char **v, size_t n);

/* tu_file_size returns the size of path, or -1 when it cannot be stat'ed. */
long long tu_file_size(const char *path);

/* tu_file_read reads len bytes at off of path into buf; returns 0 or -1. */
int tu_file_read(const char *path, uint64_t off, void *buf, size_t len);

/* tu_file_write writes len bytes of buf at off of path (no O_TRUNC); returns 0 or -1. */
int tu_file_write(const char *path, uint64_t off, const void *buf, size_t len);

/* tu_file_xor flips the bits of mask in the byte at off of path; returns 0 or -1. */
int tu_file_xor(const char *path, uint64_t off, uint8_t mask);

/* tu_file_zero writes len zero bytes at off of path; returns 0 or -1. */
int tu_file_zero(const char *path, uint64_t off, size_t len);

/* tu_file_truncate cuts (or extends) path to len bytes; returns 0 or -1. */
int tu_file_truncate(const char *path, uint64_t len);

/* One record header found in a segment file (see the on-disk format). */
struct tu_record {
	uint64_t off;	   /* file offset of the record */
	uint8_t type;	   /* 1 data, 2 pop, 3 lease, 4 ack, ... */
	uint8_t flags;	   /* bit 0: another record of the same batch follows */
	uint32_t body_len; /* payload bytes */
	uint64_t seq;	   /* sequence number (a data record's id) */
	uint64_t size;	   /* whole record: header plus padded body */
};

#define TU_SEG_HEADER 4096u
#define TU_REC_HEADER 48u

/*
 * tu_seg_records parses the records of segment file path from offset 4096 until
 * a header without the record magic, filling up to max entries of out; returns
 * how many records it found (which may exceed max). Returns 0 on an unreadable file.
 */
size_t tu_seg_records(const char *path, struct tu_record *out, size_t max);

#endif

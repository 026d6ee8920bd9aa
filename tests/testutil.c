/* testutil.c: helpers shared by the test suites. */
#include "testutil.h"

#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

char *tu_tempdir(void)
{
	const char *base = getenv("TMPDIR");
	char *path = tu_path(base && *base ? base : "/tmp", "mmq-test-XXXXXX");
	if (mkdtemp(path) == NULL) {
		perror("tu_tempdir: mkdtemp");
		abort();
	}
	return path;
}

static int remove_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	remove(path);
	return 0;
}

void tu_rmrf(const char *path)
{
	if (path == NULL)
		return;
	nftw(path, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

char *tu_path(const char *a, const char *b)
{
	size_t n = strlen(a) + strlen(b) + 2;
	char *p = malloc(n);
	if (p == NULL)
		abort();
	snprintf(p, n, "%s/%s", a, b);
	return p;
}

uint64_t tu_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

void tu_sleep_ms(unsigned ms)
{
	struct timespec ts = { ms / 1000u, (long)(ms % 1000u) * 1000000L };
	while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
	}
}

/* Helpers for the storage suites. */
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>

int tu_exists(const char *path)
{
	struct stat st;
	return lstat(path, &st) == 0;
}

static int ends_with(const char *s, const char *suffix)
{
	size_t a = strlen(s), b = strlen(suffix);
	return a >= b && strcmp(s + a - b, suffix) == 0;
}

int tu_count_suffix(const char *dir, const char *suffix)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int n = 0;
	if (d == NULL)
		return 0;
	while ((e = readdir(d)) != NULL) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		if (ends_with(e->d_name, suffix))
			n++;
	}
	closedir(d);
	return n;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

size_t tu_segments(const char *qdir, char ***out)
{
	DIR *d = opendir(qdir);
	struct dirent *e;
	char **v = NULL;
	size_t n = 0;
	*out = NULL;
	if (d == NULL)
		return 0;
	while ((e = readdir(d)) != NULL) {
		if (e->d_name[0] == '.' || !ends_with(e->d_name, ".seg"))
			continue;
		v = realloc(v, (n + 1) * sizeof(*v));
		if (v == NULL)
			abort();
		v[n++] = tu_path(qdir, e->d_name);
	}
	closedir(d);
	if (n > 0)
		qsort(v, n, sizeof(*v), cmp_str);
	*out = v;
	return n;
}

void tu_strv_free(char **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

long long tu_file_size(const char *path)
{
	struct stat st;
	if (stat(path, &st) != 0)
		return -1;
	return (long long)st.st_size;
}

int tu_file_read(const char *path, uint64_t off, void *buf, size_t len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t got;
	if (fd < 0)
		return -1;
	got = pread(fd, buf, len, (off_t)off);
	close(fd);
	return got == (ssize_t)len ? 0 : -1;
}

int tu_file_write(const char *path, uint64_t off, const void *buf, size_t len)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	ssize_t put;
	if (fd < 0)
		return -1;
	put = pwrite(fd, buf, len, (off_t)off);
	if (fsync(fd) != 0)
		put = -1;
	close(fd);
	return put == (ssize_t)len ? 0 : -1;
}

int tu_file_xor(const char *path, uint64_t off, uint8_t mask)
{
	uint8_t b;
	if (tu_file_read(path, off, &b, 1) != 0)
		return -1;
	b ^= mask;
	return tu_file_write(path, off, &b, 1);
}

int tu_file_zero(const char *path, uint64_t off, size_t len)
{
	void *z = calloc(1, len ? len : 1);
	int rc;
	if (z == NULL)
		abort();
	rc = tu_file_write(path, off, z, len);
	free(z);
	return rc;
}

int tu_file_truncate(const char *path, uint64_t len)
{
	return truncate(path, (off_t)len);
}

static uint64_t get_le(const uint8_t *p, int n)
{
	uint64_t v = 0;
	for (int i = n - 1; i >= 0; i--)
		v = (v << 8) | p[i];
	return v;
}

/* The record magic is the u32 "MMQR"; accept either byte order of the spelling. */
static int is_record_magic(const uint8_t *h)
{
	return memcmp(h, "MMQR", 4) == 0 || memcmp(h, "RQMM", 4) == 0;
}

size_t tu_seg_records(const char *path, struct tu_record *out, size_t max)
{
	long long size = tu_file_size(path);
	uint64_t off = TU_SEG_HEADER;
	size_t n = 0;
	uint8_t h[TU_REC_HEADER];
	while (size > 0 && off + TU_REC_HEADER <= (uint64_t)size) {
		struct tu_record r;
		if (tu_file_read(path, off, h, sizeof(h)) != 0 || !is_record_magic(h))
			break;
		r.off = off;
		r.type = h[4];
		r.flags = h[5];
		r.body_len = (uint32_t)get_le(h + 8, 4);
		r.seq = get_le(h + 16, 8);
		r.size = get_le(h + 6, 2) + (((uint64_t)r.body_len + 7u) & ~(uint64_t)7u);
		if (get_le(h + 6, 2) < TU_REC_HEADER)
			break;
		if (n < max)
			out[n] = r;
		n++;
		off += r.size;
	}
	return n;
}

/* fuzzutil.c: byte readers, buffers and temporary directories for the fuzz targets. */
#include "fuzzutil.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

uint8_t fz_u8(struct fz_reader *r)
{
	uint8_t v;

	if (r->n == 0)
		return 0;
	v = r->p[0];
	r->p++;
	r->n--;
	return v;
}

uint16_t fz_u16(struct fz_reader *r)
{
	uint16_t lo = fz_u8(r);
	return (uint16_t)(lo | (uint16_t)(fz_u8(r) << 8));
}

const uint8_t *fz_take(struct fz_reader *r, size_t n, size_t *got)
{
	const uint8_t *p = r->p;

	if (n > r->n)
		n = r->n;
	r->p += n;
	r->n -= n;
	*got = n;
	return p;
}

void fz_buf_reset(struct fz_buf *b)
{
	b->len = 0;
}

/* reserve makes room for len bytes in b. */
static void reserve(struct fz_buf *b, size_t len)
{
	size_t cap = b->cap ? b->cap : 4096;
	uint8_t *p;

	if (len <= b->cap)
		return;
	while (cap < len)
		cap *= 2;
	p = realloc(b->data, cap);
	if (p == NULL)
		abort();
	b->data = p;
	b->cap = cap;
}

void fz_buf_put(struct fz_buf *b, const void *p, size_t n)
{
	reserve(b, b->len + n);
	if (n > 0)
		memcpy(b->data + b->len, p, n);
	b->len += n;
}

void fz_buf_zero(struct fz_buf *b, size_t len)
{
	if (len <= b->len)
		return;
	reserve(b, len);
	memset(b->data + b->len, 0, len - b->len);
	b->len = len;
}

static char made_dir[128];

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	remove(path);
	return 0;
}

void fz_rmrf(const char *path)
{
	nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static void remove_base(void)
{
	if (made_dir[0] != '\0')
		fz_rmrf(made_dir);
}

int fz_base_dir(char *buf, size_t size, const char *name)
{
	const char *root = getenv("MMQ_FUZZ_TMPDIR");
	struct stat st;

	if (root == NULL || root[0] == '\0')
		root = "/dev/shm";
	if (stat(root, &st) != 0 || !S_ISDIR(st.st_mode))
		root = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
	if ((size_t)snprintf(buf, size, "%s/mmq-fuzz-%s-XXXXXX", root, name) >= size ||
	    mkdtemp(buf) == NULL)
		return -1;
	snprintf(made_dir, sizeof(made_dir), "%s", buf);
	atexit(remove_base);
	return 0;
}

int fz_mkdirs(const char *path)
{
	char tmp[256];
	size_t n = strlen(path);

	if (n >= sizeof(tmp))
		return -1;
	memcpy(tmp, path, n + 1);
	for (char *p = tmp + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(tmp, 0755) != 0 && errno != EEXIST)
			return -1;
		*p = '/';
	}
	return mkdir(tmp, 0755) == 0 || errno == EEXIST ? 0 : -1;
}

int fz_write_file(const char *path, const void *p, size_t n)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	const uint8_t *b = p;

	if (fd < 0)
		return -1;
	while (n > 0) {
		ssize_t w = write(fd, b, n);
		if (w <= 0) {
			close(fd);
			return -1;
		}
		b += w;
		n -= (size_t)w;
	}
	return close(fd);
}

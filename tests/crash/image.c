/* image.c: crash images of a queue's files: the last synced state plus any subset of the pages written since. */
#include "image.h"

#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static uint64_t mix(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static struct img_file *find_or_add(struct img_set *set, const char *name)
{
	for (size_t i = 0; i < set->n; i++)
		if (strcmp(set->files[i].name, name) == 0)
			return &set->files[i];
	if (set->n == set->cap) {
		set->cap = set->cap ? set->cap * 2 : 16;
		set->files = realloc(set->files, set->cap * sizeof(*set->files));
		if (set->files == NULL)
			abort();
	}
	struct img_file *f = &set->files[set->n++];
	memset(f, 0, sizeof(*f));
	snprintf(f->name, sizeof(f->name), "%s", name);
	return f;
}

/* read_all reads the whole file name of directory fd dfd into a new buffer. */
static uint8_t *read_all(int dfd, const char *name, size_t *len)
{
	struct stat st;
	uint8_t *buf = NULL;
	int fd = openat(dfd, name, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) != 0)
		goto fail;
	buf = malloc((size_t)st.st_size + 1);
	if (buf == NULL || pread(fd, buf, (size_t)st.st_size, 0) != (ssize_t)st.st_size)
		goto fail;
	*len = (size_t)st.st_size;
	close(fd);
	return buf;
fail:
	free(buf);
	if (fd >= 0)
		close(fd);
	return NULL;
}

bool img_snapshot(struct img_set *set, const char *dir, int which)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	bool ok = d != NULL;
	while (ok && (de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue; /* ., .. and a segment still being made under its temporary name */
		struct img_file *f = find_or_add(set, de->d_name);
		f->data[which] = read_all(dirfd(d), de->d_name, &f->len[which]);
		ok = f->data[which] != NULL;
	}
	if (d != NULL)
		closedir(d);
	return ok;
}

void img_clear(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	if (d == NULL)
		return;
	while ((de = readdir(d)) != NULL)
		if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0)
			unlinkat(dirfd(d), de->d_name, 0);
	closedir(d);
}

/* The per-image choices: how likely a changed page is new, and torn. */
struct choice {
	uint64_t rs;
	unsigned new_percent, torn_percent;
};

/* mix_pages overwrites the pages of out (holding the old state) that differ in neu by neu's, whole or torn. */
static void mix_pages(struct choice *ch, uint8_t *out, const uint8_t *neu, size_t len, struct img_stats *st)
{
	for (size_t off = 0; off < len; off += IMG_PAGE) {
		size_t n = len - off < IMG_PAGE ? len - off : IMG_PAGE;
		if (memcmp(out + off, neu + off, n) == 0)
			continue;
		st->pages_mixed++;
		unsigned r = (unsigned)(mix(&ch->rs) % 100);
		if (r < ch->torn_percent) {
			size_t k = (1 + mix(&ch->rs) % (IMG_PAGE / IMG_SECTOR - 1)) * IMG_SECTOR;
			memcpy(out + off, neu + off, k < n ? k : n);
			st->pages_torn++;
		} else if (r < ch->torn_percent + (100 - ch->torn_percent) * ch->new_percent / 100) {
			memcpy(out + off, neu + off, n);
			st->pages_new++;
		} else {
			st->pages_old++;
		}
	}
}

static bool write_file(const char *dir, const char *name, const uint8_t *data, size_t len)
{
	char path[512];
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return false;
	bool ok = write(fd, data, len) == (ssize_t)len;
	close(fd);
	return ok;
}

/* build_file writes file f of the image (or leaves it out when present is false). */
static bool build_file(struct choice *ch, const struct img_file *f, bool present, const char *dir,
		       uint8_t **buf, size_t *cap, struct img_stats *st)
{
	const uint8_t *neu = f->data[1] != NULL ? f->data[1] : f->data[0];
	size_t len = f->data[1] != NULL ? f->len[1] : f->len[0];
	if (!present) {
		st->files_dropped++;
		return true;
	}
	if (len > *cap) {
		*cap = len;
		*buf = realloc(*buf, *cap);
		if (*buf == NULL)
			abort();
	}
	if (f->data[0] != NULL && f->data[1] != NULL && f->len[0] == len) {
		memcpy(*buf, f->data[0], len);
		mix_pages(ch, *buf, neu, len, st);
	} else if (f->data[0] != NULL && f->data[1] == NULL) {
		memcpy(*buf, f->data[0], len); /* unlinked after A: its last contents, the unlink lost */
		st->files_kept++;
	} else {
		/* Made after A: the header page is synced before the rename, the rest was zeros. */
		memset(*buf, 0, len);
		memcpy(*buf, neu, len < IMG_PAGE ? len : IMG_PAGE);
		mix_pages(ch, *buf, neu, len, st);
	}
	return write_file(dir, f->name, *buf, len);
}

bool img_build(const struct img_set *set, const char *dir, uint64_t seed, struct img_stats *st)
{
	static uint8_t *buf;
	static size_t cap;
	struct choice ch = { .rs = seed };
	unsigned mode = (unsigned)(mix(&ch.rs) % 10);
	ch.new_percent = mode == 0 ? 0 : mode == 1 ? 100 : (unsigned)(mix(&ch.rs) % 101);
	ch.torn_percent = mode <= 1 ? 0 : (unsigned)(mix(&ch.rs) % 30);
	size_t made = 0, keep_made;
	for (size_t i = 0; i < set->n; i++)
		made += set->files[i].data[0] == NULL;
	keep_made = mode == 1 ? made : (size_t)(mix(&ch.rs) % (made + 1));
	bool *present = calloc(set->n + 1, sizeof(*present));
	if (present == NULL)
		abort();
	for (size_t i = 0; i < set->n; i++) {
		const struct img_file *f = &set->files[i];
		present[i] = f->data[1] != NULL || mode == 0 || (mode != 1 && mix(&ch.rs) % 2 == 0);
		/* A front segment is unlinked only once a later one took over: that one was made first. */
		if (!present[i] && keep_made == 0 && made > 0)
			keep_made = 1;
	}
	/* Files made after A are kept in name order, which is the order they were made in. */
	for (size_t i = 0; i < set->n; i++) {
		if (set->files[i].data[0] != NULL)
			continue;
		size_t rank = 0;
		for (size_t j = 0; j < set->n; j++)
			rank += set->files[j].data[0] == NULL && strcmp(set->files[j].name, set->files[i].name) < 0;
		present[i] = rank < keep_made;
	}
	img_clear(dir);
	st->images++;
	bool ok = true;
	for (size_t i = 0; i < set->n && ok; i++)
		ok = build_file(&ch, &set->files[i], present[i], dir, &buf, &cap, st);
	free(present);
	return ok;
}

void img_free(struct img_set *set)
{
	if (set == NULL)
		return;
	for (size_t i = 0; i < set->n; i++) {
		free(set->files[i].data[0]);
		free(set->files[i].data[1]);
	}
	free(set->files);
	memset(set, 0, sizeof(*set));
}

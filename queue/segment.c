/* segment.c: creating, mapping, syncing and removing segment files. */
#include "segment.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "record.h"

#define DROP_CHUNK (1u << 20)
#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23 /* Linux 5.14 */
#endif

void seg_file_name(char *buf, size_t size, uint64_t number)
{
	snprintf(buf, size, "%020" PRIu64 ".seg", number);
}

void seg_aside_name(char *buf, size_t size, uint64_t number)
{
	snprintf(buf, size, "%020" PRIu64 ".seg.damaged", number);
}

enum queue_err seg_move_aside(int dirfd, uint64_t number)
{
	char file[SEG_NAME_BYTES], aside[SEG_NAME_BYTES];
	seg_file_name(file, sizeof(file), number);
	seg_aside_name(aside, sizeof(aside), number);
	if (renameat(dirfd, file, dirfd, aside) != 0)
		return QUEUE_IO;
	return fsync(dirfd) == 0 ? QUEUE_OK : QUEUE_SYNCFAIL;
}

bool seg_parse_name(const char *name, uint64_t *number)
{
	uint64_t n = 0;
	for (int i = 0; i < 20; i++) {
		if (name[i] < '0' || name[i] > '9')
			return false;
		n = n * 10u + (uint64_t)(name[i] - '0');
	}
	if (strcmp(name + 20, ".seg") != 0)
		return false;
	*number = n;
	return true;
}

static enum queue_err seg_map(int fd, uint64_t size, bool writable, struct segment **out)
{
	struct segment *s = calloc(1, sizeof(*s));
	if (s == NULL)
		return QUEUE_NOMEM;
	int prot = writable ? PROT_READ | PROT_WRITE : PROT_READ;
	void *map = mmap(NULL, (size_t)size, prot, MAP_SHARED, fd, 0);
	if (map == MAP_FAILED) {
		free(s);
		return errno == ENOMEM ? QUEUE_NOMEM : QUEUE_IO;
	}
	s->map = map;
	s->size = s->map_size = size;
	atomic_init(&s->refs, 1);
	*out = s;
	return QUEUE_OK;
}

enum queue_err seg_create(int dirfd, const struct seg_header *h, queue_alloc_fn alloc,
			  struct segment **out)
{
	char name[40], tmp[48];
	seg_file_name(name, sizeof(name), h->number);
	snprintf(tmp, sizeof(tmp), ".%s.tmp", name);
	enum queue_err err = QUEUE_IO;
	struct segment *s = NULL;
	int fd = openat(dirfd, tmp, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return errno == ENOSPC ? QUEUE_DISKFULL : QUEUE_IO;
	int rc = alloc(fd, 0, (off_t)h->size);
	if (rc != 0) {
		err = rc == ENOSPC || rc == EDQUOT ? QUEUE_DISKFULL : QUEUE_IO;
		goto fail;
	}
	err = seg_map(fd, h->size, true, &s);
	if (err != QUEUE_OK)
		goto fail;
	seg_keep_small_folios(s);
	seg_header_write(s->map, h);
	s->number = h->number;
	s->first_seq = h->first_seq;
	s->epoch = h->epoch;
	s->write_off = SEG_HEADER_BYTES;
	s->synced_off = SEG_HEADER_BYTES;
	s->dropped_off = 0;
	err = QUEUE_IO;
	if (msync(s->map, SEG_HEADER_BYTES, MS_SYNC) != 0 || fsync(fd) != 0)
		goto fail;
	if (renameat(dirfd, tmp, dirfd, name) != 0 || fsync(dirfd) != 0)
		goto fail;
	close(fd); /* the mapping keeps the file; msync needs no descriptor */
	*out = s;
	return QUEUE_OK;
fail:
	if (s != NULL) {
		munmap(s->map, (size_t)s->size);
		free(s);
	}
	close(fd);
	unlinkat(dirfd, tmp, 0);
	return err;
}

enum queue_err seg_open(int dirfd, uint64_t number, queue_alloc_fn alloc, struct segment **out)
{
	char name[40];
	uint8_t page[SEG_HEADER_BYTES];
	struct stat st;
	struct seg_header h;
	struct segment *s = NULL;
	seg_file_name(name, sizeof(name), number);
	int fd = openat(dirfd, name, (alloc != NULL ? O_RDWR : O_RDONLY) | O_CLOEXEC);
	if (fd < 0)
		return QUEUE_IO;
	enum queue_err err = QUEUE_IO;
	if (fstat(fd, &st) != 0)
		goto fail;
	err = QUEUE_CORRUPT;
	if (pread(fd, page, sizeof(page), 0) != (ssize_t)sizeof(page) || !seg_header_read(page, &h) ||
	    h.number != number || h.size < SEG_HEADER_BYTES || h.size % SEG_PAGE_BYTES != 0)
		goto fail;
	/*
	 * A file cut short from outside gets its reserved size back (the lost part
	 * reads as zeros). When that fails, or the file grew, read only what both
	 * agree on and append no more to it.
	 */
	bool sealed = (uint64_t)st.st_size != h.size;
	if ((uint64_t)st.st_size < h.size && alloc != NULL && alloc(fd, 0, (off_t)h.size) == 0)
		sealed = false;
	uint64_t size = sealed && (uint64_t)st.st_size < h.size ? (uint64_t)st.st_size : h.size;
	err = seg_map(fd, size, alloc != NULL, &s);
	if (err != QUEUE_OK)
		goto fail;
	s->sealed = sealed;
	s->size = size & ~(uint64_t)7u;
	s->number = number;
	s->first_seq = h.first_seq;
	s->epoch = h.epoch;
	s->write_off = SEG_HEADER_BYTES;
	s->synced_off = SEG_HEADER_BYTES;
	close(fd);
	*out = s;
	return QUEUE_OK;
fail:
	close(fd);
	return err;
}

void seg_hold(struct segment *s)
{
	atomic_fetch_add_explicit(&s->refs, 1, memory_order_relaxed);
}

void seg_release(struct segment *s)
{
	if (s == NULL)
		return;
	if (atomic_fetch_sub_explicit(&s->refs, 1, memory_order_acq_rel) != 1)
		return;
	munmap(s->map, (size_t)s->map_size);
	free(s);
}

enum queue_err seg_sync(struct segment *s, uint64_t from, uint64_t to)
{
	uint64_t start = from & ~(uint64_t)(SEG_PAGE_BYTES - 1);
	if (to <= start)
		return QUEUE_OK;
	if (msync(s->map + start, (size_t)(to - start), MS_SYNC) != 0)
		return QUEUE_SYNCFAIL;
	return QUEUE_OK;
}

/* The largest page-cache folio the kernel makes (x86-64's PMD size). */
#define SEG_FOLIO_MAX (2u << 20)

void seg_keep_small_folios(struct segment *s)
{
	/*
	 * Readahead on page faults ramps up to 2 MiB folios, and msync writes back
	 * whole dirty folios: then each durable append costs up to 2 MiB of device
	 * writes (bench/msync_floor's "readahead" layout shows it). Without readahead a
	 * fault makes one 4 KiB folio. Failure only costs speed.
	 */
	madvise(s->map, (size_t)s->size, MADV_RANDOM);
}

void seg_ready_for_appends(int dirfd, struct segment *s)
{
	char name[SEG_NAME_BYTES];
	uint64_t from = s->write_off & ~(uint64_t)(SEG_FOLIO_MAX - 1);
	seg_keep_small_folios(s);
	seg_file_name(name, sizeof(name), s->number);
	int fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return;
	/* Drops the clean, unmapped folios recovery read around the tail; they fault back in small. */
	posix_fadvise(fd, (off_t)from, (off_t)(s->size - from), POSIX_FADV_DONTNEED);
	close(fd);
}

bool seg_prefault_due(const struct segment *s, uint64_t off)
{
	uint64_t ahead = atomic_load_explicit(&s->prefaulted_off, memory_order_relaxed);
	return ahead < s->size && off + DROP_CHUNK / 2 >= ahead;
}

void seg_prefault(struct segment *s)
{
	uint64_t from = atomic_load(&s->prefaulted_off);
	if (from >= s->size)
		return;
	uint64_t len = s->size - from < DROP_CHUNK ? s->size - from : DROP_CHUNK;
	if (!atomic_compare_exchange_strong(&s->prefaulted_off, &from, from + len))
		return; /* another thread took this chunk */
	/* One call maps the chunk instead of a page fault per 4 KiB; failure only costs speed. */
	madvise(s->map + from, (size_t)len, MADV_POPULATE_WRITE);
}

void seg_drop_behind(struct segment *s, uint64_t off)
{
	uint64_t end = off & ~(uint64_t)(DROP_CHUNK - 1);
	if (end <= s->dropped_off)
		return;
	/* MADV_DONTNEED on a shared file mapping only unmaps: dirty pages stay dirty in the page cache. */
	madvise(s->map + s->dropped_off, (size_t)(end - s->dropped_off), MADV_DONTNEED);
	s->dropped_off = end;
}

enum queue_err seg_unlink(int dirfd, uint64_t number)
{
	char name[40];
	seg_file_name(name, sizeof(name), number);
	if (unlinkat(dirfd, name, 0) != 0 && errno != ENOENT)
		return QUEUE_IO;
	return fsync(dirfd) == 0 ? QUEUE_OK : QUEUE_IO;
}

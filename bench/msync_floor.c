/* msync_floor.c: the floor of a durable request: one msync(MS_SYNC) of a freshly dirtied page, and what it costs the disk. */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <time.h>
#include <unistd.h>

/*
 * Usage: msync_floor DIR [SYNCS] [LAYOUT]
 *
 * Makes a 64 MiB file in DIR the way mmqd makes a segment (LAYOUT
 * "fallocate", the default: posix_fallocate, so its extents are unwritten
 * until written, and the mapping advised MADV_RANDOM), or with its blocks
 * written first ("zero4k": zeros in 4 KiB writes, then fdatasync), or as
 * mmqd made them before it advised MADV_RANDOM ("readahead": fallocate
 * only), maps it, faults in its first 32 MiB in order as a writer that got
 * that far would, and then SYNCS times (default 2000) appends 512 bytes
 * there and msyncs the page(s) they touched, as one durable enqueue does on
 * an idle server. With readahead, page faults ramp up to 2 MiB page-cache
 * folios and msync writes back whole folios: see kb_per_sync. Prints one
 * line of key=value pairs: the median and mean msync latency in
 * microseconds, and the device's writes, flushes and
 * kilobytes written per msync (from /sys/dev/block/M:m/stat of the file
 * system's device, so other writers on the machine count too).
 */

#define FILE_BYTES (64u << 20)
#define START (32u << 20)
#define PAGE 4096u
#define APPEND 512u

/* Device counters of /sys/.../stat: writes completed, sectors written, flushes completed. */
struct devstat {
	unsigned long long writes, sectors, flushes;
	int ok;
};

static void dev_read(dev_t dev, struct devstat *out)
{
	char path[128];
	unsigned long long f[17] = { 0 };
	FILE *fp;
	int n;

	memset(out, 0, sizeof(*out));
	snprintf(path, sizeof(path), "/sys/dev/block/%u:%u/stat", major(dev), minor(dev));
	fp = fopen(path, "r");
	if (fp == NULL)
		return;
	n = fscanf(fp, "%llu %llu %llu %llu %llu %llu %llu %llu %llu %llu %llu %llu %llu %llu %llu %llu %llu",
		   &f[0], &f[1], &f[2], &f[3], &f[4], &f[5], &f[6], &f[7], &f[8], &f[9], &f[10],
		   &f[11], &f[12], &f[13], &f[14], &f[15], &f[16]);
	fclose(fp);
	out->writes = f[4];
	out->sectors = f[6];
	out->flushes = n >= 16 ? f[15] : 0;
	out->ok = n >= 11;
}

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

/* prepare sizes fd for LAYOUT; 0 or an errno value. */
static int prepare(int fd, const char *layout)
{
	if (strcmp(layout, "zero4k") == 0) {
		static char zero[PAGE];
		for (off_t off = 0; off < (off_t)FILE_BYTES; off += PAGE) {
			if (pwrite(fd, zero, PAGE, off) != (ssize_t)PAGE)
				return errno;
		}
		return fdatasync(fd) == 0 ? 0 : errno;
	}
	return posix_fallocate(fd, 0, FILE_BYTES);
}

int main(int argc, char **argv)
{
	const char *dir = argc > 1 ? argv[1] : ".";
	size_t syncs = argc > 2 ? (size_t)strtoul(argv[2], NULL, 10) : 2000;
	const char *layout = argc > 3 ? argv[3] : "fallocate";
	char path[4096];
	struct devstat a, b;
	struct stat st;
	uint64_t *lat, total = 0;
	unsigned char *map;
	int fd, err;

	if (syncs == 0 || syncs > (FILE_BYTES - START) / APPEND) {
		fprintf(stderr, "msync_floor: SYNCS must be 1..%u\n", (FILE_BYTES - START) / APPEND);
		return 2;
	}
	snprintf(path, sizeof(path), "%s/msync-floor-%ld", dir, (long)getpid());
	fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0) {
		perror(path);
		return 1;
	}
	unlink(path);
	err = prepare(fd, layout);
	if (err != 0 || fstat(fd, &st) != 0) {
		fprintf(stderr, "msync_floor: preparing %s: %s\n", path, strerror(err));
		return 1;
	}
	map = mmap(NULL, FILE_BYTES, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	lat = calloc(syncs, sizeof(*lat));
	if (map == MAP_FAILED || lat == NULL) {
		perror("msync_floor: mmap");
		return 1;
	}
	if (strcmp(layout, "readahead") != 0)
		madvise(map, FILE_BYTES, MADV_RANDOM);
	for (uint64_t off = 0; off < START; off += PAGE)
		map[off] = 0; /* the appends before ours */
	fsync(fd);
	dev_read(st.st_dev, &a);
	for (size_t i = 0; i < syncs; i++) {
		uint64_t off = START + (uint64_t)i * APPEND, start = off & ~(uint64_t)(PAGE - 1);
		memset(map + off, 'x', APPEND);
		uint64_t t0 = now_ns();
		if (msync(map + start, (size_t)(off + APPEND - start), MS_SYNC) != 0) {
			perror("msync_floor: msync");
			return 1;
		}
		lat[i] = now_ns() - t0;
		total += lat[i];
	}
	dev_read(st.st_dev, &b);
	qsort(lat, syncs, sizeof(*lat), cmp_u64);
	printf("layout=%s syncs=%zu p50_us=%.1f mean_us=%.1f p99_us=%.1f", layout, syncs,
	       lat[syncs / 2] / 1e3, total / 1e3 / (double)syncs, lat[syncs * 99 / 100] / 1e3);
	if (a.ok && b.ok)
		printf(" writes_per_sync=%.2f flushes_per_sync=%.2f kb_per_sync=%.1f",
		       (double)(b.writes - a.writes) / (double)syncs,
		       (double)(b.flushes - a.flushes) / (double)syncs,
		       (double)(b.sectors - a.sectors) * 512.0 / 1024.0 / (double)syncs);
	printf("\n");
	munmap(map, FILE_BYTES);
	close(fd);
	free(lat);
	return 0;
}

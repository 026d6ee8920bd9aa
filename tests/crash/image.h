/* image.h: crash images of a queue's files: the last synced state plus any subset of the pages written since. */
#ifndef MMQ_CRASH_IMAGE_H
#define MMQ_CRASH_IMAGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define IMG_PAGE 4096u
#define IMG_SECTOR 512u

/* One file of a queue directory as it was in state A (synced) and in state B (after unsynced writes). */
struct img_file {
	char name[256];
	uint8_t *data[2]; /* [0] = A, [1] = B; NULL when the file did not exist then */
	size_t len[2];
};

/* Every file either state had, by name. */
struct img_set {
	struct img_file *files;
	size_t n, cap;
};

/* What building images did, for the report. */
struct img_stats {
	uint64_t images, pages_mixed, pages_old, pages_new, pages_torn, files_dropped, files_kept;
};

/*
 * img_snapshot reads every regular file of directory dir (a queue's
 * directory) as state which (0 = A, 1 = B) into set. Returns false when dir
 * cannot be read. Caller frees set with img_free().
 */
bool img_snapshot(struct img_set *set, const char *dir, int which);

/*
 * img_build writes one crash image of set into directory dir (emptied
 * first), chosen by seed, and adds what it chose to *st:
 * - a file in A and B: every 4096-byte page that differs is A's, B's, or torn
 *   (its first k 512-byte sectors from B, the rest from A);
 * - a file made after A (a segment roll): its header page was synced before it
 *   was renamed into place, the rest of it reads as zeros until written, so its
 *   A state is B's header and zeros; files made after A exist as a prefix of
 *   their creation (name) order, the later ones may be missing;
 * - a file gone in B (a front segment unlinked after A): present with its A
 *   contents or missing; missing only with the first file made after A
 *   present, since the engine unlinks a front segment only after rolling
 *   past it.
 * Returns false when a file cannot be written.
 */
bool img_build(const struct img_set *set, const char *dir, uint64_t seed, struct img_stats *st);

/* img_clear removes every entry of directory dir (not dir itself, not recursively). */
void img_clear(const char *dir);

/* img_free frees set's copies and empties it. img_free(NULL) is a no-op. */
void img_free(struct img_set *set);

#endif

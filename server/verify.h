/* verify.h: mmqd verify, the offline check (and, with --repair, repair) of a data directory. */
#ifndef MMQ_SRV_VERIFY_H
#define MMQ_SRV_VERIFY_H

/*
 * srv_verify_main runs "mmqd verify [--data-dir DIR] [--repair]" (argv[0] is
 * "verify"). It takes the data directory's lock, so it refuses to run while an
 * mmqd uses the directory. Without --repair it changes nothing on disk and
 * prints, per queue, its records, messages, segments, live and dead bytes and
 * every problem with its file and offset. With --repair it opens the
 * directory for writing, which cuts torn tails and moves segments with a
 * damaged header aside to <segment>.damaged, prints what it did, then checks
 * the result again read-only. The report goes to stdout, errors to stderr.
 * Returns the exit status: 0 when the directory is (now) clean, 1 when
 * problems were found (remain, with --repair), 2 on a usage error or when the
 * directory cannot be opened.
 */
int srv_verify_main(int argc, char **argv);

#endif

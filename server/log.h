/* log.h: mmqd's log: one line per event on stderr, filtered by level. */
#ifndef MMQ_SRV_LOG_H
#define MMQ_SRV_LOG_H

#include <stdbool.h>

/* Severity, most severe first; a line is written when its level is at or above the set one. */
enum srv_log_level { SRV_LOG_ERROR = 0, SRV_LOG_WARN, SRV_LOG_INFO, SRV_LOG_DEBUG };

/* srv_log_level_parse turns "error", "warn", "info" or "debug" into *out; false if unknown. */
bool srv_log_level_parse(const char *text, enum srv_log_level *out);

/* srv_log_set_level sets the least severe level written. This function can't fail. */
void srv_log_set_level(enum srv_log_level level);

/*
 * srv_log writes "mmqd: " and the formatted line (errors and warnings marked
 * as such) to stderr in one write. Thread-safe. This function can't fail.
 */
void srv_log(enum srv_log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif

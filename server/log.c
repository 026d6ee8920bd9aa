/* log.c: writes mmqd's log lines to stderr. */
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include "log.h"

static const char *const level_names[] = { "error", "warn", "info", "debug" };
static const char *const level_marks[] = { "error: ", "warning: ", "", "" };

static atomic_int current = SRV_LOG_INFO;

bool srv_log_level_parse(const char *text, enum srv_log_level *out)
{
	for (size_t i = 0; i < sizeof(level_names) / sizeof(level_names[0]); i++) {
		if (strcmp(text, level_names[i]) == 0) {
			*out = (enum srv_log_level)i;
			return true;
		}
	}
	return false;
}

void srv_log_set_level(enum srv_log_level level)
{
	atomic_store(&current, (int)level);
}

void srv_log(enum srv_log_level level, const char *fmt, ...)
{
	char line[1024];
	int n;
	va_list ap;

	if ((int)level > atomic_load(&current))
		return;
	n = snprintf(line, sizeof(line), "mmqd: %s", level_marks[level]);
	va_start(ap, fmt);
	vsnprintf(line + n, sizeof(line) - (size_t)n - 1, fmt, ap);
	va_end(ap);
	/* One fputs per line: stdio locks the stream, so threads never interleave within a line. */
	strcat(line, "\n");
	fputs(line, stderr);
}

/* names.c: the engine's fixed words: error texts, damage texts, sync-mode names, the queue-name rule, default settings. */
#include <string.h>

#include "queue.h"

static const char *const err_text[QUEUE_ERR_COUNT] = {
	[QUEUE_OK] = "success",
	[QUEUE_NOTFOUND] = "the queue does not exist",
	[QUEUE_NOMSG] = "the message does not exist",
	[QUEUE_STALE] = "the lease token is not the message's current lease",
	[QUEUE_FULL] = "the queue is full",
	[QUEUE_DISKFULL] = "no space is left on the device",
	[QUEUE_TOOBIG] = "the message is larger than the queue allows",
	[QUEUE_BADNAME] = "queue names are 1 to 64 characters from A-Z, a-z, 0-9, _ and -",
	[QUEUE_BADARG] = "an argument is out of range",
	[QUEUE_LOCKED] = "the data directory is in use by another process",
	[QUEUE_CORRUPT] = "a data file is corrupt",
	[QUEUE_IO] = "an I/O operation failed",
	[QUEUE_SYNCFAIL] = "a sync to stable storage failed; the queue takes no more writes",
	[QUEUE_NOMEM] = "out of memory",
	[QUEUE_TOOMANY] = "the store holds as many queues as it may",
};

const char *queue_strerror(enum queue_err err)
{
	if ((unsigned)err >= QUEUE_ERR_COUNT)
		return "unknown error";
	return err_text[err];
}

static const char *const damage_text[QUEUE_DAMAGE_COUNT] = {
	[QUEUE_DAMAGE_TORN_TAIL] = "torn tail after the last valid record",
	[QUEUE_DAMAGE_SEGMENT_HEADER] = "damaged segment header",
	[QUEUE_DAMAGE_RECORD] = "damaged record",
	[QUEUE_DAMAGE_BATCH_INCOMPLETE] = "incomplete batch dropped",
	[QUEUE_DAMAGE_BATCH_ORPHANS] = "rest of a batch whose start is lost skipped",
	[QUEUE_DAMAGE_OUT_OF_ORDER] = "segment out of order",
};

const char *queue_damage_text(enum queue_damage kind)
{
	return (unsigned)kind < QUEUE_DAMAGE_COUNT ? damage_text[kind] : "unknown damage";
}

static const char *const sync_names[] = { "always", "interval", "none" };

bool queue_sync_parse(const char *text, enum queue_sync *out)
{
	for (int i = 0; i < 3; i++)
		if (strcmp(text, sync_names[i]) == 0) {
			*out = (enum queue_sync)i;
			return true;
		}
	return false;
}

const char *queue_sync_name(enum queue_sync mode)
{
	return (unsigned)mode < 3 ? sync_names[mode] : "unknown";
}

bool queue_name_valid(const char *name)
{
	size_t n = 0;
	if (name == NULL)
		return false;
	for (; name[n] != '\0'; n++) {
		char c = name[n];
		bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
			  c == '_' || c == '-';
		if (!ok || n >= QUEUE_NAME_MAX)
			return false;
	}
	return n > 0;
}

void queue_settings_default(struct queue_settings *s)
{
	*s = (struct queue_settings){ .max_message_bytes = 1048576, .lease_seconds = 30 };
}

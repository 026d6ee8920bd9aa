/* metrics_store.c: the /metrics families of the engine: per queue, syncs, recovery and disk space. */
#include <stddef.h>
#include <string.h>

#include "internal.h"
#include "prom.h"

/* Where a per-queue value comes from. */
enum series_source {
	FROM_FIELD, /* the uint64_t at offset in struct queue_stats */
	FROM_AGE    /* whole seconds since oldest_enqueued_ms; 0 when empty */
};

/* The per-queue families, each labelled queue="name". */
static const struct queue_series {
	const char *name;
	const char *type;
	const char *help;
	enum series_source source;
	size_t offset;
} queue_series[] = {
	{ "mmq_queue_depth", "gauge", "Messages that can be delivered now.", FROM_FIELD,
	  offsetof(struct queue_stats, depth) },
	{ "mmq_queue_in_flight", "gauge", "Leased messages.", FROM_FIELD,
	  offsetof(struct queue_stats, in_flight) },
	{ "mmq_queue_delayed", "gauge", "Messages waiting out a delay.", FROM_FIELD,
	  offsetof(struct queue_stats, delayed) },
	{ "mmq_queue_bytes", "gauge", "Payload bytes of the queue's messages.", FROM_FIELD,
	  offsetof(struct queue_stats, bytes) },
	{ "mmq_queue_disk_bytes", "gauge", "Bytes the queue's files take on disk.", FROM_FIELD,
	  offsetof(struct queue_stats, disk_bytes) },
	{ "mmq_queue_live_bytes", "gauge", "Record bytes in the segments still needed.",
	  FROM_FIELD, offsetof(struct queue_stats, live_bytes) },
	{ "mmq_queue_dead_bytes", "gauge",
	  "Record bytes in the segments no longer needed, freed when their segment is.", FROM_FIELD,
	  offsetof(struct queue_stats, dead_bytes) },
	{ "mmq_queue_segments", "gauge", "Segment files of the queue.", FROM_FIELD,
	  offsetof(struct queue_stats, segments) },
	{ "mmq_queue_oldest_age_seconds", "gauge",
	  "Whole seconds since the oldest message was enqueued (0 when empty).", FROM_AGE, 0 },
	{ "mmq_queue_enqueued_total", "counter", "Messages enqueued.", FROM_FIELD,
	  offsetof(struct queue_stats, enqueued_total) },
	{ "mmq_queue_dequeued_total", "counter", "Messages removed by pop or ack.", FROM_FIELD,
	  offsetof(struct queue_stats, dequeued_total) },
	{ "mmq_queue_popped_total", "counter", "Messages removed by pop.", FROM_FIELD,
	  offsetof(struct queue_stats, popped_total) },
	{ "mmq_queue_leased_total", "counter", "Leases given.", FROM_FIELD,
	  offsetof(struct queue_stats, leased_total) },
	{ "mmq_queue_acked_total", "counter", "Leased messages acknowledged.", FROM_FIELD,
	  offsetof(struct queue_stats, acked_total) },
	{ "mmq_queue_released_total", "counter", "Leased messages released.", FROM_FIELD,
	  offsetof(struct queue_stats, released_total) },
	{ "mmq_queue_redelivered_total", "counter", "Leases of messages delivered before.",
	  FROM_FIELD, offsetof(struct queue_stats, redelivered_total) },
	{ "mmq_queue_dead_lettered_total", "counter", "Messages moved to the dead-letter queue.",
	  FROM_FIELD, offsetof(struct queue_stats, dead_lettered_total) },
	{ "mmq_queue_corrupt_total", "counter", "Records found corrupt when served.", FROM_FIELD,
	  offsetof(struct queue_stats, corrupt_total) },
};

/* queue_value reads series s of queue q. */
static uint64_t queue_value(const struct queue_series *s, const struct queue_stats *q,
			    uint64_t now_ms)
{
	uint64_t v;

	if (s->source == FROM_AGE)
		return q->oldest_enqueued_ms != 0 && now_ms > q->oldest_enqueued_ms
			       ? (now_ms - q->oldest_enqueued_ms) / 1000u
			       : 0;
	memcpy(&v, (const char *)q + s->offset, sizeof(v));
	return v;
}

void api_metrics_queues(struct jbuf *b, const struct queue_stats *all, size_t count,
			uint64_t now_ms)
{
	for (size_t s = 0; s < sizeof(queue_series) / sizeof(queue_series[0]); s++) {
		const struct queue_series *series = &queue_series[s];
		prom_family(b, series->name, series->type, series->help);
		for (size_t i = 0; i < count; i++) {
			struct prom_label label = { "queue", all[i].name };
			prom_u64(b, series->name, &label, 1, queue_value(series, &all[i], now_ms));
		}
	}
}

/* How a store-wide value is written. */
enum store_unit {
	UNIT_COUNT,  /* as it is */
	UNIT_SECONDS /* a count of nanoseconds, written in seconds */
};

/* The store-wide families that are one plain value of struct queue_store_stats. */
static const struct store_series {
	const char *name;
	const char *type;
	const char *help;
	enum store_unit unit;
	size_t offset;
} store_series[] = {
	{ "mmq_queues", "gauge", "Queues in the store.", UNIT_COUNT,
	  offsetof(struct queue_store_stats, queues) },
	{ "mmq_syncs_total", "counter", "Sync passes completed (msync of a queue's changes).",
	  UNIT_COUNT, offsetof(struct queue_store_stats, syncs) },
	{ "mmq_synced_records_total", "counter",
	  "Records made durable by sync passes; divided by mmq_syncs_total, the records per sync.",
	  UNIT_COUNT, offsetof(struct queue_store_stats, synced_records) },
	{ "mmq_sync_waiters_total", "counter",
	  "Requests that waited for a sync pass; divided by mmq_syncs_total, the group-commit size.",
	  UNIT_COUNT, offsetof(struct queue_store_stats, synced_waiters) },
	{ "mmq_sync_failures_total", "counter",
	  "Sync passes that failed; the queue concerned then refuses writes until a restart.",
	  UNIT_COUNT, offsetof(struct queue_store_stats, sync_failures) },
	{ "mmq_recovery_duration_seconds", "gauge", "Time the recovery at the last start took.",
	  UNIT_SECONDS, offsetof(struct queue_store_stats, recovery.elapsed_ns) },
	{ "mmq_recovery_records", "gauge", "Records replayed by the recovery at the last start.",
	  UNIT_COUNT, offsetof(struct queue_store_stats, recovery.records) },
	{ "mmq_recovery_corrupt_records", "gauge",
	  "Damaged records the recovery at the last start found and kept out.", UNIT_COUNT,
	  offsetof(struct queue_store_stats, recovery.corrupt_records) },
	{ "mmq_recovery_torn_bytes", "gauge",
	  "Bytes of torn tail the recovery at the last start cut off.", UNIT_COUNT,
	  offsetof(struct queue_store_stats, recovery.torn_bytes) },
	{ "mmq_disk_reserve_bytes", "gauge",
	  "Free space mmqd keeps on the data directory's file system (--min-free-bytes).",
	  UNIT_COUNT, offsetof(struct queue_store_stats, min_free_bytes) },
};

/* sync_durations writes the engine's sync duration histogram. */
static void sync_durations(struct jbuf *b, const struct queue_store_stats *st)
{
	uint64_t bound_us[QUEUE_SYNC_BUCKETS];
	struct prom_histogram h = { "mmq_sync_duration_seconds", bound_us, st->sync_buckets,
				    QUEUE_SYNC_BUCKETS, st->sync_ns_total };

	for (size_t i = 0; i < QUEUE_SYNC_BUCKETS; i++)
		bound_us[i] = queue_sync_bucket_us(i);
	prom_family(b, h.name, "histogram", "Time one sync pass (msync of a queue's changes) took.");
	prom_histogram(b, &h, NULL, 0);
}

void api_metrics_store(struct jbuf *b, const struct queue_store_stats *st)
{
	uint64_t headroom = st->free_bytes > st->min_free_bytes
				    ? st->free_bytes - st->min_free_bytes
				    : 0;

	for (size_t s = 0; s < sizeof(store_series) / sizeof(store_series[0]); s++) {
		const struct store_series *series = &store_series[s];
		uint64_t v;
		memcpy(&v, (const char *)st + series->offset, sizeof(v));
		prom_family(b, series->name, series->type, series->help);
		if (series->unit == UNIT_SECONDS)
			prom_seconds(b, series->name, NULL, 0, v);
		else
			prom_u64(b, series->name, NULL, 0, v);
	}
	prom_family(b, "mmq_disk_free_above_reserve_bytes", "gauge",
		    "Free bytes on the data directory's file system above the reserve: what writes "
		    "may still use before they are refused with 507 disk_full.");
	prom_u64(b, "mmq_disk_free_above_reserve_bytes", NULL, 0, headroom);
	sync_durations(b, st);
}

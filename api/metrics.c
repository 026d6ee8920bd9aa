/* metrics.c: request counters and the /metrics page in Prometheus text format 0.0.4. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

/* The statuses counted one by one; the last slot counts every other status. */
static const unsigned statuses[API_STATUS_SLOTS - 1] = { 200, 201, 204, 400, 401, 404,
							 405, 409, 413, 500, 503, 507 };

bool api_metrics_init(struct api_metrics *m, size_t routes)
{
	m->routes = routes;
	m->counts = calloc((routes + 1) * API_STATUS_SLOTS, sizeof(*m->counts));
	return m->counts != NULL;
}

void api_metrics_free(struct api_metrics *m)
{
	free(m->counts);
	m->counts = NULL;
}

static size_t status_slot(unsigned status)
{
	for (size_t i = 0; i < API_STATUS_SLOTS - 1; i++)
		if (statuses[i] == status)
			return i;
	return API_STATUS_SLOTS - 1;
}

void api_metrics_count(struct api_metrics *m, const struct api_route *route, unsigned status)
{
	size_t row = route != NULL ? api_route_index(route) : m->routes;

	atomic_fetch_add_explicit(&m->counts[row * API_STATUS_SLOTS + status_slot(status)], 1,
				  memory_order_relaxed);
}

/* The per-queue series: name, type, help, and how to read the value from the stats. */
static const struct queue_series {
	const char *name;
	const char *type;
	const char *help;
	size_t offset;
} queue_series[] = {
	{ "mmq_queue_depth", "gauge", "Messages that can be delivered now.",
	  offsetof(struct queue_stats, depth) },
	{ "mmq_queue_in_flight", "gauge", "Leased messages.", offsetof(struct queue_stats, in_flight) },
	{ "mmq_queue_delayed", "gauge", "Messages waiting out a delay.",
	  offsetof(struct queue_stats, delayed) },
	{ "mmq_queue_bytes", "gauge", "Payload bytes held.", offsetof(struct queue_stats, bytes) },
	{ "mmq_queue_disk_bytes", "gauge", "Bytes the queue's files take.",
	  offsetof(struct queue_stats, disk_bytes) },
	{ "mmq_queue_enqueued_total", "counter", "Messages enqueued.",
	  offsetof(struct queue_stats, enqueued_total) },
	{ "mmq_queue_dequeued_total", "counter", "Messages removed by pop or ack.",
	  offsetof(struct queue_stats, dequeued_total) },
	{ "mmq_queue_leased_total", "counter", "Leases given.",
	  offsetof(struct queue_stats, leased_total) },
	{ "mmq_queue_acked_total", "counter", "Leased messages acknowledged.",
	  offsetof(struct queue_stats, acked_total) },
	{ "mmq_queue_released_total", "counter", "Leased messages released.",
	  offsetof(struct queue_stats, released_total) },
	{ "mmq_queue_redelivered_total", "counter", "Leases of messages delivered before.",
	  offsetof(struct queue_stats, redelivered_total) },
	{ "mmq_queue_dead_lettered_total", "counter", "Messages moved to the dead-letter queue.",
	  offsetof(struct queue_stats, dead_lettered_total) },
	{ "mmq_queue_corrupt_total", "counter", "Records found corrupt when served.",
	  offsetof(struct queue_stats, corrupt_total) },
};

#define QUEUE_SERIES (sizeof(queue_series) / sizeof(queue_series[0]))

static void family(struct jbuf *b, const char *name, const char *type, const char *help)
{
	jb_lit(b, "# HELP ");
	jb_lit(b, name);
	jb_lit(b, " ");
	jb_lit(b, help);
	jb_lit(b, "\n# TYPE ");
	jb_lit(b, name);
	jb_lit(b, " ");
	jb_lit(b, type);
	jb_lit(b, "\n");
}

/* queue_metrics writes every per-queue series; queue names need no escaping in a label. */
static void queue_metrics(struct jbuf *b, const struct queue_stats *all, size_t count, uint64_t now)
{
	for (size_t s = 0; s < QUEUE_SERIES; s++) {
		family(b, queue_series[s].name, queue_series[s].type, queue_series[s].help);
		for (size_t i = 0; i < count; i++) {
			uint64_t v;
			memcpy(&v, (const char *)&all[i] + queue_series[s].offset, sizeof(v));
			jb_lit(b, queue_series[s].name);
			jb_lit(b, "{queue=\"");
			jb_lit(b, all[i].name);
			jb_lit(b, "\"} ");
			jb_u64(b, v);
			jb_lit(b, "\n");
		}
	}
	family(b, "mmq_queue_oldest_age_seconds", "gauge", "Age of the oldest message.");
	for (size_t i = 0; i < count; i++) {
		uint64_t o = all[i].oldest_enqueued_ms;
		jb_lit(b, "mmq_queue_oldest_age_seconds{queue=\"");
		jb_lit(b, all[i].name);
		jb_lit(b, "\"} ");
		jb_u64(b, o != 0 && now > o ? (now - o) / 1000u : 0);
		jb_lit(b, "\n");
	}
}

/* http_metrics writes the request counters that are not zero. */
static void http_metrics(struct jbuf *b, const struct api_metrics *m)
{
	char line[256];

	family(b, "mmq_http_requests_total", "counter", "HTTP requests answered, by route and status.");
	for (size_t r = 0; r <= m->routes; r++) {
		const struct api_route_info *info = api_route_info(r);
		for (size_t s = 0; s < API_STATUS_SLOTS; s++) {
			uint64_t v = atomic_load_explicit(&m->counts[r * API_STATUS_SLOTS + s],
							  memory_order_relaxed);
			char status[8];
			if (v == 0)
				continue;
			if (s < API_STATUS_SLOTS - 1)
				snprintf(status, sizeof(status), "%u", statuses[s]);
			else
				snprintf(status, sizeof(status), "other");
			snprintf(line, sizeof(line),
				 "mmq_http_requests_total{method=\"%s\",route=\"%s\",status=\"%s\"} %" PRIu64 "\n",
				 info ? info->method : "", info ? info->pattern : "unmatched", status, v);
			jb_lit(b, line);
		}
	}
}

enum api_step api_h_metrics(struct api_req *req)
{
	struct queue_stats *all = NULL;
	size_t count = 0;
	enum queue_err err = queue_list(req->srv->store, &all, &count);
	struct MHD_Response *resp;
	struct jbuf b;

	if (err != QUEUE_OK)
		return api_respond_queue_err(req, err, "queue_list");
	jb_init(&b);
	queue_metrics(&b, all, count, api_now_ms());
	free(all);
	/* Counted before it is written, so a scrape sees itself. */
	api_metrics_count(&req->srv->metrics, req->route, 200);
	http_metrics(&b, &req->srv->metrics);
	if (b.oom) {
		jb_free(&b);
		return api_respond_error(req, API_E_INTERNAL);
	}
	resp = MHD_create_response_from_buffer(b.len, b.data, MHD_RESPMEM_MUST_FREE);
	if (resp == NULL) {
		jb_free(&b);
		return api_respond_error(req, API_E_INTERNAL);
	}
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE,
				"text/plain; version=0.0.4; charset=utf-8");
	req->responded = true;
	MHD_queue_response(req->conn, 200, resp);
	MHD_destroy_response(resp);
	return API_STEP_DONE;
}

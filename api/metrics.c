/* metrics.c: request counters and durations, and their families of the /metrics page (Prometheus text 0.0.4). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "prom.h"

/* The statuses counted one by one; the last slot counts every other status. */
static const unsigned statuses[API_STATUS_SLOTS - 1] = { 200, 201, 204, 400, 401, 404, 405,
							 409, 413, 429, 500, 503, 507 };

/*
 * Upper bounds of the request duration buckets, in microseconds, from a
 * request served from memory (well under a millisecond) through one that
 * waits for a sync (milliseconds) to a long poll (up to 60 s). A last bucket,
 * +Inf, follows them.
 */
static const uint64_t duration_bound_us[] = {
	500, 1000, 2500, 5000, 10000, 25000, 50000, 100000, 250000, 500000,
	1000000, 2500000, 5000000, 10000000, 30000000, 60000000, UINT64_MAX
};

#define DURATION_BUCKETS (sizeof(duration_bound_us) / sizeof(duration_bound_us[0]))
/* A row of m->durations: the buckets, then the sum of the durations in ns. */
#define DURATION_ROW (DURATION_BUCKETS + 1)

bool api_metrics_init(struct api_metrics *m, const struct api_route_info *const *info, size_t routes,
		      const char *(*sqs_name)(size_t i), size_t n)
{
	m->routes = routes;
	m->sqs_name = sqs_name;
	m->sqs_actions = n;
	m->counts = calloc((routes + 1) * API_STATUS_SLOTS, sizeof(*m->counts));
	m->durations = calloc((routes + 1) * DURATION_ROW, sizeof(*m->durations));
	m->sqs_counts = calloc((n + 1) * API_STATUS_SLOTS, sizeof(*m->sqs_counts));
	m->info = calloc(routes ? routes : 1, sizeof(*m->info));
	if (m->counts == NULL || m->durations == NULL || m->sqs_counts == NULL || m->info == NULL) {
		api_metrics_free(m);
		return false;
	}
	memcpy(m->info, info, routes * sizeof(*m->info));
	return true;
}

void api_metrics_free(struct api_metrics *m)
{
	free(m->counts);
	free(m->durations);
	free(m->sqs_counts);
	free(m->info);
	m->info = NULL;
	m->counts = NULL;
	m->durations = NULL;
	m->sqs_counts = NULL;
}

static size_t status_slot(unsigned status)
{
	for (size_t i = 0; i < API_STATUS_SLOTS - 1; i++)
		if (statuses[i] == status)
			return i;
	return API_STATUS_SLOTS - 1;
}

void api_metrics_count(struct api_metrics *m, size_t row, unsigned status, uint64_t elapsed_ns)
{
	atomic_uint_fast64_t *d = &m->durations[row * DURATION_ROW];
	size_t b = 0;

	atomic_fetch_add_explicit(&m->counts[row * API_STATUS_SLOTS + status_slot(status)], 1,
				  memory_order_relaxed);
	while (b + 1 < DURATION_BUCKETS && elapsed_ns > duration_bound_us[b] * 1000u)
		b++;
	atomic_fetch_add_explicit(&d[b], 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&d[DURATION_BUCKETS], elapsed_ns, memory_order_relaxed);
}

void api_metrics_count_sqs(struct api_metrics *m, int action, unsigned status)
{
	size_t row = action >= 0 && (size_t)action < m->sqs_actions ? (size_t)action : m->sqs_actions;

	atomic_fetch_add_explicit(&m->sqs_counts[row * API_STATUS_SLOTS + status_slot(status)], 1,
				  memory_order_relaxed);
}

/* status_label writes the status label of slot s. */
static void status_label(size_t s, char out[8])
{
	if (s < API_STATUS_SLOTS - 1)
		snprintf(out, 8, "%u", statuses[s]);
	else
		snprintf(out, 8, "other");
}

/* sqs_requests writes the SQS answers by action and status that are not zero. */
static void sqs_requests(struct jbuf *b, const struct api_metrics *m)
{
	prom_family(b, "mmq_sqs_requests_total", "counter",
		    "Amazon SQS requests answered, by action (\"unknown\" before one is known) and status.");
	for (size_t r = 0; r <= m->sqs_actions; r++) {
		struct prom_label labels[2] = { { "action", r < m->sqs_actions ? m->sqs_name(r) : "unknown" },
						{ "status", "" } };
		for (size_t s = 0; s < API_STATUS_SLOTS; s++) {
			uint64_t v = atomic_load_explicit(&m->sqs_counts[r * API_STATUS_SLOTS + s],
							  memory_order_relaxed);
			char status[8];
			if (v == 0)
				continue;
			status_label(s, status);
			labels[1].value = status;
			prom_u64(b, "mmq_sqs_requests_total", labels, 2, v);
		}
	}
}

/* route_labels fills labels[0..1] with the method and route pattern of row r. */
static void route_labels(const struct api_metrics *m, size_t r, struct prom_label labels[2])
{
	const struct api_route_info *info = r < m->routes ? m->info[r] : NULL;

	labels[0] = (struct prom_label){ "method", info != NULL ? info->method : "" };
	labels[1] = (struct prom_label){ "route", info != NULL ? info->pattern : "unmatched" };
}

/* http_requests writes the request counters that are not zero. */
static void http_requests(struct jbuf *b, const struct api_metrics *m)
{
	prom_family(b, "mmq_http_requests_total", "counter",
		    "HTTP requests answered, by method, route pattern and status.");
	for (size_t r = 0; r <= m->routes; r++) {
		struct prom_label labels[3];
		route_labels(m, r, labels);
		for (size_t s = 0; s < API_STATUS_SLOTS; s++) {
			uint64_t v = atomic_load_explicit(&m->counts[r * API_STATUS_SLOTS + s],
							  memory_order_relaxed);
			char status[8];
			if (v == 0)
				continue;
			status_label(s, status);
			labels[2] = (struct prom_label){ "status", status };
			prom_u64(b, "mmq_http_requests_total", labels, 3, v);
		}
	}
}

/* http_durations writes the duration histogram of every route that answered a request. */
static void http_durations(struct jbuf *b, const struct api_metrics *m)
{
	prom_family(b, "mmq_http_request_duration_seconds", "histogram",
		    "Time from a request's headers to its answer, by method and route pattern "
		    "(long polls and durability waits included).");
	for (size_t r = 0; r <= m->routes; r++) {
		uint64_t counts[DURATION_BUCKETS], total = 0;
		struct prom_label labels[2];
		struct prom_histogram h = { "mmq_http_request_duration_seconds", duration_bound_us,
					    counts, DURATION_BUCKETS, 0 };
		for (size_t i = 0; i < DURATION_BUCKETS; i++) {
			counts[i] = atomic_load_explicit(&m->durations[r * DURATION_ROW + i],
							 memory_order_relaxed);
			total += counts[i];
		}
		if (total == 0)
			continue;
		h.sum_ns = atomic_load_explicit(&m->durations[r * DURATION_ROW + DURATION_BUCKETS],
						memory_order_relaxed);
		route_labels(m, r, labels);
		prom_histogram(b, &h, labels, 2);
	}
}

void api_metrics_http(struct jbuf *b, const struct api_metrics *m)
{
	http_requests(b, m);
	http_durations(b, m);
	sqs_requests(b, m);
}

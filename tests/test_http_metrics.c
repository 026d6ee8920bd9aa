/* test_http_metrics.c: /metrics and stats after known operations, the exposition writer, promtool's check of the page. */
#include <criterion/criterion.h>
#include <cJSON.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "../api/prom.h"
#include "httptest.h"
#include "httputil.h"
#include "testutil.h"

TestSuite(http_metrics, .init = ht_setup, .fini = ht_stop, .timeout = 45);

/* A record of a one-byte payload: 48 bytes of header and the body padded to 8. */
#define ONE_BYTE_RECORD 56u

/* call sends a request and asserts its status. */
static void call(const char *method, const char *path, const char *body, long status)
{
	struct th_resp r;

	th_call(&ht_srv, method, path, body, &r);
	cr_assert_eq(r.status, status, "%s %s: status %ld, want %ld (%s)", method, path, r.status,
		     status, r.body);
	th_resp_free(&r);
}

/* lease_one leases one message of q and returns its id, copying its token into token. */
static uint64_t lease_one(const char *q, char *token, size_t len)
{
	char path[128];
	struct th_resp r;
	cJSON *root, *m;
	uint64_t id;

	snprintf(path, sizeof(path), "/v1/queues/%s/messages/lease", q);
	cr_assert_eq(th_call(&ht_srv, "POST", path, NULL, &r), 200);
	root = cJSON_Parse(r.body);
	m = cJSON_GetArrayItem(cJSON_GetObjectItem(root, "messages"), 0);
	cr_assert_not_null(m, "nothing leased: %s", r.body);
	id = (uint64_t)cJSON_GetObjectItem(m, "id")->valuedouble;
	snprintf(token, len, "%s", cJSON_GetObjectItem(m, "lease")->valuestring);
	cJSON_Delete(root);
	th_resp_free(&r);
	return id;
}

/* scrape fetches /metrics, asserts its status and type, and returns the page (caller frees). */
static char *scrape(void)
{
	struct th_resp r;
	char *type, *page;

	cr_assert_eq(th_call(&ht_srv, "GET", "/metrics", NULL, &r), 200);
	type = th_header(&r, "Content-Type");
	cr_assert_str_eq(type, "text/plain; version=0.0.4; charset=utf-8");
	free(type);
	page = r.body;
	r.body = NULL;
	th_resp_free(&r);
	return page;
}

/* sample returns the integer value of the sample line "series value" of page; asserts it is there. */
static uint64_t sample(const char *page, const char *series)
{
	size_t n = strlen(series) + 3;
	char *key = malloc(n), *end;
	const char *at;
	uint64_t v;

	snprintf(key, n, "\n%s ", series);
	at = strstr(page, key);
	cr_assert_not_null(at, "no sample %s in:\n%s", series, page);
	at += strlen(key);
	v = strtoull(at, &end, 10);
	cr_assert(end > at && *end == '\n', "sample %s is not an integer", series);
	free(key);
	return v;
}

/* sample_f returns the value of sample series as a double; asserts it is there. */
static double sample_f(const char *page, const char *series)
{
	size_t n = strlen(series) + 3;
	char *key = malloc(n);
	const char *at;

	snprintf(key, n, "\n%s ", series);
	at = strstr(page, key);
	cr_assert_not_null(at, "no sample %s", series);
	at += strlen(key);
	free(key);
	return strtod(at, NULL);
}

/* busy_queue brings queue "jobs" to a known state; see the comments for what each step leaves. */
static void busy_queue(void)
{
	char token[32], path[160];
	uint64_t id;

	for (int i = 1; i <= 3; i++)
		call("POST", "/v1/queues/jobs/messages", i == 1 ? "1" : i == 2 ? "2" : "3", 201);
	call("POST", "/v1/queues/jobs/messages/batch", "[4,5]", 201); /* ids 1..5 */
	call("POST", "/v1/queues/jobs/messages/pop", NULL, 200);	     /* pops 1 */
	id = lease_one("jobs", token, sizeof(token));			     /* leases 2 */
	snprintf(path, sizeof(path), "/v1/queues/jobs/messages/%" PRIu64 "?lease=%s", id, token);
	call("DELETE", path, NULL, 204); /* acks 2 */
	id = lease_one("jobs", token, sizeof(token)); /* leases 3 */
	snprintf(path, sizeof(path), "/v1/queues/jobs/messages/%" PRIu64 "/release?lease=%s", id,
		 token);
	call("POST", path, NULL, 204);		       /* releases 3 */
	cr_assert_eq(lease_one("jobs", token, sizeof(token)), 3); /* leases 3 again: redelivered */
	call("POST", "/v1/queues/jobs/messages?delay=60", "6", 201); /* 6 waits out a delay */
}

Test(http_metrics, queue_figures_are_exact_after_known_operations)
{
	char *page;

	cr_assert(th_start(&ht_srv, NULL));
	busy_queue();
	page = scrape();
	cr_assert_eq(sample(page, "mmq_queue_depth{queue=\"jobs\"}"), 2);
	cr_assert_eq(sample(page, "mmq_queue_in_flight{queue=\"jobs\"}"), 1);
	cr_assert_eq(sample(page, "mmq_queue_delayed{queue=\"jobs\"}"), 1);
	cr_assert_eq(sample(page, "mmq_queue_bytes{queue=\"jobs\"}"), 4);
	cr_assert_eq(sample(page, "mmq_queue_live_bytes{queue=\"jobs\"}"), 4 * ONE_BYTE_RECORD);
	/* Written: 6 data records of 56 bytes, pop 48, ack 48, 3 leases and a release of 56: 656; live 224. */
	cr_assert_eq(sample(page, "mmq_queue_dead_bytes{queue=\"jobs\"}"), 656 - 4 * ONE_BYTE_RECORD);
	cr_assert_eq(sample(page, "mmq_queue_segments{queue=\"jobs\"}"), 1);
	cr_assert_eq(sample(page, "mmq_queue_disk_bytes{queue=\"jobs\"}"), 1048576 + 8192);
	cr_assert_lt(sample(page, "mmq_queue_oldest_age_seconds{queue=\"jobs\"}"), 10);
	cr_assert_eq(sample(page, "mmq_queue_enqueued_total{queue=\"jobs\"}"), 6);
	cr_assert_eq(sample(page, "mmq_queue_dequeued_total{queue=\"jobs\"}"), 2);
	cr_assert_eq(sample(page, "mmq_queue_popped_total{queue=\"jobs\"}"), 1);
	cr_assert_eq(sample(page, "mmq_queue_leased_total{queue=\"jobs\"}"), 3);
	cr_assert_eq(sample(page, "mmq_queue_acked_total{queue=\"jobs\"}"), 1);
	cr_assert_eq(sample(page, "mmq_queue_released_total{queue=\"jobs\"}"), 1);
	cr_assert_eq(sample(page, "mmq_queue_redelivered_total{queue=\"jobs\"}"), 1);
	cr_assert_eq(sample(page, "mmq_queue_dead_lettered_total{queue=\"jobs\"}"), 0);
	cr_assert_eq(sample(page, "mmq_queue_corrupt_total{queue=\"jobs\"}"), 0);
	cr_assert_eq(sample(page, "mmq_queues"), 1);
	free(page);
}

Test(http_metrics, stats_json_shows_storage_figures_and_totals)
{
	struct th_resp r;
	cJSON *j;

	cr_assert(th_start(&ht_srv, NULL));
	busy_queue();
	cr_assert_eq(th_call(&ht_srv, "GET", "/v1/queues/jobs", NULL, &r), 200);
	j = cJSON_Parse(r.body);
	cr_assert_not_null(j);
	cr_assert(strstr(r.body, "\"oldest_age_seconds\":") < strstr(r.body, "\"live_bytes\":"),
		  "new fields come after the old ones: %s", r.body);
	cr_assert_eq(cJSON_GetObjectItem(j, "depth")->valuedouble, 2);
	cr_assert_eq(cJSON_GetObjectItem(j, "live_bytes")->valuedouble, 4 * ONE_BYTE_RECORD);
	cr_assert_eq(cJSON_GetObjectItem(j, "dead_bytes")->valuedouble, 656 - 4 * ONE_BYTE_RECORD);
	cr_assert_eq(cJSON_GetObjectItem(j, "segments")->valuedouble, 1);
	cr_assert_eq(cJSON_GetObjectItem(j, "popped_total")->valuedouble, 1);
	cr_assert_eq(cJSON_GetObjectItem(j, "leased_total")->valuedouble, 3);
	cr_assert_eq(cJSON_GetObjectItem(j, "acked_total")->valuedouble, 1);
	cr_assert_eq(cJSON_GetObjectItem(j, "released_total")->valuedouble, 1);
	cr_assert_eq(cJSON_GetObjectItem(j, "redelivered_total")->valuedouble, 1);
	cr_assert_eq(cJSON_GetObjectItem(j, "dead_lettered_total")->valuedouble, 0);
	cJSON_Delete(j);
	th_resp_free(&r);
	cr_assert_eq(th_call(&ht_srv, "GET", "/v1/queues", NULL, &r), 200);
	cr_assert(strstr(r.body, "\"segments\":1,\"popped_total\":1,\"leased_total\":3,"
				 "\"acked_total\":1,\"released_total\":1,\"redelivered_total\":1,"
				 "\"dead_lettered_total\":0,\"settings\":") != NULL,
		  "%s", r.body);
	th_resp_free(&r);
}

Test(http_metrics, dead_lettering_is_counted)
{
	char token[32], path[160];
	uint64_t id;
	char *page;

	cr_assert(th_start(&ht_srv, NULL));
	call("PUT", "/v1/queues/dlq", NULL, 201);
	call("PUT", "/v1/queues/work", "{\"max_deliveries\":1,\"dead_letter\":\"dlq\"}", 201);
	call("POST", "/v1/queues/work/messages", "{\"n\":1}", 201);
	id = lease_one("work", token, sizeof(token));
	snprintf(path, sizeof(path), "/v1/queues/work/messages/%" PRIu64 "/release?lease=%s", id,
		 token);
	call("POST", path, NULL, 204);
	page = scrape();
	cr_assert_eq(sample(page, "mmq_queue_dead_lettered_total{queue=\"work\"}"), 1);
	cr_assert_eq(sample(page, "mmq_queue_depth{queue=\"work\"}"), 0);
	cr_assert_eq(sample(page, "mmq_queue_depth{queue=\"dlq\"}"), 1);
	cr_assert_eq(sample(page, "mmq_queue_bytes{queue=\"dlq\"}"), 7);
	cr_assert_eq(sample(page, "mmq_queues"), 2);
	free(page);
}

Test(http_metrics, sync_counters_show_group_commit)
{
	char *page;

	cr_assert(th_start(&ht_srv, NULL));
	call("POST", "/v1/queues/s/messages", "1", 201);
	call("POST", "/v1/queues/s/messages", "2", 201);
	call("POST", "/v1/queues/s/messages/batch", "[3,4,5]", 201);
	call("POST", "/v1/queues/s/messages/pop", NULL, 200);
	page = scrape();
	/* One sync per request in turn: 4 passes, 3 + 3 records, one waiter each. */
	cr_assert_eq(sample(page, "mmq_syncs_total"), 4);
	cr_assert_eq(sample(page, "mmq_synced_records_total"), 6);
	cr_assert_eq(sample(page, "mmq_sync_waiters_total"), 4);
	cr_assert_eq(sample(page, "mmq_sync_failures_total"), 0);
	cr_assert_eq(sample(page, "mmq_sync_duration_seconds_count"), 4);
	cr_assert_eq(sample(page, "mmq_sync_duration_seconds_bucket{le=\"+Inf\"}"), 4);
	cr_assert_gt(sample_f(page, "mmq_sync_duration_seconds_sum"), 0);
	free(page);
}

Test(http_metrics, http_requests_are_counted_by_route_and_status)
{
	char *page;

	cr_assert(th_start(&ht_srv, NULL));
	call("POST", "/v1/queues/h/messages", "1", 201);
	call("POST", "/v1/queues/h/messages", "2", 201);
	call("POST", "/v1/queues/h/messages", "{", 400);
	call("GET", "/nowhere", NULL, 404);
	call("DELETE", "/metrics", NULL, 405);
	page = scrape();
	cr_assert_eq(sample(page, "mmq_http_requests_total{method=\"POST\",route=\"/v1/queues/{q}/"
				  "messages\",status=\"201\"}"),
		     2);
	cr_assert_eq(sample(page, "mmq_http_requests_total{method=\"POST\",route=\"/v1/queues/{q}/"
				  "messages\",status=\"400\"}"),
		     1);
	cr_assert_eq(sample(page, "mmq_http_requests_total{method=\"\",route=\"unmatched\",status="
				  "\"404\"}"),
		     1);
	cr_assert_eq(sample(page, "mmq_http_requests_total{method=\"\",route=\"unmatched\",status="
				  "\"405\"}"),
		     1);
	cr_assert_eq(sample(page, "mmq_http_requests_total{method=\"GET\",route=\"/metrics\","
				  "status=\"200\"}"),
		     1, "a scrape counts itself");
	cr_assert_eq(sample(page, "mmq_http_request_duration_seconds_count{method=\"POST\",route="
				  "\"/v1/queues/{q}/messages\"}"),
		     3);
	cr_assert_eq(sample(page, "mmq_http_request_duration_seconds_bucket{method=\"POST\",route="
				  "\"/v1/queues/{q}/messages\",le=\"+Inf\"}"),
		     3);
	cr_assert_eq(sample(page, "mmq_http_request_duration_seconds_bucket{method=\"POST\",route="
				  "\"/v1/queues/{q}/messages\",le=\"60\"}"),
		     3);
	cr_assert(strstr(page, "route=\"/v1/queues/{q}/messages/pop\"") == NULL,
		  "routes never used are left out");
	free(page);
}

Test(http_metrics, store_figures_show_reserve_and_last_recovery)
{
	const char *const args[] = { "--min-free-bytes", "1048576", NULL };
	char *page;

	cr_assert(th_start(&ht_srv, args));
	call("POST", "/v1/queues/r/messages/batch", "[1,2,3]", 201);
	call("POST", "/v1/queues/r/messages/pop", NULL, 200);
	page = scrape();
	cr_assert_eq(sample(page, "mmq_disk_reserve_bytes"), 1048576);
	cr_assert_gt(sample(page, "mmq_disk_free_above_reserve_bytes"), 0);
	cr_assert_eq(sample(page, "mmq_recovery_records"), 0, "a new data dir replays nothing");
	free(page);
	cr_assert_eq(th_stop(&ht_srv, SIGTERM), 0);

	cr_assert(th_start(&ht_srv, args));
	cr_assert(th_log_contains(&ht_srv, " 4 records replayed"), "3 data records and a pop");
	page = scrape();
	cr_assert_eq(sample(page, "mmq_recovery_records"), 4);
	cr_assert_eq(sample(page, "mmq_recovery_corrupt_records"), 0);
	cr_assert_eq(sample(page, "mmq_recovery_torn_bytes"), 0);
	cr_assert_gt(sample_f(page, "mmq_recovery_duration_seconds"), 0);
	cr_assert_eq(sample(page, "mmq_queue_depth{queue=\"r\"}"), 2);
	cr_assert_eq(sample(page, "mmq_syncs_total"), 0, "counters start from zero");
	free(page);
}

Test(http_metrics, writer_escapes_label_values_and_help)
{
	const struct prom_label labels[] = { { "a", "x\"y\\z\nw" }, { "b", "" } };
	struct jbuf b;

	jb_init(&b);
	prom_family(&b, "t_total", "counter", "Back\\slash\nand \"quotes\".");
	prom_u64(&b, "t_total", labels, 2, 18446744073709551615ull);
	prom_seconds(&b, "t_seconds", NULL, 0, 1500000000ull);
	prom_seconds(&b, "t_seconds", NULL, 0, 42);
	cr_assert(!b.oom);
	cr_assert_str_eq(b.data, "# HELP t_total Back\\\\slash\\nand \"quotes\".\n"
				 "# TYPE t_total counter\n"
				 "t_total{a=\"x\\\"y\\\\z\\nw\",b=\"\"} 18446744073709551615\n"
				 "t_seconds 1.5\n"
				 "t_seconds 0.000000042\n");
	jb_free(&b);
}

Test(http_metrics, writer_makes_histogram_buckets_cumulative)
{
	const uint64_t bounds[] = { 500, 1000000, 0 };
	const uint64_t counts[] = { 2, 3, 1 };
	const struct prom_histogram h = { "h_seconds", bounds, counts, 3, 2250000000ull };
	const struct prom_label label = { "route", "/x" };
	struct jbuf b;

	jb_init(&b);
	prom_histogram(&b, &h, &label, 1);
	cr_assert_str_eq(b.data, "h_seconds_bucket{route=\"/x\",le=\"0.0005\"} 2\n"
				 "h_seconds_bucket{route=\"/x\",le=\"1\"} 5\n"
				 "h_seconds_bucket{route=\"/x\",le=\"+Inf\"} 6\n"
				 "h_seconds_sum{route=\"/x\"} 2.25\n"
				 "h_seconds_count{route=\"/x\"} 6\n");
	jb_free(&b);
}

Test(http_metrics, page_passes_promtool_check)
{
	char *promtool = th_find_tool("promtool"), *page, *in, *out, *report;
	int status = 0;
	pid_t pid;

	cr_assert_not_null(promtool, "promtool is not installed: apt-get install prometheus "
				     "(Debian's package provides /usr/bin/promtool)");
	cr_assert(th_start(&ht_srv, NULL));
	busy_queue();
	call("PUT", "/v1/queues/Other_queue-2", NULL, 201);
	call("GET", "/nowhere", NULL, 404);
	call("POST", "/v1/queues/h/messages", "{", 400);
	page = scrape();
	in = tu_path(ht_srv.dir, "metrics.txt");
	out = tu_path(ht_srv.dir, "promtool.out");
	ht_write_text(in, page);
	pid = ht_spawn((const char *const[]){ promtool, "check", "metrics", NULL }, in, out);
	cr_assert_eq(waitpid(pid, &status, 0), pid);
	report = th_read_text(out);
	cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0,
		  "promtool check metrics failed (status %d):\n%s", status, report);
	cr_assert_str_eq(report, "", "promtool has remarks:\n%s", report);
	free(report);
	free(page);
	free(in);
	free(out);
	free(promtool);
}

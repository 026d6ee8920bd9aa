/* test_http_prometheus.c: a real Prometheus server scraping mmqd's /metrics, and later changes showing up. */
#include <criterion/criterion.h>
#include <cJSON.h>
#include <curl/curl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "httptest.h"
#include "httputil.h"
#include "testutil.h"

TestSuite(http_prometheus, .init = ht_setup, .fini = ht_stop, .timeout = 45);

/* call sends a request and asserts its status. */
static void call(const char *method, const char *path, const char *body, long status)
{
	struct th_resp r;

	th_call(&ht_srv, method, path, body, &r);
	cr_assert_eq(r.status, status, "%s %s: status %ld, want %ld (%s)", method, path, r.status,
		     status, r.body);
	th_resp_free(&r);
}

/* free_port returns a TCP port on 127.0.0.1 that was free a moment ago. */
static uint16_t free_port(void)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(sa);
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	cr_assert_geq(fd, 0);
	cr_assert_eq(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	cr_assert_eq(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
	close(fd);
	return ntohs(sa.sin_port);
}

static size_t collect(char *p, size_t size, size_t n, void *ctx)
{
	char **buf = ctx;
	size_t old = *buf != NULL ? strlen(*buf) : 0;
	char *grown = realloc(*buf, old + size * n + 1);

	if (grown == NULL)
		return 0;
	memcpy(grown + old, p, size * n);
	grown[old + size * n] = '\0';
	*buf = grown;
	return size * n;
}

/*
 * scraped_depth asks Prometheus on port for mmq_queue_depth{queue=q} and
 * returns the value it holds, or -1 when it has none (yet) or is not answering.
 */
static long scraped_depth(uint16_t port, const char *q)
{
	char url[160], *body = NULL;
	CURL *c = curl_easy_init();
	cJSON *root, *result, *item;
	long found = -1;

	snprintf(url, sizeof(url), "http://127.0.0.1:%u/api/v1/query?query=mmq_queue_depth",
		 (unsigned)port);
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, collect);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &body);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 2000L);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	if (curl_easy_perform(c) != CURLE_OK || body == NULL)
		goto done;
	root = cJSON_Parse(body);
	result = cJSON_GetObjectItem(cJSON_GetObjectItem(root, "data"), "result");
	cJSON_ArrayForEach(item, result)
	{
		const cJSON *queue = cJSON_GetObjectItem(cJSON_GetObjectItem(item, "metric"), "queue");
		const cJSON *value = cJSON_GetArrayItem(cJSON_GetObjectItem(item, "value"), 1);
		if (cJSON_IsString(queue) && strcmp(queue->valuestring, q) == 0 &&
		    cJSON_IsString(value))
			found = strtol(value->valuestring, NULL, 10);
	}
	cJSON_Delete(root);
done:
	free(body);
	curl_easy_cleanup(c);
	return found;
}

/* A Prometheus server of the test's own, scraping mmqd every second. */
struct prom_server {
	pid_t pid;
	uint16_t port;
	char *log;
};

/* prom_start writes a config scraping ht_srv into ht_srv.dir and starts prometheus with it. */
static void prom_start(struct prom_server *p, const char *prometheus)
{
	char config[512], *config_path = tu_path(ht_srv.dir, "prometheus.yml");
	char *tsdb = tu_path(ht_srv.dir, "tsdb");
	char flag_config[600], flag_tsdb[600], flag_listen[64];

	snprintf(config, sizeof(config),
		 "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
		 "scrape_configs:\n  - job_name: mmq\n    scrape_interval: 1s\n"
		 "    scrape_timeout: 1s\n    static_configs:\n"
		 "      - targets: ['127.0.0.1:%u']\n",
		 (unsigned)ht_srv.port);
	ht_write_text(config_path, config);
	p->port = free_port();
	p->log = tu_path(ht_srv.dir, "prometheus.log");
	snprintf(flag_config, sizeof(flag_config), "--config.file=%s", config_path);
	snprintf(flag_tsdb, sizeof(flag_tsdb), "--storage.tsdb.path=%s", tsdb);
	snprintf(flag_listen, sizeof(flag_listen), "--web.listen-address=127.0.0.1:%u",
		 (unsigned)p->port);
	p->pid = ht_spawn((const char *const[]){ prometheus, flag_config, flag_tsdb, flag_listen,
					      "--log.level=warn", NULL },
		       NULL, p->log);
	free(config_path);
	free(tsdb);
}

/* prom_wait_depth waits (at most until deadline_ms) for Prometheus to hold depth want for q. */
static void prom_wait_depth(const struct prom_server *p, const char *q, long want,
			    uint64_t deadline_ms)
{
	long seen = -1;
	int status;

	while (tu_now_ms() < deadline_ms) {
		seen = scraped_depth(p->port, q);
		if (seen == want)
			return;
		if (waitpid(p->pid, &status, WNOHANG) == p->pid) {
			char *log = th_read_text(p->log);
			cr_assert_fail("prometheus exited (status %d):\n%s", status, log);
		}
		tu_sleep_ms(200);
	}
	cr_assert_fail("Prometheus did not scrape mmq_queue_depth{queue=\"%s\"} = %ld in time "
		       "(last seen %ld)",
		       q, want, seen);
}

/* prom_stop stops Prometheus by its pid: SIGTERM, then SIGKILL after 5 s. */
static void prom_stop(struct prom_server *p)
{
	uint64_t until = tu_now_ms() + 5000;
	int status;

	kill(p->pid, SIGTERM);
	while (waitpid(p->pid, &status, WNOHANG) == 0) {
		if (tu_now_ms() > until) {
			kill(p->pid, SIGKILL);
			waitpid(p->pid, &status, 0);
			break;
		}
		tu_sleep_ms(20);
	}
	free(p->log);
}

Test(http_prometheus, prometheus_scrapes_the_queue_depth)
{
	char *prometheus = th_find_tool("prometheus");
	struct prom_server p;
	uint64_t deadline;

	cr_assert_not_null(prometheus, "prometheus is not installed: apt-get install prometheus "
				       "(Debian's package provides /usr/bin/prometheus)");
	cr_assert(th_start(&ht_srv, NULL));
	call("POST", "/v1/queues/scraped/messages/batch", "[1,2,3]", 201);
	prom_start(&p, prometheus);
	deadline = tu_now_ms() + 20000;
	prom_wait_depth(&p, "scraped", 3, deadline);
	/* A later change shows up in a later scrape. */
	call("POST", "/v1/queues/scraped/messages/pop", NULL, 200);
	prom_wait_depth(&p, "scraped", 2, deadline + 5000);
	prom_stop(&p);
	free(prometheus);
}

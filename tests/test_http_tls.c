/* test_http_tls.c: HTTPS with --tls-cert and --tls-key, checked by a client that verifies the certificate. */
#include <criterion/criterion.h>
#include <curl/curl.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "httptest.h"
#include "testutil.h"

static char *cert, *key;

/* Each test gets a fresh self-signed certificate for localhost and 127.0.0.1, made with openssl. */
static void setup(void)
{
	ht_setup();
	cert = tu_path(ht_srv.dir, "cert.pem");
	key = tu_path(ht_srv.dir, "key.pem");
	const char *const argv[] = { "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes",
				     "-days", "2", "-subj", "/CN=localhost", "-addext",
				     "subjectAltName=DNS:localhost,IP:127.0.0.1", "-keyout", key,
				     "-out", cert, NULL };
	cr_assert_eq(th_run(argv, NULL), 0, "openssl could not make a certificate");
}

static void teardown(void)
{
	ht_stop();
	free(cert);
	free(key);
}

TestSuite(http_tls, .init = setup, .fini = teardown, .timeout = 60);

static bool start_tls(void)
{
	const char *const args[] = { "--tls-cert", cert, "--tls-key", key, NULL };
	return th_start(&ht_srv, args);
}

static size_t collect(char *p, size_t size, size_t n, void *ctx)
{
	struct th_resp *r = ctx;
	char *d = realloc(r->body, r->len + size * n + 1);

	if (d == NULL)
		return 0;
	memcpy(d + r->len, p, size * n);
	r->len += size * n;
	d[r->len] = '\0';
	r->body = d;
	return size * n;
}

/*
 * tls_req sends method https://host:port path (body may be NULL), trusting ca
 * (NULL: the system's store only) and verifying the peer and the host name.
 * Returns curl's result; r holds the status and body (free with th_resp_free).
 */
static CURLcode tls_req(const char *host, const char *ca, const char *method, const char *path,
			const char *body, struct th_resp *r)
{
	char url[256], alias[64];
	CURL *c = curl_easy_init();
	struct curl_slist *resolve;
	CURLcode rc;

	memset(r, 0, sizeof(*r));
	snprintf(url, sizeof(url), "https://%s:%u%s", host, (unsigned)ht_srv.port, path);
	/* mmq.test reaches the server too, under a name its certificate does not hold. */
	snprintf(alias, sizeof(alias), "mmq.test:%u:127.0.0.1", (unsigned)ht_srv.port);
	resolve = curl_slist_append(NULL, alias);
	curl_easy_setopt(c, CURLOPT_RESOLVE, resolve);
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
	curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 1L);
	curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 2L);
	if (ca != NULL)
		curl_easy_setopt(c, CURLOPT_CAINFO, ca);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, collect);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, r);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, 60L);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	if (body != NULL)
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
	rc = curl_easy_perform(c);
	if (rc == CURLE_OK)
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r->status);
	curl_easy_cleanup(c);
	curl_slist_free_all(resolve);
	if (r->body == NULL)
		r->body = strdup("");
	return rc;
}

Test(http_tls, a_verifying_client_reaches_every_kind_of_route)
{
	struct th_resp r;

	cr_assert(start_tls(), "mmqd did not start with TLS");
	cr_assert(th_log_contains(&ht_srv, "(HTTPS)"), "the log says it serves HTTPS");
	cr_assert_eq(tls_req("localhost", cert, "GET", "/healthz", NULL, &r), CURLE_OK);
	cr_assert_eq(r.status, 200);
	cr_assert_str_eq(r.body, "{\"status\":\"ok\"}");
	th_resp_free(&r);
	cr_assert_eq(tls_req("127.0.0.1", cert, "POST", "/v1/queues/t/messages", "{\"a\":1}", &r),
		     CURLE_OK);
	cr_assert_eq(r.status, 201);
	cr_assert_str_eq(r.body, "{\"id\":1}");
	th_resp_free(&r);
	cr_assert_eq(tls_req("localhost", cert, "POST", "/v1/queues/t/messages/pop", NULL, &r),
		     CURLE_OK);
	cr_assert_eq(r.status, 200);
	cr_assert(strstr(r.body, "\"payload\":{\"a\":1}") != NULL, "%s", r.body);
	th_resp_free(&r);
	cr_assert_eq(tls_req("localhost", cert, "GET", "/v1/queues/nope", NULL, &r), CURLE_OK);
	cr_assert_eq(r.status, 404);
	th_resp_free(&r);
}

Test(http_tls, sqs_queue_urls_say_https)
{
	struct th_resp r;
	char want[128];

	cr_assert(start_tls(), "mmqd did not start with TLS");
	/* A form body: the SQS Query protocol, answered in XML. */
	cr_assert_eq(tls_req("localhost", cert, "POST", "/", "Action=CreateQueue&QueueName=secure", &r),
		     CURLE_OK);
	cr_assert_eq(r.status, 200, "%s", r.body);
	snprintf(want, sizeof(want), "<QueueUrl>https://localhost:%u/000000000000/secure</QueueUrl>",
		 (unsigned)ht_srv.port);
	cr_assert(strstr(r.body, want) != NULL, "%s", r.body);
	th_resp_free(&r);
}

Test(http_tls, a_client_without_the_certificate_refuses_the_server)
{
	struct th_resp r;
	CURLcode rc;

	cr_assert(start_tls());
	rc = tls_req("localhost", NULL, "GET", "/healthz", NULL, &r);
	cr_assert_eq(rc, CURLE_PEER_FAILED_VERIFICATION, "curl said %d: %s", (int)rc,
		     curl_easy_strerror(rc));
	th_resp_free(&r);
	/* The certificate names localhost and 127.0.0.1, nothing else. */
	rc = tls_req("mmq.test", cert, "GET", "/healthz", NULL, &r);
	cr_assert_eq(rc, CURLE_PEER_FAILED_VERIFICATION, "curl said %d: %s", (int)rc,
		     curl_easy_strerror(rc));
	th_resp_free(&r);
	/* The server is unharmed. */
	cr_assert_eq(tls_req("localhost", cert, "GET", "/healthz", NULL, &r), CURLE_OK);
	cr_assert_eq(r.status, 200);
	th_resp_free(&r);
}

Test(http_tls, plain_http_gets_no_answer_from_an_https_server)
{
	struct th_resp r;

	cr_assert(start_tls());
	cr_assert_eq(th_call(&ht_srv, "GET", "/healthz", NULL, &r), 0, "no HTTP answer in clear text");
	th_resp_free(&r);
	cr_assert_eq(tls_req("localhost", cert, "GET", "/healthz", NULL, &r), CURLE_OK);
	cr_assert_eq(r.status, 200);
	th_resp_free(&r);
}

/* A long poll run on its own thread. */
struct poll_call {
	pthread_t thread;
	struct th_resp r;
	CURLcode rc;
};

static void *poll_main(void *arg)
{
	struct poll_call *p = arg;
	p->rc = tls_req("localhost", cert, "POST", "/v1/queues/lp/messages/pop?wait=20", NULL, &p->r);
	return NULL;
}

Test(http_tls, a_long_poll_over_tls_wakes_when_a_message_arrives)
{
	struct poll_call p;
	struct th_resp r;

	cr_assert(start_tls());
	cr_assert_eq(pthread_create(&p.thread, NULL, poll_main, &p), 0);
	tu_sleep_ms(th_wrapped() ? 3000 : 500);
	cr_assert_eq(tls_req("localhost", cert, "POST", "/v1/queues/lp/messages", "\"hi\"", &r),
		     CURLE_OK);
	cr_assert_eq(r.status, 201);
	th_resp_free(&r);
	pthread_join(p.thread, NULL);
	cr_assert_eq(p.rc, CURLE_OK);
	cr_assert_eq(p.r.status, 200);
	cr_assert(strstr(p.r.body, "\"payload\":\"hi\"") != NULL, "%s", p.r.body);
	th_resp_free(&p.r);
	cr_assert_eq(th_stop(&ht_srv, SIGTERM), 0);
}

Test(http_tls, certificate_and_key_go_together)
{
	const char *const only_cert[] = { "--tls-cert", cert, "--version", NULL };
	const char *const only_key[] = { "--tls-key", key, "--version", NULL };
	char *log = tu_path(ht_srv.dir, "cli.log");
	FILE *f;
	char text[4096] = "";

	cr_assert_eq(th_run_mmqd(only_cert, log), 2);
	cr_assert_eq(th_run_mmqd(only_key, log), 2);
	setenv("MMQ_TLS_CERT", cert, 1);
	cr_assert_eq(th_run_mmqd((const char *const[]){ "--version", NULL }, log), 2);
	unsetenv("MMQ_TLS_CERT");
	f = fopen(log, "r");
	cr_assert_not_null(f);
	cr_assert_gt(fread(text, 1, sizeof(text) - 1, f), 0);
	fclose(f);
	cr_assert(strstr(text, "--tls-cert and --tls-key go together") != NULL, "%s", text);
	free(log);
}

Test(http_tls, the_environment_configures_tls)
{
	struct th_resp r;

	setenv("MMQ_TLS_CERT", cert, 1);
	setenv("MMQ_TLS_KEY", key, 1);
	cr_assert(th_start(&ht_srv, NULL));
	unsetenv("MMQ_TLS_CERT");
	unsetenv("MMQ_TLS_KEY");
	cr_assert_eq(tls_req("localhost", cert, "GET", "/healthz", NULL, &r), CURLE_OK);
	cr_assert_eq(r.status, 200);
	th_resp_free(&r);
}

Test(http_tls, unusable_certificate_files_stop_mmqd_with_a_clear_message)
{
	char *data = tu_path(ht_srv.dir, "d"), *junk = tu_path(ht_srv.dir, "junk.pem");
	char *missing = tu_path(ht_srv.dir, "missing.pem");
	FILE *f = fopen(junk, "w");
	const char *const swapped[] = { "--listen", "127.0.0.1:0", "--data-dir", data, "--tls-cert",
					key, "--tls-key", cert, NULL };
	const char *const nofile[] = { "--listen", "127.0.0.1:0", "--data-dir", data, "--tls-cert",
				       missing, "--tls-key", key, NULL };
	const char *const notpem[] = { "--listen", "127.0.0.1:0", "--data-dir", data, "--tls-cert",
				       cert, "--tls-key", junk, NULL };

	fputs("not a key\n", f);
	fclose(f);
	cr_assert_eq(th_run_mmqd(nofile, ht_srv.log), 1);
	cr_assert(th_log_contains(&ht_srv, "cannot use the TLS certificate file"));
	cr_assert_eq(th_run_mmqd(notpem, ht_srv.log), 1);
	cr_assert(th_log_contains(&ht_srv, "cannot use the TLS key file"));
	cr_assert(th_log_contains(&ht_srv, "the file is not PEM text"));
	cr_assert_eq(th_run_mmqd(swapped, ht_srv.log), 1);
	cr_assert(th_log_contains(&ht_srv, "with the TLS certificate and key"));
	cr_assert(!th_log_contains(&ht_srv, "PRIVATE KEY"), "key material never reaches the log");
	free(data);
	free(junk);
	free(missing);
}

Test(http_tls, healthcheck_says_it_needs_plain_http)
{
	const char *const args[] = { "--healthcheck", "--tls-cert", cert, "--tls-key", key, NULL };

	cr_assert_eq(th_run_mmqd(args, ht_srv.log), 1);
	cr_assert(th_log_contains(&ht_srv, "--healthcheck speaks plain HTTP only"));
}

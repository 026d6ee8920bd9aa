/* test_cli.c: mmqd's command line (--help, --version, bad options, --healthcheck) and api/openapi.yaml. */
#include <criterion/criterion.h>
#include <cJSON.h>
#include <ctype.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../api/api.h"
#include "httptest.h"
#include "testutil.h"

TestSuite(cli, .timeout = 30);

Test(cli, help_lists_every_option_with_its_default_and_variable)
{
	static const char *const expected[] = {
		"--listen HOST:PORT",	    "default 0.0.0.0:8080; env MMQ_LISTEN",
		"--data-dir DIR",	    "default ./data; env MMQ_DATA_DIR",
		"--sync MODE",		    "default always; env MMQ_SYNC",
		"--sync-interval-ms N",	    "default 1000; env MMQ_SYNC_INTERVAL_MS",
		"--threads N",		    "default 0; env MMQ_THREADS",
		"--max-body-bytes N",	    "default 16777216; env MMQ_MAX_BODY_BYTES",
		"--auth-token-file FILE",   "default none; env MMQ_AUTH_TOKEN_FILE",
		"--max-connections N",	    "default 1024; env MMQ_MAX_CONNECTIONS",
		"--connection-timeout",	    "default 30; env MMQ_CONNECTION_TIMEOUT",
		"--log-level LEVEL",	    "default info; env MMQ_LOG_LEVEL",
		"--min-free-bytes N",	    "default 0; env MMQ_MIN_FREE_BYTES",
		"--tls-cert FILE",	    "default none; env MMQ_TLS_CERT",
		"--tls-key FILE",	    "default none; env MMQ_TLS_KEY",
		"--max-queues N",	    "default 10000; env MMQ_MAX_QUEUES",
		"--max-connections-per-ip N", "default 0; env MMQ_MAX_CONNECTIONS_PER_IP",
		"--max-long-polls N",	    "default 1000; env MMQ_MAX_LONG_POLLS",
		"MMQ_AUTH_TOKEN",	    "--healthcheck",
		"--help",		    "--version",
	};
	const char *const args[] = { "--help", NULL };
	char *out;

	cr_assert_eq(ht_run_mmqd(args, &out), 0);
	for (size_t i = 0; i < sizeof(expected) / sizeof(expected[0]); i++)
		cr_assert(strstr(out, expected[i]) != NULL, "--help lacks \"%s\":\n%s", expected[i], out);
	free(out);
}

Test(cli, version_prints_and_exits_0)
{
	const char *const args[] = { "--version", NULL };
	char *out;

	cr_assert_eq(ht_run_mmqd(args, &out), 0);
	cr_assert(strncmp(out, "mmqd ", 5) == 0, "%s", out);
	free(out);
}

Test(cli, bad_options_exit_2_naming_the_problem)
{
	const char *const unknown[] = { "--bogus", NULL };
	const char *const sync[] = { "--sync", "sometimes", NULL };
	const char *const listen[] = { "--listen=nohost", NULL };
	const char *const threads[] = { "--threads", "-1", NULL };
	const char *const missing[] = { "--data-dir", NULL };
	char *out;

	cr_assert_eq(ht_run_mmqd(unknown, &out), 2);
	cr_assert(strstr(out, "unknown option \"--bogus\"") != NULL, "%s", out);
	free(out);
	cr_assert_eq(ht_run_mmqd(sync, &out), 2);
	cr_assert(strstr(out, "invalid value \"sometimes\" for --sync") != NULL, "%s", out);
	free(out);
	cr_assert_eq(ht_run_mmqd(listen, &out), 2);
	free(out);
	cr_assert_eq(ht_run_mmqd(threads, &out), 2);
	free(out);
	cr_assert_eq(ht_run_mmqd(missing, &out), 2);
	cr_assert(strstr(out, "--data-dir needs a value") != NULL, "%s", out);
	free(out);
	setenv("MMQ_SYNC", "never", 1);
	cr_assert_eq(ht_run_mmqd((const char *const[]){ "--version", NULL }, &out), 2);
	cr_assert(strstr(out, "for MMQ_SYNC") != NULL, "%s", out);
	free(out);
	/* Flags win over the environment. */
	cr_assert_eq(ht_run_mmqd((const char *const[]){ "--sync", "none", "--version", NULL }, &out), 0);
	free(out);
	unsetenv("MMQ_SYNC");
}

Test(cli, environment_variables_configure_the_server)
{
	struct th_server s;

	th_setup(&s);
	setenv("MMQ_SYNC", "interval", 1);
	setenv("MMQ_LOG_LEVEL", "debug", 1);
	cr_assert(th_start(&s, NULL));
	cr_assert(th_log_contains(&s, "sync mode interval"));
	th_teardown(&s);
}

Test(cli, healthcheck_reports_a_live_server)
{
	struct th_server s;
	char listen[64], *out;
	const char *args[] = { "--healthcheck", "--listen", listen, NULL };

	th_setup(&s);
	cr_assert(th_start(&s, NULL));
	snprintf(listen, sizeof(listen), "127.0.0.1:%u", (unsigned)s.port);
	cr_assert_eq(ht_run_mmqd(args, &out), 0, "%s", out);
	free(out);
	cr_assert_eq(th_stop(&s, SIGTERM), 0);
	cr_assert_eq(ht_run_mmqd(args, &out), 1);
	cr_assert(strstr(out, "healthcheck") != NULL, "%s", out);
	free(out);
	th_teardown(&s);
}

/* load_openapi reads api/openapi.yaml, which is JSON-style YAML, dropping comment lines. */
static cJSON *load_openapi(void)
{
	char *path = th_repo_path("api/openapi.yaml");
	FILE *f = fopen(path, "r");
	char *text = calloc(1, 1 << 20), line[4096];
	size_t used = 0;
	cJSON *doc;

	cr_assert_not_null(f, "api/openapi.yaml not found");
	free(path);
	while (fgets(line, sizeof(line), f) != NULL) {
		const char *p = line;
		while (isspace((unsigned char)*p))
			p++;
		if (*p == '#')
			continue;
		memcpy(text + used, line, strlen(line));
		used += strlen(line);
	}
	fclose(f);
	doc = cJSON_Parse(text);
	free(text);
	cr_assert_not_null(doc, "api/openapi.yaml does not parse");
	return doc;
}

Test(cli, openapi_describes_exactly_the_served_routes)
{
	cJSON *doc = load_openapi(), *paths, *path, *op;
	size_t served = 0, documented = 0;

	cr_assert_str_eq(cJSON_GetObjectItem(doc, "openapi")->valuestring, "3.1.0");
	paths = cJSON_GetObjectItem(doc, "paths");
	cr_assert(cJSON_IsObject(paths));
	for (const struct api_route_info *r; (r = api_route_info(served)) != NULL; served++) {
		char method[16];
		size_t i;
		for (i = 0; r->method[i] && i < sizeof(method) - 1; i++)
			method[i] = (char)tolower((unsigned char)r->method[i]);
		method[i] = '\0';
		path = cJSON_GetObjectItemCaseSensitive(paths, r->pattern);
		cr_assert_not_null(path, "%s is not in openapi.yaml", r->pattern);
		cr_assert_not_null(cJSON_GetObjectItemCaseSensitive(path, method),
				   "%s %s is not in openapi.yaml", r->method, r->pattern);
	}
	cJSON_ArrayForEach(path, paths)
	{
		cJSON_ArrayForEach(op, path)
		{
			bool found = false;
			for (size_t i = 0; i < served && !found; i++) {
				const struct api_route_info *r = api_route_info(i);
				found = strcmp(r->pattern, path->string) == 0 &&
					strcasecmp(r->method, op->string) == 0;
			}
			cr_assert(found, "openapi.yaml has %s %s, which is not served", op->string,
				  path->string);
			cr_assert_not_null(cJSON_GetObjectItem(op, "responses"));
			documented++;
		}
	}
	cr_assert_eq(documented, served);
	cr_assert_eq(served, 18);
	cJSON_Delete(doc);
}

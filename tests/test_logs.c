/* test_logs.c: mmqd's log: JSON and key=value lines, the startup events and their fields, no payloads. */
#include <criterion/criterion.h>
#include <cJSON.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../queue/queue.h"
#include "httptest.h"
#include "testutil.h"

TestSuite(logs, .timeout = 60);

/* A string sent in every kind of request body; it must never reach the log. */
#define MARK "s3cr3t-PAYLOAD-7f1c"

static const char *const json_args[] = { "--log-format", "json", NULL };

/* read_file returns the whole of path, NUL-terminated (caller frees). */
static char *read_file(const char *path)
{
	FILE *f = fopen(path, "r");
	char *buf = calloc(1, 1 << 20);
	size_t n;

	cr_assert_not_null(f, "cannot open %s", path);
	cr_assert_not_null(buf);
	n = fread(buf, 1, (1 << 20) - 1, f);
	buf[n] = '\0';
	fclose(f);
	return buf;
}

/*
 * log_events parses every line of the server's log as a JSON object with the
 * common members (ts, level, event, msg) and returns them as an array; caller
 * frees with cJSON_Delete().
 */
static cJSON *log_events(void)
{
	static const char *const levels[] = { "error", "warn", "info", "debug" };
	char *log = read_file(ht_srv.log), *line = log, *eol;
	cJSON *all = cJSON_CreateArray();

	for (; (eol = strchr(line, '\n')) != NULL; line = eol + 1) {
		*eol = '\0';
		cJSON *o = cJSON_Parse(line);
		cr_assert(cJSON_IsObject(o), "a log line is not a JSON object: %s", line);
		cJSON *ts = cJSON_GetObjectItem(o, "ts"), *level = cJSON_GetObjectItem(o, "level");
		cr_assert(cJSON_IsString(ts) && strlen(ts->valuestring) == 24 &&
				  ts->valuestring[10] == 'T' && ts->valuestring[23] == 'Z',
			  "ts: %s", line);
		cr_assert(cJSON_IsString(level), "level: %s", line);
		bool known = false;
		for (size_t i = 0; i < 4; i++)
			known = known || strcmp(level->valuestring, levels[i]) == 0;
		cr_assert(known, "level: %s", line);
		cr_assert(cJSON_IsString(cJSON_GetObjectItem(o, "event")), "event: %s", line);
		cr_assert(cJSON_IsString(cJSON_GetObjectItem(o, "msg")), "msg: %s", line);
		cJSON_AddItemToArray(all, o);
	}
	cr_assert_eq(*line, '\0', "the log ends with a newline");
	free(log);
	return all;
}

/* event returns the first event named name in events, or fails the test. */
static cJSON *event(cJSON *events, const char *name)
{
	cJSON *o;

	cJSON_ArrayForEach(o, events)
	{
		if (strcmp(cJSON_GetObjectItem(o, "event")->valuestring, name) == 0)
			return o;
	}
	cr_assert_fail("no \"%s\" event in the log", name);
	return NULL;
}

static const char *str_of(cJSON *o, const char *key)
{
	cJSON *v = cJSON_GetObjectItem(o, key);
	cr_assert(cJSON_IsString(v), "\"%s\" is not a string", key);
	return v->valuestring;
}

static double num_of(cJSON *o, const char *key)
{
	cJSON *v = cJSON_GetObjectItem(o, key);
	cr_assert(cJSON_IsNumber(v), "\"%s\" is not a number", key);
	return v->valuedouble;
}

/* index_of returns the position of the first event named name in events. */
static int index_of(cJSON *events, const char *name)
{
	int i = 0;
	cJSON *o;

	cJSON_ArrayForEach(o, events)
	{
		if (strcmp(str_of(o, "event"), name) == 0)
			return i;
		i++;
	}
	return -1;
}

static void call(const char *method, const char *path, const char *body, long status)
{
	struct th_resp r;

	cr_assert_eq(th_call(&ht_srv, method, path, body, &r), status, "%s %s: %ld %s", method, path,
		     r.status, r.body);
	th_resp_free(&r);
}

Test(logs, json_lines_carry_the_startup_and_shutdown_events, .init = ht_setup, .fini = ht_stop)
{
	char addr[64];
	cJSON *ev, *o;

	cr_assert(th_start(&ht_srv, json_args));
	cr_assert_eq(th_stop(&ht_srv, SIGTERM), 0);
	ev = log_events();
	o = event(ev, "starting");
	cr_assert_str_eq(str_of(o, "level"), "info");
	cr_assert_str_eq(str_of(o, "version"), "1.0.0");
	cr_assert_gt(num_of(o, "pid"), 0);
	o = event(ev, "opening");
	cr_assert_str_eq(str_of(o, "data_dir"), ht_srv.data);
	cr_assert_str_eq(str_of(o, "sync"), "always");
	o = event(ev, "recovered");
	cr_assert_eq(num_of(o, "queues"), 0);
	cr_assert_eq(num_of(o, "records"), 0);
	cr_assert_eq(num_of(o, "messages"), 0);
	cr_assert_geq(num_of(o, "ms"), 0);
	o = event(ev, "listening");
	snprintf(addr, sizeof(addr), "127.0.0.1:%u", (unsigned)ht_srv.port);
	cr_assert_str_eq(str_of(o, "addr"), addr);
	cr_assert(cJSON_IsFalse(cJSON_GetObjectItem(o, "auth")));
	cr_assert_str_eq(str_of(event(ev, "shutting_down"), "signal"), "SIGTERM");
	cr_assert_str_eq(str_of(event(ev, "stopped"), "level"), "info");
	cr_assert_lt(index_of(ev, "starting"), index_of(ev, "opening"));
	cr_assert_lt(index_of(ev, "opening"), index_of(ev, "recovered"));
	cr_assert_lt(index_of(ev, "recovered"), index_of(ev, "listening"));
	cr_assert_lt(index_of(ev, "listening"), index_of(ev, "shutting_down"));
	cr_assert_lt(index_of(ev, "shutting_down"), index_of(ev, "stopped"));
	cJSON_Delete(ev);
}

Test(logs, json_recovery_event_counts_what_a_restart_found, .init = ht_setup, .fini = ht_stop)
{
	const char *const args[] = { "--log-format", "json", "--sync", "interval",
				     "--sync-interval-ms", "250", NULL };
	cJSON *ev, *o;

	cr_assert(th_start(&ht_srv, json_args));
	call("POST", "/v1/queues/jobs/messages/batch", "[1,2,3]", 201);
	call("POST", "/v1/queues/jobs/messages/pop", NULL, 200);
	call("PUT", "/v1/queues/other", NULL, 201);
	cr_assert_eq(th_stop(&ht_srv, SIGTERM), 0);
	cr_assert(th_start(&ht_srv, args));
	cr_assert_eq(th_stop(&ht_srv, SIGTERM), 0);
	ev = log_events();
	o = event(ev, "opening");
	cr_assert_str_eq(str_of(o, "sync"), "interval");
	cr_assert_eq(num_of(o, "sync_interval_ms"), 250);
	o = event(ev, "recovered");
	cr_assert_eq(num_of(o, "queues"), 2);
	cr_assert_eq(num_of(o, "records"), 4, "3 data records and a pop");
	cr_assert_eq(num_of(o, "messages"), 2);
	cr_assert_eq(num_of(o, "corrupt_records"), 0);
	cr_assert_eq(num_of(o, "torn_bytes"), 0);
	cr_assert_geq(num_of(o, "ms"), 0);
	cJSON_Delete(ev);
}

/* send_everywhere sends MARK in every kind of body and reads it back. */
static void send_everywhere(void)
{
	char big[4096];
	int fd;

	call("POST", "/v1/queues/jobs/messages", "{\"secret\":\"" MARK "\"}", 201);
	call("POST", "/v1/queues/jobs/messages/batch", "[\"" MARK "\",{\"k\":\"" MARK "\"}]", 201);
	call("POST", "/v1/queues/jobs/messages", "{\"secret\":\"" MARK, 400);
	call("POST", "/v1/queues/jobs/messages/batch", "{\"not\":\"" MARK "\"}", 400);
	call("PUT", "/v1/queues/small", "{\"max_message_bytes\":64}", 201);
	memset(big, 'a', sizeof(big));
	memcpy(big, "[\"" MARK, strlen(MARK) + 2);
	memcpy(big + sizeof(big) - 3, "\"]", 3);
	call("POST", "/v1/queues/small/messages", big, 413);
	call("PUT", "/v1/queues/jobs", "{\"bogus\":\"" MARK "\"}", 400);
	call("GET", "/v1/queues/jobs/messages?limit=10", NULL, 200);
	call("POST", "/v1/queues/jobs/messages/lease?limit=1", NULL, 200);
	call("POST", "/v1/queues/jobs/messages/pop?limit=10", NULL, 200);
	/* A request libmicrohttpd cannot parse, with the mark in its body: at debug level it may log. */
	fd = th_raw(&ht_srv);
	cr_assert_geq(fd, 0);
	static const char junk[] = "POST /v1/queues/jobs/messages HTTP/1.1\r\nHost: x\r\n"
				   "Content-Length: zz\r\n\x01\xff\r\n\r\n" MARK;
	cr_assert_eq(write(fd, junk, sizeof(junk) - 1), (ssize_t)(sizeof(junk) - 1));
	tu_sleep_ms(200);
	close(fd);
}

Test(logs, payloads_never_reach_the_json_log, .init = ht_setup, .fini = ht_stop)
{
	const char *const args[] = { "--log-format", "json", "--log-level", "debug", NULL };
	char *log;
	cJSON *ev;

	cr_assert(th_start(&ht_srv, args));
	send_everywhere();
	cr_assert_eq(th_stop(&ht_srv, SIGTERM), 0);
	log = read_file(ht_srv.log);
	cr_assert_null(strstr(log, MARK), "a payload reached the log:\n%s", log);
	free(log);
	ev = log_events(); /* every line, debug ones included, is one JSON object */
	/* libmicrohttpd's complaint about the malformed request is an event too, without its body. */
	cr_assert_str_eq(str_of(event(ev, "http"), "level"), "debug");
	cJSON_Delete(ev);
}

Test(logs, text_lines_are_key_value_and_hold_no_payload, .init = ht_setup, .fini = ht_stop)
{
	const char *const args[] = { "--log-level", "debug", NULL };
	char want[128], *log, *line, *eol;

	cr_assert(th_start(&ht_srv, args));
	send_everywhere();
	cr_assert_eq(th_stop(&ht_srv, SIGTERM), 0);
	log = read_file(ht_srv.log);
	cr_assert_null(strstr(log, MARK), "a payload reached the log:\n%s", log);
	snprintf(want, sizeof(want), " level=info event=listening addr=127.0.0.1:%u ",
		 (unsigned)ht_srv.port);
	cr_assert_not_null(strstr(log, want), "no \"%s\" in:\n%s", want, log);
	cr_assert_not_null(strstr(log, " level=info event=recovered queues=0 records=0 messages=0 "));
	cr_assert_not_null(strstr(log, " level=info event=stopped msg=stopped\n"), "%s", log);
	for (line = log; (eol = strchr(line, '\n')) != NULL; line = eol + 1) {
		*eol = '\0';
		cr_assert_eq(strncmp(line, "ts=", 3), 0, "%s", line);
		cr_assert_eq(line[27], ' ', "%s", line);
		cr_assert_eq(strncmp(line + 28, "level=", 6), 0, "%s", line);
		cr_assert_not_null(strstr(line, " event="), "%s", line);
		cr_assert_not_null(strstr(line, " msg="), "%s", line);
	}
	free(log);
}

Test(logs, format_comes_from_the_environment_and_is_checked, .init = ht_setup, .fini = ht_stop)
{
	cJSON *ev;
	char *log;

	setenv("MMQ_LOG_FORMAT", "json", 1);
	cr_assert(th_start(&ht_srv, NULL));
	unsetenv("MMQ_LOG_FORMAT");
	cr_assert_eq(th_stop(&ht_srv, SIGTERM), 0);
	ev = log_events();
	cr_assert_str_eq(str_of(event(ev, "stopped"), "msg"), "stopped");
	cJSON_Delete(ev);
	cr_assert_eq(th_run_mmqd((const char *const[]){ "--log-format", "xml", NULL }, ht_srv.log), 2);
	log = read_file(ht_srv.log);
	cr_assert_not_null(strstr(log, "invalid value \"xml\" for --log-format"), "%s", log);
	free(log);
}

Test(logs, a_locked_data_dir_is_an_error_event, .init = ht_setup, .fini = ht_stop)
{
	struct th_server other;
	cJSON *ev, *o;

	th_setup(&other);
	cr_assert(th_start(&other, NULL));
	cr_assert_eq(th_run_mmqd((const char *const[]){ "--log-format", "json", "--listen",
						     "127.0.0.1:0", "--data-dir", other.data,
						     NULL }, ht_srv.log),
		     1);
	ev = log_events();
	o = event(ev, "data_dir_locked");
	cr_assert_str_eq(str_of(o, "level"), "error");
	cr_assert_str_eq(str_of(o, "data_dir"), other.data);
	cr_assert_eq(index_of(ev, "listening"), -1);
	cJSON_Delete(ev);
	th_teardown(&other);
}

Test(logs, recovery_problems_are_logged_with_file_and_offset, .init = ht_setup, .fini = ht_stop)
{
	struct queue_store_options o;
	struct queue_store *st = NULL;
	struct queue_payload p = { "{\"n\":1}", 7 };
	struct tu_record rec[8];
	char *qdir, **segs = NULL;
	size_t nsegs, n;
	cJSON *ev, *e;

	queue_store_options_default(&o);
	cr_assert_eq(queue_store_open(ht_srv.data, &o, &st, NULL), QUEUE_OK);
	for (int i = 0; i < 3; i++)
		cr_assert_eq(queue_enqueue(st, "jobs", &p, 1, 0, NULL, NULL), QUEUE_OK);
	cr_assert_eq(queue_store_close(st), QUEUE_OK);
	qdir = tu_path(ht_srv.data, "queues/jobs");
	nsegs = tu_segments(qdir, &segs);
	cr_assert_eq(nsegs, 1);
	n = tu_seg_records(segs[0], rec, 8);
	cr_assert_eq(n, 3);
	uint64_t end = rec[2].off + rec[2].size;
	cr_assert_eq(tu_file_write(segs[0], end, "garbage!", 8), 0);
	cr_assert(th_start(&ht_srv, json_args));
	cr_assert_eq(th_stop(&ht_srv, SIGTERM), 0);
	ev = log_events();
	e = event(ev, "recovery_problem");
	cr_assert_str_eq(str_of(e, "level"), "warn");
	cr_assert_str_eq(str_of(e, "queue"), "jobs");
	cr_assert_str_eq(str_of(e, "file"), strrchr(segs[0], '/') + 1);
	cr_assert_eq(num_of(e, "offset"), (double)end);
	cr_assert_eq(strncmp(str_of(e, "problem"), "torn tail", 9), 0);
	e = event(ev, "recovery_damage");
	cr_assert_str_eq(str_of(e, "level"), "warn");
	cr_assert_eq(num_of(e, "torn_bytes"), 8);
	cr_assert_eq(num_of(event(ev, "recovered"), "messages"), 3);
	cJSON_Delete(ev);
	tu_strv_free(segs, nsegs);
	free(qdir);
}

/* A data dir name with quotes, '=', a backslash, control characters, UTF-8 and a stray byte. */
#define ODD_NAME "d a\"t=a\\\n\t\x01\xc3\xa9\xff"

Test(logs, odd_bytes_in_fields_are_escaped_in_json, .init = ht_setup, .fini = ht_stop)
{
	char *odd = tu_path(ht_srv.dir, ODD_NAME);
	char *want = tu_path(ht_srv.dir, "d a\"t=a\\\n\t\x01\xc3\xa9\xef\xbf\xbd");
	const char *const args[] = { "--data-dir", odd, "--log-format", "json", NULL };
	cJSON *ev;

	cr_assert(th_start(&ht_srv, args));
	cr_assert_eq(th_stop(&ht_srv, SIGTERM), 0);
	ev = log_events(); /* one JSON object per line: nothing broke a line or the JSON */
	cr_assert_str_eq(str_of(event(ev, "opening"), "data_dir"), want,
			 "the stray byte becomes U+FFFD, the rest is kept");
	cJSON_Delete(ev);
	free(want);
	free(odd);
}

Test(logs, odd_bytes_in_fields_are_quoted_and_escaped_in_text, .init = ht_setup, .fini = ht_stop)
{
	char *odd = tu_path(ht_srv.dir, ODD_NAME), *log, want[4096];
	const char *const args[] = { "--data-dir", odd, NULL };

	cr_assert(th_start(&ht_srv, args));
	cr_assert_eq(th_stop(&ht_srv, SIGTERM), 0);
	log = read_file(ht_srv.log);
	snprintf(want, sizeof(want),
		 " event=opening data_dir=\"%s/d a\\\"t=a\\\\\\n\\t\\x01\xc3\xa9\\xff\" sync=always ",
		 ht_srv.dir);
	cr_assert_not_null(strstr(log, want), "no %s in:\n%s", want, log);
	free(log);
	free(odd);
}

/* httptest.c: request helpers shared by the Criterion HTTP suites. */
#include "httptest.h"

#include <criterion/criterion.h>
#include <stdlib.h>
#include <unistd.h>

struct th_server ht_srv;

void ht_setup(void)
{
	th_setup(&ht_srv);
}

void ht_start(void)
{
	ht_setup();
	cr_assert(th_start(&ht_srv, NULL), "mmqd did not start");
}

void ht_stop(void)
{
	th_teardown(&ht_srv);
}

void ht_expect_on(struct th_server *srv, const char *method, const char *path, const char *body,
		  long status, const char *want)
{
	struct th_resp r;

	th_call(srv, method, path, body, &r);
	cr_assert_eq(r.status, status, "%s %s %s: status %ld, want %ld (%s)", method, path,
		     body ? body : "", r.status, status, r.body);
	if (want != NULL)
		cr_assert_str_eq(r.body, want, "%s %s %s", method, path, body ? body : "");
	th_resp_free(&r);
}

void ht_expect(const char *method, const char *path, const char *body, long status, const char *want)
{
	ht_expect_on(&ht_srv, method, path, body, status, want);
}

pid_t ht_spawn(const char *const *argv, const char *in, const char *out)
{
	pid_t pid = th_spawn(argv, in, out);

	cr_assert_geq(pid, 0, "cannot start %s", argv[0]);
	return pid;
}

int ht_run_mmqd(const char *const *args, char **out)
{
	char tmpl[] = "/tmp/mmq-run-XXXXXX";
	int fd = mkstemp(tmpl), status;

	cr_assert_geq(fd, 0, "cannot make a temporary file");
	close(fd);
	status = th_run_mmqd(args, tmpl);
	*out = th_read_text(tmpl);
	unlink(tmpl);
	return status;
}

void ht_write_text(const char *path, const char *text)
{
	cr_assert(th_write_text(path, text), "cannot write %s", path);
}

cJSON *ht_json_of(const char *method, const char *path, const char *body, long status)
{
	struct th_resp r;
	cJSON *j;

	th_call(&ht_srv, method, path, body, &r);
	cr_assert_eq(r.status, status, "%s %s: status %ld, want %ld (%s)", method, path, r.status, status, r.body);
	j = cJSON_Parse(r.body);
	cr_assert_not_null(j, "%s %s: body is not JSON: %s", method, path, r.body);
	th_resp_free(&r);
	return j;
}

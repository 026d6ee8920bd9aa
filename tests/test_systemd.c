/* test_systemd.c: server/mmqd.service passes systemd-analyze verify and security, and installs. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "httptest.h"
#include "testutil.h"

/* Long enough to install systemd-analyze first, when it is missing and we are root. */
TestSuite(systemd, .timeout = 300);

static char *dir;

static void setup(void)
{
	dir = tu_tempdir();
}

static void teardown(void)
{
	tu_rmrf(dir);
	free(dir);
}

/* sh runs cmd with sh -c, stdout and stderr into *out (caller frees). Returns the exit status. */
static int sh(const char *cmd, char **out)
{
	char *log = tu_path(dir, "cmd.out"), *full = malloc(strlen(cmd) + strlen(log) + 32);
	FILE *f;
	int status;

	sprintf(full, "{ %s ; } >%s 2>&1", cmd, log);
	status = system(full);
	f = fopen(log, "r");
	*out = calloc(1, 65536);
	if (f != NULL) {
		if (fread(*out, 1, 65535, f) == 0)
			(*out)[0] = '\0';
		fclose(f);
	}
	free(full);
	free(log);
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* need_analyze finds systemd-analyze: as root on Debian it installs systemd, else skips the test. */
static void need_analyze(void)
{
	char *out;
	int rc = sh("command -v systemd-analyze", &out);

	free(out);
	if (rc == 0)
		return;
	if (geteuid() == 0 && sh("command -v apt-get", &out) == 0) {
		free(out);
		rc = sh("export DEBIAN_FRONTEND=noninteractive; o='-y -q -o DPkg::Lock::Timeout=120'; "
			"apt-get install $o systemd || { apt-get update -q && apt-get install $o systemd; }",
			&out);
		cr_assert_eq(rc, 0, "apt-get install systemd failed:\n%s", out);
		free(out);
		return;
	}
	free(out);
	cr_skip_test("systemd-analyze is missing: install the systemd package to check the unit");
}

/* local_unit copies the unit into the test directory with ExecStart pointing at the built mmqd. */
static char *local_unit(void)
{
	const char *mmqd = th_mmqd();
	char *src = th_repo_path("server/mmqd.service"), *dst = tu_path(dir, "mmqd.service");
	char line[4096], abs[4096];
	FILE *in = fopen(src, "r"), *outf = fopen(dst, "w");
	bool rewritten = false;

	cr_assert_not_null(in, "%s not found", src);
	cr_assert_not_null(outf);
	cr_assert_not_null(realpath(mmqd, abs), "mmqd is not built");
	while (fgets(line, sizeof(line), in) != NULL) {
		if (strcmp(line, "ExecStart=/usr/local/bin/mmqd\n") == 0) {
			fprintf(outf, "ExecStart=%s\n", abs);
			rewritten = true;
		} else {
			fputs(line, outf);
		}
	}
	fclose(in);
	fclose(outf);
	cr_assert(rewritten, "the unit has no ExecStart=/usr/local/bin/mmqd line");
	free(src);
	return dst;
}

Test(systemd, unit_has_the_required_settings, .init = setup, .fini = teardown)
{
	static const char *const want[] = {
		"\nExecStart=/usr/local/bin/mmqd\n", "\nEnvironment=MMQ_DATA_DIR=/var/lib/mmq\n",
		"\nDynamicUser=yes\n",		     "\nStateDirectory=mmq\n",
		"\nProtectSystem=strict\n",	     "\nProtectHome=yes\n",
		"\nNoNewPrivileges=yes\n",	     "\nPrivateTmp=yes\n",
		"\nKillSignal=SIGTERM\n",	     "\nTimeoutStopSec=",
		"\nRestart=on-failure\n",	     "\nLimitNOFILE=",
		"\nWantedBy=multi-user.target\n",
	};
	char *path = th_repo_path("server/mmqd.service"), *text = calloc(1, 65536);
	FILE *f = fopen(path, "r");

	cr_assert_not_null(f, "%s not found", path);
	text[0] = '\n';
	if (fread(text + 1, 1, 65534, f) == 0)
		cr_assert_fail("%s is empty", path);
	fclose(f);
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++)
		cr_assert_not_null(strstr(text, want[i]), "the unit lacks %s", want[i] + 1);
	free(text);
	free(path);
}

Test(systemd, unit_passes_systemd_analyze_verify, .init = setup, .fini = teardown)
{
	char cmd[8192], *out, *unit;
	int rc;

	need_analyze();
	unit = local_unit();
	snprintf(cmd, sizeof(cmd), "systemd-analyze verify %s", unit);
	rc = sh(cmd, &out);
	cr_assert_eq(rc, 0, "systemd-analyze verify failed:\n%s", out);
	/* Unknown keys and bad values are only warnings: there must be none about our unit. */
	cr_assert_null(strstr(out, "mmqd.service"), "systemd-analyze verify warns:\n%s", out);
	free(out);
	free(unit);
}

Test(systemd, unit_is_hardened, .init = setup, .fini = teardown)
{
	char cmd[8192], *out, *unit;
	int rc;

	need_analyze();
	unit = local_unit();
	/* Exposure 2.0 or less of 10 ("OK"); the unit scores 1.4 with systemd 252. */
	snprintf(cmd, sizeof(cmd), "systemd-analyze security --offline=yes --threshold=20 %s", unit);
	rc = sh(cmd, &out);
	cr_assert_eq(rc, 0, "the unit's exposure is above 2.0:\n%s", out);
	free(out);
	free(unit);
}

Test(systemd, make_install_systemd_installs_the_unit, .init = setup, .fini = teardown)
{
	char cmd[8192], *out, *repo = th_repo_path("Makefile"), *src = th_repo_path("server/mmqd.service");
	char *dest;
	char *slash = strrchr(repo, '/');

	if (slash == NULL) /* found in the current directory */
		strcpy(repo, ".");
	else
		*slash = '\0';
	snprintf(cmd, sizeof(cmd), "make -s -C %s install-systemd DESTDIR=%s", repo, dir);
	cr_assert_eq(sh(cmd, &out), 0, "%s:\n%s", cmd, out);
	free(out);
	dest = tu_path(dir, "etc/systemd/system/mmqd.service");
	snprintf(cmd, sizeof(cmd), "cmp %s %s && test \"$(stat -c %%a %s)\" = 644", src, dest, dest);
	cr_assert_eq(sh(cmd, &out), 0, "the installed unit differs:\n%s", out);
	free(out);
	free(dest);
	free(src);
	free(repo);
}

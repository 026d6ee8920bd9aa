/* plain_main.c: runs the tests registered through tests/plain/criterion/criterion.h, one after another. */
#include <criterion/criterion.h>

#define PLAIN_MAX 64

static struct plain_test tests[PLAIN_MAX];
static int ntests;
static struct plain_suite suite_opts;

void plain_register(const char *suite, const char *name, void (*fn)(void))
{
	if (ntests < PLAIN_MAX)
		tests[ntests++] = (struct plain_test){ suite, name, fn };
}

void plain_suite(const char *suite, struct plain_suite s)
{
	(void)suite;
	suite_opts = s;
}

void plain_fail(const char *file, int line, const char *expr)
{
	fprintf(stderr, "%s:%d: assertion failed: %s\n", file, line, expr);
	exit(1);
}

int main(void)
{
	for (int i = 0; i < ntests; i++) {
		fprintf(stderr, "[RUN ] %s::%s\n", tests[i].suite, tests[i].name);
		if (suite_opts.init != NULL)
			suite_opts.init();
		tests[i].fn();
		if (suite_opts.fini != NULL)
			suite_opts.fini();
		fprintf(stderr, "[PASS] %s::%s\n", tests[i].suite, tests[i].name);
	}
	fprintf(stderr, "plain: %d tests passed\n", ntests);
	return 0;
}

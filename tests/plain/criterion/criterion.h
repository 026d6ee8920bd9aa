/*
 * criterion.h (plain): a stand-in for the few Criterion macros the concurrency
 * suite uses, so that suite also runs as an ordinary program. Criterion 2.4
 * cannot start under ThreadSanitizer; `make SANITIZE=thread test-concurrency`
 * builds tests/test_queue_concurrency.c against this header instead.
 */
#ifndef MMQ_PLAIN_CRITERION_H
#define MMQ_PLAIN_CRITERION_H

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct plain_suite {
	int unused;
	void (*init)(void);
	void (*fini)(void);
	int timeout;
};

struct plain_test {
	const char *suite, *name;
	void (*fn)(void);
};

void plain_register(const char *suite, const char *name, void (*fn)(void));
void plain_suite(const char *suite, struct plain_suite s);
void plain_fail(const char *file, int line, const char *expr);

#define PLAIN_CAT(a, b) a##b
#define TestSuite(suite, ...)                                                                     \
	__attribute__((constructor)) static void PLAIN_CAT(plain_suite_, suite)(void)             \
	{                                                                                          \
		plain_suite(#suite, (struct plain_suite){ .unused = 0, __VA_ARGS__ });             \
	}                                                                                          \
	extern int plain_semicolon_sink
#define Test(suite, name)                                                                         \
	static void suite##_##name(void);                                                          \
	__attribute__((constructor)) static void plain_reg_##suite##_##name(void)                  \
	{                                                                                          \
		plain_register(#suite, #name, suite##_##name);                                     \
	}                                                                                          \
	static void suite##_##name(void)

#define PLAIN_CHECK(ok, expr)                                                                     \
	do {                                                                                       \
		if (!(ok))                                                                         \
			plain_fail(__FILE__, __LINE__, expr);                                      \
	} while (0)
#define PLAIN_1(c, ...) PLAIN_CHECK((c), #c)
#define PLAIN_2(a, b, op) PLAIN_CHECK((a)op(b), #a " " #op " " #b)
#define cr_assert(...) PLAIN_1(__VA_ARGS__, 0)
#define cr_assert_eq(...) PLAIN_EQ(__VA_ARGS__, 0)
#define PLAIN_EQ(a, b, ...) PLAIN_2(a, b, ==)
#define cr_assert_neq(...) PLAIN_NEQ(__VA_ARGS__, 0)
#define PLAIN_NEQ(a, b, ...) PLAIN_2(a, b, !=)
#define cr_assert_gt(...) PLAIN_GT(__VA_ARGS__, 0)
#define PLAIN_GT(a, b, ...) PLAIN_2(a, b, >)
#define cr_assert_lt(...) PLAIN_LT(__VA_ARGS__, 0)
#define PLAIN_LT(a, b, ...) PLAIN_2(a, b, <)
#define cr_assert_leq(...) PLAIN_LEQ(__VA_ARGS__, 0)
#define PLAIN_LEQ(a, b, ...) PLAIN_2(a, b, <=)
#define cr_assert_geq(...) PLAIN_GEQ(__VA_ARGS__, 0)
#define PLAIN_GEQ(a, b, ...) PLAIN_2(a, b, >=)
#define cr_assert_str_eq(...) PLAIN_STREQ(__VA_ARGS__, 0)
#define PLAIN_STREQ(a, b, ...) PLAIN_CHECK(strcmp((a), (b)) == 0, #a " equals " #b)

#endif

/*
 * Minimal host unit-test harness. A test file defines test functions with
 * UNIT_TEST(name) and ends with UNIT_MAIN(); each CHECK that fails prints
 * file:line and marks the test failed. The program prints one line per test,
 * "PASS unit/<file>/<name>" or "FAIL unit/<file>/<name>", which
 * test/run-all counts, and exits non-zero when any test failed.
 */
#ifndef KAPSEL_TEST_UNIT_H
#define KAPSEL_TEST_UNIT_H

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct unit_test {
	const char *name;
	void (*run)(void);
};

extern int unit_current_failed;
#define UNIT_MAX_TESTS 256
extern struct unit_test unit_tests[UNIT_MAX_TESTS];
extern int unit_test_count;

#define UNIT_TEST(test_name)                                                   \
	static void unit_test_##test_name(void);                                 \
	__attribute__((constructor)) static void unit_register_##test_name(void) \
	{                                                                        \
		unit_tests[unit_test_count].name = #test_name;                   \
		unit_tests[unit_test_count++].run = unit_test_##test_name;       \
	}                                                                        \
	static void unit_test_##test_name(void)

#define CHECK(cond)                                                          \
	do {                                                                 \
		if (!(cond)) {                                               \
			fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, \
				__LINE__, #cond);                            \
			unit_current_failed = 1;                             \
		}                                                            \
	} while (0)

#define CHECK_EQ(a, b)                                                         \
	do {                                                                   \
		unsigned long long unit_a_ = (unsigned long long)(a);         \
		unsigned long long unit_b_ = (unsigned long long)(b);         \
		if (unit_a_ != unit_b_) {                                      \
			fprintf(stderr, "%s:%d: CHECK_EQ failed: %s == %s (0x%llx != 0x%llx)\n", \
				__FILE__, __LINE__, #a, #b, unit_a_, unit_b_); \
			unit_current_failed = 1;                               \
		}                                                              \
	} while (0)

#define CHECK_STR(a, b)                                                      \
	do {                                                                 \
		if (strcmp((a), (b)) != 0) {                                 \
			fprintf(stderr, "%s:%d: CHECK_STR failed: \"%s\" != \"%s\"\n", \
				__FILE__, __LINE__, (a), (b));               \
			unit_current_failed = 1;                             \
		}                                                            \
	} while (0)

#define UNIT_MAIN()                                                        \
	int unit_current_failed;                                           \
	struct unit_test unit_tests[UNIT_MAX_TESTS];                       \
	int unit_test_count;                                               \
	int main(void)                                                     \
	{                                                                  \
		int failed = 0;                                            \
		for (int i = 0; i < unit_test_count; i++) {                \
			unit_current_failed = 0;                           \
			unit_tests[i].run();                               \
			printf("%s unit/%s/%s\n",                          \
			       unit_current_failed ? "FAIL" : "PASS",      \
			       UNIT_FILE_NAME, unit_tests[i].name);        \
			failed |= unit_current_failed;                     \
		}                                                          \
		if (unit_test_count == 0) {                                \
			printf("FAIL unit/%s/no-tests\n", UNIT_FILE_NAME); \
			return 1;                                          \
		}                                                          \
		return failed;                                             \
	}

#endif

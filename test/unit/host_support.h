/*
 * Host stand-ins for what vmkernel code under test calls below itself, and
 * helpers several unit tests share. Link test/unit/host_support.c into a
 * unit whose code logs (lib/log.c itself needs the vmkernel's printf, whose
 * names clash with libc).
 */
#ifndef KAPSEL_TEST_UNIT_HOST_SUPPORT_H
#define KAPSEL_TEST_UNIT_HOST_SUPPORT_H

#include <stddef.h>

/* The log stubs print to stderr ("log: ...") and keep what a test checks. */
struct host_log_capture {
	unsigned count;      /* messages since host_log_reset() */
	char last[512];      /* the latest message, formatted */
};
extern struct host_log_capture host_log;
void host_log_reset(void);
/* True when some message since host_log_reset() contained needle. */
int host_log_contains(const char *needle);

/*
 * Runs fn(arg) in a forked child so a test can feed hostile input to code
 * that might crash (an ASan report) or loop forever, and still report one
 * named FAIL instead of killing the whole unit. The child's stderr is kept
 * aside; its sanitizer summary, if any, is echoed in a form run-all does not
 * mistake for a sanitizer error of this process.
 */
enum host_isolated_outcome {
	HOST_ISOLATED_RETURNED, /* *result holds fn's return value */
	HOST_ISOLATED_CRASHED,
	HOST_ISOLATED_HUNG, /* still running after timeout_seconds */
};
enum host_isolated_outcome host_run_isolated(int (*fn)(void *arg), void *arg,
					     unsigned timeout_seconds, int *result);

#endif

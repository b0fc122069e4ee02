#include "host_support.h"

#include <lib/log.h>

#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

struct host_log_capture host_log;
/* Every message since the last reset, for host_log_contains(); the oldest
 * are dropped once it is full. */
static char host_log_all[16384];
static size_t host_log_all_length;

void host_log_reset(void)
{
	memset(&host_log, 0, sizeof(host_log));
	host_log_all[0] = '\0';
	host_log_all_length = 0;
}

int host_log_contains(const char *needle)
{
	return strstr(host_log_all, needle) != NULL;
}

static void host_log_keep(const char *fmt, va_list ap)
{
	vsnprintf(host_log.last, sizeof(host_log.last), fmt, ap);
	host_log.count++;
	size_t n = strlen(host_log.last);
	if (host_log_all_length + n + 1 > sizeof(host_log_all))
		host_log_all_length = 0;
	memcpy(host_log_all + host_log_all_length, host_log.last, n + 1);
	host_log_all_length += n;
	fprintf(stderr, "log: %s", host_log.last);
}

void log_vprintf(enum log_level level, const char *fmt, va_list ap)
{
	(void)level;
	host_log_keep(fmt, ap);
}

void log_printf(enum log_level level, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vprintf(level, fmt, ap);
	va_end(ap);
}

void log_emergency(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	host_log_keep(fmt, ap);
	va_end(ap);
}

/* Echoes the child's first sanitizer line, renamed so that run-all's grep
 * for "ERROR: AddressSanitizer" / "runtime error:" does not fire on it. */
static void echo_child_report(FILE *report)
{
	char line[512];

	rewind(report);
	while (fgets(line, sizeof(line), report)) {
		char *hit = strstr(line, "Sanitizer");
		if (!hit)
			hit = strstr(line, "runtime error");
		if (hit) {
			for (char *p = line; *p; p++)
				if (*p == ':')
					*p = ';';
			fprintf(stderr, "isolated child reported; %s", line);
			return;
		}
	}
}

enum host_isolated_outcome host_run_isolated(int (*fn)(void *arg), void *arg,
					     unsigned timeout_seconds, int *result)
{
	int pipe_fds[2];
	FILE *report = tmpfile();

	if (!report || pipe(pipe_fds) != 0) {
		perror("host_run_isolated");
		abort();
	}
	fflush(NULL);
	pid_t pid = fork();
	if (pid < 0) {
		perror("fork");
		abort();
	}
	if (pid == 0) {
		close(pipe_fds[0]);
		dup2(fileno(report), STDERR_FILENO);
		alarm(timeout_seconds);
		int value = fn(arg);
		if (write(pipe_fds[1], &value, sizeof(value)) != sizeof(value))
			_exit(3);
		/* _exit: no leak check or atexit handlers of the parent's state. */
		_exit(0);
	}
	close(pipe_fds[1]);
	int status = 0;
	int value = 0;
	ssize_t got = read(pipe_fds[0], &value, sizeof(value));
	close(pipe_fds[0]);
	waitpid(pid, &status, 0);
	enum host_isolated_outcome outcome;
	if (WIFSIGNALED(status) && WTERMSIG(status) == SIGALRM) {
		outcome = HOST_ISOLATED_HUNG;
	} else if (WIFEXITED(status) && WEXITSTATUS(status) == 0 && got == sizeof(value)) {
		outcome = HOST_ISOLATED_RETURNED;
		*result = value;
	} else {
		outcome = HOST_ISOLATED_CRASHED;
		echo_child_report(report);
	}
	fclose(report);
	return outcome;
}

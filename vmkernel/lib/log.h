/*
 * The vmkernel log: every message goes to an in-memory ring (readable later
 * by consoles and the management channel) and to every registered sink
 * (serial, screen). Usable from any layer and any CPU; a spinlock inside
 * keeps lines whole.
 */
#ifndef KAPSEL_LIB_LOG_H
#define KAPSEL_LIB_LOG_H

#include <stdarg.h>
#include <stddef.h>

enum log_level {
	LOG_ERROR = 0,
	LOG_WARN = 1,
	LOG_INFO = 2,
	LOG_DEBUG = 3,
};

typedef void (*log_sink_fn)(const char *text, size_t length);

void log_set_level(enum log_level level);
enum log_level log_get_level(void);
int log_add_sink(log_sink_fn sink);
void log_printf(enum log_level level, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
void log_vprintf(enum log_level level, const char *fmt, va_list ap);
/* Writes straight to the sinks, without the lock: for the panic path. */
void log_emergency(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Copies up to size-1 bytes of the ring's oldest-first contents. */
size_t log_ring_read(char *out, size_t size);

#define log_error(...) log_printf(LOG_ERROR, __VA_ARGS__)
#define log_warn(...) log_printf(LOG_WARN, __VA_ARGS__)
#define log_info(...) log_printf(LOG_INFO, __VA_ARGS__)
#define log_debug(...) log_printf(LOG_DEBUG, __VA_ARGS__)

#endif

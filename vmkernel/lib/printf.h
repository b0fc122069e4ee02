/* Formatting without libc: %d %i %u %x %X %o %p %s %c %%, with flags
 * '-', '0', width, precision and the length modifiers hh h l ll z t j. */
#ifndef KAPSEL_LIB_PRINTF_H
#define KAPSEL_LIB_PRINTF_H

#include <stdarg.h>
#include <stddef.h>

int vsnprintf(char *buf, size_t size, const char *fmt, va_list ap);
int snprintf(char *buf, size_t size, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

#endif

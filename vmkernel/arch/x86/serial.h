/* The 16550 UART on COM1: the vmkernel's first console and log sink. */
#ifndef KAPSEL_ARCH_X86_SERIAL_H
#define KAPSEL_ARCH_X86_SERIAL_H

#include <stdbool.h>
#include <stddef.h>

#define SERIAL_COM1 0x3f8

/* Programs 115200 8N1 with FIFOs; returns false when no UART answers. */
bool serial_init(void);
void serial_write(const char *text, size_t length);

#endif

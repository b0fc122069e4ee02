/* The vmkernel's own symbol table (generated at link time), for stack traces. */
#ifndef KAPSEL_LIB_KSYM_H
#define KAPSEL_LIB_KSYM_H

#include <stdint.h>

struct ksym_entry {
	uint32_t text_offset; /* from __kernel_text_start */
	uint32_t name_offset; /* into ksym_names */
};

/* Name of the function containing address, or NULL; *offset gets the distance. */
const char *ksym_lookup(uint64_t address, uint64_t *offset);

#endif

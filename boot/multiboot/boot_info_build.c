#include "multiboot_parse.h"

#include <lib/errno.h>
#include <lib/string.h>

void boot_info_reset(struct boot_info *out, uint32_t mode, uint32_t loader)
{
	memset(out, 0, sizeof(*out));
	out->magic = BOOT_INFO_MAGIC;
	out->version = BOOT_INFO_VERSION;
	out->mode = mode;
	out->loader = loader;
}

int boot_info_add_mem_range(struct boot_info *out, uint64_t base, uint64_t length, uint32_t type)
{
	if (!length)
		return 0;
	if (out->mem_range_count >= BOOT_MAX_MEM_RANGES)
		return -ENOSPC;
	/* Multiboot passes E820 types: 1-5 mean what boot_mem_type's 1-5 mean;
	 * everything else (6 disabled, 7 persistent memory, ...) is reserved. */
	if (type < BOOT_MEM_USABLE || type > BOOT_MEM_BAD)
		type = BOOT_MEM_RESERVED;
	struct boot_mem_range *r = &out->mem_ranges[out->mem_range_count++];
	r->base = base;
	r->length = base + length < base ? UINT64_MAX - base : length;
	r->type = type;
	r->reserved = 0;
	return 0;
}

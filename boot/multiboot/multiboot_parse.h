/*
 * Turning a multiboot loader's information block into struct boot_info.
 * Pure code: the vmkernel calls it in its first instructions, host unit
 * tests call it on canned blocks.
 */
#ifndef KAPSEL_BOOT_MULTIBOOT_PARSE_H
#define KAPSEL_BOOT_MULTIBOOT_PARSE_H

#include <stdint.h>

#include <boot_info.h>

/* Returns a pointer to [phys, phys+length) or NULL when unreachable. */
typedef const void *(*boot_phys_reader_fn)(uint64_t phys, uint64_t length);

/* Both return 0 or a negative errno value; on error out->cmdline is intact
 * where it could be read and a reason is in the returned message. */
int boot_parse_multiboot1(const void *info, boot_phys_reader_fn read, struct boot_info *out,
			  const char **why);
int boot_parse_multiboot2(const void *info, struct boot_info *out, const char **why);

/* Appends a range with a multiboot (E820) type, dropping empty ones;
 * types other than 1-5 become BOOT_MEM_RESERVED. Returns -ENOSPC when full. */
int boot_info_add_mem_range(struct boot_info *out, uint64_t base, uint64_t length, uint32_t type);
/* Starts a boot_info: zeroed, magic and version set. */
void boot_info_reset(struct boot_info *out, uint32_t mode, uint32_t loader);

#endif

/*
 * The C side of the boot entries: turn what the loader handed over into a
 * struct boot_info in vmkernel memory, then enter vmkernel_main().
 */
#include "multiboot_parse.h"

#include <boot_layout.h>

#include <lib/string.h>

#define MULTIBOOT1_LOADER_MAGIC 0x2badb002u
#define MULTIBOOT2_LOADER_MAGIC 0x36d76289u

extern char __kernel_phys_start[], __kernel_end[];

static struct boot_info boot_info_copy;

/* The boot page tables identity-map [0, 4 GiB): that is all a loader uses. */
static const void *boot_read_identity(uint64_t phys, uint64_t length)
{
	if (!phys || phys + length > (4ull << 30) || phys + length < phys)
		return NULL;
	return (const void *)phys;
}

__attribute__((noreturn)) void boot_multiboot_main(uint32_t magic, uint32_t info_phys);
__attribute__((noreturn)) void boot_multiboot_main(uint32_t magic, uint32_t info_phys)
{
	const char *problem = NULL;
	int rc;

	if (magic == MULTIBOOT2_LOADER_MAGIC && info_phys) {
		rc = boot_parse_multiboot2((const void *)(uint64_t)info_phys, &boot_info_copy, &problem);
	} else if (magic == MULTIBOOT1_LOADER_MAGIC && info_phys) {
		rc = boot_parse_multiboot1((const void *)(uint64_t)info_phys, boot_read_identity,
					   &boot_info_copy, &problem);
	} else {
		boot_info_reset(&boot_info_copy, BOOT_MODE_BIOS, BOOT_LOADER_MULTIBOOT1);
		problem = "entered without a multiboot loader's magic value";
		rc = -1;
	}
	if (rc < 0)
		boot_info_copy.magic = 0; /* unusable: vmkernel_main reports and halts */
	boot_info_copy.kernel_phys_start = (uint64_t)__kernel_phys_start;
	boot_info_copy.kernel_phys_end = (uint64_t)__kernel_end - KERNEL_VIRT_OFFSET;
	vmkernel_main(&boot_info_copy, problem);
}

__attribute__((noreturn)) void boot_efi_main(const struct boot_info *loader_info);
__attribute__((noreturn)) void boot_efi_main(const struct boot_info *loader_info)
{
	const char *problem = NULL;

	/* Copy first: the loader's memory becomes free RAM later. */
	memcpy(&boot_info_copy, loader_info, sizeof(boot_info_copy));
	if (boot_info_copy.magic != BOOT_INFO_MAGIC || boot_info_copy.version != BOOT_INFO_VERSION) {
		problem = "the EFI loader's boot_info has a wrong magic or version";
		boot_info_copy.magic = 0;
	} else if (boot_info_copy.mem_range_count == 0 ||
		   boot_info_copy.mem_range_count > BOOT_MAX_MEM_RANGES) {
		problem = "the EFI loader passed no usable memory map";
		boot_info_copy.magic = 0;
	}
	if (boot_info_copy.module_count > BOOT_MAX_MODULES)
		boot_info_copy.module_count = BOOT_MAX_MODULES;
	vmkernel_main(&boot_info_copy, problem);
}

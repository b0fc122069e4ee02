/*
 * The Linux boot protocols: a bzImage through its 64-bit entry point (zero
 * page with the e820 map, command line and initrd), and an uncompressed
 * vmlinux ELF through its PVH entry (the XEN_ELFNOTE_PHYS32_ENTRY note,
 * struct hvm_start_info). Pure logic like vm/guest_loader.h, whose guest
 * RAM layout and struct guest_memory it shares; every field of the image is
 * untrusted.
 *
 * Where things go (all below 1 MiB except the kernel and the initrd):
 *   0x1000   the zero page (struct boot_params) or struct hvm_start_info
 *            with its memory map and module list
 *   0x2000   the command line
 *   0x3000   GDT and TSS
 *   0x10000  bzImage only: identity-map page tables, up to 0x9f000
 *   kernel   the bzImage's protected-mode part at its preferred address
 *            (or the lowest aligned place above 1 MiB with room for
 *            init_size); a vmlinux at its segments' physical addresses
 *   initrd   as high as fits below initrd_addr_max, page aligned, above
 *            the kernel's init_size
 */
#ifndef KAPSEL_VM_LINUX_LOADER_H
#define KAPSEL_VM_LINUX_LOADER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <vm/guest_loader.h>

#define LINUX_LOADER_MAX_RESERVED 8

/* What the platform adds to the guest's memory map, and where its ACPI
 * RSDP is (0: the kernel scans for it). */
struct linux_platform {
	struct guest_ram_range reserved[LINUX_LOADER_MAX_RESERVED]; /* type ignored: reserved */
	unsigned reserved_count;
	uint64_t rsdp_address;
};

/* True for a bzImage with the "HdrS" setup header. */
bool linux_is_bzimage(const struct guest_image *kernel);
/* True for an ELF64 executable carrying a PVH entry note. */
bool linux_is_pvh_elf(const struct guest_image *kernel);

/*
 * Loads a bzImage (64-bit entry) or a PVH vmlinux, the optional initrd
 * (NULL or size 0: none), the command line (NULL = empty), and fills *out
 * with the starting CPU state (protocol GUEST_BOOT_ELF64 for a bzImage,
 * GUEST_BOOT_MULTIBOOT1-like 32-bit protected mode for PVH; info_address
 * is the zero page or the start info). Errors as guest_load().
 */
int linux_load(const struct guest_memory *mem, const struct guest_image *kernel,
	       const char *cmdline, const struct guest_image *initrd,
	       const struct linux_platform *platform, struct guest_boot_state *out, char *error,
	       size_t error_size);

#endif

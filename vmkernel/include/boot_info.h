/*
 * struct boot_info: the one hand-off from every boot path (GRUB multiboot2,
 * multiboot1 via `qemu -kernel`, the GNU-EFI loader) to vmkernel_main().
 *
 * The structure is self-contained (no pointers into loader memory) so the
 * vmkernel can copy it first thing and then reuse every frame the loader
 * owned. All addresses are physical.
 */
#ifndef KAPSEL_BOOT_INFO_H
#define KAPSEL_BOOT_INFO_H

#include <stdint.h>

#define BOOT_INFO_MAGIC 0x4f464e49544f4f42ul /* "BOOTINFO" */
#define BOOT_INFO_VERSION 1

#define BOOT_MAX_MEM_RANGES 256
#define BOOT_MAX_MODULES 64
#define BOOT_CMDLINE_MAX 512
#define BOOT_MODULE_NAME_MAX 128
#define BOOT_RSDP_MAX 36 /* ACPI 2.0+ RSDP size */

/* Physical address at which every loader places the vmkernel image's first
 * byte when it can; the EFI loader may choose another 2 MiB-aligned base. */
#define BOOT_KERNEL_DEFAULT_PHYS 0x200000ul
/* Virtual address of the kernel image's first byte (linked there). */
#define BOOT_KERNEL_VIRT_BASE 0xffffffff80200000ul

enum boot_mode {
	BOOT_MODE_BIOS = 1,
	BOOT_MODE_UEFI = 2,
};

enum boot_loader {
	BOOT_LOADER_MULTIBOOT2 = 1, /* GRUB */
	BOOT_LOADER_MULTIBOOT1 = 2, /* qemu -kernel */
	BOOT_LOADER_EFI = 3,        /* kapsel.efi */
};

enum boot_mem_type {
	BOOT_MEM_USABLE = 1,
	BOOT_MEM_RESERVED = 2,
	BOOT_MEM_ACPI_RECLAIMABLE = 3,
	BOOT_MEM_ACPI_NVS = 4,
	BOOT_MEM_BAD = 5,
	/* Holds the loader's page tables and buffers: usable once the vmkernel
	 * runs on its own page tables and has copied struct boot_info. */
	BOOT_MEM_LOADER_RECLAIMABLE = 6,
	/* Firmware runtime services (UEFI): never touched. */
	BOOT_MEM_FIRMWARE_RUNTIME = 7,
};

struct boot_mem_range {
	uint64_t base;
	uint64_t length;
	uint32_t type; /* enum boot_mem_type */
	uint32_t reserved;
};

struct boot_module {
	uint64_t phys_start;
	uint64_t phys_end; /* exclusive */
	char name[BOOT_MODULE_NAME_MAX]; /* the module's command line */
};

enum boot_fb_type {
	BOOT_FB_NONE = 0,
	BOOT_FB_RGB = 1,       /* linear framebuffer */
	BOOT_FB_EGA_TEXT = 2,  /* 80x25 text at phys_addr (0xb8000) */
};

struct boot_framebuffer {
	uint64_t phys_addr;
	uint32_t width;  /* pixels, or columns for text */
	uint32_t height; /* pixels, or rows for text */
	uint32_t pitch;  /* bytes per line */
	uint8_t bpp;
	uint8_t type; /* enum boot_fb_type */
	uint8_t red_shift, red_size;
	uint8_t green_shift, green_size;
	uint8_t blue_shift, blue_size;
};

struct boot_info {
	uint64_t magic;   /* BOOT_INFO_MAGIC */
	uint32_t version; /* BOOT_INFO_VERSION */
	uint32_t mode;    /* enum boot_mode */
	uint32_t loader;  /* enum boot_loader */
	uint32_t mem_range_count;
	uint32_t module_count;
	uint32_t acpi_rsdp_length; /* 0: no RSDP known */
	uint64_t acpi_rsdp_phys;   /* 0 if only the copy below is known */
	uint8_t acpi_rsdp[BOOT_RSDP_MAX]; /* copy of the RSDP */
	uint8_t pad[4];
	uint64_t efi_system_table; /* 0 on BIOS */
	uint64_t kernel_phys_start; /* where the image's first byte is */
	uint64_t kernel_phys_end;   /* exclusive, includes .bss */
	struct boot_framebuffer framebuffer;
	char cmdline[BOOT_CMDLINE_MAX];
	struct boot_mem_range mem_ranges[BOOT_MAX_MEM_RANGES];
	struct boot_module modules[BOOT_MAX_MODULES];
};

/*
 * The vmkernel's C entry, reached from every boot path on the BSP's boot
 * stack. problem, when not NULL, says what was wrong with the loader's
 * information (the vmkernel reports it once its console is up).
 */
#ifndef __ASSEMBLY__
__attribute__((noreturn)) void vmkernel_main(struct boot_info *boot, const char *problem);
#endif

/*
 * EFI loader hand-off contract (kapsel.efi -> vmkernel):
 * - long mode, interrupts disabled, boot services exited;
 * - CR3 holds the loader's page tables, which identity-map [0, 4 GiB) and
 *   map [BOOT_KERNEL_VIRT_BASE, +image size) to kernel_phys_start;
 * - every PT_LOAD segment is at kernel_phys_start + (p_paddr -
 *   BOOT_KERNEL_DEFAULT_PHYS), .bss zeroed; kernel_phys_start is 2 MiB aligned;
 * - control reaches the ELF entry point (e_entry, a virtual address) with
 *   %rdi = physical address (below 4 GiB) of a filled struct boot_info;
 * - the boot_info, the loader's page tables and its buffers are in ranges
 *   typed BOOT_MEM_LOADER_RECLAIMABLE; modules are below 4 GiB.
 * The multiboot paths enter at the physical multiboot entry instead.
 */

#endif

/*
 * Validation and placement of the vmkernel ELF64 image (see boot/vmkernel.ld).
 * Pure C, no firmware calls: the host unit tests feed it malformed files.
 */
#ifndef KAPSEL_EFI_ELF_IMAGE_H
#define KAPSEL_EFI_ELF_IMAGE_H

#include <stdint.h>

#define LOADER_ELF_MAX_SEGMENTS 16
/* One page directory maps the high half after BOOT_KERNEL_VIRT_BASE, and a
 * kernel near 1 GiB would be a build accident anyway. */
#define LOADER_KERNEL_MAX_IMAGE (1024ull * 1024 * 1024 - 2 * 1024 * 1024)

struct loader_elf_segment {
	uint64_t file_offset;
	uint64_t file_size;
	uint64_t memory_size;
	uint64_t image_offset; /* p_paddr - BOOT_KERNEL_DEFAULT_PHYS */
};

struct loader_elf_layout {
	uint64_t entry;      /* e_entry, a higher-half virtual address */
	uint64_t image_size; /* from the first byte to the end of .bss, page rounded */
	unsigned int segment_count;
	struct loader_elf_segment segments[LOADER_ELF_MAX_SEGMENTS];
};

/* Returns 0 when `file` is a loadable vmkernel, or a message saying why not. */
const char *loader_elf_check(const void *file, uint64_t file_size, struct loader_elf_layout *layout);

/* Zeroes layout->image_size bytes at `image` and copies every segment in. */
void loader_elf_copy(const void *file, const struct loader_elf_layout *layout, void *image);

#endif

/*
 * kapsel.efi internals: the pieces efi_main() strings together. Every
 * non-static symbol carries the loader_ prefix. The pure parts (boot.cfg
 * parsing, ELF checks, memory-range merging) are declared in their own
 * headers so host unit tests can build them without GNU-EFI.
 *
 * Errors: a function that fails prints why (loader_error) and returns the
 * EFI status; its callers only pass the status up.
 */
#ifndef KAPSEL_EFI_LOADER_H
#define KAPSEL_EFI_LOADER_H

#include <efi.h>
#include <efilib.h>

#include <boot_info.h>

#include "boot_config.h"
#include "elf_image.h"

#define LOADER_PAGE_SIZE 4096ull
#define LOADER_BELOW_4G 0xffffffffull /* highest byte an allocation may use */
#define LOADER_ERROR_DELAY_US 5000000 /* long enough to read the message */

static inline uint64_t loader_pages_for(uint64_t bytes)
{
	return (bytes + LOADER_PAGE_SIZE - 1) / LOADER_PAGE_SIZE;
}

/* console.c: ConOut output, every line prefixed "kapsel.efi: ". */
void loader_info(const CHAR16 *format, ...);
void loader_error(const CHAR16 *format, ...);
void loader_warn(const CHAR16 *format, ...);

/*
 * memory_alloc.c: every page the loader takes is EfiLoaderData and is
 * recorded, so a failed boot can hand it all back to the firmware.
 */
EFI_STATUS loader_alloc_pages_below(uint64_t max_address, uint64_t pages, uint64_t *phys);
EFI_STATUS loader_alloc_pages_at(uint64_t phys, uint64_t pages);
void loader_free_pages(uint64_t phys);
void loader_free_all(void);

/* file_io.c: files on the volume kapsel.efi was loaded from. */
EFI_STATUS loader_open_boot_volume(EFI_HANDLE image_handle);
void loader_close_boot_volume(void);
/* Reads a whole file into fresh pages below max_address. An empty file
 * still gets one page so phys is always a real allocation. */
EFI_STATUS loader_read_file(const char *path, uint64_t max_address, uint64_t *phys, uint64_t *size);

/* firmware_tables.c */
void loader_find_acpi_rsdp(struct boot_info *info);
void loader_find_framebuffer(struct boot_info *info);

/* memory_map.c */
struct loader_memory_map {
	EFI_MEMORY_DESCRIPTOR *buffer;
	UINTN capacity; /* bytes */
	UINTN size;     /* bytes used by the last snapshot */
	UINTN key;
	UINTN descriptor_size;
	UINT32 descriptor_version;
};
EFI_STATUS loader_memory_map_prepare(struct loader_memory_map *map);
EFI_STATUS loader_memory_map_snapshot(struct loader_memory_map *map);
/* End of the highest RAM range in the last snapshot. */
uint64_t loader_memory_map_top(const struct loader_memory_map *map);
/* Lowest free, `alignment`-aligned block of `size` bytes ending at or below
 * `limit`, from the last snapshot; it still has to be allocated. */
EFI_STATUS loader_memory_map_find_free(const struct loader_memory_map *map, uint64_t size,
				       uint64_t alignment, uint64_t limit, uint64_t *phys);
/* Fills info->mem_ranges from the snapshot; -1 if they do not fit. */
int loader_memory_map_convert(const struct loader_memory_map *map, struct boot_info *info);
/* Takes the final snapshot into info->mem_ranges and exits boot services.
 * EFI_SUCCESS: boot services are gone. An error return is still reportable
 * through ConOut; later failures end on COM1 and halt. */
EFI_STATUS loader_exit_boot_services(EFI_HANDLE image_handle, struct loader_memory_map *map,
				     struct boot_info *info);

/* kernel_load.c: validates the vmkernel ELF and copies it into place. */
EFI_STATUS loader_load_kernel(const char *path, struct loader_memory_map *map,
			      struct boot_info *info, uint64_t *entry);

/* page_tables.c: builds the hand-off tables; returns the CR3 value. */
EFI_STATUS loader_build_page_tables(const struct boot_info *info, uint64_t identity_top,
				    uint64_t *cr3);

/* handoff.c */
__attribute__((noreturn)) void loader_enter_kernel(uint64_t cr3, uint64_t stack_top,
						  uint64_t entry, uint64_t boot_info_phys);
/* After ExitBootServices ConOut is gone; COM1 is the last resort. */
__attribute__((noreturn)) void loader_halt_with_serial_message(const char *message);

#endif

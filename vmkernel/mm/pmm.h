/*
 * Physical frame allocator: a bitmap over [0, top of usable RAM) built from
 * the boot memory map. A frame is free only when the firmware called it
 * usable and nothing we know of (the vmkernel image, boot modules, the low
 * 1 MiB, the bitmap itself) lives in it.
 */
#ifndef KAPSEL_MM_PMM_H
#define KAPSEL_MM_PMM_H

#include <stdbool.h>
#include <stdint.h>

#include <boot_info.h>

#define PMM_FRAME_SIZE 4096ul
#define PMM_LOW_LIMIT 0x100000ul /* below 1 MiB: firmware land, only on request */

struct pmm_stats {
	uint64_t usable_bytes;   /* RAM the firmware called usable */
	uint64_t free_frames;
	uint64_t total_frames;   /* frames the bitmap tracks */
	uint64_t highest_usable; /* exclusive end of the highest usable range */
};

/* Host tests pass their own "physical memory" through phys_to_virt. */
struct pmm_phys_access {
	void *(*phys_to_virt)(uint64_t phys);
};

/* Builds the allocator. reserved[] lists extra ranges (image, modules) as
 * {base, length} pairs. Returns 0 or -ENOMEM / -EINVAL with a log line. */
int pmm_init(const struct boot_mem_range *ranges, uint32_t count,
	     const struct boot_mem_range *reserved, uint32_t reserved_count,
	     const struct pmm_phys_access *access);
/* Returns the physical address of a free frame (not zeroed), or 0. */
uint64_t pmm_alloc_frame(void);
/* count contiguous frames aligned to align bytes (a power of two >= 4 KiB). */
uint64_t pmm_alloc_contiguous(uint64_t count, uint64_t align);
/* A frame in [low, high): low memory for the AP start-up trampoline, early
 * page tables below 4 GiB, a frame above 4 GiB to prove high RAM works. */
uint64_t pmm_alloc_in(uint64_t low, uint64_t high);
void pmm_free_frame(uint64_t phys);
void pmm_free_contiguous(uint64_t phys, uint64_t count);
/* Frees usable frames typed LOADER_RECLAIMABLE, except reserved ranges. */
uint64_t pmm_reclaim(const struct boot_mem_range *ranges, uint32_t count, uint32_t type,
		     const struct boot_mem_range *reserved, uint32_t reserved_count);
bool pmm_is_free(uint64_t phys);
void pmm_get_stats(struct pmm_stats *out);
/* Switches how the bitmap is reached (identity map at boot, physmap later). */
void pmm_set_phys_access(const struct pmm_phys_access *access);

#endif

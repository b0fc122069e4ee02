/*
 * Sorted, merged list of struct boot_mem_range. Pure C (host unit tests).
 */
#ifndef KAPSEL_EFI_MEMORY_RANGES_H
#define KAPSEL_EFI_MEMORY_RANGES_H

#include <stdint.h>

#include <boot_info.h>

/*
 * Adds [base, base + length) of `type` to ranges[0 .. *count), kept sorted by
 * base. A range touching or overlapping a neighbour of the same type is
 * merged into it. Returns 0, or -1 when a new entry is needed and
 * *count == capacity (the list is then unchanged).
 */
int loader_memory_ranges_add(struct boot_mem_range *ranges, uint32_t *count, uint32_t capacity,
			     uint64_t base, uint64_t length, uint32_t type);

#endif

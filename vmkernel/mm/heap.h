/*
 * Kernel heap: power-of-two size classes (32 B .. 2 KiB) carved from
 * physmap pages, and whole contiguous frames above that. Every block
 * carries a header so kfree() needs no size and catches double frees.
 */
#ifndef KAPSEL_MM_HEAP_H
#define KAPSEL_MM_HEAP_H

#include <stddef.h>
#include <stdint.h>

void *kmalloc(size_t size);
void *kzalloc(size_t size);
void kfree(void *ptr);

struct heap_stats {
	uint64_t bytes_in_use;
	uint64_t allocations;
	uint64_t pages_from_pmm;
};
void heap_get_stats(struct heap_stats *out);

#endif

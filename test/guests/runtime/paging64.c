/*
 * Remapping single pages in the 64-bit runtime's identity map (built by
 * entry64.S: one PML4 entry, four page directories of 2 MiB pages). A
 * directory entry with PS (bit 7) maps 2 MiB; splitting it gives a page
 * table of 512 4 KiB entries. Bits: P=0, RW=1, US=2, PWT=3, PCD=4, PS=7.
 */
#include "internal.h"

#define PAGE_PRESENT_WRITABLE_USER 0x7
#define PAGE_UNCACHED 0x18
#define PAGE_LARGE 0x80
#define SPLIT_TABLES 4

extern uint64_t guest_page_directories[4 * 512];
static uint64_t split_tables[SPLIT_TABLES][512] __attribute__((aligned(4096)));
static unsigned split_tables_used;

uint64_t *guest_page_entry(uintptr_t virt)
{
	if (virt >> 32)
		guest_fail("guest_page_entry: 0x%lx is outside the identity-mapped 4 GiB", (unsigned long)virt);
	uint64_t *directory_entry = &guest_page_directories[virt >> 21];
	if (*directory_entry & PAGE_LARGE) {
		if (split_tables_used == SPLIT_TABLES)
			guest_fail("guest_page_entry: out of page tables");
		uint64_t *table = split_tables[split_tables_used++];
		uint64_t base = *directory_entry & 0xffe00000u, cache = *directory_entry & PAGE_UNCACHED;
		for (uint64_t i = 0; i < 512; i++)
			table[i] = (base + (i << 12)) | PAGE_PRESENT_WRITABLE_USER | cache;
		*directory_entry = (uintptr_t)table | PAGE_PRESENT_WRITABLE_USER | cache;
		write_cr3(read_cr3()); /* the old 2 MiB translation goes */
	}
	uint64_t *table = (uint64_t *)(uintptr_t)(*directory_entry & 0xfffffffff000ull);
	return &table[(virt >> 12) & 511];
}

void guest_map_page(uintptr_t virt, uint64_t phys)
{
	uint64_t *entry = guest_page_entry(virt);
	*entry = phys | PAGE_PRESENT_WRITABLE_USER | (*entry & PAGE_UNCACHED);
	invlpg(virt);
}

/*
 * Optional paging for 32-bit guests. Non-PAE 32-bit paging: CR3 -> page
 * directory of 1024 entries; with CR4.PSE an entry with PS (bit 7) maps
 * 4 MiB directly, otherwise it points to a page table of 1024 4 KiB
 * entries. Bits: P=0, RW=1, US=2, PWT=3, PCD=4, A=5, D=6, PS=7.
 */
#include "internal.h"

#define PAGE_PRESENT_WRITABLE 0x3
#define PAGE_UNCACHED 0x18
#define PAGE_LARGE 0x80
#define FIRST_UNCACHED_4M (0xfe000000u >> 22)
#define SPLIT_TABLES 4

static uint32_t page_directory[1024] __attribute__((aligned(4096)));
static uint32_t split_tables[SPLIT_TABLES][1024] __attribute__((aligned(4096)));
static unsigned split_tables_used;

static void paging_enable_identity(void)
{
	for (uint32_t i = 0; i < 1024; i++)
		page_directory[i] = (i << 22) | PAGE_PRESENT_WRITABLE | PAGE_LARGE |
				    (i >= FIRST_UNCACHED_4M ? PAGE_UNCACHED : 0);
	write_cr4(read_cr4() | CR4_PSE);
	write_cr3((uintptr_t)page_directory);
	write_cr0(read_cr0() | CR0_PG);
}

void guest_map_page(uintptr_t virt, uint64_t phys)
{
	if (!(read_cr0() & CR0_PG))
		paging_enable_identity();
	uint32_t *directory_entry = &page_directory[virt >> 22];
	if (*directory_entry & PAGE_LARGE) {
		if (split_tables_used == SPLIT_TABLES)
			guest_fail("guest_map_page: out of page tables");
		uint32_t *table = split_tables[split_tables_used++];
		uint32_t base = *directory_entry & 0xffc00000u, cache = *directory_entry & PAGE_UNCACHED;
		for (uint32_t i = 0; i < 1024; i++)
			table[i] = (base + (i << 12)) | PAGE_PRESENT_WRITABLE | cache;
		*directory_entry = (uint32_t)(uintptr_t)table | PAGE_PRESENT_WRITABLE | cache;
		write_cr3(read_cr3()); /* the old 4 MiB translation goes */
	}
	uint32_t *table = (uint32_t *)(uintptr_t)(*directory_entry & 0xfffff000u);
	table[(virt >> 12) & 1023] = (uint32_t)phys | PAGE_PRESENT_WRITABLE | (*directory_entry & PAGE_UNCACHED);
	invlpg(virt);
}

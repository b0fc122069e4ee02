/*
 * Hand-off page tables. x86-64 4-level paging: CR3 -> PML4 (512 entries,
 * 512 GiB each) -> PDPT (1 GiB each) -> PD (2 MiB each), every table one 4 KiB
 * page; bit 7 (PS) in a PDPT or PD entry maps a 1 GiB or 2 MiB page there.
 *
 * The contract asks for an identity map of [0, 4 GiB) and the kernel image at
 * BOOT_KERNEL_VIRT_BASE. We identity-map all RAM the firmware reported,
 * not just 4 GiB: the firmware may have put kapsel.efi, its stack, GDT and
 * IDT above 4 GiB, and the code that loads CR3 must keep running. 2 MiB pages
 * below 4 GiB, 1 GiB pages above when the CPU has them. If the firmware runs
 * with 5-level paging (CR4.LA57, which cannot be cleared in long mode), a
 * PML5 whose first and last entries point to our PML4 goes on top.
 */
#include "loader.h"

#define PTE_PRESENT 0x1ull
#define PTE_WRITABLE 0x2ull
#define PTE_LARGE 0x80ull
#define TABLE_ENTRIES 512
#define GIB (1ull << 30)
#define TWO_MIB (1ull << 21)
/* PML4 entries 0..255 cover the lower canonical half, 128 TiB. */
#define IDENTITY_LIMIT (256ull * 512 * GIB)
#define CR4_LA57 (1ull << 12)

struct table_pool {
	uint64_t *next;
	uint64_t *end;
};

static uint64_t *table_new(struct table_pool *pool)
{
	uint64_t *table = pool->next;

	/* Sized exactly below; running out would be a bug here. */
	if (table == pool->end)
		loader_halt_with_serial_message("kapsel.efi: error: page table pool exhausted\r\n");
	pool->next += TABLE_ENTRIES;
	return table;
}

static uint64_t table_entry(const uint64_t *table)
{
	return (uint64_t)(UINTN)table | PTE_PRESENT | PTE_WRITABLE;
}

static void cpuid(uint32_t leaf, uint32_t *eax, uint32_t *ebx, uint32_t *ecx, uint32_t *edx)
{
	__asm__ volatile("cpuid" : "=a"(*eax), "=b"(*ebx), "=c"(*ecx), "=d"(*edx) : "a"(leaf), "c"(0));
}

static uint64_t read_cr4(void)
{
	uint64_t value;

	__asm__ volatile("mov %%cr4, %0" : "=r"(value));
	return value;
}

EFI_STATUS loader_build_page_tables(const struct boot_info *info, uint64_t identity_top,
				    uint64_t *cr3)
{
	uint32_t eax, ebx, ecx, edx, max_extended;
	uint64_t physical_limit = 1ull << 36; /* architectural minimum */
	int gib_pages = 0, five_level = (read_cr4() & CR4_LA57) != 0;
	uint64_t gib_count, pdpt_count, pd_count, total_pages, phys, offset, g;
	struct table_pool pool;
	uint64_t *pml4, *pdpt = 0, *high_pdpt, *high_pd;
	unsigned int high_index;
	EFI_STATUS status;

	cpuid(0x80000000, &max_extended, &ebx, &ecx, &edx);
	if (max_extended >= 0x80000001) {
		cpuid(0x80000001, &eax, &ebx, &ecx, &edx);
		gib_pages = (edx >> 26) & 1;
	}
	if (max_extended >= 0x80000008) {
		cpuid(0x80000008, &eax, &ebx, &ecx, &edx);
		physical_limit = 1ull << (eax & 0xff);
	}

	if (identity_top > physical_limit)
		identity_top = physical_limit;
	if (identity_top > IDENTITY_LIMIT)
		identity_top = IDENTITY_LIMIT;
	if (identity_top < 4 * GIB)
		identity_top = 4 * GIB;
	gib_count = (identity_top + GIB - 1) / GIB;
	pdpt_count = (gib_count + TABLE_ENTRIES - 1) / TABLE_ENTRIES;
	pd_count = gib_pages ? 4 : gib_count;
	/* PML4 (+ PML5), identity PDPTs and PDs, high PDPT and PD. */
	total_pages = 1 + five_level + pdpt_count + pd_count + 2;

	status = loader_alloc_pages_below(LOADER_BELOW_4G, total_pages, &phys);
	if (EFI_ERROR(status)) {
		loader_error(L"no memory for %ld pages of page tables: %r", total_pages, status);
		return status;
	}
	ZeroMem((void *)(UINTN)phys, total_pages * LOADER_PAGE_SIZE);
	pool.next = (uint64_t *)(UINTN)phys;
	pool.end = pool.next + total_pages * TABLE_ENTRIES;

	pml4 = table_new(&pool);
	for (g = 0; g < gib_count; g++) {
		if (g % TABLE_ENTRIES == 0) {
			pdpt = table_new(&pool);
			pml4[g / TABLE_ENTRIES] = table_entry(pdpt);
		}
		if (gib_pages && g >= 4) {
			pdpt[g % TABLE_ENTRIES] = g * GIB | PTE_PRESENT | PTE_WRITABLE | PTE_LARGE;
		} else {
			uint64_t *pd = table_new(&pool);
			unsigned int i;

			for (i = 0; i < TABLE_ENTRIES; i++)
				pd[i] = (g * GIB + i * TWO_MIB) | PTE_PRESENT | PTE_WRITABLE | PTE_LARGE;
			pdpt[g % TABLE_ENTRIES] = table_entry(pd);
		}
	}

	/* The image is at most LOADER_KERNEL_MAX_IMAGE, so one PD holds it. */
	high_pdpt = table_new(&pool);
	high_pd = table_new(&pool);
	pml4[(BOOT_KERNEL_VIRT_BASE >> 39) & 511] = table_entry(high_pdpt);
	high_pdpt[(BOOT_KERNEL_VIRT_BASE >> 30) & 511] = table_entry(high_pd);
	high_index = (BOOT_KERNEL_VIRT_BASE >> 21) & 511;
	for (offset = 0; offset < info->kernel_phys_end - info->kernel_phys_start; offset += TWO_MIB)
		high_pd[high_index + offset / TWO_MIB] =
			(info->kernel_phys_start + offset) | PTE_PRESENT | PTE_WRITABLE | PTE_LARGE;

	if (five_level) {
		uint64_t *pml5 = table_new(&pool);

		pml5[0] = table_entry(pml4);
		pml5[(BOOT_KERNEL_VIRT_BASE >> 48) & 511] = table_entry(pml4);
		*cr3 = (uint64_t)(UINTN)pml5;
		loader_warn(L"firmware runs with 5-level paging; the vmkernel inherits CR4.LA57");
	} else {
		*cr3 = (uint64_t)(UINTN)pml4;
	}
	loader_info(L"page tables at 0x%lx (%ld pages), identity map up to %ld GiB", phys,
		    total_pages, gib_count);
	return EFI_SUCCESS;
}

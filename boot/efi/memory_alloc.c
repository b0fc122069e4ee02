/*
 * Page allocations of the loader. All are EfiLoaderData, which the hand-off
 * map reports as BOOT_MEM_LOADER_RECLAIMABLE; the kernel image and modules
 * stay protected through their explicit ranges in struct boot_info. The
 * record lets a failed boot return every page before going back to the
 * firmware, which will try the next boot option in the same memory.
 */
#include "loader.h"

#define MAX_ALLOCATIONS 64

struct allocation {
	uint64_t phys;
	uint64_t pages;
};

static struct allocation allocations[MAX_ALLOCATIONS];
static unsigned int allocation_count;

static EFI_STATUS record(uint64_t phys, uint64_t pages)
{
	if (allocation_count == MAX_ALLOCATIONS) {
		BS->FreePages(phys, pages);
		return EFI_OUT_OF_RESOURCES;
	}
	allocations[allocation_count].phys = phys;
	allocations[allocation_count].pages = pages;
	allocation_count++;
	return EFI_SUCCESS;
}

EFI_STATUS loader_alloc_pages_below(uint64_t max_address, uint64_t pages, uint64_t *phys)
{
	EFI_PHYSICAL_ADDRESS address = max_address;
	EFI_STATUS status;

	status = BS->AllocatePages(AllocateMaxAddress, EfiLoaderData, pages, &address);
	if (EFI_ERROR(status))
		return status;
	*phys = address;
	return record(address, pages);
}

EFI_STATUS loader_alloc_pages_at(uint64_t phys, uint64_t pages)
{
	EFI_PHYSICAL_ADDRESS address = phys;
	EFI_STATUS status;

	status = BS->AllocatePages(AllocateAddress, EfiLoaderData, pages, &address);
	if (EFI_ERROR(status))
		return status;
	return record(address, pages);
}

void loader_free_pages(uint64_t phys)
{
	unsigned int i;

	for (i = 0; i < allocation_count; i++) {
		if (allocations[i].phys != phys)
			continue;
		BS->FreePages(phys, allocations[i].pages);
		allocations[i] = allocations[--allocation_count];
		return;
	}
}

void loader_free_all(void)
{
	while (allocation_count > 0) {
		allocation_count--;
		BS->FreePages(allocations[allocation_count].phys, allocations[allocation_count].pages);
	}
}

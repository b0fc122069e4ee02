/*
 * The firmware memory map: sizing its buffer, finding room for the kernel,
 * translating it into boot_mem_range entries, and the ExitBootServices
 * handshake. UEFI requires the map key passed to ExitBootServices to come
 * from a GetMemoryMap with no allocation in between, and lets the first
 * ExitBootServices fail when something (a timer event) changed the map; the
 * caller then fetches the map again and retries, calling nothing else. So
 * every buffer is allocated before the final map and nothing here prints
 * once ExitBootServices has been tried.
 */
#include "loader.h"
#include "memory_ranges.h"

#define MAX_EXIT_ATTEMPTS 8
/* Room for the descriptors our own later allocations split off (each may
 * add two) and for firmware events that allocate meanwhile. */
#define SPARE_DESCRIPTORS 256

/* EFI memory types are small dense integers (UEFI spec, EFI_MEMORY_TYPE);
 * types newer than the table (persistent, unaccepted) stay reserved. */
static const uint8_t boot_type_of_efi_type[] = {
	[EfiReservedMemoryType] = BOOT_MEM_RESERVED,
	[EfiLoaderCode] = BOOT_MEM_USABLE, /* kapsel.efi itself: dead after the jump */
	[EfiLoaderData] = BOOT_MEM_LOADER_RECLAIMABLE,
	[EfiBootServicesCode] = BOOT_MEM_USABLE,
	[EfiBootServicesData] = BOOT_MEM_USABLE,
	[EfiRuntimeServicesCode] = BOOT_MEM_FIRMWARE_RUNTIME,
	[EfiRuntimeServicesData] = BOOT_MEM_FIRMWARE_RUNTIME,
	[EfiConventionalMemory] = BOOT_MEM_USABLE,
	[EfiUnusableMemory] = BOOT_MEM_BAD,
	[EfiACPIReclaimMemory] = BOOT_MEM_ACPI_RECLAIMABLE,
	[EfiACPIMemoryNVS] = BOOT_MEM_ACPI_NVS,
	[EfiMemoryMappedIO] = BOOT_MEM_RESERVED,
	[EfiMemoryMappedIOPortSpace] = BOOT_MEM_RESERVED,
	[EfiPalCode] = BOOT_MEM_RESERVED,
};

static uint32_t boot_type_of(UINT32 efi_type)
{
	if (efi_type >= sizeof(boot_type_of_efi_type))
		return BOOT_MEM_RESERVED;
	return boot_type_of_efi_type[efi_type];
}

static EFI_MEMORY_DESCRIPTOR *descriptor_at(const struct loader_memory_map *map, UINTN index)
{
	return (EFI_MEMORY_DESCRIPTOR *)((uint8_t *)map->buffer + index * map->descriptor_size);
}

static UINTN descriptor_count(const struct loader_memory_map *map)
{
	return map->size / map->descriptor_size;
}

EFI_STATUS loader_memory_map_prepare(struct loader_memory_map *map)
{
	UINTN needed = 0;
	uint64_t phys, pages;
	EFI_STATUS status;

	status = BS->GetMemoryMap(&needed, 0, &map->key, &map->descriptor_size,
				  &map->descriptor_version);
	if (status != EFI_BUFFER_TOO_SMALL || map->descriptor_size < sizeof(EFI_MEMORY_DESCRIPTOR)) {
		loader_error(L"cannot size the firmware memory map: %r", status);
		return EFI_ERROR(status) ? status : EFI_DEVICE_ERROR;
	}
	pages = loader_pages_for(needed + SPARE_DESCRIPTORS * map->descriptor_size);
	status = loader_alloc_pages_below(~0ull, pages, &phys);
	if (EFI_ERROR(status)) {
		loader_error(L"no memory for the memory map (%ld pages): %r", pages, status);
		return status;
	}
	map->buffer = (EFI_MEMORY_DESCRIPTOR *)(UINTN)phys;
	map->capacity = pages * LOADER_PAGE_SIZE;
	map->size = 0;
	return EFI_SUCCESS;
}

EFI_STATUS loader_memory_map_snapshot(struct loader_memory_map *map)
{
	map->size = map->capacity;
	return BS->GetMemoryMap(&map->size, map->buffer, &map->key, &map->descriptor_size,
				&map->descriptor_version);
}

uint64_t loader_memory_map_top(const struct loader_memory_map *map)
{
	uint64_t top = 0;
	UINTN i;

	for (i = 0; i < descriptor_count(map); i++) {
		const EFI_MEMORY_DESCRIPTOR *d = descriptor_at(map, i);
		uint64_t end = d->PhysicalStart + d->NumberOfPages * LOADER_PAGE_SIZE;
		uint32_t type = boot_type_of(d->Type);

		/* RAM only: MMIO windows can sit terabytes up. */
		if (type != BOOT_MEM_RESERVED && type != BOOT_MEM_BAD && end > top)
			top = end;
	}
	return top;
}

EFI_STATUS loader_memory_map_find_free(const struct loader_memory_map *map, uint64_t size,
				       uint64_t alignment, uint64_t limit, uint64_t *phys)
{
	uint64_t best = ~0ull;
	UINTN i;

	for (i = 0; i < descriptor_count(map); i++) {
		const EFI_MEMORY_DESCRIPTOR *d = descriptor_at(map, i);
		uint64_t end = d->PhysicalStart + d->NumberOfPages * LOADER_PAGE_SIZE;
		uint64_t start = (d->PhysicalStart + alignment - 1) & ~(alignment - 1);

		/* Never physical page 0: a null kernel base reads as "none". */
		if (start == 0)
			start = alignment;
		if (d->Type != EfiConventionalMemory || start >= end || end - start < size ||
		    start + size - 1 > limit)
			continue;
		if (start < best)
			best = start;
	}
	if (best == ~0ull)
		return EFI_OUT_OF_RESOURCES;
	*phys = best;
	return EFI_SUCCESS;
}

int loader_memory_map_convert(const struct loader_memory_map *map, struct boot_info *info)
{
	UINTN i;

	info->mem_range_count = 0;
	for (i = 0; i < descriptor_count(map); i++) {
		const EFI_MEMORY_DESCRIPTOR *d = descriptor_at(map, i);

		if (loader_memory_ranges_add(info->mem_ranges, &info->mem_range_count,
					     BOOT_MAX_MEM_RANGES, d->PhysicalStart,
					     d->NumberOfPages * LOADER_PAGE_SIZE,
					     boot_type_of(d->Type)) != 0)
			return -1;
	}
	return 0;
}

EFI_STATUS loader_exit_boot_services(EFI_HANDLE image_handle, struct loader_memory_map *map,
				     struct boot_info *info)
{
	unsigned int attempt;
	EFI_STATUS status;

	/* Until ExitBootServices is first called we may still report and grow. */
	for (;;) {
		status = loader_memory_map_snapshot(map);
		if (status != EFI_BUFFER_TOO_SMALL)
			break;
		loader_free_pages((uint64_t)(UINTN)map->buffer);
		status = loader_memory_map_prepare(map);
		if (EFI_ERROR(status))
			return status;
	}
	if (EFI_ERROR(status)) {
		loader_error(L"GetMemoryMap failed: %r", status);
		return status;
	}
	if (loader_memory_map_convert(map, info) != 0) {
		loader_error(L"the memory map has more than %d ranges even after merging",
			     BOOT_MAX_MEM_RANGES);
		return EFI_BUFFER_TOO_SMALL;
	}

	for (attempt = 0; attempt < MAX_EXIT_ATTEMPTS; attempt++) {
		status = BS->ExitBootServices(image_handle, map->key);
		if (!EFI_ERROR(status))
			return EFI_SUCCESS;
		/* From here on only GetMemoryMap and ExitBootServices are allowed. */
		if (EFI_ERROR(loader_memory_map_snapshot(map)))
			loader_halt_with_serial_message(
				"kapsel.efi: error: GetMemoryMap failed after ExitBootServices\r\n");
		if (loader_memory_map_convert(map, info) != 0)
			loader_halt_with_serial_message(
				"kapsel.efi: error: memory map grew past the hand-off limit\r\n");
	}
	loader_halt_with_serial_message("kapsel.efi: error: ExitBootServices kept failing\r\n");
}

/*
 * Loading the vmkernel: read the ELF, check it (elf_image.c), find a 2 MiB
 * aligned home for the image below 4 GiB -- 0x200000, where it is linked,
 * when that is free -- and copy the segments there.
 */
#include "loader.h"

#define KERNEL_ALIGNMENT (2ull * 1024 * 1024)

static EFI_STATUS place_kernel(uint64_t image_size, const struct loader_memory_map *map,
			       uint64_t *phys)
{
	uint64_t pages = loader_pages_for(image_size);
	uint64_t candidate;
	EFI_STATUS status;

	if (!EFI_ERROR(loader_alloc_pages_at(BOOT_KERNEL_DEFAULT_PHYS, pages))) {
		*phys = BOOT_KERNEL_DEFAULT_PHYS;
		return EFI_SUCCESS;
	}
	status = loader_memory_map_find_free(map, image_size, KERNEL_ALIGNMENT, LOADER_BELOW_4G,
					     &candidate);
	if (!EFI_ERROR(status))
		status = loader_alloc_pages_at(candidate, pages);
	if (EFI_ERROR(status)) {
		loader_error(L"no free 2 MiB aligned block of %ld bytes below 4 GiB for the kernel: %r",
			     image_size, status);
		return status;
	}
	loader_info(L"0x%lx is taken; kernel relocated to 0x%lx", BOOT_KERNEL_DEFAULT_PHYS,
		    candidate);
	*phys = candidate;
	return EFI_SUCCESS;
}

EFI_STATUS loader_load_kernel(const char *path, struct loader_memory_map *map,
			      struct boot_info *info, uint64_t *entry)
{
	struct loader_elf_layout layout;
	uint64_t file_phys, file_size, image_phys;
	const char *problem;
	EFI_STATUS status;

	status = loader_read_file(path, ~0ull, &file_phys, &file_size);
	if (EFI_ERROR(status))
		return status;
	problem = loader_elf_check((const void *)(UINTN)file_phys, file_size, &layout);
	if (problem) {
		loader_error(L"%a: not a loadable vmkernel: %a", path, problem);
		loader_free_pages(file_phys);
		return EFI_LOAD_ERROR;
	}

	status = loader_memory_map_snapshot(map);
	if (EFI_ERROR(status)) {
		loader_error(L"GetMemoryMap failed: %r", status);
		loader_free_pages(file_phys);
		return status;
	}
	status = place_kernel(layout.image_size, map, &image_phys);
	if (EFI_ERROR(status)) {
		loader_free_pages(file_phys);
		return status;
	}
	loader_elf_copy((const void *)(UINTN)file_phys, &layout, (void *)(UINTN)image_phys);
	loader_free_pages(file_phys);

	info->kernel_phys_start = image_phys;
	info->kernel_phys_end = image_phys + layout.image_size;
	*entry = layout.entry;
	loader_info(L"kernel %a: %ld bytes, image 0x%lx-0x%lx, entry 0x%lx", path, file_size,
		    info->kernel_phys_start, info->kernel_phys_end, layout.entry);
	return EFI_SUCCESS;
}

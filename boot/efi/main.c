/*
 * kapsel.efi -- the Kapsel UEFI boot loader (GNU-EFI).
 *
 * The firmware starts us as \EFI\BOOT\BOOTX64.EFI from an EFI system
 * partition: the El Torito EFI image of the Kapsel CD, or the same image
 * appended as a partition when the ISO is written to a USB stick. From that
 * same volume we read \kapsel\boot.cfg, load the vmkernel and its modules,
 * describe the machine in struct boot_info, exit boot services and jump to
 * the vmkernel as the contract at the end of vmkernel/include/boot_info.h
 * says. Any failure before ExitBootServices prints "kapsel.efi: error: ...",
 * waits five seconds, frees what we took and returns the error to the
 * firmware, which then tries its next boot option.
 *
 * \kapsel\boot.cfg is text, one setting per line (scripts/mkiso writes it):
 *
 *     # Lines starting with '#' are comments; blank lines are ignored.
 *     kernel=\kapsel\vmkernel.elf
 *     cmdline=console=com1 loglevel=info
 *     module=\kapsel\modules\sc-vmlinuz sc-kernel console=ttyS0
 *     module=\kapsel\modules\sc-initrd sc-initrd
 *
 *   kernel=PATH       the vmkernel ELF. Optional (default
 *                     \kapsel\vmkernel.elf), at most once.
 *   cmdline=TEXT      the vmkernel command line, boot_info.cmdline; at most
 *                     511 bytes. Optional (empty), at most once.
 *   module=PATH TEXT  a module, loaded page aligned below 4 GiB. TEXT (at
 *                     most 127 bytes, may be empty) becomes boot_module.name,
 *                     as GRUB's `module2 PATH TEXT` does. Up to 64, handed
 *                     over in file order.
 *
 * PATH is on the volume kapsel.efi was loaded from, printable ASCII without
 * blanks; '/' and '\' both separate directories; a missing leading separator
 * is implied. Blanks around keys and values and a CR before the newline are
 * ignored. Anything else -- an unknown key, a second kernel= or cmdline=, a
 * line without '=', a value too long -- stops the boot naming the line, so a
 * typo never boots something unintended.
 */
#include "loader.h"

#ifndef KAPSEL_VERSION
#define KAPSEL_VERSION "unknown"
#endif

#define HANDOFF_STACK_SIZE (64ull * 1024)

/* Called by GNU-EFI's crt0 (System V ABI) after self-relocation. */
EFI_STATUS efi_main(EFI_HANDLE image_handle, EFI_SYSTEM_TABLE *system_table);

static struct loader_boot_config boot_config;

static EFI_STATUS read_boot_config(struct loader_boot_config *config)
{
	struct loader_config_error error;
	uint64_t phys, size;
	EFI_STATUS status;
	int rc;

	status = loader_read_file(LOADER_BOOT_CONFIG_PATH, ~0ull, &phys, &size);
	if (EFI_ERROR(status))
		return status;
	rc = loader_boot_config_parse((const char *)(UINTN)phys, size, config, &error);
	loader_free_pages(phys);
	if (rc != 0) {
		loader_error(L"%a line %d: %a", LOADER_BOOT_CONFIG_PATH, error.line, error.message);
		return EFI_INVALID_PARAMETER;
	}
	return EFI_SUCCESS;
}

static void copy_string(char *dest, const char *src)
{
	while ((*dest++ = *src++) != '\0')
		;
}

static EFI_STATUS load_modules(const struct loader_boot_config *config, struct boot_info *info)
{
	unsigned int i;

	for (i = 0; i < config->module_count; i++) {
		const struct loader_module_config *module = &config->modules[i];
		struct boot_module *out = &info->modules[i];
		uint64_t phys, size;
		EFI_STATUS status;

		status = loader_read_file(module->path, LOADER_BELOW_4G, &phys, &size);
		if (EFI_ERROR(status))
			return status;
		out->phys_start = phys;
		out->phys_end = phys + size;
		copy_string(out->name, module->cmdline);
		info->module_count = i + 1;
		loader_info(L"module %a: %ld bytes at 0x%lx, \"%a\"", module->path, size, phys,
			    module->cmdline);
	}
	return EFI_SUCCESS;
}

static EFI_STATUS allocate_boot_info(struct boot_info **info)
{
	uint64_t phys;
	EFI_STATUS status;

	status = loader_alloc_pages_below(LOADER_BELOW_4G, loader_pages_for(sizeof(**info)), &phys);
	if (EFI_ERROR(status)) {
		loader_error(L"no memory below 4 GiB for boot_info: %r", status);
		return status;
	}
	*info = (struct boot_info *)(UINTN)phys;
	ZeroMem(*info, sizeof(**info));
	(*info)->magic = BOOT_INFO_MAGIC;
	(*info)->version = BOOT_INFO_VERSION;
	(*info)->mode = BOOT_MODE_UEFI;
	(*info)->loader = BOOT_LOADER_EFI;
	(*info)->efi_system_table = (uint64_t)(UINTN)ST;
	return EFI_SUCCESS;
}

/* Everything up to the last firmware call that may print. */
static EFI_STATUS prepare_boot(EFI_HANDLE image_handle, struct loader_memory_map *map,
			       struct boot_info **info, uint64_t *entry, uint64_t *cr3,
			       uint64_t *stack_top)
{
	uint64_t stack;
	EFI_STATUS status;

	status = loader_open_boot_volume(image_handle);
	if (EFI_ERROR(status))
		return status;
	status = allocate_boot_info(info);
	if (EFI_ERROR(status))
		return status;
	status = read_boot_config(&boot_config);
	if (EFI_ERROR(status))
		return status;
	copy_string((*info)->cmdline, boot_config.cmdline);
	loader_info(L"cmdline \"%a\"", boot_config.cmdline);

	status = loader_memory_map_prepare(map);
	if (EFI_ERROR(status))
		return status;
	status = loader_load_kernel(boot_config.kernel_path, map, *info, entry);
	if (EFI_ERROR(status))
		return status;
	status = load_modules(&boot_config, *info);
	if (EFI_ERROR(status))
		return status;
	loader_close_boot_volume();

	loader_find_acpi_rsdp(*info);
	loader_find_framebuffer(*info);

	status = loader_alloc_pages_below(LOADER_BELOW_4G, loader_pages_for(HANDOFF_STACK_SIZE),
					  &stack);
	if (EFI_ERROR(status)) {
		loader_error(L"no memory below 4 GiB for the hand-off stack: %r", status);
		return status;
	}
	*stack_top = stack + HANDOFF_STACK_SIZE;

	status = loader_memory_map_snapshot(map);
	if (EFI_ERROR(status)) {
		loader_error(L"GetMemoryMap failed: %r", status);
		return status;
	}
	return loader_build_page_tables(*info, loader_memory_map_top(map), cr3);
}

EFI_STATUS efi_main(EFI_HANDLE image_handle, EFI_SYSTEM_TABLE *system_table)
{
	struct loader_memory_map map = { 0 };
	struct boot_info *info = 0;
	uint64_t entry = 0, cr3 = 0, stack_top = 0;
	EFI_STATUS status;

	InitializeLib(image_handle, system_table);
	loader_info(L"Kapsel EFI loader %a", KAPSEL_VERSION);
	/* The boot manager arms a 5-minute watchdog; a big module on slow media
	 * must not reset the machine halfway. */
	BS->SetWatchdogTimer(0, 0, 0, 0);

	status = prepare_boot(image_handle, &map, &info, &entry, &cr3, &stack_top);
	if (!EFI_ERROR(status)) {
		loader_info(L"exiting boot services; entering the vmkernel at 0x%lx", entry);
		status = loader_exit_boot_services(image_handle, &map, info);
		if (!EFI_ERROR(status))
			loader_enter_kernel(cr3, stack_top, entry, (uint64_t)(UINTN)info);
	}

	loader_error(L"boot aborted (%r); back to the firmware in %d seconds", status,
		     LOADER_ERROR_DELAY_US / 1000000);
	BS->Stall(LOADER_ERROR_DELAY_US);
	loader_close_boot_volume();
	loader_free_all();
	return status;
}

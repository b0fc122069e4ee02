/*
 * boot.cfg parser for kapsel.efi. Pure C, no firmware calls, so the host
 * unit tests build it as is. The format is described in main.c.
 */
#ifndef KAPSEL_EFI_BOOT_CONFIG_H
#define KAPSEL_EFI_BOOT_CONFIG_H

#include <stddef.h>
#include <stdint.h>

#include <boot_info.h>

#define LOADER_PATH_MAX 256 /* bytes including the terminating NUL */
#define LOADER_DEFAULT_KERNEL_PATH "\\kapsel\\vmkernel.elf"
#define LOADER_BOOT_CONFIG_PATH "\\kapsel\\boot.cfg"

struct loader_module_config {
	char path[LOADER_PATH_MAX];         /* volume path, '\' separated */
	char cmdline[BOOT_MODULE_NAME_MAX]; /* becomes boot_module.name */
};

struct loader_boot_config {
	char kernel_path[LOADER_PATH_MAX];
	char cmdline[BOOT_CMDLINE_MAX];
	unsigned int module_count;
	struct loader_module_config modules[BOOT_MAX_MODULES];
};

struct loader_config_error {
	unsigned int line; /* 1-based; 0 when not tied to a line */
	const char *message;
};

/* Parses `length` bytes of boot.cfg text. Returns 0, or -1 with *error set. */
int loader_boot_config_parse(const char *text, size_t length, struct loader_boot_config *config,
			     struct loader_config_error *error);

#endif

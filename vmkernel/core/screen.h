/*
 * The local status screen, an ESX host's console in spirit: a grey panel
 * with the product, version and hardware summary above a yellow area with
 * the latest log lines. Drawn on VGA text mode (BIOS) or on a linear
 * framebuffer (UEFI GOP, a GRUB video mode) with a Debian console font.
 * Read-only: there is no keyboard input yet, and the footer says so.
 */
#ifndef KAPSEL_CORE_SCREEN_H
#define KAPSEL_CORE_SCREEN_H

#include <stdint.h>

#include <boot_info.h>

/* Shown as given; a NULL or empty string shows as "unknown". */
struct screen_status {
	const char *version;   /* e.g. KAPSEL_VERSION */
	const char *cpu_brand; /* CPUID brand string */
	uint32_t cpus;         /* CPUs online */
	uint64_t mem_mib;      /* usable memory */
	const char *virt;      /* virtualization backend, e.g. "AMD-V with NPT" */
	const char *boot_mode; /* e.g. "BIOS (multiboot1)" */
};

/*
 * Chooses the screen: VGA text (at 0xb8000 when booted by BIOS without
 * framebuffer information, or at the address of an EGA_TEXT framebuffer),
 * or the RGB framebuffer (15 to 32 bits per pixel). Clears it, shows the
 * log lines logged so far and installs a log sink for the ones to come.
 * Returns 0, -ENODEV when there is no screen it can draw on, or -ENOMEM.
 * @pre memory is up (vmm_map_mmio, kmalloc); called once.
 */
int screen_init(const struct boot_framebuffer *fb, uint32_t boot_mode);

/* Draws the status panel; may be called again to update it. A no-op
 * without a screen. @pre callers serialize among themselves. */
void screen_show_status(const struct screen_status *status);

#endif

/*
 * Machine power-off and reboot. power_init() takes what it needs from the
 * parsed ACPI tables; without it both still work through the fallbacks
 * (emulator ports, keyboard controller, triple fault).
 */
#ifndef KAPSEL_ARCH_X86_POWER_H
#define KAPSEL_ARCH_X86_POWER_H

#include <stdbool.h>

#include <arch/x86/acpi.h>

/* Copies the S5 and reset methods; `info` may be freed afterwards (its
 * mapper must stay usable for memory-space registers). */
void power_init(const struct acpi_info *info);

/* Allows the QEMU isa-debug-exit port (0xf4) as a power-off fallback. Off by
 * default: on real hardware that port may belong to something else. */
void power_set_debug_exit(bool enabled);

/* Both run with interrupts disabled on the calling CPU; the caller stops the
 * other CPUs first if it cares about them. */
__attribute__((noreturn)) void power_off(void);
__attribute__((noreturn)) void power_reboot(void);

#endif

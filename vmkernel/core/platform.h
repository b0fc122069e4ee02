/* Platform discovery glue: ACPI tables through the physmap, power control,
 * the local APIC and the IOAPICs. */
#ifndef KAPSEL_CORE_PLATFORM_H
#define KAPSEL_CORE_PLATFORM_H

#include <stdbool.h>

#include <arch/x86/acpi.h>
#include <boot_info.h>

/* Parses ACPI (scanning the BIOS areas for the RSDP when the loader gave
 * none), sets up power control, the BSP's LAPIC, timers and every IOAPIC.
 * Never fails: without ACPI the machine runs on one CPU. */
void platform_init(const struct boot_info *boot, bool allow_x2apic, bool debug_exit);
const struct acpi_info *platform_acpi(void);

#endif

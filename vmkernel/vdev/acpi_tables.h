/*
 * The per-VM ACPI tables of hw.version 1, built by the vmkernel into a
 * buffer the caller then copies to guest RAM at `base` (PLATFORM_ACPI_BASE):
 * RSDP (at the start, so a 0xe0000-0xfffff scan finds it), XSDT and RSDT,
 * FADT, FACS, MADT, MCFG and a DSDT of hand-assembled AML (\_S5 and the PCI
 * host bridge). Pure: host unit tests parse the result with the vmkernel's
 * own ACPI parser.
 */
#ifndef KAPSEL_VDEV_ACPI_TABLES_H
#define KAPSEL_VDEV_ACPI_TABLES_H

#include <stddef.h>
#include <stdint.h>

#define ACPI_TABLES_MAX_VCPUS 255u

struct acpi_tables_params {
	uint64_t base;        /* guest-physical address of the buffer */
	uint32_t vcpu_count;  /* LAPIC IDs 0..vcpu_count-1 */
};

/* Returns the bytes used, or -ENOSPC / -EINVAL. */
int acpi_tables_build(uint8_t *buffer, size_t size, const struct acpi_tables_params *params);

#endif

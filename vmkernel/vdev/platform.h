/*
 * The address map and interrupt assignments of virtual hardware version 1
 * (hw.version = 1): what every VM sees, whatever the server. A guest ABI:
 * a value here never changes within a hardware version. Described for
 * people in vdev/HARDWARE.md.
 */
#ifndef KAPSEL_VDEV_PLATFORM_H
#define KAPSEL_VDEV_PLATFORM_H

#include <stdint.h>

#define PLATFORM_HW_VERSION 1u

/* Guest-physical map. RAM runs from 0 to at most PLATFORM_RAM_LOW_MAX and
 * continues at 4 GiB; [0x9fc00, 0x100000) is reserved (the loaders keep it
 * out of the guest's memory map). */
#define PLATFORM_RAM_LOW_MAX 0xc0000000ull

/* The per-VM ACPI tables, built by the vmkernel in guest RAM inside the
 * reserved BIOS area so that kernels scanning 0xe0000-0xfffff find the
 * RSDP (it sits at the start of the area). */
#define PLATFORM_ACPI_BASE 0x000e0000ull
#define PLATFORM_ACPI_SIZE 0x00020000ull

/* 32-bit PCI memory window for BARs (virtio-pci). */
#define PLATFORM_PCI_MMIO_BASE 0xc0000000ull
#define PLATFORM_PCI_MMIO_SIZE 0x20000000ull
/* PCI Express enhanced configuration (ECAM): segment 0, buses
 * PLATFORM_PCI_BUS_FIRST..PLATFORM_PCI_BUS_LAST, 1 MiB per bus; the MCFG
 * table describes it. */
#define PLATFORM_PCI_ECAM_BASE 0xe0000000ull
#define PLATFORM_PCI_BUS_FIRST 0u
/* Only bus 0 exists (no bridges). Declaring more makes Linux read every
 * slot of every declared bus looking for peer host bridges: 256 buses cost
 * ~48,000 port I/O exits per boot. */
#define PLATFORM_PCI_BUS_LAST 0u
#define PLATFORM_PCI_ECAM_SIZE ((uint64_t)(PLATFORM_PCI_BUS_LAST + 1) << 20)
/* PCI I/O-port window for I/O BARs. */
#define PLATFORM_PCI_IO_BASE 0xc000u
#define PLATFORM_PCI_IO_SIZE 0x4000u

/* The test MMIO device (testdev = "on") is at 0xfeb00000 (public/kapsel_guest.h). */
#define PLATFORM_IOAPIC_BASE 0xfec00000ull
#define PLATFORM_IOAPIC_ID 0u
#define PLATFORM_IOAPIC_PINS 24u
#define PLATFORM_LAPIC_BASE 0xfee00000ull
/* No HPET in hw.version 1. */

/* Legacy I/O ports. */
#define PLATFORM_PORT_PIC_MASTER 0x20u   /* 0x20-0x21 */
#define PLATFORM_PORT_PIC_SLAVE 0xa0u    /* 0xa0-0xa1 */
#define PLATFORM_PORT_ELCR 0x4d0u        /* 0x4d0-0x4d1: edge/level control */
#define PLATFORM_PORT_PIT 0x40u          /* 0x40-0x43 */
#define PLATFORM_PORT_SYSTEM_CONTROL 0x61u /* PIT channel 2 gate and output */
#define PLATFORM_PORT_RTC 0x70u          /* 0x70 index (bit 7: NMI mask), 0x71 data */
#define PLATFORM_PORT_COM1 0x3f8u
#define PLATFORM_PORT_PCI_CONFIG 0xcf8u  /* 0xcf8 address, 0xcfc-0xcff data */

/* ACPI fixed hardware (FADT): PM1a event block (status, enable), PM1a
 * control block, the 32-bit PM timer at 3.579545 MHz, and the reset
 * register (write PLATFORM_ACPI_RESET_VALUE to reset the VM). No GPE block. */
#define PLATFORM_ACPI_PM_BASE 0x600u
#define PLATFORM_ACPI_PM1A_EVT (PLATFORM_ACPI_PM_BASE + 0x0u) /* 4 bytes */
#define PLATFORM_ACPI_PM1A_CNT (PLATFORM_ACPI_PM_BASE + 0x4u) /* 2 bytes */
#define PLATFORM_ACPI_PM_TMR (PLATFORM_ACPI_PM_BASE + 0x8u)   /* 4 bytes */
#define PLATFORM_ACPI_RESET_PORT (PLATFORM_ACPI_PM_BASE + 0xcu) /* 1 byte */
#define PLATFORM_ACPI_PM_LAST (PLATFORM_ACPI_PM_BASE + 0xfu)
#define PLATFORM_ACPI_RESET_VALUE 0x01u
#define PLATFORM_ACPI_PM_TIMER_HZ 3579545u
/* SLP_TYP value for S5 in PM1a_CNT (the DSDT's \_S5 package says the same). */
#define PLATFORM_ACPI_SLP_TYP_S5 5u

/* Global system interrupts (the vIOAPIC's pins). ISA IRQ n is GSI n, except
 * IRQ 0 (the PIT), which the MADT overrides to GSI 2. */
#define PLATFORM_GSI_PIT 2u
#define PLATFORM_IRQ_PIT 0u
#define PLATFORM_IRQ_COM1 4u
#define PLATFORM_IRQ_RTC 8u
#define PLATFORM_IRQ_SCI 9u   /* level, active high */
/* PCI INTx lines: GSI 16-23, level, active low; device d pin p (0=INTA)
 * goes to 16 + ((d + p) % 8). */
#define PLATFORM_GSI_PCI_FIRST 16u
#define PLATFORM_GSI_PCI_COUNT 8u

#endif

/*
 * The virtual I/O APIC (82093AA-compatible, version 0x11, 24 pins): the
 * redirection table and its delivery logic, pure (no locking, no vCPUs),
 * so host unit tests drive it directly. Messages leave through a callback
 * that the platform routes to the vLAPICs.
 */
#ifndef KAPSEL_VDEV_VIOAPIC_H
#define KAPSEL_VDEV_VIOAPIC_H

#include <stdbool.h>
#include <stdint.h>

#define VIOAPIC_PINS 24u
#define VIOAPIC_REG_SELECT 0x00u /* MMIO offsets */
#define VIOAPIC_REG_WINDOW 0x10u

/* An interrupt message on the APIC bus (from the IOAPIC or an MSI). */
struct apic_message {
	uint32_t destination;  /* APIC ID (physical) or logical destination */
	uint8_t vector;
	uint8_t delivery_mode; /* 0 fixed, 1 lowest priority, 2 SMI, 4 NMI, 5 INIT, 7 ExtINT */
	bool logical;
	bool level;            /* level-triggered: the target sets TMR and broadcasts EOI */
	bool wide;             /* 32-bit x2APIC destination (broadcast 0xffffffff, not 0xff) */
};

typedef void (*apic_deliver_fn)(void *ctx, const struct apic_message *message);

struct vioapic {
	uint32_t id;
	uint32_t select;                   /* IOREGSEL */
	uint64_t redirection[VIOAPIC_PINS];
	uint32_t line;                     /* bit per pin: input asserted */
	apic_deliver_fn deliver;
	void *ctx;
};

/* Redirection entry fields. */
#define VIOAPIC_RTE_MASKED (1ull << 16)
#define VIOAPIC_RTE_LEVEL (1ull << 15)
#define VIOAPIC_RTE_REMOTE_IRR (1ull << 14)
#define VIOAPIC_RTE_ACTIVE_LOW (1ull << 13)
#define VIOAPIC_RTE_DELIVERY_STATUS (1ull << 12)
#define VIOAPIC_RTE_LOGICAL (1ull << 11)

void vioapic_init(struct vioapic *io, uint32_t id, apic_deliver_fn deliver, void *ctx);
/* 32-bit accesses at VIOAPIC_REG_SELECT / VIOAPIC_REG_WINDOW; others read 0. */
uint32_t vioapic_mmio_read(struct vioapic *io, uint32_t offset);
void vioapic_mmio_write(struct vioapic *io, uint32_t offset, uint32_t value);
/* The pin's input level as the device drives it (before the polarity bit). */
void vioapic_set_line(struct vioapic *io, unsigned pin, bool asserted);
/* A vLAPIC's EOI of a level-triggered vector: clears Remote IRR on the
 * pins using it and re-delivers a line still asserted. */
void vioapic_eoi(struct vioapic *io, uint8_t vector);
/* The message a redirection entry describes (for tests and tracing). */
struct apic_message vioapic_entry_message(uint64_t entry);

#endif

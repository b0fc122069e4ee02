/* I/O APICs: every redirection entry masked at init; routes set one by one. */
#ifndef KAPSEL_ARCH_X86_IOAPIC_H
#define KAPSEL_ARCH_X86_IOAPIC_H

#include <stdbool.h>
#include <stdint.h>

#define IOAPIC_MAX 32

/* Registers one IOAPIC (mmio already mapped); masks all its inputs.
 * Returns the number of inputs, or a negative errno value. */
int ioapic_add(uint8_t id, volatile void *mmio, uint32_t gsi_base);
uint32_t ioapic_count(void);
/* Routes a GSI to vector on the CPU with apic_id (fixed delivery). */
int ioapic_route(uint32_t gsi, uint8_t vector, uint32_t apic_id, bool active_low, bool level);
int ioapic_mask(uint32_t gsi, bool masked);

#endif

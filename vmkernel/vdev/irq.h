/*
 * A VM's interrupt routing: the contract between interrupt sources (legacy
 * devices, PCI INTx, MSI/MSI-X) and the interrupt controllers (8259 pair,
 * vIOAPIC, vLAPICs). Implemented in vdev/irq.c by the platform devices.
 */
#ifndef KAPSEL_VDEV_IRQ_H
#define KAPSEL_VDEV_IRQ_H

#include <stdbool.h>
#include <stdint.h>

struct vm;

/* Sets the level of global system interrupt `gsi` (ISA IRQ n is GSI n,
 * except IRQ 0, which the MADT overrides to GSI 2). Edge-triggered sources
 * raise and then lower the line. Lines beyond the vIOAPIC's pins are ignored. */
void vm_irq_line_set(struct vm *vm, unsigned gsi, bool asserted);

/* Delivers an MSI in the x86 format (address 0xFEExxxxx with destination ID,
 * redirection hint and destination mode; data with vector, delivery mode
 * and trigger mode). A malformed message is dropped, as the bus would. */
void vm_msi_send(struct vm *vm, uint64_t address, uint32_t data);

#endif

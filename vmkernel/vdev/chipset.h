/*
 * A VM's chipset (hw.version 1): the 8259 pair, the 8254, the RTC/CMOS, the
 * I/O APIC and the ACPI fixed hardware, with the interrupt routing between
 * them and the vLAPICs. One lock guards all of it; vLAPIC state is per
 * vCPU (see vlapic.c) and never taken under this lock.
 */
#ifndef KAPSEL_VDEV_CHIPSET_H
#define KAPSEL_VDEV_CHIPSET_H

#include <stdbool.h>
#include <stdint.h>

#include <lib/spinlock.h>
#include <vdev/acpi_pm.h>
#include <vdev/rtc.h>
#include <vdev/vioapic.h>
#include <vdev/vpic.h>
#include <vdev/vpit.h>

struct vm;
struct vcpu;

struct vm_chipset {
	struct vm *vm;              /* (o) */
	struct spinlock lock;
	struct vioapic ioapic;      /* [lock] */
	struct vpic pic;            /* [lock] */
	struct vpit pit;            /* [lock] */
	struct vrtc rtc;            /* [lock] */
	struct acpi_pm pm;          /* [lock] */
	bool sci;                   /* [lock] SCI line level */
	volatile uint64_t next_deadline; /* earliest PIT/RTC event (host TSC), 0: none */
	/* vpic_output(&pic), written under the lock after every change of the
	 * 8259s (chipset_pic_refresh_locked) and read without it: the run loop
	 * checks for an ExtINT before every entry, and INTR is almost always low. */
	volatile bool pic_output;
};

/* Drives an ISA IRQ line (0-15) into the 8259 pair and the I/O APIC
 * (IRQ 0 is GSI 2), or a GSI >= 16 into the I/O APIC. Lock held. */
void chipset_set_isa_irq_locked(struct vm_chipset *chipset, unsigned irq, bool asserted);
void chipset_set_gsi_locked(struct vm_chipset *chipset, unsigned gsi, bool asserted);
/* Stores vpic_output() in pic_output after the 8259s changed; returns
 * whether INTR rose (the caller kicks the vCPUs that take ExtINT). Lock held. */
bool chipset_pic_refresh_locked(struct vm_chipset *chipset);
/* Processes the RTC's events (IRQ 8) and recomputes next_deadline from
 * the PIT and RTC. Lock held. */
void chipset_rearm_locked(struct vm_chipset *chipset, uint64_t now_tsc);
/* Fires due PIT/RTC events; run on vCPU 0's pCPU from its vLAPIC's update. */
void chipset_update(struct vm_chipset *chipset, uint64_t now_tsc);
/* EOI broadcast of a level-triggered vector to the I/O APIC. */
void chipset_eoi(struct vm_chipset *chipset, uint8_t vector);
/* ExtINT: the vector the 8259 pair would give now (-1: INTR low), and the
 * acknowledge cycle that hands it over. */
int chipset_pic_pending(struct vm_chipset *chipset);
uint8_t chipset_pic_acknowledge(struct vm_chipset *chipset);

/* vlapic.c: an interrupt message to the vLAPICs it addresses (I/O APIC,
 * MSI); and a kick for the vCPUs whose LINT0 takes the 8259's INTR. */
void vlapic_deliver(struct vm *vm, const struct apic_message *message);
void vlapic_extint_changed(struct vm *vm);
/* Puts vCPU 0's LAPIC in virtual-wire mode (enabled, LINT0 ExtINT, LINT1
 * NMI), as PC firmware leaves it. */
void vlapic_virtual_wire(struct vm *vm);
/* A vCPU's LAPIC back to its power-on state (VM reset). */
void vlapic_reset(struct vcpu *vcpu);

#endif

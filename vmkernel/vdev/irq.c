/*
 * Interrupt routing inside a VM (the contract of vdev/irq.h): device lines
 * go to the 8259 pair and the I/O APIC pins (ISA IRQ n = GSI n, IRQ 0 =
 * GSI 2), the I/O APIC and MSIs send messages to the vLAPICs, and the
 * vLAPICs come back for EOI broadcasts and the 8259's ExtINT vectors.
 */
#include <vdev/irq.h>

#include <vdev/chipset.h>
#include <vdev/platform.h>
#include <vm/vm.h>

bool chipset_pic_refresh_locked(struct vm_chipset *chipset)
{
	bool output = vpic_output(&chipset->pic);
	bool before = chipset->pic_output;
	/* Published before the caller's kick, which makes the vCPU look again. */
	__atomic_store_n(&chipset->pic_output, output, __ATOMIC_SEQ_CST);
	return output && !before;
}

void chipset_set_isa_irq_locked(struct vm_chipset *chipset, unsigned irq, bool asserted)
{
	if (irq >= 16)
		return;
	vpic_set_irq(&chipset->pic, irq, asserted);
	vioapic_set_line(&chipset->ioapic, irq == PLATFORM_IRQ_PIT ? PLATFORM_GSI_PIT : irq, asserted);
	if (chipset_pic_refresh_locked(chipset))
		vlapic_extint_changed(chipset->vm);
}

void chipset_set_gsi_locked(struct vm_chipset *chipset, unsigned gsi, bool asserted)
{
	if (gsi == PLATFORM_GSI_PIT) {
		chipset_set_isa_irq_locked(chipset, PLATFORM_IRQ_PIT, asserted);
	} else if (gsi < 16 && gsi != 0) {
		chipset_set_isa_irq_locked(chipset, gsi, asserted);
	} else {
		/* GSI 0 is the 8259's output on a PC; nothing else drives it. */
		vioapic_set_line(&chipset->ioapic, gsi, asserted);
	}
}

void vm_irq_line_set(struct vm *vm, unsigned gsi, bool asserted)
{
	struct vm_chipset *chipset = vm->chipset;
	if (!chipset || gsi >= PLATFORM_IOAPIC_PINS)
		return;
	uint64_t flags = spin_lock_irqsave(&chipset->lock);
	chipset_set_gsi_locked(chipset, gsi, asserted);
	spin_unlock_irqrestore(&chipset->lock, flags);
}

/* MSI address: 0xfee, destination ID (19:12), redirection hint (3),
 * destination mode (2). Data: vector (7:0), delivery mode (10:8), level
 * (14), trigger mode (15). */
void vm_msi_send(struct vm *vm, uint64_t address, uint32_t data)
{
	if ((address >> 20) != 0xfee || (data & 0xffff0000u))
		return;
	uint8_t mode = (uint8_t)((data >> 8) & 7);
	if (mode == 3 || mode == 6)
		return; /* reserved delivery modes (STARTUP comes only from an ICR) */
	struct apic_message message = {
		.destination = (uint32_t)(address >> 12) & 0xff,
		.vector = (uint8_t)data,
		.delivery_mode = mode,
		.logical = address & (1u << 2),
		.level = data & (1u << 15),
	};
	vlapic_deliver(vm, &message);
}

void chipset_eoi(struct vm_chipset *chipset, uint8_t vector)
{
	uint64_t flags = spin_lock_irqsave(&chipset->lock);
	vioapic_eoi(&chipset->ioapic, vector);
	spin_unlock_irqrestore(&chipset->lock, flags);
}

int chipset_pic_pending(struct vm_chipset *chipset)
{
	/* INTR low: no need for the lock. A rise that races with this read
	 * kicks the vCPU after storing the flag, so it is seen on the next entry. */
	if (!__atomic_load_n(&chipset->pic_output, __ATOMIC_ACQUIRE))
		return -1;
	uint64_t flags = spin_lock_irqsave(&chipset->lock);
	int vector = vpic_pending_vector(&chipset->pic);
	spin_unlock_irqrestore(&chipset->lock, flags);
	return vector;
}

uint8_t chipset_pic_acknowledge(struct vm_chipset *chipset)
{
	uint64_t flags = spin_lock_irqsave(&chipset->lock);
	uint8_t vector = vpic_acknowledge(&chipset->pic);
	chipset_pic_refresh_locked(chipset); /* this vCPU looks again before its next entry */
	spin_unlock_irqrestore(&chipset->lock, flags);
	return vector;
}

void chipset_rearm_locked(struct vm_chipset *chipset, uint64_t now_tsc)
{
	uint64_t pit = vpit_next_irq_tsc(&chipset->pit);
	uint64_t rtc = vrtc_update(&chipset->rtc, now_tsc);
	if (chipset->rtc.irq_edge) {
		chipset->rtc.irq_edge = false;
		chipset_set_isa_irq_locked(chipset, PLATFORM_IRQ_RTC, true);
		chipset_set_isa_irq_locked(chipset, PLATFORM_IRQ_RTC, false);
	}
	uint64_t next = pit;
	if (rtc && (!next || rtc < next))
		next = rtc;
	__atomic_store_n(&chipset->next_deadline, next, __ATOMIC_RELEASE);
}

void chipset_update(struct vm_chipset *chipset, uint64_t now_tsc)
{
	uint64_t next = __atomic_load_n(&chipset->next_deadline, __ATOMIC_ACQUIRE);
	if (!next || now_tsc < next)
		return;
	uint64_t flags = spin_lock_irqsave(&chipset->lock);
	if (vpit_poll_irq(&chipset->pit, now_tsc)) {
		/* OUT0 rises and, for the 8259's edge detector, falls again. */
		chipset_set_isa_irq_locked(chipset, PLATFORM_IRQ_PIT, true);
		chipset_set_isa_irq_locked(chipset, PLATFORM_IRQ_PIT, false);
	}
	chipset_rearm_locked(chipset, now_tsc); /* also the RTC's events */
	spin_unlock_irqrestore(&chipset->lock, flags);
}

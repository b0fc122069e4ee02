/* The local APIC through its MMIO page at 0xfee00000 (xAPIC mode). */
#include "internal.h"

/* Long enough for any emulator to deliver an IPI. */
#define IPI_SEND_SPINS 1000000

uint32_t lapic_read(uint32_t reg)
{
	return *(volatile uint32_t *)(uintptr_t)(KAPSEL_GUEST_LAPIC_BASE + reg);
}

void lapic_write(uint32_t reg, uint32_t value)
{
	*(volatile uint32_t *)(uintptr_t)(KAPSEL_GUEST_LAPIC_BASE + reg) = value;
}

void lapic_enable(void)
{
	lapic_write(LAPIC_TPR, 0);
	lapic_write(LAPIC_SVR, LAPIC_SVR_ENABLE | VECTOR_SPURIOUS);
}

void lapic_eoi(void)
{
	lapic_write(LAPIC_EOI, 0);
}

uint32_t lapic_id(void)
{
	return lapic_read(LAPIC_ID) >> 24;
}

bool lapic_send_ipi(uint32_t destination, uint32_t icr_low)
{
	lapic_write(LAPIC_ICR_HIGH, destination << 24);
	lapic_write(LAPIC_ICR_LOW, icr_low); /* this write sends */
	for (int i = 0; i < IPI_SEND_SPINS; i++) {
		if (!(lapic_read(LAPIC_ICR_LOW) & LAPIC_ICR_DELIVERY_PENDING))
			return true;
		cpu_pause();
	}
	return false;
}

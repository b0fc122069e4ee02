/*
 * The local APIC, in x2APIC mode (MSRs) when the CPU has it, else xAPIC
 * (MMIO registers at the address the caller mapped). Also the TSC and LAPIC
 * timer calibration against the PIT.
 */
#ifndef KAPSEL_ARCH_X86_LAPIC_H
#define KAPSEL_ARCH_X86_LAPIC_H

#include <stdbool.h>
#include <stdint.h>

/* BSP: choose the mode. mmio is the mapped xAPIC page (NULL: x2APIC only). */
int lapic_init_bsp(volatile void *mmio, bool allow_x2apic);
/* Every CPU (BSP included): enable, mask LINTs, spurious vector, TPR 0. */
void lapic_init_this_cpu(void);
bool lapic_x2apic_mode(void);
uint32_t lapic_id(void);
void lapic_eoi(void);

void lapic_send_ipi(uint32_t apic_id, uint8_t vector);
void lapic_send_nmi(uint32_t apic_id);
void lapic_send_nmi_all_others(void);
void lapic_send_init(uint32_t apic_id);
void lapic_send_startup(uint32_t apic_id, uint32_t trampoline_phys);
/* Waits until the last IPI left the local APIC (xAPIC delivery status). */
bool lapic_wait_idle(void);

/* Calibrates the TSC and LAPIC timer against PIT channel 2 (or CPUID). */
void timer_calibrate(void);
uint64_t tsc_hz(void);
uint64_t lapic_timer_hz(void);
void udelay(uint64_t microseconds);
/* One LAPIC timer interrupt after about microseconds. */
void lapic_timer_oneshot(uint64_t microseconds, uint8_t vector);
/* Periodic LAPIC timer on this CPU at hz, delivering vector. */
void lapic_timer_start_periodic(uint32_t hz, uint8_t vector);

#endif

/*
 * smp2: a 2-vCPU VM. The BSP starts the AP with INIT-SIPI-SIPI through
 * its LAPIC ICR (physical destination APIC ID 1, the runtime's trampoline);
 * the AP comes up in real mode, reaches 32-bit code (smp2.S), prints, and
 * both CPUs increment one shared counter with LOCK at the same time: no
 * increment may be lost. 32-bit protected mode. On bare QEMU without
 * -smp 2 there is no AP: SKIP.
 */
#include "guest.h"

const char guest_name[] = "smp2";

#define AP_APIC_ID 1u
#define INCREMENTS 100000u

static uint32_t startup_vector;

static volatile uint32_t ap_started, ap_apic_id, start_counting, ap_done;
static volatile uint32_t shared_counter;

static void count(void)
{
	for (uint32_t i = 0; i < INCREMENTS; i++)
		__asm__ volatile("lock incl %0" : "+m"(shared_counter));
}

static void smp2_ap_main(void)
{
	guest_idt_load();
	ap_apic_id = lapic_id();
	guest_printf("smp2: AP running (APIC ID %u)\n", ap_apic_id);
	__atomic_store_n(&ap_started, 1, __ATOMIC_RELEASE);
	while (!__atomic_load_n(&start_counting, __ATOMIC_ACQUIRE))
		cpu_pause();
	count();
	__atomic_store_n(&ap_done, 1, __ATOMIC_RELEASE);
}

/* Waits up to `milliseconds` for *flag; true if it was set. */
static bool wait_for(volatile uint32_t *flag, uint64_t milliseconds)
{
	uint64_t limit = guest_tsc_khz() * milliseconds, start = rdtsc_ordered();
	while (!__atomic_load_n(flag, __ATOMIC_ACQUIRE)) {
		if (rdtsc_ordered() - start > limit)
			return false;
		cpu_pause();
	}
	return true;
}

static bool start_ap(void)
{
	/* The SDM's universal start-up: INIT, 10 ms, SIPI, 200 us, SIPI. */
	CHECK(lapic_send_ipi(AP_APIC_ID, LAPIC_ICR_INIT | LAPIC_ICR_LEVEL_ASSERT), "INIT IPI stuck in ICR");
	guest_delay_us(10000);
	for (int attempt = 0; attempt < 2 && !ap_started; attempt++) {
		CHECK(lapic_send_ipi(AP_APIC_ID, LAPIC_ICR_STARTUP | startup_vector), "STARTUP IPI stuck in ICR");
		guest_delay_us(200);
	}
	return wait_for(&ap_started, kapsel_present() ? 10000 : 2000);
}

void guest_main(uint32_t multiboot_info)
{
	(void)multiboot_info;
	startup_vector = guest_ap_install(smp2_ap_main);
	lapic_enable();
	uint32_t bsp_apic_id = lapic_id();
	CHECK(bsp_apic_id != AP_APIC_ID, "the BSP has APIC ID %u, the AP's", bsp_apic_id);

	if (!start_ap()) {
		CHECK(!kapsel_present(), "the AP (APIC ID %u) did not start after INIT-SIPI-SIPI", AP_APIC_ID);
		guest_skip("no second CPU answered (bare QEMU needs -smp 2)");
		return;
	}
	CHECK_EQ(ap_apic_id, AP_APIC_ID, "the AP's LAPIC ID");

	__atomic_store_n(&start_counting, 1, __ATOMIC_RELEASE);
	count();
	CHECK(wait_for(&ap_done, 10000), "the AP did not finish its increments");
	CHECK_EQ(shared_counter, 2 * INCREMENTS, "shared counter after both CPUs' LOCK INCs");
	guest_printf("smp2: BSP %u and AP %u counted to %u\n", bsp_apic_id, ap_apic_id, shared_counter);
}

/*
 * smp_many: a VM with many vCPUs (8 by default, "cpus=N" on the command
 * line, up to 16), possibly more than the host has pCPUs. The BSP starts
 * every AP (APIC IDs 1..N-1) with INIT-SIPI-SIPI, all of them at once;
 * each AP reports its APIC ID, then every CPU adds to one counter with
 * LOCK while the others do: all must come online and no increment may be
 * lost, which needs the scheduler to run every vCPU.
 */
#include "guest.h"

#include <multiboot/multiboot.h>

const char guest_name[] = "smp_many";

#define MAX_CPUS 16u
#define INCREMENTS 20000u


static volatile uint32_t online_mask, start_counting, done_count;
static volatile uint32_t shared_counter;

static void count(void)
{
	for (uint32_t i = 0; i < INCREMENTS; i++)
		__asm__ volatile("lock incl %0" : "+m"(shared_counter));
}

static void smp_many_ap_main(void)
{
	guest_idt_load();
	uint32_t id = lapic_id();
	if (id < MAX_CPUS)
		__atomic_or_fetch(&online_mask, 1u << id, __ATOMIC_ACQ_REL);
	while (!__atomic_load_n(&start_counting, __ATOMIC_ACQUIRE))
		cpu_pause();
	count();
	__atomic_add_fetch(&done_count, 1, __ATOMIC_ACQ_REL);
}

/* Waits up to `milliseconds` of guest TSC for cond(); true if it held. */
static bool wait_until(bool (*cond)(uint32_t), uint32_t arg, uint64_t milliseconds)
{
	uint64_t limit = guest_tsc_khz() * milliseconds, start = rdtsc_ordered();
	while (!cond(arg)) {
		if (rdtsc_ordered() - start > limit)
			return false;
		cpu_pause();
	}
	return true;
}

static bool all_online(uint32_t mask)
{
	return (__atomic_load_n(&online_mask, __ATOMIC_ACQUIRE) & mask) == mask;
}

static bool all_done(uint32_t aps)
{
	return __atomic_load_n(&done_count, __ATOMIC_ACQUIRE) == aps;
}

static uint32_t requested_cpus(uint32_t multiboot_info)
{
	const multiboot_info_t *mbi = (const multiboot_info_t *)(uintptr_t)multiboot_info;
	const char *p = mbi->flags & MULTIBOOT_INFO_CMDLINE ? (const char *)(uintptr_t)mbi->cmdline : "";
	for (; *p; p++) {
		if ((p == (const char *)(uintptr_t)mbi->cmdline || p[-1] == ' ') && !memcmp(p, "cpus=", 5)) {
			uint32_t n = 0;
			for (p += 5; *p >= '0' && *p <= '9'; p++)
				n = n * 10 + (uint32_t)(*p - '0');
			return n;
		}
	}
	return 8;
}

void guest_main(uint32_t multiboot_info)
{
	uint32_t cpus = requested_cpus(multiboot_info);
	CHECK(cpus >= 2 && cpus <= MAX_CPUS, "cpus=%u: 2..%u", cpus, MAX_CPUS);
	uint32_t startup_vector = guest_ap_install(smp_many_ap_main);
	lapic_enable();
	CHECK_EQ(lapic_id(), 0, "the BSP's LAPIC ID");

	/* The SDM's universal start-up, to every AP in turn without waiting
	 * for each: INIT to all, 10 ms, then two SIPIs to all. */
	for (uint32_t id = 1; id < cpus; id++)
		CHECK(lapic_send_ipi(id, LAPIC_ICR_INIT | LAPIC_ICR_LEVEL_ASSERT), "INIT IPI to %u stuck", id);
	guest_delay_us(10000);
	for (int attempt = 0; attempt < 2; attempt++) {
		for (uint32_t id = 1; id < cpus; id++)
			if (!(online_mask & (1u << id)))
				CHECK(lapic_send_ipi(id, LAPIC_ICR_STARTUP | startup_vector), "STARTUP IPI to %u stuck", id);
		guest_delay_us(200);
	}
	uint32_t want = ((1u << cpus) - 1) & ~1u;
	if (!wait_until(all_online, want, kapsel_present() ? 30000 : 5000)) {
		CHECK(!kapsel_present(), "APs online 0x%x, want 0x%x", online_mask, want);
		guest_skip("not every AP answered (bare QEMU needs -smp %u)", cpus);
		return;
	}
	guest_printf("smp_many: %u CPUs online (mask 0x%x)\n", cpus, online_mask | 1u);
	__atomic_store_n(&start_counting, 1, __ATOMIC_RELEASE);
	count();
	CHECK(wait_until(all_done, cpus - 1, 60000), "only %u of %u APs finished counting", done_count, cpus - 1);
	CHECK_EQ(shared_counter, cpus * INCREMENTS, "shared counter after every CPU's LOCK INCs");
	guest_printf("smp_many: %u CPUs counted to %u\n", cpus, shared_counter);
}

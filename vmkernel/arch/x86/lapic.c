#include <arch/x86/lapic.h>

#include <arch/x86/cpu.h>
#include <arch/x86/interrupt.h>
#include <arch/x86/io.h>
#include <lib/log.h>

/* Register offsets (xAPIC MMIO); x2APIC MSR = 0x800 + offset / 16. */
#define LAPIC_ID 0x020
#define LAPIC_VERSION 0x030
#define LAPIC_TPR 0x080
#define LAPIC_EOI 0x0b0
#define LAPIC_SPURIOUS 0x0f0
#define LAPIC_ICR_LOW 0x300
#define LAPIC_ICR_HIGH 0x310
#define LAPIC_LVT_TIMER 0x320
#define LAPIC_LVT_LINT0 0x350
#define LAPIC_LVT_LINT1 0x360
#define LAPIC_LVT_ERROR 0x370
#define LAPIC_TIMER_INITIAL 0x380
#define LAPIC_TIMER_CURRENT 0x390
#define LAPIC_TIMER_DIVIDE 0x3e0

#define APIC_BASE_ENABLE (1u << 11)
#define APIC_BASE_X2APIC (1u << 10)
#define SPURIOUS_ENABLE (1u << 8)
#define LVT_MASKED (1u << 16)
#define LVT_TIMER_PERIODIC (1u << 17)
#define ICR_DELIVERY_PENDING (1u << 12)
#define ICR_LEVEL_ASSERT (1u << 14)
#define ICR_MODE_NMI (4u << 8)
#define ICR_MODE_INIT (5u << 8)
#define ICR_MODE_STARTUP (6u << 8)
#define ICR_ALL_EXCLUDING_SELF (3u << 18)
#define TIMER_DIVIDE_16 0x3

static volatile uint32_t *lapic_mmio;
static bool lapic_x2apic;
static uint64_t calibrated_tsc_hz;
static uint64_t calibrated_lapic_hz; /* timer ticks per second at divide 16 */

static uint32_t lapic_read(uint32_t reg)
{
	if (lapic_x2apic)
		return (uint32_t)rdmsr(0x800 + reg / 16);
	return lapic_mmio[reg / 4];
}

static void lapic_write(uint32_t reg, uint32_t value)
{
	if (lapic_x2apic)
		wrmsr(0x800 + reg / 16, value);
	else
		lapic_mmio[reg / 4] = value;
}

static void lapic_write_icr(uint32_t destination, uint32_t low)
{
	if (lapic_x2apic) {
		/* One 64-bit write; the destination is the full 32-bit x2APIC ID. */
		wrmsr(0x830, ((uint64_t)destination << 32) | low);
		return;
	}
	lapic_mmio[LAPIC_ICR_HIGH / 4] = destination << 24;
	lapic_mmio[LAPIC_ICR_LOW / 4] = low;
}

bool lapic_wait_idle(void)
{
	if (lapic_x2apic)
		return true; /* x2APIC has no delivery-status bit to wait on */
	for (int i = 0; i < 1000000; i++) {
		if (!(lapic_mmio[LAPIC_ICR_LOW / 4] & ICR_DELIVERY_PENDING))
			return true;
		cpu_relax();
	}
	return false;
}

int lapic_init_bsp(volatile void *mmio, bool allow_x2apic)
{
	lapic_mmio = mmio;
	lapic_x2apic = allow_x2apic && cpu_features.x2apic;
	if (!lapic_x2apic && !lapic_mmio) {
		log_error("lapic: no x2APIC and no xAPIC mapping\n");
		return -1;
	}
	return 0;
}

void lapic_init_this_cpu(void)
{
	uint64_t base = rdmsr(MSR_APIC_BASE) | APIC_BASE_ENABLE;

	/* xAPIC -> x2APIC must go through enabled xAPIC; both bits at once is legal. */
	if (lapic_x2apic)
		base |= APIC_BASE_X2APIC;
	wrmsr(MSR_APIC_BASE, base);
	lapic_write(LAPIC_TPR, 0);
	lapic_write(LAPIC_LVT_LINT0, LVT_MASKED);
	lapic_write(LAPIC_LVT_LINT1, LVT_MASKED);
	lapic_write(LAPIC_LVT_ERROR, LVT_MASKED);
	lapic_write(LAPIC_LVT_TIMER, LVT_MASKED);
	lapic_write(LAPIC_SPURIOUS, SPURIOUS_ENABLE | VECTOR_SPURIOUS);
}

bool lapic_x2apic_mode(void)
{
	return lapic_x2apic;
}

uint32_t lapic_id(void)
{
	uint32_t id = lapic_read(LAPIC_ID);
	return lapic_x2apic ? id : id >> 24;
}

void lapic_eoi(void)
{
	lapic_write(LAPIC_EOI, 0);
}

void lapic_send_ipi(uint32_t apic_id, uint8_t vector)
{
	lapic_write_icr(apic_id, ICR_LEVEL_ASSERT | vector);
	lapic_wait_idle();
}

void lapic_send_nmi(uint32_t apic_id)
{
	lapic_write_icr(apic_id, ICR_LEVEL_ASSERT | ICR_MODE_NMI);
	lapic_wait_idle();
}

void lapic_send_nmi_all_others(void)
{
	lapic_write_icr(0, ICR_ALL_EXCLUDING_SELF | ICR_LEVEL_ASSERT | ICR_MODE_NMI);
	lapic_wait_idle();
}

void lapic_send_init(uint32_t apic_id)
{
	lapic_write_icr(apic_id, ICR_LEVEL_ASSERT | ICR_MODE_INIT);
	lapic_wait_idle();
}

void lapic_send_startup(uint32_t apic_id, uint32_t trampoline_phys)
{
	lapic_write_icr(apic_id, ICR_LEVEL_ASSERT | ICR_MODE_STARTUP | (trampoline_phys >> 12));
	lapic_wait_idle();
}

/*
 * PIT channel 2 counts down at 1.193182 MHz with its gate on port 0x61 bit 0
 * and its output on bit 5, without interrupts: a one-shot of N ticks times
 * an interval we can watch from any CPU state.
 */
#define PIT_HZ 1193182u
#define PIT_CALIBRATION_TICKS (PIT_HZ / 1000) /* 1 ms: short, for boot cost */

static void pit_oneshot_prepare(uint16_t ticks)
{
	uint8_t gate = inb(0x61);
	outb(0x61, (gate & ~0x02) & ~0x01); /* speaker off, gate low */
	outb(0x43, 0xb0);                   /* channel 2, lobyte/hibyte, mode 0 */
	outb(0x42, ticks & 0xff);
	outb(0x42, ticks >> 8);
}

static void pit_oneshot_go(void)
{
	outb(0x61, inb(0x61) | 0x01); /* gate high: counting starts */
}

static bool pit_oneshot_done(void)
{
	return inb(0x61) & 0x20;
}

static uint64_t median3(const uint64_t v[3])
{
	uint64_t a = v[0], b = v[1], c = v[2];
	if (a > b) {
		uint64_t t = a;
		a = b;
		b = t;
	}
	if (b > c)
		b = c;
	return a > b ? a : b;
}

void timer_calibrate(void)
{
	/* The TSC rate from CPUID when the CPU states it (leaf 0x15 or a hypervisor's 0x40000010). */
	if (cpu_features.tsc_hz_cpuid)
		calibrated_tsc_hz = cpu_features.tsc_hz_cpuid;
	else if (cpu_features.hypervisor && cpuid(0x40000000, 0).eax >= 0x40000010)
		calibrated_tsc_hz = (uint64_t)cpuid(0x40000010, 0).eax * 1000;

	lapic_write(LAPIC_TIMER_DIVIDE, TIMER_DIVIDE_16);
	lapic_write(LAPIC_LVT_TIMER, LVT_MASKED);
	/*
	 * Three windows, the median kept: in an emulator the vCPU can be
	 * descheduled for milliseconds, and one stalled window would make every
	 * timer in the system wrong. Both counters start before the gate opens,
	 * so a stall can only lengthen a window, never hide it.
	 */
	uint64_t tsc_samples[3], lapic_samples[3];
	bool pit_worked = true;
	for (int round = 0; round < 3; round++) {
		pit_oneshot_prepare(PIT_CALIBRATION_TICKS);
		lapic_write(LAPIC_TIMER_INITIAL, 0xffffffffu);
		uint64_t tsc_start = rdtsc();
		pit_oneshot_go();
		uint64_t spins = 0;
		while (!pit_oneshot_done() && spins++ < 100000000)
			cpu_relax();
		tsc_samples[round] = rdtsc() - tsc_start;
		lapic_samples[round] = 0xffffffffu - lapic_read(LAPIC_TIMER_CURRENT);
		lapic_write(LAPIC_TIMER_INITIAL, 0);
		pit_worked &= pit_oneshot_done();
	}
	uint64_t tsc_elapsed = median3(tsc_samples);
	uint64_t lapic_elapsed = median3(lapic_samples);

	uint64_t interval_hz = PIT_HZ / PIT_CALIBRATION_TICKS; /* calibrations per second */
	if (!calibrated_tsc_hz)
		calibrated_tsc_hz = tsc_elapsed * interval_hz;
	calibrated_lapic_hz = lapic_elapsed * interval_hz;
	if (!pit_worked || !calibrated_tsc_hz) {
		/* No PIT (some UEFI-only machines): assume 1 GHz rather than divide by 0. */
		log_warn("timer: warning: PIT calibration failed; assuming a 1 GHz TSC\n");
		calibrated_tsc_hz = 1000000000ul;
	}
	if (!calibrated_lapic_hz)
		calibrated_lapic_hz = 1000000;
	log_info("timer: TSC %lu.%03lu MHz%s, LAPIC timer %lu kHz (x%s)\n",
		 calibrated_tsc_hz / 1000000, (calibrated_tsc_hz / 1000) % 1000,
		 cpu_features.invariant_tsc ? " invariant" : "", calibrated_lapic_hz / 1000,
		 lapic_x2apic ? "2APIC" : "APIC");
}

uint64_t tsc_hz(void)
{
	return calibrated_tsc_hz;
}

uint64_t lapic_timer_hz(void)
{
	return calibrated_lapic_hz;
}

void udelay(uint64_t microseconds)
{
	uint64_t hz = calibrated_tsc_hz ? calibrated_tsc_hz : 1000000000ul;
	uint64_t end = rdtsc() + microseconds * (hz / 1000000);
	while (rdtsc() < end)
		cpu_relax();
}

void lapic_timer_start_periodic(uint32_t hz, uint8_t vector)
{
	uint64_t count = calibrated_lapic_hz / hz;

	lapic_write(LAPIC_TIMER_DIVIDE, TIMER_DIVIDE_16);
	lapic_write(LAPIC_LVT_TIMER, LVT_TIMER_PERIODIC | vector);
	lapic_write(LAPIC_TIMER_INITIAL, count ? (uint32_t)count : 1);
}

void lapic_timer_oneshot(uint64_t microseconds, uint8_t vector)
{
	uint64_t count = calibrated_lapic_hz * microseconds / 1000000;

	lapic_write(LAPIC_TIMER_DIVIDE, TIMER_DIVIDE_16);
	lapic_write(LAPIC_LVT_TIMER, vector);
	lapic_write(LAPIC_TIMER_INITIAL, count ? (count > 0xffffffffu ? 0xffffffffu : (uint32_t)count) : 1);
}

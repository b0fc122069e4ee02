/*
 * cpu_spin: a CPU-bound guest for the scheduler tests. It spins for a
 * warm-up, counts loop iterations over a window, spins for a cool-down,
 * and prints the count: run side by side, the counts compare the CPU time
 * each VM got, and the warm-up and cool-down keep every window contended
 * although the VMs start one after the other. All three are measured on
 * the guest's TSC (wall time: it runs while the vCPU waits). The command
 * line sets them in milliseconds: "warm=300 window=2000 cool=300".
 * With "tick_us=N ticks=M" it instead sleeps in HLT on a periodic LAPIC
 * timer of N microseconds until M ticks came: a vCPU that keeps waking up,
 * for the wake-up latency in the vmkernel's accounting. With "nvram=1" it
 * first prints CMOS byte 0x40 (battery-backed, kept in the VM's NVRAM
 * file) and writes it back plus one: a power cycle shows the count.
 */
#include "guest.h"

#include <multiboot/multiboot.h>

const char guest_name[] = "cpu_spin";

/* The value of `key=` on the command line, or fallback. */
static uint32_t cmdline_value(const char *cmdline, const char *key, uint32_t fallback)
{
	size_t key_length = strlen(key);
	for (const char *p = cmdline; p && *p; p++) {
		if ((p == cmdline || p[-1] == ' ') && !memcmp(p, key, key_length) && p[key_length] == '=') {
			uint32_t value = 0;
			for (p += key_length + 1; *p >= '0' && *p <= '9'; p++)
				value = value * 10 + (uint32_t)(*p - '0');
			return value;
		}
	}
	return fallback;
}

#define TIMER_VECTOR 0x40

static volatile uint32_t ticks;

static void timer_interrupt(struct guest_frame *frame)
{
	(void)frame;
	ticks++;
	lapic_eoi();
}

static void tick(uint32_t period_us, uint32_t count)
{
	uint32_t a, lapic_khz, c, d;
	__asm__ volatile("cpuid" : "=a"(a), "=b"(lapic_khz), "=c"(c), "=d"(d) : "a"(0x40000010), "c"(0));
	CHECK(lapic_khz, "no LAPIC timer frequency (the Kapsel timing leaf)");
	guest_set_handler(TIMER_VECTOR, timer_interrupt);
	lapic_enable();
	lapic_write(LAPIC_TIMER_DIVIDE, 0xb); /* divide by 1 */
	lapic_write(LAPIC_LVT_TIMER, TIMER_VECTOR | LAPIC_LVT_TIMER_PERIODIC);
	lapic_write(LAPIC_TIMER_INITIAL, (uint32_t)guest_div64((uint64_t)lapic_khz * period_us, 1000, NULL));
	while (ticks < count)
		__asm__ volatile("sti; hlt; cli" : : : "memory");
	lapic_write(LAPIC_TIMER_INITIAL, 0);
	guest_printf("cpu_spin: ticks=%u period_us=%u\n", ticks, period_us);
}

static void spin_until(uint64_t tsc)
{
	while (rdtsc_ordered() < tsc)
		;
}

void guest_main(uint32_t multiboot_info)
{
	const multiboot_info_t *mbi = (const multiboot_info_t *)(uintptr_t)multiboot_info;
	const char *cmdline = mbi->flags & MULTIBOOT_INFO_CMDLINE ? (const char *)(uintptr_t)mbi->cmdline : "";
	uint64_t khz = guest_tsc_khz();
	uint32_t warm = cmdline_value(cmdline, "warm", 300);
	uint32_t window = cmdline_value(cmdline, "window", 2000);
	uint32_t cool = cmdline_value(cmdline, "cool", 300);

	CHECK(khz, "no TSC frequency (the Kapsel timing leaf)");
	guest_idt_init();
	guest_idt_load();
	if (cmdline_value(cmdline, "nvram", 0)) {
		outb(0x70, 0x40);
		uint8_t boots = inb(0x71);
		guest_printf("cpu_spin: nvram byte 0x40=%u\n", boots);
		outb(0x70, 0x40);
		outb(0x71, (uint8_t)(boots + 1));
	}
	if (cmdline_value(cmdline, "tick_us", 0)) {
		CHECK(kapsel_present(), "tick mode needs Kapsel's timing leaf");
		tick(cmdline_value(cmdline, "tick_us", 0), cmdline_value(cmdline, "ticks", 100));
		return;
	}
	/* Interrupts on, as an OS runs (nothing is set up to interrupt it: any
	 * vector would FAIL it). Bochs's VMX also needs it: it holds host LAPIC
	 * interrupts back from a guest with IF=0 despite external-interrupt
	 * exiting, so such a guest would never be preempted there. */
	if (kapsel_present())
		__asm__ volatile("sti");
	uint64_t start = rdtsc_ordered();
	spin_until(start + warm * khz);
	uint64_t count = 0, window_start = rdtsc_ordered();
	uint64_t window_end = window_start + window * khz;
	while (rdtsc_ordered() < window_end)
		count++;
	spin_until(window_end + cool * khz);
	guest_printf("cpu_spin: count=%llu window_ms=%u\n", (unsigned long long)count, window);
	CHECK(count, "the loop never ran within the window");
}

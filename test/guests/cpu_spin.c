/*
 * cpu_spin: a CPU-bound guest for the scheduler tests. It spins for a
 * warm-up, counts loop iterations over a window, spins for a cool-down,
 * and prints the count: run side by side, the counts compare the CPU time
 * each VM got, and the warm-up and cool-down keep every window contended
 * although the VMs start one after the other. All three are measured on
 * the guest's TSC (wall time: it runs while the vCPU waits). The command
 * line sets them in milliseconds: "warm=300 window=2000 cool=300".
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

/*
 * bench: the cost of one exit of each kind, for `make bench`. Loops
 * BENCH_ITERATIONS times over CPUID, VMCALL(VERSION), a write to the UART
 * scratch register, a write to the test device and RDMSR(IA32_PAT),
 * reading the TSC around each loop, and prints TSC ticks per iteration:
 *   BENCH cpuid=<n> vmcall=<n> pio=<n> mmio=<n> msr=<n>
 * then PASS. Off Kapsel, vmcall and mmio have nothing to measure: "-".
 * Under QEMU -icount the ticks are instructions. 64-bit long mode.
 */
#include "guest.h"

const char guest_name[] = "bench";

#define BENCH_ITERATIONS 1000u
#define DEVICE ((volatile uint32_t *)(uintptr_t)KAPSEL_TESTDEV_MMIO_BASE)

enum bench_kind { BENCH_CPUID, BENCH_VMCALL, BENCH_PIO, BENCH_MMIO, BENCH_MSR, BENCH_KINDS };
static const char *const bench_names[BENCH_KINDS] = { "cpuid", "vmcall", "pio", "mmio", "msr" };

static void run_once(enum bench_kind kind, uint32_t i)
{
	switch (kind) {
	case BENCH_CPUID:
		(void)cpuid(0, 0);
		break;
	case BENCH_VMCALL:
		(void)kapsel_hypercall(KAPSEL_HC_VERSION, 0, 0, 0);
		break;
	case BENCH_PIO:
		outb(GUEST_UART_BASE + UART_SCRATCH, (uint8_t)i);
		break;
	case BENCH_MMIO:
		DEVICE[0] = i;
		break;
	case BENCH_MSR:
		(void)rdmsr(MSR_IA32_PAT);
		break;
	default:
		break;
	}
}

/* TSC ticks per iteration, after one warm-up iteration. */
static uint64_t measure(enum bench_kind kind)
{
	run_once(kind, 0);
	uint64_t start = rdtsc_ordered();
	for (uint32_t i = 0; i < BENCH_ITERATIONS; i++)
		run_once(kind, i);
	return (rdtsc_ordered() - start) / BENCH_ITERATIONS;
}

void guest_main(uint32_t multiboot_info)
{
	(void)multiboot_info;
	/* The runtime's identity map already covers the device, uncached. */
	bool kapsel = kapsel_present();
	if (!kapsel)
		guest_skip("not under Kapsel (vmcall and mmio not measured)");

	char line[160];
	size_t length = guest_snprintf(line, sizeof(line), "BENCH");
	for (int kind = 0; kind < BENCH_KINDS; kind++) {
		bool measurable = kapsel || (kind != BENCH_VMCALL && kind != BENCH_MMIO);
		if (measurable)
			length += guest_snprintf(line + length, sizeof(line) - length, " %s=%llu", bench_names[kind],
						 (unsigned long long)measure((enum bench_kind)kind));
		else
			length += guest_snprintf(line + length, sizeof(line) - length, " %s=-", bench_names[kind]);
	}
	guest_printf("%s\n", line);
}

/*
 * hlt_timer: HLT woken by the LAPIC timer. The divide register keeps its
 * value; a one-shot count runs down, the interrupt (vector 0x40) wakes a
 * HLT exactly once, returns to the instruction after the HLT, and not
 * before the programmed time; a periodic timer reloads and keeps firing; a
 * masked timer runs down without an interrupt. EOI through 0xfee000b0.
 * 32-bit protected mode.
 */
#include "guest.h"

const char guest_name[] = "hlt_timer";

#define TIMER_VECTOR 0x40
#define DIVIDE_BY_16 0x3
#define DIVIDE_BY_1 0xb
#define ONE_SHOT_COUNT 200000u
#define PERIODIC_COUNT 50000u
#define PERIODIC_TICKS 3
/* Polling limits, in TSC ticks: far beyond any sane timer period. */
#define WAIT_LIMIT_TSC (20ull * 1000 * 1000 * 1000)

static volatile unsigned timer_ticks;
static volatile uintptr_t interrupted_ip;
extern const char hlt_timer_after_hlt[];

static void timer_interrupt(struct guest_frame *frame)
{
	timer_ticks++;
	interrupted_ip = frame->ip;
	lapic_eoi();
}

/* One HLT with interrupts on; the label marks the instruction after it. */
static __attribute__((noinline)) void halt_once(void)
{
	__asm__ volatile("sti; hlt\n"
			 ".globl hlt_timer_after_hlt\n"
			 "hlt_timer_after_hlt:\n"
			 "cli"
			 : : : "memory");
}

static void wait_for_count_to_move(uint32_t initial)
{
	uint64_t start = rdtsc_ordered();
	while (lapic_read(LAPIC_TIMER_CURRENT) == initial) {
		CHECK(rdtsc_ordered() - start < WAIT_LIMIT_TSC, "timer current count stuck at %u", initial);
		cpu_pause();
	}
}

static void check_divide_register(void)
{
	lapic_write(LAPIC_TIMER_DIVIDE, DIVIDE_BY_1);
	CHECK_EQ(lapic_read(LAPIC_TIMER_DIVIDE) & 0xb, DIVIDE_BY_1, "divide configuration (divide by 1)");
	lapic_write(LAPIC_TIMER_DIVIDE, DIVIDE_BY_16);
	CHECK_EQ(lapic_read(LAPIC_TIMER_DIVIDE) & 0xb, DIVIDE_BY_16, "divide configuration (divide by 16)");
}

static void check_one_shot(void)
{
	timer_ticks = 0;
	lapic_write(LAPIC_LVT_TIMER, TIMER_VECTOR);
	uint64_t start = rdtsc_ordered();
	lapic_write(LAPIC_TIMER_INITIAL, ONE_SHOT_COUNT);
	CHECK_EQ(lapic_read(LAPIC_TIMER_INITIAL), ONE_SHOT_COUNT, "timer initial count register");
	CHECK_EQ(lapic_read(LAPIC_LVT_TIMER), TIMER_VECTOR, "LVT timer register");
	wait_for_count_to_move(ONE_SHOT_COUNT);
	uint32_t current = lapic_read(LAPIC_TIMER_CURRENT);
	CHECK(current < ONE_SHOT_COUNT, "current count %u above the initial count", current);

	halt_once();
	uint64_t elapsed = rdtsc_ordered() - start;
	CHECK(timer_ticks == 1, "HLT returned with %u timer interrupts, want exactly 1", timer_ticks);
	CHECK(interrupted_ip == (uintptr_t)hlt_timer_after_hlt,
	      "timer interrupt frame IP 0x%lx, want 0x%lx (the instruction after HLT)", (unsigned long)interrupted_ip,
	      (unsigned long)(uintptr_t)hlt_timer_after_hlt);
	CHECK_EQ(lapic_read(LAPIC_TIMER_CURRENT), 0, "one-shot current count after it fired");

	if (kapsel_present()) {
		/* Not early: the count took count * 16 / (LAPIC kHz) ms. */
		uint32_t lapic_khz = cpuid(KAPSEL_CPUID_TIMING, 0).ebx;
		uint64_t period_us = guest_div64((uint64_t)ONE_SHOT_COUNT * 16 * 1000, lapic_khz, 0);
		uint64_t elapsed_us = guest_div64(elapsed * 1000, (uint32_t)guest_tsc_khz(), 0);
		CHECK(elapsed_us * 2 >= period_us, "one-shot fired after %llu us, programmed for %llu us",
		      (unsigned long long)elapsed_us, (unsigned long long)period_us);
		guest_printf("hlt_timer: one-shot of %llu us woke HLT after %llu us\n", (unsigned long long)period_us,
			     (unsigned long long)elapsed_us);
	}

	/* It stays quiet: wait twice as long again with interrupts on. */
	uint64_t quiet_start = rdtsc_ordered();
	interrupts_enable();
	while (rdtsc_ordered() - quiet_start < 2 * elapsed)
		cpu_pause();
	interrupts_disable();
	CHECK(timer_ticks == 1, "one-shot timer fired %u times", timer_ticks);
	guest_printf("hlt_timer: one-shot ok (HLT woken after %llu TSC ticks)\n", (unsigned long long)elapsed);
}

static void check_periodic(void)
{
	timer_ticks = 0;
	lapic_write(LAPIC_LVT_TIMER, TIMER_VECTOR | LAPIC_LVT_TIMER_PERIODIC);
	lapic_write(LAPIC_TIMER_INITIAL, PERIODIC_COUNT);
	wait_for_count_to_move(PERIODIC_COUNT);
	for (unsigned halts = 0; timer_ticks < PERIODIC_TICKS; halts++) {
		CHECK(halts < 100 * PERIODIC_TICKS, "periodic timer: %u interrupts after %u HLTs", timer_ticks, halts);
		halt_once();
	}
	uint32_t current = lapic_read(LAPIC_TIMER_CURRENT);
	CHECK(current > 0 && current <= PERIODIC_COUNT, "periodic current count %u did not reload", current);

	/* Masked: the count runs, no interrupt arrives. */
	lapic_write(LAPIC_LVT_TIMER, TIMER_VECTOR | LAPIC_LVT_TIMER_PERIODIC | LAPIC_LVT_MASKED);
	unsigned ticks_when_masked = timer_ticks;
	interrupts_enable();
	for (unsigned reloads = 0; reloads < 2; reloads++) {
		uint64_t start = rdtsc_ordered();
		uint32_t previous = lapic_read(LAPIC_TIMER_CURRENT), now;
		while ((now = lapic_read(LAPIC_TIMER_CURRENT)) <= previous) { /* until it wraps to the top */
			CHECK(rdtsc_ordered() - start < WAIT_LIMIT_TSC, "masked periodic timer stopped counting");
			previous = now;
		}
	}
	interrupts_disable();
	CHECK(timer_ticks == ticks_when_masked, "masked timer delivered %u interrupts",
	      timer_ticks - ticks_when_masked);

	lapic_write(LAPIC_TIMER_INITIAL, 0); /* stops the timer */
	CHECK_EQ(lapic_read(LAPIC_TIMER_CURRENT), 0, "current count after writing initial count 0");
	guest_printf("hlt_timer: periodic ok, masked ok\n");
}

void guest_main(uint32_t multiboot_info)
{
	(void)multiboot_info;
	guest_set_handler(TIMER_VECTOR, timer_interrupt);
	lapic_enable();
	check_divide_register();
	check_one_shot();
	check_periodic();
}

/*
 * demo: the small VM `make run` shows. It says hello with the CPU its
 * hypervisor presents, sleeps in HLT on its LAPIC timer for a few ticks
 * (printing each one), counts to a number on its vCPU, and powers its
 * VM off through the exit port. Not a test: it always ends with status 0.
 */
#include "guest.h"

const char guest_name[] = "demo";

#define TIMER_VECTOR 0x40
#define TICKS 3

static volatile unsigned ticks;

static void timer_interrupt(struct guest_frame *frame)
{
	(void)frame;
	ticks++;
	lapic_eoi();
}

void guest_main(uint32_t multiboot_info)
{
	char brand[49] = { 0 };
	uint32_t *words = (uint32_t *)brand;

	for (uint32_t leaf = 0; leaf < 3; leaf++) {
		uint32_t a, b, c, d;
		__asm__ volatile("cpuid" : "=a"(a), "=b"(b), "=c"(c), "=d"(d) : "a"(0x80000002 + leaf), "c"(0));
		words[leaf * 4] = a, words[leaf * 4 + 1] = b, words[leaf * 4 + 2] = c, words[leaf * 4 + 3] = d;
	}
	guest_printf("demo: hello from a %s VM with %llu MiB on \"%s\"\n",
		     kapsel_present() ? "Kapsel" : "bare-metal",
		     (unsigned long long)(multiboot_ram_end(multiboot_info) >> 20), brand);
	guest_idt_init();
	guest_set_handler(TIMER_VECTOR, timer_interrupt);
	guest_idt_load();
	lapic_enable();
	lapic_write(LAPIC_TIMER_DIVIDE, 0xb); /* divide by 1 */
	lapic_write(LAPIC_LVT_TIMER, TIMER_VECTOR | LAPIC_LVT_TIMER_PERIODIC);
	/* About a second per tick, from the timer rate the hypervisor reports. */
	uint32_t khz = 0;
	if (kapsel_present()) {
		uint32_t a, b, c, d;
		__asm__ volatile("cpuid" : "=a"(a), "=b"(b), "=c"(c), "=d"(d) : "a"(0x40000010), "c"(0));
		khz = b;
	}
	lapic_write(LAPIC_TIMER_INITIAL, khz ? khz * 1000u : 100000000u);
	while (ticks < TICKS) {
		unsigned seen = ticks;
		__asm__ volatile("sti; hlt; cli" : : : "memory");
		if (ticks != seen)
			guest_printf("demo: tick %u (woken from HLT by the virtual LAPIC timer)\n", ticks);
	}
	lapic_write(LAPIC_TIMER_INITIAL, 0);
	guest_printf("demo: goodbye\n");
}

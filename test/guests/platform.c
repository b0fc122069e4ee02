/*
 * platform: the PC platform of hw.version 1, found the way an OS finds it.
 * ACPI: the RSDP by scanning 0xe0000-0xfffff, every table checksummed, the
 * MADT (2 CPUs, the I/O APIC, IRQ 0's override), the FADT's PM timer and
 * PM1a control block, \_S5 in the DSDT. The PIT's IRQ 0 through the I/O
 * APIC (at the override's GSI) at its programmed rate, and through the
 * 8259 and LINT0 (ExtINT); the RTC's time and
 * update-in-progress; the PM timer monotonic and at 3.579545 MHz against
 * the TSC; a fixed IPI to the second vCPU and back; the x2APIC (MSRs, #GP
 * for what does not exist) with its timer one-shot and in TSC-deadline
 * mode; reserved xAPIC registers read 0 with ESR bit 7; nonsense written to
 * every chipset device leaves it working. Last, ACPI S5
 * through PM1a_CNT must end the VM. 32-bit protected mode, 2 vCPUs.
 */
#include "guest.h"

const char guest_name[] = "platform";

#define AP_APIC_ID 1u

#define VECTOR_TIMER 0x40
#define VECTOR_PIT 0x50
#define VECTOR_IPI_TO_AP 0x60
#define VECTOR_IPI_TO_BSP 0x61

#define PIT_HZ 1193182u
#define PIT_IRQS 20u
#define PM_TIMER_HZ 3579545u

#define MSR_APIC_BASE 0x1b
#define MSR_TSC_DEADLINE 0x6e0
#define MSR_X2APIC_ID 0x802
#define MSR_X2APIC_VERSION 0x803
#define MSR_X2APIC_EOI 0x80b
#define MSR_X2APIC_LDR 0x80d
#define MSR_X2APIC_DFR 0x80e
#define MSR_X2APIC_SVR 0x80f
#define MSR_X2APIC_ICR 0x830
#define MSR_X2APIC_LVT_TIMER 0x832
#define MSR_X2APIC_TIMER_INITIAL 0x838
#define MSR_X2APIC_TIMER_CURRENT 0x839
#define MSR_X2APIC_DIVIDE 0x83e
#define MSR_X2APIC_SELF_IPI 0x83f

static void platform_ap_main(void);

/* ---- what ACPI said ---- */
static uint32_t ioapic_base, pit_gsi, madt_cpus;
static uint16_t pm_timer_port, pm1a_control_port;
static uint8_t s5_slp_typ;

static uint8_t checksum(const void *data, uint32_t length)
{
	const uint8_t *p = data;
	uint8_t sum = 0;
	for (uint32_t i = 0; i < length; i++)
		sum = (uint8_t)(sum + p[i]);
	return sum;
}

static uint32_t load32(const uint8_t *p)
{
	return p[0] | p[1] << 8 | p[2] << 16 | (uint32_t)p[3] << 24;
}

static const uint8_t *checked_table(uint32_t address, const char *expected)
{
	const uint8_t *t = (const uint8_t *)(uintptr_t)address;
	CHECK(address && address < 0x100000000ull - 36, "table %s at 0x%x", expected ? expected : "?", address);
	uint32_t length = load32(t + 4);
	CHECK(length >= 36 && length < (1u << 20), "table %.4s: length %u", (const char *)t, length);
	CHECK(checksum(t, length) == 0, "table %.4s at 0x%x: bad checksum", (const char *)t, address);
	if (expected)
		CHECK(!memcmp(t, expected, 4), "table at 0x%x is %.4s, want %s", address, (const char *)t, expected);
	return t;
}

static void parse_madt(const uint8_t *madt)
{
	uint32_t length = load32(madt + 4);
	pit_gsi = 0; /* ISA default: IRQ 0 is GSI 0 unless overridden */
	for (uint32_t at = 44; at + 2 <= length && madt[at + 1] >= 2; at += madt[at + 1]) {
		const uint8_t *e = madt + at;
		if (e[0] == 0 && (load32(e + 4) & 1))
			madt_cpus++;
		else if (e[0] == 1)
			ioapic_base = load32(e + 4);
		else if (e[0] == 2 && e[2] == 0 && e[3] == 0)
			pit_gsi = load32(e + 4);
	}
}

/* \_S5: NameOp "_S5_" PackageOp PkgLength NumElements, then SLP_TYPa. */
static bool find_s5(const uint8_t *dsdt)
{
	uint32_t length = load32(dsdt + 4);
	for (uint32_t i = 36; i + 10 < length; i++) {
		if (memcmp(dsdt + i, "_S5_", 4) || dsdt[i + 4] != 0x12)
			continue;
		const uint8_t *p = dsdt + i + 5;
		p += (p[0] >> 6) + 1; /* PkgLength: lead byte plus 0-3 more */
		p++;                  /* NumElements */
		if (p[0] == 0x0a)
			s5_slp_typ = p[1];
		else if (p[0] <= 1)
			s5_slp_typ = p[0]; /* ZeroOp / OneOp */
		else
			return false;
		return true;
	}
	return false;
}

static void check_acpi(void)
{
	const uint8_t *rsdp = NULL;
	for (uintptr_t a = 0xe0000; a < 0x100000; a += 16)
		if (!memcmp((const void *)a, "RSD PTR ", 8) && checksum((const void *)a, 20) == 0) {
			rsdp = (const uint8_t *)a;
			break;
		}
	CHECK(rsdp, "no RSDP with a valid checksum in 0xe0000-0xfffff");
	bool xsdt = rsdp[15] >= 2;
	if (xsdt)
		CHECK(checksum(rsdp, load32(rsdp + 20)) == 0, "RSDP extended checksum");
	/* 32-bit guest: the XSDT's entries must be below 4 GiB to follow them */
	const uint8_t *root = checked_table(xsdt ? load32(rsdp + 24) : load32(rsdp + 16), xsdt ? "XSDT" : "RSDT");
	unsigned entry_size = xsdt ? 8 : 4, entries = (load32(root + 4) - 36) / entry_size;
	const uint8_t *fadt = NULL, *madt = NULL;
	for (unsigned i = 0; i < entries; i++) {
		const uint8_t *t = checked_table(load32(root + 36 + i * entry_size), NULL);
		if (!memcmp(t, "FACP", 4))
			fadt = t;
		else if (!memcmp(t, "APIC", 4))
			madt = t;
	}
	CHECK(fadt && madt, "FADT and MADT must be listed (%p %p)", fadt, madt);
	parse_madt(madt);
	pm1a_control_port = (uint16_t)load32(fadt + 64);
	pm_timer_port = (uint16_t)load32(fadt + 76);
	CHECK(pm1a_control_port && pm_timer_port, "FADT: PM1a_CNT 0x%x, PM_TMR 0x%x", pm1a_control_port, pm_timer_port);
	CHECK(find_s5(checked_table(load32(fadt + 40), "DSDT")), "no \\_S5 package in the DSDT");
	CHECK(ioapic_base, "MADT lists no I/O APIC");
	CHECK_EQ(madt_cpus, 2, "MADT processor entries");
	guest_printf("platform: ACPI: %s, I/O APIC 0x%x, IRQ 0 -> GSI %u, PM timer 0x%x, PM1a_CNT 0x%x, S5 %u\n",
		     xsdt ? "XSDT" : "RSDT", ioapic_base, pit_gsi, pm_timer_port, pm1a_control_port, s5_slp_typ);
}

/* ---- I/O APIC and PIT ---- */

static void ioapic_write(uint32_t reg, uint32_t value)
{
	*(volatile uint32_t *)(uintptr_t)ioapic_base = reg;
	*(volatile uint32_t *)(uintptr_t)(ioapic_base + 0x10) = value;
}

static uint32_t ioapic_read(uint32_t reg)
{
	*(volatile uint32_t *)(uintptr_t)ioapic_base = reg;
	return *(volatile uint32_t *)(uintptr_t)(ioapic_base + 0x10);
}

static volatile uint32_t pit_irqs;

static void pit_interrupt(struct guest_frame *frame)
{
	(void)frame;
	pit_irqs++;
	lapic_eoi();
}

static void check_pit_through_ioapic(void)
{
	uint32_t version = ioapic_read(1);
	CHECK(((version >> 16) & 0xff) >= 23, "I/O APIC version 0x%x: fewer than 24 pins", version);
	/* a redirection entry keeps what is written; Remote IRR is not writable */
	ioapic_write(0x10 + 2 * pit_gsi + 1, lapic_id() << 24);
	ioapic_write(0x10 + 2 * pit_gsi, (1u << 16) | (1u << 14) | VECTOR_PIT);
	CHECK_EQ(ioapic_read(0x10 + 2 * pit_gsi), (1u << 16) | VECTOR_PIT, "masked PIT redirection entry");
	guest_set_handler(VECTOR_PIT, pit_interrupt);
	ioapic_write(0x10 + 2 * pit_gsi, VECTOR_PIT); /* edge, active high, fixed, unmasked */

	uint16_t count = (uint16_t)guest_div64(PIT_HZ, 1000, 0); /* 1 kHz */
	/* Timed from before the PIT counts: a vCPU kept waiting for its pCPU
	 * between programming and reading the TSC gets the ticks it missed
	 * replayed in a burst, and a clock started late would see them "fast". */
	uint64_t start = rdtsc_ordered(), limit = guest_tsc_khz() * 5000;
	outb(0x43, 0x34); /* channel 0, LSB/MSB, mode 2 */
	outb(0x40, (uint8_t)count);
	outb(0x40, (uint8_t)(count >> 8));
	interrupts_enable();
	while (pit_irqs < PIT_IRQS) {
		CHECK(rdtsc_ordered() - start < limit, "PIT: %u of %u IRQ 0s through I/O APIC pin %u in 5 s", pit_irqs,
		      PIT_IRQS, pit_gsi);
		__asm__ volatile("hlt");
	}
	uint64_t elapsed = rdtsc_ordered() - start;
	interrupts_disable();
	ioapic_write(0x10 + 2 * pit_gsi, (1u << 16) | VECTOR_PIT);
	outb(0x43, 0x30); /* mode 0, no count: stops */
	uint64_t ms = guest_div64(elapsed, (uint32_t)guest_tsc_khz(), 0);
	guest_printf("platform: %u PIT interrupts at 1 kHz in %u ms\n", PIT_IRQS, (unsigned)ms);
	/* Never faster than programmed; slower is allowed: a vCPU that waits for
	 * its pCPU gets the ticks it missed merged into one, as a busy CPU would. */
	if (kapsel_present())
		CHECK(ms >= PIT_IRQS / 2, "%u PIT interrupts at 1 kHz came in %u ms", PIT_IRQS, (unsigned)ms);
}

/* The same PIT through the 8259 pair: vCPU 0's LINT0 is in ExtINT mode
 * (virtual wire, as firmware leaves it), the runtime put the master at
 * vectors 0x20-0x27 and masked it. */
static volatile uint32_t pic_irqs;

static void pic_timer_interrupt(struct guest_frame *frame)
{
	(void)frame;
	pic_irqs++;
	outb(0x20, 0x20); /* non-specific EOI to the master */
}

static void check_pit_through_8259(void)
{
	uint32_t lint0 = lapic_read(0x350);
	if ((lint0 & 0x10700) != 0x700) {
		CHECK(!kapsel_present(), "vCPU 0's LINT0 is 0x%x, not ExtINT (virtual wire)", lint0);
		guest_skip("LINT0 is not in ExtINT mode here");
		return;
	}
	guest_set_handler(0x20, pic_timer_interrupt);
	outb(0x21, 0xfe); /* unmask IRQ 0 */
	uint16_t count = (uint16_t)guest_div64(PIT_HZ, 1000, 0);
	outb(0x43, 0x34);
	outb(0x40, (uint8_t)count);
	outb(0x40, (uint8_t)(count >> 8));
	uint64_t start = rdtsc_ordered(), limit = guest_tsc_khz() * 5000;
	interrupts_enable();
	while (pic_irqs < 10) {
		CHECK(rdtsc_ordered() - start < limit, "PIT: %u of 10 IRQ 0s through the 8259 in 5 s", pic_irqs);
		__asm__ volatile("hlt");
	}
	interrupts_disable();
	outb(0x21, 0xff);
	outb(0x43, 0x30);
	outb(0x20, 0x0b); /* OCW3: read ISR */
	CHECK_EQ(inb(0x20), 0, "8259 in-service register after the EOIs");
	outb(0x20, 0x0a);
	guest_printf("platform: 10 PIT interrupts through the 8259 (ExtINT)\n");
}

/* ---- RTC ---- */

static uint8_t cmos(uint8_t index)
{
	outb(0x70, index);
	return inb(0x71);
}

static unsigned bcd(uint8_t v)
{
	return (v >> 4) * 10 + (v & 0xf);
}

static unsigned rtc_seconds_of_day(void)
{
	uint64_t start = rdtsc_ordered();
	while (cmos(0x0a) & 0x80)
		CHECK(rdtsc_ordered() - start < guest_tsc_khz() * 100, "RTC: update in progress for 100 ms");
	return bcd(cmos(0x04)) * 3600 + bcd(cmos(0x02)) * 60 + bcd(cmos(0x00));
}

static void check_rtc(void)
{
	CHECK_EQ(cmos(0x0d), 0x80, "RTC register D (valid RAM and time)");
	uint8_t b = cmos(0x0b);
	CHECK(!(b & 0x04) && (b & 0x02), "RTC register B 0x%x: want BCD, 24-hour", b);
	unsigned year = bcd(cmos(0x32)) * 100 + bcd(cmos(0x09)), month = bcd(cmos(0x08)), day = bcd(cmos(0x07));
	CHECK(year >= 1970 && year < 2100 && month >= 1 && month <= 12 && day >= 1 && day <= 31,
	      "RTC date %u-%u-%u", year, month, day);
	unsigned first = rtc_seconds_of_day();
	CHECK(first < 86400, "RTC time of day %u s", first);
	guest_delay_us(1100000);
	unsigned second = rtc_seconds_of_day();
	unsigned moved = (second + 86400 - first) % 86400;
	CHECK(moved >= 1 && moved <= 3, "RTC moved %u s in 1.1 s of TSC", moved);
	guest_printf("platform: RTC %u-%02u-%02u %02u:%02u, ticking\n", year, month, day, second / 3600,
		     second / 60 % 60);
	if (kapsel_present()) {
		/* 32 MiB: (32 - 16) MiB above 16 MiB in 64 KiB units */
		CHECK_EQ(cmos(0x34) | cmos(0x35) << 8, 256, "CMOS memory above 16 MiB (64 KiB units)");
	}
}

/* ---- PM timer ---- */

static void check_pm_timer(void)
{
	uint32_t previous = inl(pm_timer_port), wraps = 0;
	uint64_t start_tsc = rdtsc_ordered();
	uint32_t start = previous;
	for (int i = 0; i < 20000; i++) {
		uint32_t now = inl(pm_timer_port);
		if (now < previous)
			wraps++; /* 24-bit timers wrap every 4.7 s, 32-bit ones every 20 min */
		previous = now;
	}
	CHECK(wraps <= 1, "PM timer went backwards %u times in 20000 reads", wraps);
	if (!kapsel_present())
		return; /* the TSC rate is only known under Kapsel */
	while (rdtsc_ordered() - start_tsc < guest_tsc_khz() * 200)
		cpu_pause();
	uint32_t end = inl(pm_timer_port);
	uint64_t tsc_us = guest_div64((rdtsc_ordered() - start_tsc) * 1000, (uint32_t)guest_tsc_khz(), 0);
	uint64_t pm_us = guest_div64((uint64_t)(end - start) * 1000000, PM_TIMER_HZ, 0);
	guest_printf("platform: PM timer %u us against TSC %u us\n", (unsigned)pm_us, (unsigned)tsc_us);
	CHECK(pm_us * 100 >= tsc_us * 98 && pm_us * 100 <= tsc_us * 102, "PM timer ran %u us in %u us of TSC",
	      (unsigned)pm_us, (unsigned)tsc_us);
}

/* ---- IPIs between the two vCPUs ---- */

static volatile uint32_t ap_ready, ap_got_ipi, bsp_got_ipi;

static void ap_ipi(struct guest_frame *frame)
{
	(void)frame;
	ap_got_ipi++;
	lapic_eoi();
	lapic_send_ipi(0, VECTOR_IPI_TO_BSP); /* fixed, physical, to the BSP */
}

static void bsp_ipi(struct guest_frame *frame)
{
	(void)frame;
	bsp_got_ipi++;
	lapic_eoi();
}

static void platform_ap_main(void)
{
	guest_idt_load();
	lapic_enable();
	__atomic_store_n(&ap_ready, 1, __ATOMIC_RELEASE);
	for (;;)
		interrupts_enable_and_halt();
}

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

static bool check_ipis(void)
{
	uint32_t startup_vector = guest_ap_install(platform_ap_main);
	guest_set_handler(VECTOR_IPI_TO_AP, ap_ipi);
	guest_set_handler(VECTOR_IPI_TO_BSP, bsp_ipi);
	CHECK(lapic_send_ipi(AP_APIC_ID, LAPIC_ICR_INIT | LAPIC_ICR_LEVEL_ASSERT), "INIT IPI stuck in ICR");
	guest_delay_us(10000);
	for (int attempt = 0; attempt < 2 && !ap_ready; attempt++) {
		CHECK(lapic_send_ipi(AP_APIC_ID, LAPIC_ICR_STARTUP | startup_vector), "STARTUP IPI stuck in ICR");
		guest_delay_us(200);
	}
	if (!wait_for(&ap_ready, kapsel_present() ? 10000 : 2000)) {
		CHECK(!kapsel_present(), "the second vCPU did not start");
		guest_skip("no second CPU (bare QEMU needs -smp 2)");
		return false;
	}
	interrupts_enable();
	for (uint32_t round = 1; round <= 3; round++) {
		CHECK(lapic_send_ipi(AP_APIC_ID, VECTOR_IPI_TO_AP), "IPI stuck in ICR");
		uint64_t start = rdtsc_ordered();
		while (__atomic_load_n(&bsp_got_ipi, __ATOMIC_ACQUIRE) < round)
			CHECK(rdtsc_ordered() - start < guest_tsc_khz() * 5000, "IPI round %u: AP got %u, BSP got %u",
			      round, ap_got_ipi, bsp_got_ipi);
	}
	interrupts_disable();
	CHECK_EQ(ap_got_ipi, 3, "IPIs the AP received");
	guest_printf("platform: 3 IPIs BSP -> AP -> BSP\n");
	return true;
}

/* ---- xAPIC reserved registers ---- */

static void check_xapic_reserved(void)
{
	if (!kapsel_present())
		return;
	lapic_write(LAPIC_ESR, 0);
	CHECK_EQ(lapic_read(0x2f0 + 0x10 * 0), 0, "reserved register 0x2f0 (no CMCI LVT)");
	lapic_write(0x3f0, 0x12345678); /* SELF IPI exists only in x2APIC mode */
	lapic_write(LAPIC_ESR, 0);
	CHECK(lapic_read(LAPIC_ESR) & 0x80, "ESR 0x%x after reserved-register accesses: want bit 7",
	      lapic_read(LAPIC_ESR));
	lapic_write(LAPIC_ESR, 0);
	lapic_write(LAPIC_ESR, 0);
	CHECK_EQ(lapic_read(LAPIC_ESR), 0, "ESR after being latched twice");
	lapic_write(LAPIC_VERSION, 0); /* read-only: ignored */
	CHECK_EQ(lapic_read(LAPIC_VERSION) & 0xff, 0x14, "LAPIC version after a write");
}

/* ---- x2APIC and TSC deadline ---- */

static volatile uint32_t timer_irqs;

static void x2apic_timer_interrupt(struct guest_frame *frame)
{
	(void)frame;
	timer_irqs++;
	wrmsr(MSR_X2APIC_EOI, 0);
}

/* RDMSR/WRMSR (2 bytes) must #GP. */
static void expect_gp_read(uint32_t msr, const char *what)
{
	guest_catch(VECTOR_GP, 2);
	(void)rdmsr(msr);
	CHECK(guest_caught.count == 1, "RDMSR 0x%x (%s) did not #GP", msr, what);
	guest_uncatch(VECTOR_GP);
}

static void expect_gp_write(uint32_t msr, uint64_t value, const char *what)
{
	guest_catch(VECTOR_GP, 2);
	wrmsr(msr, value);
	CHECK(guest_caught.count == 1, "WRMSR 0x%x (%s) did not #GP", msr, what);
	guest_uncatch(VECTOR_GP);
}

static void halt_until(volatile uint32_t *counter, uint32_t value, const char *what)
{
	uint64_t start = rdtsc_ordered();
	while (*counter < value) {
		CHECK(rdtsc_ordered() - start < guest_tsc_khz() * 5000, "%s: no interrupt in 5 s", what);
		interrupts_enable_and_halt();
		interrupts_disable();
	}
}

static void check_x2apic(void)
{
	if (!(cpuid(1, 0).ecx & (1u << 21))) {
		guest_skip("no x2APIC in CPUID");
		return;
	}
	expect_gp_read(MSR_X2APIC_ID, "x2APIC register in xAPIC mode");
	uint64_t base = rdmsr(MSR_APIC_BASE);
	wrmsr(MSR_APIC_BASE, base | (1u << 10));
	CHECK(rdmsr(MSR_APIC_BASE) & (1u << 10), "IA32_APIC_BASE.EXTD did not stick");
	CHECK_EQ(rdmsr(MSR_X2APIC_ID), 0, "x2APIC ID of the BSP");
	CHECK_EQ(rdmsr(MSR_X2APIC_LDR), 1, "x2APIC logical ID of APIC 0 (cluster 0, bit 0)");
	CHECK((rdmsr(MSR_X2APIC_VERSION) & 0xff) >= 0x10, "x2APIC version");
	expect_gp_read(MSR_X2APIC_DFR, "DFR does not exist in x2APIC mode");
	expect_gp_read(MSR_X2APIC_EOI, "EOI is write-only");
	expect_gp_write(MSR_X2APIC_ID, 5, "ID is read-only");
	expect_gp_write(MSR_X2APIC_EOI, 1, "EOI takes 0 only");
	expect_gp_write(MSR_X2APIC_SVR, 1u << 20, "SVR reserved bit");
	expect_gp_write(MSR_APIC_BASE, base & ~(1u << 10), "x2APIC -> xAPIC directly");
	wrmsr(MSR_X2APIC_SVR, (1u << 8) | 0xff);

	/* one-shot timer through the MSRs */
	guest_set_handler(VECTOR_TIMER, x2apic_timer_interrupt);
	wrmsr(MSR_X2APIC_DIVIDE, 0xb);
	wrmsr(MSR_X2APIC_LVT_TIMER, VECTOR_TIMER);
	timer_irqs = 0;
	wrmsr(MSR_X2APIC_TIMER_INITIAL, 100000);
	CHECK(rdmsr(MSR_X2APIC_TIMER_CURRENT) <= 100000, "x2APIC timer current count");
	halt_until(&timer_irqs, 1, "x2APIC one-shot timer");

	/* self IPI */
	wrmsr(MSR_X2APIC_SELF_IPI, VECTOR_TIMER);
	halt_until(&timer_irqs, 2, "x2APIC self IPI");

	if (!(cpuid(1, 0).ecx & (1u << 24))) {
		guest_skip("no TSC-deadline timer in CPUID");
	} else {
		wrmsr(MSR_X2APIC_LVT_TIMER, (2u << 17) | VECTOR_TIMER);
		uint64_t deadline = rdtsc_ordered() + guest_tsc_khz() * 2; /* 2 ms */
		wrmsr(MSR_TSC_DEADLINE, deadline);
		CHECK(rdmsr(MSR_TSC_DEADLINE) == deadline, "IA32_TSC_DEADLINE reads back");
		halt_until(&timer_irqs, 3, "TSC-deadline timer");
		uint64_t now = rdtsc_ordered();
		CHECK(now >= deadline, "TSC-deadline interrupt %u ticks before the deadline", (unsigned)(deadline - now));
		CHECK_EQ(rdmsr(MSR_TSC_DEADLINE), 0, "IA32_TSC_DEADLINE after it fired");
		/* a deadline in the past fires at once; 0 disarms */
		wrmsr(MSR_TSC_DEADLINE, 1);
		halt_until(&timer_irqs, 4, "TSC deadline in the past");
		wrmsr(MSR_TSC_DEADLINE, rdtsc_ordered() + guest_tsc_khz() * 2);
		wrmsr(MSR_TSC_DEADLINE, 0);
		guest_delay_us(10000);
		interrupts_enable();
		guest_delay_us(1000);
		interrupts_disable();
		CHECK_EQ(timer_irqs, 4, "timer interrupts after a disarmed deadline");
	}
	/* back to xAPIC the only allowed way: through disabled */
	wrmsr(MSR_X2APIC_LVT_TIMER, 1u << 16);
	wrmsr(MSR_APIC_BASE, base & ~((1u << 10) | (1u << 11)));
	wrmsr(MSR_APIC_BASE, base);
	CHECK_EQ(lapic_read(LAPIC_SVR) & LAPIC_SVR_ENABLE, 0, "SVR after the APIC was disabled (reset state)");
	guest_printf("platform: x2APIC registers, one-shot, self IPI, TSC deadline ok\n");
}

/* ---- nonsense from the guest ---- */

/* What a confused or hostile guest may write: the devices must do what the
 * chips do (or nothing) and keep working, and the VM must keep running. */
static void check_nonsense(void)
{
	/* 8259: ICW1 with nothing after it, OCWs with every bit pattern */
	outb(0x20, 0x1f);
	outb(0xa0, 0x10);
	for (unsigned v = 0; v < 256; v += 7) {
		outb(0x20, (uint8_t)(v & ~0x10u));
		outb(0xa0, (uint8_t)(v & ~0x10u));
		outb(0x4d0, (uint8_t)v);
		outb(0x4d1, (uint8_t)v);
	}
	(void)inb(0x20);
	(void)inb(0xa1);
	/* the runtime's initialization again, all masked */
	outb(0x20, 0x11), outb(0x21, 0x20), outb(0x21, 0x04), outb(0x21, 0x01);
	outb(0xa0, 0x11), outb(0xa1, 0x28), outb(0xa1, 0x02), outb(0xa1, 0x01);
	outb(0x21, 0xff), outb(0xa1, 0xff);
	outb(0x4d0, 0), outb(0x4d1, 0);
	/* 8254: read-backs of no channel, latches of unprogrammed channels, reads of the control port */
	outb(0x43, 0xc0);
	outb(0x43, 0xfe);
	outb(0x43, 0x40);
	for (int i = 0; i < 8; i++)
		(void)inb((uint16_t)(0x40 + (i & 3)));
	outw(0x40, 0xffff);
	outb(0x43, 0x30);
	outb(0x43, 0x70);
	/* CMOS: every index (bit 7 is the NMI mask), the read-only registers */
	for (unsigned i = 0; i < 256; i += 5) {
		outb(0x70, (uint8_t)i);
		(void)inb(0x71);
	}
	outb(0x70, 0x0d), outb(0x71, 0);
	outb(0x70, 0x0c), outb(0x71, 0xff);
	CHECK_EQ(cmos(0x0d), 0x80, "RTC register D after a write");
	/* I/O APIC: every register index, both windows, odd widths */
	for (unsigned reg = 0x03; reg < 0x100; reg++) {
		if (reg >= 0x10 && reg < 0x40)
			continue; /* the redirection table stays as it is (all masked) */
		ioapic_write(reg, 0xffffffffu);
	}
	*(volatile uint8_t *)(uintptr_t)(ioapic_base + 0x20) = 0xff;
	*(volatile uint16_t *)(uintptr_t)(ioapic_base + 0x12) = 0xffff;
	CHECK_EQ(ioapic_read(1) & 0xff, 0x11, "I/O APIC version after garbage");
	/* ACPI: status and enable blocks take anything; the timer is read-only */
	uint32_t before = inl(pm_timer_port);
	outl(pm_timer_port, 0);
	outl((uint16_t)(pm1a_control_port - 4), 0xffffffffu);
	outl((uint16_t)(pm1a_control_port - 4), 0);
	CHECK(inl(pm_timer_port) - before < 0x80000000u, "PM timer went back after a write");
	guest_printf("platform: nonsense to the 8259, 8254, CMOS, I/O APIC and PM block: still running\n");
}

/* ---- ACPI power-off ---- */

_Noreturn static void acpi_power_off(void)
{
	guest_pass_line();
	outw(pm1a_control_port, (uint16_t)((inw(pm1a_control_port) & ~(7u << 10)) | (s5_slp_typ << 10) | (1u << 13)));
	guest_delay_us(100000);
	guest_fail("still running 100 ms after ACPI S5 (PM1a_CNT 0x%x, SLP_TYP %u)", pm1a_control_port, s5_slp_typ);
}

void guest_main(uint32_t multiboot_info)
{
	(void)multiboot_info;
	lapic_enable();
	check_acpi();
	check_pit_through_ioapic();
	check_pit_through_8259();
	check_rtc();
	check_pm_timer();
	check_xapic_reserved();
	check_ipis();
	check_x2apic();
	if (kapsel_present())
		check_nonsense();
	acpi_power_off();
}

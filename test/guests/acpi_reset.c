/*
 * acpi_reset: the FADT's reset register restarts the VM. The first run
 * finds the FADT (RSDP by scanning 0xe0000-0xfffff), checks RESET_REG_SUP
 * and an I/O reset register, leaves a mark in battery-backed CMOS RAM
 * (index 0x40, which a reset must keep, as on a PC) and writes the reset
 * value. The second run finds the mark and passes. Under Kapsel the VM
 * must come back with fresh RAM: a RAM marker from the first run must be
 * gone. 32-bit
 * protected mode; the suite gives it 2 vCPUs, so its reset is a power
 * cycle (the vmkernel stops the VM and powers it on again).
 */
#include "guest.h"

const char guest_name[] = "acpi_reset";

#define CMOS_MARK_INDEX 0x40
#define CMOS_MARK 0xa5
#define RAM_MARKER_ADDRESS 0x7000u /* below the image, not touched by the loader */
#define RAM_MARKER 0x5e7a11edu

static uint8_t cmos_read(uint8_t index)
{
	outb(0x70, index);
	return inb(0x71);
}

static void cmos_write(uint8_t index, uint8_t value)
{
	outb(0x70, index);
	outb(0x71, value);
}

static uint8_t checksum(const uint8_t *p, uint32_t length)
{
	uint8_t sum = 0;
	for (uint32_t i = 0; i < length; i++)
		sum = (uint8_t)(sum + p[i]);
	return sum;
}

static uint32_t load32(const uint8_t *p)
{
	return p[0] | p[1] << 8 | p[2] << 16 | (uint32_t)p[3] << 24;
}

static const uint8_t *find_fadt(void)
{
	for (uintptr_t a = 0xe0000; a < 0x100000; a += 16) {
		const uint8_t *rsdp = (const uint8_t *)a;
		if (memcmp(rsdp, "RSD PTR ", 8) || checksum(rsdp, 20))
			continue;
		const uint8_t *rsdt = (const uint8_t *)(uintptr_t)load32(rsdp + 16);
		CHECK(!memcmp(rsdt, "RSDT", 4) && !checksum(rsdt, load32(rsdt + 4)), "RSDT at %p", rsdt);
		for (uint32_t at = 36; at + 4 <= load32(rsdt + 4); at += 4) {
			const uint8_t *t = (const uint8_t *)(uintptr_t)load32(rsdt + at);
			if (!memcmp(t, "FACP", 4)) {
				CHECK(!checksum(t, load32(t + 4)), "FADT checksum");
				return t;
			}
		}
	}
	return NULL;
}

void guest_main(uint32_t multiboot_info)
{
	(void)multiboot_info;
	volatile uint32_t *ram_marker = (volatile uint32_t *)(uintptr_t)RAM_MARKER_ADDRESS;

	if (cmos_read(CMOS_MARK_INDEX) == CMOS_MARK) {
		cmos_write(CMOS_MARK_INDEX, 0);
		/* Kapsel reloads a reset VM into fresh RAM; a PC keeps its RAM. */
		if (kapsel_present())
			CHECK(*ram_marker != RAM_MARKER, "RAM kept the first run's marker: not a reset");
		guest_printf("acpi_reset: second run after the reset: CMOS mark kept\n");
		return;
	}
	const uint8_t *fadt = find_fadt();
	CHECK(fadt, "no FADT");
	if (!kapsel_present() && (load32(fadt + 4) < 129 || !(load32(fadt + 112) & (1u << 10)))) {
		guest_skip("this machine's FADT has no reset register");
		return;
	}
	CHECK(load32(fadt + 4) >= 129 && fadt[8] >= 2, "FADT revision %u length %u: no reset register", fadt[8],
	      load32(fadt + 4));
	CHECK(load32(fadt + 112) & (1u << 10), "FADT flags 0x%x: RESET_REG_SUP clear", load32(fadt + 112));
	const uint8_t *reg = fadt + 116;
	CHECK(reg[0] == 1, "reset register in address space %u, want I/O", reg[0]);
	uint16_t port = (uint16_t)load32(reg + 4);
	uint8_t value = fadt[128];
	*ram_marker = RAM_MARKER;
	cmos_write(CMOS_MARK_INDEX, CMOS_MARK);
	CHECK_EQ(cmos_read(CMOS_MARK_INDEX), CMOS_MARK, "CMOS RAM byte 0x40 keeps what is written");
	guest_printf("acpi_reset: writing 0x%x to reset port 0x%x\n", value, port);
	outb(port, value);
	guest_delay_us(100000);
	guest_fail("still running 100 ms after the reset register write");
}

/*
 * The chipset device models against what the datasheets say (82093AA I/O
 * APIC, 8259A, 8254, MC146818, ACPI PM1/PM timer), with a simulated TSC
 * of 1 GHz. Each model is pure: state in, state out, messages through a
 * recording callback.
 */
#include "unit.h"

#include <stdbool.h>

#include <vdev/acpi_pm.h>
#include <vdev/rtc.h>
#include <vdev/vioapic.h>
#include <vdev/vpic.h>
#include <vdev/vpit.h>

#define TSC_HZ 1000000000ull
#define T0 5000000000ull /* the TSC when the devices were created */

/* ---- I/O APIC ---- */

static struct apic_message sent[16];
static unsigned sent_count;

static void record(void *ctx, const struct apic_message *message)
{
	(void)ctx;
	if (sent_count < 16)
		sent[sent_count] = *message;
	sent_count++;
}

static void rte_write(struct vioapic *io, unsigned pin, uint64_t entry)
{
	vioapic_mmio_write(io, VIOAPIC_REG_SELECT, 0x10 + 2 * pin + 1);
	vioapic_mmio_write(io, VIOAPIC_REG_WINDOW, (uint32_t)(entry >> 32));
	vioapic_mmio_write(io, VIOAPIC_REG_SELECT, 0x10 + 2 * pin);
	vioapic_mmio_write(io, VIOAPIC_REG_WINDOW, (uint32_t)entry);
}

static uint64_t rte_read(struct vioapic *io, unsigned pin)
{
	vioapic_mmio_write(io, VIOAPIC_REG_SELECT, 0x10 + 2 * pin);
	uint64_t low = vioapic_mmio_read(io, VIOAPIC_REG_WINDOW);
	vioapic_mmio_write(io, VIOAPIC_REG_SELECT, 0x10 + 2 * pin + 1);
	return (uint64_t)vioapic_mmio_read(io, VIOAPIC_REG_WINDOW) << 32 | low;
}

UNIT_TEST(ioapic_identification_and_reset_state)
{
	struct vioapic io;
	vioapic_init(&io, 0, record, NULL);
	vioapic_mmio_write(&io, VIOAPIC_REG_SELECT, 1);
	CHECK_EQ(vioapic_mmio_read(&io, VIOAPIC_REG_WINDOW), 0x00170011); /* 24 pins, version 0x11 */
	for (unsigned pin = 0; pin < VIOAPIC_PINS; pin++)
		CHECK_EQ(rte_read(&io, pin), VIOAPIC_RTE_MASKED);
	/* ID is writable (4 bits), version read-only, registers past the table read 0 */
	vioapic_mmio_write(&io, VIOAPIC_REG_SELECT, 0);
	vioapic_mmio_write(&io, VIOAPIC_REG_WINDOW, 0xff000000);
	CHECK_EQ(vioapic_mmio_read(&io, VIOAPIC_REG_WINDOW), 0x0f000000);
	vioapic_mmio_write(&io, VIOAPIC_REG_SELECT, 1);
	vioapic_mmio_write(&io, VIOAPIC_REG_WINDOW, 0);
	CHECK_EQ(vioapic_mmio_read(&io, VIOAPIC_REG_WINDOW), 0x00170011);
	vioapic_mmio_write(&io, VIOAPIC_REG_SELECT, 0x10 + 2 * VIOAPIC_PINS);
	vioapic_mmio_write(&io, VIOAPIC_REG_WINDOW, 0x12345678);
	CHECK_EQ(vioapic_mmio_read(&io, VIOAPIC_REG_WINDOW), 0);
	CHECK_EQ(vioapic_mmio_read(&io, 0x20), 0); /* no register there */
}

UNIT_TEST(ioapic_entry_decode_and_read_only_bits)
{
	struct vioapic io;
	vioapic_init(&io, 0, record, NULL);
	uint64_t entry = 3ull << 56 | VIOAPIC_RTE_LEVEL | VIOAPIC_RTE_LOGICAL | 1u << 8 | 0x41;
	/* delivery status and Remote IRR cannot be written; reserved bits 17-55 read 0 */
	rte_write(&io, 5, entry | VIOAPIC_RTE_REMOTE_IRR | VIOAPIC_RTE_DELIVERY_STATUS | 0x00fffffffffe0000ull);
	CHECK_EQ(rte_read(&io, 5), entry);
	struct apic_message m = vioapic_entry_message(entry);
	CHECK_EQ(m.destination, 3);
	CHECK_EQ(m.vector, 0x41);
	CHECK_EQ(m.delivery_mode, 1);
	CHECK(m.logical);
	CHECK(m.level);
}

UNIT_TEST(ioapic_edge_pin_sends_on_rising_edges_only_when_unmasked)
{
	struct vioapic io;
	vioapic_init(&io, 0, record, NULL);
	sent_count = 0;
	vioapic_set_line(&io, 2, true); /* masked: lost, like the chip */
	vioapic_set_line(&io, 2, false);
	CHECK_EQ(sent_count, 0);
	rte_write(&io, 2, 1ull << 56 | 0x30);
	vioapic_set_line(&io, 2, true);
	vioapic_set_line(&io, 2, true); /* no new edge */
	vioapic_set_line(&io, 2, false);
	vioapic_set_line(&io, 2, true);
	CHECK_EQ(sent_count, 2);
	CHECK_EQ(sent[0].vector, 0x30);
	CHECK_EQ(sent[0].destination, 1);
	CHECK(!sent[0].level);
	vioapic_set_line(&io, 40, true); /* beyond the pins: ignored */
	CHECK_EQ(sent_count, 2);
}

UNIT_TEST(ioapic_level_pin_remote_irr_and_eoi)
{
	struct vioapic io;
	vioapic_init(&io, 0, record, NULL);
	sent_count = 0;
	rte_write(&io, 9, VIOAPIC_RTE_LEVEL | 0x51);
	vioapic_set_line(&io, 9, true);
	CHECK_EQ(sent_count, 1);
	CHECK(rte_read(&io, 9) & VIOAPIC_RTE_REMOTE_IRR);
	vioapic_set_line(&io, 9, true); /* still in service: nothing new */
	CHECK_EQ(sent_count, 1);
	vioapic_eoi(&io, 0x52); /* another vector: no effect */
	CHECK(rte_read(&io, 9) & VIOAPIC_RTE_REMOTE_IRR);
	vioapic_eoi(&io, 0x51); /* line still high: sent again */
	CHECK_EQ(sent_count, 2);
	CHECK(rte_read(&io, 9) & VIOAPIC_RTE_REMOTE_IRR);
	vioapic_set_line(&io, 9, false);
	vioapic_eoi(&io, 0x51);
	CHECK_EQ(sent_count, 2);
	CHECK(!(rte_read(&io, 9) & VIOAPIC_RTE_REMOTE_IRR));
	/* masked while asserted, then unmasked: delivered at the unmask */
	rte_write(&io, 9, VIOAPIC_RTE_LEVEL | VIOAPIC_RTE_MASKED | 0x51);
	vioapic_set_line(&io, 9, true);
	CHECK_EQ(sent_count, 2);
	rte_write(&io, 9, VIOAPIC_RTE_LEVEL | 0x51);
	CHECK_EQ(sent_count, 3);
	CHECK(sent[2].level);
}

UNIT_TEST(ioapic_reserved_delivery_modes_send_nothing)
{
	struct vioapic io;
	vioapic_init(&io, 0, record, NULL);
	sent_count = 0;
	rte_write(&io, 3, 3u << 8 | 0x40);
	rte_write(&io, 4, 6u << 8 | 0x40);
	vioapic_set_line(&io, 3, true);
	vioapic_set_line(&io, 4, true);
	CHECK_EQ(sent_count, 0);
	/* garbage in every register index leaves the chip working */
	for (uint32_t reg = 0; reg < 0x100; reg++) {
		vioapic_mmio_write(&io, VIOAPIC_REG_SELECT, reg);
		vioapic_mmio_write(&io, VIOAPIC_REG_WINDOW, 0xffffffffu);
	}
	vioapic_mmio_write(&io, VIOAPIC_REG_SELECT, 1);
	CHECK_EQ(vioapic_mmio_read(&io, VIOAPIC_REG_WINDOW), 0x00170011);
	CHECK_EQ(rte_read(&io, 7), 0xff0000000001ffffull & ~VIOAPIC_RTE_REMOTE_IRR & ~VIOAPIC_RTE_DELIVERY_STATUS);
	CHECK_EQ(sent_count, 0); /* every entry ended masked */
}

/* ---- 8259 pair ---- */

/* The initialization Linux and every BIOS use: edge, cascade on IRQ 2, 8086 mode. */
static void pic_init_linux(struct vpic *pic, uint8_t master_base, uint8_t slave_base)
{
	vpic_write(pic, 0, 0, 0x11);
	vpic_write(pic, 0, 1, master_base);
	vpic_write(pic, 0, 1, 0x04);
	vpic_write(pic, 0, 1, 0x01);
	vpic_write(pic, 1, 0, 0x11);
	vpic_write(pic, 1, 1, slave_base);
	vpic_write(pic, 1, 1, 0x02);
	vpic_write(pic, 1, 1, 0x01);
}

UNIT_TEST(pic_icw_sequence_masks_and_vectors)
{
	struct vpic pic;
	vpic_init(&pic);
	pic_init_linux(&pic, 0x20, 0x28);
	CHECK_EQ(vpic_read(&pic, 0, 1), 0); /* ICW1 cleared the IMR */
	vpic_write(&pic, 0, 1, 0xfa);
	vpic_write(&pic, 1, 1, 0xff);
	CHECK_EQ(vpic_read(&pic, 0, 1), 0xfa);
	vpic_set_irq(&pic, 0, true);
	CHECK(vpic_output(&pic));
	CHECK_EQ(vpic_pending_vector(&pic), 0x20);
	CHECK_EQ(vpic_acknowledge(&pic), 0x20);
	CHECK(!vpic_output(&pic));
	vpic_write(&pic, 0, 0, 0x0b); /* OCW3: read ISR */
	CHECK_EQ(vpic_read(&pic, 0, 0), 0x01);
	vpic_write(&pic, 0, 0, 0x20); /* non-specific EOI */
	CHECK_EQ(vpic_read(&pic, 0, 0), 0x00);
	vpic_set_irq(&pic, 0, false);
	vpic_set_irq(&pic, 4, true); /* masked */
	CHECK(!vpic_output(&pic));
	vpic_write(&pic, 0, 0, 0x0a); /* read IRR */
	CHECK_EQ(vpic_read(&pic, 0, 0), 0x10);
}

UNIT_TEST(pic_cascade_priority_and_slave_vector)
{
	struct vpic pic;
	vpic_init(&pic);
	pic_init_linux(&pic, 0x30, 0x38);
	vpic_set_irq(&pic, 8, true); /* RTC on the slave */
	CHECK(vpic_output(&pic));
	CHECK_EQ(vpic_acknowledge(&pic), 0x38);
	/* IRQ 3 (lower priority than the cascade's IRQ 2) waits for the EOIs */
	vpic_set_irq(&pic, 3, true);
	CHECK(!vpic_output(&pic));
	/* IRQ 1 has higher priority than IRQ 2 in service: it interrupts */
	vpic_set_irq(&pic, 1, true);
	CHECK(vpic_output(&pic));
	CHECK_EQ(vpic_acknowledge(&pic), 0x31);
	vpic_write(&pic, 0, 0, 0x20); /* EOI for IRQ 1 */
	CHECK(!vpic_output(&pic));
	vpic_write(&pic, 1, 0, 0x20); /* EOI slave, then master (IRQ 2) */
	vpic_write(&pic, 0, 0, 0x20);
	CHECK(vpic_output(&pic));
	CHECK_EQ(vpic_acknowledge(&pic), 0x33);
}

UNIT_TEST(pic_spurious_irq7_and_irq15)
{
	struct vpic pic;
	vpic_init(&pic);
	pic_init_linux(&pic, 0x20, 0x28);
	/* The request goes away before the acknowledge: IRQ 7's vector, not in service */
	CHECK_EQ(vpic_acknowledge(&pic), 0x27);
	vpic_write(&pic, 0, 0, 0x0b);
	CHECK_EQ(vpic_read(&pic, 0, 0), 0);
	/* The slave's request vanishes after the master saw the cascade: IRQ 15 */
	vpic_elcr_write(&pic, 1, 0x08); /* IRQ 11 level-triggered */
	vpic_set_irq(&pic, 11, true);
	CHECK(vpic_output(&pic));
	vpic_write(&pic, 1, 1, 0x08); /* the slave masks it: the cascade drops too */
	CHECK(!vpic_output(&pic));
	CHECK_EQ(vpic_acknowledge(&pic), 0x27);
}

UNIT_TEST(pic_level_mode_elcr_and_auto_eoi)
{
	struct vpic pic;
	vpic_init(&pic);
	pic_init_linux(&pic, 0x20, 0x28);
	vpic_elcr_write(&pic, 0, 0xff);
	CHECK_EQ(vpic_elcr_read(&pic, 0), 0xf8); /* IRQ 0-2 are always edge */
	vpic_set_irq(&pic, 5, true);
	CHECK_EQ(vpic_acknowledge(&pic), 0x25);
	vpic_write(&pic, 0, 0, 0x65); /* specific EOI for IRQ 5: still high, asked again */
	CHECK(vpic_output(&pic));
	vpic_set_irq(&pic, 5, false);
	CHECK(!vpic_output(&pic));
	/* auto-EOI (ICW4 bit 1): nothing stays in service */
	vpic_write(&pic, 0, 0, 0x11);
	vpic_write(&pic, 0, 1, 0x40);
	vpic_write(&pic, 0, 1, 0x04);
	vpic_write(&pic, 0, 1, 0x03);
	vpic_set_irq(&pic, 1, true);
	CHECK_EQ(vpic_acknowledge(&pic), 0x41);
	vpic_write(&pic, 0, 0, 0x0b);
	CHECK_EQ(vpic_read(&pic, 0, 0), 0);
}

UNIT_TEST(pic_nonsense_sequences_do_what_the_chip_does)
{
	struct vpic pic;
	vpic_init(&pic);
	/* ICW1 without ICW4, single mode: two data writes later it is ready */
	vpic_write(&pic, 0, 0, 0x12);
	vpic_write(&pic, 0, 1, 0x50);
	vpic_write(&pic, 0, 1, 0xfe); /* OCW1 now: the IMR */
	CHECK_EQ(vpic_read(&pic, 0, 1), 0xfe);
	vpic_set_irq(&pic, 0, true);
	CHECK_EQ(vpic_acknowledge(&pic), 0x50);
	/* EOIs with nothing in service, poll with nothing pending, odd OCW2 codes */
	for (unsigned v = 0; v < 256; v++)
		if (!(v & 0x18))
			vpic_write(&pic, 0, 0, (uint8_t)v);
	vpic_write(&pic, 0, 0, 0x0c); /* poll */
	CHECK_EQ(vpic_read(&pic, 0, 0), 0);
	/* IRQ 2 has no line of its own; IRQs past 15 do not exist */
	vpic_set_irq(&pic, 2, true);
	vpic_set_irq(&pic, 16, true);
	CHECK(!vpic_output(&pic));
}

/* ---- 8254 ---- */

static uint64_t pit_ticks_to_tsc(uint64_t ticks)
{
	return T0 + ticks * TSC_HZ / VPIT_HZ;
}

UNIT_TEST(pit_mode0_counts_down_and_raises_out)
{
	struct vpit pit;
	vpit_init(&pit, TSC_HZ, T0);
	vpit_port61_write(&pit, 0x01, T0); /* gate 2 on, speaker off */
	vpit_write(&pit, 3, 0xb0, T0);    /* channel 2, LSB/MSB, mode 0, binary */
	vpit_write(&pit, 2, 0xff, T0);
	vpit_write(&pit, 2, 0xff, T0);
	CHECK(!(vpit_port61_read(&pit, T0) & 0x20));
	uint64_t t = pit_ticks_to_tsc(1000) + 1;
	uint16_t lsb = vpit_read(&pit, 2, t), msb = vpit_read(&pit, 2, t);
	CHECK_EQ(lsb | msb << 8, 0xffff - 1000);
	/* latch: the value stays while time passes */
	vpit_write(&pit, 3, 0x80, t);
	uint64_t later = pit_ticks_to_tsc(5000) + 1;
	lsb = vpit_read(&pit, 2, later);
	msb = vpit_read(&pit, 2, later);
	CHECK_EQ(lsb | msb << 8, 0xffff - 1000);
	CHECK(!(vpit_port61_read(&pit, later) & 0x20));
	CHECK(vpit_port61_read(&pit, pit_ticks_to_tsc(0xffff) + 2) & 0x20);
	CHECK_EQ(vpit_port61_read(&pit, later) & 0x03, 0x01);
}

UNIT_TEST(pit_gate_low_pauses_mode0)
{
	struct vpit pit;
	vpit_init(&pit, TSC_HZ, T0);
	vpit_port61_write(&pit, 0x01, T0);
	vpit_write(&pit, 3, 0xb0, T0);
	vpit_write(&pit, 2, 0x10, T0);
	vpit_write(&pit, 2, 0x27, T0); /* 10000 */
	vpit_port61_write(&pit, 0x00, pit_ticks_to_tsc(100) + 1);
	CHECK_EQ(vpit_count(&pit, 2, pit_ticks_to_tsc(5000)), 10000 - 100);
	vpit_port61_write(&pit, 0x01, pit_ticks_to_tsc(5000) + 1);
	CHECK_EQ(vpit_count(&pit, 2, pit_ticks_to_tsc(5100) + 1), 10000 - 200);
}

UNIT_TEST(pit_mode2_periodic_irq0_edges)
{
	struct vpit pit;
	vpit_init(&pit, TSC_HZ, T0);
	CHECK_EQ(vpit_next_irq_tsc(&pit), 0);
	vpit_write(&pit, 3, 0x34, T0); /* channel 0, LSB/MSB, mode 2 */
	vpit_write(&pit, 0, 0x9c, T0);
	vpit_write(&pit, 0, 0x2e, T0); /* 11932: 100 Hz */
	uint64_t first = vpit_next_irq_tsc(&pit);
	CHECK(first >= pit_ticks_to_tsc(11932) && first <= pit_ticks_to_tsc(11932) + 2);
	CHECK(!vpit_poll_irq(&pit, first - 1000));
	CHECK(vpit_poll_irq(&pit, first));
	CHECK(!vpit_poll_irq(&pit, first));
	uint64_t second = vpit_next_irq_tsc(&pit);
	CHECK(second - first >= 9999000 && second - first <= 10001000); /* 10 ms */
	/* far behind: one edge now, then the missed ones replayed an eighth
	 * of a period apart (at most VPIT_MAX_MISSED_EDGES), then the next
	 * regular edge in the future */
	uint64_t late = first + 5 * TSC_HZ;
	CHECK(vpit_poll_irq(&pit, late));
	uint64_t at = vpit_next_irq_tsc(&pit);
	CHECK(at > late && at - late <= 1260000); /* a replay within an eighth of 10 ms */
	unsigned edges = 0;
	uint64_t previous = late;
	while (at - previous < 5000000 && edges < 100) {
		CHECK(!vpit_poll_irq(&pit, at - 1000));
		CHECK(vpit_poll_irq(&pit, at));
		edges++;
		previous = at;
		at = vpit_next_irq_tsc(&pit);
	}
	/* the replayed backlog, plus the few regular edges that fell meanwhile */
	CHECK(edges >= VPIT_MAX_MISSED_EDGES && edges <= VPIT_MAX_MISSED_EDGES + 6);
	CHECK(at - previous <= 10001000);
	/* count reads go from 11932 down within a period */
	uint16_t c = vpit_count(&pit, 0, pit_ticks_to_tsc(11932 * 7 + 100) + 1);
	CHECK_EQ(c, 11932 - 100);
}

UNIT_TEST(pit_mode0_one_irq_and_readback_status)
{
	struct vpit pit;
	vpit_init(&pit, TSC_HZ, T0);
	vpit_write(&pit, 3, 0x30, T0);
	vpit_write(&pit, 0, 100, T0);
	vpit_write(&pit, 0, 0, T0);
	uint64_t edge = vpit_next_irq_tsc(&pit);
	CHECK(vpit_poll_irq(&pit, edge));
	CHECK_EQ(vpit_next_irq_tsc(&pit), 0);
	/* read-back: status of channel 0: OUT high, mode 0, LSB/MSB */
	vpit_write(&pit, 3, 0xe2, edge);
	CHECK_EQ(vpit_read(&pit, 0, edge), 0x80 | 0x30);
	/* BCD: 1234 counts down in decimal */
	vpit_write(&pit, 3, 0x31, T0);
	vpit_write(&pit, 0, 0x34, T0);
	vpit_write(&pit, 0, 0x12, T0);
	CHECK_EQ(vpit_count(&pit, 0, pit_ticks_to_tsc(35) + 1), 0x1199);
}

/* ---- RTC ---- */

static uint8_t cmos_read(struct vrtc *rtc, uint8_t index, uint64_t now)
{
	vrtc_write(rtc, 0, index, now);
	return vrtc_read(rtc, 1, now);
}

static void cmos_write(struct vrtc *rtc, uint8_t index, uint8_t value, uint64_t now)
{
	vrtc_write(rtc, 0, index, now);
	vrtc_write(rtc, 1, value, now);
}

UNIT_TEST(rtc_calendar_round_trips)
{
	struct vrtc_date d;
	vrtc_seconds_to_date(0, &d);
	CHECK(d.year == 1970 && d.month == 1 && d.day == 1 && d.weekday == 4);
	vrtc_seconds_to_date(951782400, &d); /* 2000-02-29 00:00:00, a Tuesday */
	CHECK(d.year == 2000 && d.month == 2 && d.day == 29 && d.weekday == 2);
	vrtc_seconds_to_date(4107542399, &d); /* 2100-02-28 23:59:59 */
	CHECK(d.year == 2100 && d.month == 2 && d.day == 28 && d.hour == 23 && d.second == 59);
	for (int64_t s = 0; s < 5000000000; s += 86400 * 37 + 3671) {
		vrtc_seconds_to_date(s, &d);
		CHECK_EQ(vrtc_date_to_seconds(&d), s);
	}
}

UNIT_TEST(rtc_bcd_binary_and_12_hour)
{
	struct vrtc rtc;
	int64_t when = 1795698930; /* 2026-11-26 13:15:30 UTC */
	vrtc_init(&rtc, TSC_HZ, T0, when);
	CHECK_EQ(cmos_read(&rtc, 0x00, T0), 0x30);
	CHECK_EQ(cmos_read(&rtc, 0x02, T0), 0x15);
	CHECK_EQ(cmos_read(&rtc, 0x04, T0), 0x13);
	CHECK_EQ(cmos_read(&rtc, 0x07, T0), 0x26);
	CHECK_EQ(cmos_read(&rtc, 0x08, T0), 0x11);
	CHECK_EQ(cmos_read(&rtc, 0x09, T0), 0x26);
	CHECK_EQ(cmos_read(&rtc, 0x32, T0), 0x20);
	CHECK_EQ(cmos_read(&rtc, 0x06, T0), 5); /* Thursday = 5 (Sunday = 1) */
	CHECK_EQ(cmos_read(&rtc, 0x0d, T0), 0x80);
	cmos_write(&rtc, 0x0b, 0x04, T0); /* binary, 12-hour */
	CHECK_EQ(cmos_read(&rtc, 0x00, T0), 30);
	CHECK_EQ(cmos_read(&rtc, 0x04, T0), 0x80 | 1); /* 1 PM */
	/* 2.5 s later the seconds moved by 2 */
	CHECK_EQ(cmos_read(&rtc, 0x00, T0 + 2500000000ull), 32);
}

UNIT_TEST(rtc_set_bit_freezes_and_sets_the_clock)
{
	struct vrtc rtc;
	vrtc_init(&rtc, TSC_HZ, T0, 1795698930);
	cmos_write(&rtc, 0x0b, 0x82, T0); /* SET, BCD, 24 h */
	cmos_write(&rtc, 0x04, 0x08, T0);
	cmos_write(&rtc, 0x02, 0x00, T0);
	cmos_write(&rtc, 0x00, 0x00, T0);
	CHECK_EQ(cmos_read(&rtc, 0x04, T0 + 3 * TSC_HZ), 0x08); /* frozen */
	CHECK(!(cmos_read(&rtc, 0x0a, T0 + 3 * TSC_HZ) & 0x80)); /* no update while SET */
	cmos_write(&rtc, 0x0b, 0x02, T0 + 3 * TSC_HZ);
	CHECK_EQ(cmos_read(&rtc, 0x00, T0 + 13 * TSC_HZ), 0x10);
	CHECK_EQ(vrtc_now(&rtc, T0 + 3 * TSC_HZ) % 86400, 8 * 3600);
}

UNIT_TEST(rtc_update_in_progress_window)
{
	struct vrtc rtc;
	vrtc_init(&rtc, TSC_HZ, T0, 1000);
	CHECK(!(cmos_read(&rtc, 0x0a, T0 + 500000000) & 0x80));
	CHECK(cmos_read(&rtc, 0x0a, T0 + 999900000) & 0x80); /* the last 244 us */
	CHECK(!(cmos_read(&rtc, 0x0a, T0 + 1000000000) & 0x80));
}

UNIT_TEST(rtc_periodic_update_and_alarm_interrupts)
{
	struct vrtc rtc;
	vrtc_init(&rtc, TSC_HZ, T0, 1795698930);
	cmos_write(&rtc, 0x0a, 0x2f, T0); /* 2 Hz */
	cmos_write(&rtc, 0x0b, 0x42, T0); /* PIE */
	uint64_t next = vrtc_update(&rtc, T0);
	CHECK_EQ(next, T0 + TSC_HZ / 2);
	CHECK(!rtc.irq_edge);
	vrtc_update(&rtc, next);
	CHECK(rtc.irq_edge);
	rtc.irq_edge = false;
	uint8_t c = cmos_read(&rtc, 0x0c, next);
	CHECK_EQ(c & 0xc0, 0xc0); /* IRQF and PF */
	CHECK_EQ(cmos_read(&rtc, 0x0c, next) & 0xc0, 0); /* cleared by the read */
	/* update-ended interrupt at the next second */
	cmos_write(&rtc, 0x0b, 0x12, next);
	uint64_t second = vrtc_update(&rtc, next);
	CHECK_EQ(second, T0 + TSC_HZ);
	vrtc_update(&rtc, second);
	CHECK(rtc.irq_edge);
	CHECK_EQ(cmos_read(&rtc, 0x0c, second) & 0x90, 0x90);
	/* alarm with don't-care hours and minutes, seconds = 35 */
	rtc.irq_edge = false;
	cmos_write(&rtc, 0x0b, 0x22, second);
	cmos_write(&rtc, 0x01, 0x35, second);
	cmos_write(&rtc, 0x03, 0xc0, second);
	cmos_write(&rtc, 0x05, 0xff, second);
	for (uint64_t t = second; t < T0 + 4 * TSC_HZ; t += TSC_HZ / 4)
		vrtc_update(&rtc, t);
	CHECK(!rtc.irq_edge); /* :31 .. :33 */
	for (uint64_t t = T0 + 4 * TSC_HZ; t <= T0 + 5 * TSC_HZ + 1; t += TSC_HZ / 4)
		vrtc_update(&rtc, t);
	CHECK(rtc.irq_edge); /* :35 */
	CHECK(cmos_read(&rtc, 0x0c, T0 + 5 * TSC_HZ + 1) & 0x20);
}

UNIT_TEST(rtc_memory_size_bytes)
{
	struct vrtc rtc;
	vrtc_init(&rtc, TSC_HZ, T0, 0);
	vrtc_set_memory(&rtc, 256ull << 20, 1ull << 30);
	CHECK_EQ(cmos_read(&rtc, 0x15, T0) | cmos_read(&rtc, 0x16, T0) << 8, 640);
	CHECK_EQ(cmos_read(&rtc, 0x17, T0) | cmos_read(&rtc, 0x18, T0) << 8, 0xffff); /* 255 MiB: capped */
	CHECK_EQ(cmos_read(&rtc, 0x34, T0) | cmos_read(&rtc, 0x35, T0) << 8, (240u << 20) >> 16);
	CHECK_EQ(cmos_read(&rtc, 0x5b, T0) | cmos_read(&rtc, 0x5c, T0) << 8 | cmos_read(&rtc, 0x5d, T0) << 16,
		 (1u << 30) >> 16);
	/* register C/D are read-only; the index port reads 0xff */
	cmos_write(&rtc, 0x0d, 0x00, T0);
	CHECK_EQ(cmos_read(&rtc, 0x0d, T0), 0x80);
	CHECK_EQ(vrtc_read(&rtc, 0, T0), 0xff);
}

/* ---- ACPI PM ---- */

UNIT_TEST(pm_timer_rate_and_width)
{
	struct acpi_pm pm;
	acpi_pm_init(&pm, TSC_HZ, T0, 5, 1);
	CHECK_EQ(acpi_pm_timer(&pm, T0), 0);
	uint32_t one_second = acpi_pm_timer(&pm, T0 + TSC_HZ);
	CHECK(one_second >= 3579545 - 1 && one_second <= 3579545);
	CHECK_EQ(acpi_pm_read(&pm, ACPI_PM_TIMER, 4, T0 + TSC_HZ), one_second);
	CHECK_EQ(acpi_pm_read(&pm, ACPI_PM_TIMER + 2, 2, T0 + TSC_HZ), one_second >> 16);
	/* 32 bits wide: wraps after 2^32 ticks (~20 minutes) */
	uint64_t wrap = T0 + (uint64_t)(4294967296.0 / 3579545.0 * 1e9) + TSC_HZ;
	CHECK(acpi_pm_timer(&pm, wrap) < 3579545 * 2);
	/* TMR_STS: set once bit 31 changed, cleared by writing 1 */
	uint64_t half = T0 + (uint64_t)(2147483648.0 / 3579545.0 * 1e9) + TSC_HZ;
	CHECK_EQ(acpi_pm_read(&pm, ACPI_PM_STATUS, 2, T0) & 1, 0);
	CHECK_EQ(acpi_pm_read(&pm, ACPI_PM_STATUS, 2, half) & 1, 1);
	acpi_pm_write(&pm, ACPI_PM_STATUS, 2, 1, half);
	CHECK_EQ(acpi_pm_read(&pm, ACPI_PM_STATUS, 2, half) & 1, 0);
	CHECK(!acpi_pm_sci(&pm, half));
}

UNIT_TEST(pm_control_power_off_reset_and_bad_writes)
{
	struct acpi_pm pm;
	acpi_pm_init(&pm, TSC_HZ, T0, 5, 1);
	CHECK_EQ(acpi_pm_read(&pm, ACPI_PM_CONTROL, 2, T0), 1); /* SCI_EN: ACPI mode */
	CHECK_EQ(acpi_pm_write(&pm, ACPI_PM_CONTROL, 2, 5u << 10, T0), ACPI_PM_NONE);
	CHECK_EQ(acpi_pm_read(&pm, ACPI_PM_CONTROL, 2, T0), 1 | 5u << 10);
	CHECK_EQ(acpi_pm_write(&pm, ACPI_PM_CONTROL, 2, 3u << 10 | 1u << 13, T0), ACPI_PM_SLEEP_UNSUPPORTED);
	CHECK_EQ(pm.last_slp_typ, 3);
	CHECK_EQ(acpi_pm_read(&pm, ACPI_PM_CONTROL, 2, T0) & (1u << 13), 0); /* SLP_EN is write-only */
	/* byte access to the high byte, as some kernels do */
	CHECK_EQ(acpi_pm_write(&pm, ACPI_PM_CONTROL + 1, 1, (5u << 2) | (1u << 5), T0), ACPI_PM_POWER_OFF);
	CHECK_EQ(acpi_pm_write(&pm, ACPI_PM_RESET_REGISTER, 1, 2, T0), ACPI_PM_NONE);
	CHECK_EQ(acpi_pm_write(&pm, ACPI_PM_RESET_REGISTER, 1, 1, T0), ACPI_PM_RESET);
	/* the timer is read-only; writes past the block go nowhere */
	acpi_pm_write(&pm, ACPI_PM_TIMER, 4, 0, T0 + TSC_HZ);
	CHECK(acpi_pm_timer(&pm, T0 + TSC_HZ) > 3000000);
	CHECK_EQ(acpi_pm_write(&pm, 0xe, 4, 0xffffffff, T0), ACPI_PM_NONE);
	CHECK_EQ(acpi_pm_read(&pm, 0xe, 4, T0), 0);
	/* enable bits: only the defined ones stick */
	acpi_pm_write(&pm, ACPI_PM_ENABLE, 2, 0xffff, T0);
	CHECK_EQ(acpi_pm_read(&pm, ACPI_PM_ENABLE, 2, T0), 0x0721);
}

UNIT_MAIN();

/*
 * The ACPI tables a VM gets (vdev/acpi_tables.c): built into a fake guest
 * memory at the platform address, then found and read back by the
 * vmkernel's own parser (arch/x86/acpi.c), which checks every length and
 * checksum. Also the raw bytes the parser does not look at: the DSDT's
 * PCI host bridge and the RSDP's place in the BIOS scan area.
 */
#include "unit.h"

#include <stdarg.h>
#include <stdbool.h>

#include <arch/x86/acpi.h>
#include <lib/errno.h>
#include <lib/log.h>
#include <vdev/acpi_tables.h>
#include <vdev/platform.h>

static char warnings[8192];

void log_printf(enum log_level level, const char *fmt, ...)
{
	char line[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (level <= LOG_WARN && strlen(warnings) + strlen(line) < sizeof(warnings))
		strcat(warnings, line);
}

static uint8_t memory[PLATFORM_ACPI_SIZE];

/* Fresh heap copies, so AddressSanitizer sees any read past a mapping;
 * released when the next tables are built. */
static void *mappings[512];
static unsigned mapping_count;

static void release_mappings(void)
{
	while (mapping_count)
		free(mappings[--mapping_count]);
}

static const void *fake_map(void *ctx, uint64_t phys, size_t length)
{
	(void)ctx;
	if (phys < PLATFORM_ACPI_BASE || phys + length > PLATFORM_ACPI_BASE + sizeof(memory) ||
	    mapping_count == sizeof(mappings) / sizeof(mappings[0]))
		return NULL;
	void *copy = malloc(length ? length : 1);
	memcpy(copy, memory + (phys - PLATFORM_ACPI_BASE), length);
	mappings[mapping_count++] = copy;
	return copy;
}

static const struct acpi_mapper mapper = { fake_map, NULL };

static int build(uint32_t cpus)
{
	struct acpi_tables_params params = { .base = PLATFORM_ACPI_BASE, .vcpu_count = cpus };
	release_mappings();
	memset(memory, 0xcc, sizeof(memory));
	warnings[0] = '\0';
	return acpi_tables_build(memory, sizeof(memory), &params);
}

static uint8_t sum(const uint8_t *p, size_t length)
{
	uint8_t s = 0;
	for (size_t i = 0; i < length; i++)
		s = (uint8_t)(s + p[i]);
	return s;
}

/* What a kernel does: scan 0xe0000-0xfffff on 16-byte boundaries for a
 * checksummed "RSD PTR ". */
static long scan_for_rsdp(void)
{
	for (size_t at = 0; at + 20 <= sizeof(memory); at += 16)
		if (!memcmp(memory + at, "RSD PTR ", 8) && sum(memory + at, 20) == 0)
			return (long)at;
	return -1;
}

static int parse(struct acpi_info *info)
{
	long at = scan_for_rsdp();
	if (at < 0)
		return -ENODEV;
	return acpi_init(&mapper, memory + at, ACPI_RSDP_V2_LENGTH, PLATFORM_ACPI_BASE + (uint64_t)at, info);
}

static struct acpi_info info;

UNIT_TEST(rsdp_found_by_scan_with_both_checksums)
{
	int used = build(1);
	CHECK(used > 0 && used < 8192); /* platform.c builds into 8 KiB */
	CHECK_EQ(build(ACPI_TABLES_MAX_VCPUS) < 8192, 1); /* also with the most vCPUs */
	build(1);
	CHECK_EQ(scan_for_rsdp(), 0);
	CHECK_EQ(memory[15], 2); /* revision: XSDT present */
	CHECK_EQ(sum(memory, 36), 0);
	CHECK_EQ(parse(&info), 0);
	CHECK(info.using_xsdt);
	CHECK_EQ(info.tables_skipped, 0);
	CHECK_STR(info.rsdp_oem_id, "KAPSEL");
	CHECK_STR(warnings, "");
}

UNIT_TEST(every_table_checksums_and_is_listed)
{
	build(2);
	CHECK_EQ(parse(&info), 0);
	const char *const expected[] = { "FACP", "APIC", "MCFG", "DSDT" };
	for (unsigned i = 0; i < 4; i++) {
		const struct acpi_table *t = acpi_find_table(&info, expected[i], 0);
		CHECK(t != NULL);
		if (t) {
			CHECK_EQ(sum(t->data, t->length), 0);
			CHECK(t->phys >= PLATFORM_ACPI_BASE && t->phys + t->length <= 0x100000);
		}
	}
	CHECK(acpi_find_table(&info, "HPET", 0) == NULL); /* hw.version 1 has none */
}

UNIT_TEST(madt_lists_each_vcpu_the_ioapic_and_overrides)
{
	for (uint32_t cpus = 1; cpus <= 16; cpus += 15) {
		build(cpus);
		CHECK_EQ(parse(&info), 0);
		CHECK(info.madt.present);
		CHECK(info.madt.pcat_compat);
		CHECK_EQ(info.madt.lapic_address, PLATFORM_LAPIC_BASE);
		CHECK_EQ(info.madt.cpu_count, cpus);
		for (uint32_t i = 0; i < info.madt.cpu_count; i++) {
			CHECK_EQ(info.madt.cpus[i].apic_id, i);
			CHECK(info.madt.cpus[i].enabled);
		}
		CHECK_EQ(info.madt.ioapic_count, 1);
		CHECK_EQ(info.madt.ioapics[0].address, PLATFORM_IOAPIC_BASE);
		CHECK_EQ(info.madt.ioapics[0].gsi_base, 0);
		CHECK_EQ(info.madt.ioapics[0].id, PLATFORM_IOAPIC_ID);
		CHECK_EQ(info.madt.lapic_nmi_count, 1);
		CHECK_EQ(info.madt.lapic_nmis[0].lint, 1);
		CHECK_EQ(info.madt.lapic_nmis[0].processor_uid, ACPI_ALL_PROCESSORS);
		CHECK(!info.madt.truncated);
	}
	uint8_t polarity, trigger;
	CHECK_EQ(acpi_isa_irq_to_gsi(&info, 0, &polarity, &trigger), PLATFORM_GSI_PIT);
	CHECK_EQ(acpi_isa_irq_to_gsi(&info, 9, &polarity, &trigger), 9);
	CHECK_EQ(polarity, ACPI_POLARITY_ACTIVE_HIGH);
	CHECK_EQ(trigger, ACPI_TRIGGER_LEVEL);
	CHECK_EQ(acpi_isa_irq_to_gsi(&info, 8, &polarity, &trigger), 8);
	CHECK_EQ(acpi_isa_irq_to_gsi(&info, 4, &polarity, &trigger), 4);
}

UNIT_TEST(fadt_pm_blocks_reset_register_and_s5)
{
	build(1);
	CHECK_EQ(parse(&info), 0);
	CHECK(info.fadt.present);
	CHECK_EQ(info.fadt.revision, 6);
	CHECK(!info.fadt.hardware_reduced);
	CHECK_EQ(info.fadt.sci_interrupt, PLATFORM_IRQ_SCI);
	CHECK_EQ(info.fadt.smi_command_port, 0); /* always in ACPI mode */
	CHECK_EQ(info.fadt.century_cmos_index, 0x32);
	CHECK(!info.fadt.i8042_present);
	CHECK(info.fadt.vga_not_present);
	CHECK_EQ(info.fadt.pm1a_control.space_id, ACPI_SPACE_IO);
	CHECK_EQ(info.fadt.pm1a_control.address, PLATFORM_ACPI_PM1A_CNT);
	CHECK_EQ(info.fadt.pm1b_control.address, 0);
	CHECK_EQ(info.fadt.pm_timer.address, PLATFORM_ACPI_PM_TMR);
	CHECK(info.fadt.pm_timer_32bit);
	CHECK(info.fadt.reset_supported);
	CHECK_EQ(info.fadt.reset_register.space_id, ACPI_SPACE_IO);
	CHECK_EQ(info.fadt.reset_register.address, PLATFORM_ACPI_RESET_PORT);
	CHECK_EQ(info.fadt.reset_value, PLATFORM_ACPI_RESET_VALUE);
	CHECK(info.s5.present);
	CHECK_EQ(info.s5.slp_typ_a, PLATFORM_ACPI_SLP_TYP_S5);
	struct acpi_soft_off off;
	CHECK_EQ(acpi_soft_off_method(&info, &off), 0);
	CHECK_EQ(off.pm1a_control.address, PLATFORM_ACPI_PM1A_CNT);
	CHECK_EQ(off.slp_typ_a, PLATFORM_ACPI_SLP_TYP_S5);
	CHECK(!acpi_soft_off_needs_acpi_enable(&off, 1));
	struct acpi_reset_method reset;
	CHECK_EQ(acpi_reset_method(&info, &reset), 0);
	CHECK_EQ(reset.reg.address, PLATFORM_ACPI_RESET_PORT);
}

UNIT_TEST(mcfg_describes_the_ecam_window)
{
	build(1);
	CHECK_EQ(parse(&info), 0);
	CHECK(info.mcfg.present);
	CHECK_EQ(info.mcfg.segment_count, 1);
	CHECK_EQ(info.mcfg.segments[0].base, PLATFORM_PCI_ECAM_BASE);
	CHECK_EQ(info.mcfg.segments[0].segment, 0);
	CHECK_EQ(info.mcfg.segments[0].start_bus, PLATFORM_PCI_BUS_FIRST);
	CHECK_EQ(info.mcfg.segments[0].end_bus, PLATFORM_PCI_BUS_LAST);
}

static const uint8_t *find_bytes(const uint8_t *hay, size_t length, const void *needle, size_t n)
{
	for (size_t i = 0; i + n <= length; i++)
		if (!memcmp(hay + i, needle, n))
			return hay + i;
	return NULL;
}

/* The PCI host bridge in AML: Device(PCI0) with the PNP0A08/PNP0A03 EISA
 * IDs, and a _CRS buffer whose resource descriptors walk to the end tag. */
UNIT_TEST(dsdt_has_the_pci_host_bridge_and_a_wellformed_crs)
{
	build(1);
	CHECK_EQ(parse(&info), 0);
	const struct acpi_table *dsdt = acpi_find_table(&info, "DSDT", 0);
	CHECK(dsdt != NULL);
	if (!dsdt)
		return;
	const uint8_t *aml = dsdt->data + 36;
	size_t length = dsdt->length - 36;
	static const uint8_t scope[] = { 0x10 };
	CHECK(aml[0] == 0x08 && !memcmp(aml + 1, "_S5_", 4));
	CHECK(find_bytes(aml, length, scope, 1) != NULL);
	static const uint8_t device[] = { 0x5b, 0x82 };
	const uint8_t *dev = find_bytes(aml, length, device, 2);
	CHECK(dev != NULL);
	if (!dev)
		return;
	/* PkgLength: 1 byte (< 64) or 0x4N + 1 byte */
	size_t pkg = dev[2] & 0x40 ? (size_t)((dev[2] & 0xf) | dev[3] << 4) : dev[2];
	size_t pkg_bytes = dev[2] & 0x40 ? 2 : 1;
	CHECK(!memcmp(dev + 2 + pkg_bytes, "PCI0", 4));
	CHECK_EQ(dev + 2 + pkg - aml, length); /* the device runs to the end of the scope, the DSDT */
	static const uint8_t pnp0a08[] = { 0x0c, 0x41, 0xd0, 0x0a, 0x08 };
	static const uint8_t pnp0a03[] = { 0x0c, 0x41, 0xd0, 0x0a, 0x03 };
	CHECK(find_bytes(aml, length, pnp0a08, 5) != NULL);
	CHECK(find_bytes(aml, length, pnp0a03, 5) != NULL);
	const uint8_t *crs = find_bytes(aml, length, "_CRS", 4);
	CHECK(crs != NULL && crs[4] == 0x11);
	if (!crs)
		return;
	/* Buffer: PkgLength, BufferSize (byte or word constant), descriptors */
	const uint8_t *p = crs + 5;
	p += p[0] & 0x40 ? 2 : 1;
	size_t size = p[0] == 0x0a ? p[1] : (size_t)(p[1] | p[2] << 8);
	p += p[0] == 0x0a ? 2 : 3;
	const uint8_t *end = p + size;
	unsigned descriptors = 0, memory_windows = 0;
	bool end_tag = false;
	while (p < end && !end_tag) {
		if (p[0] & 0x80) { /* large item */
			size_t item = (size_t)(p[1] | p[2] << 8);
			if (p[0] == 0x87) {
				uint32_t min = (uint32_t)(p[10] | p[11] << 8 | p[12] << 16 | (uint32_t)p[13] << 24);
				CHECK_EQ(min, PLATFORM_PCI_MMIO_BASE);
				memory_windows++;
			}
			p += 3 + item;
		} else {
			end_tag = (p[0] >> 3) == 0x0f;
			p += 1 + (p[0] & 7);
		}
		descriptors++;
	}
	CHECK(end_tag);
	CHECK(p == end);
	CHECK_EQ(descriptors, 6); /* bus range, config ports, 2 I/O windows, memory, end */
	CHECK_EQ(memory_windows, 1);
}

/* _PRT: Package(128) of Package(4) { slot << 16 | 0xffff, pin, 0, GSI },
 * the GSIs swizzled over 16-23 as pci.c raises them. */
UNIT_TEST(dsdt_prt_routes_every_slot_and_pin)
{
	build(1);
	CHECK_EQ(parse(&info), 0);
	const struct acpi_table *dsdt = acpi_find_table(&info, "DSDT", 0);
	CHECK(dsdt != NULL);
	if (!dsdt)
		return;
	const uint8_t *prt = find_bytes(dsdt->data, dsdt->length, "_PRT", 4);
	CHECK(prt != NULL && prt[4] == 0x12);
	if (!prt)
		return;
	const uint8_t *p = prt + 5;
	size_t outer = (size_t)((p[0] & 0xf) | p[1] << 4);
	CHECK_EQ(p[0] >> 6, 1);
	const uint8_t *end = p + outer;
	CHECK(end <= dsdt->data + dsdt->length);
	p += 2;
	CHECK_EQ(p[0], 128);
	p++;
	unsigned entries = 0;
	while (p < end) {
		CHECK_EQ(p[0], 0x12);
		size_t length = p[1];
		CHECK_EQ(p[2], 4);
		CHECK_EQ(p[3], 0x0c);
		uint32_t address = (uint32_t)(p[4] | p[5] << 8 | p[6] << 16 | (uint32_t)p[7] << 24);
		uint32_t slot = address >> 16, pin = p[8] == 0x0a ? p[9] : p[8];
		const uint8_t *q = p + (p[8] == 0x0a ? 10 : 9);
		CHECK_EQ(q[0], 0x00); /* source: Zero */
		CHECK_EQ(q[1], 0x0a);
		CHECK_EQ(q[2], PLATFORM_GSI_PCI_FIRST + (slot + pin) % PLATFORM_GSI_PCI_COUNT);
		CHECK_EQ(address & 0xffff, 0xffff);
		CHECK_EQ(slot, entries / 4);
		CHECK_EQ(pin, entries % 4);
		p += 1 + length;
		entries++;
	}
	CHECK(p == end);
	CHECK_EQ(entries, 128);
}

UNIT_TEST(bad_parameters_refused)
{
	struct acpi_tables_params params = { .base = PLATFORM_ACPI_BASE, .vcpu_count = 0 };
	CHECK_EQ(acpi_tables_build(memory, sizeof(memory), &params), -EINVAL);
	params.vcpu_count = ACPI_TABLES_MAX_VCPUS + 1;
	CHECK_EQ(acpi_tables_build(memory, sizeof(memory), &params), -EINVAL);
	params.vcpu_count = 4;
	CHECK_EQ(acpi_tables_build(memory, 300, &params), -ENOSPC);
	release_mappings();
}

UNIT_MAIN();

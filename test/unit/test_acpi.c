/*
 * ACPI table parsing against canned tables in a fake physical memory. The
 * builder below lays out RSDP, RSDT/XSDT, MADT, MCFG, FADT, DSDT/SSDT with
 * correct checksums; each test then breaks one thing.
 *
 * The fake mapper returns a fresh heap copy of exactly the requested length,
 * so AddressSanitizer reports any read past what the parser mapped.
 */
#include "unit.h"


#include <stdarg.h>
#include <stdbool.h>

#include <arch/x86/acpi.h>
#include <lib/errno.h>
#include <lib/log.h>

/* ---- log stub: keeps warnings and everything else for the checks ---- */

static char log_all[65536];
static size_t log_all_length;
static char log_warnings[65536];
static size_t log_warnings_length;

static void log_append(char *buffer, size_t *length, size_t size, const char *text)
{
	size_t n = strlen(text);

	if (*length + n + 1 > size)
		n = size - *length - 1;
	memcpy(buffer + *length, text, n);
	*length += n;
	buffer[*length] = '\0';
}

void log_printf(enum log_level level, const char *fmt, ...)
{
	char line[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	log_append(log_all, &log_all_length, sizeof(log_all), line);
	if (level <= LOG_WARN)
		log_append(log_warnings, &log_warnings_length, sizeof(log_warnings), line);
	if (getenv("ACPI_TEST_VERBOSE"))
		fputs(line, stderr);
}

static bool warned(const char *needle)
{
	return strstr(log_warnings, needle) != NULL;
}

/* ---- fake physical memory ---- */

#define FAKE_BASE 0x7f000000ull
#define FAKE_SIZE 0x40000u

#define RSDT_PHYS (FAKE_BASE + 0x1000)
#define XSDT_PHYS (FAKE_BASE + 0x2000)
#define MADT_PHYS (FAKE_BASE + 0x3000)
#define MCFG_PHYS (FAKE_BASE + 0x4000)
#define FADT_PHYS (FAKE_BASE + 0x5000)
#define DSDT_PHYS (FAKE_BASE + 0x6000)
#define HPET_PHYS (FAKE_BASE + 0x7000)
#define SSDT_PHYS (FAKE_BASE + 0x8000)
#define SSDT2_PHYS (FAKE_BASE + 0x9000)
#define SPARE_PHYS (FAKE_BASE + 0xa000)
#define SPARE2_PHYS (FAKE_BASE + 0xb000)
#define BIG_PHYS (FAKE_BASE + 0x10000)

static uint8_t fake_memory[FAKE_SIZE];
static void *mappings[4096];
static size_t mapping_count;

static const void *fake_map(void *ctx, uint64_t phys, size_t length)
{
	void *copy;

	(void)ctx;
	if (phys < FAKE_BASE || phys - FAKE_BASE > FAKE_SIZE ||
	    length > FAKE_SIZE - (phys - FAKE_BASE) || length == 0 ||
	    mapping_count == sizeof(mappings) / sizeof(mappings[0]))
		return NULL;
	copy = malloc(length);
	memcpy(copy, fake_memory + (phys - FAKE_BASE), length);
	mappings[mapping_count++] = copy;
	return copy;
}

static const struct acpi_mapper fake_mapper = { fake_map, NULL };
static struct acpi_info info;

static void reset_fake(void)
{
	for (size_t i = 0; i < mapping_count; i++)
		free(mappings[i]);
	mapping_count = 0;
	memset(fake_memory, 0, sizeof(fake_memory));
	log_all_length = log_warnings_length = 0;
	log_all[0] = log_warnings[0] = '\0';
}

static uint8_t *at(uint64_t phys)
{
	return fake_memory + (phys - FAKE_BASE);
}

static void put_le(uint8_t *p, uint64_t value, unsigned int size)
{
	for (unsigned int i = 0; i < size; i++)
		p[i] = (uint8_t)(value >> (8 * i));
}

static uint8_t sum(const uint8_t *p, size_t length)
{
	uint8_t s = 0;

	for (size_t i = 0; i < length; i++)
		s = (uint8_t)(s + p[i]);
	return s;
}

/* ---- table builder ---- */

struct table {
	uint64_t phys;
	uint32_t length;
};

static struct table table_begin(uint64_t phys, const char *signature, uint8_t revision)
{
	uint8_t *p = at(phys);

	memset(p, 0, ACPI_HEADER_LENGTH);
	memcpy(p, signature, 4);
	p[8] = revision;
	memcpy(p + 10, "KAPSEL", 6);
	memcpy(p + 16, "TESTTBL1", 8);
	put_le(p + 24, 1, 4);
	memcpy(p + 28, "KTST", 4);
	put_le(p + 32, 1, 4);
	return (struct table){ phys, ACPI_HEADER_LENGTH };
}

static void table_bytes(struct table *t, const void *data, size_t n)
{
	memcpy(at(t->phys) + t->length, data, n);
	t->length += (uint32_t)n;
}

static void table_int(struct table *t, uint64_t value, unsigned int size)
{
	put_le(at(t->phys) + t->length, value, size);
	t->length += size;
}

static void checksum_table(uint64_t phys)
{
	uint8_t *p = at(phys);
	uint32_t length = (uint32_t)(p[4] | p[5] << 8 | p[6] << 16 | (uint32_t)p[7] << 24);

	p[9] = 0;
	p[9] = (uint8_t)-sum(p, length);
}

static void table_end(struct table *t)
{
	put_le(at(t->phys) + 4, t->length, 4);
	checksum_table(t->phys);
}

/* Builds an RSDP into out[36]; returns the length a loader would copy. */
static size_t make_rsdp(uint8_t *out, uint8_t revision, uint32_t rsdt, uint64_t xsdt)
{
	memset(out, 0, ACPI_RSDP_V2_LENGTH);
	memcpy(out, "RSD PTR ", 8);
	memcpy(out + 9, "KAPSEL", 6);
	out[15] = revision;
	put_le(out + 16, rsdt, 4);
	if (revision < 2) {
		out[8] = (uint8_t)-sum(out, 20);
		return ACPI_RSDP_V1_LENGTH;
	}
	put_le(out + 20, ACPI_RSDP_V2_LENGTH, 4);
	put_le(out + 24, xsdt, 8);
	out[8] = (uint8_t)-sum(out, 20);
	out[32] = (uint8_t)-sum(out, ACPI_RSDP_V2_LENGTH);
	return ACPI_RSDP_V2_LENGTH;
}

static void build_root(uint64_t phys, bool xsdt, const uint64_t *tables, size_t count)
{
	struct table t = table_begin(phys, xsdt ? "XSDT" : "RSDT", 1);

	for (size_t i = 0; i < count; i++)
		table_int(&t, tables[i], xsdt ? 8 : 4);
	table_end(&t);
}

/* MADT entries. */
static void madt_lapic(struct table *t, uint8_t uid, uint8_t apic_id, uint32_t flags)
{
	uint8_t e[8] = { 0, 8, uid, apic_id };

	put_le(e + 4, flags, 4);
	table_bytes(t, e, sizeof(e));
}

static void madt_x2apic(struct table *t, uint32_t apic_id, uint32_t uid, uint32_t flags)
{
	uint8_t e[16] = { 9, 16 };

	put_le(e + 4, apic_id, 4);
	put_le(e + 8, flags, 4);
	put_le(e + 12, uid, 4);
	table_bytes(t, e, sizeof(e));
}

static void madt_ioapic(struct table *t, uint8_t id, uint32_t address, uint32_t gsi_base)
{
	uint8_t e[12] = { 1, 12, id, 0 };

	put_le(e + 4, address, 4);
	put_le(e + 8, gsi_base, 4);
	table_bytes(t, e, sizeof(e));
}

static void madt_override(struct table *t, uint8_t irq, uint32_t gsi, uint16_t flags)
{
	uint8_t e[10] = { 2, 10, 0, irq };

	put_le(e + 4, gsi, 4);
	put_le(e + 8, flags, 2);
	table_bytes(t, e, sizeof(e));
}

/* Flags 0xd: active high (01), level (11). */
#define INTI_HIGH_LEVEL 0xd
#define INTI_HIGH_EDGE 0x5

static struct table madt_begin(uint64_t phys, uint32_t lapic_address, uint32_t flags)
{
	struct table t = table_begin(phys, "APIC", 4);

	table_int(&t, lapic_address, 4);
	table_int(&t, flags, 4);
	return t;
}

/*
 * A two-socket-ish machine: CPUs with APIC IDs 0 and 2 enabled, 4 disabled
 * (unusable), 6 online-capable, x2APIC 0x100 enabled, and x2APIC 2 repeating
 * the xAPIC entry; two IOAPICs; overrides IRQ0->GSI2 and IRQ9 level; NMI
 * entries of every kind and an entry type the parser ignores.
 */
static void build_standard_madt(uint64_t phys)
{
	struct table t = madt_begin(phys, 0xfee00000, 1);
	static const uint8_t nmi_source[8] = { 3, 8, INTI_HIGH_EDGE, 0, 30, 0, 0, 0 };
	static const uint8_t lapic_nmi[6] = { 4, 6, 0xff, INTI_HIGH_EDGE, 0, 1 };
	static const uint8_t x2apic_nmi[12] = { 10, 12, 0, 0, 0x10, 0, 0, 0, 1 };
	static const uint8_t unknown[6] = { 0x7f, 6 };

	madt_lapic(&t, 0, 0, 1);
	madt_lapic(&t, 1, 2, 1);
	madt_lapic(&t, 2, 4, 0);
	madt_lapic(&t, 3, 6, 2);
	madt_x2apic(&t, 0x100, 0x10, 1);
	madt_x2apic(&t, 2, 1, 1);
	madt_ioapic(&t, 8, 0xfec00000, 0);
	madt_ioapic(&t, 9, 0xfec01000, 24);
	madt_override(&t, 0, 2, 0);
	madt_override(&t, 9, 9, INTI_HIGH_LEVEL);
	table_bytes(&t, nmi_source, sizeof(nmi_source));
	table_bytes(&t, lapic_nmi, sizeof(lapic_nmi));
	table_bytes(&t, x2apic_nmi, sizeof(x2apic_nmi));
	table_bytes(&t, unknown, sizeof(unknown));
	table_end(&t);
}

static void build_mcfg(uint64_t phys)
{
	struct table t = table_begin(phys, "MCFG", 1);

	table_int(&t, 0, 8);
	table_int(&t, 0xb0000000, 8);
	table_int(&t, 0, 2);
	table_int(&t, 0, 1);
	table_int(&t, 255, 1);
	table_int(&t, 0, 4);
	table_int(&t, 0x4000000000ull, 8);
	table_int(&t, 1, 2);
	table_int(&t, 0, 1);
	table_int(&t, 63, 1);
	table_int(&t, 0, 4);
	table_end(&t);
}

/* FADT field offsets used by the builder. */
#define FADT_DSDT 40
#define FADT_SCI_INT 46
#define FADT_SMI_CMD 48
#define FADT_ACPI_ENABLE 52
#define FADT_ACPI_DISABLE 53
#define FADT_PM1A_CNT 64
#define FADT_PM1B_CNT 68
#define FADT_PM_TMR 76
#define FADT_PM1_CNT_LEN 89
#define FADT_PM_TMR_LEN 91
#define FADT_CENTURY 108
#define FADT_BOOT_ARCH 109
#define FADT_FLAGS 112
#define FADT_RESET_REG 116
#define FADT_RESET_VALUE 128
#define FADT_X_DSDT 140
#define FADT_X_PM1A_CNT 172
#define FADT_X_PM1B_CNT 184
#define FADT_X_PM_TMR 208
#define FADT_REV1_LENGTH 116
#define FADT_REV6_LENGTH 276

static void put_gas(uint8_t *p, uint8_t space, uint8_t width, uint8_t access, uint64_t address)
{
	p[0] = space;
	p[1] = width;
	p[2] = 0;
	p[3] = access;
	put_le(p + 4, address, 8);
}

/* ACPI 1.0 FADT: 32-bit fields only, PM1a 0xb004 and PM1b 0xb008. */
static void build_fadt_rev1(uint64_t phys, uint32_t dsdt)
{
	struct table t = table_begin(phys, "FACP", 1);
	uint8_t *p = at(phys);

	memset(p + ACPI_HEADER_LENGTH, 0, FADT_REV1_LENGTH - ACPI_HEADER_LENGTH);
	t.length = FADT_REV1_LENGTH;
	put_le(p + FADT_DSDT, dsdt, 4);
	put_le(p + FADT_SCI_INT, 9, 2);
	put_le(p + FADT_SMI_CMD, 0xb2, 4);
	p[FADT_ACPI_ENABLE] = 0xf1;
	p[FADT_ACPI_DISABLE] = 0xf0;
	put_le(p + FADT_PM1A_CNT, 0xb004, 4);
	put_le(p + FADT_PM1B_CNT, 0xb008, 4);
	put_le(p + FADT_PM_TMR, 0xb008, 4);
	p[FADT_PM1_CNT_LEN] = 2;
	p[FADT_PM_TMR_LEN] = 4;
	p[FADT_CENTURY] = 0x32;
	table_end(&t);
}

/* ACPI 6 FADT (QEMU q35-like): X_ fields agree with the 32-bit ones. */
static void build_fadt_rev6(uint64_t phys, uint64_t dsdt)
{
	struct table t = table_begin(phys, "FACP", 6);
	uint8_t *p = at(phys);

	memset(p + ACPI_HEADER_LENGTH, 0, FADT_REV6_LENGTH - ACPI_HEADER_LENGTH);
	t.length = FADT_REV6_LENGTH;
	put_le(p + FADT_DSDT, dsdt, 4);
	put_le(p + FADT_X_DSDT, dsdt, 8);
	put_le(p + FADT_SCI_INT, 9, 2);
	put_le(p + FADT_SMI_CMD, 0xb2, 4);
	p[FADT_ACPI_ENABLE] = 0x02;
	p[FADT_ACPI_DISABLE] = 0x03;
	put_le(p + FADT_PM1A_CNT, 0x604, 4);
	put_gas(p + FADT_X_PM1A_CNT, ACPI_SPACE_IO, 16, 2, 0x604);
	put_le(p + FADT_PM_TMR, 0x608, 4);
	put_gas(p + FADT_X_PM_TMR, ACPI_SPACE_IO, 32, 3, 0x608);
	p[FADT_PM1_CNT_LEN] = 2;
	p[FADT_PM_TMR_LEN] = 4;
	p[FADT_CENTURY] = 0x32;
	put_le(p + FADT_BOOT_ARCH, ACPI_BOOT_ARCH_LEGACY_DEVICES | ACPI_BOOT_ARCH_8042, 2);
	put_le(p + FADT_FLAGS, ACPI_FADT_RESET_REG_SUP | ACPI_FADT_TMR_VAL_EXT, 4);
	put_gas(p + FADT_RESET_REG, ACPI_SPACE_IO, 8, 1, 0xcf9);
	p[FADT_RESET_VALUE] = 0x06;
	table_end(&t);
}

/* Some AML before and after the object, so the scan has to find it. */
static const uint8_t aml_prologue[] = {
	0x10, 0x0b, 0x5c, 0x5f, 0x53, 0x42, 0x5f,       /* Scope(\_SB_) ... */
	0x14, 0x08, 0x5f, 0x53, 0x35, 0x5f, 0x00, 0xa4, /* method text with "_S5_" */
	0x00, 0x00,
};
/* Name(\_S5_, Package(4){0x05, 0x05, Zero, Zero}) */
static const uint8_t aml_s5_bytes[] = {
	0x08, 0x5c, 0x5f, 0x53, 0x35, 0x5f,
	0x12, 0x08, 0x04, 0x0a, 0x05, 0x0a, 0x05, 0x00, 0x00,
};

static void build_aml_table(uint64_t phys, const char *signature, const uint8_t *aml, size_t n)
{
	struct table t = table_begin(phys, signature, 2);
	static const uint8_t epilogue[] = { 0x08, 0x5f, 0x53, 0x34, 0x5f, 0x12, 0x03, 0x01, 0x00 };

	table_bytes(&t, aml_prologue, sizeof(aml_prologue));
	table_bytes(&t, aml, n);
	table_bytes(&t, epilogue, sizeof(epilogue));
	table_end(&t);
}

static void build_hpet(uint64_t phys)
{
	struct table t = table_begin(phys, "HPET", 1);

	table_int(&t, 0x8086a201, 4);
	put_gas(at(phys) + t.length, ACPI_SPACE_MEMORY, 64, 0, 0xfed00000);
	t.length += 12;
	table_int(&t, 0, 1);
	table_int(&t, 0, 2);
	table_int(&t, 0, 1);
	table_end(&t);
}

static const uint64_t standard_tables[] = { FADT_PHYS, MADT_PHYS, MCFG_PHYS, HPET_PHYS };
#define STANDARD_TABLE_COUNT (sizeof(standard_tables) / sizeof(standard_tables[0]))

/* Every standard table, listed by both RSDT and XSDT. */
static void build_platform(void)
{
	reset_fake();
	build_standard_madt(MADT_PHYS);
	build_mcfg(MCFG_PHYS);
	build_fadt_rev6(FADT_PHYS, DSDT_PHYS);
	build_aml_table(DSDT_PHYS, "DSDT", aml_s5_bytes, sizeof(aml_s5_bytes));
	build_hpet(HPET_PHYS);
	build_root(RSDT_PHYS, false, standard_tables, STANDARD_TABLE_COUNT);
	build_root(XSDT_PHYS, true, standard_tables, STANDARD_TABLE_COUNT);
}

static int init_with_rsdp(uint8_t revision)
{
	uint8_t rsdp[ACPI_RSDP_V2_LENGTH];
	size_t length = make_rsdp(rsdp, revision, (uint32_t)RSDT_PHYS, XSDT_PHYS);

	return acpi_init(&fake_mapper, rsdp, length, FAKE_BASE + 0xe0, &info);
}

/* ---- RSDP and root tables ---- */

UNIT_TEST(rsdp_v2_walks_xsdt_and_parses_everything)
{
	build_platform();
	CHECK_EQ(init_with_rsdp(2), 0);
	CHECK(info.using_xsdt);
	CHECK_EQ(info.root_phys, XSDT_PHYS);
	CHECK_EQ(info.rsdp_revision, 2);
	CHECK_STR(info.rsdp_oem_id, "KAPSEL");
	CHECK_EQ(info.table_count, STANDARD_TABLE_COUNT + 1); /* + DSDT */
	CHECK_EQ(info.tables_skipped, 0);
	CHECK(info.madt.present);
	CHECK(info.mcfg.present);
	CHECK(info.fadt.present);
	CHECK(info.s5.present);
	CHECK_STR(log_warnings, "");
	/* A debug line per table and the MADT summary at info level. */
	CHECK(strstr(log_all, "APIC KAPSEL TESTTBL1 rev 4 at 0x7f003000") != NULL);
	CHECK(strstr(log_all, "MADT: 4 CPUs") != NULL);
}

UNIT_TEST(rsdp_v1_walks_rsdt)
{
	build_platform();
	CHECK_EQ(init_with_rsdp(0), 0);
	CHECK(!info.using_xsdt);
	CHECK_EQ(info.root_phys, RSDT_PHYS);
	CHECK_EQ(info.table_count, STANDARD_TABLE_COUNT + 1);
	CHECK(info.madt.present);
}

UNIT_TEST(xsdt_preferred_over_rsdt)
{
	static const uint64_t xsdt_tables[] = { FADT_PHYS, SPARE_PHYS };
	struct table t;

	build_platform();
	/* The XSDT's MADT has a single CPU; the RSDT's has four. */
	t = madt_begin(SPARE_PHYS, 0xfee00000, 0);
	madt_lapic(&t, 0, 7, 1);
	table_end(&t);
	build_root(XSDT_PHYS, true, xsdt_tables, 2);
	CHECK_EQ(init_with_rsdp(2), 0);
	CHECK(info.using_xsdt);
	CHECK_EQ(info.madt.cpu_count, 1);
	CHECK_EQ(info.madt.cpus[0].apic_id, 7);
	CHECK(!info.mcfg.present);
}

UNIT_TEST(no_rsdp_is_enodev)
{
	reset_fake();
	CHECK_EQ(acpi_init(&fake_mapper, NULL, 0, 0, &info), -ENODEV);
	CHECK(!info.madt.present);
}

UNIT_TEST(bad_rsdp_signature_rejected)
{
	uint8_t rsdp[ACPI_RSDP_V2_LENGTH];

	build_platform();
	make_rsdp(rsdp, 0, (uint32_t)RSDT_PHYS, 0);
	rsdp[0] = 'X';
	rsdp[8] = (uint8_t)(rsdp[8] - ('X' - 'R')); /* checksum still right */
	CHECK_EQ(acpi_init(&fake_mapper, rsdp, ACPI_RSDP_V1_LENGTH, 0, &info), -EINVAL);
	CHECK_EQ(info.table_count, 0);
}

UNIT_TEST(bad_rsdp_checksum_rejected)
{
	uint8_t rsdp[ACPI_RSDP_V2_LENGTH];
	size_t length;

	build_platform();
	length = make_rsdp(rsdp, 2, (uint32_t)RSDT_PHYS, XSDT_PHYS);
	rsdp[8]++;
	rsdp[32]--; /* extended checksum still right: only the 20-byte one fails */
	CHECK_EQ(acpi_init(&fake_mapper, rsdp, length, 0, &info), -EINVAL);
	CHECK_EQ(info.table_count, 0);
	CHECK(warned("checksum"));
}

UNIT_TEST(bad_extended_checksum_falls_back_to_rsdt)
{
	uint8_t rsdp[ACPI_RSDP_V2_LENGTH];
	size_t length;

	build_platform();
	length = make_rsdp(rsdp, 2, (uint32_t)RSDT_PHYS, XSDT_PHYS);
	rsdp[32]++;
	CHECK_EQ(acpi_init(&fake_mapper, rsdp, length, 0, &info), 0);
	CHECK(!info.using_xsdt);
	CHECK_EQ(info.root_phys, RSDT_PHYS);
	CHECK(info.madt.present);
	CHECK(warned("extended checksum"));
}

UNIT_TEST(rsdp_v2_with_short_copy_uses_rsdt)
{
	uint8_t rsdp[ACPI_RSDP_V2_LENGTH];

	build_platform();
	make_rsdp(rsdp, 2, (uint32_t)RSDT_PHYS, XSDT_PHYS);
	CHECK_EQ(acpi_init(&fake_mapper, rsdp, ACPI_RSDP_V1_LENGTH, 0, &info), 0);
	CHECK(!info.using_xsdt);
	CHECK(info.madt.present);
}

UNIT_TEST(rsdp_longer_than_the_copy_is_mapped_at_rsdp_phys)
{
	const uint64_t rsdp_phys = FAKE_BASE + 0xe0;
	uint8_t *rsdp = at(rsdp_phys);

	build_platform();
	/* A 40-byte RSDP in memory; the loader copied only 36 bytes of it. */
	make_rsdp(rsdp, 2, (uint32_t)RSDT_PHYS, XSDT_PHYS);
	put_le(rsdp + 20, 40, 4);
	rsdp[39] = 0x5a;
	rsdp[32] = 0;
	rsdp[32] = (uint8_t)-sum(rsdp, 40);
	CHECK_EQ(acpi_init(&fake_mapper, rsdp, ACPI_RSDP_V2_LENGTH, rsdp_phys, &info), 0);
	CHECK(info.using_xsdt);
	/* Without the physical address the extended part can't be checked. */
	CHECK_EQ(acpi_init(&fake_mapper, rsdp, ACPI_RSDP_V2_LENGTH, 0, &info), 0);
	CHECK(!info.using_xsdt);
	CHECK(warned("only 36 copied"));
}

UNIT_TEST(invalid_xsdt_falls_back_to_rsdt)
{
	build_platform();
	at(XSDT_PHYS)[ACPI_HEADER_LENGTH] ^= 0x10; /* checksum now wrong */
	CHECK_EQ(init_with_rsdp(2), 0);
	CHECK(!info.using_xsdt);
	CHECK(info.madt.present);
	CHECK(warned("XSDT at 0x7f002000: bad checksum"));
}

UNIT_TEST(no_valid_root_table_fails)
{
	build_platform();
	at(XSDT_PHYS)[ACPI_HEADER_LENGTH] ^= 0x10;
	memcpy(at(RSDT_PHYS), "XXXX", 4);
	CHECK_EQ(init_with_rsdp(2), -EINVAL);
	CHECK(!info.madt.present);
	CHECK(warned("expected RSDT"));
}

/* ---- bad tables are skipped ---- */

UNIT_TEST(table_with_bad_checksum_is_skipped)
{
	build_platform();
	at(MADT_PHYS)[ACPI_HEADER_LENGTH] ^= 0x01; /* LAPIC address, unsummed */
	CHECK_EQ(init_with_rsdp(2), 0);
	CHECK(!info.madt.present);
	CHECK(acpi_find_table(&info, "APIC", 0) == NULL);
	CHECK_EQ(info.tables_skipped, 1);
	CHECK(warned("APIC at 0x7f003000: bad checksum; skipped"));
	/* The others are still there. */
	CHECK(info.mcfg.present);
	CHECK(info.fadt.present);
}

UNIT_TEST(table_shorter_than_its_header_is_skipped)
{
	build_platform();
	put_le(at(MCFG_PHYS) + 4, 20, 4);
	checksum_table(MCFG_PHYS);
	CHECK_EQ(init_with_rsdp(2), 0);
	CHECK(!info.mcfg.present);
	CHECK_EQ(info.tables_skipped, 1);
	CHECK(warned("MCFG at 0x7f004000: length 20 is shorter than its header"));
}

UNIT_TEST(table_running_past_mapped_memory_is_skipped)
{
	static const uint64_t tables[] = { MADT_PHYS, FAKE_BASE + FAKE_SIZE - 0x40 };
	struct table t;

	build_platform();
	t = table_begin(FAKE_BASE + FAKE_SIZE - 0x40, "SSDT", 2);
	put_le(at(t.phys) + 4, 0x100, 4); /* runs past the end of memory */
	build_root(XSDT_PHYS, true, tables, 2);
	CHECK_EQ(init_with_rsdp(2), 0);
	CHECK_EQ(info.table_count, 1);
	CHECK_EQ(info.tables_skipped, 1);
	CHECK(acpi_find_table(&info, "SSDT", 0) == NULL);
	CHECK(warned("SSDT at 0x7f03ffc0: 256 bytes not mappable"));
}

UNIT_TEST(table_past_the_sane_bound_or_unmapped_is_skipped)
{
	static const uint64_t tables[] = { SPARE_PHYS, 0x1000, 0, MADT_PHYS };

	build_platform();
	table_begin(SPARE_PHYS, "SSDT", 2);
	put_le(at(SPARE_PHYS) + 4, 0x7fffffff, 4);
	build_root(XSDT_PHYS, true, tables, 4);
	CHECK_EQ(init_with_rsdp(2), 0);
	CHECK_EQ(info.tables_skipped, 3);
	CHECK_EQ(info.table_count, 1);
	CHECK(info.madt.present);
	CHECK(warned("past the sane bound"));
	CHECK(warned("table at 0x1000: header not mappable"));
	CHECK(warned("null address"));
}

UNIT_TEST(no_madt_reports_absent)
{
	static const uint64_t tables[] = { FADT_PHYS, MCFG_PHYS };

	build_platform();
	build_root(XSDT_PHYS, true, tables, 2);
	CHECK_EQ(init_with_rsdp(2), 0);
	CHECK(!info.madt.present);
	CHECK_EQ(info.madt.cpu_count, 0);
	CHECK(warned("no MADT"));
	CHECK(info.fadt.present);
}

/* ---- MADT ---- */

UNIT_TEST(madt_cpus_enabled_online_capable_x2apic_deduplicated)
{
	build_platform();
	CHECK_EQ(init_with_rsdp(2), 0);
	CHECK_EQ(info.madt.lapic_address, 0xfee00000);
	CHECK(info.madt.pcat_compat);
	CHECK_EQ(info.madt.cpu_count, 4);
	CHECK_EQ(info.madt.cpus_unusable, 1);
	CHECK_EQ(info.madt.cpus_dropped, 0);
	CHECK_EQ(info.madt.cpus[0].apic_id, 0);
	CHECK_EQ(info.madt.cpus[0].processor_uid, 0);
	CHECK(info.madt.cpus[0].enabled);
	CHECK(!info.madt.cpus[0].x2apic);
	CHECK_EQ(info.madt.cpus[1].apic_id, 2);
	CHECK_EQ(info.madt.cpus[1].processor_uid, 1);
	CHECK(!info.madt.cpus[1].x2apic); /* the x2APIC repeat was dropped */
	CHECK_EQ(info.madt.cpus[2].apic_id, 6);
	CHECK(!info.madt.cpus[2].enabled); /* online-capable */
	CHECK_EQ(info.madt.cpus[3].apic_id, 0x100);
	CHECK_EQ(info.madt.cpus[3].processor_uid, 0x10);
	CHECK(info.madt.cpus[3].x2apic);
	CHECK(info.madt.cpus[3].enabled);
	CHECK(!info.madt.truncated);
}

UNIT_TEST(madt_ioapics_overrides_and_nmis)
{
	uint8_t polarity, trigger;

	build_platform();
	CHECK_EQ(init_with_rsdp(2), 0);
	CHECK_EQ(info.madt.ioapic_count, 2);
	CHECK_EQ(info.madt.ioapics[1].id, 9);
	CHECK_EQ(info.madt.ioapics[1].address, 0xfec01000);
	CHECK_EQ(info.madt.ioapics[1].gsi_base, 24);
	CHECK_EQ(info.madt.irq_override_count, 2);
	CHECK_EQ(info.madt.irq_overrides[1].source_irq, 9);
	CHECK_EQ(info.madt.irq_overrides[1].polarity, ACPI_POLARITY_ACTIVE_HIGH);
	CHECK_EQ(info.madt.irq_overrides[1].trigger, ACPI_TRIGGER_LEVEL);
	CHECK_EQ(info.madt.nmi_source_count, 1);
	CHECK_EQ(info.madt.nmi_sources[0].gsi, 30);
	CHECK_EQ(info.madt.nmi_sources[0].trigger, ACPI_TRIGGER_EDGE);
	CHECK_EQ(info.madt.lapic_nmi_count, 2);
	CHECK_EQ(info.madt.lapic_nmis[0].processor_uid, ACPI_ALL_PROCESSORS);
	CHECK_EQ(info.madt.lapic_nmis[0].lint, 1);
	CHECK_EQ(info.madt.lapic_nmis[1].processor_uid, 0x10);
	CHECK_EQ(info.madt.lapic_nmis[1].lint, 1);

	/* ISA IRQ routing after the overrides. */
	CHECK_EQ(acpi_isa_irq_to_gsi(&info, 0, &polarity, &trigger), 2);
	CHECK_EQ(polarity, ACPI_POLARITY_ACTIVE_HIGH);
	CHECK_EQ(trigger, ACPI_TRIGGER_EDGE);
	CHECK_EQ(acpi_isa_irq_to_gsi(&info, 9, &polarity, &trigger), 9);
	CHECK_EQ(trigger, ACPI_TRIGGER_LEVEL);
	CHECK_EQ(acpi_isa_irq_to_gsi(&info, 4, NULL, &trigger), 4);
	CHECK_EQ(trigger, ACPI_TRIGGER_EDGE);
}

UNIT_TEST(madt_lapic_address_override)
{
	static const uint64_t tables[] = { MADT_PHYS };
	uint8_t override[12] = { 5, 12 };
	struct table t;

	build_platform();
	put_le(override + 4, 0x1fee00000ull, 8);
	t = madt_begin(MADT_PHYS, 0xfee00000, 0);
	table_bytes(&t, override, sizeof(override)); /* before the CPUs: order must not matter */
	madt_lapic(&t, 0, 0, 1);
	table_end(&t);
	build_root(XSDT_PHYS, true, tables, 1);
	CHECK_EQ(init_with_rsdp(2), 0);
	CHECK_EQ(info.madt.lapic_address, 0x1fee00000ull);
	CHECK(!info.madt.pcat_compat);
	CHECK_EQ(info.madt.cpu_count, 1);
}

UNIT_TEST(madt_entry_with_length_zero_stops_the_walk)
{
	static const uint64_t tables[] = { MADT_PHYS };
	static const uint8_t zero_length[2] = { 0, 0 };
	struct table t;

	build_platform();
	t = madt_begin(MADT_PHYS, 0xfee00000, 0);
	madt_lapic(&t, 0, 0, 1);
	table_bytes(&t, zero_length, sizeof(zero_length));
	madt_lapic(&t, 1, 1, 1); /* unreachable */
	table_end(&t);
	build_root(XSDT_PHYS, true, tables, 1);
	CHECK_EQ(init_with_rsdp(2), 0);
	CHECK(info.madt.present);
	CHECK(info.madt.truncated);
	CHECK_EQ(info.madt.cpu_count, 1);
	CHECK(warned("has length 0"));
}

UNIT_TEST(madt_entry_running_past_the_table_stops_the_walk)
{
	static const uint64_t tables[] = { MADT_PHYS };
	struct table t;

	build_platform();
	t = madt_begin(MADT_PHYS, 0xfee00000, 0);
	madt_lapic(&t, 0, 0, 1);
	madt_lapic(&t, 1, 1, 1);
	/* The last entry claims 16 bytes; only 8 remain in the table. */
	at(MADT_PHYS)[t.length - 7] = 16;
	table_end(&t);
	build_root(XSDT_PHYS, true, tables, 1);
	CHECK_EQ(init_with_rsdp(2), 0);
	CHECK(info.madt.truncated);
	CHECK_EQ(info.madt.cpu_count, 1);
	CHECK(warned("has length 16"));
}

UNIT_TEST(madt_short_entry_skipped_walk_continues)
{
	static const uint64_t tables[] = { MADT_PHYS };
	static const uint8_t short_ioapic[6] = { 1, 6, 3, 0, 0, 0 };
	struct table t;

	build_platform();
	t = madt_begin(MADT_PHYS, 0xfee00000, 0);
	table_bytes(&t, short_ioapic, sizeof(short_ioapic));
	madt_lapic(&t, 0, 5, 1);
	table_end(&t);
	build_root(XSDT_PHYS, true, tables, 1);
	CHECK_EQ(init_with_rsdp(2), 0);
	CHECK_EQ(info.madt.ioapic_count, 0);
	CHECK_EQ(info.madt.cpu_count, 1);
	CHECK(!info.madt.truncated);
	CHECK(warned("too short"));
}

UNIT_TEST(madt_more_cpus_than_supported)
{
	static const uint64_t tables[] = { BIG_PHYS };
	struct table t;

	build_platform();
	t = madt_begin(BIG_PHYS, 0xfee00000, 0);
	for (uint32_t i = 0; i < ACPI_MAX_CPUS + 44; i++)
		madt_x2apic(&t, i, i, 1);
	table_end(&t);
	build_root(XSDT_PHYS, true, tables, 1);
	CHECK_EQ(init_with_rsdp(2), 0);
	CHECK_EQ(info.madt.cpu_count, ACPI_MAX_CPUS);
	CHECK_EQ(info.madt.cpus_dropped, 44);
	CHECK_EQ(info.madt.cpus[ACPI_MAX_CPUS - 1].apic_id, ACPI_MAX_CPUS - 1);
	CHECK(warned("44 more CPUs"));
}

/* ---- MCFG ---- */

UNIT_TEST(mcfg_segments)
{
	build_platform();
	CHECK_EQ(init_with_rsdp(2), 0);
	CHECK_EQ(info.mcfg.segment_count, 2);
	CHECK_EQ(info.mcfg.segments[0].base, 0xb0000000);
	CHECK_EQ(info.mcfg.segments[0].segment, 0);
	CHECK_EQ(info.mcfg.segments[0].end_bus, 255);
	CHECK_EQ(info.mcfg.segments[1].base, 0x4000000000ull);
	CHECK_EQ(info.mcfg.segments[1].segment, 1);
	CHECK_EQ(info.mcfg.segments[1].start_bus, 0);
	CHECK_EQ(info.mcfg.segments[1].end_bus, 63);
}

UNIT_TEST(mcfg_invalid_bus_range_skipped)
{
	build_platform();
	at(MCFG_PHYS)[44 + 10] = 200; /* first entry: buses 200-100 */
	at(MCFG_PHYS)[44 + 11] = 100;
	checksum_table(MCFG_PHYS);
	CHECK_EQ(init_with_rsdp(2), 0);
	CHECK_EQ(info.mcfg.segment_count, 1);
	CHECK_EQ(info.mcfg.segments[0].segment, 1);
	CHECK(warned("MCFG entry 0"));
}

/* ---- FADT ---- */

UNIT_TEST(fadt_rev6_fields)
{
	build_platform();
	CHECK_EQ(init_with_rsdp(2), 0);
	CHECK_EQ(info.fadt.revision, 6);
	CHECK_EQ(info.fadt.sci_interrupt, 9);
	CHECK_EQ(info.fadt.smi_command_port, 0xb2);
	CHECK_EQ(info.fadt.acpi_enable_value, 0x02);
	CHECK_EQ(info.fadt.acpi_disable_value, 0x03);
	CHECK_EQ(info.fadt.century_cmos_index, 0x32);
	CHECK(info.fadt.i8042_present);
	CHECK(!info.fadt.vga_not_present);
	CHECK(!info.fadt.hardware_reduced);
	CHECK_EQ(info.fadt.pm1a_control.space_id, ACPI_SPACE_IO);
	CHECK_EQ(info.fadt.pm1a_control.address, 0x604);
	CHECK_EQ(info.fadt.pm1b_control.address, 0);
	CHECK_EQ(info.fadt.pm_timer.address, 0x608);
	CHECK(info.fadt.pm_timer_32bit);
	CHECK(info.fadt.reset_supported);
	CHECK_EQ(info.fadt.reset_register.space_id, ACPI_SPACE_IO);
	CHECK_EQ(info.fadt.reset_register.address, 0xcf9);
	CHECK_EQ(info.fadt.reset_value, 0x06);
	CHECK_EQ(info.fadt.dsdt_phys, DSDT_PHYS);
	CHECK(acpi_find_table(&info, "DSDT", 0) != NULL);
}

UNIT_TEST(fadt_rev1_without_x_fields)
{
	build_platform();
	build_fadt_rev1(FADT_PHYS, (uint32_t)DSDT_PHYS);
	CHECK_EQ(init_with_rsdp(0), 0);
	CHECK(info.fadt.present);
	CHECK_EQ(info.fadt.revision, 1);
	CHECK_EQ(info.fadt.pm1a_control.space_id, ACPI_SPACE_IO);
	CHECK_EQ(info.fadt.pm1a_control.address, 0xb004);
	CHECK_EQ(info.fadt.pm1a_control.bit_width, 16);
	CHECK_EQ(info.fadt.pm1b_control.address, 0xb008);
	CHECK_EQ(info.fadt.acpi_enable_value, 0xf1);
	CHECK(!info.fadt.reset_supported);
	CHECK(info.fadt.i8042_present); /* assumed before revision 3 */
	CHECK_EQ(info.fadt.boot_arch_flags, 0);
	CHECK_EQ(info.fadt.dsdt_phys, DSDT_PHYS);
	CHECK(info.s5.present);
	CHECK_EQ(info.s5.slp_typ_a, 5);
}

UNIT_TEST(fadt_x_fields_win_over_32bit_fields)
{
	uint8_t *fadt;

	build_platform();
	build_aml_table(SPARE_PHYS, "DSDT", aml_s5_bytes, sizeof(aml_s5_bytes));
	at(SPARE_PHYS + ACPI_HEADER_LENGTH + sizeof(aml_prologue))[10] = 0x03; /* SLP_TYPa 3 */
	checksum_table(SPARE_PHYS);
	fadt = at(FADT_PHYS);
	put_le(fadt + FADT_X_DSDT, SPARE_PHYS, 8);
	put_gas(fadt + FADT_X_PM1A_CNT, ACPI_SPACE_MEMORY, 16, 2, 0xfe000404);
	put_gas(fadt + FADT_X_PM1B_CNT, ACPI_SPACE_IO, 0, 0, 0x1004);
	put_le(fadt + FADT_BOOT_ARCH, ACPI_BOOT_ARCH_VGA_NOT_PRESENT, 2);
	put_le(fadt + FADT_FLAGS, ACPI_FADT_HW_REDUCED_ACPI, 4);
	checksum_table(FADT_PHYS);
	CHECK_EQ(init_with_rsdp(2), 0);
	CHECK_EQ(info.fadt.dsdt_phys, SPARE_PHYS);
	CHECK(warned("X_DSDT 0x7f00a000 differ"));
	CHECK_EQ(info.s5.slp_typ_a, 3);
	CHECK_EQ(info.fadt.pm1a_control.space_id, ACPI_SPACE_MEMORY);
	CHECK_EQ(info.fadt.pm1a_control.address, 0xfe000404);
	CHECK_EQ(info.fadt.pm1b_control.address, 0x1004);
	CHECK_EQ(info.fadt.pm1b_control.bit_width, 16); /* width 0 filled in */
	CHECK(!info.fadt.i8042_present);
	CHECK(info.fadt.vga_not_present);
	CHECK(info.fadt.hardware_reduced);
	CHECK(!info.fadt.reset_supported); /* RESET_REG_SUP now clear */
}

UNIT_TEST(fadt_unusable_x_field_falls_back_to_32bit)
{
	uint8_t *fadt;

	build_platform();
	fadt = at(FADT_PHYS);
	/* PCI config space is no place for PM1: the 32-bit port is used. */
	put_gas(fadt + FADT_X_PM1A_CNT, ACPI_SPACE_PCI_CONFIG, 16, 2, 0x1f0040);
	put_le(fadt + FADT_PM1A_CNT, 0x1804, 4);
	checksum_table(FADT_PHYS);
	CHECK_EQ(init_with_rsdp(2), 0);
	CHECK_EQ(info.fadt.pm1a_control.space_id, ACPI_SPACE_IO);
	CHECK_EQ(info.fadt.pm1a_control.address, 0x1804);
}

UNIT_TEST(fadt_invalid_x_dsdt_falls_back_to_32bit_dsdt)
{
	build_platform();
	put_le(at(FADT_PHYS) + FADT_X_DSDT, SPARE_PHYS, 8); /* nothing there */
	checksum_table(FADT_PHYS);
	CHECK_EQ(init_with_rsdp(2), 0);
	CHECK_EQ(info.fadt.dsdt_phys, DSDT_PHYS);
	CHECK(info.s5.present);
	CHECK(warned("expected DSDT"));
}

/* ---- \_S5_ ---- */

/* Runs the scan over an exact-size heap copy, so ASan sees overreads. */
static int find_s5(const uint8_t *aml, size_t length, struct acpi_s5_info *s5)
{
	uint8_t *copy = malloc(length ? length : 1);
	int rc;

	memcpy(copy, aml, length);
	rc = acpi_aml_find_s5(copy, length, s5);
	free(copy);
	return rc;
}

UNIT_TEST(s5_integer_encodings)
{
	/* Name(_S5_, Package(4){Zero, One, Zero, Zero}) without root prefix. */
	static const uint8_t zero_one[] = { 0x08, '_', 'S', '5', '_', 0x12, 0x06, 0x04,
					    0x00, 0x01, 0x00, 0x00 };
	/* Package(2){WordPrefix 7, DWordPrefix 6} */
	static const uint8_t word_dword[] = { 0x08, 0x5c, '_', 'S', '5', '_', 0x12, 0x0a,
					      0x02, 0x0b, 0x07, 0x00, 0x0c, 0x06, 0, 0, 0 };
	/* Two-byte PkgLength (0x4a 0x00 = 10), Package(4){Byte 3, Word 4, Zero, Zero}. */
	static const uint8_t long_pkg_length[] = { 0x08, 0x5c, '_', 'S', '5', '_', 0x12, 0x4a,
						   0x00, 0x04, 0x0a, 0x03, 0x0b, 0x04, 0x00,
						   0x00, 0x00 };
	/* Old one-integer form: 0x0705 = SLP_TYPa 5, SLP_TYPb 7. */
	static const uint8_t one_element[] = { 0x08, '_', 'S', '5', '_', 0x12, 0x05, 0x01,
					       0x0b, 0x05, 0x07 };
	/* QWordPrefix and Ones are decoded; Ones is out of range. */
	static const uint8_t qword[] = { 0x08, '_', 'S', '5', '_', 0x12, 0x0c, 0x02, 0x0e,
					 0x02, 0, 0, 0, 0, 0, 0, 0, 0x01 };
	static const uint8_t ones[] = { 0x08, '_', 'S', '5', '_', 0x12, 0x04, 0x02, 0xff,
					0x00 };
	struct acpi_s5_info s5;

	CHECK_EQ(find_s5(zero_one, sizeof(zero_one), &s5), 0);
	CHECK(s5.present);
	CHECK_EQ(s5.slp_typ_a, 0);
	CHECK_EQ(s5.slp_typ_b, 1);
	CHECK_EQ(find_s5(word_dword, sizeof(word_dword), &s5), 0);
	CHECK_EQ(s5.slp_typ_a, 7);
	CHECK_EQ(s5.slp_typ_b, 6);
	CHECK_EQ(find_s5(long_pkg_length, sizeof(long_pkg_length), &s5), 0);
	CHECK_EQ(s5.slp_typ_a, 3);
	CHECK_EQ(s5.slp_typ_b, 4);
	CHECK_EQ(find_s5(one_element, sizeof(one_element), &s5), 0);
	CHECK_EQ(s5.slp_typ_a, 5);
	CHECK_EQ(s5.slp_typ_b, 7);
	CHECK_EQ(find_s5(qword, sizeof(qword), &s5), 0);
	CHECK_EQ(s5.slp_typ_a, 2);
	CHECK_EQ(s5.slp_typ_b, 1);
	CHECK_EQ(find_s5(ones, sizeof(ones), &s5), -ENOTSUP);
	CHECK(!s5.present);
}

UNIT_TEST(s5_decoys_and_malformed_packages)
{
	/* "_S5_" as a method name, then as a Name of an integer, then the real one. */
	static const uint8_t decoys[] = { 0x14, 0x06, '_', 'S', '5', '_', 0x00, 0xa4,
					  0x08, '_', 'S', '5', '_', 0x0a, 0x05,
					  0x08, '_', 'S', '5', '_', 0x12, 0x06, 0x02,
					  0x0a, 0x02, 0x0a, 0x03, 0x00 };
	/* PkgLength says 0x30 bytes; the buffer ends long before. */
	static const uint8_t past_end[] = { 0x08, '_', 'S', '5', '_', 0x12, 0x30, 0x02,
					    0x0a, 0x05 };
	/* Ends right after the PkgLength lead byte announces three more bytes. */
	static const uint8_t truncated_length[] = { 0x08, '_', 'S', '5', '_', 0x12, 0xc0 };
	/* Elements are names (needs an interpreter). */
	static const uint8_t named[] = { 0x08, '_', 'S', '5', '_', 0x12, 0x0a, 0x02,
					 'S', 'L', 'P', 'A', 'S', 'L', 'P', 'B' };
	/* Value too large for the 3-bit SLP_TYP. */
	static const uint8_t too_large[] = { 0x08, '_', 'S', '5', '_', 0x12, 0x05, 0x02,
					     0x0a, 0x08, 0x00 };
	static const uint8_t zero_elements[] = { 0x08, '_', 'S', '5', '_', 0x12, 0x02, 0x00 };
	static const uint8_t absent[] = { 0x08, '_', 'S', '4', '_', 0x12, 0x04, 0x02, 0x00,
					  0x00, '_', 'S', '5' };
	static const uint8_t name_at_end[] = { 0x08, '_', 'S', '5', '_' };
	static const uint8_t root_at_start[] = { 0x5c, '_', 'S', '5', '_', 0x12, 0x04, 0x02,
						 0x00, 0x00 };
	struct acpi_s5_info s5;

	CHECK_EQ(find_s5(decoys, sizeof(decoys), &s5), 0);
	CHECK_EQ(s5.slp_typ_a, 2);
	CHECK_EQ(s5.slp_typ_b, 3);
	CHECK_EQ(find_s5(past_end, sizeof(past_end), &s5), -ENOTSUP);
	CHECK_EQ(find_s5(truncated_length, sizeof(truncated_length), &s5), -ENOTSUP);
	CHECK_EQ(find_s5(named, sizeof(named), &s5), -ENOTSUP);
	CHECK_EQ(find_s5(too_large, sizeof(too_large), &s5), -ENOTSUP);
	CHECK_EQ(find_s5(zero_elements, sizeof(zero_elements), &s5), -ENOTSUP);
	CHECK(!s5.present);
	CHECK_EQ(find_s5(absent, sizeof(absent), &s5), -ENOENT);
	CHECK_EQ(find_s5(name_at_end, sizeof(name_at_end), &s5), -ENOTSUP);
	CHECK_EQ(find_s5(root_at_start, sizeof(root_at_start), &s5), -ENOENT);
	CHECK_EQ(find_s5(absent, 0, &s5), -ENOENT);
}

UNIT_TEST(s5_found_in_dsdt_through_acpi_init)
{
	build_platform();
	CHECK_EQ(init_with_rsdp(2), 0);
	CHECK(info.s5.present);
	CHECK_EQ(info.s5.slp_typ_a, 5);
	CHECK_EQ(info.s5.slp_typ_b, 5);
}

UNIT_TEST(s5_found_in_ssdt_when_dsdt_lacks_it)
{
	static const uint64_t tables[] = { FADT_PHYS, SSDT_PHYS, SSDT2_PHYS };
	static const uint8_t nothing[] = { 0xa3 };
	static const uint8_t s5_zero_seven[] = { 0x08, '_', 'S', '5', '_', 0x12, 0x05,
						 0x02, 0x00, 0x0a, 0x07 };

	build_platform();
	build_aml_table(DSDT_PHYS, "DSDT", nothing, sizeof(nothing));
	build_aml_table(SSDT_PHYS, "SSDT", nothing, sizeof(nothing));
	build_aml_table(SSDT2_PHYS, "SSDT", s5_zero_seven, sizeof(s5_zero_seven));
	build_root(XSDT_PHYS, true, tables, 3);
	CHECK_EQ(init_with_rsdp(2), 0);
	CHECK(info.s5.present);
	CHECK_EQ(info.s5.slp_typ_a, 0);
	CHECK_EQ(info.s5.slp_typ_b, 7);
}

UNIT_TEST(s5_missing_reported)
{
	static const uint8_t nothing[] = { 0xa3 };

	build_platform();
	build_aml_table(DSDT_PHYS, "DSDT", nothing, sizeof(nothing));
	CHECK_EQ(init_with_rsdp(2), 0);
	CHECK(!info.s5.present);
	/* The prologue's Method(_S5_) looks like a Name to the scan: "not
	 * decodable" rather than "absent"; either way soft-off is off. */
	CHECK(warned("ACPI soft-off unavailable"));
}

/* ---- lookup ---- */

UNIT_TEST(find_table_by_signature_and_instance)
{
	static const uint64_t tables[] = { SSDT_PHYS, HPET_PHYS, SSDT2_PHYS };
	static const uint8_t nothing[] = { 0xa3 };
	const struct acpi_table *table;

	build_platform();
	build_aml_table(SSDT_PHYS, "SSDT", nothing, sizeof(nothing));
	build_aml_table(SSDT2_PHYS, "SSDT", nothing, sizeof(nothing));
	build_root(XSDT_PHYS, true, tables, 3);
	CHECK_EQ(init_with_rsdp(2), 0);
	table = acpi_find_table(&info, "HPET", 0);
	CHECK(table != NULL);
	if (table) {
		CHECK_STR(table->signature, "HPET");
		CHECK_STR(table->oem_id, "KAPSEL");
		CHECK_STR(table->oem_table_id, "TESTTBL1");
		CHECK_EQ(table->phys, HPET_PHYS);
		CHECK_EQ(table->length, 56);
		CHECK_EQ(table->data[36], 0x01); /* event timer block id, low byte */
	}
	table = acpi_find_table(&info, "SSDT", 1);
	CHECK(table != NULL && table->phys == SSDT2_PHYS);
	CHECK(acpi_find_table(&info, "SSDT", 2) == NULL);
	CHECK(acpi_find_table(&info, "DMAR", 0) == NULL);
	CHECK(!info.fadt.present);
}

UNIT_TEST(more_tables_than_supported)
{
	uint64_t tables[ACPI_MAX_TABLES + 3];
	static const uint8_t nothing[] = { 0xa3 };

	build_platform();
	build_aml_table(SSDT_PHYS, "SSDT", nothing, sizeof(nothing));
	for (size_t i = 0; i < ACPI_MAX_TABLES + 3; i++)
		tables[i] = SSDT_PHYS;
	build_root(BIG_PHYS, true, tables, ACPI_MAX_TABLES + 3);
	{
		uint8_t rsdp[ACPI_RSDP_V2_LENGTH];
		size_t length = make_rsdp(rsdp, 2, (uint32_t)RSDT_PHYS, BIG_PHYS);

		CHECK_EQ(acpi_init(&fake_mapper, rsdp, length, 0, &info), 0);
	}
	CHECK_EQ(info.table_count, ACPI_MAX_TABLES);
	CHECK_EQ(info.tables_skipped, 3);
	CHECK(warned("more than 128 tables"));
}

/* ---- the pure half of power-off and reboot ---- */

UNIT_TEST(soft_off_method_from_fadt_and_s5)
{
	struct acpi_soft_off method;

	build_platform();
	build_fadt_rev1(FADT_PHYS, (uint32_t)DSDT_PHYS);
	CHECK_EQ(init_with_rsdp(0), 0);
	CHECK_EQ(acpi_soft_off_method(&info, &method), 0);
	CHECK_EQ(method.pm1a_control.address, 0xb004);
	CHECK_EQ(method.pm1b_control.address, 0xb008);
	CHECK_EQ(method.slp_typ_a, 5);
	CHECK_EQ(method.slp_typ_b, 5);
	CHECK_EQ(method.smi_command_port, 0xb2);
	CHECK_EQ(method.acpi_enable_value, 0xf1);
	CHECK(acpi_soft_off_needs_acpi_enable(&method, 0x0000));
	CHECK(!acpi_soft_off_needs_acpi_enable(&method, ACPI_PM1_SCI_EN));
	method.smi_command_port = 0;
	CHECK(!acpi_soft_off_needs_acpi_enable(&method, 0x0000));
}

UNIT_TEST(soft_off_unavailable_without_s5_or_fadt)
{
	static const uint8_t nothing[] = { 0xa3 };
	static const uint64_t tables[] = { MADT_PHYS };
	struct acpi_soft_off method;

	build_platform();
	build_aml_table(DSDT_PHYS, "DSDT", nothing, sizeof(nothing));
	CHECK_EQ(init_with_rsdp(2), 0);
	CHECK_EQ(acpi_soft_off_method(&info, &method), -ENODEV);

	build_platform();
	build_root(XSDT_PHYS, true, tables, 1);
	CHECK_EQ(init_with_rsdp(2), 0);
	CHECK_EQ(acpi_soft_off_method(&info, &method), -ENODEV);
	CHECK(warned("no FADT"));
}

UNIT_TEST(pm1_sleep_value_keeps_other_bits)
{
	/* SCI_EN and bit 1 kept, old SLP_TYP 7 replaced, SLP_EN only on request. */
	CHECK_EQ(acpi_pm1_sleep_value(0x1c03, 5, false), 0x1403);
	CHECK_EQ(acpi_pm1_sleep_value(0x1c03, 5, true), 0x3403);
	CHECK_EQ(acpi_pm1_sleep_value(0x2001, 0, false), 0x0001);
	CHECK_EQ(acpi_pm1_sleep_value(0x0000, 0xff, true), 0x3c00); /* masked to 3 bits */
}

UNIT_TEST(reset_method)
{
	struct acpi_reset_method reset;

	build_platform();
	CHECK_EQ(init_with_rsdp(2), 0);
	CHECK_EQ(acpi_reset_method(&info, &reset), 0);
	CHECK_EQ(reset.reg.space_id, ACPI_SPACE_IO);
	CHECK_EQ(reset.reg.address, 0xcf9);
	CHECK_EQ(reset.value, 0x06);

	/* PCI config space (bus 0) is allowed; an embedded controller is not. */
	put_gas(at(FADT_PHYS) + FADT_RESET_REG, ACPI_SPACE_PCI_CONFIG, 8, 1, 0x0000001f00000044ull);
	checksum_table(FADT_PHYS);
	CHECK_EQ(init_with_rsdp(2), 0);
	CHECK_EQ(acpi_reset_method(&info, &reset), 0);
	CHECK_EQ(reset.reg.space_id, ACPI_SPACE_PCI_CONFIG);
	put_gas(at(FADT_PHYS) + FADT_RESET_REG, 3, 8, 1, 0x44);
	checksum_table(FADT_PHYS);
	CHECK_EQ(init_with_rsdp(2), 0);
	CHECK_EQ(acpi_reset_method(&info, &reset), -ENOTSUP);

	/* RESET_REG_SUP clear. */
	put_le(at(FADT_PHYS) + FADT_FLAGS, 0, 4);
	put_gas(at(FADT_PHYS) + FADT_RESET_REG, ACPI_SPACE_IO, 8, 1, 0xcf9);
	checksum_table(FADT_PHYS);
	CHECK_EQ(init_with_rsdp(2), 0);
	CHECK_EQ(acpi_reset_method(&info, &reset), -ENODEV);

	/* An ACPI 1.0 FADT has no reset register at all. */
	build_fadt_rev1(FADT_PHYS, (uint32_t)DSDT_PHYS);
	CHECK_EQ(init_with_rsdp(2), 0);
	CHECK_EQ(acpi_reset_method(&info, &reset), -ENODEV);
}

/* Frees the mappings so LeakSanitizer sees a clean exit. */
__attribute__((destructor)) static void release_fake_memory(void)
{
	reset_fake();
}

UNIT_MAIN()

/*
 * ACPI table generation. Every table is a 36-byte header (signature,
 * length, revision, checksum making the bytes sum to 0, OEM and creator
 * IDs) and its body; tables point at each other by guest-physical address.
 * The DSDT is AML written byte by byte: a Name() of the \_S5 package (SLP_TYP
 * values for soft-off) and \_SB.PCI0, the PCI Express host bridge with its
 * bus, I/O and memory windows (_CRS), which Linux needs to scan PCI when
 * ACPI is on, and its INTx routing (_PRT). The AML package lengths are
 * computed, never counted by hand.
 */
#include <vdev/acpi_tables.h>

#include <stdbool.h>

#include <lib/errno.h>
#include <lib/string.h>
#include <vdev/platform.h>

#define HEADER 36u
#define RSDP_LENGTH 36u
#define FADT_LENGTH 276u /* revision 6 */
#define FACS_LENGTH 64u

struct builder {
	uint8_t *buffer;
	size_t size, used;
	uint64_t base;
	int error;
};

static void put8(uint8_t *p, uint8_t v)
{
	p[0] = v;
}

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

static void put32(uint8_t *p, uint32_t v)
{
	put16(p, (uint16_t)v);
	put16(p + 2, (uint16_t)(v >> 16));
}

static void put64(uint8_t *p, uint64_t v)
{
	put32(p, (uint32_t)v);
	put32(p + 4, (uint32_t)(v >> 32));
}

/* Fixed-width, unterminated text fields (signatures, IDs). */
static void put_chars(uint8_t *p, const char *text, size_t length)
{
	for (size_t i = 0; i < length; i++)
		p[i] = (uint8_t)text[i];
}

static uint8_t checksum(const uint8_t *p, size_t length)
{
	uint8_t sum = 0;
	for (size_t i = 0; i < length; i++)
		sum = (uint8_t)(sum + p[i]);
	return (uint8_t)-sum;
}

/* Reserves `length` zeroed bytes aligned to `align`; NULL when full. */
static uint8_t *reserve(struct builder *b, size_t length, size_t align, uint64_t *gpa)
{
	size_t at = (b->used + align - 1) & ~(align - 1);
	if (at > b->size || length > b->size - at) {
		b->error = -ENOSPC;
		return NULL;
	}
	memset(b->buffer + at, 0, length);
	b->used = at + length;
	*gpa = b->base + at;
	return b->buffer + at;
}

static void header(uint8_t *t, const char *signature, uint32_t length, uint8_t revision)
{
	put_chars(t, signature, 4);
	put32(t + 4, length);
	put8(t + 8, revision);
	put_chars(t + 10, "KAPSEL", 6);
	put_chars(t + 16, "KAPSELVM", 8);
	put32(t + 24, PLATFORM_HW_VERSION);
	put_chars(t + 28, "KAPS", 4);
	put32(t + 32, 1);
}

static void finish(uint8_t *t, uint32_t length)
{
	t[9] = 0;
	t[9] = checksum(t, length);
}

/* Generic address structure of an I/O register. */
static void gas_io(uint8_t *p, uint8_t bits, uint8_t access_size, uint16_t port)
{
	put8(p, 1); /* system I/O */
	put8(p + 1, bits);
	put8(p + 2, 0);
	put8(p + 3, access_size);
	put64(p + 4, port);
}

/* ---- AML ---- */

/* AML is written forward into the table's buffer; a package's length is
 * patched in when it closes (PkgLength in its 2-byte form, up to 4095
 * bytes, or the 1-byte form for the small ones). */
struct aml {
	uint8_t *bytes;
	size_t length, capacity;
	bool overflow;
};

static void aml_byte(struct aml *a, uint8_t v)
{
	if (a->length >= a->capacity) {
		a->overflow = true;
		return;
	}
	a->bytes[a->length++] = v;
}

static void aml_chars(struct aml *a, const char *text, size_t length)
{
	for (size_t i = 0; i < length; i++)
		aml_byte(a, (uint8_t)text[i]);
}

static void aml_word(struct aml *a, uint16_t v)
{
	aml_byte(a, (uint8_t)v);
	aml_byte(a, (uint8_t)(v >> 8));
}

static void aml_dword(struct aml *a, uint32_t v)
{
	aml_word(a, (uint16_t)v);
	aml_word(a, (uint16_t)(v >> 16));
}

/* Integer as the shortest constant. */
static void aml_integer(struct aml *a, uint32_t v)
{
	if (v == 0) {
		aml_byte(a, 0x00); /* ZeroOp */
	} else if (v == 1) {
		aml_byte(a, 0x01); /* OneOp */
	} else if (v <= 0xff) {
		aml_byte(a, 0x0a); /* BytePrefix */
		aml_byte(a, (uint8_t)v);
	} else if (v <= 0xffff) {
		aml_byte(a, 0x0b); /* WordPrefix */
		aml_word(a, (uint16_t)v);
	} else {
		aml_byte(a, 0x0c); /* DWordPrefix */
		aml_dword(a, v);
	}
}

/* EISA ID ("PNP0A08") as the compressed DWord constant. */
static void aml_eisa_id(struct aml *a, const char *id)
{
	uint32_t letters = (uint32_t)((id[0] - '@') << 10 | (id[1] - '@') << 5 | (id[2] - '@'));
	uint32_t product = 0;
	for (int i = 3; i < 7; i++) {
		char c = id[i];
		product = product << 4 | (uint32_t)(c <= '9' ? c - '0' : c - 'A' + 10);
	}
	aml_byte(a, 0x0c);
	aml_byte(a, (uint8_t)(letters >> 8));
	aml_byte(a, (uint8_t)letters);
	aml_byte(a, (uint8_t)(product >> 8));
	aml_byte(a, (uint8_t)product);
}

/* Name(seg, ...): the caller appends the value. */
static void aml_name(struct aml *a, const char *seg)
{
	aml_byte(a, 0x08); /* NameOp */
	aml_chars(a, seg, 4);
}

#define AML_SCOPE_OP 0x10
#define AML_BUFFER_OP 0x11
#define AML_PACKAGE_OP 0x12
#define AML_EXT_PREFIX 0x5b
#define AML_DEVICE_OP 0x82

/* Opens a package-length construct after its opcode; returns where its
 * PkgLength goes. */
static size_t aml_open(struct aml *a, bool small)
{
	size_t at = a->length;
	aml_byte(a, 0);
	if (!small)
		aml_byte(a, 0);
	return at;
}

static void aml_close(struct aml *a, size_t at, bool small)
{
	size_t length = a->length - at;
	if (a->overflow)
		return;
	if (small) {
		if (length > 63)
			a->overflow = true;
		else
			a->bytes[at] = (uint8_t)length;
		return;
	}
	if (length > 4095) {
		a->overflow = true;
		return;
	}
	a->bytes[at] = (uint8_t)(0x40 | (length & 0xf));
	a->bytes[at + 1] = (uint8_t)(length >> 4);
}

/* Address space descriptors of _CRS (ACPI 6.4.3.5). Flags 0x0c: the
 * minimum and maximum are fixed, positive decode, producer. */
static void crs_word_range(struct aml *a, uint8_t type, uint8_t type_flags, uint16_t min, uint16_t max)
{
	aml_byte(a, 0x88);
	aml_word(a, 13);
	aml_byte(a, type);
	aml_byte(a, 0x0c);
	aml_byte(a, type_flags);
	aml_word(a, 0);       /* granularity */
	aml_word(a, min);
	aml_word(a, max);
	aml_word(a, 0);       /* translation */
	aml_word(a, (uint16_t)(max - min + 1));
}

static void crs_dword_memory(struct aml *a, uint32_t min, uint32_t max)
{
	aml_byte(a, 0x87);
	aml_word(a, 23);
	aml_byte(a, 0);       /* memory */
	aml_byte(a, 0x0c);
	aml_byte(a, 0x01);    /* read/write, non-cacheable */
	aml_dword(a, 0);
	aml_dword(a, min);
	aml_dword(a, max);
	aml_dword(a, 0);
	aml_dword(a, max - min + 1);
}

#define PCI_SLOTS 32u
#define PCI_PINS 4u

/* _CRS of the host bridge: bus numbers, the config ports, the I/O windows
 * around them and the 32-bit memory window, in a Buffer. */
static void build_crs(struct aml *a)
{
	aml_name(a, "_CRS");
	aml_byte(a, AML_BUFFER_OP);
	size_t buffer = aml_open(a, false);
	aml_byte(a, 0x0b); /* BufferSize: WordConst, patched below */
	size_t size_at = a->length;
	aml_word(a, 0);
	size_t start = a->length;
	crs_word_range(a, 2, 0, PLATFORM_PCI_BUS_FIRST, PLATFORM_PCI_BUS_LAST);
	/* IO(Decode16, 0xcf8, 0xcf8, 1, 8): the configuration ports themselves */
	static const uint8_t config_ports[] = { 0x47, 0x01, 0xf8, 0x0c, 0xf8, 0x0c, 0x01, 0x08 };
	for (size_t i = 0; i < sizeof(config_ports); i++)
		aml_byte(a, config_ports[i]);
	/* I/O forwarded to the bus: everything but the config ports (type flags 3: entire range) */
	crs_word_range(a, 1, 3, 0x0000, PLATFORM_PORT_PCI_CONFIG - 1);
	crs_word_range(a, 1, 3, PLATFORM_PORT_PCI_CONFIG + 8, 0xffff);
	crs_dword_memory(a, (uint32_t)PLATFORM_PCI_MMIO_BASE,
			 (uint32_t)(PLATFORM_PCI_MMIO_BASE + PLATFORM_PCI_MMIO_SIZE - 1));
	aml_byte(a, 0x79); /* end tag, checksum 0: "valid" */
	aml_byte(a, 0x00);
	if (!a->overflow) {
		a->bytes[size_at] = (uint8_t)(a->length - start);
		a->bytes[size_at + 1] = (uint8_t)((a->length - start) >> 8);
	}
	aml_close(a, buffer, false);
}

/* _PRT: INTx of every slot and pin to its GSI (PCI INTx swizzle over the
 * 8 PCI GSIs), no link devices. */
static void build_prt(struct aml *a)
{
	aml_name(a, "_PRT");
	aml_byte(a, AML_PACKAGE_OP);
	size_t table = aml_open(a, false);
	aml_byte(a, PCI_SLOTS * PCI_PINS);
	for (uint32_t slot = 0; slot < PCI_SLOTS; slot++) {
		for (uint32_t pin = 0; pin < PCI_PINS; pin++) {
			aml_byte(a, AML_PACKAGE_OP);
			size_t entry = aml_open(a, true);
			aml_byte(a, 4);
			aml_byte(a, 0x0c); /* address: slot in the high word, any function */
			aml_dword(a, slot << 16 | 0xffff);
			aml_integer(a, pin);
			aml_integer(a, 0); /* source: none, the index is a GSI */
			aml_integer(a, PLATFORM_GSI_PCI_FIRST + (slot + pin) % PLATFORM_GSI_PCI_COUNT);
			aml_close(a, entry, true);
		}
	}
	aml_close(a, table, false);
}

static void build_dsdt_body(struct aml *a)
{
	/* Name(\_S5, Package(4) { S5, S5, 0, 0 }) */
	aml_name(a, "_S5_");
	aml_byte(a, AML_PACKAGE_OP);
	size_t s5 = aml_open(a, true);
	aml_byte(a, 4);
	aml_integer(a, PLATFORM_ACPI_SLP_TYP_S5);
	aml_integer(a, PLATFORM_ACPI_SLP_TYP_S5);
	aml_integer(a, 0);
	aml_integer(a, 0);
	aml_close(a, s5, true);

	/* Scope(\_SB) { Device(PCI0) { _HID _CID _SEG _BBN _UID _CRS _PRT } } */
	aml_byte(a, AML_SCOPE_OP);
	size_t scope = aml_open(a, false);
	aml_chars(a, "\\_SB_", 5);
	aml_byte(a, AML_EXT_PREFIX);
	aml_byte(a, AML_DEVICE_OP);
	size_t device = aml_open(a, false);
	aml_chars(a, "PCI0", 4);
	aml_name(a, "_HID");
	aml_eisa_id(a, "PNP0A08");
	aml_name(a, "_CID");
	aml_eisa_id(a, "PNP0A03");
	aml_name(a, "_SEG");
	aml_integer(a, 0);
	aml_name(a, "_BBN");
	aml_integer(a, PLATFORM_PCI_BUS_FIRST);
	aml_name(a, "_UID");
	aml_integer(a, 0);
	build_crs(a);
	build_prt(a);
	aml_close(a, device, false);
	aml_close(a, scope, false);
}

int acpi_tables_build(uint8_t *buffer, size_t size, const struct acpi_tables_params *params)
{
	struct builder b = { .buffer = buffer, .size = size, .base = params->base };
	uint32_t cpus = params->vcpu_count;
	uint64_t rsdp_gpa = 0, xsdt_gpa = 0, rsdt_gpa = 0, fadt_gpa = 0, facs_gpa = 0, dsdt_gpa = 0, madt_gpa = 0,
		 mcfg_gpa = 0;

	if (!cpus || cpus > ACPI_TABLES_MAX_VCPUS || params->base + size > 0x100000000ull)
		return -EINVAL;
	uint8_t *rsdp = reserve(&b, RSDP_LENGTH, 16, &rsdp_gpa);
	uint8_t *xsdt = reserve(&b, HEADER + 3 * 8, 8, &xsdt_gpa);
	uint8_t *rsdt = reserve(&b, HEADER + 3 * 4, 8, &rsdt_gpa);
	uint8_t *fadt = reserve(&b, FADT_LENGTH, 8, &fadt_gpa);
	uint8_t *facs = reserve(&b, FACS_LENGTH, 64, &facs_gpa);
	uint32_t madt_length = HEADER + 8 + 8 * cpus + 12 + 10 + 10 + 6;
	uint8_t *madt = reserve(&b, madt_length, 8, &madt_gpa);
	uint32_t mcfg_length = HEADER + 8 + 16;
	uint8_t *mcfg = reserve(&b, mcfg_length, 8, &mcfg_gpa);

	/* The DSDT last: its AML is written in place, its length known after. */
	uint8_t *dsdt = reserve(&b, HEADER, 8, &dsdt_gpa);
	if (b.error)
		return b.error;
	struct aml body = { .bytes = dsdt + HEADER, .capacity = b.size - b.used };
	build_dsdt_body(&body);
	if (body.overflow)
		return -ENOSPC;
	b.used += body.length;
	uint32_t dsdt_length = HEADER + (uint32_t)body.length;
	header(dsdt, "DSDT", dsdt_length, 2);
	finish(dsdt, dsdt_length);

	/* FACS: no checksum; the firmware waking vector stays 0 (no S3). */
	put_chars(facs, "FACS", 4);
	put32(facs + 4, FACS_LENGTH);
	put8(facs + 32, 2); /* version */

	/* FADT */
	header(fadt, "FACP", FADT_LENGTH, 6);
	put32(fadt + 36, (uint32_t)facs_gpa);
	put32(fadt + 40, (uint32_t)dsdt_gpa);
	put16(fadt + 46, PLATFORM_IRQ_SCI);
	put32(fadt + 56, PLATFORM_ACPI_PM1A_EVT);
	put32(fadt + 64, PLATFORM_ACPI_PM1A_CNT);
	put32(fadt + 76, PLATFORM_ACPI_PM_TMR);
	put8(fadt + 88, 4);   /* PM1_EVT_LEN */
	put8(fadt + 89, 2);   /* PM1_CNT_LEN */
	put8(fadt + 91, 4);   /* PM_TMR_LEN */
	put16(fadt + 96, 101);  /* no C2 */
	put16(fadt + 98, 1001); /* no C3 */
	put8(fadt + 108, 0x32); /* RTC century register (VRTC_CENTURY_INDEX) */
	/* IA-PC boot flags: legacy devices (PIC, PIT, RTC); no 8042; no VGA. */
	put16(fadt + 109, (1u << 0) | (1u << 2));
	/* WBINVD, PROC_C1, PWR_BUTTON and SLP_BUTTON absent, FIX_RTC (no RTC
	 * wake status), TMR_VAL_EXT (32-bit timer), RESET_REG_SUP. */
	put32(fadt + 112, (1u << 0) | (1u << 2) | (1u << 4) | (1u << 5) | (1u << 6) | (1u << 8) | (1u << 10));
	gas_io(fadt + 116, 8, 1, PLATFORM_ACPI_RESET_PORT);
	put8(fadt + 128, PLATFORM_ACPI_RESET_VALUE);
	put8(fadt + 131, 0);  /* minor version */
	put64(fadt + 140, dsdt_gpa);
	gas_io(fadt + 148, 32, 2, PLATFORM_ACPI_PM1A_EVT);
	gas_io(fadt + 172, 16, 2, PLATFORM_ACPI_PM1A_CNT);
	gas_io(fadt + 208, 32, 3, PLATFORM_ACPI_PM_TMR);
	put_chars(fadt + 268, "KapselVM", 8); /* hypervisor vendor identity */
	finish(fadt, FADT_LENGTH);

	/* MADT: LAPIC address, PCAT_COMPAT (there is an 8259 pair) */
	header(madt, "APIC", madt_length, 4);
	put32(madt + 36, (uint32_t)PLATFORM_LAPIC_BASE);
	put32(madt + 40, 1);
	uint8_t *e = madt + 44;
	for (uint32_t i = 0; i < cpus; i++, e += 8) {
		put8(e, 0);        /* processor local APIC */
		put8(e + 1, 8);
		put8(e + 2, (uint8_t)i); /* ACPI processor UID */
		put8(e + 3, (uint8_t)i); /* APIC ID */
		put32(e + 4, 1);   /* enabled */
	}
	put8(e, 1);                /* I/O APIC */
	put8(e + 1, 12);
	put8(e + 2, PLATFORM_IOAPIC_ID);
	put32(e + 4, (uint32_t)PLATFORM_IOAPIC_BASE);
	put32(e + 8, 0);           /* GSI base */
	e += 12;
	put8(e, 2);                /* IRQ 0 -> GSI 2, ISA defaults (edge, high) */
	put8(e + 1, 10);
	put8(e + 2, 0);
	put8(e + 3, PLATFORM_IRQ_PIT);
	put32(e + 4, PLATFORM_GSI_PIT);
	put16(e + 8, 0);
	e += 10;
	put8(e, 2);                /* SCI: IRQ 9 -> GSI 9, level, active high */
	put8(e + 1, 10);
	put8(e + 2, 0);
	put8(e + 3, PLATFORM_IRQ_SCI);
	put32(e + 4, PLATFORM_IRQ_SCI);
	put16(e + 8, 0x1 | 0x3 << 2);
	e += 10;
	put8(e, 4);                /* local APIC NMI: every processor, LINT1, edge high */
	put8(e + 1, 6);
	put8(e + 2, 0xff);
	put16(e + 3, 0x1 | 0x1 << 2);
	put8(e + 5, 1);
	finish(madt, madt_length);

	/* MCFG */
	header(mcfg, "MCFG", mcfg_length, 1);
	put64(mcfg + 44, PLATFORM_PCI_ECAM_BASE);
	put16(mcfg + 52, 0);
	put8(mcfg + 54, PLATFORM_PCI_BUS_FIRST);
	put8(mcfg + 55, PLATFORM_PCI_BUS_LAST);
	finish(mcfg, mcfg_length);

	/* XSDT and RSDT: FADT, MADT, MCFG */
	const uint64_t entries[3] = { fadt_gpa, madt_gpa, mcfg_gpa };
	header(xsdt, "XSDT", HEADER + 3 * 8, 1);
	header(rsdt, "RSDT", HEADER + 3 * 4, 1);
	for (size_t i = 0; i < 3; i++) {
		put64(xsdt + HEADER + 8 * i, entries[i]);
		put32(rsdt + HEADER + 4 * i, (uint32_t)entries[i]);
	}
	finish(xsdt, HEADER + 3 * 8);
	finish(rsdt, HEADER + 3 * 4);

	/* RSDP (revision 2): checksum over the first 20 bytes, extended over all 36 */
	put_chars(rsdp, "RSD PTR ", 8);
	put_chars(rsdp + 9, "KAPSEL", 6);
	put8(rsdp + 15, 2);
	put32(rsdp + 16, (uint32_t)rsdt_gpa);
	put32(rsdp + 20, RSDP_LENGTH);
	put64(rsdp + 24, xsdt_gpa);
	rsdp[8] = checksum(rsdp, 20);
	rsdp[32] = checksum(rsdp, RSDP_LENGTH);
	(void)rsdp_gpa;
	return (int)b.used;
}

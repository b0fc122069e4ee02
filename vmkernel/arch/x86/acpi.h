/*
 * ACPI static tables: the RSDP, the RSDT/XSDT and the tables the vmkernel
 * needs before it has any drivers (MADT, MCFG, FADT, and the \_S5_ object of
 * the DSDT). Pure parsing: physical memory is reached only through the
 * caller's mapper, so the same code runs in host unit tests.
 *
 * Every table is validated (length, checksum) before it is read; a bad one is
 * skipped with a warning naming it, never trusted.
 */
#ifndef KAPSEL_ARCH_X86_ACPI_H
#define KAPSEL_ARCH_X86_ACPI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define ACPI_RSDP_V1_LENGTH 20
#define ACPI_RSDP_V2_LENGTH 36
#define ACPI_HEADER_LENGTH 36
/* Longer tables are treated as corrupt: the largest real DSDTs are a few MiB. */
#define ACPI_TABLE_MAX_LENGTH (16u << 20)

#define ACPI_MAX_TABLES 128
#define ACPI_MAX_CPUS 256
#define ACPI_MAX_IOAPICS 32
#define ACPI_MAX_IRQ_OVERRIDES 48
#define ACPI_MAX_NMI_SOURCES 16
/* Firmware often lists one local APIC NMI entry per CPU. */
#define ACPI_MAX_LAPIC_NMIS ACPI_MAX_CPUS
#define ACPI_MAX_MCFG_SEGMENTS 16

/*
 * Makes [phys, phys + length) readable and returns its address, or NULL when
 * the range cannot be mapped. Mappings are never released: they must stay
 * valid as long as the struct acpi_info that holds the mapper (the vmkernel's
 * physmap does). power.c also writes device registers through a mapping of a
 * register's address (memory-space PM1 control or reset register), so the
 * mapping must be writable and, ideally, uncached.
 */
struct acpi_mapper {
	const void *(*map)(void *ctx, uint64_t phys, size_t length);
	void *ctx;
};

/* Generic Address Structure: where a register lives. */
enum acpi_address_space {
	ACPI_SPACE_MEMORY = 0,
	ACPI_SPACE_IO = 1,
	ACPI_SPACE_PCI_CONFIG = 2,
};

enum acpi_access_size {
	ACPI_ACCESS_UNDEFINED = 0,
	ACPI_ACCESS_BYTE = 1,
	ACPI_ACCESS_WORD = 2,
	ACPI_ACCESS_DWORD = 3,
	ACPI_ACCESS_QWORD = 4,
};

struct acpi_generic_address {
	uint8_t space_id;    /* enum acpi_address_space */
	uint8_t bit_width;
	uint8_t bit_offset;
	uint8_t access_size; /* enum acpi_access_size */
	uint64_t address;    /* 0: register absent */
};

/* One valid table, as listed by the RSDT/XSDT (plus the DSDT from the FADT). */
struct acpi_table {
	char signature[5];     /* NUL-terminated */
	char oem_id[7];        /* NUL-terminated, unprintable bytes as '?' */
	char oem_table_id[9];
	uint8_t revision;
	uint32_t length;       /* whole table, header included */
	uint64_t phys;
	const uint8_t *data;   /* mapped, checksum verified, `length` bytes */
};

/* MPS INTI flags of interrupt source overrides and NMI entries. */
enum acpi_polarity {
	ACPI_POLARITY_BUS_DEFAULT = 0, /* ISA: active high */
	ACPI_POLARITY_ACTIVE_HIGH = 1,
	ACPI_POLARITY_RESERVED = 2,
	ACPI_POLARITY_ACTIVE_LOW = 3,
};

enum acpi_trigger {
	ACPI_TRIGGER_BUS_DEFAULT = 0, /* ISA: edge */
	ACPI_TRIGGER_EDGE = 1,
	ACPI_TRIGGER_RESERVED = 2,
	ACPI_TRIGGER_LEVEL = 3,
};

struct acpi_cpu {
	uint32_t apic_id;       /* xAPIC ID, or x2APIC ID when x2apic */
	uint32_t processor_uid; /* ACPI processor UID */
	bool enabled;           /* false: online-capable, not present at boot */
	bool x2apic;            /* from a Local x2APIC entry */
};

struct acpi_ioapic {
	uint8_t id;
	uint32_t address;
	uint32_t gsi_base;
};

struct acpi_irq_override {
	uint8_t bus;        /* 0: ISA */
	uint8_t source_irq; /* bus-relative IRQ */
	uint32_t gsi;
	uint8_t polarity;   /* enum acpi_polarity */
	uint8_t trigger;    /* enum acpi_trigger */
};

struct acpi_nmi_source {
	uint32_t gsi;
	uint8_t polarity;
	uint8_t trigger;
};

#define ACPI_ALL_PROCESSORS 0xffffffffu

/* Which LINT pin of which local APIC is wired to NMI. */
struct acpi_lapic_nmi {
	uint32_t processor_uid; /* ACPI_ALL_PROCESSORS: every CPU */
	uint8_t lint;           /* 0 or 1 */
	uint8_t polarity;
	uint8_t trigger;
};

struct acpi_madt_info {
	bool present;        /* false: no usable MADT (assume one CPU) */
	bool pcat_compat;    /* dual 8259s present: mask them before APIC mode */
	uint64_t lapic_address; /* 64-bit override applied */
	uint32_t cpu_count;
	struct acpi_cpu cpus[ACPI_MAX_CPUS]; /* MADT order, usable ones only */
	uint32_t cpus_unusable;  /* neither enabled nor online-capable */
	uint32_t cpus_dropped;   /* usable, but past ACPI_MAX_CPUS */
	uint32_t ioapic_count;
	struct acpi_ioapic ioapics[ACPI_MAX_IOAPICS];
	uint32_t irq_override_count;
	struct acpi_irq_override irq_overrides[ACPI_MAX_IRQ_OVERRIDES];
	uint32_t nmi_source_count;
	struct acpi_nmi_source nmi_sources[ACPI_MAX_NMI_SOURCES];
	uint32_t lapic_nmi_count;
	struct acpi_lapic_nmi lapic_nmis[ACPI_MAX_LAPIC_NMIS];
	bool truncated; /* an entry with a bad length stopped the walk */
};

/* One PCIe ECAM window: bus N's config space at base + (N << 20). */
struct acpi_mcfg_segment {
	uint64_t base;       /* address of bus 0's space, even if start_bus > 0 */
	uint16_t segment;
	uint8_t start_bus;
	uint8_t end_bus;
};

struct acpi_mcfg_info {
	bool present;
	uint32_t segment_count;
	struct acpi_mcfg_segment segments[ACPI_MAX_MCFG_SEGMENTS];
};

/* FADT Flags bits used here. */
#define ACPI_FADT_TMR_VAL_EXT (1u << 8)
#define ACPI_FADT_RESET_REG_SUP (1u << 10)
#define ACPI_FADT_HW_REDUCED_ACPI (1u << 20)

/* IA-PC Boot Architecture Flags. */
#define ACPI_BOOT_ARCH_LEGACY_DEVICES (1u << 0)
#define ACPI_BOOT_ARCH_8042 (1u << 1)
#define ACPI_BOOT_ARCH_VGA_NOT_PRESENT (1u << 2)
#define ACPI_BOOT_ARCH_MSI_NOT_SUPPORTED (1u << 3)
#define ACPI_BOOT_ARCH_CMOS_RTC_NOT_PRESENT (1u << 5)

struct acpi_fadt_info {
	bool present;
	uint8_t revision;
	uint32_t flags;             /* ACPI_FADT_* */
	uint16_t sci_interrupt;     /* GSI (or 8259 IRQ) of the SCI */
	uint32_t smi_command_port;  /* 0: no legacy/ACPI mode switch */
	uint8_t acpi_enable_value;
	uint8_t acpi_disable_value;
	uint8_t century_cmos_index; /* 0: no RTC century register */
	uint16_t boot_arch_flags;   /* ACPI_BOOT_ARCH_*; 0 before FADT rev 3 */
	bool i8042_present;         /* assumed true before FADT rev 3 */
	bool vga_not_present;
	bool hardware_reduced;
	/* X_ fields win when usable, else the 32-bit I/O ports; address 0: absent. */
	struct acpi_generic_address pm1a_control;
	struct acpi_generic_address pm1b_control;
	struct acpi_generic_address pm_timer;
	bool pm_timer_32bit;
	bool reset_supported;       /* RESET_REG_SUP, FADT rev >= 2, address set */
	struct acpi_generic_address reset_register;
	uint8_t reset_value;
	uint64_t dsdt_phys;         /* X_DSDT when set, else DSDT */
};

/* SLP_TYPa/SLP_TYPb values for soft-off, from the \_S5_ package. */
struct acpi_s5_info {
	bool present;
	uint8_t slp_typ_a;
	uint8_t slp_typ_b;
};

struct acpi_info {
	struct acpi_mapper mapper;
	uint8_t rsdp_revision;
	char rsdp_oem_id[7];
	bool using_xsdt;
	uint64_t root_phys;          /* the RSDT/XSDT walked */
	uint32_t table_count;
	struct acpi_table tables[ACPI_MAX_TABLES];
	uint32_t tables_skipped;     /* failed validation or did not fit */
	struct acpi_madt_info madt;
	struct acpi_mcfg_info mcfg;
	struct acpi_fadt_info fadt;
	struct acpi_s5_info s5;
};

/*
 * Validates the RSDP copy (rsdp_phys only for messages and for an RSDP longer
 * than the copy), walks the XSDT (or the RSDT when the XSDT is absent or
 * invalid) and parses MADT, MCFG, FADT and \_S5_. `out` is fully rewritten.
 * Returns 0 when a root table was walked, even if some tables were missing
 * (see out->madt.present etc.); -ENODEV with no RSDP, -EINVAL when neither
 * the RSDP nor a root table is valid.
 */
int acpi_init(const struct acpi_mapper *mapper, const uint8_t *rsdp_copy,
	      size_t rsdp_length, uint64_t rsdp_phys, struct acpi_info *out);

/* The instance-th (from 0) valid table with this 4-character signature, or
 * NULL. */
const struct acpi_table *acpi_find_table(const struct acpi_info *info,
					 const char *signature,
					 unsigned int instance);

/*
 * Finds `Name(\_S5_, Package(){a, b, ...})` in AML by a byte scan — there is
 * no AML interpreter here. Limits: the package must be a literal whose first
 * elements are integer constants (Zero, One, Ones, Byte/Word/DWord/QWord
 * prefixes); an _S5_ defined by a Method, or whose elements are names, is not
 * understood; inside If/Else the first textual definition wins. A one-element
 * package carries SLP_TYPa in bits 0-7 and SLP_TYPb in bits 8-15 (an old
 * encoding). Returns 0, -ENOENT when no candidate was found, -ENOTSUP when one
 * was found but not decodable.
 */
int acpi_aml_find_s5(const uint8_t *aml, size_t length, struct acpi_s5_info *out);

/* GSI and signalling of an ISA IRQ, after the MADT's overrides. */
uint32_t acpi_isa_irq_to_gsi(const struct acpi_info *info, uint8_t irq,
			     uint8_t *polarity, uint8_t *trigger);

/* PM1 control register bits. */
#define ACPI_PM1_SCI_EN (1u << 0)
#define ACPI_PM1_SLP_TYP_SHIFT 10
#define ACPI_PM1_SLP_TYP_MASK (7u << ACPI_PM1_SLP_TYP_SHIFT)
#define ACPI_PM1_SLP_EN (1u << 13)

/* How to enter S5 through the PM1 control registers (the pure half of
 * power_off()). */
struct acpi_soft_off {
	struct acpi_generic_address pm1a_control;
	struct acpi_generic_address pm1b_control; /* address 0: none */
	uint8_t slp_typ_a;
	uint8_t slp_typ_b;
	uint32_t smi_command_port; /* 0: the platform is always in ACPI mode */
	uint8_t acpi_enable_value;
};

/* 0, or -ENODEV without FADT, \_S5_ or PM1a, -ENOTSUP when a PM1 control
 * block is in an address space other than I/O or memory. */
int acpi_soft_off_method(const struct acpi_info *info, struct acpi_soft_off *out);

/* Whether ACPI mode must be entered first (SCI_EN clear, SMI_CMD known). */
bool acpi_soft_off_needs_acpi_enable(const struct acpi_soft_off *method,
				     uint16_t pm1a_control_now);

/* The PM1 control value that keeps the other bits of `current` and sets
 * SLP_TYP (and SLP_EN when `enable`). */
uint16_t acpi_pm1_sleep_value(uint16_t current, uint8_t slp_typ, bool enable);

struct acpi_reset_method {
	struct acpi_generic_address reg; /* I/O, memory or PCI config (bus 0) */
	uint8_t value;
};

/* 0, or -ENODEV when the FADT offers no reset register, -ENOTSUP when it is
 * in an address space other than the three allowed. */
int acpi_reset_method(const struct acpi_info *info, struct acpi_reset_method *out);

#endif

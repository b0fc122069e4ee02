/*
 * ACPI static table parsing. Every multi-byte field is read byte by byte
 * (tables are little-endian and often unaligned), and every read is bounded
 * by a length that was validated first.
 */
#include <arch/x86/acpi.h>
#include <lib/errno.h>
#include <lib/log.h>
#include <lib/string.h>

/*
 * RSDP: "RSD PTR ", checksum over bytes 0-19 (the ACPI 1.0 part), OEM id,
 * revision, 32-bit RSDT address; from revision 2 on also a length, the 64-bit
 * XSDT address and an extended checksum over `length` bytes.
 */
#define RSDP_OFF_OEM_ID 9
#define RSDP_OFF_REVISION 15
#define RSDP_OFF_RSDT 16
#define RSDP_OFF_LENGTH 20
#define RSDP_OFF_XSDT 24
/* Far above the 36 bytes every revision so far uses: anything longer is junk. */
#define RSDP_MAX_LENGTH 4096

/* The header every system description table starts with. */
#define HEADER_OFF_LENGTH 4
#define HEADER_OFF_REVISION 8
#define HEADER_OFF_OEM_ID 10
#define HEADER_OFF_OEM_TABLE_ID 16

#define GAS_LENGTH 12

static uint64_t read_le(const uint8_t *p, unsigned int size)
{
	uint64_t value = 0;

	for (unsigned int i = size; i > 0; i--)
		value = (value << 8) | p[i - 1];
	return value;
}

static uint16_t read16(const uint8_t *p)
{
	return (uint16_t)read_le(p, 2);
}

static uint32_t read32(const uint8_t *p)
{
	return (uint32_t)read_le(p, 4);
}

static uint64_t read64(const uint8_t *p)
{
	return read_le(p, 8);
}

/* A field of a table that may be older (shorter) than the field: 0 then. */
static uint64_t read_field(const uint8_t *table, uint32_t length,
			   uint32_t offset, unsigned int size)
{
	if (offset > length || size > length - offset)
		return 0;
	return read_le(table + offset, size);
}

static bool read_gas_field(const uint8_t *table, uint32_t length,
			   uint32_t offset, struct acpi_generic_address *out)
{
	memset(out, 0, sizeof(*out));
	if (offset > length || GAS_LENGTH > length - offset)
		return false;
	out->space_id = table[offset];
	out->bit_width = table[offset + 1];
	out->bit_offset = table[offset + 2];
	out->access_size = table[offset + 3];
	out->address = read64(table + offset + 4);
	return true;
}

static uint8_t byte_sum(const uint8_t *p, size_t length)
{
	uint8_t sum = 0;

	for (size_t i = 0; i < length; i++)
		sum = (uint8_t)(sum + p[i]);
	return sum;
}

/* Copies an ID field for logging: firmware strings are not NUL-terminated
 * and not always printable. `dst` holds length + 1 bytes. */
static void copy_id(char *dst, const uint8_t *src, size_t length)
{
	for (size_t i = 0; i < length; i++)
		dst[i] = (src[i] >= 0x20 && src[i] < 0x7f) ? (char)src[i] : '?';
	dst[length] = '\0';
}

/* Maps a table and checks its signature (if `expected`), length and
 * checksum. NULL, with a warning naming the table, when it can't be trusted. */
static const uint8_t *map_table(const struct acpi_mapper *mapper, uint64_t phys,
				const char *expected, uint32_t *length_out)
{
	const char *what = expected ? expected : "table";
	const uint8_t *header;
	const uint8_t *table;
	char name[5];
	uint32_t length;

	if (phys == 0) {
		log_warn("ACPI: %s: null address, skipped\n", what);
		return NULL;
	}
	header = mapper->map(mapper->ctx, phys, ACPI_HEADER_LENGTH);
	if (!header) {
		log_warn("ACPI: %s at 0x%llx: header not mappable, skipped\n",
			 what, (unsigned long long)phys);
		return NULL;
	}
	copy_id(name, header, 4);
	if (expected && memcmp(header, expected, 4) != 0) {
		log_warn("ACPI: table at 0x%llx is '%s', expected %s; skipped\n",
			 (unsigned long long)phys, name, expected);
		return NULL;
	}
	length = read32(header + HEADER_OFF_LENGTH);
	if (length < ACPI_HEADER_LENGTH) {
		log_warn("ACPI: %s at 0x%llx: length %u is shorter than its header; skipped\n",
			 name, (unsigned long long)phys, length);
		return NULL;
	}
	if (length > ACPI_TABLE_MAX_LENGTH || phys + length < phys) {
		log_warn("ACPI: %s at 0x%llx: length %u is past the sane bound; skipped\n",
			 name, (unsigned long long)phys, length);
		return NULL;
	}
	table = mapper->map(mapper->ctx, phys, length);
	if (!table) {
		log_warn("ACPI: %s at 0x%llx: %u bytes not mappable; skipped\n",
			 name, (unsigned long long)phys, length);
		return NULL;
	}
	if (byte_sum(table, length) != 0) {
		log_warn("ACPI: %s at 0x%llx: bad checksum; skipped\n", name,
			 (unsigned long long)phys);
		return NULL;
	}
	*length_out = length;
	return table;
}

static void record_table(struct acpi_info *info, uint64_t phys,
			 const uint8_t *data, uint32_t length)
{
	struct acpi_table *table;

	if (info->table_count == ACPI_MAX_TABLES) {
		char name[5];

		copy_id(name, data, 4);
		log_warn("ACPI: more than %u tables; %s at 0x%llx ignored\n",
			 ACPI_MAX_TABLES, name, (unsigned long long)phys);
		info->tables_skipped++;
		return;
	}
	table = &info->tables[info->table_count++];
	copy_id(table->signature, data, 4);
	copy_id(table->oem_id, data + HEADER_OFF_OEM_ID, 6);
	copy_id(table->oem_table_id, data + HEADER_OFF_OEM_TABLE_ID, 8);
	table->revision = data[HEADER_OFF_REVISION];
	table->length = length;
	table->phys = phys;
	table->data = data;
	log_debug("ACPI: %s %s %s rev %u at 0x%llx, %u bytes\n", table->signature,
		  table->oem_id, table->oem_table_id, table->revision,
		  (unsigned long long)phys, length);
}

const struct acpi_table *acpi_find_table(const struct acpi_info *info,
					 const char *signature,
					 unsigned int instance)
{
	for (uint32_t i = 0; i < info->table_count; i++) {
		if (memcmp(info->tables[i].data, signature, 4) != 0)
			continue;
		if (instance-- == 0)
			return &info->tables[i];
	}
	return NULL;
}

/* The XSDT address of a revision >= 2 RSDP, or 0 when the extended part is
 * not trustworthy (the caller then uses the RSDT). */
static uint64_t rsdp_xsdt_address(const struct acpi_mapper *mapper,
				  const uint8_t *rsdp, size_t copy_length,
				  uint64_t rsdp_phys)
{
	const uint8_t *full = rsdp;
	uint32_t length;

	if (copy_length < ACPI_RSDP_V2_LENGTH) {
		log_warn("ACPI: RSDP revision %u, but only %zu bytes known; using the RSDT\n",
			 rsdp[RSDP_OFF_REVISION], copy_length);
		return 0;
	}
	length = read32(rsdp + RSDP_OFF_LENGTH);
	if (length < ACPI_RSDP_V2_LENGTH || length > RSDP_MAX_LENGTH) {
		log_warn("ACPI: RSDP length %u is invalid; using the RSDT\n", length);
		return 0;
	}
	if (length > copy_length) {
		full = rsdp_phys ? mapper->map(mapper->ctx, rsdp_phys, length) : NULL;
		if (!full) {
			log_warn("ACPI: RSDP is %u bytes, only %zu copied; using the RSDT\n",
				 length, copy_length);
			return 0;
		}
	}
	if (byte_sum(full, length) != 0) {
		log_warn("ACPI: RSDP extended checksum is bad; using the RSDT\n");
		return 0;
	}
	return read64(full + RSDP_OFF_XSDT);
}

static int walk_root_table(struct acpi_info *info, uint64_t phys, bool xsdt)
{
	const char *name = xsdt ? "XSDT" : "RSDT";
	unsigned int entry_size = xsdt ? 8 : 4;
	const uint8_t *root;
	uint32_t length;
	uint32_t count;

	root = map_table(&info->mapper, phys, name, &length);
	if (!root)
		return -EINVAL;
	if ((length - ACPI_HEADER_LENGTH) % entry_size != 0)
		log_warn("ACPI: %s length %u is not a whole number of entries\n",
			 name, length);
	count = (length - ACPI_HEADER_LENGTH) / entry_size;
	info->using_xsdt = xsdt;
	info->root_phys = phys;
	log_debug("ACPI: %s at 0x%llx, %u entries\n", name,
		  (unsigned long long)phys, count);

	for (uint32_t i = 0; i < count; i++) {
		uint64_t table_phys = read_le(root + ACPI_HEADER_LENGTH + (size_t)i * entry_size,
					      entry_size);
		const uint8_t *table;
		uint32_t table_length;

		table = map_table(&info->mapper, table_phys, NULL, &table_length);
		if (!table) {
			info->tables_skipped++;
			continue;
		}
		record_table(info, table_phys, table, table_length);
	}
	return 0;
}

/*
 * MADT: local APIC address (32-bit) and flags, then variable-length entries,
 * each starting with a type byte and a length byte.
 */
#define MADT_OFF_LAPIC_ADDRESS 36
#define MADT_OFF_FLAGS 40
#define MADT_OFF_ENTRIES 44
#define MADT_FLAG_PCAT_COMPAT (1u << 0)

#define MADT_CPU_ENABLED (1u << 0)
#define MADT_CPU_ONLINE_CAPABLE (1u << 1)
#define MADT_XAPIC_ID_INVALID 0xff
#define MADT_X2APIC_ID_INVALID 0xffffffffu
#define MADT_LAPIC_NMI_ALL_PROCESSORS 0xff

enum madt_entry_type {
	MADT_LOCAL_APIC = 0,
	MADT_IOAPIC = 1,
	MADT_IRQ_OVERRIDE = 2,
	MADT_NMI_SOURCE = 3,
	MADT_LAPIC_NMI = 4,
	MADT_LAPIC_ADDRESS_OVERRIDE = 5,
	MADT_LOCAL_X2APIC = 9,
	MADT_X2APIC_NMI = 10,
};

/* Shortest valid entry of each type this parser reads (0: not read). */
static const uint8_t madt_entry_min_length[] = {
	[MADT_LOCAL_APIC] = 8,
	[MADT_IOAPIC] = 12,
	[MADT_IRQ_OVERRIDE] = 10,
	[MADT_NMI_SOURCE] = 8,
	[MADT_LAPIC_NMI] = 6,
	[MADT_LAPIC_ADDRESS_OVERRIDE] = 12,
	[MADT_LOCAL_X2APIC] = 16,
	[MADT_X2APIC_NMI] = 12,
};

static void madt_add_cpu(struct acpi_madt_info *madt, uint32_t apic_id,
			 uint32_t processor_uid, uint32_t flags, bool x2apic)
{
	bool enabled = flags & MADT_CPU_ENABLED;
	struct acpi_cpu *cpu;

	if (!enabled && !(flags & MADT_CPU_ONLINE_CAPABLE)) {
		madt->cpus_unusable++;
		return;
	}
	/* Firmware may list a CPU both as xAPIC and x2APIC: keep the first. */
	for (uint32_t i = 0; i < madt->cpu_count; i++) {
		if (madt->cpus[i].apic_id == apic_id)
			return;
	}
	if (madt->cpu_count == ACPI_MAX_CPUS) {
		madt->cpus_dropped++;
		return;
	}
	cpu = &madt->cpus[madt->cpu_count++];
	cpu->apic_id = apic_id;
	cpu->processor_uid = processor_uid;
	cpu->enabled = enabled;
	cpu->x2apic = x2apic;
}

static void madt_parse_entry(struct acpi_madt_info *madt, const uint8_t *entry,
			     uint64_t *lapic_address_override)
{
	uint16_t inti_flags;

	switch (entry[0]) {
	case MADT_LOCAL_APIC:
		if (entry[3] == MADT_XAPIC_ID_INVALID)
			break;
		madt_add_cpu(madt, entry[3], entry[2], read32(entry + 4), false);
		break;
	case MADT_LOCAL_X2APIC:
		if (read32(entry + 4) == MADT_X2APIC_ID_INVALID)
			break;
		madt_add_cpu(madt, read32(entry + 4), read32(entry + 12),
			     read32(entry + 8), true);
		break;
	case MADT_IOAPIC:
		if (madt->ioapic_count == ACPI_MAX_IOAPICS) {
			log_warn("ACPI: MADT: more than %u IOAPICs, ignoring id %u\n",
				 ACPI_MAX_IOAPICS, entry[2]);
			break;
		}
		madt->ioapics[madt->ioapic_count++] = (struct acpi_ioapic){
			.id = entry[2],
			.address = read32(entry + 4),
			.gsi_base = read32(entry + 8),
		};
		break;
	case MADT_IRQ_OVERRIDE:
		if (madt->irq_override_count == ACPI_MAX_IRQ_OVERRIDES) {
			log_warn("ACPI: MADT: too many interrupt overrides, ignoring IRQ %u\n",
				 entry[3]);
			break;
		}
		inti_flags = read16(entry + 8);
		madt->irq_overrides[madt->irq_override_count++] = (struct acpi_irq_override){
			.bus = entry[2],
			.source_irq = entry[3],
			.gsi = read32(entry + 4),
			.polarity = inti_flags & 3,
			.trigger = (inti_flags >> 2) & 3,
		};
		break;
	case MADT_NMI_SOURCE:
		if (madt->nmi_source_count == ACPI_MAX_NMI_SOURCES)
			break;
		inti_flags = read16(entry + 2);
		madt->nmi_sources[madt->nmi_source_count++] = (struct acpi_nmi_source){
			.gsi = read32(entry + 4),
			.polarity = inti_flags & 3,
			.trigger = (inti_flags >> 2) & 3,
		};
		break;
	case MADT_LAPIC_NMI:
		if (madt->lapic_nmi_count == ACPI_MAX_LAPIC_NMIS)
			break;
		inti_flags = read16(entry + 3);
		madt->lapic_nmis[madt->lapic_nmi_count++] = (struct acpi_lapic_nmi){
			.processor_uid = entry[2] == MADT_LAPIC_NMI_ALL_PROCESSORS ?
						 ACPI_ALL_PROCESSORS : entry[2],
			.lint = entry[5],
			.polarity = inti_flags & 3,
			.trigger = (inti_flags >> 2) & 3,
		};
		break;
	case MADT_X2APIC_NMI:
		if (madt->lapic_nmi_count == ACPI_MAX_LAPIC_NMIS)
			break;
		inti_flags = read16(entry + 2);
		madt->lapic_nmis[madt->lapic_nmi_count++] = (struct acpi_lapic_nmi){
			.processor_uid = read32(entry + 4),
			.lint = entry[8],
			.polarity = inti_flags & 3,
			.trigger = (inti_flags >> 2) & 3,
		};
		break;
	case MADT_LAPIC_ADDRESS_OVERRIDE:
		*lapic_address_override = read64(entry + 4);
		break;
	default:
		break; /* entry kinds the vmkernel has no use for */
	}
}

static void parse_madt(struct acpi_madt_info *madt, const uint8_t *table,
		       uint32_t length)
{
	uint64_t lapic_address_override = 0;
	uint32_t offset = MADT_OFF_ENTRIES;

	if (length < MADT_OFF_ENTRIES) {
		log_warn("ACPI: MADT is %u bytes, too short; ignored\n", length);
		return;
	}
	madt->present = true;
	madt->lapic_address = read32(table + MADT_OFF_LAPIC_ADDRESS);
	madt->pcat_compat = read32(table + MADT_OFF_FLAGS) & MADT_FLAG_PCAT_COMPAT;

	while (offset + 2 <= length) {
		const uint8_t *entry = table + offset;
		uint8_t type = entry[0];
		uint8_t entry_length = entry[1];

		/* A bad length leaves no way to find the next entry. */
		if (entry_length < 2 || entry_length > length - offset) {
			log_warn("ACPI: MADT entry type %u at offset %u has length %u; "
				 "ignoring the rest of the MADT\n",
				 type, offset, entry_length);
			madt->truncated = true;
			break;
		}
		if (type < sizeof(madt_entry_min_length) &&
		    entry_length < madt_entry_min_length[type]) {
			log_warn("ACPI: MADT entry type %u at offset %u is too short (%u); skipped\n",
				 type, offset, entry_length);
		} else {
			madt_parse_entry(madt, entry, &lapic_address_override);
		}
		offset += entry_length;
	}
	if (lapic_address_override)
		madt->lapic_address = lapic_address_override;
	if (madt->cpus_dropped)
		log_warn("ACPI: MADT lists %u more CPUs than the %u supported\n",
			 madt->cpus_dropped, ACPI_MAX_CPUS);
	log_info("ACPI: MADT: %u CPUs (%u unusable), %u IOAPICs, %u IRQ overrides, "
		 "%u NMI entries, LAPIC at 0x%llx%s\n",
		 madt->cpu_count, madt->cpus_unusable, madt->ioapic_count,
		 madt->irq_override_count,
		 madt->nmi_source_count + madt->lapic_nmi_count,
		 (unsigned long long)madt->lapic_address,
		 madt->pcat_compat ? ", 8259 PICs present" : "");
}

/* MCFG: 8 reserved bytes, then 16-byte ECAM allocations. */
#define MCFG_OFF_ENTRIES 44
#define MCFG_ENTRY_LENGTH 16

static void parse_mcfg(struct acpi_mcfg_info *mcfg, const uint8_t *table,
		       uint32_t length)
{
	uint32_t count;

	if (length < MCFG_OFF_ENTRIES) {
		log_warn("ACPI: MCFG is %u bytes, too short; ignored\n", length);
		return;
	}
	if ((length - MCFG_OFF_ENTRIES) % MCFG_ENTRY_LENGTH != 0)
		log_warn("ACPI: MCFG length %u is not a whole number of entries\n",
			 length);
	mcfg->present = true;
	count = (length - MCFG_OFF_ENTRIES) / MCFG_ENTRY_LENGTH;
	for (uint32_t i = 0; i < count; i++) {
		const uint8_t *entry = table + MCFG_OFF_ENTRIES + (size_t)i * MCFG_ENTRY_LENGTH;
		struct acpi_mcfg_segment segment = {
			.base = read64(entry),
			.segment = read16(entry + 8),
			.start_bus = entry[10],
			.end_bus = entry[11],
		};

		if (segment.base == 0 || segment.start_bus > segment.end_bus) {
			log_warn("ACPI: MCFG entry %u (segment %u, buses %u-%u) is invalid; skipped\n",
				 i, segment.segment, segment.start_bus, segment.end_bus);
			continue;
		}
		if (mcfg->segment_count == ACPI_MAX_MCFG_SEGMENTS) {
			log_warn("ACPI: MCFG: more than %u segments; rest ignored\n",
				 ACPI_MAX_MCFG_SEGMENTS);
			break;
		}
		mcfg->segments[mcfg->segment_count++] = segment;
		log_debug("ACPI: ECAM segment %u buses %u-%u at 0x%llx\n",
			  segment.segment, segment.start_bus, segment.end_bus,
			  (unsigned long long)segment.base);
	}
}

/*
 * FADT ("FACP"). Revision 1 (ACPI 1.0) ends after Flags at 116 bytes;
 * later revisions append the reset register and the 64-bit X_ fields, so
 * every field past 36 is read through read_field(), which yields 0 beyond
 * the table's end.
 */
#define FADT_OFF_DSDT 40
#define FADT_OFF_SCI_INT 46
#define FADT_OFF_SMI_CMD 48
#define FADT_OFF_ACPI_ENABLE 52
#define FADT_OFF_ACPI_DISABLE 53
#define FADT_OFF_PM1A_CNT_BLK 64
#define FADT_OFF_PM1B_CNT_BLK 68
#define FADT_OFF_PM_TMR_BLK 76
#define FADT_OFF_PM1_CNT_LEN 89
#define FADT_OFF_PM_TMR_LEN 91
#define FADT_OFF_CENTURY 108
#define FADT_OFF_IAPC_BOOT_ARCH 109
#define FADT_OFF_FLAGS 112
#define FADT_OFF_RESET_REG 116
#define FADT_OFF_RESET_VALUE 128
#define FADT_OFF_X_DSDT 140
#define FADT_OFF_X_PM1A_CNT_BLK 172
#define FADT_OFF_X_PM1B_CNT_BLK 184
#define FADT_OFF_X_PM_TMR_BLK 208
/* The reset register arrived with FADT revision 2, IAPC_BOOT_ARCH with 3. */
#define FADT_REVISION_RESET_REG 2
#define FADT_REVISION_BOOT_ARCH 3

static bool space_is_io_or_memory(uint8_t space_id)
{
	return space_id == ACPI_SPACE_IO || space_id == ACPI_SPACE_MEMORY;
}

/*
 * The spec's rule for the FADT's doubled fields: an X_ field that is nonzero
 * and usable (I/O or memory space) supersedes the 32-bit port field, which
 * is otherwise an I/O port (0: block absent) of `block_length` bytes.
 */
static struct acpi_generic_address fadt_register(const uint8_t *fadt,
						 uint32_t length,
						 uint32_t extended_offset,
						 uint32_t port_offset,
						 uint8_t block_length,
						 uint8_t access_size)
{
	struct acpi_generic_address reg;
	uint32_t port;

	if (read_gas_field(fadt, length, extended_offset, &reg) &&
	    reg.address != 0 && space_is_io_or_memory(reg.space_id)) {
		if (reg.bit_width == 0)
			reg.bit_width = (uint8_t)(block_length * 8);
		return reg;
	}
	memset(&reg, 0, sizeof(reg));
	port = (uint32_t)read_field(fadt, length, port_offset, 4);
	if (port != 0) {
		reg.space_id = ACPI_SPACE_IO;
		reg.bit_width = (uint8_t)(block_length * 8);
		reg.access_size = access_size;
		reg.address = port;
	}
	return reg;
}

static void parse_fadt(struct acpi_fadt_info *fadt, const uint8_t *table,
		       uint32_t length)
{
	uint8_t revision = table[HEADER_OFF_REVISION];
	uint8_t pm1_control_length;
	uint64_t x_dsdt;
	uint32_t dsdt;

	fadt->present = true;
	fadt->revision = revision;
	fadt->flags = (uint32_t)read_field(table, length, FADT_OFF_FLAGS, 4);
	fadt->sci_interrupt = (uint16_t)read_field(table, length, FADT_OFF_SCI_INT, 2);
	fadt->smi_command_port = (uint32_t)read_field(table, length, FADT_OFF_SMI_CMD, 4);
	fadt->acpi_enable_value = (uint8_t)read_field(table, length, FADT_OFF_ACPI_ENABLE, 1);
	fadt->acpi_disable_value = (uint8_t)read_field(table, length, FADT_OFF_ACPI_DISABLE, 1);
	fadt->century_cmos_index = (uint8_t)read_field(table, length, FADT_OFF_CENTURY, 1);
	fadt->hardware_reduced = fadt->flags & ACPI_FADT_HW_REDUCED_ACPI;
	fadt->pm_timer_32bit = fadt->flags & ACPI_FADT_TMR_VAL_EXT;

	/* Before revision 3 the field was reserved: assume a legacy PC. */
	if (revision >= FADT_REVISION_BOOT_ARCH) {
		fadt->boot_arch_flags = (uint16_t)read_field(table, length,
							     FADT_OFF_IAPC_BOOT_ARCH, 2);
		fadt->i8042_present = fadt->boot_arch_flags & ACPI_BOOT_ARCH_8042;
		fadt->vga_not_present = fadt->boot_arch_flags & ACPI_BOOT_ARCH_VGA_NOT_PRESENT;
	} else {
		fadt->i8042_present = true;
	}

	pm1_control_length = (uint8_t)read_field(table, length, FADT_OFF_PM1_CNT_LEN, 1);
	if (pm1_control_length < 2)
		pm1_control_length = 2; /* the spec's minimum */
	fadt->pm1a_control = fadt_register(table, length, FADT_OFF_X_PM1A_CNT_BLK,
					   FADT_OFF_PM1A_CNT_BLK, pm1_control_length,
					   ACPI_ACCESS_WORD);
	fadt->pm1b_control = fadt_register(table, length, FADT_OFF_X_PM1B_CNT_BLK,
					   FADT_OFF_PM1B_CNT_BLK, pm1_control_length,
					   ACPI_ACCESS_WORD);
	fadt->pm_timer = fadt_register(table, length, FADT_OFF_X_PM_TMR_BLK,
				       FADT_OFF_PM_TMR_BLK,
				       (uint8_t)read_field(table, length, FADT_OFF_PM_TMR_LEN, 1),
				       ACPI_ACCESS_DWORD);

	if (revision >= FADT_REVISION_RESET_REG &&
	    read_gas_field(table, length, FADT_OFF_RESET_REG, &fadt->reset_register) &&
	    FADT_OFF_RESET_VALUE < length) {
		fadt->reset_value = table[FADT_OFF_RESET_VALUE];
		fadt->reset_supported = (fadt->flags & ACPI_FADT_RESET_REG_SUP) &&
					fadt->reset_register.address != 0;
	} else {
		memset(&fadt->reset_register, 0, sizeof(fadt->reset_register));
	}

	x_dsdt = read_field(table, length, FADT_OFF_X_DSDT, 8);
	dsdt = (uint32_t)read_field(table, length, FADT_OFF_DSDT, 4);
	if (x_dsdt != 0 && dsdt != 0 && x_dsdt != dsdt)
		log_warn("ACPI: FADT: DSDT 0x%x and X_DSDT 0x%llx differ; using X_DSDT\n",
			 dsdt, (unsigned long long)x_dsdt);
	fadt->dsdt_phys = x_dsdt ? x_dsdt : dsdt;

	log_debug("ACPI: FADT rev %u: SCI %u, SMI_CMD 0x%x, PM1a_CNT 0x%llx, "
		  "reset %s, boot arch 0x%x\n",
		  revision, fadt->sci_interrupt, fadt->smi_command_port,
		  (unsigned long long)fadt->pm1a_control.address,
		  fadt->reset_supported ? "supported" : "not supported",
		  fadt->boot_arch_flags);
}

/* Maps the DSDT named by the FADT; falls back to the 32-bit DSDT field when
 * X_DSDT points at something invalid and the two disagree. */
static void load_dsdt(struct acpi_info *info, const uint8_t *fadt,
		      uint32_t fadt_length)
{
	uint32_t dsdt32 = (uint32_t)read_field(fadt, fadt_length, FADT_OFF_DSDT, 4);
	uint64_t phys = info->fadt.dsdt_phys;
	const uint8_t *table;
	uint32_t length;

	if (phys == 0) {
		log_warn("ACPI: FADT names no DSDT\n");
		return;
	}
	table = map_table(&info->mapper, phys, "DSDT", &length);
	if (!table && dsdt32 != 0 && dsdt32 != phys) {
		log_warn("ACPI: trying the FADT's 32-bit DSDT address 0x%x\n", dsdt32);
		phys = dsdt32;
		table = map_table(&info->mapper, phys, "DSDT", &length);
	}
	if (!table) {
		info->tables_skipped++;
		return;
	}
	info->fadt.dsdt_phys = phys;
	record_table(info, phys, table, length);
}

/*
 * AML encodings used by the \_S5_ scan: NameOp NameString DataRefObject,
 * where the object is PackageOp PkgLength NumElements elements...
 */
#define AML_ZERO_OP 0x00
#define AML_ONE_OP 0x01
#define AML_NAME_OP 0x08
#define AML_BYTE_PREFIX 0x0a
#define AML_WORD_PREFIX 0x0b
#define AML_DWORD_PREFIX 0x0c
#define AML_QWORD_PREFIX 0x0e
#define AML_PACKAGE_OP 0x12
#define AML_ROOT_CHAR 0x5c
#define AML_ONES_OP 0xff
/* SLP_TYP is a 3-bit field of PM1 control. */
#define SLP_TYP_MAX 7

/*
 * PkgLength: bits 7-6 of the lead byte count the bytes that follow (0-3).
 * With none, bits 5-0 are the length; otherwise bits 3-0 are its low nibble
 * and each following byte adds 8 higher bits. The length counts the PkgLength
 * bytes themselves and everything up to the end of the package.
 */
static int aml_decode_pkg_length(const uint8_t *p, size_t available,
				 size_t *pkg_length, size_t *encoded_length)
{
	size_t follow;
	size_t value;

	if (available < 1)
		return -EINVAL;
	follow = p[0] >> 6;
	if (available < 1 + follow)
		return -EINVAL;
	if (follow == 0) {
		value = p[0] & 0x3f;
	} else {
		value = p[0] & 0x0f;
		for (size_t i = 0; i < follow; i++)
			value |= (size_t)p[1 + i] << (4 + 8 * i);
	}
	*pkg_length = value;
	*encoded_length = 1 + follow;
	return 0;
}

/* One integer constant; *used is the number of bytes it took. */
static int aml_decode_integer(const uint8_t *p, size_t available,
			      uint64_t *value, size_t *used)
{
	unsigned int data_size;

	if (available < 1)
		return -EINVAL;
	switch (p[0]) {
	case AML_ZERO_OP:
		*value = 0;
		*used = 1;
		return 0;
	case AML_ONE_OP:
		*value = 1;
		*used = 1;
		return 0;
	case AML_ONES_OP:
		*value = ~0ul;
		*used = 1;
		return 0;
	case AML_BYTE_PREFIX:
		data_size = 1;
		break;
	case AML_WORD_PREFIX:
		data_size = 2;
		break;
	case AML_DWORD_PREFIX:
		data_size = 4;
		break;
	case AML_QWORD_PREFIX:
		data_size = 8;
		break;
	default:
		return -ENOTSUP; /* a name, a method call...: needs an interpreter */
	}
	if (available < 1 + data_size)
		return -EINVAL;
	*value = read_le(p + 1, data_size);
	*used = 1 + data_size;
	return 0;
}

/* Decodes `PackageOp PkgLength NumElements a [b ...]` at p. */
static int aml_decode_s5_package(const uint8_t *p, size_t available,
				 struct acpi_s5_info *out)
{
	size_t pkg_length, encoded_length, position, end, used;
	uint64_t type_a, type_b;
	uint8_t element_count;

	if (available < 1 || p[0] != AML_PACKAGE_OP)
		return -ENOTSUP;
	if (aml_decode_pkg_length(p + 1, available - 1, &pkg_length, &encoded_length))
		return -EINVAL;
	/* The package must hold its own PkgLength and NumElements, and fit. */
	if (pkg_length < encoded_length + 1 || pkg_length > available - 1)
		return -EINVAL;
	end = 1 + pkg_length;
	position = 1 + encoded_length;
	element_count = p[position++];
	if (element_count == 0)
		return -EINVAL;
	if (aml_decode_integer(p + position, end - position, &type_a, &used))
		return -ENOTSUP;
	position += used;
	if (element_count >= 2) {
		if (aml_decode_integer(p + position, end - position, &type_b, &used))
			return -ENOTSUP;
	} else {
		/* Old single-integer form: SLP_TYPa in bits 0-7, SLP_TYPb in 8-15. */
		type_b = (type_a >> 8) & 0xff;
		type_a &= 0xff;
	}
	if (type_a > SLP_TYP_MAX || type_b > SLP_TYP_MAX)
		return -ERANGE;
	out->present = true;
	out->slp_typ_a = (uint8_t)type_a;
	out->slp_typ_b = (uint8_t)type_b;
	return 0;
}

int acpi_aml_find_s5(const uint8_t *aml, size_t length, struct acpi_s5_info *out)
{
	int result = -ENOENT;

	memset(out, 0, sizeof(*out));
	for (size_t i = 1; i + 4 <= length; i++) {
		size_t name_start = i;

		if (aml[i] != '_' || memcmp(aml + i, "_S5_", 4) != 0)
			continue;
		if (aml[i - 1] == AML_ROOT_CHAR) {
			if (i < 2)
				continue;
			name_start = i - 1;
		}
		if (aml[name_start - 1] != AML_NAME_OP)
			continue;
		if (aml_decode_s5_package(aml + i + 4, length - (i + 4), out) == 0)
			return 0;
		/* Keep looking: the bytes may belong to something else. */
		result = -ENOTSUP;
	}
	return result;
}

/* \_S5_ normally lives in the DSDT; some firmware defines it in an SSDT. */
static void find_s5(struct acpi_info *info)
{
	const struct acpi_table *table = acpi_find_table(info, "DSDT", 0);
	int result = -ENOENT;

	for (unsigned int ssdt = 0; table; table = acpi_find_table(info, "SSDT", ssdt++)) {
		int rc = acpi_aml_find_s5(table->data + ACPI_HEADER_LENGTH,
					  table->length - ACPI_HEADER_LENGTH, &info->s5);

		if (rc == 0) {
			log_debug("ACPI: \\_S5_ in %s: SLP_TYPa %u, SLP_TYPb %u\n",
				  table->signature, info->s5.slp_typ_a,
				  info->s5.slp_typ_b);
			return;
		}
		if (rc != -ENOENT)
			result = rc;
	}
	if (result == -ENOENT)
		log_warn("ACPI: no \\_S5_ object; ACPI soft-off unavailable\n");
	else
		log_warn("ACPI: \\_S5_ is not a literal package of integers; "
			 "ACPI soft-off unavailable\n");
}

int acpi_init(const struct acpi_mapper *mapper, const uint8_t *rsdp_copy,
	      size_t rsdp_length, uint64_t rsdp_phys, struct acpi_info *out)
{
	const struct acpi_table *table;
	uint64_t xsdt_phys = 0;
	uint32_t rsdt_phys;
	int rc = -EINVAL;

	memset(out, 0, sizeof(*out));
	if (!mapper || !mapper->map)
		return -EINVAL;
	out->mapper = *mapper;
	if (!rsdp_copy || rsdp_length == 0) {
		log_warn("ACPI: the boot loader found no RSDP\n");
		return -ENODEV;
	}
	if (rsdp_length < ACPI_RSDP_V1_LENGTH || memcmp(rsdp_copy, "RSD PTR ", 8) != 0) {
		log_error("ACPI: RSDP signature is bad\n");
		return -EINVAL;
	}
	if (byte_sum(rsdp_copy, ACPI_RSDP_V1_LENGTH) != 0) {
		log_error("ACPI: RSDP checksum is bad\n");
		return -EINVAL;
	}
	out->rsdp_revision = rsdp_copy[RSDP_OFF_REVISION];
	copy_id(out->rsdp_oem_id, rsdp_copy + RSDP_OFF_OEM_ID, 6);
	rsdt_phys = read32(rsdp_copy + RSDP_OFF_RSDT);
	log_debug("ACPI: RSDP rev %u %s at 0x%llx\n", out->rsdp_revision,
		  out->rsdp_oem_id, (unsigned long long)rsdp_phys);

	if (out->rsdp_revision >= 2)
		xsdt_phys = rsdp_xsdt_address(mapper, rsdp_copy, rsdp_length, rsdp_phys);
	if (xsdt_phys != 0) {
		rc = walk_root_table(out, xsdt_phys, true);
		if (rc && rsdt_phys != 0)
			log_warn("ACPI: XSDT unusable; using the RSDT\n");
	}
	if (rc && rsdt_phys != 0)
		rc = walk_root_table(out, rsdt_phys, false);
	if (rc) {
		log_error("ACPI: neither RSDT nor XSDT is valid\n");
		return rc;
	}

	table = acpi_find_table(out, "FACP", 0);
	if (table) {
		parse_fadt(&out->fadt, table->data, table->length);
		load_dsdt(out, table->data, table->length);
		find_s5(out);
	} else {
		log_warn("ACPI: no FADT\n");
	}
	table = acpi_find_table(out, "APIC", 0);
	if (table)
		parse_madt(&out->madt, table->data, table->length);
	else
		log_warn("ACPI: no MADT; assuming a single CPU\n");
	table = acpi_find_table(out, "MCFG", 0);
	if (table)
		parse_mcfg(&out->mcfg, table->data, table->length);
	log_info("ACPI: %u tables from the %s%s\n", out->table_count,
		 out->using_xsdt ? "XSDT" : "RSDT",
		 out->tables_skipped ? " (some invalid ones skipped)" : "");
	return 0;
}

uint32_t acpi_isa_irq_to_gsi(const struct acpi_info *info, uint8_t irq,
			     uint8_t *polarity, uint8_t *trigger)
{
	uint32_t gsi = irq;
	uint8_t irq_polarity = ACPI_POLARITY_ACTIVE_HIGH;
	uint8_t irq_trigger = ACPI_TRIGGER_EDGE;

	for (uint32_t i = 0; i < info->madt.irq_override_count; i++) {
		const struct acpi_irq_override *override = &info->madt.irq_overrides[i];

		if (override->bus != 0 || override->source_irq != irq)
			continue;
		gsi = override->gsi;
		/* "Conforms to the bus" means ISA's active-high, edge. */
		if (override->polarity != ACPI_POLARITY_BUS_DEFAULT)
			irq_polarity = override->polarity;
		if (override->trigger != ACPI_TRIGGER_BUS_DEFAULT)
			irq_trigger = override->trigger;
		break;
	}
	if (polarity)
		*polarity = irq_polarity;
	if (trigger)
		*trigger = irq_trigger;
	return gsi;
}

int acpi_soft_off_method(const struct acpi_info *info, struct acpi_soft_off *out)
{
	const struct acpi_fadt_info *fadt = &info->fadt;

	memset(out, 0, sizeof(*out));
	if (!fadt->present || !info->s5.present || fadt->pm1a_control.address == 0)
		return -ENODEV;
	if (!space_is_io_or_memory(fadt->pm1a_control.space_id) ||
	    (fadt->pm1b_control.address != 0 &&
	     !space_is_io_or_memory(fadt->pm1b_control.space_id)))
		return -ENOTSUP;
	out->pm1a_control = fadt->pm1a_control;
	out->pm1b_control = fadt->pm1b_control;
	out->slp_typ_a = info->s5.slp_typ_a;
	out->slp_typ_b = info->s5.slp_typ_b;
	out->smi_command_port = fadt->smi_command_port;
	out->acpi_enable_value = fadt->acpi_enable_value;
	return 0;
}

bool acpi_soft_off_needs_acpi_enable(const struct acpi_soft_off *method,
				     uint16_t pm1a_control_now)
{
	return !(pm1a_control_now & ACPI_PM1_SCI_EN) &&
	       method->smi_command_port != 0 && method->acpi_enable_value != 0;
}

uint16_t acpi_pm1_sleep_value(uint16_t current, uint8_t slp_typ, bool enable)
{
	uint16_t value = (uint16_t)(current & ~(ACPI_PM1_SLP_TYP_MASK | ACPI_PM1_SLP_EN));

	value |= (uint16_t)(((uint32_t)slp_typ << ACPI_PM1_SLP_TYP_SHIFT) &
			    ACPI_PM1_SLP_TYP_MASK);
	if (enable)
		value |= ACPI_PM1_SLP_EN;
	return value;
}

int acpi_reset_method(const struct acpi_info *info, struct acpi_reset_method *out)
{
	const struct acpi_fadt_info *fadt = &info->fadt;

	memset(out, 0, sizeof(*out));
	if (!fadt->present || !fadt->reset_supported)
		return -ENODEV;
	switch (fadt->reset_register.space_id) {
	case ACPI_SPACE_IO:
	case ACPI_SPACE_MEMORY:
	case ACPI_SPACE_PCI_CONFIG:
		break;
	default:
		return -ENOTSUP;
	}
	out->reg = fadt->reset_register;
	out->value = fadt->reset_value;
	return 0;
}

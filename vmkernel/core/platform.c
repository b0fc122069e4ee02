#include <core/platform.h>

#include <arch/x86/cpu.h>
#include <arch/x86/interrupt.h>
#include <arch/x86/ioapic.h>
#include <arch/x86/lapic.h>
#include <arch/x86/power.h>
#include <core/panic.h>
#include <lib/log.h>
#include <lib/string.h>
#include <mm/heap.h>
#include <mm/vmm.h>

static struct acpi_info *acpi;
static const struct boot_info *platform_boot;

/* Memory the firmware map lists is in the physmap; anything else (device
 * registers named by ACPI) gets an uncached mapping of its own. */
static const void *acpi_map(void *ctx, uint64_t phys, size_t length)
{
	(void)ctx;
	if (phys + length < phys)
		return NULL;
	if (phys + length <= 0x100000)
		return phys_to_virt(phys);
	for (uint32_t i = 0; i < platform_boot->mem_range_count; i++) {
		const struct boot_mem_range *r = &platform_boot->mem_ranges[i];
		if (phys >= r->base && phys + length <= r->base + r->length)
			return phys_to_virt(phys);
	}
	return vmm_map_mmio(phys, length, PT_READ | PT_WRITE | PT_UNCACHED);
}

static uint8_t checksum(const uint8_t *p, size_t n)
{
	uint8_t sum = 0;
	for (size_t i = 0; i < n; i++)
		sum += p[i];
	return sum;
}

/* ACPI spec 5.2.5.1: on BIOS systems the RSDP is on a 16-byte boundary in
 * the first KiB of the EBDA or in 0xE0000-0xFFFFF. */
static uint64_t scan_bios_rsdp(void)
{
	uint64_t ebda = (uint64_t)(*(const uint16_t *)phys_to_virt(0x40e)) << 4;
	struct {
		uint64_t start, length;
	} areas[] = { { ebda, 1024 }, { 0xe0000, 0x20000 } };

	for (unsigned a = 0; a < 2; a++) {
		if (!areas[a].start || areas[a].start + areas[a].length > 0x100000)
			continue;
		for (uint64_t p = areas[a].start; p < areas[a].start + areas[a].length; p += 16) {
			const uint8_t *candidate = phys_to_virt(p);
			if (memcmp(candidate, "RSD PTR ", 8) == 0 && checksum(candidate, 20) == 0)
				return p;
		}
	}
	return 0;
}

static void acpi_setup(const struct boot_info *boot)
{
	static const struct acpi_mapper mapper = { acpi_map, NULL };
	const uint8_t *rsdp = boot->acpi_rsdp;
	size_t rsdp_length = boot->acpi_rsdp_length;
	uint64_t rsdp_phys = boot->acpi_rsdp_phys;

	if (!rsdp_length && rsdp_phys) {
		rsdp = phys_to_virt(rsdp_phys);
		rsdp_length = ACPI_RSDP_V2_LENGTH;
	}
	if (!rsdp_length && boot->mode == BOOT_MODE_BIOS) {
		rsdp_phys = scan_bios_rsdp();
		if (rsdp_phys) {
			rsdp = phys_to_virt(rsdp_phys);
			rsdp_length = rsdp[15] >= 2 ? ACPI_RSDP_V2_LENGTH : ACPI_RSDP_V1_LENGTH;
		}
	}
	acpi = kzalloc(sizeof(*acpi));
	if (!acpi)
		panic("no memory for the ACPI tables");
	int rc = acpi_init(&mapper, rsdp, rsdp_length, rsdp_phys, acpi);
	if (rc)
		log_warn("acpi: warning: no usable ACPI tables (%d); one CPU, no power-off through ACPI\n", rc);
}

void platform_init(const struct boot_info *boot, bool allow_x2apic, bool debug_exit)
{
	platform_boot = boot;
	acpi_setup(boot);
	power_init(acpi);
	power_set_debug_exit(debug_exit);

	uint64_t lapic_phys = acpi->madt.present && acpi->madt.lapic_address
				      ? acpi->madt.lapic_address
				      : rdmsr(MSR_APIC_BASE) & 0xffffff000ul;
	volatile void *lapic_mmio = NULL;
	if (!(allow_x2apic && cpu_features.x2apic))
		lapic_mmio = vmm_map_mmio(lapic_phys, PAGE_SIZE, PT_READ | PT_WRITE | PT_UNCACHED);
	if (lapic_init_bsp(lapic_mmio, allow_x2apic))
		panic("cannot reach the local APIC");
	lapic_init_this_cpu();
	interrupt_set_eoi(lapic_eoi);
	timer_calibrate();

	for (uint32_t i = 0; i < acpi->madt.ioapic_count; i++) {
		const struct acpi_ioapic *io = &acpi->madt.ioapics[i];
		void *mmio = vmm_map_mmio(io->address, PAGE_SIZE, PT_READ | PT_WRITE | PT_UNCACHED);
		if (ioapic_add(io->id, mmio, io->gsi_base) < 0)
			log_warn("ioapic: warning: IOAPIC %u at 0x%x not usable\n", io->id, io->address);
	}
}

const struct acpi_info *platform_acpi(void)
{
	return acpi;
}

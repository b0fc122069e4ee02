/*
 * PCI enumeration. Configuration space is reached through ECAM (bus N,
 * device D, function F at base + (N << 20 | D << 15 | F << 12)) for each
 * MCFG segment, or through the legacy 0xCF8 address / 0xCFC data ports for
 * segment 0 when the firmware gives no MCFG. Every bus number is probed
 * (no bridge walk): firmware has already numbered the buses, and a brute
 * scan also finds functions behind bridges it configured.
 */
#include <drivers/pci/pci.h>

#include <arch/x86/io.h>
#include <arch/x86/lapic.h>
#include <arch/x86/pt.h>
#include <lib/errno.h>
#include <lib/log.h>
#include <lib/spinlock.h>
#include <mm/heap.h>
#include <mm/vmm.h>

#define PCI_VENDOR_NONE 0xffff
#define PCI_DEVICES_PER_BUS ((uint8_t)32)
#define PCI_COMMAND 0x04
#define PCI_COMMAND_IO (1u << 0)
#define PCI_COMMAND_MEMORY (1u << 1)
#define PCI_COMMAND_BUS_MASTER (1u << 2)
#define PCI_COMMAND_INTX_DISABLE (1u << 10)
#define PCI_STATUS_CAP_LIST (1u << 4)
#define PCI_BAR0 0x10
#define PCI_CAP_POINTER 0x34

#define MSI_ADDRESS_BASE 0xfee00000u
#define MSI_VECTOR_FIRST 0x80
#define MSI_VECTOR_LAST 0xdf

struct ecam_window {
	volatile uint8_t *base; /* mapped address of start_bus */
	uint16_t segment;
	uint8_t start_bus, end_bus;
};

static struct ecam_window ecam_windows[ACPI_MAX_MCFG_SEGMENTS];
static unsigned ecam_window_count;
static struct pci_device *device_list;
static struct spinlock legacy_lock = SPINLOCK_INIT;
static uint8_t next_msi_vector = MSI_VECTOR_FIRST;

static volatile uint8_t *ecam_address(uint16_t segment, uint8_t bus, uint8_t device,
				      uint8_t function, uint16_t offset)
{
	for (unsigned i = 0; i < ecam_window_count; i++) {
		const struct ecam_window *w = &ecam_windows[i];
		if (w->segment == segment && bus >= w->start_bus && bus <= w->end_bus)
			return w->base + ((uint64_t)(bus - w->start_bus) << 20) +
			       ((uint64_t)device << 15) + ((uint64_t)function << 12) + offset;
	}
	return NULL;
}

static uint32_t raw_read32(uint16_t segment, uint8_t bus, uint8_t device, uint8_t function,
			   uint16_t offset)
{
	offset &= 0xffc;
	volatile uint8_t *p = ecam_address(segment, bus, device, function, offset);
	if (p)
		return *(volatile uint32_t *)p;
	if (segment != 0 || offset >= 256)
		return 0xffffffffu;
	uint64_t flags = spin_lock_irqsave(&legacy_lock);
	outl(0xcf8, 0x80000000u | (uint32_t)bus << 16 | (uint32_t)device << 11 |
			    (uint32_t)function << 8 | offset);
	uint32_t value = inl(0xcfc);
	spin_unlock_irqrestore(&legacy_lock, flags);
	return value;
}

static void raw_write32(uint16_t segment, uint8_t bus, uint8_t device, uint8_t function,
			uint16_t offset, uint32_t value)
{
	offset &= 0xffc;
	volatile uint8_t *p = ecam_address(segment, bus, device, function, offset);
	if (p) {
		*(volatile uint32_t *)p = value;
		return;
	}
	if (segment != 0 || offset >= 256)
		return;
	uint64_t flags = spin_lock_irqsave(&legacy_lock);
	outl(0xcf8, 0x80000000u | (uint32_t)bus << 16 | (uint32_t)device << 11 |
			    (uint32_t)function << 8 | offset);
	outl(0xcfc, value);
	spin_unlock_irqrestore(&legacy_lock, flags);
}

uint32_t pci_config_read32(const struct pci_device *dev, uint16_t offset)
{
	return raw_read32(dev->segment, dev->bus, dev->device, dev->function, offset);
}

uint16_t pci_config_read16(const struct pci_device *dev, uint16_t offset)
{
	return (uint16_t)(pci_config_read32(dev, offset) >> ((offset & 2) * 8));
}

uint8_t pci_config_read8(const struct pci_device *dev, uint16_t offset)
{
	return (uint8_t)(pci_config_read32(dev, offset) >> ((offset & 3) * 8));
}

void pci_config_write32(const struct pci_device *dev, uint16_t offset, uint32_t value)
{
	raw_write32(dev->segment, dev->bus, dev->device, dev->function, offset, value);
}

/* Read-modify-write of the dword: config registers written here (command,
 * MSI control) share their dword with read-only or write-1-to-clear fields
 * that a write of 0 leaves alone. */
void pci_config_write16(const struct pci_device *dev, uint16_t offset, uint16_t value)
{
	unsigned shift = (offset & 2) * 8;
	uint32_t dword = pci_config_read32(dev, offset);
	if (offset == PCI_COMMAND)
		dword &= 0xffffu; /* the status half is write-1-to-clear */
	dword = (dword & ~(0xffffu << shift)) | (uint32_t)value << shift;
	pci_config_write32(dev, offset, dword);
}

uint8_t pci_find_capability(const struct pci_device *dev, uint8_t id, uint8_t after)
{
	if (!(pci_config_read16(dev, 0x06) & PCI_STATUS_CAP_LIST))
		return 0;
	uint8_t offset = after ? pci_config_read8(dev, after + 1) : pci_config_read8(dev, PCI_CAP_POINTER);
	/* A looping or broken list ends after 48 entries (256 bytes / 4 + header). */
	for (int guard = 0; guard < 48 && offset >= 0x40; guard++) {
		offset &= 0xfc;
		if (pci_config_read8(dev, offset) == id)
			return offset;
		offset = pci_config_read8(dev, offset + 1);
	}
	return 0;
}

/* Sizes a BAR by writing all ones with decoding off; restores it after. */
static unsigned decode_bar(struct pci_device *dev, unsigned index)
{
	uint16_t offset = (uint16_t)(PCI_BAR0 + 4 * index);
	uint32_t low = pci_config_read32(dev, offset);
	struct pci_bar *bar = &dev->bars[index];

	pci_config_write32(dev, offset, 0xffffffffu);
	uint32_t mask_low = pci_config_read32(dev, offset);
	pci_config_write32(dev, offset, low);
	if (low & 1) {
		bar->io = true;
		bar->phys = low & ~3u;
		uint32_t mask = mask_low & ~3u & 0xffffu;
		bar->size = mask ? (uint64_t)(~mask & 0xffffu) + 1 : 0;
		return 1;
	}
	bar->prefetchable = (low & 8) != 0;
	uint64_t phys = low & ~0xfu;
	uint64_t mask = mask_low & ~0xfu;
	unsigned used = 1;
	if (((low >> 1) & 3) == 2 && index + 1 < PCI_BAR_COUNT) {
		bar->is_64bit = true;
		uint32_t high = pci_config_read32(dev, offset + 4);
		pci_config_write32(dev, offset + 4, 0xffffffffu);
		uint32_t mask_high = pci_config_read32(dev, offset + 4);
		pci_config_write32(dev, offset + 4, high);
		phys |= (uint64_t)high << 32;
		mask |= (uint64_t)mask_high << 32;
		used = 2;
	} else {
		mask |= 0xffffffff00000000ull;
	}
	bar->phys = phys;
	bar->size = mask_low ? (~mask) + 1 : 0;
	if (!bar->size)
		bar->phys = 0;
	return used;
}

static const char *class_name(const struct pci_device *dev)
{
	switch (dev->class_code) {
	case 0x01:
		switch (dev->subclass) {
		case 0x01: return "IDE controller";
		case 0x06: return "SATA controller";
		case 0x08: return "NVMe controller";
		case 0x00: return "SCSI controller";
		default: return "storage controller";
		}
	case 0x02: return "network controller";
	case 0x03: return "display controller";
	case 0x06: return "bridge";
	case 0x0c: return "serial bus controller";
	default: return "device";
	}
}

static void add_function(uint16_t segment, uint8_t bus, uint8_t device, uint8_t function)
{
	struct pci_device *dev = kzalloc(sizeof(*dev));
	if (!dev) {
		log_warn("pci: warning: out of memory, %02x:%02x.%u not listed\n", bus, device, function);
		return;
	}
	dev->segment = segment;
	dev->bus = bus;
	dev->device = device;
	dev->function = function;
	uint32_t id = pci_config_read32(dev, 0);
	dev->vendor_id = (uint16_t)id;
	dev->device_id = (uint16_t)(id >> 16);
	uint32_t class = pci_config_read32(dev, 0x08);
	dev->revision = (uint8_t)class;
	dev->prog_if = (uint8_t)(class >> 8);
	dev->subclass = (uint8_t)(class >> 16);
	dev->class_code = (uint8_t)(class >> 24);
	dev->header_type = pci_config_read8(dev, 0x0e) & 0x7f;
	if (dev->header_type == 0) {
		/* Decoding off while BARs hold all ones: no stray decode. */
		uint16_t command = pci_config_read16(dev, PCI_COMMAND);
		pci_config_write16(dev, PCI_COMMAND,
				   command & (uint16_t)~(PCI_COMMAND_IO | PCI_COMMAND_MEMORY));
		for (unsigned i = 0; i < PCI_BAR_COUNT;)
			i += decode_bar(dev, i);
		pci_config_write16(dev, PCI_COMMAND, command);
		uint32_t interrupt = pci_config_read32(dev, 0x3c);
		dev->interrupt_line = (uint8_t)interrupt;
		dev->interrupt_pin = (uint8_t)(interrupt >> 8);
	}
	dev->msi_cap = pci_find_capability(dev, PCI_CAP_MSI, 0);
	dev->msix_cap = pci_find_capability(dev, PCI_CAP_MSIX, 0);

	log_info("pci: %04x:%02x:%02x.%u %04x:%04x class %02x.%02x.%02x %s%s%s\n", segment, bus,
		 device, function, dev->vendor_id, dev->device_id, dev->class_code, dev->subclass,
		 dev->prog_if, class_name(dev), dev->msix_cap ? " msi-x" : "",
		 dev->msi_cap ? " msi" : "");
	for (unsigned i = 0; i < PCI_BAR_COUNT; i++) {
		const struct pci_bar *bar = &dev->bars[i];
		if (bar->size)
			log_debug("pci:   bar%u %s 0x%lx size 0x%lx%s\n", i, bar->io ? "io" : "mem",
				  bar->phys, bar->size, bar->is_64bit ? " 64-bit" : "");
	}

	struct pci_device **tail = &device_list;
	while (*tail)
		tail = &(*tail)->next;
	*tail = dev;
}

static unsigned scan_bus(uint16_t segment, uint8_t bus)
{
	unsigned found = 0;
	for (uint8_t device = 0; device < PCI_DEVICES_PER_BUS; device++) {
		uint32_t id = raw_read32(segment, bus, device, 0, 0);
		if ((id & 0xffff) == PCI_VENDOR_NONE || (id & 0xffff) == 0)
			continue;
		bool multi = (raw_read32(segment, bus, device, 0, 0x0c) >> 16) & 0x80;
		uint8_t functions = multi ? 8 : 1;
		for (uint8_t function = 0; function < functions; function++) {
			id = raw_read32(segment, bus, device, function, 0);
			if ((id & 0xffff) == PCI_VENDOR_NONE || (id & 0xffff) == 0)
				continue;
			add_function(segment, bus, device, function);
			found++;
		}
	}
	return found;
}

unsigned pci_init(const struct acpi_info *acpi)
{
	unsigned found = 0;

	if (acpi && acpi->mcfg.present) {
		for (uint32_t i = 0; i < acpi->mcfg.segment_count; i++) {
			const struct acpi_mcfg_segment *s = &acpi->mcfg.segments[i];
			if (s->end_bus < s->start_bus)
				continue;
			uint64_t size = ((uint64_t)(s->end_bus - s->start_bus) + 1) << 20;
			uint64_t phys = s->base + ((uint64_t)s->start_bus << 20);
			void *base = vmm_map_mmio(phys, size, PT_READ | PT_WRITE | PT_UNCACHED);
			if (!base) {
				log_warn("pci: warning: cannot map ECAM segment %u at 0x%lx\n", s->segment, phys);
				continue;
			}
			ecam_windows[ecam_window_count++] = (struct ecam_window){
				.base = base, .segment = s->segment, .start_bus = s->start_bus,
				.end_bus = s->end_bus,
			};
		}
	}
	if (ecam_window_count) {
		for (unsigned i = 0; i < ecam_window_count; i++) {
			const struct ecam_window *w = &ecam_windows[i];
			for (unsigned bus = w->start_bus; bus <= w->end_bus; bus++)
				found += scan_bus(w->segment, (uint8_t)bus);
		}
		log_info("pci: %u functions (ECAM, %u segment%s)\n", found, ecam_window_count,
			 ecam_window_count == 1 ? "" : "s");
	} else {
		for (unsigned bus = 0; bus < 256; bus++)
			found += scan_bus(0, (uint8_t)bus);
		log_info("pci: %u functions (configuration ports 0xcf8/0xcfc)\n", found);
	}
	return found;
}

struct pci_device *pci_devices(void)
{
	return device_list;
}

void pci_enable_device(const struct pci_device *dev)
{
	uint16_t command = pci_config_read16(dev, PCI_COMMAND);
	command |= PCI_COMMAND_MEMORY | PCI_COMMAND_BUS_MASTER | PCI_COMMAND_INTX_DISABLE;
	for (unsigned i = 0; i < PCI_BAR_COUNT; i++)
		if (dev->bars[i].io && dev->bars[i].size)
			command |= PCI_COMMAND_IO;
	pci_config_write16(dev, PCI_COMMAND, command);
}

volatile void *pci_map_bar(const struct pci_device *dev, unsigned index)
{
	if (index >= PCI_BAR_COUNT)
		return NULL;
	const struct pci_bar *bar = &dev->bars[index];
	if (bar->io || !bar->phys || !bar->size || bar->size > (1ull << 32))
		return NULL;
	return vmm_map_mmio(bar->phys, bar->size < 4096 ? 4096 : bar->size,
			    PT_READ | PT_WRITE | PT_UNCACHED);
}

uint8_t pci_alloc_vector(void)
{
	static struct spinlock lock = SPINLOCK_INIT;
	uint8_t vector = 0;

	spin_lock(&lock);
	if (next_msi_vector <= MSI_VECTOR_LAST)
		vector = next_msi_vector++;
	spin_unlock(&lock);
	return vector;
}

int pci_msix_enable(const struct pci_device *dev, unsigned entry, uint8_t vector)
{
	if (!dev->msix_cap)
		return -ENODEV;
	uint16_t control = pci_config_read16(dev, dev->msix_cap + 2);
	unsigned table_size = (control & 0x7ffu) + 1;
	if (entry >= table_size)
		return -EINVAL;
	uint32_t table = pci_config_read32(dev, dev->msix_cap + 4);
	unsigned bir = table & 7;
	if (bir >= PCI_BAR_COUNT || !dev->bars[bir].phys)
		return -ENODEV;
	uint64_t phys = dev->bars[bir].phys + (table & ~7u) + 16ull * entry;
	volatile uint32_t *slot = vmm_map_mmio(phys & ~0xfffull, 4096, PT_READ | PT_WRITE | PT_UNCACHED);
	if (!slot)
		return -ENOMEM;
	slot += (phys & 0xfff) / 4;
	slot[0] = MSI_ADDRESS_BASE | (lapic_id() & 0xff) << 12;
	slot[1] = 0;
	slot[2] = vector;
	slot[3] = 0; /* unmasked */
	pci_config_write16(dev, dev->msix_cap + 2, (uint16_t)((control | 0x8000u) & ~0x4000u));
	return 0;
}

int pci_msi_enable(const struct pci_device *dev, uint8_t vector)
{
	if (!dev->msi_cap)
		return -ENODEV;
	uint16_t control = pci_config_read16(dev, dev->msi_cap + 2);
	bool is_64bit = control & 0x80;
	pci_config_write32(dev, dev->msi_cap + 4, MSI_ADDRESS_BASE | (lapic_id() & 0xff) << 12);
	if (is_64bit) {
		pci_config_write32(dev, dev->msi_cap + 8, 0);
		pci_config_write16(dev, dev->msi_cap + 12, vector);
	} else {
		pci_config_write16(dev, dev->msi_cap + 8, vector);
	}
	/* One message (multiple message enable = 0), enabled. */
	pci_config_write16(dev, dev->msi_cap + 2, (uint16_t)((control & ~0x70u) | 1u));
	return 0;
}

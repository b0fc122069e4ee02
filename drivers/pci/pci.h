/*
 * Host PCI: enumeration of every function through the ECAM windows of the
 * ACPI MCFG table (configuration mechanism #1, ports 0xCF8/0xCFC, when there
 * is none), BAR decoding, bus mastering and MSI/MSI-X programming for the
 * drivers in drivers/.
 */
#ifndef KAPSEL_DRIVERS_PCI_PCI_H
#define KAPSEL_DRIVERS_PCI_PCI_H

#include <stdbool.h>
#include <stdint.h>

#include <arch/x86/acpi.h>

#define PCI_BAR_COUNT 6

#define PCI_CAP_MSI 0x05
#define PCI_CAP_VENDOR 0x09
#define PCI_CAP_MSIX 0x11

struct pci_bar {
	uint64_t phys;   /* 0: not implemented or not assigned by the firmware */
	uint64_t size;
	bool io;         /* an I/O port range instead of memory */
	bool is_64bit;
	bool prefetchable;
};

struct pci_device {
	uint16_t segment;
	uint8_t bus, device, function;
	uint16_t vendor_id, device_id;
	uint8_t class_code, subclass, prog_if, revision;
	uint8_t header_type;
	uint8_t interrupt_line, interrupt_pin;
	uint8_t msi_cap, msix_cap; /* config offsets, 0: absent */
	struct pci_bar bars[PCI_BAR_COUNT];
	struct pci_device *next;
};

/* Scans every bus once; ACPI may be NULL or without MCFG. Returns how many
 * functions were found. */
unsigned pci_init(const struct acpi_info *acpi);
struct pci_device *pci_devices(void);

uint32_t pci_config_read32(const struct pci_device *dev, uint16_t offset);
uint16_t pci_config_read16(const struct pci_device *dev, uint16_t offset);
uint8_t pci_config_read8(const struct pci_device *dev, uint16_t offset);
void pci_config_write32(const struct pci_device *dev, uint16_t offset, uint32_t value);
void pci_config_write16(const struct pci_device *dev, uint16_t offset, uint16_t value);

/* Offset of the first (after = 0) or next capability with this id, 0: none. */
uint8_t pci_find_capability(const struct pci_device *dev, uint8_t id, uint8_t after);
/* Memory decoding and bus mastering on (DMA), legacy INTx off. */
void pci_enable_device(const struct pci_device *dev);
/* Maps a memory BAR uncached; NULL if it is absent, an I/O BAR or unmappable. */
volatile void *pci_map_bar(const struct pci_device *dev, unsigned index);

/* An IDT vector from the MSI pool (0x80-0xdf), 0 when exhausted. */
uint8_t pci_alloc_vector(void);
/* Points MSI-X table entry `entry` at `vector` on the BSP and enables MSI-X. */
int pci_msix_enable(const struct pci_device *dev, unsigned entry, uint8_t vector);
/* One MSI message to `vector` on the BSP. */
int pci_msi_enable(const struct pci_device *dev, uint8_t vector);

#endif

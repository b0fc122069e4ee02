/* The storage drivers' PCI probes and the boot-time block self-check. */
#ifndef KAPSEL_DRIVERS_BLOCK_DRIVERS_H
#define KAPSEL_DRIVERS_BLOCK_DRIVERS_H

#include <arch/x86/acpi.h>
#include <drivers/pci/pci.h>

/* Each returns 0 when it took the device, -ENODEV when not its kind. */
int virtio_blk_probe(struct pci_device *pci);
int ahci_probe(struct pci_device *pci);
int nvme_probe(struct pci_device *pci);

/* PCI scan, then every storage driver over every function. */
void drivers_init(const struct acpi_info *acpi);
/* blockdev.selftest=1: for every partition, reads its first sector and logs
 * the text found there ("blockdev: selftest <name> read '<text>'"), then
 * writes "written by kapsel <name>" to its second sector, flushes, reads it
 * back and logs the verdict. Destructive for sector 1 of every partition:
 * test images only. */
void blockdev_selftest(void);

#endif

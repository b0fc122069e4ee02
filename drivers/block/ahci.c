/* AHCI: not yet (see nvme.c); the probe declines every device. */
#include <drivers/block/drivers.h>

#include <lib/errno.h>

int ahci_probe(struct pci_device *pci)
{
	(void)pci;
	return -ENODEV;
}

/* NVMe: not yet; the probe declines every device. */
#include <drivers/block/drivers.h>

#include <lib/errno.h>

int nvme_probe(struct pci_device *pci)
{
	(void)pci;
	return -ENODEV;
}

/* Probing of the storage drivers and the boot-time self-check. */
#include <drivers/block/blockdev.h>
#include <drivers/block/drivers.h>

#include <lib/errno.h>
#include <lib/log.h>
#include <lib/printf.h>
#include <lib/string.h>
#include <mm/heap.h>

typedef int (*probe_fn)(struct pci_device *pci);

static const probe_fn storage_probes[] = { virtio_blk_probe, ahci_probe, nvme_probe };

void drivers_init(const struct acpi_info *acpi)
{
	pci_init(acpi);
	for (struct pci_device *pci = pci_devices(); pci; pci = pci->next)
		for (size_t i = 0; i < sizeof(storage_probes) / sizeof(storage_probes[0]); i++)
			if (storage_probes[i](pci) != -ENODEV)
				break;
	unsigned disks = 0, partitions = 0;
	for (struct blockdev *dev = blockdev_list(); dev; dev = dev->next) {
		if (dev->parent)
			partitions++;
		else
			disks++;
	}
	log_info("blockdev: %u disk%s, %u partition%s\n", disks, disks == 1 ? "" : "s", partitions,
		 partitions == 1 ? "" : "s");
}

static void printable_prefix(const uint8_t *data, size_t max, char *out)
{
	size_t n = 0;
	while (n < max && data[n] >= 0x20 && data[n] < 0x7f && data[n] != '\'') {
		out[n] = (char)data[n];
		n++;
	}
	out[n] = 0;
}

static void selftest_one(struct blockdev *dev, uint8_t *buffer)
{
	char text[65];
	int rc = blockdev_read_sync(dev, 0, 1, buffer);
	if (rc) {
		log_info("blockdev: selftest %s FAIL read error %d\n", dev->name, rc);
		return;
	}
	printable_prefix(buffer, 64, text);
	log_info("blockdev: selftest %s read '%s'\n", dev->name, text);

	char message[64];
	memset(buffer, 0, dev->sector_size);
	snprintf(message, sizeof(message), "written by kapsel %s", dev->name);
	memcpy(buffer, message, strlen(message));
	rc = blockdev_write_sync(dev, 1, 1, buffer, 0);
	if (!rc)
		rc = blockdev_flush_sync(dev);
	memset(buffer, 0, dev->sector_size);
	if (!rc)
		rc = blockdev_read_sync(dev, 1, 1, buffer);
	if (rc)
		log_info("blockdev: selftest %s FAIL write/flush/read error %d\n", dev->name, rc);
	else if (memcmp(buffer, message, strlen(message)) != 0)
		log_info("blockdev: selftest %s FAIL read back differs\n", dev->name);
	else
		log_info("blockdev: selftest %s write ok\n", dev->name);
}

void blockdev_selftest(void)
{
	for (struct blockdev *dev = blockdev_list(); dev; dev = dev->next) {
		if (!dev->parent)
			continue;
		uint8_t *buffer = kmalloc(dev->sector_size);
		if (!buffer)
			return;
		selftest_one(dev, buffer);
		kfree(buffer);
	}
	log_info("blockdev: selftest done\n");
}

/*
 * The virtio devices end to end on the host: a driver written here from
 * the virtio 1.x spec programs them through their PCI BARs (the handlers
 * vdev/pci.c registers, called as the exit path would) over a fake guest
 * RAM. Covers the transport (features, status, queue setup, MSI-X and INTx
 * with the ISR, NEEDS_RESET and reset), virtio-blk (I/O, errors, GET_ID,
 * read-only disks), virtio-console (output lines, input), virtio-net
 * through the internal switch between two VMs, and virtio-vsock streams
 * with hostile packets.
 */
#include "unit.h"
#include "fake_guest_ram.h"
#include "host_support.h"

#include <lib/errno.h>
#include <net/vswitch.h>
#include <vdev/irq.h>
#include <vdev/pci.h>
#include <vdev/platform.h>
#include <vdev/vdev.h>
#include <vdev/vdisk.h>
#include <vdev/virtio_pci.h>
#include <vdev/vnic.h>
#include <vdev/vsock.h>
#include <vm/vm.h>

/* ---- stubs of the layers below ---- */

void *kzalloc(size_t size) { return calloc(1, size); }
void kfree(void *p) { free(p); }

size_t strlcpy(char *dst, const char *src, size_t size)
{
	size_t n = strlen(src);
	if (size) {
		size_t copy = n < size - 1 ? n : size - 1;
		memcpy(dst, src, copy);
		dst[copy] = '\0';
	}
	return n;
}

int vm_register_io(struct vm *vm, uint16_t first, uint16_t last, vm_io_read_fn read,
		   vm_io_write_fn write, void *opaque)
{
	if (vm->io_count == VM_MAX_IO_HANDLERS)
		return -ENOSPC;
	vm->io[vm->io_count++] = (struct vm_io_handler){ first, last, read, write, opaque };
	return 0;
}

int vm_register_mmio(struct vm *vm, uint64_t base, uint64_t size, vm_mmio_read_fn read,
		     vm_mmio_write_fn write, void *opaque)
{
	if (vm->mmio_count == VM_MAX_MMIO_HANDLERS)
		return -ENOSPC;
	vm->mmio[vm->mmio_count++] = (struct vm_mmio_handler){ base, size, read, write, opaque };
	return 0;
}

static unsigned msi_count;
static uint32_t msi_last_data;
static int gsi_level[24];

void vm_msi_send(struct vm *vm, uint64_t address, uint32_t data)
{
	(void)vm;
	(void)address;
	msi_count++;
	msi_last_data = data;
}

void vm_irq_line_set(struct vm *vm, unsigned gsi, bool asserted)
{
	(void)vm;
	if (gsi < 24)
		gsi_level[gsi] = asserted;
}

/* ---- a driver ---- */

#define RAM_SIZE (4u << 20)
#define QSIZE 8

struct driver {
	struct vm *vm;
	unsigned slot;
	uint64_t bar0, msix;
	struct { uint64_t desc, avail, used; uint16_t avail_idx, used_seen; } q[2];
};

static uint64_t bar_read(struct driver *d, uint64_t gpa, unsigned size)
{
	for (unsigned i = 0; i < d->vm->mmio_count; i++) {
		struct vm_mmio_handler *h = &d->vm->mmio[i];
		if (gpa >= h->base && gpa - h->base < h->size) {
			uint64_t value = ~0ull;
			if (h->read(h->opaque, NULL, gpa, size, &value) < 0)
				value = ~0ull;
			return value;
		}
	}
	return ~0ull;
}

static void bar_write(struct driver *d, uint64_t gpa, unsigned size, uint64_t value)
{
	for (unsigned i = 0; i < d->vm->mmio_count; i++) {
		struct vm_mmio_handler *h = &d->vm->mmio[i];
		if (gpa >= h->base && gpa - h->base < h->size) {
			h->write(h->opaque, NULL, gpa, size, value);
			return;
		}
	}
}

#define COMMON(d, o) ((d)->bar0 + VIRTIO_PCI_COMMON_OFFSET + (o))
static uint8_t status(struct driver *d) { return (uint8_t)bar_read(d, COMMON(d, 0x14), 1); }
static void set_status(struct driver *d, uint8_t s) { bar_write(d, COMMON(d, 0x14), 1, s); }

static void put(uint64_t gpa, const void *p, unsigned n) { memcpy(fake_guest_ram + gpa, p, n); }
static uint16_t get16(uint64_t gpa) { uint16_t v; memcpy(&v, fake_guest_ram + gpa, 2); return v; }
static uint32_t get32(uint64_t gpa) { uint32_t v; memcpy(&v, fake_guest_ram + gpa, 4); return v; }

/* Finds vendor 1af4 device `id`, enables decoding, notes the BARs. */
static void probe(struct driver *d, struct vm *vm, uint16_t id)
{
	memset(d, 0, sizeof(*d));
	d->vm = vm;
	for (d->slot = 0; d->slot < PCI_SLOTS; d->slot++)
		if (pci_config_read(vm->pci, 0, d->slot, 0, 0, 4) == ((uint32_t)id << 16 | 0x1af4))
			break;
	CHECK(d->slot < PCI_SLOTS);
	pci_config_write(vm->pci, 0, d->slot, 0, PCI_COMMAND, 2, PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER);
	d->bar0 = pci_config_read(vm->pci, 0, d->slot, 0, PCI_BAR0, 4) & ~15u;
	d->msix = pci_config_read(vm->pci, 0, d->slot, 0, PCI_BAR0 + 4, 4) & ~15u;
}

static bool negotiate(struct driver *d, uint32_t low, uint32_t high)
{
	set_status(d, 0);
	set_status(d, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER);
	bar_write(d, COMMON(d, 0x08), 4, 0);
	bar_write(d, COMMON(d, 0x0c), 4, low);
	bar_write(d, COMMON(d, 0x08), 4, 1);
	bar_write(d, COMMON(d, 0x0c), 4, high);
	set_status(d, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER | VIRTIO_STATUS_FEATURES_OK);
	return status(d) & VIRTIO_STATUS_FEATURES_OK;
}

/* Queue n's rings at base (desc, avail +0x100, used +0x200). */
static void setup_queue(struct driver *d, unsigned n, uint64_t base, uint16_t vector)
{
	d->q[n].desc = base;
	d->q[n].avail = base + 0x100;
	d->q[n].used = base + 0x200;
	d->q[n].avail_idx = d->q[n].used_seen = 0;
	memset(fake_guest_ram + base, 0, 0x300);
	bar_write(d, COMMON(d, 0x16), 2, n);
	bar_write(d, COMMON(d, 0x18), 2, QSIZE);
	bar_write(d, COMMON(d, 0x1a), 2, vector);
	bar_write(d, COMMON(d, 0x20), 8, d->q[n].desc);
	bar_write(d, COMMON(d, 0x28), 4, (uint32_t)d->q[n].avail); /* as two halves */
	bar_write(d, COMMON(d, 0x2c), 4, 0);
	bar_write(d, COMMON(d, 0x30), 8, d->q[n].used);
	bar_write(d, COMMON(d, 0x1c), 2, 1);
}

static void desc(struct driver *d, unsigned n, unsigned i, uint64_t addr, uint32_t len, uint16_t flags,
		 uint16_t next)
{
	struct { uint64_t addr; uint32_t len; uint16_t flags, next; } e = { addr, len, flags, next };
	put(d->q[n].desc + 16 * i, &e, 16);
}

static void kick(struct driver *d, unsigned n, uint16_t head)
{
	put(d->q[n].avail + 4 + 2 * (d->q[n].avail_idx % QSIZE), &head, 2);
	d->q[n].avail_idx++;
	put(d->q[n].avail + 2, &d->q[n].avail_idx, 2);
	bar_write(d, d->bar0 + VIRTIO_PCI_NOTIFY_OFFSET + 4 * n, 2, n);
}

/* The used length of the next completion, or -1 when there is none. */
static int64_t completed(struct driver *d, unsigned n)
{
	if (get16(d->q[n].used + 2) == d->q[n].used_seen)
		return -1;
	uint64_t element = d->q[n].used + 4 + 8 * (d->q[n].used_seen++ % QSIZE);
	return get32(element + 4);
}

/* ---- virtio-blk ---- */

static struct vm vm_a, vm_b;
static uint8_t disk_bytes[64 * 512];
#define HDR 0x100000u
#define DATA 0x101000u
#define STATUS_BYTE 0x103000u

/* Devices have no detach: earlier buses stay reachable here (for LSan). */
static struct pci_bus *old_buses[64];
static unsigned old_bus_count;

static void fresh_vm(struct vm *vm, const char *name)
{
	if (vm->pci && old_bus_count < 64)
		old_buses[old_bus_count++] = vm->pci;
	memset(vm, 0, sizeof(*vm));
	strcpy(vm->name, name);
	CHECK_EQ(vdev_pci_attach(vm), 0);
}

static void fresh_blk(struct driver *d, bool read_only)
{
	fake_guest_ram_init(RAM_SIZE);
	fresh_vm(&vm_a, "t");
	memset(disk_bytes, 0x11, sizeof(disk_bytes));
	struct vdisk_backend *disk = vdisk_memory_create(disk_bytes, sizeof(disk_bytes) + 100, "disk-t");
	CHECK(disk != NULL);
	disk->read_only = read_only;
	CHECK_EQ(vdev_virtio_blk_attach(&vm_a, disk), 0);
	probe(d, &vm_a, 0x1042);
	msi_count = 0;
	memset(gsi_level, 0, sizeof(gsi_level));
}

static uint8_t blk_request(struct driver *d, uint32_t type, uint64_t sector, uint32_t length,
			   bool data_writable, int64_t *used)
{
	struct { uint32_t type, reserved; uint64_t sector; } h = { type, 0, sector };
	uint8_t marker = 0xee;
	put(HDR, &h, sizeof(h));
	put(STATUS_BYTE, &marker, 1);
	desc(d, 0, 0, HDR, 16, VIRTQ_DESC_F_NEXT, 1);
	if (length) {
		desc(d, 0, 1, DATA, length, VIRTQ_DESC_F_NEXT | (data_writable ? VIRTQ_DESC_F_WRITE : 0), 2);
		desc(d, 0, 2, STATUS_BYTE, 1, VIRTQ_DESC_F_WRITE, 0);
	} else {
		desc(d, 0, 1, STATUS_BYTE, 1, VIRTQ_DESC_F_WRITE, 0);
	}
	kick(d, 0, 0);
	*used = completed(d, 0);
	return fake_guest_ram[STATUS_BYTE];
}

UNIT_TEST(identity_and_capabilities)
{
	struct driver d;
	fresh_blk(&d, false);
	CHECK_EQ(d.slot, 1);
	CHECK_EQ(pci_config_read(vm_a.pci, 0, 1, 0, PCI_REVISION, 1), 1);
	CHECK_EQ(pci_config_read(vm_a.pci, 0, 1, 0, PCI_SUBSYSTEM_VENDOR_ID, 2), 0x1af4);
	/* Walk the vendor capabilities: common, notify, ISR, device, all BAR 0. */
	unsigned seen = 0, at = pci_config_read(vm_a.pci, 0, 1, 0, PCI_CAPABILITY_LIST, 1);
	for (unsigned n = 0; at && n < 16; n++) {
		if (pci_config_read(vm_a.pci, 0, 1, 0, at, 1) == PCI_CAP_ID_VENDOR) {
			unsigned type = pci_config_read(vm_a.pci, 0, 1, 0, at + 3, 1);
			CHECK_EQ(pci_config_read(vm_a.pci, 0, 1, 0, at + 4, 1), 0);
			seen |= 1u << type;
			if (type == 2)
				CHECK_EQ(pci_config_read(vm_a.pci, 0, 1, 0, at + 16, 4), 4);
		}
		at = pci_config_read(vm_a.pci, 0, 1, 0, at + 1, 1);
	}
	CHECK_EQ(seen, 0x3e); /* common, notify, ISR, device, PCI configuration window */
	/* Device config: capacity (the backend rounded down to sectors), seg_max, blk_size. */
	CHECK_EQ(bar_read(&d, d.bar0 + VIRTIO_PCI_DEVICE_OFFSET, 8), 64);
	CHECK_EQ(bar_read(&d, d.bar0 + VIRTIO_PCI_DEVICE_OFFSET + 12, 4), VIRTQ_MAX_SEGMENTS - 2);
	CHECK_EQ(bar_read(&d, d.bar0 + VIRTIO_PCI_DEVICE_OFFSET + 20, 4), 512);
	CHECK_EQ(bar_read(&d, d.bar0 + VIRTIO_PCI_DEVICE_OFFSET + 0x1000, 4), 0); /* beyond config */
}

UNIT_TEST(pci_configuration_window)
{
	struct driver d;
	unsigned cap = 0, at;
	fresh_blk(&d, false);
	at = pci_config_read(vm_a.pci, 0, 1, 0, PCI_CAPABILITY_LIST, 1);
	for (unsigned n = 0; at && n < 16 && !cap; n++) {
		if (pci_config_read(vm_a.pci, 0, 1, 0, at, 1) == PCI_CAP_ID_VENDOR &&
		    pci_config_read(vm_a.pci, 0, 1, 0, at + 3, 1) == 5)
			cap = at;
		at = pci_config_read(vm_a.pci, 0, 1, 0, at + 1, 1);
	}
	CHECK(cap != 0);
	/* Device status (common + 0x14) through the window: write, then read. */
	pci_config_write(vm_a.pci, 0, 1, 0, cap + 4, 1, 0);
	pci_config_write(vm_a.pci, 0, 1, 0, cap + 8, 4, 0x14);
	pci_config_write(vm_a.pci, 0, 1, 0, cap + 12, 4, 1);
	pci_config_write(vm_a.pci, 0, 1, 0, cap + 16, 4, VIRTIO_STATUS_ACKNOWLEDGE);
	CHECK_EQ(status(&d), VIRTIO_STATUS_ACKNOWLEDGE);
	set_status(&d, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER);
	CHECK_EQ(pci_config_read(vm_a.pci, 0, 1, 0, cap + 16, 1), 3);
	/* num_queues as a word; capacity's low dword. */
	pci_config_write(vm_a.pci, 0, 1, 0, cap + 8, 4, 0x12);
	pci_config_write(vm_a.pci, 0, 1, 0, cap + 12, 4, 2);
	CHECK_EQ(pci_config_read(vm_a.pci, 0, 1, 0, cap + 16, 4), 1);
	pci_config_write(vm_a.pci, 0, 1, 0, cap + 8, 4, VIRTIO_PCI_DEVICE_OFFSET);
	pci_config_write(vm_a.pci, 0, 1, 0, cap + 12, 4, 4);
	CHECK_EQ(pci_config_read(vm_a.pci, 0, 1, 0, cap + 16, 4), 64);
	CHECK_EQ(pci_config_read(vm_a.pci, 0, 1, 0, cap + 8, 4), VIRTIO_PCI_DEVICE_OFFSET);
	/* Bad windows: another BAR, length 3, misaligned, beyond the BAR. */
	pci_config_write(vm_a.pci, 0, 1, 0, cap + 4, 1, 1);
	CHECK_EQ(pci_config_read(vm_a.pci, 0, 1, 0, cap + 16, 4), 0);
	pci_config_write(vm_a.pci, 0, 1, 0, cap + 4, 1, 0);
	pci_config_write(vm_a.pci, 0, 1, 0, cap + 12, 4, 3);
	CHECK_EQ(pci_config_read(vm_a.pci, 0, 1, 0, cap + 16, 4), 0);
	pci_config_write(vm_a.pci, 0, 1, 0, cap + 12, 4, 4);
	pci_config_write(vm_a.pci, 0, 1, 0, cap + 8, 4, 0x13);
	CHECK_EQ(pci_config_read(vm_a.pci, 0, 1, 0, cap + 16, 4), 0);
	pci_config_write(vm_a.pci, 0, 1, 0, cap + 8, 4, 0x100000);
	pci_config_write(vm_a.pci, 0, 1, 0, cap + 16, 4, 0);
	CHECK_EQ(status(&d), VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER);
	/* The capability header stays read-only. */
	pci_config_write(vm_a.pci, 0, 1, 0, cap + 3, 1, 1);
	CHECK_EQ(pci_config_read(vm_a.pci, 0, 1, 0, cap + 3, 1), 5);
}

UNIT_TEST(feature_negotiation)
{
	struct driver d;
	fresh_blk(&d, false);
	bar_write(&d, COMMON(&d, 0x00), 4, 1);
	CHECK_EQ(bar_read(&d, COMMON(&d, 0x04), 4), 1); /* VERSION_1 */
	bar_write(&d, COMMON(&d, 0x00), 4, 0);
	uint32_t low = (uint32_t)bar_read(&d, COMMON(&d, 0x04), 4);
	CHECK(low & (1u << 28));                         /* INDIRECT_DESC */
	CHECK(low & (1u << 9));                          /* FLUSH */
	CHECK(!(low & (1u << 5)));                       /* not read-only */
	bar_write(&d, COMMON(&d, 0x00), 4, 7);
	CHECK_EQ(bar_read(&d, COMMON(&d, 0x04), 4), 0);
	CHECK(!negotiate(&d, 0, 0));                     /* no VERSION_1 */
	CHECK(!negotiate(&d, 1u << 30, 1));              /* not offered */
	CHECK(!negotiate(&d, 0, 3));
	CHECK(negotiate(&d, 1u << 9, 1));
	/* Fixed once FEATURES_OK is set. */
	bar_write(&d, COMMON(&d, 0x08), 4, 0);
	bar_write(&d, COMMON(&d, 0x0c), 4, 0);
	CHECK_EQ(bar_read(&d, COMMON(&d, 0x0c), 4), 1u << 9);
	fresh_blk(&d, true);
	bar_write(&d, COMMON(&d, 0x00), 4, 0);
	CHECK(bar_read(&d, COMMON(&d, 0x04), 4) & (1u << 5)); /* RO offered */
}

UNIT_TEST(queue_registers_and_reset)
{
	struct driver d;
	fresh_blk(&d, false);
	CHECK_EQ(bar_read(&d, COMMON(&d, 0x12), 2), 1);      /* num_queues */
	CHECK_EQ(bar_read(&d, COMMON(&d, 0x18), 2), VIRTIO_QUEUE_SIZE);
	CHECK_EQ(bar_read(&d, COMMON(&d, 0x1a), 2), 0xffff);
	bar_write(&d, COMMON(&d, 0x16), 2, 5);                /* no such queue */
	CHECK_EQ(bar_read(&d, COMMON(&d, 0x18), 2), 0);
	bar_write(&d, COMMON(&d, 0x18), 2, 16);
	CHECK_EQ(bar_read(&d, COMMON(&d, 0x18), 2), 0);
	CHECK(negotiate(&d, 0, 1));
	setup_queue(&d, 0, 0x10000, 0xffff);
	bar_write(&d, COMMON(&d, 0x16), 2, 0);
	CHECK_EQ(bar_read(&d, COMMON(&d, 0x1c), 2), 1);
	CHECK_EQ(bar_read(&d, COMMON(&d, 0x28), 8), 0x10100);
	CHECK_EQ(bar_read(&d, COMMON(&d, 0x1e), 2), 0);       /* notify offset */
	bar_write(&d, COMMON(&d, 0x20), 8, 0x5000);           /* ignored while enabled */
	CHECK_EQ(bar_read(&d, COMMON(&d, 0x20), 8), 0x10000);
	bar_write(&d, COMMON(&d, 0x1a), 2, 7);                /* beyond the 2-entry table */
	CHECK_EQ(bar_read(&d, COMMON(&d, 0x1a), 2), 0xffff);
	set_status(&d, 0);
	CHECK_EQ(status(&d), 0);
	CHECK_EQ(bar_read(&d, COMMON(&d, 0x1c), 2), 0);
	CHECK_EQ(bar_read(&d, COMMON(&d, 0x20), 8), 0);
	CHECK_EQ(bar_read(&d, COMMON(&d, 0x18), 2), VIRTIO_QUEUE_SIZE);
	/* A queue larger than offered, or not a power of two: NEEDS_RESET. */
	CHECK(negotiate(&d, 0, 1));
	bar_write(&d, COMMON(&d, 0x18), 2, 512);
	bar_write(&d, COMMON(&d, 0x1c), 2, 1);
	CHECK(status(&d) & VIRTIO_STATUS_NEEDS_RESET);
	CHECK(host_log_contains("larger than offered"));
	set_status(&d, 0);
	CHECK_EQ(status(&d), 0);
}

UNIT_TEST(blk_io_with_intx)
{
	struct driver d;
	int64_t used;
	fresh_blk(&d, false);
	CHECK(negotiate(&d, 0, 1));
	setup_queue(&d, 0, 0x10000, 0xffff);
	set_status(&d, status(&d) | VIRTIO_STATUS_DRIVER_OK);
	for (unsigned i = 0; i < 1024; i++)
		fake_guest_ram[DATA + i] = (uint8_t)(i * 13);
	CHECK_EQ(blk_request(&d, 1, 3, 1024, false, &used), 0);
	CHECK_EQ(used, 1);
	CHECK_EQ(disk_bytes[3 * 512 + 100], (uint8_t)(100 * 13));
	CHECK_EQ(disk_bytes[3 * 512 - 1], 0x11);
	unsigned gsi = PLATFORM_GSI_PCI_FIRST + d.slot;
	CHECK_EQ(gsi_level[gsi], 1);                     /* INTx up */
	CHECK_EQ(bar_read(&d, d.bar0 + VIRTIO_PCI_ISR_OFFSET, 1), 1);
	CHECK_EQ(gsi_level[gsi], 0);                     /* read clears */
	CHECK_EQ(bar_read(&d, d.bar0 + VIRTIO_PCI_ISR_OFFSET, 1), 0);
	memset(fake_guest_ram + DATA, 0, 1024);
	CHECK_EQ(blk_request(&d, 0, 3, 1024, true, &used), 0);
	CHECK_EQ(used, 1025);
	CHECK_EQ(fake_guest_ram[DATA + 100], (uint8_t)(100 * 13));
	CHECK_EQ(blk_request(&d, 4, 0, 0, false, &used), 0); /* flush */
	CHECK_EQ(blk_request(&d, 8, 0, 20, true, &used), 0); /* GET_ID */
	CHECK_EQ(used, 21);
	CHECK(memcmp(fake_guest_ram + DATA, "disk-t", 7) == 0);
	CHECK_EQ(blk_request(&d, 0, 64, 512, true, &used), 1);  /* beyond the disk */
	CHECK_EQ(blk_request(&d, 0, 63, 1024, true, &used), 1); /* runs past the end */
	CHECK_EQ(blk_request(&d, 0, ~0ull >> 8, 512, true, &used), 1);
	CHECK_EQ(blk_request(&d, 1, 0, 100, false, &used), 1);  /* not whole sectors */
	CHECK_EQ(blk_request(&d, 77, 0, 0, false, &used), 2);   /* UNSUPP */
	CHECK_EQ(status(&d) & VIRTIO_STATUS_NEEDS_RESET, 0);
	CHECK_EQ(msi_count, 0);
	CHECK_EQ(fake_guest_ram_refused, 0);
}

/* A request of several guest buffers, larger than the device's 256 KiB
 * coalescing buffer: the data lands on the disk in order, whole, and reads
 * back into a differently split chain; the buffer is allocated once and
 * counted as VM overhead. */
UNIT_TEST(blk_large_request_across_segments)
{
	static uint8_t big_disk[1u << 20];
	static const struct { uint64_t gpa; uint32_t length; } out[] = {
		{ 0x200000, 4096 }, { 0x240000, 300u << 10 }, { 0x300000, 8192 },
	};
	const uint64_t sector = 100, total = 4096 + (300u << 10) + 8192;
	struct driver d;

	fake_guest_ram_init(RAM_SIZE);
	fresh_vm(&vm_a, "t");
	memset(big_disk, 0x11, sizeof(big_disk));
	struct vdisk_backend *disk = vdisk_memory_create(big_disk, sizeof(big_disk), "disk-big");
	CHECK(disk != NULL);
	CHECK_EQ(vdev_virtio_blk_attach(&vm_a, disk), 0);
	probe(&d, &vm_a, 0x1042);
	CHECK(negotiate(&d, 0, 1));
	setup_queue(&d, 0, 0x10000, 0xffff);
	set_status(&d, status(&d) | VIRTIO_STATUS_DRIVER_OK);
	uint64_t overhead = vm_a.overhead_bytes;

	struct { uint32_t type, reserved; uint64_t sector; } h = { 1, 0, sector };
	uint8_t marker = 0xee;
	uint64_t n = 0;
	for (unsigned i = 0; i < 3; i++)
		for (uint32_t j = 0; j < out[i].length; j++, n++)
			fake_guest_ram[out[i].gpa + j] = (uint8_t)(n * 7 + n / 4096);
	put(HDR, &h, sizeof(h));
	put(STATUS_BYTE, &marker, 1);
	desc(&d, 0, 0, HDR, 16, VIRTQ_DESC_F_NEXT, 1);
	for (unsigned i = 0; i < 3; i++)
		desc(&d, 0, 1 + i, out[i].gpa, out[i].length, VIRTQ_DESC_F_NEXT, 2 + i);
	desc(&d, 0, 4, STATUS_BYTE, 1, VIRTQ_DESC_F_WRITE, 0);
	kick(&d, 0, 0);
	CHECK_EQ(completed(&d, 0), 1);
	CHECK_EQ(fake_guest_ram[STATUS_BYTE], 0);
	for (uint64_t k = 0; k < total; k++)
		if (big_disk[sector * 512 + k] != (uint8_t)(k * 7 + k / 4096)) {
			CHECK_EQ(k, total); /* names the first wrong byte */
			break;
		}
	CHECK_EQ(big_disk[sector * 512 - 1], 0x11);
	CHECK_EQ(big_disk[sector * 512 + total], 0x11);
	CHECK_EQ(vm_a.overhead_bytes, overhead + (256u << 10));

	/* Read back into one 12 KiB buffer and one for the rest. */
	h.type = 0;
	put(HDR, &h, sizeof(h));
	put(STATUS_BYTE, &marker, 1);
	memset(fake_guest_ram + 0x100000 + 0x10000, 0, 12288);
	memset(fake_guest_ram + 0x380000, 0, total - 12288);
	desc(&d, 0, 0, HDR, 16, VIRTQ_DESC_F_NEXT, 1);
	desc(&d, 0, 1, 0x110000, 12288, VIRTQ_DESC_F_NEXT | VIRTQ_DESC_F_WRITE, 2);
	desc(&d, 0, 2, 0x380000, (uint32_t)(total - 12288), VIRTQ_DESC_F_NEXT | VIRTQ_DESC_F_WRITE, 3);
	desc(&d, 0, 3, STATUS_BYTE, 1, VIRTQ_DESC_F_WRITE, 0);
	kick(&d, 0, 0);
	CHECK_EQ(completed(&d, 0), (int64_t)total + 1);
	CHECK_EQ(fake_guest_ram[STATUS_BYTE], 0);
	for (uint64_t k = 0; k < total; k++) {
		uint8_t got = k < 12288 ? fake_guest_ram[0x110000 + k] : fake_guest_ram[0x380000 + k - 12288];
		if (got != (uint8_t)(k * 7 + k / 4096)) {
			CHECK_EQ(k, total);
			break;
		}
	}
	CHECK_EQ(vm_a.overhead_bytes, overhead + (256u << 10));
	CHECK_EQ(fake_guest_ram_refused, 0);
}

UNIT_TEST(blk_read_only)
{
	struct driver d;
	int64_t used;
	fresh_blk(&d, true);
	CHECK(negotiate(&d, 1u << 5, 1));
	setup_queue(&d, 0, 0x10000, 0xffff);
	set_status(&d, status(&d) | VIRTIO_STATUS_DRIVER_OK);
	memset(fake_guest_ram + DATA, 0x77, 512);
	CHECK_EQ(blk_request(&d, 1, 0, 512, false, &used), 1);
	CHECK_EQ(disk_bytes[0], 0x11);
	CHECK_EQ(blk_request(&d, 0, 0, 512, true, &used), 0);
}

UNIT_TEST(blk_msix_and_needs_reset)
{
	struct driver d;
	int64_t used;
	fresh_blk(&d, false);
	CHECK(negotiate(&d, 0, 1));
	uint8_t cap = d.vm->pci->slots[d.slot]->msix_capability;
	pci_config_write(vm_a.pci, 0, d.slot, 0, cap + 2, 2, PCI_MSIX_CONTROL_ENABLE);
	for (unsigned v = 0; v < 2; v++) {
		bar_write(&d, d.msix + 16 * v, 4, 0xfee00000);
		bar_write(&d, d.msix + 16 * v + 8, 4, 0x40 + v);
		bar_write(&d, d.msix + 16 * v + 12, 4, 0);
	}
	bar_write(&d, COMMON(&d, 0x10), 2, 0);
	CHECK_EQ(bar_read(&d, COMMON(&d, 0x10), 2), 0);
	setup_queue(&d, 0, 0x10000, 1);
	set_status(&d, status(&d) | VIRTIO_STATUS_DRIVER_OK);
	CHECK_EQ(blk_request(&d, 0, 0, 512, true, &used), 0);
	CHECK_EQ(msi_count, 1);
	CHECK_EQ(msi_last_data, 0x41);
	CHECK_EQ(bar_read(&d, d.bar0 + VIRTIO_PCI_ISR_OFFSET, 1), 0);
	/* The driver asks for no interrupts: none comes. */
	uint16_t no_interrupt = VIRTQ_AVAIL_F_NO_INTERRUPT;
	put(d.q[0].avail, &no_interrupt, 2);
	CHECK_EQ(blk_request(&d, 0, 0, 512, true, &used), 0);
	CHECK_EQ(msi_count, 1);
	/* A loop: NEEDS_RESET, the configuration vector, no completion. */
	desc(&d, 0, 0, HDR, 16, VIRTQ_DESC_F_NEXT, 1);
	desc(&d, 0, 1, DATA, 16, VIRTQ_DESC_F_NEXT, 0);
	host_log_reset();
	kick(&d, 0, 0);
	CHECK(status(&d) & VIRTIO_STATUS_NEEDS_RESET);
	CHECK_EQ(completed(&d, 0), -1);
	CHECK_EQ(msi_count, 2);
	CHECK_EQ(msi_last_data, 0x40);
	CHECK(host_log_contains("vm t: virtio-blk (pci 00:01.0): descriptor chain longer than its table"));
	/* Stopped: more requests are not looked at; status writes keep the bit. */
	kick(&d, 0, 0);
	CHECK_EQ(msi_count, 2);
	set_status(&d, status(&d) | VIRTIO_STATUS_DRIVER_OK);
	CHECK(status(&d) & VIRTIO_STATUS_NEEDS_RESET);
	/* Reset and back to work. */
	CHECK(negotiate(&d, 0, 1));
	CHECK_EQ(status(&d) & VIRTIO_STATUS_NEEDS_RESET, 0);
	setup_queue(&d, 0, 0x10000, 1);
	set_status(&d, status(&d) | VIRTIO_STATUS_DRIVER_OK);
	CHECK_EQ(blk_request(&d, 0, 0, 512, true, &used), 0);
	CHECK_EQ(msi_count, 3);
	/* A request too short to have a header: NEEDS_RESET. */
	desc(&d, 0, 0, STATUS_BYTE, 1, VIRTQ_DESC_F_WRITE, 0);
	kick(&d, 0, 0);
	CHECK(status(&d) & VIRTIO_STATUS_NEEDS_RESET);
}

/* ---- virtio-console ---- */

UNIT_TEST(console_output_and_input)
{
	struct driver d;
	fake_guest_ram_init(RAM_SIZE);
	fresh_vm(&vm_a, "con");
	CHECK_EQ(vdev_virtio_console_attach(&vm_a), 0);
	probe(&d, &vm_a, 0x1043);
	CHECK_EQ(bar_read(&d, COMMON(&d, 0x12), 2), 2);
	CHECK(negotiate(&d, 0, 1));
	setup_queue(&d, 0, 0x10000, 0xffff);
	setup_queue(&d, 1, 0x20000, 0xffff);
	set_status(&d, status(&d) | VIRTIO_STATUS_DRIVER_OK);
	/* Output split over two buffers and two requests. */
	host_log_reset();
	put(DATA, "hello, wor", 10);
	put(DATA + 100, "ld\nsecond", 9);
	desc(&d, 1, 0, DATA, 10, VIRTQ_DESC_F_NEXT, 1);
	desc(&d, 1, 1, DATA + 100, 9, 0, 0);
	kick(&d, 1, 0);
	CHECK_EQ(completed(&d, 1), 0);
	CHECK(host_log_contains("vm con: hello, world\n"));
	CHECK(!host_log_contains("second"));
	put(DATA, " line\r\n", 7);
	desc(&d, 1, 2, DATA, 7, 0, 0);
	kick(&d, 1, 2);
	CHECK(host_log_contains("vm con: second line\n"));
	/* Input waits for a buffer, then arrives. */
	CHECK_EQ(vdev_virtio_console_input(&vm_a, "typed", 5), 5);
	CHECK_EQ(vdev_virtio_console_input(&vm_b, "x", 1), 0); /* no console there */
	desc(&d, 0, 0, DATA + 0x1000, 3, VIRTQ_DESC_F_WRITE, 0);
	desc(&d, 0, 1, DATA + 0x2000, 64, VIRTQ_DESC_F_WRITE, 0);
	kick(&d, 0, 0);
	CHECK_EQ(completed(&d, 0), 3);
	CHECK(memcmp(fake_guest_ram + DATA + 0x1000, "typ", 3) == 0);
	kick(&d, 0, 1);
	CHECK_EQ(completed(&d, 0), 2);
	CHECK(memcmp(fake_guest_ram + DATA + 0x2000, "ed", 2) == 0);
	CHECK_EQ(vdev_virtio_console_input(&vm_a, "!", 1), 1); /* no buffer: kept */
	CHECK_EQ(completed(&d, 0), -1);
	CHECK_EQ(gsi_level[PLATFORM_GSI_PCI_FIRST + d.slot], 1);
}

/* ---- virtio-net through the internal switch ---- */

static void start_nic(struct driver *d, struct vm *vm, uint64_t rings)
{
	probe(d, vm, 0x1041);
	CHECK(negotiate(d, 1u << 5 | 1u << 16, 1));
	setup_queue(d, 0, rings, 0xffff);
	setup_queue(d, 1, rings + 0x1000, 0xffff);
	set_status(d, status(d) | VIRTIO_STATUS_DRIVER_OK);
}

UNIT_TEST(net_between_two_vms)
{
	struct driver a, b;
	uint8_t mac_a[6], mac_b[6], frame[64] = { 0 };
	struct vswitch_stats before, after;
	fake_guest_ram_init(RAM_SIZE);
	vswitch_init();
	fresh_vm(&vm_a, "net-a");
	fresh_vm(&vm_b, "net-b");
	/* A's MAC is generated; B's is given (ethernet1.address). */
	static const uint8_t static_mac[6] = { 0x02, 0xaa, 0x00, 0x00, 0x00, 0x02 };
	const struct vnic_params nic_a = { .index = 0, .network = "VM Network" };
	const struct vnic_params nic_b = { .index = 1, .mac = static_mac, .network = "VM Network" };
	CHECK_EQ(vdev_virtio_net_attach(&vm_a, &nic_a), 0);
	CHECK_EQ(vdev_virtio_net_attach(&vm_b, &nic_b), 0);
	start_nic(&a, &vm_a, 0x10000);
	start_nic(&b, &vm_b, 0x20000);
	for (unsigned i = 0; i < 6; i++) {
		mac_a[i] = (uint8_t)bar_read(&a, a.bar0 + VIRTIO_PCI_DEVICE_OFFSET + i, 1);
		mac_b[i] = (uint8_t)bar_read(&b, b.bar0 + VIRTIO_PCI_DEVICE_OFFSET + i, 1);
	}
	vnic_mac_for("net-a", 0, frame);
	CHECK(memcmp(frame, mac_a, 6) == 0);
	CHECK_EQ(mac_a[0], 0x02);
	CHECK(memcmp(mac_b, static_mac, 6) == 0);
	CHECK_EQ(bar_read(&a, a.bar0 + VIRTIO_PCI_DEVICE_OFFSET + 6, 2), 1); /* link up */
	/* B posts a receive buffer; A sends a broadcast then a unicast to B. */
	desc(&b, 0, 0, 0x300000, 2048, VIRTQ_DESC_F_WRITE, 0);
	desc(&b, 0, 1, 0x301000, 2048, VIRTQ_DESC_F_WRITE, 0);
	kick(&b, 0, 0);
	kick(&b, 0, 1);
	memset(frame, 0xff, 6);
	memcpy(frame + 6, mac_a, 6);
	frame[12] = 0x08;
	frame[20] = 0x42;
	memset(fake_guest_ram + 0x200000, 0, 12); /* the virtio_net_hdr */
	put(0x20000c, frame, sizeof(frame));
	desc(&a, 1, 0, 0x200000, 12, VIRTQ_DESC_F_NEXT, 1);
	desc(&a, 1, 1, 0x20000c, sizeof(frame), 0, 0);
	vswitch_get_stats(&before);
	kick(&a, 1, 0);
	CHECK_EQ(completed(&a, 1), 0);
	CHECK_EQ(completed(&b, 0), 12 + sizeof(frame));
	CHECK_EQ(fake_guest_ram[0x300000 + 10], 1); /* num_buffers */
	CHECK(memcmp(fake_guest_ram + 0x300000 + 12, frame, sizeof(frame)) == 0);
	memcpy(frame, mac_b, 6);
	put(0x20000c, frame, sizeof(frame));
	desc(&a, 1, 0, 0x200000, 12 + sizeof(frame), 0, 0); /* header and frame in one buffer */
	kick(&a, 1, 0);
	CHECK_EQ(completed(&b, 0), 12 + sizeof(frame));
	CHECK_EQ(fake_guest_ram[0x301000 + 12 + 20], 0x42);
	/* B has no buffer left: the next frame is dropped, A is not stuck. */
	kick(&a, 1, 0);
	CHECK_EQ(completed(&a, 1), 0);
	CHECK_EQ(completed(&b, 0), -1);
	vswitch_get_stats(&after);
	CHECK_EQ(after.frames - before.frames, 3);
	CHECK_EQ(after.dropped - before.dropped, 1);
	/* A runt (header only) is dropped by the device itself. */
	desc(&a, 1, 0, 0x200000, 12, 0, 0);
	kick(&a, 1, 0);
	CHECK_EQ(completed(&a, 1), 0);
	vswitch_get_stats(&before);
	CHECK_EQ(before.frames, after.frames);
}

/* ---- virtio-vsock ---- */

struct vsock_packet {
	uint64_t src_cid, dst_cid;
	uint32_t src_port, dst_port, len;
	uint16_t type, op;
	uint32_t flags, buf_alloc, fwd_cnt;
} __attribute__((packed));

#define VSOCK_RX_BUFFERS 0x40000u
#define VSOCK_RX_BUFFER_SIZE 0x200u
#define VSOCK_TX_BUFFER 0x50000u
enum { OP_REQUEST = 1, OP_RESPONSE, OP_RST, OP_SHUTDOWN, OP_RW, OP_CREDIT_UPDATE, OP_CREDIT_REQUEST };

static unsigned vsock_accepted, vsock_closed;
static uint64_t vsock_peer_cid;

static int echo_accept(struct vsock_connection *c, struct vm *vm, uint64_t peer_cid)
{
	(void)c;
	(void)vm;
	vsock_peer_cid = peer_cid;
	vsock_accepted++;
	return 0;
}

/* Echoes; "close" makes it close the connection. */
static void echo_receive(struct vsock_connection *c, const char *data, size_t length)
{
	if (length == 5 && !memcmp(data, "close", 5)) {
		vsock_close(c);
		return;
	}
	CHECK_EQ(vsock_send(c, data, length), 0);
}

static void echo_closed(struct vsock_connection *c)
{
	(void)c;
	vsock_closed++;
}

static const struct vsock_service echo_service = { 1024, echo_accept, echo_receive, echo_closed };

static void vsock_post_rx(struct driver *d, uint16_t buffer)
{
	desc(d, 0, buffer, VSOCK_RX_BUFFERS + buffer * VSOCK_RX_BUFFER_SIZE, VSOCK_RX_BUFFER_SIZE,
	     VIRTQ_DESC_F_WRITE, 0);
	kick(d, 0, buffer);
}

/* The guest sends one packet (header + payload). */
static void vsock_send_packet(struct driver *d, uint64_t src_cid, uint32_t src_port, uint32_t dst_port,
			      uint16_t op, const char *payload, uint32_t len, uint32_t buf_alloc)
{
	struct vsock_packet h = { src_cid, VSOCK_CID_HOST, src_port, dst_port, len, 1, op, 0, buf_alloc, 0 };
	put(VSOCK_TX_BUFFER, &h, sizeof(h));
	if (payload)
		put(VSOCK_TX_BUFFER + sizeof(h), payload, (unsigned)strlen(payload));
	desc(d, 1, 0, VSOCK_TX_BUFFER, (uint32_t)sizeof(h) + (payload ? (uint32_t)strlen(payload) : 0), 0, 0);
	kick(d, 1, 0);
	CHECK_EQ(completed(d, 1), 0);
}

/* The next packet the device put into a receive buffer (re-posted), or
 * op 0 when none. */
static struct vsock_packet vsock_receive(struct driver *d, char *payload)
{
	struct vsock_packet h = { 0 };
	if (get16(d->q[0].used + 2) == d->q[0].used_seen)
		return h;
	uint64_t element = d->q[0].used + 4 + 8 * (d->q[0].used_seen++ % QSIZE);
	uint16_t buffer = (uint16_t)get32(element);
	uint32_t length = get32(element + 4);
	uint64_t at = VSOCK_RX_BUFFERS + buffer * VSOCK_RX_BUFFER_SIZE;
	CHECK(length >= sizeof(h));
	memcpy(&h, fake_guest_ram + at, sizeof(h));
	CHECK_EQ(length, sizeof(h) + h.len);
	if (payload) {
		memcpy(payload, fake_guest_ram + at + sizeof(h), h.len);
		payload[h.len] = '\0';
	}
	vsock_post_rx(d, buffer);
	return h;
}

UNIT_TEST(vsock_streams_and_hostile_packets)
{
	struct driver d;
	char text[VSOCK_RX_BUFFER_SIZE];
	struct vsock_packet p;
	fake_guest_ram_init(RAM_SIZE);
	fresh_vm(&vm_a, "console");
	CHECK_EQ(vdev_virtio_vsock_attach(&vm_a, VSOCK_CID_CONSOLE), 0);
	static bool registered;
	if (!registered) {
		CHECK_EQ(vsock_register_service(&echo_service), 0);
		registered = true;
	}
	CHECK_EQ(vsock_register_service(&echo_service), -EEXIST);
	probe(&d, &vm_a, 0x1053);
	CHECK_EQ(bar_read(&d, d.bar0 + VIRTIO_PCI_DEVICE_OFFSET, 8), VSOCK_CID_CONSOLE);
	CHECK(negotiate(&d, 0, 1));
	setup_queue(&d, 0, 0x10000, 0xffff);
	setup_queue(&d, 1, 0x11000, 0xffff);
	set_status(&d, status(&d) | VIRTIO_STATUS_DRIVER_OK);
	for (uint16_t i = 0; i < 4; i++)
		vsock_post_rx(&d, i);
	vsock_accepted = vsock_closed = 0;

	/* Connect, echo. */
	vsock_send_packet(&d, 3, 5000, 1024, OP_REQUEST, NULL, 0, 4096);
	p = vsock_receive(&d, NULL);
	CHECK_EQ(p.op, OP_RESPONSE);
	CHECK_EQ(p.dst_port, 5000);
	CHECK_EQ(p.dst_cid, 3);
	CHECK_EQ(p.buf_alloc, 65536);
	CHECK_EQ(vsock_accepted, 1);
	CHECK_EQ(vsock_peer_cid, 3);
	vsock_send_packet(&d, 3, 5000, 1024, OP_RW, "hello", 5, 4096);
	p = vsock_receive(&d, text);
	CHECK_EQ(p.op, OP_RW);
	CHECK_EQ(p.fwd_cnt, 5);
	CHECK(strcmp(text, "hello") == 0);

	/* A spoofed source CID, an unknown port, an unknown op: resets only. */
	vsock_send_packet(&d, 4, 5000, 1024, OP_RW, "spoof", 5, 4096);
	CHECK_EQ(vsock_receive(&d, NULL).op, OP_RST);
	CHECK_EQ(vsock_closed, 0);
	vsock_send_packet(&d, 3, 5001, 999, OP_REQUEST, NULL, 0, 4096);
	p = vsock_receive(&d, NULL);
	CHECK_EQ(p.op, OP_RST);
	CHECK_EQ(p.dst_port, 5001);
	vsock_send_packet(&d, 3, 5002, 1024, OP_RW, "x", 1, 4096); /* no such connection */
	CHECK_EQ(vsock_receive(&d, NULL).op, OP_RST);
	vsock_send_packet(&d, 3, 5000, 1024, OP_RW, "again", 5, 4096);
	p = vsock_receive(&d, text);
	CHECK_EQ(p.op, OP_RW);
	CHECK(strcmp(text, "again") == 0);

	/* Flow control: no credit, no data; a credit update releases it. */
	vsock_send_packet(&d, 3, 5000, 1024, OP_RW, "wait", 4, 9); /* 9 - 10 sent: no credit */
	CHECK_EQ(vsock_receive(&d, NULL).op, 0);
	vsock_send_packet(&d, 3, 5000, 1024, OP_CREDIT_UPDATE, NULL, 0, 4096);
	p = vsock_receive(&d, text);
	CHECK_EQ(p.op, OP_RW);
	CHECK(strcmp(text, "wait") == 0);
	vsock_send_packet(&d, 3, 5000, 1024, OP_CREDIT_REQUEST, NULL, 0, 4096);
	p = vsock_receive(&d, NULL);
	CHECK_EQ(p.op, OP_CREDIT_UPDATE);
	CHECK_EQ(p.fwd_cnt, 14);

	/* A second connection; then a length beyond its buffer resets the first only. */
	vsock_send_packet(&d, 3, 6000, 1024, OP_REQUEST, NULL, 0, 4096);
	CHECK_EQ(vsock_receive(&d, NULL).op, OP_RESPONSE);
	struct vsock_packet lying = { 3, VSOCK_CID_HOST, 5000, 1024, 4000, 1, OP_RW, 0, 4096, 0 };
	put(VSOCK_TX_BUFFER, &lying, sizeof(lying));
	desc(&d, 1, 0, VSOCK_TX_BUFFER, sizeof(lying) + 8, 0, 0);
	kick(&d, 1, 0);
	CHECK_EQ(completed(&d, 1), 0);
	p = vsock_receive(&d, NULL);
	CHECK_EQ(p.op, OP_RST);
	CHECK_EQ(p.dst_port, 5000);
	CHECK_EQ(vsock_closed, 1);
	vsock_send_packet(&d, 3, 6000, 1024, OP_RW, "alive", 5, 4096);
	p = vsock_receive(&d, text);
	CHECK_EQ(p.dst_port, 6000);
	CHECK(strcmp(text, "alive") == 0);
	CHECK(!(status(&d) & VIRTIO_STATUS_NEEDS_RESET));

	/* The service closes: SHUTDOWN, then the guest's RST ends it. */
	vsock_send_packet(&d, 3, 6000, 1024, OP_RW, "close", 5, 4096);
	p = vsock_receive(&d, NULL);
	CHECK_EQ(p.op, OP_SHUTDOWN);
	CHECK_EQ(p.flags, 3);
	vsock_send_packet(&d, 3, 6000, 1024, OP_RST, NULL, 0, 4096);
	CHECK_EQ(vsock_closed, 2);
	CHECK_EQ(vsock_receive(&d, NULL).op, 0);
}

UNIT_MAIN()

/*
 * virtio_blk: the PCI bus and a virtio-blk disk driven by hand. Enumerates
 * bus 0 through 0xcf8/0xcfc and ECAM (host bridge 1b36:0008 at 00:00.0,
 * virtio-blk 1af4:1042), sizes both BARs and moves them, walks the
 * capability list, negotiates VIRTIO_F_VERSION_1, sets up one queue; a
 * write of 4 KiB then a read back compare equal (checksum printed), first
 * with INTx + ISR (MSI-X off: ISR reads 1 then 0), then with MSI-X (an
 * interrupt arrives); GET_ID, a read beyond the disk (IOERR) and an
 * unknown request type (UNSUPP). Needs a disk of at least 64 KiB.
 * Hypervisor-only: SKIP on bare QEMU. 64-bit.
 */
#include "guest.h"
#include "virtio_guest.h"

const char guest_name[] = "virtio_blk";

#define MSIX_IDT_VECTOR 0x50
#define BLK_T_IN 0
#define BLK_T_OUT 1
#define BLK_T_GET_ID 8
#define SECTOR 5

static struct vg_ring ring;
static struct { uint32_t type, reserved; uint64_t sector; } header __attribute__((aligned(16)));
static volatile uint8_t status;
static uint8_t written[4096] __attribute__((aligned(4096)));
static uint8_t readback[4096] __attribute__((aligned(4096)));
static volatile unsigned interrupts;

static void on_msix(struct guest_frame *frame)
{
	(void)frame;
	interrupts++;
	lapic_eoi();
}

/* One request: header, optional data, status. Returns the status byte and
 * stores the used length. */
static uint8_t request(struct vg_device *d, uint32_t type, uint64_t sector, void *data, uint32_t length,
		       uint32_t *used_length)
{
	header.type = type;
	header.sector = sector;
	status = 0xee;
	ring.desc[0] = (struct vg_desc){ (uintptr_t)&header, sizeof(header), VG_DESC_NEXT, 1 };
	uint16_t status_index = 1;
	if (length) {
		uint16_t flags = VG_DESC_NEXT | (type == BLK_T_OUT ? 0 : VG_DESC_WRITE);
		ring.desc[1] = (struct vg_desc){ (uintptr_t)data, length, flags, 2 };
		status_index = 2;
	}
	ring.desc[status_index] = (struct vg_desc){ (uintptr_t)&status, 1, VG_DESC_WRITE, 0 };
	vg_offer(d, &ring, 0, 0);
	CHECK(vg_wait_used(d, &ring), "request type %u: no completion", type);
	CHECK_EQ(ring.used_ring[(d->last_used - 1) % VG_QUEUE_SIZE].id, 0, "used id");
	*used_length = ring.used_ring[(d->last_used - 1) % VG_QUEUE_SIZE].len;
	return status;
}

static uint32_t checksum(const uint8_t *data, unsigned length)
{
	uint32_t hash = 2166136261u;
	for (unsigned i = 0; i < length; i++)
		hash = (hash ^ data[i]) * 16777619u;
	return hash;
}

static void write_and_read_back(struct vg_device *d, uint32_t seed)
{
	uint32_t used;
	for (unsigned i = 0; i < sizeof(written); i++)
		written[i] = (uint8_t)((i * 7 + seed) ^ (i >> 8));
	memset(readback, 0, sizeof(readback));
	CHECK_EQ(request(d, BLK_T_OUT, SECTOR, written, sizeof(written), &used), 0, "write status");
	CHECK_EQ(used, 1, "write: used length (the status byte)");
	CHECK_EQ(request(d, BLK_T_IN, SECTOR, readback, sizeof(readback), &used), 0, "read status");
	CHECK_EQ(used, sizeof(readback) + 1, "read: used length");
	CHECK(memcmp(written, readback, sizeof(written)) == 0, "data read back differs");
	guest_printf("virtio_blk: wrote and read back 4096 bytes at sector %u, checksum %x = %x\n", SECTOR,
		     checksum(written, sizeof(written)), checksum(readback, sizeof(readback)));
}

void guest_main(uint32_t multiboot_info)
{
	struct vg_device d = { 0 };
	uint32_t used;
	char id[21] = { 0 };
	(void)multiboot_info;

	if (skip_unless_kapsel("virtio-pci"))
		return;
	CHECK_EQ(vg_cf8_read(0, 0, 4), 0x00081b36, "host bridge vendor:device");
	CHECK_EQ(vg_cf8_read(0, 8, 4) >> 8, 0x060000, "host bridge class");
	CHECK_EQ(*vg_ecam(0, 0), 0x00081b36, "host bridge through ECAM");
	CHECK_EQ(*vg_ecam(0, 0x100), 0, "no extended capabilities");
	CHECK(vg_find(&d, 0x1042), "no virtio-blk (1af4:1042) on bus 0");
	CHECK_EQ(vg_cf8_read(d.slot, 8, 4) >> 8, 0x010000, "virtio-blk class");
	CHECK(vg_cf8_read(d.slot, 8, 1) >= 1, "modern virtio needs revision >= 1");
	CHECK_EQ(vg_cf8_read(d.slot, 0x3d, 1), 1, "interrupt pin INTA#");
	vg_program_bars(&d);
	vg_find_capabilities(&d);
	uint64_t capacity = *(volatile uint64_t *)d.device;
	CHECK(capacity >= 128, "disk of at least 64 KiB (%lu sectors)", (unsigned long)capacity);
	CHECK_EQ(VG_COMMON16(&d, VG_NUM_QUEUES), 1, "virtio-blk queues");

	/* INTx + ISR first (MSI-X off). */
	vg_negotiate(&d, 0);
	vg_queue_setup(&d, 0, &ring, VG_QUEUE_SIZE, VG_NO_VECTOR);
	vg_driver_ok(&d);
	CHECK(vg_status(&d) & VG_STATUS_DRIVER_OK, "DRIVER_OK set");
	CHECK_EQ(*d.isr, 0, "ISR before any request");
	write_and_read_back(&d, 1);
	CHECK_EQ(*d.isr, 1, "ISR after a completion (queue interrupt, INTx)");
	CHECK_EQ(*d.isr, 0, "ISR is cleared by reading it");

	/* Again with MSI-X: vector 1 for the queue, 0 for configuration. */
	lapic_enable();
	guest_set_handler(MSIX_IDT_VECTOR, on_msix);
	vg_negotiate(&d, 0);
	vg_msix_program(&d, 1, MSIX_IDT_VECTOR);
	vg_msix_enable(&d);
	VG_COMMON16(&d, VG_CONFIG_MSIX_VECTOR) = 9; /* beyond the table */
	CHECK_EQ(VG_COMMON16(&d, VG_CONFIG_MSIX_VECTOR), VG_NO_VECTOR, "bad config vector refused");
	VG_COMMON16(&d, VG_CONFIG_MSIX_VECTOR) = 0;
	CHECK_EQ(VG_COMMON16(&d, VG_CONFIG_MSIX_VECTOR), 0, "config vector");
	vg_queue_setup(&d, 0, &ring, VG_QUEUE_SIZE, 1);
	vg_driver_ok(&d);
	interrupts_enable();
	write_and_read_back(&d, 2);
	for (unsigned i = 0; i < 1000 && interrupts < 2; i++)
		guest_delay_us(1000);
	CHECK(interrupts >= 2, "MSI-X interrupts: %u (want one per request)", interrupts);
	CHECK_EQ(*d.isr, 0, "ISR stays 0 with MSI-X");

	CHECK_EQ(request(&d, BLK_T_GET_ID, 0, id, 20, &used), 0, "GET_ID status");
	guest_printf("virtio_blk: disk id '%s', %lu sectors, %u interrupts\n", id, (unsigned long)capacity,
		     interrupts);
	/* Cost of a request round trip (doorbell exit, device work, completion),
	 * for comparison with the bench guest's plain MMIO write. */
	uint64_t start = rdtsc_ordered();
	for (unsigned i = 0; i < 100; i++)
		CHECK_EQ(request(&d, BLK_T_IN, i % 64, readback, 512, &used), 0, "timed read");
	guest_printf("virtio_blk: 512-byte read round trip %lu TSC ticks (100 reads)\n",
		     (unsigned long)((rdtsc_ordered() - start) / 100));
	CHECK_EQ(request(&d, BLK_T_IN, capacity, readback, 512, &used), 1, "read beyond the disk: IOERR");
	CHECK_EQ(request(&d, 99, 0, NULL, 0, &used), 2, "unknown request type: UNSUPP");
	CHECK(!(vg_status(&d) & VG_STATUS_NEEDS_RESET), "device still healthy");
	VG_COMMON8(&d, VG_DEVICE_STATUS) = 0;
	CHECK_EQ(vg_status(&d), 0, "status after the final reset");
}

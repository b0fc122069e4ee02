/*
 * virtio_hostile: a driver that programs its virtio-blk device wrongly.
 * Each case must end with the device in DEVICE_NEEDS_RESET (no completion,
 * nothing written outside guest RAM, the VM and every other VM running),
 * and a reset must bring the device back: a descriptor loop, a loop inside
 * an indirect table, a buffer beyond RAM, a 4 GiB length, a queue whose
 * rings lie beyond RAM, a non-power-of-two queue size, an available index
 * far ahead. Also: MSI-X table writes beyond the table and misaligned ones
 * are ignored, configuration writes to absent functions are dropped. Ends
 * with a good write and read. Hypervisor-only: SKIP on bare QEMU. 64-bit.
 */
#include "guest.h"
#include "virtio_guest.h"

const char guest_name[] = "virtio_hostile";

#define VIRTIO_F_INDIRECT_DESC (1u << 28)
#define BEYOND_RAM 0x7ff00000ull /* the VM has far less RAM */

static struct vg_ring ring;
static struct vg_desc indirect[4] __attribute__((aligned(16)));
static struct { uint32_t type, reserved; uint64_t sector; } header __attribute__((aligned(16)));
static volatile uint8_t status;
static uint8_t data[512] __attribute__((aligned(512)));

static void start(struct vg_device *d)
{
	vg_negotiate(d, VIRTIO_F_INDIRECT_DESC);
	vg_queue_setup(d, 0, &ring, VG_QUEUE_SIZE, VG_NO_VECTOR);
	vg_driver_ok(d);
	CHECK_EQ(vg_status(d) & VG_STATUS_NEEDS_RESET, 0, "healthy after reset");
}

static void good_request(struct vg_device *d, uint32_t type)
{
	header.type = type;
	header.sector = 1;
	status = 0xee;
	ring.desc[0] = (struct vg_desc){ (uintptr_t)&header, 16, VG_DESC_NEXT, 1 };
	ring.desc[1] = (struct vg_desc){ (uintptr_t)data, 512, VG_DESC_NEXT | (type ? 0 : VG_DESC_WRITE), 2 };
	ring.desc[2] = (struct vg_desc){ (uintptr_t)&status, 1, VG_DESC_WRITE, 0 };
	vg_offer(d, &ring, 0, 0);
	CHECK(vg_wait_used(d, &ring), "good request not completed");
	CHECK_EQ(status, 0, "good request status");
}

static void lay(struct vg_desc d0, struct vg_desc d1, struct vg_desc d2)
{
	header.type = 0;
	ring.desc[0] = d0;
	ring.desc[1] = d1;
	ring.desc[2] = d2;
}

/* Offers head 0 (already laid out), then expects NEEDS_RESET and no completion. */
static void expect_needs_reset(struct vg_device *d, const char *what)
{
	uint16_t used_before = ring.used_idx;
	vg_offer(d, &ring, 0, 0);
	for (unsigned i = 0; i < 200 && !(vg_status(d) & VG_STATUS_NEEDS_RESET); i++)
		guest_delay_us(1000);
	CHECK(vg_status(d) & VG_STATUS_NEEDS_RESET, "%s: device not in NEEDS_RESET", what);
	CHECK_EQ(ring.used_idx, used_before, "no completion for bad input");
	guest_printf("virtio_hostile: %s -> NEEDS_RESET\n", what);
	start(d);
}

void guest_main(uint32_t multiboot_info)
{
	struct vg_device d = { 0 };
	(void)multiboot_info;

	if (skip_unless_kapsel("virtio-pci"))
		return;
	/* Configuration writes nobody decodes. */
	outl(0xcf8, 0x80000000u | 31 << 11);
	outl(0xcfc, 0xffffffff);
	CHECK_EQ(inl(0xcfc), 0xffffffff, "empty slot reads all-ones");
	*vg_ecam(0, 0x1000 * 3) = 0x12345678; /* function 3 of the host bridge */
	CHECK_EQ(*vg_ecam(0, 0x1000 * 3), 0xffffffff, "absent function reads all-ones");
	outl(0xcf8, 0x00000000); /* enable bit clear */
	CHECK_EQ(inl(0xcfc), 0xffffffff, "data port without the enable bit");

	CHECK(vg_find(&d, 0x1042), "no virtio-blk (1af4:1042) on bus 0");
	vg_program_bars(&d);
	vg_find_capabilities(&d);
	start(&d);
	good_request(&d, 1);

	/* MSI-X table: 2 vectors (one queue + config); entry 5 is beyond it. */
	d.msix_table[5 * 4 + 2] = 0x1234;
	CHECK_EQ(d.msix_table[5 * 4 + 2], 0, "write beyond the MSI-X table ignored");
	*(volatile uint16_t *)((volatile uint8_t *)d.msix_table + 2) = 0xffff; /* misaligned word */
	CHECK_EQ(d.msix_table[0], 0, "misaligned MSI-X write ignored");
	CHECK_EQ(d.msix_table[3], 1, "vectors start masked");

	/* Each case lays out its descriptors on a freshly reset queue. */
	lay((struct vg_desc){ (uintptr_t)&header, 16, VG_DESC_NEXT, 1 },
	    (struct vg_desc){ (uintptr_t)data, 512, VG_DESC_NEXT, 0 }, (struct vg_desc){ 0 });
	expect_needs_reset(&d, "descriptor loop");

	lay((struct vg_desc){ (uintptr_t)&header, 16, VG_DESC_NEXT, 1 },
	    (struct vg_desc){ BEYOND_RAM, 512, VG_DESC_NEXT | VG_DESC_WRITE, 2 },
	    (struct vg_desc){ (uintptr_t)&status, 1, VG_DESC_WRITE, 0 });
	expect_needs_reset(&d, "buffer beyond RAM");

	lay((struct vg_desc){ (uintptr_t)&header, 16, VG_DESC_NEXT, 1 },
	    (struct vg_desc){ (uintptr_t)data, 0xffffffffu, VG_DESC_NEXT | VG_DESC_WRITE, 2 },
	    (struct vg_desc){ (uintptr_t)&status, 1, VG_DESC_WRITE, 0 });
	expect_needs_reset(&d, "4 GiB buffer");

	indirect[0] = (struct vg_desc){ (uintptr_t)&header, 16, VG_DESC_NEXT, 1 };
	indirect[1] = (struct vg_desc){ (uintptr_t)data, 512, VG_DESC_NEXT, 2 };
	indirect[2] = (struct vg_desc){ (uintptr_t)data, 512, VG_DESC_NEXT, 0 };
	lay((struct vg_desc){ (uintptr_t)indirect, sizeof(indirect), VG_DESC_INDIRECT, 0 },
	    (struct vg_desc){ 0 }, (struct vg_desc){ 0 });
	expect_needs_reset(&d, "loop in an indirect table");

	ring.avail_idx = (uint16_t)(ring.avail_idx + 100);
	expect_needs_reset(&d, "available index far ahead");

	/* Rings beyond RAM: refused when the queue is enabled. */
	vg_negotiate(&d, 0);
	VG_COMMON16(&d, VG_QUEUE_SELECT) = 0;
	VG_COMMON64(&d, VG_QUEUE_DESC) = BEYOND_RAM;
	VG_COMMON64(&d, VG_QUEUE_DRIVER) = (uintptr_t)&ring.avail_flags;
	VG_COMMON64(&d, VG_QUEUE_DEVICE) = (uintptr_t)&ring.used_flags;
	VG_COMMON16(&d, VG_QUEUE_ENABLE) = 1;
	CHECK(vg_status(&d) & VG_STATUS_NEEDS_RESET, "rings beyond RAM: no NEEDS_RESET");
	CHECK_EQ(VG_COMMON16(&d, VG_QUEUE_ENABLE), 0, "queue with rings beyond RAM stays disabled");
	guest_printf("virtio_hostile: rings beyond RAM -> NEEDS_RESET\n");

	vg_negotiate(&d, 0);
	VG_COMMON16(&d, VG_QUEUE_SELECT) = 0;
	VG_COMMON16(&d, VG_QUEUE_SIZE_REG) = 6;
	VG_COMMON64(&d, VG_QUEUE_DESC) = (uintptr_t)ring.desc;
	VG_COMMON16(&d, VG_QUEUE_ENABLE) = 1;
	CHECK(vg_status(&d) & VG_STATUS_NEEDS_RESET, "queue size 6: no NEEDS_RESET");
	guest_printf("virtio_hostile: queue size 6 -> NEEDS_RESET\n");

	/* Features the device never offered: FEATURES_OK does not stick. */
	VG_COMMON8(&d, VG_DEVICE_STATUS) = 0;
	VG_COMMON8(&d, VG_DEVICE_STATUS) = VG_STATUS_ACKNOWLEDGE | VG_STATUS_DRIVER;
	VG_COMMON32(&d, VG_DRIVER_FEATURE_SELECT) = 0;
	VG_COMMON32(&d, VG_DRIVER_FEATURE) = 1u << 30;
	VG_COMMON32(&d, VG_DRIVER_FEATURE_SELECT) = 1;
	VG_COMMON32(&d, VG_DRIVER_FEATURE) = 1;
	VG_COMMON8(&d, VG_DEVICE_STATUS) = VG_STATUS_ACKNOWLEDGE | VG_STATUS_DRIVER | VG_STATUS_FEATURES_OK;
	CHECK_EQ(vg_status(&d) & VG_STATUS_FEATURES_OK, 0, "unoffered feature accepted");

	/* Back to work after a reset. */
	start(&d);
	for (unsigned i = 0; i < sizeof(data); i++)
		data[i] = (uint8_t)(i ^ 0x5a);
	good_request(&d, 1);
	memset(data, 0, sizeof(data));
	good_request(&d, 0);
	for (unsigned i = 0; i < sizeof(data); i++)
		CHECK_EQ(data[i], (uint8_t)(i ^ 0x5a), "data after recovery");
}

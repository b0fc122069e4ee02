/*
 * A minimal virtio-pci driver for the test guests (virtio_blk.c,
 * virtio_hostile.c), written from the PCI and virtio 1.x specifications:
 * configuration space through 0xcf8/0xcfc and ECAM, BAR sizing and
 * placement, the capability list, the modern transport's common
 * configuration, one split queue and MSI-X. Everything is identity-mapped
 * (64-bit guests), so guest-virtual = guest-physical.
 */
#ifndef GUEST_VIRTIO_GUEST_H
#define GUEST_VIRTIO_GUEST_H

#include "guest.h"

#define VG_ECAM 0xe0000000ull
#define VG_BAR0 0xc0400000u /* where the guest moves the BARs */
#define VG_BAR1 0xc0410000u

#define VG_STATUS_ACKNOWLEDGE 1
#define VG_STATUS_DRIVER 2
#define VG_STATUS_DRIVER_OK 4
#define VG_STATUS_FEATURES_OK 8
#define VG_STATUS_NEEDS_RESET 0x40

#define VG_DESC_NEXT 1
#define VG_DESC_WRITE 2
#define VG_DESC_INDIRECT 4
#define VG_QUEUE_SIZE 8
#define VG_NO_VECTOR 0xffff

struct vg_desc {
	uint64_t addr;
	uint32_t len;
	uint16_t flags;
	uint16_t next;
};

struct vg_ring {
	struct vg_desc desc[VG_QUEUE_SIZE];
	uint16_t avail_flags, avail_idx, avail_ring[VG_QUEUE_SIZE], used_event;
	uint8_t pad[4096 - 16 * VG_QUEUE_SIZE - 6 - 2 * VG_QUEUE_SIZE];
	volatile uint16_t used_flags, used_idx;
	volatile struct { uint32_t id, len; } used_ring[VG_QUEUE_SIZE];
} __attribute__((aligned(4096)));

struct vg_device {
	unsigned slot;
	uint32_t bar_size[2];
	volatile uint8_t *common, *isr, *device, *notify;
	uint32_t notify_multiplier;
	uint8_t msix_cap;
	volatile uint32_t *msix_table;
	uint16_t last_used;
	volatile uint16_t *doorbell[2]; /* per queue, from queue_notify_off */
};

static inline uint32_t vg_cf8_read(unsigned slot, unsigned offset, unsigned size)
{
	outl(0xcf8, 0x80000000u | slot << 11 | (offset & 0xfc));
	uint16_t port = (uint16_t)(0xcfc + (offset & 3));
	return size == 1 ? inb(port) : size == 2 ? inw(port) : inl(port);
}

static inline void vg_cf8_write(unsigned slot, unsigned offset, unsigned size, uint32_t value)
{
	outl(0xcf8, 0x80000000u | slot << 11 | (offset & 0xfc));
	uint16_t port = (uint16_t)(0xcfc + (offset & 3));
	if (size == 1)
		outb(port, (uint8_t)value);
	else if (size == 2)
		outw(port, (uint16_t)value);
	else
		outl(port, value);
}

static inline volatile uint32_t *vg_ecam(unsigned slot, unsigned offset)
{
	return (volatile uint32_t *)(uintptr_t)(VG_ECAM + (slot << 15) + offset);
}

#define VG_COMMON8(d, o) (*(volatile uint8_t *)((d)->common + (o)))
#define VG_COMMON16(d, o) (*(volatile uint16_t *)((d)->common + (o)))
#define VG_COMMON32(d, o) (*(volatile uint32_t *)((d)->common + (o)))
#define VG_COMMON64(d, o) (*(volatile uint64_t *)((d)->common + (o)))

/* Common configuration offsets. */
#define VG_DEVICE_FEATURE_SELECT 0x00
#define VG_DEVICE_FEATURE 0x04
#define VG_DRIVER_FEATURE_SELECT 0x08
#define VG_DRIVER_FEATURE 0x0c
#define VG_CONFIG_MSIX_VECTOR 0x10
#define VG_NUM_QUEUES 0x12
#define VG_DEVICE_STATUS 0x14
#define VG_QUEUE_SELECT 0x16
#define VG_QUEUE_SIZE_REG 0x18
#define VG_QUEUE_MSIX_VECTOR 0x1a
#define VG_QUEUE_ENABLE 0x1c
#define VG_QUEUE_NOTIFY_OFF 0x1e
#define VG_QUEUE_DESC 0x20
#define VG_QUEUE_DRIVER 0x28
#define VG_QUEUE_DEVICE 0x30

/* Finds the first function with this vendor:device through 0xcf8 and
 * checks that ECAM shows the same. Returns false when there is none. */
static inline bool vg_find(struct vg_device *d, uint16_t device_id)
{
	for (unsigned slot = 0; slot < 32; slot++) {
		uint32_t id = vg_cf8_read(slot, 0, 4);
		if (id == ((uint32_t)device_id << 16 | 0x1af4)) {
			CHECK_EQ(*vg_ecam(slot, 0), id, "vendor:device through ECAM");
			CHECK_EQ(vg_cf8_read(slot, 2, 2), device_id, "device ID by a word access");
			d->slot = slot;
			return true;
		}
	}
	return false;
}

/* Sizes BAR0 and BAR1 (all-ones, read back), moves them to VG_BAR0/1 and
 * enables memory decoding and bus mastering. */
static inline void vg_program_bars(struct vg_device *d)
{
	for (unsigned i = 0; i < 2; i++) {
		unsigned offset = 0x10 + 4 * i;
		uint32_t original = vg_cf8_read(d->slot, offset, 4);
		CHECK((original & 0xf) == 0, "BAR%u is a 32-bit memory BAR (0x%x)", i, original);
		CHECK(original != 0, "BAR%u was placed by the platform", i);
		vg_cf8_write(d->slot, offset, 4, 0xffffffff);
		uint32_t mask = vg_cf8_read(d->slot, offset, 4);
		d->bar_size[i] = ~(mask & ~0xfu) + 1;
		CHECK(d->bar_size[i] >= 4096 && !(d->bar_size[i] & (d->bar_size[i] - 1)),
		      "BAR%u size 0x%x is a power of two >= 4 KiB", i, d->bar_size[i]);
		/* The new address through ECAM, read back through 0xcf8. */
		*vg_ecam(d->slot, offset) = i ? VG_BAR1 : VG_BAR0;
		CHECK_EQ(vg_cf8_read(d->slot, offset, 4), i ? VG_BAR1 : VG_BAR0, "BAR after programming");
	}
	vg_cf8_write(d->slot, 4, 2, 0x6); /* memory space, bus master */
	CHECK_EQ(vg_cf8_read(d->slot, 4, 2), 0x6, "command register");
}

/* Walks the capability list for the virtio regions and MSI-X. */
static inline void vg_find_capabilities(struct vg_device *d)
{
	CHECK(vg_cf8_read(d->slot, 6, 2) & 0x10, "status shows a capability list");
	unsigned at = vg_cf8_read(d->slot, 0x34, 1), count = 0;
	while (at && count++ < 48) {
		uint8_t id = (uint8_t)vg_cf8_read(d->slot, at, 1);
		if (id == 0x09) {
			uint8_t type = (uint8_t)vg_cf8_read(d->slot, at + 3, 1);
			uint8_t bar = (uint8_t)vg_cf8_read(d->slot, at + 4, 1);
			uint32_t offset = vg_cf8_read(d->slot, at + 8, 4);
			CHECK(bar == 0, "virtio region in BAR0");
			volatile uint8_t *p = (volatile uint8_t *)(uintptr_t)(VG_BAR0 + offset);
			if (type == 1)
				d->common = p;
			else if (type == 2) {
				d->notify = p;
				d->notify_multiplier = vg_cf8_read(d->slot, at + 16, 4);
			} else if (type == 3)
				d->isr = p;
			else if (type == 4)
				d->device = p;
		} else if (id == 0x11) {
			d->msix_cap = (uint8_t)at;
			uint32_t table = vg_cf8_read(d->slot, at + 4, 4);
			CHECK((table & 7) == 1, "MSI-X table in BAR1");
			d->msix_table = (volatile uint32_t *)(uintptr_t)(VG_BAR1 + (table & ~7u));
		}
		at = vg_cf8_read(d->slot, at + 1, 1);
	}
	CHECK(d->common && d->notify && d->isr && d->device && d->msix_cap,
	      "capabilities: common, notify, ISR, device, MSI-X");
}

static inline uint8_t vg_status(struct vg_device *d)
{
	return VG_COMMON8(d, VG_DEVICE_STATUS);
}

/* Reset, ACKNOWLEDGE, DRIVER, features = VERSION_1 plus `features_low`,
 * FEATURES_OK (checked). */
static inline void vg_negotiate(struct vg_device *d, uint32_t features_low)
{
	VG_COMMON8(d, VG_DEVICE_STATUS) = 0;
	CHECK_EQ(vg_status(d), 0, "status after reset");
	VG_COMMON8(d, VG_DEVICE_STATUS) = VG_STATUS_ACKNOWLEDGE;
	VG_COMMON8(d, VG_DEVICE_STATUS) = VG_STATUS_ACKNOWLEDGE | VG_STATUS_DRIVER;
	VG_COMMON32(d, VG_DEVICE_FEATURE_SELECT) = 1;
	CHECK(VG_COMMON32(d, VG_DEVICE_FEATURE) & 1, "device offers VIRTIO_F_VERSION_1");
	VG_COMMON32(d, VG_DEVICE_FEATURE_SELECT) = 0;
	uint32_t offered = VG_COMMON32(d, VG_DEVICE_FEATURE);
	CHECK((offered & features_low) == features_low, "device offers 0x%x (has 0x%x)", features_low,
	      offered);
	VG_COMMON32(d, VG_DRIVER_FEATURE_SELECT) = 0;
	VG_COMMON32(d, VG_DRIVER_FEATURE) = features_low;
	VG_COMMON32(d, VG_DRIVER_FEATURE_SELECT) = 1;
	VG_COMMON32(d, VG_DRIVER_FEATURE) = 1;
	VG_COMMON8(d, VG_DEVICE_STATUS) = VG_STATUS_ACKNOWLEDGE | VG_STATUS_DRIVER | VG_STATUS_FEATURES_OK;
	CHECK(vg_status(d) & VG_STATUS_FEATURES_OK, "FEATURES_OK accepted");
}

/* Queue `queue` of `size` entries on `ring`, MSI-X vector `vector`. */
static inline void vg_queue_setup(struct vg_device *d, unsigned queue, struct vg_ring *ring,
				  uint16_t size, uint16_t vector)
{
	memset(ring, 0, sizeof(*ring));
	VG_COMMON16(d, VG_QUEUE_SELECT) = (uint16_t)queue;
	CHECK(VG_COMMON16(d, VG_QUEUE_SIZE_REG) >= size, "queue size offered");
	VG_COMMON16(d, VG_QUEUE_SIZE_REG) = size;
	VG_COMMON16(d, VG_QUEUE_MSIX_VECTOR) = vector;
	CHECK_EQ(VG_COMMON16(d, VG_QUEUE_MSIX_VECTOR), vector, "queue MSI-X vector accepted");
	/* The 64-bit addresses as two dwords, the way many drivers write them. */
	VG_COMMON32(d, VG_QUEUE_DESC) = (uint32_t)(uintptr_t)ring->desc;
	VG_COMMON32(d, VG_QUEUE_DESC + 4) = 0;
	VG_COMMON64(d, VG_QUEUE_DRIVER) = (uintptr_t)&ring->avail_flags;
	VG_COMMON64(d, VG_QUEUE_DEVICE) = (uintptr_t)&ring->used_flags;
	VG_COMMON16(d, VG_QUEUE_ENABLE) = 1;
	d->last_used = 0;
	uint16_t notify_off = VG_COMMON16(d, VG_QUEUE_NOTIFY_OFF);
	d->doorbell[queue & 1] = (volatile uint16_t *)(d->notify + notify_off * d->notify_multiplier);
}

static inline void vg_driver_ok(struct vg_device *d)
{
	VG_COMMON8(d, VG_DEVICE_STATUS) = vg_status(d) | VG_STATUS_DRIVER_OK;
}

/* Publishes head `head` and rings queue `queue`'s doorbell. */
static inline void vg_offer(struct vg_device *d, struct vg_ring *ring, unsigned queue, uint16_t head)
{
	ring->avail_ring[ring->avail_idx % VG_QUEUE_SIZE] = head;
	__asm__ volatile("" ::: "memory");
	ring->avail_idx++;
	__asm__ volatile("mfence" ::: "memory");
	*d->doorbell[queue & 1] = (uint16_t)queue; /* one MMIO write: the only exit */
}

/* Waits up to 2 s for the used index to move; true when it did. */
static inline bool vg_wait_used(struct vg_device *d, struct vg_ring *ring)
{
	for (unsigned i = 0; i < 20000; i++) {
		if (ring->used_idx != d->last_used) {
			d->last_used = ring->used_idx;
			return true;
		}
		guest_delay_us(100);
	}
	return false;
}

/* MSI-X entry `vector`: fixed delivery of `idt_vector` to APIC ID 0. */
static inline void vg_msix_program(struct vg_device *d, unsigned vector, uint8_t idt_vector)
{
	volatile uint32_t *entry = d->msix_table + 4 * vector;
	entry[0] = 0xfee00000u;
	entry[1] = 0;
	entry[2] = idt_vector;
	entry[3] = 0; /* unmasked */
}

static inline void vg_msix_enable(struct vg_device *d)
{
	uint16_t control = (uint16_t)vg_cf8_read(d->slot, d->msix_cap + 2, 2);
	vg_cf8_write(d->slot, d->msix_cap + 2, 2, (control | 0x8000u) & ~0x4000u);
	CHECK(vg_cf8_read(d->slot, d->msix_cap + 2, 2) & 0x8000u, "MSI-X enabled");
}

#endif

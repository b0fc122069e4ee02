/*
 * virtio-blk over the modern virtio-pci transport (virtio 1.x, section 4.1):
 * vendor-specific capabilities locate the common configuration, notify, ISR
 * and device configuration regions inside memory BARs. One virtqueue of
 * VBLK_QUEUE_SIZE descriptors; each request is a chain of three (header,
 * data, status byte) and data goes through a physically contiguous bounce
 * buffer, so callers' buffers may be anywhere.
 *
 * One request is in flight at a time (one bounce buffer); the others wait
 * in a FIFO linked through blockdev_request.next. Completion is
 * interrupt-driven: the queue's MSI-X vector runs the handler, which reaps
 * the used ring and starts the next request. blockdev poll does the same
 * for sync waiters and enforces VBLK_TIMEOUT_MS: a device that does not
 * answer fails the request (and all queued ones) with -EIO and is taken out
 * of service. Without MSI-X, each request is issued and polled in submit.
 */
#include <drivers/block/blockdev.h>
#include <drivers/block/drivers.h>
#include <drivers/pci/pci.h>

#include <arch/x86/cpu.h>
#include <arch/x86/interrupt.h>
#include <arch/x86/lapic.h>
#include <lib/errno.h>
#include <lib/log.h>
#include <lib/printf.h>
#include <lib/spinlock.h>
#include <lib/string.h>
#include <mm/heap.h>
#include <mm/pmm.h>
#include <mm/vmm.h>

#define VIRTIO_VENDOR 0x1af4
#define VIRTIO_BLK_TRANSITIONAL 0x1001
#define VIRTIO_BLK_MODERN 0x1042

#define CAP_COMMON 1
#define CAP_NOTIFY 2
#define CAP_DEVICE 4

#define STATUS_ACKNOWLEDGE 1
#define STATUS_DRIVER 2
#define STATUS_DRIVER_OK 4
#define STATUS_FEATURES_OK 8
#define STATUS_FAILED 128

#define FEATURE_RO (1ull << 5)
#define FEATURE_FLUSH (1ull << 9)
#define FEATURE_VERSION_1 (1ull << 32)

#define REQ_IN 0
#define REQ_OUT 1
#define REQ_FLUSH 4

#define DESC_NEXT 1
#define DESC_WRITE 2

#define VBLK_QUEUE_SIZE 16
#define VBLK_BOUNCE_FRAMES 64 /* 256 KiB per request: a VM disk request in one */
#define VBLK_TIMEOUT_MS 5000

struct common_cfg {
	uint32_t device_feature_select;
	uint32_t device_feature;
	uint32_t driver_feature_select;
	uint32_t driver_feature;
	uint16_t msix_config;
	uint16_t num_queues;
	uint8_t device_status;
	uint8_t config_generation;
	uint16_t queue_select;
	uint16_t queue_size;
	uint16_t queue_msix_vector;
	uint16_t queue_enable;
	uint16_t queue_notify_off;
	uint64_t queue_desc;
	uint64_t queue_driver;
	uint64_t queue_device;
} __attribute__((packed));

struct virtq_desc {
	uint64_t addr;
	uint32_t len;
	uint16_t flags;
	uint16_t next;
};

struct virtq_avail {
	uint16_t flags;
	uint16_t idx;
	uint16_t ring[VBLK_QUEUE_SIZE];
};

struct virtq_used {
	uint16_t flags;
	uint16_t idx;
	struct {
		uint32_t id;
		uint32_t len;
	} ring[VBLK_QUEUE_SIZE];
};

struct request_header {
	uint32_t type;
	uint32_t reserved;
	uint64_t sector;
	uint8_t status; /* the device writes it: its own descriptor */
};

struct vblk {
	struct blockdev dev;
	struct spinlock lock;
	volatile struct common_cfg *common;
	volatile uint16_t *notify;
	volatile struct virtq_desc *desc;
	volatile struct virtq_avail *avail;
	volatile struct virtq_used *used;
	struct request_header *header;
	uint64_t header_phys;
	uint8_t *bounce;
	uint64_t bounce_phys;
	uint16_t used_seen;
	bool broken; /* timed out once: the ring state is unknown */
	bool use_interrupts;
	uint8_t vector;
	uint64_t interrupts;
	struct blockdev_request *inflight;
	uint64_t inflight_deadline; /* TSC */
	struct blockdev_request *waiting, *waiting_tail;
};

static struct vblk *vblk_by_vector[256];

static unsigned vblk_count;

static volatile void *map_cap_region(const struct pci_device *pci, uint8_t cap, uint32_t *length)
{
	uint8_t bar = pci_config_read8(pci, cap + 4);
	uint32_t offset = pci_config_read32(pci, cap + 8);
	*length = pci_config_read32(pci, cap + 12);
	if (bar >= PCI_BAR_COUNT || pci->bars[bar].io || !pci->bars[bar].phys ||
	    (uint64_t)offset + *length > pci->bars[bar].size)
		return NULL;
	volatile uint8_t *base = pci_map_bar(pci, bar);
	return base ? base + offset : NULL;
}

/* Fills the descriptor chain for req and notifies the device. @pre lock held. */
static void vblk_issue(struct vblk *v, struct blockdev_request *req)
{
	uint32_t bytes = req->sector_count * 512;
	v->header->type = req->op == BLOCKDEV_READ ? REQ_IN : req->op == BLOCKDEV_WRITE ? REQ_OUT : REQ_FLUSH;
	v->header->reserved = 0;
	v->header->sector = req->op == BLOCKDEV_FLUSH ? 0 : req->sector;
	v->header->status = 0xff;
	if (req->op == BLOCKDEV_WRITE)
		memcpy(v->bounce, req->buffer, bytes);

	unsigned n = 0;
	v->desc[n] = (struct virtq_desc){ v->header_phys, 16, DESC_NEXT, 1 };
	n++;
	if (req->op != BLOCKDEV_FLUSH) {
		v->desc[n] = (struct virtq_desc){ v->bounce_phys, bytes,
						  (uint16_t)(DESC_NEXT | (req->op == BLOCKDEV_READ ? DESC_WRITE : 0)),
						  (uint16_t)(n + 1) };
		n++;
	}
	v->desc[n] = (struct virtq_desc){ v->header_phys + 16, 1, DESC_WRITE, 0 };
	v->avail->ring[v->avail->idx % VBLK_QUEUE_SIZE] = 0;
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	v->avail->idx++;
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	*v->notify = 0;
}

/* The finished request's status; copies read data out. @pre lock held. */
static int vblk_result(struct vblk *v, struct blockdev_request *req)
{
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	uint8_t device_status = ((volatile struct request_header *)v->header)->status;
	if (device_status != 0) {
		log_warn("%s: %s of %u sectors at %lu failed (status %u)\n", v->dev.name,
			 req->op == BLOCKDEV_READ ? "read" : req->op == BLOCKDEV_WRITE ? "write" : "flush",
			 req->sector_count, req->sector, device_status);
		return -EIO;
	}
	if (req->op == BLOCKDEV_READ)
		memcpy(req->buffer, v->bounce, (size_t)req->sector_count * 512);
	return 0;
}

/* Starts the first waiting request when the queue is idle. @pre lock held. */
static void vblk_start_next(struct vblk *v)
{
	struct blockdev_request *req = v->waiting;
	if (!req || v->inflight || v->broken)
		return;
	v->waiting = req->next;
	if (!v->waiting)
		v->waiting_tail = NULL;
	req->next = NULL;
	v->inflight = req;
	v->inflight_deadline = rdtsc() + tsc_hz() / 1000 * VBLK_TIMEOUT_MS;
	vblk_issue(v, req);
}

static void push_done(struct blockdev_request *req, int status, struct blockdev_request **done_list)
{
	req->status = status;
	req->next = *done_list;
	*done_list = req;
}

/* Reaps the used ring, starts the next request and enforces the timeout.
 * @pre lock held; finished requests go to *done_list (done() after unlock). */
static void vblk_reap(struct vblk *v, struct blockdev_request **done_list)
{
	while (v->inflight && v->used->idx != v->used_seen) {
		struct blockdev_request *req = v->inflight;
		v->used_seen++;
		v->inflight = NULL;
		push_done(req, vblk_result(v, req), done_list);
		vblk_start_next(v);
	}
	if (v->inflight && rdtsc() > v->inflight_deadline) {
		v->broken = true;
		log_error("%s: request timed out after %u ms; device disabled\n", v->dev.name,
			  VBLK_TIMEOUT_MS);
		push_done(v->inflight, -EIO, done_list);
		v->inflight = NULL;
	}
	if (v->broken) {
		while (v->waiting) {
			struct blockdev_request *req = v->waiting;
			v->waiting = req->next;
			push_done(req, -EIO, done_list);
		}
		v->waiting_tail = NULL;
	}
}

static void vblk_service(struct vblk *v)
{
	struct blockdev_request *done_list = NULL;
	uint64_t flags = spin_lock_irqsave(&v->lock);
	vblk_reap(v, &done_list);
	spin_unlock_irqrestore(&v->lock, flags);
	while (done_list) {
		struct blockdev_request *req = done_list;
		done_list = req->next;
		req->done(req);
	}
}

static void vblk_interrupt(struct interrupt_frame *frame)
{
	struct vblk *v = vblk_by_vector[frame->vector & 0xff];
	if (!v)
		return;
	if (__atomic_fetch_add(&v->interrupts, 1, __ATOMIC_RELAXED) == 0)
		log_info("%s: first I/O interrupt (vector 0x%x)\n", v->dev.name, v->vector);
	vblk_service(v);
}

static void vblk_poll(struct blockdev *dev)
{
	struct vblk *v = dev->driver_data;
	if (v->use_interrupts)
		vblk_service(v);
}

/* Without interrupts: issue and wait here. */
static int vblk_submit_polled(struct vblk *v, struct blockdev_request *req)
{
	uint64_t flags = spin_lock_irqsave(&v->lock);
	int status = 0;
	if (v->broken) {
		status = -EIO;
	} else {
		vblk_issue(v, req);
		uint64_t deadline = rdtsc() + tsc_hz() / 1000 * VBLK_TIMEOUT_MS;
		while (v->used->idx == v->used_seen) {
			if (rdtsc() > deadline) {
				v->broken = true;
				status = -EIO;
				log_error("%s: request timed out after %u ms; device disabled\n", v->dev.name,
					  VBLK_TIMEOUT_MS);
				break;
			}
			cpu_relax();
		}
		if (!status) {
			v->used_seen++;
			status = vblk_result(v, req);
		}
	}
	spin_unlock_irqrestore(&v->lock, flags);
	req->status = status;
	req->done(req);
	return 0;
}

static int vblk_submit(struct blockdev *dev, struct blockdev_request *req)
{
	struct vblk *v = dev->driver_data;

	if (req->op == BLOCKDEV_UNMAP)
		return -EOPNOTSUPP;
	if (req->op != BLOCKDEV_FLUSH && (req->sector_count == 0 ||
					  req->sector_count > dev->max_sectors_per_request))
		return -EINVAL;
	if (!v->use_interrupts)
		return vblk_submit_polled(v, req);

	req->next = NULL;
	uint64_t flags = spin_lock_irqsave(&v->lock);
	if (v->waiting_tail)
		v->waiting_tail->next = req;
	else
		v->waiting = req;
	v->waiting_tail = req;
	vblk_start_next(v);
	bool broken = v->broken;
	spin_unlock_irqrestore(&v->lock, flags);
	if (broken)
		vblk_service(v); /* fails it now */
	return 0;
}

static const struct blockdev_ops vblk_ops = { .submit = vblk_submit, .poll = vblk_poll };

static int vblk_setup_queue(struct vblk *v, const struct pci_device *pci)
{
	volatile struct common_cfg *c = v->common;
	c->queue_select = 0;
	uint16_t max = c->queue_size;
	/* The rings are sized for VBLK_QUEUE_SIZE; a device offering fewer is
	 * refused rather than handled with a second layout. */
	if (max < VBLK_QUEUE_SIZE || c->queue_enable)
		return -ENODEV;
	c->queue_size = VBLK_QUEUE_SIZE;
	/* One frame each for descriptors, available and used rings; one for the
	 * request header (status byte at offset 16). */
	uint64_t desc = vmm_alloc_zeroed_frame(), avail = vmm_alloc_zeroed_frame();
	uint64_t used = vmm_alloc_zeroed_frame(), header = vmm_alloc_zeroed_frame();
	uint64_t bounce = pmm_alloc_contiguous(VBLK_BOUNCE_FRAMES, PMM_FRAME_SIZE);
	if (!desc || !avail || !used || !header || !bounce) {
		log_warn("%s: out of memory for the virtqueue\n", v->dev.name);
		return -ENOMEM;
	}
	v->desc = phys_to_virt(desc);
	v->avail = phys_to_virt(avail);
	v->used = phys_to_virt(used);
	v->header = phys_to_virt(header);
	v->header_phys = header;
	v->bounce = phys_to_virt(bounce);
	v->bounce_phys = bounce;
	c->queue_desc = desc;
	c->queue_driver = avail;
	c->queue_device = used;
	/* Queue 0 interrupts through MSI-X entry 0; no configuration-change
	 * interrupt. A device that does not take the vector is polled. */
	c->msix_config = 0xffff;
	c->queue_msix_vector = 0xffff;
	v->vector = pci_alloc_vector();
	if (v->vector && pci_msix_enable(pci, 0, v->vector) == 0) {
		vblk_by_vector[v->vector] = v;
		interrupt_register(v->vector, vblk_interrupt);
		c->queue_msix_vector = 0;
		v->use_interrupts = c->queue_msix_vector == 0;
		if (!v->use_interrupts)
			c->queue_msix_vector = 0xffff;
	}
	c->queue_enable = 1;
	return 0;
}

int virtio_blk_probe(struct pci_device *pci)
{
	if (pci->vendor_id != VIRTIO_VENDOR ||
	    (pci->device_id != VIRTIO_BLK_TRANSITIONAL && pci->device_id != VIRTIO_BLK_MODERN))
		return -ENODEV;
	struct vblk *v = kzalloc(sizeof(*v));
	if (!v)
		return -ENOMEM;
	snprintf(v->dev.name, sizeof(v->dev.name), "vblk%u", vblk_count);
	pci_enable_device(pci);

	volatile uint8_t *device_cfg = NULL;
	uint32_t notify_multiplier = 0, length;
	for (uint8_t cap = pci_find_capability(pci, PCI_CAP_VENDOR, 0); cap;
	     cap = pci_find_capability(pci, PCI_CAP_VENDOR, cap)) {
		uint8_t type = pci_config_read8(pci, cap + 3);
		volatile void *region = NULL;
		if (type == CAP_COMMON || type == CAP_NOTIFY || type == CAP_DEVICE)
			region = map_cap_region(pci, cap, &length);
		if (type == CAP_COMMON && !v->common && region && length >= sizeof(struct common_cfg))
			v->common = region;
		else if (type == CAP_NOTIFY && !v->notify && region) {
			v->notify = region;
			notify_multiplier = pci_config_read32(pci, cap + 16);
		} else if (type == CAP_DEVICE && !device_cfg && region && length >= 8)
			device_cfg = region;
	}
	if (!v->common || !v->notify || !device_cfg) {
		log_warn("%s: no modern virtio-pci capabilities (legacy-only device), ignored\n", v->dev.name);
		kfree(v);
		return -ENODEV;
	}
	volatile struct common_cfg *c = v->common;
	c->device_status = 0;
	for (int i = 0; i < 1000 && c->device_status; i++)
		udelay(100);
	c->device_status = STATUS_ACKNOWLEDGE;
	c->device_status = STATUS_ACKNOWLEDGE | STATUS_DRIVER;
	c->device_feature_select = 0;
	uint64_t features = c->device_feature;
	c->device_feature_select = 1;
	features |= (uint64_t)c->device_feature << 32;
	const char *why = NULL;
	if (!(features & FEATURE_VERSION_1)) {
		why = "no VIRTIO_F_VERSION_1";
	} else {
		uint64_t wanted = features & (FEATURE_VERSION_1 | FEATURE_FLUSH | FEATURE_RO);
		c->driver_feature_select = 0;
		c->driver_feature = (uint32_t)wanted;
		c->driver_feature_select = 1;
		c->driver_feature = (uint32_t)(wanted >> 32);
		c->device_status = STATUS_ACKNOWLEDGE | STATUS_DRIVER | STATUS_FEATURES_OK;
		if (!(c->device_status & STATUS_FEATURES_OK))
			why = "features not accepted";
		else if (vblk_setup_queue(v, pci))
			why = "cannot set up the virtqueue";
	}
	if (why) {
		c->device_status = STATUS_FAILED;
		log_warn("%s: %s, ignored\n", v->dev.name, why);
		return -ENODEV; /* v stays: its rings may be known to the device */
	}
	v->notify = (volatile uint16_t *)((volatile uint8_t *)v->notify +
					  (uint64_t)c->queue_notify_off * notify_multiplier);
	c->device_status = STATUS_ACKNOWLEDGE | STATUS_DRIVER | STATUS_FEATURES_OK | STATUS_DRIVER_OK;

	uint64_t capacity;
	uint8_t generation;
	do {
		generation = c->config_generation;
		capacity = *(volatile uint32_t *)device_cfg |
			   (uint64_t) * (volatile uint32_t *)(device_cfg + 4) << 32;
	} while (generation != c->config_generation);

	v->dev.sector_size = 512;
	v->dev.sector_count = capacity;
	v->dev.max_sectors_per_request = VBLK_BOUNCE_FRAMES * PMM_FRAME_SIZE / 512;
	v->dev.read_only = (features & FEATURE_RO) != 0;
	v->dev.has_fua = false;
	v->dev.ops = &vblk_ops;
	v->dev.driver_data = v;
	log_info("%s: virtio-blk at %02x:%02x.%u, %lu sectors%s, completion by %s\n", v->dev.name,
		 pci->bus, pci->device, pci->function, capacity, features & FEATURE_FLUSH ? ", flush" : "",
		 v->use_interrupts ? "MSI-X" : "polling");
	vblk_count++;
	return blockdev_register(&v->dev);
}

/*
 * The virtio 1.x modern PCI transport. BAR 0 (16 KiB) holds the regions
 * the vendor capabilities point at:
 *   0x0000 common configuration (features, status, queue setup)
 *   0x1000 ISR status (read to acknowledge; bit 0 queue, bit 1 config)
 *   0x2000 device-specific configuration
 *   0x3000 notifications: queue q's doorbell at q * 4
 * BAR 1 holds the MSI-X table (queues + 1 vectors); a PCI-configuration
 * capability reaches BAR 0 through configuration space as well. Without
 * MSI-X the device raises INTx and sets the ISR; reading the ISR clears both.
 *
 * Device status: the driver sets ACKNOWLEDGE, DRIVER, then FEATURES_OK —
 * which sticks only when it accepted a subset of the offer including
 * VERSION_1 — then DRIVER_OK. Writing 0 resets. NEEDS_RESET is ours: set
 * on bad input, it stops every queue until that reset.
 */
#include <vdev/virtio_pci.h>

#include <lib/errno.h>
#include <lib/log.h>
#include <lib/string.h>
#include <mm/heap.h>
#include <vdev/pci.h>
#include <vm/vm.h>

#define VIRTIO_PCI_VENDOR 0x1af4
#define VIRTIO_PCI_DEVICE_BASE 0x1040
#define VIRTIO_PCI_SUBSYSTEM 0x1100

#define CAP_COMMON 1
#define CAP_NOTIFY 2
#define CAP_ISR 3
#define CAP_DEVICE 4
#define CAP_PCI_CFG 5

/* Common configuration offsets (virtio 1.1, 4.1.4.3). */
#define COMMON_DEVICE_FEATURE_SELECT 0x00
#define COMMON_DEVICE_FEATURE 0x04
#define COMMON_DRIVER_FEATURE_SELECT 0x08
#define COMMON_DRIVER_FEATURE 0x0c
#define COMMON_CONFIG_MSIX_VECTOR 0x10
#define COMMON_NUM_QUEUES 0x12
#define COMMON_DEVICE_STATUS 0x14
#define COMMON_CONFIG_GENERATION 0x15
#define COMMON_QUEUE_SELECT 0x16
#define COMMON_QUEUE_SIZE 0x18
#define COMMON_QUEUE_MSIX_VECTOR 0x1a
#define COMMON_QUEUE_ENABLE 0x1c
#define COMMON_QUEUE_NOTIFY_OFF 0x1e
#define COMMON_QUEUE_DESC 0x20
#define COMMON_QUEUE_DRIVER 0x28
#define COMMON_QUEUE_DEVICE 0x30
#define COMMON_SIZE 0x38

static void put(uint8_t *image, unsigned offset, uint64_t value, unsigned size)
{
	memcpy(image + offset, &value, size);
}

static struct virtio_queue *selected_queue(struct virtio_device *vdev)
{
	return vdev->queue_select < vdev->ops->queue_count ? &vdev->queues[vdev->queue_select] : NULL;
}

static uint16_t vector_or_none(struct virtio_device *vdev, uint32_t vector)
{
	/* A vector the table does not have reads back as NO_VECTOR, which is
	 * how the driver learns the assignment failed. */
	return vector < vdev->pci->msix_count ? (uint16_t)vector : PCI_MSIX_NO_VECTOR;
}

static void virtio_raise(struct virtio_device *vdev, uint8_t isr_bit, uint16_t vector)
{
	if (pci_device_msix_enabled(vdev->pci)) {
		pci_device_msix_send(vdev->pci, vector);
		return;
	}
	vdev->isr |= isr_bit;
	pci_device_set_intx(vdev->pci, true);
}

struct virtq *virtio_queue_live(struct virtio_device *vdev, unsigned queue)
{
	if (queue >= vdev->ops->queue_count || !(vdev->status & VIRTIO_STATUS_DRIVER_OK) ||
	    (vdev->status & VIRTIO_STATUS_NEEDS_RESET))
		return NULL;
	struct virtio_queue *q = &vdev->queues[queue];
	return q->enabled && q->vq.ready ? &q->vq : NULL;
}

void virtio_queue_interrupt(struct virtio_device *vdev, unsigned queue)
{
	struct virtio_queue *q = &vdev->queues[queue];
	if (queue < vdev->ops->queue_count && q->enabled && virtq_wants_interrupt(&q->vq))
		virtio_raise(vdev, 1, q->msix_vector);
}

void virtio_device_fail(struct virtio_device *vdev, const char *reason)
{
	if (vdev->status & VIRTIO_STATUS_NEEDS_RESET)
		return;
	log_warn("vm %s: %s (pci 00:%02x.0): %s: device needs reset\n", vdev->vm->name,
		 vdev->ops->name, vdev->pci->slot, reason ? reason : "bad request");
	vdev->status |= VIRTIO_STATUS_NEEDS_RESET;
	for (unsigned i = 0; i < vdev->ops->queue_count; i++)
		vdev->queues[i].vq.ready = false;
	if (vdev->status & VIRTIO_STATUS_DRIVER_OK)
		virtio_raise(vdev, 2, vdev->config_msix_vector);
}

/* @pre lock held */
static void virtio_reset(struct virtio_device *vdev)
{
	if (vdev->ops->reset)
		vdev->ops->reset(vdev);
	vdev->status = 0;
	vdev->device_feature_select = vdev->driver_feature_select = 0;
	vdev->driver_features = 0;
	vdev->queue_select = 0;
	vdev->config_msix_vector = PCI_MSIX_NO_VECTOR;
	for (unsigned i = 0; i < VIRTIO_MAX_QUEUES; i++)
		vdev->queues[i] = (struct virtio_queue){ .size = VIRTIO_QUEUE_SIZE,
							 .msix_vector = PCI_MSIX_NO_VECTOR };
	if (vdev->isr) {
		vdev->isr = 0;
		pci_device_set_intx(vdev->pci, false);
	}
}

/* A bus reset (VM power-on): as if the driver had written status 0. */
static void virtio_pci_bus_reset(struct pci_device *pci)
{
	struct virtio_device *vdev = pci->opaque;
	uint64_t flags = spin_lock_irqsave(&vdev->lock);
	virtio_reset(vdev);
	spin_unlock_irqrestore(&vdev->lock, flags);
}

static void write_status(struct virtio_device *vdev, uint8_t value)
{
	if (!value) {
		virtio_reset(vdev);
		return;
	}
	if ((value & VIRTIO_STATUS_FEATURES_OK) && !(vdev->status & VIRTIO_STATUS_FEATURES_OK)) {
		uint64_t wanted = vdev->driver_features;
		if ((wanted & ~vdev->offered) || !(wanted & VIRTIO_F_VERSION_1))
			value &= (uint8_t)~VIRTIO_STATUS_FEATURES_OK; /* refused: reads back clear */
	}
	vdev->status = (uint8_t)(value | (vdev->status & VIRTIO_STATUS_NEEDS_RESET));
}

static void enable_queue(struct virtio_device *vdev, struct virtio_queue *q)
{
	if (q->enabled)
		return;
	if (q->size > VIRTIO_QUEUE_SIZE) {
		virtio_device_fail(vdev, "queue larger than offered");
		return;
	}
	if (virtq_setup(&q->vq, vdev->vm, q->size, q->desc, q->driver, q->device,
			vdev->driver_features & VIRTIO_F_INDIRECT_DESC)) {
		virtio_device_fail(vdev, q->vq.error);
		return;
	}
	q->enabled = true;
}

static void common_read(struct virtio_device *vdev, unsigned offset, unsigned size, uint64_t *value)
{
	uint8_t image[COMMON_SIZE + 8] = { 0 };
	struct virtio_queue *q = selected_queue(vdev);
	uint32_t select = vdev->device_feature_select;

	put(image, COMMON_DEVICE_FEATURE_SELECT, select, 4);
	put(image, COMMON_DEVICE_FEATURE, select < 2 ? vdev->offered >> (32 * select) : 0, 4);
	put(image, COMMON_DRIVER_FEATURE_SELECT, vdev->driver_feature_select, 4);
	select = vdev->driver_feature_select;
	put(image, COMMON_DRIVER_FEATURE, select < 2 ? vdev->driver_features >> (32 * select) : 0, 4);
	put(image, COMMON_CONFIG_MSIX_VECTOR, vdev->config_msix_vector, 2);
	put(image, COMMON_NUM_QUEUES, vdev->ops->queue_count, 2);
	put(image, COMMON_DEVICE_STATUS, vdev->status, 1);
	put(image, COMMON_CONFIG_GENERATION, vdev->config_generation, 1);
	put(image, COMMON_QUEUE_SELECT, vdev->queue_select, 2);
	if (q) {
		put(image, COMMON_QUEUE_SIZE, q->size, 2);
		put(image, COMMON_QUEUE_MSIX_VECTOR, q->msix_vector, 2);
		put(image, COMMON_QUEUE_ENABLE, q->enabled, 2);
		put(image, COMMON_QUEUE_NOTIFY_OFF, vdev->queue_select, 2);
		put(image, COMMON_QUEUE_DESC, q->desc, 8);
		put(image, COMMON_QUEUE_DRIVER, q->driver, 8);
		put(image, COMMON_QUEUE_DEVICE, q->device, 8);
	}
	*value = 0;
	if (offset + size <= COMMON_SIZE)
		memcpy(value, image + offset, size);
}

/* A 64-bit queue address written whole or as two dwords. */
static void write_address(uint64_t *field, unsigned offset_in_field, unsigned size, uint64_t value)
{
	if (size == 8 && !offset_in_field)
		*field = value;
	else if (size == 4 && offset_in_field == 0)
		*field = (*field & ~0xffffffffull) | (uint32_t)value;
	else if (size == 4 && offset_in_field == 4)
		*field = (*field & 0xffffffffull) | value << 32;
}

static void common_write(struct virtio_device *vdev, unsigned offset, unsigned size, uint64_t value)
{
	struct virtio_queue *q = selected_queue(vdev);
	bool queue_writable = q && !q->enabled;

	switch (offset) {
	case COMMON_DEVICE_FEATURE_SELECT:
		if (size == 4)
			vdev->device_feature_select = (uint32_t)value;
		return;
	case COMMON_DRIVER_FEATURE_SELECT:
		if (size == 4)
			vdev->driver_feature_select = (uint32_t)value;
		return;
	case COMMON_DRIVER_FEATURE:
		if (size == 4 && vdev->driver_feature_select < 2 &&
		    !(vdev->status & VIRTIO_STATUS_FEATURES_OK)) {
			unsigned shift = 32 * vdev->driver_feature_select;
			vdev->driver_features = (vdev->driver_features & ~(0xffffffffull << shift)) |
						(value & 0xffffffffull) << shift;
		}
		return;
	case COMMON_CONFIG_MSIX_VECTOR:
		if (size == 2)
			vdev->config_msix_vector = vector_or_none(vdev, (uint32_t)value);
		return;
	case COMMON_DEVICE_STATUS:
		if (size == 1)
			write_status(vdev, (uint8_t)value);
		return;
	case COMMON_QUEUE_SELECT:
		if (size == 2)
			vdev->queue_select = (uint16_t)value;
		return;
	case COMMON_QUEUE_SIZE:
		if (size == 2 && queue_writable)
			q->size = (uint16_t)value; /* checked when the queue is enabled */
		return;
	case COMMON_QUEUE_MSIX_VECTOR:
		if (size == 2 && q)
			q->msix_vector = vector_or_none(vdev, (uint32_t)value);
		return;
	case COMMON_QUEUE_ENABLE:
		if (size == 2 && q && value == 1)
			enable_queue(vdev, q);
		return;
	default:
		break;
	}
	if (!queue_writable || offset < COMMON_QUEUE_DESC || offset >= COMMON_SIZE)
		return;
	uint64_t *fields[3] = { &q->desc, &q->driver, &q->device };
	unsigned index = (offset - COMMON_QUEUE_DESC) / 8;
	write_address(fields[index], (offset - COMMON_QUEUE_DESC) % 8, size, value);
}

static void virtio_bar_read(struct pci_device *pci, unsigned bar, uint64_t offset, unsigned size,
			    uint64_t *value)
{
	struct virtio_device *vdev = pci->opaque;
	(void)bar;
	*value = 0;
	uint64_t flags = spin_lock_irqsave(&vdev->lock);
	if (offset < VIRTIO_PCI_ISR_OFFSET) {
		common_read(vdev, (unsigned)offset, size, value);
	} else if (offset == VIRTIO_PCI_ISR_OFFSET) {
		*value = vdev->isr;
		if (vdev->isr) {
			vdev->isr = 0;
			pci_device_set_intx(vdev->pci, false);
		}
	} else if (offset >= VIRTIO_PCI_DEVICE_OFFSET && offset < VIRTIO_PCI_NOTIFY_OFFSET) {
		unsigned at = (unsigned)(offset - VIRTIO_PCI_DEVICE_OFFSET);
		if (at < vdev->config_size)
			memcpy(value, vdev->config + at, at + size <= vdev->config_size ? size : vdev->config_size - at);
	}
	spin_unlock_irqrestore(&vdev->lock, flags);
}

static void virtio_bar_write(struct pci_device *pci, unsigned bar, uint64_t offset, unsigned size,
			     uint64_t value)
{
	struct virtio_device *vdev = pci->opaque;
	(void)bar;
	/* The doorbell: no lock here, the device model takes it. */
	if (offset >= VIRTIO_PCI_NOTIFY_OFFSET) {
		uint64_t queue = (offset - VIRTIO_PCI_NOTIFY_OFFSET) / VIRTIO_PCI_NOTIFY_MULTIPLIER;
		if (queue < vdev->ops->queue_count)
			vdev->ops->queue_notify(vdev, (unsigned)queue);
		return;
	}
	uint64_t flags = spin_lock_irqsave(&vdev->lock);
	if (offset < VIRTIO_PCI_ISR_OFFSET) {
		common_write(vdev, (unsigned)offset, size, value);
	} else if (offset >= VIRTIO_PCI_DEVICE_OFFSET && vdev->ops->config_write) {
		unsigned at = (unsigned)(offset - VIRTIO_PCI_DEVICE_OFFSET);
		if (at + size <= vdev->config_size)
			vdev->ops->config_write(vdev, at, size, (uint32_t)value);
	}
	spin_unlock_irqrestore(&vdev->lock, flags);
}

/* A virtio_pci_cap: vendor capability naming a region of BAR 0. */
static int add_region(struct pci_device *pci, uint8_t type, uint32_t offset, uint32_t length,
		      bool notify)
{
	uint8_t cap = pci_device_add_capability(pci, PCI_CAP_ID_VENDOR, notify ? 20 : 16);
	if (!cap)
		return -ENOSPC;
	pci->config[cap + 2] = notify ? 20 : 16; /* cap_len */
	pci->config[cap + 3] = type;
	pci->config[cap + 4] = 0;                /* BAR 0 */
	memcpy(&pci->config[cap + 8], &offset, 4);
	memcpy(&pci->config[cap + 12], &length, 4);
	if (notify) {
		uint32_t multiplier = VIRTIO_PCI_NOTIFY_MULTIPLIER;
		memcpy(&pci->config[cap + 16], &multiplier, 4);
	}
	return 0;
}

/* VIRTIO_PCI_CAP_PCI_CFG: a window into BAR 0 through configuration space.
 * The driver sets the capability's bar, offset and length (1, 2 or 4),
 * then reading or writing pci_cfg_data (the dword at +16) reads or writes
 * the BAR there. Anything else reads back 0 and writes nothing. */
static void pci_cfg_window(struct pci_device *pci, unsigned offset, unsigned size, uint32_t *value,
			   bool write)
{
	unsigned cap = pci->hook_offset - 16u, data = pci->hook_offset;
	uint32_t bar_offset, length;
	uint8_t window[4];

	memcpy(&bar_offset, &pci->config[cap + 8], 4);
	memcpy(&length, &pci->config[cap + 12], 4);
	bool valid = pci->config[cap + 4] == 0 && (length == 1 || length == 2 || length == 4) &&
		     !(bar_offset & (length - 1)) && bar_offset < VIRTIO_PCI_BAR_SIZE;
	if (write) {
		uint64_t bytes = 0;
		memcpy(&bytes, &pci->config[data], 4);
		if (valid)
			virtio_bar_write(pci, 0, bar_offset, length, bytes);
		return;
	}
	uint64_t bytes = 0;
	if (valid)
		virtio_bar_read(pci, 0, bar_offset, length, &bytes);
	memcpy(window, &bytes, 4);
	*value = 0;
	for (unsigned i = 0; i < size; i++)
		if (offset + i >= data && offset + i < data + 4)
			*value |= (uint32_t)window[offset + i - data] << (8 * i);
		else
			*value |= (uint32_t)pci->config[offset + i] << (8 * i);
}

static int add_pci_cfg_window(struct pci_device *pci)
{
	uint8_t cap = pci_device_add_capability(pci, PCI_CAP_ID_VENDOR, 20);
	if (!cap)
		return -ENOSPC;
	pci->config[cap + 2] = 20;
	pci->config[cap + 3] = CAP_PCI_CFG;
	pci->writable[cap + 4] = 0xff;              /* bar */
	memset(&pci->writable[cap + 8], 0xff, 12);  /* offset, length, pci_cfg_data */
	pci->hook_offset = (uint8_t)(cap + 16);
	pci->hook_length = 4;
	pci->config_hook = pci_cfg_window;
	return 0;
}

struct virtio_device *virtio_pci_create(struct vm *vm, const struct virtio_device_ops *ops,
					void *opaque, void *config, uint32_t config_size)
{
	if (!vm->pci || !ops->queue_count || ops->queue_count > VIRTIO_MAX_QUEUES ||
	    config_size > VIRTIO_PCI_NOTIFY_OFFSET - VIRTIO_PCI_DEVICE_OFFSET) {
		log_warn("vm %s: %s: no PCI bus or a bad device description\n", vm->name, ops->name);
		return NULL;
	}
	struct virtio_device *vdev = kzalloc(sizeof(*vdev));
	if (!vdev)
		return NULL;
	vm->overhead_bytes += sizeof(*vdev);
	*vdev = (struct virtio_device){ .vm = vm, .ops = ops, .opaque = opaque, .config = config,
					.config_size = config_size,
					.offered = ops->features | VIRTIO_F_VERSION_1 };
	struct pci_device *pci = pci_device_add(vm->pci, VIRTIO_PCI_VENDOR,
						(uint16_t)(VIRTIO_PCI_DEVICE_BASE + ops->device_type),
						ops->class_code, 1, VIRTIO_PCI_VENDOR, VIRTIO_PCI_SUBSYSTEM,
						vdev);
	if (!pci) {
		log_warn("vm %s: %s: the PCI bus is full\n", vm->name, ops->name);
		kfree(vdev);
		return NULL;
	}
	vdev->pci = pci;
	pci->reset = virtio_pci_bus_reset;
	int error = pci_device_add_bar(pci, 0, PCI_BAR_MEMORY, VIRTIO_PCI_BAR_SIZE, virtio_bar_read,
				       virtio_bar_write);
	if (!error)
		error = pci_device_add_msix(pci, 1, ops->queue_count + 1u);
	if (!error)
		error = add_region(pci, CAP_COMMON, VIRTIO_PCI_COMMON_OFFSET, COMMON_SIZE, false);
	if (!error)
		error = add_region(pci, CAP_NOTIFY, VIRTIO_PCI_NOTIFY_OFFSET,
				   VIRTIO_PCI_NOTIFY_MULTIPLIER * ops->queue_count, true);
	if (!error)
		error = add_region(pci, CAP_ISR, VIRTIO_PCI_ISR_OFFSET, 1, false);
	if (!error && config_size)
		error = add_region(pci, CAP_DEVICE, VIRTIO_PCI_DEVICE_OFFSET, config_size, false);
	if (!error)
		error = add_pci_cfg_window(pci);
	if (error) {
		/* The slot stays taken by a device that never answers: only a
		 * vmkernel bug gets here (the layout is fixed). */
		log_warn("vm %s: %s: PCI function setup failed (%d)\n", vm->name, ops->name, error);
		return NULL;
	}
	virtio_reset(vdev);
	return vdev;
}

/*
 * The virtio 1.x PCI transport (modern only, virtio spec 4.1) shared by the
 * virtio device models: PCI IDs 1af4:1040+type, BAR 0 with the common,
 * ISR, device-specific and notify regions, BAR 1 with the MSI-X table.
 * The transport owns feature negotiation, the device status machine,
 * queue setup and interrupts (MSI-X, or INTx with the ISR register); a
 * device model provides its config bytes and handles queue notifications.
 */
#ifndef KAPSEL_VDEV_VIRTIO_PCI_H
#define KAPSEL_VDEV_VIRTIO_PCI_H

#include <stdbool.h>
#include <stdint.h>

#include <lib/spinlock.h>
#include <vdev/virtqueue.h>

struct vm;
struct pci_device;
struct virtio_device;

#define VIRTIO_MAX_QUEUES 4
#define VIRTIO_QUEUE_SIZE 256  /* what each queue offers */

#define VIRTIO_ID_NET 1
#define VIRTIO_ID_BLOCK 2
#define VIRTIO_ID_CONSOLE 3

#define VIRTIO_F_INDIRECT_DESC (1ull << 28)
#define VIRTIO_F_VERSION_1 (1ull << 32)

#define VIRTIO_STATUS_ACKNOWLEDGE 1
#define VIRTIO_STATUS_DRIVER 2
#define VIRTIO_STATUS_DRIVER_OK 4
#define VIRTIO_STATUS_FEATURES_OK 8
#define VIRTIO_STATUS_NEEDS_RESET 0x40
#define VIRTIO_STATUS_FAILED 0x80

/* BAR 0 layout. */
#define VIRTIO_PCI_COMMON_OFFSET 0x0000
#define VIRTIO_PCI_ISR_OFFSET 0x1000
#define VIRTIO_PCI_DEVICE_OFFSET 0x2000
#define VIRTIO_PCI_NOTIFY_OFFSET 0x3000
#define VIRTIO_PCI_NOTIFY_MULTIPLIER 4
#define VIRTIO_PCI_BAR_SIZE 0x4000

struct virtio_device_ops {
	const char *name;        /* "virtio-blk", for the log */
	uint16_t device_type;    /* VIRTIO_ID_* */
	uint32_t class_code;     /* PCI class */
	uint16_t queue_count;
	uint64_t features;       /* device-specific features offered */
	/* A queue the driver enabled was notified (vCPU context, no lock held). */
	void (*queue_notify)(struct virtio_device *vdev, unsigned queue);
	/* The driver reset the device (lock held): drop in-flight state. */
	void (*reset)(struct virtio_device *vdev);
	/* Optional: a driver write into the device config (lock held). */
	void (*config_write)(struct virtio_device *vdev, unsigned offset, unsigned size, uint32_t value);
};

struct virtio_queue {
	uint16_t size;           /* as the driver set it */
	uint16_t msix_vector;
	bool enabled;
	uint64_t desc, driver, device;
	struct virtq vq;         /* valid while enabled */
};

struct virtio_device {
	struct vm *vm;                         /* (o) */
	struct pci_device *pci;                /* (o) */
	const struct virtio_device_ops *ops;   /* (o) */
	void *opaque;                          /* (o) the device model */
	uint8_t *config;                       /* (o) device config bytes, [lock] */
	uint32_t config_size;                  /* (o) */
	uint64_t offered;                      /* (o) features offered */
	uint32_t device_feature_select, driver_feature_select; /* [lock] */
	uint64_t driver_features;              /* [lock] */
	uint8_t status;                        /* [lock] */
	uint8_t config_generation;             /* [lock] */
	uint8_t isr;                           /* [lock] bit 0 queue, bit 1 config */
	uint16_t config_msix_vector;           /* [lock] */
	uint16_t queue_select;                 /* [lock] */
	struct virtio_queue queues[VIRTIO_MAX_QUEUES]; /* [lock] */
	struct spinlock lock;                  /* transport and queue state */
};

/* Creates the PCI function of a virtio device on the VM's bus. NULL with
 * a logged reason when the bus is missing or full. */
struct virtio_device *virtio_pci_create(struct vm *vm, const struct virtio_device_ops *ops,
					void *opaque, void *config, uint32_t config_size);
/* The queue's ring when the driver has it live (DRIVER_OK, enabled, not
 * broken), else NULL. @pre lock held */
struct virtq *virtio_queue_live(struct virtio_device *vdev, unsigned queue);
/* After pushing used buffers: interrupts the driver if it wants one.
 * @pre lock held */
void virtio_queue_interrupt(struct virtio_device *vdev, unsigned queue);
/* Bad input from the driver: logs the reason once, sets NEEDS_RESET and
 * stops the device until the driver resets it. @pre lock held */
void virtio_device_fail(struct virtio_device *vdev, const char *reason);

#endif

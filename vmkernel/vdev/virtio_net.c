/*
 * virtio-net (virtio 1.1, 5.1): queue 0 receives, queue 1 transmits, no
 * control queue, no offloads, no mergeable buffers — so every frame is a
 * 12-byte virtio_net_hdr (all zero but num_buffers = 1 on receive)
 * followed by one Ethernet frame. The MAC comes from the VM's name; the
 * link is up when a switch is registered (vnic.h). A transmitted frame is
 * copied out under the device lock and handed to the switch after it is
 * dropped, so two NICs sending to each other never hold both locks.
 */
#include <vdev/vdev.h>
#include <vdev/vnic.h>

#include <lib/errno.h>
#include <lib/log.h>
#include <lib/string.h>
#include <mm/heap.h>
#include <vdev/pci.h>
#include <vdev/virtio_pci.h>
#include <vm/vm.h>

#define VIRTIO_NET_F_MAC (1ull << 5)
#define VIRTIO_NET_F_STATUS (1ull << 16)
#define VIRTIO_NET_S_LINK_UP 1

#define QUEUE_RECEIVE 0
#define QUEUE_TRANSMIT 1
#define HEADER_SIZE 12
#define CONFIG_SIZE 12 /* mac[6], status, max_virtqueue_pairs, mtu */

struct vnic {
	struct virtio_device *vdev;
	uint8_t config[CONFIG_SIZE];
	void *port;                            /* (o) the switch's handle, NULL: no link */
	struct virtq_chain chain;              /* [vdev lock] */
	uint8_t frame[HEADER_SIZE + VNIC_FRAME_MAX]; /* [vdev lock] transmit staging */
	uint64_t sent, received, dropped;      /* [vdev lock] */
};

static const struct vnic_switch_ops *switch_ops;

void vnic_register_switch(const struct vnic_switch_ops *ops)
{
	switch_ops = ops;
}

void vnic_mac_for(const char *vm_name, unsigned index, uint8_t mac[VNIC_MAC_SIZE])
{
	uint32_t hash = 2166136261u; /* FNV-1a */
	for (const char *p = vm_name; *p; p++)
		hash = (hash ^ (uint8_t)*p) * 16777619u;
	hash = (hash ^ index) * 16777619u;
	mac[0] = 0x02; /* locally administered, unicast */
	mac[1] = 0x4b; /* 'K' */
	mac[2] = (uint8_t)(hash >> 24);
	mac[3] = (uint8_t)(hash >> 16);
	mac[4] = (uint8_t)(hash >> 8);
	mac[5] = (uint8_t)hash;
}

bool vnic_receive(struct vnic *nic, const void *frame, unsigned length)
{
	struct virtio_device *vdev = nic->vdev;
	uint8_t header[HEADER_SIZE] = { 0 };
	bool delivered = false;

	header[10] = 1; /* num_buffers */
	/* A VM that is off has no NIC on the wire: nothing may land in its
	 * old buffers while it is off or being powered on again. */
	if (length > VNIC_FRAME_MAX || __atomic_load_n(&vdev->vm->state, __ATOMIC_ACQUIRE) != VM_RUNNING)
		return false;
	uint64_t flags = spin_lock_irqsave(&vdev->lock);
	struct virtq *q = virtio_queue_live(vdev, QUEUE_RECEIVE);
	int popped = q ? virtq_pop(q, &nic->chain) : 0;
	if (popped > 0) {
		if (nic->chain.writable_bytes >= HEADER_SIZE + length &&
		    !virtq_chain_write(q, &nic->chain, 0, header, HEADER_SIZE) &&
		    !virtq_chain_write(q, &nic->chain, HEADER_SIZE, frame, length)) {
			delivered = !virtq_push(q, nic->chain.head, HEADER_SIZE + length);
		} else {
			virtq_push(q, nic->chain.head, 0); /* too small: returned empty */
		}
	}
	if (q && !q->ready)
		virtio_device_fail(vdev, q->error);
	else if (popped > 0)
		virtio_queue_interrupt(vdev, QUEUE_RECEIVE);
	if (delivered)
		nic->received++;
	else
		nic->dropped++;
	spin_unlock_irqrestore(&vdev->lock, flags);
	return delivered;
}

static void net_transmit(struct vnic *nic)
{
	struct virtio_device *vdev = nic->vdev;

	/* At most a ring's worth of frames per doorbell, so a guest refilling
	 * its ring from another vCPU cannot keep this exit going. */
	for (unsigned n = 0; n < VIRTIO_QUEUE_SIZE; n++) {
		unsigned length = 0;
		uint64_t flags = spin_lock_irqsave(&vdev->lock);
		struct virtq *q = virtio_queue_live(vdev, QUEUE_TRANSMIT);
		int popped = q ? virtq_pop(q, &nic->chain) : 0;
		if (popped > 0) {
			uint64_t bytes = nic->chain.readable_bytes;
			if (bytes > HEADER_SIZE && bytes <= sizeof(nic->frame) &&
			    !virtq_chain_read(q, &nic->chain, 0, nic->frame, bytes))
				length = (unsigned)(bytes - HEADER_SIZE);
			else
				nic->dropped++; /* runt or oversized (no offloads were offered) */
			if (!virtq_push(q, nic->chain.head, 0))
				virtio_queue_interrupt(vdev, QUEUE_TRANSMIT);
		}
		if (q && !q->ready)
			virtio_device_fail(vdev, q->error);
		if (length && nic->port && switch_ops) {
			/* Staged in a local copy so the lock can go before the switch runs. */
			uint8_t frame[VNIC_FRAME_MAX];
			memcpy(frame, nic->frame + HEADER_SIZE, length);
			nic->sent++;
			spin_unlock_irqrestore(&vdev->lock, flags);
			switch_ops->transmit(nic->port, frame, length);
			continue;
		}
		spin_unlock_irqrestore(&vdev->lock, flags);
		if (popped <= 0)
			return;
	}
}

static void net_queue_notify(struct virtio_device *vdev, unsigned queue)
{
	if (queue == QUEUE_TRANSMIT)
		net_transmit(vdev->opaque);
	/* Receive buffers are taken when frames arrive. */
}

static const struct virtio_device_ops net_ops = {
	.name = "virtio-net",
	.device_type = VIRTIO_ID_NET,
	.class_code = 0x020000, /* Ethernet controller */
	.queue_count = 2,
	.features = VIRTIO_NET_F_MAC | VIRTIO_NET_F_STATUS | VIRTIO_F_INDIRECT_DESC,
	.queue_notify = net_queue_notify,
};

int vdev_virtio_net_attach(struct vm *vm, const struct vnic_params *params)
{
	struct vnic *nic = kzalloc(sizeof(*nic));
	if (!nic)
		return -ENOMEM;
	vm->overhead_bytes += sizeof(*nic);
	if (params->mac)
		memcpy(nic->config, params->mac, VNIC_MAC_SIZE);
	else
		vnic_mac_for(vm->name, params->index, nic->config);
	nic->vdev = virtio_pci_create(vm, &net_ops, nic, nic->config, sizeof(nic->config));
	if (!nic->vdev) {
		kfree(nic);
		return -ENOSPC;
	}
	if (switch_ops)
		nic->port = switch_ops->connect(nic, nic->config, params->network);
	uint16_t status = nic->port ? VIRTIO_NET_S_LINK_UP : 0;
	memcpy(&nic->config[6], &status, 2);
	const uint8_t *m = nic->config;
	log_info("vm %s: ethernet%u virtio-net at pci 00:%02x.0: mac %02x:%02x:%02x:%02x:%02x:%02x, network \"%s\", link %s\n",
		 vm->name, params->index, nic->vdev->pci->slot, m[0], m[1], m[2], m[3], m[4], m[5],
		 params->network, nic->port ? "up" : "down");
	return 0;
}

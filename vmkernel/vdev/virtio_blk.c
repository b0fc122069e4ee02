/*
 * virtio-blk (virtio 1.1, 5.2): one request queue. A request is a chain of
 * a 16-byte readable header { u32 type; u32 reserved; u64 sector; }, the
 * data (readable for writes, writable for reads) and one writable status
 * byte at the very end. Requests run to completion in the notifying
 * vCPU's exit, straight between guest memory and the backend.
 * A request too short to carry a header and a status byte is bad input
 * (the device needs a reset); a request beyond the disk gets IOERR.
 */
#include <vdev/vdev.h>

#include <lib/errno.h>
#include <lib/log.h>
#include <lib/string.h>
#include <mm/heap.h>
#include <vdev/pci.h>
#include <vdev/vdisk.h>
#include <vdev/virtio_pci.h>
#include <vm/vm.h>

#define VIRTIO_BLK_F_SEG_MAX (1ull << 2)
#define VIRTIO_BLK_F_RO (1ull << 5)
#define VIRTIO_BLK_F_BLK_SIZE (1ull << 6)
#define VIRTIO_BLK_F_FLUSH (1ull << 9)

#define VIRTIO_BLK_T_IN 0
#define VIRTIO_BLK_T_OUT 1
#define VIRTIO_BLK_T_FLUSH 4
#define VIRTIO_BLK_T_GET_ID 8

#define VIRTIO_BLK_S_OK 0
#define VIRTIO_BLK_S_IOERR 1
#define VIRTIO_BLK_S_UNSUPP 2

#define SECTOR_SIZE 512u
#define HEADER_SIZE 16u
#define ID_SIZE 20u

/* Device configuration offsets used here (the rest reads 0). */
#define CONFIG_CAPACITY 0
#define CONFIG_SEG_MAX 12
#define CONFIG_BLK_SIZE 20
#define CONFIG_SIZE 60

/* A request's data goes to the backend in pieces of up to this size,
 * gathered from (or scattered to) the guest's buffers: the guest's pages
 * are 4 KiB apart, and a backend call per page would make every page its
 * own synchronous request to the physical disk under a VMFS file. */
#define COALESCE_MAX (256u << 10)

struct virtio_blk {
	struct virtio_device *vdev;
	struct vdisk_backend *backend;
	uint64_t capacity;              /* (o) bytes */
	uint8_t config[CONFIG_SIZE];    /* (o) */
	struct virtq_chain chain;       /* [vdev lock] the request being served */
	uint8_t *bounce;                /* [vdev lock] COALESCE_MAX bytes, allocated at the first large request */
	struct vm *vm;                  /* (o) its overhead counts the bounce buffer */
};

struct blk_request_header {
	uint32_t type;
	uint32_t reserved;
	uint64_t sector;
};

struct transfer {
	struct vdisk_backend *backend;
	uint64_t offset;
};

static int transfer_in(void *context, void *host, uint64_t n)
{
	struct transfer *t = context;
	int error = t->backend->read(t->backend, t->offset, host, n);
	t->offset += n;
	return error;
}

static int transfer_out(void *context, void *host, uint64_t n)
{
	struct transfer *t = context;
	int error = t->backend->write(t->backend, t->offset, host, n);
	t->offset += n;
	return error;
}

/* Moves a request's data between its chain (from chain_offset) and the
 * backend (from disk_offset) through the bounce buffer, in COALESCE_MAX
 * pieces; without a bounce buffer (out of memory), page by page. */
static int transfer_coalesced(struct virtio_blk *blk, struct virtq *q, const struct virtq_chain *chain,
			      bool to_guest, uint64_t chain_offset, uint64_t disk_offset, uint64_t length)
{
	struct transfer t = { blk->backend, disk_offset };

	if (!blk->bounce && length > PAGE_SIZE) {
		blk->bounce = kzalloc(COALESCE_MAX);
		if (blk->bounce)
			blk->vm->overhead_bytes += COALESCE_MAX;
	}
	if (!blk->bounce || length <= PAGE_SIZE)
		return virtq_chain_for_each(q, chain, to_guest, chain_offset, length,
					    to_guest ? transfer_in : transfer_out, &t);
	for (uint64_t done = 0; done < length;) {
		uint64_t n = length - done < COALESCE_MAX ? length - done : COALESCE_MAX;
		int error;
		if (to_guest) {
			error = blk->backend->read(blk->backend, disk_offset + done, blk->bounce, n);
			if (!error)
				error = virtq_chain_write(q, chain, chain_offset + done, blk->bounce, n);
		} else {
			error = virtq_chain_read(q, chain, chain_offset + done, blk->bounce, n);
			if (!error)
				error = blk->backend->write(blk->backend, disk_offset + done, blk->bounce, n);
		}
		if (error)
			return error;
		done += n;
	}
	return 0;
}

static bool in_disk(struct virtio_blk *blk, uint64_t sector, uint64_t length)
{
	return length % SECTOR_SIZE == 0 && sector <= blk->capacity / SECTOR_SIZE &&
	       length <= blk->capacity - sector * SECTOR_SIZE;
}

/* Serves one request; returns the bytes written into it, or <0 when the
 * chain cannot be a request at all. */
static int64_t blk_execute(struct virtio_blk *blk, struct virtq *q, const struct virtq_chain *chain)
{
	struct blk_request_header header;
	struct vdisk_backend *backend = blk->backend;

	if (chain->readable_bytes < HEADER_SIZE || chain->writable_bytes < 1)
		return -EINVAL;
	if (virtq_chain_read(q, chain, 0, &header, sizeof(header)))
		return -EFAULT;
	uint64_t data_in = chain->writable_bytes - 1;   /* all but the status byte */
	uint64_t data_out = chain->readable_bytes - HEADER_SIZE;
	uint64_t written = 0;
	uint8_t status = VIRTIO_BLK_S_OK;
	uint64_t disk_offset = header.sector * SECTOR_SIZE;

	switch (header.type) {
	case VIRTIO_BLK_T_IN:
		if (!in_disk(blk, header.sector, data_in) ||
		    transfer_coalesced(blk, q, chain, true, 0, disk_offset, data_in))
			status = VIRTIO_BLK_S_IOERR;
		written = data_in;
		break;
	case VIRTIO_BLK_T_OUT:
		if (backend->read_only || !in_disk(blk, header.sector, data_out) ||
		    transfer_coalesced(blk, q, chain, false, HEADER_SIZE, disk_offset, data_out))
			status = VIRTIO_BLK_S_IOERR;
		break;
	case VIRTIO_BLK_T_FLUSH:
		if (backend->flush(backend))
			status = VIRTIO_BLK_S_IOERR;
		break;
	case VIRTIO_BLK_T_GET_ID:
		written = data_in < ID_SIZE ? data_in : ID_SIZE;
		if (virtq_chain_write(q, chain, 0, backend->id, written))
			status = VIRTIO_BLK_S_IOERR;
		break;
	default:
		status = VIRTIO_BLK_S_UNSUPP;
		break;
	}
	if (virtq_chain_write(q, chain, data_in, &status, 1))
		return -EFAULT;
	return (int64_t)written + 1;
}

static void blk_queue_notify(struct virtio_device *vdev, unsigned queue)
{
	struct virtio_blk *blk = vdev->opaque;
	bool served = false;

	uint64_t flags = spin_lock_irqsave(&vdev->lock);
	struct virtq *q = virtio_queue_live(vdev, queue);
	if (!q) {
		spin_unlock_irqrestore(&vdev->lock, flags);
		return;
	}
	/* At most a ring's worth per doorbell: a vCPU of the same guest adding
	 * requests as fast as they complete cannot keep this exit going. */
	for (unsigned n = 0; n < q->size && virtq_pop(q, &blk->chain) > 0; n++) {
		int64_t written = blk_execute(blk, q, &blk->chain);
		if (written < 0) {
			virtio_device_fail(vdev, "request without header or status byte");
			break;
		}
		if (virtq_push(q, blk->chain.head, (uint32_t)written))
			break;
		served = true;
	}
	if (!q->ready)
		virtio_device_fail(vdev, q->error);
	else if (served)
		virtio_queue_interrupt(vdev, queue);
	spin_unlock_irqrestore(&vdev->lock, flags);
}

static const struct virtio_device_ops blk_ops = {
	.name = "virtio-blk",
	.device_type = VIRTIO_ID_BLOCK,
	.class_code = 0x010000, /* mass storage */
	.queue_count = 1,
	.features = VIRTIO_BLK_F_SEG_MAX | VIRTIO_BLK_F_BLK_SIZE | VIRTIO_BLK_F_FLUSH |
		    VIRTIO_F_INDIRECT_DESC,
	.queue_notify = blk_queue_notify,
};

static const struct virtio_device_ops blk_ro_ops = {
	.name = "virtio-blk",
	.device_type = VIRTIO_ID_BLOCK,
	.class_code = 0x010000,
	.queue_count = 1,
	.features = VIRTIO_BLK_F_SEG_MAX | VIRTIO_BLK_F_BLK_SIZE | VIRTIO_BLK_F_FLUSH |
		    VIRTIO_BLK_F_RO | VIRTIO_F_INDIRECT_DESC,
	.queue_notify = blk_queue_notify,
};

int vdev_virtio_blk_attach(struct vm *vm, struct vdisk_backend *backend)
{
	if (!backend)
		return -EINVAL;
	struct virtio_blk *blk = kzalloc(sizeof(*blk));
	if (!blk)
		return -ENOMEM;
	vm->overhead_bytes += sizeof(*blk);
	blk->vm = vm;
	blk->backend = backend;
	blk->capacity = backend->capacity(backend) & ~(uint64_t)(SECTOR_SIZE - 1);
	uint64_t sectors = blk->capacity / SECTOR_SIZE;
	uint32_t seg_max = VIRTQ_MAX_SEGMENTS - 2, blk_size = SECTOR_SIZE;
	memcpy(&blk->config[CONFIG_CAPACITY], &sectors, 8);
	memcpy(&blk->config[CONFIG_SEG_MAX], &seg_max, 4);
	memcpy(&blk->config[CONFIG_BLK_SIZE], &blk_size, 4);
	blk->vdev = virtio_pci_create(vm, backend->read_only ? &blk_ro_ops : &blk_ops, blk, blk->config,
				      sizeof(blk->config));
	if (!blk->vdev) {
		kfree(blk);
		return -ENOSPC;
	}
	log_info("vm %s: virtio-blk at pci 00:%02x.0: %lu sectors%s\n", vm->name, blk->vdev->pci->slot,
		 sectors, backend->read_only ? ", read-only" : "");
	return 0;
}

/*
 * The block backend behind a virtual disk (virtio-blk today). Offsets and
 * lengths are in bytes; the device only issues whole 512-byte sectors
 * inside the capacity. Calls come from vCPU context, one request at a
 * time per disk. The storage layer plugs VMFS files in through the same
 * interface.
 */
#ifndef KAPSEL_VDEV_VDISK_H
#define KAPSEL_VDEV_VDISK_H

#include <stdbool.h>
#include <stdint.h>

struct vdisk_backend {
	/* 0 or -errno (-EIO: the device reports an I/O error). */
	int (*read)(struct vdisk_backend *disk, uint64_t offset, void *buffer, uint64_t length);
	int (*write)(struct vdisk_backend *disk, uint64_t offset, const void *buffer, uint64_t length);
	int (*flush)(struct vdisk_backend *disk);
	uint64_t (*capacity)(struct vdisk_backend *disk); /* bytes, a multiple of 512 */
	bool read_only;
	char id[21];      /* the serial the guest reads (VIRTIO_BLK_T_GET_ID), NUL-padded */
	void *opaque;     /* the backend's own state */
};

/* A disk over `size` bytes of vmkernel memory at `base` (a boot module's
 * memory, which the vmkernel never reuses), rounded down to whole sectors. */
struct vdisk_backend *vdisk_memory_create(void *base, uint64_t size, const char *id);
/* A zeroed disk of `size` bytes allocated from the vmkernel heap. */
struct vdisk_backend *vdisk_ram_create(uint64_t size, const char *id);

#endif

/*
 * The VMFS library's system interface (vmfs/lib/include/vmfs/vmfs_os.h) in
 * the vmkernel: a struct vmfs_blockdev over a struct blockdev, and a
 * struct vmfs_os with the TSC as clock, the kernel heap and a spinlock.
 */
#ifndef KAPSEL_STORAGE_VMFS_OS_H
#define KAPSEL_STORAGE_VMFS_OS_H

#include <stdint.h>

#include <drivers/block/blockdev.h>
#include <lib/spinlock.h>
#include <vmfs/vmfs_os.h>

/* Per-device state behind vmfs_blockdev.ctx; owned by the caller. */
struct storage_vmfs_device {
	struct blockdev *bdev;
	/* Serializes compare_and_write and read-modify-write of a sector
	 * larger than the library's 512 bytes on this device. */
	struct spinlock sector_lock;
	uint8_t *bounce; /* one device sector, guarded by sector_lock */
};

/* Fills *out for @bdev; @state must outlive it. 0, -ENOMEM or -EINVAL. */
int storage_vmfs_device_init(struct storage_vmfs_device *state, struct blockdev *bdev,
			     struct vmfs_blockdev *out);
void storage_vmfs_device_release(struct storage_vmfs_device *state);

/* An OS interface whose volume mutex is @volume_lock (one per volume). */
void storage_vmfs_os_init(struct vmfs_os *os, struct spinlock *volume_lock);

/* Monotonic nanoseconds from the TSC. */
uint64_t storage_now_ns(void);

/* Whole-device I/O in device sectors, waiting for completion. */
int storage_blockdev_read(struct blockdev *bdev, uint64_t sector, uint32_t count, void *buffer);
int storage_blockdev_write(struct blockdev *bdev, uint64_t sector, uint32_t count, const void *buffer,
			   uint32_t flags);
int storage_blockdev_flush(struct blockdev *bdev);

#endif

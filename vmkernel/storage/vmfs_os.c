/*
 * The VMFS library's system interface in the vmkernel.
 *
 * Block I/O goes through the block layer (drivers/block/blockdev.h). The
 * library addresses 512-byte units; a device with larger sectors gets
 * read-modify-write of partial sectors under the device's sector lock.
 *
 * compare_and_write is emulated: read, compare, write with FUA, all under
 * the device's sector lock. That is atomic among this host's users only.
 * Two hosts sharing a LUN need the device to do it: SCSI COMPARE AND WRITE
 * (SBC-3, what VMware's ATS uses) or an NVMe fused Compare+Write. Neither
 * is in the block layer yet (future work); until then a datastore is safe
 * on one host at a time, or on several that only read.
 */
#include <storage/vmfs_os.h>

#include <arch/x86/cpu.h>
#include <arch/x86/lapic.h>
#include <lib/errno.h>
#include <lib/log.h>
#include <lib/string.h>
#include <mm/heap.h>

/* The block layer's sync helpers split a transfer into requests the
 * driver accepts and refuse writes to a read-only device. */
int storage_blockdev_read(struct blockdev *bdev, uint64_t sector, uint32_t count, void *buffer)
{
	return blockdev_read_sync(bdev, sector, count, buffer);
}

int storage_blockdev_write(struct blockdev *bdev, uint64_t sector, uint32_t count, const void *buffer,
			   uint32_t flags)
{
	return blockdev_write_sync(bdev, sector, count, buffer, flags);
}

int storage_blockdev_flush(struct blockdev *bdev)
{
	return blockdev_flush_sync(bdev);
}

/*
 * Byte ranges (multiples of 512) onto device sectors. The aligned middle
 * goes straight to the driver; a partial first or last device sector is
 * read-modify-written through the bounce buffer under the sector lock.
 */
static int device_io(struct storage_vmfs_device *state, bool write, uint64_t offset, uint8_t *buf,
		     size_t len, uint32_t flags)
{
	struct blockdev *bdev = state->bdev;
	uint32_t size = bdev->sector_size;

	while (len) {
		uint64_t sector = offset / size;
		uint32_t within = (uint32_t)(offset % size);
		int err;

		if (within == 0 && len >= size) {
			uint64_t whole = len / size;
			uint32_t count = whole > UINT32_MAX ? UINT32_MAX : (uint32_t)whole;

			err = write ? storage_blockdev_write(bdev, sector, count, buf, flags)
				    : storage_blockdev_read(bdev, sector, count, buf);
			if (err)
				return err;
			offset += (uint64_t)count * size;
			buf += (uint64_t)count * size;
			len -= (uint64_t)count * size;
			continue;
		}
		size_t part = size - within < len ? size - within : len;

		spin_lock(&state->sector_lock);
		err = storage_blockdev_read(bdev, sector, 1, state->bounce);
		if (!err && write) {
			memcpy(state->bounce + within, buf, part);
			err = storage_blockdev_write(bdev, sector, 1, state->bounce, flags);
		} else if (!err) {
			memcpy(buf, state->bounce + within, part);
		}
		spin_unlock(&state->sector_lock);
		if (err)
			return err;
		offset += part;
		buf += part;
		len -= part;
	}
	return 0;
}

static bool range_ok(const struct storage_vmfs_device *state, uint64_t offset, size_t len)
{
	uint64_t bytes = state->bdev->sector_count * state->bdev->sector_size;

	return offset % 512 == 0 && len % 512 == 0 && offset <= bytes && len <= bytes - offset;
}

static int vmfs_dev_read(void *ctx, uint64_t offset, void *buf, size_t len)
{
	struct storage_vmfs_device *state = ctx;

	if (!range_ok(state, offset, len))
		return -VMFS_EINVAL;
	return device_io(state, false, offset, buf, len, 0);
}

static int vmfs_dev_write(void *ctx, uint64_t offset, const void *buf, size_t len)
{
	struct storage_vmfs_device *state = ctx;

	if (!range_ok(state, offset, len))
		return -VMFS_EINVAL;
	return device_io(state, true, offset, (uint8_t *)(uintptr_t)buf, len, 0);
}

static int vmfs_dev_flush(void *ctx)
{
	struct storage_vmfs_device *state = ctx;

	return storage_blockdev_flush(state->bdev);
}

static int vmfs_dev_write_fua(void *ctx, uint64_t offset, const void *buf, size_t len)
{
	struct storage_vmfs_device *state = ctx;

	if (!range_ok(state, offset, len))
		return -VMFS_EINVAL;
	if (!state->bdev->has_fua) {
		int err = device_io(state, true, offset, (uint8_t *)(uintptr_t)buf, len, 0);

		return err ? err : storage_blockdev_flush(state->bdev);
	}
	return device_io(state, true, offset, (uint8_t *)(uintptr_t)buf, len, BLOCKDEV_REQ_FUA);
}

/* Only this host's users are excluded (see the top of the file). */
static int vmfs_dev_compare_and_write(void *ctx, uint64_t offset, const void *expected,
				      const void *new_data, size_t len)
{
	struct storage_vmfs_device *state = ctx;
	struct blockdev *bdev = state->bdev;
	uint32_t size = bdev->sector_size;
	uint64_t sector = offset / size;
	uint32_t within = (uint32_t)(offset % size);
	int err;

	if (!range_ok(state, offset, len) || within + len > size)
		return -VMFS_EINVAL;
	spin_lock(&state->sector_lock);
	err = storage_blockdev_read(bdev, sector, 1, state->bounce);
	if (!err && memcmp(state->bounce + within, expected, len) != 0)
		err = -VMFS_EMISCOMPARE;
	if (!err) {
		memcpy(state->bounce + within, new_data, len);
		err = storage_blockdev_write(bdev, sector, 1, state->bounce,
					     bdev->has_fua ? BLOCKDEV_REQ_FUA : 0);
		if (!err && !bdev->has_fua)
			err = storage_blockdev_flush(bdev);
	}
	spin_unlock(&state->sector_lock);
	return err;
}

int storage_vmfs_device_init(struct storage_vmfs_device *state, struct blockdev *bdev,
			     struct vmfs_blockdev *out)
{
	if (bdev->sector_size < 512 || (bdev->sector_size & (bdev->sector_size - 1)))
		return -EINVAL;
	state->bdev = bdev;
	state->sector_lock = (struct spinlock)SPINLOCK_INIT;
	state->bounce = kmalloc(bdev->sector_size);
	if (!state->bounce)
		return -ENOMEM;
	*out = (struct vmfs_blockdev){
		.ctx = state,
		.size_bytes = bdev->sector_count * bdev->sector_size,
		.read = vmfs_dev_read,
		.write = vmfs_dev_write,
		.write_fua = vmfs_dev_write_fua,
		.flush = vmfs_dev_flush,
		.compare_and_write = vmfs_dev_compare_and_write,
	};
	return 0;
}

void storage_vmfs_device_release(struct storage_vmfs_device *state)
{
	kfree(state->bounce);
	state->bounce = NULL;
}

uint64_t storage_now_ns(void)
{
	uint64_t hz = tsc_hz();

	if (!hz)
		return 0;
	uint64_t tsc = rdtsc();

	/* In two parts: no 128-bit division in the kernel (rem * 1e9 fits for hz < 18 GHz). */
	return tsc / hz * 1000000000u + tsc % hz * 1000000000u / hz;
}

static uint64_t os_now_ns(void *ctx)
{
	(void)ctx;
	return storage_now_ns();
}

/* No real-time clock is read yet: file times are left 0 ("unknown"). */
static uint64_t os_wall_ns(void *ctx)
{
	(void)ctx;
	return 0;
}

static void os_sleep_ns(void *ctx, uint64_t ns)
{
	(void)ctx;
	udelay(ns / 1000 ? ns / 1000 : 1);
}

static void *os_alloc(void *ctx, size_t size)
{
	(void)ctx;
	return kmalloc(size);
}

static void os_free(void *ctx, void *ptr)
{
	(void)ctx;
	kfree(ptr);
}

static void os_mutex_lock(void *ctx)
{
	spin_lock(ctx);
}

static void os_mutex_unlock(void *ctx)
{
	spin_unlock(ctx);
}

static void os_log(void *ctx, enum vmfs_log_level level, const char *line)
{
	static const enum log_level levels[] = {
		[VMFS_LOG_ERROR] = LOG_ERROR, [VMFS_LOG_WARN] = LOG_WARN,
		[VMFS_LOG_INFO] = LOG_INFO, [VMFS_LOG_DEBUG] = LOG_DEBUG,
	};

	(void)ctx;
	log_printf(level <= VMFS_LOG_DEBUG ? levels[level] : LOG_DEBUG, "vmfs: %s\n", line);
}

void storage_vmfs_os_init(struct vmfs_os *os, struct spinlock *volume_lock)
{
	*os = (struct vmfs_os){
		.ctx = volume_lock,
		.now_ns = os_now_ns,
		.wall_ns = os_wall_ns,
		.sleep_ns = os_sleep_ns,
		.alloc = os_alloc,
		.free = os_free,
		.mutex_lock = os_mutex_lock,
		.mutex_unlock = os_mutex_unlock,
		.log = os_log,
	};
}

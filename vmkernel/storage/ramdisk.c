/*
 * RAM disks over boot modules. Requests complete inside submit(), so the
 * synchronous helpers never wait.
 */
#include <storage/ramdisk.h>

#include <lib/errno.h>
#include <lib/string.h>
#include <mm/heap.h>

#define RAMDISK_SECTOR 512u

struct ramdisk {
	struct blockdev dev;
	uint8_t *base;
};

static int ramdisk_submit(struct blockdev *dev, struct blockdev_request *req)
{
	struct ramdisk *disk = dev->driver_data;
	int status = 0;

	if (req->op == BLOCKDEV_READ || req->op == BLOCKDEV_WRITE) {
		if (req->sector > dev->sector_count || req->sector_count > dev->sector_count - req->sector)
			return -EINVAL;
		uint8_t *at = disk->base + req->sector * RAMDISK_SECTOR;
		size_t bytes = (size_t)req->sector_count * RAMDISK_SECTOR;

		if (req->op == BLOCKDEV_READ)
			memcpy(req->buffer, at, bytes);
		else
			memcpy(at, req->buffer, bytes);
	} else if (req->op != BLOCKDEV_FLUSH && req->op != BLOCKDEV_UNMAP) {
		return -EINVAL;
	}
	req->status = status;
	req->done(req);
	return 0;
}

static const struct blockdev_ops ramdisk_ops = { .submit = ramdisk_submit };

struct blockdev *ramdisk_create(const char *name, void *base, uint64_t bytes)
{
	struct ramdisk *disk = kzalloc(sizeof(*disk));

	if (!disk)
		return NULL;
	strlcpy(disk->dev.name, name, sizeof(disk->dev.name));
	disk->base = base;
	disk->dev.sector_size = RAMDISK_SECTOR;
	disk->dev.sector_count = bytes / RAMDISK_SECTOR;
	disk->dev.has_fua = true; /* memory: every write is as durable as it gets */
	disk->dev.ops = &ramdisk_ops;
	disk->dev.driver_data = disk;
	return &disk->dev;
}

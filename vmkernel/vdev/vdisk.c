/* Memory-backed disks (vdisk.h): a boot module's bytes or a heap buffer. */
#include <vdev/vdisk.h>

#include <lib/errno.h>
#include <lib/string.h>
#include <mm/heap.h>

struct memory_disk {
	struct vdisk_backend backend;
	uint8_t *base;
	uint64_t size;
};

static struct memory_disk *memory_disk(struct vdisk_backend *disk)
{
	return disk->opaque;
}

static int memory_read(struct vdisk_backend *disk, uint64_t offset, void *buffer, uint64_t length)
{
	struct memory_disk *m = memory_disk(disk);
	if (offset > m->size || length > m->size - offset)
		return -EIO;
	memcpy(buffer, m->base + offset, length);
	return 0;
}

static int memory_write(struct vdisk_backend *disk, uint64_t offset, const void *buffer,
			uint64_t length)
{
	struct memory_disk *m = memory_disk(disk);
	if (disk->read_only || offset > m->size || length > m->size - offset)
		return -EIO;
	memcpy(m->base + offset, buffer, length);
	return 0;
}

static int memory_flush(struct vdisk_backend *disk)
{
	(void)disk;
	return 0; /* nothing is cached */
}

static uint64_t memory_capacity(struct vdisk_backend *disk)
{
	return memory_disk(disk)->size;
}

struct vdisk_backend *vdisk_memory_create(void *base, uint64_t size, const char *id)
{
	struct memory_disk *m = kzalloc(sizeof(*m));
	if (!m)
		return NULL;
	m->base = base;
	m->size = size & ~511ull;
	m->backend = (struct vdisk_backend){ .read = memory_read, .write = memory_write,
					     .flush = memory_flush, .capacity = memory_capacity,
					     .opaque = m };
	strlcpy(m->backend.id, id ? id : "", sizeof(m->backend.id));
	return &m->backend;
}

struct vdisk_backend *vdisk_ram_create(uint64_t size, const char *id)
{
	void *base = kzalloc(size);
	if (!base)
		return NULL;
	struct vdisk_backend *disk = vdisk_memory_create(base, size, id);
	if (!disk)
		kfree(base);
	return disk;
}

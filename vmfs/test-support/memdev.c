/*
 * In-memory block device with an optional write/flush recorder (memdev.h).
 * Compare-and-write is a plain compare and copy: the tests that use this
 * device run their hosts in one thread.
 */
#include "memdev.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int in_range(const struct memdev *md, uint64_t offset, size_t len)
{
	return offset <= md->size && len <= md->size - offset && offset % 512 == 0 && len % 512 == 0;
}

static void record(struct memdev *md, enum memdev_op op, uint64_t offset, const void *buf, size_t len)
{
	struct memdev_recorder *rec = md->rec;
	if (!rec)
		return;
	if (rec->count == rec->capacity) {
		rec->capacity = rec->capacity ? 2 * rec->capacity : 1024;
		rec->entries = realloc(rec->entries, rec->capacity * sizeof(*rec->entries));
	}
	if (rec->arena_used + len > rec->arena_capacity) {
		while (rec->arena_used + len > rec->arena_capacity)
			rec->arena_capacity = rec->arena_capacity ? 2 * rec->arena_capacity : (1u << 20);
		rec->arena = realloc(rec->arena, rec->arena_capacity);
	}
	if (!rec->entries || !rec->arena) {
		fprintf(stderr, "memdev: out of memory for the recorder\n");
		abort();
	}
	struct memdev_entry *e = &rec->entries[rec->count++];
	e->op = op;
	e->offset = offset;
	e->len = (uint32_t)len;
	e->data = rec->arena_used;
	if (len) {
		memcpy(rec->arena + rec->arena_used, buf, len);
		rec->arena_used += len;
	}
}

static int memdev_read(void *ctx, uint64_t offset, void *buf, size_t len)
{
	struct memdev *md = ctx;
	if (!in_range(md, offset, len))
		return -VMFS_EINVAL;
	memcpy(buf, md->data + offset, len);
	return 0;
}

static int memdev_write(void *ctx, uint64_t offset, const void *buf, size_t len)
{
	struct memdev *md = ctx;
	if (!in_range(md, offset, len))
		return -VMFS_EINVAL;
	memcpy(md->data + offset, buf, len);
	md->writes++;
	record(md, MEMDEV_WRITE, offset, buf, len);
	return 0;
}

static int memdev_write_fua(void *ctx, uint64_t offset, const void *buf, size_t len)
{
	struct memdev *md = ctx;
	if (!in_range(md, offset, len))
		return -VMFS_EINVAL;
	memcpy(md->data + offset, buf, len);
	md->writes++;
	record(md, MEMDEV_FUA, offset, buf, len);
	return 0;
}

static int memdev_flush(void *ctx)
{
	record(ctx, MEMDEV_FLUSH, 0, NULL, 0);
	return 0;
}

/* A compare-and-write is an ordinary (volatile) write once it succeeds. */
static int memdev_caw(void *ctx, uint64_t offset, const void *expected, const void *new_data, size_t len)
{
	struct memdev *md = ctx;
	if (!in_range(md, offset, len))
		return -VMFS_EINVAL;
	if (memcmp(md->data + offset, expected, len) != 0)
		return -VMFS_EMISCOMPARE;
	return memdev_write(ctx, offset, new_data, len);
}

void memdev_init(struct memdev *md, struct vmfs_blockdev *dev)
{
	memset(dev, 0, sizeof(*dev));
	dev->ctx = md;
	dev->size_bytes = md->size;
	dev->read = memdev_read;
	dev->write = memdev_write;
	dev->write_fua = memdev_write_fua;
	dev->flush = memdev_flush;
	dev->compare_and_write = memdev_caw;
}

void memdev_recorder_free(struct memdev_recorder *rec)
{
	free(rec->entries);
	free(rec->arena);
	memset(rec, 0, sizeof(*rec));
}

void memdev_apply(const struct memdev_recorder *rec, size_t i, uint8_t *image)
{
	const struct memdev_entry *e = &rec->entries[i];
	if (e->op != MEMDEV_FLUSH)
		memcpy(image + e->offset, rec->arena + e->data, e->len);
}

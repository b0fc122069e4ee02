/*
 * An in-memory VMFS block device for tests, optionally recording every
 * write, FUA write and flush in order, so a crash harness can rebuild the
 * disk as it could be after a power cut at any point of the log.
 */
#ifndef VMFS_TEST_MEMDEV_H
#define VMFS_TEST_MEMDEV_H

#include <vmfs/vmfs_os.h>

enum memdev_op {
	MEMDEV_WRITE,	/* volatile until the next flush */
	MEMDEV_FUA,	/* durable when it returns */
	MEMDEV_FLUSH,
};

struct memdev_entry {
	enum memdev_op op;
	uint64_t offset;
	uint32_t len;
	uint64_t data;	/* offset of the bytes in the recorder's arena */
};

struct memdev_recorder {
	struct memdev_entry *entries;
	size_t count, capacity;
	uint8_t *arena;
	uint64_t arena_used, arena_capacity;
};

struct memdev {
	uint8_t *data;
	uint64_t size;
	struct memdev_recorder *rec;	/* NULL: nothing recorded */
	uint64_t writes;		/* every write, FUA write and CAW that wrote */
};

/* The device over @md (its data and size set by the caller). */
void memdev_init(struct memdev *md, struct vmfs_blockdev *dev);
void memdev_recorder_free(struct memdev_recorder *rec);
/* Applies entry @i of @rec to @image (a flush does nothing). */
void memdev_apply(const struct memdev_recorder *rec, size_t i, uint8_t *image);

#endif

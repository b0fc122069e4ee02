/*
 * The vmkernel's block layer: the contract between physical storage drivers
 * (virtio-blk, AHCI, NVMe — each registers one struct blockdev per disk, and
 * GPT partitions appear as further blockdevs over a range of their disk) and
 * their users (VMFS datastores, VM disks). Requests are asynchronous and
 * complete from the driver's interrupt handler; blockdev_*_sync wait for one.
 */
#ifndef KAPSEL_DRIVERS_BLOCK_BLOCKDEV_H
#define KAPSEL_DRIVERS_BLOCK_BLOCKDEV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define BLOCKDEV_NAME_MAX 32

enum blockdev_op {
	BLOCKDEV_READ,
	BLOCKDEV_WRITE,
	BLOCKDEV_FLUSH,
	BLOCKDEV_UNMAP,
};

#define BLOCKDEV_REQ_FUA 1u /* write reaches stable media before completion */

struct blockdev;
struct blockdev_request;

typedef void (*blockdev_done_fn)(struct blockdev_request *req);

struct blockdev_request {
	enum blockdev_op op;
	uint32_t flags;          /* BLOCKDEV_REQ_* */
	uint64_t sector;         /* in the device's sector_size units */
	uint32_t sector_count;
	void *buffer;            /* vmkernel virtual address, physically contiguous or not */
	int status;              /* 0 or -errno, set before done() */
	blockdev_done_fn done;   /* called once, possibly from an interrupt handler */
	void *opaque;
	struct blockdev_request *next; /* the driver's queue link */
};

struct blockdev_ops {
	/* Queues the request; returns 0 or -errno (then done() is not called). */
	int (*submit)(struct blockdev *dev, struct blockdev_request *req);
	/* Optional: reaps completions and enforces the driver's timeouts without
	 * an interrupt; the sync helpers call it while they wait (so they work
	 * with interrupts off too). */
	void (*poll)(struct blockdev *dev);
};

struct blockdev {
	char name[BLOCKDEV_NAME_MAX];  /* "vblk0", "ahci0p1", "nvme0n1p2" */
	uint32_t sector_size;          /* bytes, a power of two >= 512 */
	uint64_t sector_count;
	uint32_t max_sectors_per_request;
	bool read_only;
	bool has_fua;
	const struct blockdev_ops *ops;
	void *driver_data;
	struct blockdev *parent;       /* the whole disk, for a partition */
	uint64_t first_sector;         /* a partition's offset in its parent */
	uint8_t partition_type_guid[16]; /* GPT type of a partition, zero otherwise */
	struct blockdev *next;
};

/* Adds a disk (and then scans its GPT, registering one blockdev per partition). */
int blockdev_register(struct blockdev *dev);
/* All registered devices, in registration order. */
struct blockdev *blockdev_list(void);
struct blockdev *blockdev_find(const char *name);
/* Waits for one request (polls the completion; usable before and after interrupts are on). */
int blockdev_read_sync(struct blockdev *dev, uint64_t sector, uint32_t count, void *buffer);
int blockdev_write_sync(struct blockdev *dev, uint64_t sector, uint32_t count, const void *buffer, uint32_t flags);
int blockdev_flush_sync(struct blockdev *dev);

#endif

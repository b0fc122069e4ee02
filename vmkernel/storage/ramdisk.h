/*
 * RAM disks: a boot module as a block device (struct blockdev), for
 * datastores carried on the boot medium and for tests without disk drivers.
 * Writes stay in the module's memory (which the vmkernel never reuses)
 * until power-off.
 */
#ifndef KAPSEL_STORAGE_RAMDISK_H
#define KAPSEL_STORAGE_RAMDISK_H

#include <stddef.h>
#include <stdint.h>

#include <drivers/block/blockdev.h>

/* A module with the word "ramdisk:NAME" in its command line is RAM disk NAME. */
#define RAMDISK_MODULE_PREFIX "ramdisk:"

/* @base: vmkernel virtual address; @bytes rounded down to 512. */
struct blockdev *ramdisk_create(const char *name, void *base, uint64_t bytes);

#endif

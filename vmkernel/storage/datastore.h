/*
 * Datastores: the VMFS volumes the vmkernel found on its block devices at
 * boot, each mounted under its volume label (ESX's /vmfs/volumes/<label>).
 */
#ifndef KAPSEL_STORAGE_DATASTORE_H
#define KAPSEL_STORAGE_DATASTORE_H

#include <stdbool.h>
#include <stdint.h>

#include <boot_info.h>
#include <drivers/block/blockdev.h>
#include <lib/spinlock.h>
#include <storage/vmfs_os.h>
#include <vmfs/vmfs.h>

#define DATASTORE_MAX 16

struct datastore {
	char label[64];                 /* (o) the volume label, or the device name when empty */
	struct blockdev *bdev;          /* (o) */
	struct vmfs_volume *volume;     /* (o) */
	bool read_only;                 /* (o) damaged or refused read-write: no writes, no heartbeat */
	struct spinlock lock;           /* the library's volume mutex */
	struct vmfs_os os;              /* (o) */
	struct storage_vmfs_device device_state;
	struct vmfs_blockdev device;    /* (o) */
	uint64_t next_heartbeat_ns;     /* [heartbeat_lock] */
	bool heartbeat_failed;          /* [heartbeat_lock] reported once */
};

struct datastore_options {
	/* vmfs.format=<blockdev>:<label>[:force] (NULL or "": none). */
	const char *format;
	/* vmfs.selftest: write, read back and compare a file on each datastore. */
	bool selftest;
};

/* At boot, after the drivers registered their block devices: formats what
 * the options ask, then mounts every VMFS volume found. Never fails the
 * boot; every problem is logged with its reason. Returns the count mounted. */
unsigned datastore_init(const struct boot_info *boot, const struct datastore_options *options);
unsigned datastore_count(void);
struct datastore *datastore_get(unsigned index);
struct datastore *datastore_find(const char *label);
/* Refreshes the heartbeat of every read-write datastore whose interval is
 * due; cheap when none is. Call often (idle loops). */
void datastore_heartbeat_due(void);
#define DATASTORE_PATH_MAX 128 /* "[label]/dir/file" with the NUL */

/* Reads a whole file named "[label]/path" into kmalloc'd memory (*data,
 * freed by the caller with kfree). 0, or -errno with the reason in @error. */
int datastore_read_file(const char *name, void **data, uint64_t *size, char *error, size_t error_size);
/* Opens "[label]/path" (flags VMFS_O_*, its lock in @mode): 0, or -ENOENT,
 * -EBUSY (locked), -EROFS, -EIO... with the reason in @error. */
int datastore_open(const char *name, int flags, enum vmfs_lock_mode mode, struct vmfs_file **file,
		   char *error, size_t error_size);
/* Renames a file within one datastore, replacing a file @to: 0 or -ENOENT,
 * -EXDEV, -EROFS, -EIO. */
int datastore_rename(const char *from, const char *to);
/* VM configuration files: every "*.vmx" in a top-level directory of every
 * datastore ("[ds1]/web/web.vmx"), at most @max; returns how many. */
unsigned datastore_find_vm_configs(char (*out)[DATASTORE_PATH_MAX], unsigned max);

/* Before power-off or reboot: commits every datastore, closes its open
 * files (VM disks included) and frees this host's heartbeat slot. Every
 * CPU but this one must be stopped. */
void datastore_shutdown(void);

#endif

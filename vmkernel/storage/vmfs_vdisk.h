/*
 * Virtual disks on datastores: a VMDK (descriptor + one flat extent, as
 * `vmfs mkdisk` writes) or a raw file, as a struct vdisk_backend for
 * virtio-blk. Named "[datastore]/path" (ESX's "[ds1] web/web.vmdk").
 */
#ifndef KAPSEL_STORAGE_VMFS_VDISK_H
#define KAPSEL_STORAGE_VMFS_VDISK_H

#include <stdbool.h>
#include <stddef.h>

#include <vdev/vdisk.h>

/* True when @name is a datastore path ("[" first) rather than a module. */
bool vmfs_vdisk_is_datastore_path(const char *name);

/*
 * Opens the disk for VM @owner. Its files are held with exclusive VMFS
 * locks until vmfs_vdisk_close(), so another host cannot open them, and a
 * second open on this host is refused (-EBUSY, naming the holder). On a
 * read-only datastore the disk is read-only. NULL with the reason in
 * @error on failure.
 */
struct vdisk_backend *vmfs_vdisk_open(const char *name, const char *owner, char *error, size_t error_size);
/* Releases the locks and frees the backend. */
void vmfs_vdisk_close(struct vdisk_backend *disk);

#endif

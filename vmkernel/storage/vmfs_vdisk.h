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
 * locks until vmfs_vdisk_close() or _release(), so another host cannot
 * open them, and a second open on this host is refused (-EBUSY, naming
 * the holder). On a read-only datastore the disk is read-only. With @hold
 * false (a VM that is not powered on yet) the disk is only measured and
 * left released; when another VM here holds it, its geometry is taken
 * from there. NULL with the reason in @error on failure.
 */
struct vdisk_backend *vmfs_vdisk_open(const char *name, const char *owner, bool hold, char *error,
				      size_t error_size);
/* Releases the locks and frees the backend. */
void vmfs_vdisk_close(struct vdisk_backend *disk);
/* VM power-off: flushes, closes the files and drops their locks; the
 * backend stays (the VM's virtio-blk device keeps it) for a power-on. */
void vmfs_vdisk_release(struct vdisk_backend *disk);
/* VM power-on: opens and locks the files again. 0, or -errno with the
 * reason (another VM or host holds them, the size changed). */
int vmfs_vdisk_reacquire(struct vdisk_backend *disk, char *error, size_t error_size);
/* True, with the holder's VM name, when another VM on this host has the
 * disk of the same name open. Memory only: any context. */
bool vmfs_vdisk_holder(struct vdisk_backend *disk, char *holder, size_t holder_size);
const char *vmfs_vdisk_name(struct vdisk_backend *disk);

#endif

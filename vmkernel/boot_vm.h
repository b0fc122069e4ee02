/* What a boot-time VM was made from (boot_vms.c), kept for its resets and
 * power cycles (vm_power.c). The images stay in the boot modules' memory,
 * which the vmkernel never reuses, or in vmkernel memory read from a
 * datastore. */
#ifndef KAPSEL_BOOT_VM_H
#define KAPSEL_BOOT_VM_H

#include <stddef.h>

#include <storage/datastore.h>
#include <vdev/vdisk.h>
#include <vm/guest_loader.h>
#include <vm/vm.h>
#include <vm/vmdef.h>

struct vm_logfile;

struct boot_vm {
	struct vm_definition def;
	struct guest_image kernel;
	struct guest_image modules[VMDEF_MAX_MODULES + 1];
	unsigned module_count;
	/* Its "[ds]/path" disks: locked while it is powered on. */
	struct vdisk_backend *datastore_disks[VMDEF_MAX_DISKS];
	unsigned datastore_disk_count;
	/* "[ds]/dir" holding its .vmx, "" for a boot module definition. */
	char directory[DATASTORE_PATH_MAX];
	char config_path[DATASTORE_PATH_MAX]; /* its "[ds]/dir/x.vmx", "" for a boot module */
	/* Held exclusively while it is powered on, like its disks: another
	 * host cannot change its configuration or settings under it. */
	struct vmfs_file *config_file;
	struct vmfs_file *nvram_file;
	struct vm_logfile *log;         /* its vmware.log, NULL until its first power-on */
	struct vm_logfile *serial;      /* serial0.fileType = file: COM1's output */
	bool nvram_loaded;              /* settings came from its .nvram (else defaults) */
	volatile bool power_cycle;      /* a reset of an SMP VM: power on again once off */
	const char *power_on_reason;    /* for its log; NULL: vm start */
};

/* Loads the kernel and modules into (zeroed) guest RAM and makes vCPU 0's
 * boot state pending. 0, or -1 with the reason in @error. */
int boot_vm_load_guest(struct vm *vm, const struct boot_vm *b, char *error, size_t error_size);

#endif

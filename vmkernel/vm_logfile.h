/*
 * Files a powered-on VM writes on its datastore: its log, "vmware.log" in
 * the directory of its .vmx (the last VM_LOGFILE_KEEP kept as
 * vmware-1.log ... at each power-on), and, with serial0.fileType = "file",
 * its COM1 output. Lines are put into a ring in vmkernel memory by any
 * context (vm/vm_log.h); only the BSP's loop writes them to the file, so
 * no VMFS call waits in a vCPU's exit path. A full ring or datastore loses
 * lines (counted in the file and the vmkernel log), never the VM.
 */
#ifndef KAPSEL_VM_LOGFILE_H
#define KAPSEL_VM_LOGFILE_H

#include <stdbool.h>

#include <storage/datastore.h>
#include <vm/vm_log.h>

#define VM_LOGFILE_NAME "vmware.log"
#define VM_LOGFILE_KEEP 3
#define VM_LOGFILE_MAX_BYTES (8u << 20) /* per power-on; the rest is lost */

struct vm_logfile {
	struct vm_log ring;
	struct vmfs_file *file;       /* NULL: closed */
	uint64_t offset;              /* bytes written */
	uint64_t last_flush_tsc;
	uint64_t lost_lines;          /* this power-on */
	bool write_failed;            /* reported once */
	char path[DATASTORE_PATH_MAX];
};

/* Creates (truncating) "[ds]/path" for a power-on, after rotating earlier
 * ones when @rotate (vmware.log -> vmware-1.log -> ...). 0, or -errno
 * with the reason in @error. *@slot is allocated on first use, kept. */
int vm_logfile_open(struct vm_logfile **slot, const char *path, bool rotate, char *error, size_t error_size);
/* Writes what the ring holds when a chunk's worth waits, a second has
 * passed, or @force. BSP's loop only. */
void vm_logfile_flush(struct vm_logfile *file, bool force);
/* Flushes and closes (power-off). */
void vm_logfile_close(struct vm_logfile *file);

#endif

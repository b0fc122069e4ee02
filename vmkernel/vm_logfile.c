#include "vm_logfile.h"

#include <arch/x86/cpu.h>
#include <arch/x86/lapic.h>
#include <lib/errno.h>
#include <lib/log.h>
#include <lib/printf.h>
#include <lib/string.h>
#include <mm/heap.h>

#define FLUSH_CHUNK 4096u
#define FLUSH_INTERVAL_MS 1000u

/* "[ds]/dir/vmware.log" -> "[ds]/dir/vmware-N.log" (N 0: the name itself). */
static void numbered_name(const char *path, unsigned n, char *out, size_t size)
{
	size_t length = strlen(path);

	if (!n || length < 4 || strcmp(path + length - 4, ".log") != 0)
		snprintf(out, size, "%s", path);
	else
		snprintf(out, size, "%.*s-%u.log", (int)(length - 4), path, n);
}

static void rotate(const char *path)
{
	char from[DATASTORE_PATH_MAX + 8], to[DATASTORE_PATH_MAX + 8];

	for (unsigned n = VM_LOGFILE_KEEP; n > 0; n--) {
		numbered_name(path, n - 1, from, sizeof(from));
		numbered_name(path, n, to, sizeof(to));
		int rc = datastore_rename(from, to);
		if (rc && rc != -ENOENT)
			log_warn("vm log: cannot rename %s to %s (%d)\n", from, to, rc);
	}
}

int vm_logfile_open(struct vm_logfile **slot, const char *path, bool rotate_old, char *error, size_t error_size)
{
	if (!*slot) {
		*slot = kzalloc(sizeof(**slot));
		if (!*slot) {
			snprintf(error, error_size, "'%s': out of vmkernel memory", path);
			return -ENOMEM;
		}
	}
	struct vm_logfile *f = *slot;

	if (f->file)
		vm_logfile_close(f);
	if (rotate_old)
		rotate(path);
	/* Sole: never truncate a file this host holds for something else (a
	 * serial0.fileName naming a disk, another VM's log). */
	int rc = datastore_open(path, VMFS_O_CREAT | VMFS_O_TRUNC | VMFS_O_SOLE, VMFS_LOCK_EXCLUSIVE, &f->file,
				error, error_size);
	if (rc)
		return rc;
	strlcpy(f->path, path, sizeof(f->path));
	vm_log_reset(&f->ring);
	f->offset = 0;
	f->lost_lines = 0;
	f->write_failed = false;
	f->last_flush_tsc = rdtsc();
	return 0;
}

static uint64_t count_lines(const char *text, size_t length)
{
	uint64_t lines = 0;
	for (size_t i = 0; i < length; i++)
		lines += text[i] == '\n';
	return lines;
}

/* Writes at the end of the file; false (lines counted lost) when it fails
 * or the file reached its bound. */
static bool append(struct vm_logfile *f, const char *text, size_t length)
{
	if (f->offset + length <= VM_LOGFILE_MAX_BYTES) {
		int64_t put = vmfs_write(f->file, f->offset, text, length);
		if (put == (int64_t)length) {
			f->offset += length;
			return true;
		}
		if (!f->write_failed)
			log_warn("vm log: %s: write failed (%s): its lines are lost from here on\n", f->path,
				 put < 0 ? vmfs_strerror((int)put) : "short write");
		f->write_failed = true;
	}
	f->lost_lines += count_lines(text, length);
	return false;
}

void vm_logfile_flush(struct vm_logfile *f, bool force)
{
	static char chunk[FLUSH_CHUNK]; /* the BSP's loop is the only caller */
	uint64_t now = rdtsc();
	uint64_t interval = tsc_hz() / 1000 * FLUSH_INTERVAL_MS;
	size_t n;

	if (!f || !f->file)
		return;
	if (!force && vm_log_pending(&f->ring) < FLUSH_CHUNK && now - f->last_flush_tsc < interval)
		return;
	f->last_flush_tsc = now;
	while ((n = vm_log_take(&f->ring, chunk, sizeof(chunk))) > 0)
		append(f, chunk, n);
	uint64_t lost = vm_log_take_lost(&f->ring);
	if (lost) {
		f->lost_lines += lost;
		int length = snprintf(chunk, sizeof(chunk), "(%lu lines lost: the vmkernel's buffer was full)\n", lost);
		append(f, chunk, (size_t)length);
	}
}

void vm_logfile_close(struct vm_logfile *f)
{
	if (!f || !f->file)
		return;
	vm_logfile_flush(f, true);
	if (f->lost_lines)
		log_warn("vm log: %s: %lu lines lost\n", f->path, f->lost_lines);
	if (vmfs_fsync(f->file))
		log_warn("vm log: %s: flush failed\n", f->path);
	vmfs_close(f->file);
	f->file = NULL;
}

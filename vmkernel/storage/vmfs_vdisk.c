/*
 * Virtual disks on datastores. A VMDK here is a text descriptor
 * ("# Disk DescriptorFile", then lines such as `RW 8192 VMFS "x-flat.vmdk"`)
 * naming one flat extent in the same directory; guest sector N is byte
 * N * 512 (+ the extent's offset) of the extent file. Sparse extents,
 * several extents and parent (snapshot) chains are refused with the reason.
 * A file without a descriptor header is taken as a raw flat image.
 *
 * Both files are opened with exclusive VMFS locks and stay open while the
 * VM has the disk: the on-disk lock keeps other hosts out; the library
 * lets this host reopen its own lock, so a table of open disks here
 * refuses a second VM on this host.
 */
#include <storage/vmfs_vdisk.h>

#include <lib/errno.h>
#include <lib/log.h>
#include <lib/printf.h>
#include <lib/spinlock.h>
#include <lib/string.h>
#include <mm/heap.h>
#include <storage/datastore.h>

#define VMDK_MAGIC "# Disk DescriptorFile"
#define DESCRIPTOR_MAX 8192u
#define PATH_MAX_BYTES 256u
#define OPEN_DISKS_MAX 64u

struct vmfs_vdisk {
	struct vdisk_backend backend;   /* first: the backend pointer is the disk */
	struct datastore *datastore;    /* (o) */
	struct vmfs_file *descriptor;   /* (o) NULL for a raw image */
	struct vmfs_file *extent;       /* (o) */
	uint64_t extent_offset;         /* (o) bytes */
	uint64_t capacity;              /* (o) bytes */
	uint32_t extent_ino;            /* (o) */
	char owner[32];                 /* (o) the VM */
	char name[PATH_MAX_BYTES];      /* (o) "[ds]/path", for reopening */
	bool released;                  /* files closed, locks dropped (VM powered off) */
};

/* Disks open on this host, by datastore and extent inode. */
static struct vmfs_vdisk *open_disks[OPEN_DISKS_MAX];
static struct spinlock open_disks_lock = SPINLOCK_INIT;

bool vmfs_vdisk_is_datastore_path(const char *name)
{
	return name && name[0] == '[';
}

static int vdisk_read(struct vdisk_backend *backend, uint64_t offset, void *buffer, uint64_t length)
{
	struct vmfs_vdisk *disk = backend->opaque;

	if (offset > disk->capacity || length > disk->capacity - offset)
		return -EIO;
	int64_t got = vmfs_read(disk->extent, disk->extent_offset + offset, buffer, length);

	if (got < 0)
		return -EIO;
	/* A thin extent shorter than the descriptor says reads as zeros. */
	if ((uint64_t)got < length)
		memset((uint8_t *)buffer + got, 0, length - (uint64_t)got);
	return 0;
}

static int vdisk_write(struct vdisk_backend *backend, uint64_t offset, const void *buffer, uint64_t length)
{
	struct vmfs_vdisk *disk = backend->opaque;

	if (backend->read_only || offset > disk->capacity || length > disk->capacity - offset)
		return -EIO;
	int64_t put = vmfs_write(disk->extent, disk->extent_offset + offset, buffer, length);

	return put == (int64_t)length ? 0 : -EIO;
}

static int vdisk_flush(struct vdisk_backend *backend)
{
	struct vmfs_vdisk *disk = backend->opaque;

	if (backend->read_only)
		return 0;
	return vmfs_fsync(disk->extent) ? -EIO : 0;
}

static uint64_t vdisk_capacity(struct vdisk_backend *backend)
{
	struct vmfs_vdisk *disk = backend->opaque;

	return disk->capacity;
}

static bool starts_with(const char *s, const char *prefix)
{
	return strncmp(s, prefix, strlen(prefix)) == 0;
}

/* "[label]/dir/file" -> label and "/dir/file". */
static int split_name(const char *name, char *label, size_t label_size, char *path, size_t path_size)
{
	const char *close = strchr(name, ']');

	if (name[0] != '[' || !close || close == name + 1 || (size_t)(close - name - 1) >= label_size)
		return -EINVAL;
	memcpy(label, name + 1, (size_t)(close - name - 1));
	label[close - name - 1] = 0;
	const char *rest = close + 1;

	while (*rest == ' ')
		rest++;
	if (!rest[0] || snprintf(path, path_size, "%s%s", rest[0] == '/' ? "" : "/", rest) >= (int)path_size)
		return -EINVAL;
	return 0;
}

/*
 * Finds the one extent line of a descriptor: ACCESS SECTORS TYPE "FILE"
 * [OFFSET]. Returns 0 with the fields, or -EINVAL with the reason.
 */
static int parse_descriptor(char *text, uint64_t *sectors, char *file, size_t file_size, uint64_t *offset,
			    bool *read_only, char *error, size_t error_size)
{
	unsigned extents = 0, line_number = 0;

	for (char *line = text; line && *line;) {
		char *next = strchr(line, '\n');

		if (next)
			*next++ = 0;
		line_number++;
		while (*line == ' ' || *line == '\t')
			line++;
		if (starts_with(line, "parentCID=") && !starts_with(line, "parentCID=ffffffff")) {
			snprintf(error, error_size, "line %u: a child disk (snapshot chain) is not supported",
				 line_number);
			return -EINVAL;
		}
		bool rw = starts_with(line, "RW "), rdonly = starts_with(line, "RDONLY ");

		if (!rw && !rdonly && !starts_with(line, "NOACCESS ")) {
			line = next;
			continue;
		}
		if (++extents > 1) {
			snprintf(error, error_size, "line %u: more than one extent is not supported", line_number);
			return -EINVAL;
		}
		char *p = strchr(line, ' ');
		uint64_t count = 0;

		while (*p == ' ')
			p++;
		if (*p < '0' || *p > '9')
			goto bad_line;
		while (*p >= '0' && *p <= '9') {
			if (count > (UINT64_MAX / 512 - 9) / 10)
				goto bad_line;
			count = count * 10 + (uint64_t)(*p++ - '0');
		}
		while (*p == ' ')
			p++;
		if (!starts_with(p, "VMFS ") && !starts_with(p, "FLAT ")) {
			snprintf(error, error_size, "line %u: only FLAT and VMFS extents are supported", line_number);
			return -EINVAL;
		}
		p += 5;
		while (*p == ' ')
			p++;
		char *end = *p == '"' ? strchr(p + 1, '"') : NULL;

		if (!end || end == p + 1 || (size_t)(end - p - 1) >= file_size)
			goto bad_line;
		memcpy(file, p + 1, (size_t)(end - p - 1));
		file[end - p - 1] = 0;
		*offset = 0;
		for (p = end + 1; *p == ' '; p++)
			;
		while (*p >= '0' && *p <= '9') {
			if (*offset > (UINT64_MAX / 512 - 9) / 10)
				goto bad_line;
			*offset = *offset * 10 + (uint64_t)(*p++ - '0');
		}
		if (*p && *p != ' ' && *p != '\r')
			goto bad_line;
		if (!rw && !rdonly) {
			snprintf(error, error_size, "line %u: the extent is NOACCESS", line_number);
			return -EINVAL;
		}
		*sectors = count;
		*read_only = rdonly;
		line = next;
		continue;
bad_line:
		snprintf(error, error_size, "line %u: malformed extent line (ACCESS SECTORS TYPE \"FILE\" [OFFSET])",
			 line_number);
		return -EINVAL;
	}
	if (!extents) {
		snprintf(error, error_size, "no extent line");
		return -EINVAL;
	}
	return 0;
}

static void close_files(struct vmfs_vdisk *disk)
{
	if (disk->extent && disk->extent != disk->descriptor)
		vmfs_close(disk->extent);
	if (disk->descriptor)
		vmfs_close(disk->descriptor);
}

static bool claim(struct vmfs_vdisk *disk, char *holder, size_t holder_size)
{
	bool ok = true;
	int free_slot = -1;

	spin_lock(&open_disks_lock);
	for (unsigned i = 0; i < OPEN_DISKS_MAX && ok; i++) {
		struct vmfs_vdisk *other = open_disks[i];

		if (!other) {
			free_slot = free_slot < 0 ? (int)i : free_slot;
		} else if (other->datastore == disk->datastore && other->extent_ino == disk->extent_ino) {
			strlcpy(holder, other->owner, holder_size);
			ok = false;
		}
	}
	if (ok && free_slot < 0) {
		strlcpy(holder, "(too many open disks)", holder_size);
		ok = false;
	}
	if (ok)
		open_disks[free_slot] = disk;
	spin_unlock(&open_disks_lock);
	return ok;
}

/* Opens and locks the files of disk->name into @disk (zeroed but for its
 * name and owner) and claims it on this host. 0, or -1 with the reason. */
static int open_disk(struct vmfs_vdisk *disk, char *error, size_t error_size)
{
	char label[64], path[PATH_MAX_BYTES], extent_name[PATH_MAX_BYTES], holder[32];
	const char *name = disk->name;
	char *text = NULL;
	struct vmfs_stat st;
	enum vmfs_lock_mode mode;
	int err;

	if (split_name(name, label, sizeof(label), path, sizeof(path))) {
		snprintf(error, error_size, "disk '%s': expected [datastore]/path", name);
		return -1;
	}
	struct datastore *ds = datastore_find(label);

	if (!ds) {
		snprintf(error, error_size, "disk '%s': no datastore '%s'", name, label);
		return -1;
	}
	text = kmalloc(DESCRIPTOR_MAX + 1);
	if (!text) {
		snprintf(error, error_size, "disk '%s': out of memory", name);
		return -1;
	}
	disk->datastore = ds;
	disk->descriptor = disk->extent = NULL;
	disk->capacity = disk->extent_offset = 0;
	mode = ds->read_only ? VMFS_LOCK_SHARED_RO : VMFS_LOCK_EXCLUSIVE;
	err = vmfs_open(ds->volume, path, 0, mode, &disk->descriptor);
	if (err) {
		snprintf(error, error_size, "disk '%s': %s", name,
			 err == -VMFS_EBUSY ? "locked by another host" : vmfs_strerror(err));
		disk->descriptor = NULL;
		goto fail;
	}
	int64_t got = vmfs_read(disk->descriptor, 0, text, DESCRIPTOR_MAX);

	if (got < 0) {
		snprintf(error, error_size, "disk '%s': %s", name, vmfs_strerror((int)got));
		goto fail;
	}
	text[got] = 0;
	bool extent_read_only = false;

	if (starts_with(text, VMDK_MAGIC)) {
		uint64_t sectors = 0, offset_sectors = 0;
		char reason[96];

		if (parse_descriptor(text, &sectors, extent_name, sizeof(extent_name), &offset_sectors,
				     &extent_read_only, reason, sizeof(reason))) {
			snprintf(error, error_size, "disk '%s': descriptor %s", name, reason);
			goto fail;
		}
		size_t dir_len = 0; /* path up to its last '/' (split_name made it absolute) */

		for (size_t i = 0; path[i]; i++)
			if (path[i] == '/')
				dir_len = i;
		char extent_path[PATH_MAX_BYTES];

		if (extent_name[0] == '/' || strchr(extent_name, ']')) {
			snprintf(error, error_size, "disk '%s': the extent must be in the descriptor's directory", name);
			goto fail;
		}
		if (snprintf(extent_path, sizeof(extent_path), "%.*s/%s", (int)dir_len, path, extent_name) >=
		    (int)sizeof(extent_path)) {
			snprintf(error, error_size, "disk '%s': extent path too long", name);
			goto fail;
		}
		err = vmfs_open(ds->volume, extent_path, 0, mode, &disk->extent);
		if (err) {
			disk->extent = NULL;
			snprintf(error, error_size, "disk '%s': extent '%s': %s", name, extent_name,
				 err == -VMFS_EBUSY ? "locked by another host" : vmfs_strerror(err));
			goto fail;
		}
		disk->capacity = sectors * 512;
		disk->extent_offset = offset_sectors * 512;
	} else {
		disk->extent = disk->descriptor; /* a raw image */
		disk->descriptor = NULL;
	}
	err = vmfs_fstat(disk->extent, &st);
	if (err) {
		snprintf(error, error_size, "disk '%s': %s", name, vmfs_strerror(err));
		goto fail;
	}
	if (!disk->capacity)
		disk->capacity = st.size / 512 * 512;
	if (!disk->capacity || disk->extent_offset > st.size || disk->capacity > st.size - disk->extent_offset) {
		snprintf(error, error_size, "disk '%s': the extent holds %lu bytes, the disk needs %lu",
			 name, st.size, disk->extent_offset + disk->capacity);
		goto fail;
	}
	disk->extent_ino = st.ino;
	if (!claim(disk, holder, sizeof(holder))) {
		snprintf(error, error_size, "disk '%s': locked: in use by VM %s", name, holder);
		goto fail;
	}
	kfree(text);
	disk->backend = (struct vdisk_backend){
		.read = vdisk_read, .write = vdisk_write, .flush = vdisk_flush, .capacity = vdisk_capacity,
		.read_only = ds->read_only || extent_read_only, .opaque = disk,
	};
	/* The serial: the file's inode, unique on its datastore. */
	snprintf(disk->backend.id, sizeof(disk->backend.id), "vmfs-%s-%u", ds->label, st.ino);
	return 0;
fail:
	close_files(disk);
	disk->descriptor = disk->extent = NULL;
	kfree(text);
	return -1;
}

/* A VM on this host holding the disk named like @disk has its geometry:
 * a powered-off VM naming the same disk takes it from there (no files
 * opened). */
static bool copy_from_holder(struct vmfs_vdisk *disk)
{
	bool found = false;

	spin_lock(&open_disks_lock);
	for (unsigned i = 0; i < OPEN_DISKS_MAX && !found; i++) {
		struct vmfs_vdisk *other = open_disks[i];
		if (!other || strcmp(other->name, disk->name) != 0)
			continue;
		disk->datastore = other->datastore;
		disk->extent_offset = other->extent_offset;
		disk->capacity = other->capacity;
		disk->extent_ino = other->extent_ino;
		disk->backend = other->backend;
		disk->backend.opaque = disk;
		found = true;
	}
	spin_unlock(&open_disks_lock);
	return found;
}

struct vdisk_backend *vmfs_vdisk_open(const char *name, const char *owner, bool hold, char *error,
				      size_t error_size)
{
	struct vmfs_vdisk *disk = kzalloc(sizeof(*disk));

	if (!disk) {
		snprintf(error, error_size, "disk '%s': out of memory", name);
		return NULL;
	}
	strlcpy(disk->owner, owner, sizeof(disk->owner));
	if (strlcpy(disk->name, name, sizeof(disk->name)) >= sizeof(disk->name)) {
		snprintf(error, error_size, "disk '%.64s...': name too long", name);
		kfree(disk);
		return NULL;
	}
	if (!hold && copy_from_holder(disk)) {
		disk->released = true;
	} else if (open_disk(disk, error, error_size)) {
		kfree(disk);
		return NULL;
	}
	log_info("vm %s: disk %s on datastore %s, %lu MiB%s\n", owner, name, disk->datastore->label,
		 disk->capacity >> 20, disk->backend.read_only ? " (read-only)" : "");
	if (!hold)
		vmfs_vdisk_release(&disk->backend);
	return &disk->backend;
}

static void unclaim(struct vmfs_vdisk *disk)
{
	spin_lock(&open_disks_lock);
	for (unsigned i = 0; i < OPEN_DISKS_MAX; i++)
		if (open_disks[i] == disk)
			open_disks[i] = NULL;
	spin_unlock(&open_disks_lock);
}

void vmfs_vdisk_close(struct vdisk_backend *backend)
{
	struct vmfs_vdisk *disk = backend->opaque;

	if (!disk->released) {
		unclaim(disk);
		close_files(disk);
	}
	kfree(disk);
}

void vmfs_vdisk_release(struct vdisk_backend *backend)
{
	struct vmfs_vdisk *disk = backend->opaque;

	if (disk->released)
		return;
	if (!backend->read_only && vmfs_fsync(disk->extent))
		log_warn("vm %s: disk %s: flush at power-off failed\n", disk->owner, disk->name);
	unclaim(disk);
	close_files(disk);
	disk->descriptor = disk->extent = NULL;
	disk->released = true;
}

int vmfs_vdisk_reacquire(struct vdisk_backend *backend, char *error, size_t error_size)
{
	struct vmfs_vdisk *disk = backend->opaque;
	uint64_t capacity = disk->capacity;
	bool read_only = backend->read_only;

	uint64_t extent_offset = disk->extent_offset;

	if (!disk->released)
		return 0;
	if (open_disk(disk, error, error_size)) {
		/* Refused (held elsewhere for now): the geometry the guest's
		 * device was made with stays for the next attempt. */
		disk->capacity = capacity;
		disk->extent_offset = extent_offset;
		backend->read_only = read_only;
		return -EBUSY;
	}
	/* The guest's device was made for the old size and access. */
	if (disk->capacity != capacity || backend->read_only != read_only) {
		snprintf(error, error_size, "disk '%s': its size or access changed while the VM was off", disk->name);
		unclaim(disk);
		close_files(disk);
		disk->descriptor = disk->extent = NULL;
		disk->capacity = capacity;
		disk->extent_offset = extent_offset;
		backend->read_only = read_only;
		return -EINVAL;
	}
	disk->released = false;
	return 0;
}

bool vmfs_vdisk_holder(struct vdisk_backend *backend, char *holder, size_t holder_size)
{
	struct vmfs_vdisk *disk = backend->opaque;
	bool held = false;

	spin_lock(&open_disks_lock);
	for (unsigned i = 0; i < OPEN_DISKS_MAX && !held; i++) {
		struct vmfs_vdisk *other = open_disks[i];
		if (other && other != disk && strcmp(other->name, disk->name) == 0) {
			strlcpy(holder, other->owner, holder_size);
			held = true;
		}
	}
	spin_unlock(&open_disks_lock);
	return held;
}

const char *vmfs_vdisk_name(struct vdisk_backend *backend)
{
	return ((struct vmfs_vdisk *)backend->opaque)->name;
}

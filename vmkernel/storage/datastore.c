/*
 * Datastores: at boot every candidate block device (RAM disks from boot
 * modules, every GPT partition, every disk without partitions) is looked
 * at for a VMFS superblock (magic "KVMB", type 1, in mblock 0 or its
 * backup in mblock 1) and mounted. A volume the library refuses
 * read-write is tried read-only, so a damaged datastore still serves its
 * files; one that cannot be mounted at all is reported and skipped. The
 * host boots either way.
 */
#include <storage/datastore.h>

#include <arch/x86/cpu.h>
#include <lib/errno.h>
#include <lib/log.h>
#include <lib/printf.h>
#include <lib/string.h>
#include <mm/heap.h>
#include <mm/vmm.h>
#include <storage/ramdisk.h>

#define VMFS_MBLOCK_BYTES 4096u
#define VMFS_SUPER_MAGIC 0x424d564bu
#define VMFS_SUPER_TYPE 1u
/* How much of a disk must be zero for vmfs.format to call it empty. */
#define EMPTY_CHECK_BYTES (1u << 20)
#define SELFTEST_PATH "/kapsel-selftest.bin"
#define SELFTEST_BYTES 196608u /* 192 KiB: several 64 KiB chunks, not a whole block */
#define HOST_FILE_PATH "/hello.txt"

#define CANDIDATE_MAX 64

static struct datastore *datastores[DATASTORE_MAX];
static unsigned datastores_mounted;
static struct spinlock heartbeat_lock = SPINLOCK_INIT;
static uint8_t host_uuid[16];

unsigned datastore_count(void)
{
	return datastores_mounted;
}

struct datastore *datastore_get(unsigned index)
{
	return index < datastores_mounted ? datastores[index] : NULL;
}

struct datastore *datastore_find(const char *label)
{
	for (unsigned i = 0; i < datastores_mounted; i++)
		if (strcmp(datastores[i]->label, label) == 0)
			return datastores[i];
	return NULL;
}

/* This boot's identity in heartbeat slots: nothing persistent identifies
 * the host yet, so a fresh value each boot (the last boot's slot simply
 * expires with its lease). */
static void make_host_uuid(void)
{
	uint64_t x = rdtsc();

	for (unsigned i = 0; i < 2; i++) {
		x += 0x9e3779b97f4a7c15ull;
		uint64_t z = x;

		z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
		z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
		z ^= z >> 31;
		memcpy(host_uuid + (size_t)8 * i, &z, 8);
	}
}

static uint32_t read_le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* Reads @bytes (a multiple of the sector size) at byte @offset. */
static int read_bytes(struct blockdev *bdev, uint64_t offset, void *buf, uint32_t bytes)
{
	return storage_blockdev_read(bdev, offset / bdev->sector_size, bytes / bdev->sector_size, buf);
}

static bool has_vmfs_superblock(struct blockdev *bdev)
{
	uint32_t bytes = bdev->sector_size > VMFS_MBLOCK_BYTES ? bdev->sector_size : VMFS_MBLOCK_BYTES;
	uint8_t *buf;
	bool found = false;

	if (bdev->sector_count * bdev->sector_size < 2ull * bytes)
		return false;
	buf = kmalloc(bytes);
	if (!buf)
		return false;
	for (uint64_t mblock = 0; mblock < 2 && !found; mblock++) {
		if (read_bytes(bdev, mblock * VMFS_MBLOCK_BYTES, buf, bytes))
			continue;
		found = read_le32(buf) == VMFS_SUPER_MAGIC && (read_le32(buf + 4) & 0xffff) == VMFS_SUPER_TYPE;
	}
	kfree(buf);
	return found;
}

static void format_size(char *out, size_t size, uint64_t bytes)
{
	if (bytes >= (10ull << 30))
		snprintf(out, size, "%lu GiB", bytes >> 30);
	else
		snprintf(out, size, "%lu MiB", bytes >> 20);
}

static void datastore_free(struct datastore *ds)
{
	storage_vmfs_device_release(&ds->device_state);
	kfree(ds);
}

static void mount_one(struct blockdev *bdev)
{
	struct datastore *ds;
	struct vmfs_mount_options mount_options = { .host_name = "kapsel" };
	int err;

	if (datastores_mounted == DATASTORE_MAX) {
		log_warn("datastore: %s: not mounted: more than %u datastores\n", bdev->name, DATASTORE_MAX);
		return;
	}
	ds = kzalloc(sizeof(*ds));
	if (!ds || storage_vmfs_device_init(&ds->device_state, bdev, &ds->device)) {
		log_error("datastore: %s: not mounted: out of memory\n", bdev->name);
		kfree(ds);
		return;
	}
	ds->bdev = bdev;
	ds->lock = (struct spinlock)SPINLOCK_INIT;
	storage_vmfs_os_init(&ds->os, &ds->lock);
	memcpy(mount_options.host_uuid, host_uuid, sizeof(host_uuid));
	mount_options.read_only = bdev->read_only;
	err = vmfs_mount(&ds->os, &ds->device, &mount_options, &ds->volume);
	if (err && !bdev->read_only) {
		log_warn("datastore: %s: read-write mount refused: %s; trying read-only\n", bdev->name,
			 vmfs_strerror(err));
		mount_options.read_only = true;
		err = vmfs_mount(&ds->os, &ds->device, &mount_options, &ds->volume);
	}
	if (err) {
		log_error("datastore: %s: not mounted: %s\n", bdev->name, vmfs_strerror(err));
		datastore_free(ds);
		return;
	}
	ds->read_only = mount_options.read_only;

	struct vmfs_statfs st;
	char size[24], free_text[24];

	err = vmfs_statfs(ds->volume, &st);
	if (err) {
		log_error("datastore: %s: not mounted: statfs: %s\n", bdev->name, vmfs_strerror(err));
		vmfs_unmount(ds->volume);
		datastore_free(ds);
		return;
	}
	strlcpy(ds->label, st.label[0] ? st.label : bdev->name, sizeof(ds->label));
	format_size(size, sizeof(size), st.volume_bytes);
	format_size(free_text, sizeof(free_text), st.free_blocks * st.block_size);
	log_info("datastore: %s on %s %s free %s%s\n", ds->label, bdev->name, size, free_text,
		 ds->read_only ? " (read-only)" : "");
	ds->next_heartbeat_ns = storage_now_ns() + VMFS_DEFAULT_HEARTBEAT_MS * 1000000ull;
	datastores[datastores_mounted++] = ds;
}

/* A module is a RAM disk when a word of its command line is
 * "ramdisk:NAME" (GRUB passes only the text after the file; QEMU's
 * multiboot loader the file name first). Copies NAME out; false if none. */
static bool ramdisk_module_name(const char *text, size_t text_size, char *out, size_t out_size)
{
	size_t prefix = strlen(RAMDISK_MODULE_PREFIX);
	size_t length = strnlen(text, text_size);

	for (size_t at = 0; at < length;) {
		while (at < length && text[at] == ' ')
			at++;
		size_t end = at;

		while (end < length && text[end] != ' ')
			end++;
		if (end - at >= prefix && strncmp(text + at, RAMDISK_MODULE_PREFIX, prefix) == 0) {
			size_t name_len = end - at - prefix;

			if (name_len >= out_size)
				name_len = 0; /* too long: reported as no name */
			memcpy(out, text + at + prefix, name_len);
			out[name_len] = 0;
			return true;
		}
		at = end;
	}
	return false;
}

/* RAM disks join the block layer like any disk (their GPT partitions too). */
static void register_ramdisks(const struct boot_info *boot)
{
	for (uint32_t i = 0; i < boot->module_count; i++) {
		const struct boot_module *m = &boot->modules[i];
		char name[BLOCKDEV_NAME_MAX];

		if (!ramdisk_module_name(m->name, sizeof(m->name), name, sizeof(name)))
			continue;
		if (!name[0] || m->phys_end - m->phys_start < 512) {
			log_warn("datastore: module '%.*s': no RAM disk name or too small; ignored\n",
				 (int)sizeof(m->name), m->name);
			continue;
		}
		struct blockdev *disk = ramdisk_create(name, phys_to_virt(m->phys_start), m->phys_end - m->phys_start);

		if (!disk) {
			log_error("datastore: RAM disk %s: out of memory\n", name);
			continue;
		}
		int err = blockdev_register(disk);

		if (err) {
			log_error("datastore: RAM disk %s not registered: error %d\n", name, err);
			kfree(disk); /* the blockdev is the RAM disk's first member */
		}
	}
}

/* Candidates: every block device, a partitioned disk through its
 * partitions only. */
static unsigned collect_candidates(struct blockdev **out)
{
	unsigned n = 0;

	for (struct blockdev *dev = blockdev_list(); dev && n < CANDIDATE_MAX; dev = dev->next) {
		bool partitioned = false;

		for (struct blockdev *other = blockdev_list(); other; other = other->next)
			partitioned |= other->parent == dev;
		if (!partitioned)
			out[n++] = dev;
	}
	return n;
}

static bool disk_is_empty(struct blockdev *bdev, bool *empty)
{
	uint32_t chunk = 64u * 1024u;
	uint64_t total = bdev->sector_count * bdev->sector_size;
	uint64_t check = total < EMPTY_CHECK_BYTES ? total : EMPTY_CHECK_BYTES;
	uint8_t *buf;

	if (chunk < bdev->sector_size)
		chunk = bdev->sector_size;
	buf = kmalloc(chunk);
	if (!buf)
		return false;
	*empty = true;
	for (uint64_t at = 0; at + chunk <= check && *empty; at += chunk) {
		if (read_bytes(bdev, at, buf, chunk)) {
			kfree(buf);
			return false;
		}
		for (uint32_t i = 0; i < chunk && *empty; i++)
			*empty = buf[i] == 0;
	}
	kfree(buf);
	return true;
}

/* vmfs.format=<blockdev>:<label>[:force] */
static void format_as_asked(const char *spec, struct blockdev **candidates, unsigned count)
{
	char device[BLOCKDEV_NAME_MAX], label[64];
	const char *colon = strchr(spec, ':');
	const char *label_start = colon ? colon + 1 : NULL;
	const char *label_end = label_start ? strchr(label_start, ':') : NULL;
	bool force = label_end && strcmp(label_end + 1, "force") == 0;
	struct blockdev *bdev = NULL;

	if (!colon || (size_t)(colon - spec) >= sizeof(device) || colon == spec || !label_start[0] ||
	    (label_end && !force) ||
	    (size_t)(label_end ? label_end - label_start : (long)strlen(label_start)) >= sizeof(label)) {
		log_error("datastore: vmfs.format='%s': expected <blockdev>:<label>[:force]\n", spec);
		return;
	}
	memcpy(device, spec, (size_t)(colon - spec));
	device[colon - spec] = 0;
	size_t label_len = label_end ? (size_t)(label_end - label_start) : strlen(label_start);

	memcpy(label, label_start, label_len);
	label[label_len] = 0;
	for (unsigned i = 0; i < count; i++)
		if (strcmp(candidates[i]->name, device) == 0)
			bdev = candidates[i];
	if (!bdev) {
		log_error("datastore: vmfs.format: no block device '%s'\n", device);
		return;
	}
	if (bdev->read_only) {
		log_error("datastore: vmfs.format: %s is read-only\n", device);
		return;
	}
	bool empty = false;

	if (!disk_is_empty(bdev, &empty)) {
		log_error("datastore: vmfs.format: %s: cannot read it\n", device);
		return;
	}
	if (!empty && !force) {
		log_error("datastore: vmfs.format: %s is not empty (data in its first MiB); "
			  "refused (add :force to overwrite)\n", device);
		return;
	}

	struct storage_vmfs_device state;
	struct vmfs_blockdev vdev;
	struct spinlock lock = SPINLOCK_INIT;
	struct vmfs_os os;
	struct vmfs_mkfs_options mkfs_options = { .label = label };
	int err = storage_vmfs_device_init(&state, bdev, &vdev);

	if (err) {
		log_error("datastore: vmfs.format: %s: out of memory\n", device);
		return;
	}
	storage_vmfs_os_init(&os, &lock);
	err = vmfs_mkfs(&os, &vdev, &mkfs_options);
	storage_vmfs_device_release(&state);
	if (err)
		log_error("datastore: vmfs.format: %s: %s\n", device, vmfs_strerror(err));
	else
		log_info("datastore: formatted %s as VMFS '%s'\n", device, label);
}

static uint8_t selftest_byte(uint32_t i)
{
	return (uint8_t)((i * 2654435761u) >> 13);
}

/* Writes a file, reads it back through a fresh open, compares; then logs
 * the first line of a file the host tools may have put there. */
static void selftest(struct datastore *ds)
{
	uint8_t *data = kmalloc(SELFTEST_BYTES);
	uint8_t *back = kmalloc(SELFTEST_BYTES);
	struct vmfs_file *file;
	const char *step = "memory";
	int64_t got = 0;
	int err = -VMFS_ENOMEM;

	if (!data || !back)
		goto report;
	for (uint32_t i = 0; i < SELFTEST_BYTES; i++)
		data[i] = selftest_byte(i);
	if (!ds->read_only) {
		step = "create";
		err = vmfs_open(ds->volume, SELFTEST_PATH, VMFS_O_CREAT | VMFS_O_TRUNC, VMFS_LOCK_EXCLUSIVE, &file);
		if (err)
			goto report;
		step = "write";
		got = vmfs_write(file, 0, data, SELFTEST_BYTES);
		err = got < 0 ? (int)got : got != SELFTEST_BYTES ? -VMFS_EIO : vmfs_fsync(file);
		int close_err = vmfs_close(file);

		if (!err)
			err = close_err;
		if (err)
			goto report;
		step = "read";
		err = vmfs_open(ds->volume, SELFTEST_PATH, 0, VMFS_LOCK_SHARED_RO, &file);
		if (err)
			goto report;
		memset(back, 0, SELFTEST_BYTES);
		got = vmfs_read(file, 0, back, SELFTEST_BYTES);
		vmfs_close(file);
		err = got < 0 ? (int)got : got != SELFTEST_BYTES ? -VMFS_EIO : 0;
		if (err)
			goto report;
		step = "compare";
		err = memcmp(data, back, SELFTEST_BYTES) ? -VMFS_EIO : vmfs_sync(ds->volume);
	}
report:
	if (ds->read_only)
		log_info("datastore: selftest %s: read-only, write skipped\n", ds->label);
	else if (err)
		log_error("datastore: selftest %s failed at %s: %s\n", ds->label, step, vmfs_strerror(err));
	else
		log_info("datastore: selftest %s write/read %u bytes ok\n", ds->label, SELFTEST_BYTES);
	kfree(data);
	kfree(back);

	char line[128];

	if (vmfs_open(ds->volume, HOST_FILE_PATH, 0, VMFS_LOCK_SHARED_RO, &file))
		return;
	got = vmfs_read(file, 0, line, sizeof(line) - 1);
	vmfs_close(file);
	if (got < 0) {
		log_error("datastore: selftest %s: %s: %s\n", ds->label, HOST_FILE_PATH, vmfs_strerror((int)got));
		return;
	}
	line[got] = 0;
	for (int64_t i = 0; i < got; i++)
		if (line[i] < ' ')
			line[i] = 0;
	log_info("datastore: selftest %s: %s says '%s'\n", ds->label, HOST_FILE_PATH, line);
}

unsigned datastore_init(const struct boot_info *boot, const struct datastore_options *options)
{
	struct blockdev **candidates = kmalloc(CANDIDATE_MAX * sizeof(struct blockdev *));
	unsigned count;

	if (!candidates) {
		log_error("datastore: out of memory; no datastores\n");
		return 0;
	}
	make_host_uuid();
	register_ramdisks(boot);
	count = collect_candidates(candidates);
	if (options->format && options->format[0])
		format_as_asked(options->format, candidates, count);
	for (unsigned i = 0; i < count; i++)
		if (has_vmfs_superblock(candidates[i]))
			mount_one(candidates[i]);
	kfree(candidates);
	log_info("datastore: %u mounted\n", datastores_mounted);
	if (options->selftest)
		for (unsigned i = 0; i < datastores_mounted; i++)
			selftest(datastores[i]);
	return datastores_mounted;
}

void datastore_heartbeat_due(void)
{
	uint64_t now;

	if (!datastores_mounted || !spin_trylock(&heartbeat_lock))
		return;
	now = storage_now_ns();
	for (unsigned i = 0; i < datastores_mounted; i++) {
		struct datastore *ds = datastores[i];

		if (ds->read_only || now < ds->next_heartbeat_ns)
			continue;
		int err = vmfs_heartbeat(ds->volume);

		ds->next_heartbeat_ns = now + VMFS_DEFAULT_HEARTBEAT_MS * 1000000ull;
		if (err && !ds->heartbeat_failed)
			log_error("datastore: %s: heartbeat failed: %s\n", ds->label, vmfs_strerror(err));
		ds->heartbeat_failed = err != 0;
	}
	spin_unlock(&heartbeat_lock);
}

void datastore_shutdown(void)
{
	for (unsigned i = 0; i < datastores_mounted; i++) {
		struct datastore *ds = datastores[i];

		/* A CPU stopped inside the library holds its mutex for good:
		 * leave that volume to journal replay at the next mount. */
		if (!spin_trylock(&ds->lock)) {
			log_warn("datastore: %s: busy at shutdown; left for replay\n", ds->label);
			continue;
		}
		spin_unlock(&ds->lock);
		int err = vmfs_unmount(ds->volume);

		if (err)
			log_error("datastore: %s: unmount: %s\n", ds->label, vmfs_strerror(err));
	}
	if (datastores_mounted)
		log_info("datastore: %u unmounted\n", datastores_mounted);
	datastores_mounted = 0;
}

/* Files the vmkernel reads whole (kernels, initrds, configurations). */
#define READ_FILE_MAX (512ull << 20)

/* "[label]/path" -> its datastore and "/path" (inside @name). */
static int resolve(const char *name, struct datastore **ds, const char **path, char *error, size_t error_size)
{
	const char *close = name[0] == '[' ? strchr(name, ']') : NULL;
	char label[64];

	if (!close || close == name + 1 || (size_t)(close - name - 1) >= sizeof(label) || close[1] != '/') {
		snprintf(error, error_size, "'%s': expected [datastore]/path", name);
		return -EINVAL;
	}
	memcpy(label, name + 1, (size_t)(close - name - 1));
	label[close - name - 1] = 0;
	*ds = datastore_find(label);
	if (!*ds) {
		snprintf(error, error_size, "'%s': no datastore '%s'", name, label);
		return -ENOENT;
	}
	*path = close + 1;
	return 0;
}

int datastore_open(const char *name, int flags, enum vmfs_lock_mode mode, struct vmfs_file **file,
		   char *error, size_t error_size)
{
	struct datastore *ds;
	const char *path;
	int rc = resolve(name, &ds, &path, error, error_size);

	if (rc)
		return rc;
	if (ds->read_only && mode != VMFS_LOCK_SHARED_RO) {
		snprintf(error, error_size, "'%s': the datastore is read-only", name);
		return -EROFS;
	}
	int err = vmfs_open(ds->volume, path, flags, mode, file);
	if (err) {
		*file = NULL;
		snprintf(error, error_size, "'%s': %s", name, vmfs_strerror(err));
		return err == -VMFS_ENOENT ? -ENOENT : err == -VMFS_EBUSY ? -EBUSY : -EIO;
	}
	return 0;
}

int datastore_rename(const char *from, const char *to)
{
	struct datastore *ds, *ds_to;
	const char *path, *path_to;
	char error[8];

	if (resolve(from, &ds, &path, error, sizeof(error)) || resolve(to, &ds_to, &path_to, error, sizeof(error)))
		return -EINVAL;
	if (ds != ds_to)
		return -EXDEV;
	if (ds->read_only)
		return -EROFS;
	int err = vmfs_rename(ds->volume, path, path_to);
	return err == -VMFS_ENOENT ? -ENOENT : err ? -EIO : 0;
}

int datastore_read_file(const char *name, void **data, uint64_t *size, char *error, size_t error_size)
{
	struct datastore *ds;
	const char *path;
	struct vmfs_file *file;
	struct vmfs_stat st = { 0 };
	int err = resolve(name, &ds, &path, error, error_size);

	if (err)
		return err;
	err = vmfs_open(ds->volume, path, 0, VMFS_LOCK_SHARED_RO, &file);
	if (!err)
		err = vmfs_fstat(file, &st);
	else
		file = NULL;
	if (!err && (st.size == 0 || st.size > READ_FILE_MAX))
		err = -VMFS_EFBIG;
	void *buffer = err ? NULL : kmalloc(st.size + 1);

	if (!err && !buffer)
		err = -VMFS_ENOMEM;
	if (!err) {
		int64_t got = vmfs_read(file, 0, buffer, st.size);

		err = got < 0 ? (int)got : (uint64_t)got != st.size ? -VMFS_EIO : 0;
	}
	if (file)
		vmfs_close(file);
	if (err) {
		kfree(buffer);
		snprintf(error, error_size, "'%s': %s", name,
			 err == -VMFS_EFBIG ? "empty or larger than 512 MiB" : vmfs_strerror(err));
		return -EIO;
	}
	((char *)buffer)[st.size] = 0; /* text files end in a NUL for free */
	*data = buffer;
	*size = st.size;
	return 0;
}

struct name_list {
	char (*names)[VMFS_NAME_MAX + 1];
	unsigned count, max;
	bool directories; /* collect directories, else *.vmx files */
};

static int collect_name(void *arg, const struct vmfs_dirent *entry)
{
	struct name_list *list = arg;
	size_t length = entry->name_len;
	bool wanted = list->directories ? entry->kind == VMFS_KIND_DIR
					: entry->kind == VMFS_KIND_FILE && length > 4 &&
						  strcmp(entry->name + length - 4, ".vmx") == 0;

	if (wanted && list->count < list->max)
		memcpy(list->names[list->count++], entry->name, length + 1);
	return 0;
}

#define VM_DIRS_MAX 32u

unsigned datastore_find_vm_configs(char (*out)[DATASTORE_PATH_MAX], unsigned max)
{
	char (*dirs)[VMFS_NAME_MAX + 1] = kmalloc(VM_DIRS_MAX * sizeof(dirs[0]));
	char (*files)[VMFS_NAME_MAX + 1] = kmalloc(VM_DIRS_MAX * sizeof(files[0]));
	unsigned n = 0;

	for (unsigned d = 0; dirs && files && d < datastores_mounted && n < max; d++) {
		struct datastore *ds = datastores[d];
		/* The library's mutex is not recursive: names first, then paths. */
		struct name_list dir_list = { .names = dirs, .max = VM_DIRS_MAX, .directories = true };

		if (vmfs_readdir(ds->volume, "/", collect_name, &dir_list))
			continue;
		for (unsigned i = 0; i < dir_list.count && n < max; i++) {
			char dir_path[VMFS_NAME_MAX + 2];
			struct name_list file_list = { .names = files, .max = VM_DIRS_MAX };

			snprintf(dir_path, sizeof(dir_path), "/%s", dirs[i]);
			if (vmfs_readdir(ds->volume, dir_path, collect_name, &file_list))
				continue;
			for (unsigned j = 0; j < file_list.count && n < max; j++)
				if (snprintf(out[n], DATASTORE_PATH_MAX, "[%s]/%s/%s", ds->label, dirs[i], files[j]) <
				    DATASTORE_PATH_MAX)
					n++;
				else
					log_warn("datastore: %s: /%s/%s: path too long; not a VM\n", ds->label, dirs[i],
						 files[j]);
		}
	}
	kfree(dirs);
	kfree(files);
	return n;
}

/*
 * vmfs -d IMAGE <command> [args]: the VMFS multi-tool. Each run mounts the
 * volume as one more host (its own heartbeat slot), does one command and
 * unmounts. Disk images go through qemu-img (Debian's qemu-utils) to and
 * from raw: qemu-img already reads and writes every format that matters,
 * so the tool never parses qcow2 or sparse vmdk itself.
 */
#define _GNU_SOURCE
#include "tool_common.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define COPY_CHUNK (1u << 20)

#ifdef VMFS_HAVE_FUSE
int vmfs_fuse_mount(struct vmfs_volume *vol, const char *mountpoint, int argc, char **argv);
#endif

static struct vmfs_volume *vol;
static const char *image;

static void usage(void)
{
	fprintf(stderr,
		"usage: vmfs -d IMAGE COMMAND [ARGS]\n"
		"  ls [PATH]                 list a directory\n"
		"  stat PATH                 show a file's or directory's attributes\n"
		"  mkdir PATH                create a directory\n"
		"  rm PATH                   remove a file or an empty directory\n"
		"  mv FROM TO                rename or move\n"
		"  df                        space and inodes\n"
		"  cp-in HOSTFILE PATH       copy a host file in (zero blocks stay holes)\n"
		"  cp-out PATH HOSTFILE      copy a file out\n"
		"  mkdisk PATH.vmdk SIZE [--thin|--lazy|--eager]\n"
		"                            a virtual disk: VMDK descriptor + PATH-flat.vmdk\n"
		"  clone SRC DST             copy sharing blocks (copy on write); a .vmdk disk clones whole\n"
		"  import HOSTIMAGE PATH     raw/qcow2/vmdk image in (via qemu-img); PATH.vmdk makes a disk\n"
		"  export PATH HOSTFILE [--format raw|qcow2|vmdk]\n"
		"  locks                     heartbeat slots and held locks\n"
		"  mount MOUNTPOINT [FUSE options]\n"
		"environment: VMFS_HEARTBEAT_MS, VMFS_LEASE_MS, VMFS_LOCK_WAIT_MS (timing mount options)\n");
}

/* Who holds a lock that refused us: the inode's record, from the locks
 * listing, and the holder's heartbeat slot. */
struct holder_query {
	uint32_t ino;
	bool found;
	uint32_t mode, slot, generation;
	char host[65];
	uint32_t host_state;
};

static const char *const lock_modes[] = { "FREE", "exclusive", "shared-ro", "multi-writer" };
static const char *const slot_states[] = { "FREE", "LIVE", "RECOVERING" };

static int find_inode_lock(void *arg, const struct vmfs_lock_info *l)
{
	struct holder_query *q = arg;
	if (!q->found && !strcmp(l->what, "inode") && l->id == q->ino && l->holders) {
		q->found = true;
		q->mode = l->mode;
		q->slot = l->holder_slot[0];
		q->generation = l->holder_generation[0];
	}
	return 0;
}

static int find_holder_slot(void *arg, const struct vmfs_slot_info *s)
{
	struct holder_query *q = arg;
	if (s->slot == q->slot) {
		snprintf(q->host, sizeof(q->host), "%s", s->host_name);
		q->host_state = s->state;
	}
	return 0;
}

/* "host 'esx2' (slot 1, generation 4, LIVE) holds it exclusive", or "" when
 * neither the path's inode nor its directory's has a holder on record. */
static void describe_holder(const char *path, char *out, size_t size)
{
	char parent[512];
	const char *candidates[2] = { path, NULL };
	snprintf(parent, sizeof(parent), "%s", path);
	char *slash = strrchr(parent, '/');
	if (slash) {
		*(slash == parent ? slash + 1 : slash) = '\0';
		candidates[1] = parent;
	}
	out[0] = '\0';
	for (unsigned i = 0; i < 2 && candidates[i]; i++) {
		struct vmfs_stat st;
		struct holder_query q = { 0 };
		if (vmfs_stat(vol, candidates[i], &st))
			continue;
		q.ino = st.ino;
		if (vmfs_locks(vol, NULL, find_inode_lock, &q) || !q.found)
			continue;
		snprintf(q.host, sizeof(q.host), "?");
		vmfs_locks(vol, find_holder_slot, NULL, &q);
		snprintf(out, size, "%s%s is held %s by host '%s' (slot %u, generation %u, %s)", i ? "its directory " : "",
			 candidates[i], q.mode < 4 ? lock_modes[q.mode] : "?", q.host, q.slot, q.generation,
			 q.host_state < 3 ? slot_states[q.host_state] : "?");
		return;
	}
}

static int fail(const char *what, const char *path, int err)
{
	char holder[256] = "";
	if (err == -VMFS_EBUSY && vol)
		describe_holder(path, holder, sizeof(holder));
	if (holder[0])
		tool_error("%s '%s': %s: %s", what, path, vmfs_strerror(err), holder);
	else
		tool_error("%s '%s': %s", what, path, vmfs_strerror(err));
	return 1;
}

static int print_entry(void *arg, const struct vmfs_dirent *e)
{
	const char *dir = arg;
	char path[4096];
	snprintf(path, sizeof(path), "%s%s%s", dir, dir[strlen(dir) - 1] == '/' ? "" : "/", e->name);
	struct vmfs_stat st;
	if (vmfs_stat(vol, path, &st) == 0)
		printf("%s %12" PRIu64 " %s%s\n", e->kind == VMFS_KIND_DIR ? "d" : "-", st.size, e->name,
		       e->kind == VMFS_KIND_DIR ? "/" : "");
	else
		printf("? %12s %s\n", "?", e->name);
	return 0;
}

static int cmd_ls(int argc, char **argv)
{
	const char *path = argc > 0 ? argv[0] : "/";
	struct vmfs_stat st;
	int err = vmfs_stat(vol, path, &st);
	if (err)
		return fail("cannot list", path, err);
	if (st.kind != VMFS_KIND_DIR) {
		printf("- %12" PRIu64 " %s\n", st.size, path);
		return 0;
	}
	err = vmfs_readdir(vol, path, print_entry, (void *)path);
	return err ? fail("cannot list", path, err) : 0;
}

static int cmd_stat(int argc, char **argv)
{
	if (argc != 1) {
		usage();
		return 1;
	}
	struct vmfs_stat st;
	int err = vmfs_stat(vol, argv[0], &st);
	if (err)
		return fail("cannot stat", argv[0], err);
	printf("path: %s\ninode: %u\nkind: %s\nlinks: %u\nsize: %" PRIu64 "\nallocated: %" PRIu64
	       "\nextents: %u\nshared blocks: %u\nstorage: %s\nmtime_ns: %" PRIu64 "\n",
	       argv[0], st.ino, st.kind == VMFS_KIND_DIR ? "directory" : "file", st.nlink, st.size, st.allocated_bytes,
	       st.extents, st.shared_blocks, st.inline_data ? "inline" : st.thick ? "thick" : "thin", st.mtime_ns);
	return 0;
}

static int cmd_df(void)
{
	struct vmfs_statfs sf;
	int err = vmfs_statfs(vol, &sf);
	if (err)
		return fail("cannot read", image, err);
	printf("label: %s\nblock size: %u\nsize: %" PRIu64 "\nblocks: %" PRIu64 " total, %" PRIu64 " used, %" PRIu64
	       " free\nbytes free: %" PRIu64 "\ninodes: %" PRIu64 " total, %" PRIu64 " free\nallocation groups: %u\n",
	       sf.label, sf.block_size, sf.volume_bytes, sf.total_blocks, sf.total_blocks - sf.free_blocks, sf.free_blocks,
	       sf.free_blocks * sf.block_size, sf.total_inodes, sf.free_inodes, sf.ag_count);
	return 0;
}

static bool all_zero(const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i])
			return false;
	return true;
}

/* Host file -> volume file; all-zero chunks become holes. */
static int copy_in(const char *host, const char *path)
{
	int fd = open(host, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		tool_error("cannot open host file '%s': %s", host, strerror(errno));
		return 1;
	}
	struct vmfs_file *f;
	int err = vmfs_open(vol, path, VMFS_O_CREAT | VMFS_O_TRUNC, VMFS_LOCK_EXCLUSIVE, &f);
	if (err) {
		close(fd);
		return fail("cannot create", path, err);
	}
	struct vmfs_statfs sf;
	uint32_t block_size = vmfs_statfs(vol, &sf) == 0 ? sf.block_size : COPY_CHUNK;
	uint8_t *buf = malloc(COPY_CHUNK);
	uint64_t off = 0;
	int rc = 0;
	for (;;) {
		ssize_t n = pread(fd, buf, COPY_CHUNK, (off_t)off);
		if (n < 0) {
			tool_error("reading '%s': %s", host, strerror(errno));
			rc = 1;
			break;
		}
		if (n == 0)
			break;
		/* Block by block, so all-zero blocks stay holes (thin). */
		for (size_t at = 0; at < (size_t)n && !rc;) {
			size_t piece = block_size - (size_t)((off + at) % block_size);
			if (piece > (size_t)n - at)
				piece = (size_t)n - at;
			if (!all_zero(buf + at, piece)) {
				int64_t w = vmfs_write(f, off + at, buf + at, piece);
				if (w != (int64_t)piece)
					rc = fail("cannot write", path, w < 0 ? (int)w : -VMFS_EIO);
			}
			at += piece;
		}
		if (rc)
			break;
		off += (uint64_t)n;
	}
	if (!rc && (err = vmfs_truncate(f, off)) != 0)
		rc = fail("cannot set the size of", path, err);
	if (!rc && (err = vmfs_fsync(f)) != 0)
		rc = fail("cannot sync", path, err);
	vmfs_close(f);
	free(buf);
	close(fd);
	return rc;
}

static int copy_out(const char *path, const char *host)
{
	struct vmfs_file *f;
	int err = vmfs_open(vol, path, 0, VMFS_LOCK_SHARED_RO, &f);
	if (err)
		return fail("cannot open", path, err);
	struct vmfs_stat st;
	err = vmfs_fstat(f, &st);
	if (err) {
		vmfs_close(f);
		return fail("cannot stat", path, err);
	}
	int fd = open(host, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0) {
		tool_error("cannot create host file '%s': %s", host, strerror(errno));
		vmfs_close(f);
		return 1;
	}
	uint8_t *buf = malloc(COPY_CHUNK);
	int rc = 0;
	for (uint64_t off = 0; off < st.size && !rc;) {
		size_t want = (size_t)(st.size - off < COPY_CHUNK ? st.size - off : COPY_CHUNK);
		int64_t n = vmfs_read(f, off, buf, want);
		if (n <= 0) {
			rc = fail("cannot read", path, n < 0 ? (int)n : -VMFS_EIO);
			break;
		}
		/* Holes stay holes in the host file. */
		if (!all_zero(buf, (size_t)n) && pwrite(fd, buf, (size_t)n, (off_t)off) != n) {
			tool_error("writing '%s': %s", host, strerror(errno));
			rc = 1;
		}
		off += (uint64_t)n;
	}
	if (!rc && ftruncate(fd, (off_t)st.size) != 0) {
		tool_error("writing '%s': %s", host, strerror(errno));
		rc = 1;
	}
	if (close(fd) != 0 && !rc) {
		tool_error("writing '%s': %s", host, strerror(errno));
		rc = 1;
	}
	vmfs_close(f);
	free(buf);
	return rc;
}

static bool ends_with(const char *s, const char *suffix)
{
	size_t a = strlen(s), b = strlen(suffix);
	return a >= b && strcmp(s + a - b, suffix) == 0;
}

/* "/vm/disk.vmdk" -> "/vm/disk-flat.vmdk" */
static void flat_name(const char *descriptor, char *out, size_t size)
{
	size_t n = strlen(descriptor) - strlen(".vmdk");
	snprintf(out, size, "%.*s-flat.vmdk", (int)n, descriptor);
}

static const char *base_name(const char *path)
{
	const char *slash = strrchr(path, '/');
	return slash ? slash + 1 : path;
}

/* The descriptor qemu-img reads; the extent is named relative to it. */
static int write_descriptor(const char *path, uint64_t size, const char *create_type)
{
	char flat[4096];
	flat_name(path, flat, sizeof(flat));
	uint64_t sectors = size / 512;
	uint8_t rnd[16];
	tool_random_uuid(rnd);
	uint32_t cid;
	memcpy(&cid, rnd, 4);
	uint64_t cylinders = sectors / (255 * 63);
	if (cylinders > 65535)
		cylinders = 65535;
	char text[2048];
	int len = snprintf(text, sizeof(text),
			   "# Disk DescriptorFile\n"
			   "version=1\n"
			   "CID=%08x\n"
			   "parentCID=ffffffff\n"
			   "createType=\"%s\"\n"
			   "\n"
			   "# Extent description\n"
			   "RW %" PRIu64 " %s \"%s\"\n"
			   "\n"
			   "# The Disk Data Base\n"
			   "#DDB\n"
			   "\n"
			   "ddb.virtualHWVersion = \"4\"\n"
			   "ddb.geometry.cylinders = \"%" PRIu64 "\"\n"
			   "ddb.geometry.heads = \"255\"\n"
			   "ddb.geometry.sectors = \"63\"\n"
			   "ddb.adapterType = \"lsilogic\"\n",
			   cid ? cid : 1, create_type, sectors, strcmp(create_type, "vmfs") == 0 ? "VMFS" : "FLAT",
			   base_name(flat), cylinders);
	struct vmfs_file *f;
	int err = vmfs_open(vol, path, VMFS_O_CREAT | VMFS_O_TRUNC, VMFS_LOCK_EXCLUSIVE, &f);
	if (err)
		return fail("cannot create", path, err);
	int64_t w = vmfs_write(f, 0, text, (size_t)len);
	if (w == len)
		err = vmfs_fsync(f);
	vmfs_close(f);
	if (w != len || err)
		return fail("cannot write", path, w < 0 ? (int)w : err ? err : -VMFS_EIO);
	return 0;
}

static int cmd_mkdisk(int argc, char **argv)
{
	if (argc < 2 || argc > 3) {
		usage();
		return 1;
	}
	const char *path = argv[0];
	uint64_t size;
	enum vmfs_alloc_policy policy = VMFS_ALLOC_THIN;
	if (!ends_with(path, ".vmdk") || strlen(base_name(path)) <= 5) {
		tool_error("disk path '%s' must end in .vmdk", path);
		return 1;
	}
	if (!tool_parse_size(argv[1], &size) || size == 0 || size % 512) {
		tool_error("bad disk size '%s' (a multiple of 512 bytes, e.g. 10G)", argv[1]);
		return 1;
	}
	if (argc == 3) {
		if (!strcmp(argv[2], "--thin"))
			policy = VMFS_ALLOC_THIN;
		else if (!strcmp(argv[2], "--lazy"))
			policy = VMFS_ALLOC_THICK_LAZY;
		else if (!strcmp(argv[2], "--eager"))
			policy = VMFS_ALLOC_THICK_EAGER;
		else {
			tool_error("unknown provisioning '%s' (--thin, --lazy or --eager)", argv[2]);
			return 1;
		}
	}
	struct vmfs_stat st;
	if (vmfs_stat(vol, path, &st) == 0) {
		tool_error("'%s' already exists", path);
		return 1;
	}
	char flat[4096];
	flat_name(path, flat, sizeof(flat));
	struct vmfs_file *f;
	int err = vmfs_open(vol, flat, VMFS_O_CREAT | VMFS_O_EXCL, VMFS_LOCK_EXCLUSIVE, &f);
	if (err)
		return fail("cannot create", flat, err);
	err = vmfs_allocate(f, size, policy);
	if (!err)
		err = vmfs_fsync(f);
	vmfs_close(f);
	if (err) {
		vmfs_unlink(vol, flat);
		return fail("cannot allocate", flat, err);
	}
	if (write_descriptor(path, size, "vmfs")) {
		vmfs_unlink(vol, flat);
		return 1;
	}
	return 0;
}

/* Reads the flat extent's name out of a descriptor on the volume. */
static int descriptor_flat(const char *path, char *flat, size_t size)
{
	struct vmfs_file *f;
	int err = vmfs_open(vol, path, 0, VMFS_LOCK_SHARED_RO, &f);
	if (err)
		return err;
	char text[4096];
	int64_t n = vmfs_read(f, 0, text, sizeof(text) - 1);
	vmfs_close(f);
	if (n < 0)
		return (int)n;
	text[n] = '\0';
	if (strncmp(text, "# Disk DescriptorFile", 21) != 0)
		return -VMFS_EINVAL;
	for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
		char *q1 = strchr(line, '"'), *q2 = q1 ? strchr(q1 + 1, '"') : NULL;
		if (strncmp(line, "RW ", 3) != 0 || !q1 || !q2)
			continue;
		*q2 = '\0';
		const char *slash = strrchr(path, '/');
		snprintf(flat, size, "%.*s%s", (int)(slash - path + 1), path, q1 + 1);
		return 0;
	}
	return -VMFS_EINVAL;
}

static int cmd_clone(int argc, char **argv)
{
	if (argc != 2) {
		usage();
		return 1;
	}
	char src_flat[4096], dst_flat[4096];
	if (ends_with(argv[0], ".vmdk") && descriptor_flat(argv[0], src_flat, sizeof(src_flat)) == 0) {
		if (!ends_with(argv[1], ".vmdk")) {
			tool_error("the clone of disk '%s' needs a .vmdk name", argv[0]);
			return 1;
		}
		flat_name(argv[1], dst_flat, sizeof(dst_flat));
		int err = vmfs_clone(vol, src_flat, dst_flat);
		if (err)
			return fail("cannot clone", src_flat, err);
		struct vmfs_stat st;
		err = vmfs_stat(vol, dst_flat, &st);
		if (err)
			return fail("cannot stat", dst_flat, err);
		return write_descriptor(argv[1], st.size, "vmfs");
	}
	int err = vmfs_clone(vol, argv[0], argv[1]);
	return err ? fail("cannot clone", argv[0], err) : 0;
}

static int run_qemu_img(char *const args[])
{
	pid_t pid = fork();
	if (pid < 0) {
		tool_error("fork: %s", strerror(errno));
		return 1;
	}
	if (pid == 0) {
		execvp("qemu-img", args);
		fprintf(stderr, "vmfs: error: cannot run qemu-img (Debian package qemu-utils): %s\n", strerror(errno));
		_exit(127);
	}
	int status;
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		tool_error("qemu-img %s failed", args[1]);
		return 1;
	}
	return 0;
}

static int temp_file(char *path, size_t size)
{
	const char *dir = getenv("TMPDIR");
	snprintf(path, size, "%s/vmfs-XXXXXX", dir && *dir ? dir : "/tmp");
	int fd = mkstemp(path);
	if (fd < 0) {
		tool_error("cannot create a temporary file: %s", strerror(errno));
		return -1;
	}
	close(fd);
	return 0;
}

static int cmd_import(int argc, char **argv)
{
	if (argc != 2) {
		usage();
		return 1;
	}
	if (access(argv[0], R_OK) != 0) {
		tool_error("cannot read host image '%s': %s", argv[0], strerror(errno));
		return 1;
	}
	char tmp[4096];
	if (temp_file(tmp, sizeof(tmp)))
		return 1;
	char *args[] = { "qemu-img", "convert", "-q", "-O", "raw", argv[0], tmp, NULL };
	int rc = run_qemu_img(args);
	if (!rc) {
		if (ends_with(argv[1], ".vmdk")) {
			char flat[4096];
			flat_name(argv[1], flat, sizeof(flat));
			struct stat st;
			rc = copy_in(tmp, flat);
			if (!rc && stat(tmp, &st) == 0)
				rc = write_descriptor(argv[1], ((uint64_t)st.st_size + 511) / 512 * 512, "vmfs");
		} else {
			rc = copy_in(tmp, argv[1]);
		}
	}
	unlink(tmp);
	return rc;
}

static int cmd_export(int argc, char **argv)
{
	const char *format = "raw";
	if (argc == 4 && !strcmp(argv[2], "--format"))
		format = argv[3];
	else if (argc != 2) {
		usage();
		return 1;
	}
	if (strcmp(format, "raw") && strcmp(format, "qcow2") && strcmp(format, "vmdk")) {
		tool_error("unknown format '%s' (raw, qcow2 or vmdk)", format);
		return 1;
	}
	char source[4096];
	if (!ends_with(argv[0], ".vmdk") || descriptor_flat(argv[0], source, sizeof(source)) != 0)
		snprintf(source, sizeof(source), "%s", argv[0]);
	if (!strcmp(format, "raw"))
		return copy_out(source, argv[1]);
	char tmp[4096];
	if (temp_file(tmp, sizeof(tmp)))
		return 1;
	int rc = copy_out(source, tmp);
	if (!rc) {
		char *args[] = { "qemu-img", "convert", "-q", "-f", "raw", "-O", (char *)format, tmp, argv[1], NULL };
		rc = run_qemu_img(args);
	}
	unlink(tmp);
	return rc;
}


static int print_slot(void *arg, const struct vmfs_slot_info *s)
{
	(void)arg;
	if (s->state == 0 && s->generation == 0)
		return 0;
	if (s->state == 0)
		return 0;
	printf("slot %2u %-10s host '%s' generation %u heartbeat %" PRIu64 " lease %u ms", s->slot,
	       s->state < 3 ? slot_states[s->state] : "?", s->host_name, s->generation, s->counter, s->lease_ms);
	if (s->state == 2)
		printf(" (recovered by slot %u)", s->recovering_by);
	printf("\n");
	return 0;
}

static int print_lock(void *arg, const struct vmfs_lock_info *l)
{
	(void)arg;
	printf("%s %" PRIu64 " (sector %" PRIu64 "): %s, generation %" PRIu64 ", held by", l->what, l->id, l->sector,
	       l->mode < 4 ? lock_modes[l->mode] : "?", l->lock_generation);
	for (uint32_t i = 0; i < l->holders; i++)
		printf(" slot %u/gen %u", l->holder_slot[i], l->holder_generation[i]);
	printf("\n");
	return 0;
}

static int cmd_locks(void)
{
	printf("heartbeat slots in use:\n");
	int err = vmfs_locks(vol, print_slot, NULL, NULL);
	if (!err) {
		printf("locks held:\n");
		err = vmfs_locks(vol, NULL, print_lock, NULL);
	}
	return err ? fail("cannot read locks of", image, err) : 0;
}

static int dispatch(const char *cmd, int argc, char **argv)
{
	if (!strcmp(cmd, "ls"))
		return argc <= 1 ? cmd_ls(argc, argv) : (usage(), 1);
	if (!strcmp(cmd, "stat"))
		return cmd_stat(argc, argv);
	if (!strcmp(cmd, "df"))
		return argc == 0 ? cmd_df() : (usage(), 1);
	if (!strcmp(cmd, "locks"))
		return argc == 0 ? cmd_locks() : (usage(), 1);
	if (!strcmp(cmd, "mkdir")) {
		if (argc != 1)
			return usage(), 1;
		int err = vmfs_mkdir(vol, argv[0]);
		return err ? fail("cannot create directory", argv[0], err) : 0;
	}
	if (!strcmp(cmd, "rm")) {
		if (argc != 1)
			return usage(), 1;
		int err = vmfs_unlink(vol, argv[0]);
		if (err == -VMFS_EISDIR)
			err = vmfs_rmdir(vol, argv[0]);
		return err ? fail("cannot remove", argv[0], err) : 0;
	}
	if (!strcmp(cmd, "mv")) {
		if (argc != 2)
			return usage(), 1;
		int err = vmfs_rename(vol, argv[0], argv[1]);
		return err ? fail("cannot move", argv[0], err) : 0;
	}
	if (!strcmp(cmd, "cp-in"))
		return argc == 2 ? copy_in(argv[0], argv[1]) : (usage(), 1);
	if (!strcmp(cmd, "cp-out"))
		return argc == 2 ? copy_out(argv[0], argv[1]) : (usage(), 1);
	if (!strcmp(cmd, "mkdisk"))
		return cmd_mkdisk(argc, argv);
	if (!strcmp(cmd, "clone"))
		return cmd_clone(argc, argv);
	if (!strcmp(cmd, "import"))
		return cmd_import(argc, argv);
	if (!strcmp(cmd, "export"))
		return cmd_export(argc, argv);
	/* --- mount: the FUSE front end lives in vmfs/tools/vmfs_fuse.c --- */
	if (!strcmp(cmd, "mount")) {
		if (argc < 1)
			return usage(), 1;
#ifdef VMFS_HAVE_FUSE
		return vmfs_fuse_mount(vol, argv[0], argc, argv) ? 1 : 0;
#else
		tool_error("this vmfs was built without FUSE support (vmfs/tools/vmfs_fuse.c and libfuse3)");
		return 1;
#endif
	}
	tool_error("unknown command '%s'", cmd);
	usage();
	return 1;
}

static bool read_only_command(const char *cmd)
{
	return !strcmp(cmd, "ls") || !strcmp(cmd, "stat") || !strcmp(cmd, "df") || !strcmp(cmd, "cp-out") ||
	       !strcmp(cmd, "export") || !strcmp(cmd, "locks");
}

int main(int argc, char **argv)
{
	tool_name = "vmfs";
	int i = 1;
	for (; i < argc && argv[i][0] == '-'; i++) {
		if (!strcmp(argv[i], "-d") && i + 1 < argc)
			image = argv[++i];
		else if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
			usage();
			return 0;
		} else {
			tool_error("unknown option '%s'", argv[i]);
			usage();
			return 1;
		}
	}
	if (!image || i >= argc) {
		usage();
		return 1;
	}
	const char *cmd = argv[i++];
	struct vmfs_os os;
	vmfs_posix_os(&os, getenv("VMFS_VERBOSE") != NULL);
	struct vmfs_blockdev dev;
	/* Read-only commands still mount read-write when they can: a read-only
	 * mount could not break a dead host's locks. ls/stat/df never need to. */
	bool ro = read_only_command(cmd);
	struct vmfs_posix_dev_options dev_options = { .direct = getenv("VMFS_DIRECT") != NULL, .read_only = ro };
	int err = vmfs_posix_open(image, &dev_options, &dev);
	if (err) {
		tool_error("cannot open '%s': %s", image, strerror(-err));
		return 1;
	}
	struct vmfs_mount_options mo;
	char name[96];
	tool_mount_options(&mo, name, sizeof(name));
	mo.read_only = ro;
	err = vmfs_mount(&os, &dev, &mo, &vol);
	if (err) {
		tool_error("cannot mount '%s': %s", image, vmfs_strerror(err));
		vmfs_posix_close(&dev);
		return 1;
	}
	int rc = dispatch(cmd, argc - i, argv + i);
	err = vmfs_unmount(vol);
	if (err && !rc) {
		tool_error("unmount of '%s' failed: %s", image, vmfs_strerror(err));
		rc = 1;
	}
	vmfs_posix_close(&dev);
	return rc;
}

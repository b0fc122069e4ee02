/*
 * `vmfs -d IMAGE mount MOUNTPOINT [FUSE options]`: the volume as a FUSE
 * filesystem (libfuse3, high-level API). The library serialises calls with
 * the OS mutex, so FUSE's worker threads may call it directly; a separate
 * thread keeps the heartbeat going while the mount is idle, or the lease
 * would run out and the host be fenced. Every file is opened with the
 * exclusive lock: this host then serves all of the kernel's opens of it.
 * Runs in the foreground until unmounted (fusermount3 -u).
 */
#define FUSE_USE_VERSION 31
#define _GNU_SOURCE
#include <vmfs/vmfs.h>

#include <errno.h>
#include <fuse.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

int vmfs_fuse_mount(struct vmfs_volume *vol, const char *mountpoint, int argc, char **argv);

static struct vmfs_volume *fuse_vol;
static volatile int heartbeat_stop;

/* Library errors are negated Linux errno values, except these. */
static int to_errno(int err)
{
	if (err >= 0)
		return err;
	if (err == -VMFS_EMISCOMPARE)
		return -EIO;
	if (err == -VMFS_EBADMSG)
		return -EIO;
	return err;
}

static void fill_stat(const struct vmfs_stat *vs, struct stat *st)
{
	memset(st, 0, sizeof(*st));
	st->st_ino = vs->ino;
	st->st_mode = vs->kind == VMFS_KIND_DIR ? S_IFDIR | 0755 : S_IFREG | 0644;
	st->st_nlink = vs->nlink ? vs->nlink : 1;
	st->st_uid = getuid();
	st->st_gid = getgid();
	st->st_size = (off_t)vs->size;
	st->st_blocks = (blkcnt_t)(vs->allocated_bytes / 512);
	st->st_blksize = 4096;
	st->st_mtim.tv_sec = (time_t)(vs->mtime_ns / 1000000000ull);
	st->st_mtim.tv_nsec = (long)(vs->mtime_ns % 1000000000ull);
	st->st_ctim.tv_sec = (time_t)(vs->ctime_ns / 1000000000ull);
	st->st_ctim.tv_nsec = (long)(vs->ctime_ns % 1000000000ull);
	st->st_atim = st->st_mtim;
}

static int op_getattr(const char *path, struct stat *st, struct fuse_file_info *fi)
{
	struct vmfs_stat vs;
	int err = fi && fi->fh ? vmfs_fstat((struct vmfs_file *)(uintptr_t)fi->fh, &vs) : vmfs_stat(fuse_vol, path, &vs);
	if (err)
		return to_errno(err);
	fill_stat(&vs, st);
	return 0;
}

struct readdir_ctx {
	void *buf;
	fuse_fill_dir_t filler;
};

static int readdir_entry(void *arg, const struct vmfs_dirent *entry)
{
	struct readdir_ctx *ctx = arg;
	return ctx->filler(ctx->buf, entry->name, NULL, 0, 0) ? 1 : 0;
}

static int op_readdir(const char *path, void *buf, fuse_fill_dir_t filler, off_t offset, struct fuse_file_info *fi,
		      enum fuse_readdir_flags flags)
{
	(void)offset;
	(void)fi;
	(void)flags;
	struct readdir_ctx ctx = { buf, filler };
	filler(buf, ".", NULL, 0, 0);
	filler(buf, "..", NULL, 0, 0);
	return to_errno(vmfs_readdir(fuse_vol, path, readdir_entry, &ctx));
}

static int op_mkdir(const char *path, mode_t mode)
{
	(void)mode;
	return to_errno(vmfs_mkdir(fuse_vol, path));
}

static int op_rmdir(const char *path)
{
	return to_errno(vmfs_rmdir(fuse_vol, path));
}

static int op_unlink(const char *path)
{
	return to_errno(vmfs_unlink(fuse_vol, path));
}

static int op_rename(const char *from, const char *to, unsigned int flags)
{
	struct vmfs_stat vs;
	if (flags & RENAME_EXCHANGE)
		return -EINVAL;
	if ((flags & RENAME_NOREPLACE) && vmfs_stat(fuse_vol, to, &vs) == 0)
		return -EEXIST;
	return to_errno(vmfs_rename(fuse_vol, from, to));
}

static int open_common(const char *path, int vflags, struct fuse_file_info *fi)
{
	struct vmfs_file *file;
	int err = vmfs_open(fuse_vol, path, vflags, VMFS_LOCK_EXCLUSIVE, &file);
	if (err)
		return to_errno(err);
	fi->fh = (uint64_t)(uintptr_t)file;
	return 0;
}

static int op_create(const char *path, mode_t mode, struct fuse_file_info *fi)
{
	(void)mode;
	int vflags = VMFS_O_CREAT | ((fi->flags & O_EXCL) ? VMFS_O_EXCL : 0) | ((fi->flags & O_TRUNC) ? VMFS_O_TRUNC : 0);
	return open_common(path, vflags, fi);
}

static int op_open(const char *path, struct fuse_file_info *fi)
{
	return open_common(path, (fi->flags & O_TRUNC) ? VMFS_O_TRUNC : 0, fi);
}

static int op_read(const char *path, char *buf, size_t size, off_t offset, struct fuse_file_info *fi)
{
	(void)path;
	int64_t n = vmfs_read((struct vmfs_file *)(uintptr_t)fi->fh, (uint64_t)offset, buf, size);
	return n < 0 ? to_errno((int)n) : (int)n;
}

static int op_write(const char *path, const char *buf, size_t size, off_t offset, struct fuse_file_info *fi)
{
	(void)path;
	int64_t n = vmfs_write((struct vmfs_file *)(uintptr_t)fi->fh, (uint64_t)offset, buf, size);
	return n < 0 ? to_errno((int)n) : (int)n;
}

static int op_truncate(const char *path, off_t size, struct fuse_file_info *fi)
{
	if (fi && fi->fh)
		return to_errno(vmfs_truncate((struct vmfs_file *)(uintptr_t)fi->fh, (uint64_t)size));
	struct vmfs_file *file;
	int err = vmfs_open(fuse_vol, path, 0, VMFS_LOCK_EXCLUSIVE, &file);
	if (err)
		return to_errno(err);
	err = vmfs_truncate(file, (uint64_t)size);
	int e2 = vmfs_close(file);
	return to_errno(err ? err : e2);
}

static int op_fallocate(const char *path, int mode, off_t offset, off_t length, struct fuse_file_info *fi)
{
	(void)path;
	if (mode)
		return -EOPNOTSUPP;
	return to_errno(vmfs_allocate((struct vmfs_file *)(uintptr_t)fi->fh, (uint64_t)(offset + length),
				      VMFS_ALLOC_THICK_LAZY));
}

static int op_fsync(const char *path, int datasync, struct fuse_file_info *fi)
{
	(void)path;
	(void)datasync;
	return to_errno(vmfs_fsync((struct vmfs_file *)(uintptr_t)fi->fh));
}

static int op_release(const char *path, struct fuse_file_info *fi)
{
	(void)path;
	return to_errno(vmfs_close((struct vmfs_file *)(uintptr_t)fi->fh));
}

static int op_statfs(const char *path, struct statvfs *st)
{
	(void)path;
	struct vmfs_statfs vs;
	int err = vmfs_statfs(fuse_vol, &vs);
	if (err)
		return to_errno(err);
	memset(st, 0, sizeof(*st));
	st->f_bsize = vs.block_size;
	st->f_frsize = vs.block_size;
	st->f_blocks = vs.total_blocks;
	st->f_bfree = vs.free_blocks;
	st->f_bavail = vs.free_blocks;
	st->f_files = vs.total_inodes;
	st->f_ffree = vs.free_inodes;
	st->f_favail = vs.free_inodes;
	st->f_namemax = VMFS_NAME_MAX;
	return 0;
}

/* VMFS keeps no owners, modes or access times: accepted, nothing stored. */
static int op_chmod(const char *path, mode_t mode, struct fuse_file_info *fi)
{
	(void)mode;
	return op_getattr(path, &(struct stat){ 0 }, fi);
}

static int op_chown(const char *path, uid_t uid, gid_t gid, struct fuse_file_info *fi)
{
	(void)uid;
	(void)gid;
	return op_getattr(path, &(struct stat){ 0 }, fi);
}

static int op_utimens(const char *path, const struct timespec tv[2], struct fuse_file_info *fi)
{
	(void)tv;
	return op_getattr(path, &(struct stat){ 0 }, fi);
}

static void *op_init(struct fuse_conn_info *conn, struct fuse_config *cfg)
{
	(void)conn;
	cfg->use_ino = 1;
	/* Another host may change the volume: do not trust cached attributes long. */
	cfg->attr_timeout = 1.0;
	cfg->entry_timeout = 1.0;
	return fuse_vol;
}

static const struct fuse_operations vmfs_fuse_ops = {
	.init = op_init,
	.getattr = op_getattr,
	.readdir = op_readdir,
	.mkdir = op_mkdir,
	.rmdir = op_rmdir,
	.unlink = op_unlink,
	.rename = op_rename,
	.create = op_create,
	.open = op_open,
	.read = op_read,
	.write = op_write,
	.truncate = op_truncate,
	.fallocate = op_fallocate,
	.fsync = op_fsync,
	.release = op_release,
	.statfs = op_statfs,
	.chmod = op_chmod,
	.chown = op_chown,
	.utimens = op_utimens,
};

static void *heartbeat_thread(void *arg)
{
	(void)arg;
	while (!heartbeat_stop) {
		int err = vmfs_heartbeat(fuse_vol);
		if (err == -VMFS_ESTALE) {
			fprintf(stderr, "vmfs: heartbeat lost: the volume is fenced, every write now fails\n");
			break;
		}
		usleep(100 * 1000);
	}
	return NULL;
}

/* @argv[0] is the mount point, the rest FUSE options (e.g. -o allow_other). */
int vmfs_fuse_mount(struct vmfs_volume *vol, const char *mountpoint, int argc, char **argv)
{
	char **args = calloc((size_t)argc + 4, sizeof(*args));
	if (!args)
		return -1;
	int n = 0;
	args[n++] = "vmfs";
	args[n++] = "-f";
	args[n++] = (char *)mountpoint;
	for (int i = 1; i < argc; i++)
		args[n++] = argv[i];
	fuse_vol = vol;
	pthread_t hb;
	heartbeat_stop = 0;
	int started = pthread_create(&hb, NULL, heartbeat_thread, NULL) == 0;
	int rc = fuse_main(n, args, &vmfs_fuse_ops, vol);
	heartbeat_stop = 1;
	if (started)
		pthread_join(hb, NULL);
	free(args);
	return rc;
}

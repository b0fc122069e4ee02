/*
 * Unit tests of the VMFS library (built and run by test/vmfs/t-lib under
 * ASan/UBSan). The block device is RAM with a real compare-and-write; the
 * clock is simulated, so lease expiry, fencing and dead-host takeover are
 * decided in microseconds and deterministically. Each test prints
 * "PASS vmfs/lib/<name>" or "FAIL vmfs/lib/<name>: reason".
 */
#define _GNU_SOURCE
#include "internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- simulated machine ---- */

static uint64_t sim_now;
static int log_errors;
static char last_error[320];
static bool quiet_log;

static uint64_t sim_now_ns(void *ctx)
{
	(void)ctx;
	return sim_now;
}

static uint64_t sim_wall_ns(void *ctx)
{
	(void)ctx;
	return 1700000000000000000ull + sim_now;
}

static void sim_sleep_ns(void *ctx, uint64_t ns)
{
	(void)ctx;
	sim_now += ns;
}

static void *sim_alloc(void *ctx, size_t size)
{
	(void)ctx;
	void *p = NULL;
	return posix_memalign(&p, 16, size ? size : 1) == 0 ? p : NULL;
}

static void sim_free(void *ctx, void *ptr)
{
	(void)ctx;
	free(ptr);
}

static void sim_log(void *ctx, enum vmfs_log_level level, const char *line)
{
	(void)ctx;
	if (level == VMFS_LOG_ERROR) {
		log_errors++;
		snprintf(last_error, sizeof(last_error), "%s", line);
	}
	if (!quiet_log && level <= VMFS_LOG_WARN)
		fprintf(stderr, "  log: %s\n", line);
}

static const struct vmfs_os sim_os = {
	.now_ns = sim_now_ns,
	.wall_ns = sim_wall_ns,
	.sleep_ns = sim_sleep_ns,
	.alloc = sim_alloc,
	.free = sim_free,
	.log = sim_log,
};

struct ram {
	uint8_t *data;
	uint64_t size;
	uint64_t writes;
	uint64_t crash_after; /* writes past this are lost (0: never) */
	uint64_t flushes;
};

static int ram_read(void *ctx, uint64_t off, void *buf, size_t len)
{
	struct ram *r = ctx;
	if (off + len > r->size || off % 512 || len % 512)
		return -VMFS_EIO;
	memcpy(buf, r->data + off, len);
	return 0;
}

static int ram_write(void *ctx, uint64_t off, const void *buf, size_t len)
{
	struct ram *r = ctx;
	if (off + len > r->size || off % 512 || len % 512)
		return -VMFS_EIO;
	r->writes++;
	if (r->crash_after && r->writes > r->crash_after)
		return 0; /* the machine is dead: nothing more reaches the disk */
	memcpy(r->data + off, buf, len);
	return 0;
}

static int ram_flush(void *ctx)
{
	((struct ram *)ctx)->flushes++;
	return 0;
}

static int ram_caw(void *ctx, uint64_t off, const void *expected, const void *new_data, size_t len)
{
	struct ram *r = ctx;
	if (off + len > r->size)
		return -VMFS_EIO;
	if (memcmp(r->data + off, expected, len) != 0)
		return -VMFS_EMISCOMPARE;
	return ram_write(ctx, off, new_data, len);
}

static struct ram ram;
static struct vmfs_blockdev dev;
static uint64_t unmapped_bytes;
static uint32_t unmap_count;

static int ram_unmap(void *ctx, uint64_t off, uint64_t len)
{
	struct ram *r = ctx;
	unmapped_bytes += len;
	unmap_count++;
	memset(r->data + off, 0, len);
	return 0;
}

static void ram_init(uint64_t size)
{
	free(ram.data);
	memset(&ram, 0, sizeof(ram));
	ram.data = calloc(1, size);
	ram.size = size;
	dev = (struct vmfs_blockdev){ .ctx = &ram, .size_bytes = size, .read = ram_read, .write = ram_write,
				      .flush = ram_flush, .compare_and_write = ram_caw };
}

/* ---- test plumbing ---- */

static char reason[512];
static char mount_error[128];

#define REQUIRE(cond, ...)                                                        \
	do {                                                                      \
		if (!(cond)) {                                                    \
			snprintf(reason, sizeof(reason), __VA_ARGS__);            \
			return false;                                             \
		}                                                                 \
	} while (0)
#define OK(expr)                                                                  \
	do {                                                                      \
		long long _r = (long long)(expr);                                 \
		REQUIRE(_r >= 0, "%s = %lld (%s) line %d", #expr, _r, vmfs_strerror((int)_r), __LINE__); \
	} while (0)
#define FAILS(expr, code)                                                         \
	do {                                                                      \
		long long _r = (long long)(expr);                                 \
		REQUIRE(_r == -(code), "%s = %lld, expected -%s, line %d", #expr, _r, #code, __LINE__); \
	} while (0)

static struct vmfs_mount_options host_options(uint8_t id)
{
	struct vmfs_mount_options o = { .heartbeat_ms = 100, .lease_ms = 1000, .lock_wait_ms = 300 };
	o.host_uuid[0] = id;
	o.host_name = id == 1 ? "host-a" : id == 2 ? "host-b" : "host-c";
	return o;
}

static uint32_t format_inodes = 256;
static bool long_run; /* --long: more crash points and damage rounds */

static bool format(uint64_t size, uint32_t block_size)
{
	ram_init(size);
	struct vmfs_mkfs_options mo = { .label = "test", .block_size = block_size, .journal_blocks = 64,
					.inodes_per_ag = format_inodes, .dirblocks_per_ag = 512 };
	OK(vmfs_mkfs(&sim_os, &dev, &mo));
	return true;
}

static struct vmfs_volume *mount_host(uint8_t id)
{
	struct vmfs_mount_options o = host_options(id);
	struct vmfs_volume *vol = NULL;
	int err = vmfs_mount(&sim_os, &dev, &o, &vol);
	if (err)
		snprintf(mount_error, sizeof(mount_error), "mount: %s", vmfs_strerror(err));
	return err ? NULL : vol;
}

static int fsck_run(bool repair)
{
	struct vmfs_fsck_options fo = { .repair = repair };
	struct vmfs_fsck_report rep;
	return vmfs_fsck(&sim_os, &dev, &fo, &rep);
}

static void fill(uint8_t *buf, size_t len, uint32_t seed)
{
	for (size_t i = 0; i < len; i++) {
		seed = seed * 1103515245u + 12345u;
		buf[i] = (uint8_t)(seed >> 16);
	}
}

static bool write_file(struct vmfs_volume *vol, const char *path, uint64_t off, const void *buf, size_t len)
{
	struct vmfs_file *f;
	OK(vmfs_open(vol, path, VMFS_O_CREAT, VMFS_LOCK_EXCLUSIVE, &f));
	int64_t n = vmfs_write(f, off, buf, len);
	REQUIRE(n == (int64_t)len, "write %s: %lld (%s)", path, (long long)n, vmfs_strerror((int)n));
	OK(vmfs_close(f));
	return true;
}

static bool read_equals(struct vmfs_volume *vol, const char *path, uint64_t off, const void *want, size_t len)
{
	struct vmfs_file *f;
	OK(vmfs_open(vol, path, 0, VMFS_LOCK_SHARED_RO, &f));
	uint8_t *buf = malloc(len + 1);
	int64_t n = vmfs_read(f, off, buf, len);
	bool same = n == (int64_t)len && memcmp(buf, want, len) == 0;
	free(buf);
	vmfs_close(f);
	REQUIRE(same, "%s at %llu: read %lld bytes, content differs", path, (unsigned long long)off, (long long)n);
	return true;
}

/* ---- the tests ---- */

static bool test_limits(void)
{
	struct disk_super sb;
	struct vmfs_mkfs_options mo = { 0 };
	quiet_log = true;
	OK(vmfs_mkfs_geometry(&sim_os, 64ull << 40, &mo, &sb)); /* 64 TiB, 1 MiB blocks */
	uint64_t data_blocks = (uint64_t)(sb.ag_count - 1) * sb.data_blocks_per_ag + vmfs_ag_data_blocks(&sb, sb.ag_count - 1);
	REQUIRE(data_blocks * sb.block_size > (63ull << 40), "64 TiB volume holds only %llu blocks",
		(unsigned long long)data_blocks);
	REQUIRE((uint64_t)sb.ag_count * sb.inodes_per_ag < (1ull << 32), "inode numbers overflow");
	/* Every data block number of the volume fits the u32 in an extent. */
	REQUIRE((uint64_t)vmfs_ag_first_dblock(&sb, sb.ag_count - 1) + vmfs_ag_data_blocks(&sb, sb.ag_count - 1) <
			(1ull << 32),
		"data block numbers overflow u32");
	/* A 62 TiB file: logical blocks fit u32, and as extents of whole AGs it
	 * needs far fewer than 216 x 253 extents. */
	uint64_t file_blocks = (62ull << 40) / sb.block_size;
	REQUIRE(file_blocks < 0xffffffffull, "62 TiB file has %llu blocks", (unsigned long long)file_blocks);
	REQUIRE(file_blocks / sb.data_blocks_per_ag + 1 <= (uint64_t)INLINE_EXTENTS * LEAF_EXTENTS,
		"62 TiB needs more extents than a file can hold");
	/* The same with the smallest block size: 64 TiB / 64 KiB = 2^30 blocks. */
	mo.block_size = 64 * 1024;
	OK(vmfs_mkfs_geometry(&sim_os, 64ull << 40, &mo, &sb));
	REQUIRE((uint64_t)0xffffffffu * sb.block_size >= (62ull << 40), "64 KiB blocks cannot address 62 TiB");
	/* Too large for the block size, too small, bad block size: refused. */
	FAILS(vmfs_mkfs_geometry(&sim_os, 300ull << 40, &mo, &sb), VMFS_EFBIG);
	FAILS(vmfs_mkfs_geometry(&sim_os, 4ull << 20, &mo, &sb), VMFS_ENOSPC);
	mo.block_size = 3 * 65536;
	FAILS(vmfs_mkfs_geometry(&sim_os, 1ull << 30, &mo, &sb), VMFS_EINVAL);
	quiet_log = false;
	return true;
}

static bool test_format_mount(void)
{
	if (!format(64 << 20, 65536))
		return false;
	struct vmfs_volume *vol = mount_host(1);
	REQUIRE(vol, "%s", mount_error);
	struct vmfs_statfs sf;
	OK(vmfs_statfs(vol, &sf));
	REQUIRE(!strcmp(sf.label, "test") && sf.block_size == 65536 && sf.free_blocks == sf.total_blocks &&
			sf.total_blocks > 100 && sf.my_slot == 0,
		"statfs: label '%s' bs %u free %llu/%llu slot %u", sf.label, sf.block_size,
		(unsigned long long)sf.free_blocks, (unsigned long long)sf.total_blocks, sf.my_slot);
	struct vmfs_stat st;
	OK(vmfs_stat(vol, "/", &st));
	REQUIRE(st.kind == VMFS_KIND_DIR && st.ino == ROOT_INO, "root stat");
	OK(vmfs_unmount(vol));
	REQUIRE(fsck_run(false) == VMFS_FSCK_CLEAN, "fsck of a fresh volume not clean");
	return true;
}

static bool test_file_io(void)
{
	if (!format(128 << 20, 65536))
		return false;
	struct vmfs_volume *vol = mount_host(1);
	REQUIRE(vol, "%s", mount_error);
	static uint8_t a[700000], b[700000];
	struct vmfs_file *f;
	fill(a, sizeof(a), 1);
	/* Small: inline in the inode. */
	if (!write_file(vol, "/small", 0, a, 1000) || !read_equals(vol, "/small", 0, a, 1000))
		return false;
	struct vmfs_stat st;
	OK(vmfs_stat(vol, "/small", &st));
	REQUIRE(st.inline_data && st.size == 1000 && st.allocated_bytes == 0, "small file not inline");
	/* Grows out of the inode: the inline bytes move to a block. */
	if (!write_file(vol, "/small", 5000, a + 5000, 70000) || !read_equals(vol, "/small", 0, a, 1000) ||
	    !read_equals(vol, "/small", 5000, a + 5000, 70000))
		return false;
	memset(b, 0, 4000);
	if (!read_equals(vol, "/small", 1000, b, 4000))
		return false;
	OK(vmfs_stat(vol, "/small", &st));
	REQUIRE(!st.inline_data && st.size == 75000 && st.allocated_bytes == 2 * 65536, "after growth: %llu bytes alloc",
		(unsigned long long)st.allocated_bytes);
	/* Inline bytes moved into the block the same write lands in; and an
	 * inline file grown by truncate (both regressions). */
	if (!write_file(vol, "/grow", 0, a, 700) || !write_file(vol, "/grow", 700, a + 700, 5000) ||
	    !read_equals(vol, "/grow", 0, a, 5700))
		return false;
	if (!write_file(vol, "/up", 0, a, 700))
		return false;
	OK(vmfs_open(vol, "/up", 0, VMFS_LOCK_EXCLUSIVE, &f));
	OK(vmfs_truncate(f, 300000));
	OK(vmfs_close(f));
	memset(b, 0, sizeof(b));
	if (!read_equals(vol, "/up", 0, a, 700) || !read_equals(vol, "/up", 700, b, 300000 - 700))
		return false;
	/* Sparse: a write far out leaves a hole that reads as zeros. */
	if (!write_file(vol, "/sparse", 10 << 20, a, sizeof(a)) || !read_equals(vol, "/sparse", 10 << 20, a, sizeof(a)))
		return false;
	memset(b, 0, sizeof(b));
	if (!read_equals(vol, "/sparse", 3 << 20, b, sizeof(b)))
		return false;
	OK(vmfs_stat(vol, "/sparse", &st));
	REQUIRE(st.size == (10 << 20) + sizeof(a) && st.allocated_bytes <= 12 * 65536, "sparse: size %llu alloc %llu",
		(unsigned long long)st.size, (unsigned long long)st.allocated_bytes);
	/* Unaligned overwrite across block boundaries. */
	fill(b, 100000, 7);
	if (!write_file(vol, "/sparse", (10 << 20) + 60000, b, 100000))
		return false;
	memcpy(a + 60000, b, 100000);
	if (!read_equals(vol, "/sparse", 10 << 20, a, sizeof(a)))
		return false;
	/* Read past the end: short. */
	OK(vmfs_open(vol, "/small", 0, VMFS_LOCK_SHARED_RO, &f));
	REQUIRE(vmfs_read(f, 74000, b, 5000) == 1000 && vmfs_read(f, 80000, b, 10) == 0, "read past end");
	FAILS(vmfs_write(f, 0, "x", 1), VMFS_EPERM);
	OK(vmfs_close(f));
	OK(vmfs_unmount(vol));
	vol = mount_host(1);
	REQUIRE(vol, "remount: %s", mount_error);
	if (!read_equals(vol, "/sparse", 10 << 20, a, sizeof(a)))
		return false;
	OK(vmfs_unmount(vol));
	REQUIRE(fsck_run(false) == VMFS_FSCK_CLEAN, "fsck not clean: %s", last_error);
	return true;
}

static bool test_truncate_allocate(void)
{
	if (!format(128 << 20, 65536))
		return false;
	struct vmfs_volume *vol = mount_host(1);
	REQUIRE(vol, "%s", mount_error);
	static uint8_t a[300000], z[300000];
	fill(a, sizeof(a), 3);
	if (!write_file(vol, "/t", 0, a, sizeof(a)))
		return false;
	struct vmfs_file *f;
	OK(vmfs_open(vol, "/t", 0, VMFS_LOCK_EXCLUSIVE, &f));
	OK(vmfs_truncate(f, 70000));
	OK(vmfs_truncate(f, 300000));
	OK(vmfs_close(f));
	if (!read_equals(vol, "/t", 0, a, 70000) || !read_equals(vol, "/t", 70000, z, 300000 - 70000))
		return false;
	struct vmfs_stat st;
	OK(vmfs_stat(vol, "/t", &st));
	REQUIRE(st.allocated_bytes == 2 * 65536, "after shrink: %llu allocated", (unsigned long long)st.allocated_bytes);
	/* Thick lazy: blocks now, zeros on read, first partial write zeroes the rest. */
	OK(vmfs_open(vol, "/lazy", VMFS_O_CREAT, VMFS_LOCK_EXCLUSIVE, &f));
	OK(vmfs_allocate(f, 1 << 20, VMFS_ALLOC_THICK_LAZY));
	OK(vmfs_write(f, 100, "abc", 3));
	OK(vmfs_close(f));
	OK(vmfs_stat(vol, "/lazy", &st));
	REQUIRE(st.thick && st.size == 1 << 20 && st.allocated_bytes == 1 << 20, "lazy: size %llu alloc %llu",
		(unsigned long long)st.size, (unsigned long long)st.allocated_bytes);
	if (!read_equals(vol, "/lazy", 0, z, 100) || !read_equals(vol, "/lazy", 100, "abc", 3) ||
	    !read_equals(vol, "/lazy", 103, z, 65536))
		return false;
	/* Thick eager: the blocks are zeroed on disk now (old garbage gone). */
	OK(vmfs_open(vol, "/eager", VMFS_O_CREAT, VMFS_LOCK_EXCLUSIVE, &f));
	OK(vmfs_allocate(f, 512 << 10, VMFS_ALLOC_THICK_EAGER));
	OK(vmfs_close(f));
	if (!read_equals(vol, "/eager", 0, z, sizeof(z)))
		return false;
	/* Thin: only the size. */
	OK(vmfs_open(vol, "/thin", VMFS_O_CREAT, VMFS_LOCK_EXCLUSIVE, &f));
	OK(vmfs_allocate(f, 50 << 20, VMFS_ALLOC_THIN));
	OK(vmfs_close(f));
	OK(vmfs_stat(vol, "/thin", &st));
	REQUIRE(st.size == 50 << 20 && st.allocated_bytes == 0, "thin allocated %llu", (unsigned long long)st.allocated_bytes);
	/* O_TRUNC empties. */
	OK(vmfs_open(vol, "/t", VMFS_O_CREAT | VMFS_O_TRUNC, VMFS_LOCK_EXCLUSIVE, &f));
	OK(vmfs_close(f));
	OK(vmfs_stat(vol, "/t", &st));
	REQUIRE(st.size == 0 && st.allocated_bytes == 0, "O_TRUNC left %llu bytes", (unsigned long long)st.size);
	/* No space: a clear error, and nothing already there is lost. */
	OK(vmfs_open(vol, "/huge", VMFS_O_CREAT, VMFS_LOCK_EXCLUSIVE, &f));
	FAILS(vmfs_allocate(f, 1ull << 30, VMFS_ALLOC_THICK_LAZY), VMFS_ENOSPC);
	OK(vmfs_truncate(f, 0));
	OK(vmfs_close(f));
	OK(vmfs_unlink(vol, "/huge"));
	if (!read_equals(vol, "/lazy", 100, "abc", 3))
		return false;
	OK(vmfs_unmount(vol));
	REQUIRE(fsck_run(false) == VMFS_FSCK_CLEAN, "fsck not clean: %s", last_error);
	return true;
}

static int count_entry(void *arg, const struct vmfs_dirent *e)
{
	(void)e;
	(*(int *)arg)++;
	return 0;
}

static bool test_directories(void)
{
	format_inodes = 1024;
	bool ok = format(128 << 20, 65536);
	format_inodes = 256;
	if (!ok)
		return false;
	struct vmfs_volume *vol = mount_host(1);
	REQUIRE(vol, "%s", mount_error);
	OK(vmfs_mkdir(vol, "/a"));
	OK(vmfs_mkdir(vol, "/a/b"));
	OK(vmfs_mkdir(vol, "/a/b/c"));
	FAILS(vmfs_mkdir(vol, "/a/b"), VMFS_EEXIST);
	FAILS(vmfs_mkdir(vol, "/missing/x"), VMFS_ENOENT);
	FAILS(vmfs_rmdir(vol, "/a/b"), VMFS_ENOTEMPTY);
	FAILS(vmfs_rename(vol, "/a", "/a/b/c/a"), VMFS_EINVAL);
	OK(vmfs_rename(vol, "/a/b/c", "/c"));
	struct vmfs_stat st;
	OK(vmfs_stat(vol, "/c", &st));
	OK(vmfs_stat(vol, "/a/b/../../c", &st));
	FAILS(vmfs_stat(vol, "/a/b/c", &st), VMFS_ENOENT);
	if (!write_file(vol, "/a/file", 0, "x", 1))
		return false;
	FAILS(vmfs_mkdir(vol, "/a/file/d"), VMFS_ENOTDIR);
	FAILS(vmfs_rmdir(vol, "/a/file"), VMFS_ENOTDIR);
	FAILS(vmfs_unlink(vol, "/a/b"), VMFS_EISDIR);
	/* Names: 255 bytes fine, 256 too long, relative and dot names refused. */
	char name[300] = "/";
	memset(name + 1, 'n', 255);
	name[256] = '\0';
	OK(vmfs_mkdir(vol, name));
	name[256] = 'n';
	name[257] = '\0';
	FAILS(vmfs_mkdir(vol, name), VMFS_ENAMETOOLONG);
	FAILS(vmfs_mkdir(vol, "relative"), VMFS_EINVAL);
	FAILS(vmfs_mkdir(vol, "/a/.."), VMFS_EINVAL);
	FAILS(vmfs_mkdir(vol, "/"), VMFS_EINVAL);
	/* Many files in one directory: hashed buckets with overflow chains. */
	struct vmfs_statfs before, after;
	OK(vmfs_statfs(vol, &before));
	char path[64];
	for (int i = 0; i < 1500; i++) {
		snprintf(path, sizeof(path), "/a/b/file-%05d", i);
		struct vmfs_file *f;
		OK(vmfs_open(vol, path, VMFS_O_CREAT | VMFS_O_EXCL, VMFS_LOCK_EXCLUSIVE, &f));
		OK(vmfs_close(f));
	}
	int n = 0;
	OK(vmfs_readdir(vol, "/a/b", count_entry, &n));
	REQUIRE(n == 1500, "readdir found %d of 1500", n);
	for (int i = 0; i < 1500; i += 7) {
		snprintf(path, sizeof(path), "/a/b/file-%05d", i);
		OK(vmfs_stat(vol, path, &st));
	}
	OK(vmfs_sync(vol));
	REQUIRE(fsck_run(false) == VMFS_FSCK_CLEAN, "fsck with 1500 files not clean: %s", last_error);
	/* Rename over an existing file replaces it. */
	OK(vmfs_rename(vol, "/a/b/file-00001", "/a/b/file-00002"));
	n = 0;
	OK(vmfs_readdir(vol, "/a/b", count_entry, &n));
	REQUIRE(n == 1499, "after rename-over: %d entries", n);
	for (int i = 0; i < 1500; i++) {
		if (i == 1)
			continue;
		snprintf(path, sizeof(path), "/a/b/file-%05d", i);
		OK(vmfs_unlink(vol, path));
	}
	OK(vmfs_statfs(vol, &after));
	REQUIRE(after.free_inodes == before.free_inodes, "inodes leaked: %llu vs %llu",
		(unsigned long long)after.free_inodes, (unsigned long long)before.free_inodes);
	OK(vmfs_rmdir(vol, "/a/b"));
	OK(vmfs_unmount(vol));
	REQUIRE(fsck_run(false) == VMFS_FSCK_CLEAN, "fsck not clean: %s", last_error);
	return true;
}

static bool test_clone_cow(void)
{
	if (!format(128 << 20, 65536))
		return false;
	struct vmfs_volume *vol = mount_host(1);
	REQUIRE(vol, "%s", mount_error);
	static uint8_t a[1 << 20], b[1 << 20];
	fill(a, sizeof(a), 11);
	if (!write_file(vol, "/base", 0, a, sizeof(a)))
		return false;
	struct vmfs_statfs s1, s2;
	OK(vmfs_statfs(vol, &s1));
	OK(vmfs_clone(vol, "/base", "/clone"));
	OK(vmfs_statfs(vol, &s2));
	REQUIRE(s1.free_blocks == s2.free_blocks, "clone used %lld blocks",
		(long long)s1.free_blocks - (long long)s2.free_blocks);
	struct vmfs_stat st;
	OK(vmfs_stat(vol, "/clone", &st));
	REQUIRE(st.shared_blocks == 16 && st.size == sizeof(a), "clone shares %u blocks", st.shared_blocks);
	/* Writing the clone copies one block; the base is unchanged. */
	memcpy(b, a, sizeof(a));
	memset(b + 70000, 0xee, 1000);
	if (!write_file(vol, "/clone", 70000, b + 70000, 1000) || !read_equals(vol, "/clone", 0, b, sizeof(b)) ||
	    !read_equals(vol, "/base", 0, a, sizeof(a)))
		return false;
	OK(vmfs_stat(vol, "/clone", &st));
	REQUIRE(st.shared_blocks == 15, "after CoW shares %u", st.shared_blocks);
	FAILS(vmfs_clone(vol, "/base", "/clone"), VMFS_EEXIST);
	FAILS(vmfs_clone(vol, "/", "/x"), VMFS_EISDIR);
	OK(vmfs_unlink(vol, "/base"));
	if (!read_equals(vol, "/clone", 0, b, sizeof(b)))
		return false;
	OK(vmfs_stat(vol, "/clone", &st));
	REQUIRE(st.shared_blocks == 0, "after unlink of base still shares %u", st.shared_blocks);
	OK(vmfs_unmount(vol));
	REQUIRE(fsck_run(false) == VMFS_FSCK_CLEAN, "fsck not clean: %s", last_error);
	return true;
}

static bool test_many_extents(void)
{
	if (!format(128 << 20, 65536))
		return false;
	struct vmfs_volume *vol = mount_host(1);
	REQUIRE(vol, "%s", mount_error);
	/* Every other block written: 600 one-block extents, beyond the 216
	 * that fit in the inode, so extent leaves are used. */
	static uint8_t blk[65536];
	struct vmfs_file *f;
	OK(vmfs_open(vol, "/frag", VMFS_O_CREAT, VMFS_LOCK_EXCLUSIVE, &f));
	for (uint32_t i = 0; i < 600; i++) {
		fill(blk, 64, i);
		/* A second file in between keeps the blocks apart. */
		REQUIRE(vmfs_write(f, (uint64_t)i * 2 * 65536, blk, 64) == 64, "write %u", i);
		if (i % 50 == 0)
			OK(vmfs_sync(vol));
	}
	struct vmfs_stat st;
	OK(vmfs_fstat(f, &st));
	REQUIRE(st.extents == 600 && !st.inline_data, "extents %u", st.extents);
	OK(vmfs_close(f));
	OK(vmfs_unmount(vol));
	REQUIRE(fsck_run(false) == VMFS_FSCK_CLEAN, "fsck with leaves not clean: %s", last_error);
	vol = mount_host(1);
	REQUIRE(vol, "%s", mount_error);
	for (uint32_t i = 0; i < 600; i += 37) {
		fill(blk, 64, i);
		if (!read_equals(vol, "/frag", (uint64_t)i * 2 * 65536, blk, 64))
			return false;
	}
	/* Fill the holes in the middle: extents merge only where physically adjacent. */
	OK(vmfs_open(vol, "/frag", 0, VMFS_LOCK_EXCLUSIVE, &f));
	OK(vmfs_truncate(f, 100 * 65536));
	OK(vmfs_fstat(f, &st));
	REQUIRE(st.extents == 50, "after truncate: %u extents", st.extents);
	OK(vmfs_close(f));
	OK(vmfs_unmount(vol));
	REQUIRE(fsck_run(false) == VMFS_FSCK_CLEAN, "fsck not clean: %s", last_error);
	return true;
}

/* A crash at every write of a workload: mount replays, fsck is clean and
 * everything synced before the crash is there. */
static bool test_crash_replay(void)
{
	static uint8_t a[200000];
	fill(a, sizeof(a), 5);
	uint64_t total_writes = 0;
	uint64_t used = 0;
	for (uint64_t crash = 0;; crash += crash < 40 || long_run ? 1 : 7) {
		if (!format(64 << 20, 65536))
			return false;
		struct vmfs_volume *vol = mount_host(1);
		REQUIRE(vol, "%s", mount_error);
		OK(vmfs_mkdir(vol, "/d"));
		if (!write_file(vol, "/d/synced", 0, a, sizeof(a)))
			return false;
		OK(vmfs_sync(vol));
		uint64_t base = ram.writes;
		ram.crash_after = crash ? base + crash : 0;
		/* After this point anything may be lost, but nothing may break. */
		quiet_log = true;
		vmfs_mkdir(vol, "/e");
		struct vmfs_file *f;
		if (vmfs_open(vol, "/d/new", VMFS_O_CREAT, VMFS_LOCK_EXCLUSIVE, &f) == 0) {
			vmfs_write(f, 0, a, sizeof(a));
			vmfs_fsync(f);
			vmfs_close(f);
		}
		vmfs_clone(vol, "/d/synced", "/e/c");
		vmfs_rename(vol, "/d/new", "/e/new");
		vmfs_unlink(vol, "/e/c");
		vmfs_sync(vol);
		if (crash == 0)
			used = ram.writes - base;
		/* The dead host's memory is simply dropped: no unmount. */
		vmfs_cache_free(vol);
		free(vol->zero_block);
		free(vol->bounce);
		free(vol->op_blocks);
		free(vol->freed);
		free(vol);
		ram.crash_after = 0;
		vol = mount_host(1);
		quiet_log = false;
		REQUIRE(vol, "crash after write %llu: remount failed: %s", (unsigned long long)crash, mount_error);
		if (!read_equals(vol, "/d/synced", 0, a, sizeof(a)))
			return false;
		OK(vmfs_unmount(vol));
		int rc = fsck_run(false);
		REQUIRE(rc == VMFS_FSCK_CLEAN, "crash after write %llu of %llu: fsck %d: %s", (unsigned long long)crash,
			(unsigned long long)used, rc, last_error);
		total_writes++;
		if (crash > used)
			break;
	}
	REQUIRE(total_writes > 20, "only %llu crash points", (unsigned long long)total_writes);
	printf("  crash_replay: %llu crash points\n", (unsigned long long)total_writes);
	return true;
}

static bool test_fencing(void)
{
	if (!format(64 << 20, 65536))
		return false;
	struct vmfs_volume *a = mount_host(1);
	REQUIRE(a, "%s", mount_error);
	if (!write_file(a, "/f", 0, "data", 4))
		return false;
	/* The holder stops a heartbeat interval before the lease an observer
	 * times (margin for drift and writes in flight). */
	OK(vmfs_heartbeat(a));
	sim_now += 850ull * 1000000;
	OK(vmfs_lease_state(a));
	sim_now += 100ull * 1000000;
	FAILS(vmfs_lease_state(a), VMFS_ESTALE);
	/* The clock jumps past the lease without a heartbeat (a stopped VM). */
	sim_now += 2000ull * 1000000;
	FAILS(vmfs_lease_state(a), VMFS_ESTALE);
	FAILS(vmfs_mkdir(a, "/x"), VMFS_ESTALE);
	uint64_t writes = ram.writes;
	struct vmfs_file *f;
	FAILS(vmfs_open(a, "/f", 0, VMFS_LOCK_EXCLUSIVE, &f), VMFS_ESTALE);
	REQUIRE(ram.writes == writes, "a fenced host wrote %llu times", (unsigned long long)(ram.writes - writes));
	vmfs_unmount(a);
	/* A host whose slot another host took notices at its next refresh. */
	a = mount_host(1);
	REQUIRE(a, "%s", mount_error);
	struct disk_hb hb;
	memcpy(&hb, ram.data + (HB_START * MB_SIZE) + a->slot * SECTOR, SECTOR);
	hb.generation++;
	vmfs_hb_seal(&hb);
	memcpy(ram.data + (HB_START * MB_SIZE) + a->slot * SECTOR, &hb, SECTOR);
	sim_now += 200ull * 1000000;
	FAILS(vmfs_heartbeat(a), VMFS_ESTALE);
	FAILS(vmfs_mkdir(a, "/y"), VMFS_ESTALE);
	vmfs_unmount(a);
	return true;
}

static bool test_lock_modes(void)
{
	if (!format(64 << 20, 65536))
		return false;
	struct vmfs_volume *a = mount_host(1), *b = mount_host(2);
	REQUIRE(a && b, "%s", mount_error);
	REQUIRE(a->slot != b->slot, "two hosts in one slot");
	if (!write_file(a, "/disk", 0, "0123456789", 10))
		return false;
	/* Other hosts see a host's changes once it commits (sync, fsync, or
	 * its heartbeat at the latest). */
	OK(vmfs_sync(a));
	struct vmfs_file *fa, *fb, *fb2;
	char buf[10];
	OK(vmfs_open(a, "/disk", 0, VMFS_LOCK_EXCLUSIVE, &fa));
	/* Never two exclusive holders, nor a reader beside a writer. */
	FAILS(vmfs_open(b, "/disk", 0, VMFS_LOCK_EXCLUSIVE, &fb), VMFS_EBUSY);
	FAILS(vmfs_open(b, "/disk", 0, VMFS_LOCK_SHARED_RO, &fb), VMFS_EBUSY);
	FAILS(vmfs_unlink(b, "/disk"), VMFS_EBUSY);
	/* This host may reopen its own lock, unless asked for a sole open. */
	OK(vmfs_open(a, "/disk", 0, VMFS_LOCK_EXCLUSIVE, &fb2));
	OK(vmfs_close(fb2));
	FAILS(vmfs_open(a, "/disk", VMFS_O_CREAT | VMFS_O_TRUNC | VMFS_O_SOLE, VMFS_LOCK_EXCLUSIVE, &fb2), VMFS_EBUSY);
	REQUIRE(vmfs_read(fa, 0, buf, 10) == 10 && !memcmp(buf, "0123456789", 10), "a refused sole open truncated");
	OK(vmfs_close(fa));
	OK(vmfs_sync(a)); /* the lock goes with the commit */
	OK(vmfs_open(b, "/disk", 0, VMFS_LOCK_SHARED_RO, &fb));
	OK(vmfs_open(a, "/disk", 0, VMFS_LOCK_SHARED_RO, &fa));
	REQUIRE(vmfs_read(fb, 0, buf, 10) == 10 && !memcmp(buf, "0123456789", 10), "shared read");
	FAILS(vmfs_write(fb, 0, "x", 1), VMFS_EPERM);
	FAILS(vmfs_open(b, "/disk", 0, VMFS_LOCK_EXCLUSIVE, &fb2), VMFS_EBUSY);
	OK(vmfs_close(fa));
	OK(vmfs_close(fb));
	/* Multi-writer: both hosts write preallocated, zeroed blocks. */
	OK(vmfs_open(a, "/shared", VMFS_O_CREAT, VMFS_LOCK_EXCLUSIVE, &fa));
	OK(vmfs_allocate(fa, 4 * 65536, VMFS_ALLOC_THICK_EAGER));
	OK(vmfs_close(fa));
	OK(vmfs_sync(a));
	OK(vmfs_open(a, "/shared", 0, VMFS_LOCK_MULTI_WRITER, &fa));
	OK(vmfs_open(b, "/shared", 0, VMFS_LOCK_MULTI_WRITER, &fb));
	REQUIRE(vmfs_write(fa, 0, "AAAA", 4) == 4 && vmfs_write(fb, 65536, "BBBB", 4) == 4, "multi-writer writes");
	FAILS(vmfs_write(fb, 4 * 65536, "C", 1), VMFS_EPERM); /* would allocate */
	REQUIRE(vmfs_read(fa, 65536, buf, 4) == 4 && !memcmp(buf, "BBBB", 4), "multi-writer sees the other's data");
	FAILS(vmfs_truncate(fa, 0), VMFS_EPERM);
	OK(vmfs_close(fa));
	OK(vmfs_close(fb));
	/* Namespace changes of one host are seen by the other after its commit. */
	OK(vmfs_mkdir(a, "/from-a"));
	OK(vmfs_sync(a));
	struct vmfs_stat st;
	OK(vmfs_stat(b, "/from-a", &st));
	OK(vmfs_mkdir(b, "/from-a/from-b"));
	OK(vmfs_sync(b));
	OK(vmfs_stat(a, "/from-a/from-b", &st));
	OK(vmfs_unmount(a));
	OK(vmfs_unmount(b));
	REQUIRE(fsck_run(false) == VMFS_FSCK_CLEAN, "fsck not clean: %s", last_error);
	return true;
}

/* A host alone on the volume reads from its cache; another host that
 * mounts, changes something and leaves is noticed at the next heartbeat. */
static bool test_visibility(void)
{
	if (!format(64 << 20, 65536))
		return false;
	struct vmfs_volume *a = mount_host(1);
	REQUIRE(a, "%s", mount_error);
	int n = 0;
	OK(vmfs_readdir(a, "/", count_entry, &n));
	REQUIRE(n == 0, "fresh root has %d entries", n);
	struct vmfs_volume *b = mount_host(2);
	REQUIRE(b, "%s", mount_error);
	OK(vmfs_mkdir(b, "/from-b"));
	OK(vmfs_unmount(b));
	sim_now += 150ull * 1000000; /* past A's heartbeat interval */
	OK(vmfs_heartbeat(a));
	struct vmfs_stat st;
	OK(vmfs_stat(a, "/from-b", &st));
	n = 0;
	OK(vmfs_readdir(a, "/", count_entry, &n));
	REQUIRE(n == 1, "root has %d entries after the other host's mkdir", n);
	OK(vmfs_unmount(a));
	return true;
}

/* Host A dies holding a file open and with a committed transaction;
 * host B waits out the lease, recovers A and takes the lock. */
static bool test_dead_host(void)
{
	if (!format(64 << 20, 65536))
		return false;
	struct vmfs_volume *a = mount_host(1), *b = mount_host(2);
	REQUIRE(a && b, "%s", mount_error);
	struct vmfs_file *fa, *fb;
	OK(vmfs_open(a, "/vm.vmdk", VMFS_O_CREAT, VMFS_LOCK_EXCLUSIVE, &fa));
	REQUIRE(vmfs_write(fa, 0, "before death", 12) == 12, "write");
	OK(vmfs_fsync(fa));
	uint32_t dead_slot = a->slot;
	/* A stops: no heartbeat, no unmount. B's wait is long enough for the lease. */
	b->lock_wait_ms = 5000;
	uint64_t t0 = sim_now;
	OK(vmfs_open(b, "/vm.vmdk", 0, VMFS_LOCK_EXCLUSIVE, &fb));
	REQUIRE(sim_now - t0 >= 1000ull * 1000000, "lock taken after %llu ms, before the lease ran out",
		(unsigned long long)((sim_now - t0) / 1000000));
	char buf[12];
	REQUIRE(vmfs_read(fb, 0, buf, 12) == 12 && !memcmp(buf, "before death", 12), "data of the dead host");
	OK(vmfs_close(fb));
	struct disk_hb hb;
	memcpy(&hb, ram.data + HB_START * MB_SIZE + dead_slot * SECTOR, SECTOR);
	REQUIRE(hb.state == HB_FREE, "dead host's slot is %u after recovery", hb.state);
	/* The dead host, if it ever runs again, is fenced. */
	FAILS(vmfs_write(fa, 0, "zombie", 6), VMFS_ESTALE);
	OK(vmfs_unmount(b));
	vmfs_unmount(a);
	REQUIRE(fsck_run(false) == VMFS_FSCK_CLEAN, "fsck not clean: %s", last_error);
	return true;
}

static uint64_t hash_device(void)
{
	uint64_t h = 1469598103934665603ull;
	for (uint64_t i = 0; i < ram.size; i += 8) {
		uint64_t v;
		memcpy(&v, ram.data + i, 8);
		h = (h ^ v) * 1099511628211ull;
	}
	return h;
}

static bool test_fsck_repairs(void)
{
	if (!format(64 << 20, 65536))
		return false;
	struct vmfs_volume *vol = mount_host(1);
	REQUIRE(vol, "%s", mount_error);
	OK(vmfs_mkdir(vol, "/d"));
	static uint8_t a[200000];
	fill(a, sizeof(a), 9);
	if (!write_file(vol, "/d/f", 0, a, sizeof(a)) || !write_file(vol, "/d/g", 0, a, 100))
		return false;
	uint32_t ino;
	OK(vmfs_path_lookup(vol, "/d/g", &ino));
	struct mblock *dir;
	uint32_t dino;
	OK(vmfs_path_lookup(vol, "/d", &dino));
	OK(vmfs_inode_get(vol, dino, &dir));
	uint64_t dirblock = 0;
	for (uint32_t i = 0; i < DIR_BUCKETS && !dirblock; i++)
		dirblock = dir->d.inode.u.buckets[i];
	OK(vmfs_unmount(vol));
	/* 1: a wrong reference count. */
	struct disk_super sb;
	OK(vmfs_read_super(&sim_os, &dev, &sb));
	struct disk_refcount *rc = (struct disk_refcount *)(ram.data + (vmfs_ag_mblock(&sb, 0) + 1) * MB_SIZE);
	rc->count[700] = 3;
	vmfs_mb_seal(rc, MB_REFCOUNT, vmfs_ag_mblock(&sb, 0) + 1, 0);
	uint64_t h = hash_device();
	REQUIRE(fsck_run(false) == VMFS_FSCK_ERRORS_LEFT, "fsck -n missed a wrong refcount");
	REQUIRE(hash_device() == h, "fsck -n wrote to the device");
	REQUIRE(fsck_run(true) == VMFS_FSCK_REPAIRED, "fsck -y did not repair the refcount");
	REQUIRE(fsck_run(false) == VMFS_FSCK_CLEAN, "not clean after repair: %s", last_error);
	/* 2: a damaged directory block: reported with its address, cut out. */
	ram.data[dirblock * MB_SIZE + 100] ^= 0x55;
	log_errors = 0;
	REQUIRE(fsck_run(false) == VMFS_FSCK_ERRORS_LEFT, "damaged directory block not found");
	char want[64];
	snprintf(want, sizeof(want), "block %llu", (unsigned long long)dirblock);
	REQUIRE(log_errors > 0, "no error logged");
	REQUIRE(fsck_run(true) == VMFS_FSCK_REPAIRED, "fsck -y did not repair the directory");
	REQUIRE(fsck_run(false) == VMFS_FSCK_CLEAN, "not clean after directory repair: %s", last_error);
	/* 3: mount reports a damaged inode with its block, no crash. */
	vol = mount_host(1);
	REQUIRE(vol, "%s", mount_error);
	OK(vmfs_unmount(vol));
	/* 4: an unknown incompatible feature: refused by mount and fsck. */
	struct disk_super *s0 = (struct disk_super *)ram.data;
	s0->feature_incompat |= 0x80;
	vmfs_mb_seal(s0, MB_SUPER, 0, 0);
	struct vmfs_volume *v2;
	struct vmfs_mount_options o = host_options(1);
	quiet_log = true;
	FAILS(vmfs_mount(&sim_os, &dev, &o, &v2), VMFS_EOPNOTSUPP);
	REQUIRE(strstr(last_error, "incompatible features 0x80"), "message: %s", last_error);
	REQUIRE(fsck_run(true) == VMFS_FSCK_OPERATIONAL, "fsck accepted an unknown feature");
	/* 5: primary superblock destroyed: the backup is used, fsck rewrites it. */
	memset(ram.data, 0, MB_SIZE);
	vol = mount_host(1);
	REQUIRE(vol, "mount from the backup superblock: %s", mount_error);
	OK(vmfs_unmount(vol));
	REQUIRE(fsck_run(true) == VMFS_FSCK_REPAIRED, "primary superblock not rewritten");
	REQUIRE(fsck_run(false) == VMFS_FSCK_CLEAN, "not clean after superblock repair: %s", last_error);
	quiet_log = false;
	return true;
}

/* Freed blocks are unmapped once the free commits, not before; a device
 * without compare-and-write gets the library's emulation. */
static bool test_unmap_emulated_caw(void)
{
	if (!format(64 << 20, 65536))
		return false;
	dev.unmap = ram_unmap;
	dev.compare_and_write = NULL;
	unmap_count = 0;
	unmapped_bytes = 0;
	struct vmfs_volume *vol = mount_host(1);
	REQUIRE(vol, "%s", mount_error);
	static uint8_t a[3 * 65536];
	fill(a, sizeof(a), 77);
	if (!write_file(vol, "/f", 0, a, sizeof(a)) || !write_file(vol, "/keep", 0, a, sizeof(a)))
		return false;
	OK(vmfs_clone(vol, "/f", "/g"));
	OK(vmfs_sync(vol));
	OK(vmfs_unlink(vol, "/f"));
	OK(vmfs_sync(vol));
	REQUIRE(unmap_count == 0, "blocks still used by the clone were unmapped");
	OK(vmfs_unlink(vol, "/g"));
	REQUIRE(unmap_count == 0, "unmapped before the commit");
	OK(vmfs_sync(vol));
	REQUIRE(unmapped_bytes == 3 * 65536 && unmap_count == 1, "%llu bytes unmapped in %u calls after the commit, expected 3 blocks in one run",
		(unsigned long long)unmapped_bytes, unmap_count);
	if (!read_equals(vol, "/keep", 0, a, sizeof(a)))
		return false;
	OK(vmfs_unmount(vol));
	REQUIRE(fsck_run(false) == VMFS_FSCK_CLEAN, "fsck not clean: %s", last_error);
	return true;
}

/* Random damage to metadata: mount, operations and fsck must fail cleanly. */
static bool test_corruption_robust(void)
{
	uint32_t seed = 12345;
	quiet_log = true;
	for (int round = 0; round < (long_run ? 600 : 60); round++) {
		if (!format(64 << 20, 65536))
			return false;
		struct vmfs_volume *vol = mount_host(1);
		REQUIRE(vol, "%s", mount_error);
		vmfs_mkdir(vol, "/d");
		static uint8_t a[150000];
		fill(a, sizeof(a), (uint32_t)round);
		write_file(vol, "/d/f", 0, a, sizeof(a));
		vmfs_clone(vol, "/d/f", "/d/c");
		vmfs_unmount(vol);
		struct disk_super sb;
		OK(vmfs_read_super(&sim_os, &dev, &sb));
		uint64_t meta_end = (vmfs_ag_mblock(&sb, 0) + 1 + sb.refcount_blocks + sb.inodes_per_ag + 16) * MB_SIZE;
		for (int k = 0; k < 1 + round % 8; k++) {
			seed = seed * 1103515245u + 12345u;
			uint64_t off = (seed >> 3) % meta_end;
			if (round % 3 == 0) /* keep the superblock: damage reaches the rest */
				off = MB_SIZE * 2 + off % (meta_end - MB_SIZE * 2);
			ram.data[off] ^= (uint8_t)(1u << (seed % 8));
		}
		vol = mount_host(1);
		if (vol) {
			struct vmfs_stat st;
			uint8_t buf[4096];
			vmfs_stat(vol, "/d/f", &st);
			struct vmfs_file *f;
			if (vmfs_open(vol, "/d/f", 0, VMFS_LOCK_EXCLUSIVE, &f) == 0) {
				vmfs_read(f, 0, buf, sizeof(buf));
				vmfs_write(f, 4096, buf, sizeof(buf));
				vmfs_close(f);
			}
			vmfs_mkdir(vol, "/d/new");
			vmfs_unlink(vol, "/d/c");
			vmfs_unmount(vol);
		}
		int rc = fsck_run(true);
		REQUIRE(rc == 0 || rc == 1 || rc == 4 || rc == 8, "fsck returned %d", rc);
		if (rc == 1) {
			int again = fsck_run(false);
			REQUIRE(again == 0, "round %d: not clean after a repair (%d): %s", round, again, last_error);
		}
	}
	quiet_log = false;
	return true;
}

struct test {
	const char *name;
	bool (*fn)(void);
};

/* Inode capacity scales with the volume: mkfs picks one inode per MiB of AG
 * data (up to 3584 per AG, past 1024 with the large-inode-table feature). */
static bool test_inode_capacity(void)
{
	struct disk_super sb;
	struct vmfs_mkfs_options mo = { 0 };
	quiet_log = true;
	OK(vmfs_mkfs_geometry(&sim_os, 16ull << 30, &mo, &sb));
	REQUIRE((uint64_t)sb.ag_count * (sb.inodes_per_ag - 1) >= 16000, "16 GiB, 1 MiB blocks: %u AGs x %u inodes",
		sb.ag_count, sb.inodes_per_ag);
	OK(vmfs_mkfs_geometry(&sim_os, 64ull << 30, &mo, &sb));
	REQUIRE((uint64_t)sb.ag_count * (sb.inodes_per_ag - 1) >= 64000, "64 GiB, 1 MiB blocks: %u AGs x %u inodes",
		sb.ag_count, sb.inodes_per_ag);
	OK(vmfs_mkfs_geometry(&sim_os, 4ull << 40, &mo, &sb));
	REQUIRE(sb.inodes_per_ag == INODES_PER_AG_MAX && (sb.feature_incompat & INCOMPAT_LARGE_INODE_TABLE),
		"4 TiB: %u inodes per AG, incompat 0x%x", sb.inodes_per_ag, sb.feature_incompat);
	mo.inodes_per_ag = INODES_PER_AG_MAX + 8;
	FAILS(vmfs_mkfs_geometry(&sim_os, 4ull << 30, &mo, &sb), VMFS_EINVAL);
	quiet_log = false;
	/* A real volume with a large table: more than 1024 inodes in one AG. */
	format_inodes = 2048;
	bool ok = format(96 << 20, 65536);
	format_inodes = 256;
	if (!ok)
		return false;
	const struct disk_super *s0 = (const struct disk_super *)ram.data;
	REQUIRE(s0->inodes_per_ag == 2048 && (s0->feature_incompat & INCOMPAT_LARGE_INODE_TABLE),
		"mkfs: %u inodes per AG, incompat 0x%x", s0->inodes_per_ag, s0->feature_incompat);
	struct vmfs_volume *vol = mount_host(1);
	REQUIRE(vol, "%s", mount_error);
	char path[64];
	uint32_t high_index = 0;
	for (int i = 0; i < 1500; i++) {
		snprintf(path, sizeof(path), "/f%04d", i);
		if (!write_file(vol, path, 0, path, strlen(path)))
			return false;
		struct vmfs_stat st;
		OK(vmfs_stat(vol, path, &st));
		if (st.ino % 2048 > high_index)
			high_index = st.ino % 2048;
	}
	REQUIRE(high_index > 1024, "no inode past index 1024 of its AG (highest %u)", high_index);
	OK(vmfs_unmount(vol));
	REQUIRE(fsck_run(false) == VMFS_FSCK_CLEAN, "fsck with 1500 inodes not clean: %s", last_error);
	vol = mount_host(2);
	REQUIRE(vol, "%s", mount_error);
	for (int i = 0; i < 1500; i += 13) {
		snprintf(path, sizeof(path), "/f%04d", i);
		if (!read_equals(vol, path, 0, path, strlen(path)))
			return false;
	}
	OK(vmfs_unmount(vol));
	/* Without the feature flag such a volume is damaged, not misread. */
	struct disk_super *s = (struct disk_super *)ram.data;
	s->feature_incompat &= ~INCOMPAT_LARGE_INODE_TABLE;
	vmfs_mb_seal(s, MB_SUPER, 0, 0);
	uint64_t last = ram.size / MB_SIZE - 1;
	memcpy(ram.data + MB_SIZE, s, MB_SIZE);
	vmfs_mb_seal(ram.data + MB_SIZE, MB_SUPER, 1, 0);
	memcpy(ram.data + last * MB_SIZE, s, MB_SIZE);
	vmfs_mb_seal(ram.data + last * MB_SIZE, MB_SUPER, last, 0);
	quiet_log = true;
	struct vmfs_mount_options o = host_options(1);
	FAILS(vmfs_super_check(&sim_os, s, ram.size), VMFS_EBADMSG);
	REQUIRE(strstr(last_error, "large inode table"), "message: %s", last_error);
	FAILS(vmfs_mount(&sim_os, &dev, &o, &vol), VMFS_EBADMSG);
	quiet_log = false;
	return true;
}

static const struct test tests[] = {
	{ "limits", test_limits },
	{ "format-mount", test_format_mount },
	{ "file-io", test_file_io },
	{ "truncate-allocate", test_truncate_allocate },
	{ "directories", test_directories },
	{ "inode-capacity", test_inode_capacity },
	{ "clone-cow", test_clone_cow },
	{ "many-extents", test_many_extents },
	{ "crash-replay", test_crash_replay },
	{ "fencing", test_fencing },
	{ "lock-modes", test_lock_modes },
	{ "visibility", test_visibility },
	{ "dead-host", test_dead_host },
	{ "fsck-repairs", test_fsck_repairs },
	{ "unmap-emulated-caw", test_unmap_emulated_caw },
	{ "corruption-robust", test_corruption_robust },
};

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IONBF, 0);
	int failed = 0;
	const char *only = NULL;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--long"))
			long_run = true;
		else
			only = argv[i];
	}
	for (size_t i = 0; i < sizeof(tests) / sizeof(tests[0]); i++) {
		if (only && !strstr(tests[i].name, only))
			continue;
		reason[0] = '\0';
		quiet_log = false;
		sim_now += 1000000000ull;
		bool ok = tests[i].fn();
		if (ok) {
			printf("PASS vmfs/lib/%s\n", tests[i].name);
		} else {
			printf("FAIL vmfs/lib/%s: %s\n", tests[i].name, reason);
			failed++;
		}
	}
	free(ram.data);
	return failed ? 1 : 0;
}

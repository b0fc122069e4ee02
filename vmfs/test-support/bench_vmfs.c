/*
 * VMFS benchmarks for `make bench` (scripts/bench-vmfs), each measured side
 * by side with the host doing the same in the same run:
 *   1. sequential 1 MiB writes, then reads, of a 2 GiB file through the
 *      library into an image file, against write()/read() of a raw file in
 *      the same directory; both sides O_DIRECT (no page cache on either),
 *      both end with an fsync/flush inside the timing;
 *   2. clone of a 4 GiB thick (lazily zeroed) disk, against cp of a 4 GiB
 *      host file holding data;
 *   3. 10,000 creates, then 10,000 lookups (stat), in one directory, against
 *      the host filesystem (open O_CREAT|O_EXCL + close, stat), the creates
 *      ending with a sync on each side (vmfs_sync; syncfs); three rounds of
 *      each side alternating, medians compared;
 *   4. fsck -n of a 64 GiB sparse volume holding 10,000 files.
 * Every volume has the default geometry (1 MiB blocks, inodes per AG as
 * mkfs picks them: one per MiB of data, so 16 GiB holds 16,240 files).
 * usage: bench_vmfs WORKDIR   (needs about 11 GiB free there)
 */
#define _GNU_SOURCE
#include <vmfs/vmfs.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define MIB (1ull << 20)
#define SEQ_BYTES (2048ull * MIB)
#define CLONE_BYTES (4096ull * MIB)
#define FILES 10000

static struct vmfs_os os;
static char dir[4096];
static int all_within = 1;

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static void die(const char *what, int err)
{
	fprintf(stderr, "bench_vmfs: %s: %s\n", what, err < 0 ? vmfs_strerror(err) : "failed");
	exit(1);
}

/* One row like scripts/bench's: name, measured, target, ratio, verdict. */
static void row(const char *name, const char *measured, const char *target, double ratio, int within)
{
	printf("%-36s %14s %14s %6.2fx  %s\n", name, measured, target, ratio, within ? "within" : "MISSED");
	all_within &= within;
	fflush(stdout);
}

static char *path_in(const char *name)
{
	static char buf[4][4200];
	static int next;
	char *p = buf[next++ % 4];
	snprintf(p, sizeof(buf[0]), "%s/%s", dir, name);
	return p;
}

static struct vmfs_volume *make_volume(const char *image, uint64_t bytes, struct vmfs_blockdev *dev)
{
	unlink(image);
	struct vmfs_posix_dev_options dopt = { .direct = true, .create = true, .size_bytes = bytes };
	int err = vmfs_posix_open(image, &dopt, dev);
	if (err)
		die("open image", err);
	struct vmfs_mkfs_options mk = { .label = "bench" };
	if ((err = vmfs_mkfs(&os, dev, &mk)))
		die("mkfs", err);
	struct vmfs_mount_options mo = { .host_uuid = { 0xbe, 0x7c } };
	struct vmfs_volume *vol;
	if ((err = vmfs_mount(&os, dev, &mo, &vol)))
		die("mount", err);
	return vol;
}

static void bench_sequential(void)
{
	uint8_t *buf;
	if (posix_memalign((void **)&buf, 4096, MIB))
		die("memory", -1);
	for (size_t i = 0; i < MIB; i++)
		buf[i] = (uint8_t)(i * 31 + 7);

	/* host: a raw file, O_DIRECT */
	const char *raw = path_in("seq-raw.bin");
	int fd = open(raw, O_CREAT | O_TRUNC | O_RDWR | O_DIRECT, 0644);
	if (fd < 0)
		die("open raw file", -1);
	double t = now();
	for (uint64_t off = 0; off < SEQ_BYTES; off += MIB)
		if (pwrite(fd, buf, MIB, (off_t)off) != (ssize_t)MIB)
			die("raw write", -1);
	fsync(fd);
	double raw_write = now() - t;
	t = now();
	for (uint64_t off = 0; off < SEQ_BYTES; off += MIB)
		if (pread(fd, buf, MIB, (off_t)off) != (ssize_t)MIB)
			die("raw read", -1);
	double raw_read = now() - t;
	close(fd);
	unlink(raw);

	/* library: a thin file on a volume in an image file, O_DIRECT */
	struct vmfs_blockdev dev;
	const char *image = path_in("seq.img");
	struct vmfs_volume *vol = make_volume(image, SEQ_BYTES + 512 * MIB, &dev);
	struct vmfs_file *f;
	int err = vmfs_open(vol, "/seq", VMFS_O_CREAT, VMFS_LOCK_EXCLUSIVE, &f);
	if (err)
		die("create", err);
	t = now();
	for (uint64_t off = 0; off < SEQ_BYTES; off += MIB)
		if (vmfs_write(f, off, buf, MIB) != (int64_t)MIB)
			die("vmfs write", -1);
	if ((err = vmfs_fsync(f)))
		die("fsync", err);
	double lib_write = now() - t;
	t = now();
	for (uint64_t off = 0; off < SEQ_BYTES; off += MIB)
		if (vmfs_read(f, off, buf, MIB) != (int64_t)MIB)
			die("vmfs read", -1);
	double lib_read = now() - t;
	vmfs_close(f);
	vmfs_unmount(vol);
	vmfs_posix_close(&dev);
	unlink(image);
	free(buf);

	char m[64];
	double mbs = SEQ_BYTES / MIB;
	snprintf(m, sizeof(m), "%.0f/%.0f MB/s", mbs / lib_write, mbs / raw_write);
	row("seq write 2 GiB (vmfs/host)", m, ">= 0.90", raw_write / lib_write, raw_write / lib_write >= 0.9);
	snprintf(m, sizeof(m), "%.0f/%.0f MB/s", mbs / lib_read, mbs / raw_read);
	row("seq read 2 GiB (vmfs/host)", m, ">= 0.90", raw_read / lib_read, raw_read / lib_read >= 0.9);
}

static void bench_clone(void)
{
	/* host: cp of a 4 GiB file that holds data */
	const char *src = path_in("clone-src.bin"), *dst = path_in("clone-dst.bin");
	char cmd[9000];
	snprintf(cmd, sizeof(cmd), "dd if=/dev/zero of='%s' bs=1M count=%llu status=none conv=fsync", src,
		 (unsigned long long)(CLONE_BYTES / MIB));
	if (system(cmd))
		die("dd", -1);
	snprintf(cmd, sizeof(cmd), "cp '%s' '%s' && sync '%s'", src, dst, dst);
	double t = now();
	if (system(cmd))
		die("cp", -1);
	double cp_time = now() - t;
	unlink(src);
	unlink(dst);

	struct vmfs_blockdev dev;
	const char *image = path_in("clone.img");
	struct vmfs_volume *vol = make_volume(image, CLONE_BYTES + 1024 * MIB, &dev);
	struct vmfs_file *f;
	int err = vmfs_open(vol, "/disk-flat.vmdk", VMFS_O_CREAT, VMFS_LOCK_EXCLUSIVE, &f);
	if (!err)
		err = vmfs_allocate(f, CLONE_BYTES, VMFS_ALLOC_THICK_LAZY);
	if (!err)
		err = vmfs_close(f);
	if (!err)
		err = vmfs_sync(vol);
	if (err)
		die("thick disk", err);
	t = now();
	err = vmfs_clone(vol, "/disk-flat.vmdk", "/clone-flat.vmdk");
	if (!err)
		err = vmfs_sync(vol);
	double clone_time = now() - t;
	if (err)
		die("clone", err);
	vmfs_unmount(vol);
	vmfs_posix_close(&dev);
	unlink(image);

	char m[64], target[32];
	snprintf(m, sizeof(m), "%.3f s", clone_time);
	snprintf(target, sizeof(target), "< 0.1 s");
	row("clone 4 GiB thick disk", m, target, clone_time / 0.1, clone_time < 0.1);
	snprintf(m, sizeof(m), "%.2f s", cp_time);
	printf("%-36s %14s   (clone is %.0fx faster)\n", "  cp of the same 4 GiB on the host", m, cp_time / clone_time);
}

/* One host round: creates (ending with syncfs), then lookups; seconds each. */
static void host_creates_round(double *create, double *lookup)
{
	char *hostdir = path_in("creates");
	char cmd[4300], name[4400];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", hostdir);
	if (system(cmd) || mkdir(hostdir, 0755))
		die("host directory", -1);
	double t = now();
	for (int i = 0; i < FILES; i++) {
		snprintf(name, sizeof(name), "%s/file-%05d.vmdk", hostdir, i);
		int fd = open(name, O_CREAT | O_EXCL | O_WRONLY, 0644);
		if (fd < 0)
			die("host create", -1);
		close(fd);
	}
	int dfd = open(hostdir, O_RDONLY | O_DIRECTORY);
	if (dfd < 0 || syncfs(dfd))
		die("syncfs", -1);
	close(dfd);
	*create = now() - t;
	t = now();
	for (int i = 0; i < FILES; i++) {
		struct stat st;
		snprintf(name, sizeof(name), "%s/file-%05d.vmdk", hostdir, (i * 7919) % FILES);
		if (stat(name, &st))
			die("host stat", -1);
	}
	*lookup = now() - t;
	if (system(cmd))
		die("rm", -1);
}

/* One library round on a fresh volume: creates (ending with vmfs_sync), lookups. */
static void lib_creates_round(double *create, double *lookup)
{
	char name[64];
	struct vmfs_blockdev dev;
	const char *image = path_in("creates.img");
	struct vmfs_volume *vol = make_volume(image, 16384 * MIB, &dev);
	int err = vmfs_mkdir(vol, "/vm");
	if (err)
		die("mkdir", err);
	double t = now();
	for (int i = 0; i < FILES && !err; i++) {
		struct vmfs_file *f;
		snprintf(name, sizeof(name), "/vm/file-%05d.vmdk", i);
		err = vmfs_open(vol, name, VMFS_O_CREAT | VMFS_O_EXCL, VMFS_LOCK_EXCLUSIVE, &f);
		if (!err)
			err = vmfs_close(f);
	}
	if (!err)
		err = vmfs_sync(vol);
	*create = now() - t;
	if (err)
		die("vmfs create", err);
	t = now();
	for (int i = 0; i < FILES && !err; i++) {
		struct vmfs_stat st;
		snprintf(name, sizeof(name), "/vm/file-%05d.vmdk", (i * 7919) % FILES);
		err = vmfs_stat(vol, name, &st);
	}
	*lookup = now() - t;
	if (err)
		die("vmfs stat", err);
	vmfs_unmount(vol);
	vmfs_posix_close(&dev);
	unlink(image);
}

static double median3(const double *v)
{
	double a = v[0], b = v[1], c = v[2];
	return a > b ? (b > c ? b : a > c ? c : a) : (a > c ? a : b > c ? c : b);
}

/* The host filesystem's create rate swings with its state (ext4 scans for
 * recently freed inodes, other I/O on the disk): three alternating rounds
 * of each side, the median of each compared. */
static void bench_creates(void)
{
	double hc[3], hl[3], lc[3], ll[3];
	for (int r = 0; r < 3; r++) {
		host_creates_round(&hc[r], &hl[r]);
		lib_creates_round(&lc[r], &ll[r]);
	}
	double host_create = median3(hc), host_lookup = median3(hl);
	double lib_create = median3(lc), lib_lookup = median3(ll);
	char m[64];
	snprintf(m, sizeof(m), "%.0f/%.0f /s", FILES / lib_create, FILES / host_create);
	row("10,000 creates, one dir (vmfs/host)", m, ">= 0.50", host_create / lib_create, host_create / lib_create >= 0.5);
	snprintf(m, sizeof(m), "%.0f/%.0f /s", FILES / lib_lookup, FILES / host_lookup);
	row("10,000 lookups, one dir (vmfs/host)", m, ">= 0.50", host_lookup / lib_lookup, host_lookup / lib_lookup >= 0.5);
}

static void bench_fsck(void)
{
	struct vmfs_blockdev dev;
	const char *image = path_in("fsck.img");
	struct vmfs_volume *vol = make_volume(image, 64ull << 30, &dev);
	static uint8_t data[70000];
	memset(data, 0x6b, sizeof(data));
	char name[64];
	int err = 0;
	for (int d = 0; d < 100 && !err; d++) {
		snprintf(name, sizeof(name), "/vm%02d", d);
		err = vmfs_mkdir(vol, name);
		for (int i = 0; i < FILES / 100 && !err; i++) {
			struct vmfs_file *f;
			snprintf(name, sizeof(name), "/vm%02d/f%03d", d, i);
			err = vmfs_open(vol, name, VMFS_O_CREAT, VMFS_LOCK_EXCLUSIVE, &f);
			size_t len = i % 2 ? 300 : sizeof(data); /* inline and block files */
			if (!err && vmfs_write(f, 0, data, len) != (int64_t)len)
				err = -VMFS_EIO;
			if (!err)
				err = vmfs_close(f);
		}
	}
	if (!err)
		err = vmfs_unmount(vol);
	vmfs_posix_close(&dev);
	if (err)
		die("filling the 64 GiB volume", err);
	struct vmfs_posix_dev_options dopt = { .direct = true, .read_only = true };
	if ((err = vmfs_posix_open(image, &dopt, &dev)))
		die("open image", err);
	struct vmfs_fsck_options fo = { .repair = false };
	struct vmfs_fsck_report report = { 0 };
	double t = now();
	int rc = vmfs_fsck(&os, &dev, &fo, &report);
	double fsck_time = now() - t;
	vmfs_posix_close(&dev);
	unlink(image);
	if (rc != VMFS_FSCK_CLEAN)
		fprintf(stderr, "bench_vmfs: fsck found %u errors (status %d)\n", report.errors_found, rc);
	char m[64];
	snprintf(m, sizeof(m), "%.2f s", fsck_time);
	row("fsck -n, 64 GiB, 10,000 files", m, "< 2 s", fsck_time / 2.0, fsck_time < 2.0 && rc == VMFS_FSCK_CLEAN);
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: %s WORKDIR\n", argv[0]);
		return 2;
	}
	snprintf(dir, sizeof(dir), "%s", argv[1]);
	vmfs_posix_os(&os, false);
	const char *only = getenv("BENCH_VMFS_ONLY");
	if (!only || strstr(only, "seq"))
		bench_sequential();
	if (!only || strstr(only, "clone"))
		bench_clone();
	if (!only || strstr(only, "creates"))
		bench_creates();
	if (!only || strstr(only, "fsck"))
		bench_fsck();
	return all_within ? 0 : 1;
}

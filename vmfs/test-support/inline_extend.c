/*
 * Minimal reproductions of library bugs the crash harness ran into, each a
 * PASS/FAIL line: a small (inline) file extended by a write past the inline
 * limit, with and without a truncate first and a clone of it, or grown by
 * truncate.
 */
#include <vmfs/vmfs.h>

#include "memdev.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define IMAGE_BYTES (32u << 20)

static int read_back(struct vmfs_volume *vol, const char *path, const uint8_t *expect, uint64_t size,
		     char *why, size_t why_len)
{
	struct vmfs_file *f;
	int err = vmfs_open(vol, path, 0, VMFS_LOCK_SHARED_RO, &f);
	if (err) {
		snprintf(why, why_len, "open %s: %s", path, vmfs_strerror(err));
		return -1;
	}
	uint8_t *buf = malloc(size + 1);
	int64_t n = vmfs_read(f, 0, buf, size);
	vmfs_close(f);
	uint64_t same = 0;
	while (same < size && buf[same] == expect[same])
		same++;
	free(buf);
	if (n != (int64_t)size || same != size) {
		snprintf(why, why_len, "%s reads back wrong from byte %llu (read %lld of %llu)", path,
			 (unsigned long long)same, (long long)n, (unsigned long long)size);
		return -1;
	}
	return 0;
}

/* Writes @size bytes, optionally clones, truncates to @cut, extends by @ext. */
static void scenario(const char *name, uint64_t size, uint64_t cut, uint64_t ext, int clone)
{
	struct vmfs_os os;
	vmfs_posix_os(&os, false);
	struct memdev md = { .data = calloc(1, IMAGE_BYTES), .size = IMAGE_BYTES };
	struct vmfs_blockdev dev;
	memdev_init(&md, &dev);
	struct vmfs_mkfs_options mk = { .block_size = 64 << 10, .journal_blocks = 64 };
	struct vmfs_mount_options mo = { 0 };
	struct vmfs_volume *vol;
	char why[256] = "";
	uint8_t *data = calloc(1, size + cut + ext), *orig = malloc(size + 1);
	for (uint64_t i = 0; i < size; i++)
		data[i] = orig[i] = (uint8_t)(i * 7 + 1);
	int bad = vmfs_mkfs(&os, &dev, &mk) || vmfs_mount(&os, &dev, &mo, &vol);
	if (bad) {
		printf("FAIL vmfs/crash/%s: mkfs or mount failed\n", name);
		return;
	}
	struct vmfs_file *f;
	bad = vmfs_open(vol, "/a", VMFS_O_CREAT, VMFS_LOCK_EXCLUSIVE, &f) || vmfs_write(f, 0, data, size) != (int64_t)size ||
	      vmfs_close(f);
	if (!bad && clone)
		bad = vmfs_clone(vol, "/a", "/b");
	if (!bad)
		bad = vmfs_open(vol, "/a", 0, VMFS_LOCK_EXCLUSIVE, &f);
	if (!bad) {
		memset(data + cut, 0x5a, ext);
		bad = (cut != size && vmfs_truncate(f, cut)) || vmfs_write(f, cut, data + cut, ext) != (int64_t)ext;
		bad |= vmfs_close(f);
	}
	if (bad)
		snprintf(why, sizeof(why), "an operation failed");
	if (!bad)
		bad = read_back(vol, "/a", data, cut + ext, why, sizeof(why));
	if (!bad && clone)
		bad = read_back(vol, "/b", orig, size, why, sizeof(why));
	vmfs_unmount(vol);
	struct vmfs_fsck_options fo = { .repair = false };
	struct vmfs_fsck_report report = { 0 };
	int rc = vmfs_fsck(&os, &dev, &fo, &report);
	if (!bad && rc != VMFS_FSCK_CLEAN) {
		snprintf(why, sizeof(why), "fsck status %d afterwards", rc);
		bad = 1;
	}
	if (bad)
		printf("FAIL vmfs/crash/%s: %s\n", name, why);
	else
		printf("PASS vmfs/crash/%s\n", name);
	free(md.data);
	free(data);
	free(orig);
}

int main(void)
{
	scenario("inline-truncate", 700, 350, 100, 0);
	scenario("inline-extend-one-block", 700, 700, 5000, 0);
	scenario("inline-extend-two-blocks", 2000, 2000, 70000, 0);
	scenario("inline-truncate-extend-cloned", 700, 350, 5000, 1);
	scenario("block-truncate-extend-cloned", 200000, 100000, 70000, 1);
	/* ftruncate up: the file grows past what the inode holds inline */
	scenario("inline-truncate-up", 700, 300000, 0, 0);
	scenario("inline-truncate-up-small", 700, 2000, 0, 0);
	return 0;
}

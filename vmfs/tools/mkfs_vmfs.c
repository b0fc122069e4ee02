/* mkfs.vmfs [--label L] [--block-size S] [--force] IMAGE_OR_DEVICE [SIZE] */
#define _GNU_SOURCE
#include "tool_common.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static void usage(void)
{
	fprintf(stderr, "usage: mkfs.vmfs [--label L] [--block-size S] [--force] IMAGE_OR_DEVICE [SIZE]\n"
			"  SIZE creates or resizes an image file (e.g. 64G); a device uses its whole size.\n"
			"  --block-size: data block size, a power of two from 64K to 64M (default 1M).\n"
			"  --force: overwrite an existing VMFS volume.\n");
}

int main(int argc, char **argv)
{
	tool_name = "mkfs.vmfs";
	const char *label = NULL, *image = NULL, *size_text = NULL;
	uint64_t block_size = 0;
	bool force = false;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--label") && i + 1 < argc) {
			label = argv[++i];
		} else if (!strcmp(argv[i], "--block-size") && i + 1 < argc) {
			if (!tool_parse_size(argv[++i], &block_size) || block_size > (64u << 20)) {
				tool_error("bad block size '%s'", argv[i]);
				return 1;
			}
		} else if (!strcmp(argv[i], "--force") || !strcmp(argv[i], "-f")) {
			force = true;
		} else if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
			usage();
			return 0;
		} else if (argv[i][0] == '-' && argv[i][1]) {
			tool_error("unknown option '%s'", argv[i]);
			usage();
			return 1;
		} else if (!image) {
			image = argv[i];
		} else if (!size_text) {
			size_text = argv[i];
		} else {
			tool_error("unexpected argument '%s'", argv[i]);
			usage();
			return 1;
		}
	}
	if (!image) {
		usage();
		return 1;
	}
	if (label && strlen(label) > 63) {
		tool_error("label '%s' is longer than 63 bytes", label);
		return 1;
	}
	uint64_t size = 0;
	if (size_text && !tool_parse_size(size_text, &size)) {
		tool_error("bad size '%s' (examples: 512M, 64G, 1T)", size_text);
		return 1;
	}
	struct stat st;
	bool exists = stat(image, &st) == 0;
	if (!exists && !size_text) {
		tool_error("'%s' does not exist; give a SIZE to create an image file", image);
		return 1;
	}
	if (exists && S_ISBLK(st.st_mode) == 0 && !S_ISREG(st.st_mode)) {
		tool_error("'%s' is neither a regular file nor a block device", image);
		return 1;
	}
	struct vmfs_os os;
	vmfs_posix_os(&os, false);
	struct vmfs_blockdev dev;
	if (exists && !force) {
		/* An existing volume is not destroyed by a slip of the keyboard. */
		struct vmfs_posix_dev_options ro = { .read_only = true };
		if (vmfs_posix_open(image, &ro, &dev) == 0) {
			struct vmfs_os quiet = os;
			quiet.log = NULL;
			struct vmfs_volume *vol;
			struct vmfs_mount_options mo = { .read_only = true };
			int err = vmfs_mount(&quiet, &dev, &mo, &vol);
			if (err == 0) {
				vmfs_unmount(vol);
				vmfs_posix_close(&dev);
				tool_error("'%s' already holds a VMFS volume; use --force to overwrite it", image);
				return 1;
			}
			vmfs_posix_close(&dev);
		}
	}
	if (size_text && exists && S_ISREG(st.st_mode) && truncate(image, (off_t)size) != 0) {
		tool_error("cannot resize '%s': %s", image, strerror(errno));
		return 1;
	}
	struct vmfs_posix_dev_options opts = { .create = !exists, .size_bytes = size };
	int err = vmfs_posix_open(image, &opts, &dev);
	if (err) {
		tool_error("cannot open '%s': %s", image, strerror(-err));
		return 1;
	}
	if (size_text && dev.size_bytes < size) {
		tool_error("device '%s' has %llu bytes, fewer than the %llu asked for", image,
			   (unsigned long long)dev.size_bytes, (unsigned long long)size);
		vmfs_posix_close(&dev);
		return 1;
	}
	if (size_text)
		dev.size_bytes = size & ~4095ull;
	struct vmfs_mkfs_options mo = { .label = label, .block_size = (uint32_t)block_size };
	err = vmfs_mkfs(&os, &dev, &mo);
	if (err) {
		tool_error("mkfs of '%s' failed: %s", image, vmfs_strerror(err));
		vmfs_posix_close(&dev);
		return 1;
	}
	printf("%s: VMFS volume '%s', %llu bytes, block size %llu\n", image, label ? label : "",
	       (unsigned long long)dev.size_bytes, (unsigned long long)(block_size ? block_size : 1u << 20));
	vmfs_posix_close(&dev);
	return 0;
}

/* fsck.vmfs [-n] [-y] [-f] IMAGE: exit codes as e2fsck's. */
#include "tool_common.h"

#include <stdio.h>
#include <string.h>

static void usage(void)
{
	fprintf(stderr, "usage: fsck.vmfs [-n] [-y] [-f] IMAGE\n"
			"  -n  check only, never write (the default)\n"
			"  -y  repair what can be repaired safely\n"
			"  -f  repair even though heartbeat slots say hosts are mounted (they must be dead)\n"
			"exit: 0 clean, 1 errors repaired, 4 errors left, 8 operational error\n");
}

int main(int argc, char **argv)
{
	tool_name = "fsck.vmfs";
	struct vmfs_fsck_options options = { 0 };
	const char *image = NULL;
	bool check_only = false;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "-n")) {
			check_only = true;
		} else if (!strcmp(argv[i], "-y") || !strcmp(argv[i], "-p")) {
			options.repair = true;
		} else if (!strcmp(argv[i], "-f")) {
			options.force = true;
		} else if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
			usage();
			return 0;
		} else if (argv[i][0] == '-') {
			tool_error("unknown option '%s'", argv[i]);
			usage();
			return 8;
		} else if (!image) {
			image = argv[i];
		} else {
			tool_error("unexpected argument '%s'", argv[i]);
			return 8;
		}
	}
	if (!image) {
		usage();
		return 8;
	}
	if (check_only && options.repair) {
		tool_error("-n and -y exclude each other");
		return 8;
	}
	struct vmfs_os os;
	vmfs_posix_os(&os, false);
	struct vmfs_blockdev dev;
	struct vmfs_posix_dev_options dev_options = { .read_only = !options.repair };
	int err = vmfs_posix_open(image, &dev_options, &dev);
	if (err) {
		tool_error("cannot open '%s': %s", image, strerror(-err));
		return 8;
	}
	struct vmfs_fsck_report report;
	int rc = vmfs_fsck(&os, &dev, &options, &report);
	vmfs_posix_close(&dev);
	switch (rc) {
	case VMFS_FSCK_CLEAN:
		printf("%s: clean, %llu inodes, %llu data blocks checked\n", image,
		       (unsigned long long)report.inodes_checked, (unsigned long long)report.blocks_checked);
		break;
	case VMFS_FSCK_REPAIRED:
		printf("%s: %u errors found, all repaired\n", image, report.errors_found);
		break;
	case VMFS_FSCK_ERRORS_LEFT:
		printf("%s: %u errors found, %u repaired, %u left%s\n", image, report.errors_found, report.errors_fixed,
		       report.errors_found - report.errors_fixed, options.repair ? "" : " (run fsck.vmfs -y to repair)");
		break;
	default:
		printf("%s: check could not be completed\n", image);
		break;
	}
	return rc;
}

/*
 * One VMFS host as a process, for the multi-host tests (test/vmfs/t-multihost).
 * Each process mounts the shared image file (O_DIRECT where the filesystem
 * allows it) with its own host uuid and short timing from the environment
 * (VMFS_HEARTBEAT_MS, VMFS_LEASE_MS, VMFS_LOCK_WAIT_MS).
 *
 *   mh_host IMAGE HOST create DIR COUNT   mkdir DIR, COUNT files written, read back
 *   mh_host IMAGE HOST counter PATH ITERS exclusive open; check the in-use mark
 *                                         is clear, set it, bump the counter,
 *                                         clear it, close; ITERS times
 *   mh_host IMAGE HOST hold PATH          take PATH exclusively, then every 20 ms
 *                                         write "HOST seq" records (and create a
 *                                         file in PATH.d) and print
 *                                         "wrote N" after each write landed;
 *                                         on a refused write print "fenced: ..."
 *   mh_host IMAGE HOST take PATH          open PATH exclusively (waits for the
 *                                         holder's lease), print the wait, write
 *                                         "HOST took" at 0 and the seq field, unmount
 *   mh_host IMAGE HOST dump PATH          print the record at offset 0
 * Exit status 0 on success, 1 on a failed check, 2 on a library error.
 */
#define _GNU_SOURCE
#include <vmfs/vmfs.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define RECORD 512

static struct vmfs_os os;
static struct vmfs_blockdev dev;
static struct vmfs_volume *vol;
static int host;

static uint32_t env_ms(const char *name)
{
	const char *v = getenv(name);
	return v ? (uint32_t)strtoul(v, NULL, 0) : 0;
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static void fail_on(int err, const char *what)
{
	if (err < 0) {
		printf("host %d: %s: %s\n", host, what, vmfs_strerror(err));
		fflush(stdout);
		exit(2);
	}
}

static void mount_image(const char *image)
{
	vmfs_posix_os(&os, false);
	struct vmfs_posix_dev_options dopt = { .direct = true };
	fail_on(vmfs_posix_open(image, &dopt, &dev), "open image");
	struct vmfs_mount_options mo = { 0 };
	mo.host_uuid[0] = 0x77;
	mo.host_uuid[15] = (uint8_t)host;
	char name[32];
	snprintf(name, sizeof(name), "mh-host-%d", host);
	mo.host_name = name;
	mo.heartbeat_ms = env_ms("VMFS_HEARTBEAT_MS");
	mo.lease_ms = env_ms("VMFS_LEASE_MS");
	mo.lock_wait_ms = env_ms("VMFS_LOCK_WAIT_MS");
	fail_on(vmfs_mount(&os, &dev, &mo, &vol), "mount");
}

static void unmount_image(void)
{
	fail_on(vmfs_unmount(vol), "unmount");
	vmfs_posix_close(&dev);
}

static int cmd_create(const char *dir, int count)
{
	char path[300];
	uint8_t buf[20000];
	fail_on(vmfs_mkdir(vol, dir), "mkdir");
	for (int i = 0; i < count; i++) {
		struct vmfs_file *f;
		size_t len = (size_t)(i * 397) % sizeof(buf);
		for (size_t k = 0; k < len; k++)
			buf[k] = (uint8_t)(k + (size_t)i + (size_t)host);
		snprintf(path, sizeof(path), "%s/file%d", dir, i);
		fail_on(vmfs_open(vol, path, VMFS_O_CREAT | VMFS_O_EXCL, VMFS_LOCK_EXCLUSIVE, &f), "create");
		if (vmfs_write(f, 0, buf, len) != (int64_t)len)
			fail_on(-VMFS_EIO, "write");
		fail_on(vmfs_close(f), "close");
		vmfs_heartbeat(vol);
	}
	for (int i = 0; i < count; i++) {
		struct vmfs_file *f;
		uint8_t got[20000];
		size_t len = (size_t)(i * 397) % sizeof(buf);
		snprintf(path, sizeof(path), "%s/file%d", dir, i);
		fail_on(vmfs_open(vol, path, 0, VMFS_LOCK_SHARED_RO, &f), "open");
		int64_t n = vmfs_read(f, 0, got, sizeof(got));
		vmfs_close(f);
		for (size_t k = 0; k < len; k++)
			if (n != (int64_t)len || got[k] != (uint8_t)(k + (size_t)i + (size_t)host)) {
				printf("host %d: %s reads back wrong\n", host, path);
				return 1;
			}
	}
	return 0;
}

/* The shared file: u64 counter at 0, u32 in-use mark (holder host + 1) at 8. */
static int cmd_counter(const char *path, int iters)
{
	int overlaps = 0;
	for (int i = 0; i < iters; i++) {
		struct vmfs_file *f;
		int err = vmfs_open(vol, path, VMFS_O_CREAT, VMFS_LOCK_EXCLUSIVE, &f);
		fail_on(err, "open exclusive");
		uint8_t rec[16] = { 0 };
		int64_t n = vmfs_read(f, 0, rec, sizeof(rec));
		uint64_t counter;
		uint32_t mark;
		memcpy(&counter, rec, 8);
		memcpy(&mark, rec + 8, 4);
		if (n == (int64_t)sizeof(rec) && mark != 0) {
			printf("host %d: found the in-use mark of host %u: two exclusive holders\n", host, mark - 1);
			overlaps++;
		}
		if (n < (int64_t)sizeof(rec))
			counter = 0;
		mark = (uint32_t)host + 1;
		memcpy(rec + 8, &mark, 4);
		memcpy(rec, &counter, 8);
		if (vmfs_write(f, 0, rec, sizeof(rec)) != (int64_t)sizeof(rec))
			fail_on(-VMFS_EIO, "write mark");
		usleep(2000);
		counter++;
		mark = 0;
		memcpy(rec, &counter, 8);
		memcpy(rec + 8, &mark, 4);
		if (vmfs_write(f, 0, rec, sizeof(rec)) != (int64_t)sizeof(rec))
			fail_on(-VMFS_EIO, "write counter");
		fail_on(vmfs_close(f), "close");
		vmfs_heartbeat(vol);
	}
	return overlaps ? 1 : 0;
}

static void record(char *rec, const char *what, long seq)
{
	memset(rec, ' ', RECORD);
	int n = snprintf(rec, RECORD, "host %d %s %ld", host, what, seq);
	rec[n] = ' ';
	rec[RECORD - 1] = '\n';
}

static int cmd_hold(const char *path)
{
	struct vmfs_file *f;
	fail_on(vmfs_open(vol, path, VMFS_O_CREAT, VMFS_LOCK_EXCLUSIVE, &f), "open exclusive");
	char rec[RECORD], meta[300];
	/* Metadata churn beside the data writes, so a kill finds journal
	 * transactions in flight. */
	snprintf(meta, sizeof(meta), "%s.d", path);
	fail_on(vmfs_mkdir(vol, meta), "mkdir");
	printf("holding\n");
	fflush(stdout);
	for (long seq = 1;; seq++) {
		record(rec, "seq", seq);
		int err = vmfs_heartbeat(vol);
		int64_t n = err ? err : vmfs_write(f, 0, rec, RECORD);
		if (n >= 0) {
			struct vmfs_file *m;
			snprintf(meta, sizeof(meta), "%s.d/f%ld", path, seq);
			n = vmfs_open(vol, meta, VMFS_O_CREAT, VMFS_LOCK_EXCLUSIVE, &m);
			if (n == 0) {
				n = vmfs_write(m, 0, rec, 100);
				vmfs_close(m);
			}
		}
		if (n < 0) {
			printf("fenced: write %ld refused: %s\n", seq, vmfs_strerror((int)n));
			fflush(stdout);
			return 0;
		}
		printf("wrote %ld\n", seq);
		fflush(stdout);
		usleep(20000);
	}
}

static int cmd_take(const char *path)
{
	struct vmfs_file *f;
	double start = now_s();
	fail_on(vmfs_open(vol, path, VMFS_O_CREAT, VMFS_LOCK_EXCLUSIVE, &f), "open exclusive");
	printf("took the lock after %.0f ms\n", (now_s() - start) * 1000);
	char rec[RECORD];
	record(rec, "took", 0);
	if (vmfs_write(f, 0, rec, RECORD) != RECORD)
		fail_on(-VMFS_EIO, "write");
	fail_on(vmfs_fsync(f), "fsync");
	/* Stay a while, heartbeating, so a resumed old holder meets a live owner. */
	double until = now_s() + env_ms("MH_TAKE_STAY_MS") / 1000.0;
	while (now_s() < until) {
		vmfs_heartbeat(vol);
		usleep(20000);
	}
	fail_on(vmfs_close(f), "close");
	return 0;
}

static int cmd_dump(const char *path)
{
	struct vmfs_file *f;
	char rec[RECORD + 1] = { 0 };
	fail_on(vmfs_open(vol, path, 0, VMFS_LOCK_SHARED_RO, &f), "open");
	int64_t n = vmfs_read(f, 0, rec, RECORD);
	vmfs_close(f);
	if (n > 0) {
		char *end = strchr(rec, ' ');
		end = end ? strchr(end + 1, ' ') : NULL;
		end = end ? strchr(end + 1, ' ') : NULL;
		end = end ? strchr(end + 1, ' ') : NULL;
		if (end)
			*end = 0;
	}
	printf("record: %s\n", n > 0 ? rec : "(empty)");
	return 0;
}

int main(int argc, char **argv)
{
	if (argc < 5) {
		fprintf(stderr, "usage: %s IMAGE HOST create|counter|hold|take|dump ARGS\n", argv[0]);
		return 2;
	}
	host = atoi(argv[2]);
	const char *cmd = argv[3];
	mount_image(argv[1]);
	int rc;
	if (strcmp(cmd, "create") == 0 && argc == 6)
		rc = cmd_create(argv[4], atoi(argv[5]));
	else if (strcmp(cmd, "counter") == 0 && argc == 6)
		rc = cmd_counter(argv[4], atoi(argv[5]));
	else if (strcmp(cmd, "hold") == 0)
		return cmd_hold(argv[4]);
	else if (strcmp(cmd, "take") == 0)
		rc = cmd_take(argv[4]);
	else if (strcmp(cmd, "dump") == 0)
		rc = cmd_dump(argv[4]);
	else {
		fprintf(stderr, "unknown command or arguments\n");
		return 2;
	}
	unmount_image();
	return rc;
}

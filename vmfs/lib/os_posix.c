/*
 * The VMFS OS interface for host processes (tools, tests, FUSE): a block
 * device over an image file or a block device, the POSIX clocks, malloc and
 * a process-wide mutex. Compare-and-write is emulated: a pthread mutex
 * orders the threads of this process and an fcntl write lock on the byte
 * range orders the processes sharing the file, so a read-compare-write is
 * atomic against every other host that uses this same emulation.
 */
#define _GNU_SOURCE
#include <vmfs/vmfs_os.h>

#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define POSIX_ALIGN 4096
#define POSIX_BOUNCE (1u << 20)

struct posix_dev {
	int fd;
	bool direct;
	pthread_mutex_t caw_mutex;
	pthread_mutex_t bounce_mutex;
	void *bounce;
};

static int neg_errno(void)
{
	return errno ? -errno : -VMFS_EIO;
}

static bool aligned(const void *buf, uint64_t offset, size_t len)
{
	return ((uintptr_t)buf % POSIX_ALIGN) == 0 && offset % 512 == 0 && len % 512 == 0;
}

static int full_pread(int fd, void *buf, size_t len, uint64_t offset)
{
	uint8_t *p = buf;
	while (len > 0) {
		ssize_t n = pread(fd, p, len, (off_t)offset);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return neg_errno();
		}
		if (n == 0) { /* past the end of a file: zeros */
			memset(p, 0, len);
			return 0;
		}
		p += n;
		len -= (size_t)n;
		offset += (uint64_t)n;
	}
	return 0;
}

static int full_pwrite(int fd, const void *buf, size_t len, uint64_t offset)
{
	const uint8_t *p = buf;
	while (len > 0) {
		ssize_t n = pwrite(fd, p, len, (off_t)offset);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return neg_errno();
		}
		p += n;
		len -= (size_t)n;
		offset += (uint64_t)n;
	}
	return 0;
}

/* O_DIRECT needs aligned memory: copy through the bounce buffer in chunks. */
static int posix_io(struct posix_dev *pd, uint64_t offset, void *buf, size_t len, bool write)
{
	if (!pd->direct || aligned(buf, offset, len))
		return write ? full_pwrite(pd->fd, buf, len, offset) : full_pread(pd->fd, buf, len, offset);
	int err = 0;
	pthread_mutex_lock(&pd->bounce_mutex);
	uint8_t *p = buf;
	while (len > 0 && err == 0) {
		size_t chunk = len < POSIX_BOUNCE ? len : POSIX_BOUNCE;
		if (write) {
			memcpy(pd->bounce, p, chunk);
			err = full_pwrite(pd->fd, pd->bounce, chunk, offset);
		} else {
			err = full_pread(pd->fd, pd->bounce, chunk, offset);
			if (err == 0)
				memcpy(p, pd->bounce, chunk);
		}
		p += chunk;
		len -= chunk;
		offset += chunk;
	}
	pthread_mutex_unlock(&pd->bounce_mutex);
	return err;
}

static int posix_read(void *ctx, uint64_t offset, void *buf, size_t len)
{
	return posix_io(ctx, offset, buf, len, false);
}

static int posix_write(void *ctx, uint64_t offset, const void *buf, size_t len)
{
	return posix_io(ctx, offset, (void *)buf, len, true);
}

static int posix_flush(void *ctx)
{
	struct posix_dev *pd = ctx;
	return fdatasync(pd->fd) == 0 ? 0 : neg_errno();
}

static int posix_write_fua(void *ctx, uint64_t offset, const void *buf, size_t len)
{
	int err = posix_write(ctx, offset, buf, len);
	return err ? err : posix_flush(ctx);
}

/* A process stopped (SIGSTOP) inside the critical section keeps its byte
 * lock until it resumes (SIGKILL frees it); real SCSI COMPARE AND WRITE has
 * no such window. So the wait is bounded: after CAW_WAIT_MS the caller gets
 * -VMFS_EBUSY and decides again instead of hanging. */
#define CAW_WAIT_MS 3000

static int range_lock(int fd, short type, uint64_t offset, size_t len)
{
	struct flock fl = { .l_type = type, .l_whence = SEEK_SET, .l_start = (off_t)offset, .l_len = (off_t)len };
	for (int waited = 0; fcntl(fd, F_SETLK, &fl) != 0; waited++) {
		if (errno == EINTR)
			continue;
		if ((errno != EAGAIN && errno != EACCES) || type == F_UNLCK)
			return neg_errno();
		if (waited >= CAW_WAIT_MS * 10)
			return -VMFS_EBUSY;
		struct timespec ts = { 0, 100000 };
		nanosleep(&ts, NULL);
	}
	return 0;
}

static int posix_compare_and_write(void *ctx, uint64_t offset, const void *expected,
				   const void *new_data, size_t len)
{
	struct posix_dev *pd = ctx;
	uint8_t current[4096] __attribute__((aligned(POSIX_ALIGN)));
	if (len > sizeof(current))
		return -VMFS_EINVAL;
	pthread_mutex_lock(&pd->caw_mutex);
	int err = range_lock(pd->fd, F_WRLCK, offset, len);
	if (err == 0) {
		err = posix_io(pd, offset, current, len, false);
		if (err == 0 && memcmp(current, expected, len) != 0)
			err = -VMFS_EMISCOMPARE;
		if (err == 0)
			err = posix_io(pd, offset, (void *)new_data, len, true);
		range_lock(pd->fd, F_UNLCK, offset, len);
	}
	pthread_mutex_unlock(&pd->caw_mutex);
	return err;
}

static int posix_unmap(void *ctx, uint64_t offset, uint64_t len)
{
	struct posix_dev *pd = ctx;
	if (fallocate(pd->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t)offset, (off_t)len) == 0)
		return 0;
	return -VMFS_EOPNOTSUPP;
}

int vmfs_posix_open(const char *path, const struct vmfs_posix_dev_options *options,
		    struct vmfs_blockdev *dev)
{
	static const struct vmfs_posix_dev_options no_options;
	if (!options)
		options = &no_options;
	int flags = options->read_only ? O_RDONLY : O_RDWR;
	if (options->create)
		flags |= O_CREAT;
	int fd = open(path, flags | O_CLOEXEC | (options->direct ? O_DIRECT : 0), 0644);
	bool direct = options->direct;
	if (fd < 0 && options->direct && errno == EINVAL) {
		/* tmpfs and some others refuse O_DIRECT; its page cache is shared anyway. */
		fd = open(path, flags | O_CLOEXEC, 0644);
		direct = false;
	}
	if (fd < 0)
		return neg_errno();
	struct stat st;
	if (fstat(fd, &st) != 0) {
		int err = neg_errno();
		close(fd);
		return err;
	}
	uint64_t size = (uint64_t)st.st_size;
	if (S_ISBLK(st.st_mode)) {
		if (ioctl(fd, BLKGETSIZE64, &size) != 0) {
			int err = neg_errno();
			close(fd);
			return err;
		}
	} else if (!S_ISREG(st.st_mode)) {
		close(fd);
		return -VMFS_EINVAL;
	} else if (options->create && options->size_bytes > size) {
		if (ftruncate(fd, (off_t)options->size_bytes) != 0) {
			int err = neg_errno();
			close(fd);
			return err;
		}
		size = options->size_bytes;
	}
	struct posix_dev *pd = calloc(1, sizeof(*pd));
	if (!pd || posix_memalign(&pd->bounce, POSIX_ALIGN, POSIX_BOUNCE) != 0) {
		free(pd);
		close(fd);
		return -VMFS_ENOMEM;
	}
	pd->fd = fd;
	pd->direct = direct;
	pthread_mutex_init(&pd->caw_mutex, NULL);
	pthread_mutex_init(&pd->bounce_mutex, NULL);
	*dev = (struct vmfs_blockdev){
		.ctx = pd,
		.size_bytes = size & ~(uint64_t)511,
		.read = posix_read,
		.write = posix_write,
		.write_fua = posix_write_fua,
		.flush = posix_flush,
		.compare_and_write = posix_compare_and_write,
		.unmap = posix_unmap,
	};
	return 0;
}

void vmfs_posix_close(struct vmfs_blockdev *dev)
{
	struct posix_dev *pd = dev->ctx;
	if (!pd)
		return;
	close(pd->fd);
	free(pd->bounce);
	pthread_mutex_destroy(&pd->caw_mutex);
	pthread_mutex_destroy(&pd->bounce_mutex);
	free(pd);
	dev->ctx = NULL;
}

static uint64_t clock_ns(clockid_t id)
{
	struct timespec ts;
	clock_gettime(id, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static uint64_t posix_now_ns(void *ctx)
{
	(void)ctx;
	return clock_ns(CLOCK_MONOTONIC);
}

static uint64_t posix_wall_ns(void *ctx)
{
	(void)ctx;
	return clock_ns(CLOCK_REALTIME);
}

static void posix_sleep_ns(void *ctx, uint64_t ns)
{
	(void)ctx;
	struct timespec ts = { .tv_sec = (time_t)(ns / 1000000000ull), .tv_nsec = (long)(ns % 1000000000ull) };
	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

static void *posix_alloc(void *ctx, size_t size)
{
	(void)ctx;
	void *p = NULL;
	return posix_memalign(&p, 16, size ? size : 1) == 0 ? p : NULL;
}

static void posix_free(void *ctx, void *ptr)
{
	(void)ctx;
	free(ptr);
}

static pthread_mutex_t posix_volume_mutex = PTHREAD_RECURSIVE_MUTEX_INITIALIZER_NP;

static void posix_mutex_lock(void *ctx)
{
	(void)ctx;
	pthread_mutex_lock(&posix_volume_mutex);
}

static void posix_mutex_unlock(void *ctx)
{
	(void)ctx;
	pthread_mutex_unlock(&posix_volume_mutex);
}

static void posix_log_quiet(void *ctx, enum vmfs_log_level level, const char *line)
{
	(void)ctx;
	if (level <= VMFS_LOG_WARN)
		fprintf(stderr, "vmfs: %s%s\n", level == VMFS_LOG_ERROR ? "error: " : "warning: ", line);
}

static void posix_log_verbose(void *ctx, enum vmfs_log_level level, const char *line)
{
	if (level <= VMFS_LOG_WARN)
		posix_log_quiet(ctx, level, line);
	else
		fprintf(stderr, "vmfs: %s\n", line);
}

void vmfs_posix_os(struct vmfs_os *os, bool verbose)
{
	*os = (struct vmfs_os){
		.now_ns = posix_now_ns,
		.wall_ns = posix_wall_ns,
		.sleep_ns = posix_sleep_ns,
		.alloc = posix_alloc,
		.free = posix_free,
		.mutex_lock = posix_mutex_lock,
		.mutex_unlock = posix_mutex_unlock,
		.log = verbose ? posix_log_verbose : posix_log_quiet,
	};
}

/*
 * What the VMFS library needs from the system it runs in: a block device,
 * a clock, memory, one mutex and a log. The library uses nothing else, so
 * the same code links into the vmkernel and into the host tools
 * (vmfs/lib/os_posix.c provides this interface over files and devices).
 */
#ifndef VMFS_VMFS_OS_H
#define VMFS_VMFS_OS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Error values are the negated Linux errno numbers, so a host tool can
 * hand them to strerror(); the library never includes <errno.h>. */
#define VMFS_EPERM 1
#define VMFS_ENOENT 2
#define VMFS_EIO 5
#define VMFS_ENOMEM 12
#define VMFS_EBUSY 16
#define VMFS_EEXIST 17
#define VMFS_EXDEV 18
#define VMFS_ENOTDIR 20
#define VMFS_EISDIR 21
#define VMFS_EINVAL 22
#define VMFS_EFBIG 27
#define VMFS_ENOSPC 28
#define VMFS_EROFS 30
#define VMFS_EMLINK 31
#define VMFS_ENAMETOOLONG 36
#define VMFS_ENOTEMPTY 39
#define VMFS_EBADMSG 74 /* damaged metadata (bad magic, address or CRC) */
#define VMFS_EOPNOTSUPP 95
#define VMFS_ESTALE 116 /* this host lost its heartbeat slot: fenced */
/* compare_and_write: the sector did not hold the expected bytes. */
#define VMFS_EMISCOMPARE 1000

/*
 * A block device. Offsets and lengths are multiples of 512 bytes. Every
 * function returns 0 or a negative VMFS_E* value.
 * @compare_and_write: atomically, against every other host sharing the
 *   device, writes @new_data over @len bytes at @offset if they hold
 *   @expected, else returns -VMFS_EMISCOMPARE and writes nothing. The
 *   library only uses len == 512. NULL: the library reads, compares and
 *   writes under its volume mutex, atomic among this host's users only
 *   (for a disk no other host shares).
 * @write_fua: the write is durable when it returns. NULL: write + flush.
 * @unmap: the range's contents no longer matter (called for data blocks
 *   once their free has committed). NULL: not supported.
 */
struct vmfs_blockdev {
	void *ctx;
	uint64_t size_bytes;
	int (*read)(void *ctx, uint64_t offset, void *buf, size_t len);
	int (*write)(void *ctx, uint64_t offset, const void *buf, size_t len);
	int (*write_fua)(void *ctx, uint64_t offset, const void *buf, size_t len);
	int (*flush)(void *ctx);
	int (*compare_and_write)(void *ctx, uint64_t offset, const void *expected,
				 const void *new_data, size_t len);
	int (*unmap)(void *ctx, uint64_t offset, uint64_t len);
};

enum vmfs_log_level {
	VMFS_LOG_ERROR,
	VMFS_LOG_WARN,
	VMFS_LOG_INFO,
	VMFS_LOG_DEBUG,
};

/*
 * The system. @now_ns is monotonic; @wall_ns is wall time (may return 0).
 * @alloc returns memory aligned to at least 16 bytes (NULL when out).
 * @mutex_lock/@mutex_unlock guard the whole volume (NULL: single-threaded
 * caller). @log receives one finished line without a newline.
 */
struct vmfs_os {
	void *ctx;
	uint64_t (*now_ns)(void *ctx);
	uint64_t (*wall_ns)(void *ctx);
	void (*sleep_ns)(void *ctx, uint64_t ns);
	void *(*alloc)(void *ctx, size_t size);
	void (*free)(void *ctx, void *ptr);
	void (*mutex_lock)(void *ctx);
	void (*mutex_unlock)(void *ctx);
	void (*log)(void *ctx, enum vmfs_log_level level, const char *line);
};

/* Host helpers (os_posix.c only; never in the vmkernel). */
struct vmfs_posix_dev_options {
	bool direct; /* O_DIRECT with aligned bounce buffers */
	bool read_only;
	bool create; /* create or extend the file to size_bytes */
	uint64_t size_bytes;
};
int vmfs_posix_open(const char *path, const struct vmfs_posix_dev_options *options,
		    struct vmfs_blockdev *dev);
void vmfs_posix_close(struct vmfs_blockdev *dev);
/* An OS interface for host processes; @verbose also logs INFO/DEBUG. */
void vmfs_posix_os(struct vmfs_os *os, bool verbose);

#endif

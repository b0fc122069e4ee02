/*
 * The VMFS library: Kapsel's cluster filesystem (format: vmfs/FORMAT.md).
 * Every function returns 0 (or a count) on success and a negative VMFS_E*
 * value on failure. Paths are absolute within the volume ("/dir/file"),
 * components up to 255 bytes. A volume handle is safe to share between
 * threads when the OS interface provides the mutex.
 */
#ifndef VMFS_VMFS_H
#define VMFS_VMFS_H

#include <vmfs/vmfs_os.h>

#define VMFS_NAME_MAX 255
#define VMFS_HOST_SLOTS 64
#define VMFS_LOCK_HOLDERS_MAX 32

/* Defaults of the timing mount options (real use; tests make them short). */
#define VMFS_DEFAULT_HEARTBEAT_MS 3000
#define VMFS_DEFAULT_LEASE_MS 16000
/* 64 MiB: the inodes and directory blocks of some 15,000 files. */
#define VMFS_DEFAULT_CACHE_BLOCKS 16384u

struct vmfs_volume;
struct vmfs_file;

struct vmfs_mkfs_options {
	const char *label;	       /* up to 63 bytes; NULL: empty */
	uint32_t block_size;	       /* data block; 0: 1 MiB; power of two 64 KiB..64 MiB */
	uint32_t journal_blocks;       /* per host, 4 KiB each; 0: automatic */
	uint32_t inodes_per_ag;	       /* 0: automatic */
	uint32_t dirblocks_per_ag;     /* 0: automatic */
	const uint8_t *uuid;	       /* 16 bytes; NULL: derived from the clock */
};

struct vmfs_mount_options {
	uint8_t host_uuid[16];	/* identifies this host's heartbeat slot */
	const char *host_name;	/* informational, in the heartbeat slot */
	uint32_t heartbeat_ms;	/* 0: VMFS_DEFAULT_HEARTBEAT_MS */
	uint32_t lease_ms;	/* 0: VMFS_DEFAULT_LEASE_MS; > 2 x heartbeat */
	uint32_t lock_wait_ms;	/* how long a busy lock is waited for; 0: lease + 2 x heartbeat
				 * (long enough to see a dead holder's lease run out) */
	bool read_only;		/* no heartbeat slot, no writes, no replay */
	uint32_t cache_blocks;	/* clean 4 KiB metadata blocks kept in memory; 0: VMFS_DEFAULT_CACHE_BLOCKS */
};

enum vmfs_lock_mode {
	VMFS_LOCK_EXCLUSIVE = 1,
	VMFS_LOCK_SHARED_RO = 2,
	VMFS_LOCK_MULTI_WRITER = 3,
};

/* Open flags. */
#define VMFS_O_CREAT 1
#define VMFS_O_EXCL 2
#define VMFS_O_TRUNC 4
/* Only if this host has the file open nowhere else (-VMFS_EBUSY otherwise):
 * a host may reopen its own locks, so a file one user holds could otherwise
 * be truncated by another user on the same host. */
#define VMFS_O_SOLE 8

enum vmfs_alloc_policy {
	VMFS_ALLOC_THIN = 0,	    /* blocks on first write */
	VMFS_ALLOC_THICK_LAZY = 1,  /* blocks now, zeroed on first write */
	VMFS_ALLOC_THICK_EAGER = 2, /* blocks now, zeroed now */
};

enum vmfs_kind {
	VMFS_KIND_FILE = 1,
	VMFS_KIND_DIR = 2,
};

struct vmfs_stat {
	uint32_t ino;
	enum vmfs_kind kind;
	uint32_t nlink;
	uint64_t size;
	uint64_t allocated_bytes;
	uint64_t mtime_ns;
	uint64_t ctime_ns;
	uint32_t shared_blocks;	/* blocks with a reference count > 1 */
	bool inline_data;
	bool thick;
	uint32_t extents;
};

struct vmfs_statfs {
	char label[64];
	uint8_t uuid[16];
	uint32_t block_size;
	uint64_t volume_bytes;
	uint64_t total_blocks;
	uint64_t free_blocks;
	uint64_t total_inodes;
	uint64_t free_inodes;
	uint32_t ag_count;
	uint32_t my_slot;	/* this host's heartbeat slot; -1u read-only */
};

struct vmfs_dirent {
	uint32_t ino;
	enum vmfs_kind kind;
	uint8_t name_len;
	char name[VMFS_NAME_MAX + 1];
};

/* One heartbeat slot, for the locks listing. */
struct vmfs_slot_info {
	uint32_t slot;
	uint32_t state;		/* 0 FREE, 1 LIVE, 2 RECOVERING */
	uint8_t host_uuid[16];
	char host_name[65];
	uint32_t generation;
	uint64_t counter;
	uint32_t lease_ms;
	uint32_t recovering_by;
};

/* One held lock record, for the locks listing. */
struct vmfs_lock_info {
	const char *what;	/* "volume", "ag", "inode" */
	uint64_t id;		/* AG index or inode number */
	uint64_t sector;	/* byte offset / 512 of the record */
	uint32_t mode;		/* enum vmfs_lock_mode */
	uint32_t holders;
	uint32_t holder_slot[VMFS_LOCK_HOLDERS_MAX];
	uint32_t holder_generation[VMFS_LOCK_HOLDERS_MAX];
	uint64_t lock_generation;
};

int vmfs_mkfs(const struct vmfs_os *os, struct vmfs_blockdev *dev,
	      const struct vmfs_mkfs_options *options);

int vmfs_mount(const struct vmfs_os *os, struct vmfs_blockdev *dev,
	       const struct vmfs_mount_options *options, struct vmfs_volume **out);
/* Commits, releases every lock, frees the heartbeat slot. Closes open files. */
int vmfs_unmount(struct vmfs_volume *vol);
/* Refreshes the heartbeat and commits when due; call every heartbeat interval. */
int vmfs_heartbeat(struct vmfs_volume *vol);
/* Commits the running transaction (all metadata) and flushes the device.
 * Other hosts see this host's changes from its commit on: vmfs_sync,
 * vmfs_fsync, or the commit vmfs_heartbeat makes every interval. */
int vmfs_sync(struct vmfs_volume *vol);
/* 0 while the heartbeat lease holds, -VMFS_ESTALE once fenced. */
int vmfs_lease_state(struct vmfs_volume *vol);

int vmfs_statfs(struct vmfs_volume *vol, struct vmfs_statfs *out);
int vmfs_stat(struct vmfs_volume *vol, const char *path, struct vmfs_stat *out);
int vmfs_mkdir(struct vmfs_volume *vol, const char *path);
int vmfs_rmdir(struct vmfs_volume *vol, const char *path);
int vmfs_unlink(struct vmfs_volume *vol, const char *path);
/* Replaces a regular-file target; a directory target must be empty. */
int vmfs_rename(struct vmfs_volume *vol, const char *from, const char *to);
/* Calls @fn for each entry (no "." or ".."); @fn returning non-zero stops.
 * @fn may call the library only when the OS mutex is recursive (posix). */
int vmfs_readdir(struct vmfs_volume *vol, const char *path,
		 int (*fn)(void *arg, const struct vmfs_dirent *entry), void *arg);
/* A new file sharing every data block of @src (copy on write later). */
int vmfs_clone(struct vmfs_volume *vol, const char *src, const char *dst);

/* Opens a regular file and takes its on-disk lock in @mode: EXCLUSIVE
 * (read, write, truncate, allocate), SHARED_RO (read; up to 32 hosts) or
 * MULTI_WRITER (reads and in-place writes of allocated, zeroed, unshared
 * blocks by up to 32 hosts; no size or allocation change; writes that
 * do not cover whole 512-byte sectors are read-modify-write, so hosts
 * sharing a sector must write it whole). -VMFS_EBUSY
 * when another host holds it incompatibly past lock_wait_ms. */
int vmfs_open(struct vmfs_volume *vol, const char *path, int flags,
	      enum vmfs_lock_mode mode, struct vmfs_file **out);
int vmfs_close(struct vmfs_file *file);
/* Return the number of bytes read/written (short only at end of file). */
int64_t vmfs_read(struct vmfs_file *file, uint64_t offset, void *buf, size_t len);
int64_t vmfs_write(struct vmfs_file *file, uint64_t offset, const void *buf, size_t len);
int vmfs_truncate(struct vmfs_file *file, uint64_t size);
/* Sets the size to at least @size and backs [0, size) per @policy. */
int vmfs_allocate(struct vmfs_file *file, uint64_t size, enum vmfs_alloc_policy policy);
int vmfs_fsync(struct vmfs_file *file);
int vmfs_fstat(struct vmfs_file *file, struct vmfs_stat *out);

/* Heartbeat slots (all 64) and the lock records currently held. */
int vmfs_locks(struct vmfs_volume *vol,
	       int (*slot_fn)(void *arg, const struct vmfs_slot_info *slot),
	       int (*lock_fn)(void *arg, const struct vmfs_lock_info *lock), void *arg);

/* fsck result codes, as e2fsck's. */
#define VMFS_FSCK_CLEAN 0
#define VMFS_FSCK_REPAIRED 1
#define VMFS_FSCK_ERRORS_LEFT 4
#define VMFS_FSCK_OPERATIONAL 8

struct vmfs_fsck_options {
	bool repair;		/* false: never writes (fsck -n) */
	bool force;		/* repair even though heartbeat slots are LIVE */
};

struct vmfs_fsck_report {
	uint32_t errors_found;
	uint32_t errors_fixed;
	uint64_t inodes_checked;
	uint64_t blocks_checked;
};

/* Checks every invariant; each problem is logged (ERROR) with its address. */
int vmfs_fsck(const struct vmfs_os *os, struct vmfs_blockdev *dev,
	      const struct vmfs_fsck_options *options, struct vmfs_fsck_report *report);

const char *vmfs_strerror(int err);

#endif

/*
 * VMFS library internals: the on-disk structures of FORMAT.md as C
 * structures (little-endian hosts only; sizes and offsets checked below),
 * the mounted-volume state and the helpers shared by the library's files.
 */
#ifndef VMFS_INTERNAL_H
#define VMFS_INTERNAL_H

#include <vmfs/vmfs.h>

#include <stdarg.h>
#include <string.h>

#define MB_SIZE 4096u
#define SECTOR 512u
#define MB_MAGIC 0x424d564bu
#define HB_MAGIC 0x3142484bu
#define LOCK_MAGIC 0x4b434c4bu
#define FORMAT_VERSION 1u
/* inodes_per_ag above 1024: the inode bitmap runs past byte 704 of the AG
 * header, where version-1 readers without this flag expect zeros. */
#define INCOMPAT_LARGE_INODE_TABLE 1u
#define INCOMPAT_KNOWN INCOMPAT_LARGE_INODE_TABLE
#define RO_COMPAT_KNOWN 0u

enum mb_type {
	MB_SUPER = 1,
	MB_AGHDR = 2,
	MB_REFCOUNT = 3,
	MB_INODE = 4,
	MB_DIR = 5,
	MB_EXTLEAF = 6,
	MB_JHDR = 7,
	MB_JDESC = 8,
	MB_JCOMMIT = 9,
	MB_TYPE_MAX = 9,
};

#define HB_START 2u
#define VOLUME_LOCK_MB 10u
#define JOURNAL_START 11u
#define JOURNAL_MIN 32u
#define JOURNAL_TXN_MAX 504u
#define REFCOUNTS_PER_BLOCK 1016u
#define REFCOUNT_BLOCKS_MAX 8u
#define INODES_PER_AG_MAX 3584u
#define INODES_PER_AG_SMALL_MAX 1024u /* without INCOMPAT_LARGE_INODE_TABLE */
#define DIRBLOCKS_PER_AG_MAX 16384u
#define INLINE_BYTES 3456u
#define INLINE_EXTENTS 216u
#define LEAF_EXTENTS 253u
#define DIR_BUCKETS 256u
#define ROOT_INO 1u
#define BLOCK_SIZE_MIN (64u * 1024u)
#define BLOCK_SIZE_MAX (64u * 1024u * 1024u)

struct mb_header {
	uint32_t magic;
	uint16_t type;
	uint16_t flags;
	uint64_t addr;
	uint64_t generation;
	uint32_t owner;
	uint32_t crc;
};

struct disk_super {
	struct mb_header h;
	uint32_t version;
	uint32_t feature_compat;
	uint32_t feature_incompat;
	uint32_t feature_ro_compat;
	uint8_t uuid[16];
	char label[64];
	uint64_t volume_bytes;
	uint32_t block_size;
	uint32_t hb_slots;
	uint64_t hb_start;
	uint64_t volume_lock;
	uint64_t journal_start;
	uint32_t journal_blocks;
	uint32_t ag_count;
	uint64_t ag_start;
	uint64_t ag_bytes;
	uint32_t inodes_per_ag;
	uint32_t dirblocks_per_ag;
	uint32_t data_blocks_per_ag;
	uint32_t ag_meta_dblocks;
	uint32_t root_ino;
	uint32_t refcount_blocks;
	uint64_t created_ns;
};

enum hb_state { HB_FREE = 0, HB_LIVE = 1, HB_RECOVERING = 2 };

struct disk_hb {
	uint32_t magic;
	uint32_t state;
	uint8_t uuid[16];
	uint32_t generation;
	uint32_t lease_ms;
	uint64_t counter;
	uint32_t recovering_by;
	char host_name[64];
	uint8_t zero[400];
	uint32_t crc;
};

enum lock_mode { LOCK_FREE = 0 };

struct lock_holder {
	uint32_t slot;
	uint32_t generation;
};

struct disk_lock {
	uint32_t magic;
	uint32_t mode;
	uint32_t owner_slot;
	uint32_t owner_generation;
	uint64_t lock_generation;
	uint32_t holder_count;
	uint32_t last_writer_slot;
	struct lock_holder holders[VMFS_LOCK_HOLDERS_MAX];
	uint32_t last_writer_generation;
	uint8_t zero[216];
	uint32_t crc;
};

struct disk_extent {
	uint32_t logical;
	uint32_t count;
	uint32_t physical;
	uint32_t flags;
};
#define EXTENT_UNWRITTEN 1u

struct disk_index {
	uint32_t logical;
	uint32_t reserved;
	uint64_t leaf;
};

enum inode_flags {
	INODE_INLINE = 1,
	INODE_INDEXED = 2,
	INODE_THICK_EAGER = 4,
	INODE_THICK_LAZY = 8,
};

/* The whole 4 KiB inode block; sector 0 is the lock record. */
struct disk_inode {
	uint8_t lock_sector[SECTOR];
	struct mb_header h;
	uint32_t ino;
	uint16_t kind;
	uint16_t flags;
	uint32_t nlink;
	uint32_t parent;
	uint64_t size;
	uint64_t mtime_ns;
	uint64_t ctime_ns;
	uint64_t allocated_blocks;
	uint32_t entries;
	uint8_t zero[44];
	union {
		uint8_t data[INLINE_BYTES];
		struct disk_extent extents[INLINE_EXTENTS];
		struct disk_index index[INLINE_EXTENTS];
		uint64_t buckets[DIR_BUCKETS];
	} u;
};

struct disk_aghdr {
	uint8_t lock_sector[SECTOR];
	struct mb_header h;
	uint32_t ag;
	uint32_t free_data;
	uint32_t free_inodes;
	uint32_t free_dirblocks;
	uint32_t data_blocks;
	uint8_t zero[12];
	uint8_t inode_bitmap[INODES_PER_AG_MAX / 8];
	uint8_t dirblock_bitmap[DIRBLOCKS_PER_AG_MAX / 8];
	uint8_t zero3[1024];
};

struct disk_refcount {
	struct mb_header h;
	uint32_t count[REFCOUNTS_PER_BLOCK];
};

struct disk_leaf {
	struct mb_header h;
	uint32_t count;
	uint8_t zero[12];
	struct disk_extent extents[LEAF_EXTENTS];
};

#define DIR_DATA_OFF 48u
#define DIR_DATA_BYTES (MB_SIZE - DIR_DATA_OFF)
struct disk_dir {
	struct mb_header h;
	uint64_t next;
	uint32_t used;
	uint32_t zero;
	uint8_t data[DIR_DATA_BYTES];
};

struct disk_dirent {
	uint32_t ino;
	uint16_t rec_len;
	uint8_t name_len;
	uint8_t kind;
	/* name follows */
};

struct disk_jhdr {
	struct mb_header h;
	uint32_t slot;
	uint32_t zero;
	uint64_t checkpoint_seq;
};

struct disk_jdesc {
	struct mb_header h;
	uint64_t seq;
	uint32_t count;
	uint8_t zero[20];
	uint64_t home[JOURNAL_TXN_MAX];
};

struct disk_jcommit {
	struct mb_header h;
	uint64_t seq;
	uint32_t count;
	uint32_t images_crc;
};

_Static_assert(sizeof(struct mb_header) == 32, "header");
_Static_assert(sizeof(struct disk_super) == 224, "super");
_Static_assert(sizeof(struct disk_hb) == SECTOR, "heartbeat slot");
_Static_assert(sizeof(struct disk_lock) == SECTOR, "lock record");
_Static_assert(__builtin_offsetof(struct disk_lock, last_writer_generation) == 288, "lock");
_Static_assert(sizeof(struct disk_inode) == MB_SIZE, "inode");
_Static_assert(__builtin_offsetof(struct disk_inode, ino) == 544, "inode");
_Static_assert(__builtin_offsetof(struct disk_inode, u) == 640, "inode");
_Static_assert(sizeof(struct disk_aghdr) == MB_SIZE, "ag header");
_Static_assert(__builtin_offsetof(struct disk_aghdr, inode_bitmap) == 576, "ag header");
_Static_assert(__builtin_offsetof(struct disk_aghdr, dirblock_bitmap) == 1024, "ag header");
_Static_assert(sizeof(struct disk_refcount) == MB_SIZE, "refcount");
_Static_assert(sizeof(struct disk_leaf) == MB_SIZE, "leaf");
_Static_assert(sizeof(struct disk_dir) == MB_SIZE, "dir");
_Static_assert(sizeof(struct disk_jdesc) == MB_SIZE, "jdesc");

/* A cached metadata block. Dirty blocks stay until the commit. */
struct mblock {
	struct mblock *hash_next;
	uint64_t addr;
	uint16_t type;
	bool stale;	       /* read again before use: another host may have changed it */
	bool dirty;
	bool in_op;	       /* an undo copy for the running operation exists */
	uint8_t *undo;	       /* content before the running operation */
	bool was_dirty;	       /* dirty before the running operation */
	union {
		uint8_t bytes[MB_SIZE];
		struct mb_header h;
		struct disk_super super;
		struct disk_inode inode;
		struct disk_aghdr ag;
		struct disk_refcount refcount;
		struct disk_leaf leaf;
		struct disk_dir dir;
	} d __attribute__((aligned(16)));
};

#define CACHE_BUCKETS 4096u
#define CACHE_BLOCKS_MIN 256u

enum held_kind {
	HELD_TXN = 1,  /* released after the next commit */
	HELD_OPEN = 2, /* counted opens */
};

struct held_lock {
	uint64_t sector;
	uint32_t mode;
	uint32_t opens;
	bool txn;
	bool used_by_op;
	bool claimed_new;	/* the on-disk record may still be vmfs_lock_claim_new's */
};

/* Locks held at once: a transaction of creates holds one per new file. */
#define HELD_MAX 4096u
#define HELD_HASH 8192u

struct slot_watch {
	uint32_t generation;
	uint64_t counter;
	uint64_t since_ns;
	bool valid;
};

struct vmfs_file {
	struct vmfs_volume *vol;
	struct vmfs_file *next;
	uint32_t ino;
	enum vmfs_lock_mode mode;
	bool open;
};

struct vmfs_volume {
	struct vmfs_os os;
	struct vmfs_blockdev *dev;
	struct disk_super sb;
	bool read_only;
	bool fenced;
	bool broken;		/* a commit failed half-way: only unmount is left */
	uint32_t heartbeat_ms;
	uint32_t lease_ms;
	uint32_t lock_wait_ms;
	char host_name[64];
	uint8_t host_uuid[16];

	uint32_t slot;		/* -1u: read-only mount */
	uint32_t crashed_generation; /* our slot's generation before a crash, else 0 */
	struct disk_hb slot_image;
	uint64_t last_refresh_ns;
	/* No other host had a slot at our last heartbeat: reads without a lock
	 * may use the cache (a host that joins is seen within one interval). */
	bool alone;
	uint32_t seen_generation[VMFS_HOST_SLOTS]; /* other slots at our last heartbeat */
	bool data_dirty;	/* file data written since the last commit's first flush */
	struct slot_watch watch[VMFS_HOST_SLOTS];

	struct mblock *cache[CACHE_BUCKETS];
	struct mblock *dirty[JOURNAL_TXN_MAX];
	uint32_t dirty_count;
	uint32_t clean_count;
	uint32_t cache_max;	/* clean blocks kept; more are evicted between operations */
	uint32_t evict_bucket;	/* where the next eviction starts: spreads it over the cache */
	uint32_t api_depth;	/* namespace calls in progress (readdir callbacks nest) */
	uint32_t txn_capacity;
	uint64_t seq;		/* last committed transaction */
	uint64_t last_commit_ns;

	bool in_op;
	bool op_paused;		/* an operation commits while waiting for a lock */
	struct mblock **op_blocks;
	uint32_t op_block_count;
	uint32_t op_block_cap;

	struct held_lock held[HELD_MAX];
	uint32_t held_count;
	uint16_t held_index[HELD_HASH]; /* sector hash -> held index + 1 */
	uint32_t alloc_ag;	/* the AG this host allocates from first */
	struct vmfs_file *files;
	/* Data blocks freed in the running transaction: not reused before it
	 * commits, or a crash could leave a file pointing at another's data. */
	uint32_t *freed;
	uint32_t freed_count;
	uint8_t *zero_block;	/* block_size zeros */
	uint8_t *bounce;	/* block_size, for copy-on-write and zeroing */
};

/* util.c */
uint32_t vmfs_crc32c(uint32_t crc, const void *buf, size_t len);
void vmfs_logf(const struct vmfs_os *os, enum vmfs_log_level level, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
int vmfs_vformat(char *out, size_t size, const char *fmt, va_list ap);
int vmfs_format(char *out, size_t size, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
void *vmfs_zalloc(const struct vmfs_os *os, size_t size);
bool vmfs_bit_test(const uint8_t *map, uint32_t bit);
void vmfs_bit_set(uint8_t *map, uint32_t bit, bool value);
uint32_t vmfs_name_hash(const char *name, size_t len);

/* layout.c */
uint32_t vmfs_header_offset(enum mb_type type);
void vmfs_mb_seal(void *block, enum mb_type type, uint64_t addr, uint64_t generation);
int vmfs_mb_check(const struct vmfs_os *os, const void *block, enum mb_type type, uint64_t addr);
int vmfs_super_check(const struct vmfs_os *os, const struct disk_super *sb, uint64_t dev_bytes);
uint64_t vmfs_ag_mblock(const struct disk_super *sb, uint32_t ag);
uint64_t vmfs_inode_mblock(const struct disk_super *sb, uint32_t ino);
uint64_t vmfs_dirblock_mblock(const struct disk_super *sb, uint32_t ag, uint32_t index);
uint32_t vmfs_ag_first_dblock(const struct disk_super *sb, uint32_t ag);
uint32_t vmfs_ag_data_blocks(const struct disk_super *sb, uint32_t ag);
/* Locates data block @dblock: 0 and its AG and index, or -EINVAL. */
int vmfs_dblock_locate(const struct disk_super *sb, uint32_t dblock, uint32_t *ag, uint32_t *index);
/* Locates small metadata block @mblock: 0 and its AG and index, or -EINVAL. */
int vmfs_dirblock_locate(const struct disk_super *sb, uint64_t mblock, uint32_t *ag, uint32_t *index);
bool vmfs_ino_valid(const struct disk_super *sb, uint32_t ino);
void vmfs_lock_seal(struct disk_lock *lock);
bool vmfs_lock_valid(const struct disk_lock *lock);
void vmfs_hb_seal(struct disk_hb *hb);
bool vmfs_hb_valid(const struct disk_hb *hb);
int vmfs_read_super(const struct vmfs_os *os, struct vmfs_blockdev *dev, struct disk_super *sb);

/* mount.c */
int vmfs_mkfs_geometry(const struct vmfs_os *os, uint64_t bytes, const struct vmfs_mkfs_options *o,
		       struct disk_super *sb);

/* cache.c: metadata blocks, operations and the journal */
int vmfs_dev_write(struct vmfs_volume *vol, uint64_t offset, const void *buf, size_t len);
int vmfs_writable(struct vmfs_volume *vol);
int vmfs_mb_get(struct vmfs_volume *vol, uint64_t addr, enum mb_type type, struct mblock **out);
int vmfs_mb_get_fresh(struct vmfs_volume *vol, uint64_t addr, enum mb_type type, struct mblock **out);
int vmfs_mb_new(struct vmfs_volume *vol, uint64_t addr, enum mb_type type, uint32_t owner,
		struct mblock **out);
int vmfs_mb_dirty(struct vmfs_volume *vol, struct mblock *mb);
bool vmfs_mb_is_dirty(struct vmfs_volume *vol, uint64_t addr);
void vmfs_cache_drop_clean(struct vmfs_volume *vol);
/* Between operations: evicts clean blocks down to 3/4 of the cache size. */
void vmfs_cache_trim(struct vmfs_volume *vol);
void vmfs_cache_free(struct vmfs_volume *vol);
int vmfs_op_begin(struct vmfs_volume *vol, uint32_t blocks_needed);
int vmfs_op_end(struct vmfs_volume *vol, int result);
int vmfs_commit(struct vmfs_volume *vol);
int vmfs_journal_seq(const struct vmfs_os *os, struct vmfs_blockdev *dev, const struct disk_super *sb,
		     uint32_t slot, uint64_t *seq);
int vmfs_journal_check(const struct vmfs_os *os, struct vmfs_blockdev *dev, const struct disk_super *sb,
		       uint32_t slot, bool dry_run, bool *found);
int vmfs_journal_replay(const struct vmfs_os *os, struct vmfs_blockdev *dev,
			const struct disk_super *sb, uint32_t slot, bool *replayed);

/* locks.c: heartbeat and on-disk locks */
int vmfs_hb_claim(struct vmfs_volume *vol);
int vmfs_hb_refresh(struct vmfs_volume *vol, bool force);
int vmfs_hb_release(struct vmfs_volume *vol);
int vmfs_lock_acquire(struct vmfs_volume *vol, uint64_t sector, uint32_t mode, bool txn);
int vmfs_lock_release(struct vmfs_volume *vol, uint64_t sector, bool open_ref);
int vmfs_lock_claim_new(struct vmfs_volume *vol, uint64_t sector);
void vmfs_release_txn_locks(struct vmfs_volume *vol);
struct held_lock *vmfs_lock_held(struct vmfs_volume *vol, uint64_t sector);
int vmfs_read_sector_checked(struct vmfs_volume *vol, uint64_t sector, void *buf, bool is_lock);
uint64_t vmfs_inode_lock_sector(const struct disk_super *sb, uint32_t ino);
uint64_t vmfs_ag_lock_sector(const struct disk_super *sb, uint32_t ag);
int vmfs_locks_drop_holder(struct vmfs_volume *vol, uint32_t slot, uint32_t generation);
/* Called with the volume mutex held, so atomic within this host only. */
int vmfs_emulated_caw(struct vmfs_blockdev *dev, uint64_t offset, const void *expected, const void *new_data);

/* alloc.c */
int vmfs_alloc_inode(struct vmfs_volume *vol, uint32_t *ino);
int vmfs_free_inode(struct vmfs_volume *vol, uint32_t ino);
int vmfs_alloc_dirblock(struct vmfs_volume *vol, uint32_t owner, enum mb_type type, struct mblock **out);
int vmfs_free_dirblock(struct vmfs_volume *vol, uint64_t mblock);
int vmfs_alloc_data(struct vmfs_volume *vol, uint32_t want, uint32_t *first, uint32_t *got);
int vmfs_refcount_add(struct vmfs_volume *vol, uint32_t dblock, int delta, uint32_t *now);
int vmfs_refcount_get(struct vmfs_volume *vol, uint32_t dblock, uint32_t *count);

#define FREED_MAX 4096u
/* Internal: the allocation needs the running transaction committed first. */
#define VMFS_EAGAIN_COMMIT 1001
bool vmfs_freed_contains(struct vmfs_volume *vol, uint32_t dblock);

/* inode.c: inodes and their extent maps */
struct extent_map {
	struct disk_extent *e;
	uint32_t count;
	uint32_t cap;
};
int vmfs_inode_get(struct vmfs_volume *vol, uint32_t ino, struct mblock **out);
int vmfs_inode_read(struct vmfs_volume *vol, uint32_t ino, struct mblock **out);
int vmfs_map_load(struct vmfs_volume *vol, struct mblock *inode, struct extent_map *map);
int vmfs_map_store(struct vmfs_volume *vol, struct mblock *inode, struct extent_map *map);
void vmfs_map_free(struct vmfs_volume *vol, struct extent_map *map);
/* Finds logical block @lblock: true and its extent index, or false. */
bool vmfs_map_find(const struct extent_map *map, uint32_t lblock, uint32_t *index);
int vmfs_map_set(struct vmfs_volume *vol, struct extent_map *map, uint32_t lblock, uint32_t count,
		 uint32_t physical, uint32_t flags);
int vmfs_map_punch(struct vmfs_volume *vol, struct extent_map *map, uint32_t lblock, uint32_t count);
int vmfs_inode_free_blocks(struct vmfs_volume *vol, struct mblock *inode, uint64_t from_lblock);

/* dir.c */
int vmfs_path_lookup(struct vmfs_volume *vol, const char *path, uint32_t *ino);
/* Splits @path into its parent directory (looked up) and last name. */
int vmfs_path_parent(struct vmfs_volume *vol, const char *path, uint32_t *parent,
		     const char **name, size_t *name_len);
int vmfs_dir_find(struct vmfs_volume *vol, struct mblock *dir, const char *name, size_t len,
		  uint32_t *ino, uint8_t *kind);
int vmfs_dir_add(struct vmfs_volume *vol, struct mblock *dir, const char *name, size_t len,
		 uint32_t ino, uint8_t kind);
int vmfs_dir_remove(struct vmfs_volume *vol, struct mblock *dir, const char *name, size_t len);
int vmfs_name_check(const char *name, size_t len);

static inline uint64_t vmfs_min_u64(uint64_t a, uint64_t b)
{
	return a < b ? a : b;
}

#define VMFS_ERR(vol, ...) vmfs_logf(&(vol)->os, VMFS_LOG_ERROR, __VA_ARGS__)

#endif

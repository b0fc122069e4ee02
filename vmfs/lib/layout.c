/* Where everything is (FORMAT.md "Volume layout"), and block validation. */
#include "internal.h"

uint32_t vmfs_header_offset(enum mb_type type)
{
	return (type == MB_INODE || type == MB_AGHDR) ? SECTOR : 0;
}

static uint32_t mb_crc(const uint8_t *block, uint32_t off)
{
	struct mb_header h;
	memcpy(&h, block + off, sizeof(h));
	h.crc = 0;
	uint32_t crc = vmfs_crc32c(0, &h, sizeof(h));
	return vmfs_crc32c(crc, block + off + sizeof(h), MB_SIZE - off - sizeof(h));
}

void vmfs_mb_seal(void *block, enum mb_type type, uint64_t addr, uint64_t generation)
{
	uint8_t *b = block;
	uint32_t off = vmfs_header_offset(type);
	struct mb_header *h = (struct mb_header *)(b + off);
	h->magic = MB_MAGIC;
	h->type = (uint16_t)type;
	h->flags = 0;
	h->addr = addr;
	h->generation = generation;
	h->crc = mb_crc(b, off);
}

static const char *const mb_type_names[] = {
	"?", "superblock", "AG header", "refcount block", "inode", "directory block",
	"extent leaf", "journal header", "journal descriptor", "journal commit",
};

static const char *type_name(uint32_t type)
{
	return type <= MB_TYPE_MAX ? mb_type_names[type] : "?";
}

int vmfs_mb_check(const struct vmfs_os *os, const void *block, enum mb_type type, uint64_t addr)
{
	const uint8_t *b = block;
	uint32_t off = vmfs_header_offset(type);
	const struct mb_header *h = (const struct mb_header *)(b + off);
	const char *why = NULL;
	if (h->magic != MB_MAGIC)
		why = "bad magic";
	else if (h->type != type)
		why = "wrong block type";
	else if (h->addr != addr)
		why = "wrong own address";
	else if (h->crc != mb_crc(b, off))
		why = "bad checksum";
	if (!why)
		return 0;
	if (os)
		vmfs_logf(os, VMFS_LOG_ERROR, "damaged %s at block %llu (byte offset %llu): %s",
			  type_name(type), (unsigned long long)addr, (unsigned long long)(addr * MB_SIZE), why);
	return -VMFS_EBADMSG;
}

uint64_t vmfs_ag_mblock(const struct disk_super *sb, uint32_t ag)
{
	return sb->ag_start + (uint64_t)ag * (sb->ag_bytes / MB_SIZE);
}

uint64_t vmfs_inode_mblock(const struct disk_super *sb, uint32_t ino)
{
	return vmfs_ag_mblock(sb, ino / sb->inodes_per_ag) + 1 + sb->refcount_blocks + ino % sb->inodes_per_ag;
}

uint64_t vmfs_dirblock_mblock(const struct disk_super *sb, uint32_t ag, uint32_t index)
{
	return vmfs_ag_mblock(sb, ag) + 1 + sb->refcount_blocks + sb->inodes_per_ag + index;
}

uint32_t vmfs_ag_first_dblock(const struct disk_super *sb, uint32_t ag)
{
	return (uint32_t)(vmfs_ag_mblock(sb, ag) * MB_SIZE / sb->block_size) + sb->ag_meta_dblocks;
}

static uint64_t data_end_bytes(const struct disk_super *sb)
{
	/* The last mblock is the backup superblock. */
	return (sb->volume_bytes - MB_SIZE) / sb->block_size * sb->block_size;
}

uint32_t vmfs_ag_data_blocks(const struct disk_super *sb, uint32_t ag)
{
	uint64_t first = (uint64_t)vmfs_ag_first_dblock(sb, ag) * sb->block_size;
	uint64_t end = data_end_bytes(sb);
	if (first >= end)
		return 0;
	return (uint32_t)vmfs_min_u64(sb->data_blocks_per_ag, (end - first) / sb->block_size);
}

int vmfs_dblock_locate(const struct disk_super *sb, uint32_t dblock, uint32_t *ag, uint32_t *index)
{
	uint64_t start = sb->ag_start * MB_SIZE / sb->block_size;
	if (dblock < start)
		return -VMFS_EINVAL;
	uint64_t per_ag = sb->ag_bytes / sb->block_size;
	uint64_t a = (dblock - start) / per_ag;
	uint64_t within = (dblock - start) % per_ag;
	if (a >= sb->ag_count || within < sb->ag_meta_dblocks)
		return -VMFS_EINVAL;
	if (within - sb->ag_meta_dblocks >= vmfs_ag_data_blocks(sb, (uint32_t)a))
		return -VMFS_EINVAL;
	*ag = (uint32_t)a;
	*index = (uint32_t)(within - sb->ag_meta_dblocks);
	return 0;
}

int vmfs_dirblock_locate(const struct disk_super *sb, uint64_t mblock, uint32_t *ag, uint32_t *index)
{
	if (mblock < sb->ag_start)
		return -VMFS_EINVAL;
	uint64_t per_ag = sb->ag_bytes / MB_SIZE;
	uint64_t a = (mblock - sb->ag_start) / per_ag;
	uint64_t within = (mblock - sb->ag_start) % per_ag;
	uint64_t first = 1 + (uint64_t)sb->refcount_blocks + sb->inodes_per_ag;
	if (a >= sb->ag_count || within < first || within >= first + sb->dirblocks_per_ag)
		return -VMFS_EINVAL;
	*ag = (uint32_t)a;
	*index = (uint32_t)(within - first);
	return 0;
}

bool vmfs_ino_valid(const struct disk_super *sb, uint32_t ino)
{
	return ino % sb->inodes_per_ag != 0 && ino / sb->inodes_per_ag < sb->ag_count;
}

void vmfs_lock_seal(struct disk_lock *lock)
{
	lock->magic = LOCK_MAGIC;
	lock->crc = vmfs_crc32c(0, lock, SECTOR - 4);
}

bool vmfs_lock_valid(const struct disk_lock *lock)
{
	if (lock->magic != LOCK_MAGIC || lock->crc != vmfs_crc32c(0, lock, SECTOR - 4))
		return false;
	if (lock->mode > VMFS_LOCK_MULTI_WRITER || lock->holder_count > VMFS_LOCK_HOLDERS_MAX)
		return false;
	if (lock->mode == LOCK_FREE && lock->holder_count != 0)
		return false;
	if (lock->mode == VMFS_LOCK_EXCLUSIVE && lock->holder_count != 1)
		return false;
	for (uint32_t i = 0; i < lock->holder_count; i++)
		if (lock->holders[i].slot >= VMFS_HOST_SLOTS)
			return false;
	return true;
}

void vmfs_hb_seal(struct disk_hb *hb)
{
	hb->magic = HB_MAGIC;
	hb->crc = vmfs_crc32c(0, hb, SECTOR - 4);
}

bool vmfs_hb_valid(const struct disk_hb *hb)
{
	return hb->magic == HB_MAGIC && hb->crc == vmfs_crc32c(0, hb, SECTOR - 4) &&
	       hb->state <= HB_RECOVERING && hb->recovering_by < VMFS_HOST_SLOTS;
}

static bool power_of_two(uint32_t v)
{
	return v && (v & (v - 1)) == 0;
}

#define SUPER_BAD(why)                                                                   \
	do {                                                                             \
		if (os)                                                                  \
			vmfs_logf(os, VMFS_LOG_ERROR, "superblock: %s", why);            \
		return -VMFS_EBADMSG;                                                    \
	} while (0)

int vmfs_super_check(const struct vmfs_os *os, const struct disk_super *sb, uint64_t dev_bytes)
{
	if (sb->version != FORMAT_VERSION)
		SUPER_BAD("unknown format version");
	if (sb->feature_incompat & ~INCOMPAT_KNOWN) {
		if (os)
			vmfs_logf(os, VMFS_LOG_ERROR,
				  "volume uses unknown incompatible features 0x%x: refused (newer format?)",
				  sb->feature_incompat & ~INCOMPAT_KNOWN);
		return -VMFS_EOPNOTSUPP;
	}
	if (!power_of_two(sb->block_size) || sb->block_size < BLOCK_SIZE_MIN || sb->block_size > BLOCK_SIZE_MAX)
		SUPER_BAD("bad block size");
	if (sb->hb_slots != VMFS_HOST_SLOTS || sb->hb_start != HB_START || sb->volume_lock != VOLUME_LOCK_MB ||
	    sb->journal_start != JOURNAL_START)
		SUPER_BAD("bad system area layout");
	if (sb->journal_blocks < JOURNAL_MIN || sb->journal_blocks > (1u << 20))
		SUPER_BAD("bad journal size");
	if (sb->inodes_per_ag < 8 || sb->inodes_per_ag > INODES_PER_AG_MAX || sb->inodes_per_ag % 8)
		SUPER_BAD("bad inodes per AG");
	if (sb->inodes_per_ag > INODES_PER_AG_SMALL_MAX && !(sb->feature_incompat & INCOMPAT_LARGE_INODE_TABLE))
		SUPER_BAD("more than 1024 inodes per AG without the large inode table feature");
	if (sb->dirblocks_per_ag < 8 || sb->dirblocks_per_ag > DIRBLOCKS_PER_AG_MAX || sb->dirblocks_per_ag % 8)
		SUPER_BAD("bad directory blocks per AG");
	if (sb->data_blocks_per_ag < 1 || sb->data_blocks_per_ag > REFCOUNTS_PER_BLOCK * REFCOUNT_BLOCKS_MAX ||
	    sb->refcount_blocks != (sb->data_blocks_per_ag + REFCOUNTS_PER_BLOCK - 1) / REFCOUNTS_PER_BLOCK)
		SUPER_BAD("bad data blocks per AG");
	uint64_t meta_bytes = (1ull + sb->refcount_blocks + sb->inodes_per_ag + sb->dirblocks_per_ag) * MB_SIZE;
	if (sb->ag_meta_dblocks != (meta_bytes + sb->block_size - 1) / sb->block_size)
		SUPER_BAD("bad AG metadata size");
	if (sb->ag_bytes != ((uint64_t)sb->ag_meta_dblocks + sb->data_blocks_per_ag) * sb->block_size)
		SUPER_BAD("bad AG size");
	uint64_t journal_end = JOURNAL_START + (uint64_t)VMFS_HOST_SLOTS * sb->journal_blocks;
	if (sb->ag_start < journal_end || (sb->ag_start * MB_SIZE) % sb->block_size)
		SUPER_BAD("bad AG start");
	if (sb->volume_bytes > dev_bytes)
		SUPER_BAD("volume larger than the device (truncated image?)");
	if (sb->volume_bytes / sb->block_size >= (1ull << 32))
		SUPER_BAD("volume too large for its block size");
	if (sb->ag_count == 0 || (uint64_t)sb->ag_count * sb->inodes_per_ag >= (1ull << 32))
		SUPER_BAD("bad AG count");
	if (sb->volume_bytes < sb->ag_start * MB_SIZE + sb->ag_bytes * (sb->ag_count - 1))
		SUPER_BAD("AG count past the end of the volume");
	if (vmfs_ag_data_blocks(sb, sb->ag_count - 1) == 0)
		SUPER_BAD("last AG has no data blocks");
	if (sb->root_ino != ROOT_INO)
		SUPER_BAD("bad root inode number");
	return 0;
}

int vmfs_read_super(const struct vmfs_os *os, struct vmfs_blockdev *dev, struct disk_super *sb)
{
	if (dev->size_bytes < 3 * MB_SIZE) {
		vmfs_logf(os, VMFS_LOG_ERROR, "device of %llu bytes is too small to hold a VMFS volume",
			  (unsigned long long)dev->size_bytes);
		return -VMFS_EINVAL;
	}
	uint64_t candidates[3] = { 0, 1, dev->size_bytes / MB_SIZE - 1 };
	uint8_t *buf = os->alloc(os->ctx, MB_SIZE);
	if (!buf)
		return -VMFS_ENOMEM;
	int err = -VMFS_EBADMSG;
	for (int i = 0; i < 3; i++) {
		int rc = dev->read(dev->ctx, candidates[i] * MB_SIZE, buf, MB_SIZE);
		if (rc) {
			os->free(os->ctx, buf);
			return rc;
		}
		if (i == 0 && ((struct mb_header *)buf)->magic != MB_MAGIC) {
			vmfs_logf(os, VMFS_LOG_WARN, "no VMFS superblock magic at block 0; trying the backups");
		}
		if (vmfs_mb_check(i == 0 ? os : NULL, buf, MB_SUPER, candidates[i]))
			continue;
		memcpy(sb, buf, sizeof(*sb));
		err = vmfs_super_check(os, sb, dev->size_bytes);
		if (err == -VMFS_EOPNOTSUPP || err == 0) {
			if (err == 0 && i > 0)
				vmfs_logf(os, VMFS_LOG_WARN, "primary superblock damaged: using the copy at block %llu",
					  (unsigned long long)candidates[i]);
			os->free(os->ctx, buf);
			return err;
		}
	}
	os->free(os->ctx, buf);
	vmfs_logf(os, VMFS_LOG_ERROR, "no valid VMFS superblock (blocks 0, 1 and %llu): not a VMFS volume or damaged",
		  (unsigned long long)candidates[2]);
	return err;
}

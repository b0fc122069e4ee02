/*
 * Metadata blocks in memory, operations and the per-host journal.
 *
 * Every change to metadata happens inside an operation (vmfs_op_begin ..
 * vmfs_op_end): the first time an operation dirties a block its old content
 * is kept, so a failing operation (no space, busy lock, damaged block) is
 * rolled back whole. Completed operations accumulate in the running
 * transaction, which vmfs_commit() writes through the journal (FORMAT.md
 * "Per-host journal"); dirty blocks never reach their home before that.
 */
#include "internal.h"

static int mb_mark_dirty(struct vmfs_volume *vol, struct mblock *mb);

static uint32_t cache_bucket(uint64_t addr)
{
	return (uint32_t)((addr * 0x9e3779b97f4a7c15ull) >> 52) % CACHE_BUCKETS;
}

static struct mblock *cache_lookup(struct vmfs_volume *vol, uint64_t addr)
{
	for (struct mblock *mb = vol->cache[cache_bucket(addr)]; mb; mb = mb->hash_next)
		if (mb->addr == addr)
			return mb;
	return NULL;
}

static void cache_unlink(struct vmfs_volume *vol, struct mblock *mb)
{
	struct mblock **pp = &vol->cache[cache_bucket(mb->addr)];
	while (*pp && *pp != mb)
		pp = &(*pp)->hash_next;
	if (*pp)
		*pp = mb->hash_next;
}

static struct mblock *cache_add(struct vmfs_volume *vol, uint64_t addr)
{
	struct mblock *mb = vol->os.alloc(vol->os.ctx, sizeof(*mb));
	if (!mb)
		return NULL;
	memset(mb, 0, offsetof(struct mblock, d));
	mb->addr = addr;
	uint32_t b = cache_bucket(addr);
	mb->hash_next = vol->cache[b];
	vol->cache[b] = mb;
	vol->clean_count++;
	return mb;
}

/* Forgets every clean block. Inside an operation, whose code may hold
 * pointers to blocks, they are only marked stale and read again on use. */
void vmfs_cache_drop_clean(struct vmfs_volume *vol)
{
	if (vol->in_op || vol->op_paused) {
		for (uint32_t b = 0; b < CACHE_BUCKETS; b++)
			for (struct mblock *mb = vol->cache[b]; mb; mb = mb->hash_next)
				if (!mb->dirty && !mb->in_op)
					mb->stale = true;
		return;
	}
	for (uint32_t b = 0; b < CACHE_BUCKETS; b++) {
		struct mblock **pp = &vol->cache[b];
		while (*pp) {
			struct mblock *mb = *pp;
			if (!mb->dirty && !mb->in_op) {
				*pp = mb->hash_next;
				vol->os.free(vol->os.ctx, mb);
			} else {
				pp = &mb->hash_next;
			}
		}
	}
	vol->clean_count = 0;
}

void vmfs_cache_trim(struct vmfs_volume *vol)
{
	uint32_t max = vol->cache_max ? vol->cache_max : VMFS_DEFAULT_CACHE_BLOCKS;
	if (vol->clean_count <= max || vol->in_op || vol->op_paused)
		return;
	/* Down to 3/4, not just under the limit: a trim then pays for many
	 * operations. Whole buckets from a rotating start stand in for LRU. */
	uint32_t target = max / 4 * 3;
	for (uint32_t n = 0; n < CACHE_BUCKETS && vol->clean_count > target; n++) {
		uint32_t b = vol->evict_bucket;
		vol->evict_bucket = (b + 1) % CACHE_BUCKETS;
		struct mblock **pp = &vol->cache[b];
		while (*pp) {
			struct mblock *mb = *pp;
			if (!mb->dirty && !mb->in_op) {
				*pp = mb->hash_next;
				vol->os.free(vol->os.ctx, mb);
				vol->clean_count--;
			} else {
				pp = &mb->hash_next;
			}
		}
	}
}

void vmfs_cache_free(struct vmfs_volume *vol)
{
	for (uint32_t b = 0; b < CACHE_BUCKETS; b++) {
		while (vol->cache[b]) {
			struct mblock *mb = vol->cache[b];
			vol->cache[b] = mb->hash_next;
			if (mb->undo)
				vol->os.free(vol->os.ctx, mb->undo);
			vol->os.free(vol->os.ctx, mb);
		}
	}
	vol->dirty_count = 0;
	vol->clean_count = 0;
}

int vmfs_writable(struct vmfs_volume *vol)
{
	if (vol->read_only)
		return -VMFS_EROFS;
	if (vol->broken)
		return -VMFS_EIO;
	if (vol->fenced)
		return -VMFS_ESTALE;
	/* The holder stops one heartbeat interval before its lease ends: a
	 * margin for clock drift and the write in flight after this check
	 * against an observer timing the same lease (vmfs/model). */
	uint64_t now = vol->os.now_ns(vol->os.ctx);
	if (now - vol->last_refresh_ns > (uint64_t)(vol->lease_ms - vol->heartbeat_ms) * 1000000ull) {
		vol->fenced = true;
		VMFS_ERR(vol, "heartbeat lease of slot %u expired (%llu ms since the last refresh): no more writes",
			 vol->slot, (unsigned long long)((now - vol->last_refresh_ns) / 1000000ull));
		return -VMFS_ESTALE;
	}
	return 0;
}

int vmfs_dev_write(struct vmfs_volume *vol, uint64_t offset, const void *buf, size_t len)
{
	int err = vmfs_writable(vol);
	return err ? err : vol->dev->write(vol->dev->ctx, offset, buf, len);
}

static int dev_write_fua(struct vmfs_blockdev *dev, uint64_t offset, const void *buf, size_t len)
{
	if (dev->write_fua)
		return dev->write_fua(dev->ctx, offset, buf, len);
	int err = dev->write(dev->ctx, offset, buf, len);
	return err ? err : dev->flush(dev->ctx);
}

static int mb_read(struct vmfs_volume *vol, struct mblock *mb, enum mb_type type)
{
	int err = vol->dev->read(vol->dev->ctx, mb->addr * MB_SIZE, mb->d.bytes, MB_SIZE);
	if (err)
		return err;
	return vmfs_mb_check(&vol->os, mb->d.bytes, type, mb->addr);
}

static int mb_get(struct vmfs_volume *vol, uint64_t addr, enum mb_type type, bool fresh,
		  struct mblock **out)
{
	if (addr >= vol->sb.volume_bytes / MB_SIZE) {
		VMFS_ERR(vol, "reference to block %llu past the end of the volume", (unsigned long long)addr);
		return -VMFS_EBADMSG;
	}
	struct mblock *mb = cache_lookup(vol, addr);
	if (mb) {
		if ((fresh || mb->stale) && !mb->dirty && !mb->in_op) {
			/* Another host's home write may be caught half-way: read again. */
			int err = 0;
			mb->type = (uint16_t)type;
			for (int attempt = 0; attempt < 3; attempt++) {
				err = mb_read(vol, mb, type);
				if (err != -VMFS_EBADMSG || !fresh)
					break;
				vol->os.sleep_ns(vol->os.ctx, 2000000);
			}
			mb->stale = err != 0; /* kept: the caller may hold a pointer to it */
			if (err)
				return err;
		}
		const struct mb_header *h = (const void *)(mb->d.bytes + vmfs_header_offset(type));
		if (h->type != type) {
			VMFS_ERR(vol, "block %llu is a type %u block, expected type %u", (unsigned long long)addr,
				 h->type, type);
			return -VMFS_EBADMSG;
		}
		*out = mb;
		return 0;
	}
	mb = cache_add(vol, addr);
	if (!mb)
		return -VMFS_ENOMEM;
	mb->type = (uint16_t)type;
	int err = mb_read(vol, mb, type);
	if (err) {
		cache_unlink(vol, mb);
		vol->clean_count--;
		vol->os.free(vol->os.ctx, mb);
		return err;
	}
	*out = mb;
	return 0;
}

int vmfs_mb_get(struct vmfs_volume *vol, uint64_t addr, enum mb_type type, struct mblock **out)
{
	return mb_get(vol, addr, type, false, out);
}

int vmfs_mb_get_fresh(struct vmfs_volume *vol, uint64_t addr, enum mb_type type, struct mblock **out)
{
	return mb_get(vol, addr, type, true, out);
}

/* Which lock protects a block (FORMAT.md "What the locks protect"). */
static uint64_t protecting_lock(struct vmfs_volume *vol, uint16_t type, uint64_t addr, uint32_t owner)
{
	uint32_t ag, index;
	switch (type) {
	case MB_INODE:
	case MB_AGHDR:
		return addr * (MB_SIZE / SECTOR);
	case MB_REFCOUNT:
		return vmfs_ag_lock_sector(&vol->sb, (uint32_t)((addr - vol->sb.ag_start) / (vol->sb.ag_bytes / MB_SIZE)));
	case MB_DIR:
	case MB_EXTLEAF:
		if (vmfs_dirblock_locate(&vol->sb, addr, &ag, &index) || !vmfs_ino_valid(&vol->sb, owner))
			return 0;
		return vmfs_inode_lock_sector(&vol->sb, owner);
	default:
		return 0;
	}
}

/* Every write path holds the lock of what it changes: checked here. */
static int check_locked(struct vmfs_volume *vol, uint16_t type, uint64_t addr, uint32_t owner)
{
	uint64_t lock = protecting_lock(vol, type, addr, owner);
	struct held_lock *held = lock ? vmfs_lock_held(vol, lock) : NULL;
	if (held && held->mode == VMFS_LOCK_EXCLUSIVE)
		return 0;
	VMFS_ERR(vol, "internal error: change of block %llu (type %u) without its lock", (unsigned long long)addr, type);
	return -VMFS_EIO;
}

int vmfs_mb_dirty(struct vmfs_volume *vol, struct mblock *mb)
{
	int err = check_locked(vol, mb->type, mb->addr, ((const struct mb_header *)(mb->d.bytes + vmfs_header_offset(mb->type)))->owner);
	return err ? err : mb_mark_dirty(vol, mb);
}

static int mb_mark_dirty(struct vmfs_volume *vol, struct mblock *mb)
{
	int err = vmfs_writable(vol);
	if (err)
		return err;
	if (!vol->in_op)
		return -VMFS_EINVAL;
	if (!mb->in_op) {
		if (vol->op_block_count == vol->op_block_cap) {
			uint32_t cap = vol->op_block_cap ? vol->op_block_cap * 2 : 64;
			struct mblock **n = vol->os.alloc(vol->os.ctx, cap * sizeof(*n));
			if (!n)
				return -VMFS_ENOMEM;
			if (vol->op_blocks) {
				memcpy(n, vol->op_blocks, vol->op_block_count * sizeof(*n));
				vol->os.free(vol->os.ctx, vol->op_blocks);
			}
			vol->op_blocks = n;
			vol->op_block_cap = cap;
		}
		mb->undo = vol->os.alloc(vol->os.ctx, MB_SIZE);
		if (!mb->undo)
			return -VMFS_ENOMEM;
		memcpy(mb->undo, mb->d.bytes, MB_SIZE);
		mb->was_dirty = mb->dirty;
		mb->in_op = true;
		vol->op_blocks[vol->op_block_count++] = mb;
	}
	mb->stale = false; /* read under the lock that protects it; now authoritative */
	if (!mb->dirty) {
		if (vol->dirty_count == JOURNAL_TXN_MAX || vol->dirty_count >= vol->txn_capacity)
			return -VMFS_EFBIG; /* the transaction is full: callers commit and retry, or fail */
		mb->dirty = true;
		vol->dirty[vol->dirty_count++] = mb;
		vol->clean_count--;
	}
	return 0;
}

int vmfs_mb_new(struct vmfs_volume *vol, uint64_t addr, enum mb_type type, uint32_t owner,
		struct mblock **out)
{
	struct mblock *mb = cache_lookup(vol, addr);
	bool created = false;
	if (!mb) {
		mb = cache_add(vol, addr);
		if (!mb)
			return -VMFS_ENOMEM;
		created = true;
	}
	int err = check_locked(vol, (uint16_t)type, addr, owner);
	if (!err)
		err = mb_mark_dirty(vol, mb);
	if (err) {
		if (created) {
			cache_unlink(vol, mb);
			vol->clean_count--;
			vol->os.free(vol->os.ctx, mb);
		}
		return err;
	}
	if (created) {
		/* Nothing to restore: a rollback forgets the block. */
		vol->os.free(vol->os.ctx, mb->undo);
		mb->undo = NULL;
	}
	mb->type = (uint16_t)type;
	uint32_t off = vmfs_header_offset(type);
	memset(mb->d.bytes + off, 0, MB_SIZE - off);
	struct mb_header *h = (struct mb_header *)(mb->d.bytes + off);
	h->magic = MB_MAGIC;
	h->type = (uint16_t)type;
	h->addr = addr;
	h->owner = owner;
	*out = mb;
	return 0;
}

bool vmfs_mb_is_dirty(struct vmfs_volume *vol, uint64_t addr)
{
	struct mblock *mb = cache_lookup(vol, addr);
	return mb && (mb->dirty || mb->in_op);
}

static void dirty_remove(struct vmfs_volume *vol, struct mblock *mb)
{
	for (uint32_t i = 0; i < vol->dirty_count; i++) {
		if (vol->dirty[i] == mb) {
			vol->dirty[i] = vol->dirty[--vol->dirty_count];
			return;
		}
	}
}

int vmfs_op_begin(struct vmfs_volume *vol, uint32_t blocks_needed)
{
	int err = vmfs_hb_refresh(vol, false);
	if (err)
		return err;
	err = vmfs_writable(vol);
	if (err)
		return err;
	if (vol->dirty_count + blocks_needed > vol->txn_capacity || vol->freed_count > FREED_MAX / 2) {
		err = vmfs_commit(vol);
		if (err)
			return err;
	}
	vmfs_cache_trim(vol);
	vol->in_op = true;
	vol->op_block_count = 0;
	return 0;
}

int vmfs_op_end(struct vmfs_volume *vol, int result)
{
	for (uint32_t i = 0; i < vol->op_block_count; i++) {
		struct mblock *mb = vol->op_blocks[i];
		if (result < 0) {
			if (!mb->undo) {
				dirty_remove(vol, mb);
				cache_unlink(vol, mb);
				vol->os.free(vol->os.ctx, mb);
				continue;
			}
			memcpy(mb->d.bytes, mb->undo, MB_SIZE);
			if (!mb->was_dirty && mb->dirty) {
				dirty_remove(vol, mb);
				mb->dirty = false;
				vol->clean_count++;
			}
		}
		if (mb->undo)
			vol->os.free(vol->os.ctx, mb->undo);
		mb->undo = NULL;
		mb->in_op = false;
	}
	vol->op_block_count = 0;
	vol->in_op = false;
	for (uint32_t i = 0; i < vol->held_count; i++)
		vol->held[i].used_by_op = false;
	if (vol->dirty_count == 0)
		vmfs_release_txn_locks(vol); /* nothing to commit: let other hosts in */
	uint64_t now = vol->os.now_ns(vol->os.ctx);
	if (result >= 0 && now - vol->last_commit_ns > (uint64_t)vol->heartbeat_ms * 1000000ull) {
		int err = vmfs_commit(vol);
		if (err)
			return err;
	}
	return result;
}

static uint64_t journal_mblock(const struct disk_super *sb, uint32_t slot)
{
	return sb->journal_start + (uint64_t)slot * sb->journal_blocks;
}

/* Writes each image home; lock-bearing blocks leave their lock sector alone. */
static int write_home(struct vmfs_blockdev *dev, const uint8_t *image, uint64_t addr,
		      int (*write)(void *ctx, struct vmfs_blockdev *dev, uint64_t off, const void *b, size_t len),
		      void *ctx)
{
	const struct mb_header *h = (const void *)image;
	uint32_t off = h->magic == MB_MAGIC ? 0 : SECTOR;
	return write(ctx, dev, addr * MB_SIZE + off, image + off, MB_SIZE - off);
}

static int vol_write_cb(void *ctx, struct vmfs_blockdev *dev, uint64_t off, const void *b, size_t len)
{
	(void)dev;
	return vmfs_dev_write(ctx, off, b, len);
}

static int raw_write_cb(void *ctx, struct vmfs_blockdev *dev, uint64_t off, const void *b, size_t len)
{
	(void)ctx;
	return dev->write(dev->ctx, off, b, len);
}

/* Shell sort: no recursion, no libc, fine for a few thousand entries. */
static void sort_u32(uint32_t *v, uint32_t n)
{
	static const uint32_t gaps[] = { 701, 301, 132, 57, 23, 10, 4, 1 };
	for (uint32_t g = 0; g < sizeof(gaps) / sizeof(gaps[0]); g++) {
		uint32_t gap = gaps[g];
		for (uint32_t i = gap; i < n; i++) {
			uint32_t x = v[i], j = i;
			for (; j >= gap && v[j - gap] > x; j -= gap)
				v[j] = v[j - gap];
			v[j] = x;
		}
	}
}

/* The data blocks freed by the committed transaction: the device may drop
 * their contents, in runs of adjacent blocks. (A block whose free was
 * rolled back has references again: kept.) */
static void unmap_freed(struct vmfs_volume *vol)
{
	uint32_t n = 0;
	for (uint32_t i = 0; i < 2 * FREED_MAX; i++)
		if (vol->freed[i] != 0xffffffffu)
			vol->freed[n++] = vol->freed[i];
	sort_u32(vol->freed, n);
	uint64_t bs = vol->sb.block_size;
	for (uint32_t i = 0; i < n;) {
		uint32_t refs;
		if (vmfs_refcount_get(vol, vol->freed[i], &refs) || refs != 0) {
			i++;
			continue;
		}
		uint32_t j = i + 1;
		while (j < n && vol->freed[j] == vol->freed[j - 1] + 1 && vmfs_refcount_get(vol, vol->freed[j], &refs) == 0 &&
		       refs == 0)
			j++;
		vol->dev->unmap(vol->dev->ctx, vol->freed[i] * bs, (uint64_t)(j - i) * bs);
		vmfs_hb_refresh(vol, false); /* many runs may take a while */
		i = j;
	}
}

int vmfs_commit(struct vmfs_volume *vol)
{
	if (vol->read_only || vol->in_op)
		return 0;
	if (vol->dirty_count == 0) {
		vol->last_commit_ns = vol->os.now_ns(vol->os.ctx);
		vmfs_release_txn_locks(vol);
		return 0;
	}
	int err = vmfs_writable(vol);
	if (err)
		return err;
	uint32_t n = vol->dirty_count;
	uint64_t seq = vol->seq + 1;
	uint64_t jstart = journal_mblock(&vol->sb, vol->slot);
	uint8_t *buf = vol->os.alloc(vol->os.ctx, (size_t)(n + 2) * MB_SIZE);
	if (!buf)
		return -VMFS_ENOMEM;
	memset(buf, 0, MB_SIZE);
	struct disk_jdesc *desc = (struct disk_jdesc *)buf;
	desc->seq = seq;
	desc->count = n;
	uint32_t images_crc = 0;
	for (uint32_t i = 0; i < n; i++) {
		struct mblock *mb = vol->dirty[i];
		if (vmfs_header_offset(mb->type))
			memset(mb->d.bytes, 0, SECTOR); /* the lock sector never travels in the journal */
		vmfs_mb_seal(mb->d.bytes, (enum mb_type)mb->type, mb->addr, seq);
		desc->home[i] = mb->addr;
		memcpy(buf + (size_t)(i + 1) * MB_SIZE, mb->d.bytes, MB_SIZE);
		images_crc = vmfs_crc32c(images_crc, mb->d.bytes, MB_SIZE);
	}
	vmfs_mb_seal(desc, MB_JDESC, jstart + 1, seq);
	struct disk_jcommit *commit = (struct disk_jcommit *)(buf + (size_t)(n + 1) * MB_SIZE);
	memset(commit, 0, MB_SIZE);
	commit->seq = seq;
	commit->count = n;
	commit->images_crc = images_crc;
	vmfs_mb_seal(commit, MB_JCOMMIT, jstart + 2 + n, seq);

	if (vol->data_dirty) {
		/* File data written for this transaction must be durable before
		 * its commit record: no file may point at blocks of old data. */
		err = vmfs_dev_write(vol, (jstart + 1) * MB_SIZE, buf, (size_t)(n + 1) * MB_SIZE);
		if (!err)
			err = vol->dev->flush(vol->dev->ctx);
		vol->data_dirty = false;
		if (!err)
			err = vmfs_writable(vol);
		if (!err)
			err = dev_write_fua(vol->dev, (jstart + 2 + n) * MB_SIZE, commit, MB_SIZE);
	} else {
		/* Metadata only: descriptor, images and commit in one write and one
		 * flush; the commit's CRC over the images tells a torn one. */
		err = vmfs_dev_write(vol, (jstart + 1) * MB_SIZE, buf, (size_t)(n + 2) * MB_SIZE);
		if (!err)
			err = vol->dev->flush(vol->dev->ctx);
	}
	for (uint32_t i = 0; i < n && !err; i++)
		err = write_home(vol->dev, vol->dirty[i]->d.bytes, vol->dirty[i]->addr, vol_write_cb, vol);
	if (!err)
		err = vol->dev->flush(vol->dev->ctx);
	if (!err) {
		memset(buf, 0, MB_SIZE);
		struct disk_jhdr *jh = (struct disk_jhdr *)buf;
		jh->slot = vol->slot;
		jh->checkpoint_seq = seq;
		vmfs_mb_seal(jh, MB_JHDR, jstart, seq);
		err = vmfs_dev_write(vol, jstart * MB_SIZE, jh, MB_SIZE);
	}
	vol->os.free(vol->os.ctx, buf);
	if (err) {
		vol->broken = true;
		VMFS_ERR(vol, "commit of transaction %llu failed (%s): the journal replays it at the next mount",
			 (unsigned long long)seq, vmfs_strerror(err));
		return err;
	}
	for (uint32_t i = 0; i < n; i++)
		vol->dirty[i]->dirty = false;
	vol->clean_count += n;
	vol->dirty_count = 0;
	vol->seq = seq;
	if (vol->freed_count) {
		if (vol->dev->unmap)
			unmap_freed(vol);
		memset(vol->freed, 0xff, 2 * FREED_MAX * sizeof(uint32_t));
		vol->freed_count = 0;
	}
	vol->last_commit_ns = vol->os.now_ns(vol->os.ctx);
	vmfs_release_txn_locks(vol);
	return 0;
}

/* FORMAT.md "Per-host journal": replays slot @slot's last transaction if it
 * committed but was not checkpointed. Writes directly: the caller owns the
 * slot (its own, or a dead host's it marked RECOVERING). */
int vmfs_journal_replay(const struct vmfs_os *os, struct vmfs_blockdev *dev,
			const struct disk_super *sb, uint32_t slot, bool *replayed)
{
	return vmfs_journal_check(os, dev, sb, slot, false, replayed);
}

/* With @dry_run, only says (in *@found) whether a replay is due. */
int vmfs_journal_check(const struct vmfs_os *os, struct vmfs_blockdev *dev, const struct disk_super *sb,
		       uint32_t slot, bool dry_run, bool *found)
{
	bool *replayed = found;
	*replayed = false;
	uint64_t jstart = journal_mblock(sb, slot);
	uint32_t max = sb->journal_blocks - 3 < JOURNAL_TXN_MAX ? sb->journal_blocks - 3 : JOURNAL_TXN_MAX;
	uint8_t *buf = os->alloc(os->ctx, 2 * MB_SIZE);
	if (!buf)
		return -VMFS_ENOMEM;
	struct disk_jhdr *jh = (struct disk_jhdr *)buf;
	struct disk_jdesc *desc = (struct disk_jdesc *)(buf + MB_SIZE);
	uint8_t *images = NULL;
	int err = dev->read(dev->ctx, jstart * MB_SIZE, buf, 2 * MB_SIZE);
	if (err)
		goto out;
	err = vmfs_mb_check(os, jh, MB_JHDR, jstart);
	if (err) {
		vmfs_logf(os, VMFS_LOG_ERROR, "journal header of slot %u is damaged", slot);
		goto out;
	}
	if (vmfs_mb_check(NULL, desc, MB_JDESC, jstart + 1) || desc->seq != jh->checkpoint_seq + 1 ||
	    desc->count == 0 || desc->count > max)
		goto out; /* nothing committed after the checkpoint */
	uint32_t n = desc->count;
	images = os->alloc(os->ctx, (size_t)(n + 1) * MB_SIZE);
	if (!images) {
		err = -VMFS_ENOMEM;
		goto out;
	}
	err = dev->read(dev->ctx, (jstart + 2) * MB_SIZE, images, (size_t)(n + 1) * MB_SIZE);
	if (err)
		goto out;
	struct disk_jcommit *commit = (struct disk_jcommit *)(images + (size_t)n * MB_SIZE);
	if (vmfs_mb_check(NULL, commit, MB_JCOMMIT, jstart + 2 + n) || commit->seq != desc->seq ||
	    commit->count != n || commit->images_crc != vmfs_crc32c(0, images, (size_t)n * MB_SIZE))
		goto out; /* torn: the transaction never committed */
	for (uint32_t i = 0; i < n; i++) {
		uint64_t home = desc->home[i];
		if (home < sb->ag_start || home >= sb->volume_bytes / MB_SIZE) {
			vmfs_logf(os, VMFS_LOG_ERROR, "journal of slot %u (block %llu): home address %llu out of range",
				  slot, (unsigned long long)(jstart + 1), (unsigned long long)home);
			err = -VMFS_EBADMSG;
			goto out;
		}
	}
	if (dry_run) {
		*found = true;
		goto out;
	}
	for (uint32_t i = 0; i < n && !err; i++)
		err = write_home(dev, images + (size_t)i * MB_SIZE, desc->home[i], raw_write_cb, NULL);
	if (!err)
		err = dev->flush(dev->ctx);
	if (!err) {
		uint64_t seq = desc->seq;
		memset(jh, 0, MB_SIZE);
		jh->slot = slot;
		jh->checkpoint_seq = seq;
		vmfs_mb_seal(jh, MB_JHDR, jstart, seq);
		err = dev_write_fua(dev, jstart * MB_SIZE, jh, MB_SIZE);
	}
	if (!err) {
		*replayed = true;
		vmfs_logf(os, VMFS_LOG_INFO, "journal of slot %u: replayed transaction of %u blocks", slot, n);
	}
out:
	if (images)
		os->free(os->ctx, images);
	os->free(os->ctx, buf);
	return err;
}

/* The checkpointed sequence of slot @slot's journal. */
int vmfs_journal_seq(const struct vmfs_os *os, struct vmfs_blockdev *dev, const struct disk_super *sb,
		     uint32_t slot, uint64_t *seq)
{
	uint8_t *buf = os->alloc(os->ctx, MB_SIZE);
	if (!buf)
		return -VMFS_ENOMEM;
	uint64_t jstart = journal_mblock(sb, slot);
	int err = dev->read(dev->ctx, jstart * MB_SIZE, buf, MB_SIZE);
	if (!err)
		err = vmfs_mb_check(os, buf, MB_JHDR, jstart);
	if (!err)
		*seq = ((struct disk_jhdr *)buf)->checkpoint_seq;
	os->free(os->ctx, buf);
	return err;
}

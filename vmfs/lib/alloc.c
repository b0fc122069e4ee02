/*
 * Allocation groups: inodes, small metadata blocks and data blocks. A host
 * allocates from the AG it holds locked (vol->alloc_ag) and moves on to the
 * next AG it can lock without waiting when that one is full or busy; freeing
 * takes the lock of whichever AG the block belongs to.
 */
#include "internal.h"

static int ag_lock(struct vmfs_volume *vol, uint32_t ag, bool wait)
{
	uint32_t saved = vol->lock_wait_ms;
	if (!wait)
		vol->lock_wait_ms = 0;
	int err = vmfs_lock_acquire(vol, vmfs_ag_lock_sector(&vol->sb, ag), VMFS_LOCK_EXCLUSIVE, true);
	vol->lock_wait_ms = saved;
	return err;
}

static int ag_header(struct vmfs_volume *vol, uint32_t ag, bool wait, struct mblock **out)
{
	int err = ag_lock(vol, ag, wait);
	if (err)
		return err;
	uint64_t mblock = vmfs_ag_mblock(&vol->sb, ag);
	err = vmfs_mb_get(vol, mblock, MB_AGHDR, out);
	if (err)
		return err;
	struct disk_aghdr *h = &(*out)->d.ag;
	if (h->ag != ag || h->data_blocks != vmfs_ag_data_blocks(&vol->sb, ag) ||
	    h->free_data > h->data_blocks || h->free_inodes >= vol->sb.inodes_per_ag ||
	    h->free_dirblocks > vol->sb.dirblocks_per_ag) {
		VMFS_ERR(vol, "AG %u header at block %llu: inconsistent counts", ag, (unsigned long long)mblock);
		return -VMFS_EBADMSG;
	}
	return 0;
}

enum ag_resource { RES_INODE, RES_DIRBLOCK, RES_DATA };

static uint32_t ag_free(const struct disk_aghdr *h, enum ag_resource res)
{
	return res == RES_INODE ? h->free_inodes : res == RES_DIRBLOCK ? h->free_dirblocks : h->free_data;
}

/* An AG with a free @res that this host could lock: the current one first. */
static int ag_choose(struct vmfs_volume *vol, enum ag_resource res, uint32_t *ag_out, struct mblock **out)
{
	int last_err = -VMFS_ENOSPC;
	for (int pass = 0; pass < 2; pass++) {
		for (uint32_t i = 0; i < vol->sb.ag_count; i++) {
			uint32_t ag = (vol->alloc_ag + i) % vol->sb.ag_count;
			struct mblock *mb;
			int err = ag_header(vol, ag, pass == 1, &mb);
			if (err == -VMFS_EBUSY)
				continue;
			if (err) {
				last_err = err;
				if (err != -VMFS_EBADMSG)
					return err;
				continue;
			}
			if (ag_free(&mb->d.ag, res) == 0)
				continue;
			vol->alloc_ag = ag;
			*ag_out = ag;
			*out = mb;
			return 0;
		}
	}
	return last_err;
}

static int bitmap_take(struct vmfs_volume *vol, uint8_t *map, uint32_t bits, uint32_t first, uint32_t *index)
{
	for (uint32_t i = first; i < bits; i++) {
		if (!vmfs_bit_test(map, i)) {
			vmfs_bit_set(map, i, true);
			*index = i;
			return 0;
		}
	}
	(void)vol;
	return -VMFS_EBADMSG;
}

int vmfs_alloc_inode(struct vmfs_volume *vol, uint32_t *ino)
{
	uint32_t ag;
	struct mblock *mb;
	int err = ag_choose(vol, RES_INODE, &ag, &mb);
	if (err)
		return err;
	err = vmfs_mb_dirty(vol, mb);
	if (err)
		return err;
	uint32_t index;
	if (bitmap_take(vol, mb->d.ag.inode_bitmap, vol->sb.inodes_per_ag, 1, &index)) {
		VMFS_ERR(vol, "AG %u: free inode count says %u but the bitmap is full", ag, mb->d.ag.free_inodes);
		return -VMFS_EBADMSG;
	}
	mb->d.ag.free_inodes--;
	*ino = ag * vol->sb.inodes_per_ag + index;
	return 0;
}

int vmfs_free_inode(struct vmfs_volume *vol, uint32_t ino)
{
	uint32_t ag = ino / vol->sb.inodes_per_ag, index = ino % vol->sb.inodes_per_ag;
	struct mblock *mb;
	int err = ag_header(vol, ag, true, &mb);
	if (!err)
		err = vmfs_mb_dirty(vol, mb);
	if (err)
		return err;
	if (!vmfs_bit_test(mb->d.ag.inode_bitmap, index)) {
		VMFS_ERR(vol, "inode %u freed twice", ino);
		return -VMFS_EBADMSG;
	}
	vmfs_bit_set(mb->d.ag.inode_bitmap, index, false);
	mb->d.ag.free_inodes++;
	return 0;
}

int vmfs_alloc_dirblock(struct vmfs_volume *vol, uint32_t owner, enum mb_type type, struct mblock **out)
{
	uint32_t ag;
	struct mblock *mb;
	int err = ag_choose(vol, RES_DIRBLOCK, &ag, &mb);
	if (err)
		return err;
	err = vmfs_mb_dirty(vol, mb);
	if (err)
		return err;
	uint32_t index;
	if (bitmap_take(vol, mb->d.ag.dirblock_bitmap, vol->sb.dirblocks_per_ag, 0, &index)) {
		VMFS_ERR(vol, "AG %u: free directory block count wrong", ag);
		return -VMFS_EBADMSG;
	}
	mb->d.ag.free_dirblocks--;
	return vmfs_mb_new(vol, vmfs_dirblock_mblock(&vol->sb, ag, index), type, owner, out);
}

int vmfs_free_dirblock(struct vmfs_volume *vol, uint64_t mblock)
{
	uint32_t ag, index;
	if (vmfs_dirblock_locate(&vol->sb, mblock, &ag, &index)) {
		VMFS_ERR(vol, "free of block %llu, not a directory/extent block", (unsigned long long)mblock);
		return -VMFS_EBADMSG;
	}
	struct mblock *mb;
	int err = ag_header(vol, ag, true, &mb);
	if (!err)
		err = vmfs_mb_dirty(vol, mb);
	if (err)
		return err;
	if (!vmfs_bit_test(mb->d.ag.dirblock_bitmap, index)) {
		VMFS_ERR(vol, "block %llu freed twice", (unsigned long long)mblock);
		return -VMFS_EBADMSG;
	}
	vmfs_bit_set(mb->d.ag.dirblock_bitmap, index, false);
	mb->d.ag.free_dirblocks++;
	return 0;
}

#define FREED_SLOTS (2 * FREED_MAX)

bool vmfs_freed_contains(struct vmfs_volume *vol, uint32_t dblock)
{
	if (!vol->freed_count)
		return false;
	for (uint32_t i = (dblock * 2654435761u) % FREED_SLOTS;; i = (i + 1) % FREED_SLOTS) {
		if (vol->freed[i] == dblock)
			return true;
		if (vol->freed[i] == 0xffffffffu)
			return false;
	}
}

static void freed_add(struct vmfs_volume *vol, uint32_t dblock)
{
	if (vol->freed_count >= FREED_MAX || vmfs_freed_contains(vol, dblock))
		return; /* op_begin commits long before this */
	uint32_t i = (dblock * 2654435761u) % FREED_SLOTS;
	while (vol->freed[i] != 0xffffffffu)
		i = (i + 1) % FREED_SLOTS;
	vol->freed[i] = dblock;
	vol->freed_count++;
}

/* The refcount block holding data block @index of AG @ag, and its slot. */
static int refcount_block(struct vmfs_volume *vol, uint32_t ag, uint32_t index, struct mblock **out, uint32_t **slot)
{
	int err = vmfs_mb_get(vol, vmfs_ag_mblock(&vol->sb, ag) + 1 + index / REFCOUNTS_PER_BLOCK, MB_REFCOUNT, out);
	if (!err && slot)
		*slot = &(*out)->d.refcount.count[index % REFCOUNTS_PER_BLOCK];
	return err;
}

int vmfs_alloc_data(struct vmfs_volume *vol, uint32_t want, uint32_t *first, uint32_t *got)
{
	uint32_t first_ag = vol->alloc_ag;
	for (uint32_t tries = 0; tries < vol->sb.ag_count; tries++) {
		uint32_t ag;
		struct mblock *hdr, *rc;
		int err = ag_choose(vol, RES_DATA, &ag, &hdr);
		if (err)
			return err;
		uint32_t n = hdr->d.ag.data_blocks;
		uint32_t first_dblock = vmfs_ag_first_dblock(&vol->sb, ag);
		for (uint32_t base = 0; base < n; base += REFCOUNTS_PER_BLOCK) {
			err = refcount_block(vol, ag, base, &rc, NULL);
			if (err)
				return err;
			uint32_t *count = rc->d.refcount.count;
			uint32_t limit = n - base < REFCOUNTS_PER_BLOCK ? n - base : REFCOUNTS_PER_BLOCK;
			uint32_t start = 0;
			while (start < limit && (count[start] || vmfs_freed_contains(vol, first_dblock + base + start)))
				start++;
			if (start == limit)
				continue;
			err = vmfs_mb_dirty(vol, hdr);
			if (!err)
				err = vmfs_mb_dirty(vol, rc);
			if (err)
				return err;
			uint32_t len = 0;
			while (start + len < limit && len < want && count[start + len] == 0 &&
			       !vmfs_freed_contains(vol, first_dblock + base + start + len)) {
				count[start + len] = 1;
				len++;
			}
			if (len > hdr->d.ag.free_data) {
				VMFS_ERR(vol, "AG %u: free data count %u below the free blocks found", ag, hdr->d.ag.free_data);
				return -VMFS_EBADMSG;
			}
			hdr->d.ag.free_data -= len;
			*first = first_dblock + base + start;
			*got = len;
			return 0;
		}
		/* Only blocks freed in this transaction are left here. */
		vol->alloc_ag = (ag + 1) % vol->sb.ag_count;
		if (vol->alloc_ag == first_ag)
			break;
	}
	vol->alloc_ag = first_ag;
	return -VMFS_EAGAIN_COMMIT;
}

static int refcount_locate(struct vmfs_volume *vol, uint32_t dblock, uint32_t *ag, uint32_t *index)
{
	if (vmfs_dblock_locate(&vol->sb, dblock, ag, index)) {
		VMFS_ERR(vol, "data block %u is not in any AG's data area", dblock);
		return -VMFS_EBADMSG;
	}
	return 0;
}

int vmfs_refcount_get(struct vmfs_volume *vol, uint32_t dblock, uint32_t *count)
{
	uint32_t ag, index, *slot;
	struct mblock *rc;
	int err = refcount_locate(vol, dblock, &ag, &index);
	if (!err)
		err = refcount_block(vol, ag, index, &rc, &slot);
	if (!err)
		*count = *slot;
	return err;
}

int vmfs_refcount_add(struct vmfs_volume *vol, uint32_t dblock, int delta, uint32_t *now)
{
	uint32_t ag, index, *slot;
	struct mblock *hdr, *rc;
	int err = refcount_locate(vol, dblock, &ag, &index);
	if (!err)
		err = ag_header(vol, ag, true, &hdr);
	if (!err)
		err = refcount_block(vol, ag, index, &rc, &slot);
	if (err)
		return err;
	uint32_t c = *slot;
	if (c == 0 || (delta < 0 && c < (uint32_t)-delta)) {
		VMFS_ERR(vol, "data block %u: reference count below zero", dblock);
		return -VMFS_EBADMSG;
	}
	if (delta > 0 && c > 0xffffffffu - (uint32_t)delta)
		return -VMFS_EMLINK;
	err = vmfs_mb_dirty(vol, rc);
	if (err)
		return err;
	c = delta < 0 ? c - (uint32_t)-delta : c + (uint32_t)delta;
	*slot = c;
	if (c == 0) {
		err = vmfs_mb_dirty(vol, hdr);
		if (err)
			return err;
		hdr->d.ag.free_data++;
		freed_add(vol, dblock);
	}
	if (now)
		*now = c;
	return 0;
}

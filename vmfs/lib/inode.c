/*
 * Inodes and their extent maps. A map is loaded whole into memory for an
 * operation (sorted extents), changed there and stored back: inline in the
 * inode while it fits (216 extents), else in extent leaves listed by the
 * inode's index. Leaves keep their index boundaries, so a change rewrites
 * only the leaves whose contents changed.
 */
#include "internal.h"

static int inode_get(struct vmfs_volume *vol, uint32_t ino, bool fresh, struct mblock **out)
{
	if (!vmfs_ino_valid(&vol->sb, ino)) {
		VMFS_ERR(vol, "reference to invalid inode number %u", ino);
		return -VMFS_EBADMSG;
	}
	uint64_t mblock = vmfs_inode_mblock(&vol->sb, ino);
	int err = fresh ? vmfs_mb_get_fresh(vol, mblock, MB_INODE, out) : vmfs_mb_get(vol, mblock, MB_INODE, out);
	if (err)
		return err;
	const struct disk_inode *in = &(*out)->d.inode;
	const char *why = NULL;
	if (in->ino != ino)
		why = "wrong inode number";
	else if (in->kind != VMFS_KIND_FILE && in->kind != VMFS_KIND_DIR)
		why = "unknown kind";
	else if (in->kind == VMFS_KIND_FILE && in->entries > INLINE_EXTENTS)
		why = "too many entries";
	else if ((in->flags & INODE_INLINE) && in->size > INLINE_BYTES)
		why = "inline data larger than the inode";
	if (why) {
		VMFS_ERR(vol, "inode %u at block %llu: %s", ino, (unsigned long long)mblock, why);
		return -VMFS_EBADMSG;
	}
	return 0;
}

int vmfs_inode_get(struct vmfs_volume *vol, uint32_t ino, struct mblock **out)
{
	return inode_get(vol, ino, false, out);
}

/* Another host may change an inode this host does not hold locked: read it
 * from the disk again unless we hold its lock. */
int vmfs_inode_read(struct vmfs_volume *vol, uint32_t ino, struct mblock **out)
{
	bool held = vmfs_ino_valid(&vol->sb, ino) && vmfs_lock_held(vol, vmfs_inode_lock_sector(&vol->sb, ino));
	return inode_get(vol, ino, !held && !vol->alone, out);
}

static int map_reserve(struct vmfs_volume *vol, struct extent_map *map, uint32_t need)
{
	if (need <= map->cap)
		return 0;
	uint32_t cap = map->cap ? map->cap : 32;
	while (cap < need)
		cap *= 2;
	struct disk_extent *e = vol->os.alloc(vol->os.ctx, cap * sizeof(*e));
	if (!e)
		return -VMFS_ENOMEM;
	if (map->e) {
		memcpy(e, map->e, map->count * sizeof(*e));
		vol->os.free(vol->os.ctx, map->e);
	}
	map->e = e;
	map->cap = cap;
	return 0;
}

void vmfs_map_free(struct vmfs_volume *vol, struct extent_map *map)
{
	if (map->e)
		vol->os.free(vol->os.ctx, map->e);
	map->e = NULL;
	map->count = map->cap = 0;
}

static int map_append(struct vmfs_volume *vol, struct extent_map *map, const struct disk_extent *e)
{
	int err = map_reserve(vol, map, map->count + 1);
	if (!err)
		map->e[map->count++] = *e;
	return err;
}

static bool extent_valid(struct vmfs_volume *vol, const struct disk_extent *e)
{
	uint32_t ag1, ag2, i1, i2;
	return e->count > 0 && (uint64_t)e->logical + e->count <= 0xffffffffull &&
	       (uint64_t)e->physical + e->count <= 0xffffffffull && (e->flags & ~EXTENT_UNWRITTEN) == 0 &&
	       vmfs_dblock_locate(&vol->sb, e->physical, &ag1, &i1) == 0 &&
	       vmfs_dblock_locate(&vol->sb, e->physical + e->count - 1, &ag2, &i2) == 0 && ag1 == ag2;
}

int vmfs_map_load(struct vmfs_volume *vol, struct mblock *inode, struct extent_map *map)
{
	struct disk_inode *in = &inode->d.inode;
	map->count = 0;
	if (in->kind != VMFS_KIND_FILE || (in->flags & INODE_INLINE))
		return 0;
	int err = 0;
	if (!(in->flags & INODE_INDEXED)) {
		for (uint32_t i = 0; i < in->entries && !err; i++)
			err = map_append(vol, map, &in->u.extents[i]);
	} else {
		for (uint32_t i = 0; i < in->entries && !err; i++) {
			struct mblock *leaf;
			err = vmfs_mb_get(vol, in->u.index[i].leaf, MB_EXTLEAF, &leaf);
			if (err)
				break;
			if (leaf->d.leaf.h.owner != in->ino || leaf->d.leaf.count > LEAF_EXTENTS) {
				VMFS_ERR(vol, "extent leaf at block %llu does not belong to inode %u or is overfull",
					 (unsigned long long)leaf->addr, in->ino);
				return -VMFS_EBADMSG;
			}
			for (uint32_t k = 0; k < leaf->d.leaf.count && !err; k++)
				err = map_append(vol, map, &leaf->d.leaf.extents[k]);
		}
	}
	if (err)
		return err;
	for (uint32_t i = 0; i < map->count; i++) {
		const struct disk_extent *e = &map->e[i];
		if (!extent_valid(vol, e) || (i > 0 && map->e[i - 1].logical + map->e[i - 1].count > e->logical)) {
			VMFS_ERR(vol, "inode %u at block %llu: extent %u (logical %u, %u blocks at %u) is invalid",
				 in->ino, (unsigned long long)inode->addr, i, e->logical, e->count, e->physical);
			return -VMFS_EBADMSG;
		}
	}
	return 0;
}

bool vmfs_map_find(const struct extent_map *map, uint32_t lblock, uint32_t *index)
{
	uint32_t lo = 0, hi = map->count;
	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;
		const struct disk_extent *e = &map->e[mid];
		if (lblock < e->logical)
			hi = mid;
		else if (lblock >= e->logical + e->count)
			lo = mid + 1;
		else {
			*index = mid;
			return true;
		}
	}
	*index = lo; /* where an extent at lblock would go */
	return false;
}

static int map_insert_at(struct vmfs_volume *vol, struct extent_map *map, uint32_t at, const struct disk_extent *e)
{
	int err = map_reserve(vol, map, map->count + 1);
	if (err)
		return err;
	memmove(&map->e[at + 1], &map->e[at], (map->count - at) * sizeof(*e));
	map->e[at] = *e;
	map->count++;
	return 0;
}

/* Removes [lblock, lblock+count) from the map; with @drop_refs the removed
 * physical blocks lose one reference each. */
static int map_cut(struct vmfs_volume *vol, struct extent_map *map, uint32_t lblock, uint32_t count, bool drop_refs)
{
	uint64_t end = (uint64_t)lblock + count;
	for (uint32_t i = 0; i < map->count;) {
		struct disk_extent *e = &map->e[i];
		uint64_t e_end = (uint64_t)e->logical + e->count;
		if (e_end <= lblock || e->logical >= end) {
			i++;
			continue;
		}
		uint32_t cut_from = e->logical > lblock ? e->logical : lblock;
		uint32_t cut_to = (uint32_t)(e_end < end ? e_end : end);
		if (drop_refs) {
			for (uint32_t b = cut_from; b < cut_to; b++) {
				int err = vmfs_refcount_add(vol, e->physical + (b - e->logical), -1, NULL);
				if (err)
					return err;
			}
		}
		struct disk_extent tail = { cut_to, (uint32_t)(e_end - cut_to), e->physical + (cut_to - e->logical), e->flags };
		if (cut_from > e->logical) {
			e->count = cut_from - e->logical;
			if (tail.count) {
				int err = map_insert_at(vol, map, i + 1, &tail);
				if (err)
					return err;
			}
			i++;
		} else if (tail.count) {
			*e = tail;
			i++;
		} else {
			memmove(e, e + 1, (map->count - i - 1) * sizeof(*e));
			map->count--;
		}
	}
	return 0;
}

static void map_merge(struct vmfs_volume *vol, struct extent_map *map)
{
	uint32_t out = 0;
	for (uint32_t i = 0; i < map->count; i++) {
		struct disk_extent *e = &map->e[i];
		if (out > 0) {
			struct disk_extent *p = &map->e[out - 1];
			if (p->logical + p->count == e->logical && p->physical + p->count == e->physical &&
			    p->flags == e->flags && (uint64_t)p->count + e->count <= 0xffffffffull) {
				uint32_t ag1, ag2, i1, i2;
				/* Extents never span AGs: fsck relies on it. */
				if (!vmfs_dblock_locate(&vol->sb, p->physical, &ag1, &i1) &&
				    !vmfs_dblock_locate(&vol->sb, e->physical, &ag2, &i2) && ag1 == ag2) {
					p->count += e->count;
					continue;
				}
			}
		}
		map->e[out++] = *e;
	}
	map->count = out;
}

int vmfs_map_set(struct vmfs_volume *vol, struct extent_map *map, uint32_t lblock, uint32_t count,
		 uint32_t physical, uint32_t flags)
{
	int err = map_cut(vol, map, lblock, count, false);
	if (err)
		return err;
	uint32_t at;
	vmfs_map_find(map, lblock, &at);
	struct disk_extent e = { lblock, count, physical, flags };
	err = map_insert_at(vol, map, at, &e);
	if (!err)
		map_merge(vol, map);
	return err;
}

int vmfs_map_punch(struct vmfs_volume *vol, struct extent_map *map, uint32_t lblock, uint32_t count)
{
	return map_cut(vol, map, lblock, count, true);
}

#define LEAF_FILL 200u

static int leaf_write(struct vmfs_volume *vol, struct mblock *leaf, const struct disk_extent *e, uint32_t n)
{
	if (leaf->d.leaf.count == n && memcmp(leaf->d.leaf.extents, e, n * sizeof(*e)) == 0)
		return 0;
	int err = vmfs_mb_dirty(vol, leaf);
	if (err)
		return err;
	leaf->d.leaf.count = n;
	memcpy(leaf->d.leaf.extents, e, n * sizeof(*e));
	memset(&leaf->d.leaf.extents[n], 0, (LEAF_EXTENTS - n) * sizeof(*e));
	return 0;
}

static int leaf_new(struct vmfs_volume *vol, uint32_t ino, const struct disk_extent *e, uint32_t n,
		    struct disk_index *index)
{
	struct mblock *leaf;
	int err = vmfs_alloc_dirblock(vol, ino, MB_EXTLEAF, &leaf);
	if (err)
		return err;
	index->logical = e[0].logical;
	index->reserved = 0;
	index->leaf = leaf->addr;
	return leaf_write(vol, leaf, e, n);
}

int vmfs_map_store(struct vmfs_volume *vol, struct mblock *inode, struct extent_map *map)
{
	struct disk_inode *in = &inode->d.inode;
	int err = vmfs_mb_dirty(vol, inode);
	if (err)
		return err;
	bool indexed = in->flags & INODE_INDEXED;
	if (map->count <= (indexed ? LEAF_FILL / 2 : INLINE_EXTENTS)) {
		for (uint32_t i = 0; indexed && i < in->entries; i++) {
			err = vmfs_free_dirblock(vol, in->u.index[i].leaf);
			if (err)
				return err;
		}
		in->flags &= (uint16_t)~INODE_INDEXED;
		memset(in->u.data, 0, sizeof(in->u.data));
		if (map->count)
			memcpy(in->u.extents, map->e, map->count * sizeof(map->e[0]));
		in->entries = map->count;
		return 0;
	}
	struct disk_index *next = vol->os.alloc(vol->os.ctx, (INLINE_EXTENTS + 1) * sizeof(*next));
	if (!next)
		return -VMFS_ENOMEM;
	uint32_t n_next = 0;
	uint32_t old_leaves = indexed ? in->entries : 0;
	uint32_t pos = 0;
	for (uint32_t leaf_i = 0; leaf_i < old_leaves || (!indexed && pos < map->count); leaf_i++) {
		/* This leaf's extents: those starting before the next leaf's boundary. */
		uint32_t end = map->count;
		if (indexed && leaf_i + 1 < old_leaves) {
			end = pos;
			while (end < map->count && map->e[end].logical < in->u.index[leaf_i + 1].logical)
				end++;
		}
		uint32_t n = end - pos;
		struct mblock *leaf = NULL;
		if (indexed) {
			err = vmfs_mb_get(vol, in->u.index[leaf_i].leaf, MB_EXTLEAF, &leaf);
			if (err)
				break;
			if (n == 0) {
				err = vmfs_free_dirblock(vol, leaf->addr);
				if (err)
					break;
				continue;
			}
		}
		uint32_t chunk = n > LEAF_EXTENTS || !indexed ? (n < LEAF_FILL ? n : LEAF_FILL) : n;
		for (uint32_t done = 0; done < n && !err; done += chunk, chunk = n - done < LEAF_FILL ? n - done : LEAF_FILL) {
			if (n_next == INLINE_EXTENTS) {
				VMFS_ERR(vol, "inode %u: more than %u extents", in->ino, INLINE_EXTENTS * LEAF_EXTENTS);
				err = -VMFS_EFBIG;
				break;
			}
			if (done == 0 && leaf) {
				next[n_next].logical = n_next == 0 ? 0 : map->e[pos].logical;
				next[n_next].reserved = 0;
				next[n_next].leaf = leaf->addr;
				err = leaf_write(vol, leaf, &map->e[pos], chunk);
			} else {
				err = leaf_new(vol, in->ino, &map->e[pos + done], chunk, &next[n_next]);
				if (n_next == 0)
					next[0].logical = 0;
			}
			n_next++;
		}
		pos = end;
	}
	if (!err) {
		memset(in->u.data, 0, sizeof(in->u.data));
		memcpy(in->u.index, next, n_next * sizeof(*next));
		in->entries = n_next;
		in->flags |= INODE_INDEXED;
	}
	vol->os.free(vol->os.ctx, next);
	return err;
}

int vmfs_inode_free_blocks(struct vmfs_volume *vol, struct mblock *inode, uint64_t from_lblock)
{
	/* Inline data has no blocks; storing an empty map would overwrite it. */
	if (from_lblock >= 0xffffffffull || (inode->d.inode.flags & INODE_INLINE))
		return 0;
	struct extent_map map = { 0 };
	int err = vmfs_map_load(vol, inode, &map);
	if (!err)
		err = vmfs_map_punch(vol, &map, (uint32_t)from_lblock, (uint32_t)(0xffffffffull - from_lblock));
	if (!err)
		err = vmfs_map_store(vol, inode, &map);
	if (!err) {
		uint64_t blocks = 0;
		for (uint32_t i = 0; i < map.count; i++)
			blocks += map.e[i].count;
		inode->d.inode.allocated_blocks = blocks;
	}
	vmfs_map_free(vol, &map);
	return err;
}

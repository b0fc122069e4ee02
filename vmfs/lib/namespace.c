/*
 * Namespace operations: stat, mkdir, rmdir, unlink, rename, readdir, clone,
 * and creating files for open. Each takes the locks it needs (directory
 * inodes and the inodes it changes, EXCLUSIVE until the commit) before it
 * changes anything, inside one rolled-back-on-failure operation.
 */
#include "internal.h"

int vmfs_dir_iterate(struct vmfs_volume *vol, struct mblock *dir,
		     int (*fn)(void *arg, const struct vmfs_dirent *entry), void *arg);
int vmfs_create_locked(struct vmfs_volume *vol, const char *path, uint8_t kind, bool excl, uint32_t *ino);
int vmfs_inode_release(struct vmfs_volume *vol, struct mblock *inode);
int vmfs_shrink(struct vmfs_volume *vol, uint32_t ino, uint64_t size);

static void api_lock(struct vmfs_volume *vol)
{
	if (vol->os.mutex_lock)
		vol->os.mutex_lock(vol->os.ctx);
	/* Lookups outside operations fill the cache too; not from a readdir
	 * callback, whose caller holds pointers to cached blocks. */
	if (vol->api_depth++ == 0)
		vmfs_cache_trim(vol);
}

static void api_unlock(struct vmfs_volume *vol)
{
	vol->api_depth--;
	if (vol->os.mutex_unlock)
		vol->os.mutex_unlock(vol->os.ctx);
}

static uint64_t wall(struct vmfs_volume *vol)
{
	return vol->os.wall_ns ? vol->os.wall_ns(vol->os.ctx) : 0;
}

static int lock_inode_txn(struct vmfs_volume *vol, uint32_t ino)
{
	return vmfs_lock_acquire(vol, vmfs_inode_lock_sector(&vol->sb, ino), VMFS_LOCK_EXCLUSIVE, true);
}

static int fill_stat(struct vmfs_volume *vol, struct mblock *mb, struct vmfs_stat *out)
{
	const struct disk_inode *in = &mb->d.inode;
	memset(out, 0, sizeof(*out));
	out->ino = in->ino;
	out->kind = (enum vmfs_kind)in->kind;
	out->nlink = in->nlink;
	out->size = in->size;
	out->mtime_ns = in->mtime_ns;
	out->ctime_ns = in->ctime_ns;
	out->inline_data = in->flags & INODE_INLINE;
	out->thick = in->flags & (INODE_THICK_EAGER | INODE_THICK_LAZY);
	if (in->kind != VMFS_KIND_FILE)
		return 0;
	struct extent_map map = { 0 };
	int err = vmfs_map_load(vol, mb, &map);
	uint64_t blocks = 0;
	for (uint32_t i = 0; i < map.count && !err; i++) {
		blocks += map.e[i].count;
		for (uint32_t b = 0; b < map.e[i].count && !err; b++) {
			uint32_t c;
			err = vmfs_refcount_get(vol, map.e[i].physical + b, &c);
			if (!err && c > 1)
				out->shared_blocks++;
		}
	}
	out->extents = map.count;
	out->allocated_bytes = blocks * vol->sb.block_size;
	vmfs_map_free(vol, &map);
	return err;
}

int vmfs_stat(struct vmfs_volume *vol, const char *path, struct vmfs_stat *out)
{
	api_lock(vol);
	uint32_t ino;
	struct mblock *mb;
	int err = vmfs_path_lookup(vol, path, &ino);
	if (!err)
		err = vmfs_inode_read(vol, ino, &mb);
	if (!err)
		err = fill_stat(vol, mb, out);
	api_unlock(vol);
	return err;
}

int vmfs_fstat_ino(struct vmfs_volume *vol, uint32_t ino, struct vmfs_stat *out);
int vmfs_fstat_ino(struct vmfs_volume *vol, uint32_t ino, struct vmfs_stat *out)
{
	struct mblock *mb;
	int err = vmfs_inode_read(vol, ino, &mb);
	return err ? err : fill_stat(vol, mb, out);
}

int vmfs_readdir(struct vmfs_volume *vol, const char *path, int (*fn)(void *arg, const struct vmfs_dirent *entry),
		 void *arg)
{
	api_lock(vol);
	uint32_t ino;
	struct mblock *mb;
	int err = vmfs_path_lookup(vol, path, &ino);
	if (!err)
		err = vmfs_inode_read(vol, ino, &mb);
	if (!err && mb->d.inode.kind != VMFS_KIND_DIR)
		err = -VMFS_ENOTDIR;
	if (!err)
		err = vmfs_dir_iterate(vol, mb, fn, arg);
	api_unlock(vol);
	return err;
}

/* Looks up the parent of @path, locks it and checks it is a directory. */
static int parent_locked(struct vmfs_volume *vol, const char *path, uint32_t *parent, struct mblock **dir,
			 const char **name, size_t *len)
{
	int err = vmfs_path_parent(vol, path, parent, name, len);
	if (!err)
		err = lock_inode_txn(vol, *parent);
	if (!err)
		err = vmfs_inode_get(vol, *parent, dir);
	if (!err && (*dir)->d.inode.kind != VMFS_KIND_DIR)
		err = -VMFS_ENOTDIR;
	if (!err && (*dir)->d.inode.nlink == 0)
		err = -VMFS_ENOENT; /* removed by another host meanwhile */
	return err;
}

/* Creates @path (within an operation); -EEXIST with its inode if it exists. */
int vmfs_create_locked(struct vmfs_volume *vol, const char *path, uint8_t kind, bool excl, uint32_t *ino)
{
	uint32_t parent;
	struct mblock *dir;
	const char *name;
	size_t len;
	int err = parent_locked(vol, path, &parent, &dir, &name, &len);
	if (err)
		return err;
	uint8_t found_kind;
	err = vmfs_dir_find(vol, dir, name, len, ino, &found_kind);
	if (err == 0)
		return excl || found_kind != kind ? -VMFS_EEXIST : 1;
	if (err != -VMFS_ENOENT)
		return err;
	uint32_t n;
	err = vmfs_alloc_inode(vol, &n);
	if (err)
		return err;
	/* The new inode's lock: ours until the commit that makes it reachable. */
	err = vmfs_lock_claim_new(vol, vmfs_inode_lock_sector(&vol->sb, n));
	struct mblock *mb;
	if (!err)
		err = vmfs_mb_new(vol, vmfs_inode_mblock(&vol->sb, n), MB_INODE, 0, &mb);
	if (err)
		return err;
	struct disk_inode *in = &mb->d.inode;
	in->ino = n;
	in->kind = kind;
	in->nlink = kind == VMFS_KIND_DIR ? 2 : 1;
	in->parent = kind == VMFS_KIND_DIR ? parent : 0;
	in->flags = kind == VMFS_KIND_FILE ? INODE_INLINE : 0;
	in->mtime_ns = in->ctime_ns = wall(vol);
	err = vmfs_dir_add(vol, dir, name, len, n, kind);
	if (!err && kind == VMFS_KIND_DIR)
		dir->d.inode.nlink++;
	if (!err)
		*ino = n;
	return err;
}

int vmfs_mkdir(struct vmfs_volume *vol, const char *path)
{
	api_lock(vol);
	int err = vmfs_op_begin(vol, 16);
	uint32_t ino;
	if (!err) {
		err = vmfs_create_locked(vol, path, VMFS_KIND_DIR, true, &ino);
		err = vmfs_op_end(vol, err);
	}
	api_unlock(vol);
	return err;
}

/* Frees an inode with no links left: its blocks (in steps), then itself. */
int vmfs_inode_release(struct vmfs_volume *vol, struct mblock *inode)
{
	struct disk_inode *in = &inode->d.inode;
	int err = vmfs_inode_free_blocks(vol, inode, 0);
	if (!err)
		err = vmfs_mb_dirty(vol, inode);
	if (err)
		return err;
	in->nlink = 0;
	in->kind = VMFS_KIND_FILE;
	return vmfs_free_inode(vol, in->ino);
}

/* Where the next step of freeing a file's blocks above @keep starts: each
 * step frees at most 1024 blocks (the freed-block set of a transaction)
 * in AGs whose headers and refcount blocks fit one journal transaction.
 * Returns true when more steps follow after this one. */
static bool shrink_step(struct vmfs_volume *vol, const struct extent_map *map, uint64_t keep, uint32_t max_ags,
			uint64_t *cut_at)
{
	uint32_t budget = FREED_MAX / 4, ags = 0, last_ag = 0xffffffffu;
	*cut_at = keep;
	for (uint32_t i = map->count; i-- > 0;) {
		const struct disk_extent *e = &map->e[i];
		uint64_t end = (uint64_t)e->logical + e->count;
		if (end <= keep)
			break;
		uint64_t start = e->logical > keep ? e->logical : keep;
		uint32_t ag, idx;
		if (vmfs_dblock_locate(&vol->sb, e->physical, &ag, &idx) == 0 && ag != last_ag) {
			if (++ags > max_ags) {
				*cut_at = end;
				return true;
			}
			last_ag = ag;
		}
		if (end - start > budget) {
			*cut_at = end - budget;
			return true;
		}
		budget -= (uint32_t)(end - start);
	}
	return false;
}

/* Frees the blocks of @ino past @size from the end, one bounded step per
 * operation, so any file can be truncated or removed with a small journal. */
int vmfs_shrink(struct vmfs_volume *vol, uint32_t ino, uint64_t size)
{
	uint64_t keep = (size + vol->sb.block_size - 1) / vol->sb.block_size;
	uint32_t per_ag = 1 + vol->sb.refcount_blocks;
	uint32_t max_ags = vol->txn_capacity > 16 + per_ag ? (vol->txn_capacity - 16) / per_ag : 1;
	for (;;) {
		int err = vmfs_op_begin(vol, vol->txn_capacity);
		if (err)
			return err;
		struct mblock *mb;
		struct extent_map map = { 0 };
		err = lock_inode_txn(vol, ino); /* held already when the file is open */
		if (!err)
			err = vmfs_inode_get(vol, ino, &mb);
		if (!err)
			err = vmfs_map_load(vol, mb, &map);
		uint64_t cut_at = keep;
		bool more = false;
		if (!err) {
			more = shrink_step(vol, &map, keep, max_ags, &cut_at);
			err = vmfs_inode_free_blocks(vol, mb, cut_at);
		}
		vmfs_map_free(vol, &map);
		err = vmfs_op_end(vol, err);
		if (err || !more)
			return err;
	}
}

static int remove_entry(struct vmfs_volume *vol, const char *path, bool want_dir)
{
	uint32_t parent, ino;
	struct mblock *dir, *victim;
	const char *name;
	size_t len;
	uint8_t kind;
	int err = vmfs_op_begin(vol, 24);
	if (err)
		return err;
	err = parent_locked(vol, path, &parent, &dir, &name, &len);
	if (!err)
		err = vmfs_dir_find(vol, dir, name, len, &ino, &kind);
	if (!err && want_dir && kind != VMFS_KIND_DIR)
		err = -VMFS_ENOTDIR;
	if (!err && !want_dir && kind == VMFS_KIND_DIR)
		err = -VMFS_EISDIR;
	if (!err) {
		struct held_lock *h = vmfs_lock_held(vol, vmfs_inode_lock_sector(&vol->sb, ino));
		if (h && h->opens)
			err = -VMFS_EBUSY; /* open here: VMFS files in use are not removed */
	}
	if (!err)
		err = lock_inode_txn(vol, ino);
	if (!err)
		err = vmfs_inode_get(vol, ino, &victim);
	if (!err && want_dir && victim->d.inode.entries)
		err = -VMFS_ENOTEMPTY;
	err = vmfs_op_end(vol, err);
	if (err)
		return err;
	if (!want_dir) {
		err = vmfs_shrink(vol, ino, 0);
		if (err)
			return err;
	}
	err = vmfs_op_begin(vol, 24);
	if (err)
		return err;
	err = parent_locked(vol, path, &parent, &dir, &name, &len);
	uint32_t again;
	if (!err)
		err = vmfs_dir_find(vol, dir, name, len, &again, &kind);
	if (!err && again != ino)
		err = -VMFS_ENOENT;
	if (!err)
		err = lock_inode_txn(vol, ino);
	if (!err)
		err = vmfs_inode_get(vol, ino, &victim);
	if (!err)
		err = vmfs_dir_remove(vol, dir, name, len);
	if (!err && want_dir)
		dir->d.inode.nlink--;
	if (!err)
		err = vmfs_inode_release(vol, victim);
	return vmfs_op_end(vol, err);
}

int vmfs_unlink(struct vmfs_volume *vol, const char *path)
{
	api_lock(vol);
	int err = remove_entry(vol, path, false);
	api_unlock(vol);
	return err;
}

int vmfs_rmdir(struct vmfs_volume *vol, const char *path)
{
	api_lock(vol);
	int err = remove_entry(vol, path, true);
	api_unlock(vol);
	return err;
}

/* Is @ancestor on the parent chain of directory @ino? */
static int is_ancestor(struct vmfs_volume *vol, uint32_t ancestor, uint32_t ino, bool *result)
{
	*result = false;
	for (uint32_t hops = 0; hops < 4096; hops++) {
		if (ino == ancestor) {
			*result = true;
			return 0;
		}
		if (ino == ROOT_INO)
			return 0;
		struct mblock *mb;
		int err = vmfs_inode_read(vol, ino, &mb);
		if (err)
			return err;
		ino = mb->d.inode.parent;
	}
	return -VMFS_EBADMSG;
}

static int do_rename(struct vmfs_volume *vol, const char *from, const char *to)
{
	uint32_t from_parent, to_parent, ino, target;
	struct mblock *from_dir, *to_dir, *moved;
	const char *from_name, *to_name;
	size_t from_len, to_len;
	uint8_t kind, target_kind;
	int err = vmfs_path_parent(vol, from, &from_parent, &from_name, &from_len);
	if (!err)
		err = vmfs_path_parent(vol, to, &to_parent, &to_name, &to_len);
	if (err)
		return err;
	/* Both parents, lower inode number first. */
	uint32_t first = from_parent < to_parent ? from_parent : to_parent;
	uint32_t second = from_parent < to_parent ? to_parent : from_parent;
	err = lock_inode_txn(vol, first);
	if (!err && second != first)
		err = lock_inode_txn(vol, second);
	if (!err)
		err = vmfs_inode_get(vol, from_parent, &from_dir);
	if (!err)
		err = vmfs_inode_get(vol, to_parent, &to_dir);
	if (!err && (from_dir->d.inode.kind != VMFS_KIND_DIR || to_dir->d.inode.kind != VMFS_KIND_DIR))
		err = -VMFS_ENOTDIR;
	if (!err)
		err = vmfs_dir_find(vol, from_dir, from_name, from_len, &ino, &kind);
	if (err)
		return err;
	if (from_parent == to_parent && from_len == to_len && memcmp(from_name, to_name, to_len) == 0)
		return 0;
	if (kind == VMFS_KIND_DIR) {
		bool loop;
		err = is_ancestor(vol, ino, to_parent, &loop);
		if (err)
			return err;
		if (loop) {
			VMFS_ERR(vol, "cannot move directory '%s' into itself ('%s')", from, to);
			return -VMFS_EINVAL;
		}
	}
	struct held_lock *h = vmfs_lock_held(vol, vmfs_inode_lock_sector(&vol->sb, ino));
	if (!(h && h->mode == VMFS_LOCK_EXCLUSIVE))
		err = lock_inode_txn(vol, ino);
	if (!err)
		err = vmfs_inode_get(vol, ino, &moved);
	if (err)
		return err;
	err = vmfs_dir_find(vol, to_dir, to_name, to_len, &target, &target_kind);
	if (err == 0) {
		struct mblock *victim;
		if (target_kind != kind)
			return target_kind == VMFS_KIND_DIR ? -VMFS_EISDIR : -VMFS_ENOTDIR;
		struct held_lock *th = vmfs_lock_held(vol, vmfs_inode_lock_sector(&vol->sb, target));
		if (th && th->opens)
			return -VMFS_EBUSY;
		err = lock_inode_txn(vol, target);
		if (!err)
			err = vmfs_inode_get(vol, target, &victim);
		if (!err && kind == VMFS_KIND_DIR && victim->d.inode.entries)
			err = -VMFS_ENOTEMPTY;
		if (!err && victim->d.inode.allocated_blocks > 0)
			err = 1; /* has blocks: shrink in steps first (caller retries) */
		if (!err)
			err = vmfs_dir_remove(vol, to_dir, to_name, to_len);
		if (!err && kind == VMFS_KIND_DIR)
			to_dir->d.inode.nlink--;
		if (!err)
			err = vmfs_inode_release(vol, victim);
		if (err == 1)
			return 2; /* nothing changed yet; vmfs_rename shrinks the target, retries */
		if (err)
			return err;
	} else if (err != -VMFS_ENOENT) {
		return err;
	}
	err = vmfs_dir_remove(vol, from_dir, from_name, from_len);
	if (!err)
		err = vmfs_dir_add(vol, to_dir, to_name, to_len, ino, kind);
	if (!err && kind == VMFS_KIND_DIR && from_parent != to_parent) {
		err = vmfs_mb_dirty(vol, moved);
		if (!err)
			err = vmfs_mb_dirty(vol, from_dir);
		if (!err) {
			moved->d.inode.parent = to_parent;
			from_dir->d.inode.nlink--;
			to_dir->d.inode.nlink++;
		}
	}
	if (!err) {
		err = vmfs_mb_dirty(vol, moved);
		if (!err)
			moved->d.inode.ctime_ns = wall(vol);
	}
	return err;
}

int vmfs_rename(struct vmfs_volume *vol, const char *from, const char *to)
{
	api_lock(vol);
	int err;
	for (int round = 0; round < 3; round++) {
		err = vmfs_op_begin(vol, 40);
		if (err)
			break;
		err = vmfs_op_end(vol, do_rename(vol, from, to));
		if (err != 2)
			break;
		/* The target file has blocks: free them in steps, then rename again. */
		uint32_t target;
		err = vmfs_path_lookup(vol, to, &target);
		if (!err)
			err = vmfs_shrink(vol, target, 0);
		if (err)
			break;
	}
	api_unlock(vol);
	return err;
}

static int clone_into(struct vmfs_volume *vol, const char *src, const char *dst)
{
	uint32_t src_ino, dst_ino;
	struct mblock *s, *d;
	int err = vmfs_path_lookup(vol, src, &src_ino);
	if (err)
		return err;
	struct held_lock *h = vmfs_lock_held(vol, vmfs_inode_lock_sector(&vol->sb, src_ino));
	if (!(h && h->mode == VMFS_LOCK_EXCLUSIVE))
		err = lock_inode_txn(vol, src_ino);
	if (!err)
		err = vmfs_inode_get(vol, src_ino, &s);
	if (!err && s->d.inode.kind != VMFS_KIND_FILE)
		err = -VMFS_EISDIR;
	if (!err)
		err = vmfs_create_locked(vol, dst, VMFS_KIND_FILE, true, &dst_ino);
	if (!err)
		err = lock_inode_txn(vol, dst_ino);
	if (!err)
		err = vmfs_inode_get(vol, dst_ino, &d);
	if (!err)
		err = vmfs_mb_dirty(vol, d);
	if (err)
		return err;
	struct disk_inode *si = &s->d.inode, *di = &d->d.inode;
	di->size = si->size;
	di->flags = si->flags & (INODE_INLINE | INODE_THICK_EAGER | INODE_THICK_LAZY);
	di->allocated_blocks = si->allocated_blocks;
	if (si->flags & INODE_INLINE) {
		memcpy(di->u.data, si->u.data, INLINE_BYTES);
		return 0;
	}
	struct extent_map map = { 0 };
	err = vmfs_map_load(vol, s, &map);
	for (uint32_t i = 0; i < map.count && !err; i++)
		for (uint32_t b = 0; b < map.e[i].count && !err; b++)
			err = vmfs_refcount_add(vol, map.e[i].physical + b, 1, NULL);
	if (!err)
		err = vmfs_map_store(vol, d, &map);
	vmfs_map_free(vol, &map);
	return err;
}

int vmfs_clone(struct vmfs_volume *vol, const char *src, const char *dst)
{
	api_lock(vol);
	int err = vmfs_op_begin(vol, vol->txn_capacity);
	if (!err)
		err = vmfs_op_end(vol, clone_into(vol, src, dst));
	api_unlock(vol);
	return err;
}

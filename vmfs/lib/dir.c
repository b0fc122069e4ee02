/*
 * Directories: 256 hash buckets in the directory inode, each a chain of
 * directory blocks holding packed entries (FORMAT.md "Directory block").
 * Lookups read blocks again from the disk unless this host holds the
 * directory's lock, so other hosts' committed changes are seen.
 */
#include "internal.h"

int vmfs_name_check(const char *name, size_t len)
{
	if (len == 0)
		return -VMFS_EINVAL;
	if (len > VMFS_NAME_MAX)
		return -VMFS_ENAMETOOLONG;
	if ((len == 1 && name[0] == '.') || (len == 2 && name[0] == '.' && name[1] == '.'))
		return -VMFS_EINVAL;
	for (size_t i = 0; i < len; i++)
		if (name[i] == '/' || name[i] == '\0')
			return -VMFS_EINVAL;
	return 0;
}

static int dir_block_get(struct vmfs_volume *vol, uint32_t dir_ino, uint64_t addr, struct mblock **out)
{
	bool held = vmfs_lock_held(vol, vmfs_inode_lock_sector(&vol->sb, dir_ino)) != NULL;
	int err = held || vol->alone ? vmfs_mb_get(vol, addr, MB_DIR, out) : vmfs_mb_get_fresh(vol, addr, MB_DIR, out);
	if (err)
		return err;
	const struct disk_dir *d = &(*out)->d.dir;
	if (d->h.owner != dir_ino || d->used > DIR_DATA_BYTES || d->used % 8) {
		VMFS_ERR(vol, "directory block %llu: not owned by directory %u or bad fill", (unsigned long long)addr, dir_ino);
		return -VMFS_EBADMSG;
	}
	return 0;
}

/* Walks the entries of one directory block; validates each. */
static int entry_at(struct vmfs_volume *vol, const struct disk_dir *d, uint32_t off, const struct disk_dirent **out)
{
	const struct disk_dirent *e = (const void *)(d->data + off);
	if (off + sizeof(*e) > d->used || e->rec_len < sizeof(*e) + e->name_len || e->rec_len % 8 ||
	    off + e->rec_len > d->used || e->name_len == 0 || !vmfs_ino_valid(&vol->sb, e->ino) ||
	    (e->kind != VMFS_KIND_FILE && e->kind != VMFS_KIND_DIR)) {
		VMFS_ERR(vol, "directory block %llu: bad entry at offset %u", (unsigned long long)d->h.addr, off);
		return -VMFS_EBADMSG;
	}
	*out = e;
	return 0;
}

static const char *entry_name(const struct disk_dirent *e)
{
	return (const char *)(e + 1);
}

/* Finds @name: 0 with the block and offset, or -ENOENT. */
static int dir_locate(struct vmfs_volume *vol, struct mblock *dir, const char *name, size_t len,
		      struct mblock **block, uint32_t *offset, struct mblock **prev)
{
	const struct disk_inode *in = &dir->d.inode;
	uint32_t bucket = vmfs_name_hash(name, len) % DIR_BUCKETS;
	uint64_t addr = in->u.buckets[bucket];
	*prev = NULL;
	for (uint32_t hops = 0; addr; hops++) {
		if (hops > vol->sb.dirblocks_per_ag * vol->sb.ag_count) {
			VMFS_ERR(vol, "directory %u: bucket %u chain loops", in->ino, bucket);
			return -VMFS_EBADMSG;
		}
		struct mblock *mb;
		int err = dir_block_get(vol, in->ino, addr, &mb);
		if (err)
			return err;
		for (uint32_t off = 0; off < mb->d.dir.used;) {
			const struct disk_dirent *e;
			err = entry_at(vol, &mb->d.dir, off, &e);
			if (err)
				return err;
			if (e->name_len == len && memcmp(entry_name(e), name, len) == 0) {
				*block = mb;
				*offset = off;
				return 0;
			}
			off += e->rec_len;
		}
		*prev = mb;
		addr = mb->d.dir.next;
	}
	return -VMFS_ENOENT;
}

int vmfs_dir_find(struct vmfs_volume *vol, struct mblock *dir, const char *name, size_t len, uint32_t *ino,
		  uint8_t *kind)
{
	struct mblock *block, *prev;
	uint32_t off;
	int err = dir_locate(vol, dir, name, len, &block, &off, &prev);
	if (err)
		return err;
	const struct disk_dirent *e = (const void *)(block->d.dir.data + off);
	*ino = e->ino;
	if (kind)
		*kind = e->kind;
	return 0;
}

int vmfs_dir_add(struct vmfs_volume *vol, struct mblock *dir, const char *name, size_t len, uint32_t ino,
		 uint8_t kind)
{
	struct disk_inode *in = &dir->d.inode;
	uint32_t bucket = vmfs_name_hash(name, len) % DIR_BUCKETS;
	uint32_t rec = (uint32_t)((sizeof(struct disk_dirent) + len + 7) & ~7u);
	struct mblock *mb = NULL;
	int err = 0;
	for (uint64_t addr = in->u.buckets[bucket]; addr; addr = mb->d.dir.next) {
		err = dir_block_get(vol, in->ino, addr, &mb);
		if (err)
			return err;
		if (mb->d.dir.used + rec <= DIR_DATA_BYTES)
			break;
		if (!mb->d.dir.next) {
			mb = NULL;
			break;
		}
	}
	if (!mb || mb->d.dir.used + rec > DIR_DATA_BYTES) {
		/* A new block at the head of the chain: only the inode changes. */
		err = vmfs_alloc_dirblock(vol, in->ino, MB_DIR, &mb);
		if (!err)
			err = vmfs_mb_dirty(vol, dir);
		if (err)
			return err;
		mb->d.dir.next = in->u.buckets[bucket];
		in->u.buckets[bucket] = mb->addr;
	}
	err = vmfs_mb_dirty(vol, mb);
	if (!err)
		err = vmfs_mb_dirty(vol, dir);
	if (err)
		return err;
	struct disk_dirent *e = (void *)(mb->d.dir.data + mb->d.dir.used);
	memset(e, 0, rec);
	e->ino = ino;
	e->rec_len = (uint16_t)rec;
	e->name_len = (uint8_t)len;
	e->kind = kind;
	memcpy(e + 1, name, len);
	mb->d.dir.used += rec;
	in->entries++;
	in->mtime_ns = vol->os.wall_ns ? vol->os.wall_ns(vol->os.ctx) : 0;
	return 0;
}

int vmfs_dir_remove(struct vmfs_volume *vol, struct mblock *dir, const char *name, size_t len)
{
	struct mblock *block, *prev;
	uint32_t off;
	int err = dir_locate(vol, dir, name, len, &block, &off, &prev);
	if (err)
		return err;
	err = vmfs_mb_dirty(vol, block);
	if (!err)
		err = vmfs_mb_dirty(vol, dir);
	if (err)
		return err;
	struct disk_dir *d = &block->d.dir;
	uint32_t rec = ((struct disk_dirent *)(d->data + off))->rec_len;
	memmove(d->data + off, d->data + off + rec, d->used - off - rec);
	d->used -= rec;
	memset(d->data + d->used, 0, rec);
	struct disk_inode *in = &dir->d.inode;
	if (in->entries)
		in->entries--;
	in->mtime_ns = vol->os.wall_ns ? vol->os.wall_ns(vol->os.ctx) : 0;
	if (d->used == 0) {
		/* Unlink the empty block from its chain and free it. */
		if (prev) {
			err = vmfs_mb_dirty(vol, prev);
			if (err)
				return err;
			prev->d.dir.next = d->next;
		} else {
			uint32_t bucket = vmfs_name_hash(name, len) % DIR_BUCKETS;
			in->u.buckets[bucket] = d->next;
		}
		err = vmfs_free_dirblock(vol, block->addr);
	}
	return err;
}

/* Iterates every entry of directory @dir. */
int vmfs_dir_iterate(struct vmfs_volume *vol, struct mblock *dir,
		     int (*fn)(void *arg, const struct vmfs_dirent *entry), void *arg);
int vmfs_dir_iterate(struct vmfs_volume *vol, struct mblock *dir,
		     int (*fn)(void *arg, const struct vmfs_dirent *entry), void *arg)
{
	uint32_t ino = dir->d.inode.ino;
	uint64_t buckets[DIR_BUCKETS];
	memcpy(buckets, dir->d.inode.u.buckets, sizeof(buckets));
	struct vmfs_dirent out;
	for (uint32_t b = 0; b < DIR_BUCKETS; b++) {
		uint64_t addr = buckets[b];
		for (uint32_t hops = 0; addr; hops++) {
			if (hops > vol->sb.dirblocks_per_ag * vol->sb.ag_count)
				return -VMFS_EBADMSG;
			struct mblock *mb;
			int err = dir_block_get(vol, ino, addr, &mb);
			if (err)
				return err;
			for (uint32_t off = 0; off < mb->d.dir.used;) {
				const struct disk_dirent *e;
				err = entry_at(vol, &mb->d.dir, off, &e);
				if (err)
					return err;
				out.ino = e->ino;
				out.kind = (enum vmfs_kind)e->kind;
				out.name_len = e->name_len;
				memcpy(out.name, entry_name(e), e->name_len);
				out.name[e->name_len] = '\0';
				off += e->rec_len;
				int stop = fn(arg, &out);
				if (stop)
					return stop > 0 ? 0 : stop;
			}
			addr = mb->d.dir.next;
		}
	}
	return 0;
}

/* Walks @path from the root; stops before the last @skip_last components. */
static int walk(struct vmfs_volume *vol, const char *path, bool parent_only, uint32_t *ino,
		const char **last, size_t *last_len)
{
	if (!path || path[0] != '/') {
		VMFS_ERR(vol, "path '%s' is not absolute", path ? path : "(null)");
		return -VMFS_EINVAL;
	}
	uint32_t cur = ROOT_INO;
	const char *p = path;
	for (;;) {
		while (*p == '/')
			p++;
		if (!*p) {
			if (parent_only)
				return -VMFS_EINVAL; /* the root has no parent entry */
			*ino = cur;
			return 0;
		}
		const char *start = p;
		while (*p && *p != '/')
			p++;
		size_t len = (size_t)(p - start);
		const char *rest = p;
		while (*rest == '/')
			rest++;
		if (parent_only && !*rest) {
			int err = vmfs_name_check(start, len);
			if (err)
				return err;
			*ino = cur;
			*last = start;
			*last_len = len;
			return 0;
		}
		struct mblock *dir;
		int err = vmfs_inode_read(vol, cur, &dir);
		if (err)
			return err;
		if (dir->d.inode.kind != VMFS_KIND_DIR)
			return -VMFS_ENOTDIR;
		if (len == 1 && start[0] == '.')
			continue;
		if (len == 2 && start[0] == '.' && start[1] == '.') {
			cur = dir->d.inode.parent ? dir->d.inode.parent : ROOT_INO;
			continue;
		}
		if (len > VMFS_NAME_MAX)
			return -VMFS_ENAMETOOLONG;
		uint32_t next;
		err = vmfs_dir_find(vol, dir, start, len, &next, NULL);
		if (err)
			return err;
		cur = next;
	}
}

int vmfs_path_lookup(struct vmfs_volume *vol, const char *path, uint32_t *ino)
{
	return walk(vol, path, false, ino, NULL, NULL);
}

int vmfs_path_parent(struct vmfs_volume *vol, const char *path, uint32_t *parent, const char **name,
		     size_t *name_len)
{
	return walk(vol, path, true, parent, name, name_len);
}

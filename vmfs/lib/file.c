/*
 * Open files: lock modes, read, write (allocation, lazy zeroing, copy on
 * write of shared blocks), truncate, allocate, fsync.
 *
 * Data is written in place before the metadata that points at it commits
 * (the commit flushes first), and writes are split into operations of at
 * most WRITE_CHUNK blocks so each fits one journal transaction.
 */
#include "internal.h"

#define WRITE_CHUNK 32u

int vmfs_create_locked(struct vmfs_volume *vol, const char *path, uint8_t kind, bool excl, uint32_t *ino);
int vmfs_shrink(struct vmfs_volume *vol, uint32_t ino, uint64_t size);
int vmfs_fstat_ino(struct vmfs_volume *vol, uint32_t ino, struct vmfs_stat *out);

static void api_lock(struct vmfs_volume *vol)
{
	if (vol->os.mutex_lock)
		vol->os.mutex_lock(vol->os.ctx);
}

static void api_unlock(struct vmfs_volume *vol)
{
	if (vol->os.mutex_unlock)
		vol->os.mutex_unlock(vol->os.ctx);
}

static uint64_t wall(struct vmfs_volume *vol)
{
	return vol->os.wall_ns ? vol->os.wall_ns(vol->os.ctx) : 0;
}

static uint64_t block_offset(struct vmfs_volume *vol, uint32_t dblock)
{
	return (uint64_t)dblock * vol->sb.block_size;
}

/* The device takes whole sectors: bytes at any offset go through the bounce
 * buffer, a partial sector by read-modify-write. */
static int dev_bytes(struct vmfs_volume *vol, uint64_t off, uint8_t *buf, size_t n, bool write)
{
	if (write)
		vol->data_dirty = true;
	if (off % SECTOR == 0 && n % SECTOR == 0)
		return write ? vmfs_dev_write(vol, off, buf, n) : vol->dev->read(vol->dev->ctx, off, buf, n);
	while (n > 0) {
		uint64_t start = off & ~(uint64_t)(SECTOR - 1);
		size_t head = (size_t)(off - start);
		size_t span = (head + n + SECTOR - 1) & ~(size_t)(SECTOR - 1);
		if (span > vol->sb.block_size)
			span = vol->sb.block_size;
		size_t take = span - head < n ? span - head : n;
		int err = vol->dev->read(vol->dev->ctx, start, vol->bounce, span);
		if (err)
			return err;
		if (write) {
			memcpy(vol->bounce + head, buf, take);
			err = vmfs_dev_write(vol, start, vol->bounce, span);
			if (err)
				return err;
		} else {
			memcpy(buf, vol->bounce + head, take);
		}
		off += take;
		buf += take;
		n -= take;
	}
	return 0;
}

int vmfs_open(struct vmfs_volume *vol, const char *path, int flags, enum vmfs_lock_mode mode,
	      struct vmfs_file **out)
{
	if (mode != VMFS_LOCK_EXCLUSIVE && mode != VMFS_LOCK_SHARED_RO && mode != VMFS_LOCK_MULTI_WRITER)
		return -VMFS_EINVAL;
	if ((flags & ~(VMFS_O_CREAT | VMFS_O_EXCL | VMFS_O_TRUNC | VMFS_O_SOLE)) ||
	    ((flags & (VMFS_O_CREAT | VMFS_O_TRUNC)) && mode != VMFS_LOCK_EXCLUSIVE))
		return -VMFS_EINVAL;
	api_lock(vol);
	uint32_t ino = 0;
	int err = 0;
	if (!vol->read_only) {
		/* A fenced host opens nothing, not even for reading. */
		err = vmfs_hb_refresh(vol, false);
		if (!err)
			err = vmfs_writable(vol);
	}
	if (err) {
	} else if (flags & VMFS_O_CREAT) {
		err = vmfs_op_begin(vol, 16);
		if (!err) {
			err = vmfs_create_locked(vol, path, VMFS_KIND_FILE, flags & VMFS_O_EXCL, &ino);
			if (err == -VMFS_EEXIST && !(flags & VMFS_O_EXCL))
				err = -VMFS_EISDIR;
			err = vmfs_op_end(vol, err);
			if (err > 0)
				err = 0;
		}
	} else {
		err = vmfs_path_lookup(vol, path, &ino);
	}
	struct vmfs_file *file = NULL;
	if (!err) {
		struct held_lock *held = vmfs_lock_held(vol, vmfs_inode_lock_sector(&vol->sb, ino));
		if (vol->read_only && mode != VMFS_LOCK_SHARED_RO)
			err = -VMFS_EROFS;
		else if ((flags & VMFS_O_SOLE) && held && held->opens)
			err = -VMFS_EBUSY;
		else
			err = vmfs_lock_acquire(vol, vmfs_inode_lock_sector(&vol->sb, ino), mode, false);
	}
	if (!err) {
		struct mblock *mb;
		err = vmfs_inode_read(vol, ino, &mb);
		if (!err && mb->d.inode.kind != VMFS_KIND_FILE)
			err = -VMFS_EISDIR;
		if (!err && mb->d.inode.nlink == 0)
			err = -VMFS_ENOENT;
		if (!err) {
			file = vmfs_zalloc(&vol->os, sizeof(*file));
			if (!file)
				err = -VMFS_ENOMEM;
		}
		if (err)
			vmfs_lock_release(vol, vmfs_inode_lock_sector(&vol->sb, ino), true);
	}
	if (!err) {
		file->vol = vol;
		file->ino = ino;
		file->mode = mode;
		file->open = true;
		file->next = vol->files;
		vol->files = file;
		*out = file;
	}
	api_unlock(vol);
	if (!err && (flags & VMFS_O_TRUNC)) {
		err = vmfs_truncate(file, 0);
		if (err) {
			vmfs_close(file);
			return err;
		}
	}
	return err;
}

int vmfs_close(struct vmfs_file *file)
{
	struct vmfs_volume *vol = file->vol;
	api_lock(vol);
	for (struct vmfs_file **pp = &vol->files; *pp; pp = &(*pp)->next) {
		if (*pp == file) {
			*pp = file->next;
			break;
		}
	}
	int err = vmfs_lock_release(vol, vmfs_inode_lock_sector(&vol->sb, file->ino), true);
	vol->os.free(vol->os.ctx, file);
	api_unlock(vol);
	return err;
}

int64_t vmfs_read(struct vmfs_file *file, uint64_t offset, void *buf, size_t len)
{
	struct vmfs_volume *vol = file->vol;
	api_lock(vol);
	struct mblock *mb;
	struct extent_map map = { 0 };
	int64_t done = 0;
	int err = vmfs_hb_refresh(vol, false);
	if (err == -VMFS_ESTALE || vol->fenced)
		err = -VMFS_ESTALE;
	if (!err)
		err = vmfs_inode_read(vol, file->ino, &mb);
	if (err)
		goto out;
	uint64_t size = mb->d.inode.size;
	if (offset >= size || len == 0)
		goto out;
	if (len > size - offset)
		len = (size_t)(size - offset);
	uint8_t *p = buf;
	if (mb->d.inode.flags & INODE_INLINE) {
		memcpy(p, mb->d.inode.u.data + offset, len);
		done = (int64_t)len;
		goto out;
	}
	err = vmfs_map_load(vol, mb, &map);
	uint32_t bs = vol->sb.block_size;
	while (!err && (size_t)done < len) {
		uint64_t pos = offset + (uint64_t)done;
		uint32_t lblock = (uint32_t)(pos / bs);
		uint32_t in_block = (uint32_t)(pos % bs);
		uint32_t idx;
		size_t want = len - (size_t)done;
		if (vmfs_map_find(&map, lblock, &idx)) {
			const struct disk_extent *e = &map.e[idx];
			uint64_t run = ((uint64_t)(e->logical + e->count - lblock)) * bs - in_block;
			size_t n = (size_t)vmfs_min_u64(want, run);
			if (e->flags & EXTENT_UNWRITTEN)
				memset(p + done, 0, n);
			else
				err = dev_bytes(vol, block_offset(vol, e->physical + (lblock - e->logical)) + in_block, p + done,
						n, false);
			done += (int64_t)n;
		} else {
			/* A hole up to the next extent. */
			uint64_t next = idx < map.count ? (uint64_t)map.e[idx].logical * bs : size;
			size_t n = (size_t)vmfs_min_u64(want, next - pos);
			memset(p + done, 0, n);
			done += (int64_t)n;
		}
	}
out:
	vmfs_map_free(vol, &map);
	api_unlock(vol);
	return err ? err : done;
}

static int write_allowed(struct vmfs_file *file)
{
	if (file->mode == VMFS_LOCK_SHARED_RO)
		return -VMFS_EPERM;
	return vmfs_writable(file->vol);
}

/* Writes @n bytes at @in_block of data block @dblock, whose old content is
 * @old_dblock (copy on write), zeros (@old_zero) or itself. */
static int data_write(struct vmfs_volume *vol, uint32_t dblock, uint32_t in_block, const uint8_t *data, size_t n,
		      bool fill, uint32_t old_dblock, bool old_zero)
{
	uint32_t bs = vol->sb.block_size;
	vol->data_dirty = true;
	if (!fill || (in_block == 0 && n == bs))
		return dev_bytes(vol, block_offset(vol, dblock) + in_block, (uint8_t *)data, n, true);
	int err = 0;
	if (old_zero)
		memset(vol->bounce, 0, bs);
	else
		err = vol->dev->read(vol->dev->ctx, block_offset(vol, old_dblock), vol->bounce, bs);
	if (err)
		return err;
	if (data)
		memcpy(vol->bounce + in_block, data, n);
	else
		memset(vol->bounce + in_block, 0, n);
	return vmfs_dev_write(vol, block_offset(vol, dblock), vol->bounce, bs);
}

/* Moves inline data out to a data block (the file grows past the inode). */
static int uninline(struct vmfs_volume *vol, struct mblock *mb, struct extent_map *map)
{
	struct disk_inode *in = &mb->d.inode;
	if (!(in->flags & INODE_INLINE))
		return 0;
	int err = vmfs_mb_dirty(vol, mb);
	if (err)
		return err;
	if (in->size > 0) {
		uint32_t first, got;
		err = vmfs_alloc_data(vol, 1, &first, &got);
		if (err)
			return err;
		memset(vol->bounce, 0, vol->sb.block_size);
		memcpy(vol->bounce, in->u.data, (size_t)in->size);
		vol->data_dirty = true;
		err = vmfs_dev_write(vol, block_offset(vol, first), vol->bounce, vol->sb.block_size);
		if (!err)
			err = vmfs_map_set(vol, map, 0, 1, first, 0);
		in->allocated_blocks = 1;
	}
	in->flags &= (uint16_t)~INODE_INLINE;
	memset(in->u.data, 0, sizeof(in->u.data));
	in->entries = 0;
	return err;
}

/* One write operation: up to WRITE_CHUNK blocks from @pos. @data NULL
 * writes zeros. Returns bytes written or an error. */
static int64_t write_chunk(struct vmfs_file *file, uint64_t pos, const uint8_t *data, size_t len, bool grow)
{
	struct vmfs_volume *vol = file->vol;
	uint32_t bs = vol->sb.block_size;
	struct mblock *mb;
	struct extent_map map = { 0 };
	int err = vmfs_inode_get(vol, file->ino, &mb);
	if (err)
		return err;
	struct disk_inode *in = &mb->d.inode;
	uint64_t end = pos + len;
	bool multi = file->mode == VMFS_LOCK_MULTI_WRITER;
	bool map_changed = false;
	if (in->flags & INODE_INLINE) {
		if (end <= INLINE_BYTES) {
			if (multi)
				return -VMFS_EPERM;
			err = vmfs_mb_dirty(vol, mb);
			if (err)
				return err;
			if (data)
				memcpy(in->u.data + pos, data, len);
			else
				memset(in->u.data + pos, 0, len);
			if (grow && end > in->size)
				in->size = end;
			in->mtime_ns = wall(vol);
			return (int64_t)len;
		}
		if (multi)
			return -VMFS_EPERM;
		err = uninline(vol, mb, &map);
		if (err)
			goto out;
		map_changed = true; /* the extent of the moved-out bytes */
	} else {
		err = vmfs_map_load(vol, mb, &map);
		if (err)
			goto out;
	}
	uint64_t limit = (uint64_t)(pos / bs + WRITE_CHUNK) * bs;
	if (end > limit)
		end = limit;
	size_t done = 0;
	while (pos + done < end && !err) {
		uint64_t at = pos + done;
		uint32_t lblock = (uint32_t)(at / bs);
		uint32_t in_block = (uint32_t)(at % bs);
		size_t n = (size_t)vmfs_min_u64(end - at, bs - in_block);
		const uint8_t *src = data ? data + done : NULL;
		uint32_t idx;
		if (vmfs_map_find(&map, lblock, &idx)) {
			struct disk_extent e = map.e[idx];
			uint32_t phys = e.physical + (lblock - e.logical);
			uint32_t refs;
			err = vmfs_refcount_get(vol, phys, &refs);
			if (err)
				break;
			bool unwritten = e.flags & EXTENT_UNWRITTEN;
			if (multi && (unwritten || refs > 1)) {
				err = -VMFS_EPERM; /* multi-writer: only written, unshared blocks */
				break;
			}
			if (refs > 1) {
				uint32_t fresh, got;
				err = vmfs_alloc_data(vol, 1, &fresh, &got);
				if (!err)
					err = data_write(vol, fresh, in_block, src ? src : vol->zero_block, n, true, phys, unwritten);
				if (!err)
					err = vmfs_map_set(vol, &map, lblock, 1, fresh, 0);
				if (!err)
					err = vmfs_refcount_add(vol, phys, -1, NULL);
				map_changed = true;
			} else if (unwritten) {
				err = data_write(vol, phys, in_block, src ? src : vol->zero_block, n, true, phys, true);
				if (!err)
					err = vmfs_map_set(vol, &map, lblock, 1, phys, 0);
				map_changed = true;
			} else {
				err = data_write(vol, phys, in_block, src ? src : vol->zero_block, n, false, phys, false);
			}
			done += n;
			continue;
		}
		if (multi) {
			err = -VMFS_EPERM;
			break;
		}
		/* A hole: allocate a run for it, as long as the hole and the chunk go. */
		uint64_t hole_end = idx < map.count ? (uint64_t)map.e[idx].logical * bs : ~0ull;
		uint64_t run_end = vmfs_min_u64(end, hole_end);
		uint32_t want = (uint32_t)((run_end + bs - 1) / bs - lblock);
		uint32_t first, got;
		err = vmfs_alloc_data(vol, want, &first, &got);
		if (err)
			break;
		for (uint32_t b = 0; b < got && !err && pos + done < run_end; b++) {
			uint64_t at2 = pos + done;
			uint32_t ib = (uint32_t)(at2 % bs);
			size_t n2 = (size_t)vmfs_min_u64(run_end - at2, bs - ib);
			err = data_write(vol, first + b, ib, data ? data + done : vol->zero_block, n2, true, 0, true);
			done += n2;
		}
		if (!err)
			err = vmfs_map_set(vol, &map, lblock, got, first, 0);
		if (!err)
			in->allocated_blocks += got;
		map_changed = true;
	}
	if (!err && map_changed)
		err = vmfs_map_store(vol, mb, &map);
	if (!err && ((grow && pos + done > in->size) || !multi)) {
		err = vmfs_mb_dirty(vol, mb);
		if (!err && grow && pos + done > in->size)
			in->size = pos + done;
		if (!err)
			in->mtime_ns = wall(vol);
	}
out:
	vmfs_map_free(vol, &map);
	return err ? err : (int64_t)done;
}

static int64_t do_write(struct vmfs_file *file, uint64_t offset, const void *buf, size_t len, bool grow)
{
	struct vmfs_volume *vol = file->vol;
	const uint64_t max_size = (uint64_t)0xffffffffu * vol->sb.block_size;
	if (offset > max_size || len > max_size - offset)
		return -VMFS_EFBIG;
	size_t done = 0;
	int retried = 0;
	while (done < len) {
		int err = vmfs_op_begin(vol, 24);
		if (err)
			return done ? (int64_t)done : err;
		int64_t n = write_chunk(file, offset + done, buf ? (const uint8_t *)buf + done : NULL, len - done, grow);
		int end = vmfs_op_end(vol, n < 0 ? (int)n : 0);
		if (end < 0)
			n = end;
		/* Blocks freed in this transaction, or a chunk bigger than what is
		 * left of it: commit, then the chunk again. */
		if ((n == -VMFS_EAGAIN_COMMIT || n == -VMFS_EFBIG) && !retried++) {
			err = vmfs_commit(vol);
			if (err)
				return err;
			continue;
		}
		if (n < 0)
			return done ? (int64_t)done : n;
		done += (size_t)n;
		retried = 0;
	}
	return (int64_t)done;
}

int64_t vmfs_write(struct vmfs_file *file, uint64_t offset, const void *buf, size_t len)
{
	struct vmfs_volume *vol = file->vol;
	api_lock(vol);
	int64_t r = write_allowed(file);
	if (r == 0 && len)
		r = do_write(file, offset, buf, len, file->mode != VMFS_LOCK_MULTI_WRITER);
	api_unlock(vol);
	return r;
}

int vmfs_truncate(struct vmfs_file *file, uint64_t size)
{
	struct vmfs_volume *vol = file->vol;
	api_lock(vol);
	int err = write_allowed(file);
	if (!err && file->mode != VMFS_LOCK_EXCLUSIVE)
		err = -VMFS_EPERM;
	if (!err && size > (uint64_t)0xffffffffu * vol->sb.block_size)
		err = -VMFS_EFBIG;
	struct mblock *mb;
	if (!err)
		err = vmfs_inode_get(vol, file->ino, &mb);
	if (!err && size < mb->d.inode.size) {
		uint64_t old = mb->d.inode.size;
		err = vmfs_shrink(vol, file->ino, size);
		/* Zero the tail of the last kept block: a later extension reads zeros. */
		uint32_t bs = vol->sb.block_size;
		bool inl = mb->d.inode.flags & INODE_INLINE;
		uint64_t tail_end = inl ? old : vmfs_min_u64(old, (size + bs - 1) / bs * bs);
		if (!err && tail_end > size) {
			int64_t n = do_write(file, size, NULL, (size_t)(tail_end - size), false);
			err = n < 0 ? (int)n : 0;
		}
	}
	if (!err) {
		err = vmfs_op_begin(vol, 4);
		if (!err) {
			err = vmfs_inode_get(vol, file->ino, &mb);
			if (!err && (mb->d.inode.flags & INODE_INLINE) && size > INLINE_BYTES) {
				/* Grown past what the inode holds: the bytes move to a block. */
				struct extent_map map = { 0 };
				err = uninline(vol, mb, &map);
				if (!err)
					err = vmfs_map_store(vol, mb, &map);
				vmfs_map_free(vol, &map);
			}
			if (!err)
				err = vmfs_mb_dirty(vol, mb);
			if (!err) {
				mb->d.inode.size = size;
				mb->d.inode.mtime_ns = wall(vol);
			}
			err = vmfs_op_end(vol, err);
		}
	}
	api_unlock(vol);
	return err;
}

static int allocate_chunk(struct vmfs_file *file, uint32_t from, uint32_t to, enum vmfs_alloc_policy policy,
			  uint32_t *next)
{
	struct vmfs_volume *vol = file->vol;
	struct mblock *mb;
	struct extent_map map = { 0 };
	int err = vmfs_inode_get(vol, file->ino, &mb);
	if (!err)
		err = uninline(vol, mb, &map);
	if (!err && !(mb->d.inode.flags & INODE_INLINE) && map.count == 0)
		err = vmfs_map_load(vol, mb, &map);
	uint32_t l = from, made = 0;
	while (!err && l < to && made < WRITE_CHUNK) {
		uint32_t idx;
		if (vmfs_map_find(&map, l, &idx)) {
			l = map.e[idx].logical + map.e[idx].count;
			continue;
		}
		uint32_t hole_end = idx < map.count ? map.e[idx].logical : to;
		uint32_t want = (hole_end < to ? hole_end : to) - l;
		if (want > WRITE_CHUNK - made)
			want = WRITE_CHUNK - made;
		uint32_t first, got;
		err = vmfs_alloc_data(vol, want, &first, &got);
		if (policy == VMFS_ALLOC_THICK_EAGER)
			vol->data_dirty = true;
		for (uint32_t b = 0; b < got && !err && policy == VMFS_ALLOC_THICK_EAGER; b++)
			err = vmfs_dev_write(vol, block_offset(vol, first + b), vol->zero_block, vol->sb.block_size);
		if (!err)
			err = vmfs_map_set(vol, &map, l, got, first,
					   policy == VMFS_ALLOC_THICK_EAGER ? 0 : EXTENT_UNWRITTEN);
		if (!err)
			mb->d.inode.allocated_blocks += got;
		l += got;
		made += got;
	}
	if (!err)
		err = vmfs_map_store(vol, mb, &map);
	if (!err)
		mb->d.inode.flags |= policy == VMFS_ALLOC_THICK_EAGER ? INODE_THICK_EAGER : INODE_THICK_LAZY;
	vmfs_map_free(vol, &map);
	*next = l;
	return err;
}

int vmfs_allocate(struct vmfs_file *file, uint64_t size, enum vmfs_alloc_policy policy)
{
	struct vmfs_volume *vol = file->vol;
	if (policy != VMFS_ALLOC_THIN && policy != VMFS_ALLOC_THICK_LAZY && policy != VMFS_ALLOC_THICK_EAGER)
		return -VMFS_EINVAL;
	api_lock(vol);
	int err = write_allowed(file);
	if (!err && file->mode != VMFS_LOCK_EXCLUSIVE)
		err = -VMFS_EPERM;
	if (!err && size > (uint64_t)0xffffffffu * vol->sb.block_size)
		err = -VMFS_EFBIG;
	uint32_t bs = vol->sb.block_size;
	uint32_t blocks = (uint32_t)((size + bs - 1) / bs);
	bool force_blocks = policy != VMFS_ALLOC_THIN;
	int retried = 0;
	for (uint32_t l = 0; !err && force_blocks && l < blocks;) {
		err = vmfs_op_begin(vol, 24);
		if (err)
			break;
		uint32_t next = l;
		err = vmfs_op_end(vol, allocate_chunk(file, l, blocks, policy, &next));
		if ((err == -VMFS_EAGAIN_COMMIT || err == -VMFS_EFBIG) && !retried++) {
			err = vmfs_commit(vol);
			continue;
		}
		retried = 0;
		l = next;
	}
	if (!err) {
		err = vmfs_op_begin(vol, 4);
		struct mblock *mb;
		if (!err) {
			err = vmfs_inode_get(vol, file->ino, &mb);
			if (!err && size > mb->d.inode.size && (mb->d.inode.flags & INODE_INLINE) && size > INLINE_BYTES) {
				struct extent_map map = { 0 };
				err = uninline(vol, mb, &map);
				if (!err)
					err = vmfs_map_store(vol, mb, &map);
				vmfs_map_free(vol, &map);
			}
			if (!err && size > mb->d.inode.size) {
				err = vmfs_mb_dirty(vol, mb);
				if (!err)
					mb->d.inode.size = size;
			}
			err = vmfs_op_end(vol, err);
		}
	}
	api_unlock(vol);
	return err;
}

int vmfs_fsync(struct vmfs_file *file)
{
	struct vmfs_volume *vol = file->vol;
	if (file->mode == VMFS_LOCK_SHARED_RO)
		return 0;
	api_lock(vol);
	int err = vmfs_writable(vol);
	if (!err)
		err = vmfs_commit(vol);
	if (!err)
		err = vol->dev->flush(vol->dev->ctx);
	api_unlock(vol);
	return err;
}

int vmfs_fstat(struct vmfs_file *file, struct vmfs_stat *out)
{
	struct vmfs_volume *vol = file->vol;
	api_lock(vol);
	int err = vmfs_fstat_ino(vol, file->ino, out);
	api_unlock(vol);
	return err;
}

/* mkfs, mount, unmount, heartbeat, sync, statfs. */
#include "internal.h"

static uint64_t wall(const struct vmfs_os *os)
{
	return os->wall_ns ? os->wall_ns(os->ctx) : 0;
}

/* Geometry for a device of @bytes: FORMAT.md "Volume layout". */
int vmfs_mkfs_geometry(const struct vmfs_os *os, uint64_t bytes, const struct vmfs_mkfs_options *o,
		       struct disk_super *sb)
{
	uint32_t bs = o->block_size ? o->block_size : 1024 * 1024;
	if ((bs & (bs - 1)) || bs < BLOCK_SIZE_MIN || bs > BLOCK_SIZE_MAX) {
		vmfs_logf(os, VMFS_LOG_ERROR, "block size %u: must be a power of two from 64 KiB to 64 MiB", bs);
		return -VMFS_EINVAL;
	}
	bool small = bytes < 4ull * 1024 * 1024 * 1024;
	uint32_t journal = o->journal_blocks ? o->journal_blocks : small ? 64 : 256;
	/* 0 until the AG size is known: one inode per MiB of data, see below. */
	uint32_t inodes = o->inodes_per_ag ? o->inodes_per_ag : small ? 256 : 0;
	uint32_t dirblocks = o->dirblocks_per_ag ? o->dirblocks_per_ag : small ? 1024 : 2048;
	if (journal < JOURNAL_MIN || journal > (1u << 20) || (inodes && inodes < 8) || inodes > INODES_PER_AG_MAX ||
	    inodes % 8 || dirblocks < 8 || dirblocks > DIRBLOCKS_PER_AG_MAX || dirblocks % 8) {
		vmfs_logf(os, VMFS_LOG_ERROR, "bad mkfs parameters (journal %u, inodes/AG %u, dirblocks/AG %u)",
			  journal, inodes, dirblocks);
		return -VMFS_EINVAL;
	}
	memset(sb, 0, sizeof(*sb));
	sb->version = FORMAT_VERSION;
	sb->volume_bytes = bytes / MB_SIZE * MB_SIZE;
	sb->block_size = bs;
	sb->hb_slots = VMFS_HOST_SLOTS;
	sb->hb_start = HB_START;
	sb->volume_lock = VOLUME_LOCK_MB;
	sb->journal_start = JOURNAL_START;
	sb->journal_blocks = journal;
	sb->dirblocks_per_ag = dirblocks;
	/* AGs of up to 8 refcount blocks, so a volume has at least ~64 AGs
	 * (hosts allocate in parallel) and a huge file needs few extents. */
	uint64_t per_block_group = (uint64_t)REFCOUNTS_PER_BLOCK * bs * 64;
	uint64_t groups = bytes / per_block_group;
	sb->refcount_blocks = groups < 1 ? 1 : groups > REFCOUNT_BLOCKS_MAX ? REFCOUNT_BLOCKS_MAX : (uint32_t)groups;
	sb->data_blocks_per_ag = REFCOUNTS_PER_BLOCK * sb->refcount_blocks;
	if (!inodes) {
		/* A datastore holds a few large files per VM, but the file count
		 * must still grow with the volume: one inode per MiB of AG data
		 * (the table costs 0.4 % of the space), at least 512. */
		uint64_t per_mib = (uint64_t)sb->data_blocks_per_ag * bs / (1024 * 1024) / 8 * 8;
		inodes = per_mib < 512 ? 512 : per_mib > INODES_PER_AG_MAX ? INODES_PER_AG_MAX : (uint32_t)per_mib;
	}
	sb->inodes_per_ag = inodes;
	if (inodes > INODES_PER_AG_SMALL_MAX)
		sb->feature_incompat |= INCOMPAT_LARGE_INODE_TABLE;
	uint64_t meta = (1ull + sb->refcount_blocks + inodes + dirblocks) * MB_SIZE;
	sb->ag_meta_dblocks = (uint32_t)((meta + bs - 1) / bs);
	sb->ag_bytes = ((uint64_t)sb->ag_meta_dblocks + sb->data_blocks_per_ag) * bs;
	uint64_t journal_end = (JOURNAL_START + (uint64_t)VMFS_HOST_SLOTS * journal) * MB_SIZE;
	uint64_t ag_start = (journal_end + bs - 1) / bs * bs;
	sb->ag_start = ag_start / MB_SIZE;
	sb->root_ino = ROOT_INO;
	if (sb->volume_bytes / bs >= (1ull << 32)) {
		vmfs_logf(os, VMFS_LOG_ERROR, "a %llu-byte volume needs a block size above %u",
			  (unsigned long long)bytes, bs);
		return -VMFS_EFBIG;
	}
	uint64_t data_end = (sb->volume_bytes - MB_SIZE) / bs * bs;
	if (data_end <= ag_start + (uint64_t)sb->ag_meta_dblocks * bs) {
		vmfs_logf(os, VMFS_LOG_ERROR,
			  "device of %llu bytes is too small: it needs at least %llu bytes with block size %u",
			  (unsigned long long)bytes,
			  (unsigned long long)(ag_start + ((uint64_t)sb->ag_meta_dblocks + 2) * bs + MB_SIZE), bs);
		return -VMFS_ENOSPC;
	}
	sb->ag_count = (uint32_t)((data_end - ag_start + sb->ag_bytes - 1) / sb->ag_bytes);
	if (vmfs_ag_data_blocks(sb, sb->ag_count - 1) == 0)
		sb->ag_count--;
	if ((uint64_t)sb->ag_count * inodes >= (1ull << 32))
		return -VMFS_EFBIG;
	return vmfs_super_check(os, sb, bytes);
}

int vmfs_mkfs(const struct vmfs_os *os, struct vmfs_blockdev *dev, const struct vmfs_mkfs_options *options)
{
	static const struct vmfs_mkfs_options defaults;
	if (!options)
		options = &defaults;
	struct disk_super sb;
	int err = vmfs_mkfs_geometry(os, dev->size_bytes, options, &sb);
	if (err)
		return err;
	if (options->label && strlen(options->label) >= sizeof(sb.label)) {
		vmfs_logf(os, VMFS_LOG_ERROR, "label longer than %zu bytes", sizeof(sb.label) - 1);
		return -VMFS_EINVAL;
	}
	if (options->label)
		memcpy(sb.label, options->label, strlen(options->label));
	if (options->uuid) {
		memcpy(sb.uuid, options->uuid, 16);
	} else {
		uint64_t a = wall(os) ^ os->now_ns(os->ctx), b = a * 0x9e3779b97f4a7c15ull + dev->size_bytes;
		memcpy(sb.uuid, &a, 8);
		memcpy(sb.uuid + 8, &b, 8);
	}
	sb.created_ns = wall(os);
	uint8_t *buf = os->alloc(os->ctx, (1 + REFCOUNT_BLOCKS_MAX) * MB_SIZE);
	if (!buf)
		return -VMFS_ENOMEM;
	/* Heartbeat region: 64 FREE slots; the volume lock: FREE. */
	memset(buf, 0, 8 * MB_SIZE);
	for (uint32_t s = 0; s < VMFS_HOST_SLOTS; s++) {
		struct disk_hb *hb = (struct disk_hb *)(buf + s * SECTOR);
		hb->state = HB_FREE;
		vmfs_hb_seal(hb);
	}
	err = dev->write(dev->ctx, HB_START * MB_SIZE, buf, 8 * MB_SIZE);
	memset(buf, 0, MB_SIZE);
	vmfs_lock_seal((struct disk_lock *)buf);
	if (!err)
		err = dev->write(dev->ctx, VOLUME_LOCK_MB * MB_SIZE, buf, MB_SIZE);
	/* Journals: header with checkpoint 0 and an empty descriptor slot. */
	for (uint32_t s = 0; s < VMFS_HOST_SLOTS && !err; s++) {
		uint64_t j = JOURNAL_START + (uint64_t)s * sb.journal_blocks;
		memset(buf, 0, 2 * MB_SIZE);
		struct disk_jhdr *jh = (struct disk_jhdr *)buf;
		jh->slot = s;
		vmfs_mb_seal(jh, MB_JHDR, j, 0);
		err = dev->write(dev->ctx, j * MB_SIZE, buf, 2 * MB_SIZE);
	}
	/* AGs: header, refcount block; the root directory in AG 0. */
	for (uint32_t ag = 0; ag < sb.ag_count && !err; ag++) {
		uint64_t m = vmfs_ag_mblock(&sb, ag);
		memset(buf, 0, (1 + sb.refcount_blocks) * MB_SIZE);
		struct disk_aghdr *h = (struct disk_aghdr *)buf;
		h->ag = ag;
		h->data_blocks = vmfs_ag_data_blocks(&sb, ag);
		h->free_data = h->data_blocks;
		h->free_inodes = sb.inodes_per_ag - 1;
		h->free_dirblocks = sb.dirblocks_per_ag;
		vmfs_bit_set(h->inode_bitmap, 0, true);
		if (ag == 0) {
			vmfs_bit_set(h->inode_bitmap, ROOT_INO, true);
			h->free_inodes--;
		}
		vmfs_mb_seal(h, MB_AGHDR, m, 0);
		for (uint32_t r = 0; r < sb.refcount_blocks; r++)
			vmfs_mb_seal(buf + (1 + r) * MB_SIZE, MB_REFCOUNT, m + 1 + r, 0);
		err = dev->write(dev->ctx, m * MB_SIZE, buf, (1 + sb.refcount_blocks) * MB_SIZE);
	}
	if (!err) {
		memset(buf, 0, MB_SIZE);
		struct disk_inode *root = (struct disk_inode *)buf;
		root->ino = ROOT_INO;
		root->kind = VMFS_KIND_DIR;
		root->nlink = 2;
		root->parent = ROOT_INO;
		root->mtime_ns = root->ctime_ns = sb.created_ns;
		uint64_t m = vmfs_inode_mblock(&sb, ROOT_INO);
		vmfs_mb_seal(root, MB_INODE, m, 0);
		err = dev->write(dev->ctx, m * MB_SIZE, buf, MB_SIZE);
	}
	/* The superblock last, so a device is not a volume until it is whole. */
	uint64_t copies[3] = { 0, 1, sb.volume_bytes / MB_SIZE - 1 };
	for (int i = 0; i < 3 && !err; i++) {
		memset(buf, 0, MB_SIZE);
		memcpy(buf, &sb, sizeof(sb));
		vmfs_mb_seal(buf, MB_SUPER, copies[i], 0);
		if (i == 0 && (err = dev->flush(dev->ctx)) != 0)
			break;
		err = dev->write(dev->ctx, copies[i] * MB_SIZE, buf, MB_SIZE);
	}
	if (!err)
		err = dev->flush(dev->ctx);
	os->free(os->ctx, buf);
	if (!err)
		vmfs_logf(os, VMFS_LOG_INFO, "mkfs: %llu bytes, block size %u, %u AGs, %llu data blocks",
			  (unsigned long long)sb.volume_bytes, sb.block_size, sb.ag_count,
			  (unsigned long long)((uint64_t)(sb.ag_count - 1) * sb.data_blocks_per_ag +
					       vmfs_ag_data_blocks(&sb, sb.ag_count - 1)));
	return err;
}

static void vol_free(struct vmfs_volume *vol)
{
	vmfs_cache_free(vol);
	const struct vmfs_os os = vol->os;
	if (vol->zero_block)
		os.free(os.ctx, vol->zero_block);
	if (vol->bounce)
		os.free(os.ctx, vol->bounce);
	if (vol->op_blocks)
		os.free(os.ctx, vol->op_blocks);
	if (vol->freed)
		os.free(os.ctx, vol->freed);
	os.free(os.ctx, vol);
}

int vmfs_mount(const struct vmfs_os *os, struct vmfs_blockdev *dev, const struct vmfs_mount_options *options,
	       struct vmfs_volume **out)
{
	static const struct vmfs_mount_options defaults;
	if (!options)
		options = &defaults;
	struct disk_super sb;
	int err = vmfs_read_super(os, dev, &sb);
	if (err)
		return err;
	bool read_only = options->read_only;
	if ((sb.feature_ro_compat & ~RO_COMPAT_KNOWN) && !read_only) {
		vmfs_logf(os, VMFS_LOG_ERROR, "volume uses unknown read-only-compatible features 0x%x: mount it read-only",
			  sb.feature_ro_compat & ~RO_COMPAT_KNOWN);
		return -VMFS_EROFS;
	}
	struct vmfs_volume *vol = vmfs_zalloc(os, sizeof(*vol));
	if (!vol)
		return -VMFS_ENOMEM;
	vol->os = *os;
	vol->dev = dev;
	vol->sb = sb;
	vol->read_only = read_only;
	vol->slot = 0xffffffffu;
	vol->heartbeat_ms = options->heartbeat_ms ? options->heartbeat_ms : VMFS_DEFAULT_HEARTBEAT_MS;
	vol->lease_ms = options->lease_ms ? options->lease_ms : VMFS_DEFAULT_LEASE_MS;
	if (vol->lease_ms <= 2 * vol->heartbeat_ms) {
		vmfs_logf(os, VMFS_LOG_ERROR, "lease (%u ms) must be more than twice the heartbeat interval (%u ms)",
			  vol->lease_ms, vol->heartbeat_ms);
		vol_free(vol);
		return -VMFS_EINVAL;
	}
	vol->lock_wait_ms = options->lock_wait_ms ? options->lock_wait_ms : vol->lease_ms + 2 * vol->heartbeat_ms;
	vol->cache_max = options->cache_blocks ? options->cache_blocks : VMFS_DEFAULT_CACHE_BLOCKS;
	if (vol->cache_max < CACHE_BLOCKS_MIN)
		vol->cache_max = CACHE_BLOCKS_MIN;
	memcpy(vol->host_uuid, options->host_uuid, 16);
	if (options->host_name) {
		size_t n = strlen(options->host_name);
		memcpy(vol->host_name, options->host_name, n < sizeof(vol->host_name) - 1 ? n : sizeof(vol->host_name) - 1);
	}
	vol->txn_capacity = sb.journal_blocks - 3 < JOURNAL_TXN_MAX ? sb.journal_blocks - 3 : JOURNAL_TXN_MAX;
	vol->zero_block = vmfs_zalloc(os, sb.block_size);
	vol->bounce = os->alloc(os->ctx, sb.block_size);
	vol->freed = os->alloc(os->ctx, 2 * FREED_MAX * sizeof(uint32_t));
	if (!vol->zero_block || !vol->bounce || !vol->freed) {
		vol_free(vol);
		return -VMFS_ENOMEM;
	}
	memset(vol->freed, 0xff, 2 * FREED_MAX * sizeof(uint32_t));
	vol->last_commit_ns = os->now_ns(os->ctx);
	if (!read_only) {
		err = vmfs_hb_claim(vol);
		bool replayed = false;
		if (!err)
			err = vmfs_journal_replay(os, dev, &sb, vol->slot, &replayed);
		if (!err)
			err = vmfs_journal_seq(os, dev, &sb, vol->slot, &vol->seq);
		if (!err && vol->crashed_generation) {
			vmfs_logf(os, VMFS_LOG_INFO, "slot %u was left mounted (crash): releasing its old locks", vol->slot);
			err = vmfs_locks_drop_holder(vol, vol->slot, vol->crashed_generation);
		}
		if (err) {
			vmfs_hb_release(vol);
			vol_free(vol);
			return err;
		}
		/* Hosts start in different AGs, so they rarely wait for each other. */
		vol->alloc_ag = sb.ag_count >= VMFS_HOST_SLOTS ? (uint32_t)((uint64_t)vol->slot * sb.ag_count / VMFS_HOST_SLOTS)
							       : vol->slot % sb.ag_count;
	}
	struct mblock *root;
	err = vmfs_inode_read(vol, ROOT_INO, &root);
	if (!err && root->d.inode.kind != VMFS_KIND_DIR) {
		VMFS_ERR(vol, "root inode is not a directory");
		err = -VMFS_EBADMSG;
	}
	if (err) {
		vmfs_hb_release(vol);
		vol_free(vol);
		return err;
	}
	vmfs_logf(os, VMFS_LOG_INFO, "mounted '%s' %s, heartbeat slot %d", sb.label, read_only ? "read-only" : "read-write",
		  read_only ? -1 : (int)vol->slot);
	*out = vol;
	return 0;
}

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

int vmfs_unmount(struct vmfs_volume *vol)
{
	if (!vol)
		return -VMFS_EINVAL;
	while (vol->files)
		vmfs_close(vol->files);
	api_lock(vol);
	int err = 0;
	if (!vol->read_only) {
		err = vmfs_commit(vol);
		if (!err)
			err = vol->dev->flush(vol->dev->ctx);
		for (uint32_t i = 0; i < vol->held_count; i++) {
			vol->held[i].txn = true;
			vol->held[i].opens = 0;
			vol->held[i].used_by_op = false;
		}
		if (!err)
			vmfs_release_txn_locks(vol);
		int e2 = err ? 0 : vmfs_hb_release(vol);
		if (!err)
			err = e2;
	}
	api_unlock(vol);
	vol_free(vol);
	return err;
}

int vmfs_heartbeat(struct vmfs_volume *vol)
{
	api_lock(vol);
	int err = vmfs_hb_refresh(vol, false);
	uint64_t now = vol->os.now_ns(vol->os.ctx);
	if (!err && !vol->read_only && now - vol->last_commit_ns >= (uint64_t)vol->heartbeat_ms * 1000000ull)
		err = vmfs_commit(vol);
	api_unlock(vol);
	return err;
}

int vmfs_sync(struct vmfs_volume *vol)
{
	api_lock(vol);
	int err = vol->read_only ? 0 : vmfs_hb_refresh(vol, false);
	if (!err && !vol->read_only)
		err = vmfs_commit(vol);
	if (!err && !vol->read_only)
		err = vol->dev->flush(vol->dev->ctx);
	api_unlock(vol);
	return err;
}

int vmfs_lease_state(struct vmfs_volume *vol)
{
	api_lock(vol);
	int err = vol->read_only ? 0 : vmfs_writable(vol);
	api_unlock(vol);
	return err;
}

int vmfs_statfs(struct vmfs_volume *vol, struct vmfs_statfs *out)
{
	api_lock(vol);
	memset(out, 0, sizeof(*out));
	memcpy(out->label, vol->sb.label, sizeof(vol->sb.label));
	out->label[sizeof(out->label) - 1] = '\0';
	memcpy(out->uuid, vol->sb.uuid, 16);
	out->block_size = vol->sb.block_size;
	out->volume_bytes = vol->sb.volume_bytes;
	out->ag_count = vol->sb.ag_count;
	out->my_slot = vol->slot;
	int err = 0;
	for (uint32_t ag = 0; ag < vol->sb.ag_count && !err; ag++) {
		struct mblock *mb;
		bool held = vmfs_lock_held(vol, vmfs_ag_lock_sector(&vol->sb, ag)) != NULL;
		uint64_t m = vmfs_ag_mblock(&vol->sb, ag);
		err = held || vol->alone ? vmfs_mb_get(vol, m, MB_AGHDR, &mb) : vmfs_mb_get_fresh(vol, m, MB_AGHDR, &mb);
		if (err)
			break;
		out->total_blocks += mb->d.ag.data_blocks;
		out->free_blocks += mb->d.ag.free_data;
		out->total_inodes += vol->sb.inodes_per_ag - 1;
		out->free_inodes += mb->d.ag.free_inodes;
	}
	api_unlock(vol);
	return err;
}

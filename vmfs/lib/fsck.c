/*
 * fsck: checks every invariant of FORMAT.md and, with repair, fixes what can
 * be rebuilt safely. The directory tree from the root is the truth: inode
 * and block bitmaps, reference counts and free counts are recomputed from
 * what it reaches and rewritten where they differ; entries pointing at
 * damaged or invalid inodes are removed; damaged directory blocks are cut
 * out of their chain. Without repair nothing is ever written.
 */
#include "internal.h"

/* Metadata is read in chunks of 64 blocks: the walk meets inodes and
 * directory blocks roughly in allocation order, so one 256 KiB read serves
 * many of them (and each inode is met up to three times: entry, link count,
 * lock). 64 chunks, 16 MiB; without that memory fsck reads block by block. */
#define CHUNK_BLOCKS 64u
#define CHUNK_SLOTS 64u
#define CHUNK_SLOT_BITS 6u

struct chunk {
	uint64_t first;		/* first mblock */
	uint32_t blocks;	/* 0: empty */
	uint8_t *data;
};

struct fsck {
	const struct vmfs_os *os;
	struct vmfs_blockdev *dev;
	struct disk_super sb;
	bool repair;
	bool operational;
	uint32_t found;
	uint32_t fixed;
	uint64_t inodes_total;
	uint8_t *inode_seen;	/* bitmap over inode numbers */
	uint8_t *dirblock_used;	/* bitmap over ag * dirblocks_per_ag + index */
	uint32_t *refs;		/* per ag * data_blocks_per_ag + index */
	uint16_t *links;	/* directory entries naming each inode */
	uint32_t *queue;	/* directories to visit */
	uint64_t queue_head, queue_tail;
	struct vmfs_fsck_report *report;
	void *chunk_mem;
	struct chunk chunks[CHUNK_SLOTS];
};

static void chunks_init(struct fsck *fs)
{
	size_t bytes = (size_t)CHUNK_SLOTS * CHUNK_BLOCKS * MB_SIZE + MB_SIZE;
	fs->chunk_mem = fs->os->alloc(fs->os->ctx, bytes);
	if (!fs->chunk_mem)
		return;
	/* Page-aligned, so a device opened O_DIRECT reads straight into it. */
	uintptr_t p = ((uintptr_t)fs->chunk_mem + MB_SIZE - 1) & ~(uintptr_t)(MB_SIZE - 1);
	for (uint32_t i = 0; i < CHUNK_SLOTS; i++)
		fs->chunks[i] = (struct chunk){ .data = (uint8_t *)p + (size_t)i * CHUNK_BLOCKS * MB_SIZE };
}

static struct chunk *chunk_slot(struct fsck *fs, uint64_t first)
{
	return &fs->chunks[(first * 0x9e3779b97f4a7c15ull) >> (64 - CHUNK_SLOT_BITS)];
}

/* A write makes the chunk holding its block stale. */
static void chunk_forget(struct fsck *fs, uint64_t offset)
{
	if (!fs->chunk_mem)
		return;
	uint64_t first = offset / MB_SIZE / CHUNK_BLOCKS * CHUNK_BLOCKS;
	struct chunk *c = chunk_slot(fs, first);
	if (c->blocks && c->first == first)
		c->blocks = 0;
}

/* Reads @len bytes (within one mblock) at @offset through the chunks. */
static int fsck_read(struct fsck *fs, uint64_t offset, void *buf, size_t len)
{
	uint64_t total = fs->dev->size_bytes / MB_SIZE;
	uint64_t block = offset / MB_SIZE;
	if (!fs->chunk_mem || block >= total)
		return fs->dev->read(fs->dev->ctx, offset, buf, len);
	uint64_t first = block / CHUNK_BLOCKS * CHUNK_BLOCKS;
	struct chunk *c = chunk_slot(fs, first);
	if (!c->blocks || c->first != first) {
		uint32_t n = (uint32_t)(total - first < CHUNK_BLOCKS ? total - first : CHUNK_BLOCKS);
		c->blocks = 0;
		if (fs->dev->read(fs->dev->ctx, first * MB_SIZE, c->data, (size_t)n * MB_SIZE))
			return fs->dev->read(fs->dev->ctx, offset, buf, len); /* the error for this block alone */
		c->first = first;
		c->blocks = n;
	}
	memcpy(buf, c->data + (offset - first * MB_SIZE), len);
	return 0;
}

static void *fs_alloc(struct fsck *fs, uint64_t bytes)
{
	if (bytes > (uint64_t)1 << 34)
		return NULL;
	return vmfs_zalloc(fs->os, (size_t)bytes);
}

/* Logs one problem; true when it is to be fixed now. */
static bool problem(struct fsck *fs, bool fixable, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static bool problem(struct fsck *fs, bool fixable, const char *fmt, ...)
{
	char line[300];
	va_list ap;
	va_start(ap, fmt);
	vmfs_vformat(line, sizeof(line), fmt, ap);
	va_end(ap);
	fs->found++;
	bool fix = fixable && fs->repair;
	vmfs_logf(fs->os, VMFS_LOG_ERROR, "%s%s", line, fix ? " (fixed)" : fixable ? "" : " (not repairable)");
	if (fix)
		fs->fixed++;
	return fix;
}

static int read_mb(struct fsck *fs, uint64_t addr, enum mb_type type, void *buf)
{
	int err = fsck_read(fs, addr * MB_SIZE, buf, MB_SIZE);
	if (err) {
		fs->operational = true;
		return err;
	}
	return vmfs_mb_check(fs->os, buf, type, addr);
}

static int write_mb(struct fsck *fs, void *buf, enum mb_type type, uint64_t addr)
{
	if (!fs->repair)
		return -VMFS_EROFS; /* fsck -n never writes */
	struct mb_header *h = (struct mb_header *)((uint8_t *)buf + vmfs_header_offset(type));
	vmfs_mb_seal(buf, type, addr, h->magic == MB_MAGIC ? h->generation : 0);
	uint32_t off = vmfs_header_offset(type);
	chunk_forget(fs, addr * MB_SIZE);
	int err = fs->dev->write(fs->dev->ctx, addr * MB_SIZE + off, (uint8_t *)buf + off, MB_SIZE - off);
	if (err)
		fs->operational = true;
	return err;
}

static bool seen(const uint8_t *map, uint64_t bit)
{
	return (map[bit / 8] >> (bit % 8)) & 1;
}

static void mark(uint8_t *map, uint64_t bit)
{
	map[bit / 8] |= (uint8_t)(1u << (bit % 8));
}

/* Checks a file's extent map, counting its blocks' references. */
static bool check_file(struct fsck *fs, struct disk_inode *in, uint64_t addr, bool *inode_dirty)
{
	if (in->flags & INODE_INLINE) {
		if (in->size > INLINE_BYTES) {
			problem(fs, false, "inode %u (block %llu): inline file of %llu bytes", in->ino,
				(unsigned long long)addr, (unsigned long long)in->size);
			return false;
		}
		return true;
	}
	uint8_t *leafbuf = fs->os->alloc(fs->os->ctx, MB_SIZE);
	if (!leafbuf) {
		fs->operational = true;
		return false;
	}
	uint32_t nleaves = (in->flags & INODE_INDEXED) ? in->entries : 1;
	uint64_t blocks = 0;
	int64_t prev_end = -1;
	bool ok = true;
	for (uint32_t l = 0; l < nleaves && ok; l++) {
		const struct disk_extent *e = in->u.extents;
		uint32_t count = in->entries;
		if (in->flags & INODE_INDEXED) {
			uint64_t leaf = in->u.index[l].leaf;
			uint32_t ag, idx;
			if (vmfs_dirblock_locate(&fs->sb, leaf, &ag, &idx) ||
			    read_mb(fs, leaf, MB_EXTLEAF, leafbuf) != 0) {
				problem(fs, false, "inode %u: extent leaf %u at block %llu is invalid or damaged", in->ino, l,
					(unsigned long long)leaf);
				ok = false;
				break;
			}
			struct disk_leaf *lf = (struct disk_leaf *)leafbuf;
			if (lf->h.owner != in->ino || lf->count > LEAF_EXTENTS) {
				problem(fs, false, "extent leaf at block %llu: owner %u / count %u wrong for inode %u",
					(unsigned long long)leaf, lf->h.owner, lf->count, in->ino);
				ok = false;
				break;
			}
			uint64_t bit = (uint64_t)ag * fs->sb.dirblocks_per_ag + idx;
			if (seen(fs->dirblock_used, bit)) {
				problem(fs, false, "extent leaf at block %llu used twice", (unsigned long long)leaf);
				ok = false;
				break;
			}
			mark(fs->dirblock_used, bit);
			e = lf->extents;
			count = lf->count;
		}
		for (uint32_t i = 0; i < count; i++) {
			uint32_t ag1, ag2, i1, i2;
			if (e[i].count == 0 || (int64_t)e[i].logical < prev_end || (e[i].flags & ~EXTENT_UNWRITTEN) ||
			    (uint64_t)e[i].physical + e[i].count > 0xffffffffull ||
			    vmfs_dblock_locate(&fs->sb, e[i].physical, &ag1, &i1) ||
			    vmfs_dblock_locate(&fs->sb, e[i].physical + e[i].count - 1, &ag2, &i2) || ag1 != ag2) {
				problem(fs, false, "inode %u (block %llu): extent logical %u count %u physical %u is invalid",
					in->ino, (unsigned long long)addr, e[i].logical, e[i].count, e[i].physical);
				ok = false;
				break;
			}
			prev_end = (int64_t)e[i].logical + e[i].count;
			for (uint32_t b = 0; b < e[i].count; b++) {
				uint32_t *r = &fs->refs[(uint64_t)ag1 * fs->sb.data_blocks_per_ag + i1 + b];
				if (*r < 0xffffffffu)
					(*r)++;
			}
			blocks += e[i].count;
			fs->report->blocks_checked += e[i].count;
		}
	}
	fs->os->free(fs->os->ctx, leafbuf);
	if (ok && blocks != in->allocated_blocks &&
	    problem(fs, true, "inode %u: allocated block count %llu, extents hold %llu", in->ino,
		    (unsigned long long)in->allocated_blocks, (unsigned long long)blocks)) {
		in->allocated_blocks = blocks;
		*inode_dirty = true;
	}
	return ok;
}

/* Reads and validates inode @ino (for a directory entry); false: unusable. */
static bool load_inode(struct fsck *fs, uint32_t ino, uint8_t *buf)
{
	if (!vmfs_ino_valid(&fs->sb, ino))
		return false;
	uint64_t addr = vmfs_inode_mblock(&fs->sb, ino);
	if (read_mb(fs, addr, MB_INODE, buf))
		return false;
	struct disk_inode *in = (struct disk_inode *)buf;
	return in->ino == ino && (in->kind == VMFS_KIND_FILE || in->kind == VMFS_KIND_DIR) &&
	       in->entries <= (in->kind == VMFS_KIND_DIR ? 0xffffffffu : INLINE_EXTENTS);
}

static void check_dir(struct fsck *fs, uint32_t dir_ino, uint8_t *dirbuf, uint8_t *blockbuf, uint8_t *childbuf,
		      uint8_t *prevbuf)
{
	struct disk_inode *dir = (struct disk_inode *)dirbuf;
	uint64_t dir_addr = vmfs_inode_mblock(&fs->sb, dir_ino);
	bool dir_dirty = false;
	uint32_t entries = 0, subdirs = 0;
	for (uint32_t b = 0; b < DIR_BUCKETS; b++) {
		uint64_t addr = dir->u.buckets[b];
		uint64_t prev_addr = 0;
		while (addr) {
			uint32_t ag, idx;
			bool bad = vmfs_dirblock_locate(&fs->sb, addr, &ag, &idx) != 0;
			uint64_t bit = bad ? 0 : (uint64_t)ag * fs->sb.dirblocks_per_ag + idx;
			const char *why = bad ? "not a directory block address" : NULL;
			if (!why && seen(fs->dirblock_used, bit))
				why = "already used elsewhere";
			if (!why && read_mb(fs, addr, MB_DIR, blockbuf))
				why = "damaged";
			struct disk_dir *d = (struct disk_dir *)blockbuf;
			if (!why && (d->h.owner != dir_ino || d->used > DIR_DATA_BYTES || d->used % 8))
				why = "wrong owner or fill";
			if (why) {
				if (problem(fs, true, "directory %u bucket %u: block %llu %s: chain cut there", dir_ino, b,
					    (unsigned long long)addr, why)) {
					if (prev_addr) {
						((struct disk_dir *)prevbuf)->next = 0;
						write_mb(fs, prevbuf, MB_DIR, prev_addr);
					} else {
						dir->u.buckets[b] = 0;
						dir_dirty = true;
					}
				}
				break;
			}
			mark(fs->dirblock_used, bit);
			bool block_dirty = false;
			for (uint32_t off = 0; off < d->used;) {
				struct disk_dirent *e = (struct disk_dirent *)(d->data + off);
				if (off + sizeof(*e) > d->used || e->rec_len < sizeof(*e) + e->name_len || e->rec_len % 8 ||
				    off + e->rec_len > d->used || e->name_len == 0) {
					if (problem(fs, true, "directory block %llu: bad entry at offset %u: rest of block dropped",
						    (unsigned long long)addr, off)) {
						memset(d->data + off, 0, d->used - off);
						d->used = off;
						block_dirty = true;
					}
					break;
				}
				const char *name = (const char *)(e + 1);
				const char *why_entry = NULL;
				bool child_ok = load_inode(fs, e->ino, childbuf);
				struct disk_inode *child = (struct disk_inode *)childbuf;
				if (vmfs_name_check(name, e->name_len))
					why_entry = "invalid name";
				else if (vmfs_name_hash(name, e->name_len) % DIR_BUCKETS != b)
					why_entry = "in the wrong hash bucket";
				else if (!child_ok)
					why_entry = "names an invalid or damaged inode";
				else if (child->kind != e->kind)
					why_entry = "kind differs from its inode";
				else if (child->nlink == 0)
					why_entry = "names a freed inode";
				else if (child->kind == VMFS_KIND_DIR && seen(fs->inode_seen, e->ino))
					why_entry = "is a second link to a directory";
				if (why_entry) {
					if (problem(fs, true, "directory %u: entry '%.*s' (inode %u, block %llu) %s: removed",
						    dir_ino, (int)e->name_len, name, e->ino, (unsigned long long)addr, why_entry)) {
						uint32_t rec = e->rec_len;
						memmove(d->data + off, d->data + off + rec, d->used - off - rec);
						d->used -= rec;
						memset(d->data + d->used, 0, rec);
						block_dirty = true;
						continue;
					}
					off += e->rec_len;
					continue;
				}
				entries++;
				if (fs->links[e->ino] < 0xffff)
					fs->links[e->ino]++;
				if (!seen(fs->inode_seen, e->ino)) {
					mark(fs->inode_seen, e->ino);
					fs->report->inodes_checked++;
					bool child_dirty = false;
					uint64_t child_addr = vmfs_inode_mblock(&fs->sb, e->ino);
					if (child->kind == VMFS_KIND_DIR) {
						subdirs++;
						fs->queue[fs->queue_tail++] = e->ino;
						if (child->parent != dir_ino &&
						    problem(fs, true, "directory %u: parent %u, but it is in directory %u", e->ino,
							    child->parent, dir_ino)) {
							child->parent = dir_ino;
							child_dirty = true;
						}
					} else {
						check_file(fs, child, child_addr, &child_dirty);
					}
					if (child_dirty)
						write_mb(fs, childbuf, MB_INODE, child_addr);
				}
				off += e->rec_len;
			}
			if (block_dirty)
				write_mb(fs, blockbuf, MB_DIR, addr);
			memcpy(prevbuf, blockbuf, MB_SIZE);
			prev_addr = addr;
			addr = d->next;
		}
	}
	if (dir->entries != entries &&
	    problem(fs, true, "directory %u: entry count %u, found %u", dir_ino, dir->entries, entries)) {
		dir->entries = entries;
		dir_dirty = true;
	}
	if (dir->nlink != 2 + subdirs &&
	    problem(fs, true, "directory %u: link count %u, expected %u", dir_ino, dir->nlink, 2 + subdirs)) {
		dir->nlink = 2 + subdirs;
		dir_dirty = true;
	}
	if (dir_dirty)
		write_mb(fs, dirbuf, MB_INODE, dir_addr);
}

static void check_files_links(struct fsck *fs, uint8_t *buf)
{
	for (uint64_t ino = 0; ino < fs->inodes_total; ino++) {
		if (!seen(fs->inode_seen, ino) || ino == ROOT_INO)
			continue;
		if (!load_inode(fs, (uint32_t)ino, buf))
			continue;
		struct disk_inode *in = (struct disk_inode *)buf;
		if (in->kind == VMFS_KIND_FILE && in->nlink != fs->links[ino] &&
		    problem(fs, true, "inode %llu: link count %u, %u directory entries", (unsigned long long)ino, in->nlink,
			    fs->links[ino])) {
			in->nlink = fs->links[ino];
			write_mb(fs, buf, MB_INODE, vmfs_inode_mblock(&fs->sb, (uint32_t)ino));
		}
	}
}

static void check_ags(struct fsck *fs, uint8_t *hbuf, uint8_t *rbuf)
{
	for (uint32_t ag = 0; ag < fs->sb.ag_count; ag++) {
		uint64_t m = vmfs_ag_mblock(&fs->sb, ag);
		bool hdr_dirty = false;
		if (read_mb(fs, m, MB_AGHDR, hbuf)) {
			if (!problem(fs, true, "AG %u header (block %llu) damaged: rebuilt", ag, (unsigned long long)m))
				continue;
			memset(hbuf + SECTOR, 0, MB_SIZE - SECTOR);
			hdr_dirty = true;
		}
		struct disk_aghdr *h = (struct disk_aghdr *)hbuf;
		uint32_t data_blocks = vmfs_ag_data_blocks(&fs->sb, ag);
		if ((h->ag != ag || h->data_blocks != data_blocks) &&
		    problem(fs, true, "AG %u header (block %llu): wrong AG number or size", ag, (unsigned long long)m)) {
			h->ag = ag;
			h->data_blocks = data_blocks;
			hdr_dirty = true;
		}
		/* Inodes: in use exactly when reachable (index 0 always). */
		uint32_t free_inodes = 0, leaked = 0, missing = 0;
		for (uint32_t i = 0; i < fs->sb.inodes_per_ag; i++) {
			uint64_t ino = (uint64_t)ag * fs->sb.inodes_per_ag + i;
			bool want = i == 0 || ino == ROOT_INO || seen(fs->inode_seen, ino);
			bool have = vmfs_bit_test(h->inode_bitmap, i);
			if (have && !want)
				leaked++;
			if (!have && want)
				missing++;
			if (!want)
				free_inodes++;
		}
		if ((leaked || missing) && problem(fs, true,
						    "AG %u: %u inodes allocated but unreachable, %u reachable but marked free", ag,
						    leaked, missing)) {
			for (uint32_t i = 0; i < fs->sb.inodes_per_ag; i++) {
				uint64_t ino = (uint64_t)ag * fs->sb.inodes_per_ag + i;
				vmfs_bit_set(h->inode_bitmap, i, i == 0 || ino == ROOT_INO || seen(fs->inode_seen, ino));
			}
			hdr_dirty = true;
		}
		if (h->free_inodes != free_inodes &&
		    problem(fs, true, "AG %u: free inode count %u, counted %u", ag, h->free_inodes, free_inodes)) {
			h->free_inodes = free_inodes;
			hdr_dirty = true;
		}
		uint32_t free_dir = 0;
		leaked = missing = 0;
		for (uint32_t i = 0; i < fs->sb.dirblocks_per_ag; i++) {
			bool want = seen(fs->dirblock_used, (uint64_t)ag * fs->sb.dirblocks_per_ag + i);
			bool have = vmfs_bit_test(h->dirblock_bitmap, i);
			leaked += have && !want;
			missing += !have && want;
			free_dir += !want;
		}
		if ((leaked || missing) &&
		    problem(fs, true, "AG %u: %u directory/extent blocks leaked, %u in use but marked free", ag, leaked,
			    missing)) {
			for (uint32_t i = 0; i < fs->sb.dirblocks_per_ag; i++)
				vmfs_bit_set(h->dirblock_bitmap, i,
					     seen(fs->dirblock_used, (uint64_t)ag * fs->sb.dirblocks_per_ag + i));
			hdr_dirty = true;
		}
		if (h->free_dirblocks != free_dir &&
		    problem(fs, true, "AG %u: free directory block count %u, counted %u", ag, h->free_dirblocks, free_dir)) {
			h->free_dirblocks = free_dir;
			hdr_dirty = true;
		}
		uint32_t free_data = 0;
		for (uint32_t i = 0; i < data_blocks; i++)
			free_data += fs->refs[(uint64_t)ag * fs->sb.data_blocks_per_ag + i] == 0;
		for (uint32_t r = 0; r < fs->sb.refcount_blocks; r++) {
			uint64_t rm = m + 1 + r;
			bool rc_dirty = false;
			if (read_mb(fs, rm, MB_REFCOUNT, rbuf)) {
				if (!problem(fs, true, "AG %u refcount block %llu damaged: rebuilt", ag, (unsigned long long)rm))
					continue;
				memset(rbuf, 0, MB_SIZE);
				rc_dirty = true;
			}
			struct disk_refcount *rc = (struct disk_refcount *)rbuf;
			uint32_t wrong = 0, first_wrong = 0, want_first = 0;
			for (uint32_t i = 0; i < REFCOUNTS_PER_BLOCK; i++) {
				uint32_t index = r * REFCOUNTS_PER_BLOCK + i;
				uint32_t want = index < data_blocks ? fs->refs[(uint64_t)ag * fs->sb.data_blocks_per_ag + index] : 0;
				if (rc->count[i] != want && wrong++ == 0) {
					first_wrong = i;
					want_first = want;
				}
			}
			if (wrong && problem(fs, true,
					     "AG %u refcount block %llu: %u reference counts wrong (first: data block %u has %u, "
					     "files hold %u)",
					     ag, (unsigned long long)rm, wrong,
					     vmfs_ag_first_dblock(&fs->sb, ag) + r * REFCOUNTS_PER_BLOCK + first_wrong,
					     rc->count[first_wrong], want_first)) {
				for (uint32_t i = 0; i < REFCOUNTS_PER_BLOCK; i++) {
					uint32_t index = r * REFCOUNTS_PER_BLOCK + i;
					rc->count[i] = index < data_blocks ? fs->refs[(uint64_t)ag * fs->sb.data_blocks_per_ag + index] : 0;
				}
				rc_dirty = true;
			}
			if (rc_dirty)
				write_mb(fs, rbuf, MB_REFCOUNT, rm);
		}
		if (h->free_data != free_data &&
		    problem(fs, true, "AG %u: free data block count %u, counted %u", ag, h->free_data, free_data)) {
			h->free_data = free_data;
			hdr_dirty = true;
		}
		if (hdr_dirty)
			write_mb(fs, hbuf, MB_AGHDR, m);
	}
}

/* Heartbeat slots, journals and lock records. */
static void check_cluster_state(struct fsck *fs, struct disk_hb *slots, bool *live, uint8_t *buf)
{
	for (uint32_t s = 0; s < VMFS_HOST_SLOTS; s++) {
		struct disk_hb *hb = &slots[s];
		live[s] = false;
		if (!vmfs_hb_valid(hb)) {
			if (problem(fs, true, "heartbeat slot %u (sector %llu) damaged: reset to FREE", s,
				    (unsigned long long)(HB_START * 8 + s))) {
				memset(hb, 0, SECTOR);
				hb->state = HB_FREE;
				vmfs_hb_seal(hb);
				if (fs->dev->write(fs->dev->ctx, (HB_START * 8 + s) * SECTOR, hb, SECTOR))
					fs->operational = true;
			}
			continue;
		}
		live[s] = hb->state != HB_FREE;
		if (live[s] && fs->repair) {
			/* Only reached with force: treat the host as dead. */
			vmfs_logf(fs->os, VMFS_LOG_WARN, "heartbeat slot %u (%s) is %s: freed (forced repair)", s,
				  hb->host_name, hb->state == HB_LIVE ? "LIVE" : "RECOVERING");
		}
		bool pending = false;
		int err = vmfs_journal_check(fs->os, fs->dev, &fs->sb, s, true, &pending);
		if (err == -VMFS_EBADMSG) {
			uint64_t j = fs->sb.journal_start + (uint64_t)s * fs->sb.journal_blocks;
			if (problem(fs, true, "journal header of slot %u (block %llu) damaged: reset", s,
				    (unsigned long long)j)) {
				memset(buf, 0, MB_SIZE);
				((struct disk_jhdr *)buf)->slot = s;
				write_mb(fs, buf, MB_JHDR, j);
			}
			continue;
		}
		if (err) {
			fs->operational = true;
			continue;
		}
		if (pending && problem(fs, true, "journal of slot %u holds a committed transaction not yet replayed: %s", s,
				       fs->repair ? "replayed" : "mount or fsck -y replays it")) {
			bool done;
			if (vmfs_journal_replay(fs->os, fs->dev, &fs->sb, s, &done))
				fs->operational = true;
		}
	}
	if (fs->repair) {
		for (uint32_t s = 0; s < VMFS_HOST_SLOTS; s++) {
			if (!live[s])
				continue;
			struct disk_hb *hb = &slots[s];
			hb->state = HB_FREE;
			vmfs_hb_seal(hb);
			if (fs->dev->write(fs->dev->ctx, (HB_START * 8 + s) * SECTOR, hb, SECTOR))
				fs->operational = true;
			live[s] = false;
		}
	}
}

static void check_lock(struct fsck *fs, uint64_t sector, const struct disk_hb *slots, const bool *live,
		       const char *what, uint64_t id)
{
	struct disk_lock l;
	if (fsck_read(fs, sector * SECTOR, &l, SECTOR)) {
		fs->operational = true;
		return;
	}
	const uint8_t *b = (const uint8_t *)&l;
	bool zero = true;
	for (uint32_t i = 0; i < SECTOR && zero; i++)
		zero = b[i] == 0;
	if (zero)
		return;
	const char *why = NULL;
	if (!vmfs_lock_valid(&l))
		why = "damaged";
	for (uint32_t i = 0; !why && i < l.holder_count; i++) {
		uint32_t s = l.holders[i].slot;
		if (!live[s] || slots[s].generation != l.holders[i].generation)
			why = "held by a host that is gone";
	}
	if (why && problem(fs, true, "lock of %s %llu (sector %llu) %s: freed", what, (unsigned long long)id,
			   (unsigned long long)sector, why)) {
		memset(&l, 0, sizeof(l));
		chunk_forget(fs, sector * SECTOR);
		if (fs->dev->write(fs->dev->ctx, sector * SECTOR, &l, SECTOR))
			fs->operational = true;
	}
}

int vmfs_fsck(const struct vmfs_os *os, struct vmfs_blockdev *dev, const struct vmfs_fsck_options *options,
	      struct vmfs_fsck_report *report)
{
	static const struct vmfs_fsck_options defaults;
	struct vmfs_fsck_report dummy;
	if (!options)
		options = &defaults;
	if (!report)
		report = &dummy;
	memset(report, 0, sizeof(*report));
	struct fsck fs = { .os = os, .dev = dev, .repair = options->repair, .report = report };
	int err = vmfs_read_super(os, dev, &fs.sb);
	if (err)
		return VMFS_FSCK_OPERATIONAL;
	uint8_t *bufs = os->alloc(os->ctx, 6 * MB_SIZE);
	struct disk_hb *slots = os->alloc(os->ctx, VMFS_HOST_SLOTS * SECTOR);
	bool live[VMFS_HOST_SLOTS];
	fs.inodes_total = (uint64_t)fs.sb.ag_count * fs.sb.inodes_per_ag;
	fs.inode_seen = fs_alloc(&fs, fs.inodes_total / 8 + 1);
	fs.dirblock_used = fs_alloc(&fs, (uint64_t)fs.sb.ag_count * fs.sb.dirblocks_per_ag / 8 + 1);
	fs.refs = fs_alloc(&fs, (uint64_t)fs.sb.ag_count * fs.sb.data_blocks_per_ag * sizeof(uint32_t));
	fs.links = fs_alloc(&fs, fs.inodes_total * sizeof(uint16_t));
	fs.queue = fs_alloc(&fs, fs.inodes_total * sizeof(uint32_t));
	int result = VMFS_FSCK_OPERATIONAL;
	if (!bufs || !slots || !fs.inode_seen || !fs.dirblock_used || !fs.refs || !fs.links || !fs.queue) {
		vmfs_logf(os, VMFS_LOG_ERROR, "fsck: out of memory");
		goto out;
	}
	/* Superblock copies. */
	uint64_t copies[3] = { 0, 1, fs.sb.volume_bytes / MB_SIZE - 1 };
	for (int i = 0; i < 3; i++) {
		int rc = dev->read(dev->ctx, copies[i] * MB_SIZE, bufs, MB_SIZE);
		if (rc)
			goto out;
		bool same = vmfs_mb_check(NULL, bufs, MB_SUPER, copies[i]) == 0 &&
			    memcmp(bufs + sizeof(struct mb_header), (const uint8_t *)&fs.sb + sizeof(struct mb_header),
				   sizeof(fs.sb) - sizeof(struct mb_header)) == 0;
		if (!same && problem(&fs, true, "superblock copy at block %llu damaged or different: rewritten",
				     (unsigned long long)copies[i])) {
			memset(bufs, 0, MB_SIZE);
			memcpy(bufs, &fs.sb, sizeof(fs.sb));
			write_mb(&fs, bufs, MB_SUPER, copies[i]);
		}
	}
	if (dev->read(dev->ctx, HB_START * MB_SIZE, slots, VMFS_HOST_SLOTS * SECTOR))
		goto out;
	if (fs.repair && !options->force) {
		for (uint32_t s = 0; s < VMFS_HOST_SLOTS; s++) {
			if (vmfs_hb_valid(&slots[s]) && slots[s].state != HB_FREE) {
				vmfs_logf(os, VMFS_LOG_ERROR,
					  "volume is in use: heartbeat slot %u is held by '%s'; unmount it everywhere "
					  "first (or force the repair if that host is dead)",
					  s, slots[s].host_name);
				goto out;
			}
		}
	}
	check_cluster_state(&fs, slots, live, bufs); /* may replay journals: before any chunk is read */
	chunks_init(&fs);
	/* The tree. */
	uint8_t *dirbuf = bufs, *blockbuf = bufs + MB_SIZE, *childbuf = bufs + 2 * MB_SIZE,
		*prevbuf = bufs + 3 * MB_SIZE;
	if (!load_inode(&fs, ROOT_INO, dirbuf) || ((struct disk_inode *)dirbuf)->kind != VMFS_KIND_DIR) {
		problem(&fs, false, "root directory (inode %u, block %llu) is damaged", ROOT_INO,
			(unsigned long long)vmfs_inode_mblock(&fs.sb, ROOT_INO));
		result = VMFS_FSCK_ERRORS_LEFT;
		goto out;
	}
	mark(fs.inode_seen, ROOT_INO);
	report->inodes_checked++;
	fs.queue[fs.queue_tail++] = ROOT_INO;
	while (fs.queue_head < fs.queue_tail) {
		uint32_t ino = fs.queue[fs.queue_head++];
		if (!load_inode(&fs, ino, dirbuf))
			continue;
		check_dir(&fs, ino, dirbuf, blockbuf, childbuf, prevbuf);
	}
	check_files_links(&fs, childbuf);
	check_ags(&fs, bufs + 4 * MB_SIZE, bufs + 5 * MB_SIZE);
	/* Locks: the volume lock, AG locks, every reachable inode's lock. */
	check_lock(&fs, VOLUME_LOCK_MB * 8, slots, live, "volume", 0);
	for (uint32_t ag = 0; ag < fs.sb.ag_count; ag++)
		check_lock(&fs, vmfs_ag_lock_sector(&fs.sb, ag), slots, live, "AG", ag);
	for (uint64_t ino = 1; ino < fs.inodes_total; ino++)
		if (seen(fs.inode_seen, ino))
			check_lock(&fs, vmfs_inode_lock_sector(&fs.sb, (uint32_t)ino), slots, live, "inode", ino);
	if (fs.repair && !fs.operational && dev->flush(dev->ctx))
		fs.operational = true;
	result = fs.operational			? VMFS_FSCK_OPERATIONAL
		 : fs.found > fs.fixed		? VMFS_FSCK_ERRORS_LEFT
		 : fs.fixed > 0			? VMFS_FSCK_REPAIRED
						: VMFS_FSCK_CLEAN;
	report->errors_found = fs.found;
	report->errors_fixed = fs.fixed;
out:
	if (bufs)
		os->free(os->ctx, bufs);
	if (slots)
		os->free(os->ctx, slots);
	if (fs.chunk_mem)
		os->free(os->ctx, fs.chunk_mem);
	void *arrays[] = { fs.inode_seen, fs.dirblock_used, fs.refs, fs.links, fs.queue };
	for (size_t i = 0; i < sizeof(arrays) / sizeof(arrays[0]); i++)
		if (arrays[i])
			os->free(os->ctx, arrays[i]);
	return result;
}

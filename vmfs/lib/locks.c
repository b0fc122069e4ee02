/*
 * Heartbeats and on-disk locks: FORMAT.md "The lock and heartbeat
 * protocol". Every decision is made on a fresh read of the sector and
 * published with compare-and-write, so the only shared state is the disk.
 */
#include "internal.h"

uint64_t vmfs_inode_lock_sector(const struct disk_super *sb, uint32_t ino)
{
	return vmfs_inode_mblock(sb, ino) * (MB_SIZE / SECTOR);
}

uint64_t vmfs_ag_lock_sector(const struct disk_super *sb, uint32_t ag)
{
	return vmfs_ag_mblock(sb, ag) * (MB_SIZE / SECTOR);
}

static uint64_t hb_sector(uint32_t slot)
{
	return (uint64_t)HB_START * (MB_SIZE / SECTOR) + slot;
}

static bool all_zero(const void *p, size_t len)
{
	const uint8_t *b = p;
	for (size_t i = 0; i < len; i++)
		if (b[i])
			return false;
	return true;
}

static uint64_t now_ns(struct vmfs_volume *vol)
{
	return vol->os.now_ns(vol->os.ctx);
}

/* Reads a lock record or heartbeat slot; a never-written (all-zero) lock
 * record is FREE. A sector caught mid-write by another host fails its CRC,
 * so a bad one is read again before it is called damaged. */
int vmfs_read_sector_checked(struct vmfs_volume *vol, uint64_t sector, void *buf, bool is_lock)
{
	for (int attempt = 0; attempt < 4; attempt++) {
		int err = vol->dev->read(vol->dev->ctx, sector * SECTOR, buf, SECTOR);
		if (err)
			return err;
		if (is_lock ? (all_zero(buf, SECTOR) || vmfs_lock_valid(buf)) : vmfs_hb_valid(buf))
			return 0;
		vol->os.sleep_ns(vol->os.ctx, 1000000);
	}
	VMFS_ERR(vol, "damaged %s at sector %llu (block %llu)", is_lock ? "lock record" : "heartbeat slot",
		 (unsigned long long)sector, (unsigned long long)(sector / (MB_SIZE / SECTOR)));
	return -VMFS_EBADMSG;
}

/* Compare-and-write of one sector. A device without it gets the helper
 * below: atomic only among the users of this volume handle (one host). */
static int caw(struct vmfs_volume *vol, uint64_t sector, const void *expected, const void *new_data)
{
	int err = vmfs_writable(vol);
	if (err)
		return err;
	if (vol->dev->compare_and_write)
		return vol->dev->compare_and_write(vol->dev->ctx, sector * SECTOR, expected, new_data, SECTOR);
	return vmfs_emulated_caw(vol->dev, sector * SECTOR, expected, new_data);
}

int vmfs_emulated_caw(struct vmfs_blockdev *dev, uint64_t offset, const void *expected, const void *new_data)
{
	uint8_t current[SECTOR];
	int err = dev->read(dev->ctx, offset, current, SECTOR);
	if (err)
		return err;
	if (memcmp(current, expected, SECTOR) != 0)
		return -VMFS_EMISCOMPARE;
	err = dev->write(dev->ctx, offset, new_data, SECTOR);
	return err ? err : dev->flush(dev->ctx);
}

/* Is any other heartbeat slot in use? From @slots, or read now. */
static void update_alone(struct vmfs_volume *vol, const struct disk_hb *slots)
{
	struct disk_hb *own = NULL;
	if (!slots) {
		own = vol->os.alloc(vol->os.ctx, VMFS_HOST_SLOTS * SECTOR);
		if (!own || vol->dev->read(vol->dev->ctx, hb_sector(0) * SECTOR, own, VMFS_HOST_SLOTS * SECTOR)) {
			if (own)
				vol->os.free(vol->os.ctx, own);
			vol->alone = false;
			return;
		}
		slots = own;
	}
	bool alone = true, changed = false;
	for (uint32_t i = 0; i < VMFS_HOST_SLOTS; i++) {
		if (i == vol->slot)
			continue;
		if (!vmfs_hb_valid(&slots[i]) || slots[i].state != HB_FREE)
			alone = false;
		/* A host that mounted and left since our last look bumped the
		 * generation: what it changed may be in our cache. */
		if (slots[i].generation != vol->seen_generation[i])
			changed = true;
		vol->seen_generation[i] = slots[i].generation;
	}
	if (vol->alone && (changed || !alone))
		vmfs_cache_drop_clean(vol);
	vol->alone = alone;
	if (own)
		vol->os.free(vol->os.ctx, own);
}

int vmfs_hb_claim(struct vmfs_volume *vol)
{
	struct disk_hb *slots = vol->os.alloc(vol->os.ctx, VMFS_HOST_SLOTS * SECTOR);
	if (!slots)
		return -VMFS_ENOMEM;
	int err = 0;
	for (int attempt = 0; attempt < 100; attempt++) {
		err = vol->dev->read(vol->dev->ctx, hb_sector(0) * SECTOR, slots, VMFS_HOST_SLOTS * SECTOR);
		if (err)
			break;
		int chosen = -1;
		for (uint32_t i = 0; i < VMFS_HOST_SLOTS && chosen < 0; i++)
			if (vmfs_hb_valid(&slots[i]) && slots[i].state != HB_RECOVERING &&
			    memcmp(slots[i].uuid, vol->host_uuid, 16) == 0)
				chosen = (int)i;
		for (uint32_t i = 0; i < VMFS_HOST_SLOTS && chosen < 0; i++)
			if (vmfs_hb_valid(&slots[i]) && slots[i].state == HB_FREE)
				chosen = (int)i;
		if (chosen < 0) {
			VMFS_ERR(vol, "all %u heartbeat slots are in use: no free slot for this host", VMFS_HOST_SLOTS);
			err = -VMFS_EBUSY;
			break;
		}
		struct disk_hb next = slots[chosen];
		next.state = HB_LIVE;
		memcpy(next.uuid, vol->host_uuid, 16);
		next.generation++;
		next.counter = 0;
		next.lease_ms = vol->lease_ms;
		next.recovering_by = 0;
		memset(next.host_name, 0, sizeof(next.host_name));
		memcpy(next.host_name, vol->host_name, sizeof(next.host_name) - 1);
		vmfs_hb_seal(&next);
		uint64_t before = now_ns(vol);
		vol->last_refresh_ns = before; /* lets the claim itself pass the lease check */
		err = caw(vol, hb_sector((uint32_t)chosen), &slots[chosen], &next);
		if (err == -VMFS_EMISCOMPARE)
			continue;
		/* Durable before any lock names this generation: a lost claim would
		 * leave locks of a generation the slot never had (and reuse it). */
		if (!err)
			err = vol->dev->flush(vol->dev->ctx);
		if (err)
			break;
		vol->slot = (uint32_t)chosen;
		vol->slot_image = next;
		/* Our own slot left LIVE: this host crashed while mounted. */
		vol->crashed_generation = slots[chosen].state == HB_LIVE ? slots[chosen].generation : 0;
		slots[chosen] = next;
		update_alone(vol, slots);
		vol->last_refresh_ns = before;
		break;
	}
	vol->os.free(vol->os.ctx, slots);
	return err;
}

int vmfs_hb_refresh(struct vmfs_volume *vol, bool force)
{
	if (vol->read_only)
		return 0;
	uint64_t before = now_ns(vol);
	if (!force && before - vol->last_refresh_ns < (uint64_t)vol->heartbeat_ms * 1000000ull)
		return 0;
	struct disk_hb next = vol->slot_image;
	next.counter++;
	vmfs_hb_seal(&next);
	int err = caw(vol, hb_sector(vol->slot), &vol->slot_image, &next);
	if (err == -VMFS_EMISCOMPARE) {
		vol->fenced = true;
		VMFS_ERR(vol, "heartbeat slot %u was taken by another host: this host is fenced", vol->slot);
		return -VMFS_ESTALE;
	}
	if (err)
		return err;
	vol->slot_image = next;
	vol->last_refresh_ns = before;
	update_alone(vol, NULL);
	return 0;
}

int vmfs_hb_release(struct vmfs_volume *vol)
{
	if (vol->read_only || vol->fenced || vol->broken)
		return 0;
	struct disk_hb next = vol->slot_image;
	next.state = HB_FREE;
	vmfs_hb_seal(&next);
	int err = caw(vol, hb_sector(vol->slot), &vol->slot_image, &next);
	return err == -VMFS_EMISCOMPARE ? -VMFS_ESTALE : err;
}

enum holder_status { HOLDER_ALIVE, HOLDER_GONE, HOLDER_DEAD };

/* FORMAT.md staleness rule 4, from this host's observations. */
static int holder_status(struct vmfs_volume *vol, uint32_t slot, uint32_t generation,
			 enum holder_status *status, struct disk_hb *hb)
{
	int err = vmfs_read_sector_checked(vol, hb_sector(slot), hb, false);
	if (err)
		return err;
	if (hb->state == HB_FREE || hb->generation != generation) {
		*status = HOLDER_GONE;
		return 0;
	}
	uint32_t watched = slot;
	uint32_t watched_gen = hb->generation;
	uint64_t watched_counter = hb->counter;
	if (hb->state == HB_RECOVERING) {
		/* Someone is recovering it: wait, unless the recoverer died too. */
		struct disk_hb rec;
		err = vmfs_read_sector_checked(vol, hb_sector(hb->recovering_by), &rec, false);
		if (err)
			return err;
		if (hb->recovering_by == vol->slot) {
			*status = HOLDER_DEAD;
			return 0;
		}
		if (rec.state != HB_LIVE) {
			*status = HOLDER_DEAD;
			return 0;
		}
		watched = hb->recovering_by;
		watched_gen = rec.generation;
		watched_counter = rec.counter;
	}
	struct slot_watch *w = &vol->watch[watched];
	uint64_t now = now_ns(vol);
	if (!w->valid || w->generation != watched_gen || w->counter != watched_counter) {
		w->valid = true;
		w->generation = watched_gen;
		w->counter = watched_counter;
		w->since_ns = now;
		*status = HOLDER_ALIVE;
		return 0;
	}
	/* The holder's own lease (in its slot) if it is the longer one. */
	uint64_t lease = hb->lease_ms > vol->lease_ms ? hb->lease_ms : vol->lease_ms;
	*status = now - w->since_ns >= lease * 1000000ull ? HOLDER_DEAD : HOLDER_ALIVE;
	return 0;
}

/* Removes (slot, generation) from one lock record by compare-and-write. */
/* @guess: what the record probably is, tried by CAW before reading it. */
static int lock_remove_holder(struct vmfs_volume *vol, uint64_t sector, uint32_t slot, uint32_t generation,
			      const struct disk_lock *guess)
{
	for (int attempt = 0; attempt < 100; attempt++) {
		struct disk_lock cur, next;
		int err = 0;
		if (attempt == 0 && guess)
			cur = *guess;
		else
			err = vmfs_read_sector_checked(vol, sector, &cur, true);
		if (err)
			return err;
		if (cur.mode == LOCK_FREE)
			return 0;
		next = cur;
		next.holder_count = 0;
		for (uint32_t i = 0; i < cur.holder_count; i++)
			if (cur.holders[i].slot != slot || cur.holders[i].generation != generation)
				next.holders[next.holder_count++] = cur.holders[i];
		if (next.holder_count == cur.holder_count)
			return 0;
		if (next.holder_count == 0)
			next.mode = LOCK_FREE;
		if (next.mode != VMFS_LOCK_EXCLUSIVE) {
			next.owner_slot = 0xffffffffu;
			next.owner_generation = 0;
		}
		memset(&next.holders[next.holder_count], 0,
		       (VMFS_LOCK_HOLDERS_MAX - next.holder_count) * sizeof(next.holders[0]));
		next.lock_generation++;
		next.last_writer_slot = vol->slot;
		next.last_writer_generation = vol->slot_image.generation;
		vmfs_lock_seal(&next);
		err = caw(vol, sector, &cur, &next);
		if (err != -VMFS_EMISCOMPARE)
			return err;
	}
	return -VMFS_EBUSY;
}

/* FORMAT.md lock rule 3: recovers dead host @slot whose slot image is @hb. */
static int recover_slot(struct vmfs_volume *vol, uint32_t slot, const struct disk_hb *hb)
{
	struct disk_hb rec = *hb;
	rec.state = HB_RECOVERING;
	rec.recovering_by = vol->slot;
	vmfs_hb_seal(&rec);
	int err = caw(vol, hb_sector(slot), hb, &rec);
	if (err)
		return err == -VMFS_EMISCOMPARE || err == -VMFS_EBUSY ? 0 : err; /* decide again */
	vmfs_logf(&vol->os, VMFS_LOG_WARN, "host in slot %u (%s, generation %u) is dead: recovering it", slot,
		  hb->host_name, hb->generation);
	bool replayed;
	err = vmfs_writable(vol);
	if (!err)
		err = vmfs_journal_replay(&vol->os, vol->dev, &vol->sb, slot, &replayed);
	if (err)
		return err;
	vmfs_cache_drop_clean(vol);
	err = vmfs_locks_drop_holder(vol, slot, hb->generation);
	if (err)
		return err;
	struct disk_hb freed = rec;
	freed.state = HB_FREE;
	vmfs_hb_seal(&freed);
	err = caw(vol, hb_sector(slot), &rec, &freed);
	if (err == -VMFS_EMISCOMPARE)
		err = 0;
	vol->watch[slot].valid = false;
	return err;
}

/* Removes (slot, generation) from every AG lock and allocated inode's lock. */
int vmfs_locks_drop_holder(struct vmfs_volume *vol, uint32_t slot, uint32_t generation)
{
	int err = 0;
	uint8_t *ag = vol->os.alloc(vol->os.ctx, MB_SIZE);
	if (!ag)
		return -VMFS_ENOMEM;
	for (uint32_t a = 0; a < vol->sb.ag_count && !err; a++) {
		uint64_t mblock = vmfs_ag_mblock(&vol->sb, a);
		err = lock_remove_holder(vol, vmfs_ag_lock_sector(&vol->sb, a), slot, generation, NULL);
		if (!err)
			err = vol->dev->read(vol->dev->ctx, mblock * MB_SIZE, ag, MB_SIZE);
		if (err)
			break;
		/* A header another host is rewriting (its journal not yet replayed)
		 * may not check out: then every inode lock of the AG is visited. */
		bool all = vmfs_mb_check(NULL, ag, MB_AGHDR, mblock) != 0;
		const struct disk_aghdr *h = (const struct disk_aghdr *)ag;
		for (uint32_t i = 1; i < vol->sb.inodes_per_ag && !err; i++) {
			if (!all && !vmfs_bit_test(h->inode_bitmap, i))
				continue;
			err = lock_remove_holder(vol, vmfs_inode_lock_sector(&vol->sb, a * vol->sb.inodes_per_ag + i), slot,
						 generation, NULL);
			if (all && err == -VMFS_EBADMSG)
				err = 0; /* a never-used inode's sector */
		}
	}
	vol->os.free(vol->os.ctx, ag);
	return err;
}

static uint32_t held_hash(uint64_t sector)
{
	return (uint32_t)((sector * 0x9e3779b97f4a7c15ull) >> 40) % HELD_HASH;
}

static void held_index_add(struct vmfs_volume *vol, uint32_t index)
{
	uint32_t h = held_hash(vol->held[index].sector);
	while (vol->held_index[h])
		h = (h + 1) % HELD_HASH;
	vol->held_index[h] = (uint16_t)(index + 1);
}

/* After entries moved or went: the index is rebuilt (held_count <= 4096). */
static void held_index_rebuild(struct vmfs_volume *vol)
{
	memset(vol->held_index, 0, sizeof(vol->held_index));
	for (uint32_t i = 0; i < vol->held_count; i++)
		held_index_add(vol, i);
}

struct held_lock *vmfs_lock_held(struct vmfs_volume *vol, uint64_t sector)
{
	for (uint32_t h = held_hash(sector); vol->held_index[h]; h = (h + 1) % HELD_HASH) {
		struct held_lock *held = &vol->held[vol->held_index[h] - 1];
		if (held->sector == sector)
			return held;
	}
	return NULL;
}

static bool is_me(struct vmfs_volume *vol, const struct lock_holder *h)
{
	return h->slot == vol->slot && h->generation == vol->slot_image.generation;
}

int vmfs_lock_acquire(struct vmfs_volume *vol, uint64_t sector, uint32_t mode, bool txn)
{
	if (vol->read_only)
		return mode == VMFS_LOCK_SHARED_RO ? 0 : -VMFS_EROFS;
	struct held_lock *held = vmfs_lock_held(vol, sector);
	if (held) {
		if (held->mode != mode && held->mode != VMFS_LOCK_EXCLUSIVE)
			return -VMFS_EBUSY;
		if (txn)
			held->txn = true;
		else
			held->opens++;
		held->used_by_op = vol->in_op;
		return 0;
	}
	if (vol->held_count == HELD_MAX) {
		int err = vmfs_commit(vol);
		if (err)
			return err;
		if (vol->held_count == HELD_MAX)
			return -VMFS_ENOMEM;
	}
	uint64_t deadline = now_ns(vol) + (uint64_t)vol->lock_wait_ms * 1000000ull;
	for (;;) {
		struct disk_lock cur, next;
		int err = vmfs_read_sector_checked(vol, sector, &cur, true);
		if (err)
			return err;
		next = cur;
		next.holder_count = 0;
		bool retry = false;
		for (uint32_t i = 0; i < cur.holder_count && !retry; i++) {
			if (is_me(vol, &cur.holders[i]))
				continue; /* a leftover of ours: replaced below */
			enum holder_status st;
			struct disk_hb hb;
			err = holder_status(vol, cur.holders[i].slot, cur.holders[i].generation, &st, &hb);
			if (err)
				return err;
			if (st == HOLDER_DEAD) {
				err = recover_slot(vol, cur.holders[i].slot, &hb);
				if (err)
					return err;
				retry = true;
			} else if (st == HOLDER_ALIVE) {
				next.holders[next.holder_count++] = cur.holders[i];
			}
		}
		if (retry) {
			if (now_ns(vol) >= deadline)
				return -VMFS_EBUSY;
			continue;
		}
		bool busy = next.holder_count > 0 &&
			    (mode == VMFS_LOCK_EXCLUSIVE || cur.mode != mode || next.holder_count == VMFS_LOCK_HOLDERS_MAX);
		if (busy) {
			if (now_ns(vol) >= deadline)
				return -VMFS_EBUSY;
			if (vol->op_block_count == 0) {
				/* Nothing of this operation is dirty yet: commit the finished ones so
				 * our other locks do not hold up the host we are waiting for. */
				bool in_op = vol->in_op;
				vol->in_op = false;
				vol->op_paused = in_op;
				err = vmfs_commit(vol);
				vol->in_op = in_op;
				vol->op_paused = false;
				if (err)
					return err;
			}
			uint64_t nap = (uint64_t)vol->heartbeat_ms * 250000ull;
			vol->os.sleep_ns(vol->os.ctx, nap ? nap : 1000000);
			err = vmfs_hb_refresh(vol, false);
			if (err)
				return err;
			continue;
		}
		next.mode = mode;
		next.holders[next.holder_count].slot = vol->slot;
		next.holders[next.holder_count].generation = vol->slot_image.generation;
		next.holder_count++;
		memset(&next.holders[next.holder_count], 0,
		       (VMFS_LOCK_HOLDERS_MAX - next.holder_count) * sizeof(next.holders[0]));
		next.owner_slot = mode == VMFS_LOCK_EXCLUSIVE ? vol->slot : 0xffffffffu;
		next.owner_generation = mode == VMFS_LOCK_EXCLUSIVE ? vol->slot_image.generation : 0;
		next.lock_generation = cur.lock_generation + 1;
		next.last_writer_slot = vol->slot;
		next.last_writer_generation = vol->slot_image.generation;
		memset(next.zero, 0, sizeof(next.zero));
		vmfs_lock_seal(&next);
		err = caw(vol, sector, &cur, &next);
		if (err == -VMFS_EMISCOMPARE || (err == -VMFS_EBUSY && now_ns(vol) < deadline))
			continue;
		if (err)
			return err;
		bool someone_else = cur.magic == LOCK_MAGIC &&
				    (cur.last_writer_slot != vol->slot ||
				     cur.last_writer_generation != vol->slot_image.generation);
		if (someone_else)
			vmfs_cache_drop_clean(vol);
		held = &vol->held[vol->held_count++];
		*held = (struct held_lock){ .sector = sector, .mode = mode, .opens = txn ? 0 : 1, .txn = txn,
					    .used_by_op = vol->in_op };
		held_index_add(vol, vol->held_count - 1);
		return 0;
	}
}

/* The lock of an inode this host just allocated: no other host can know
 * the inode before our commit, so the record is written, not CAW'd, naming
 * us EXCLUSIVE until that commit (whatever it held before is void). */
/* The record of a lock this host claims for a new inode. */
static void claim_record(const struct vmfs_volume *vol, struct disk_lock *rec)
{
	memset(rec, 0, sizeof(*rec));
	rec->mode = VMFS_LOCK_EXCLUSIVE;
	rec->owner_slot = vol->slot;
	rec->owner_generation = vol->slot_image.generation;
	rec->lock_generation = 1;
	rec->holder_count = 1;
	rec->holders[0].slot = vol->slot;
	rec->holders[0].generation = vol->slot_image.generation;
	rec->last_writer_slot = vol->slot;
	rec->last_writer_generation = vol->slot_image.generation;
	vmfs_lock_seal(rec);
}

int vmfs_lock_claim_new(struct vmfs_volume *vol, uint64_t sector)
{
	if (vmfs_lock_held(vol, sector))
		return 0; /* still ours from the inode's previous life */
	struct disk_lock rec;
	memset(&rec, 0, sizeof(rec));
	if (vol->held_count < HELD_MAX)
		claim_record(vol, &rec);
	int err = vmfs_dev_write(vol, sector * SECTOR, &rec, SECTOR);
	if (err || rec.mode == LOCK_FREE)
		return err;
	struct held_lock *held = &vol->held[vol->held_count++];
	*held = (struct held_lock){ .sector = sector, .mode = VMFS_LOCK_EXCLUSIVE, .txn = true,
				    .used_by_op = vol->in_op, .claimed_new = true };
	held_index_add(vol, vol->held_count - 1);
	return 0;
}

static int lock_drop(struct vmfs_volume *vol, struct held_lock *held)
{
	int err = 0;
	if (!vol->fenced && !vol->broken) {
		/* A new inode's lock is released unchanged since its claim: the
		 * CAW can expect that record without reading it first. */
		struct disk_lock claimed;
		if (held->claimed_new)
			claim_record(vol, &claimed);
		err = lock_remove_holder(vol, held->sector, vol->slot, vol->slot_image.generation,
					 held->claimed_new ? &claimed : NULL);
	}
	*held = vol->held[--vol->held_count];
	return err;
}

int vmfs_lock_release(struct vmfs_volume *vol, uint64_t sector, bool open_ref)
{
	if (vol->read_only)
		return 0;
	struct held_lock *held = vmfs_lock_held(vol, sector);
	if (!held)
		return 0;
	if (open_ref && held->opens > 0)
		held->opens--;
	if (held->opens > 0)
		return 0;
	if (held->mode == VMFS_LOCK_EXCLUSIVE && (held->txn || vmfs_mb_is_dirty(vol, sector / (MB_SIZE / SECTOR)))) {
		/* Its inode is dirty: the lock goes with the next commit. */
		held->txn = true;
		return 0;
	}
	if (held->txn)
		return 0;
	int err = lock_drop(vol, held);
	held_index_rebuild(vol);
	return err;
}

void vmfs_release_txn_locks(struct vmfs_volume *vol)
{
	for (uint32_t i = 0; i < vol->held_count;) {
		struct held_lock *h = &vol->held[i];
		if (h->txn && !h->used_by_op && h->opens == 0) {
			lock_drop(vol, h); /* moves the last entry here */
			continue;
		}
		if (h->txn && !h->used_by_op)
			h->txn = false;
		i++;
	}
	held_index_rebuild(vol);
}

int vmfs_locks(struct vmfs_volume *vol, int (*slot_fn)(void *arg, const struct vmfs_slot_info *slot),
	       int (*lock_fn)(void *arg, const struct vmfs_lock_info *lock), void *arg)
{
	if (vol->os.mutex_lock)
		vol->os.mutex_lock(vol->os.ctx);
	int err = 0;
	for (uint32_t s = 0; s < VMFS_HOST_SLOTS && slot_fn && !err; s++) {
		struct disk_hb hb;
		err = vmfs_read_sector_checked(vol, hb_sector(s), &hb, false);
		if (err)
			break;
		struct vmfs_slot_info info = { .slot = s, .state = hb.state, .generation = hb.generation,
					       .counter = hb.counter, .lease_ms = hb.lease_ms,
					       .recovering_by = hb.recovering_by };
		memcpy(info.host_uuid, hb.uuid, 16);
		memcpy(info.host_name, hb.host_name, 64);
		if (slot_fn(arg, &info))
			break;
	}
	uint8_t *ag = vol->os.alloc(vol->os.ctx, MB_SIZE);
	if (!ag)
		err = -VMFS_ENOMEM;
	bool stop = false;
	for (uint32_t a = 0; a < vol->sb.ag_count && lock_fn && !err && !stop; a++) {
		for (uint32_t i = 0; i < vol->sb.inodes_per_ag && !err && !stop; i++) {
			uint64_t sector = i == 0 ? vmfs_ag_lock_sector(&vol->sb, a)
						 : vmfs_inode_lock_sector(&vol->sb, a * vol->sb.inodes_per_ag + i);
			if (i == 1) {
				uint64_t mblock = vmfs_ag_mblock(&vol->sb, a);
				err = vol->dev->read(vol->dev->ctx, mblock * MB_SIZE, ag, MB_SIZE);
				if (!err)
					err = vmfs_mb_check(&vol->os, ag, MB_AGHDR, mblock);
				if (err)
					break;
			}
			if (i > 0 && !vmfs_bit_test(((struct disk_aghdr *)ag)->inode_bitmap, i))
				continue;
			struct disk_lock l;
			err = vmfs_read_sector_checked(vol, sector, &l, true);
			if (err || l.mode == LOCK_FREE)
				continue;
			struct vmfs_lock_info info = { .what = i == 0 ? "ag" : "inode",
						       .id = i == 0 ? a : (uint64_t)a * vol->sb.inodes_per_ag + i,
						       .sector = sector, .mode = l.mode, .holders = l.holder_count,
						       .lock_generation = l.lock_generation };
			for (uint32_t h = 0; h < l.holder_count; h++) {
				info.holder_slot[h] = l.holders[h].slot;
				info.holder_generation[h] = l.holders[h].generation;
			}
			stop = lock_fn(arg, &info) != 0;
		}
	}
	if (ag)
		vol->os.free(vol->os.ctx, ag);
	if (vol->os.mutex_unlock)
		vol->os.mutex_unlock(vol->os.ctx);
	return err;
}

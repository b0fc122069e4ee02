#include <mm/pmm.h>

#include <lib/errno.h>
#include <lib/log.h>
#include <lib/spinlock.h>
#include <lib/string.h>

/* Bit set = frame in use (or not RAM). [m] pmm_lock for all of these. */
static uint64_t *pmm_bitmap;
static uint64_t pmm_bitmap_phys;
static uint64_t pmm_bitmap_bytes;
static uint64_t pmm_frame_count;
static uint64_t pmm_free_count;
static uint64_t pmm_next_hint; /* frame index where the next search starts */
static struct pmm_stats pmm_stats;
static struct pmm_phys_access pmm_access;
static struct spinlock pmm_lock = SPINLOCK_INIT;

static inline bool frame_used(uint64_t frame)
{
	return pmm_bitmap[frame / 64] & (1ul << (frame % 64));
}

static inline void frame_set_used(uint64_t frame)
{
	if (!frame_used(frame)) {
		pmm_bitmap[frame / 64] |= 1ul << (frame % 64);
		pmm_free_count--;
	}
}

static inline void frame_set_free(uint64_t frame)
{
	if (frame_used(frame)) {
		pmm_bitmap[frame / 64] &= ~(1ul << (frame % 64));
		pmm_free_count++;
	}
}

static uint64_t align_up(uint64_t v, uint64_t a)
{
	return (v + a - 1) & ~(a - 1);
}

static uint64_t align_down(uint64_t v, uint64_t a)
{
	return v & ~(a - 1);
}

static bool overlaps(uint64_t a, uint64_t a_end, uint64_t b, uint64_t b_end)
{
	return a < b_end && b < a_end;
}

static unsigned popcount64(uint64_t v)
{
	/* SWAR count: no popcnt instruction is assumed, and no libgcc. */
	v = v - ((v >> 1) & 0x5555555555555555ul);
	v = (v & 0x3333333333333333ul) + ((v >> 2) & 0x3333333333333333ul);
	v = (v + (v >> 4)) & 0x0f0f0f0f0f0f0f0ful;
	return (unsigned)((v * 0x0101010101010101ul) >> 56);
}

/* Sets (used) or clears (free) the bits of frames [first, last), a word at
 * a time where it can: boot maps cover millions of frames. */
static void set_frames(uint64_t first, uint64_t last, bool used)
{
	if (last > pmm_frame_count)
		last = pmm_frame_count;
	while (first < last) {
		uint64_t word = first / 64;
		unsigned bit = first % 64;
		uint64_t count = last - first < 64 - bit ? last - first : 64 - bit;
		uint64_t mask = (count == 64 ? ~0ul : ((1ul << count) - 1)) << bit;
		uint64_t before = pmm_bitmap[word];
		uint64_t after = used ? before | mask : before & ~mask;
		unsigned used_before = popcount64(before & mask), used_after = popcount64(after & mask);
		pmm_free_count = pmm_free_count + used_before - used_after;
		pmm_bitmap[word] = after;
		first += count;
	}
}

/* Marks frames touching [base, base+length) used. */
static void mark_used(uint64_t base, uint64_t length)
{
	if (!length)
		return;
	uint64_t end = base + length < base ? UINT64_MAX : base + length;
	uint64_t last = end > UINT64_MAX - PMM_FRAME_SIZE ? UINT64_MAX / PMM_FRAME_SIZE
							  : align_up(end, PMM_FRAME_SIZE) / PMM_FRAME_SIZE;
	set_frames(base / PMM_FRAME_SIZE, last, true);
}

/* Marks frames wholly inside [base, base+length) free. */
static void mark_free(uint64_t base, uint64_t length)
{
	uint64_t first = align_up(base, PMM_FRAME_SIZE) / PMM_FRAME_SIZE;
	uint64_t last = align_down(base + length, PMM_FRAME_SIZE) / PMM_FRAME_SIZE;
	if (last > first)
		set_frames(first, last, false);
}

static bool conflicts(uint64_t start, uint64_t end, const struct boot_mem_range *ranges,
		      uint32_t count, const struct boot_mem_range *reserved,
		      uint32_t reserved_count, uint64_t *bump)
{
	for (uint32_t i = 0; i < count; i++) {
		const struct boot_mem_range *r = &ranges[i];
		if (r->type != BOOT_MEM_USABLE && overlaps(start, end, r->base, r->base + r->length)) {
			*bump = r->base + r->length;
			return true;
		}
	}
	for (uint32_t i = 0; i < reserved_count; i++) {
		const struct boot_mem_range *r = &reserved[i];
		if (overlaps(start, end, r->base, r->base + r->length)) {
			*bump = r->base + r->length;
			return true;
		}
	}
	return false;
}

/* The bitmap must be reachable through the boot identity map: below 4 GiB. */
static uint64_t find_bitmap_home(const struct boot_mem_range *ranges, uint32_t count,
				 const struct boot_mem_range *reserved, uint32_t reserved_count,
				 uint64_t bytes)
{
	const uint64_t limit = 4ul << 30;

	for (uint32_t i = 0; i < count; i++) {
		const struct boot_mem_range *r = &ranges[i];
		if (r->type != BOOT_MEM_USABLE)
			continue;
		uint64_t end = r->base + r->length;
		uint64_t start = align_up(r->base > PMM_LOW_LIMIT ? r->base : PMM_LOW_LIMIT, PMM_FRAME_SIZE);
		for (int tries = 0; tries < 64 && start + bytes <= end && start + bytes <= limit; tries++) {
			uint64_t bump;
			if (!conflicts(start, start + bytes, ranges, count, reserved, reserved_count, &bump))
				return start;
			start = align_up(bump, PMM_FRAME_SIZE);
		}
	}
	return 0;
}

int pmm_init(const struct boot_mem_range *ranges, uint32_t count,
	     const struct boot_mem_range *reserved, uint32_t reserved_count,
	     const struct pmm_phys_access *access)
{
	uint64_t top = 0, usable = 0;

	memset(&pmm_stats, 0, sizeof(pmm_stats));
	for (uint32_t i = 0; i < count; i++) {
		const struct boot_mem_range *r = &ranges[i];
		bool ram = r->type == BOOT_MEM_USABLE || r->type == BOOT_MEM_LOADER_RECLAIMABLE;
		if (!ram || !r->length || r->base + r->length < r->base)
			continue;
		/* Loader memory (UEFI loaders allocate high) becomes RAM later: cover it. */
		if (r->base + r->length > top)
			top = r->base + r->length;
		if (r->type == BOOT_MEM_USABLE)
			usable += r->length;
	}
	if (!usable) {
		log_error("pmm: the memory map has no usable RAM\n");
		return -EINVAL;
	}
	pmm_frame_count = align_down(top, PMM_FRAME_SIZE) / PMM_FRAME_SIZE;
	pmm_bitmap_bytes = align_up(align_up(pmm_frame_count, 64) / 8, PMM_FRAME_SIZE);
	pmm_bitmap_phys = find_bitmap_home(ranges, count, reserved, reserved_count, pmm_bitmap_bytes);
	if (!pmm_bitmap_phys) {
		log_error("pmm: no room below 4 GiB for a %lu KiB frame bitmap\n", pmm_bitmap_bytes >> 10);
		return -ENOMEM;
	}
	pmm_access = *access;
	pmm_bitmap = pmm_access.phys_to_virt(pmm_bitmap_phys);
	memset(pmm_bitmap, 0xff, pmm_bitmap_bytes);
	pmm_free_count = 0;

	for (uint32_t i = 0; i < count; i++)
		if (ranges[i].type == BOOT_MEM_USABLE)
			mark_free(ranges[i].base, ranges[i].length);
	/* Anything else the firmware reported wins over an overlapping usable range. */
	for (uint32_t i = 0; i < count; i++)
		if (ranges[i].type != BOOT_MEM_USABLE)
			mark_used(ranges[i].base, ranges[i].length);
	for (uint32_t i = 0; i < reserved_count; i++)
		mark_used(reserved[i].base, reserved[i].length);
	mark_used(0, PMM_FRAME_SIZE); /* a null physical address means "none" */
	mark_used(pmm_bitmap_phys, pmm_bitmap_bytes);

	pmm_next_hint = PMM_LOW_LIMIT / PMM_FRAME_SIZE;
	pmm_stats.usable_bytes = usable;
	pmm_stats.highest_usable = top;
	pmm_stats.total_frames = pmm_frame_count;
	return 0;
}

void pmm_set_phys_access(const struct pmm_phys_access *access)
{
	uint64_t flags = spin_lock_irqsave(&pmm_lock);
	pmm_access = *access;
	pmm_bitmap = pmm_access.phys_to_virt(pmm_bitmap_phys);
	spin_unlock_irqrestore(&pmm_lock, flags);
}

/* First run of count free frames at index >= from, below limit, aligned. */
static uint64_t find_run(uint64_t from, uint64_t limit, uint64_t count, uint64_t align_frames)
{
	uint64_t f = align_up(from, align_frames);

	while (f + count <= limit) {
		/* Skip fully used words quickly. */
		if (f % 64 == 0 && pmm_bitmap[f / 64] == UINT64_MAX) {
			f = align_up(f + 64, align_frames);
			continue;
		}
		uint64_t n = 0;
		while (n < count && !frame_used(f + n))
			n++;
		if (n == count)
			return f;
		f = align_up(f + n + 1, align_frames);
	}
	return UINT64_MAX;
}

static uint64_t alloc_run(uint64_t low, uint64_t high, uint64_t count, uint64_t align_frames,
			  bool use_hint)
{
	uint64_t flags = spin_lock_irqsave(&pmm_lock);
	uint64_t start = use_hint && pmm_next_hint > low ? pmm_next_hint : low;
	uint64_t f = find_run(start, high, count, align_frames);
	if (f == UINT64_MAX && start != low)
		f = find_run(low, high, count, align_frames);
	if (f != UINT64_MAX) {
		for (uint64_t i = 0; i < count; i++)
			frame_set_used(f + i);
		if (use_hint)
			pmm_next_hint = f + count;
	}
	spin_unlock_irqrestore(&pmm_lock, flags);
	return f == UINT64_MAX ? 0 : f * PMM_FRAME_SIZE;
}

uint64_t pmm_alloc_frame(void)
{
	return alloc_run(PMM_LOW_LIMIT / PMM_FRAME_SIZE, pmm_frame_count, 1, 1, true);
}

uint64_t pmm_alloc_contiguous(uint64_t count, uint64_t align)
{
	if (!count || align < PMM_FRAME_SIZE || (align & (align - 1)))
		return 0;
	return alloc_run(PMM_LOW_LIMIT / PMM_FRAME_SIZE, pmm_frame_count, count,
			 align / PMM_FRAME_SIZE, false);
}

uint64_t pmm_alloc_in(uint64_t low, uint64_t high)
{
	uint64_t first = align_up(low ? low : 1, PMM_FRAME_SIZE) / PMM_FRAME_SIZE;
	uint64_t limit = high / PMM_FRAME_SIZE;
	if (limit > pmm_frame_count)
		limit = pmm_frame_count;
	return alloc_run(first, limit, 1, 1, false);
}

void pmm_free_contiguous(uint64_t phys, uint64_t count)
{
	uint64_t flags = spin_lock_irqsave(&pmm_lock);
	uint64_t first = phys / PMM_FRAME_SIZE;
	for (uint64_t f = first; f < first + count && f < pmm_frame_count; f++) {
		if (!frame_used(f))
			log_warn("pmm: warning: double free of frame 0x%lx\n", f * PMM_FRAME_SIZE);
		frame_set_free(f);
	}
	spin_unlock_irqrestore(&pmm_lock, flags);
}

void pmm_free_frame(uint64_t phys)
{
	pmm_free_contiguous(phys, 1);
}

uint64_t pmm_reclaim(const struct boot_mem_range *ranges, uint32_t count, uint32_t type,
		     const struct boot_mem_range *reserved, uint32_t reserved_count)
{
	uint64_t flags = spin_lock_irqsave(&pmm_lock);
	uint64_t before = pmm_free_count;
	for (uint32_t i = 0; i < count; i++)
		if (ranges[i].type == type)
			mark_free(ranges[i].base, ranges[i].length);
	for (uint32_t i = 0; i < count; i++)
		if (ranges[i].type != type && ranges[i].type != BOOT_MEM_USABLE)
			mark_used(ranges[i].base, ranges[i].length);
	for (uint32_t i = 0; i < reserved_count; i++)
		mark_used(reserved[i].base, reserved[i].length);
	mark_used(0, PMM_FRAME_SIZE);
	mark_used(pmm_bitmap_phys, pmm_bitmap_bytes);
	uint64_t gained = pmm_free_count - before;
	spin_unlock_irqrestore(&pmm_lock, flags);
	return gained;
}

bool pmm_is_free(uint64_t phys)
{
	uint64_t f = phys / PMM_FRAME_SIZE;
	return f < pmm_frame_count && !frame_used(f);
}

void pmm_get_stats(struct pmm_stats *out)
{
	uint64_t flags = spin_lock_irqsave(&pmm_lock);
	*out = pmm_stats;
	out->free_frames = pmm_free_count;
	spin_unlock_irqrestore(&pmm_lock, flags);
}

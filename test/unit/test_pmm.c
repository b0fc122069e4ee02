/*
 * Frame allocator (vmkernel/mm/pmm.c) against canned memory maps. pmm only
 * ever touches its own bitmap, which it places in usable RAM at or above
 * 1 MiB: "physical memory" below FAKE_RAM_SIZE is a host buffer, and every
 * map here leaves room for the bitmap there. Frames handed out are never
 * written, so RAM above that (even above 4 GiB) needs no backing.
 */
#include "unit.h"
#include "host_support.h"

#include <lib/errno.h>
#include <mm/pmm.h>

#define KiB 1024ul
#define MiB (1024ul * KiB)
#define GiB (1024ul * MiB)
#define FAKE_RAM_SIZE (16 * MiB)

static uint8_t *fake_ram;
static uint64_t bitmap_phys_seen; /* what pmm asked phys_to_virt for last */

static void *fake_phys_to_virt(uint64_t phys)
{
	if (!fake_ram)
		fake_ram = calloc(1, FAKE_RAM_SIZE);
	if (phys < PMM_LOW_LIMIT || phys >= FAKE_RAM_SIZE) {
		/* Fail this test only: hand out scratch memory the next init
		 * overwrites anyway. */
		fprintf(stderr, "%s:%d: CHECK failed: pmm reached unbacked physical address 0x%" PRIx64 "\n",
			__FILE__, __LINE__, phys);
		unit_current_failed = 1;
		return fake_ram + PMM_LOW_LIMIT;
	}
	bitmap_phys_seen = phys;
	return fake_ram + phys;
}

static const struct pmm_phys_access fake_access = { fake_phys_to_virt };

/* A 64 MiB PC: low RAM up to an unaligned EBDA start, the BIOS area, RAM
 * from 1 MiB. */
static const struct boot_mem_range pc_64m[] = {
	{ 0x0, 0x9fc00, BOOT_MEM_USABLE, 0 },
	{ 0x9fc00, 0x400, BOOT_MEM_RESERVED, 0 },
	{ 0xf0000, 0x10000, BOOT_MEM_RESERVED, 0 },
	{ 0x100000, 63 * MiB, BOOT_MEM_USABLE, 0 },
};
#define COUNT(a) ((uint32_t)(sizeof(a) / sizeof((a)[0])))
/* Frames 1..0x9e below 1 MiB; 0x100..0x3fff above, less one bitmap frame. */
#define PC_64M_LOW_FREE 158u
#define PC_64M_HIGH_FREE (0x3f00u - 1u)

static uint64_t free_frames(void)
{
	struct pmm_stats stats;

	pmm_get_stats(&stats);
	return stats.free_frames;
}

/* Bytes of the bitmap for a map whose usable RAM ends at top. */
static uint64_t bitmap_bytes_for(uint64_t top)
{
	uint64_t frames = top / PMM_FRAME_SIZE;
	uint64_t bytes = (frames + 63) / 64 * 8;
	return (bytes + PMM_FRAME_SIZE - 1) & ~(PMM_FRAME_SIZE - 1);
}

static int overlaps(uint64_t a, uint64_t a_length, uint64_t b, uint64_t b_length)
{
	return a < b + b_length && b < a + a_length;
}

/*
 * Takes every frame pmm_alloc_in(0, max) will give and checks each one:
 * aligned, never frame 0, never twice, never inside forbidden[]. Returns the
 * count; the frames stay allocated.
 */
static uint64_t drain_checked(const struct boot_mem_range *forbidden, uint32_t forbidden_count,
			      uint64_t *lowest, uint64_t *highest)
{
	uint64_t count = 0;
	uint64_t limit = 1ul << 20; /* frames: more than any map here holds */
	uint8_t *seen = calloc(limit, 1);
	uint64_t phys;

	*lowest = UINT64_MAX;
	*highest = 0;
	while ((phys = pmm_alloc_in(0, UINT64_MAX)) != 0) {
		CHECK_EQ(phys % PMM_FRAME_SIZE, 0);
		CHECK(phys / PMM_FRAME_SIZE < limit);
		if (phys / PMM_FRAME_SIZE >= limit)
			break;
		CHECK(!seen[phys / PMM_FRAME_SIZE]);
		seen[phys / PMM_FRAME_SIZE] = 1;
		for (uint32_t i = 0; i < forbidden_count; i++)
			if (overlaps(phys, PMM_FRAME_SIZE, forbidden[i].base, forbidden[i].length)) {
				fprintf(stderr, "frame 0x%" PRIx64 " is inside forbidden range %u\n", phys, i);
				CHECK(!"allocated a forbidden frame");
			}
		if (phys < *lowest)
			*lowest = phys;
		if (phys > *highest)
			*highest = phys;
		count++;
	}
	free(seen);
	CHECK_EQ(free_frames(), 0);
	return count;
}

UNIT_TEST(init_without_usable_ram_is_einval)
{
	static const struct boot_mem_range only_reserved[] = {
		{ 0x0, 0x100000, BOOT_MEM_RESERVED, 0 },
		{ 0x100000, 64 * MiB, BOOT_MEM_ACPI_NVS, 0 },
		{ 0x5000000, 0, BOOT_MEM_USABLE, 0 }, /* empty: not RAM either */
	};
	host_log_reset();
	CHECK_EQ(pmm_init(only_reserved, COUNT(only_reserved), NULL, 0, &fake_access), -EINVAL);
	CHECK(host_log.count >= 1);
	CHECK_EQ(pmm_init(only_reserved, 0, NULL, 0, &fake_access), -EINVAL);
}

UNIT_TEST(init_without_room_for_bitmap_below_4g_is_enomem)
{
	/* RAM only below 1 MiB and above 4 GiB: nowhere the boot identity map
	 * reaches and pmm may use. */
	static const struct boot_mem_range no_home[] = {
		{ 0x0, 0x9f000, BOOT_MEM_USABLE, 0 },
		{ 4 * GiB, 1 * GiB, BOOT_MEM_USABLE, 0 },
	};
	CHECK_EQ(pmm_init(no_home, COUNT(no_home), NULL, 0, &fake_access), -ENOMEM);
}

UNIT_TEST(stats_after_init)
{
	struct pmm_stats stats;

	CHECK_EQ(pmm_init(pc_64m, COUNT(pc_64m), NULL, 0, &fake_access), 0);
	pmm_get_stats(&stats);
	CHECK_EQ(stats.usable_bytes, 0x9fc00 + 63 * MiB);
	CHECK_EQ(stats.highest_usable, 64 * MiB);
	CHECK_EQ(stats.total_frames, 64 * MiB / PMM_FRAME_SIZE);
	CHECK_EQ(stats.free_frames, PC_64M_LOW_FREE + PC_64M_HIGH_FREE);
}

UNIT_TEST(bitmap_lives_in_usable_ram_above_1m_and_is_never_handed_out)
{
	uint64_t lowest, highest;

	CHECK_EQ(pmm_init(pc_64m, COUNT(pc_64m), NULL, 0, &fake_access), 0);
	uint64_t bitmap = bitmap_phys_seen;
	CHECK(bitmap >= PMM_LOW_LIMIT);
	CHECK_EQ(bitmap % PMM_FRAME_SIZE, 0);
	const struct boot_mem_range forbidden[] = {
		{ bitmap, bitmap_bytes_for(64 * MiB), 0, 0 },
	};
	CHECK(!pmm_is_free(bitmap));
	CHECK_EQ(drain_checked(forbidden, 1, &lowest, &highest), PC_64M_LOW_FREE + PC_64M_HIGH_FREE);
}

UNIT_TEST(frame_zero_and_firmware_ranges_never_allocated)
{
	uint64_t lowest, highest;
	static const struct boot_mem_range forbidden[] = {
		{ 0x0, 0x1000, 0, 0 },
		{ 0x9f000, 0x61000, 0, 0 }, /* the partial frame, EBDA, ROM */
		{ 64 * MiB, 1 * GiB, 0, 0 },
	};

	CHECK_EQ(pmm_init(pc_64m, COUNT(pc_64m), NULL, 0, &fake_access), 0);
	CHECK(!pmm_is_free(0));
	CHECK(!pmm_is_free(0x9f000));
	CHECK(pmm_is_free(0x9e000));
	drain_checked(forbidden, COUNT(forbidden), &lowest, &highest);
	CHECK_EQ(lowest, 0x1000);
	CHECK_EQ(highest, 64 * MiB - PMM_FRAME_SIZE);
}

UNIT_TEST(alloc_frame_stays_above_1m_low_memory_only_through_alloc_in)
{
	uint64_t phys, count = 0;

	CHECK_EQ(pmm_init(pc_64m, COUNT(pc_64m), NULL, 0, &fake_access), 0);
	while ((phys = pmm_alloc_frame()) != 0) {
		CHECK(phys >= PMM_LOW_LIMIT);
		count++;
	}
	CHECK_EQ(count, PC_64M_HIGH_FREE);
	CHECK_EQ(free_frames(), PC_64M_LOW_FREE);
	CHECK_EQ(pmm_alloc_contiguous(1, PMM_FRAME_SIZE), 0);
	count = 0;
	while ((phys = pmm_alloc_in(0, PMM_LOW_LIMIT)) != 0) {
		CHECK(phys >= 0x1000 && phys < 0x9f000);
		count++;
	}
	CHECK_EQ(count, PC_64M_LOW_FREE);
	CHECK_EQ(free_frames(), 0);
}

UNIT_TEST(reserved_map_range_wins_over_overlapping_usable_one)
{
	/* Firmware maps do list overlapping ranges; what is not RAM must win,
	 * and a partly covered frame is wholly off limits. */
	static const struct boot_mem_range overlapping[] = {
		{ 0x100000, 15 * MiB, BOOT_MEM_USABLE, 0 },
		{ 0x800800, 0x1000, BOOT_MEM_RESERVED, 0 },
		{ 0xa00000, 0x1000, BOOT_MEM_ACPI_RECLAIMABLE, 0 },
		{ 0xb00000, 0x3000, BOOT_MEM_BAD, 0 },
	};
	uint64_t lowest, highest;

	CHECK_EQ(pmm_init(overlapping, COUNT(overlapping), NULL, 0, &fake_access), 0);
	CHECK(pmm_is_free(0x7ff000));
	CHECK(!pmm_is_free(0x800000));
	CHECK(!pmm_is_free(0x801000));
	CHECK(pmm_is_free(0x802000));
	CHECK(!pmm_is_free(0xa00000));
	CHECK(!pmm_is_free(0xb02000));
	CHECK(pmm_is_free(0xb03000));
	drain_checked(overlapping + 1, COUNT(overlapping) - 1, &lowest, &highest);
}

UNIT_TEST(reserved_range_running_to_the_end_of_the_address_space)
{
	/* base + length wraps: the range still covers everything above base. */
	static const struct boot_mem_range map[] = {
		{ 0x100000, 15 * MiB, BOOT_MEM_USABLE, 0 },
		{ 15 * MiB, UINT64_MAX, BOOT_MEM_RESERVED, 0 },
	};

	CHECK_EQ(pmm_init(map, COUNT(map), NULL, 0, &fake_access), 0);
	CHECK(pmm_is_free(15 * MiB - PMM_FRAME_SIZE));
	CHECK(!pmm_is_free(15 * MiB));
	CHECK(!pmm_is_free(16 * MiB - PMM_FRAME_SIZE));
	CHECK_EQ(pmm_alloc_in(15 * MiB, UINT64_MAX), 0);
	CHECK_EQ(free_frames(), (14 * MiB) / PMM_FRAME_SIZE - 1);
}

UNIT_TEST(unaligned_usable_edges_never_give_partial_frames)
{
	static const struct boot_mem_range ragged[] = {
		{ 0x100800, 0x300000, BOOT_MEM_USABLE, 0 }, /* to 0x400800 */
		{ 0x500001, 0x1ffffe, BOOT_MEM_USABLE, 0 }, /* to 0x6fffff */
	};
	uint64_t lowest, highest;
	static const struct boot_mem_range forbidden[] = {
		{ 0x100000, 0x1000, 0, 0 },
		{ 0x400000, 0x100000 + 0x1000, 0, 0 },
		{ 0x6ff000, 0x1000, 0, 0 },
	};

	struct pmm_stats stats;

	CHECK_EQ(pmm_init(ragged, COUNT(ragged), NULL, 0, &fake_access), 0);
	/* The bitmap ends at the last whole frame. */
	pmm_get_stats(&stats);
	CHECK_EQ(stats.total_frames, 0x6ff);
	CHECK_EQ(stats.highest_usable, 0x6fffff);
	CHECK(!pmm_is_free(0x100000));
	CHECK(!pmm_is_free(0x400000));
	CHECK(!pmm_is_free(0x500000));
	CHECK(pmm_is_free(0x501000));
	CHECK(pmm_is_free(0x6fe000));
	CHECK(!pmm_is_free(0x6ff000));
	/* 0x101..0x3ff and 0x501..0x6fe, less the bitmap's frame. */
	CHECK_EQ(free_frames(), (0x400 - 0x101) + (0x6ff - 0x501) - 1);
	drain_checked(forbidden, COUNT(forbidden), &lowest, &highest);
}

UNIT_TEST(holes_in_the_map_are_never_allocated)
{
	static const struct boot_mem_range holey[] = {
		{ 0x100000, 7 * MiB, BOOT_MEM_USABLE, 0 },
		/* nothing at all in [8 MiB, 12 MiB) */
		{ 12 * MiB, 4 * MiB, BOOT_MEM_USABLE, 0 },
	};
	static const struct boot_mem_range forbidden[] = { { 8 * MiB, 4 * MiB, 0, 0 } };
	uint64_t lowest, highest;
	struct pmm_stats stats;

	CHECK_EQ(pmm_init(holey, COUNT(holey), NULL, 0, &fake_access), 0);
	pmm_get_stats(&stats);
	CHECK_EQ(stats.usable_bytes, 11 * MiB);
	CHECK_EQ(stats.total_frames, 16 * MiB / PMM_FRAME_SIZE);
	CHECK_EQ(drain_checked(forbidden, 1, &lowest, &highest), 11 * MiB / PMM_FRAME_SIZE - 1);
	CHECK_EQ(highest, 16 * MiB - PMM_FRAME_SIZE);
}

UNIT_TEST(boot_reserved_ranges_are_never_allocated)
{
	/* The vmkernel image and two modules, one not frame-aligned at either end. */
	static const struct boot_mem_range image_and_modules[] = {
		{ 2 * MiB, 0x123456, 0, 0 },
		{ 0x500010, 0x20, 0, 0 },
		{ 0x700fff, 0x2001, 0, 0 },
	};
	uint64_t lowest, highest;

	CHECK_EQ(pmm_init(pc_64m, COUNT(pc_64m), image_and_modules, COUNT(image_and_modules),
			  &fake_access),
		 0);
	CHECK(!pmm_is_free(0x500000));
	CHECK(!pmm_is_free(0x700000));
	CHECK(!pmm_is_free(0x702000));
	CHECK(pmm_is_free(0x703000));
	/* image: 0x124 frames, module 1: one frame, module 2: 0x700..0x702. */
	CHECK_EQ(drain_checked(image_and_modules, COUNT(image_and_modules), &lowest, &highest),
		 PC_64M_LOW_FREE + PC_64M_HIGH_FREE - 0x124 - 1 - 3);
}

UNIT_TEST(bitmap_placed_clear_of_image_modules_and_firmware)
{
	/* The image sits at 1 MiB and firmware data right after it: the bitmap
	 * must go past both. */
	static const struct boot_mem_range map[] = {
		{ 0x100000, 15 * MiB, BOOT_MEM_USABLE, 0 },
		{ 0x300000, 0x1000, BOOT_MEM_ACPI_NVS, 0 },
	};
	static const struct boot_mem_range image[] = { { 0x100000, 0x200000, 0, 0 } };

	CHECK_EQ(pmm_init(map, COUNT(map), image, 1, &fake_access), 0);
	CHECK_EQ(bitmap_phys_seen, 0x301000);
	CHECK(!pmm_is_free(0x301000));
	CHECK(pmm_is_free(0x302000));
}

UNIT_TEST(alloc_in_honours_its_window)
{
	CHECK_EQ(pmm_init(pc_64m, COUNT(pc_64m), NULL, 0, &fake_access), 0);
	CHECK_EQ(pmm_alloc_in(0x3000000, 0x3002000), 0x3000000);
	CHECK_EQ(pmm_alloc_in(0x3000000, 0x3002000), 0x3001000);
	CHECK_EQ(pmm_alloc_in(0x3000000, 0x3002000), 0);
	/* An unaligned low bound starts at the next whole frame. */
	CHECK_EQ(pmm_alloc_in(0x3002001, 0x3004000), 0x3003000);
	/* A frame straddling high is outside the window. */
	CHECK_EQ(pmm_alloc_in(0x3004000, 0x3004fff), 0);
	CHECK_EQ(pmm_alloc_in(0x3005000, 0x3004000), 0);
	/* Frame 0 is never returned, even when asked for from 0. */
	CHECK_EQ(pmm_alloc_in(0, 0x2000), 0x1000);
	CHECK_EQ(pmm_alloc_in(0, 0x2000), 0);
	CHECK_EQ(pmm_alloc_in(64 * MiB, UINT64_MAX), 0);
}

UNIT_TEST(contiguous_allocation_is_aligned_and_whole)
{
	CHECK_EQ(pmm_init(pc_64m, COUNT(pc_64m), NULL, 0, &fake_access), 0);
	uint64_t before = free_frames();
	uint64_t a = pmm_alloc_contiguous(512, 2 * MiB);
	uint64_t b = pmm_alloc_contiguous(512, 2 * MiB);
	uint64_t c = pmm_alloc_contiguous(3, 16 * KiB);
	CHECK(a && b && c);
	CHECK_EQ(a % (2 * MiB), 0);
	CHECK_EQ(b % (2 * MiB), 0);
	CHECK_EQ(c % (16 * KiB), 0);
	CHECK(!overlaps(a, 2 * MiB, b, 2 * MiB));
	CHECK(!overlaps(c, 3 * PMM_FRAME_SIZE, a, 2 * MiB));
	CHECK(!overlaps(c, 3 * PMM_FRAME_SIZE, b, 2 * MiB));
	CHECK(a >= PMM_LOW_LIMIT && c >= PMM_LOW_LIMIT);
	for (uint64_t p = a; p < a + 2 * MiB; p += PMM_FRAME_SIZE)
		CHECK(!pmm_is_free(p));
	CHECK_EQ(free_frames(), before - 1024 - 3);
}

UNIT_TEST(contiguous_allocation_rejects_bad_arguments)
{
	CHECK_EQ(pmm_init(pc_64m, COUNT(pc_64m), NULL, 0, &fake_access), 0);
	uint64_t before = free_frames();
	CHECK_EQ(pmm_alloc_contiguous(0, PMM_FRAME_SIZE), 0);
	CHECK_EQ(pmm_alloc_contiguous(1, 2048), 0);
	CHECK_EQ(pmm_alloc_contiguous(1, 3 * PMM_FRAME_SIZE), 0);
	CHECK_EQ(pmm_alloc_contiguous(1, 0), 0);
	/* More than the machine has. */
	CHECK_EQ(pmm_alloc_contiguous(64 * MiB / PMM_FRAME_SIZE, PMM_FRAME_SIZE), 0);
	CHECK_EQ(free_frames(), before);
}

UNIT_TEST(contiguous_allocation_skips_runs_with_a_used_frame)
{
	/* One used frame inside [2 MiB, 4 MiB) spoils that 2 MiB block. */
	static const struct boot_mem_range map[] = { { 0x100000, 7 * MiB, BOOT_MEM_USABLE, 0 } };
	static const struct boot_mem_range module[] = { { 0x205000, 0x1000, 0, 0 } };

	CHECK_EQ(pmm_init(map, COUNT(map), module, 1, &fake_access), 0);
	CHECK_EQ(pmm_alloc_contiguous(512, 2 * MiB), 4 * MiB);
	CHECK_EQ(pmm_alloc_contiguous(512, 2 * MiB), 6 * MiB);
	CHECK_EQ(pmm_alloc_contiguous(512, 2 * MiB), 0);
}

/* Was a bug: find_run() skips a fully used bitmap word by f += 64, which loses
 * the alignment of f when align_frames > 64 (2 MiB = 512 frames), so a run
 * starting right after a used 256 KiB block is returned misaligned. */
UNIT_TEST(contiguous_2m_alignment_kept_after_full_bitmap_word)
{
	static const struct boot_mem_range map[] = { { 0x100000, 15 * MiB, BOOT_MEM_USABLE, 0 } };
	/* Frames 512..575 (one whole bitmap word) taken by a module. */
	static const struct boot_mem_range module[] = { { 2 * MiB, 256 * KiB, 0, 0 } };

	CHECK_EQ(pmm_init(map, COUNT(map), module, 1, &fake_access), 0);
	uint64_t phys = pmm_alloc_contiguous(512, 2 * MiB);
	CHECK_EQ(phys % (2 * MiB), 0);
	CHECK_EQ(phys, 4 * MiB);
}

UNIT_TEST(exhaustion_returns_zero_everywhere)
{
	static const struct boot_mem_range tiny[] = { { 0x100000, 0x10000, BOOT_MEM_USABLE, 0 } };

	CHECK_EQ(pmm_init(tiny, COUNT(tiny), NULL, 0, &fake_access), 0);
	/* 16 frames, one of them the bitmap. */
	for (int i = 0; i < 15; i++)
		CHECK(pmm_alloc_frame() != 0);
	CHECK_EQ(pmm_alloc_frame(), 0);
	CHECK_EQ(pmm_alloc_contiguous(1, PMM_FRAME_SIZE), 0);
	CHECK_EQ(pmm_alloc_in(0, UINT64_MAX), 0);
	CHECK_EQ(free_frames(), 0);
}

UNIT_TEST(free_then_allocate_again)
{
	static const struct boot_mem_range tiny[] = { { 0x100000, 0x10000, BOOT_MEM_USABLE, 0 } };
	uint64_t frames[15];

	CHECK_EQ(pmm_init(tiny, COUNT(tiny), NULL, 0, &fake_access), 0);
	for (int i = 0; i < 15; i++)
		frames[i] = pmm_alloc_frame();
	pmm_free_frame(frames[3]);
	CHECK(pmm_is_free(frames[3]));
	CHECK_EQ(free_frames(), 1);
	/* The search hint is past the end now: it must wrap to find it. */
	CHECK_EQ(pmm_alloc_frame(), frames[3]);
	CHECK_EQ(free_frames(), 0);
	pmm_free_contiguous(frames[10], 4);
	CHECK_EQ(free_frames(), 4);
	CHECK_EQ(pmm_alloc_contiguous(4, PMM_FRAME_SIZE), frames[10]);
	CHECK_EQ(free_frames(), 0);
}

UNIT_TEST(double_free_is_tolerated_and_reported)
{
	CHECK_EQ(pmm_init(pc_64m, COUNT(pc_64m), NULL, 0, &fake_access), 0);
	uint64_t before = free_frames();
	uint64_t phys = pmm_alloc_frame();
	host_log_reset();
	pmm_free_frame(phys);
	CHECK_EQ(host_log.count, 0);
	pmm_free_frame(phys);
	CHECK_EQ(host_log.count, 1);
	CHECK(host_log_contains("double free"));
	CHECK_EQ(free_frames(), before);
	/* Frames past the end of the bitmap are ignored, not written. */
	pmm_free_frame(1ul << 40);
	CHECK_EQ(free_frames(), before);
}

UNIT_TEST(reclaim_frees_loader_ranges_but_not_reserved_inside_them)
{
	static const struct boot_mem_range map[] = {
		{ 0x100000, 3 * MiB, BOOT_MEM_USABLE, 0 },
		{ 4 * MiB, 1 * MiB, BOOT_MEM_LOADER_RECLAIMABLE, 0 },
		{ 5 * MiB, 1 * MiB, BOOT_MEM_ACPI_RECLAIMABLE, 0 },
		{ 6 * MiB, 10 * MiB, BOOT_MEM_USABLE, 0 },
		/* The firmware also calls part of the loader's range reserved. */
		{ 0x4f0000, 0x10000, BOOT_MEM_RESERVED, 0 },
	};
	/* The boot_info copy inside the loader's range stays in use. */
	static const struct boot_mem_range boot_info_area[] = { { 0x402000, 0x800, 0, 0 } };

	CHECK_EQ(pmm_init(map, COUNT(map), boot_info_area, 1, &fake_access), 0);
	uint64_t before = free_frames();
	CHECK(!pmm_is_free(4 * MiB));
	uint64_t gained = pmm_reclaim(map, COUNT(map), BOOT_MEM_LOADER_RECLAIMABLE, boot_info_area, 1);
	CHECK_EQ(gained, 256 - 1 - 16);
	CHECK_EQ(free_frames(), before + gained);
	CHECK(pmm_is_free(4 * MiB));
	CHECK(!pmm_is_free(0x402000));
	CHECK(!pmm_is_free(0x4f0000));
	CHECK(!pmm_is_free(5 * MiB));
	CHECK_EQ(pmm_alloc_in(0x402000, 0x403000), 0);
	CHECK_EQ(pmm_alloc_in(0x403000, 0x404000), 0x403000);
}

/* Was a bug: the bitmap ends at the highest *usable* address, so a loader range
 * above the last usable range (UEFI loaders allocate from the top of RAM)
 * can never be reclaimed: pmm_reclaim() gains nothing and that RAM is lost. */
UNIT_TEST(reclaim_loader_range_above_highest_usable_ram)
{
	static const struct boot_mem_range map[] = {
		{ 0x100000, 15 * MiB, BOOT_MEM_USABLE, 0 },
		{ 16 * MiB, 1 * MiB, BOOT_MEM_LOADER_RECLAIMABLE, 0 },
	};

	CHECK_EQ(pmm_init(map, COUNT(map), NULL, 0, &fake_access), 0);
	CHECK_EQ(pmm_reclaim(map, COUNT(map), BOOT_MEM_LOADER_RECLAIMABLE, NULL, 0), 256);
	CHECK_EQ(pmm_alloc_in(16 * MiB, 17 * MiB), 16 * MiB);
}

UNIT_TEST(ram_above_4g_is_tracked_and_allocatable)
{
	static const struct boot_mem_range big[] = {
		{ 0x0, 0x9f000, BOOT_MEM_USABLE, 0 },
		{ 0x100000, 15 * MiB, BOOT_MEM_USABLE, 0 },
		{ 0xfec00000, 0x1000, BOOT_MEM_RESERVED, 0 },
		{ 4 * GiB, 4 * GiB, BOOT_MEM_USABLE, 0 },
	};
	struct pmm_stats stats;

	CHECK_EQ(pmm_init(big, COUNT(big), NULL, 0, &fake_access), 0);
	pmm_get_stats(&stats);
	CHECK_EQ(stats.highest_usable, 8 * GiB);
	CHECK_EQ(stats.total_frames, 8 * GiB / PMM_FRAME_SIZE);
	CHECK_EQ(stats.usable_bytes, 0x9f000 + 15 * MiB + 4 * GiB);
	CHECK(bitmap_phys_seen < 4 * GiB);
	CHECK(pmm_is_free(4 * GiB));
	CHECK(pmm_is_free(8 * GiB - PMM_FRAME_SIZE));
	CHECK(!pmm_is_free(8 * GiB));
	CHECK(!pmm_is_free(16 * MiB));
	CHECK(!pmm_is_free(3 * GiB));
	uint64_t high = pmm_alloc_in(4 * GiB, UINT64_MAX);
	CHECK_EQ(high, 4 * GiB);
	CHECK_EQ(pmm_alloc_in(16 * MiB, 4 * GiB), 0);
	uint64_t top = pmm_alloc_in(8 * GiB - PMM_FRAME_SIZE, UINT64_MAX);
	CHECK_EQ(top, 8 * GiB - PMM_FRAME_SIZE);
	/* Nothing past the bitmap's last frame, though the bitmap fills its
	 * pages exactly here (no slack bits to hide a bad limit). */
	CHECK_EQ(pmm_alloc_in(8 * GiB - PMM_FRAME_SIZE, UINT64_MAX), 0);
	uint64_t huge = pmm_alloc_contiguous(GiB / PMM_FRAME_SIZE, GiB);
	CHECK_EQ(huge, 5 * GiB);
}

static uint8_t *physmap_ram;

static void *physmap_phys_to_virt(uint64_t phys)
{
	if (phys >= FAKE_RAM_SIZE)
		abort();
	return physmap_ram + phys;
}

UNIT_TEST(bitmap_survives_a_change_of_phys_access)
{
	/* At boot the bitmap is reached through the identity map, later
	 * through the physmap: the same bits at another address. */
	static const struct pmm_phys_access physmap = { physmap_phys_to_virt };

	CHECK_EQ(pmm_init(pc_64m, COUNT(pc_64m), NULL, 0, &fake_access), 0);
	uint64_t first = pmm_alloc_frame();
	uint64_t before = free_frames();
	physmap_ram = malloc(FAKE_RAM_SIZE);
	memcpy(physmap_ram, fake_ram, FAKE_RAM_SIZE);
	memset(fake_ram, 0, FAKE_RAM_SIZE); /* would read as "all free" */
	pmm_set_phys_access(&physmap);
	CHECK(!pmm_is_free(first));
	CHECK(!pmm_is_free(0));
	uint64_t second = pmm_alloc_frame();
	CHECK(second && second != first);
	CHECK_EQ(free_frames(), before - 1);
	pmm_free_frame(second);
	pmm_set_phys_access(&fake_access);
	free(physmap_ram);
	physmap_ram = NULL;
}

UNIT_MAIN()

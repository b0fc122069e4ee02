/*
 * The four-level page-table walker (vmkernel/arch/x86/pt.c) with the x86-64
 * host format. Table frames are host pages behind fake physical addresses;
 * the environment counts allocations and frees and can be told to run out.
 * Entries are also read back raw and checked against the architecture's
 * bits, so an encoding mistake mirrored in pt_lookup cannot hide.
 */
#include "unit.h"

#include <arch/x86/pt.h>
#include <lib/errno.h>

#include <stdbool.h>

#define MiB (1ul << 20)
#define GiB (1ul << 30)
#define MAX_TABLES 2048
#define TABLE_PHYS_BASE 0x7f00000000ul /* where the fake table frames "are" */

/* The hardware's bits, written here independently of pt.c. */
#define HW_PRESENT (1ul << 0)
#define HW_WRITE (1ul << 1)
#define HW_USER (1ul << 2)
#define HW_PWT (1ul << 3)
#define HW_PCD (1ul << 4)
#define HW_PAGE_SIZE (1ul << 7)
#define HW_GLOBAL (1ul << 8)
#define HW_NX (1ul << 63)

struct fake_tables {
	uint64_t *frames[MAX_TABLES];
	bool live[MAX_TABLES];
	unsigned used;       /* slots handed out so far */
	unsigned allocated;  /* alloc_table calls that succeeded */
	unsigned freed;
	int allocations_left; /* < 0: unlimited */
};

static uint64_t fake_alloc_table(void *ctx)
{
	struct fake_tables *ft = ctx;

	if (ft->allocations_left == 0 || ft->used == MAX_TABLES)
		return 0;
	if (ft->allocations_left > 0)
		ft->allocations_left--;
	unsigned i = ft->used++;
	ft->frames[i] = aligned_alloc(PAGE_SIZE, PAGE_SIZE);
	memset(ft->frames[i], 0, PAGE_SIZE);
	ft->live[i] = true;
	ft->allocated++;
	return TABLE_PHYS_BASE + (uint64_t)i * PAGE_SIZE;
}

/* The slot of a live table frame; -1 (and a failed test) for anything else,
 * so a walker bug fails one test instead of crashing the unit. */
static int slot_of(struct fake_tables *ft, uint64_t phys)
{
	uint64_t i = (phys - TABLE_PHYS_BASE) / PAGE_SIZE;
	if (phys < TABLE_PHYS_BASE || phys % PAGE_SIZE || i >= ft->used || !ft->live[i]) {
		fprintf(stderr, "%s:%d: CHECK failed: 0x%" PRIx64 " is not a live table frame\n",
			__FILE__, __LINE__, phys);
		unit_current_failed = 1;
		return -1;
	}
	return (int)i;
}

static void fake_free_table(void *ctx, uint64_t phys)
{
	struct fake_tables *ft = ctx;
	int i = slot_of(ft, phys);

	if (i < 0)
		return;
	free(ft->frames[i]);
	ft->frames[i] = NULL;
	ft->live[i] = false;
	ft->freed++;
}

static void *fake_phys_to_virt(void *ctx, uint64_t phys)
{
	static uint64_t empty_table[PT_ENTRIES];
	struct fake_tables *ft = ctx;
	int i = slot_of(ft, phys);

	if (i < 0) {
		memset(empty_table, 0, sizeof(empty_table));
		return empty_table;
	}
	return ft->frames[i];
}

struct space {
	struct fake_tables tables;
	struct pt_env env;
	uint64_t root;
};

static struct space *space_new(void)
{
	struct space *s = calloc(1, sizeof(*s));

	s->tables.allocations_left = -1;
	s->env.alloc_table = fake_alloc_table;
	s->env.free_table = fake_free_table;
	s->env.phys_to_virt = fake_phys_to_virt;
	s->env.ctx = &s->tables;
	s->root = fake_alloc_table(&s->tables);
	return s;
}

/* Tables in use besides the root. */
static unsigned tables_below_root(const struct space *s)
{
	return s->tables.allocated - s->tables.freed - 1;
}

/* Frees every table and checks that nothing leaked. */
static void space_destroy(struct space *s)
{
	pt_free_tables(&pt_format_host, &s->env, s->root);
	CHECK_EQ(tables_below_root(s), 0);
	fake_free_table(&s->tables, s->root);
	for (unsigned i = 0; i < s->tables.used; i++)
		free(s->tables.frames[i]);
	free(s);
}

static int map(struct space *s, uint64_t virt, uint64_t phys, uint64_t size, uint32_t prot)
{
	return pt_map(&pt_format_host, &s->env, s->root, virt, phys, size, prot, true);
}

static int unmap(struct space *s, uint64_t virt, uint64_t size)
{
	return pt_unmap(&pt_format_host, &s->env, s->root, virt, size);
}

/* The translation of virt, or ~0 when unmapped; page size and prot too. */
static uint64_t translate(struct space *s, uint64_t virt, uint64_t *page_size, uint32_t *prot)
{
	struct pt_mapping m;

	if (!pt_lookup(&pt_format_host, &s->env, s->root, virt, &m))
		return ~0ul;
	if (page_size)
		*page_size = m.page_size;
	if (prot)
		*prot = m.prot;
	return m.phys;
}

static uint64_t page_size_at(struct space *s, uint64_t virt)
{
	uint64_t size = 0;

	translate(s, virt, &size, NULL);
	return size;
}

/* The leaf entry for virt, walked by hand; 0 when there is none. */
static uint64_t raw_leaf(struct space *s, uint64_t virt, int *level_out)
{
	uint64_t table = s->root;

	for (int level = 4; level >= 1; level--) {
		uint64_t *t = fake_phys_to_virt(&s->tables, table);
		uint64_t e = t[(virt >> (12 + 9 * (level - 1))) & 511];
		if (!(e & HW_PRESENT))
			return 0;
		if (level == 1 || (e & HW_PAGE_SIZE)) {
			*level_out = level;
			return e;
		}
		/* Tables must allow everything: the leaf decides. */
		CHECK_EQ(e & (HW_WRITE | HW_USER | HW_NX), HW_WRITE | HW_USER);
		table = e & PT_ADDRESS_MASK;
	}
	return 0;
}

#define RW (PT_READ | PT_WRITE)

UNIT_TEST(empty_space_translates_nothing)
{
	struct space *s = space_new();

	CHECK_EQ(translate(s, 0, NULL, NULL), ~0ul);
	CHECK_EQ(translate(s, 0xffffffff80200000ul, NULL, NULL), ~0ul);
	CHECK_EQ(unmap(s, 0, 2 * GiB), 0);
	CHECK_EQ(map(s, 0x1000, 0x2000, 0, RW), 0);
	CHECK_EQ(tables_below_root(s), 0);
	space_destroy(s);
}

UNIT_TEST(map_4k_and_look_it_up)
{
	struct space *s = space_new();
	uint64_t size;
	uint32_t prot;

	CHECK_EQ(map(s, 0x403000, 0x1234000, PAGE_SIZE, RW), 0);
	CHECK_EQ(translate(s, 0x403abc, &size, &prot), 0x1234abc);
	CHECK_EQ(size, PAGE_SIZE);
	CHECK_EQ(prot, RW);
	CHECK_EQ(translate(s, 0x402fff, NULL, NULL), ~0ul);
	CHECK_EQ(translate(s, 0x404000, NULL, NULL), ~0ul);
	CHECK_EQ(tables_below_root(s), 3); /* PDPT, PD, PT */
	space_destroy(s);
}

UNIT_TEST(upper_half_addresses_use_their_own_pml4_slot)
{
	struct space *s = space_new();

	CHECK_EQ(map(s, 0xffffffff80200000ul, 0x200000, 4 * MiB, PT_READ | PT_EXEC), 0);
	CHECK_EQ(map(s, 0x200000, 0x800000, 2 * MiB, RW), 0);
	CHECK_EQ(translate(s, 0xffffffff80345678ul, NULL, NULL), 0x345678);
	CHECK_EQ(translate(s, 0x345678, NULL, NULL), 0x945678);
	CHECK_EQ(page_size_at(s, 0xffffffff80200000ul), 2 * MiB);
	space_destroy(s);
}

UNIT_TEST(large_pages_chosen_by_alignment)
{
	struct space *s = space_new();

	/* 1 GiB: virt and phys aligned, size enough. */
	CHECK_EQ(map(s, 1 * GiB, 3 * GiB, 1 * GiB, RW), 0);
	CHECK_EQ(page_size_at(s, 1 * GiB + 12345 * PAGE_SIZE), 1 * GiB);
	CHECK_EQ(translate(s, 1 * GiB + 0x12345678, NULL, NULL), 3 * GiB + 0x12345678);
	CHECK_EQ(tables_below_root(s), 1);
	/* 2 MiB pages where only 2 MiB alignment holds. */
	CHECK_EQ(map(s, 2 * GiB + 2 * MiB, 6 * MiB, 4 * MiB, RW), 0);
	CHECK_EQ(page_size_at(s, 2 * GiB + 2 * MiB), 2 * MiB);
	CHECK_EQ(page_size_at(s, 2 * GiB + 5 * MiB), 2 * MiB);
	CHECK_EQ(translate(s, 2 * GiB + 5 * MiB + 7, NULL, NULL), 9 * MiB + 7);
	CHECK_EQ(tables_below_root(s), 2);
	space_destroy(s);
}

UNIT_TEST(ragged_range_uses_4k_then_2m_then_4k)
{
	struct space *s = space_new();

	CHECK_EQ(map(s, 0x1fe000, 0x5fe000, 2 * MiB + 4 * PAGE_SIZE, RW), 0);
	CHECK_EQ(page_size_at(s, 0x1fe000), PAGE_SIZE);
	CHECK_EQ(page_size_at(s, 0x1ff000), PAGE_SIZE);
	CHECK_EQ(page_size_at(s, 0x200000), 2 * MiB);
	CHECK_EQ(page_size_at(s, 0x3ff000), 2 * MiB);
	CHECK_EQ(page_size_at(s, 0x400000), PAGE_SIZE);
	CHECK_EQ(page_size_at(s, 0x401000), PAGE_SIZE);
	CHECK_EQ(translate(s, 0x401fff, NULL, NULL), 0x801fff);
	CHECK_EQ(translate(s, 0x402000, NULL, NULL), ~0ul);
	CHECK_EQ(translate(s, 0x1fd000, NULL, NULL), ~0ul);
	space_destroy(s);
}

UNIT_TEST(no_large_page_when_virt_and_phys_disagree_or_not_allowed)
{
	struct space *s = space_new();

	/* virt 2 MiB aligned, phys only 4 KiB aligned: 4 KiB pages only. */
	CHECK_EQ(map(s, 4 * MiB, 4 * MiB + PAGE_SIZE, 2 * MiB, RW), 0);
	CHECK_EQ(page_size_at(s, 4 * MiB), PAGE_SIZE);
	CHECK_EQ(translate(s, 6 * MiB - 1, NULL, NULL), 6 * MiB + PAGE_SIZE - 1);
	/* virt 1 GiB aligned, phys only 2 MiB aligned: 2 MiB pages. */
	CHECK_EQ(map(s, 4 * GiB, 6 * MiB, 1 * GiB, RW), 0);
	CHECK_EQ(page_size_at(s, 4 * GiB), 2 * MiB);
	CHECK_EQ(translate(s, 5 * GiB - 1, NULL, NULL), 1 * GiB + 6 * MiB - 1);
	/* Aligned, but the caller forbids large pages. */
	CHECK_EQ(pt_map(&pt_format_host, &s->env, s->root, 1 * GiB, 1 * GiB, 1 * GiB, RW, false), 0);
	CHECK_EQ(page_size_at(s, 1 * GiB), PAGE_SIZE);
	CHECK_EQ(page_size_at(s, 2 * GiB - PAGE_SIZE), PAGE_SIZE);
	CHECK_EQ(translate(s, 2 * GiB - 1, NULL, NULL), 2 * GiB - 1);
	space_destroy(s);
}

UNIT_TEST(remapping_inside_2m_page_splits_it_and_keeps_the_rest)
{
	struct space *s = space_new();
	uint32_t prot;

	CHECK_EQ(map(s, 2 * MiB, 8 * MiB, 2 * MiB, RW | PT_USER), 0);
	unsigned before = tables_below_root(s);
	CHECK_EQ(map(s, 2 * MiB + 5 * PAGE_SIZE, 0x7777000, PAGE_SIZE, PT_READ), 0);
	CHECK_EQ(tables_below_root(s), before + 1);
	CHECK_EQ(translate(s, 2 * MiB + 5 * PAGE_SIZE + 9, NULL, &prot), 0x7777009);
	CHECK_EQ(prot, PT_READ);
	for (uint64_t off = 0; off < 2 * MiB; off += PAGE_SIZE) {
		if (off == 5 * PAGE_SIZE)
			continue;
		uint64_t size = 0;
		CHECK_EQ(translate(s, 2 * MiB + off + 1, &size, &prot), 8 * MiB + off + 1);
		CHECK_EQ(size, PAGE_SIZE);
		CHECK_EQ(prot, RW | PT_USER);
	}
	space_destroy(s);
}

UNIT_TEST(remapping_inside_1g_page_splits_only_what_it_must)
{
	struct space *s = space_new();

	CHECK_EQ(map(s, 1 * GiB, 0, 1 * GiB, RW), 0);
	CHECK_EQ(map(s, 1 * GiB + 6 * MiB + 3 * PAGE_SIZE, 0xabc000, PAGE_SIZE, RW), 0);
	CHECK_EQ(translate(s, 1 * GiB + 6 * MiB + 3 * PAGE_SIZE, NULL, NULL), 0xabc000);
	/* The 2 MiB block holding it is 4 KiB pages now; the others stay 2 MiB. */
	CHECK_EQ(page_size_at(s, 1 * GiB + 6 * MiB), PAGE_SIZE);
	CHECK_EQ(translate(s, 1 * GiB + 6 * MiB + 4 * PAGE_SIZE, NULL, NULL), 6 * MiB + 4 * PAGE_SIZE);
	CHECK_EQ(page_size_at(s, 1 * GiB + 4 * MiB), 2 * MiB);
	CHECK_EQ(translate(s, 1 * GiB + 4 * MiB + 5, NULL, NULL), 4 * MiB + 5);
	CHECK_EQ(page_size_at(s, 2 * GiB - 2 * MiB), 2 * MiB);
	CHECK_EQ(translate(s, 2 * GiB - 1, NULL, NULL), 1 * GiB - 1);
	CHECK_EQ(translate(s, 1 * GiB, NULL, NULL), 0);
	space_destroy(s);
}

UNIT_TEST(mapping_2m_over_1g_page_splits_it)
{
	struct space *s = space_new();

	CHECK_EQ(map(s, 0, 0, 1 * GiB, RW), 0);
	CHECK_EQ(map(s, 8 * MiB, 64 * GiB, 2 * MiB, RW), 0);
	CHECK_EQ(page_size_at(s, 8 * MiB), 2 * MiB);
	CHECK_EQ(translate(s, 8 * MiB + 1, NULL, NULL), 64 * GiB + 1);
	CHECK_EQ(translate(s, 10 * MiB + 1, NULL, NULL), 10 * MiB + 1);
	CHECK_EQ(translate(s, 6 * MiB + 1, NULL, NULL), 6 * MiB + 1);
	space_destroy(s);
}

UNIT_TEST(large_leaf_over_existing_tables_frees_them)
{
	struct space *s = space_new();

	/* Three 4 KiB pages in one 2 MiB block: a PT below the PD. */
	CHECK_EQ(map(s, 2 * MiB, 0x100000, 3 * PAGE_SIZE, RW), 0);
	CHECK_EQ(tables_below_root(s), 3);
	CHECK_EQ(map(s, 2 * MiB, 16 * MiB, 2 * MiB, RW), 0);
	CHECK_EQ(tables_below_root(s), 2);
	CHECK_EQ(page_size_at(s, 2 * MiB + PAGE_SIZE), 2 * MiB);
	CHECK_EQ(translate(s, 2 * MiB + PAGE_SIZE, NULL, NULL), 16 * MiB + PAGE_SIZE);
	/* A 1 GiB leaf over that PD and its 2 MiB leaf, plus a PT elsewhere. */
	CHECK_EQ(map(s, 100 * MiB, 0x100000, PAGE_SIZE, RW), 0);
	CHECK_EQ(tables_below_root(s), 3);
	CHECK_EQ(map(s, 0, 0, 1 * GiB, RW), 0);
	CHECK_EQ(tables_below_root(s), 1);
	CHECK_EQ(translate(s, 100 * MiB, NULL, NULL), 100 * MiB);
	space_destroy(s);
}

UNIT_TEST(remapping_a_page_replaces_it)
{
	struct space *s = space_new();
	uint32_t prot;

	CHECK_EQ(map(s, 0x5000, 0x9000, PAGE_SIZE, RW), 0);
	CHECK_EQ(map(s, 0x5000, 0xa000, PAGE_SIZE, PT_READ | PT_EXEC), 0);
	CHECK_EQ(translate(s, 0x5000, NULL, &prot), 0xa000);
	CHECK_EQ(prot, PT_READ | PT_EXEC);
	CHECK_EQ(tables_below_root(s), 3);
	space_destroy(s);
}

UNIT_TEST(unmap_inside_2m_page_keeps_the_rest)
{
	struct space *s = space_new();

	CHECK_EQ(map(s, 4 * MiB, 32 * MiB, 2 * MiB, RW), 0);
	CHECK_EQ(unmap(s, 4 * MiB + 16 * PAGE_SIZE, 3 * PAGE_SIZE), 0);
	for (uint64_t off = 0; off < 2 * MiB; off += PAGE_SIZE) {
		bool hole = off >= 16 * PAGE_SIZE && off < 19 * PAGE_SIZE;
		CHECK_EQ(translate(s, 4 * MiB + off, NULL, NULL), hole ? ~0ul : 32 * MiB + off);
	}
	space_destroy(s);
}

UNIT_TEST(unmap_across_1g_2m_and_4k_leaves)
{
	struct space *s = space_new();
	const uint64_t start = 1 * GiB - 2 * MiB - 2 * PAGE_SIZE;
	const uint64_t end = 2 * GiB + 2 * MiB + 2 * PAGE_SIZE;

	/* 4 KiB, 2 MiB, 1 GiB, 2 MiB, 4 KiB leaves in a row. */
	CHECK_EQ(map(s, start, start, end - start, RW), 0);
	CHECK_EQ(page_size_at(s, start), PAGE_SIZE);
	CHECK_EQ(page_size_at(s, 1 * GiB - 2 * MiB), 2 * MiB);
	CHECK_EQ(page_size_at(s, 1 * GiB), 1 * GiB);
	CHECK_EQ(page_size_at(s, 2 * GiB), 2 * MiB);
	CHECK_EQ(page_size_at(s, end - PAGE_SIZE), PAGE_SIZE);
	/* Leave one page mapped at each end. */
	CHECK_EQ(unmap(s, start + PAGE_SIZE, end - start - 2 * PAGE_SIZE), 0);
	CHECK_EQ(translate(s, start, NULL, NULL), start);
	CHECK_EQ(translate(s, end - PAGE_SIZE, NULL, NULL), end - PAGE_SIZE);
	for (uint64_t v = start + PAGE_SIZE; v < end - PAGE_SIZE; v += 511 * PAGE_SIZE)
		CHECK_EQ(translate(s, v, NULL, NULL), ~0ul);
	CHECK_EQ(translate(s, end - 2 * PAGE_SIZE, NULL, NULL), ~0ul);
	CHECK_EQ(translate(s, 1 * GiB, NULL, NULL), ~0ul);
	space_destroy(s);
}

UNIT_TEST(unmap_middle_of_1g_page_across_2m_boundary)
{
	struct space *s = space_new();
	const uint64_t hole = 1 * GiB + 2 * MiB + PAGE_SIZE;

	CHECK_EQ(map(s, 1 * GiB, 5 * GiB, 1 * GiB, RW), 0);
	CHECK_EQ(unmap(s, hole, 2 * MiB), 0);
	CHECK_EQ(translate(s, hole - PAGE_SIZE, NULL, NULL), 5 * GiB + 2 * MiB);
	CHECK_EQ(translate(s, hole, NULL, NULL), ~0ul);
	CHECK_EQ(translate(s, hole + 2 * MiB - PAGE_SIZE, NULL, NULL), ~0ul);
	CHECK_EQ(translate(s, hole + 2 * MiB, NULL, NULL), 5 * GiB + 4 * MiB + PAGE_SIZE);
	CHECK_EQ(page_size_at(s, 1 * GiB + 6 * MiB), 2 * MiB);
	CHECK_EQ(translate(s, 2 * GiB - 1, NULL, NULL), 6 * GiB - 1);
	space_destroy(s);
}

UNIT_TEST(unmap_ending_inside_an_empty_span_stops_there)
{
	struct space *s = space_new();

	/* Slot 0 of the PDPT is empty; the page at 1 GiB follows it. An unmap
	 * ending one page before 1 GiB must not run on into it. */
	CHECK_EQ(map(s, 1 * GiB, 0x5000, PAGE_SIZE, RW), 0);
	CHECK_EQ(unmap(s, 0, 1 * GiB - PAGE_SIZE), 0);
	CHECK_EQ(translate(s, 1 * GiB, NULL, NULL), 0x5000);
	CHECK_EQ(unmap(s, 1 * GiB + PAGE_SIZE, 2 * MiB), 0);
	CHECK_EQ(translate(s, 1 * GiB, NULL, NULL), 0x5000);
	space_destroy(s);
}

/* What each neutral protection must look like in a leaf, at any level. */
static void check_protection(uint32_t prot, uint64_t want_bits, uint32_t want_prot)
{
	static const uint64_t sizes[] = { PAGE_SIZE, 2 * MiB, 1 * GiB };
	const uint64_t checked = HW_WRITE | HW_USER | HW_PWT | HW_PCD | HW_GLOBAL | HW_NX;

	for (int i = 0; i < 3; i++) {
		struct space *s = space_new();
		uint64_t virt = 3 * GiB, size = 0;
		uint32_t got = 0;
		int level = 0;
		CHECK_EQ(map(s, virt, 2 * GiB, sizes[i], prot), 0);
		CHECK_EQ(translate(s, virt + 8, &size, &got), 2 * GiB + 8);
		CHECK_EQ(size, sizes[i]);
		if (got != want_prot)
			fprintf(stderr, "prot 0x%x at %" PRIu64 " KiB: got 0x%x, want 0x%x\n", prot,
				sizes[i] >> 10, got, want_prot);
		CHECK_EQ(got, want_prot);
		uint64_t e = raw_leaf(s, virt, &level);
		if ((e & checked) != want_bits)
			fprintf(stderr, "prot 0x%x at %" PRIu64 " KiB: entry 0x%" PRIx64 "\n", prot,
				sizes[i] >> 10, e);
		CHECK_EQ(e & checked, want_bits);
		CHECK_EQ(!!(e & HW_PAGE_SIZE), level > 1);
		/* PAT on large pages is bit 12; these formats leave it clear. */
		CHECK_EQ(e & PT_ADDRESS_MASK, 2 * GiB);
		space_destroy(s);
	}
}

UNIT_TEST(protections_encode_and_round_trip)
{
	check_protection(PT_READ, HW_NX, PT_READ);
	check_protection(PT_READ | PT_WRITE, HW_WRITE | HW_NX, RW);
	check_protection(PT_READ | PT_EXEC, 0, PT_READ | PT_EXEC);
	check_protection(PT_READ | PT_USER, HW_USER | HW_NX, PT_READ | PT_USER);
	check_protection(PT_READ | PT_GLOBAL | PT_EXEC, HW_GLOBAL, PT_READ | PT_GLOBAL | PT_EXEC);
	/* UC is PAT index 3 (PCD|PWT); WC is index 1 (PWT), which the vmkernel
	 * programs as write-combining. */
	check_protection(RW | PT_UNCACHED, HW_WRITE | HW_NX | HW_PCD | HW_PWT, RW | PT_UNCACHED);
	check_protection(RW | PT_WRITE_COMBINING, HW_WRITE | HW_NX | HW_PWT, RW | PT_WRITE_COMBINING);
	/* Both asked for: uncached wins, it is the safe one for MMIO. */
	check_protection(RW | PT_UNCACHED | PT_WRITE_COMBINING, HW_WRITE | HW_NX | HW_PCD | HW_PWT,
			 RW | PT_UNCACHED);
	check_protection(RW | PT_USER | PT_EXEC | PT_GLOBAL, HW_WRITE | HW_USER | HW_GLOBAL,
			 RW | PT_USER | PT_EXEC | PT_GLOBAL);
}

UNIT_TEST(without_nx_support_no_nx_bit_is_written)
{
	pt_host_set_nx(false);
	/* Without NX every page is executable, and lookups say so. */
	check_protection(RW, HW_WRITE, RW | PT_EXEC);
	check_protection(PT_READ | PT_UNCACHED, HW_PCD | HW_PWT, PT_READ | PT_UNCACHED | PT_EXEC);
	pt_host_set_nx(true);
	check_protection(RW, HW_WRITE | HW_NX, RW);
}

UNIT_TEST(split_keeps_every_attribute)
{
	const uint32_t prot = PT_READ | PT_USER | PT_GLOBAL | PT_WRITE_COMBINING;
	struct space *s = space_new();
	uint32_t got;
	int level;

	CHECK_EQ(map(s, 0, 0, 1 * GiB, prot), 0);
	CHECK_EQ(unmap(s, 6 * MiB, PAGE_SIZE), 0);
	/* A 2 MiB sibling from the first split, a 4 KiB one from the second. */
	CHECK_EQ(translate(s, 2 * MiB, NULL, &got), 2 * MiB);
	CHECK_EQ(got, prot);
	CHECK_EQ(translate(s, 6 * MiB + PAGE_SIZE, NULL, &got), 6 * MiB + PAGE_SIZE);
	CHECK_EQ(got, prot);
	uint64_t e = raw_leaf(s, 6 * MiB + PAGE_SIZE, &level);
	CHECK_EQ(level, 1);
	CHECK_EQ(e & (HW_USER | HW_GLOBAL | HW_NX | HW_PWT | HW_PCD | HW_WRITE | HW_PAGE_SIZE),
		 HW_USER | HW_GLOBAL | HW_NX | HW_PWT);
	e = raw_leaf(s, 2 * MiB, &level);
	CHECK_EQ(level, 2);
	CHECK(e & HW_PAGE_SIZE);
	space_destroy(s);
}

UNIT_TEST(unaligned_arguments_are_einval_and_change_nothing)
{
	struct space *s = space_new();

	CHECK_EQ(map(s, 0x1001, 0x2000, PAGE_SIZE, RW), -EINVAL);
	CHECK_EQ(map(s, 0x1000, 0x2800, PAGE_SIZE, RW), -EINVAL);
	CHECK_EQ(map(s, 0x1000, 0x2000, 100, RW), -EINVAL);
	CHECK_EQ(map(s, 0x1000, 0x2000, PAGE_SIZE + 1, RW), -EINVAL);
	CHECK_EQ(tables_below_root(s), 0);
	CHECK_EQ(map(s, 2 * MiB, 2 * MiB, 2 * MiB, RW), 0);
	CHECK_EQ(unmap(s, 2 * MiB + 1, PAGE_SIZE), -EINVAL);
	CHECK_EQ(unmap(s, 2 * MiB, PAGE_SIZE - 1), -EINVAL);
	CHECK_EQ(page_size_at(s, 2 * MiB), 2 * MiB);
	space_destroy(s);
}

UNIT_TEST(out_of_table_memory_mid_map_is_enomem)
{
	struct space *s = space_new();

	/* Two PTs are needed (the range crosses a 2 MiB line); allow only
	 * the PDPT, the PD and the first PT. */
	s->tables.allocations_left = 3;
	CHECK_EQ(pt_map(&pt_format_host, &s->env, s->root, 2 * MiB - 4 * PAGE_SIZE, 0x100000,
			8 * PAGE_SIZE, RW, false),
		 -ENOMEM);
	/* What was mapped before the failure is intact and consistent. */
	CHECK_EQ(translate(s, 2 * MiB - PAGE_SIZE, NULL, NULL), 0x103000);
	CHECK_EQ(translate(s, 2 * MiB, NULL, NULL), ~0ul);
	/* Out of memory at the very first table. */
	s->tables.allocations_left = 0;
	CHECK_EQ(map(s, 600 * GiB, 0, PAGE_SIZE, RW), -ENOMEM);
	CHECK_EQ(translate(s, 600 * GiB, NULL, NULL), ~0ul);
	s->tables.allocations_left = -1;
	space_destroy(s);
}

UNIT_TEST(out_of_memory_while_splitting_leaves_the_large_page)
{
	struct space *s = space_new();

	CHECK_EQ(map(s, 1 * GiB, 1 * GiB, 1 * GiB, RW), 0);
	s->tables.allocations_left = 0;
	CHECK_EQ(map(s, 1 * GiB + PAGE_SIZE, 0, PAGE_SIZE, RW), -ENOMEM);
	CHECK_EQ(unmap(s, 1 * GiB + 2 * MiB, PAGE_SIZE), -ENOMEM);
	CHECK_EQ(page_size_at(s, 1 * GiB + PAGE_SIZE), 1 * GiB);
	CHECK_EQ(translate(s, 1 * GiB + 2 * MiB, NULL, NULL), 1 * GiB + 2 * MiB);
	/* Enough for the first split (1 GiB -> 2 MiB) only. */
	s->tables.allocations_left = 1;
	CHECK_EQ(unmap(s, 1 * GiB + 2 * MiB, PAGE_SIZE), -ENOMEM);
	CHECK_EQ(page_size_at(s, 1 * GiB + 2 * MiB), 2 * MiB);
	CHECK_EQ(translate(s, 1 * GiB + 2 * MiB, NULL, NULL), 1 * GiB + 2 * MiB);
	CHECK_EQ(translate(s, 2 * GiB - 1, NULL, NULL), 2 * GiB - 1);
	s->tables.allocations_left = -1;
	space_destroy(s);
}

UNIT_TEST(free_tables_releases_every_table_and_empties_the_root)
{
	struct space *s = space_new();

	/* Tables under several PML4 slots, at every depth. */
	CHECK_EQ(map(s, 0, 0, 8 * MiB + 5 * PAGE_SIZE, RW), 0);
	CHECK_EQ(map(s, 512 * GiB + 4 * GiB, 0, 2 * GiB, RW), 0);
	CHECK_EQ(map(s, 0xffff800000000000ul, 0x1000, 3 * PAGE_SIZE, RW), 0);
	CHECK_EQ(unmap(s, 2 * MiB, PAGE_SIZE), 0);
	CHECK(tables_below_root(s) >= 7);
	pt_free_tables(&pt_format_host, &s->env, s->root);
	CHECK_EQ(tables_below_root(s), 0);
	const uint64_t *root = fake_phys_to_virt(&s->tables, s->root);
	for (int i = 0; i < PT_ENTRIES; i++)
		CHECK_EQ(root[i], 0);
	CHECK_EQ(translate(s, 0, NULL, NULL), ~0ul);
	/* The root is reusable afterwards. */
	CHECK_EQ(map(s, 0x1000, 0x1000, PAGE_SIZE, RW), 0);
	CHECK_EQ(translate(s, 0x1000, NULL, NULL), 0x1000);
	space_destroy(s);
}

UNIT_MAIN()

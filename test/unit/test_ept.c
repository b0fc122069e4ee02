/*
 * The EPT format (arch/x86/vmx/vmx_ept.c) through the shared page-table
 * walker: leaf bits (R/W/X, memory type, ignore-PAT, large), what counts as
 * present, 2 MiB and 1 GiB leaves by capability, round trips of the
 * protections, and the EPT pointer.
 */
#include "unit.h"

#include <arch/x86/pt.h>
#include <arch/x86/vmx/vmx.h>
#include <arch/x86/vmx/vmx_fields.h>

/* What vmx_ept.c reads from the rest of the backend (the flush paths that
 * use the last two are not called here). */
struct vmx_caps vmx_caps;
struct vmx_cpu *vmx_cpus;
const struct virt_host_services *virt_host(void)
{
	return NULL;
}

#define POOL_PAGES 64
static uint64_t pool[POOL_PAGES][512] __attribute__((aligned(4096)));
static unsigned pool_used;

static uint64_t alloc_table(void *ctx)
{
	(void)ctx;
	if (pool_used == POOL_PAGES)
		return 0;
	memset(pool[pool_used], 0, 4096);
	return (uint64_t)(pool_used++ + 1) << 12; /* fake physical addresses 0x1000.. */
}

static void *to_virt(void *ctx, uint64_t phys)
{
	(void)ctx;
	return pool[(phys >> 12) - 1];
}

static const struct pt_env env = { alloc_table, NULL, to_virt, NULL };

static uint64_t fresh_root(void)
{
	pool_used = 0;
	return alloc_table(NULL);
}

/* The leaf entry that maps gpa, found by walking the fake tables. */
static uint64_t leaf_entry(uint64_t root, uint64_t gpa, int *level_out)
{
	uint64_t *table = to_virt(NULL, root);
	for (int level = 4; level >= 1; level--) {
		uint64_t e = table[(gpa >> (12 + 9 * (level - 1))) & 511];
		if (level == 1 || (e & (1ul << 7))) {
			*level_out = level;
			return e;
		}
		if (!(e & 7))
			return 0;
		table = to_virt(NULL, e & PT_ADDRESS_MASK);
	}
	return 0;
}

UNIT_TEST(ram_leaf_is_rwx_write_back_ignoring_pat)
{
	vmx_caps.ept_vpid = 0;
	vmx_ept_setup();
	uint64_t root = fresh_root();
	CHECK_EQ(pt_map(&vmx_ept_format, &env, root, 0, 0x40000000, 2ul << 20,
			PT_READ | PT_WRITE | PT_EXEC | PT_USER, true), 0);
	int level = 0;
	uint64_t e = leaf_entry(root, 0x1234, &level);
	CHECK_EQ(level, 2);
	CHECK_EQ(e & 7, 7);                  /* R W X */
	CHECK_EQ((e >> 3) & 7, 6);           /* write-back */
	CHECK(e & (1ul << 6));               /* ignore the guest's PAT */
	CHECK(e & (1ul << 7));               /* 2 MiB leaf */
	CHECK_EQ(e & PT_ADDRESS_MASK & ~0x1ffffful, 0x40000000);
	struct pt_mapping m;
	CHECK(pt_lookup(&vmx_ept_format, &env, root, 0x1234, &m));
	CHECK_EQ(m.phys, 0x40001234);
	CHECK_EQ(m.prot, PT_READ | PT_WRITE | PT_EXEC);
}

UNIT_TEST(one_gib_leaves_only_with_the_capability)
{
	vmx_caps.ept_vpid = 0;
	vmx_ept_setup();
	uint64_t root = fresh_root();
	CHECK_EQ(pt_map(&vmx_ept_format, &env, root, 0, 0, 1ul << 30, PT_READ | PT_WRITE, true), 0);
	int level = 0;
	leaf_entry(root, 0, &level);
	CHECK_EQ(level, 2);

	vmx_caps.ept_vpid = VMX_EPT_1G_PAGES;
	vmx_ept_setup();
	root = fresh_root();
	CHECK_EQ(pt_map(&vmx_ept_format, &env, root, 0, 0, 1ul << 30, PT_READ | PT_WRITE, true), 0);
	leaf_entry(root, 0, &level);
	CHECK_EQ(level, 3);
}

UNIT_TEST(memory_types_round_trip)
{
	vmx_caps.ept_vpid = 0;
	vmx_ept_setup();
	uint64_t root = fresh_root();
	CHECK_EQ(pt_map(&vmx_ept_format, &env, root, 0xfee00000, 0x9000, 4096, PT_READ | PT_WRITE | PT_UNCACHED, false), 0);
	CHECK_EQ(pt_map(&vmx_ept_format, &env, root, 0xfd000000, 0xa000, 4096, PT_READ | PT_WRITE | PT_WRITE_COMBINING, false), 0);
	int level;
	CHECK_EQ((leaf_entry(root, 0xfee00000, &level) >> 3) & 7, 0); /* UC */
	CHECK_EQ(level, 1);
	CHECK_EQ((leaf_entry(root, 0xfd000000, &level) >> 3) & 7, 1); /* WC */
	struct pt_mapping m;
	CHECK(pt_lookup(&vmx_ept_format, &env, root, 0xfee00010, &m));
	CHECK(m.prot & PT_UNCACHED);
	CHECK(!(m.prot & PT_EXEC));
	CHECK(pt_lookup(&vmx_ept_format, &env, root, 0xfd000000, &m));
	CHECK(m.prot & PT_WRITE_COMBINING);
}

UNIT_TEST(no_access_is_not_present)
{
	vmx_caps.ept_vpid = 0;
	vmx_ept_setup();
	uint64_t root = fresh_root();
	CHECK_EQ(pt_map(&vmx_ept_format, &env, root, 0x5000, 0x6000, 4096, 0, false), 0);
	struct pt_mapping m;
	CHECK(!pt_lookup(&vmx_ept_format, &env, root, 0x5000, &m));
	CHECK(!pt_lookup(&vmx_ept_format, &env, root, 0x200000, &m)); /* never mapped */
}

UNIT_TEST(unmap_splits_a_2m_leaf_and_keeps_the_rest)
{
	vmx_caps.ept_vpid = 0;
	vmx_ept_setup();
	uint64_t root = fresh_root();
	CHECK_EQ(pt_map(&vmx_ept_format, &env, root, 0, 0x200000, 2ul << 20, PT_READ | PT_WRITE | PT_EXEC, true), 0);
	CHECK_EQ(pt_unmap(&vmx_ept_format, &env, root, 0x3000, 4096), 0);
	struct pt_mapping m;
	CHECK(!pt_lookup(&vmx_ept_format, &env, root, 0x3000, &m));
	CHECK(pt_lookup(&vmx_ept_format, &env, root, 0x4000, &m));
	CHECK_EQ(m.phys, 0x204000);
	CHECK_EQ(m.page_size, 4096);
	CHECK_EQ(m.prot, PT_READ | PT_WRITE | PT_EXEC);
}

UNIT_TEST(eptp_is_write_back_four_levels)
{
	uint64_t eptp = vmx_eptp(0x123456789000ul);
	CHECK_EQ(eptp & 7, 6);
	CHECK_EQ((eptp >> 3) & 7, 3);
	CHECK_EQ(eptp & PT_ADDRESS_MASK, 0x123456789000ul);
}

UNIT_MAIN()

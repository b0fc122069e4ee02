#include <arch/x86/pt.h>

#include <lib/errno.h>
#include <lib/string.h>

#define X86_PRESENT (1ul << 0)
#define X86_WRITE (1ul << 1)
#define X86_USER (1ul << 2)
#define X86_PWT (1ul << 3)
#define X86_PCD (1ul << 4)
#define X86_LARGE (1ul << 7)
#define X86_GLOBAL (1ul << 8)
#define X86_PAT_LARGE (1ul << 12)
#define X86_PAT_4K (1ul << 7)
#define X86_NX (1ul << 63)

static bool host_nx_supported = true;

void pt_host_set_nx(bool nx_supported)
{
	host_nx_supported = nx_supported;
}

/*
 * Memory types through PAT index = PAT:PCD:PWT. The vmkernel programs PAT
 * entry 1 as write-combining (see mm/vmm.c); index 3 (PCD|PWT) stays UC.
 */
static uint64_t host_leaf_bits(uint32_t prot, int level)
{
	uint64_t bits = X86_PRESENT;

	if (prot & PT_WRITE)
		bits |= X86_WRITE;
	if (prot & PT_USER)
		bits |= X86_USER;
	if (prot & PT_GLOBAL)
		bits |= X86_GLOBAL;
	if (!(prot & PT_EXEC) && host_nx_supported)
		bits |= X86_NX;
	if (prot & PT_UNCACHED)
		bits |= X86_PCD | X86_PWT;
	else if (prot & PT_WRITE_COMBINING)
		bits |= X86_PWT;
	if (level > 1)
		bits |= X86_LARGE;
	return bits;
}

static uint32_t host_leaf_prot(uint64_t entry)
{
	uint32_t prot = PT_READ;

	if (entry & X86_WRITE)
		prot |= PT_WRITE;
	if (entry & X86_USER)
		prot |= PT_USER;
	if (entry & X86_GLOBAL)
		prot |= PT_GLOBAL;
	if (!(entry & X86_NX))
		prot |= PT_EXEC;
	if ((entry & (X86_PCD | X86_PWT)) == (X86_PCD | X86_PWT))
		prot |= PT_UNCACHED;
	else if (entry & X86_PWT)
		prot |= PT_WRITE_COMBINING;
	return prot;
}

const struct pt_format pt_format_host = {
	.present_mask = X86_PRESENT,
	.large_bit = X86_LARGE,
	.table_bits = X86_PRESENT | X86_WRITE | X86_USER,
	.has_1g = true,
	.leaf_bits = host_leaf_bits,
	.leaf_prot = host_leaf_prot,
};

static inline uint64_t level_size(int level)
{
	return 1ul << (12 + 9 * (level - 1));
}

static inline unsigned level_index(uint64_t virt, int level)
{
	return (virt >> (12 + 9 * (level - 1))) & 511;
}

static inline bool is_present(const struct pt_format *fmt, uint64_t e)
{
	return (e & fmt->present_mask) != 0;
}

static inline bool is_leaf(const struct pt_format *fmt, uint64_t e, int level)
{
	return level == 1 || (e & fmt->large_bit);
}

static inline uint64_t *table_at(const struct pt_env *env, uint64_t phys)
{
	return env->phys_to_virt(env->ctx, phys & PT_ADDRESS_MASK);
}

/* Replaces a large leaf by a table of next-level leaves with the same mapping. */
static int split_large(const struct pt_format *fmt, const struct pt_env *env, uint64_t *entry,
		       int level)
{
	uint64_t table = env->alloc_table(env->ctx);
	if (!table)
		return -ENOMEM;
	uint64_t *t = table_at(env, table);
	uint32_t prot = fmt->leaf_prot(*entry);
	uint64_t base = *entry & PT_ADDRESS_MASK & ~(level_size(level) - 1);
	for (unsigned i = 0; i < PT_ENTRIES; i++)
		t[i] = (base + i * level_size(level - 1)) | fmt->leaf_bits(prot, level - 1);
	*entry = table | fmt->table_bits;
	return 0;
}

/* Finds (creating when asked) the table at target_level covering virt. */
static uint64_t *walk(const struct pt_format *fmt, const struct pt_env *env, uint64_t root,
		      uint64_t virt, int target_level, bool create, int *err)
{
	uint64_t *table = table_at(env, root);

	for (int level = 4; level > target_level; level--) {
		uint64_t *entry = &table[level_index(virt, level)];
		if (!is_present(fmt, *entry)) {
			if (!create)
				return NULL;
			uint64_t next = env->alloc_table(env->ctx);
			if (!next) {
				*err = -ENOMEM;
				return NULL;
			}
			*entry = next | fmt->table_bits;
		} else if (is_leaf(fmt, *entry, level)) {
			if (!create)
				return NULL;
			int rc = split_large(fmt, env, entry, level);
			if (rc) {
				*err = rc;
				return NULL;
			}
		}
		table = table_at(env, *entry);
	}
	return table;
}

static int best_level(const struct pt_format *fmt, uint64_t virt, uint64_t phys, uint64_t left,
		      bool allow_large)
{
	if (allow_large) {
		if (fmt->has_1g && !((virt | phys) & (PAGE_SIZE_1G - 1)) && left >= PAGE_SIZE_1G)
			return 3;
		if (!((virt | phys) & (PAGE_SIZE_2M - 1)) && left >= PAGE_SIZE_2M)
			return 2;
	}
	return 1;
}

/* Frees the table an entry points to, recursively. */
static void free_subtree(const struct pt_format *fmt, const struct pt_env *env, uint64_t entry,
			 int level)
{
	if (!is_present(fmt, entry) || is_leaf(fmt, entry, level))
		return;
	uint64_t *t = table_at(env, entry);
	for (unsigned i = 0; i < PT_ENTRIES; i++)
		free_subtree(fmt, env, t[i], level - 1);
	if (env->free_table)
		env->free_table(env->ctx, entry & PT_ADDRESS_MASK);
}

int pt_map(const struct pt_format *fmt, const struct pt_env *env, uint64_t root, uint64_t virt,
	   uint64_t phys, uint64_t size, uint32_t prot, bool allow_large)
{
	if ((virt | phys | size) & (PAGE_SIZE - 1))
		return -EINVAL;
	while (size) {
		int level = best_level(fmt, virt, phys, size, allow_large);
		int err = 0;
		uint64_t *table = walk(fmt, env, root, virt, level, true, &err);
		if (!table)
			return err ? err : -ENOMEM;
		uint64_t *entry = &table[level_index(virt, level)];
		/* A table replaced by a large leaf: release it. */
		if (level > 1)
			free_subtree(fmt, env, *entry, level);
		*entry = phys | fmt->leaf_bits(prot, level);
		virt += level_size(level);
		phys += level_size(level);
		size -= level_size(level);
	}
	return 0;
}

int pt_unmap(const struct pt_format *fmt, const struct pt_env *env, uint64_t root, uint64_t virt,
	     uint64_t size)
{
	if ((virt | size) & (PAGE_SIZE - 1))
		return -EINVAL;
	while (size) {
		/* Find the level at which virt is mapped (if at all). */
		uint64_t *table = table_at(env, root);
		int level = 4;
		uint64_t *entry = NULL;
		for (; level >= 1; level--) {
			entry = &table[level_index(virt, level)];
			if (!is_present(fmt, *entry) || is_leaf(fmt, *entry, level))
				break;
			table = table_at(env, *entry);
		}
		uint64_t span = level_size(level < 1 ? 1 : level);
		uint64_t start_of_span = virt & ~(span - 1);
		if (level >= 1 && is_present(fmt, *entry)) {
			if (start_of_span == virt && size >= span) {
				*entry = 0;
			} else {
				int rc = split_large(fmt, env, entry, level);
				if (rc)
					return rc;
				continue; /* retry at the finer level */
			}
		}
		/* Unmapped or just cleared: skip to the end of this span. */
		uint64_t step = start_of_span + span - virt;
		if (step > size)
			step = size;
		virt += step;
		size -= step;
	}
	return 0;
}

bool pt_lookup(const struct pt_format *fmt, const struct pt_env *env, uint64_t root,
	       uint64_t virt, struct pt_mapping *out)
{
	uint64_t *table = table_at(env, root);

	for (int level = 4; level >= 1; level--) {
		uint64_t entry = table[level_index(virt, level)];
		if (!is_present(fmt, entry))
			return false;
		if (is_leaf(fmt, entry, level)) {
			uint64_t span = level_size(level);
			uint64_t base = entry & PT_ADDRESS_MASK & ~(span - 1);
			/* PAT bit of large pages sits at bit 12, inside the address mask. */
			if (level > 1)
				base &= ~X86_PAT_LARGE;
			out->phys = base + (virt & (span - 1));
			out->page_size = span;
			out->prot = fmt->leaf_prot(entry);
			return true;
		}
		table = table_at(env, entry);
	}
	return false;
}

void pt_free_tables(const struct pt_format *fmt, const struct pt_env *env, uint64_t root)
{
	uint64_t *t = table_at(env, root);
	for (unsigned i = 0; i < PT_ENTRIES; i++) {
		free_subtree(fmt, env, t[i], 4);
		t[i] = 0;
	}
}

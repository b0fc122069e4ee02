/*
 * One four-level page-table walker for the vmkernel's own page tables, and
 * later EPT and NPT. x86-64 tables are 512 entries of 8 bytes per level;
 * level 4 (PML4) indexes bits 47:39, level 3 bits 38:30 (an entry there may
 * map 1 GiB), level 2 bits 29:21 (2 MiB), level 1 bits 20:12 (4 KiB). A
 * struct pt_format says how a format spells "present", "large" and the
 * protections; a struct pt_env says how to get and reach table frames, so
 * the same code runs in the vmkernel and in host unit tests.
 */
#ifndef KAPSEL_ARCH_X86_PT_H
#define KAPSEL_ARCH_X86_PT_H

#include <stdbool.h>
#include <stdint.h>

#define PT_ENTRIES 512
#define PAGE_SIZE 4096ul
#define PAGE_SIZE_2M (2ul << 20)
#define PAGE_SIZE_1G (1ul << 30)
#define PT_ADDRESS_MASK 0x000ffffffffff000ul

/* Neutral protections and memory types. */
#define PT_READ (1u << 0)
#define PT_WRITE (1u << 1)
#define PT_EXEC (1u << 2)
#define PT_USER (1u << 3)
#define PT_GLOBAL (1u << 4)
#define PT_UNCACHED (1u << 5)
#define PT_WRITE_COMBINING (1u << 6)

struct pt_format {
	uint64_t present_mask; /* any of these set: the entry is present */
	uint64_t large_bit;    /* leaf at level 2 or 3 */
	uint64_t table_bits;   /* bits of an entry pointing at a table */
	bool has_1g;           /* 1 GiB leaves allowed */
	uint64_t (*leaf_bits)(uint32_t prot, int level);
	uint32_t (*leaf_prot)(uint64_t entry); /* inverse, for lookups */
};

struct pt_env {
	/* Returns a zeroed table frame's physical address, or 0 when out of memory. */
	uint64_t (*alloc_table)(void *ctx);
	void (*free_table)(void *ctx, uint64_t phys);
	void *(*phys_to_virt)(void *ctx, uint64_t phys);
	void *ctx;
};

struct pt_mapping {
	uint64_t phys;
	uint64_t page_size;
	uint32_t prot;
};

/* Maps [virt, virt+size) to [phys, ...) using the largest pages alignment
 * allows (when allow_large). Replaces existing leaves; splits large pages
 * that are partly remapped. Returns 0 or -ENOMEM / -EINVAL. */
int pt_map(const struct pt_format *fmt, const struct pt_env *env, uint64_t root,
	   uint64_t virt, uint64_t phys, uint64_t size, uint32_t prot, bool allow_large);
/* Removes leaves in the range (splitting large pages at the edges). */
int pt_unmap(const struct pt_format *fmt, const struct pt_env *env, uint64_t root,
	     uint64_t virt, uint64_t size);
/* Translates one address; returns false when unmapped. */
bool pt_lookup(const struct pt_format *fmt, const struct pt_env *env, uint64_t root,
	       uint64_t virt, struct pt_mapping *out);
/* Frees every table below root (not the leaves' frames, not root itself). */
void pt_free_tables(const struct pt_format *fmt, const struct pt_env *env, uint64_t root);

/* The x86-64 host format (NX used only when nx_supported). */
extern const struct pt_format pt_format_host;
void pt_host_set_nx(bool nx_supported);

#endif

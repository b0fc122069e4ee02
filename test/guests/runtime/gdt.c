/*
 * The runtime's GDT (see layout.h for the slots). Descriptor format: limit
 * 15:0, base 23:0, access byte, flags:limit 19:16, base 31:24; G=1 makes
 * the limit count 4 KiB units.
 */
#include "internal.h"

#define DESCRIPTOR_FLAT_CODE32 0x00cf9a000000ffffull
#define DESCRIPTOR_FLAT_DATA 0x00cf92000000ffffull
#define DESCRIPTOR_CODE64 0x00af9a000000ffffull
#define DESCRIPTOR_USER_CODE32 0x00cffa000000ffffull
#define DESCRIPTOR_USER_DATA 0x00cff2000000ffffull
#define DESCRIPTOR_USER_CODE64 0x00affa000000ffffull

#ifdef __x86_64__
uint64_t guest_gdt[GDT_ENTRIES] __attribute__((aligned(16))) = {
	0,
	DESCRIPTOR_CODE64,
	DESCRIPTOR_FLAT_DATA,
	DESCRIPTOR_USER_CODE32,
	DESCRIPTOR_USER_DATA,
	DESCRIPTOR_USER_CODE64,
	0, 0, /* the TSS, filled by gdt_init() */
};
#else
uint64_t guest_gdt[GDT_ENTRIES] __attribute__((aligned(16))) = {
	0,
	DESCRIPTOR_FLAT_CODE32,
	DESCRIPTOR_FLAT_DATA,
};
#endif

static uint64_t segment_descriptor(uint32_t base, uint32_t limit, uint8_t access, uint8_t flags)
{
	if (limit > 0xfffff) {
		limit >>= 12;
		flags |= 0x8; /* granularity: 4 KiB */
	}
	return (limit & 0xffffull) | ((uint64_t)(base & 0xffffff) << 16) | ((uint64_t)access << 40) |
	       ((uint64_t)((limit >> 16) & 0xf) << 48) | ((uint64_t)(flags & 0xf) << 52) |
	       ((uint64_t)(base >> 24) << 56);
}

uint64_t gdt_data_descriptor(uint32_t base, uint32_t limit)
{
	return segment_descriptor(base, limit, 0x92, 0x4);
}

uint64_t gdt_code_descriptor(uint32_t base, uint32_t limit, unsigned bits)
{
	uint8_t flags = bits == 64 ? 0x2 : bits == 32 ? 0x4 : 0x0;
	return segment_descriptor(base, limit, 0x9a, flags);
}

#ifdef __x86_64__
/* The 64-bit TSS only supplies the stack for entries from ring 3. */
struct tss64 {
	uint32_t reserved0;
	uint64_t rsp[3];
	uint64_t reserved1;
	uint64_t ist[7];
	uint64_t reserved2;
	uint16_t reserved3;
	uint16_t io_bitmap_offset;
} __attribute__((packed));

static struct tss64 guest_tss;
static uint8_t ring0_stack[GUEST_STACK_SIZE] __attribute__((aligned(16)));

void gdt_init(void)
{
	uint64_t base = (uintptr_t)&guest_tss;
	guest_tss.rsp[0] = (uintptr_t)(ring0_stack + sizeof(ring0_stack));
	guest_tss.io_bitmap_offset = sizeof(guest_tss); /* no I/O bitmap */
	/* 16-byte system descriptor: type 9 (available 64-bit TSS), present. */
	guest_gdt[SELECTOR_TSS / 8] = segment_descriptor((uint32_t)base, sizeof(guest_tss) - 1, 0x89, 0);
	guest_gdt[SELECTOR_TSS / 8 + 1] = base >> 32;
	__asm__ volatile("ltr %w0" : : "r"(SELECTOR_TSS));
}
#else
void gdt_init(void)
{
	/* entry32.S loaded the GDT; nothing else in 32-bit mode. */
}
#endif

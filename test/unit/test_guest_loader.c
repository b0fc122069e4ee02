/*
 * Guest kernel loaders (vmkernel/vm/guest_loader.c) against kernel images
 * built here byte by byte: Multiboot1 (ELF32 and a.out kludge), Multiboot2
 * (ELF32, ELF64, address and entry tags) and bare ELF64. Happy paths check
 * the exact registers, segments, tables and boot information in guest RAM;
 * hostile images must give an error sentence, never a crash.
 *
 * Guest RAM is a sparse page array that starts full of 0xaa (dirty RAM),
 * refuses ranges that cross a page and everything that is not RAM by the
 * documented map, and counts such requests: a correct load makes none.
 */
#include "unit.h"
#include "host_support.h"

#include <vm/guest_loader.h>

#include <lib/errno.h>

#include <multiboot/multiboot.h>

#define MIB (1ull << 20)
#define GIB (1ull << 30)
#define PAGE 4096ull
#define DIRTY 0xaa

/* ---- Fake guest RAM -------------------------------------------------------- */

struct fake_ram {
	uint64_t size;
	uint64_t page_count; /* pages up to guest_ram_end(size) */
	uint8_t **pages;
	unsigned crossings;   /* requests spanning a page boundary */
	unsigned outside;     /* requests for reserved, MMIO or absent RAM */
	bool refuse;          /* act as a core that disagrees about RAM */
	uint64_t refuse_gpa;
};

static struct fake_ram ram;

static bool fake_is_ram(uint64_t gpa)
{
	struct guest_ram_range map[GUEST_RAM_MAP_MAX];
	unsigned count = guest_ram_map(ram.size, map);
	for (unsigned i = 0; i < count; i++)
		if (map[i].type == GUEST_RAM_USABLE && gpa >= map[i].base &&
		    gpa < map[i].base + map[i].length)
			return true;
	return false;
}

static uint8_t *fake_page(uint64_t gpa)
{
	uint64_t index = gpa / PAGE;
	if (!ram.pages[index]) {
		ram.pages[index] = malloc(PAGE);
		memset(ram.pages[index], DIRTY, PAGE);
	}
	return ram.pages[index];
}

static void *fake_gpa_to_host(void *ctx, uint64_t gpa, uint64_t length)
{
	CHECK(ctx == &ram);
	CHECK(length > 0);
	if ((gpa % PAGE) + length > PAGE) {
		ram.crossings++;
		return NULL;
	}
	if (ram.refuse && ram.refuse_gpa >= gpa && ram.refuse_gpa < gpa + length)
		return NULL;
	if (!fake_is_ram(gpa) || !fake_is_ram(gpa + length - 1)) {
		ram.outside++;
		return NULL;
	}
	return fake_page(gpa) + gpa % PAGE;
}

static void ram_reset(uint64_t size)
{
	if (ram.pages) {
		for (uint64_t i = 0; i < ram.page_count; i++)
			free(ram.pages[i]);
		free(ram.pages);
	}
	memset(&ram, 0, sizeof(ram));
	ram.size = size;
	ram.page_count = (guest_ram_end(size) + PAGE - 1) / PAGE;
	ram.pages = calloc(ram.page_count ? ram.page_count : 1, sizeof(uint8_t *));
}

static uint8_t ram_byte(uint64_t gpa)
{
	CHECK(gpa / PAGE < ram.page_count);
	if (gpa / PAGE >= ram.page_count)
		return 0;
	const uint8_t *page = ram.pages[gpa / PAGE];
	return page ? page[gpa % PAGE] : DIRTY;
}

static void ram_read(uint64_t gpa, void *buffer, size_t length)
{
	uint8_t *out = buffer;
	for (size_t i = 0; i < length; i++)
		out[i] = ram_byte(gpa + i);
}

static uint32_t ram_u32(uint64_t gpa)
{
	uint32_t value;
	ram_read(gpa, &value, sizeof(value));
	return value;
}

static uint64_t ram_u64(uint64_t gpa)
{
	uint64_t value;
	ram_read(gpa, &value, sizeof(value));
	return value;
}

static const char *ram_string(uint64_t gpa)
{
	static char text[2048];
	size_t i = 0;
	while (i + 1 < sizeof(text) && (text[i] = (char)ram_byte(gpa + i)))
		i++;
	text[i] = '\0';
	return text;
}

static bool ram_all(uint64_t gpa, uint64_t length, uint8_t value)
{
	for (uint64_t i = 0; i < length; i++)
		if (ram_byte(gpa + i) != value)
			return false;
	return true;
}

static bool ram_equals(uint64_t gpa, const uint8_t *bytes, size_t length)
{
	for (size_t i = 0; i < length; i++)
		if (ram_byte(gpa + i) != bytes[i])
			return false;
	return true;
}

/* ---- Building kernel images ------------------------------------------------ */

#define IMAGE_MAX 0x30000
static uint8_t image[IMAGE_MAX];
static size_t image_size;

static void put16(size_t at, uint16_t v) { memcpy(image + at, &v, 2); }
static void put32(size_t at, uint32_t v) { memcpy(image + at, &v, 4); }
static void put64(size_t at, uint64_t v) { memcpy(image + at, &v, 8); }

static void image_reset(void)
{
	memset(image, 0, sizeof(image));
	image_size = 0;
}

static void image_grow(size_t end)
{
	if (end > image_size)
		image_size = end;
}

/* Recognisable contents for file bytes: never 0 and never DIRTY. */
static uint8_t pattern(size_t offset)
{
	return (uint8_t)(offset * 7 % 200 + 1);
}

static void image_fill(size_t offset, size_t length)
{
	for (size_t i = 0; i < length; i++)
		image[offset + i] = pattern(offset + i);
	image_grow(offset + length);
}

struct seg {
	uint32_t type;
	uint64_t offset, vaddr, paddr, filesz, memsz;
};

#define LOAD(off, addr, fsz, msz) { 1, off, addr, addr, fsz, msz }

/* ELF header and program headers at the file's start; segment file bytes are
 * filled with pattern(). */
static void build_elf(int bits, uint16_t type, uint16_t machine, uint64_t entry,
		      const struct seg *segs, unsigned count)
{
	bool is64 = bits == 64;
	size_t ehsize = is64 ? 64 : 52, phsize = is64 ? 56 : 32;

	image[0] = 0x7f;
	memcpy(image + 1, "ELF", 3);
	image[4] = is64 ? 2 : 1;
	image[5] = 1;
	image[6] = 1;
	put16(16, type);
	put16(18, machine);
	put32(20, 1);
	if (is64) {
		put64(24, entry);
		put64(32, ehsize);
		put16(52, (uint16_t)ehsize);
		put16(54, (uint16_t)phsize);
		put16(56, (uint16_t)count);
	} else {
		put32(24, (uint32_t)entry);
		put32(28, (uint32_t)ehsize);
		put16(40, (uint16_t)ehsize);
		put16(42, (uint16_t)phsize);
		put16(44, (uint16_t)count);
	}
	for (unsigned i = 0; i < count; i++) {
		size_t ph = ehsize + i * phsize;
		if (is64) {
			put32(ph, segs[i].type);
			put32(ph + 4, 7);
			put64(ph + 8, segs[i].offset);
			put64(ph + 16, segs[i].vaddr);
			put64(ph + 24, segs[i].paddr);
			put64(ph + 32, segs[i].filesz);
			put64(ph + 40, segs[i].memsz);
			put64(ph + 48, PAGE);
		} else {
			put32(ph, segs[i].type);
			put32(ph + 4, (uint32_t)segs[i].offset);
			put32(ph + 8, (uint32_t)segs[i].vaddr);
			put32(ph + 12, (uint32_t)segs[i].paddr);
			put32(ph + 16, (uint32_t)segs[i].filesz);
			put32(ph + 20, (uint32_t)segs[i].memsz);
			put32(ph + 24, 7);
			put32(ph + 28, PAGE);
		}
		if (segs[i].offset + segs[i].filesz <= IMAGE_MAX)
			image_fill(segs[i].offset, segs[i].filesz);
	}
	image_grow(ehsize + count * phsize);
}

static void put_multiboot1(size_t at, uint32_t flags)
{
	put32(at, MULTIBOOT_HEADER_MAGIC);
	put32(at + 4, flags);
	put32(at + 8, -(MULTIBOOT_HEADER_MAGIC + flags));
	image_grow(at + 12);
}

static void put_kludge(size_t at, uint32_t header_addr, uint32_t load_addr, uint32_t load_end,
		       uint32_t bss_end, uint32_t entry)
{
	put_multiboot1(at, MULTIBOOT_AOUT_KLUDGE | MULTIBOOT_PAGE_ALIGN | MULTIBOOT_MEMORY_INFO);
	put32(at + 12, header_addr);
	put32(at + 16, load_addr);
	put32(at + 20, load_end);
	put32(at + 24, bss_end);
	put32(at + 28, entry);
	image_grow(at + 32);
}

/* Multiboot2 header builder: tags appended, then finished (end tag,
 * length, checksum). */
#define MB2_MAGIC 0xe85250d6u
static size_t mb2_at, mb2_end;

static void mb2_begin(size_t at)
{
	mb2_at = at;
	mb2_end = at + 16;
	put32(at, MB2_MAGIC);
	put32(at + 4, 0);
}

static void mb2_tag(uint16_t type, uint16_t flags, const uint32_t *body, unsigned words)
{
	put16(mb2_end, type);
	put16(mb2_end + 2, flags);
	put32(mb2_end + 4, 8 + 4 * words);
	for (unsigned i = 0; i < words; i++)
		put32(mb2_end + 8 + 4 * i, body[i]);
	mb2_end += (8 + 4 * words + 7) & ~7ull;
}

static void mb2_finish(void)
{
	mb2_tag(0, 0, NULL, 0);
	uint32_t length = (uint32_t)(mb2_end - mb2_at);
	put32(mb2_at + 8, length);
	put32(mb2_at + 12, -(MB2_MAGIC + 0 + length));
	image_grow(mb2_end);
}

/* ---- Loading and the invariants every successful load keeps -------------- */

static struct guest_boot_state state;
static char error[512];

static void check_disjoint(const char *what_a, struct guest_address_range a, const char *what_b,
			   struct guest_address_range b)
{
	if (a.start < b.end && b.start < a.end && a.start != a.end && b.start != b.end) {
		fprintf(stderr, "  %s [0x%llx, 0x%llx) overlaps %s [0x%llx, 0x%llx)\n", what_a,
			(unsigned long long)a.start, (unsigned long long)a.end, what_b,
			(unsigned long long)b.start, (unsigned long long)b.end);
		unit_current_failed = 1;
	}
}

static void check_in_ram(const char *what, struct guest_address_range r)
{
	if (r.start == r.end)
		return;
	if (!fake_is_ram(r.start) || !fake_is_ram(r.end - 1) ||
	    (r.start < GUEST_HIGH_MEMORY_START && r.end > GUEST_CONVENTIONAL_END)) {
		fprintf(stderr, "  %s [0x%llx, 0x%llx) is not RAM\n", what,
			(unsigned long long)r.start, (unsigned long long)r.end);
		unit_current_failed = 1;
	}
}

/* state.kernel is the hull of the kernel's segments; when they sit on both
 * sides of the reserved PC area the loader may use the gap between them,
 * so the hull is then no boundary (segment_loaded() checks their bytes). */
static void check_layout(void)
{
	struct guest_address_range kernel = state.kernel;
	if (kernel.start < GUEST_CONVENTIONAL_END && kernel.end > GUEST_HIGH_MEMORY_START)
		kernel.start = kernel.end = 0;
	check_in_ram("kernel", kernel);
	check_in_ram("boot area", state.boot_area);
	check_in_ram("page tables", state.page_tables);
	check_disjoint("kernel", kernel, "boot area", state.boot_area);
	check_disjoint("kernel", kernel, "page tables", state.page_tables);
	check_disjoint("boot area", state.boot_area, "page tables", state.page_tables);
	for (unsigned i = 0; i < state.module_count; i++) {
		check_in_ram("module", state.modules[i]);
		CHECK_EQ(state.modules[i].start % PAGE, 0);
		CHECK(state.modules[i].end <= 4 * GIB);
		check_disjoint("module", state.modules[i], "kernel", kernel);
		check_disjoint("module", state.modules[i], "boot area", state.boot_area);
		check_disjoint("module", state.modules[i], "page tables", state.page_tables);
		for (unsigned j = 0; j < i; j++)
			check_disjoint("module", state.modules[i], "module", state.modules[j]);
	}
	CHECK_EQ(state.boot_area.start % PAGE, 0);
	CHECK(state.boot_area.end <= 4 * GIB);
	CHECK(state.info_address >= state.boot_area.start && state.info_address < state.boot_area.end);
	CHECK_EQ(state.info_address % 8, 0);
}

/* Loads image into a fresh RAM of ram_size bytes. */
static int load_with(uint64_t ram_size, const char *cmdline, const struct guest_image *modules,
		     unsigned module_count)
{
	ram_reset(ram_size);
	struct guest_memory mem = { .size = ram_size, .gpa_to_host = fake_gpa_to_host, .ctx = &ram };
	struct guest_image kernel = { .data = image, .size = image_size, .name = "test-kernel" };
	memset(&state, 0xa5, sizeof(state));
	memset(error, 0x5a, sizeof(error));
	int rc = guest_load(&mem, &kernel, cmdline, modules, module_count, &state, error, sizeof(error));
	CHECK(memchr(error, '\0', sizeof(error)) != NULL);
	CHECK_EQ(ram.crossings, 0);
	if (rc) {
		CHECK(error[0] != '\0');
		fprintf(stderr, "  (expected error: %s)\n", error);
	} else {
		CHECK_STR(error, "");
		CHECK_EQ(ram.outside, 0);
		check_layout();
	}
	return rc;
}

static int load(uint64_t ram_size)
{
	return load_with(ram_size, "console=ttyS0", NULL, 0);
}

/* For messages that must contain a phrase. */
#define CHECK_ERROR_HAS(phrase)                                                        \
	do {                                                                           \
		if (!strstr(error, (phrase))) {                                        \
			fprintf(stderr, "%s:%d: error \"%s\" lacks \"%s\"\n", __FILE__, \
				__LINE__, error, (phrase));                            \
			unit_current_failed = 1;                                       \
		}                                                                      \
	} while (0)

/* ---- Expected CPU state ------------------------------------------------------ */

static void check_segment(enum virt_segment_id id, uint16_t selector, uint16_t attributes,
			  uint32_t limit, uint64_t base)
{
	const struct virt_segment *s = &state.sysregs.segments[id];
	CHECK_EQ(s->selector, selector);
	CHECK_EQ(s->attributes, attributes);
	CHECK_EQ(s->limit, limit);
	CHECK_EQ(s->base, base);
}

static void check_gdt_and_tss(void)
{
	uint64_t gdt = state.sysregs.gdtr_base;
	uint64_t tss = state.sysregs.segments[VIRT_TR].base;
	CHECK_EQ(state.sysregs.gdtr_limit, 47);
	CHECK_EQ(ram_u64(gdt), 0);
	CHECK_EQ(ram_u64(gdt + 0x08), 0x00cf9b000000ffffull); /* flat 32-bit code */
	CHECK_EQ(ram_u64(gdt + 0x10), 0x00cf93000000ffffull); /* flat data */
	CHECK_EQ(ram_u64(gdt + 0x18), 0x00af9b000000ffffull); /* 64-bit code */
	uint64_t tss_descriptor = 0x67 | (tss & 0xffffff) << 16 | 0x8bull << 40 | (tss >> 24) << 56;
	CHECK_EQ(ram_u64(gdt + 0x20), tss_descriptor);
	CHECK_EQ(ram_u64(gdt + 0x28), 0);
	CHECK(ram_all(tss, 102, 0));
	CHECK_EQ(ram_byte(tss + 102) | ram_byte(tss + 103) << 8, 104);
	CHECK(tss >= state.boot_area.start && tss + 104 <= state.boot_area.end);
}

static void check_common_sysregs(void)
{
	const struct virt_sysregs *s = &state.sysregs;
	CHECK_EQ(s->rflags, 0x2);
	CHECK_EQ(s->cr2, 0);
	CHECK_EQ(s->idtr_base, 0);
	CHECK_EQ(s->idtr_limit, 0);
	CHECK_EQ(s->xcr0, 1);
	CHECK_EQ(s->pat, 0x0007040600070406ull);
	CHECK_EQ(s->dr7, 0x400);
	CHECK_EQ(s->sysenter_cs, 0);
	for (int id = VIRT_ES; id <= VIRT_GS; id++)
		if (id != VIRT_CS)
			check_segment(id, 0x10, 0xc093, 0xffffffff, 0);
	check_segment(VIRT_LDTR, 0, 0, 0, 0);
	check_segment(VIRT_TR, 0x20, 0x8b, 0x67, s->segments[VIRT_TR].base);
	CHECK_EQ(s->gdtr_base, state.boot_area.start + GUEST_LOADER_STACK_SIZE);
	CHECK_EQ(state.gprs[VIRT_RSP], state.boot_area.start + GUEST_LOADER_STACK_SIZE);
	check_gdt_and_tss();
}

/* Multiboot's protected-mode entry state. */
static void check_protected_mode(uint32_t magic, uint64_t entry)
{
	const struct virt_sysregs *s = &state.sysregs;
	check_common_sysregs();
	CHECK_EQ(s->rip, entry);
	CHECK_EQ(s->cr0, 0x31); /* PE, ET, NE; PG off */
	CHECK_EQ(s->cr3, 0);
	CHECK_EQ(s->cr4, 0);
	CHECK_EQ(s->efer, 0);
	check_segment(VIRT_CS, 0x08, 0xc09b, 0xffffffff, 0);
	CHECK_EQ(state.gprs[VIRT_RAX], magic);
	CHECK_EQ(state.gprs[VIRT_RBX], state.info_address);
	for (int r = VIRT_RCX; r < VIRT_GPR_COUNT; r++)
		if (r != VIRT_RBX && r != VIRT_RSP)
			CHECK_EQ(state.gprs[r], 0);
	CHECK_EQ(state.page_tables.start, 0);
	CHECK_EQ(state.page_tables.end, 0);
}

static bool segment_loaded(const struct seg *s)
{
	return ram_equals(s->paddr, image + s->offset, s->filesz) &&
	       ram_all(s->paddr + s->filesz, s->memsz - s->filesz, 0);
}

/* ---- Multiboot1 information, read through the spec's own header ----------- */

static multiboot_info_t mb1_info(void)
{
	multiboot_info_t info;
	ram_read(state.info_address, &info, sizeof(info));
	return info;
}

static void check_mb1_memory(const multiboot_info_t *info, uint64_t ram_size)
{
	CHECK_EQ(info->mem_lower, 639);
	CHECK_EQ(info->mem_upper, (ram_size - MIB) / 1024);
	CHECK_EQ(info->mmap_length, 3 * sizeof(multiboot_memory_map_t));
	multiboot_memory_map_t map[3];
	ram_read(info->mmap_addr, map, sizeof(map));
	CHECK_EQ(map[0].size, 20);
	CHECK_EQ(map[0].addr, 0);
	CHECK_EQ(map[0].len, 0x9fc00);
	CHECK_EQ(map[0].type, MULTIBOOT_MEMORY_AVAILABLE);
	CHECK_EQ(map[1].size, 20);
	CHECK_EQ(map[1].addr, 0x9fc00);
	CHECK_EQ(map[1].len, 0x100000 - 0x9fc00);
	CHECK_EQ(map[1].type, MULTIBOOT_MEMORY_RESERVED);
	CHECK_EQ(map[2].size, 20);
	CHECK_EQ(map[2].addr, MIB);
	CHECK_EQ(map[2].len, ram_size - MIB);
	CHECK_EQ(map[2].type, MULTIBOOT_MEMORY_AVAILABLE);
}

/* The standard Multiboot1 ELF32 kernel: text at 1 MiB holding the header,
 * data + bss after it. */
static const struct seg mb1_segs[] = {
	LOAD(0x1000, 0x100000, 0x1000, 0x1000),
	LOAD(0x2000, 0x102000, 0x800, 0x3000),
};

static void build_mb1_elf32(void)
{
	image_reset();
	build_elf(32, 2, 3, 0x100100, mb1_segs, 2);
	put_multiboot1(0x1000, MULTIBOOT_PAGE_ALIGN | MULTIBOOT_MEMORY_INFO);
}

UNIT_TEST(multiboot1_elf32_loads_and_starts_in_protected_mode)
{
	build_mb1_elf32();
	CHECK_EQ(load(64 * MIB), 0);
	CHECK_EQ(state.protocol, GUEST_BOOT_MULTIBOOT1);
	CHECK(segment_loaded(&mb1_segs[0]));
	CHECK(segment_loaded(&mb1_segs[1])); /* bss zeroed over dirty RAM */
	CHECK_EQ(state.kernel.start, 0x100000);
	CHECK_EQ(state.kernel.end, 0x105000);
	/* The boot area ends at 0x9f000: stack, GDT/TSS, information. */
	CHECK_EQ(state.boot_area.end, 0x9f000);
	CHECK_EQ(state.boot_area.start, 0x9a000);
	CHECK_EQ(state.info_address, 0x9a000 + 0x40c0);
	CHECK_EQ(state.gprs[VIRT_RSP], 0x9e000);
	check_protected_mode(MULTIBOOT_BOOTLOADER_MAGIC, 0x100100);
	CHECK_EQ(state.module_count, 0);

	multiboot_info_t info = mb1_info();
	CHECK_EQ(info.flags, MULTIBOOT_INFO_MEMORY | MULTIBOOT_INFO_CMDLINE | MULTIBOOT_INFO_MODS |
				     MULTIBOOT_INFO_MEM_MAP | MULTIBOOT_INFO_BOOT_LOADER_NAME);
	check_mb1_memory(&info, 64 * MIB);
	CHECK_STR(ram_string(info.cmdline), "console=ttyS0");
	CHECK_STR(ram_string(info.boot_loader_name), "Kapsel");
	CHECK_EQ(info.mods_count, 0);
	CHECK_EQ(info.boot_device, 0);
	CHECK_EQ(info.vbe_mode, 0);
	CHECK_EQ(info.framebuffer_addr, 0);
	/* Every pointer stays inside the boot area. */
	CHECK(info.cmdline > state.info_address && info.cmdline < state.boot_area.end);
	CHECK(info.mmap_addr > state.info_address && info.mmap_addr < state.boot_area.end);
}

UNIT_TEST(multiboot1_modules_are_copied_page_aligned_after_the_kernel)
{
	static uint8_t first[5000], second[3];
	for (size_t i = 0; i < sizeof(first); i++)
		first[i] = (uint8_t)(i ^ 0x5c);
	memcpy(second, "abc", 3);
	struct guest_image mods[3] = {
		{ first, sizeof(first), "initrd.img" },
		{ second, sizeof(second), "disk.img ro" },
		{ NULL, 0, NULL },
	};
	build_mb1_elf32();
	CHECK_EQ(load_with(64 * MIB, NULL, mods, 3), 0);
	CHECK_EQ(state.module_count, 3);
	CHECK_EQ(state.modules[0].start, 0x105000); /* the page after the kernel's bss */
	CHECK_EQ(state.modules[0].end, 0x105000 + sizeof(first));
	CHECK_EQ(state.modules[1].start, 0x107000);
	CHECK_EQ(state.modules[1].end, 0x107003);
	CHECK(ram_equals(state.modules[0].start, first, sizeof(first)));
	CHECK(ram_equals(state.modules[1].start, second, sizeof(second)));
	CHECK_EQ(state.modules[2].end - state.modules[2].start, 0);

	multiboot_info_t info = mb1_info();
	CHECK_EQ(info.mods_count, 3);
	CHECK_STR(ram_string(info.cmdline), ""); /* NULL command line: empty */
	multiboot_module_t table[3];
	ram_read(info.mods_addr, table, sizeof(table));
	for (int i = 0; i < 3; i++) {
		CHECK_EQ(table[i].mod_start, state.modules[i].start);
		CHECK_EQ(table[i].mod_end, state.modules[i].end);
		CHECK_EQ(table[i].pad, 0);
	}
	CHECK_STR(ram_string(table[0].cmdline), "initrd.img");
	CHECK_STR(ram_string(table[1].cmdline), "disk.img ro");
	CHECK_STR(ram_string(table[2].cmdline), "");
}

UNIT_TEST(multiboot1_aout_kludge_loads_a_flat_binary)
{
	/* A flat binary: the header at file offset 0x40 is at 0x200040 once
	 * loaded; everything from file offset 0 loads at 0x200000. */
	image_reset();
	image_fill(0, 0x3000);
	put_kludge(0x40, 0x200040, 0x200000, 0, 0x205000, 0x200080);
	CHECK_EQ(load(64 * MIB), 0);
	CHECK_EQ(state.protocol, GUEST_BOOT_MULTIBOOT1);
	CHECK(ram_equals(0x200000, image, 0x3000));
	CHECK(ram_all(0x203000, 0x2000, 0)); /* bss */
	CHECK_EQ(state.kernel.start, 0x200000);
	CHECK_EQ(state.kernel.end, 0x205000);
	check_protected_mode(MULTIBOOT_BOOTLOADER_MAGIC, 0x200080);
}

UNIT_TEST(multiboot1_kludge_wins_over_elf_and_honours_load_end)
{
	/* An ELF32 file with kludge fields: they, not the program headers,
	 * decide. load_end_addr stops loading before the file ends; no bss. */
	const struct seg segs[] = { LOAD(0x1000, 0x800000, 0x2000, 0x2000) };
	image_reset();
	build_elf(32, 2, 3, 0x800000, segs, 1);
	put_kludge(0x1000, 0x300000, 0x300000, 0x301800, 0, 0x300020);
	CHECK_EQ(load(64 * MIB), 0);
	CHECK(ram_equals(0x300000, image + 0x1000, 0x1800));
	CHECK_EQ(ram_byte(0x301800), DIRTY); /* not loaded, not zeroed */
	CHECK_EQ(ram_byte(0x800000), DIRTY); /* the ELF segment was not used */
	CHECK_EQ(state.kernel.end, 0x301800);
	CHECK_EQ(state.sysregs.rip, 0x300020);
}

UNIT_TEST(multiboot1_header_must_be_in_the_first_8k)
{
	image_reset();
	image_fill(0, 0x3000);
	put_kludge(8192 - 32, 0x200000 + 8192 - 32, 0x200000, 0, 0, 0x200000);
	CHECK_EQ(load(64 * MIB), 0);

	image_reset();
	image_fill(0, 0x3000);
	put_kludge(8192, 0x200000 + 8192, 0x200000, 0, 0, 0x200000);
	CHECK_EQ(load(64 * MIB), -ENOEXEC);
	CHECK_STR(error, "not a kernel: no Multiboot header in the first 32 KiB and no ELF header");
}

UNIT_TEST(multiboot1_header_needs_4_byte_alignment)
{
	image_reset();
	image_fill(0, 0x3000);
	put_kludge(0x42, 0x200042, 0x200000, 0, 0, 0x200000);
	CHECK_EQ(load(64 * MIB), -ENOEXEC);
}

UNIT_TEST(multiboot1_video_flag_is_accepted_without_video_information)
{
	build_mb1_elf32();
	put_multiboot1(0x1000, MULTIBOOT_VIDEO_MODE | MULTIBOOT_MEMORY_INFO);
	CHECK_EQ(load(64 * MIB), 0);
	multiboot_info_t info = mb1_info();
	CHECK_EQ(info.flags & (MULTIBOOT_INFO_VBE_INFO | MULTIBOOT_INFO_FRAMEBUFFER_INFO), 0);
}

UNIT_TEST(multiboot1_elf64_loads_by_paddr)
{
	/* GRUB accepts ELF64 Multiboot1 kernels; the entry is translated from
	 * the virtual to the physical address. */
	const struct seg segs[] = { { 1, 0x1000, 0xffffffff80100000ull, 0x100000, 0x1000, 0x1000 } };
	image_reset();
	build_elf(64, 2, 62, 0xffffffff80100040ull, segs, 1);
	put_multiboot1(0x1000, 0);
	CHECK_EQ(load(64 * MIB), 0);
	CHECK_EQ(state.protocol, GUEST_BOOT_MULTIBOOT1);
	check_protected_mode(MULTIBOOT_BOOTLOADER_MAGIC, 0x100040);
}

/* ---- Multiboot2 ------------------------------------------------------------ */

struct mb2_tag_view {
	uint32_t type, size;
	uint64_t at;
};

/* Walks the information's tags; returns the count, checks the framing. */
static unsigned mb2_tags(struct mb2_tag_view *tags, unsigned max)
{
	uint64_t base = state.info_address;
	uint32_t total = ram_u32(base);
	CHECK_EQ(ram_u32(base + 4), 0);
	unsigned count = 0;
	for (uint64_t at = base + 8; at < base + total && count < max;) {
		CHECK_EQ(at % 8, 0);
		tags[count] = (struct mb2_tag_view){ ram_u32(at), ram_u32(at + 4), at };
		if (tags[count].size < 8)
			break;
		at += (tags[count].size + 7) & ~7u;
		if (tags[count++].type == 0) {
			CHECK_EQ(at, base + total);
			break;
		}
	}
	CHECK(count > 0 && tags[count - 1].type == 0 && tags[count - 1].size == 8);
	CHECK(base + total <= state.boot_area.end);
	return count;
}

static void check_mb2_info(uint64_t ram_size, const char *cmdline, const char *const *module_strings,
			   unsigned module_count)
{
	struct mb2_tag_view tags[32];
	unsigned count = mb2_tags(tags, 32);
	unsigned expected = 2 + module_count + 3;
	CHECK_EQ(count, expected);
	if (count != expected)
		return;
	CHECK_EQ(tags[0].type, 1);
	CHECK_EQ(tags[0].size, 8 + strlen(cmdline) + 1);
	CHECK_STR(ram_string(tags[0].at + 8), cmdline);
	CHECK_EQ(tags[1].type, 2);
	CHECK_STR(ram_string(tags[1].at + 8), "Kapsel");
	CHECK_EQ(tags[1].size, 8 + 7);
	for (unsigned i = 0; i < module_count; i++) {
		const struct mb2_tag_view *t = &tags[2 + i];
		CHECK_EQ(t->type, 3);
		CHECK_EQ(t->size, 16 + strlen(module_strings[i]) + 1);
		CHECK_EQ(ram_u32(t->at + 8), state.modules[i].start);
		CHECK_EQ(ram_u32(t->at + 12), state.modules[i].end);
		CHECK_STR(ram_string(t->at + 16), module_strings[i]);
	}
	const struct mb2_tag_view *meminfo = &tags[2 + module_count];
	CHECK_EQ(meminfo->type, 4);
	CHECK_EQ(meminfo->size, 16);
	CHECK_EQ(ram_u32(meminfo->at + 8), 639);
	uint64_t below_3g = ram_size < 3 * GIB ? ram_size : 3 * GIB;
	CHECK_EQ(ram_u32(meminfo->at + 12), (below_3g - MIB) / 1024);

	const struct mb2_tag_view *mmap = &tags[3 + module_count];
	unsigned entries = ram_size > 3 * GIB ? 4 : 3;
	CHECK_EQ(mmap->type, 6);
	CHECK_EQ(mmap->size, 16 + 24 * entries);
	CHECK_EQ(ram_u32(mmap->at + 8), 24);
	CHECK_EQ(ram_u32(mmap->at + 12), 0);
	const uint64_t expect[4][3] = {
		{ 0, 0x9fc00, 1 },
		{ 0x9fc00, 0x60400, 2 },
		{ MIB, below_3g - MIB, 1 },
		{ 4 * GIB, ram_size > 3 * GIB ? ram_size - 3 * GIB : 0, 1 },
	};
	for (unsigned i = 0; i < entries; i++) {
		uint64_t e = mmap->at + 16 + 24 * i;
		CHECK_EQ(ram_u64(e), expect[i][0]);
		CHECK_EQ(ram_u64(e + 8), expect[i][1]);
		CHECK_EQ(ram_u32(e + 16), expect[i][2]);
		CHECK_EQ(ram_u32(e + 20), 0);
	}
}

static const struct seg mb2_segs[] = {
	LOAD(0x1000, 0x100000, 0x1000, 0x1000),
	LOAD(0x2000, 0x101000, 0x400, 0x2000),
};

static void build_mb2_elf32(void)
{
	image_reset();
	build_elf(32, 2, 3, 0x100200, mb2_segs, 2);
	mb2_begin(0x1000);
}

UNIT_TEST(multiboot2_elf32_loads_with_tagged_information)
{
	static const uint8_t initrd[] = "initrd contents";
	struct guest_image mods[1] = { { initrd, sizeof(initrd), "initrd.img" } };
	static const char *const strings[] = { "initrd.img" };
	build_mb2_elf32();
	/* Asked-for information of known types, some unavailable (framebuffer):
	 * accepted even without the optional flag. */
	const uint32_t request[] = { 1, 3, 6, 8, 14 };
	mb2_tag(1, 0, request, 5);
	mb2_finish();
	CHECK_EQ(load_with(64 * MIB, "root=/dev/ram0 quiet", mods, 1), 0);
	CHECK_EQ(state.protocol, GUEST_BOOT_MULTIBOOT2);
	CHECK(segment_loaded(&mb2_segs[0]));
	CHECK(segment_loaded(&mb2_segs[1]));
	check_protected_mode(0x36d76289, 0x100200);
	CHECK_EQ(state.modules[0].start, 0x103000);
	CHECK(ram_equals(state.modules[0].start, initrd, sizeof(initrd)));
	check_mb2_info(64 * MIB, "root=/dev/ram0 quiet", strings, 1);
}

UNIT_TEST(multiboot2_elf64_starts_in_protected_mode)
{
	const struct seg segs[] = { LOAD(0x1000, 0x200000, 0x2000, 0x4000) };
	image_reset();
	build_elf(64, 2, 62, 0x200010, segs, 1);
	mb2_begin(0x1008);
	mb2_finish();
	CHECK_EQ(load(128 * MIB), 0);
	CHECK_EQ(state.protocol, GUEST_BOOT_MULTIBOOT2);
	check_protected_mode(0x36d76289, 0x200010);
	check_mb2_info(128 * MIB, "console=ttyS0", NULL, 0);
}

UNIT_TEST(multiboot2_entry_tag_overrides_elf_entry)
{
	build_mb2_elf32();
	const uint32_t entry[] = { 0x100abc };
	mb2_tag(3, 0, entry, 1);
	mb2_finish();
	CHECK_EQ(load(64 * MIB), 0);
	CHECK_EQ(state.sysregs.rip, 0x100abc);
}

UNIT_TEST(multiboot2_address_tag_loads_a_flat_binary)
{
	image_reset();
	image_fill(0, 0x2800);
	mb2_begin(0x100);
	const uint32_t address[] = { 0x400100, 0x400000, 0x402000, 0x404000 };
	const uint32_t entry[] = { 0x400200 };
	mb2_tag(2, 0, address, 4);
	mb2_tag(3, 0, entry, 1);
	mb2_finish();
	CHECK_EQ(load(64 * MIB), 0);
	CHECK(ram_equals(0x400000, image, 0x2000));
	CHECK(ram_all(0x402000, 0x2000, 0));
	CHECK_EQ(state.kernel.end, 0x404000);
	check_protected_mode(0x36d76289, 0x400200);
}

UNIT_TEST(multiboot2_address_tag_load_addr_minus_one_loads_from_file_start)
{
	image_reset();
	image_fill(0, 0x1800);
	mb2_begin(0x200);
	const uint32_t address[] = { 0x500200, 0xffffffffu, 0, 0 };
	const uint32_t entry[] = { 0x500000 };
	mb2_tag(2, 0, address, 4);
	mb2_tag(3, 0, entry, 1);
	mb2_finish();
	CHECK_EQ(load(64 * MIB), 0);
	CHECK(ram_equals(0x500000, image, 0x1800));
	CHECK_EQ(state.kernel.start, 0x500000);
	CHECK_EQ(state.kernel.end, 0x501800);
}

UNIT_TEST(multiboot2_ignores_console_framebuffer_alignment_efi_relocation_and_optional_tags)
{
	build_mb2_elf32();
	const uint32_t console[] = { 3 };
	const uint32_t framebuffer[] = { 1024, 768, 32 };
	const uint32_t relocatable[] = { 0x100000, 0x1000000, 0x1000, 0 };
	const uint32_t efi_entry[] = { 0x100000 };
	mb2_tag(4, 0, console, 1);
	mb2_tag(5, 0, framebuffer, 3);
	mb2_tag(6, 0, NULL, 0);
	mb2_tag(7, 0, NULL, 0);
	mb2_tag(8, 0, efi_entry, 1);
	mb2_tag(9, 0, efi_entry, 1);
	mb2_tag(10, 0, relocatable, 4);
	mb2_tag(77, 1, NULL, 0); /* unknown but optional */
	const uint32_t optional_request[] = { 99 };
	mb2_tag(1, 1, optional_request, 1);
	mb2_finish();
	CHECK_EQ(load(64 * MIB), 0);
	CHECK_EQ(state.sysregs.rip, 0x100200);
}

/* ---- Bare ELF64: long mode ---------------------------------------------- */

static const struct seg elf64_segs[] = {
	LOAD(0x1000, 0x100000, 0x3000, 0x3000),
	LOAD(0x4000, 0x104000, 0x1000, 0x5000),
};

static void build_elf64_kernel(void)
{
	image_reset();
	build_elf(64, 2, 62, 0x100000, elf64_segs, 2);
}

static void check_long_mode(uint64_t entry)
{
	const struct virt_sysregs *s = &state.sysregs;
	check_common_sysregs();
	CHECK_EQ(state.protocol, GUEST_BOOT_ELF64);
	CHECK_EQ(s->rip, entry);
	CHECK_EQ(s->cr0, 0x80000031ull); /* PG, NE, ET, PE */
	CHECK_EQ(s->cr4, 0x20);          /* PAE */
	CHECK_EQ(s->efer, 0x500);        /* LMA, LME */
	CHECK_EQ(s->cr3, state.page_tables.start);
	check_segment(VIRT_CS, 0x18, 0xa09b, 0xffffffff, 0);
	CHECK_EQ(state.gprs[VIRT_RDI], state.info_address);
	CHECK_EQ(state.gprs[VIRT_RSI], 0);
	CHECK_EQ(state.gprs[VIRT_RAX], 0);
	CHECK_EQ(state.gprs[VIRT_RBX], 0);
	CHECK_EQ(state.gprs[VIRT_RSP] % 16, 0);
}

/* Walks the guest page tables like the MMU: the physical address gva maps
 * to with 2 MiB pages, or ~0 when unmapped; *flags gets the PDE's flags. */
static uint64_t walk(uint64_t gva, uint64_t *flags)
{
	uint64_t pml4e = ram_u64(state.sysregs.cr3 + ((gva >> 39) & 511) * 8);
	if (!(pml4e & 1))
		return ~0ull;
	uint64_t pdpte = ram_u64((pml4e & 0xffffffffff000ull) + ((gva >> 30) & 511) * 8);
	if (!(pdpte & 1) || (pdpte & 0x80))
		return ~0ull;
	uint64_t pde = ram_u64((pdpte & 0xffffffffff000ull) + ((gva >> 21) & 511) * 8);
	if (!(pde & 1) || !(pde & 0x80))
		return ~0ull;
	*flags = pde & 0xfff;
	return (pde & 0xfffffffe00000ull) + (gva & 0x1fffff);
}

UNIT_TEST(elf64_starts_in_long_mode_on_an_identity_map)
{
	build_elf64_kernel();
	CHECK_EQ(load(64 * MIB), 0);
	check_long_mode(0x100000);
	CHECK(segment_loaded(&elf64_segs[0]));
	CHECK(segment_loaded(&elf64_segs[1]));
	/* Page tables after the kernel: PML4, PDPT, 4 page directories. */
	CHECK_EQ(state.page_tables.start, 0x109000);
	CHECK_EQ(state.page_tables.end, 0x109000 + 6 * PAGE);
	uint64_t pml4 = state.sysregs.cr3;
	CHECK_EQ(ram_u64(pml4), (pml4 + PAGE) | 3);
	CHECK(ram_all(pml4 + 8, PAGE - 8, 0));
	for (int i = 0; i < 4; i++)
		CHECK_EQ(ram_u64(pml4 + PAGE + 8 * i), (pml4 + (2 + i) * PAGE) | 3);
	CHECK(ram_all(pml4 + PAGE + 32, PAGE - 32, 0));
	uint64_t flags = 0;
	CHECK_EQ(walk(0, &flags), 0);
	CHECK_EQ(flags, 0x83);
	CHECK_EQ(walk(0x100123, &flags), 0x100123);
	CHECK_EQ(walk(0x9e000, &flags), 0x9e000);
	CHECK_EQ(walk(0xbfffffff, &flags), 0xbfffffff);
	CHECK_EQ(flags, 0x83);
	/* The MMIO hole is reachable, uncached: LAPIC, test device. */
	CHECK_EQ(walk(0xfee00000, &flags), 0xfee00000);
	CHECK_EQ(flags, 0x9b);
	CHECK_EQ(walk(0xfeb00000, &flags), 0xfeb00000);
	CHECK_EQ(walk(0x100000000ull, &flags), ~0ull);
	/* RDI: the Multiboot2-style information. */
	check_mb2_info(64 * MIB, "console=ttyS0", NULL, 0);
}

UNIT_TEST(elf64_high_half_kernel_enters_at_its_physical_address)
{
	const struct seg segs[] = {
		{ 1, 0x1000, 0xffffffff81000000ull, 0x1000000, 0x2000, 0x2000 },
		{ 1, 0x3000, 0xffffffff81002000ull, 0x1002000, 0x100, 0x100 },
	};
	image_reset();
	build_elf(64, 2, 62, 0xffffffff81002010ull, segs, 2);
	CHECK_EQ(load(64 * MIB), 0);
	check_long_mode(0x1002010);
	CHECK(ram_equals(0x1000000, image + 0x1000, 0x2000));
}

UNIT_TEST(elf64_with_ram_above_4g)
{
	/* 5 GiB: 3 GiB below the hole, 2 GiB from 4 GiB; the map covers 6 GiB.
	 * A segment above 4 GiB is fine in long mode. */
	const struct seg segs[] = {
		LOAD(0x1000, 0x100000, 0x1000, 0x1000),
		LOAD(0x2000, 0x140000000ull, 0x1000, 0x1000),
	};
	image_reset();
	build_elf(64, 2, 62, 0x100000, segs, 2);
	CHECK_EQ(load(5 * GIB), 0);
	check_long_mode(0x100000);
	CHECK(segment_loaded(&segs[1]));
	CHECK_EQ(state.kernel.end, 0x140001000ull);
	/* The page tables go below 3 GiB even when the kernel ends above. */
	CHECK(state.page_tables.end <= 3 * GIB);
	CHECK_EQ(state.page_tables.end - state.page_tables.start, (2 + 6) * PAGE);
	uint64_t flags = 0;
	CHECK_EQ(walk(0x17fffffffull, &flags), 0x17fffffffull);
	CHECK_EQ(flags, 0x83);
	CHECK_EQ(walk(0x180000000ull, &flags), ~0ull);
	check_mb2_info(5 * GIB, "console=ttyS0", NULL, 0);
}

UNIT_TEST(elf64_with_modules)
{
	static const uint8_t blob[PAGE + 1] = { 1, 2, 3 };
	struct guest_image mods[2] = { { blob, sizeof(blob), "a" }, { blob, 16, "b x" } };
	static const char *const strings[] = { "a", "b x" };
	build_elf64_kernel();
	CHECK_EQ(load_with(64 * MIB, "", mods, 2), 0);
	/* Modules after the page tables, which follow the kernel. */
	CHECK_EQ(state.modules[0].start, state.page_tables.end);
	CHECK_EQ(state.modules[1].start, state.page_tables.end + 2 * PAGE);
	CHECK(ram_equals(state.modules[1].start, blob, 16));
	check_mb2_info(64 * MIB, "", strings, 2);
}

/* ---- Placement around the kernel ------------------------------------------- */

UNIT_TEST(boot_area_moves_below_a_kernel_in_low_memory)
{
	const struct seg segs[] = {
		LOAD(0x1000, 0x90000, 0x1000, 0xf000), /* [0x90000, 0x9f000) */
		LOAD(0x2000, 0x100000, 0x1000, 0x1000),
	};
	image_reset();
	build_elf(32, 2, 3, 0x100000, segs, 2);
	put_multiboot1(0x1000, 0);
	CHECK_EQ(load(64 * MIB), 0);
	CHECK_EQ(state.boot_area.end, 0x90000);
	CHECK(segment_loaded(&segs[0]));
}

UNIT_TEST(boot_area_goes_above_1m_when_low_memory_is_taken)
{
	const struct seg segs[] = {
		LOAD(0x1000, 0x1000, 0x1000, 0x9e000), /* [0x1000, 0x9f000) */
		LOAD(0x2000, 0x100000, 0x1000, 0x1000),
	};
	image_reset();
	build_elf(32, 2, 3, 0x100000, segs, 2);
	put_multiboot1(0x1000, 0);
	CHECK_EQ(load(64 * MIB), 0);
	CHECK_EQ(state.boot_area.start, 0x101000);
	check_protected_mode(MULTIBOOT_BOOTLOADER_MAGIC, 0x100000);
}

UNIT_TEST(modules_fall_back_below_a_kernel_at_the_top_of_ram)
{
	static uint8_t big[2 * MIB];
	struct guest_image mods[1] = { { big, sizeof(big), "big" } };
	const struct seg segs[] = { LOAD(0x1000, 8 * MIB - 0x2000, 0x1000, 0x2000) };
	image_reset();
	build_elf(32, 2, 3, 8 * MIB - 0x2000, segs, 1);
	put_multiboot1(0x1000, 0);
	CHECK_EQ(load_with(8 * MIB, NULL, mods, 1), 0);
	/* Low memory is too small for it: the lowest free place above 1 MiB. */
	CHECK_EQ(state.modules[0].start, 0x100000);
}

UNIT_TEST(ram_map_and_end)
{
	struct guest_ram_range map[GUEST_RAM_MAP_MAX];
	CHECK_EQ(guest_ram_map(0, map), 0);
	CHECK_EQ(guest_ram_map(512 * 1024, map), 2);
	CHECK_EQ(map[0].length, 512 * 1024);
	CHECK_EQ(map[1].type, GUEST_RAM_RESERVED);
	CHECK_EQ(guest_ram_map(MIB, map), 2);
	CHECK_EQ(guest_ram_map(3 * GIB, map), 3);
	CHECK_EQ(map[2].base + map[2].length, 3 * GIB);
	CHECK_EQ(guest_ram_map(4 * GIB, map), 4);
	CHECK_EQ(map[3].base, 4 * GIB);
	CHECK_EQ(map[3].length, GIB);
	CHECK_EQ(guest_ram_end(64 * MIB), 64 * MIB);
	CHECK_EQ(guest_ram_end(3 * GIB), 3 * GIB);
	CHECK_EQ(guest_ram_end(64 * GIB), 65 * GIB);
}

/* ---- Bad arguments -------------------------------------------------------- */

UNIT_TEST(zero_ram_and_missing_arguments)
{
	build_mb1_elf32();
	CHECK_EQ(load(0), -EINVAL);
	CHECK_STR(error, "guest RAM size is 0");

	struct guest_memory mem = { .size = 64 * MIB, .gpa_to_host = fake_gpa_to_host, .ctx = &ram };
	struct guest_image kernel = { image, image_size, "k" };
	struct guest_image empty = { image, 0, "k" };
	ram_reset(64 * MIB);
	CHECK_EQ(guest_load(&mem, &empty, NULL, NULL, 0, &state, error, sizeof(error)), -EINVAL);
	CHECK_STR(error, "no kernel image");
	CHECK_EQ(guest_load(&mem, NULL, NULL, NULL, 0, &state, error, sizeof(error)), -EINVAL);
	CHECK_EQ(guest_load(NULL, &kernel, NULL, NULL, 0, &state, error, sizeof(error)), -EINVAL);
	CHECK_EQ(guest_load(&mem, &kernel, NULL, NULL, 0, NULL, error, sizeof(error)), -EINVAL);
	CHECK_EQ(guest_load(&mem, &kernel, NULL, NULL, 1, &state, error, sizeof(error)), -EINVAL);
	/* No error buffer at all is fine. */
	CHECK_EQ(guest_load(&mem, &empty, NULL, NULL, 0, &state, NULL, 0), -EINVAL);
	CHECK_EQ(guest_load(&mem, &kernel, NULL, NULL, 0, &state, NULL, 0), 0);
}

UNIT_TEST(cmdline_limit)
{
	char cmdline[1025];
	memset(cmdline, 'c', sizeof(cmdline));
	cmdline[1023] = '\0';
	build_mb1_elf32();
	CHECK_EQ(load_with(64 * MIB, cmdline, NULL, 0), 0);
	CHECK_STR(ram_string(mb1_info().cmdline), cmdline);
	cmdline[1023] = 'c';
	cmdline[1024] = '\0';
	CHECK_EQ(load_with(64 * MIB, cmdline, NULL, 0), -EINVAL);
	CHECK_STR(error, "command line is longer than 1023 bytes");
}

UNIT_TEST(module_count_and_string_limits)
{
	struct guest_image mods[GUEST_LOADER_MAX_MODULES + 1];
	for (unsigned i = 0; i <= GUEST_LOADER_MAX_MODULES; i++)
		mods[i] = (struct guest_image){ image, 16, "m" };
	build_mb1_elf32();
	CHECK_EQ(load_with(64 * MIB, NULL, mods, GUEST_LOADER_MAX_MODULES), 0);
	CHECK_EQ(load_with(64 * MIB, NULL, mods, GUEST_LOADER_MAX_MODULES + 1), -EINVAL);
	CHECK_STR(error, "17 modules: at most 16 are supported");
	char name[1100];
	memset(name, 'n', sizeof(name));
	name[1024] = '\0';
	mods[1].name = name;
	CHECK_EQ(load_with(64 * MIB, NULL, mods, 2), -EINVAL);
	CHECK_STR(error, "module 1's string is longer than 1023 bytes");
	mods[1] = (struct guest_image){ NULL, 5, "m" };
	CHECK_EQ(load_with(64 * MIB, NULL, mods, 2), -EINVAL);
	CHECK_STR(error, "module 1 has no data");
}

UNIT_TEST(modules_that_do_not_fit)
{
	static uint8_t big[12 * MIB];
	struct guest_image mods[2] = { { big, 4 * MIB, "first" }, { big, sizeof(big), "initrd.img" } };
	build_mb1_elf32();
	CHECK_EQ(load_with(16 * MIB, NULL, mods, 2), -ENOSPC);
	CHECK_STR(error, "module 1 (initrd.img, 12 MiB) does not fit in guest RAM (16 MiB) beside the kernel and the modules before it");
	/* Nothing was written before the failure. */
	CHECK_EQ(ram_byte(0x100000), DIRTY);
}

UNIT_TEST(core_refusing_ram_is_efault)
{
	build_mb1_elf32();
	ram_reset(64 * MIB);
	ram.refuse = true;
	ram.refuse_gpa = 0x102800;
	struct guest_memory mem = { .size = 64 * MIB, .gpa_to_host = fake_gpa_to_host, .ctx = &ram };
	struct guest_image kernel = { image, image_size, "k" };
	CHECK_EQ(guest_load(&mem, &kernel, NULL, NULL, 0, &state, error, sizeof(error)), -EFAULT);
	CHECK_STR(error, "guest RAM at 0x102800 is not accessible to the loader");
}

UNIT_TEST(ram_too_small_for_the_boot_information)
{
	/* 64 KiB of RAM: a kernel fits at 0x1000, the 20 KiB boot area not. */
	const struct seg segs[] = { LOAD(0x1000, 0x1000, 0x1000, 0xb000) };
	image_reset();
	build_elf(32, 2, 3, 0x1000, segs, 1);
	put_multiboot1(0x1000, 0);
	CHECK_EQ(load(64 * 1024), -ENOSPC);
	CHECK_STR(error, "no room for the boot information (20 KiB) in guest RAM (64 KiB) beside the kernel");
}

UNIT_TEST(elf64_page_tables_that_do_not_fit)
{
	/* The kernel fills RAM above 1 MiB; 6 pages of tables fit nowhere
	 * below, as the boot area took most of low memory's free part. */
	const struct seg segs[] = {
		LOAD(0x1000, 0x1000, 0x1000, 0x94000),      /* [0x1000, 0x95000) */
		LOAD(0x2000, 0x100000, 0x1000, 0x700000),   /* [1 MiB, 8 MiB) */
	};
	image_reset();
	build_elf(64, 2, 62, 0x100000, segs, 2);
	CHECK_EQ(load(8 * MIB), -ENOSPC);
	CHECK_STR(error, "no room for the page tables (24 KiB) in guest RAM (8 MiB) beside the kernel");
}

/* ---- Hostile ELF ---------------------------------------------------------- */

UNIT_TEST(not_a_kernel)
{
	image_reset();
	image_fill(0, 0x5000);
	CHECK_EQ(load(64 * MIB), -ENOEXEC);
	CHECK_STR(error, "not a kernel: no Multiboot header in the first 32 KiB and no ELF header");
}

UNIT_TEST(truncated_elf_header)
{
	build_elf64_kernel();
	image_size = 40;
	CHECK_EQ(load(64 * MIB), -ENOEXEC);
	CHECK_STR(error, "ELF header truncated: the file has 40 bytes");
	image_size = 4;
	CHECK_EQ(load(64 * MIB), -ENOEXEC);
	CHECK_STR(error, "not an ELF file");
}

UNIT_TEST(program_headers_past_the_file)
{
	build_elf64_kernel();
	image_size = 64 + 56 + 10; /* the second program header is cut */
	CHECK_EQ(load(64 * MIB), -ENOEXEC);
	CHECK_STR(error, "ELF program headers (2 at 0x40) run past the end of the file (130 bytes)");
	build_elf64_kernel();
	put64(32, 0xfffffffffffffff0ull); /* e_phoff that would wrap */
	CHECK_EQ(load(64 * MIB), -ENOEXEC);
	put64(32, 64);
	put16(54, 20); /* e_phentsize too small */
	CHECK_EQ(load(64 * MIB), -ENOEXEC);
	CHECK_STR(error, "ELF program header size 20 is below 56");
	put16(54, 56);
	put16(56, 0);
	CHECK_EQ(load(64 * MIB), -ENOEXEC);
	CHECK_STR(error, "ELF has no program headers");
}

UNIT_TEST(segment_file_bytes_past_the_file)
{
	build_mb1_elf32();
	image_size = 0x2400; /* segment 1 wants file bytes up to 0x2800 */
	CHECK_EQ(load(64 * MIB), -ENOEXEC);
	CHECK_STR(error, "ELF segment 1: file bytes 0x2000 + 0x800 run past the end of the file (9216 bytes)");
	build_elf64_kernel();
	put64(64 + 8, 0xffffffffffffff00ull); /* p_offset that would wrap */
	CHECK_EQ(load(64 * MIB), -ENOEXEC);
}

UNIT_TEST(memsz_smaller_than_filesz)
{
	const struct seg segs[] = { LOAD(0x1000, 0x100000, 0x1000, 0x800) };
	image_reset();
	build_elf(64, 2, 62, 0x100000, segs, 1);
	CHECK_EQ(load(64 * MIB), -ENOEXEC);
	CHECK_STR(error, "ELF segment 0: p_memsz 0x800 is smaller than p_filesz 0x1000");
}

UNIT_TEST(segment_past_ram)
{
	const struct seg segs[] = {
		LOAD(0x1000, 0x100000, 0x1000, 0x1000),
		{ 4, 0, 0, 0, 0, 0 }, /* a note: skipped, but it counts in the numbering */
		LOAD(0x2000, 0x3fff000, 0x1000, 0x2000),
	};
	image_reset();
	build_elf(64, 2, 62, 0x100000, segs, 3);
	CHECK_EQ(load(64 * MIB), -ENOSPC);
	CHECK_STR(error, "ELF segment 2 at 0x3fff000 (0x2000 bytes) runs past guest RAM (64 MiB)");
	put64(64 + 2 * 56 + 24, 0x5000000); /* wholly outside */
	CHECK_EQ(load(64 * MIB), -ENOSPC);
	CHECK_STR(error, "ELF segment 2 at 0x5000000 (0x2000 bytes) lies past guest RAM (64 MiB)");
	put64(64 + 2 * 56 + 24, 0xfffffffffffff000ull); /* wraps */
	CHECK_EQ(load(64 * MIB), -ENOEXEC);
	CHECK_ERROR_HAS("wraps around");
}

UNIT_TEST(segment_in_reserved_or_mmio_areas)
{
	const struct seg low[] = { LOAD(0x1000, 0x9f000, 0x1000, 0x1000) };
	image_reset();
	build_elf(64, 2, 62, 0x9f000, low, 1);
	CHECK_EQ(load(64 * MIB), -ENOSPC);
	CHECK_STR(error, "ELF segment 0 at 0x9f000 (0x1000 bytes) runs into the reserved PC area [0x9fc00, 0x100000) (64 MiB)");
	const struct seg bios[] = { LOAD(0x1000, 0xf0000, 0x1000, 0x1000) };
	image_reset();
	build_elf(64, 2, 62, 0xf0000, bios, 1);
	CHECK_EQ(load(64 * MIB), -ENOSPC);
	CHECK_ERROR_HAS("lies in the reserved PC area");
	const struct seg mmio[] = { LOAD(0x1000, 0xfee00000, 0x1000, 0x1000) };
	image_reset();
	build_elf(64, 2, 62, 0xfee00000, mmio, 1);
	CHECK_EQ(load(5 * GIB), -ENOSPC);
	CHECK_ERROR_HAS("lies in the MMIO hole [3 GiB, 4 GiB)");
}

UNIT_TEST(multiboot_segment_above_4g_is_out_of_reach)
{
	const struct seg segs[] = { LOAD(0x1000, 0x100000000ull, 0x1000, 0x1000) };
	image_reset();
	build_elf(64, 2, 62, 0x100000000ull, segs, 1);
	put_multiboot1(0x1000, 0);
	CHECK_EQ(load(5 * GIB), -ENOEXEC);
	CHECK_STR(error, "ELF segment 0 at 0x100000000 (0x1000 bytes) runs past 4 GiB, out of reach of a 32-bit kernel");
}

UNIT_TEST(overlapping_segments)
{
	const struct seg segs[] = {
		LOAD(0x1000, 0x100000, 0x1000, 0x3000),
		LOAD(0x2000, 0x102000, 0x1000, 0x1000),
	};
	image_reset();
	build_elf(64, 2, 62, 0x100000, segs, 2);
	CHECK_EQ(load(64 * MIB), -ENOEXEC);
	CHECK_STR(error, "ELF segments 0 and 1 overlap at 0x102000");
}

UNIT_TEST(unsupported_elf_kinds)
{
	build_elf64_kernel();
	put16(16, 3); /* ET_DYN */
	CHECK_EQ(load(64 * MIB), -ENOEXEC);
	CHECK_STR(error, "ELF type 3 is not supported: only executables (ET_EXEC) load");
	build_elf64_kernel();
	put16(18, 183); /* AArch64 */
	CHECK_EQ(load(64 * MIB), -ENOEXEC);
	CHECK_STR(error, "ELF64 machine 183 is not supported (expected 62)");
	build_elf64_kernel();
	image[5] = 2;
	CHECK_EQ(load(64 * MIB), -ENOEXEC);
	CHECK_STR(error, "big-endian ELF is not supported");
	build_elf64_kernel();
	image[4] = 3;
	CHECK_EQ(load(64 * MIB), -ENOEXEC);
	CHECK_STR(error, "ELF class 3 is unknown");
	build_elf64_kernel();
	image[6] = 0;
	CHECK_EQ(load(64 * MIB), -ENOEXEC);
	CHECK_STR(error, "ELF version 0 is unknown");
	/* A 32-bit kernel needs a Multiboot header to say how to start it. */
	build_mb1_elf32();
	put32(0x1000, 0);
	CHECK_EQ(load(64 * MIB), -ENOEXEC);
	CHECK_STR(error, "ELF32 kernel without a Multiboot header: 32-bit kernels start only through Multiboot");
	/* Multiboot1 with an x86-64 machine number in an ELF32 file. */
	build_mb1_elf32();
	put16(18, 62);
	CHECK_EQ(load(64 * MIB), -ENOEXEC);
	CHECK_STR(error, "ELF32 machine 62 is not supported (expected 3)");
}

UNIT_TEST(no_loadable_segments_and_too_many)
{
	const struct seg notes[] = { { 4, 0x1000, 0, 0, 0x10, 0x10 }, LOAD(0x1000, 0x100000, 0, 0) };
	image_reset();
	build_elf(64, 2, 62, 0x100000, notes, 2);
	CHECK_EQ(load(64 * MIB), -ENOEXEC);
	CHECK_STR(error, "ELF has no loadable segments");

	struct seg many[GUEST_LOADER_MAX_SEGMENTS + 1];
	for (unsigned i = 0; i <= GUEST_LOADER_MAX_SEGMENTS; i++)
		many[i] = (struct seg)LOAD(0x1000, 0x100000 + i * PAGE, 0x100, 0x100);
	image_reset();
	build_elf(64, 2, 62, 0x100000, many, GUEST_LOADER_MAX_SEGMENTS);
	CHECK_EQ(load(64 * MIB), 0);
	image_reset();
	build_elf(64, 2, 62, 0x100000, many, GUEST_LOADER_MAX_SEGMENTS + 1);
	CHECK_EQ(load(64 * MIB), -ENOEXEC);
	CHECK_STR(error, "ELF has more than 16 loadable segments");
}

UNIT_TEST(entry_point_outside_the_kernel)
{
	build_elf64_kernel();
	put64(24, 0x200000);
	CHECK_EQ(load(64 * MIB), -ENOEXEC);
	CHECK_STR(error, "ELF entry point 0x200000 is in no loadable segment");
	build_elf64_kernel();
	put64(24, 0);
	CHECK_EQ(load(64 * MIB), -ENOEXEC);
	/* A Multiboot2 entry tag must point into the kernel too. */
	build_mb2_elf32();
	const uint32_t entry[] = { 0x300000 };
	mb2_tag(3, 0, entry, 1);
	mb2_finish();
	CHECK_EQ(load(64 * MIB), -ENOEXEC);
	CHECK_STR(error, "entry point 0x300000 is outside the loaded kernel");
	/* And the a.out kludge's entry_addr. */
	image_reset();
	image_fill(0, 0x1000);
	put_kludge(0, 0x200000, 0x200000, 0, 0, 0x201000);
	CHECK_EQ(load(64 * MIB), -ENOEXEC);
	CHECK_STR(error, "entry point 0x201000 is outside the loaded kernel");
}

/* ---- Hostile Multiboot headers -------------------------------------------- */

UNIT_TEST(kludge_field_errors)
{
	image_reset();
	image_fill(0, 0x2000);
	put_kludge(0x40, 0x200040, 0x200000, 0x1fffff, 0, 0x200040);
	CHECK_EQ(load(64 * MIB), -ENOEXEC);
	CHECK_STR(error, "load_end_addr 0x1fffff is below load_addr 0x200000");

	put_kludge(0x40, 0x200040, 0x200080, 0, 0, 0x200080);
	CHECK_EQ(load(64 * MIB), -ENOEXEC);
	CHECK_STR(error, "load_addr 0x200080 is above header_addr 0x200040");

	put_kludge(0x40, 0x200040, 0x1ff000, 0, 0, 0x200040);
	CHECK_EQ(load(64 * MIB), -ENOEXEC);
	CHECK_STR(error, "load_addr 0x1ff000 would start loading 0x1000 bytes before the file's first byte");

	put_kludge(0x40, 0x200040, 0x200000, 0x203000, 0, 0x200040);
	CHECK_EQ(load(64 * MIB), -ENOEXEC);
	CHECK_STR(error, "load_end_addr 0x203000 asks for 0x3000 bytes from file offset 0x0, past the end of the file (8192 bytes)");

	put_kludge(0x40, 0x200040, 0x200000, 0x201000, 0x200800, 0x200040);
	CHECK_EQ(load(64 * MIB), -ENOEXEC);
	CHECK_STR(error, "bss_end_addr 0x200800 is below the loaded end 0x201000");

	put_kludge(0x40, 0xfffff040, 0xfffff000, 0xfffff800, 0xfffffff0, 0xfffff040);
	CHECK_EQ(load(64 * MIB), -ENOSPC);
	CHECK_ERROR_HAS("lies in the MMIO hole");

	put_kludge(0x40, 0xffffff40, 0xffffff00, 0, 0, 0xffffff40);
	CHECK_EQ(load(64 * MIB), -ENOEXEC);
	CHECK_STR(error, "the image at 0xffffff00 runs past 4 GiB");
}

UNIT_TEST(kludge_header_truncated_by_the_file_end)
{
	image_reset();
	put_kludge(0x40, 0x200040, 0x200000, 0, 0, 0x200040);
	image_size = 0x40 + 20; /* magic, flags, checksum and two fields */
	CHECK_EQ(load(64 * MIB), -ENOEXEC);
	CHECK_STR(error, "Multiboot1 header at 0x40 is truncated: the a.out fields run past the end of the file");
}

UNIT_TEST(multiboot1_bad_checksum_and_unknown_requirements)
{
	build_mb1_elf32();
	put32(0x1008, 0x12345678);
	CHECK_EQ(load(64 * MIB), -ENOEXEC);
	CHECK_STR(error, "Multiboot1 header at 0x1000 has a bad checksum");

	build_mb1_elf32();
	put_multiboot1(0x1000, (1u << 5) | MULTIBOOT_PAGE_ALIGN);
	CHECK_EQ(load(64 * MIB), -ENOEXEC);
	CHECK_STR(error, "Multiboot1 header requires unknown features (flags 0x20)");

	image_reset();
	image_fill(0, 0x1000);
	put_multiboot1(0x40, MULTIBOOT_MEMORY_INFO);
	CHECK_EQ(load(64 * MIB), -ENOEXEC);
	CHECK_STR(error, "Multiboot1 kernel is not ELF and its header has no a.out fields (flag 16)");

	/* Bits 16-31 are optional: an unknown one there is ignored. */
	build_mb1_elf32();
	put_multiboot1(0x1000, 1u << 20);
	CHECK_EQ(load(64 * MIB), 0);
}

UNIT_TEST(multiboot2_bad_headers)
{
	build_mb2_elf32();
	mb2_finish();
	put32(0x100c, 0);
	CHECK_EQ(load(64 * MIB), -ENOEXEC);
	CHECK_STR(error, "Multiboot2 header at 0x1000 has a bad checksum");

	build_mb2_elf32();
	mb2_tag(12, 0, NULL, 0);
	mb2_finish();
	CHECK_EQ(load(64 * MIB), -ENOEXEC);
	CHECK_STR(error, "Multiboot2 header tag 12 is not supported");

	build_mb2_elf32();
	const uint32_t request[] = { 1, 22 };
	mb2_tag(1, 0, request, 2);
	mb2_finish();
	CHECK_EQ(load(64 * MIB), -ENOEXEC);
	CHECK_STR(error, "Multiboot2 header requests information tag 22, which is unknown");

	build_mb2_elf32();
	put32(0x1004, 4); /* MIPS */
	mb2_finish();
	put32(0x100c, -(MB2_MAGIC + 4 + 24));
	CHECK_EQ(load(64 * MIB), -ENOEXEC);
	CHECK_STR(error, "Multiboot2 architecture 4 is not i386");
}

/* Writes a Multiboot2 header at 0x1000 with the given length and one raw
 * tag header, checksum valid. */
static void mb2_raw(uint32_t length, uint16_t tag_type, uint32_t tag_size)
{
	build_mb2_elf32();
	put16(0x1010, tag_type);
	put16(0x1012, 0);
	put32(0x1014, tag_size);
	put32(0x1008, length);
	put32(0x100c, -(MB2_MAGIC + length));
}

UNIT_TEST(multiboot2_broken_framing)
{
	mb2_raw(24, 0, 4); /* tag size below 8 */
	CHECK_EQ(load(64 * MIB), -ENOEXEC);
	CHECK_STR(error, "Multiboot2 header tag 0 at 0x1010 has a bad size 4");
	mb2_raw(24, 3, 64); /* tag runs past the header */
	CHECK_EQ(load(64 * MIB), -ENOEXEC);
	CHECK_STR(error, "Multiboot2 header tag 3 at 0x1010 has a bad size 64");
	mb2_raw(28, 4, 12); /* no end tag: the header ends after a console tag */
	CHECK_EQ(load(64 * MIB), -ENOEXEC);
	CHECK_STR(error, "Multiboot2 header has no end tag");
	mb2_raw(0x100000, 0, 8); /* header_length past the file */
	CHECK_EQ(load(64 * MIB), -ENOEXEC);
	CHECK_STR(error, "Multiboot2 header at 0x1000: header_length 1048576 does not fit the file");
	mb2_raw(8, 0, 8); /* shorter than its own fields */
	CHECK_EQ(load(64 * MIB), -ENOEXEC);
	mb2_raw(24, 3, 8); /* an entry tag with no address */
	CHECK_EQ(load(64 * MIB), -ENOEXEC);
	CHECK_STR(error, "Multiboot2 entry address tag is truncated");
	mb2_raw(24, 2, 8); /* an address tag with no addresses */
	CHECK_EQ(load(64 * MIB), -ENOEXEC);
	CHECK_STR(error, "Multiboot2 address tag is truncated");
	mb2_raw(28, 6, 8); /* 4 bytes left after the first tag */
	CHECK_EQ(load(64 * MIB), -ENOEXEC);
	CHECK_STR(error, "Multiboot2 header tag at 0x1018 is truncated");
}

UNIT_TEST(multiboot2_address_tag_needs_an_entry_tag)
{
	image_reset();
	image_fill(0, 0x2000);
	mb2_begin(0x100);
	const uint32_t address[] = { 0x400100, 0x400000, 0, 0 };
	mb2_tag(2, 0, address, 4);
	mb2_finish();
	CHECK_EQ(load(64 * MIB), -ENOEXEC);
	CHECK_STR(error, "Multiboot2 header has an address tag but no entry address tag");

	image_reset();
	image_fill(0, 0x2000);
	mb2_begin(0x100);
	mb2_finish();
	CHECK_EQ(load(64 * MIB), -ENOEXEC);
	CHECK_STR(error, "Multiboot2 kernel is not ELF and its header has no address tag");
}

UNIT_TEST(multiboot2_header_must_end_in_the_first_32k)
{
	image_reset();
	image_fill(0, 0x9000);
	mb2_begin(0x7fe0);
	const uint32_t address[] = { 0x407fe0, 0x400000, 0, 0 };
	const uint32_t entry[] = { 0x400000 };
	mb2_tag(2, 0, address, 4);
	mb2_tag(3, 0, entry, 1);
	mb2_finish();
	CHECK_EQ(load(64 * MIB), -ENOEXEC);
	CHECK_STR(error, "Multiboot2 header at 0x7fe0 (64 bytes) does not end within the first 32 KiB");
}

/* ---- Random damage ----------------------------------------------------------- */

static uint64_t rng_state = 0x853c49e6748fea9bull;

static uint32_t rng(void)
{
	rng_state = rng_state * 6364136223846793005ull + 1442695040888963407ull;
	return (uint32_t)(rng_state >> 33);
}

/* Damages the valid images in many random ways; every load must return 0
 * or an error with a message (ASan/UBSan watch the rest). */
static int fuzz_images(void *arg)
{
	(void)arg;
	int failures = 0;
	for (int round = 0; round < 1500; round++) {
		switch (round % 4) {
		case 0:
			build_mb1_elf32();
			break;
		case 1:
			build_mb2_elf32();
			mb2_finish();
			break;
		case 2:
			build_elf64_kernel();
			break;
		default:
			image_reset();
			image_fill(0, 0x3000);
			put_kludge(0x40, 0x200040, 0x200000, 0, 0x205000, 0x200080);
			break;
		}
		int damage = 1 + (int)(rng() % 6);
		for (int i = 0; i < damage; i++) {
			/* Mostly the headers, where the decisions are. */
			size_t at = rng() % 2 ? rng() % 0x100 : 0x1000 + rng() % 0x40;
			image[at] = (uint8_t)rng();
		}
		if (rng() % 8 == 0)
			image_size = rng() % (image_size + 1);
		int rc = load_with(rng() % 2 ? 64 * MIB : 2 * MIB, "x", NULL, 0);
		if (rc != 0 && error[0] == '\0')
			failures++;
	}
	return failures;
}

UNIT_TEST(random_damage_never_crashes)
{
	int failures = -1;
	CHECK_EQ(host_run_isolated(fuzz_images, NULL, 120, &failures), HOST_ISOLATED_RETURNED);
	CHECK_EQ(failures, 0);
}

UNIT_MAIN()

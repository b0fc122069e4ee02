/*
 * Multiboot2 information parsing (boot/multiboot/multiboot2_parse.c) and the
 * boot_info helpers, on canned tag lists. Each finished block is copied to a
 * heap buffer of exactly its total size, so ASan sees any read past it.
 * Multiboot1 tests are in test_multiboot1.c: the two specification headers
 * share one include guard and cannot meet in one file.
 */
#include "unit.h"
#include "host_support.h"

#include <lib/errno.h>
#include <multiboot2.h>

#include "../../boot/multiboot/multiboot_parse.h"

struct mb2_builder {
	_Alignas(8) uint8_t buf[16384];
	uint32_t length;
};

static void mb2_begin(struct mb2_builder *b)
{
	memset(b, 0, sizeof(*b));
	b->length = 8;
}

/* Appends a zeroed tag of size bytes; the next one starts 8-aligned. */
static void *mb2_tag(struct mb2_builder *b, uint32_t type, uint32_t size)
{
	struct multiboot_tag *tag = (void *)(b->buf + b->length);

	if (b->length + size + 8 > sizeof(b->buf))
		abort();
	tag->type = type;
	tag->size = size;
	b->length += (size + 7) & ~7u;
	return tag;
}

/* Ends the list and returns an exact-size heap copy (free it). */
static void *mb2_finish(struct mb2_builder *b)
{
	mb2_tag(b, MULTIBOOT_TAG_TYPE_END, 8);
	memcpy(b->buf, &b->length, sizeof(b->length));
	void *copy = malloc(b->length);
	memcpy(copy, b->buf, b->length);
	return copy;
}

static void add_cmdline(struct mb2_builder *b, const char *text)
{
	uint32_t n = (uint32_t)strlen(text) + 1;
	struct multiboot_tag_string *t = mb2_tag(b, MULTIBOOT_TAG_TYPE_CMDLINE, 8 + n);
	memcpy(t->string, text, n);
}

static void add_module(struct mb2_builder *b, uint32_t start, uint32_t end, const char *name)
{
	uint32_t n = (uint32_t)strlen(name) + 1;
	struct multiboot_tag_module *t =
		mb2_tag(b, MULTIBOOT_TAG_TYPE_MODULE, (uint32_t)sizeof(*t) + n);
	t->mod_start = start;
	t->mod_end = end;
	memcpy(t->cmdline, name, n);
}

struct range {
	uint64_t base, length;
	uint32_t type;
};

static void add_mmap(struct mb2_builder *b, const struct range *ranges, uint32_t count,
		     uint32_t entry_size)
{
	struct multiboot_tag_mmap *t = mb2_tag(b, MULTIBOOT_TAG_TYPE_MMAP, 16 + count * entry_size);
	t->entry_size = entry_size;
	t->entry_version = 0;
	for (uint32_t i = 0; i < count; i++) {
		struct multiboot_mmap_entry e = { ranges[i].base, ranges[i].length, ranges[i].type, 0 };
		memcpy((uint8_t *)t + 16 + i * entry_size, &e, sizeof(e));
	}
}

static void add_meminfo(struct mb2_builder *b, uint32_t lower_kib, uint32_t upper_kib)
{
	struct multiboot_tag_basic_meminfo *t =
		mb2_tag(b, MULTIBOOT_TAG_TYPE_BASIC_MEMINFO, sizeof(*t));
	t->mem_lower = lower_kib;
	t->mem_upper = upper_kib;
}

static void add_rsdp(struct mb2_builder *b, uint32_t type, uint32_t length, uint8_t fill)
{
	uint8_t *t = mb2_tag(b, type, 8 + length);
	memset(t + 8, fill, length);
	memcpy(t + 8, "RSD PTR ", 8);
}

static const struct range pc_map[] = {
	{ 0x0, 0x9fc00, MULTIBOOT_MEMORY_AVAILABLE },
	{ 0x9fc00, 0x400, MULTIBOOT_MEMORY_RESERVED },
	{ 0x100000, 0x7ee0000, MULTIBOOT_MEMORY_AVAILABLE },
	{ 0x7fe0000, 0x20000, MULTIBOOT_MEMORY_ACPI_RECLAIMABLE },
	{ 0xfffc0000, 0x40000, MULTIBOOT_MEMORY_RESERVED },
	{ 0x100000000, 0x40000000, MULTIBOOT_MEMORY_AVAILABLE },
	{ 0x140000000, 0x1000, MULTIBOOT_MEMORY_NVS },
	{ 0x140001000, 0x1000, MULTIBOOT_MEMORY_BADRAM },
};
#define PC_MAP_COUNT ((uint32_t)(sizeof(pc_map) / sizeof(pc_map[0])))

static int parse(struct mb2_builder *b, struct boot_info *out, const char **why)
{
	void *info = mb2_finish(b);
	*why = NULL;
	int rc = boot_parse_multiboot2(info, out, why);
	free(info);
	return rc;
}

static struct boot_info boot; /* 50 KiB: not on the stack */

UNIT_TEST(mb2_typical_grub_block)
{
	struct mb2_builder b;
	const char *why;

	mb2_begin(&b);
	add_cmdline(&b, "/boot/vmkernel.elf loglevel=debug");
	add_meminfo(&b, 639, 130048);
	mb2_tag(&b, MULTIBOOT_TAG_TYPE_BOOT_LOADER_NAME, 8 + 5);
	add_module(&b, 0x1000000, 0x1800000, "vmlinuz console=ttyS0");
	add_module(&b, 0x1800000, 0x1a00123, "initrd");
	add_mmap(&b, pc_map, PC_MAP_COUNT, sizeof(struct multiboot_mmap_entry));
	add_rsdp(&b, MULTIBOOT_TAG_TYPE_ACPI_OLD, 20, 0x11);
	CHECK_EQ(parse(&b, &boot, &why), 0);
	CHECK_EQ(boot.magic, BOOT_INFO_MAGIC);
	CHECK_EQ(boot.version, BOOT_INFO_VERSION);
	CHECK_EQ(boot.mode, BOOT_MODE_BIOS);
	CHECK_EQ(boot.loader, BOOT_LOADER_MULTIBOOT2);
	CHECK_STR(boot.cmdline, "/boot/vmkernel.elf loglevel=debug");
	CHECK_EQ(boot.module_count, 2);
	CHECK_EQ(boot.modules[0].phys_start, 0x1000000);
	CHECK_EQ(boot.modules[0].phys_end, 0x1800000);
	CHECK_STR(boot.modules[0].name, "vmlinuz console=ttyS0");
	CHECK_EQ(boot.modules[1].phys_end, 0x1a00123);
	CHECK_STR(boot.modules[1].name, "initrd");
	/* The map wins over basic meminfo: exactly its ranges, in order. */
	CHECK_EQ(boot.mem_range_count, PC_MAP_COUNT);
	for (uint32_t i = 0; i < PC_MAP_COUNT && i < boot.mem_range_count; i++) {
		CHECK_EQ(boot.mem_ranges[i].base, pc_map[i].base);
		CHECK_EQ(boot.mem_ranges[i].length, pc_map[i].length);
		CHECK_EQ(boot.mem_ranges[i].type, pc_map[i].type);
	}
	CHECK_EQ(boot.mem_ranges[3].type, BOOT_MEM_ACPI_RECLAIMABLE);
	CHECK_EQ(boot.mem_ranges[6].type, BOOT_MEM_ACPI_NVS);
	CHECK_EQ(boot.mem_ranges[7].type, BOOT_MEM_BAD);
	CHECK_EQ(boot.acpi_rsdp_length, 20);
	CHECK(memcmp(boot.acpi_rsdp, "RSD PTR ", 8) == 0);
	CHECK_EQ(boot.acpi_rsdp[19], 0x11);
	CHECK_EQ(boot.acpi_rsdp[20], 0);
	CHECK_EQ(boot.efi_system_table, 0);
	CHECK_EQ(boot.framebuffer.type, BOOT_FB_NONE);
}

UNIT_TEST(mb2_stale_output_is_cleared)
{
	struct mb2_builder b;
	const char *why;

	memset(&boot, 0xa5, sizeof(boot));
	mb2_begin(&b);
	add_mmap(&b, pc_map, 1, sizeof(struct multiboot_mmap_entry));
	CHECK_EQ(parse(&b, &boot, &why), 0);
	CHECK_EQ(boot.module_count, 0);
	CHECK_STR(boot.cmdline, "");
	CHECK_EQ(boot.acpi_rsdp_length, 0);
	CHECK_EQ(boot.mem_range_count, 1);
	CHECK_EQ(boot.mem_ranges[1].base, 0);
}

UNIT_TEST(mb2_mmap_entry_size_is_the_stride)
{
	struct mb2_builder b;
	const char *why;

	/* A later map version may grow its entries: honour entry_size. */
	mb2_begin(&b);
	add_mmap(&b, pc_map, PC_MAP_COUNT, 40);
	CHECK_EQ(parse(&b, &boot, &why), 0);
	CHECK_EQ(boot.mem_range_count, PC_MAP_COUNT);
	CHECK_EQ(boot.mem_ranges[PC_MAP_COUNT - 1].base, 0x140001000);
	CHECK_EQ(boot.mem_ranges[PC_MAP_COUNT - 1].type, BOOT_MEM_BAD);
	/* Entries smaller than the spec's 24 bytes cannot be read: no map. */
	mb2_begin(&b);
	add_mmap(&b, pc_map, 2, 16);
	CHECK_EQ(parse(&b, &boot, &why), -EINVAL);
	CHECK(why != NULL);
	CHECK_EQ(boot.mem_range_count, 0);
}

UNIT_TEST(mb2_unknown_memory_types_become_reserved)
{
	static const struct range odd[] = {
		{ 0x100000, 0x100000, 0 },
		{ 0x200000, 0x100000, 8 },
		{ 0x300000, 0x100000, 12 }, /* E820 OEM-defined */
		{ 0x400000, 0x100000, 0xffffffff },
		{ 0x500000, 0x100000, MULTIBOOT_MEMORY_AVAILABLE },
	};
	struct mb2_builder b;
	const char *why;

	mb2_begin(&b);
	add_mmap(&b, odd, 5, sizeof(struct multiboot_mmap_entry));
	CHECK_EQ(parse(&b, &boot, &why), 0);
	CHECK_EQ(boot.mem_range_count, 5);
	for (int i = 0; i < 4; i++)
		CHECK_EQ(boot.mem_ranges[i].type, BOOT_MEM_RESERVED);
	CHECK_EQ(boot.mem_ranges[4].type, BOOT_MEM_USABLE);
}

/* Was a bug: multiboot map types are copied straight into enum boot_mem_type,
 * whose 6 and 7 mean LOADER_RECLAIMABLE and FIRMWARE_RUNTIME. GRUB passes
 * E820 types through, and E820 6 is "disabled" and 7 "persistent memory":
 * the spec says every type but 1, 3, 4, 5 is reserved. As it is, pmm_reclaim
 * later hands out a firmware-disabled range (or NVDIMM contents) as RAM. */
UNIT_TEST(mb2_e820_types_6_and_7_must_be_reserved)
{
	static const struct range e820[] = {
		{ 0x100000, 0x100000, 6 },
		{ 0x200000, 0x100000, 7 },
	};
	struct mb2_builder b;
	const char *why;

	mb2_begin(&b);
	add_mmap(&b, e820, 2, sizeof(struct multiboot_mmap_entry));
	CHECK_EQ(parse(&b, &boot, &why), 0);
	CHECK_EQ(boot.mem_ranges[0].type, BOOT_MEM_RESERVED);
	CHECK_EQ(boot.mem_ranges[1].type, BOOT_MEM_RESERVED);
}

UNIT_TEST(mb2_empty_ranges_dropped_and_wrapping_ones_clamped)
{
	static const struct range edge[] = {
		{ 0x100000, 0, MULTIBOOT_MEMORY_AVAILABLE },
		{ 0xfffffffffffff000, 0x2000, MULTIBOOT_MEMORY_RESERVED },
		{ 0x200000, 0x1000, MULTIBOOT_MEMORY_AVAILABLE },
	};
	struct mb2_builder b;
	const char *why;

	mb2_begin(&b);
	add_mmap(&b, edge, 3, sizeof(struct multiboot_mmap_entry));
	CHECK_EQ(parse(&b, &boot, &why), 0);
	CHECK_EQ(boot.mem_range_count, 2);
	CHECK_EQ(boot.mem_ranges[0].base, 0xfffffffffffff000);
	CHECK_EQ(boot.mem_ranges[0].length, 0xfff); /* ends at UINT64_MAX */
	CHECK_EQ(boot.mem_ranges[1].base, 0x200000);
}

UNIT_TEST(mb2_more_ranges_than_fit_keeps_the_first)
{
	static struct range many[BOOT_MAX_MEM_RANGES + 10];
	struct mb2_builder b;
	const char *why;

	for (uint32_t i = 0; i < BOOT_MAX_MEM_RANGES + 10; i++)
		many[i] = (struct range){ (uint64_t)i << 20, 1 << 20, 1 + i % 2 };
	mb2_begin(&b);
	add_mmap(&b, many, BOOT_MAX_MEM_RANGES + 10, sizeof(struct multiboot_mmap_entry));
	CHECK_EQ(parse(&b, &boot, &why), 0);
	CHECK_EQ(boot.mem_range_count, BOOT_MAX_MEM_RANGES);
	CHECK_EQ(boot.mem_ranges[BOOT_MAX_MEM_RANGES - 1].base, (uint64_t)(BOOT_MAX_MEM_RANGES - 1) << 20);
	CHECK_EQ(boot.mem_ranges[BOOT_MAX_MEM_RANGES - 1].type, BOOT_MEM_RESERVED);
}

UNIT_TEST(mb2_no_map_falls_back_to_basic_meminfo)
{
	struct mb2_builder b;
	const char *why;

	mb2_begin(&b);
	add_cmdline(&b, "nosmp");
	add_meminfo(&b, 639, 65536);
	CHECK_EQ(parse(&b, &boot, &why), 1);
	CHECK(why != NULL);
	CHECK_EQ(boot.mem_range_count, 2);
	CHECK_EQ(boot.mem_ranges[0].base, 0);
	CHECK_EQ(boot.mem_ranges[0].length, 639 * 1024);
	CHECK_EQ(boot.mem_ranges[0].type, BOOT_MEM_USABLE);
	CHECK_EQ(boot.mem_ranges[1].base, 0x100000);
	CHECK_EQ(boot.mem_ranges[1].length, 65536ul * 1024);
	CHECK_EQ(boot.mem_ranges[1].type, BOOT_MEM_USABLE);
	CHECK_STR(boot.cmdline, "nosmp");
}

UNIT_TEST(mb2_no_memory_information_at_all_is_einval)
{
	struct mb2_builder b;
	const char *why;

	mb2_begin(&b);
	add_cmdline(&b, "loglevel=debug");
	CHECK_EQ(parse(&b, &boot, &why), -EINVAL);
	CHECK(why != NULL);
	/* What could be read is still there for the error report. */
	CHECK_STR(boot.cmdline, "loglevel=debug");
	/* A meminfo tag too short to hold its fields does not count. */
	mb2_begin(&b);
	mb2_tag(&b, MULTIBOOT_TAG_TYPE_BASIC_MEMINFO, 12);
	CHECK_EQ(parse(&b, &boot, &why), -EINVAL);
	CHECK_EQ(boot.mem_range_count, 0);
}

UNIT_TEST(mb2_long_cmdline_and_module_name_are_truncated)
{
	static char long_line[BOOT_CMDLINE_MAX + 100];
	struct mb2_builder b;
	const char *why;

	memset(long_line, 'x', sizeof(long_line) - 1);
	long_line[sizeof(long_line) - 1] = '\0';
	mb2_begin(&b);
	add_cmdline(&b, long_line);
	add_module(&b, 0x200000, 0x300000, long_line);
	add_mmap(&b, pc_map, 1, sizeof(struct multiboot_mmap_entry));
	CHECK_EQ(parse(&b, &boot, &why), 0);
	CHECK_EQ(strlen(boot.cmdline), BOOT_CMDLINE_MAX - 1);
	CHECK_EQ(strnlen(boot.modules[0].name, BOOT_MODULE_NAME_MAX), BOOT_MODULE_NAME_MAX - 1);
}

UNIT_TEST(mb2_unterminated_strings_stop_at_their_tag)
{
	struct mb2_builder b;
	const char *why;

	mb2_begin(&b);
	/* No NUL inside either tag and no padding: the next tag's non-zero
	 * type follows the last character directly. */
	struct multiboot_tag_string *s = mb2_tag(&b, MULTIBOOT_TAG_TYPE_CMDLINE, 8 + 8);
	memcpy(s->string, "abcdefgh", 8);
	struct multiboot_tag_module *m = mb2_tag(&b, MULTIBOOT_TAG_TYPE_MODULE, 16 + 8);
	memcpy(m->cmdline, "stuvwxyz", 8);
	add_mmap(&b, pc_map, 1, sizeof(struct multiboot_mmap_entry));
	CHECK_EQ(parse(&b, &boot, &why), 0);
	CHECK_STR(boot.cmdline, "abcdefgh");
	CHECK_STR(boot.modules[0].name, "stuvwxyz");
}

UNIT_TEST(mb2_more_modules_than_fit_keeps_the_first)
{
	struct mb2_builder b;
	const char *why;
	char name[16];

	mb2_begin(&b);
	for (uint32_t i = 0; i < BOOT_MAX_MODULES + 3; i++) {
		snprintf(name, sizeof(name), "module%u", i);
		add_module(&b, 0x1000000 + i * 0x1000, 0x1000000 + i * 0x1000 + 0x800, name);
	}
	add_mmap(&b, pc_map, PC_MAP_COUNT, sizeof(struct multiboot_mmap_entry));
	CHECK_EQ(parse(&b, &boot, &why), 0);
	CHECK_EQ(boot.module_count, BOOT_MAX_MODULES);
	snprintf(name, sizeof(name), "module%u", BOOT_MAX_MODULES - 1);
	CHECK_STR(boot.modules[BOOT_MAX_MODULES - 1].name, name);
	/* Parsing went on past the ignored modules. */
	CHECK_EQ(boot.mem_range_count, PC_MAP_COUNT);
}

UNIT_TEST(mb2_framebuffer_rgb_with_full_size_tag)
{
	struct mb2_builder b;
	const char *why;

	mb2_begin(&b);
	struct multiboot_tag_framebuffer *fb =
		mb2_tag(&b, MULTIBOOT_TAG_TYPE_FRAMEBUFFER, sizeof(*fb));
	fb->common.framebuffer_addr = 0xfd000000;
	fb->common.framebuffer_pitch = 4096;
	fb->common.framebuffer_width = 1024;
	fb->common.framebuffer_height = 768;
	fb->common.framebuffer_bpp = 32;
	fb->common.framebuffer_type = MULTIBOOT_FRAMEBUFFER_TYPE_RGB;
	fb->framebuffer_red_field_position = 16;
	fb->framebuffer_red_mask_size = 8;
	fb->framebuffer_green_field_position = 8;
	fb->framebuffer_green_mask_size = 7;
	fb->framebuffer_blue_field_position = 0;
	fb->framebuffer_blue_mask_size = 6;
	add_mmap(&b, pc_map, 1, sizeof(struct multiboot_mmap_entry));
	CHECK_EQ(parse(&b, &boot, &why), 0);
	CHECK_EQ(boot.framebuffer.type, BOOT_FB_RGB);
	CHECK_EQ(boot.framebuffer.phys_addr, 0xfd000000);
	CHECK_EQ(boot.framebuffer.pitch, 4096);
	CHECK_EQ(boot.framebuffer.width, 1024);
	CHECK_EQ(boot.framebuffer.height, 768);
	CHECK_EQ(boot.framebuffer.bpp, 32);
	CHECK_EQ(boot.framebuffer.red_shift, 16);
	CHECK_EQ(boot.framebuffer.red_size, 8);
	CHECK_EQ(boot.framebuffer.green_shift, 8);
	CHECK_EQ(boot.framebuffer.green_size, 7);
	CHECK_EQ(boot.framebuffer.blue_shift, 0);
	CHECK_EQ(boot.framebuffer.blue_size, 6);
}

/* GRUB writes an RGB framebuffer tag of sizeof(common) + 6 = 38 bytes, less
 * than sizeof(struct multiboot_tag_framebuffer) (40, padding): a size check
 * against the struct typed every GRUB framebuffer NONE. */
UNIT_TEST(mb2_framebuffer_rgb_tag_as_grub_sizes_it)
{
	struct mb2_builder b;
	const char *why;

	mb2_begin(&b);
	struct multiboot_tag_framebuffer *fb = mb2_tag(
		&b, MULTIBOOT_TAG_TYPE_FRAMEBUFFER, sizeof(struct multiboot_tag_framebuffer_common) + 6);
	fb->common.framebuffer_addr = 0x80000000;
	fb->common.framebuffer_bpp = 32;
	fb->common.framebuffer_type = MULTIBOOT_FRAMEBUFFER_TYPE_RGB;
	fb->framebuffer_red_field_position = 16;
	fb->framebuffer_red_mask_size = 8;
	fb->framebuffer_blue_mask_size = 8;
	add_mmap(&b, pc_map, 1, sizeof(struct multiboot_mmap_entry));
	CHECK_EQ(parse(&b, &boot, &why), 0);
	CHECK_EQ(boot.framebuffer.type, BOOT_FB_RGB);
	CHECK_EQ(boot.framebuffer.red_shift, 16);
	CHECK_EQ(boot.framebuffer.blue_size, 8);
}

UNIT_TEST(mb2_framebuffer_ega_text_and_indexed)
{
	struct mb2_builder b;
	const char *why;

	mb2_begin(&b);
	struct multiboot_tag_framebuffer_common *c =
		mb2_tag(&b, MULTIBOOT_TAG_TYPE_FRAMEBUFFER, sizeof(*c));
	c->framebuffer_addr = 0xb8000;
	c->framebuffer_width = 80;
	c->framebuffer_height = 25;
	c->framebuffer_pitch = 160;
	c->framebuffer_bpp = 16;
	c->framebuffer_type = MULTIBOOT_FRAMEBUFFER_TYPE_EGA_TEXT;
	add_mmap(&b, pc_map, 1, sizeof(struct multiboot_mmap_entry));
	CHECK_EQ(parse(&b, &boot, &why), 0);
	CHECK_EQ(boot.framebuffer.type, BOOT_FB_EGA_TEXT);
	CHECK_EQ(boot.framebuffer.phys_addr, 0xb8000);
	CHECK_EQ(boot.framebuffer.width, 80);
	CHECK_EQ(boot.framebuffer.height, 25);
	CHECK_EQ(boot.framebuffer.pitch, 160);

	/* A palette framebuffer is not something the vmkernel can draw on. */
	mb2_begin(&b);
	c = mb2_tag(&b, MULTIBOOT_TAG_TYPE_FRAMEBUFFER, sizeof(*c) + 2 + 3 * 16);
	c->framebuffer_addr = 0xa0000;
	c->framebuffer_bpp = 8;
	c->framebuffer_type = MULTIBOOT_FRAMEBUFFER_TYPE_INDEXED;
	add_mmap(&b, pc_map, 1, sizeof(struct multiboot_mmap_entry));
	CHECK_EQ(parse(&b, &boot, &why), 0);
	CHECK_EQ(boot.framebuffer.type, BOOT_FB_NONE);
}

static void check_new_rsdp_kept(void)
{
	CHECK_EQ(boot.acpi_rsdp_length, BOOT_RSDP_MAX);
	CHECK_EQ(boot.acpi_rsdp[8], 0x22);
	CHECK_EQ(boot.acpi_rsdp[BOOT_RSDP_MAX - 1], 0x22);
}

UNIT_TEST(mb2_acpi_new_rsdp_preferred_in_either_order)
{
	struct mb2_builder b;
	const char *why;

	mb2_begin(&b);
	add_rsdp(&b, MULTIBOOT_TAG_TYPE_ACPI_OLD, 20, 0x11);
	add_rsdp(&b, MULTIBOOT_TAG_TYPE_ACPI_NEW, 36, 0x22);
	add_mmap(&b, pc_map, 1, sizeof(struct multiboot_mmap_entry));
	CHECK_EQ(parse(&b, &boot, &why), 0);
	check_new_rsdp_kept();

	mb2_begin(&b);
	add_rsdp(&b, MULTIBOOT_TAG_TYPE_ACPI_NEW, 36, 0x22);
	add_rsdp(&b, MULTIBOOT_TAG_TYPE_ACPI_OLD, 20, 0x11);
	add_mmap(&b, pc_map, 1, sizeof(struct multiboot_mmap_entry));
	CHECK_EQ(parse(&b, &boot, &why), 0);
	check_new_rsdp_kept();

	/* An oversized copy is cut to what struct boot_info holds. */
	mb2_begin(&b);
	add_rsdp(&b, MULTIBOOT_TAG_TYPE_ACPI_NEW, BOOT_RSDP_MAX + 4, 0x22);
	add_mmap(&b, pc_map, 1, sizeof(struct multiboot_mmap_entry));
	CHECK_EQ(parse(&b, &boot, &why), 0);
	check_new_rsdp_kept();
}

UNIT_TEST(mb2_efi_tags_mean_uefi_mode)
{
	struct mb2_builder b;
	const char *why;

	mb2_begin(&b);
	struct multiboot_tag_efi64 *efi = mb2_tag(&b, MULTIBOOT_TAG_TYPE_EFI64, sizeof(*efi));
	efi->pointer = 0x7fe12345000;
	add_mmap(&b, pc_map, 1, sizeof(struct multiboot_mmap_entry));
	CHECK_EQ(parse(&b, &boot, &why), 0);
	CHECK_EQ(boot.mode, BOOT_MODE_UEFI);
	CHECK_EQ(boot.efi_system_table, 0x7fe12345000);

	/* Boot services not exited (EFI_BS) is UEFI too, without a table. */
	mb2_begin(&b);
	mb2_tag(&b, MULTIBOOT_TAG_TYPE_EFI_BS, 8);
	add_mmap(&b, pc_map, 1, sizeof(struct multiboot_mmap_entry));
	CHECK_EQ(parse(&b, &boot, &why), 0);
	CHECK_EQ(boot.mode, BOOT_MODE_UEFI);
	CHECK_EQ(boot.efi_system_table, 0);
}

UNIT_TEST(mb2_tags_after_end_are_ignored_and_padding_honoured)
{
	struct mb2_builder b;
	const char *why;

	mb2_begin(&b);
	add_cmdline(&b, "a"); /* size 10: the next tag starts at 8 + 16 */
	add_mmap(&b, pc_map, 1, sizeof(struct multiboot_mmap_entry));
	mb2_tag(&b, MULTIBOOT_TAG_TYPE_END, 8);
	add_cmdline(&b, "after the end");
	CHECK_EQ(parse(&b, &boot, &why), 0);
	CHECK_STR(boot.cmdline, "a");
	CHECK_EQ(boot.mem_range_count, 1);
}

/* Runs the parser on a raw block of exactly total bytes. */
static int parse_raw(const void *bytes, uint32_t length, const char **why)
{
	void *info = malloc(length);
	memcpy(info, bytes, length);
	*why = NULL;
	int rc = boot_parse_multiboot2(info, &boot, why);
	free(info);
	return rc;
}

UNIT_TEST(mb2_impossible_total_size_is_einval)
{
	const char *why;
	uint32_t tiny[2] = { 8, 0 };
	uint32_t huge[4] = { 64u << 20, 0, 0, 8 };
	uint32_t zero[4] = { 0, 0, 0, 8 };

	const char *why_no_map;
	uint32_t only_end[4] = { 16, 0, 0, 8 };

	/* The smallest valid block: only the end tag, so no memory map. */
	CHECK_EQ(parse_raw(only_end, sizeof(only_end), &why_no_map), -EINVAL);
	CHECK(why_no_map != NULL);
	CHECK_EQ(boot.magic, BOOT_INFO_MAGIC);
	/* The others are refused for their size, before any tag is read. */
	CHECK_EQ(parse_raw(tiny, sizeof(tiny), &why), -EINVAL);
	CHECK(why != NULL && why != why_no_map);
	CHECK_EQ(parse_raw(huge, sizeof(huge), &why), -EINVAL);
	CHECK(why != NULL && why != why_no_map);
	CHECK_EQ(parse_raw(zero, sizeof(zero), &why), -EINVAL);
	CHECK(why != NULL && why != why_no_map);
}

UNIT_TEST(mb2_block_claiming_more_than_1_mib_is_refused)
{
	struct mb2_builder b;
	const char *why;

	/* Well-formed tags, but the size field says 2 MiB: not GRUB's. */
	mb2_begin(&b);
	add_mmap(&b, pc_map, PC_MAP_COUNT, sizeof(struct multiboot_mmap_entry));
	uint32_t *info = mb2_finish(&b);
	info[0] = 2u << 20;
	CHECK_EQ(boot_parse_multiboot2(info, &boot, &why), -EINVAL);
	CHECK_EQ(boot.mem_range_count, 0);
	free(info);
}

UNIT_TEST(mb2_tag_past_the_end_or_too_small_is_einval)
{
	struct mb2_builder b;
	const char *why;

	/* A cmdline tag claiming more bytes than the block has. */
	mb2_begin(&b);
	add_mmap(&b, pc_map, 1, sizeof(struct multiboot_mmap_entry));
	struct multiboot_tag_string *s = mb2_tag(&b, MULTIBOOT_TAG_TYPE_CMDLINE, 16);
	memcpy(s->string, "abcdefg", 8);
	s->size = 4096;
	CHECK_EQ(parse(&b, &boot, &why), -EINVAL);
	CHECK(why != NULL);
	/* A tag smaller than its own header would never advance. */
	mb2_begin(&b);
	add_mmap(&b, pc_map, 1, sizeof(struct multiboot_mmap_entry));
	struct multiboot_tag *t = mb2_tag(&b, 0x99, 8);
	t->size = 4;
	CHECK_EQ(parse(&b, &boot, &why), -EINVAL);
	t->size = 0;
	mb2_begin(&b);
	t = mb2_tag(&b, 0x99, 8);
	t->size = 0;
	CHECK_EQ(parse(&b, &boot, &why), -EINVAL);
}

/*
 * BUG: the bounds check `off + tag->size > total` is done in 32 bits, so a
 * tag size near 4 GiB wraps around and passes. The offset then wraps
 * backwards: the parser loops for ever, or (a map tag) reads gigabytes past
 * the block. Both run in a child process: a hang or a crash fails this test
 * alone. The fix: compare tag->size > total - off.
 */
struct wrap_case {
	uint32_t bogus_type;
};

static int parse_wrapping_tag(void *arg)
{
	const struct wrap_case *c = arg;
	struct mb2_builder b;
	const char *why;

	mb2_begin(&b);
	mb2_tag(&b, 0x99, 8); /* at 8 */
	struct multiboot_tag_mmap *t = mb2_tag(&b, c->bogus_type, 16); /* at 16 */
	t->entry_size = sizeof(struct multiboot_mmap_entry);
	/* 16 + size wraps to 8: inside the block; the next offset is 8 again. */
	t->size = 0xfffffff8u;
	add_meminfo(&b, 639, 1024);
	return parse(&b, &boot, &why);
}

UNIT_TEST(mb2_tag_size_wrapping_32_bits_loops_forever)
{
	struct wrap_case c = { 0x99 };
	int rc = 0;

	CHECK_EQ(host_run_isolated(parse_wrapping_tag, &c, 2, &rc), HOST_ISOLATED_RETURNED);
	CHECK_EQ(rc, -EINVAL);
}

UNIT_TEST(mb2_map_tag_size_wrapping_32_bits_reads_past_the_block)
{
	struct wrap_case c = { MULTIBOOT_TAG_TYPE_MMAP };
	int rc = 0;

	CHECK_EQ(host_run_isolated(parse_wrapping_tag, &c, 2, &rc), HOST_ISOLATED_RETURNED);
	CHECK_EQ(rc, -EINVAL);
}

UNIT_TEST(add_mem_range_drops_empty_and_reports_full)
{
	boot_info_reset(&boot, BOOT_MODE_UEFI, BOOT_LOADER_EFI);
	CHECK_EQ(boot.magic, BOOT_INFO_MAGIC);
	CHECK_EQ(boot.mode, BOOT_MODE_UEFI);
	CHECK_EQ(boot.loader, BOOT_LOADER_EFI);
	CHECK_EQ(boot_info_add_mem_range(&boot, 0x1000, 0, BOOT_MEM_USABLE), 0);
	CHECK_EQ(boot.mem_range_count, 0);
	for (uint32_t i = 0; i < BOOT_MAX_MEM_RANGES; i++)
		CHECK_EQ(boot_info_add_mem_range(&boot, (uint64_t)i << 12, 0x1000,
						 BOOT_MEM_FIRMWARE_RUNTIME),
			 0);
	CHECK_EQ(boot_info_add_mem_range(&boot, 1ul << 40, 0x1000, BOOT_MEM_USABLE), -ENOSPC);
	CHECK_EQ(boot.mem_range_count, BOOT_MAX_MEM_RANGES);
	/* Multiboot (E820) type 7 is persistent memory, not a boot_mem_type: reserved. */
	CHECK_EQ(boot.mem_ranges[BOOT_MAX_MEM_RANGES - 1].type, BOOT_MEM_RESERVED);
	CHECK_EQ(boot.mem_ranges[BOOT_MAX_MEM_RANGES - 1].reserved, 0);
}

UNIT_MAIN()

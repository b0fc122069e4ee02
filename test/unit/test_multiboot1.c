/*
 * Multiboot1 information parsing (boot/multiboot/multiboot1_parse.c), part of
 * the multiboot unit (UNIT_MAIN is in test_multiboot.c). The info block
 * points at strings, the module list and the memory map by physical address:
 * here they live in a fake low-memory window that the phys reader serves,
 * refusing anything that is not wholly inside it.
 */
#include "unit.h"
#include "host_support.h"

#include <lib/errno.h>
#include <multiboot/multiboot.h>

#include "../../boot/multiboot/multiboot_parse.h"

#define WINDOW_PHYS 0x80000u
#define WINDOW_SIZE 0x10000u

static uint8_t *window; /* heap, exactly WINDOW_SIZE: ASan guards both ends */
static uint32_t window_used;

static const void *window_read(uint64_t phys, uint64_t length)
{
	if (phys < WINDOW_PHYS || length > WINDOW_SIZE || phys - WINDOW_PHYS > WINDOW_SIZE - length)
		return NULL;
	return window + (phys - WINDOW_PHYS);
}

static void window_reset(void)
{
	if (!window)
		window = malloc(WINDOW_SIZE);
	memset(window, 0, WINDOW_SIZE);
	window_used = 0;
}

/* Copies bytes into the window (8-aligned) and returns their phys address. */
static uint32_t window_put(const void *bytes, uint32_t length)
{
	uint32_t at = window_used;

	if (at + length > WINDOW_SIZE)
		abort();
	memcpy(window + at, bytes, length);
	window_used = (at + length + 7) & ~7u;
	return WINDOW_PHYS + at;
}

static uint32_t window_string(const char *s)
{
	return window_put(s, (uint32_t)strlen(s) + 1);
}

/* Appends a map to info, entries of 4 + entry_size bytes, as loaders lay it out. */
static void set_mmap(struct multiboot_info *info, const uint64_t (*ranges)[3], uint32_t count,
		     uint32_t entry_size)
{
	uint8_t buf[8192];
	uint32_t stride = 4 + entry_size;

	if (count * stride > sizeof(buf))
		abort();
	memset(buf, 0, sizeof(buf));
	for (uint32_t i = 0; i < count; i++) {
		struct multiboot_mmap_entry e = { entry_size, ranges[i][0], ranges[i][1],
						  (uint32_t)ranges[i][2] };
		memcpy(buf + i * stride, &e, sizeof(e));
	}
	info->flags |= MULTIBOOT_INFO_MEM_MAP;
	info->mmap_length = count * stride;
	info->mmap_addr = window_put(buf, count * stride);
}

static const uint64_t qemu_map[][3] = {
	{ 0x0, 0x9fc00, MULTIBOOT_MEMORY_AVAILABLE },
	{ 0x9fc00, 0x400, MULTIBOOT_MEMORY_RESERVED },
	{ 0xf0000, 0x10000, MULTIBOOT_MEMORY_RESERVED },
	{ 0x100000, 0x7ee0000, MULTIBOOT_MEMORY_AVAILABLE },
	{ 0x7fe0000, 0x20000, MULTIBOOT_MEMORY_RESERVED },
	{ 0xfffc0000, 0x40000, MULTIBOOT_MEMORY_RESERVED },
	{ 0x100000000, 0x80000000, MULTIBOOT_MEMORY_AVAILABLE },
};
#define QEMU_MAP_COUNT ((uint32_t)(sizeof(qemu_map) / sizeof(qemu_map[0])))

static struct boot_info boot;

UNIT_TEST(mb1_qemu_kernel_block)
{
	struct multiboot_info info = { 0 };
	struct multiboot_mod_list mods[2] = { { 0 } };
	const char *why = NULL;

	window_reset();
	info.flags = MULTIBOOT_INFO_MEMORY | MULTIBOOT_INFO_CMDLINE | MULTIBOOT_INFO_MODS;
	info.mem_lower = 639;
	info.mem_upper = 129920;
	info.cmdline = window_string("loglevel=debug poweroff");
	mods[0] = (struct multiboot_mod_list){ 0x1000000, 0x1234567, window_string("vmlinuz quiet"), 0 };
	mods[1] = (struct multiboot_mod_list){ 0x1300000, 0x1400000, 0, 0 };
	info.mods_count = 2;
	info.mods_addr = window_put(mods, sizeof(mods));
	set_mmap(&info, qemu_map, QEMU_MAP_COUNT, 20);
	CHECK_EQ(boot_parse_multiboot1(&info, window_read, &boot, &why), 0);
	CHECK_EQ(boot.magic, BOOT_INFO_MAGIC);
	CHECK_EQ(boot.mode, BOOT_MODE_BIOS);
	CHECK_EQ(boot.loader, BOOT_LOADER_MULTIBOOT1);
	CHECK_STR(boot.cmdline, "loglevel=debug poweroff");
	CHECK_EQ(boot.module_count, 2);
	CHECK_EQ(boot.modules[0].phys_start, 0x1000000);
	CHECK_EQ(boot.modules[0].phys_end, 0x1234567);
	CHECK_STR(boot.modules[0].name, "vmlinuz quiet");
	CHECK_STR(boot.modules[1].name, "");
	CHECK_EQ(boot.mem_range_count, QEMU_MAP_COUNT);
	for (uint32_t i = 0; i < QEMU_MAP_COUNT && i < boot.mem_range_count; i++) {
		CHECK_EQ(boot.mem_ranges[i].base, qemu_map[i][0]);
		CHECK_EQ(boot.mem_ranges[i].length, qemu_map[i][1]);
		CHECK_EQ(boot.mem_ranges[i].type, qemu_map[i][2]);
	}
	CHECK_EQ(boot.framebuffer.type, BOOT_FB_NONE);
	CHECK_EQ(boot.acpi_rsdp_length, 0);
}

UNIT_TEST(mb1_map_entries_step_by_their_size_field)
{
	struct multiboot_info info = { 0 };
	const char *why = NULL;

	/* The size field excludes itself; a loader may use bigger entries. */
	window_reset();
	set_mmap(&info, qemu_map, QEMU_MAP_COUNT, 28);
	CHECK_EQ(boot_parse_multiboot1(&info, window_read, &boot, &why), 0);
	CHECK_EQ(boot.mem_range_count, QEMU_MAP_COUNT);
	CHECK_EQ(boot.mem_ranges[QEMU_MAP_COUNT - 1].base, 0x100000000);
	CHECK_EQ(boot.mem_ranges[QEMU_MAP_COUNT - 1].length, 0x80000000);
	/* An entry too small to hold its fields ends the map. */
	window_reset();
	set_mmap(&info, qemu_map, QEMU_MAP_COUNT, 20);
	((struct multiboot_mmap_entry *)window_read(info.mmap_addr, info.mmap_length))[2].size = 12;
	CHECK_EQ(boot_parse_multiboot1(&info, window_read, &boot, &why), 0);
	CHECK_EQ(boot.mem_range_count, 2);
}

UNIT_TEST(mb1_unknown_memory_types_become_reserved)
{
	static const uint64_t odd[][3] = {
		{ 0x100000, 0x100000, 0 },
		{ 0x200000, 0x100000, 9 },
		{ 0x300000, 0x100000, 0xffffffff },
		{ 0x400000, 0x100000, MULTIBOOT_MEMORY_NVS },
	};
	struct multiboot_info info = { 0 };
	const char *why = NULL;

	window_reset();
	set_mmap(&info, odd, 4, 20);
	CHECK_EQ(boot_parse_multiboot1(&info, window_read, &boot, &why), 0);
	CHECK_EQ(boot.mem_ranges[0].type, BOOT_MEM_RESERVED);
	CHECK_EQ(boot.mem_ranges[1].type, BOOT_MEM_RESERVED);
	CHECK_EQ(boot.mem_ranges[2].type, BOOT_MEM_RESERVED);
	CHECK_EQ(boot.mem_ranges[3].type, BOOT_MEM_ACPI_NVS);
}

/* Was a bug (same cause as mb2_e820_types_6_and_7_must_be_reserved): an E820
 * "disabled" (6) or "persistent memory" (7) range becomes LOADER_RECLAIMABLE
 * or FIRMWARE_RUNTIME instead of RESERVED. */
UNIT_TEST(mb1_e820_types_6_and_7_must_be_reserved)
{
	static const uint64_t e820[][3] = {
		{ 0x100000, 0x100000, 6 },
		{ 0x200000, 0x100000, 7 },
	};
	struct multiboot_info info = { 0 };
	const char *why = NULL;

	window_reset();
	set_mmap(&info, e820, 2, 20);
	CHECK_EQ(boot_parse_multiboot1(&info, window_read, &boot, &why), 0);
	CHECK_EQ(boot.mem_ranges[0].type, BOOT_MEM_RESERVED);
	CHECK_EQ(boot.mem_ranges[1].type, BOOT_MEM_RESERVED);
}

UNIT_TEST(mb1_no_map_falls_back_to_mem_lower_upper)
{
	struct multiboot_info info = { 0 };
	const char *why = NULL;

	window_reset();
	info.flags = MULTIBOOT_INFO_MEMORY;
	info.mem_lower = 639;
	info.mem_upper = 31 * 1024;
	CHECK_EQ(boot_parse_multiboot1(&info, window_read, &boot, &why), 1);
	CHECK(why != NULL);
	CHECK_EQ(boot.mem_range_count, 2);
	CHECK_EQ(boot.mem_ranges[0].base, 0);
	CHECK_EQ(boot.mem_ranges[0].length, 639 * 1024);
	CHECK_EQ(boot.mem_ranges[1].base, 0x100000);
	CHECK_EQ(boot.mem_ranges[1].length, 31ul << 20);
	CHECK_EQ(boot.mem_ranges[1].type, BOOT_MEM_USABLE);
	/* A readable map without its flag bit is not looked at. */
	set_mmap(&info, qemu_map, QEMU_MAP_COUNT, 20);
	info.flags &= ~MULTIBOOT_INFO_MEM_MAP;
	CHECK_EQ(boot_parse_multiboot1(&info, window_read, &boot, &why), 1);
	CHECK_EQ(boot.mem_range_count, 2);
	/* A map flag with an unreadable map also falls back. */
	info.flags |= MULTIBOOT_INFO_MEM_MAP;
	info.mmap_addr = 0x10;
	info.mmap_length = 48;
	CHECK_EQ(boot_parse_multiboot1(&info, window_read, &boot, &why), 1);
	CHECK_EQ(boot.mem_range_count, 2);
}

UNIT_TEST(mb1_no_memory_information_is_einval)
{
	struct multiboot_info info = { 0 };
	const char *why = NULL;

	window_reset();
	info.flags = MULTIBOOT_INFO_CMDLINE;
	info.cmdline = window_string("nosmp");
	CHECK_EQ(boot_parse_multiboot1(&info, window_read, &boot, &why), -EINVAL);
	CHECK(why != NULL);
	CHECK_STR(boot.cmdline, "nosmp");
	/* Fields without their flag bit are not read. */
	info.flags = 0;
	info.mem_lower = 639;
	info.mem_upper = 1024;
	CHECK_EQ(boot_parse_multiboot1(&info, window_read, &boot, &why), -EINVAL);
	CHECK_STR(boot.cmdline, "");
}

UNIT_TEST(mb1_long_and_unreachable_strings)
{
	static char long_line[BOOT_CMDLINE_MAX + 200];
	struct multiboot_info info = { 0 };
	struct multiboot_mod_list mod = { 0 };
	const char *why = NULL;

	window_reset();
	memset(long_line, 'y', sizeof(long_line) - 1);
	long_line[sizeof(long_line) - 1] = '\0';
	info.flags = MULTIBOOT_INFO_CMDLINE | MULTIBOOT_INFO_MODS;
	info.cmdline = window_string(long_line);
	mod = (struct multiboot_mod_list){ 0x200000, 0x300000, window_string(long_line), 0 };
	info.mods_count = 1;
	info.mods_addr = window_put(&mod, sizeof(mod));
	set_mmap(&info, qemu_map, 1, 20);
	CHECK_EQ(boot_parse_multiboot1(&info, window_read, &boot, &why), 0);
	CHECK_EQ(strlen(boot.cmdline), BOOT_CMDLINE_MAX - 1);
	CHECK_EQ(strlen(boot.modules[0].name), BOOT_MODULE_NAME_MAX - 1);
	/* A command line the reader cannot reach reads as empty. */
	info.cmdline = 0x7000;
	CHECK_EQ(boot_parse_multiboot1(&info, window_read, &boot, &why), 0);
	CHECK_STR(boot.cmdline, "");
	/* So does a module list it cannot reach: no modules. */
	info.mods_addr = 0x7000;
	CHECK_EQ(boot_parse_multiboot1(&info, window_read, &boot, &why), 0);
	CHECK_EQ(boot.module_count, 0);
}

UNIT_TEST(mb1_more_modules_than_fit_keeps_the_first)
{
	struct multiboot_mod_list mods[BOOT_MAX_MODULES + 4];
	struct multiboot_info info = { 0 };
	const char *why = NULL;
	char name[16];

	window_reset();
	for (uint32_t i = 0; i < BOOT_MAX_MODULES + 4; i++) {
		snprintf(name, sizeof(name), "m%u", i);
		mods[i] = (struct multiboot_mod_list){ 0x1000000 + i * 0x10000,
						       0x1000000 + i * 0x10000 + 0x100,
						       window_string(name), 0 };
	}
	info.flags = MULTIBOOT_INFO_MODS;
	info.mods_count = BOOT_MAX_MODULES + 4;
	info.mods_addr = window_put(mods, sizeof(mods));
	set_mmap(&info, qemu_map, QEMU_MAP_COUNT, 20);
	CHECK_EQ(boot_parse_multiboot1(&info, window_read, &boot, &why), 0);
	CHECK_EQ(boot.module_count, BOOT_MAX_MODULES);
	snprintf(name, sizeof(name), "m%u", BOOT_MAX_MODULES - 1);
	CHECK_STR(boot.modules[BOOT_MAX_MODULES - 1].name, name);
	CHECK_EQ(boot.modules[BOOT_MAX_MODULES - 1].phys_start, 0x1000000 + (BOOT_MAX_MODULES - 1) * 0x10000);
}

UNIT_TEST(mb1_more_ranges_than_fit_keeps_the_first)
{
	static uint64_t many[BOOT_MAX_MEM_RANGES + 5][3];
	struct multiboot_info info = { 0 };
	const char *why = NULL;

	window_reset();
	for (uint32_t i = 0; i < BOOT_MAX_MEM_RANGES + 5; i++) {
		many[i][0] = (uint64_t)i << 20;
		many[i][1] = 1 << 20;
		many[i][2] = MULTIBOOT_MEMORY_AVAILABLE;
	}
	set_mmap(&info, many, BOOT_MAX_MEM_RANGES + 5, 20);
	CHECK_EQ(boot_parse_multiboot1(&info, window_read, &boot, &why), 0);
	CHECK_EQ(boot.mem_range_count, BOOT_MAX_MEM_RANGES);
	CHECK_EQ(boot.mem_ranges[BOOT_MAX_MEM_RANGES - 1].base, (uint64_t)(BOOT_MAX_MEM_RANGES - 1) << 20);
}

UNIT_TEST(mb1_framebuffer_rgb_and_ega_text)
{
	struct multiboot_info info = { 0 };
	const char *why = NULL;

	window_reset();
	set_mmap(&info, qemu_map, 1, 20);
	info.flags |= MULTIBOOT_INFO_FRAMEBUFFER_INFO;
	info.framebuffer_addr = 0xfd000000;
	info.framebuffer_pitch = 5120;
	info.framebuffer_width = 1280;
	info.framebuffer_height = 1024;
	info.framebuffer_bpp = 32;
	info.framebuffer_type = MULTIBOOT_FRAMEBUFFER_TYPE_RGB;
	info.framebuffer_red_field_position = 16;
	info.framebuffer_red_mask_size = 8;
	info.framebuffer_green_field_position = 8;
	info.framebuffer_green_mask_size = 8;
	info.framebuffer_blue_field_position = 0;
	info.framebuffer_blue_mask_size = 5;
	CHECK_EQ(boot_parse_multiboot1(&info, window_read, &boot, &why), 0);
	CHECK_EQ(boot.framebuffer.type, BOOT_FB_RGB);
	CHECK_EQ(boot.framebuffer.phys_addr, 0xfd000000);
	CHECK_EQ(boot.framebuffer.pitch, 5120);
	CHECK_EQ(boot.framebuffer.width, 1280);
	CHECK_EQ(boot.framebuffer.height, 1024);
	CHECK_EQ(boot.framebuffer.bpp, 32);
	CHECK_EQ(boot.framebuffer.red_shift, 16);
	CHECK_EQ(boot.framebuffer.green_shift, 8);
	CHECK_EQ(boot.framebuffer.blue_size, 5);

	info.framebuffer_addr = 0xb8000;
	info.framebuffer_width = 80;
	info.framebuffer_height = 25;
	info.framebuffer_type = MULTIBOOT_FRAMEBUFFER_TYPE_EGA_TEXT;
	CHECK_EQ(boot_parse_multiboot1(&info, window_read, &boot, &why), 0);
	CHECK_EQ(boot.framebuffer.type, BOOT_FB_EGA_TEXT);
	CHECK_EQ(boot.framebuffer.width, 80);
	CHECK_EQ(boot.framebuffer.red_size, 0);
	/* Without the flag the fields are not looked at. */
	info.flags &= ~MULTIBOOT_INFO_FRAMEBUFFER_INFO;
	CHECK_EQ(boot_parse_multiboot1(&info, window_read, &boot, &why), 0);
	CHECK_EQ(boot.framebuffer.type, BOOT_FB_NONE);
	CHECK_EQ(boot.framebuffer.phys_addr, 0);
}

/* Was a bug: the map walk adds e->size + 4 to a 32-bit offset; an entry size of
 * 0xfffffffc adds exactly 2^32, so the offset never moves and the parser
 * loops for ever. Run in a child so the hang fails only this test. */
static int parse_wrapping_map(void *arg)
{
	struct multiboot_info info = { 0 };
	const char *why = NULL;

	(void)arg;
	window_reset();
	set_mmap(&info, qemu_map, 3, 20);
	((struct multiboot_mmap_entry *)window_read(info.mmap_addr, info.mmap_length))[1].size =
		0xfffffffcu;
	return boot_parse_multiboot1(&info, window_read, &boot, &why);
}

UNIT_TEST(mb1_map_entry_size_wrapping_32_bits_loops_forever)
{
	int rc = -1;

	CHECK_EQ(host_run_isolated(parse_wrapping_map, NULL, 2, &rc), HOST_ISOLATED_RETURNED);
	CHECK_EQ(rc, 0);
}

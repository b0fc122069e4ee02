/*
 * kapsel.efi's firmware-free parts: boot.cfg parsing, the vmkernel ELF
 * checks (fed malformed images) and the sorted, merged memory-range list.
 */
#include "unit.h"

#include "../../boot/efi/boot_config.h"
#include "../../boot/efi/elf_image.h"
#include "../../boot/efi/memory_ranges.h"

static struct loader_boot_config config;
static struct loader_config_error error;

static int parse(const char *text)
{
	return loader_boot_config_parse(text, strlen(text), &config, &error);
}

UNIT_TEST(config_full)
{
	CHECK_EQ(parse("# comment\r\n\r\n  kernel = /k/vm.elf \r\ncmdline=a\tb  c\n"
		       "module=/m/one  first  text\nmodule=m/two\n"), 0);
	CHECK_STR(config.kernel_path, "\\k\\vm.elf");
	CHECK_STR(config.cmdline, "a b  c");
	CHECK_EQ(config.module_count, 2);
	CHECK_STR(config.modules[0].path, "\\m\\one");
	CHECK_STR(config.modules[0].cmdline, "first  text");
	CHECK_STR(config.modules[1].path, "\\m\\two");
	CHECK_STR(config.modules[1].cmdline, "");
}

UNIT_TEST(config_defaults)
{
	CHECK_EQ(parse("\xef\xbb\xbf# only a comment"), 0);
	CHECK_STR(config.kernel_path, LOADER_DEFAULT_KERNEL_PATH);
	CHECK_STR(config.cmdline, "");
	CHECK_EQ(config.module_count, 0);
	CHECK_EQ(parse(""), 0);
}

UNIT_TEST(config_errors_name_the_line)
{
	CHECK_EQ(parse("cmdline=a\ncmdlin=b\n"), -1);
	CHECK_EQ(error.line, 2);
	CHECK_EQ(parse("kernel=/a\nkernel=/b\n"), -1);
	CHECK_EQ(error.line, 2);
	CHECK_EQ(parse("just words\n"), -1);
	CHECK_EQ(error.line, 1);
	CHECK_EQ(parse("kernel=\n"), -1);
	CHECK_EQ(parse("kernel=/a b\n"), -1);
	CHECK_EQ(parse("module=\n"), -1);
	CHECK_EQ(parse("module=/caf\xc3\xa9 x\n"), -1);
	CHECK_EQ(parse("cmdline=a\x01\n"), -1);
	CHECK_EQ(parse("cmdline=a\0b\n") , 0); /* strlen stops at the NUL */
	CHECK_EQ(loader_boot_config_parse("cmdline=a\0b\n", 12, &config, &error), -1);
}

UNIT_TEST(config_limits)
{
	static char text[4096];
	char *p;
	int i;

	p = text + sprintf(text, "cmdline=");
	memset(p, 'x', BOOT_CMDLINE_MAX - 1);
	strcpy(p + BOOT_CMDLINE_MAX - 1, "\n");
	CHECK_EQ(parse(text), 0);
	strcpy(p + BOOT_CMDLINE_MAX - 1, "y\n");
	CHECK_EQ(parse(text), -1);

	p = text + sprintf(text, "module=/m ");
	memset(p, 'x', BOOT_MODULE_NAME_MAX - 1);
	strcpy(p + BOOT_MODULE_NAME_MAX - 1, "\n");
	CHECK_EQ(parse(text), 0);
	strcpy(p + BOOT_MODULE_NAME_MAX - 1, "y\n");
	CHECK_EQ(parse(text), -1);

	text[0] = '\0';
	for (i = 0; i < BOOT_MAX_MODULES; i++)
		strcat(text, "module=/m\n");
	CHECK_EQ(parse(text), 0);
	CHECK_EQ(config.module_count, BOOT_MAX_MODULES);
	strcat(text, "module=/m\n");
	CHECK_EQ(parse(text), -1);
	CHECK_EQ(error.line, BOOT_MAX_MODULES + 1);
}

/* A minimal vmkernel-shaped ELF: a low .boot segment and a higher-half text
 * segment holding the entry point, with .bss beyond the file bytes. */
#define HIGH(p) ((p) + 0xffffffff80000000ull)
static uint8_t image[0x3000];

static void put16(size_t off, uint16_t v) { memcpy(image + off, &v, 2); }
static void put32(size_t off, uint32_t v) { memcpy(image + off, &v, 4); }
static void put64(size_t off, uint64_t v) { memcpy(image + off, &v, 8); }

static void phdr(int i, uint32_t flags, uint64_t offset, uint64_t vaddr, uint64_t paddr,
		 uint64_t filesz, uint64_t memsz)
{
	size_t o = 64 + (size_t)i * 56;

	put32(o, 1);
	put32(o + 4, flags);
	put64(o + 8, offset);
	put64(o + 16, vaddr);
	put64(o + 24, paddr);
	put64(o + 32, filesz);
	put64(o + 40, memsz);
	put64(o + 48, 0x1000);
}

static void build_image(void)
{
	memset(image, 0, sizeof(image));
	memcpy(image, "\x7f" "ELF\x02\x01\x01", 7);
	put16(16, 2);
	put16(18, 62);
	put32(20, 1);
	put64(24, HIGH(0x201010));
	put64(32, 64);
	put16(52, 64);
	put16(54, 56);
	put16(56, 2);
	phdr(0, 7, 0x1000, 0x200000, 0x200000, 0x1000, 0x1000);
	phdr(1, 5, 0x2000, HIGH(0x201000), 0x201000, 0x1000, 0x3000);
	memset(image + 0x1000, 0xaa, 0x1000);
	memset(image + 0x2000, 0xbb, 0x1000);
}

static const char *check(void)
{
	struct loader_elf_layout layout;

	return loader_elf_check(image, sizeof(image), &layout);
}

UNIT_TEST(elf_good_image_and_copy)
{
	struct loader_elf_layout layout;
	static uint8_t loaded[0x4000];

	build_image();
	CHECK(loader_elf_check(image, sizeof(image), &layout) == NULL);
	CHECK_EQ(layout.entry, HIGH(0x201010));
	CHECK_EQ(layout.image_size, 0x4000);
	CHECK_EQ(layout.segment_count, 2);
	memset(loaded, 0x55, sizeof(loaded));
	loader_elf_copy(image, &layout, loaded);
	CHECK_EQ(loaded[0], 0xaa);
	CHECK_EQ(loaded[0xfff], 0xaa);
	CHECK_EQ(loaded[0x1000], 0xbb);
	CHECK_EQ(loaded[0x1fff], 0xbb);
	CHECK_EQ(loaded[0x2000], 0); /* .bss zeroed */
	CHECK_EQ(loaded[0x3fff], 0);
}

UNIT_TEST(elf_rejects_malformed)
{
	struct loader_elf_layout layout;

	CHECK(loader_elf_check(image, 10, &layout) != NULL);
	build_image(); image[0] = 0;          CHECK(check() != NULL);
	build_image(); image[4] = 1;          CHECK(check() != NULL); /* ELF32 */
	build_image(); image[5] = 2;          CHECK(check() != NULL); /* big endian */
	build_image(); put16(18, 3);          CHECK(check() != NULL); /* i386 */
	build_image(); put16(16, 3);          CHECK(check() != NULL); /* ET_DYN */
	build_image(); put16(54, 32);         CHECK(check() != NULL);
	build_image(); put16(56, 0);          CHECK(check() != NULL);
	build_image(); put64(32, 0x2ff0);     CHECK(check() != NULL); /* headers past the end */
	build_image(); put64(32, ~0ull);      CHECK(check() != NULL);
	build_image(); put64(24, HIGH(0x203000)); CHECK(check() != NULL); /* entry in .bss */
	build_image(); put64(24, 0x200010);   CHECK(check() != NULL); /* entry in low segment */
	build_image(); phdr(1, 5, 0x2000, HIGH(0x201000), 0x201000, 0x2000, 0x1000);
	CHECK(check() != NULL); /* filesz > memsz */
	build_image(); phdr(1, 5, 0x2800, HIGH(0x201000), 0x201000, 0x1000, 0x3000);
	CHECK(check() != NULL); /* bytes past the end */
	build_image(); phdr(1, 5, ~0ull - 10, HIGH(0x201000), 0x201000, 0x1000, 0x3000);
	CHECK(check() != NULL); /* offset overflow */
	build_image(); phdr(1, 5, 0x2000, HIGH(0x100000), 0x100000, 0x1000, 0x3000);
	CHECK(check() != NULL); /* below 2 MiB */
	build_image(); phdr(1, 5, 0x2000, HIGH(0x200800), 0x200800, 0x1000, 0x3000);
	CHECK(check() != NULL); /* overlaps .boot */
	build_image(); phdr(1, 5, 0x2000, 0x12345000, 0x201000, 0x1000, 0x3000);
	CHECK(check() != NULL); /* vaddr neither identity nor high */
	build_image(); phdr(1, 5, 0x2000, HIGH(0x201000), 0x201000, 0x1000, 1ull << 31);
	CHECK(check() != NULL); /* larger than one page directory maps */
	build_image(); phdr(1, 5, 0x2000, HIGH(0x201000), 0x201000, 0x1000, ~0ull);
	CHECK(check() != NULL); /* size overflow */
}

static struct boot_mem_range ranges[8];
static uint32_t count;

static int add(uint64_t base, uint64_t length, uint32_t type)
{
	return loader_memory_ranges_add(ranges, &count, 8, base, length, type);
}

UNIT_TEST(ranges_sorted_and_merged)
{
	count = 0;
	CHECK_EQ(add(0x3000, 0x1000, BOOT_MEM_USABLE), 0);
	CHECK_EQ(add(0x0000, 0x1000, BOOT_MEM_USABLE), 0);
	CHECK_EQ(add(0x5000, 0x1000, BOOT_MEM_RESERVED), 0);
	CHECK_EQ(count, 3);
	CHECK_EQ(ranges[0].base, 0);
	CHECK_EQ(ranges[1].base, 0x3000);
	/* Bridges [0, 0x1000) and [0x3000, 0x4000) into one range. */
	CHECK_EQ(add(0x1000, 0x2000, BOOT_MEM_USABLE), 0);
	CHECK_EQ(count, 2);
	CHECK_EQ(ranges[0].base, 0);
	CHECK_EQ(ranges[0].length, 0x4000);
	/* Same type touching from below merges into the following range. */
	CHECK_EQ(add(0x4000, 0x1000, BOOT_MEM_RESERVED), 0);
	CHECK_EQ(count, 2);
	CHECK_EQ(ranges[1].base, 0x4000);
	CHECK_EQ(ranges[1].length, 0x2000);
	/* A different type next door stays separate; empty ranges vanish. */
	CHECK_EQ(add(0x6000, 0x1000, BOOT_MEM_ACPI_NVS), 0);
	CHECK_EQ(add(0x9000, 0, BOOT_MEM_USABLE), 0);
	CHECK_EQ(count, 3);
	CHECK_EQ(ranges[2].type, BOOT_MEM_ACPI_NVS);
}

UNIT_TEST(ranges_full)
{
	uint32_t i;

	count = 0;
	for (i = 0; i < 8; i++)
		CHECK_EQ(add(i * 0x2000, 0x1000, BOOT_MEM_USABLE), 0);
	CHECK_EQ(add(0x100000, 0x1000, BOOT_MEM_USABLE), -1);
	CHECK_EQ(count, 8);
	/* Growing an existing range needs no new entry. */
	CHECK_EQ(add(0xf000, 0x1000, BOOT_MEM_USABLE), 0);
	CHECK_EQ(ranges[7].length, 0x2000);
}

UNIT_MAIN()

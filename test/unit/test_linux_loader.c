/*
 * The Linux boot protocols (vmkernel/vm/linux_loader.c) against images
 * built here: a bzImage with a setup header (64-bit entry) and an ELF64
 * vmlinux with the PVH note. Happy paths check the starting registers, the
 * zero page / hvm_start_info fields, the e820 map and where the kernel and
 * initrd went; bad headers give an error sentence, never a crash.
 *
 * Guest RAM is one flat buffer (the tests use less than 3 GiB) that starts
 * dirty (0xaa); requests crossing a page or leaving RAM are counted.
 */
#include "unit.h"
#include "host_support.h"

#include <vm/linux_loader.h>

#include <lib/errno.h>

#define MIB (1ull << 20)
#define PAGE 4096ull
#define DIRTY 0xaa

static uint8_t *ram;
static uint64_t ram_size;
static unsigned bad_requests;

static void *flat_gpa_to_host(void *ctx, uint64_t gpa, uint64_t length)
{
	(void)ctx;
	if ((gpa % PAGE) + length > PAGE || gpa + length > ram_size ||
	    (gpa < 0x100000 && gpa + length > 0x9fc00)) {
		bad_requests++;
		return NULL;
	}
	return ram + gpa;
}

static uint64_t ram_capacity;

/* dirty = false keeps the old contents (the damage test's speed). */
static struct guest_memory ram_resize(uint64_t size, bool dirty)
{
	if (size > ram_capacity) {
		free(ram);
		ram = malloc(size);
		ram_capacity = size;
		dirty = true;
	}
	if (dirty)
		memset(ram, DIRTY, size);
	ram_size = size;
	bad_requests = 0;
	return (struct guest_memory){ .size = size, .gpa_to_host = flat_gpa_to_host };
}

static struct guest_memory ram_reset(uint64_t size)
{
	return ram_resize(size, true);
}

static uint16_t u16_at(uint64_t gpa)
{
	return (uint16_t)(ram[gpa] | ram[gpa + 1] << 8);
}

static uint32_t u32_at(uint64_t gpa)
{
	uint32_t v;
	memcpy(&v, ram + gpa, 4);
	return v;
}

static uint64_t u64_at(uint64_t gpa)
{
	uint64_t v;
	memcpy(&v, ram + gpa, 8);
	return v;
}

/* ---- A bzImage: 8 sectors of setup (boot sector + 7), then the
 * protected-mode part, filled with a pattern. -------------------------- */

#define SETUP_SECTS 7
#define PM_OFFSET ((SETUP_SECTS + 1) * 512)
#define PM_SIZE 0x3000

static uint8_t bz[PM_OFFSET + PM_SIZE];

static void put16(uint8_t *p, uint16_t v) { memcpy(p, &v, 2); }
static void put32(uint8_t *p, uint32_t v) { memcpy(p, &v, 4); }
static void put64(uint8_t *p, uint64_t v) { memcpy(p, &v, 8); }

static struct guest_image make_bzimage(void)
{
	memset(bz, 0, sizeof(bz));
	bz[0x1f1] = SETUP_SECTS;
	put16(bz + 0x1fe, 0xaa55);
	bz[0x200] = 0xeb;
	bz[0x201] = 0x6a; /* header ends at 0x26c */
	memcpy(bz + 0x202, "HdrS", 4);
	put16(bz + 0x206, 0x020f);
	bz[0x211] = 0x01;                 /* LOADED_HIGH */
	put32(bz + 0x22c, 0x7fffffff);    /* initrd_addr_max */
	put32(bz + 0x230, 0x200000);      /* kernel_alignment */
	bz[0x234] = 1;                    /* relocatable */
	put16(bz + 0x236, 0x3);           /* XLF_KERNEL_64, above 4G */
	put32(bz + 0x238, 2047);          /* cmdline_size */
	put64(bz + 0x258, 0x1000000);     /* pref_address */
	put32(bz + 0x260, 0x400000);      /* init_size */
	for (unsigned i = 0; i < PM_SIZE; i++)
		bz[PM_OFFSET + i] = (uint8_t)(i * 7 + 3);
	return (struct guest_image){ .data = bz, .size = sizeof(bz), .name = "vmlinuz" };
}

static uint8_t initrd_bytes[3 * PAGE + 100];

static struct guest_image make_initrd(void)
{
	for (unsigned i = 0; i < sizeof(initrd_bytes); i++)
		initrd_bytes[i] = (uint8_t)(i * 13 + 1);
	return (struct guest_image){ .data = initrd_bytes, .size = sizeof(initrd_bytes), .name = "initrd" };
}

static const struct linux_platform platform = {
	.reserved = {
		{ 0xfee00000, 0x1000, GUEST_RAM_RESERVED },
		{ 0xe0000000, 0x10000000, GUEST_RAM_RESERVED },
	},
	.reserved_count = 2,
	.rsdp_address = 0xe0000,
};

static char error[256];
static struct guest_boot_state state;

UNIT_TEST(bzimage_starts_at_the_64bit_entry_with_a_zero_page)
{
	struct guest_memory mem = ram_reset(256 * MIB);
	struct guest_image k = make_bzimage(), initrd = make_initrd();

	CHECK(linux_is_bzimage(&k));
	CHECK(!linux_is_pvh_elf(&k));
	int rc = linux_load(&mem, &k, "console=ttyS0 quiet", &initrd, &platform, &state, error, sizeof(error));
	CHECK_EQ(rc, 0);
	CHECK_STR(error, "");
	CHECK_EQ(bad_requests, 0);
	CHECK_EQ(state.protocol, GUEST_BOOT_LINUX64);
	CHECK_EQ(state.sysregs.rip, 0x1000000 + 0x200);
	CHECK_EQ(state.gprs[VIRT_RSI], 0x1000);
	CHECK_EQ(state.kernel.start, 0x1000000);
	CHECK_EQ(state.kernel.end, 0x1400000);
	CHECK(!memcmp(ram + 0x1000000, bz + PM_OFFSET, PM_SIZE));
	/* Long mode, the boot protocol's selectors, interrupts off. */
	CHECK(state.sysregs.cr0 & (1u << 31));
	CHECK(state.sysregs.efer & (1u << 10));
	CHECK_EQ(state.sysregs.segments[VIRT_CS].selector, 0x10);
	CHECK(state.sysregs.segments[VIRT_CS].attributes & VIRT_SEG_ATTR_LONG);
	CHECK_EQ(state.sysregs.segments[VIRT_DS].selector, 0x18);
	CHECK_EQ(state.sysregs.segments[VIRT_SS].selector, 0x18);
	CHECK(!(state.sysregs.rflags & (1u << 9)));
	/* GDT slots 0x10 and 0x18: flat 64-bit code and flat data. */
	CHECK_EQ(u64_at(state.sysregs.gdtr_base + 0x10) & 0x00f0ff000000ffffull, 0x00a09b000000ffffull);
	CHECK_EQ(u64_at(state.sysregs.gdtr_base + 0x18) & 0x00f0ff000000ffffull, 0x00c093000000ffffull);
	/* Identity map: PML4[0] -> PDPT, the PD entry for 16 MiB maps 16 MiB. */
	uint64_t pdpt = u64_at(state.sysregs.cr3) & ~0xfffull;
	uint64_t pd = u64_at(pdpt) & ~0xfffull;
	CHECK_EQ(u64_at(pd + 8 * 8) & ~0xfffull, 0x1000000);
	CHECK(u64_at(pd + 8 * 8) & (1u << 7));

	/* The zero page: header copied, loader fields set. */
	uint64_t zp = 0x1000;
	CHECK_EQ(u16_at(zp + 0x1fe), 0xaa55);
	CHECK(!memcmp(ram + zp + 0x202, "HdrS", 4));
	CHECK_EQ(ram[zp + 0x210], 0xff);
	CHECK_EQ(u16_at(zp + 0x1fa), 0xffff);
	CHECK_STR((const char *)ram + u32_at(zp + 0x228), "console=ttyS0 quiet");
	CHECK_EQ(u64_at(zp + 0x070), 0xe0000);
	uint32_t initrd_at = u32_at(zp + 0x218);
	CHECK_EQ(u32_at(zp + 0x21c), sizeof(initrd_bytes));
	CHECK_EQ(initrd_at % PAGE, 0);
	CHECK(initrd_at + sizeof(initrd_bytes) <= 256 * MIB);
	CHECK(initrd_at + sizeof(initrd_bytes) > 256 * MIB - 2 * PAGE); /* as high as it goes */
	CHECK(!memcmp(ram + initrd_at, initrd_bytes, sizeof(initrd_bytes)));
	CHECK_EQ(state.module_count, 1);
	CHECK_EQ(state.modules[0].start, initrd_at);

	/* e820: RAM, the PC hole, RAM from 1 MiB, then the platform's ranges, in order. */
	CHECK_EQ(ram[zp + 0x1e8], 5);
	static const uint64_t want[5][3] = {
		{ 0, 0x9fc00, 1 }, { 0x9fc00, 0x60400, 2 }, { 0x100000, 255 * MIB, 1 },
		{ 0xe0000000, 0x10000000, 2 }, { 0xfee00000, 0x1000, 2 },
	};
	for (unsigned i = 0; i < 5; i++) {
		uint64_t e = zp + 0x2d0 + i * 20;
		CHECK_EQ(u64_at(e), want[i][0]);
		CHECK_EQ(u64_at(e + 8), want[i][1]);
		CHECK_EQ(u32_at(e + 16), want[i][2]);
	}
}

UNIT_TEST(bzimage_relocates_when_its_preferred_place_is_not_ram)
{
	struct guest_memory mem = ram_reset(32 * MIB);
	struct guest_image k = make_bzimage();

	put32(bz + 0x260, 24 * MIB); /* 16 + 24 MiB > 32 MiB of RAM */
	CHECK_EQ(linux_load(&mem, &k, NULL, NULL, NULL, &state, error, sizeof(error)), 0);
	CHECK_EQ(state.kernel.start, 2 * MIB); /* first 2 MiB-aligned place above 1 MiB */
	CHECK_EQ(state.sysregs.rip, 2 * MIB + 0x200);
	CHECK_EQ(ram[0x1000 + 0x1e8], 3);
	CHECK_EQ(u32_at(0x1000 + 0x218), 0); /* no initrd */
	CHECK_STR((const char *)ram + 0x2000, "");

	bz[0x234] = 0; /* not relocatable: refused */
	CHECK_EQ(linux_load(&mem, &k, NULL, NULL, NULL, &state, error, sizeof(error)), -ENOSPC);
	CHECK(strstr(error, "not relocatable") != NULL);
}

UNIT_TEST(initrd_stays_below_initrd_addr_max)
{
	struct guest_memory mem = ram_reset(256 * MIB);
	struct guest_image k = make_bzimage(), initrd = make_initrd();

	put32(bz + 0x22c, 64 * MIB - 1);
	CHECK_EQ(linux_load(&mem, &k, NULL, &initrd, NULL, &state, error, sizeof(error)), 0);
	CHECK(state.modules[0].end <= 64 * MIB);
	CHECK(state.modules[0].start >= state.kernel.end);

	put32(bz + 0x22c, 0x1400000 + PAGE); /* only a page above the kernel: too small */
	CHECK_EQ(linux_load(&mem, &k, NULL, &initrd, NULL, &state, error, sizeof(error)), -ENOSPC);
	CHECK(strstr(error, "initrd") != NULL);
}

UNIT_TEST(bad_bzimage_headers_are_refused_with_a_reason)
{
	struct guest_memory mem = ram_reset(64 * MIB);
	struct guest_image k;

	k = make_bzimage();
	put16(bz + 0x206, 0x020b);
	CHECK_EQ(linux_load(&mem, &k, NULL, NULL, NULL, &state, error, sizeof(error)), -ENOEXEC);
	CHECK(strstr(error, "2.12") != NULL);

	k = make_bzimage();
	put16(bz + 0x236, 0x2);
	CHECK_EQ(linux_load(&mem, &k, NULL, NULL, NULL, &state, error, sizeof(error)), -ENOEXEC);
	CHECK(strstr(error, "64-bit entry") != NULL);

	k = make_bzimage();
	bz[0x211] = 0;
	CHECK_EQ(linux_load(&mem, &k, NULL, NULL, NULL, &state, error, sizeof(error)), -ENOEXEC);

	k = make_bzimage();
	bz[0x1f1] = 200; /* setup larger than the file */
	CHECK_EQ(linux_load(&mem, &k, NULL, NULL, NULL, &state, error, sizeof(error)), -ENOEXEC);
	CHECK(strstr(error, "truncated") != NULL);

	k = make_bzimage();
	put32(bz + 0x230, 0x3000);
	CHECK_EQ(linux_load(&mem, &k, NULL, NULL, NULL, &state, error, sizeof(error)), -ENOEXEC);

	k = make_bzimage();
	put32(bz + 0x238, 10);
	CHECK_EQ(linux_load(&mem, &k, "console=ttyS0", NULL, NULL, &state, error, sizeof(error)), -EINVAL);
	CHECK(strstr(error, "command line") != NULL);

	k = make_bzimage();
	struct guest_memory tiny = ram_reset(256 * 1024);
	CHECK(linux_load(&tiny, &k, NULL, NULL, NULL, &state, error, sizeof(error)) < 0);
	CHECK(error[0] != '\0');
	CHECK_EQ(bad_requests, 0);
}

/* ---- A PVH vmlinux: ELF64 header, two program headers (LOAD, NOTE), the
 * note, then the segment's bytes. ---------------------------------------- */

static uint8_t elf[0x2000];

static struct guest_image make_pvh(bool with_note)
{
	memset(elf, 0, sizeof(elf));
	memcpy(elf, "\177ELF", 4);
	elf[4] = 2;
	elf[5] = 1;
	elf[6] = 1;
	put16(elf + 16, 2);  /* ET_EXEC */
	put16(elf + 18, 62); /* x86-64 */
	put64(elf + 24, 0xffffffff81000000ull);
	put64(elf + 32, 64); /* phoff */
	put16(elf + 54, 56);
	put16(elf + 56, 2);
	uint8_t *load = elf + 64, *note_ph = elf + 120;
	put32(load, 1);
	put64(load + 8, 0x1000);               /* offset */
	put64(load + 16, 0xffffffff81000000ull);
	put64(load + 24, 0x1000000);           /* paddr */
	put64(load + 32, 0x1000);              /* filesz */
	put64(load + 40, 0x3000);              /* memsz: bss follows */
	put32(note_ph, 4);
	put64(note_ph + 8, 0x200);
	put64(note_ph + 32, 44);
	/* Two notes: a Linux one to skip, then Xen PHYS32_ENTRY. */
	uint8_t *n = elf + 0x200;
	put32(n, 6);
	put32(n + 4, 4);
	put32(n + 8, 1);
	memcpy(n + 12, "Linux", 6);
	n += 12 + 8 + 4;
	put32(n, 4);
	put32(n + 4, 4);
	put32(n + 8, with_note ? 18 : 17);
	memcpy(n + 12, "Xen", 4);
	put32(n + 16, 0x1000040);
	for (unsigned i = 0; i < 0x1000; i++)
		elf[0x1000 + i] = (uint8_t)(i * 5 + 1);
	return (struct guest_image){ .data = elf, .size = sizeof(elf), .name = "vmlinux" };
}

UNIT_TEST(pvh_vmlinux_starts_in_protected_mode_with_start_info)
{
	struct guest_memory mem = ram_reset(128 * MIB);
	struct guest_image k = make_pvh(true), initrd = make_initrd();

	CHECK(linux_is_pvh_elf(&k));
	CHECK(!linux_is_bzimage(&k));
	CHECK_EQ(linux_load(&mem, &k, "console=ttyS0", &initrd, &platform, &state, error, sizeof(error)), 0);
	CHECK_STR(error, "");
	CHECK_EQ(bad_requests, 0);
	CHECK_EQ(state.protocol, GUEST_BOOT_PVH);
	CHECK_EQ(state.sysregs.rip, 0x1000040);
	CHECK_EQ(state.gprs[VIRT_RBX], 0x1000);
	CHECK(state.sysregs.cr0 & 1);
	CHECK(!(state.sysregs.cr0 & (1u << 31)));
	CHECK_EQ(state.sysregs.efer, 0);
	CHECK_EQ(state.sysregs.segments[VIRT_CS].selector, 0x08);
	CHECK(state.sysregs.segments[VIRT_CS].attributes & VIRT_SEG_ATTR_DB);
	CHECK(!memcmp(ram + 0x1000000, elf + 0x1000, 0x1000));
	CHECK(ram[0x1001000] == 0 && ram[0x1002fff] == 0); /* bss zeroed */

	uint64_t si = 0x1000;
	CHECK_EQ(u32_at(si), 0x336ec578);
	CHECK_EQ(u32_at(si + 4), 1);
	CHECK_EQ(u32_at(si + 12), 1);
	CHECK_STR((const char *)ram + u64_at(si + 24), "console=ttyS0");
	CHECK_EQ(u64_at(si + 32), 0xe0000);
	uint64_t mod = u64_at(si + 16);
	CHECK(!memcmp(ram + u64_at(mod), initrd_bytes, sizeof(initrd_bytes)));
	CHECK_EQ(u64_at(mod + 8), sizeof(initrd_bytes));
	uint64_t map = u64_at(si + 40);
	CHECK_EQ(u32_at(si + 48), 5);
	CHECK_EQ(u64_at(map + 2 * 24), 0x100000);
	CHECK_EQ(u64_at(map + 2 * 24 + 8), 127 * MIB);
	CHECK_EQ(u32_at(map + 4 * 24 + 16), 2);
}

UNIT_TEST(pvh_needs_its_note_and_ram_for_its_segments)
{
	struct guest_memory mem = ram_reset(128 * MIB);
	struct guest_image k = make_pvh(false);

	CHECK(!linux_is_pvh_elf(&k));
	CHECK_EQ(linux_load(&mem, &k, NULL, NULL, NULL, &state, error, sizeof(error)), -ENOEXEC);
	CHECK(strstr(error, "PVH") != NULL);

	k = make_pvh(true);
	put64(elf + 64 + 24, 0x7ff0000); /* segment runs past 128 MiB */
	put64(elf + 64 + 40, 0x100000);
	CHECK_EQ(linux_load(&mem, &k, NULL, NULL, NULL, &state, error, sizeof(error)), -ENOSPC);

	k = make_pvh(true);
	put32(elf + 0x200 + 24 + 16, 0x2000000); /* entry outside the kernel */
	CHECK_EQ(linux_load(&mem, &k, NULL, NULL, NULL, &state, error, sizeof(error)), -ENOEXEC);
	CHECK(strstr(error, "entry") != NULL);

	k = make_pvh(true);
	put64(elf + 120 + 32, 0x7fffffff); /* note size past the file */
	CHECK(!linux_is_pvh_elf(&k));
	CHECK_EQ(bad_requests, 0);
}

static uint32_t seed = 12345;
static uint32_t rng(void)
{
	seed = seed * 1103515245u + 12345u;
	return seed >> 8;
}

static int damage_images(void *arg)
{
	int failures = 0;
	(void)arg;
	for (int round = 0; round < 3000; round++) {
		struct guest_memory mem = ram_resize((rng() % 4 + 1) * 16 * MIB, false);
		struct guest_image k = round % 2 ? make_bzimage() : make_pvh(true);
		uint8_t *bytes = round % 2 ? bz : elf;
		for (int i = 0; i < 4; i++) {
			size_t at = round % 2 ? 0x1f0 + rng() % 0x80 : rng() % 0x240;
			bytes[at] = (uint8_t)rng();
		}
		if (rng() % 8 == 0)
			k.size = rng() % (k.size + 1);
		struct guest_image initrd = make_initrd();
		int rc = linux_load(&mem, &k, "x", rng() % 2 ? &initrd : NULL, &platform, &state, error,
				    sizeof(error));
		if (rc != 0 && error[0] == '\0')
			failures++;
		if (bad_requests)
			failures++;
	}
	return failures;
}

UNIT_TEST(random_damage_never_crashes)
{
	int failures = -1;
	CHECK_EQ(host_run_isolated(damage_images, NULL, 120, &failures), HOST_ISOLATED_RETURNED);
	CHECK_EQ(failures, 0);
}

UNIT_MAIN()

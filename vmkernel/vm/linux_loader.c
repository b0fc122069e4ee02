#include <vm/linux_loader.h>

#include <lib/errno.h>
#include <lib/le.h>
#include <lib/printf.h>
#include <lib/string.h>

#include <stdarg.h>

/*
 * The bzImage setup header (Documentation/arch/x86/boot.rst): offsets in the
 * image, which are also the offsets in the zero page, where the loader
 * copies the header and fills in its own fields.
 */
#define HDR_SETUP_SECTS 0x1f1
#define HDR_VID_MODE 0x1fa
#define HDR_BOOT_FLAG 0x1fe
#define HDR_JUMP 0x200
#define HDR_MAGIC 0x202
#define HDR_VERSION 0x206
#define HDR_TYPE_OF_LOADER 0x210
#define HDR_LOADFLAGS 0x211
#define HDR_RAMDISK_IMAGE 0x218
#define HDR_RAMDISK_SIZE 0x21c
#define HDR_CMD_LINE_PTR 0x228
#define HDR_INITRD_ADDR_MAX 0x22c
#define HDR_KERNEL_ALIGNMENT 0x230
#define HDR_RELOCATABLE 0x234
#define HDR_XLOADFLAGS 0x236
#define HDR_CMDLINE_SIZE 0x238
#define HDR_PREF_ADDRESS 0x258
#define HDR_INIT_SIZE 0x260
#define HDR_END_MAX 0x290 /* the setup header never reaches further */

#define BP_ACPI_RSDP_ADDR 0x070
#define BP_EXT_RAMDISK_IMAGE 0x0c0
#define BP_EXT_RAMDISK_SIZE 0x0c4
#define BP_E820_ENTRIES 0x1e8
#define BP_E820_TABLE 0x2d0

#define BOOT_FLAG 0xaa55u
#define LOADED_HIGH (1u << 0)
#define XLF_KERNEL_64 (1u << 0)
#define MIN_VERSION_64BIT_ENTRY 0x20c /* 2.12: xloadflags */
#define VERSION_HAS_CMDLINE_SIZE 0x206
#define LOADER_TYPE_UNDEFINED 0xff
#define VID_MODE_NORMAL 0xffff
#define ENTRY_64_OFFSET 0x200

/* PVH: the Xen ELF note and struct hvm_start_info (xen/include/public/arch-x86/hvm/start_info.h). */
#define ELF_PT_LOAD 1
#define ELF_PT_NOTE 4
#define XEN_ELFNOTE_PHYS32_ENTRY 18
#define HVM_START_MAGIC 0x336ec578u
#define HVM_START_VERSION 1u
#define HVM_START_INFO_SIZE 56u
#define HVM_MODLIST_ENTRY_SIZE 32u
#define HVM_MEMMAP_ENTRY_SIZE 24u
#define PVH_MAX_SEGMENTS 16u

/* Fixed places of the loader's own things (see linux_loader.h). */
#define BOOT_INFO_AT 0x1000ull
#define CMDLINE_AT 0x2000ull
#define CMDLINE_MAX 4096ull
#define GDT_AT 0x3000ull
#define TSS_AT 0x3080ull
#define STACK_TOP 0x10000ull
#define PAGE_TABLES_AT 0x10000ull
#define PAGE_TABLES_END 0x9f000ull
#define LOW_AREA_END PAGE_TABLES_END
#define SIZE_4G 0x100000000ull

/* GDT: null, 0x08 flat 32-bit code (PVH), 0x10 64-bit code and 0x18 data
 * (the 64-bit boot protocol requires __BOOT_CS = 0x10 and __BOOT_DS = 0x18),
 * 0x20 the 64-bit TSS descriptor (two slots). */
#define SEL_CODE32 0x08
#define SEL_CODE64 0x10
#define SEL_DATA 0x18
#define SEL_TSS 0x20
#define GDT_BYTES 0x30u
#define TSS_SIZE 104u
#define SEG_ATTR_CODE32 (0xbu | VIRT_SEG_ATTR_CODE_DATA | VIRT_SEG_ATTR_PRESENT | \
			 VIRT_SEG_ATTR_DB | VIRT_SEG_ATTR_GRANULARITY)
#define SEG_ATTR_CODE64 (0xbu | VIRT_SEG_ATTR_CODE_DATA | VIRT_SEG_ATTR_PRESENT | \
			 VIRT_SEG_ATTR_LONG | VIRT_SEG_ATTR_GRANULARITY)
#define SEG_ATTR_DATA (0x3u | VIRT_SEG_ATTR_CODE_DATA | VIRT_SEG_ATTR_PRESENT | \
		       VIRT_SEG_ATTR_DB | VIRT_SEG_ATTR_GRANULARITY)
#define SEG_ATTR_TSS (0xbu | VIRT_SEG_ATTR_PRESENT)

#define CR0_PE (1ull << 0)
#define CR0_ET (1ull << 4)
#define CR0_NE (1ull << 5)
#define CR0_PG (1ull << 31)
#define CR4_PAE (1ull << 5)
#define EFER_LME_BIT (1ull << 8)
#define EFER_LMA_BIT (1ull << 10)
#define PTE_PRESENT (1ull << 0)
#define PTE_WRITABLE (1ull << 1)
#define PTE_WRITE_THROUGH (1ull << 3)
#define PTE_CACHE_DISABLE (1ull << 4)
#define PTE_LARGE (1ull << 7)

struct linux_loader {
	const struct guest_memory *mem;
	char *error;
	size_t error_size;
};

/* Where the kernel goes: bzImage protected-mode part or PVH segments. */
struct linux_plan {
	enum guest_boot_protocol protocol;
	uint64_t load_address, load_end;  /* bzImage: [address, address + init_size) */
	uint64_t image_offset, image_size; /* bzImage: the protected-mode part in the file */
	uint64_t entry;
	uint16_t version;
	uint32_t initrd_addr_max;
	uint32_t cmdline_size;
	struct {
		uint64_t offset, file_size, address, memory_size;
	} segments[PVH_MAX_SEGMENTS];
	unsigned segment_count;
};

__attribute__((format(printf, 3, 4)))
static int fail(struct linux_loader *l, int code, const char *fmt, ...)
{
	if (l->error && l->error_size) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(l->error, l->error_size, fmt, ap);
		va_end(ap);
	}
	return code;
}

static uint64_t min64(uint64_t a, uint64_t b)
{
	return a < b ? a : b;
}

/* Whether [start, end) lies inside one usable RAM range of the VM. */
static bool is_usable_ram(uint64_t ram_size, uint64_t start, uint64_t end)
{
	struct guest_ram_range map[GUEST_RAM_MAP_MAX];
	unsigned count = guest_ram_map(ram_size, map);

	for (unsigned i = 0; i < count; i++)
		if (map[i].type == GUEST_RAM_USABLE && start >= map[i].base && end > start &&
		    end <= map[i].base + map[i].length)
			return true;
	return false;
}

/* End of usable RAM below 4 GiB that starts at 1 MiB (0 if none). */
static uint64_t low_ram_end(uint64_t ram_size)
{
	if (ram_size <= GUEST_HIGH_MEMORY_START)
		return 0;
	return min64(ram_size, GUEST_RAM_BELOW_4G_LIMIT);
}

static int guest_copy(struct linux_loader *l, uint64_t gpa, const void *src, uint64_t length)
{
	const uint8_t *from = src;

	while (length) {
		uint64_t chunk = min64(length, PAGE_SIZE - (gpa & (PAGE_SIZE - 1)));
		void *host = l->mem->gpa_to_host(l->mem->ctx, gpa, chunk);
		if (!host)
			return fail(l, -EFAULT, "guest RAM at 0x%llx is not accessible to the loader",
				    (unsigned long long)gpa);
		if (from) {
			memcpy(host, from, chunk);
			from += chunk;
		} else {
			memset(host, 0, chunk);
		}
		gpa += chunk;
		length -= chunk;
	}
	return 0;
}

/* ---- Recognising the images ------------------------------------------- */

bool linux_is_bzimage(const struct guest_image *kernel)
{
	return kernel && kernel->data && kernel->size >= HDR_END_MAX &&
	       !memcmp(kernel->data + HDR_MAGIC, "HdrS", 4) &&
	       le16_get(kernel->data + HDR_BOOT_FLAG) == BOOT_FLAG;
}

/* Finds the PVH entry in the ELF64 image's notes; false when absent. */
static bool find_pvh_entry(const struct guest_image *k, uint32_t *entry)
{
	const uint8_t *d = k->data;

	if (!d || k->size < 64 || memcmp(d, "\177ELF", 4) != 0 || d[4] != 2 || d[5] != 1)
		return false;
	uint64_t phoff = le64_get(d + 32);
	uint16_t phentsize = le16_get(d + 54), phnum = le16_get(d + 56);
	if (phentsize < 56 || phoff > k->size || (uint64_t)phnum * phentsize > k->size - phoff)
		return false;
	for (unsigned i = 0; i < phnum; i++) {
		const uint8_t *ph = d + phoff + (uint64_t)i * phentsize;
		if (le32_get(ph) != ELF_PT_NOTE)
			continue;
		uint64_t off = le64_get(ph + 8), size = le64_get(ph + 32);
		if (off > k->size || size > k->size - off)
			continue;
		/* Notes: namesz, descsz, type, name and desc each padded to 4. */
		uint64_t at = 0;
		while (size - at >= 12) {
			const uint8_t *n = d + off + at;
			uint64_t namesz = le32_get(n), descsz = le32_get(n + 4);
			uint64_t name_pad = (namesz + 3) & ~3ull, desc_pad = (descsz + 3) & ~3ull;
			if (name_pad > size - at - 12 || desc_pad > size - at - 12 - name_pad)
				break;
			if (le32_get(n + 8) == XEN_ELFNOTE_PHYS32_ENTRY && namesz == 4 &&
			    !memcmp(n + 12, "Xen", 4) && descsz >= 4) {
				*entry = le32_get(n + 12 + name_pad);
				return true;
			}
			at += 12 + name_pad + desc_pad;
		}
	}
	return false;
}

bool linux_is_pvh_elf(const struct guest_image *kernel)
{
	uint32_t entry;
	return kernel && find_pvh_entry(kernel, &entry);
}

/* ---- Planning ------------------------------------------------------------ */

static int plan_bzimage(struct linux_loader *l, const struct guest_image *k, uint64_t ram_size,
			struct linux_plan *plan)
{
	const uint8_t *d = k->data;
	uint16_t version = le16_get(d + HDR_VERSION);

	if (version < MIN_VERSION_64BIT_ENTRY)
		return fail(l, -ENOEXEC,
			    "bzImage boot protocol %u.%02u is too old: the 64-bit entry needs 2.12",
			    version >> 8, version & 0xff);
	if (!(le16_get(d + HDR_XLOADFLAGS) & XLF_KERNEL_64))
		return fail(l, -ENOEXEC, "bzImage has no 64-bit entry point (xloadflags bit 0)");
	if (!(d[HDR_LOADFLAGS] & LOADED_HIGH))
		return fail(l, -ENOEXEC, "bzImage is a zImage (not loaded high): not supported");
	unsigned setup_sects = d[HDR_SETUP_SECTS] ? d[HDR_SETUP_SECTS] : 4;
	uint64_t pm_offset = (uint64_t)(setup_sects + 1) * 512;
	if (pm_offset >= k->size)
		return fail(l, -ENOEXEC, "bzImage truncated: %u setup sectors but %llu bytes",
			    setup_sects, (unsigned long long)k->size);
	uint64_t init_size = le32_get(d + HDR_INIT_SIZE);
	uint64_t alignment = le32_get(d + HDR_KERNEL_ALIGNMENT);
	uint64_t pref = le64_get(d + HDR_PREF_ADDRESS);
	bool relocatable = d[HDR_RELOCATABLE] != 0;

	plan->protocol = GUEST_BOOT_LINUX64;
	plan->version = version;
	plan->image_offset = pm_offset;
	plan->image_size = k->size - pm_offset;
	plan->initrd_addr_max = le32_get(d + HDR_INITRD_ADDR_MAX);
	plan->cmdline_size = le32_get(d + HDR_CMDLINE_SIZE);
	if (init_size < plan->image_size)
		init_size = plan->image_size;
	init_size = (init_size + PAGE_SIZE - 1) & ~(PAGE_SIZE - 1);
	if (alignment < PAGE_SIZE || (alignment & (alignment - 1)))
		return fail(l, -ENOEXEC, "bzImage kernel_alignment 0x%llx is not a power of two",
			    (unsigned long long)alignment);
	if (pref < GUEST_HIGH_MEMORY_START)
		pref = GUEST_HIGH_MEMORY_START;

	uint64_t low_end = low_ram_end(ram_size);
	uint64_t at = pref, pref_end = pref + init_size;
	if (!is_usable_ram(ram_size, at, pref_end)) {
		if (!relocatable)
			return fail(l, -ENOSPC,
				    "kernel needs [0x%llx, 0x%llx) but guest RAM ends at 0x%llx, and it is not relocatable",
				    (unsigned long long)pref, (unsigned long long)pref_end,
				    (unsigned long long)low_end);
		at = (GUEST_HIGH_MEMORY_START + alignment - 1) & ~(alignment - 1);
		if (at + init_size > low_end)
			return fail(l, -ENOSPC,
				    "kernel needs %llu MiB (init_size) from 0x%llx; guest RAM below 3 GiB ends at 0x%llx",
				    (unsigned long long)(init_size >> 20), (unsigned long long)at,
				    (unsigned long long)low_end);
	}
	plan->load_address = at;
	plan->load_end = at + init_size;
	plan->entry = at + ENTRY_64_OFFSET;
	return 0;
}

static int plan_pvh(struct linux_loader *l, const struct guest_image *k, uint64_t ram_size,
		    struct linux_plan *plan)
{
	const uint8_t *d = k->data;
	uint32_t entry = 0;

	if (!find_pvh_entry(k, &entry))
		return fail(l, -ENOEXEC, "ELF kernel has no PVH entry note");
	if (le16_get(d + 16) != 2 || le16_get(d + 18) != 62)
		return fail(l, -ENOEXEC, "PVH kernel is not an x86-64 executable");
	uint64_t phoff = le64_get(d + 32);
	uint16_t phentsize = le16_get(d + 54), phnum = le16_get(d + 56);
	plan->protocol = GUEST_BOOT_PVH;
	plan->entry = entry;
	plan->load_address = UINT64_MAX;
	plan->load_end = 0;
	plan->initrd_addr_max = 0xffffffffu;
	plan->cmdline_size = CMDLINE_MAX - 1;
	for (unsigned i = 0; i < phnum; i++) {
		const uint8_t *ph = d + phoff + (uint64_t)i * phentsize;
		if (le32_get(ph) != ELF_PT_LOAD)
			continue;
		uint64_t off = le64_get(ph + 8), paddr = le64_get(ph + 24);
		uint64_t filesz = le64_get(ph + 32), memsz = le64_get(ph + 40);
		if (filesz > memsz || off > k->size || filesz > k->size - off)
			return fail(l, -ENOEXEC, "PVH kernel segment %u lies outside the file", i);
		if (!memsz)
			continue;
		if (plan->segment_count == PVH_MAX_SEGMENTS)
			return fail(l, -ENOEXEC, "PVH kernel has more than %u segments", PVH_MAX_SEGMENTS);
		uint64_t end = paddr + memsz;
		if (paddr < LOW_AREA_END || end < paddr || !is_usable_ram(ram_size, paddr, end))
			return fail(l, -ENOSPC,
				    "PVH kernel segment %u [0x%llx, 0x%llx) is not in guest RAM above the boot area",
				    i, (unsigned long long)paddr, (unsigned long long)end);
		plan->segments[plan->segment_count].offset = off;
		plan->segments[plan->segment_count].file_size = filesz;
		plan->segments[plan->segment_count].address = paddr;
		plan->segments[plan->segment_count].memory_size = memsz;
		plan->segment_count++;
		plan->load_address = min64(plan->load_address, paddr);
		if (paddr + memsz > plan->load_end)
			plan->load_end = paddr + memsz;
	}
	if (!plan->segment_count)
		return fail(l, -ENOEXEC, "PVH kernel has no loadable segment");
	if (entry < plan->load_address || entry >= plan->load_end)
		return fail(l, -ENOEXEC, "PVH entry 0x%x is outside the kernel", entry);
	return 0;
}

/* Highest page-aligned place for the initrd below its limit and low RAM's
 * end, above the kernel. */
static int place_initrd(struct linux_loader *l, const struct linux_plan *plan, uint64_t ram_size,
			uint64_t size, uint64_t *at)
{
	uint64_t top = min64(low_ram_end(ram_size), (uint64_t)plan->initrd_addr_max + 1);
	uint64_t floor = (plan->load_end + PAGE_SIZE - 1) & ~(PAGE_SIZE - 1);

	if (top < floor || size > top - floor)
		return fail(l, -ENOSPC,
			    "initrd (%llu KiB) does not fit between the kernel's end 0x%llx and 0x%llx",
			    (unsigned long long)(size >> 10), (unsigned long long)floor,
			    (unsigned long long)top);
	*at = (top - size) & ~(PAGE_SIZE - 1);
	return 0;
}

/* ---- The memory map ---------------------------------------------------- */

struct e820_entry {
	uint64_t base, length;
	uint32_t type;
};

/* RAM ranges plus the platform's reserved ranges, in address order. */
static unsigned build_memory_map(uint64_t ram_size, const struct linux_platform *platform,
				 struct e820_entry *out, unsigned max)
{
	struct guest_ram_range map[GUEST_RAM_MAP_MAX];
	unsigned count = 0, ram = guest_ram_map(ram_size, map);

	for (unsigned i = 0; i < ram && count < max; i++)
		out[count++] = (struct e820_entry){ map[i].base, map[i].length, map[i].type };
	for (unsigned i = 0; platform && i < platform->reserved_count && count < max; i++)
		out[count++] = (struct e820_entry){ platform->reserved[i].base,
						    platform->reserved[i].length, GUEST_RAM_RESERVED };
	for (unsigned i = 1; i < count; i++)
		for (unsigned j = i; j > 0 && out[j - 1].base > out[j].base; j--) {
			struct e820_entry t = out[j];
			out[j] = out[j - 1];
			out[j - 1] = t;
		}
	return count;
}

/* ---- Writing ----------------------------------------------------------- */

static uint64_t descriptor(uint32_t base, uint32_t limit, uint16_t attributes)
{
	return (uint64_t)(limit & 0xffff) | (uint64_t)(base & 0xffffff) << 16 |
	       (uint64_t)(attributes & 0xff) << 40 | (uint64_t)((limit >> 16) & 0xf) << 48 |
	       (uint64_t)((attributes >> 12) & 0xf) << 52 | (uint64_t)(base >> 24) << 56;
}

static int write_gdt(struct linux_loader *l)
{
	uint8_t gdt[GDT_BYTES] = { 0 };
	uint8_t tss[TSS_SIZE] = { 0 };

	le64_put(gdt + SEL_CODE32, descriptor(0, 0xfffff, SEG_ATTR_CODE32));
	le64_put(gdt + SEL_CODE64, descriptor(0, 0xfffff, SEG_ATTR_CODE64));
	le64_put(gdt + SEL_DATA, descriptor(0, 0xfffff, SEG_ATTR_DATA));
	le64_put(gdt + SEL_TSS, descriptor((uint32_t)TSS_AT, TSS_SIZE - 1, SEG_ATTR_TSS));
	le16_put(tss + 102, TSS_SIZE); /* no I/O bitmap */
	int rc = guest_copy(l, GDT_AT, gdt, sizeof(gdt));
	return rc ? rc : guest_copy(l, TSS_AT, tss, sizeof(tss));
}

/* Identity map of [0, max(4 GiB, RAM end)) with 2 MiB pages; the MMIO hole
 * uncached. */
static int write_page_tables(struct linux_loader *l, uint64_t ram_size)
{
	uint64_t end = guest_ram_end(ram_size);
	end = end > SIZE_4G ? (end + PAGE_SIZE_1G - 1) & ~(PAGE_SIZE_1G - 1) : SIZE_4G;
	uint64_t directories = end / PAGE_SIZE_1G;
	uint64_t pdpt = PAGE_TABLES_AT + PAGE_SIZE, first_directory = pdpt + PAGE_SIZE;
	uint8_t entries[64 * 8];
	int rc;

	if (directories > 512 || first_directory + directories * PAGE_SIZE > PAGE_TABLES_END)
		return fail(l, -ENOSPC, "guest RAM is too large for the boot identity map");
	rc = guest_copy(l, PAGE_TABLES_AT, NULL, (2 + directories) * PAGE_SIZE);
	le64_put(entries, pdpt | PTE_PRESENT | PTE_WRITABLE);
	if (!rc)
		rc = guest_copy(l, PAGE_TABLES_AT, entries, 8);
	for (uint64_t i = 0; i < directories && !rc; i++) {
		le64_put(entries, (first_directory + i * PAGE_SIZE) | PTE_PRESENT | PTE_WRITABLE);
		rc = guest_copy(l, pdpt + i * 8, entries, 8);
	}
	for (uint64_t chunk = 0; chunk < directories * 512 / 64 && !rc; chunk++) {
		for (uint64_t e = 0; e < 64; e++) {
			uint64_t address = (chunk * 64 + e) * PAGE_SIZE_2M;
			uint64_t flags = PTE_PRESENT | PTE_WRITABLE | PTE_LARGE;
			if (address >= GUEST_RAM_BELOW_4G_LIMIT && address < SIZE_4G)
				flags |= PTE_CACHE_DISABLE | PTE_WRITE_THROUGH;
			le64_put(entries + e * 8, address | flags);
		}
		rc = guest_copy(l, first_directory + chunk * sizeof(entries), entries, sizeof(entries));
	}
	return rc;
}

/* The zero page is written in place (already zeroed with the boot area):
 * the setup header copied from the image, then the loader's fields. */
static int write_zero_page(struct linux_loader *l, const struct guest_image *k, uint64_t ram_size,
			   uint64_t initrd_at, uint64_t initrd_size, const struct linux_platform *platform)
{
	struct e820_entry map[LINUX_LOADER_MAX_RESERVED + GUEST_RAM_MAP_MAX];
	uint64_t header_end = HDR_JUMP + 2 + k->data[HDR_JUMP + 1];
	uint8_t field[8];
	int rc;

	if (header_end > HDR_END_MAX)
		header_end = HDR_END_MAX;
	rc = guest_copy(l, BOOT_INFO_AT + HDR_SETUP_SECTS, k->data + HDR_SETUP_SECTS,
			header_end - HDR_SETUP_SECTS);
#define POKE(offset, bytes) \
	do { if (!rc) rc = guest_copy(l, BOOT_INFO_AT + (offset), field, (bytes)); } while (0)
	field[0] = LOADER_TYPE_UNDEFINED;
	POKE(HDR_TYPE_OF_LOADER, 1);
	le16_put(field, VID_MODE_NORMAL);
	POKE(HDR_VID_MODE, 2);
	le32_put(field, (uint32_t)CMDLINE_AT);
	POKE(HDR_CMD_LINE_PTR, 4);
	le32_put(field, (uint32_t)initrd_at);
	POKE(HDR_RAMDISK_IMAGE, 4);
	le32_put(field, (uint32_t)initrd_size);
	POKE(HDR_RAMDISK_SIZE, 4);
	le32_put(field, (uint32_t)(initrd_at >> 32));
	POKE(BP_EXT_RAMDISK_IMAGE, 4);
	le32_put(field, (uint32_t)(initrd_size >> 32));
	POKE(BP_EXT_RAMDISK_SIZE, 4);
	if (platform && platform->rsdp_address) {
		le64_put(field, platform->rsdp_address);
		POKE(BP_ACPI_RSDP_ADDR, 8);
	}
	unsigned count = build_memory_map(ram_size, platform, map, sizeof(map) / sizeof(map[0]));
	field[0] = (uint8_t)count;
	POKE(BP_E820_ENTRIES, 1);
	for (unsigned i = 0; i < count && !rc; i++) {
		uint8_t e[20];
		le64_put(e, map[i].base);
		le64_put(e + 8, map[i].length);
		le32_put(e + 16, map[i].type);
		rc = guest_copy(l, BOOT_INFO_AT + BP_E820_TABLE + i * sizeof(e), e, sizeof(e));
	}
#undef POKE
	return rc;
}

static int write_start_info(struct linux_loader *l, uint64_t ram_size, uint64_t initrd_at,
			    uint64_t initrd_size, const struct linux_platform *platform)
{
	struct e820_entry map[LINUX_LOADER_MAX_RESERVED + GUEST_RAM_MAP_MAX];
	uint8_t info[HVM_START_INFO_SIZE + HVM_MODLIST_ENTRY_SIZE +
		     (LINUX_LOADER_MAX_RESERVED + GUEST_RAM_MAP_MAX) * HVM_MEMMAP_ENTRY_SIZE] = { 0 };
	uint64_t modlist_at = BOOT_INFO_AT + HVM_START_INFO_SIZE;
	uint64_t memmap_at = modlist_at + HVM_MODLIST_ENTRY_SIZE;
	unsigned count = build_memory_map(ram_size, platform, map, sizeof(map) / sizeof(map[0]));

	le32_put(info, HVM_START_MAGIC);
	le32_put(info + 4, HVM_START_VERSION);
	le32_put(info + 12, initrd_size ? 1 : 0);
	le64_put(info + 16, initrd_size ? modlist_at : 0);
	le64_put(info + 24, CMDLINE_AT);
	le64_put(info + 32, platform ? platform->rsdp_address : 0);
	le64_put(info + 40, memmap_at);
	le32_put(info + 48, count);
	if (initrd_size) {
		le64_put(info + HVM_START_INFO_SIZE, initrd_at);
		le64_put(info + HVM_START_INFO_SIZE + 8, initrd_size);
	}
	for (unsigned i = 0; i < count; i++) {
		uint8_t *e = info + HVM_START_INFO_SIZE + HVM_MODLIST_ENTRY_SIZE + (size_t)i * HVM_MEMMAP_ENTRY_SIZE;
		le64_put(e, map[i].base);
		le64_put(e + 8, map[i].length);
		le32_put(e + 16, map[i].type);
	}
	return guest_copy(l, BOOT_INFO_AT, info, sizeof(info));
}

static struct virt_segment flat(uint16_t selector, uint16_t attributes)
{
	return (struct virt_segment){ .selector = selector, .attributes = attributes,
				      .limit = 0xffffffffu, .base = 0 };
}

/* bzImage: long mode on the identity map, CS 0x10, data 0x18, RSI = zero
 * page. PVH: 32-bit protected mode, paging off, EBX = start info. Both with
 * interrupts off and no IDT. */
static void starting_state(const struct linux_plan *plan, struct guest_boot_state *out)
{
	struct virt_sysregs *s = &out->sysregs;
	bool long_mode = plan->protocol == GUEST_BOOT_LINUX64;

	s->rip = plan->entry;
	s->rflags = 1ull << 1;
	s->cr0 = CR0_PE | CR0_ET | CR0_NE;
	if (long_mode) {
		s->cr0 |= CR0_PG;
		s->cr3 = PAGE_TABLES_AT;
		s->cr4 = CR4_PAE;
		s->efer = EFER_LME_BIT | EFER_LMA_BIT;
	}
	s->segments[VIRT_CS] = long_mode ? flat(SEL_CODE64, SEG_ATTR_CODE64) : flat(SEL_CODE32, SEG_ATTR_CODE32);
	s->segments[VIRT_DS] = flat(SEL_DATA, SEG_ATTR_DATA);
	s->segments[VIRT_ES] = flat(SEL_DATA, SEG_ATTR_DATA);
	s->segments[VIRT_SS] = flat(SEL_DATA, SEG_ATTR_DATA);
	s->segments[VIRT_FS] = flat(SEL_DATA, SEG_ATTR_DATA);
	s->segments[VIRT_GS] = flat(SEL_DATA, SEG_ATTR_DATA);
	s->segments[VIRT_LDTR] = (struct virt_segment){ 0 };
	s->segments[VIRT_TR] = (struct virt_segment){ .selector = SEL_TSS, .attributes = SEG_ATTR_TSS,
						      .limit = TSS_SIZE - 1, .base = TSS_AT };
	s->gdtr_base = GDT_AT;
	s->gdtr_limit = GDT_BYTES - 1;
	s->xcr0 = 1;
	s->pat = 0x0007040600070406ull;
	s->dr7 = 0x400;
	if (long_mode)
		out->gprs[VIRT_RSI] = BOOT_INFO_AT;
	else
		out->gprs[VIRT_RBX] = BOOT_INFO_AT;
	out->gprs[VIRT_RSP] = STACK_TOP;
	out->info_address = BOOT_INFO_AT;
}

int linux_load(const struct guest_memory *mem, const struct guest_image *kernel,
	       const char *cmdline, const struct guest_image *initrd,
	       const struct linux_platform *platform, struct guest_boot_state *out, char *error,
	       size_t error_size)
{
	struct linux_loader l = { .mem = mem, .error = error, .error_size = error_size };
	struct linux_plan plan;
	uint64_t initrd_at = 0, initrd_size = initrd && initrd->data ? initrd->size : 0;
	int rc;

	if (error && error_size)
		error[0] = '\0';
	if (!out)
		return fail(&l, -EINVAL, "no boot state to fill");
	memset(out, 0, sizeof(*out));
	memset(&plan, 0, sizeof(plan));
	if (!mem || !mem->gpa_to_host || !mem->size)
		return fail(&l, -EINVAL, "no guest memory");
	if (!kernel || !kernel->data || !kernel->size)
		return fail(&l, -EINVAL, "no kernel image");
	if (platform && platform->reserved_count > LINUX_LOADER_MAX_RESERVED)
		return fail(&l, -EINVAL, "too many reserved ranges");
	if (mem->size < PAGE_TABLES_END)
		return fail(&l, -ENOSPC, "guest RAM is smaller than the Linux boot area");
	if (linux_is_bzimage(kernel))
		rc = plan_bzimage(&l, kernel, mem->size, &plan);
	else
		rc = plan_pvh(&l, kernel, mem->size, &plan);
	if (rc)
		return rc;
	uint64_t cmdline_length = cmdline ? strlen(cmdline) : 0;
	uint64_t cmdline_max = min64(plan.cmdline_size, CMDLINE_MAX - 1);
	if (plan.protocol == GUEST_BOOT_LINUX64 && plan.version < VERSION_HAS_CMDLINE_SIZE)
		cmdline_max = 255;
	if (cmdline_length > cmdline_max)
		return fail(&l, -EINVAL, "command line has %llu bytes; the kernel takes at most %llu",
			    (unsigned long long)cmdline_length, (unsigned long long)cmdline_max);
	if (initrd_size) {
		rc = place_initrd(&l, &plan, mem->size, initrd_size, &initrd_at);
		if (rc)
			return rc;
	}

	out->protocol = plan.protocol;
	out->kernel = (struct guest_address_range){ plan.load_address, plan.load_end };
	out->boot_area = (struct guest_address_range){ BOOT_INFO_AT, PAGE_TABLES_END };
	if (initrd_size) {
		out->modules[0] = (struct guest_address_range){ initrd_at, initrd_at + initrd_size };
		out->module_count = 1;
	}

	rc = guest_copy(&l, BOOT_INFO_AT, NULL, PAGE_TABLES_AT - BOOT_INFO_AT);
	if (!rc)
		rc = guest_copy(&l, CMDLINE_AT, cmdline ? cmdline : "", cmdline_length + 1);
	if (!rc)
		rc = write_gdt(&l);
	if (!rc && plan.protocol == GUEST_BOOT_LINUX64) {
		out->page_tables = (struct guest_address_range){ PAGE_TABLES_AT, PAGE_TABLES_END };
		rc = guest_copy(&l, plan.load_address, kernel->data + plan.image_offset, plan.image_size);
		if (!rc)
			rc = write_page_tables(&l, mem->size);
		if (!rc)
			rc = write_zero_page(&l, kernel, mem->size, initrd_at, initrd_size, platform);
	} else if (!rc) {
		for (unsigned i = 0; i < plan.segment_count && !rc; i++) {
			rc = guest_copy(&l, plan.segments[i].address, kernel->data + plan.segments[i].offset,
					plan.segments[i].file_size);
			if (!rc)
				rc = guest_copy(&l, plan.segments[i].address + plan.segments[i].file_size, NULL,
						plan.segments[i].memory_size - plan.segments[i].file_size);
		}
		if (!rc)
			rc = write_start_info(&l, mem->size, initrd_at, initrd_size, platform);
	}
	if (!rc && initrd_size)
		rc = guest_copy(&l, initrd_at, initrd->data, initrd_size);
	if (rc)
		return rc;
	starting_state(&plan, out);
	return 0;
}

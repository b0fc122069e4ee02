#include <vm/guest_loader.h>

#include <lib/errno.h>
#include <lib/le.h>
#include <lib/printf.h>
#include <lib/string.h>

#include <stdarg.h>
#include <stdbool.h>

/*
 * Numbers from the Multiboot 1 (0.6.96) and Multiboot2 (2.0) specifications
 * and the ELF specification. The boot headers' own C headers are not used:
 * <multiboot/multiboot.h> and <multiboot2.h> define the same names
 * differently, and this file needs both formats.
 */
#define MB1_HEADER_MAGIC 0x1badb002u
#define MB1_SEARCH_END 8192u
#define MB1_HEADER_ALIGN 4u
#define MB1_FLAG_PAGE_ALIGN (1u << 0)
#define MB1_FLAG_MEMORY_INFO (1u << 1)
#define MB1_FLAG_VIDEO_MODE (1u << 2)
#define MB1_FLAG_AOUT_KLUDGE (1u << 16)
#define MB1_FLAGS_REQUIRED_MASK 0xffffu /* bits a loader must understand */
#define MB1_INFO_MEMORY (1u << 0)
#define MB1_INFO_CMDLINE (1u << 2)
#define MB1_INFO_MODS (1u << 3)
#define MB1_INFO_MEM_MAP (1u << 6)
#define MB1_INFO_LOADER_NAME (1u << 9)
#define MB1_INFO_SIZE 116u /* struct multiboot_info up to the framebuffer colour fields */
#define MB1_MODULE_SIZE 16u
#define MB1_MMAP_ENTRY_SIZE 24u /* the size field (20) and the 20 bytes it counts */

#define MB2_HEADER_MAGIC 0xe85250d6u
#define MB2_SEARCH_END 32768u
#define MB2_HEADER_ALIGN 8u
#define MB2_ARCHITECTURE_I386 0u
#define MB2_TAG_OPTIONAL 1u
#define MB2_HEADER_TAG_END 0
#define MB2_HEADER_TAG_INFORMATION_REQUEST 1
#define MB2_HEADER_TAG_ADDRESS 2
#define MB2_HEADER_TAG_ENTRY_ADDRESS 3
#define MB2_HEADER_TAG_CONSOLE_FLAGS 4
#define MB2_HEADER_TAG_FRAMEBUFFER 5
#define MB2_HEADER_TAG_MODULE_ALIGN 6
#define MB2_HEADER_TAG_EFI_BOOT_SERVICES 7
#define MB2_HEADER_TAG_ENTRY_ADDRESS_EFI32 8
#define MB2_HEADER_TAG_ENTRY_ADDRESS_EFI64 9
#define MB2_HEADER_TAG_RELOCATABLE 10
#define MB2_INFO_TAG_HIGHEST_KNOWN 21 /* load base address: the last the spec defines */
#define MB2_TAG_END 0
#define MB2_TAG_CMDLINE 1
#define MB2_TAG_BOOT_LOADER_NAME 2
#define MB2_TAG_MODULE 3
#define MB2_TAG_BASIC_MEMINFO 4
#define MB2_TAG_MMAP 6
#define MB2_TAG_ALIGN 8u
#define MB2_MMAP_ENTRY_SIZE 24u

#define ELF_CLASS_32 1
#define ELF_CLASS_64 2
#define ELF_DATA_LITTLE_ENDIAN 1
#define ELF_TYPE_EXECUTABLE 2
#define ELF_MACHINE_386 3
#define ELF_MACHINE_X86_64 62
#define ELF_PT_LOAD 1
#define ELF32_HEADER_SIZE 52u
#define ELF64_HEADER_SIZE 64u
#define ELF32_PROGRAM_HEADER_SIZE 32u
#define ELF64_PROGRAM_HEADER_SIZE 56u

#define SIZE_4G 0x100000000ull /* page sizes come from <arch/x86/pt.h> */

#define CR0_PE (1ull << 0)
#define CR0_ET (1ull << 4)
#define CR0_NE (1ull << 5)
#define CR0_PG (1ull << 31)
#define CR4_PAE (1ull << 5)
#define EFER_LME (1ull << 8)
#define EFER_LMA (1ull << 10)
#define RFLAGS_RESERVED_ONE (1ull << 1)
#define PAT_POWER_ON 0x0007040600070406ull
#define DR7_POWER_ON 0x400ull
#define XCR0_X87 1ull

#define PTE_PRESENT (1ull << 0)
#define PTE_WRITABLE (1ull << 1)
#define PTE_WRITE_THROUGH (1ull << 3)
#define PTE_CACHE_DISABLE (1ull << 4)
#define PTE_LARGE (1ull << 7)

/* The VMX access-rights values of the loader's segments (see virt.h). */
#define SEG_TYPE_CODE_READ_ACCESSED 0xbu
#define SEG_TYPE_DATA_WRITE_ACCESSED 0x3u
#define SEG_TYPE_TSS_BUSY 0xbu
#define SEG_ATTR_CODE32 (SEG_TYPE_CODE_READ_ACCESSED | VIRT_SEG_ATTR_CODE_DATA | \
			 VIRT_SEG_ATTR_PRESENT | VIRT_SEG_ATTR_DB | VIRT_SEG_ATTR_GRANULARITY)
#define SEG_ATTR_CODE64 (SEG_TYPE_CODE_READ_ACCESSED | VIRT_SEG_ATTR_CODE_DATA | \
			 VIRT_SEG_ATTR_PRESENT | VIRT_SEG_ATTR_LONG | VIRT_SEG_ATTR_GRANULARITY)
#define SEG_ATTR_DATA (SEG_TYPE_DATA_WRITE_ACCESSED | VIRT_SEG_ATTR_CODE_DATA | \
		       VIRT_SEG_ATTR_PRESENT | VIRT_SEG_ATTR_DB | VIRT_SEG_ATTR_GRANULARITY)
#define SEG_ATTR_TSS (SEG_TYPE_TSS_BUSY | VIRT_SEG_ATTR_PRESENT)

/* Boot area: stack, then the GDT (6 slots: null, code32, data, code64, and
 * the two-slot TSS descriptor), the TSS, then the boot information. */
#define GDT_ENTRIES 6u
#define GDT_OFFSET GUEST_LOADER_STACK_SIZE
#define TSS_OFFSET (GDT_OFFSET + 64u)
#define TSS_SIZE 104u
#define INFO_OFFSET (TSS_OFFSET + 128u)
#define LOW_BOOT_AREA_FLOOR PAGE_SIZE /* page 0 stays the guest's own */

#define LAYOUT_MAX_RANGES (GUEST_LOADER_MAX_SEGMENTS + 2 + GUEST_LOADER_MAX_MODULES)

struct loader {
	const struct guest_memory *mem;
	char *error;
	size_t error_size;
};

/* One piece of the kernel image: file bytes copied to guest RAM, the rest of
 * memory_size zeroed (bss). */
struct kernel_segment {
	uint64_t file_offset, file_size;
	uint64_t address, memory_size;
	uint64_t virtual_address; /* ELF p_vaddr, for the entry point */
	int program_header; /* ELF index for messages, -1 for an a.out-style image */
};

struct kernel_plan {
	struct kernel_segment segments[GUEST_LOADER_MAX_SEGMENTS];
	unsigned count;
	uint64_t entry;
	enum guest_boot_protocol protocol;
};

/* Ranges of guest RAM already taken, to place the loader's own things. */
struct layout {
	uint64_t ram_size;
	struct guest_address_range used[LAYOUT_MAX_RANGES];
	unsigned count;
};

__attribute__((format(printf, 3, 4)))
static int loader_fail(struct loader *loader, int code, const char *fmt, ...)
{
	if (loader->error && loader->error_size) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(loader->error, loader->error_size, fmt, ap);
		va_end(ap);
	}
	return code;
}

static uint64_t align_up(uint64_t value, uint64_t alignment)
{
	return (value + alignment - 1) & ~(alignment - 1);
}

static uint64_t min_u64(uint64_t a, uint64_t b)
{
	return a < b ? a : b;
}

/* "64 MiB", "640 KiB" or "1000 bytes", for messages. */
static const char *format_size(char *buf, size_t size, uint64_t bytes)
{
	if (bytes && !(bytes & ((1ull << 20) - 1)))
		snprintf(buf, size, "%llu MiB", (unsigned long long)(bytes >> 20));
	else if (bytes && !(bytes & 1023))
		snprintf(buf, size, "%llu KiB", (unsigned long long)(bytes >> 10));
	else
		snprintf(buf, size, "%llu bytes", (unsigned long long)bytes);
	return buf;
}

unsigned guest_ram_map(uint64_t ram_size, struct guest_ram_range out[GUEST_RAM_MAP_MAX])
{
	unsigned count = 0;

	if (!ram_size)
		return 0;
	out[count++] = (struct guest_ram_range){ 0, min_u64(ram_size, GUEST_CONVENTIONAL_END),
						 GUEST_RAM_USABLE };
	out[count++] = (struct guest_ram_range){ GUEST_CONVENTIONAL_END,
						 GUEST_HIGH_MEMORY_START - GUEST_CONVENTIONAL_END,
						 GUEST_RAM_RESERVED };
	if (ram_size > GUEST_HIGH_MEMORY_START)
		out[count++] = (struct guest_ram_range){
			GUEST_HIGH_MEMORY_START,
			min_u64(ram_size, GUEST_RAM_BELOW_4G_LIMIT) - GUEST_HIGH_MEMORY_START,
			GUEST_RAM_USABLE
		};
	if (ram_size > GUEST_RAM_BELOW_4G_LIMIT)
		out[count++] = (struct guest_ram_range){ GUEST_RAM_ABOVE_4G_START,
							 ram_size - GUEST_RAM_BELOW_4G_LIMIT,
							 GUEST_RAM_USABLE };
	return count;
}

uint64_t guest_ram_end(uint64_t ram_size)
{
	if (ram_size > GUEST_RAM_BELOW_4G_LIMIT)
		return ram_size - GUEST_RAM_BELOW_4G_LIMIT + GUEST_RAM_ABOVE_4G_START;
	return ram_size;
}

/* The usable RAM range holding gpa, or false. */
static bool usable_range_at(uint64_t ram_size, uint64_t gpa, struct guest_address_range *range)
{
	struct guest_ram_range map[GUEST_RAM_MAP_MAX];
	unsigned count = guest_ram_map(ram_size, map);

	for (unsigned i = 0; i < count; i++) {
		if (map[i].type == GUEST_RAM_USABLE && gpa >= map[i].base &&
		    gpa - map[i].base < map[i].length) {
			range->start = map[i].base;
			range->end = map[i].base + map[i].length;
			return true;
		}
	}
	return false;
}

/* The first usable RAM range starting above gpa, or false. */
static bool usable_range_after(uint64_t ram_size, uint64_t gpa, struct guest_address_range *range)
{
	struct guest_ram_range map[GUEST_RAM_MAP_MAX];
	unsigned count = guest_ram_map(ram_size, map);

	for (unsigned i = 0; i < count; i++) {
		if (map[i].type == GUEST_RAM_USABLE && map[i].base > gpa && map[i].length) {
			range->start = map[i].base;
			range->end = map[i].base + map[i].length;
			return true;
		}
	}
	return false;
}

/* Why [start, start+length) is not wholly usable guest RAM, or NULL when it
 * is. length may be 0 (then start must still be RAM). */
static const char *ram_problem(uint64_t ram_size, uint64_t start, uint64_t length)
{
	struct guest_address_range range;

	if (start >= GUEST_CONVENTIONAL_END && start < GUEST_HIGH_MEMORY_START)
		return "lies in the reserved PC area [0x9fc00, 0x100000)";
	if (start >= GUEST_RAM_BELOW_4G_LIMIT && start < GUEST_RAM_ABOVE_4G_START)
		return "lies in the MMIO hole [3 GiB, 4 GiB)";
	if (!usable_range_at(ram_size, start, &range))
		return "lies past guest RAM";
	if (length > range.end - start) {
		if (range.end == GUEST_CONVENTIONAL_END)
			return "runs into the reserved PC area [0x9fc00, 0x100000)";
		if (range.end == GUEST_RAM_BELOW_4G_LIMIT && ram_size > GUEST_RAM_BELOW_4G_LIMIT)
			return "runs into the MMIO hole [3 GiB, 4 GiB)";
		return "runs past guest RAM";
	}
	return NULL;
}

static bool ranges_overlap(uint64_t a_start, uint64_t a_end, uint64_t b_start, uint64_t b_end)
{
	return a_start < b_end && b_start < a_end;
}

/* The end of a used range overlapping [start, end), or 0 when none does. */
static uint64_t layout_blocker_end(const struct layout *layout, uint64_t start, uint64_t end)
{
	for (unsigned i = 0; i < layout->count; i++)
		if (ranges_overlap(start, end, layout->used[i].start, layout->used[i].end))
			return layout->used[i].end;
	return 0;
}

static void layout_take(struct layout *layout, uint64_t start, uint64_t end)
{
	if (start == end || layout->count == LAYOUT_MAX_RANGES)
		return; /* empty ranges block nothing; the count is sized for the worst case */
	layout->used[layout->count++] = (struct guest_address_range){ start, end };
}

/*
 * Lowest aligned place at or above `from` for size bytes that is free and in
 * usable RAM, ending at or below limit. Each step moves the candidate up past
 * whatever blocked it, so the search ends.
 */
static bool layout_find_up(struct layout *layout, uint64_t from, uint64_t size, uint64_t alignment,
			   uint64_t limit, uint64_t *found)
{
	uint64_t candidate = align_up(from, alignment);
	struct guest_address_range range;

	while (candidate < limit && size <= limit - candidate) {
		if (!usable_range_at(layout->ram_size, candidate, &range)) {
			if (!usable_range_after(layout->ram_size, candidate, &range))
				return false;
			candidate = align_up(range.start, alignment);
			continue;
		}
		if (size > range.end - candidate) {
			candidate = range.end;
			continue;
		}
		uint64_t blocker_end = layout_blocker_end(layout, candidate, candidate + size);
		if (blocker_end) {
			candidate = align_up(blocker_end, alignment);
			continue;
		}
		*found = candidate;
		layout_take(layout, candidate, candidate + size);
		return true;
	}
	return false;
}

/* Highest aligned free place for size bytes inside [floor, ceiling), all of
 * which the caller knows to be usable RAM. */
static bool layout_find_down(struct layout *layout, uint64_t floor, uint64_t ceiling, uint64_t size,
			     uint64_t alignment, uint64_t *found)
{
	uint64_t top = ceiling;

	while (top > floor && size <= top - floor) {
		uint64_t candidate = (top - size) & ~(alignment - 1);
		if (candidate < floor)
			return false;
		bool blocked = false;
		for (unsigned i = 0; i < layout->count; i++) {
			if (ranges_overlap(candidate, candidate + size, layout->used[i].start,
					   layout->used[i].end)) {
				top = layout->used[i].start;
				blocked = true;
				break;
			}
		}
		if (!blocked) {
			*found = candidate;
			layout_take(layout, candidate, candidate + size);
			return true;
		}
	}
	return false;
}

/* Copies length bytes (src NULL: zeros) to guest RAM one page at a time, so
 * gpa_to_host never sees a range crossing a page. */
static int guest_write(struct loader *loader, uint64_t gpa, const void *src, uint64_t length)
{
	const uint8_t *from = src;

	while (length) {
		uint64_t chunk = min_u64(length, PAGE_SIZE - (gpa & (PAGE_SIZE - 1)));
		void *host = loader->mem->gpa_to_host(loader->mem->ctx, gpa, chunk);
		if (!host)
			return loader_fail(loader, -EFAULT,
					   "guest RAM at 0x%llx is not accessible to the loader",
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

/* ---- Kernel images: what goes where ------------------------------------ */

static bool is_elf(const struct guest_image *image)
{
	return image->size >= 4 && !memcmp(image->data, "\177ELF", 4);
}

/*
 * ELF executables load by physical address (p_paddr), so a kernel linked
 * to run high (p_vaddr) still lands in guest RAM; its entry point, a virtual
 * address, is translated through the segment holding it.
 */
static int elf_plan(struct loader *loader, const struct guest_image *image, bool allow_elf32,
		    struct kernel_plan *plan)
{
	const uint8_t *data = image->data;
	uint64_t size = image->size;

	if (!is_elf(image) || size < 16)
		return loader_fail(loader, -ENOEXEC, "not an ELF file");
	unsigned elf_class = data[4];
	if (elf_class != ELF_CLASS_32 && elf_class != ELF_CLASS_64)
		return loader_fail(loader, -ENOEXEC, "ELF class %u is unknown", elf_class);
	if (data[5] != ELF_DATA_LITTLE_ENDIAN)
		return loader_fail(loader, -ENOEXEC, "big-endian ELF is not supported");
	if (data[6] != 1)
		return loader_fail(loader, -ENOEXEC, "ELF version %u is unknown", data[6]);
	bool is64 = elf_class == ELF_CLASS_64;
	uint64_t header_size = is64 ? ELF64_HEADER_SIZE : ELF32_HEADER_SIZE;
	if (size < header_size)
		return loader_fail(loader, -ENOEXEC, "ELF header truncated: the file has %llu bytes",
				   (unsigned long long)size);
	if (!is64 && !allow_elf32)
		return loader_fail(loader, -ENOEXEC,
				   "ELF32 kernel without a Multiboot header: 32-bit kernels start only through Multiboot");
	uint16_t type = le16_get(data + 16);
	uint16_t machine = le16_get(data + 18);
	if (type != ELF_TYPE_EXECUTABLE)
		return loader_fail(loader, -ENOEXEC,
				   "ELF type %u is not supported: only executables (ET_EXEC) load", type);
	unsigned expected_machine = is64 ? ELF_MACHINE_X86_64 : ELF_MACHINE_386;
	if (machine != expected_machine)
		return loader_fail(loader, -ENOEXEC, "ELF%u machine %u is not supported (expected %u)",
				   is64 ? 64u : 32u, machine, expected_machine);

	uint64_t entry = is64 ? le64_get(data + 24) : le32_get(data + 24);
	uint64_t phoff = is64 ? le64_get(data + 32) : le32_get(data + 28);
	uint64_t phentsize = le16_get(data + (is64 ? 54 : 42));
	uint64_t phnum = le16_get(data + (is64 ? 56 : 44));
	uint64_t phdr_size = is64 ? ELF64_PROGRAM_HEADER_SIZE : ELF32_PROGRAM_HEADER_SIZE;
	if (!phnum)
		return loader_fail(loader, -ENOEXEC, "ELF has no program headers");
	if (phentsize < phdr_size)
		return loader_fail(loader, -ENOEXEC, "ELF program header size %llu is below %llu",
				   (unsigned long long)phentsize, (unsigned long long)phdr_size);
	if (phoff > size || phnum * phentsize > size - phoff)
		return loader_fail(loader, -ENOEXEC,
				   "ELF program headers (%llu at 0x%llx) run past the end of the file (%llu bytes)",
				   (unsigned long long)phnum, (unsigned long long)phoff,
				   (unsigned long long)size);

	plan->count = 0;
	for (uint64_t i = 0; i < phnum; i++) {
		const uint8_t *ph = data + phoff + i * phentsize;
		if (le32_get(ph) != ELF_PT_LOAD)
			continue;
		uint64_t offset = is64 ? le64_get(ph + 8) : le32_get(ph + 4);
		uint64_t vaddr = is64 ? le64_get(ph + 16) : le32_get(ph + 8);
		uint64_t paddr = is64 ? le64_get(ph + 24) : le32_get(ph + 12);
		uint64_t filesz = is64 ? le64_get(ph + 32) : le32_get(ph + 16);
		uint64_t memsz = is64 ? le64_get(ph + 40) : le32_get(ph + 20);
		if (offset > size || filesz > size - offset)
			return loader_fail(loader, -ENOEXEC,
					   "ELF segment %llu: file bytes 0x%llx + 0x%llx run past the end of the file (%llu bytes)",
					   (unsigned long long)i, (unsigned long long)offset,
					   (unsigned long long)filesz, (unsigned long long)size);
		if (memsz < filesz)
			return loader_fail(loader, -ENOEXEC,
					   "ELF segment %llu: p_memsz 0x%llx is smaller than p_filesz 0x%llx",
					   (unsigned long long)i, (unsigned long long)memsz,
					   (unsigned long long)filesz);
		if (!memsz)
			continue;
		if (paddr + memsz < paddr || vaddr + memsz < vaddr)
			return loader_fail(loader, -ENOEXEC,
					   "ELF segment %llu at 0x%llx: size 0x%llx wraps around the address space",
					   (unsigned long long)i, (unsigned long long)paddr,
					   (unsigned long long)memsz);
		if (plan->count == GUEST_LOADER_MAX_SEGMENTS)
			return loader_fail(loader, -ENOEXEC, "ELF has more than %u loadable segments",
					   GUEST_LOADER_MAX_SEGMENTS);
		plan->segments[plan->count++] = (struct kernel_segment){
			.file_offset = offset, .file_size = filesz, .address = paddr,
			.memory_size = memsz, .virtual_address = vaddr, .program_header = (int)i,
		};
	}
	if (!plan->count)
		return loader_fail(loader, -ENOEXEC, "ELF has no loadable segments");

	for (unsigned i = 0; i < plan->count; i++) {
		const struct kernel_segment *segment = &plan->segments[i];
		if (entry >= segment->virtual_address &&
		    entry - segment->virtual_address < segment->memory_size) {
			plan->entry = segment->address + (entry - segment->virtual_address);
			return 0;
		}
	}
	return loader_fail(loader, -ENOEXEC, "ELF entry point 0x%llx is in no loadable segment",
			   (unsigned long long)entry);
}

/* The a.out-style load fields of a Multiboot1 header (flag 16) or a
 * Multiboot2 address tag. */
struct aout_fields {
	uint64_t header_offset; /* where the Multiboot header is in the file */
	uint32_t header_addr, load_addr, load_end_addr, bss_end_addr;
	bool load_from_file_start; /* Multiboot2 load_addr = -1 */
};

/*
 * The file from (header offset - (header_addr - load_addr)) is loaded at
 * load_addr: up to load_end_addr (0: to the end of the file), then zeroed to
 * bss_end_addr (0: no bss).
 */
static int aout_plan(struct loader *loader, const struct guest_image *image,
		     const struct aout_fields *fields, struct kernel_plan *plan)
{
	uint64_t file_offset, load_addr = fields->load_addr;

	if (fields->load_from_file_start) {
		if (fields->header_offset > fields->header_addr)
			return loader_fail(loader, -ENOEXEC,
					   "header_addr 0x%x is below the header's file offset 0x%llx",
					   fields->header_addr,
					   (unsigned long long)fields->header_offset);
		file_offset = 0;
		load_addr = fields->header_addr - fields->header_offset;
	} else {
		if (fields->load_addr > fields->header_addr)
			return loader_fail(loader, -ENOEXEC, "load_addr 0x%x is above header_addr 0x%x",
					   fields->load_addr, fields->header_addr);
		uint64_t header_distance = fields->header_addr - fields->load_addr;
		if (header_distance > fields->header_offset)
			return loader_fail(loader, -ENOEXEC,
					   "load_addr 0x%x would start loading 0x%llx bytes before the file's first byte",
					   fields->load_addr,
					   (unsigned long long)(header_distance - fields->header_offset));
		file_offset = fields->header_offset - header_distance;
	}

	uint64_t file_size;
	if (!fields->load_end_addr) {
		file_size = image->size - file_offset;
	} else {
		if (fields->load_end_addr < load_addr)
			return loader_fail(loader, -ENOEXEC, "load_end_addr 0x%x is below load_addr 0x%llx",
					   fields->load_end_addr, (unsigned long long)load_addr);
		file_size = fields->load_end_addr - load_addr;
		if (file_size > image->size - file_offset)
			return loader_fail(loader, -ENOEXEC,
					   "load_end_addr 0x%x asks for 0x%llx bytes from file offset 0x%llx, past the end of the file (%llu bytes)",
					   fields->load_end_addr, (unsigned long long)file_size,
					   (unsigned long long)file_offset,
					   (unsigned long long)image->size);
	}
	uint64_t memory_end = load_addr + file_size;
	if (fields->bss_end_addr) {
		if (fields->bss_end_addr < memory_end)
			return loader_fail(loader, -ENOEXEC, "bss_end_addr 0x%x is below the loaded end 0x%llx",
					   fields->bss_end_addr, (unsigned long long)memory_end);
		memory_end = fields->bss_end_addr;
	}
	if (memory_end > SIZE_4G)
		return loader_fail(loader, -ENOEXEC, "the image at 0x%llx runs past 4 GiB",
				   (unsigned long long)load_addr);
	plan->segments[0] = (struct kernel_segment){
		.file_offset = file_offset, .file_size = file_size, .address = load_addr,
		.memory_size = memory_end - load_addr, .virtual_address = load_addr,
		.program_header = -1,
	};
	plan->count = 1;
	return 0;
}

/* A Multiboot header candidate: the magic was found at offset. */
struct header_scan {
	bool found;             /* a header with a valid checksum */
	uint64_t offset;
	bool bad_checksum;      /* the magic appeared with a wrong checksum */
	uint64_t bad_offset;
};

static void scan_multiboot1(const struct guest_image *image, struct header_scan *scan)
{
	uint64_t end = min_u64(image->size, MB1_SEARCH_END);

	for (uint64_t offset = 0; offset + 12 <= end; offset += MB1_HEADER_ALIGN) {
		const uint8_t *p = image->data + offset;
		if (le32_get(p) != MB1_HEADER_MAGIC)
			continue;
		if ((uint32_t)(le32_get(p) + le32_get(p + 4) + le32_get(p + 8)) == 0) {
			scan->found = true;
			scan->offset = offset;
			return;
		}
		if (!scan->bad_checksum) {
			scan->bad_checksum = true;
			scan->bad_offset = offset;
		}
	}
}

static void scan_multiboot2(const struct guest_image *image, struct header_scan *scan)
{
	uint64_t end = min_u64(image->size, MB2_SEARCH_END);

	for (uint64_t offset = 0; offset + 16 <= end; offset += MB2_HEADER_ALIGN) {
		const uint8_t *p = image->data + offset;
		if (le32_get(p) != MB2_HEADER_MAGIC)
			continue;
		if ((uint32_t)(le32_get(p) + le32_get(p + 4) + le32_get(p + 8) + le32_get(p + 12)) == 0) {
			scan->found = true;
			scan->offset = offset;
			return;
		}
		if (!scan->bad_checksum) {
			scan->bad_checksum = true;
			scan->bad_offset = offset;
		}
	}
}

/*
 * Multiboot1: flags bits 0-15 are requirements a loader must understand or
 * refuse; 0 (page-aligned modules) and 1 (memory information) always hold
 * here; 2 (video mode) is accepted but a VM has no framebuffer to report,
 * so the information's video flags stay clear. With bit 16 the header's
 * a.out fields take precedence over any ELF headers.
 */
static int multiboot1_plan(struct loader *loader, const struct guest_image *image, uint64_t offset,
			   struct kernel_plan *plan)
{
	const uint8_t *header = image->data + offset;
	uint32_t flags = le32_get(header + 4);
	uint32_t unknown = flags & MB1_FLAGS_REQUIRED_MASK &
			   ~(MB1_FLAG_PAGE_ALIGN | MB1_FLAG_MEMORY_INFO | MB1_FLAG_VIDEO_MODE);

	plan->protocol = GUEST_BOOT_MULTIBOOT1;
	if (unknown)
		return loader_fail(loader, -ENOEXEC,
				   "Multiboot1 header requires unknown features (flags 0x%x)", unknown);
	if (!(flags & MB1_FLAG_AOUT_KLUDGE)) {
		if (!is_elf(image))
			return loader_fail(loader, -ENOEXEC,
					   "Multiboot1 kernel is not ELF and its header has no a.out fields (flag 16)");
		return elf_plan(loader, image, true, plan);
	}

	if (image->size - offset < 32)
		return loader_fail(loader, -ENOEXEC,
				   "Multiboot1 header at 0x%llx is truncated: the a.out fields run past the end of the file",
				   (unsigned long long)offset);
	struct aout_fields fields = {
		.header_offset = offset,
		.header_addr = le32_get(header + 12),
		.load_addr = le32_get(header + 16),
		.load_end_addr = le32_get(header + 20),
		.bss_end_addr = le32_get(header + 24),
	};
	int rc = aout_plan(loader, image, &fields, plan);
	if (rc)
		return rc;
	plan->entry = le32_get(header + 28);
	return 0;
}

/*
 * Multiboot2: the header tags that change loading are honoured (address,
 * entry address); module alignment always holds (modules are page aligned);
 * console, framebuffer, EFI and relocation tags ask for things a VM started
 * this way does not have or need, so they are ignored. An information
 * request is refused only for a tag type the specification does not define:
 * a known one that is unavailable is simply absent, as the spec allows.
 */
static int multiboot2_plan(struct loader *loader, const struct guest_image *image, uint64_t offset,
			   struct kernel_plan *plan)
{
	const uint8_t *header = image->data + offset;
	uint32_t architecture = le32_get(header + 4);
	uint64_t header_length = le32_get(header + 8);
	struct aout_fields address = { .header_offset = offset };
	bool has_address = false, has_entry = false, has_end = false;
	uint32_t entry = 0;

	plan->protocol = GUEST_BOOT_MULTIBOOT2;
	if (architecture != MB2_ARCHITECTURE_I386)
		return loader_fail(loader, -ENOEXEC, "Multiboot2 architecture %u is not i386",
				   architecture);
	if (header_length < 16 + 8 || header_length > image->size - offset)
		return loader_fail(loader, -ENOEXEC,
				   "Multiboot2 header at 0x%llx: header_length %llu does not fit the file",
				   (unsigned long long)offset, (unsigned long long)header_length);
	if (offset + header_length > MB2_SEARCH_END)
		return loader_fail(loader, -ENOEXEC,
				   "Multiboot2 header at 0x%llx (%llu bytes) does not end within the first 32 KiB",
				   (unsigned long long)offset, (unsigned long long)header_length);

	uint64_t end = offset + header_length;
	for (uint64_t pos = offset + 16; pos < end;) {
		if (end - pos < 8)
			return loader_fail(loader, -ENOEXEC, "Multiboot2 header tag at 0x%llx is truncated",
					   (unsigned long long)pos);
		const uint8_t *tag = image->data + pos;
		uint16_t type = le16_get(tag);
		bool optional = le16_get(tag + 2) & MB2_TAG_OPTIONAL;
		uint64_t size = le32_get(tag + 4);
		if (size < 8 || size > end - pos)
			return loader_fail(loader, -ENOEXEC,
					   "Multiboot2 header tag %u at 0x%llx has a bad size %llu",
					   type, (unsigned long long)pos, (unsigned long long)size);
		if (type == MB2_HEADER_TAG_END) {
			has_end = true;
			break;
		}
		switch (type) {
		case MB2_HEADER_TAG_INFORMATION_REQUEST:
			for (uint64_t at = 8; at + 4 <= size; at += 4) {
				uint32_t wanted = le32_get(tag + at);
				if (wanted > MB2_INFO_TAG_HIGHEST_KNOWN && !optional)
					return loader_fail(loader, -ENOEXEC,
							   "Multiboot2 header requests information tag %u, which is unknown",
							   wanted);
			}
			break;
		case MB2_HEADER_TAG_ADDRESS:
			if (size < 24)
				return loader_fail(loader, -ENOEXEC, "Multiboot2 address tag is truncated");
			address.header_addr = le32_get(tag + 8);
			address.load_addr = le32_get(tag + 12);
			address.load_end_addr = le32_get(tag + 16);
			address.bss_end_addr = le32_get(tag + 20);
			address.load_from_file_start = address.load_addr == 0xffffffffu;
			has_address = true;
			break;
		case MB2_HEADER_TAG_ENTRY_ADDRESS:
			if (size < 12)
				return loader_fail(loader, -ENOEXEC, "Multiboot2 entry address tag is truncated");
			entry = le32_get(tag + 8);
			has_entry = true;
			break;
		case MB2_HEADER_TAG_CONSOLE_FLAGS:
		case MB2_HEADER_TAG_FRAMEBUFFER:
		case MB2_HEADER_TAG_MODULE_ALIGN:
		case MB2_HEADER_TAG_EFI_BOOT_SERVICES:
		case MB2_HEADER_TAG_ENTRY_ADDRESS_EFI32:
		case MB2_HEADER_TAG_ENTRY_ADDRESS_EFI64:
		case MB2_HEADER_TAG_RELOCATABLE:
			break;
		default:
			if (!optional)
				return loader_fail(loader, -ENOEXEC,
						   "Multiboot2 header tag %u is not supported", type);
			break;
		}
		pos += align_up(size, MB2_TAG_ALIGN);
	}
	if (!has_end)
		return loader_fail(loader, -ENOEXEC, "Multiboot2 header has no end tag");

	if (!has_address && !is_elf(image))
		return loader_fail(loader, -ENOEXEC,
				   "Multiboot2 kernel is not ELF and its header has no address tag");
	int rc;
	if (has_address)
		rc = aout_plan(loader, image, &address, plan);
	else
		rc = elf_plan(loader, image, true, plan);
	if (rc)
		return rc;
	if (has_entry)
		plan->entry = entry;
	else if (has_address)
		return loader_fail(loader, -ENOEXEC,
				   "Multiboot2 header has an address tag but no entry address tag");
	return 0;
}

/* Every segment in usable RAM, below 4 GiB for a 32-bit start, none
 * overlapping another, and the entry point inside one of them. */
static int check_kernel_placement(struct loader *loader, uint64_t ram_size,
				  const struct kernel_plan *plan)
{
	char ram_text[32];
	bool protected_mode = plan->protocol != GUEST_BOOT_ELF64;

	format_size(ram_text, sizeof(ram_text), ram_size);
	for (unsigned i = 0; i < plan->count; i++) {
		const struct kernel_segment *a = &plan->segments[i];
		char what[32];
		if (a->program_header >= 0)
			snprintf(what, sizeof(what), "ELF segment %d", a->program_header);
		else
			snprintf(what, sizeof(what), "the kernel image");
		if (protected_mode && (a->address >= SIZE_4G || a->memory_size > SIZE_4G - a->address))
			return loader_fail(loader, -ENOEXEC,
					   "%s at 0x%llx (0x%llx bytes) runs past 4 GiB, out of reach of a 32-bit kernel",
					   what, (unsigned long long)a->address,
					   (unsigned long long)a->memory_size);
		const char *problem = ram_problem(ram_size, a->address, a->memory_size);
		if (problem)
			return loader_fail(loader, -ENOSPC, "%s at 0x%llx (0x%llx bytes) %s (%s)", what,
					   (unsigned long long)a->address,
					   (unsigned long long)a->memory_size, problem, ram_text);
		for (unsigned j = 0; j < i; j++) {
			const struct kernel_segment *b = &plan->segments[j];
			if (ranges_overlap(a->address, a->address + a->memory_size, b->address,
					   b->address + b->memory_size))
				return loader_fail(loader, -ENOEXEC,
						   "ELF segments %d and %d overlap at 0x%llx",
						   b->program_header, a->program_header,
						   (unsigned long long)(a->address > b->address ? a->address
											: b->address));
		}
	}
	for (unsigned i = 0; i < plan->count; i++) {
		const struct kernel_segment *segment = &plan->segments[i];
		if (plan->entry >= segment->address &&
		    plan->entry - segment->address < segment->memory_size)
			return 0;
	}
	return loader_fail(loader, -ENOEXEC, "entry point 0x%llx is outside the loaded kernel",
			   (unsigned long long)plan->entry);
}

static int plan_kernel(struct loader *loader, const struct guest_image *image,
		       struct kernel_plan *plan)
{
	struct header_scan mb2 = { 0 }, mb1 = { 0 };

	scan_multiboot2(image, &mb2);
	if (mb2.found)
		return multiboot2_plan(loader, image, mb2.offset, plan);
	scan_multiboot1(image, &mb1);
	if (mb1.found)
		return multiboot1_plan(loader, image, mb1.offset, plan);
	if (mb2.bad_checksum)
		return loader_fail(loader, -ENOEXEC, "Multiboot2 header at 0x%llx has a bad checksum",
				   (unsigned long long)mb2.bad_offset);
	if (mb1.bad_checksum)
		return loader_fail(loader, -ENOEXEC, "Multiboot1 header at 0x%llx has a bad checksum",
				   (unsigned long long)mb1.bad_offset);
	if (!is_elf(image))
		return loader_fail(loader, -ENOEXEC,
				   "not a kernel: no Multiboot header in the first 32 KiB and no ELF header");
	plan->protocol = GUEST_BOOT_ELF64;
	return elf_plan(loader, image, false, plan);
}

/* ---- Boot information ----------------------------------------------------- */

/*
 * Appends the boot information at base. It runs twice: first with write
 * false only to learn the size (to place the boot area), then writing.
 */
struct info_writer {
	struct loader *loader;
	bool write;
	uint64_t base;
	uint64_t used;
	int status;
};

static uint64_t info_put(struct info_writer *w, const void *data, uint64_t length)
{
	uint64_t at = w->base + w->used;

	if (w->write && !w->status)
		w->status = guest_write(w->loader, at, data, length);
	w->used += length;
	return at;
}

static void info_align(struct info_writer *w, uint64_t alignment)
{
	uint64_t padded = align_up(w->used, alignment);

	if (padded != w->used)
		info_put(w, NULL, padded - w->used);
}

static void info_patch(struct info_writer *w, uint64_t at, const void *data, uint64_t length)
{
	if (w->write && !w->status)
		w->status = guest_write(w->loader, at, data, length);
}

static uint64_t info_put_string(struct info_writer *w, const char *text)
{
	return info_put(w, text, strlen(text) + 1);
}

struct boot_inputs {
	uint64_t ram_size;
	const char *cmdline;
	const struct guest_image *modules;
	unsigned module_count;
	const struct guest_address_range *module_ranges; /* zeros while measuring */
};

static const char *module_string(const struct guest_image *module)
{
	return module->name ? module->name : "";
}

static void multiboot1_info(struct info_writer *w, const struct boot_inputs *in)
{
	struct guest_ram_range map[GUEST_RAM_MAP_MAX];
	unsigned map_count = guest_ram_map(in->ram_size, map);
	uint8_t info[MB1_INFO_SIZE] = { 0 };
	uint64_t info_at = info_put(w, NULL, MB1_INFO_SIZE);

	uint64_t cmdline_at = info_put_string(w, in->cmdline);
	uint64_t name_at = info_put_string(w, GUEST_LOADER_NAME);

	info_align(w, 8);
	uint64_t mmap_at = w->base + w->used;
	for (unsigned i = 0; i < map_count; i++) {
		uint8_t entry[MB1_MMAP_ENTRY_SIZE];
		le32_put(entry, MB1_MMAP_ENTRY_SIZE - 4);
		le64_put(entry + 4, map[i].base);
		le64_put(entry + 12, map[i].length);
		le32_put(entry + 20, map[i].type);
		info_put(w, entry, sizeof(entry));
	}

	uint64_t modules_at = info_put(w, NULL, (uint64_t)in->module_count * MB1_MODULE_SIZE);
	for (unsigned i = 0; i < in->module_count; i++) {
		uint8_t entry[MB1_MODULE_SIZE] = { 0 };
		uint64_t string_at = info_put_string(w, module_string(&in->modules[i]));
		le32_put(entry, (uint32_t)in->module_ranges[i].start);
		le32_put(entry + 4, (uint32_t)in->module_ranges[i].end);
		le32_put(entry + 8, (uint32_t)string_at);
		info_patch(w, modules_at + (uint64_t)i * MB1_MODULE_SIZE, entry, sizeof(entry));
	}

	le32_put(info + 0, MB1_INFO_MEMORY | MB1_INFO_CMDLINE | MB1_INFO_MODS | MB1_INFO_MEM_MAP |
				    MB1_INFO_LOADER_NAME);
	uint64_t low_end = min_u64(in->ram_size, GUEST_CONVENTIONAL_END);
	uint64_t high_end = min_u64(in->ram_size, GUEST_RAM_BELOW_4G_LIMIT);
	le32_put(info + 4, (uint32_t)(low_end >> 10));
	le32_put(info + 8, high_end > GUEST_HIGH_MEMORY_START
				    ? (uint32_t)((high_end - GUEST_HIGH_MEMORY_START) >> 10) : 0);
	le32_put(info + 16, (uint32_t)cmdline_at);
	le32_put(info + 20, in->module_count);
	le32_put(info + 24, (uint32_t)modules_at);
	le32_put(info + 44, map_count * MB1_MMAP_ENTRY_SIZE);
	le32_put(info + 48, (uint32_t)mmap_at);
	le32_put(info + 64, (uint32_t)name_at);
	info_patch(w, info_at, info, sizeof(info));
}

static void multiboot2_string_tag(struct info_writer *w, uint32_t type, const char *text)
{
	uint8_t tag[8];
	uint64_t length = strlen(text) + 1;

	info_align(w, MB2_TAG_ALIGN);
	le32_put(tag, type);
	le32_put(tag + 4, (uint32_t)(sizeof(tag) + length));
	info_put(w, tag, sizeof(tag));
	info_put(w, text, length);
}

static void multiboot2_info(struct info_writer *w, const struct boot_inputs *in)
{
	struct guest_ram_range map[GUEST_RAM_MAP_MAX];
	unsigned map_count = guest_ram_map(in->ram_size, map);
	uint8_t header[8] = { 0 };
	uint64_t info_at = info_put(w, NULL, sizeof(header));

	multiboot2_string_tag(w, MB2_TAG_CMDLINE, in->cmdline);
	multiboot2_string_tag(w, MB2_TAG_BOOT_LOADER_NAME, GUEST_LOADER_NAME);
	for (unsigned i = 0; i < in->module_count; i++) {
		const char *text = module_string(&in->modules[i]);
		uint64_t length = strlen(text) + 1;
		uint8_t tag[16];
		info_align(w, MB2_TAG_ALIGN);
		le32_put(tag, MB2_TAG_MODULE);
		le32_put(tag + 4, (uint32_t)(sizeof(tag) + length));
		le32_put(tag + 8, (uint32_t)in->module_ranges[i].start);
		le32_put(tag + 12, (uint32_t)in->module_ranges[i].end);
		info_put(w, tag, sizeof(tag));
		info_put(w, text, length);
	}

	uint8_t meminfo[16];
	uint64_t low_end = min_u64(in->ram_size, GUEST_CONVENTIONAL_END);
	uint64_t high_end = min_u64(in->ram_size, GUEST_RAM_BELOW_4G_LIMIT);
	info_align(w, MB2_TAG_ALIGN);
	le32_put(meminfo, MB2_TAG_BASIC_MEMINFO);
	le32_put(meminfo + 4, sizeof(meminfo));
	le32_put(meminfo + 8, (uint32_t)(low_end >> 10));
	le32_put(meminfo + 12, high_end > GUEST_HIGH_MEMORY_START
					? (uint32_t)((high_end - GUEST_HIGH_MEMORY_START) >> 10) : 0);
	info_put(w, meminfo, sizeof(meminfo));

	uint8_t mmap[16];
	info_align(w, MB2_TAG_ALIGN);
	le32_put(mmap, MB2_TAG_MMAP);
	le32_put(mmap + 4, (uint32_t)sizeof(mmap) + map_count * MB2_MMAP_ENTRY_SIZE);
	le32_put(mmap + 8, MB2_MMAP_ENTRY_SIZE);
	le32_put(mmap + 12, 0); /* entry_version */
	info_put(w, mmap, sizeof(mmap));
	for (unsigned i = 0; i < map_count; i++) {
		uint8_t entry[MB2_MMAP_ENTRY_SIZE] = { 0 };
		le64_put(entry, map[i].base);
		le64_put(entry + 8, map[i].length);
		le32_put(entry + 16, map[i].type);
		info_put(w, entry, sizeof(entry));
	}

	uint8_t end_tag[8] = { 0 };
	info_align(w, MB2_TAG_ALIGN);
	le32_put(end_tag, MB2_TAG_END);
	le32_put(end_tag + 4, sizeof(end_tag));
	info_put(w, end_tag, sizeof(end_tag));

	le32_put(header, (uint32_t)w->used);
	info_patch(w, info_at, header, sizeof(header));
}

static void build_info(struct info_writer *w, enum guest_boot_protocol protocol,
		       const struct boot_inputs *in)
{
	if (protocol == GUEST_BOOT_MULTIBOOT1)
		multiboot1_info(w, in);
	else
		multiboot2_info(w, in);
}

/* ---- CPU state and tables -------------------------------------------------- */

static uint64_t gdt_descriptor(uint32_t base, uint32_t limit, uint16_t attributes)
{
	/* The descriptor scatters base and limit; the access byte and the
	 * AVL/L/D/G nibble are the VMX attributes' low byte and bits 12-15. */
	return (uint64_t)(limit & 0xffff) | (uint64_t)(base & 0xffffff) << 16 |
	       (uint64_t)(attributes & 0xff) << 40 | (uint64_t)((limit >> 16) & 0xf) << 48 |
	       (uint64_t)((attributes >> 12) & 0xf) << 52 | (uint64_t)(base >> 24) << 56;
}

static int write_gdt_and_tss(struct loader *loader, uint64_t gdt_at, uint64_t tss_at)
{
	uint8_t gdt[GDT_ENTRIES * 8] = { 0 };
	uint8_t tss[TSS_SIZE] = { 0 };

	/* Limits in descriptors are in 4 KiB units when G is set. */
	le64_put(gdt + GUEST_SELECTOR_CODE32, gdt_descriptor(0, 0xfffff, SEG_ATTR_CODE32));
	le64_put(gdt + GUEST_SELECTOR_DATA, gdt_descriptor(0, 0xfffff, SEG_ATTR_DATA));
	le64_put(gdt + GUEST_SELECTOR_CODE64, gdt_descriptor(0, 0xfffff, SEG_ATTR_CODE64));
	/* The 64-bit TSS descriptor's second slot holds base bits 32-63: 0. */
	le64_put(gdt + GUEST_SELECTOR_TSS, gdt_descriptor((uint32_t)tss_at, TSS_SIZE - 1, SEG_ATTR_TSS));
	le16_put(tss + 102, TSS_SIZE); /* I/O map base past the limit: no I/O bitmap */
	int rc = guest_write(loader, gdt_at, gdt, sizeof(gdt));
	return rc ? rc : guest_write(loader, tss_at, tss, sizeof(tss));
}

/* 1 GiB-granular end of the identity map: all of [0, 4 GiB) and all RAM. */
static uint64_t identity_map_end(uint64_t ram_size)
{
	uint64_t end = align_up(guest_ram_end(ram_size), PAGE_SIZE_1G);
	return end > SIZE_4G ? end : SIZE_4G;
}

/* PML4, one PDPT, one page directory per GiB. */
static uint64_t page_table_bytes(uint64_t ram_size)
{
	return (2 + identity_map_end(ram_size) / PAGE_SIZE_1G) * PAGE_SIZE;
}

/*
 * Identity map with 2 MiB pages, writable, supervisor. The MMIO hole
 * [3 GiB, 4 GiB) is mapped uncached, as device memory must be.
 */
static int write_page_tables(struct loader *loader, uint64_t at, uint64_t ram_size)
{
	uint64_t directories = identity_map_end(ram_size) / PAGE_SIZE_1G;
	uint64_t pdpt = at + PAGE_SIZE;
	uint64_t first_directory = at + 2 * PAGE_SIZE;
	uint8_t entries[64 * 8];
	int rc;

	rc = guest_write(loader, at, NULL, page_table_bytes(ram_size));
	le64_put(entries, pdpt | PTE_PRESENT | PTE_WRITABLE);
	if (!rc)
		rc = guest_write(loader, at, entries, 8);
	for (uint64_t i = 0; i < directories && !rc; i++) {
		le64_put(entries, (first_directory + i * PAGE_SIZE) | PTE_PRESENT | PTE_WRITABLE);
		rc = guest_write(loader, pdpt + i * 8, entries, 8);
	}
	for (uint64_t chunk = 0; chunk < directories * 512 / 64 && !rc; chunk++) {
		for (uint64_t e = 0; e < 64; e++) {
			uint64_t address = (chunk * 64 + e) * PAGE_SIZE_2M;
			uint64_t flags = PTE_PRESENT | PTE_WRITABLE | PTE_LARGE;
			if (address >= GUEST_RAM_BELOW_4G_LIMIT && address < SIZE_4G)
				flags |= PTE_CACHE_DISABLE | PTE_WRITE_THROUGH;
			le64_put(entries + e * 8, address | flags);
		}
		rc = guest_write(loader, first_directory + chunk * sizeof(entries), entries,
				 sizeof(entries));
	}
	return rc;
}

static struct virt_segment flat_segment(uint16_t selector, uint16_t attributes)
{
	return (struct virt_segment){ .selector = selector, .attributes = attributes,
				      .limit = 0xffffffffu, .base = 0 };
}

/*
 * Multiboot's machine state: protected mode, paging off, flat 4 GiB CS
 * (execute/read, 32-bit) and data segments, IF = 0. ELF64 kernels start
 * in long mode on the identity map instead. A20 needs nothing: a VM has no
 * A20 gate, so it is always on.
 */
static void initial_cpu_state(struct guest_boot_state *out, uint64_t gdt_at, uint64_t tss_at,
			      uint64_t page_tables_at)
{
	struct virt_sysregs *s = &out->sysregs;
	bool long_mode = out->protocol == GUEST_BOOT_ELF64;

	s->rflags = RFLAGS_RESERVED_ONE;
	s->cr0 = CR0_PE | CR0_ET | CR0_NE;
	if (long_mode) {
		s->cr0 |= CR0_PG;
		s->cr3 = page_tables_at;
		s->cr4 = CR4_PAE;
		s->efer = EFER_LME | EFER_LMA;
	}
	s->segments[VIRT_CS] = long_mode ? flat_segment(GUEST_SELECTOR_CODE64, SEG_ATTR_CODE64)
					 : flat_segment(GUEST_SELECTOR_CODE32, SEG_ATTR_CODE32);
	s->segments[VIRT_DS] = flat_segment(GUEST_SELECTOR_DATA, SEG_ATTR_DATA);
	s->segments[VIRT_ES] = flat_segment(GUEST_SELECTOR_DATA, SEG_ATTR_DATA);
	s->segments[VIRT_SS] = flat_segment(GUEST_SELECTOR_DATA, SEG_ATTR_DATA);
	s->segments[VIRT_FS] = flat_segment(GUEST_SELECTOR_DATA, SEG_ATTR_DATA);
	s->segments[VIRT_GS] = flat_segment(GUEST_SELECTOR_DATA, SEG_ATTR_DATA);
	s->segments[VIRT_LDTR] = (struct virt_segment){ 0 }; /* unusable */
	s->segments[VIRT_TR] = (struct virt_segment){ .selector = GUEST_SELECTOR_TSS,
						      .attributes = SEG_ATTR_TSS,
						      .limit = TSS_SIZE - 1, .base = tss_at };
	s->gdtr_base = gdt_at;
	s->gdtr_limit = GDT_ENTRIES * 8 - 1;
	/* No IDT: an exception before the kernel loads its own is a triple
	 * fault, which the VM reports, rather than a jump through garbage. */
	s->idtr_base = 0;
	s->idtr_limit = 0;
	s->xcr0 = XCR0_X87;
	s->pat = PAT_POWER_ON;
	s->dr7 = DR7_POWER_ON;

	switch (out->protocol) {
	case GUEST_BOOT_MULTIBOOT1:
		out->gprs[VIRT_RAX] = GUEST_MULTIBOOT1_BOOT_MAGIC;
		out->gprs[VIRT_RBX] = out->info_address;
		break;
	case GUEST_BOOT_MULTIBOOT2:
		out->gprs[VIRT_RAX] = GUEST_MULTIBOOT2_BOOT_MAGIC;
		out->gprs[VIRT_RBX] = out->info_address;
		break;
	case GUEST_BOOT_ELF64:
	default:
		out->gprs[VIRT_RDI] = out->info_address;
		out->gprs[VIRT_RSI] = 0;
		break;
	}
	out->gprs[VIRT_RSP] = out->boot_area.start + GUEST_LOADER_STACK_SIZE;
}

/* ---- The whole load -------------------------------------------------------- */

static int check_inputs(struct loader *loader, const struct guest_memory *mem,
			const struct guest_image *kernel, const char *cmdline,
			const struct guest_image *modules, unsigned module_count)
{
	if (!mem || !mem->gpa_to_host)
		return loader_fail(loader, -EINVAL, "no guest memory");
	if (!mem->size)
		return loader_fail(loader, -EINVAL, "guest RAM size is 0");
	if (!kernel || !kernel->data || !kernel->size)
		return loader_fail(loader, -EINVAL, "no kernel image");
	if (cmdline && strnlen(cmdline, GUEST_LOADER_STRING_MAX) == GUEST_LOADER_STRING_MAX)
		return loader_fail(loader, -EINVAL, "command line is longer than %u bytes",
				   GUEST_LOADER_STRING_MAX - 1);
	if (module_count > GUEST_LOADER_MAX_MODULES)
		return loader_fail(loader, -EINVAL, "%u modules: at most %u are supported",
				   module_count, GUEST_LOADER_MAX_MODULES);
	if (module_count && !modules)
		return loader_fail(loader, -EINVAL, "no module list");
	for (unsigned i = 0; i < module_count; i++) {
		if (!modules[i].data && modules[i].size)
			return loader_fail(loader, -EINVAL, "module %u has no data", i);
		if (strnlen(module_string(&modules[i]), GUEST_LOADER_STRING_MAX) == GUEST_LOADER_STRING_MAX)
			return loader_fail(loader, -EINVAL, "module %u's string is longer than %u bytes",
					   i, GUEST_LOADER_STRING_MAX - 1);
	}
	return 0;
}

/* Boot area, page tables and modules placed around the kernel; nothing
 * written yet. */
static int place_everything(struct loader *loader, const struct kernel_plan *plan,
			    uint64_t info_size, struct layout *layout, struct guest_boot_state *out,
			    const struct guest_image *modules, unsigned module_count)
{
	uint64_t ram_size = layout->ram_size;
	uint64_t boot_area_size = align_up(INFO_OFFSET + info_size, PAGE_SIZE);
	uint64_t low_ceiling = min_u64(ram_size, GUEST_LOADER_BOOT_AREA_END) & ~(PAGE_SIZE - 1);
	uint64_t at;
	char ram_text[32], size_text[32];

	format_size(ram_text, sizeof(ram_text), ram_size);
	for (unsigned i = 0; i < plan->count; i++)
		layout_take(layout, plan->segments[i].address,
			    plan->segments[i].address + plan->segments[i].memory_size);

	if (!layout_find_down(layout, LOW_BOOT_AREA_FLOOR, low_ceiling, boot_area_size, PAGE_SIZE,
			      &at) &&
	    !layout_find_up(layout, GUEST_HIGH_MEMORY_START, boot_area_size, PAGE_SIZE,
			    GUEST_RAM_BELOW_4G_LIMIT, &at))
		return loader_fail(loader, -ENOSPC,
				   "no room for the boot information (%s) in guest RAM (%s) beside the kernel",
				   format_size(size_text, sizeof(size_text), boot_area_size), ram_text);
	out->boot_area = (struct guest_address_range){ at, at + boot_area_size };
	out->info_address = at + INFO_OFFSET;

	if (plan->protocol == GUEST_BOOT_ELF64) {
		uint64_t bytes = page_table_bytes(ram_size);
		if (bytes > 514 * PAGE_SIZE)
			return loader_fail(loader, -ENOSPC,
					   "guest RAM (%s) is too large for the ELF64 loader's identity map (512 GiB)",
					   ram_text);
		if (!layout_find_up(layout, out->kernel.end, bytes, PAGE_SIZE,
				    GUEST_RAM_BELOW_4G_LIMIT, &at) &&
		    !layout_find_up(layout, LOW_BOOT_AREA_FLOOR, bytes, PAGE_SIZE,
				    GUEST_RAM_BELOW_4G_LIMIT, &at))
			return loader_fail(loader, -ENOSPC,
					   "no room for the page tables (%s) in guest RAM (%s) beside the kernel",
					   format_size(size_text, sizeof(size_text), bytes), ram_text);
		out->page_tables = (struct guest_address_range){ at, at + bytes };
	}

	/* Modules' addresses are 32-bit in the boot information. */
	for (unsigned i = 0; i < module_count; i++) {
		uint64_t size = modules[i].size;
		if (!layout_find_up(layout, out->kernel.end, size, PAGE_SIZE,
				    GUEST_RAM_BELOW_4G_LIMIT, &at) &&
		    !layout_find_up(layout, LOW_BOOT_AREA_FLOOR, size, PAGE_SIZE,
				    GUEST_RAM_BELOW_4G_LIMIT, &at))
			return loader_fail(loader, -ENOSPC,
					   "module %u (%s, %s) does not fit in guest RAM (%s) beside the kernel and the modules before it",
					   i, module_string(&modules[i]),
					   format_size(size_text, sizeof(size_text), size), ram_text);
		out->modules[i] = (struct guest_address_range){ at, at + size };
	}
	out->module_count = module_count;
	return 0;
}

static int write_everything(struct loader *loader, const struct guest_image *kernel,
			    const struct kernel_plan *plan, const struct boot_inputs *inputs,
			    struct guest_boot_state *out)
{
	int rc = 0;

	for (unsigned i = 0; i < plan->count && !rc; i++) {
		const struct kernel_segment *s = &plan->segments[i];
		rc = guest_write(loader, s->address, kernel->data + s->file_offset, s->file_size);
		if (!rc)
			rc = guest_write(loader, s->address + s->file_size, NULL,
					 s->memory_size - s->file_size);
	}
	for (unsigned i = 0; i < inputs->module_count && !rc; i++)
		rc = guest_write(loader, out->modules[i].start, inputs->modules[i].data,
				 inputs->modules[i].size);
	if (!rc && plan->protocol == GUEST_BOOT_ELF64)
		rc = write_page_tables(loader, out->page_tables.start, inputs->ram_size);
	if (!rc)
		rc = guest_write(loader, out->boot_area.start, NULL,
				 out->boot_area.end - out->boot_area.start);
	if (!rc)
		rc = write_gdt_and_tss(loader, out->boot_area.start + GDT_OFFSET,
				       out->boot_area.start + TSS_OFFSET);
	if (rc)
		return rc;

	struct info_writer writer = { .loader = loader, .write = true, .base = out->info_address };
	build_info(&writer, plan->protocol, inputs);
	return writer.status;
}

int guest_load(const struct guest_memory *mem, const struct guest_image *kernel,
	       const char *cmdline, const struct guest_image *modules, unsigned module_count,
	       struct guest_boot_state *out, char *error, size_t error_size)
{
	struct loader loader = { .mem = mem, .error = error, .error_size = error_size };
	struct kernel_plan plan = { 0 };
	struct layout layout = { 0 };
	int rc;

	if (error && error_size)
		error[0] = '\0';
	if (!out)
		return loader_fail(&loader, -EINVAL, "no boot state to fill");
	memset(out, 0, sizeof(*out));
	rc = check_inputs(&loader, mem, kernel, cmdline, modules, module_count);
	if (rc)
		return rc;
	rc = plan_kernel(&loader, kernel, &plan);
	if (rc)
		return rc;
	rc = check_kernel_placement(&loader, mem->size, &plan);
	if (rc)
		return rc;

	out->protocol = plan.protocol;
	out->kernel = (struct guest_address_range){ plan.segments[0].address,
						    plan.segments[0].address + plan.segments[0].memory_size };
	for (unsigned i = 1; i < plan.count; i++) {
		const struct kernel_segment *s = &plan.segments[i];
		if (s->address < out->kernel.start)
			out->kernel.start = s->address;
		if (s->address + s->memory_size > out->kernel.end)
			out->kernel.end = s->address + s->memory_size;
	}

	struct boot_inputs inputs = { .ram_size = mem->size, .cmdline = cmdline ? cmdline : "",
				      .modules = modules, .module_count = module_count,
				      .module_ranges = out->modules };
	struct info_writer measure = { .loader = &loader };
	build_info(&measure, plan.protocol, &inputs);

	layout.ram_size = mem->size;
	rc = place_everything(&loader, &plan, measure.used, &layout, out, modules, module_count);
	if (rc)
		return rc;
	rc = write_everything(&loader, kernel, &plan, &inputs, out);
	if (rc)
		return rc;

	out->sysregs.rip = plan.entry;
	initial_cpu_state(out, out->boot_area.start + GDT_OFFSET, out->boot_area.start + TSS_OFFSET,
			  out->page_tables.start);
	return 0;
}

/*
 * The vmkernel is an ELF64 executable (System V ABI, x86-64 supplement):
 * a 64-byte file header, then e_phnum 56-byte program headers at e_phoff.
 * Each PT_LOAD segment says where its bytes sit in the file (p_offset,
 * p_filesz), where they go in memory (p_paddr), and how big the segment is
 * there (p_memsz >= p_filesz; the rest is zero, .bss). Our link script puts
 * the low .boot segment at VMA = LMA = 0x200000 and everything else at
 * VMA = LMA + 0xffffffff80000000, so the loader only checks those two shapes.
 * Every size and offset is checked against overflow: this file is input.
 */
#include "elf_image.h"

#include <boot_info.h>

#define ELF_CLASS_64 2
#define ELF_DATA_LITTLE_ENDIAN 1
#define ELF_VERSION_CURRENT 1
#define ELF_TYPE_EXECUTABLE 2
#define ELF_MACHINE_X86_64 62
#define ELF_SEGMENT_LOAD 1
#define ELF_SEGMENT_FLAG_EXECUTE 1

#define KERNEL_VIRT_OFFSET_FROM_PHYS (BOOT_KERNEL_VIRT_BASE - BOOT_KERNEL_DEFAULT_PHYS)

struct elf64_file_header {
	uint8_t ident[16];
	uint16_t type;
	uint16_t machine;
	uint32_t version;
	uint64_t entry;
	uint64_t program_header_offset;
	uint64_t section_header_offset;
	uint32_t flags;
	uint16_t header_size;
	uint16_t program_header_size;
	uint16_t program_header_count;
	uint16_t section_header_size;
	uint16_t section_header_count;
	uint16_t section_name_index;
};

struct elf64_program_header {
	uint32_t type;
	uint32_t flags;
	uint64_t offset;
	uint64_t virtual_address;
	uint64_t physical_address;
	uint64_t file_size;
	uint64_t memory_size;
	uint64_t alignment;
};

_Static_assert(sizeof(struct elf64_file_header) == 64, "ELF64 file header is 64 bytes");
_Static_assert(sizeof(struct elf64_program_header) == 56, "ELF64 program header is 56 bytes");

static void copy_bytes(void *dest, const void *src, uint64_t n)
{
	uint8_t *d = dest;
	const uint8_t *s = src;

	while (n--)
		*d++ = *s++;
}

static void zero_bytes(void *dest, uint64_t n)
{
	uint8_t *d = dest;

	while (n--)
		*d++ = 0;
}

static const char *check_header(const struct elf64_file_header *header, uint64_t file_size)
{
	const uint8_t *id = header->ident;

	if (id[0] != 0x7f || id[1] != 'E' || id[2] != 'L' || id[3] != 'F')
		return "not an ELF file (bad magic)";
	if (id[4] != ELF_CLASS_64)
		return "not a 64-bit ELF file";
	if (id[5] != ELF_DATA_LITTLE_ENDIAN)
		return "not a little-endian ELF file";
	if (id[6] != ELF_VERSION_CURRENT || header->version != ELF_VERSION_CURRENT)
		return "unknown ELF version";
	if (header->type != ELF_TYPE_EXECUTABLE)
		return "ELF file is not an executable";
	if (header->machine != ELF_MACHINE_X86_64)
		return "ELF file is not for x86-64";
	if (header->program_header_size != sizeof(struct elf64_program_header))
		return "unexpected ELF program header size";
	if (header->program_header_count == 0)
		return "ELF file has no program headers";
	if (header->program_header_offset > file_size ||
	    (uint64_t)header->program_header_count * sizeof(struct elf64_program_header) >
		    file_size - header->program_header_offset)
		return "ELF program headers lie beyond the end of the file";
	return 0;
}

static const char *check_segment(const struct elf64_program_header *ph, uint64_t file_size)
{
	uint64_t image_offset;

	if (ph->file_size > ph->memory_size)
		return "PT_LOAD segment has p_filesz > p_memsz";
	if (ph->offset > file_size || ph->file_size > file_size - ph->offset)
		return "PT_LOAD segment lies beyond the end of the file";
	if (ph->physical_address < BOOT_KERNEL_DEFAULT_PHYS)
		return "PT_LOAD segment below 0x200000";
	image_offset = ph->physical_address - BOOT_KERNEL_DEFAULT_PHYS;
	if (ph->memory_size > LOADER_KERNEL_MAX_IMAGE ||
	    image_offset > LOADER_KERNEL_MAX_IMAGE - ph->memory_size)
		return "kernel image larger than 1 GiB";
	if (ph->virtual_address != ph->physical_address &&
	    ph->virtual_address != ph->physical_address + KERNEL_VIRT_OFFSET_FROM_PHYS)
		return "PT_LOAD segment neither identity-linked nor at p_paddr + 0xffffffff80000000";
	return 0;
}

const char *loader_elf_check(const void *file, uint64_t file_size, struct loader_elf_layout *layout)
{
	const uint8_t *bytes = file;
	struct elf64_file_header header;
	uint64_t image_end = 0;
	int entry_found = 0;
	unsigned int i, j;
	const char *problem;

	if (file_size < sizeof(header))
		return "file too small for an ELF header";
	copy_bytes(&header, bytes, sizeof(header));
	problem = check_header(&header, file_size);
	if (problem)
		return problem;

	layout->entry = header.entry;
	layout->segment_count = 0;
	for (i = 0; i < header.program_header_count; i++) {
		struct elf64_program_header ph;
		struct loader_elf_segment *segment;

		copy_bytes(&ph, bytes + header.program_header_offset + i * sizeof(ph), sizeof(ph));
		if (ph.type != ELF_SEGMENT_LOAD || ph.memory_size == 0)
			continue;
		problem = check_segment(&ph, file_size);
		if (problem)
			return problem;
		if (layout->segment_count == LOADER_ELF_MAX_SEGMENTS)
			return "too many PT_LOAD segments";

		segment = &layout->segments[layout->segment_count];
		segment->file_offset = ph.offset;
		segment->file_size = ph.file_size;
		segment->memory_size = ph.memory_size;
		segment->image_offset = ph.physical_address - BOOT_KERNEL_DEFAULT_PHYS;
		for (j = 0; j < layout->segment_count; j++) {
			const struct loader_elf_segment *other = &layout->segments[j];

			if (segment->image_offset < other->image_offset + other->memory_size &&
			    other->image_offset < segment->image_offset + segment->memory_size)
				return "PT_LOAD segments overlap";
		}
		layout->segment_count++;

		if (segment->image_offset + segment->memory_size > image_end)
			image_end = segment->image_offset + segment->memory_size;
		/* The loader enters through the higher-half mapping only. */
		if (ph.virtual_address != ph.physical_address &&
		    (ph.flags & ELF_SEGMENT_FLAG_EXECUTE) && header.entry >= ph.virtual_address &&
		    header.entry - ph.virtual_address < ph.file_size)
			entry_found = 1;
	}
	if (layout->segment_count == 0)
		return "ELF file has no PT_LOAD segments";
	if (!entry_found)
		return "entry point is not inside an executable higher-half segment";
	layout->image_size = (image_end + 4095) & ~4095ull;
	return 0;
}

void loader_elf_copy(const void *file, const struct loader_elf_layout *layout, void *image)
{
	const uint8_t *bytes = file;
	uint8_t *base = image;
	unsigned int i;

	zero_bytes(base, layout->image_size);
	for (i = 0; i < layout->segment_count; i++) {
		const struct loader_elf_segment *segment = &layout->segments[i];

		copy_bytes(base + segment->image_offset, bytes + segment->file_offset,
			   segment->file_size);
	}
}

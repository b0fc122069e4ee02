#include "multiboot_parse.h"

#include <multiboot/multiboot.h>

#include <lib/errno.h>
#include <lib/string.h>

static void copy_string(char *dst, size_t size, uint64_t phys, boot_phys_reader_fn read)
{
	/* Read up to size bytes; the reader refuses what is not mapped. */
	const char *s = read(phys, size);
	if (!s) {
		dst[0] = '\0';
		return;
	}
	size_t n = strnlen(s, size - 1);
	memcpy(dst, s, n);
	dst[n] = '\0';
}

int boot_parse_multiboot1(const void *info_ptr, boot_phys_reader_fn read, struct boot_info *out,
			  const char **why)
{
	const struct multiboot_info *info = info_ptr;

	boot_info_reset(out, BOOT_MODE_BIOS, BOOT_LOADER_MULTIBOOT1);
	if ((info->flags & MULTIBOOT_INFO_CMDLINE) && info->cmdline)
		copy_string(out->cmdline, sizeof(out->cmdline), info->cmdline, read);
	if ((info->flags & MULTIBOOT_INFO_MODS) && info->mods_count) {
		uint32_t count = info->mods_count;
		if (count > BOOT_MAX_MODULES)
			count = BOOT_MAX_MODULES;
		const struct multiboot_mod_list *mods =
			read(info->mods_addr, (uint64_t)count * sizeof(*mods));
		for (uint32_t i = 0; mods && i < count; i++) {
			struct boot_module *m = &out->modules[out->module_count++];
			m->phys_start = mods[i].mod_start;
			m->phys_end = mods[i].mod_end;
			if (mods[i].cmdline)
				copy_string(m->name, sizeof(m->name), mods[i].cmdline, read);
		}
	}
	if ((info->flags & MULTIBOOT_INFO_FRAMEBUFFER_INFO) && info->framebuffer_addr) {
		struct boot_framebuffer *f = &out->framebuffer;
		f->phys_addr = info->framebuffer_addr;
		f->width = info->framebuffer_width;
		f->height = info->framebuffer_height;
		f->pitch = info->framebuffer_pitch;
		f->bpp = info->framebuffer_bpp;
		f->type = info->framebuffer_type == MULTIBOOT_FRAMEBUFFER_TYPE_RGB ? BOOT_FB_RGB
			  : info->framebuffer_type == MULTIBOOT_FRAMEBUFFER_TYPE_EGA_TEXT ? BOOT_FB_EGA_TEXT
											  : BOOT_FB_NONE;
		if (f->type == BOOT_FB_RGB) {
			f->red_shift = info->framebuffer_red_field_position;
			f->red_size = info->framebuffer_red_mask_size;
			f->green_shift = info->framebuffer_green_field_position;
			f->green_size = info->framebuffer_green_mask_size;
			f->blue_shift = info->framebuffer_blue_field_position;
			f->blue_size = info->framebuffer_blue_mask_size;
		}
	}
	if ((info->flags & MULTIBOOT_INFO_MEM_MAP) && info->mmap_length) {
		const uint8_t *map = read(info->mmap_addr, info->mmap_length);
		/* Each entry is preceded by its size, which excludes the size field. */
		for (uint32_t off = 0; map && off + sizeof(struct multiboot_mmap_entry) <= info->mmap_length;) {
			const struct multiboot_mmap_entry *e = (const void *)(map + off);
			if (e->size < 20 || e->size > info->mmap_length - off - sizeof(e->size))
				break;
			boot_info_add_mem_range(out, e->addr, e->len, e->type);
			off += e->size + sizeof(e->size);
		}
	}
	if (out->mem_range_count)
		return 0;
	if (info->flags & MULTIBOOT_INFO_MEMORY) {
		boot_info_add_mem_range(out, 0, (uint64_t)info->mem_lower << 10, BOOT_MEM_USABLE);
		boot_info_add_mem_range(out, 1ull << 20, (uint64_t)info->mem_upper << 10, BOOT_MEM_USABLE);
		*why = "no memory map from the boot loader; using its basic memory sizes";
		return 1;
	}
	*why = "the boot loader passed no memory map";
	return -EINVAL;
}

#include "multiboot_parse.h"

#include <multiboot2.h>

#include <lib/errno.h>
#include <lib/string.h>

/* A sane upper bound: GRUB's information block is a few KiB. */
#define MB2_MAX_INFO_SIZE (1u << 20)

static void parse_framebuffer(const struct multiboot_tag_framebuffer *fb, struct boot_info *out)
{
	struct boot_framebuffer *f = &out->framebuffer;
	const struct multiboot_tag_framebuffer_common *c = &fb->common;

	f->phys_addr = c->framebuffer_addr;
	f->width = c->framebuffer_width;
	f->height = c->framebuffer_height;
	f->pitch = c->framebuffer_pitch;
	f->bpp = c->framebuffer_bpp;
	/* GRUB's RGB tag is 38 bytes: the common part plus six channel bytes
	 * (sizeof(*fb) is larger because of the union's padding). */
	if (c->framebuffer_type == MULTIBOOT_FRAMEBUFFER_TYPE_RGB && c->size >= sizeof(fb->common) + 6) {
		f->type = BOOT_FB_RGB;
		f->red_shift = fb->framebuffer_red_field_position;
		f->red_size = fb->framebuffer_red_mask_size;
		f->green_shift = fb->framebuffer_green_field_position;
		f->green_size = fb->framebuffer_green_mask_size;
		f->blue_shift = fb->framebuffer_blue_field_position;
		f->blue_size = fb->framebuffer_blue_mask_size;
	} else if (c->framebuffer_type == MULTIBOOT_FRAMEBUFFER_TYPE_EGA_TEXT) {
		f->type = BOOT_FB_EGA_TEXT;
	} else {
		f->type = BOOT_FB_NONE;
	}
}

int boot_parse_multiboot2(const void *info, struct boot_info *out, const char **why)
{
	const uint8_t *base = info;
	uint32_t total = *(const uint32_t *)info;
	const struct multiboot_tag_basic_meminfo *meminfo = NULL;
	int have_mmap = 0;

	boot_info_reset(out, BOOT_MODE_BIOS, BOOT_LOADER_MULTIBOOT2);
	if (total < 16 || total > MB2_MAX_INFO_SIZE) {
		*why = "multiboot2 information block has an impossible size";
		return -EINVAL;
	}
	for (uint32_t off = 8; off + 8 <= total;) {
		const struct multiboot_tag *tag = (const void *)(base + off);
		if (tag->size < 8 || tag->size > total - off) {
			*why = "multiboot2 tag runs past the information block";
			return -EINVAL;
		}
		if (tag->type == MULTIBOOT_TAG_TYPE_END)
			break;
		switch (tag->type) {
		case MULTIBOOT_TAG_TYPE_CMDLINE: {
			const struct multiboot_tag_string *s = (const void *)tag;
			size_t max = tag->size - sizeof(*s);
			size_t n = strnlen(s->string, max);
			if (n >= sizeof(out->cmdline))
				n = sizeof(out->cmdline) - 1;
			memcpy(out->cmdline, s->string, n);
			out->cmdline[n] = '\0';
			break;
		}
		case MULTIBOOT_TAG_TYPE_MODULE: {
			const struct multiboot_tag_module *m = (const void *)tag;
			if (out->module_count >= BOOT_MAX_MODULES || tag->size < sizeof(*m))
				break;
			struct boot_module *mod = &out->modules[out->module_count++];
			mod->phys_start = m->mod_start;
			mod->phys_end = m->mod_end;
			size_t n = strnlen(m->cmdline, tag->size - sizeof(*m));
			if (n >= sizeof(mod->name))
				n = sizeof(mod->name) - 1;
			memcpy(mod->name, m->cmdline, n);
			mod->name[n] = '\0';
			break;
		}
		case MULTIBOOT_TAG_TYPE_BASIC_MEMINFO:
			if (tag->size >= sizeof(*meminfo))
				meminfo = (const void *)tag;
			break;
		case MULTIBOOT_TAG_TYPE_MMAP: {
			const struct multiboot_tag_mmap *m = (const void *)tag;
			if (tag->size < sizeof(*m) || m->entry_size < sizeof(struct multiboot_mmap_entry))
				break;
			for (uint32_t e = sizeof(*m); m->entry_size <= tag->size - e; e += m->entry_size) {
				const struct multiboot_mmap_entry *entry = (const void *)((const uint8_t *)tag + e);
				boot_info_add_mem_range(out, entry->addr, entry->len, entry->type);
			}
			have_mmap = 1;
			break;
		}
		case MULTIBOOT_TAG_TYPE_FRAMEBUFFER:
			if (tag->size >= sizeof(struct multiboot_tag_framebuffer_common))
				parse_framebuffer((const void *)tag, out);
			break;
		case MULTIBOOT_TAG_TYPE_ACPI_OLD:
		case MULTIBOOT_TAG_TYPE_ACPI_NEW: {
			/* The tag holds a copy of the RSDP; prefer the ACPI 2.0 one. */
			uint32_t length = tag->size - 8;
			if (out->acpi_rsdp_length && tag->type == MULTIBOOT_TAG_TYPE_ACPI_OLD)
				break;
			if (length > BOOT_RSDP_MAX)
				length = BOOT_RSDP_MAX;
			memcpy(out->acpi_rsdp, (const uint8_t *)tag + 8, length);
			out->acpi_rsdp_length = length;
			break;
		}
		case MULTIBOOT_TAG_TYPE_EFI64: {
			const struct multiboot_tag_efi64 *t = (const void *)tag;
			if (tag->size >= sizeof(*t))
				out->efi_system_table = t->pointer;
			out->mode = BOOT_MODE_UEFI;
			break;
		}
		case MULTIBOOT_TAG_TYPE_EFI32:
		case MULTIBOOT_TAG_TYPE_EFI_MMAP:
		case MULTIBOOT_TAG_TYPE_EFI_BS:
			out->mode = BOOT_MODE_UEFI;
			break;
		default:
			break;
		}
		off += (tag->size + 7) & ~7u;
	}
	if (!have_mmap && meminfo) {
		/* mem_lower/mem_upper are KiB below 640 K and from 1 MiB up. */
		boot_info_add_mem_range(out, 0, (uint64_t)meminfo->mem_lower << 10, BOOT_MEM_USABLE);
		boot_info_add_mem_range(out, 1ull << 20, (uint64_t)meminfo->mem_upper << 10, BOOT_MEM_USABLE);
		*why = "no memory map from the boot loader; using its basic memory sizes";
		return 1;
	}
	if (!have_mmap) {
		*why = "the boot loader passed no memory map";
		return -EINVAL;
	}
	return 0;
}

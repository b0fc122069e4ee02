/*
 * What the firmware knows that the vmkernel needs: the ACPI RSDP (from the
 * EFI configuration table) and the GOP framebuffer.
 */
#include "loader.h"

#define RSDP_V1_LENGTH 20
#define RSDP_V2_LENGTH 36
#define RSDP_REVISION_OFFSET 15

static EFI_GUID acpi_20_table_guid = ACPI_20_TABLE_GUID;
static EFI_GUID acpi_10_table_guid = ACPI_TABLE_GUID;

static uint8_t byte_sum(const uint8_t *bytes, unsigned int length)
{
	uint8_t sum = 0;

	while (length--)
		sum += *bytes++;
	return sum;
}

/* ACPI spec, RSDP: "RSD PTR " signature, a checksum over the first 20 bytes
 * and, from revision 2 on, an extended checksum over all 36. */
static uint32_t rsdp_length(const uint8_t *rsdp)
{
	static const char signature[8] = { 'R', 'S', 'D', ' ', 'P', 'T', 'R', ' ' };
	unsigned int i;

	for (i = 0; i < sizeof(signature); i++)
		if (rsdp[i] != (uint8_t)signature[i])
			return 0;
	if (byte_sum(rsdp, RSDP_V1_LENGTH) != 0)
		return 0;
	if (rsdp[RSDP_REVISION_OFFSET] == 0)
		return RSDP_V1_LENGTH;
	if (byte_sum(rsdp, RSDP_V2_LENGTH) != 0)
		return 0;
	return RSDP_V2_LENGTH;
}

static const uint8_t *find_configuration_table(EFI_GUID *guid)
{
	UINTN i;

	for (i = 0; i < ST->NumberOfTableEntries; i++)
		if (CompareGuid(&ST->ConfigurationTable[i].VendorGuid, guid) == 0)
			return ST->ConfigurationTable[i].VendorTable;
	return 0;
}

void loader_find_acpi_rsdp(struct boot_info *info)
{
	static const struct {
		EFI_GUID *guid;
		const CHAR16 *name;
	} candidates[] = {
		{ &acpi_20_table_guid, L"ACPI 2.0" },
		{ &acpi_10_table_guid, L"ACPI 1.0" },
	};
	unsigned int i;

	for (i = 0; i < sizeof(candidates) / sizeof(candidates[0]); i++) {
		const uint8_t *rsdp = find_configuration_table(candidates[i].guid);
		uint32_t length;

		if (!rsdp)
			continue;
		length = rsdp_length(rsdp);
		if (length == 0) {
			loader_warn(L"%s RSDP at 0x%lx fails its signature or checksum",
				    candidates[i].name, (uint64_t)(UINTN)rsdp);
			continue;
		}
		CopyMem(info->acpi_rsdp, (void *)rsdp, length);
		info->acpi_rsdp_length = length;
		info->acpi_rsdp_phys = (uint64_t)(UINTN)rsdp;
		loader_info(L"ACPI RSDP at 0x%lx (%s table, revision %d)", info->acpi_rsdp_phys,
			    candidates[i].name, rsdp[RSDP_REVISION_OFFSET]);
		return;
	}
	loader_warn(L"no ACPI RSDP in the EFI configuration table");
}

static void describe_mask(uint32_t mask, uint8_t *shift, uint8_t *size)
{
	uint8_t s = 0, n = 0;

	while (mask && !(mask & 1)) {
		mask >>= 1;
		s++;
	}
	while (mask & 1) {
		mask >>= 1;
		n++;
	}
	*shift = s;
	*size = n;
}

static unsigned int highest_bit_plus_one(uint32_t value)
{
	unsigned int bits = 0;

	while (value) {
		value >>= 1;
		bits++;
	}
	return bits;
}

static EFI_GRAPHICS_OUTPUT_PROTOCOL *find_gop(void)
{
	EFI_GRAPHICS_OUTPUT_PROTOCOL *gop = 0;

	/* The console's own GOP is the screen the user looks at; any GOP will do otherwise. */
	if (!EFI_ERROR(BS->HandleProtocol(ST->ConsoleOutHandle, &gEfiGraphicsOutputProtocolGuid,
					  (void **)&gop)) && gop)
		return gop;
	if (!EFI_ERROR(BS->LocateProtocol(&gEfiGraphicsOutputProtocolGuid, 0, (void **)&gop)))
		return gop;
	return 0;
}

void loader_find_framebuffer(struct boot_info *info)
{
	EFI_GRAPHICS_OUTPUT_PROTOCOL *gop = find_gop();
	const EFI_GRAPHICS_OUTPUT_MODE_INFORMATION *mode;
	struct boot_framebuffer *fb = &info->framebuffer;
	EFI_PIXEL_BITMASK masks;
	unsigned int bpp;

	fb->type = BOOT_FB_NONE;
	if (!gop || !gop->Mode || !gop->Mode->Info) {
		loader_info(L"no graphics output protocol: no framebuffer");
		return;
	}
	mode = gop->Mode->Info;
	switch (mode->PixelFormat) {
	case PixelRedGreenBlueReserved8BitPerColor:
		masks = (EFI_PIXEL_BITMASK){ 0x000000ff, 0x0000ff00, 0x00ff0000, 0xff000000 };
		break;
	case PixelBlueGreenRedReserved8BitPerColor:
		masks = (EFI_PIXEL_BITMASK){ 0x00ff0000, 0x0000ff00, 0x000000ff, 0xff000000 };
		break;
	case PixelBitMask:
		masks = mode->PixelInformation;
		break;
	default:
		loader_info(L"graphics output has no linear framebuffer (blt only)");
		return;
	}
	if (!masks.RedMask || !masks.GreenMask || !masks.BlueMask) {
		loader_warn(L"graphics output reports an empty colour mask: no framebuffer");
		return;
	}
	bpp = highest_bit_plus_one(masks.RedMask | masks.GreenMask | masks.BlueMask |
				   masks.ReservedMask);
	bpp = (bpp + 7) & ~7u;

	fb->phys_addr = gop->Mode->FrameBufferBase;
	fb->width = mode->HorizontalResolution;
	fb->height = mode->VerticalResolution;
	fb->pitch = mode->PixelsPerScanLine * (bpp / 8);
	fb->bpp = (uint8_t)bpp;
	describe_mask(masks.RedMask, &fb->red_shift, &fb->red_size);
	describe_mask(masks.GreenMask, &fb->green_shift, &fb->green_size);
	describe_mask(masks.BlueMask, &fb->blue_shift, &fb->blue_size);
	fb->type = BOOT_FB_RGB;
	loader_info(L"framebuffer %dx%d, %d bpp, pitch %d, at 0x%lx", fb->width, fb->height, bpp,
		    fb->pitch, fb->phys_addr);
}

/*
 * Reading files from the volume kapsel.efi itself came from: the ESP of a
 * disk or USB stick, or the El Torito EFI image of a CD. Functions here
 * report their own errors, naming the file.
 */
#include "loader.h"

/* Some firmware fails large single reads from optical media; 4 MiB chunks
 * are well inside what every implementation handles. */
#define READ_CHUNK (4u * 1024 * 1024)

static EFI_FILE_HANDLE boot_volume_root;

EFI_STATUS loader_open_boot_volume(EFI_HANDLE image_handle)
{
	EFI_LOADED_IMAGE *loaded_image;
	EFI_SIMPLE_FILE_SYSTEM_PROTOCOL *file_system;
	EFI_STATUS status;

	status = BS->HandleProtocol(image_handle, &gEfiLoadedImageProtocolGuid,
				    (void **)&loaded_image);
	if (EFI_ERROR(status)) {
		loader_error(L"no LoadedImage protocol on our own image handle: %r", status);
		return status;
	}
	status = BS->HandleProtocol(loaded_image->DeviceHandle, &gEfiSimpleFileSystemProtocolGuid,
				    (void **)&file_system);
	if (EFI_ERROR(status)) {
		loader_error(L"the device kapsel.efi was loaded from has no file system: %r", status);
		return status;
	}
	status = file_system->OpenVolume(file_system, &boot_volume_root);
	if (EFI_ERROR(status)) {
		loader_error(L"cannot open the boot volume: %r", status);
		return status;
	}
	return EFI_SUCCESS;
}

void loader_close_boot_volume(void)
{
	if (boot_volume_root) {
		boot_volume_root->Close(boot_volume_root);
		boot_volume_root = 0;
	}
}

static EFI_STATUS file_size(EFI_FILE_HANDLE file, const char *path, uint64_t *size)
{
	/* EFI_FILE_INFO ends with the file's name; 255 UCS-2 characters is the FAT limit. */
	union {
		EFI_FILE_INFO info;
		uint8_t bytes[sizeof(EFI_FILE_INFO) + 256 * sizeof(CHAR16)];
	} buffer;
	UINTN buffer_size = sizeof(buffer);
	EFI_STATUS status;

	status = file->GetInfo(file, &gEfiFileInfoGuid, &buffer_size, &buffer);
	if (EFI_ERROR(status)) {
		loader_error(L"%a: cannot get the file size: %r", path, status);
		return status;
	}
	if (buffer.info.Attribute & EFI_FILE_DIRECTORY) {
		loader_error(L"%a: is a directory, not a file", path);
		return EFI_INVALID_PARAMETER;
	}
	*size = buffer.info.FileSize;
	return EFI_SUCCESS;
}

static EFI_STATUS read_all(EFI_FILE_HANDLE file, const char *path, uint8_t *dest, uint64_t size)
{
	uint64_t done = 0;

	while (done < size) {
		UINTN chunk = size - done > READ_CHUNK ? READ_CHUNK : size - done;
		EFI_STATUS status = file->Read(file, &chunk, dest + done);

		if (EFI_ERROR(status)) {
			loader_error(L"%a: read failed at byte %ld: %r", path, done, status);
			return status;
		}
		if (chunk == 0) {
			loader_error(L"%a: file ended at byte %ld of %ld", path, done, size);
			return EFI_END_OF_FILE;
		}
		done += chunk;
	}
	return EFI_SUCCESS;
}

EFI_STATUS loader_read_file(const char *path, uint64_t max_address, uint64_t *phys, uint64_t *size)
{
	CHAR16 wide_path[LOADER_PATH_MAX];
	EFI_FILE_HANDLE file;
	EFI_STATUS status;
	unsigned int i;

	for (i = 0; path[i] != '\0' && i + 1 < LOADER_PATH_MAX; i++)
		wide_path[i] = (CHAR16)(uint8_t)path[i];
	wide_path[i] = L'\0';

	status = boot_volume_root->Open(boot_volume_root, &file, wide_path, EFI_FILE_MODE_READ, 0);
	if (status == EFI_NOT_FOUND) {
		loader_error(L"%a: not found on the boot volume", path);
		return status;
	}
	if (EFI_ERROR(status)) {
		loader_error(L"%a: cannot open: %r", path, status);
		return status;
	}

	status = file_size(file, path, size);
	if (EFI_ERROR(status))
		goto out;
	status = loader_alloc_pages_below(max_address, *size ? loader_pages_for(*size) : 1, phys);
	if (EFI_ERROR(status)) {
		loader_error(L"%a: no memory for %ld bytes below 0x%lx: %r", path, *size, max_address,
			     status);
		goto out;
	}
	status = read_all(file, path, (uint8_t *)(UINTN)*phys, *size);
	if (EFI_ERROR(status))
		loader_free_pages(*phys);
out:
	file->Close(file);
	return status;
}

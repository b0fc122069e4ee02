#include "vm_nvram.h"

#include <lib/errno.h>
#include <lib/le.h>
#include <lib/printf.h>
#include <lib/string.h>
#include <mm/heap.h>
#include <storage/datastore.h>
#include <vdev/chipset.h>
#include <vdev/rtc.h>
#include <vm/vm.h>

#define FILE_BYTES (VM_NVRAM_HEADER_BYTES + VRTC_NVRAM_BYTES)

static const uint8_t magic[4] = { 'K', 'N', 'V', 'R' };

uint32_t vm_nvram_crc32c(uint32_t crc, const void *data, size_t length)
{
	const uint8_t *p = data;

	crc = ~crc;
	while (length--) {
		crc ^= *p++;
		for (int bit = 0; bit < 8; bit++)
			crc = (crc >> 1) ^ (0x82f63b78u & -(crc & 1));
	}
	return ~crc;
}

int vm_nvram_load(struct vm *vm, const char *path, char *why, size_t why_size)
{
	struct vmfs_file *file;
	uint8_t buffer[FILE_BYTES + 1];
	int rc = datastore_open(path, 0, VMFS_LOCK_SHARED_RO, &file, why, why_size);

	if (rc)
		return rc;
	int64_t got = vmfs_read(file, 0, buffer, sizeof(buffer));
	vmfs_close(file);
	if (got < 0) {
		snprintf(why, why_size, "'%s': %s", path, vmfs_strerror((int)got));
		return -EIO;
	}
	if (got == 0) {
		/* Created empty at power-on (held while the VM runs), saved at power-off. */
		snprintf(why, why_size, "'%s' holds no settings yet", path);
		return -ENOENT;
	}
	if (got < (int64_t)VM_NVRAM_HEADER_BYTES || memcmp(buffer, magic, sizeof(magic)) != 0) {
		snprintf(why, why_size, "'%s': not an NVRAM file (%ld bytes, no KNVR header)", path, got);
		return -EINVAL;
	}
	uint16_t version = le16_get(buffer + 4), header = le16_get(buffer + 6);
	uint32_t length = le32_get(buffer + 8), crc = le32_get(buffer + 12);
	if (version != VM_NVRAM_VERSION || header != VM_NVRAM_HEADER_BYTES || length != VRTC_NVRAM_BYTES) {
		snprintf(why, why_size, "'%s': version %u, header %u, length %u: expected %u, %u, %u", path,
			 version, header, length, VM_NVRAM_VERSION, VM_NVRAM_HEADER_BYTES, VRTC_NVRAM_BYTES);
		return -EINVAL;
	}
	if (got != (int64_t)FILE_BYTES) {
		snprintf(why, why_size, "'%s': %ld bytes, expected %u", path, got, FILE_BYTES);
		return -EINVAL;
	}
	if (vm_nvram_crc32c(0, buffer + VM_NVRAM_HEADER_BYTES, length) != crc) {
		snprintf(why, why_size, "'%s': CRC32C mismatch", path);
		return -EINVAL;
	}
	if (!vm->chipset)
		return 0;
	uint64_t flags = spin_lock_irqsave(&vm->chipset->lock);
	vrtc_nvram_load(&vm->chipset->rtc, buffer + VM_NVRAM_HEADER_BYTES);
	spin_unlock_irqrestore(&vm->chipset->lock, flags);
	return 0;
}

int vm_nvram_save(struct vm *vm, const char *path, char *why, size_t why_size)
{
	uint8_t buffer[FILE_BYTES];
	struct vmfs_file *file;

	if (!vm->chipset)
		return 0;
	uint64_t flags = spin_lock_irqsave(&vm->chipset->lock);
	vrtc_nvram_save(&vm->chipset->rtc, buffer + VM_NVRAM_HEADER_BYTES);
	spin_unlock_irqrestore(&vm->chipset->lock, flags);
	memcpy(buffer, magic, sizeof(magic));
	le16_put(buffer + 4, VM_NVRAM_VERSION);
	le16_put(buffer + 6, VM_NVRAM_HEADER_BYTES);
	le32_put(buffer + 8, VRTC_NVRAM_BYTES);
	le32_put(buffer + 12, vm_nvram_crc32c(0, buffer + VM_NVRAM_HEADER_BYTES, VRTC_NVRAM_BYTES));
	int rc = datastore_open(path, VMFS_O_CREAT | VMFS_O_TRUNC, VMFS_LOCK_EXCLUSIVE, &file, why, why_size);
	if (rc)
		return rc;
	int64_t put = vmfs_write(file, 0, buffer, sizeof(buffer));
	int synced = put == (int64_t)sizeof(buffer) ? vmfs_fsync(file) : 0;
	vmfs_close(file);
	if (put != (int64_t)sizeof(buffer) || synced) {
		snprintf(why, why_size, "'%s': %s", path,
			 put < 0 ? vmfs_strerror((int)put) : synced ? vmfs_strerror(synced) : "short write");
		return -EIO;
	}
	return 0;
}

/*
 * A VM's BIOS settings file, "[ds]/dir/<name>.nvram" next to its .vmx.
 * Until the VM has a BIOS, the settings store of its PC is the RTC's CMOS
 * RAM: the battery-backed bytes (CMOS 0x0e-0x7f, vdev/rtc.h) are loaded
 * at power-on and saved at power-off. Format, little-endian:
 *
 *   0  magic "KNVR"       8  data length (114)
 *   4  version (1), u16   12 CRC32C of the data, u32
 *   6  header bytes (16)  16 data: CMOS bytes 0x0e..0x7f
 *
 * A missing file is created at the first power-off; a damaged or short one
 * is reported (in the VM's log) and ignored: the defaults are used.
 */
#ifndef KAPSEL_VM_NVRAM_H
#define KAPSEL_VM_NVRAM_H

#include <stddef.h>
#include <stdint.h>

struct vm;

#define VM_NVRAM_VERSION 1u
#define VM_NVRAM_HEADER_BYTES 16u

/* 0 loaded, -ENOENT no file yet, else -errno with @why (defaults kept). */
int vm_nvram_load(struct vm *vm, const char *path, char *why, size_t why_size);
/* 0, or -errno with @why. @pre the VM's vCPUs are gone */
int vm_nvram_save(struct vm *vm, const char *path, char *why, size_t why_size);
/* CRC32C (Castagnoli), as VMFS uses: crc32c(0, data, n). */
uint32_t vm_nvram_crc32c(uint32_t crc, const void *data, size_t length);

#endif

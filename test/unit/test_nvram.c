/*
 * The NVRAM file of a VM (vmkernel/vm_nvram.c) over a one-file fake
 * datastore: saved bytes load back into another VM's CMOS, the header and
 * CRC32C are as documented, and a short, foreign, damaged or missing file
 * is refused with a reason and leaves the CMOS alone.
 */
#include "unit.h"

#include <lib/errno.h>
#include <storage/datastore.h>
#include <vdev/chipset.h>
#include <vdev/rtc.h>
#include <vm/vm.h>

#include "vm_nvram.h"

/* ---- a datastore holding at most one file ---- */

static uint8_t file_data[512];
static size_t file_size;
static bool file_exists;
struct vmfs_file {
	int unused;
};
static struct vmfs_file the_file;

int datastore_open(const char *name, int flags, enum vmfs_lock_mode mode, struct vmfs_file **file,
		   char *error, size_t error_size)
{
	(void)mode;
	CHECK_STR(name, "[ds1]/web/web.nvram");
	if (!file_exists && !(flags & VMFS_O_CREAT)) {
		snprintf(error, error_size, "'%s': no such file", name);
		return -ENOENT;
	}
	if (flags & VMFS_O_TRUNC)
		file_size = 0;
	file_exists = true;
	*file = &the_file;
	return 0;
}

int64_t vmfs_read(struct vmfs_file *file, uint64_t offset, void *buf, size_t len)
{
	CHECK(file == &the_file);
	if (offset >= file_size)
		return 0;
	size_t n = len < file_size - offset ? len : file_size - offset;
	memcpy(buf, file_data + offset, n);
	return (int64_t)n;
}

int64_t vmfs_write(struct vmfs_file *file, uint64_t offset, const void *buf, size_t len)
{
	CHECK(file == &the_file);
	CHECK(offset + len <= sizeof(file_data));
	memcpy(file_data + offset, buf, len);
	if (offset + len > file_size)
		file_size = offset + len;
	return (int64_t)len;
}

int vmfs_close(struct vmfs_file *file) { (void)file; return 0; }
int vmfs_fsync(struct vmfs_file *file) { (void)file; return 0; }
const char *vmfs_strerror(int err) { (void)err; return "error"; }

/* ---- VMs with only a chipset ---- */

static struct vm_chipset chipset_a, chipset_b;
static struct vm vm_a, vm_b;

static void fresh(void)
{
	memset(&chipset_a, 0, sizeof(chipset_a));
	memset(&chipset_b, 0, sizeof(chipset_b));
	memset(&vm_a, 0, sizeof(vm_a));
	memset(&vm_b, 0, sizeof(vm_b));
	vm_a.chipset = &chipset_a;
	vm_b.chipset = &chipset_b;
	file_size = 0;
	file_exists = false;
}

static const char *path = "[ds1]/web/web.nvram";

UNIT_TEST(saved_bytes_load_into_another_power_on)
{
	char why[160] = "";
	fresh();
	for (unsigned i = 0; i < 128; i++)
		chipset_a.rtc.cmos[i] = (uint8_t)(i * 7 + 1);
	CHECK_EQ(vm_nvram_save(&vm_a, path, why, sizeof(why)), 0);
	CHECK_EQ(file_size, VM_NVRAM_HEADER_BYTES + VRTC_NVRAM_BYTES);
	CHECK(memcmp(file_data, "KNVR", 4) == 0);
	CHECK_EQ(file_data[4] | file_data[5] << 8, VM_NVRAM_VERSION);
	CHECK_EQ(file_data[6] | file_data[7] << 8, VM_NVRAM_HEADER_BYTES);
	CHECK_EQ(file_data[8] | file_data[9] << 8, VRTC_NVRAM_BYTES);
	uint32_t crc = (uint32_t)file_data[12] | (uint32_t)file_data[13] << 8 | (uint32_t)file_data[14] << 16 |
		       (uint32_t)file_data[15] << 24;
	CHECK_EQ(crc, vm_nvram_crc32c(0, file_data + 16, VRTC_NVRAM_BYTES));
	CHECK_EQ(file_data[16 + 0x40 - 0x0e], chipset_a.rtc.cmos[0x40]);

	CHECK_EQ(vm_nvram_load(&vm_b, path, why, sizeof(why)), 0);
	for (unsigned i = 0; i < 0x0e; i++)
		CHECK_EQ(chipset_b.rtc.cmos[i], 0); /* the clock registers are the clock's */
	CHECK_EQ(chipset_b.rtc.cmos[0x40], chipset_a.rtc.cmos[0x40]);
	CHECK_EQ(chipset_b.rtc.cmos[0x7f], chipset_a.rtc.cmos[0x7f]);
	CHECK_EQ(chipset_b.rtc.cmos[0x10], chipset_a.rtc.cmos[0x10]);
	/* Century and memory sizes belong to this power-on, not the file. */
	CHECK_EQ(chipset_b.rtc.cmos[VRTC_CENTURY_INDEX], 0);
	CHECK_EQ(chipset_b.rtc.cmos[0x17], 0);
	CHECK_EQ(chipset_b.rtc.cmos[0x5b], 0);
}

UNIT_TEST(crc32c_is_castagnoli)
{
	CHECK_EQ(vm_nvram_crc32c(0, "123456789", 9), 0xe3069283u);
}

UNIT_TEST(bad_files_are_refused_and_change_nothing)
{
	char why[160];
	fresh();
	CHECK_EQ(vm_nvram_load(&vm_b, path, why, sizeof(why)), -ENOENT);
	CHECK_EQ(vm_nvram_save(&vm_a, path, why, sizeof(why)), 0);
	uint8_t good[512];
	size_t good_size = file_size;
	memcpy(good, file_data, file_size);
	chipset_b.rtc.cmos[0x40] = 0x5a;

	file_data[16 + 0x30]++; /* a flipped data byte */
	CHECK_EQ(vm_nvram_load(&vm_b, path, why, sizeof(why)), -EINVAL);
	CHECK(strstr(why, "CRC32C") != NULL);
	memcpy(file_data, good, good_size);
	file_size = good_size - 1; /* short */
	CHECK_EQ(vm_nvram_load(&vm_b, path, why, sizeof(why)), -EINVAL);
	file_size = 7;
	memcpy(file_data, "garbage", 7);
	CHECK_EQ(vm_nvram_load(&vm_b, path, why, sizeof(why)), -EINVAL);
	CHECK(strstr(why, "not an NVRAM file") != NULL);
	memcpy(file_data, good, good_size);
	file_size = good_size;
	file_data[4] = 2; /* a version from the future */
	CHECK_EQ(vm_nvram_load(&vm_b, path, why, sizeof(why)), -EINVAL);
	CHECK(strstr(why, "version 2") != NULL);
	CHECK_EQ(chipset_b.rtc.cmos[0x40], 0x5a);
}

UNIT_MAIN()

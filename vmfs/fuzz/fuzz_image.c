/*
 * libFuzzer target: damaged VMFS images must never crash or hang mount,
 * readdir, read or fsck -n.
 *
 * The seed image (mkfs + directories, small inline and block files, a
 * clone) is built once in memory. An input is a list of patches over the
 * image's used 4 KiB blocks, so mutations land on metadata instead of on
 * megabytes of zeros:
 *   u16 block index (modulo the used blocks), u16 offset, u8 flags, u8 len,
 *   len bytes; flags bit 0: XOR instead of overwrite, bit 1: re-seal the
 *   block's CRC32C afterwards so the damage gets past the checksum.
 */
#include <vmfs/vmfs.h>

#include "memdev.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define IMAGE_BYTES (24u << 20)
#define MBLOCK 4096u

static uint8_t *seed_image, *image;
static uint32_t *used_blocks;
static uint32_t used_count;
static struct vmfs_os os;

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void discard_log(void *ctx, enum vmfs_log_level level, const char *line)
{
	(void)ctx;
	(void)level;
	(void)line;
}

static uint32_t crc32c(const uint8_t *p, size_t n)
{
	uint32_t c = ~0u;
	for (size_t i = 0; i < n; i++) {
		c ^= p[i];
		for (int k = 0; k < 8; k++)
			c = (c >> 1) ^ (0x82f63b78u & (0u - (c & 1)));
	}
	return ~c;
}

/* Header at byte 0, or at 512 for blocks whose first sector is a lock record. */
static void reseal(uint8_t *block)
{
	static const uint8_t magic[4] = { 0x4b, 0x56, 0x4d, 0x42 };
	uint32_t hdr = memcmp(block, magic, 4) == 0 ? 0 : memcmp(block + 512, magic, 4) == 0 ? 512 : MBLOCK;
	if (hdr == MBLOCK)
		return;
	memset(block + hdr + 28, 0, 4);
	uint32_t c = crc32c(block + hdr, MBLOCK - hdr);
	memcpy(block + hdr + 28, &c, 4);
}

static void put_file(struct vmfs_volume *vol, const char *path, size_t len)
{
	struct vmfs_file *f;
	uint8_t *buf = malloc(len + 1);
	for (size_t i = 0; i < len; i++)
		buf[i] = (uint8_t)(i * 13 + len);
	if (!vmfs_open(vol, path, VMFS_O_CREAT, VMFS_LOCK_EXCLUSIVE, &f)) {
		vmfs_write(f, 0, buf, len);
		vmfs_close(f);
	}
	free(buf);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	vmfs_posix_os(&os, false);
	os.log = discard_log;
	seed_image = calloc(1, IMAGE_BYTES);
	image = malloc(IMAGE_BYTES);
	struct memdev md = { .data = seed_image, .size = IMAGE_BYTES };
	struct vmfs_blockdev dev;
	memdev_init(&md, &dev);
	static const uint8_t uuid[16] = { 1, 2, 3 };
	struct vmfs_mkfs_options mk = { .label = "fuzz", .block_size = 64 << 10, .journal_blocks = 32, .uuid = uuid };
	struct vmfs_mount_options mo = { .host_uuid = { 9 } };
	struct vmfs_volume *vol;
	if (vmfs_mkfs(&os, &dev, &mk) || vmfs_mount(&os, &dev, &mo, &vol)) {
		fprintf(stderr, "fuzz_image: cannot build the seed image\n");
		abort();
	}
	vmfs_mkdir(vol, "/vm");
	vmfs_mkdir(vol, "/vm/sub");
	put_file(vol, "/small", 100);
	put_file(vol, "/vm/disk", 150000);
	put_file(vol, "/vm/sub/cfg", 2000);
	vmfs_clone(vol, "/vm/disk", "/vm/clone");
	for (int i = 0; i < 20; i++) {
		char name[32];
		snprintf(name, sizeof(name), "/vm/f%d", i);
		put_file(vol, name, (size_t)i * 300);
	}
	vmfs_unmount(vol);
	used_blocks = malloc(IMAGE_BYTES / MBLOCK * sizeof(*used_blocks));
	static const uint8_t zero[MBLOCK];
	for (uint32_t b = 0; b < IMAGE_BYTES / MBLOCK; b++)
		if (memcmp(seed_image + (size_t)b * MBLOCK, zero, MBLOCK) != 0)
			used_blocks[used_count++] = b;
	return 0;
}

static int count_entry(void *arg, const struct vmfs_dirent *entry)
{
	(void)entry;
	return ++*(int *)arg > 64;
}

/* Reads what the (possibly damaged) tree offers, with fixed bounds. */
static void walk(struct vmfs_volume *vol)
{
	static const char *const paths[] = { "/", "/vm", "/vm/sub", "/small", "/vm/disk", "/vm/clone", "/vm/sub/cfg",
					     "/vm/f3", "/vm/f19" };
	static uint8_t buf[200000];
	for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
		int n = 0;
		struct vmfs_stat st;
		vmfs_readdir(vol, paths[i], count_entry, &n);
		if (vmfs_stat(vol, paths[i], &st) == 0 && st.kind == VMFS_KIND_FILE) {
			struct vmfs_file *f;
			if (vmfs_open(vol, paths[i], 0, VMFS_LOCK_SHARED_RO, &f) == 0) {
				vmfs_read(f, 0, buf, sizeof(buf));
				vmfs_close(f);
			}
		}
	}
	struct vmfs_file *f;
	if (vmfs_open(vol, "/vm/new", VMFS_O_CREAT, VMFS_LOCK_EXCLUSIVE, &f) == 0) {
		vmfs_write(f, 0, buf, 5000);
		vmfs_close(f);
	}
	vmfs_rename(vol, "/vm/f3", "/vm/sub/f3");
	vmfs_unlink(vol, "/vm/f19");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	memcpy(image, seed_image, IMAGE_BYTES);
	while (size >= 6) {
		uint32_t block = used_blocks[(data[0] | data[1] << 8) % used_count];
		uint32_t off = (data[2] | data[3] << 8) % MBLOCK;
		uint8_t flags = data[4], len = data[5];
		data += 6;
		size -= 6;
		if (len > size)
			len = (uint8_t)size;
		if (len > MBLOCK - off)
			len = (uint8_t)(MBLOCK - off);
		uint8_t *p = image + (size_t)block * MBLOCK + off;
		for (uint32_t i = 0; i < len; i++)
			p[i] = (flags & 1) ? p[i] ^ data[i] : data[i];
		if (flags & 2)
			reseal(image + (size_t)block * MBLOCK);
		data += len;
		size -= len;
	}
	struct memdev md = { .data = image, .size = IMAGE_BYTES };
	struct vmfs_blockdev dev;
	memdev_init(&md, &dev);
	struct vmfs_mount_options mo = { .host_uuid = { 7 }, .heartbeat_ms = 50, .lease_ms = 200, .lock_wait_ms = 1 };
	struct vmfs_volume *vol;
	if (vmfs_mount(&os, &dev, &mo, &vol) == 0) {
		walk(vol);
		vmfs_unmount(vol);
	}
	/* fsck -n on the result: it must not write. */
	struct vmfs_fsck_options fo = { .repair = false };
	struct vmfs_fsck_report report;
	uint64_t writes_before = md.writes;
	vmfs_fsck(&os, &dev, &fo, &report);
	if (md.writes != writes_before) {
		fprintf(stderr, "fuzz_image: fsck -n wrote to the device\n");
		abort();
	}
	return 0;
}

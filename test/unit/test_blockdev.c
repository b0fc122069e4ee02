/*
 * The block layer over a RAM disk: GPT partitions found with their ranges
 * and types, requests through a partition land at its offset and stay
 * inside it, and every kind of damaged GPT (CRCs, sizes, ranges, random
 * bytes with valid CRCs, a failing disk) leaves the disk without bogus
 * partitions — never a crash (ASan) or a partition outside the disk.
 */
#include "host_support.h"
#include "unit.h"

#include <drivers/block/blockdev.h>
#include <lib/errno.h>

#include <stdbool.h>
#include <stdint.h>

void *kmalloc(size_t size);
void *kzalloc(size_t size);
void kfree(void *ptr);

void *kmalloc(size_t size)
{
	return malloc(size);
}

void *kzalloc(size_t size)
{
	return calloc(1, size);
}

void kfree(void *ptr)
{
	free(ptr);
}

#define SECTOR 512
#define DISK_SECTORS 4096

struct ram_disk {
	struct blockdev dev;
	uint8_t *data;
	int fail_status;     /* every request completes with it when non-zero */
	unsigned requests;
	uint32_t largest_request;
};

static int ram_submit(struct blockdev *dev, struct blockdev_request *req)
{
	struct ram_disk *disk = dev->driver_data;
	disk->requests++;
	if (req->sector_count > disk->largest_request)
		disk->largest_request = req->sector_count;
	if (req->op != BLOCKDEV_FLUSH && req->sector + req->sector_count > dev->sector_count) {
		fprintf(stderr, "ram disk: request past the end (%" PRIu64 "+%u)\n", req->sector,
			req->sector_count);
		unit_current_failed = 1;
		return -EINVAL;
	}
	req->status = disk->fail_status;
	if (!req->status && req->op == BLOCKDEV_READ)
		memcpy(req->buffer, disk->data + req->sector * SECTOR, (size_t)req->sector_count * SECTOR);
	else if (!req->status && req->op == BLOCKDEV_WRITE)
		memcpy(disk->data + req->sector * SECTOR, req->buffer, (size_t)req->sector_count * SECTOR);
	req->done(req);
	return 0;
}

static const struct blockdev_ops ram_ops = { .submit = ram_submit };

static struct ram_disk *ram_disk_new(const char *name, const uint8_t *image)
{
	struct ram_disk *disk = calloc(1, sizeof(*disk));
	disk->data = malloc((size_t)DISK_SECTORS * SECTOR);
	memcpy(disk->data, image, (size_t)DISK_SECTORS * SECTOR);
	snprintf(disk->dev.name, sizeof(disk->dev.name), "%s", name);
	disk->dev.sector_size = SECTOR;
	disk->dev.sector_count = DISK_SECTORS;
	disk->dev.max_sectors_per_request = 8;
	disk->dev.ops = &ram_ops;
	disk->dev.driver_data = disk;
	return disk;
}

static uint32_t crc32_ref(const uint8_t *p, size_t n)
{
	uint32_t crc = 0xffffffffu;
	while (n--) {
		crc ^= *p++;
		for (int i = 0; i < 8; i++)
			crc = crc & 1 ? (crc >> 1) ^ 0xedb88320u : crc >> 1;
	}
	return ~crc;
}

static void put32(uint8_t *p, uint32_t v)
{
	memcpy(p, &v, 4);
}

static void put64(uint8_t *p, uint64_t v)
{
	memcpy(p, &v, 8);
}

static const uint8_t vmfs_type[16] = { 0x2a, 0xe0, 0x31, 0xaa, 0x0f, 0x40, 0xdb, 0x11,
				       0x95, 0x90, 0x00, 0x0c, 0x29, 0x11, 0xd1, 0xb8 };

/* The image a test damages: protective MBR, header at 1, 128 entries at 2-33,
 * partitions 1 (sectors 64-1023) and 3 (1024-4000), a marker in each. */
static uint8_t *gpt_image(void)
{
	uint8_t *img = calloc(DISK_SECTORS, SECTOR);
	img[446 + 4] = 0xee;
	img[510] = 0x55;
	img[511] = 0xaa;
	uint8_t *entries = img + 2 * SECTOR;
	memcpy(entries, vmfs_type, 16);
	put64(entries + 32, 64);
	put64(entries + 40, 1023);
	entries[56] = 'a';
	memcpy(entries + 256, vmfs_type, 16);
	entries[256] ^= 1;
	put64(entries + 256 + 32, 1024);
	put64(entries + 256 + 40, 4000);
	memcpy(img + 64 * SECTOR, "part one", 8);
	memcpy(img + 1024 * SECTOR, "part three", 10);
	return img;
}

/* Recomputes both CRCs after a test changed header fields or entries. */
static void gpt_seal(uint8_t *img)
{
	uint8_t *h = img + SECTOR;
	uint32_t count, size;
	memcpy(&count, h + 80, 4);
	memcpy(&size, h + 84, 4);
	uint64_t array_lba;
	memcpy(&array_lba, h + 72, 8);
	uint64_t bytes = (uint64_t)count * size;
	if (array_lba < DISK_SECTORS && bytes <= (uint64_t)(DISK_SECTORS - array_lba) * SECTOR)
		put32(h + 88, crc32_ref(img + array_lba * SECTOR, bytes));
	uint32_t header_size;
	memcpy(&header_size, h + 12, 4);
	put32(h + 16, 0);
	if (header_size >= 92 && header_size <= SECTOR)
		put32(h + 16, crc32_ref(h, header_size));
}

static void gpt_header(uint8_t *img)
{
	uint8_t *h = img + SECTOR;
	memcpy(h, "EFI PART", 8);
	put32(h + 8, 0x10000);
	put32(h + 12, 92);
	put64(h + 24, 1);
	put64(h + 32, DISK_SECTORS - 1);
	put64(h + 40, 34);
	put64(h + 48, DISK_SECTORS - 34);
	put64(h + 72, 2);
	put32(h + 80, 128);
	put32(h + 84, 128);
	gpt_seal(img);
}

static unsigned partitions_of(const struct blockdev *disk)
{
	unsigned n = 0;
	for (struct blockdev *d = blockdev_list(); d; d = d->next) {
		if (d->parent != disk)
			continue;
		n++;
		if (d->first_sector + d->sector_count > disk->sector_count) {
			fprintf(stderr, "%s lies outside %s\n", d->name, disk->name);
			unit_current_failed = 1;
		}
	}
	return n;
}

UNIT_TEST(valid_gpt_partitions)
{
	uint8_t *img = gpt_image();
	gpt_header(img);
	struct ram_disk *disk = ram_disk_new("good0", img);
	CHECK_EQ(blockdev_register(&disk->dev), 0);
	CHECK_EQ(partitions_of(&disk->dev), 2);
	struct blockdev *p1 = blockdev_find("good0p1"), *p3 = blockdev_find("good0p3");
	CHECK(p1 && p3 && !blockdev_find("good0p2"));
	if (!p1 || !p3)
		return;
	CHECK_EQ(p1->first_sector, 64);
	CHECK_EQ(p1->sector_count, 960);
	CHECK_EQ(p3->first_sector, 1024);
	CHECK_EQ(p3->sector_count, 2977);
	CHECK(memcmp(p1->partition_type_guid, vmfs_type, 16) == 0);
	CHECK(memcmp(p3->partition_type_guid, vmfs_type, 16) != 0);
	CHECK(host_log_contains("type AA31E02A-400F-11DB-9590-000C2911D1B8, name 'a'"));

	uint8_t buf[SECTOR * 20];
	CHECK_EQ(blockdev_read_sync(p1, 0, 1, buf), 0);
	CHECK(memcmp(buf, "part one", 8) == 0);
	CHECK_EQ(blockdev_read_sync(p3, 0, 1, buf), 0);
	CHECK(memcmp(buf, "part three", 10) == 0);

	/* Writes land at the partition's offset; large ones are split. */
	memset(buf, 0x5a, sizeof(buf));
	disk->largest_request = 0;
	CHECK_EQ(blockdev_write_sync(p3, 10, 20, buf, 0), 0);
	CHECK_EQ(disk->largest_request, 8);
	CHECK_EQ(disk->data[(1024 + 10) * SECTOR], 0x5a);
	CHECK_EQ(disk->data[(1024 + 30) * SECTOR - 1], 0x5a);
	CHECK_EQ(disk->data[(1024 + 30) * SECTOR], 0);
	CHECK_EQ(blockdev_flush_sync(p3), 0);

	/* Out of the partition: refused before reaching the disk. */
	unsigned before = disk->requests;
	CHECK_EQ(blockdev_read_sync(p1, 960, 1, buf), -EINVAL);
	CHECK_EQ(blockdev_read_sync(p1, 959, 2, buf), -EINVAL);
	CHECK_EQ(blockdev_read_sync(p1, UINT64_MAX, 2, buf), -EINVAL);
	CHECK_EQ(disk->requests, before);
	CHECK_EQ(blockdev_register(&disk->dev), -EEXIST);
	free(img);
}

UNIT_TEST(errors_and_read_only)
{
	uint8_t *img = gpt_image();
	gpt_header(img);
	struct ram_disk *disk = ram_disk_new("ro0", img);
	disk->dev.read_only = true;
	CHECK_EQ(blockdev_register(&disk->dev), 0);
	struct blockdev *p1 = blockdev_find("ro0p1");
	CHECK(p1 && p1->read_only);
	uint8_t buf[SECTOR] = { 0 };
	CHECK_EQ(blockdev_write_sync(&disk->dev, 0, 1, buf, 0), -EROFS);
	if (p1)
		CHECK_EQ(blockdev_write_sync(p1, 0, 1, buf, 0), -EROFS);
	disk->fail_status = -EIO;
	if (p1)
		CHECK_EQ(blockdev_read_sync(p1, 0, 1, buf), -EIO);

	/* A disk whose every read fails: logged, no partitions. */
	struct ram_disk *bad = ram_disk_new("eio0", img);
	bad->fail_status = -EIO;
	host_log_reset();
	CHECK_EQ(blockdev_register(&bad->dev), 0);
	CHECK_EQ(partitions_of(&bad->dev), 0);
	CHECK(host_log_contains("cannot read the MBR"));

	struct ram_disk *odd = ram_disk_new("odd0", img);
	odd->dev.sector_size = 1000;
	CHECK_EQ(blockdev_register(&odd->dev), -EINVAL);
	free(odd->data);
	free(odd);
	free(img);
}

struct damage {
	const char *name;
	unsigned offset; /* into the image */
	unsigned width;  /* 1, 4 or 8 */
	uint64_t value;
	bool reseal;     /* recompute the CRCs after the change */
	unsigned expected_partitions;
	const char *expected_log;
};

static const struct damage damages[] = {
	{ "header crc", SECTOR + 40, 8, 33, false, 0, "header CRC32 mismatch" },
	{ "entries crc", 2 * SECTOR + 33, 1, 1, false, 0, "entry array CRC32 mismatch" },
	{ "signature", SECTOR, 1, 'X', true, 0, "no GPT" },
	{ "header size small", SECTOR + 12, 4, 91, true, 0, "header size" },
	{ "header size large", SECTOR + 12, 4, 513, true, 0, "header size" },
	{ "my lba", SECTOR + 24, 8, 2, true, 0, "not say it is at LBA 1" },
	{ "last usable past end", SECTOR + 48, 8, DISK_SECTORS, true, 0, "usable range" },
	{ "usable inverted", SECTOR + 40, 8, DISK_SECTORS - 10, true, 0, "usable range" },
	{ "entry count huge", SECTOR + 80, 4, 0x7fffffff, true, 0, "entry count or size" },
	{ "entry size small", SECTOR + 84, 4, 64, true, 0, "entry count or size" },
	{ "entry size odd", SECTOR + 84, 4, 130, true, 0, "entry count or size" },
	{ "array past end", SECTOR + 72, 8, DISK_SECTORS - 4, true, 0, "outside the disk" },
	{ "array at lba 0", SECTOR + 72, 8, 0, true, 0, "outside the disk" },
	{ "partition past usable", 2 * SECTOR + 256 + 40, 8, DISK_SECTORS - 1, true, 1, "outside the usable" },
	{ "partition inverted", 2 * SECTOR + 32, 8, 2000, true, 1, "outside the usable" },
	{ "partition before usable", 2 * SECTOR + 32, 8, 1, true, 1, "outside the usable" },
	{ "no protective mbr", 446 + 4, 1, 0x83, true, 2, "without a protective MBR" },
};

UNIT_TEST(damaged_gpts)
{
	for (size_t i = 0; i < sizeof(damages) / sizeof(damages[0]); i++) {
		const struct damage *d = &damages[i];
		uint8_t *img = gpt_image();
		gpt_header(img);
		memcpy(img + d->offset, &d->value, d->width);
		if (d->reseal)
			gpt_seal(img);
		char name[16];
		snprintf(name, sizeof(name), "dmg%zu", i);
		struct ram_disk *disk = ram_disk_new(name, img);
		host_log_reset();
		CHECK_EQ(blockdev_register(&disk->dev), 0);
		unsigned found = partitions_of(&disk->dev);
		if (found != d->expected_partitions || !host_log_contains(d->expected_log)) {
			fprintf(stderr, "damage '%s': %u partitions, log '%s' (wanted %u, '%s')\n", d->name,
				found, host_log.last, d->expected_partitions, d->expected_log);
			unit_current_failed = 1;
		}
		free(img);
	}
}

/* Random header fields and entries, CRCs made valid so the parser goes deep. */
UNIT_TEST(random_gpts_stay_inside_the_disk)
{
	uint64_t seed = 0x9e3779b97f4a7c15ull;
	for (int round = 0; round < 300; round++) {
		uint8_t *img = gpt_image();
		gpt_header(img);
		for (int k = 0; k < 12; k++) {
			seed ^= seed << 13;
			seed ^= seed >> 7;
			seed ^= seed << 17;
			unsigned where = (k & 1) ? SECTOR + 24 + (unsigned)(seed % 68)
						 : 2 * SECTOR + (unsigned)((seed >> 8) % 512);
			uint64_t value = seed >> (seed & 31);
			memcpy(img + where, &value, (seed >> 40) & 1 ? 8 : 2);
		}
		gpt_seal(img);
		char name[16];
		snprintf(name, sizeof(name), "rnd%d", round);
		struct ram_disk *disk = ram_disk_new(name, img);
		CHECK_EQ(blockdev_register(&disk->dev), 0);
		partitions_of(&disk->dev);
		free(img);
	}
}

UNIT_MAIN();

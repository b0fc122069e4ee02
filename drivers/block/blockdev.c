/*
 * The block layer: the registry of disks and partitions, synchronous helpers
 * over the asynchronous submit, and the GPT scan that registers each
 * partition of a disk as a blockdev over a range of it.
 *
 * GPT (UEFI 2.x, chapter 5): LBA 0 holds a protective MBR (one partition of
 * type 0xEE, boot signature 0x55AA); LBA 1 the header "EFI PART" with a
 * CRC32 over its first HeaderSize bytes (CRC field taken as zero), the LBA
 * of the partition entry array, the number and size of entries and a CRC32
 * over the array. A disk whose GPT fails any check keeps no partitions; the
 * reason is logged. The backup GPT is not consulted.
 */
#include <drivers/block/blockdev.h>

#include <arch/x86/cpu.h>
#include <lib/errno.h>
#include <lib/log.h>
#include <lib/printf.h>
#include <lib/spinlock.h>
#include <lib/string.h>
#include <mm/heap.h>

#define GPT_SIGNATURE "EFI PART"
#define GPT_MAX_ENTRIES 1024
#define GPT_MAX_ARRAY_BYTES (GPT_MAX_ENTRIES * 128ull)
#define MBR_TYPE_PROTECTIVE 0xee

static struct blockdev *device_list;
static struct spinlock list_lock = SPINLOCK_INIT;

struct blockdev *blockdev_list(void)
{
	return device_list;
}

struct blockdev *blockdev_find(const char *name)
{
	for (struct blockdev *dev = device_list; dev; dev = dev->next)
		if (strcmp(dev->name, name) == 0)
			return dev;
	return NULL;
}

static void append(struct blockdev *dev)
{
	uint64_t flags = spin_lock_irqsave(&list_lock);
	struct blockdev **tail = &device_list;
	while (*tail)
		tail = &(*tail)->next;
	dev->next = NULL;
	*tail = dev;
	spin_unlock_irqrestore(&list_lock, flags);
}

/* --- synchronous requests ------------------------------------------------ */

struct sync_wait {
	volatile bool finished;
};

static void sync_done(struct blockdev_request *req)
{
	struct sync_wait *wait = req->opaque;
	__atomic_store_n(&wait->finished, true, __ATOMIC_RELEASE);
}

/* Drivers bound their own requests with timeouts (failing them with -EIO),
 * so the wait here ends. */
static int submit_and_wait(struct blockdev *dev, enum blockdev_op op, uint64_t sector,
			   uint32_t count, void *buffer, uint32_t flags)
{
	struct sync_wait wait = { false };
	struct blockdev_request req = {
		.op = op, .flags = flags, .sector = sector, .sector_count = count,
		.buffer = buffer, .done = sync_done, .opaque = &wait,
	};
	int rc = dev->ops->submit(dev, &req);
	if (rc)
		return rc;
	/* The interrupt normally completes it; polling now and then covers
	 * interrupts being off here and lets the driver time the request out. */
	for (uint32_t spins = 1; !__atomic_load_n(&wait.finished, __ATOMIC_ACQUIRE); spins++) {
		if (dev->ops->poll && spins % 1024 == 0)
			dev->ops->poll(dev);
		cpu_relax();
	}
	return req.status;
}

static int transfer(struct blockdev *dev, enum blockdev_op op, uint64_t sector, uint32_t count,
		    void *buffer, uint32_t flags)
{
	if (!dev || !dev->ops || !dev->ops->submit)
		return -ENODEV;
	if (op == BLOCKDEV_WRITE && dev->read_only)
		return -EROFS;
	if (sector > dev->sector_count || count > dev->sector_count - sector)
		return -EINVAL;
	uint32_t chunk = dev->max_sectors_per_request ? dev->max_sectors_per_request : count;
	uint8_t *p = buffer;
	while (count) {
		uint32_t n = count < chunk ? count : chunk;
		int rc = submit_and_wait(dev, op, sector, n, p, flags);
		if (rc)
			return rc;
		sector += n;
		count -= n;
		p += (uint64_t)n * dev->sector_size;
	}
	return 0;
}

int blockdev_read_sync(struct blockdev *dev, uint64_t sector, uint32_t count, void *buffer)
{
	return transfer(dev, BLOCKDEV_READ, sector, count, buffer, 0);
}

int blockdev_write_sync(struct blockdev *dev, uint64_t sector, uint32_t count, const void *buffer,
			uint32_t flags)
{
	return transfer(dev, BLOCKDEV_WRITE, sector, count, (void *)buffer, flags);
}

int blockdev_flush_sync(struct blockdev *dev)
{
	if (!dev || !dev->ops || !dev->ops->submit)
		return -ENODEV;
	return submit_and_wait(dev, BLOCKDEV_FLUSH, 0, 0, NULL, 0);
}

/* --- partitions ------------------------------------------------------------ */

/* A partition's request travels to its disk as a copy with the sector moved;
 * the copy completes the original. */
struct partition_request {
	struct blockdev_request inner;
	struct blockdev_request *outer;
};

static void partition_done(struct blockdev_request *inner)
{
	struct partition_request *pr = (struct partition_request *)inner;
	struct blockdev_request *outer = pr->outer;
	outer->status = inner->status;
	kfree(pr);
	outer->done(outer);
}

static int partition_submit(struct blockdev *dev, struct blockdev_request *req)
{
	if (req->op != BLOCKDEV_FLUSH &&
	    (req->sector > dev->sector_count || req->sector_count > dev->sector_count - req->sector))
		return -EINVAL;
	if (req->op == BLOCKDEV_WRITE && dev->read_only)
		return -EROFS;
	struct partition_request *pr = kmalloc(sizeof(*pr));
	if (!pr)
		return -ENOMEM;
	pr->inner = *req;
	pr->inner.sector = req->op == BLOCKDEV_FLUSH ? 0 : req->sector + dev->first_sector;
	pr->inner.done = partition_done;
	pr->inner.next = NULL;
	pr->outer = req;
	int rc = dev->parent->ops->submit(dev->parent, &pr->inner);
	if (rc)
		kfree(pr);
	return rc;
}

static void partition_poll(struct blockdev *dev)
{
	if (dev->parent->ops->poll)
		dev->parent->ops->poll(dev->parent);
}

static const struct blockdev_ops partition_ops = { .submit = partition_submit, .poll = partition_poll };

/* --- GPT ---------------------------------------------------------------- */

static uint32_t crc32(const void *data, size_t length)
{
	const uint8_t *p = data;
	uint32_t crc = 0xffffffffu;
	for (size_t i = 0; i < length; i++) {
		crc ^= p[i];
		for (int bit = 0; bit < 8; bit++)
			crc = (crc >> 1) ^ (0xedb88320u & (0u - (crc & 1)));
	}
	return ~crc;
}

static uint32_t le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t le64(const uint8_t *p)
{
	return le32(p) | (uint64_t)le32(p + 4) << 32;
}

static bool all_zero(const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i])
			return false;
	return true;
}

/* The GUID in its usual text form (the first three fields are little-endian). */
static void format_guid(const uint8_t *g, char *out, size_t size)
{
	snprintf(out, size, "%02X%02X%02X%02X-%02X%02X-%02X%02X-%02X%02X-%02X%02X%02X%02X%02X%02X",
		 g[3], g[2], g[1], g[0], g[5], g[4], g[7], g[6], g[8], g[9], g[10], g[11], g[12],
		 g[13], g[14], g[15]);
}

static void register_partition(struct blockdev *disk, unsigned number, const uint8_t *entry,
			       uint64_t first, uint64_t last)
{
	struct blockdev *part = kzalloc(sizeof(*part));
	if (!part) {
		log_warn("blockdev: warning: %s: out of memory for partition %u\n", disk->name, number);
		return;
	}
	if (snprintf(part->name, sizeof(part->name), "%sp%u", disk->name, number) >=
	    (int)sizeof(part->name)) {
		log_warn("blockdev: warning: %s: partition %u: name too long\n", disk->name, number);
		kfree(part);
		return;
	}
	part->sector_size = disk->sector_size;
	part->sector_count = last - first + 1;
	part->max_sectors_per_request = disk->max_sectors_per_request;
	part->read_only = disk->read_only;
	part->has_fua = disk->has_fua;
	part->ops = &partition_ops;
	part->parent = disk;
	part->first_sector = first;
	memcpy(part->partition_type_guid, entry, 16);

	char label[37];
	size_t n = 0;
	for (unsigned i = 0; i < 36 && n < sizeof(label) - 1; i++) {
		uint16_t c = (uint16_t)(entry[56 + 2 * i] | entry[57 + 2 * i] << 8);
		if (!c)
			break;
		label[n++] = c >= 0x20 && c < 0x7f ? (char)c : '?';
	}
	label[n] = 0;
	char type[40];
	format_guid(entry, type, sizeof(type));
	append(part);
	log_info("blockdev: %s: sectors %lu-%lu of %s, %lu MiB, type %s, name '%s'\n", part->name,
		 first, last, disk->name, (part->sector_count * part->sector_size) >> 20, type, label);
}

static int gpt_check_header(struct blockdev *disk, uint8_t *header, const char **why)
{
	uint32_t header_size = le32(header + 12);
	if (memcmp(header, GPT_SIGNATURE, 8) != 0) {
		*why = "no 'EFI PART' signature at LBA 1";
		return -ENOENT;
	}
	if (header_size < 92 || header_size > disk->sector_size) {
		*why = "header size out of range";
		return -EINVAL;
	}
	uint32_t stored = le32(header + 16);
	header[16] = header[17] = header[18] = header[19] = 0;
	if (crc32(header, header_size) != stored) {
		*why = "header CRC32 mismatch";
		return -EINVAL;
	}
	if (le64(header + 24) != 1) {
		*why = "header does not say it is at LBA 1";
		return -EINVAL;
	}
	uint64_t first_usable = le64(header + 40), last_usable = le64(header + 48);
	if (first_usable > last_usable || last_usable >= disk->sector_count) {
		*why = "usable range outside the disk";
		return -EINVAL;
	}
	uint32_t entry_count = le32(header + 80), entry_size = le32(header + 84);
	if (entry_size < 128 || entry_size % 8 || entry_count > GPT_MAX_ENTRIES ||
	    (uint64_t)entry_count * entry_size > GPT_MAX_ARRAY_BYTES) {
		*why = "partition entry count or size out of range";
		return -EINVAL;
	}
	uint64_t array_lba = le64(header + 72);
	uint64_t array_sectors = ((uint64_t)entry_count * entry_size + disk->sector_size - 1) /
				 disk->sector_size;
	if (array_lba < 2 || array_lba >= disk->sector_count ||
	    array_sectors > disk->sector_count - array_lba) {
		*why = "partition entry array outside the disk";
		return -EINVAL;
	}
	return 0;
}

static void gpt_scan(struct blockdev *disk)
{
	const char *why = NULL;
	uint8_t *sector = kmalloc(disk->sector_size);
	uint8_t *header = kmalloc(disk->sector_size);
	uint8_t *array = NULL;

	if (!sector || !header)
		goto out;
	if (disk->sector_count < 3)
		goto out;
	int rc = blockdev_read_sync(disk, 0, 1, sector);
	if (rc) {
		log_warn("blockdev: %s: cannot read the MBR (error %d)\n", disk->name, rc);
		goto out;
	}
	bool protective = false;
	if (sector[510] == 0x55 && sector[511] == 0xaa)
		for (int i = 0; i < 4; i++)
			protective |= sector[446 + 16 * i + 4] == MBR_TYPE_PROTECTIVE;
	rc = blockdev_read_sync(disk, 1, 1, header);
	if (rc) {
		log_warn("blockdev: %s: cannot read the GPT header (error %d)\n", disk->name, rc);
		goto out;
	}
	rc = gpt_check_header(disk, header, &why);
	if (rc == -ENOENT) {
		log_info("blockdev: %s: no GPT%s\n", disk->name, protective ? " (but a protective MBR)" : "");
		goto out;
	}
	if (rc) {
		log_warn("blockdev: %s: GPT ignored: %s\n", disk->name, why);
		goto out;
	}
	if (!protective)
		log_warn("blockdev: %s: warning: GPT without a protective MBR\n", disk->name);

	uint32_t entry_count = le32(header + 80), entry_size = le32(header + 84);
	uint64_t array_lba = le64(header + 72);
	uint64_t first_usable = le64(header + 40), last_usable = le64(header + 48);
	uint32_t array_sectors = (uint32_t)(((uint64_t)entry_count * entry_size + disk->sector_size - 1) /
					    disk->sector_size);
	array = kmalloc((size_t)array_sectors * disk->sector_size);
	if (!array)
		goto out;
	rc = blockdev_read_sync(disk, array_lba, array_sectors, array);
	if (rc) {
		log_warn("blockdev: %s: cannot read the GPT entries (error %d)\n", disk->name, rc);
		goto out;
	}
	if (crc32(array, (size_t)entry_count * entry_size) != le32(header + 88)) {
		log_warn("blockdev: %s: GPT ignored: partition entry array CRC32 mismatch\n", disk->name);
		goto out;
	}
	unsigned found = 0;
	for (uint32_t i = 0; i < entry_count; i++) {
		const uint8_t *entry = array + (size_t)i * entry_size;
		if (all_zero(entry, 16))
			continue;
		uint64_t first = le64(entry + 32), last = le64(entry + 40);
		if (first > last || first < first_usable || last > last_usable) {
			log_warn("blockdev: %s: GPT entry %u ignored: sectors %lu-%lu outside the usable %lu-%lu\n",
				 disk->name, i + 1, first, last, first_usable, last_usable);
			continue;
		}
		register_partition(disk, i + 1, entry, first, last);
		found++;
	}
	log_info("blockdev: %s: GPT with %u partition%s\n", disk->name, found, found == 1 ? "" : "s");
out:
	kfree(array);
	kfree(header);
	kfree(sector);
}

int blockdev_register(struct blockdev *dev)
{
	if (!dev || !dev->ops || !dev->ops->submit || !dev->name[0])
		return -EINVAL;
	if (dev->sector_size < 512 || (dev->sector_size & (dev->sector_size - 1)))
		return -EINVAL;
	if (blockdev_find(dev->name))
		return -EEXIST;
	dev->parent = NULL;
	dev->first_sector = 0;
	memset(dev->partition_type_guid, 0, sizeof(dev->partition_type_guid));
	append(dev);
	uint64_t bytes = dev->sector_count * dev->sector_size;
	log_info("blockdev: %s: %lu sectors of %u bytes (%lu MiB)%s\n", dev->name, dev->sector_count,
		 dev->sector_size, bytes >> 20, dev->read_only ? ", read-only" : "");
	gpt_scan(dev);
	return 0;
}

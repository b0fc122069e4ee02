/*
 * AHCI 1.x SATA host bus adapters (QEMU's q35 ICH9, `-device ahci`): one
 * blockdev per port with a SATA disk (signature 0x00000101; ATAPI and port
 * multipliers are skipped). Each port uses command slot 0 only: a command
 * list, received-FIS area and one command table with one PRD live in one
 * frame; data goes through a contiguous bounce buffer.
 *
 * Commands: IDENTIFY DEVICE (capacity from words 100-103, LBA48 required),
 * READ/WRITE DMA EXT and FLUSH CACHE EXT. Completion is polled (CI bit 0
 * clearing, or a task-file error), bounded by AHCI_TIMEOUT_MS: requests are
 * issued one at a time under the port lock, so there is nothing to overlap
 * yet; an error or a timeout fails the request with -EIO and a timeout takes
 * the port out of service.
 */
#include <drivers/block/blockdev.h>
#include <drivers/block/drivers.h>
#include <drivers/pci/pci.h>

#include <arch/x86/cpu.h>
#include <arch/x86/lapic.h>
#include <lib/errno.h>
#include <lib/log.h>
#include <lib/printf.h>
#include <lib/spinlock.h>
#include <lib/string.h>
#include <mm/heap.h>
#include <mm/pmm.h>
#include <mm/vmm.h>

/* HBA registers */
#define HBA_CAP 0x00
#define HBA_GHC 0x04
#define HBA_PI 0x0c
#define GHC_AE (1u << 31)
#define CAP_S64A (1u << 31)

/* Port registers, at 0x100 + 0x80 * port */
#define PORT_CLB 0x00
#define PORT_CLBU 0x04
#define PORT_FB 0x08
#define PORT_FBU 0x0c
#define PORT_IS 0x10
#define PORT_IE 0x14
#define PORT_CMD 0x18
#define PORT_TFD 0x20
#define PORT_SIG 0x24
#define PORT_SSTS 0x28
#define PORT_SERR 0x30
#define PORT_CI 0x38

#define CMD_ST (1u << 0)
#define CMD_FRE (1u << 4)
#define CMD_FR (1u << 14)
#define CMD_CR (1u << 15)
#define TFD_ERR (1u << 0)
#define TFD_DRQ (1u << 3)
#define TFD_BSY (1u << 7)
#define IS_TFES (1u << 30)

#define SIG_SATA 0x00000101u
#define FIS_TYPE_H2D 0x27

#define ATA_IDENTIFY 0xec
#define ATA_READ_DMA_EXT 0x25
#define ATA_WRITE_DMA_EXT 0x35
#define ATA_FLUSH_CACHE_EXT 0xea

#define AHCI_BOUNCE_FRAMES 16 /* 64 KiB per request */
#define AHCI_TIMEOUT_MS 5000

/* Layout of the port's frame: command list, received FIS, command table. */
#define FRAME_CMD_LIST 0x000
#define FRAME_RX_FIS 0x400
#define FRAME_CMD_TABLE 0x500
#define TABLE_PRDT 0x80

struct ahci_port {
	struct blockdev dev;
	struct spinlock lock;
	volatile uint8_t *regs;
	uint8_t *frame;
	uint64_t frame_phys;
	uint8_t *bounce;
	uint64_t bounce_phys;
	bool broken;
};

static unsigned ahci_disk_count;

static uint32_t port_read(const struct ahci_port *p, unsigned reg)
{
	return *(volatile uint32_t *)(p->regs + reg);
}

static void port_write(const struct ahci_port *p, unsigned reg, uint32_t value)
{
	*(volatile uint32_t *)(p->regs + reg) = value;
}

static bool wait_clear(const struct ahci_port *p, unsigned reg, uint32_t bits, unsigned ms)
{
	for (unsigned i = 0; i < ms * 10; i++) {
		if (!(port_read(p, reg) & bits))
			return true;
		udelay(100);
	}
	return false;
}

/* Issues one command in slot 0 and waits. bytes == 0: no data phase. */
static int port_command(struct ahci_port *p, uint8_t command, uint64_t lba, uint16_t count,
			uint32_t bytes, bool write)
{
	uint8_t *table = p->frame + FRAME_CMD_TABLE;
	memset(table, 0, TABLE_PRDT + 16);
	uint8_t *fis = table;
	fis[0] = FIS_TYPE_H2D;
	fis[1] = 0x80; /* command, not control */
	fis[2] = command;
	fis[4] = (uint8_t)lba;
	fis[5] = (uint8_t)(lba >> 8);
	fis[6] = (uint8_t)(lba >> 16);
	fis[7] = command == ATA_IDENTIFY ? 0 : 0x40; /* LBA mode */
	fis[8] = (uint8_t)(lba >> 24);
	fis[9] = (uint8_t)(lba >> 32);
	fis[10] = (uint8_t)(lba >> 40);
	fis[12] = (uint8_t)count;
	fis[13] = (uint8_t)(count >> 8);
	if (bytes) {
		volatile uint32_t *prd = (volatile uint32_t *)(table + TABLE_PRDT);
		prd[0] = (uint32_t)p->bounce_phys;
		prd[1] = (uint32_t)(p->bounce_phys >> 32);
		prd[2] = 0;
		prd[3] = bytes - 1;
	}
	volatile uint32_t *header = (volatile uint32_t *)(p->frame + FRAME_CMD_LIST);
	header[0] = 5u /* FIS length in dwords */ | (write ? 1u << 6 : 0) | (bytes ? 1u << 16 : 0);
	header[1] = 0; /* PRD byte count, written by the HBA */
	header[2] = (uint32_t)(p->frame_phys + FRAME_CMD_TABLE);
	header[3] = (uint32_t)((p->frame_phys + FRAME_CMD_TABLE) >> 32);

	if (!wait_clear(p, PORT_TFD, TFD_BSY | TFD_DRQ, AHCI_TIMEOUT_MS)) {
		p->broken = true;
		log_error("%s: port stays busy; disabled\n", p->dev.name);
		return -EIO;
	}
	port_write(p, PORT_IS, 0xffffffffu);
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	port_write(p, PORT_CI, 1);
	uint64_t deadline = rdtsc() + tsc_hz() / 1000 * AHCI_TIMEOUT_MS;
	for (;;) {
		if (port_read(p, PORT_IS) & IS_TFES)
			break;
		if (!(port_read(p, PORT_CI) & 1))
			break;
		if (rdtsc() > deadline) {
			p->broken = true;
			log_error("%s: command 0x%02x timed out after %u ms; port disabled\n", p->dev.name,
				  command, AHCI_TIMEOUT_MS);
			return -EIO;
		}
		cpu_relax();
	}
	uint32_t tfd = port_read(p, PORT_TFD);
	if ((port_read(p, PORT_IS) & IS_TFES) || (tfd & TFD_ERR)) {
		log_warn("%s: command 0x%02x at lba %lu failed (status 0x%02x error 0x%02x)\n",
			 p->dev.name, command, lba, tfd & 0xff, (tfd >> 8) & 0xff);
		/* Restart the port's command engine to clear the error state. */
		port_write(p, PORT_CMD, port_read(p, PORT_CMD) & ~CMD_ST);
		wait_clear(p, PORT_CMD, CMD_CR, 500);
		port_write(p, PORT_SERR, 0xffffffffu);
		port_write(p, PORT_IS, 0xffffffffu);
		port_write(p, PORT_CMD, port_read(p, PORT_CMD) | CMD_ST);
		return -EIO;
	}
	return 0;
}

static int ahci_submit(struct blockdev *dev, struct blockdev_request *req)
{
	struct ahci_port *p = dev->driver_data;
	if (req->op == BLOCKDEV_UNMAP)
		return -EOPNOTSUPP;
	if (req->op != BLOCKDEV_FLUSH && (req->sector_count == 0 ||
					  req->sector_count > dev->max_sectors_per_request))
		return -EINVAL;
	uint32_t bytes = req->sector_count * dev->sector_size;
	uint64_t flags = spin_lock_irqsave(&p->lock);
	int status;
	if (p->broken) {
		status = -EIO;
	} else if (req->op == BLOCKDEV_FLUSH) {
		status = port_command(p, ATA_FLUSH_CACHE_EXT, 0, 0, 0, false);
	} else if (req->op == BLOCKDEV_WRITE) {
		memcpy(p->bounce, req->buffer, bytes);
		status = port_command(p, ATA_WRITE_DMA_EXT, req->sector, (uint16_t)req->sector_count,
				      bytes, true);
		if (!status && (req->flags & BLOCKDEV_REQ_FUA))
			status = port_command(p, ATA_FLUSH_CACHE_EXT, 0, 0, 0, false);
	} else {
		status = port_command(p, ATA_READ_DMA_EXT, req->sector, (uint16_t)req->sector_count,
				      bytes, false);
		if (!status)
			memcpy(req->buffer, p->bounce, bytes);
	}
	spin_unlock_irqrestore(&p->lock, flags);
	req->status = status;
	req->done(req);
	return 0;
}

static const struct blockdev_ops ahci_ops = { .submit = ahci_submit };

static void identify_string(const uint16_t *words, unsigned first, unsigned count, char *out)
{
	unsigned n = 0;
	for (unsigned i = 0; i < count; i++) {
		out[n++] = (char)(words[first + i] >> 8);
		out[n++] = (char)words[first + i];
	}
	while (n && out[n - 1] == ' ')
		n--;
	out[n] = 0;
	for (unsigned i = 0; i < n; i++)
		if (out[i] < 0x20 || out[i] > 0x7e)
			out[i] = '?';
}

static void ahci_port_init(const struct pci_device *pci, volatile uint8_t *abar, unsigned index,
			   bool dma64)
{
	struct ahci_port *p = kzalloc(sizeof(*p));
	if (!p)
		return;
	p->regs = abar + 0x100 + 0x80ul * index;
	uint32_t ssts = port_read(p, PORT_SSTS);
	if ((ssts & 0xf) != 3 || port_read(p, PORT_SIG) != SIG_SATA) {
		kfree(p); /* no device, no link, or not a disk (ATAPI) */
		return;
	}
	snprintf(p->dev.name, sizeof(p->dev.name), "ahci%u", ahci_disk_count);
	/* Stop the engines before moving the command list and FIS area. */
	port_write(p, PORT_CMD, port_read(p, PORT_CMD) & ~CMD_ST);
	if (!wait_clear(p, PORT_CMD, CMD_CR, 500)) {
		log_warn("%s: port %u does not stop, ignored\n", p->dev.name, index);
		kfree(p);
		return;
	}
	port_write(p, PORT_CMD, port_read(p, PORT_CMD) & ~CMD_FRE);
	if (!wait_clear(p, PORT_CMD, CMD_FR, 500)) {
		log_warn("%s: port %u FIS receive does not stop, ignored\n", p->dev.name, index);
		kfree(p);
		return;
	}
	/* Below 4 GiB unless the HBA does 64-bit DMA. */
	uint64_t limit = dma64 ? UINT64_MAX : (1ull << 32);
	p->frame_phys = pmm_alloc_in(0, limit);
	p->bounce_phys = pmm_alloc_contiguous(AHCI_BOUNCE_FRAMES, PMM_FRAME_SIZE);
	if (!p->frame_phys || !p->bounce_phys || p->bounce_phys + AHCI_BOUNCE_FRAMES * PMM_FRAME_SIZE > limit) {
		log_warn("%s: no DMA memory for port %u, ignored\n", p->dev.name, index);
		return;
	}
	p->frame = phys_to_virt(p->frame_phys);
	p->bounce = phys_to_virt(p->bounce_phys);
	memset(p->frame, 0, PMM_FRAME_SIZE);
	port_write(p, PORT_CLB, (uint32_t)(p->frame_phys + FRAME_CMD_LIST));
	port_write(p, PORT_CLBU, (uint32_t)((p->frame_phys + FRAME_CMD_LIST) >> 32));
	port_write(p, PORT_FB, (uint32_t)(p->frame_phys + FRAME_RX_FIS));
	port_write(p, PORT_FBU, (uint32_t)((p->frame_phys + FRAME_RX_FIS) >> 32));
	port_write(p, PORT_SERR, 0xffffffffu);
	port_write(p, PORT_IS, 0xffffffffu);
	port_write(p, PORT_IE, 0); /* polled */
	port_write(p, PORT_CMD, port_read(p, PORT_CMD) | CMD_FRE);
	port_write(p, PORT_CMD, port_read(p, PORT_CMD) | CMD_ST);

	if (port_command(p, ATA_IDENTIFY, 0, 0, 512, false)) {
		log_warn("%s: IDENTIFY failed on port %u, ignored\n", p->dev.name, index);
		return;
	}
	const uint16_t *id = (const uint16_t *)p->bounce;
	if (!(id[83] & (1u << 10))) {
		log_warn("%s: disk on port %u has no LBA48, ignored\n", p->dev.name, index);
		return;
	}
	uint64_t sectors = id[100] | (uint64_t)id[101] << 16 | (uint64_t)id[102] << 32 |
			   (uint64_t)id[103] << 48;
	uint32_t sector_size = 512;
	/* Word 106: valid (bit 14 set, 15 clear) with a long logical sector (bit 12). */
	if ((id[106] & 0xc000) == 0x4000 && (id[106] & (1u << 12)))
		sector_size = 2u * (id[117] | (uint32_t)id[118] << 16);
	if (sector_size < 512 || sector_size > AHCI_BOUNCE_FRAMES * PMM_FRAME_SIZE ||
	    (sector_size & (sector_size - 1))) {
		log_warn("%s: logical sector size %u not supported, ignored\n", p->dev.name, sector_size);
		return;
	}
	char model[41];
	identify_string(id, 27, 20, model);

	p->dev.sector_size = sector_size;
	p->dev.sector_count = sectors;
	p->dev.max_sectors_per_request = AHCI_BOUNCE_FRAMES * PMM_FRAME_SIZE / sector_size;
	p->dev.has_fua = false;
	p->dev.ops = &ahci_ops;
	p->dev.driver_data = p;
	log_info("%s: SATA disk '%s' on AHCI %02x:%02x.%u port %u, %lu sectors\n", p->dev.name, model,
		 pci->bus, pci->device, pci->function, index, sectors);
	ahci_disk_count++;
	blockdev_register(&p->dev);
}

int ahci_probe(struct pci_device *pci)
{
	if (pci->class_code != 0x01 || pci->subclass != 0x06 || pci->prog_if != 0x01)
		return -ENODEV;
	volatile uint8_t *abar = pci_map_bar(pci, 5);
	if (!abar) {
		log_warn("ahci: %02x:%02x.%u has no usable ABAR (BAR5), ignored\n", pci->bus, pci->device,
			 pci->function);
		return 0;
	}
	pci_enable_device(pci);
	volatile uint32_t *ghc = (volatile uint32_t *)(abar + HBA_GHC);
	*ghc |= GHC_AE;
	uint32_t cap = *(volatile uint32_t *)(abar + HBA_CAP);
	uint32_t implemented = *(volatile uint32_t *)(abar + HBA_PI);
	log_info("ahci: %02x:%02x.%u AHCI %u ports (implemented 0x%x)\n", pci->bus, pci->device,
		 pci->function, (cap & 0x1f) + 1, implemented);
	for (unsigned port = 0; port < 32; port++)
		if (implemented & (1u << port))
			ahci_port_init(pci, abar, port, (cap & CAP_S64A) != 0);
	return 0;
}

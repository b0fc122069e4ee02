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
#include <arch/x86/interrupt.h>
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
#define HBA_IS 0x08
#define HBA_PI 0x0c
#define GHC_AE (1u << 31)
#define GHC_IE (1u << 1)
#define IE_DHRS (1u << 0) /* device-to-host register FIS: a command ended */
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

struct ahci_hba;

struct ahci_port {
	struct blockdev dev;
	struct spinlock lock; /* guards the fields below and the port's registers */
	struct ahci_hba *hba;
	volatile uint8_t *regs;
	uint8_t *frame;
	uint64_t frame_phys;
	uint8_t *bounce;
	uint64_t bounce_phys;
	bool broken;
	uint8_t command;        /* the one in slot 0, for messages */
	uint64_t lba;
	bool error_seen;        /* task-file error since the last issue */
	bool flush_after;       /* a FUA write: FLUSH CACHE EXT follows */
	struct blockdev_request *inflight;
	uint64_t inflight_deadline; /* TSC */
	struct blockdev_request *waiting, *waiting_tail;
};

struct ahci_hba {
	volatile uint8_t *abar;
	struct ahci_port *ports[32];
	unsigned index;
	bool use_interrupts;
	uint8_t vector;
	uint64_t interrupts;
};

static struct ahci_hba *hba_by_vector[256];
static unsigned ahci_hba_count;

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

/* Puts one command in slot 0 and starts it; bytes == 0: no data phase.
 * @pre lock held (or probe time). */
static int port_issue(struct ahci_port *p, uint8_t command, uint64_t lba, uint16_t count,
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
	p->command = command;
	p->lba = lba;
	p->error_seen = false;
	port_write(p, PORT_IS, 0xffffffffu);
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	port_write(p, PORT_CI, 1);
	return 0;
}

/* 1: still running; 0: done; -EIO: failed (the port is restarted). */
static int port_check(struct ahci_port *p)
{
	p->error_seen |= (port_read(p, PORT_IS) & IS_TFES) != 0;
	if (!p->error_seen && (port_read(p, PORT_CI) & 1))
		return 1;
	uint32_t tfd = port_read(p, PORT_TFD);
	if (p->error_seen || (tfd & TFD_ERR)) {
		log_warn("%s: command 0x%02x at lba %lu failed (status 0x%02x error 0x%02x)\n",
			 p->dev.name, p->command, p->lba, tfd & 0xff, (tfd >> 8) & 0xff);
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

/* Issues one command and polls it (probe time, and without interrupts). */
static int port_command(struct ahci_port *p, uint8_t command, uint64_t lba, uint16_t count,
			uint32_t bytes, bool write)
{
	int rc = port_issue(p, command, lba, count, bytes, write);
	if (rc)
		return rc;
	uint64_t deadline = rdtsc() + tsc_hz() / 1000 * AHCI_TIMEOUT_MS;
	while ((rc = port_check(p)) == 1) {
		if (rdtsc() > deadline) {
			p->broken = true;
			log_error("%s: command 0x%02x timed out after %u ms; port disabled\n", p->dev.name,
				  command, AHCI_TIMEOUT_MS);
			return -EIO;
		}
		cpu_relax();
	}
	return rc;
}

static int start_request(struct ahci_port *p, struct blockdev_request *req)
{
	uint32_t bytes = req->sector_count * p->dev.sector_size;
	p->flush_after = false;
	if (req->op == BLOCKDEV_FLUSH)
		return port_issue(p, ATA_FLUSH_CACHE_EXT, 0, 0, 0, false);
	if (req->op == BLOCKDEV_WRITE) {
		memcpy(p->bounce, req->buffer, bytes);
		p->flush_after = (req->flags & BLOCKDEV_REQ_FUA) != 0;
		return port_issue(p, ATA_WRITE_DMA_EXT, req->sector, (uint16_t)req->sector_count, bytes, true);
	}
	return port_issue(p, ATA_READ_DMA_EXT, req->sector, (uint16_t)req->sector_count, bytes, false);
}

static void push_done(struct blockdev_request *req, int status, struct blockdev_request **done_list)
{
	req->status = status;
	req->next = *done_list;
	*done_list = req;
}

/* Starts waiting requests until one is in flight. @pre lock held. */
static void start_next(struct ahci_port *p, struct blockdev_request **done_list)
{
	while (p->waiting && !p->inflight && !p->broken) {
		struct blockdev_request *req = p->waiting;
		p->waiting = req->next;
		if (!p->waiting)
			p->waiting_tail = NULL;
		int rc = start_request(p, req);
		if (rc) {
			push_done(req, rc, done_list);
			continue;
		}
		p->inflight = req;
		p->inflight_deadline = rdtsc() + tsc_hz() / 1000 * AHCI_TIMEOUT_MS;
	}
}

/* Checks the command in flight, starts the next, enforces the timeout.
 * @pre lock held; finished requests go to *done_list (done() after unlock). */
static void port_reap(struct ahci_port *p, struct blockdev_request **done_list)
{
	if (p->inflight) {
		struct blockdev_request *req = p->inflight;
		int rc = port_check(p);
		if (rc == 0 && p->flush_after) {
			p->flush_after = false;
			rc = port_issue(p, ATA_FLUSH_CACHE_EXT, 0, 0, 0, false);
			if (rc == 0) {
				p->inflight_deadline = rdtsc() + tsc_hz() / 1000 * AHCI_TIMEOUT_MS;
				rc = 1;
			}
		}
		if (rc == 1 && rdtsc() > p->inflight_deadline) {
			p->broken = true;
			log_error("%s: command 0x%02x timed out after %u ms; port disabled\n", p->dev.name,
				  p->command, AHCI_TIMEOUT_MS);
			rc = -EIO;
		}
		if (rc != 1) {
			p->inflight = NULL;
			if (rc == 0 && req->op == BLOCKDEV_READ)
				memcpy(req->buffer, p->bounce, (size_t)req->sector_count * p->dev.sector_size);
			push_done(req, rc, done_list);
		}
	}
	start_next(p, done_list);
	if (p->broken) {
		while (p->waiting) {
			struct blockdev_request *req = p->waiting;
			p->waiting = req->next;
			push_done(req, -EIO, done_list);
		}
		p->waiting_tail = NULL;
	}
}

static void port_service(struct ahci_port *p)
{
	struct blockdev_request *done_list = NULL;
	uint64_t flags = spin_lock_irqsave(&p->lock);
	/* Acknowledge first, remembering an error, so a later completion
	 * raises a new interrupt. */
	uint32_t is = port_read(p, PORT_IS);
	p->error_seen |= (is & IS_TFES) != 0;
	port_write(p, PORT_IS, is);
	port_reap(p, &done_list);
	spin_unlock_irqrestore(&p->lock, flags);
	while (done_list) {
		struct blockdev_request *req = done_list;
		done_list = req->next;
		req->done(req);
	}
}

static void ahci_interrupt(struct interrupt_frame *frame)
{
	struct ahci_hba *hba = hba_by_vector[frame->vector & 0xff];
	if (!hba)
		return;
	if (__atomic_fetch_add(&hba->interrupts, 1, __ATOMIC_RELAXED) == 0)
		log_info("ahci-hba%u: first I/O interrupt (vector 0x%x)\n", hba->index, hba->vector);
	uint32_t pending = *(volatile uint32_t *)(hba->abar + HBA_IS);
	for (unsigned i = 0; i < 32; i++)
		if ((pending & (1u << i)) && hba->ports[i])
			port_service(hba->ports[i]);
	*(volatile uint32_t *)(hba->abar + HBA_IS) = pending;
}

static void ahci_poll(struct blockdev *dev)
{
	struct ahci_port *p = dev->driver_data;
	if (p->hba->use_interrupts)
		port_service(p);
}

static int ahci_submit(struct blockdev *dev, struct blockdev_request *req)
{
	struct ahci_port *p = dev->driver_data;
	if (req->op == BLOCKDEV_UNMAP)
		return -EOPNOTSUPP;
	if (req->op != BLOCKDEV_FLUSH && (req->sector_count == 0 ||
					  req->sector_count > dev->max_sectors_per_request))
		return -EINVAL;
	struct blockdev_request *done_list = NULL;
	uint64_t flags = spin_lock_irqsave(&p->lock);
	if (p->hba->use_interrupts) {
		req->next = NULL;
		if (p->waiting_tail)
			p->waiting_tail->next = req;
		else
			p->waiting = req;
		p->waiting_tail = req;
		start_next(p, &done_list);
		if (p->broken)
			port_reap(p, &done_list);
		spin_unlock_irqrestore(&p->lock, flags);
		while (done_list) {
			struct blockdev_request *done = done_list;
			done_list = done->next;
			done->done(done);
		}
		return 0;
	}
	/* Without interrupts: the whole request here. */
	int status = p->broken ? -EIO : start_request(p, req);
	if (!status) {
		uint64_t deadline = rdtsc() + tsc_hz() / 1000 * AHCI_TIMEOUT_MS;
		while ((status = port_check(p)) == 1) {
			if (rdtsc() > deadline) {
				p->broken = true;
				log_error("%s: command 0x%02x timed out; port disabled\n", dev->name, p->command);
				status = -EIO;
				break;
			}
			cpu_relax();
		}
		if (!status && p->flush_after)
			status = port_command(p, ATA_FLUSH_CACHE_EXT, 0, 0, 0, false);
		if (!status && req->op == BLOCKDEV_READ)
			memcpy(req->buffer, p->bounce, (size_t)req->sector_count * dev->sector_size);
	}
	spin_unlock_irqrestore(&p->lock, flags);
	req->status = status;
	req->done(req);
	return 0;
}

static const struct blockdev_ops ahci_ops = { .submit = ahci_submit, .poll = ahci_poll };

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

static void ahci_port_init(const struct pci_device *pci, struct ahci_hba *hba, unsigned index,
			   bool dma64)
{
	struct ahci_port *p = kzalloc(sizeof(*p));
	if (!p)
		return;
	p->hba = hba;
	p->regs = hba->abar + 0x100 + 0x80ul * index;
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
	/* Interrupts on now that probe-time commands are done. */
	port_write(p, PORT_IS, 0xffffffffu);
	port_write(p, PORT_IE, hba->use_interrupts ? IE_DHRS | IS_TFES : 0);
	hba->ports[index] = p;
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
	struct ahci_hba *hba = kzalloc(sizeof(*hba));
	if (!hba)
		return -ENOMEM;
	hba->abar = abar;
	hba->index = ahci_hba_count++;
	volatile uint32_t *ghc = (volatile uint32_t *)(abar + HBA_GHC);
	*ghc |= GHC_AE;
	hba->vector = pci_alloc_vector();
	if (hba->vector) {
		hba_by_vector[hba->vector] = hba;
		interrupt_register(hba->vector, ahci_interrupt);
		hba->use_interrupts = pci_msix_enable(pci, 0, hba->vector) == 0 ||
				      pci_msi_enable(pci, hba->vector) == 0;
	}
	uint32_t cap = *(volatile uint32_t *)(abar + HBA_CAP);
	uint32_t implemented = *(volatile uint32_t *)(abar + HBA_PI);
	log_info("ahci-hba%u: %02x:%02x.%u AHCI %u ports (implemented 0x%x), completion by %s\n", hba->index,
		 pci->bus, pci->device, pci->function, (cap & 0x1f) + 1, implemented,
		 hba->use_interrupts ? (pci->msix_cap ? "MSI-X" : "MSI") : "polling");
	for (unsigned port = 0; port < 32; port++)
		if (implemented & (1u << port))
			ahci_port_init(pci, hba, port, (cap & CAP_S64A) != 0);
	if (hba->use_interrupts)
		*ghc |= GHC_IE;
	return 0;
}

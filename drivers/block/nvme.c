/*
 * NVMe 1.x controllers (QEMU `-device nvme`): the admin queue pair, Identify
 * Controller and Identify Namespace, one I/O queue pair (I/O completion
 * queue 1 with interrupts off, submission queue 1), and Read, Write and
 * Flush. One blockdev per active namespace ("nvme0n1").
 *
 * Memory: every queue is one frame; data goes through a contiguous 64 KiB
 * bounce buffer described by PRP1 (first page) and PRP2 (a PRP list frame
 * holding the other pages, built once), so one I/O command is in flight at
 * a time and the others wait in a FIFO.
 *
 * I/O completion is interrupt-driven: MSI-X entry 0 (or MSI) raises a vector
 * from the PCI pool and the handler reaps the completion queue and starts the
 * next request. The same reaping runs from blockdev poll (sync waiters) and
 * enforces the timeout (CAP.TO, at least NVME_TIMEOUT_MS): a command that
 * never completes fails with -EIO, with everything queued behind it, and
 * takes the controller out of service; an error status fails that request
 * only. Without MSI/MSI-X, I/O is issued and polled synchronously. Admin
 * commands (initialisation only) are always polled.
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

#define REG_CAP 0x00
#define REG_CC 0x14
#define REG_CSTS 0x1c
#define REG_AQA 0x24
#define REG_ASQ 0x28
#define REG_ACQ 0x30
#define REG_DOORBELLS 0x1000

#define CC_ENABLE 1u
#define CC_IOSQES (6u << 16) /* 64-byte submission entries */
#define CC_IOCQES (4u << 20) /* 16-byte completion entries */
#define CSTS_READY 1u
#define CSTS_FATAL 2u

#define ADMIN_CREATE_SQ 0x01
#define ADMIN_CREATE_CQ 0x05
#define ADMIN_IDENTIFY 0x06
#define IO_FLUSH 0x00
#define IO_WRITE 0x01
#define IO_READ 0x02

#define NVME_QUEUE_ENTRIES 16
#define NVME_BOUNCE_FRAMES 16 /* 64 KiB per request */
#define NVME_TIMEOUT_MS 5000
#define NVME_MAX_NAMESPACES 8

struct nvme_command {
	uint32_t dw0; /* opcode | command id << 16 */
	uint32_t nsid;
	uint64_t reserved;
	uint64_t metadata;
	uint64_t prp1;
	uint64_t prp2;
	uint32_t cdw10, cdw11, cdw12, cdw13, cdw14, cdw15;
};

struct nvme_completion {
	uint32_t result;
	uint32_t reserved;
	uint16_t sq_head;
	uint16_t sq_id;
	uint16_t command_id;
	uint16_t status; /* bit 0: phase tag */
};

struct nvme_queue {
	volatile struct nvme_command *sq;
	volatile struct nvme_completion *cq;
	uint64_t sq_phys, cq_phys;
	uint16_t sq_tail, cq_head;
	uint8_t phase;
	uint16_t id;
};

struct nvme_namespace;

/* A request waiting for, or in, the I/O queue. */
struct nvme_pending {
	struct blockdev_request *req;
	struct nvme_namespace *ns;
	struct nvme_pending *next;
};

struct nvme_controller {
	struct spinlock lock; /* guards everything below after probe */
	volatile uint8_t *regs;
	uint32_t doorbell_stride;
	uint32_t timeout_ms;
	struct nvme_queue admin, io;
	uint16_t next_command_id;
	uint8_t *bounce;
	uint64_t bounce_phys;
	uint64_t prp_list_phys;
	bool broken;
	unsigned index;
	bool use_interrupts;
	uint8_t vector;
	uint64_t interrupts;
	struct nvme_pending *inflight;       /* on the I/O queue, or NULL */
	uint16_t inflight_command_id;
	uint64_t inflight_deadline;          /* TSC */
	struct nvme_pending *waiting, *waiting_tail;
};

struct nvme_namespace {
	struct blockdev dev;
	struct nvme_controller *ctrl;
	uint32_t nsid;
};

static unsigned nvme_count;

static uint32_t reg_read32(const struct nvme_controller *c, unsigned reg)
{
	return *(volatile uint32_t *)(c->regs + reg);
}

static void reg_write32(const struct nvme_controller *c, unsigned reg, uint32_t value)
{
	*(volatile uint32_t *)(c->regs + reg) = value;
}

static void reg_write64(const struct nvme_controller *c, unsigned reg, uint64_t value)
{
	reg_write32(c, reg, (uint32_t)value);
	reg_write32(c, reg + 4, (uint32_t)(value >> 32));
}

static void doorbell(const struct nvme_controller *c, uint16_t queue, bool completion, uint16_t value)
{
	reg_write32(c, REG_DOORBELLS + (2u * queue + (completion ? 1u : 0u)) * c->doorbell_stride, value);
}

static int queue_init(struct nvme_queue *q, uint16_t id)
{
	q->sq_phys = vmm_alloc_zeroed_frame();
	q->cq_phys = vmm_alloc_zeroed_frame();
	if (!q->sq_phys || !q->cq_phys)
		return -ENOMEM;
	q->sq = phys_to_virt(q->sq_phys);
	q->cq = phys_to_virt(q->cq_phys);
	q->sq_tail = q->cq_head = 0;
	q->phase = 1;
	q->id = id;
	return 0;
}

/* Submits cmd on q and polls for its completion; returns 0, -EIO. */
static int run_command(struct nvme_controller *c, struct nvme_queue *q, struct nvme_command *cmd,
		       uint32_t *result)
{
	if (c->broken)
		return -EIO;
	uint16_t command_id = c->next_command_id++;
	cmd->dw0 = (cmd->dw0 & 0xffffu) | (uint32_t)command_id << 16;
	q->sq[q->sq_tail] = *cmd;
	q->sq_tail = (uint16_t)((q->sq_tail + 1) % NVME_QUEUE_ENTRIES);
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	doorbell(c, q->id, false, q->sq_tail);

	uint64_t deadline = rdtsc() + tsc_hz() / 1000 * c->timeout_ms;
	for (;;) {
		volatile struct nvme_completion *e = &q->cq[q->cq_head];
		uint16_t status = e->status;
		if ((status & 1) == q->phase) {
			uint16_t id = e->command_id;
			if (result)
				*result = e->result;
			q->cq_head = (uint16_t)((q->cq_head + 1) % NVME_QUEUE_ENTRIES);
			if (q->cq_head == 0)
				q->phase ^= 1;
			doorbell(c, q->id, true, q->cq_head);
			if (id != command_id) {
				log_warn("nvme%u: completion for command %u while waiting for %u, ignored\n",
					 c->index, id, command_id);
				continue;
			}
			uint16_t code = status >> 1;
			if (code) {
				log_warn("nvme%u: opcode 0x%02x failed (status type %u code 0x%02x)\n", c->index,
					 cmd->dw0 & 0xff, (code >> 8) & 7, code & 0xff);
				return -EIO;
			}
			return 0;
		}
		if (rdtsc() > deadline || (reg_read32(c, REG_CSTS) & CSTS_FATAL)) {
			c->broken = true;
			log_error("nvme%u: opcode 0x%02x %s; controller disabled\n", c->index, cmd->dw0 & 0xff,
				  reg_read32(c, REG_CSTS) & CSTS_FATAL ? "hit a controller fatal status" : "timed out");
			return -EIO;
		}
		cpu_relax();
	}
}

/* PRP1/PRP2 for `bytes` from the start of the bounce buffer. */
static void set_data(const struct nvme_controller *c, struct nvme_command *cmd, uint32_t bytes)
{
	cmd->prp1 = c->bounce_phys;
	if (bytes <= PMM_FRAME_SIZE)
		cmd->prp2 = 0;
	else if (bytes <= 2 * PMM_FRAME_SIZE)
		cmd->prp2 = c->bounce_phys + PMM_FRAME_SIZE;
	else
		cmd->prp2 = c->prp_list_phys;
}

static struct nvme_controller *controller_by_vector[256];

/* The I/O command for a read, write or flush; a write's data goes into the
 * bounce buffer. @pre lock held (the bounce buffer is the controller's). */
static void io_command(struct nvme_controller *c, const struct nvme_namespace *ns,
		       const struct blockdev_request *req, struct nvme_command *cmd)
{
	*cmd = (struct nvme_command){ .nsid = ns->nsid };
	if (req->op == BLOCKDEV_FLUSH) {
		cmd->dw0 = IO_FLUSH;
		return;
	}
	uint32_t bytes = req->sector_count * ns->dev.sector_size;
	cmd->dw0 = req->op == BLOCKDEV_WRITE ? IO_WRITE : IO_READ;
	set_data(c, cmd, bytes);
	cmd->cdw10 = (uint32_t)req->sector;
	cmd->cdw11 = (uint32_t)(req->sector >> 32);
	cmd->cdw12 = (req->sector_count - 1) |
		     (req->op == BLOCKDEV_WRITE && (req->flags & BLOCKDEV_REQ_FUA) ? 1u << 30 : 0);
	if (req->op == BLOCKDEV_WRITE)
		memcpy(c->bounce, req->buffer, bytes);
}

/* Issues the first waiting request when the queue is idle. @pre lock held. */
static void start_next(struct nvme_controller *c)
{
	struct nvme_pending *p = c->waiting;
	if (!p || c->inflight || c->broken)
		return;
	c->waiting = p->next;
	if (!c->waiting)
		c->waiting_tail = NULL;
	struct nvme_command cmd;
	io_command(c, p->ns, p->req, &cmd);
	c->inflight_command_id = c->next_command_id++;
	cmd.dw0 |= (uint32_t)c->inflight_command_id << 16;
	struct nvme_queue *q = &c->io;
	q->sq[q->sq_tail] = cmd;
	q->sq_tail = (uint16_t)((q->sq_tail + 1) % NVME_QUEUE_ENTRIES);
	c->inflight = p;
	c->inflight_deadline = rdtsc() + tsc_hz() / 1000 * c->timeout_ms;
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	doorbell(c, q->id, false, q->sq_tail);
}

static void finish(struct nvme_pending *p, int status, struct nvme_pending **done_list)
{
	p->req->status = status;
	p->next = *done_list;
	*done_list = p;
}

/* Reaps the I/O completion queue and checks the timeout. @pre lock held.
 * Finished requests go to *done_list; their done() runs after unlocking. */
static void reap(struct nvme_controller *c, struct nvme_pending **done_list)
{
	struct nvme_queue *q = &c->io;
	for (;;) {
		volatile struct nvme_completion *e = &q->cq[q->cq_head];
		uint16_t status = e->status;
		if ((status & 1) != q->phase)
			break;
		uint16_t id = e->command_id;
		q->cq_head = (uint16_t)((q->cq_head + 1) % NVME_QUEUE_ENTRIES);
		if (q->cq_head == 0)
			q->phase ^= 1;
		doorbell(c, q->id, true, q->cq_head);
		struct nvme_pending *p = c->inflight;
		if (!p || id != c->inflight_command_id) {
			log_warn("nvme%u: unexpected completion for command %u, ignored\n", c->index, id);
			continue;
		}
		c->inflight = NULL;
		uint16_t code = status >> 1;
		int result = 0;
		if (code) {
			log_warn("%s: I/O at %lu failed (status type %u code 0x%02x)\n", p->ns->dev.name,
				 p->req->sector, (code >> 8) & 7, code & 0xff);
			result = -EIO;
		} else if (p->req->op == BLOCKDEV_READ) {
			memcpy(p->req->buffer, c->bounce,
			       (size_t)p->req->sector_count * p->ns->dev.sector_size);
		}
		finish(p, result, done_list);
		start_next(c);
	}
	if (c->inflight && (rdtsc() > c->inflight_deadline || (reg_read32(c, REG_CSTS) & CSTS_FATAL))) {
		c->broken = true;
		log_error("nvme%u: I/O command timed out after %u ms; controller disabled\n", c->index,
			  c->timeout_ms);
		finish(c->inflight, -EIO, done_list);
		c->inflight = NULL;
	}
	if (c->broken) {
		while (c->waiting) {
			struct nvme_pending *p = c->waiting;
			c->waiting = p->next;
			finish(p, -EIO, done_list);
		}
		c->waiting_tail = NULL;
	}
}

static void complete_all(struct nvme_pending *done_list)
{
	while (done_list) {
		struct nvme_pending *p = done_list;
		done_list = p->next;
		struct blockdev_request *req = p->req;
		kfree(p);
		req->done(req);
	}
}

static void controller_service(struct nvme_controller *c)
{
	struct nvme_pending *done_list = NULL;
	uint64_t flags = spin_lock_irqsave(&c->lock);
	reap(c, &done_list);
	spin_unlock_irqrestore(&c->lock, flags);
	complete_all(done_list);
}

static void nvme_interrupt(struct interrupt_frame *frame)
{
	struct nvme_controller *c = controller_by_vector[frame->vector & 0xff];
	if (!c)
		return;
	if (__atomic_fetch_add(&c->interrupts, 1, __ATOMIC_RELAXED) == 0)
		log_info("nvme%u: first I/O interrupt (vector 0x%x)\n", c->index, c->vector);
	controller_service(c);
}

static void nvme_poll(struct blockdev *dev)
{
	struct nvme_namespace *ns = dev->driver_data;
	if (ns->ctrl->use_interrupts)
		controller_service(ns->ctrl);
}

static int nvme_submit_queued(struct nvme_namespace *ns, struct blockdev_request *req)
{
	struct nvme_controller *c = ns->ctrl;
	struct nvme_pending *p = kzalloc(sizeof(*p));
	if (!p)
		return -ENOMEM;
	p->req = req;
	p->ns = ns;
	struct nvme_pending *done_list = NULL;
	uint64_t flags = spin_lock_irqsave(&c->lock);
	if (c->waiting_tail)
		c->waiting_tail->next = p;
	else
		c->waiting = p;
	c->waiting_tail = p;
	start_next(c);
	reap(c, &done_list); /* fails it at once if the controller is broken */
	spin_unlock_irqrestore(&c->lock, flags);
	complete_all(done_list);
	return 0;
}

static int nvme_submit(struct blockdev *dev, struct blockdev_request *req)
{
	struct nvme_namespace *ns = dev->driver_data;
	struct nvme_controller *c = ns->ctrl;
	if (req->op == BLOCKDEV_UNMAP)
		return -EOPNOTSUPP;
	if (req->op != BLOCKDEV_FLUSH && (req->sector_count == 0 ||
					  req->sector_count > dev->max_sectors_per_request))
		return -EINVAL;
	if (c->use_interrupts)
		return nvme_submit_queued(ns, req);
	uint32_t bytes = req->sector_count * dev->sector_size;
	struct nvme_command cmd;
	uint64_t flags = spin_lock_irqsave(&c->lock);
	io_command(c, ns, req, &cmd);
	int status = run_command(c, &c->io, &cmd, NULL);
	if (!status && req->op == BLOCKDEV_READ)
		memcpy(req->buffer, c->bounce, bytes);
	spin_unlock_irqrestore(&c->lock, flags);
	req->status = status;
	req->done(req);
	return 0;
}

static const struct blockdev_ops nvme_ops = { .submit = nvme_submit, .poll = nvme_poll };

static bool wait_ready(const struct nvme_controller *c, bool ready)
{
	for (uint32_t i = 0; i < c->timeout_ms * 10; i++) {
		uint32_t csts = reg_read32(c, REG_CSTS);
		if (csts == 0xffffffffu)
			return false;
		if (((csts & CSTS_READY) != 0) == ready)
			return true;
		udelay(100);
	}
	return false;
}

/* The namespace's blockdev, or NULL if it is inactive or unusable. */
static struct nvme_namespace *identify_namespace(struct nvme_controller *c, uint32_t nsid)
{
	struct nvme_command cmd = { .dw0 = ADMIN_IDENTIFY, .nsid = nsid, .cdw10 = 0 };
	set_data(c, &cmd, PMM_FRAME_SIZE);
	if (run_command(c, &c->admin, &cmd, NULL))
		return NULL;
	const uint8_t *id = c->bounce;
	uint64_t size = *(const uint64_t *)id;
	if (!size)
		return NULL; /* inactive */
	uint8_t format = id[26] & 0xf;
	if (format > id[25]) {
		log_warn("nvme%un%u: LBA format %u not among its %u formats, ignored\n", c->index, nsid,
			 format, id[25] + 1);
		return NULL;
	}
	const uint8_t *lbaf = id + 128 + 4ul * format;
	uint32_t metadata = lbaf[0] | (uint32_t)lbaf[1] << 8;
	uint8_t shift = lbaf[2];
	if (shift < 9 || shift > 16 || metadata) {
		log_warn("nvme%un%u: LBA format (2^%u bytes, %u metadata) not supported, ignored\n",
			 c->index, nsid, shift, metadata);
		return NULL;
	}
	struct nvme_namespace *ns = kzalloc(sizeof(*ns));
	if (!ns)
		return NULL;
	ns->ctrl = c;
	ns->nsid = nsid;
	snprintf(ns->dev.name, sizeof(ns->dev.name), "nvme%un%u", c->index, nsid);
	ns->dev.sector_size = 1u << shift;
	ns->dev.sector_count = size;
	ns->dev.max_sectors_per_request = NVME_BOUNCE_FRAMES * PMM_FRAME_SIZE >> shift;
	ns->dev.has_fua = true;
	ns->dev.ops = &nvme_ops;
	ns->dev.driver_data = ns;
	log_info("%s: NVMe namespace %u, %lu sectors of %u bytes\n", ns->dev.name, nsid, size,
		 ns->dev.sector_size);
	return ns;
}

static const char *controller_init(struct nvme_controller *c, const struct pci_device *pci,
				   uint32_t *namespace_count)
{
	uint64_t cap = reg_read32(c, REG_CAP) | (uint64_t)reg_read32(c, REG_CAP + 4) << 32;
	c->doorbell_stride = 4u << ((cap >> 32) & 0xf);
	c->timeout_ms = (uint32_t)((cap >> 24) & 0xff) * 500;
	if (c->timeout_ms < NVME_TIMEOUT_MS)
		c->timeout_ms = NVME_TIMEOUT_MS;
	if (!(cap & (1ull << 37)))
		return "no NVM command set";
	if (((cap >> 48) & 0xf) > 0)
		return "minimum page size above 4 KiB";
	if ((cap & 0xffff) + 1 < NVME_QUEUE_ENTRIES)
		return "queues too short";

	reg_write32(c, REG_CC, reg_read32(c, REG_CC) & ~CC_ENABLE);
	if (!wait_ready(c, false))
		return "does not reset";
	if (queue_init(&c->admin, 0) || queue_init(&c->io, 1))
		return "out of memory";
	c->bounce_phys = pmm_alloc_contiguous(NVME_BOUNCE_FRAMES, PMM_FRAME_SIZE);
	c->prp_list_phys = vmm_alloc_zeroed_frame();
	if (!c->bounce_phys || !c->prp_list_phys)
		return "out of memory";
	c->bounce = phys_to_virt(c->bounce_phys);
	uint64_t *prp_list = phys_to_virt(c->prp_list_phys);
	for (unsigned i = 1; i < NVME_BOUNCE_FRAMES; i++)
		prp_list[i - 1] = c->bounce_phys + i * PMM_FRAME_SIZE;

	reg_write32(c, REG_AQA, (NVME_QUEUE_ENTRIES - 1) << 16 | (NVME_QUEUE_ENTRIES - 1));
	reg_write64(c, REG_ASQ, c->admin.sq_phys);
	reg_write64(c, REG_ACQ, c->admin.cq_phys);
	reg_write32(c, REG_CC, CC_IOSQES | CC_IOCQES | CC_ENABLE);
	if (!wait_ready(c, true))
		return "does not become ready";

	struct nvme_command cmd = { .dw0 = ADMIN_IDENTIFY, .cdw10 = 1 };
	set_data(c, &cmd, PMM_FRAME_SIZE);
	if (run_command(c, &c->admin, &cmd, NULL))
		return "Identify Controller failed";
	*namespace_count = *(const uint32_t *)(c->bounce + 516);
	char model[41];
	for (unsigned i = 0; i < 40; i++) {
		char ch = (char)c->bounce[24 + i];
		model[i] = ch >= 0x20 && ch < 0x7f ? ch : '?';
	}
	model[40] = 0;
	for (int i = 39; i >= 0 && model[i] == ' '; i--)
		model[i] = 0;
	log_info("nvme%u: '%s', %u namespace%s\n", c->index, model, *namespace_count,
		 *namespace_count == 1 ? "" : "s");

	/* I/O completions interrupt through MSI-X entry 0 (or the one MSI). */
	c->vector = pci_alloc_vector();
	if (c->vector) {
		controller_by_vector[c->vector] = c;
		interrupt_register(c->vector, nvme_interrupt);
		c->use_interrupts = pci_msix_enable(pci, 0, c->vector) == 0 ||
				    pci_msi_enable(pci, c->vector) == 0;
	}
	cmd = (struct nvme_command){ .dw0 = ADMIN_CREATE_CQ, .prp1 = c->io.cq_phys,
				     .cdw10 = (NVME_QUEUE_ENTRIES - 1) << 16 | c->io.id,
				     /* physically contiguous; interrupts enabled, vector 0 */
				     .cdw11 = 1u | (c->use_interrupts ? 2u : 0u) };
	if (run_command(c, &c->admin, &cmd, NULL))
		return "cannot create the I/O completion queue";
	cmd = (struct nvme_command){ .dw0 = ADMIN_CREATE_SQ, .prp1 = c->io.sq_phys,
				     .cdw10 = (NVME_QUEUE_ENTRIES - 1) << 16 | c->io.id,
				     .cdw11 = (uint32_t)c->io.id << 16 | 1 };
	if (run_command(c, &c->admin, &cmd, NULL))
		return "cannot create the I/O submission queue";
	log_info("nvme%u: I/O completion by %s\n", c->index,
		 c->use_interrupts ? (pci->msix_cap ? "MSI-X" : "MSI") : "polling");
	return NULL;
}

int nvme_probe(struct pci_device *pci)
{
	if (pci->class_code != 0x01 || pci->subclass != 0x08 || pci->prog_if != 0x02)
		return -ENODEV;
	struct nvme_controller *c = kzalloc(sizeof(*c));
	if (!c)
		return -ENOMEM;
	c->index = nvme_count++;
	c->regs = pci_map_bar(pci, 0);
	if (!c->regs || pci->bars[0].size < 0x2000) {
		log_warn("nvme%u: %02x:%02x.%u has no usable BAR0, ignored\n", c->index, pci->bus,
			 pci->device, pci->function);
		return 0;
	}
	pci_enable_device(pci);
	uint32_t namespaces = 0;
	uint64_t flags = spin_lock_irqsave(&c->lock);
	const char *why = controller_init(c, pci, &namespaces);
	spin_unlock_irqrestore(&c->lock, flags);
	if (why) {
		log_warn("nvme%u: controller at %02x:%02x.%u %s, ignored\n", c->index, pci->bus,
			 pci->device, pci->function, why);
		return 0; /* c stays: the controller may still know its queues */
	}
	if (namespaces > NVME_MAX_NAMESPACES)
		namespaces = NVME_MAX_NAMESPACES;
	for (uint32_t nsid = 1; nsid <= namespaces; nsid++) {
		flags = spin_lock_irqsave(&c->lock);
		struct nvme_namespace *ns = identify_namespace(c, nsid);
		spin_unlock_irqrestore(&c->lock, flags);
		/* Unlocked: the GPT scan submits requests. */
		if (ns)
			blockdev_register(&ns->dev);
	}
	return 0;
}

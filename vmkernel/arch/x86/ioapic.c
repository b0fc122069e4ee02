#include <arch/x86/ioapic.h>

#include <lib/errno.h>
#include <lib/log.h>
#include <lib/spinlock.h>

/* Indirect access: write the register number to IOREGSEL, then use IOWIN. */
#define IOREGSEL 0x00
#define IOWIN 0x10
#define IOAPIC_REG_VERSION 0x01
#define IOAPIC_REG_REDIRECTION 0x10
#define REDIRECTION_MASKED (1u << 16)
#define REDIRECTION_LEVEL (1u << 15)
#define REDIRECTION_ACTIVE_LOW (1u << 13)

struct ioapic {
	uint8_t id;
	volatile uint32_t *mmio;
	uint32_t gsi_base;
	uint32_t inputs;
};

static struct ioapic ioapics[IOAPIC_MAX];
static uint32_t ioapic_total;
static struct spinlock ioapic_lock = SPINLOCK_INIT; /* guards the IOREGSEL/IOWIN pairs */

static uint32_t ioapic_read(struct ioapic *io, uint32_t reg)
{
	io->mmio[IOREGSEL / 4] = reg;
	return io->mmio[IOWIN / 4];
}

static void ioapic_write(struct ioapic *io, uint32_t reg, uint32_t value)
{
	io->mmio[IOREGSEL / 4] = reg;
	io->mmio[IOWIN / 4] = value;
}

int ioapic_add(uint8_t id, volatile void *mmio, uint32_t gsi_base)
{
	if (ioapic_total == IOAPIC_MAX || !mmio)
		return -EINVAL;
	struct ioapic *io = &ioapics[ioapic_total];
	io->id = id;
	io->mmio = mmio;
	io->gsi_base = gsi_base;
	uint64_t flags = spin_lock_irqsave(&ioapic_lock);
	uint32_t version = ioapic_read(io, IOAPIC_REG_VERSION);
	io->inputs = ((version >> 16) & 0xff) + 1;
	for (uint32_t i = 0; i < io->inputs; i++) {
		ioapic_write(io, IOAPIC_REG_REDIRECTION + 2 * i, REDIRECTION_MASKED);
		ioapic_write(io, IOAPIC_REG_REDIRECTION + 2 * i + 1, 0);
	}
	spin_unlock_irqrestore(&ioapic_lock, flags);
	ioapic_total++;
	log_info("ioapic: id %u version 0x%x, GSIs %u-%u, all masked\n", id, version & 0xff,
		 gsi_base, gsi_base + io->inputs - 1);
	return (int)io->inputs;
}

uint32_t ioapic_count(void)
{
	return ioapic_total;
}

static struct ioapic *ioapic_for(uint32_t gsi)
{
	for (uint32_t i = 0; i < ioapic_total; i++)
		if (gsi >= ioapics[i].gsi_base && gsi < ioapics[i].gsi_base + ioapics[i].inputs)
			return &ioapics[i];
	return NULL;
}

int ioapic_route(uint32_t gsi, uint8_t vector, uint32_t apic_id, bool active_low, bool level)
{
	struct ioapic *io = ioapic_for(gsi);
	if (!io || vector < 0x20)
		return -EINVAL;
	uint32_t pin = gsi - io->gsi_base;
	uint32_t low = vector | (active_low ? REDIRECTION_ACTIVE_LOW : 0) |
		       (level ? REDIRECTION_LEVEL : 0);
	uint64_t flags = spin_lock_irqsave(&ioapic_lock);
	ioapic_write(io, IOAPIC_REG_REDIRECTION + 2 * pin, REDIRECTION_MASKED);
	ioapic_write(io, IOAPIC_REG_REDIRECTION + 2 * pin + 1, apic_id << 24);
	ioapic_write(io, IOAPIC_REG_REDIRECTION + 2 * pin, low);
	spin_unlock_irqrestore(&ioapic_lock, flags);
	return 0;
}

int ioapic_mask(uint32_t gsi, bool masked)
{
	struct ioapic *io = ioapic_for(gsi);
	if (!io)
		return -EINVAL;
	uint32_t reg = IOAPIC_REG_REDIRECTION + 2 * (gsi - io->gsi_base);
	uint64_t flags = spin_lock_irqsave(&ioapic_lock);
	uint32_t low = ioapic_read(io, reg);
	ioapic_write(io, reg, masked ? low | REDIRECTION_MASKED : low & ~REDIRECTION_MASKED);
	spin_unlock_irqrestore(&ioapic_lock, flags);
	return 0;
}

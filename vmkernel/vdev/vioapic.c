/*
 * Virtual I/O APIC. Each pin has a 64-bit redirection entry: vector (0-7),
 * delivery mode (8-10), destination mode (11), delivery status (12, RO),
 * polarity (13), Remote IRR (14, RO), trigger mode (15), mask (16) and the
 * destination (56-63). Edge pins send a message on each rising edge while
 * unmasked; level pins send one while asserted and Remote IRR is clear, set
 * Remote IRR, and the EOI of that vector clears it (and sends again if the
 * line is still asserted). Registers the guest selects that do not exist
 * read 0 and ignore writes, as on the chip.
 */
#include <vdev/vioapic.h>

#define REG_ID 0x00u
#define REG_VERSION 0x01u
#define REG_ARBITRATION 0x02u
#define REG_TABLE 0x10u
#define VERSION 0x11u

#define RTE_WRITABLE (0xffull << 56 | VIOAPIC_RTE_MASKED | VIOAPIC_RTE_LEVEL | VIOAPIC_RTE_ACTIVE_LOW | \
		      VIOAPIC_RTE_LOGICAL | 0x7ffull)

void vioapic_init(struct vioapic *io, uint32_t id, apic_deliver_fn deliver, void *ctx)
{
	io->id = id & 0xf;
	io->select = 0;
	io->line = 0;
	io->deliver = deliver;
	io->ctx = ctx;
	for (unsigned pin = 0; pin < VIOAPIC_PINS; pin++)
		io->redirection[pin] = VIOAPIC_RTE_MASKED;
}

struct apic_message vioapic_entry_message(uint64_t entry)
{
	return (struct apic_message){
		.destination = (uint32_t)(entry >> 56),
		.vector = (uint8_t)entry,
		.delivery_mode = (uint8_t)((entry >> 8) & 7),
		.logical = entry & VIOAPIC_RTE_LOGICAL,
		.level = entry & VIOAPIC_RTE_LEVEL,
	};
}

/* Sends the pin's message when its state calls for one. */
static void service_pin(struct vioapic *io, unsigned pin, bool rising_edge)
{
	uint64_t *entry = &io->redirection[pin];
	bool asserted = io->line & (1u << pin);

	if (*entry & VIOAPIC_RTE_MASKED || !asserted)
		return;
	if (*entry & VIOAPIC_RTE_LEVEL) {
		if (*entry & VIOAPIC_RTE_REMOTE_IRR)
			return;
		/* Only fixed and lowest-priority messages are acknowledged by an EOI. */
		uint8_t mode = (uint8_t)((*entry >> 8) & 7);
		if (mode <= 1)
			*entry |= VIOAPIC_RTE_REMOTE_IRR;
	} else if (!rising_edge) {
		return;
	}
	struct apic_message message = vioapic_entry_message(*entry);
	/* Reserved delivery modes (3, 6) send nothing, as on the chip. */
	if (message.delivery_mode == 3 || message.delivery_mode == 6)
		return;
	if (io->deliver)
		io->deliver(io->ctx, &message);
}

uint32_t vioapic_mmio_read(struct vioapic *io, uint32_t offset)
{
	if (offset == VIOAPIC_REG_SELECT)
		return io->select;
	if (offset != VIOAPIC_REG_WINDOW)
		return 0;
	uint32_t reg = io->select & 0xff;
	switch (reg) {
	case REG_ID:
		return io->id << 24;
	case REG_VERSION:
		return ((VIOAPIC_PINS - 1) << 16) | VERSION;
	case REG_ARBITRATION:
		return io->id << 24;
	default:
		if (reg >= REG_TABLE && reg < REG_TABLE + 2 * VIOAPIC_PINS) {
			uint64_t entry = io->redirection[(reg - REG_TABLE) / 2];
			return (reg & 1) ? (uint32_t)(entry >> 32) : (uint32_t)entry;
		}
		return 0;
	}
}

void vioapic_mmio_write(struct vioapic *io, uint32_t offset, uint32_t value)
{
	if (offset == VIOAPIC_REG_SELECT) {
		io->select = value & 0xff;
		return;
	}
	if (offset != VIOAPIC_REG_WINDOW)
		return;
	uint32_t reg = io->select & 0xff;
	if (reg == REG_ID) {
		io->id = (value >> 24) & 0xf;
		return;
	}
	if (reg < REG_TABLE || reg >= REG_TABLE + 2 * VIOAPIC_PINS)
		return; /* version, arbitration and the holes are read-only */
	unsigned pin = (reg - REG_TABLE) / 2;
	uint64_t *entry = &io->redirection[pin];
	uint64_t old = *entry;
	uint64_t written = (reg & 1) ? ((uint64_t)value << 32) | (old & 0xffffffffull)
				     : (old & 0xffffffff00000000ull) | value;
	*entry = (written & RTE_WRITABLE) | (old & VIOAPIC_RTE_REMOTE_IRR);
	/* Switching a pin to edge drops a stale Remote IRR, as the chip does. */
	if (!(*entry & VIOAPIC_RTE_LEVEL))
		*entry &= ~VIOAPIC_RTE_REMOTE_IRR;
	/* Unmasking a level pin whose line is asserted sends it now. */
	if ((old & VIOAPIC_RTE_MASKED) && !(*entry & VIOAPIC_RTE_MASKED) && (*entry & VIOAPIC_RTE_LEVEL))
		service_pin(io, pin, false);
}

void vioapic_set_line(struct vioapic *io, unsigned pin, bool asserted)
{
	if (pin >= VIOAPIC_PINS)
		return;
	bool was = io->line & (1u << pin);
	if (asserted)
		io->line |= 1u << pin;
	else
		io->line &= ~(1u << pin);
	if (asserted)
		service_pin(io, pin, !was);
}

void vioapic_eoi(struct vioapic *io, uint8_t vector)
{
	for (unsigned pin = 0; pin < VIOAPIC_PINS; pin++) {
		uint64_t *entry = &io->redirection[pin];
		if ((uint8_t)*entry != vector || !(*entry & VIOAPIC_RTE_REMOTE_IRR))
			continue;
		*entry &= ~VIOAPIC_RTE_REMOTE_IRR;
		service_pin(io, pin, false);
	}
}

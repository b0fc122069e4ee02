/*
 * Virtual 8259A pair. Initialization: a command-port write with bit 4 set
 * is ICW1 (clears IMR and ISR, IRQ 7 gets the lowest priority, edge
 * detection rearmed); then ICW2 (vector base), ICW3 when cascaded (ICW1
 * bit 1 clear) and ICW4 when ICW1 bit 0 asked for it, on the data port.
 * After that the data port is the IMR and the command port takes OCW2
 * (EOI, rotation, priority) and OCW3 (read IRR/ISR, poll, special mask).
 * An IRQ is requested on a rising edge (edge mode) or while its line is
 * high (level mode, ELCR). The slave's INTR is the master's IRQ 2.
 * Sequences real software never writes still do what the chip would: there
 * is no invalid input, only odd results.
 */
#include <vdev/vpic.h>

#include <lib/string.h>

static void chip_reset(struct vpic_chip *c)
{
	uint8_t elcr = c->elcr, elcr_mask = c->elcr_mask, line = c->line;

	memset(c, 0, sizeof(*c));
	c->elcr = elcr;
	c->elcr_mask = elcr_mask;
	c->line = line;
}

void vpic_init(struct vpic *pic)
{
	memset(pic, 0, sizeof(*pic));
	/* IRQ 0, 1, 2 (master) and 8, 13 (slave) are always edge on PC chipsets. */
	pic->chip[0].elcr_mask = 0xf8;
	pic->chip[1].elcr_mask = 0xde;
}

/* The highest-priority bit of `mask` under the chip's rotation, as an IRQ
 * number 0-7, or -1. */
static int highest_priority(const struct vpic_chip *c, uint8_t mask)
{
	if (!mask)
		return -1;
	for (unsigned i = 0; i < 8; i++) {
		unsigned irq = (c->priority_base + i) & 7;
		if (mask & (1u << irq))
			return (int)irq;
	}
	return -1;
}

/* The IRQ this chip would signal now, or -1: the highest requested and
 * unmasked IRQ with a higher priority than every one in service. */
static int chip_pending(const struct vpic *pic, unsigned index)
{
	const struct vpic_chip *c = &pic->chip[index];
	uint8_t requested = c->irr & ~c->imr;
	int irq = highest_priority(c, requested);
	if (irq < 0)
		return -1;
	uint8_t in_service = c->isr;
	/* Special mask mode: masked IRQs in service do not block others. */
	if (c->special_mask)
		in_service &= ~c->imr;
	/* Special fully nested (master): the cascade input may interrupt its own service. */
	if (index == 0 && c->special_fully_nested)
		in_service &= ~(1u << 2);
	int busy = highest_priority(c, in_service);
	if (busy < 0)
		return irq;
	/* priority order: base, base+1, ...; smaller distance = higher priority */
	unsigned irq_rank = ((unsigned)irq - c->priority_base) & 7;
	unsigned busy_rank = ((unsigned)busy - c->priority_base) & 7;
	return irq_rank < busy_rank ? irq : -1;
}

/* The slave's INTR drives the master's IRQ 2 input. */
static void update_cascade(struct vpic *pic)
{
	struct vpic_chip *m = &pic->chip[0];
	bool slave_int = chip_pending(pic, 1) >= 0;
	bool was = m->line & (1u << 2);

	if (slave_int) {
		m->line |= 1u << 2;
		if (!was || (m->elcr & (1u << 2)))
			m->irr |= 1u << 2;
	} else {
		m->line &= ~(1u << 2);
		m->irr &= ~(1u << 2); /* the request follows the cascade line */
	}
}

bool vpic_output(const struct vpic *pic)
{
	return chip_pending(pic, 0) >= 0;
}

static void set_chip_irq(struct vpic_chip *c, unsigned irq, bool asserted)
{
	uint8_t bit = (uint8_t)(1u << irq);
	bool was = c->line & bit;

	if (asserted) {
		c->line |= bit;
		if (!was || (c->elcr & bit))
			c->irr |= bit;
	} else {
		c->line &= ~bit;
		if (c->elcr & bit)
			c->irr &= ~bit; /* a level request goes away with its line */
	}
}

void vpic_set_irq(struct vpic *pic, unsigned irq, bool asserted)
{
	if (irq >= 16 || irq == 2)
		return;
	set_chip_irq(&pic->chip[irq / 8], irq & 7, asserted);
	update_cascade(pic);
}

/* End of interrupt on one chip: specific (irq >= 0) or the highest in service. */
static void chip_eoi(struct vpic_chip *c, int irq, bool rotate)
{
	if (irq < 0)
		irq = highest_priority(c, c->isr);
	if (irq < 0)
		return;
	c->isr &= ~(1u << irq);
	if (rotate)
		c->priority_base = (uint8_t)((irq + 1) & 7);
}

int vpic_pending_vector(const struct vpic *pic)
{
	int irq = chip_pending(pic, 0);
	if (irq < 0)
		return -1;
	if (irq == 2 && !pic->chip[0].single) {
		int slave = chip_pending(pic, 1);
		return pic->chip[1].vector_base + (slave < 0 ? 7 : slave);
	}
	return pic->chip[0].vector_base + irq;
}

/* The acknowledge on one chip: the IRQ moves from IRR to ISR (or is
 * completed at once in automatic EOI mode). Returns the IRQ, or 7 when the
 * request vanished (the spurious IRQ 7 of the datasheet). */
static unsigned chip_acknowledge(struct vpic *pic, unsigned index)
{
	struct vpic_chip *c = &pic->chip[index];
	int irq = chip_pending(pic, index);

	if (irq < 0)
		return 7;
	uint8_t bit = (uint8_t)(1u << irq);
	if (!(c->elcr & bit))
		c->irr &= ~bit; /* edge: the request is consumed */
	if (c->auto_eoi) {
		if (c->rotate_on_auto_eoi)
			c->priority_base = (uint8_t)((irq + 1) & 7);
	} else {
		c->isr |= bit;
	}
	return (unsigned)irq;
}

uint8_t vpic_acknowledge(struct vpic *pic)
{
	struct vpic_chip *m = &pic->chip[0];
	unsigned irq = chip_acknowledge(pic, 0);
	uint8_t vector;

	if (irq == 2 && !m->single) {
		unsigned slave_irq = chip_acknowledge(pic, 1);
		vector = (uint8_t)(pic->chip[1].vector_base + slave_irq);
	} else {
		vector = (uint8_t)(m->vector_base + irq);
	}
	/* In level mode an IRQ still asserted is requested again. */
	for (unsigned i = 0; i < 2; i++) {
		struct vpic_chip *c = &pic->chip[i];
		c->irr |= c->line & c->elcr;
	}
	update_cascade(pic);
	return vector;
}

/* Poll command: the next read of the command port acknowledges the
 * highest request and returns 0x80 | irq, or 0 when there is none. */
static uint8_t chip_poll(struct vpic *pic, unsigned index)
{
	struct vpic_chip *c = &pic->chip[index];
	c->poll = false;
	if (chip_pending(pic, index) < 0)
		return 0;
	unsigned irq = chip_acknowledge(pic, index);
	if (index == 0 && irq == 2)
		update_cascade(pic);
	return (uint8_t)(0x80 | irq);
}

uint8_t vpic_read(struct vpic *pic, unsigned chip, unsigned offset)
{
	struct vpic_chip *c = &pic->chip[chip & 1];

	if (c->poll)
		return chip_poll(pic, chip & 1);
	if (offset & 1)
		return c->imr;
	return c->read_isr ? c->isr : c->irr;
}

static void write_ocw2(struct vpic *pic, unsigned chip, uint8_t value)
{
	struct vpic_chip *c = &pic->chip[chip];
	unsigned command = value >> 5;
	int level = value & 7;

	switch (command) {
	case 0: /* rotate in automatic EOI mode: clear */
		c->rotate_on_auto_eoi = false;
		break;
	case 4: /* rotate in automatic EOI mode: set */
		c->rotate_on_auto_eoi = true;
		break;
	case 1: /* non-specific EOI */
		chip_eoi(c, -1, false);
		break;
	case 3: /* specific EOI */
		chip_eoi(c, level, false);
		break;
	case 5: /* rotate on non-specific EOI */
		chip_eoi(c, -1, true);
		break;
	case 6: /* set priority: `level` becomes the lowest */
		c->priority_base = (uint8_t)((level + 1) & 7);
		break;
	case 7: /* rotate on specific EOI */
		chip_eoi(c, level, true);
		break;
	default: /* 2: no operation */
		break;
	}
}

void vpic_write(struct vpic *pic, unsigned chip, unsigned offset, uint8_t value)
{
	struct vpic_chip *c = &pic->chip[chip & 1];

	if (!(offset & 1)) {
		if (value & 0x10) { /* ICW1 */
			chip_reset(c);
			c->icw4_expected = value & 1;
			c->single = value & 2;
			c->init_step = 1;
		} else if (value & 0x08) { /* OCW3 */
			if (value & 0x04)
				c->poll = true;
			if (value & 0x02)
				c->read_isr = value & 1;
			if (value & 0x40)
				c->special_mask = value & 0x20;
		} else {
			write_ocw2(pic, chip & 1, value);
		}
	} else {
		switch (c->init_step) {
		case 1: /* ICW2 */
			c->vector_base = value & 0xf8;
			c->init_step = c->single ? (c->icw4_expected ? 3 : 0) : 2;
			break;
		case 2: /* ICW3 */
			c->icw3 = value;
			c->init_step = c->icw4_expected ? 3 : 0;
			break;
		case 3: /* ICW4 */
			c->auto_eoi = value & 0x02;
			c->special_fully_nested = value & 0x10;
			c->init_step = 0;
			break;
		default: /* OCW1 */
			c->imr = value;
			break;
		}
	}
	update_cascade(pic);
}

uint8_t vpic_elcr_read(struct vpic *pic, unsigned chip)
{
	return pic->chip[chip & 1].elcr;
}

void vpic_elcr_write(struct vpic *pic, unsigned chip, uint8_t value)
{
	struct vpic_chip *c = &pic->chip[chip & 1];
	c->elcr = value & c->elcr_mask;
	update_cascade(pic);
}

/*
 * The virtual 8259A pair (master at 0x20, slave at 0xa0 cascaded on IRQ 2)
 * with the edge/level control registers at 0x4d0/0x4d1. Pure logic: the
 * platform serializes calls and asks vpic_output() whether INTR is raised.
 */
#ifndef KAPSEL_VDEV_VPIC_H
#define KAPSEL_VDEV_VPIC_H

#include <stdbool.h>
#include <stdint.h>

struct vpic_chip {
	uint8_t irr, isr, imr;
	uint8_t line;            /* input levels */
	uint8_t elcr;            /* 1: level-triggered */
	uint8_t elcr_mask;       /* bits the ELCR may have set */
	uint8_t vector_base;     /* ICW2 & 0xf8 */
	uint8_t priority_base;   /* lowest-priority IRQ (rotation) */
	uint8_t icw3;
	uint8_t init_step;       /* 0: ready; 1..3: ICW2..ICW4 expected next */
	bool icw4_expected, single;
	bool auto_eoi, rotate_on_auto_eoi, special_fully_nested;
	bool read_isr, poll, special_mask;
};

struct vpic {
	struct vpic_chip chip[2]; /* 0 master, 1 slave */
};

void vpic_init(struct vpic *pic);
/* Port offset 0 (command) or 1 (data) of chip 0 or 1. */
uint8_t vpic_read(struct vpic *pic, unsigned chip, unsigned offset);
void vpic_write(struct vpic *pic, unsigned chip, unsigned offset, uint8_t value);
uint8_t vpic_elcr_read(struct vpic *pic, unsigned chip);
void vpic_elcr_write(struct vpic *pic, unsigned chip, uint8_t value);
/* ISA IRQ 0-15 input level (edge sources raise then lower). */
void vpic_set_irq(struct vpic *pic, unsigned irq, bool asserted);
/* Whether the master's INTR output is raised. */
bool vpic_output(const struct vpic *pic);
/* The vector vpic_acknowledge() would return now, or -1: INTR is low. */
int vpic_pending_vector(const struct vpic *pic);
/* The interrupt acknowledge cycle: the vector the CPU receives (IRQ 7 or
 * 15's vector when nothing is pending any more: the spurious interrupt). */
uint8_t vpic_acknowledge(struct vpic *pic);

#endif

/*
 * The ACPI fixed-hardware registers of hw.version 1 (one 16-byte I/O block
 * at PLATFORM_ACPI_PM_BASE): PM1a status and enable, PM1a control, the
 * 32-bit PM timer at 3.579545 MHz and the reset register. Pure logic: a
 * write that asks for power-off or reset returns it for the platform to
 * carry out.
 */
#ifndef KAPSEL_VDEV_ACPI_PM_H
#define KAPSEL_VDEV_ACPI_PM_H

#include <stdbool.h>
#include <stdint.h>

/* Offsets in the block. */
#define ACPI_PM_STATUS 0x0u
#define ACPI_PM_ENABLE 0x2u
#define ACPI_PM_CONTROL 0x4u
#define ACPI_PM_TIMER 0x8u
#define ACPI_PM_RESET_REGISTER 0xcu
#define ACPI_PM_BLOCK_SIZE 0x10u

enum acpi_pm_action {
	ACPI_PM_NONE,
	ACPI_PM_POWER_OFF,  /* SLP_EN with SLP_TYP = S5 */
	ACPI_PM_RESET,      /* the reset value written to the reset register */
	ACPI_PM_SLEEP_UNSUPPORTED, /* SLP_EN with another SLP_TYP (no S1-S4 in hw.version 1) */
};

struct acpi_pm {
	uint16_t status;     /* PM1_STS (TMR_STS computed on read) */
	uint16_t enable;     /* PM1_EN */
	uint16_t control;    /* PM1_CNT without SLP_EN */
	uint64_t tmr_status_epoch; /* timer bit-31 period last acknowledged */
	uint64_t tsc_hz;
	uint64_t base_tsc;   /* PM timer 0 */
	uint8_t slp_typ_s5;
	uint8_t reset_value;
	uint8_t last_slp_typ; /* of the last SLP_EN write, for messages */
};

void acpi_pm_init(struct acpi_pm *pm, uint64_t tsc_hz, uint64_t now_tsc, uint8_t slp_typ_s5,
		  uint8_t reset_value);
uint32_t acpi_pm_timer(const struct acpi_pm *pm, uint64_t now_tsc);
/* An access of `size` bytes at `offset` in the block (unaligned and odd
 * sizes work bytewise, as on the chipset; bytes outside registers read 0). */
uint32_t acpi_pm_read(struct acpi_pm *pm, unsigned offset, unsigned size, uint64_t now_tsc);
enum acpi_pm_action acpi_pm_write(struct acpi_pm *pm, unsigned offset, unsigned size, uint32_t value,
				  uint64_t now_tsc);
/* The SCI line level (status & enable of the fixed events). */
bool acpi_pm_sci(const struct acpi_pm *pm, uint64_t now_tsc);

#endif

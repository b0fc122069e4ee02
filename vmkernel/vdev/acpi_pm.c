/*
 * ACPI PM1 event/control and PM timer. The timer is the TSC scaled to
 * 3.579545 MHz (so it agrees with the guest's TSC); TMR_STS sets each time
 * bit 31 of the timer changes and clears by writing 1, like every PM1
 * status bit. SCI_EN reads 1: there is no SMI_CMD, the platform is always
 * in ACPI mode. SLP_EN is write-only; writing it with SLP_TYP = S5 is a
 * power-off.
 */
#include <vdev/acpi_pm.h>

#define STS_TMR (1u << 0)
#define STS_WRITABLE_ONE_TO_CLEAR 0x8f31u /* TMR BM GBL PWRBTN SLPBTN RTC WAK (+ reserved) */
#define EN_WRITABLE 0x0721u               /* TMR GBL PWRBTN SLPBTN RTC */
#define CNT_SCI_EN (1u << 0)
#define CNT_SLP_TYP_SHIFT 10
#define CNT_SLP_EN (1u << 13)
#define CNT_WRITABLE 0x1c06u              /* BM_RLD GBL_RLS SLP_TYP */
#define PM_TIMER_HZ 3579545u

void acpi_pm_init(struct acpi_pm *pm, uint64_t tsc_hz, uint64_t now_tsc, uint8_t slp_typ_s5,
		  uint8_t reset_value)
{
	*pm = (struct acpi_pm){ .tsc_hz = tsc_hz ? tsc_hz : 1, .base_tsc = now_tsc, .slp_typ_s5 = slp_typ_s5,
				.reset_value = reset_value, .control = CNT_SCI_EN };
}

/* Whole seconds and the rest apart: exact in 64 bits (no 128-bit division
 * in the vmkernel). */
static uint64_t timer_ticks(const struct acpi_pm *pm, uint64_t now_tsc)
{
	if (now_tsc <= pm->base_tsc)
		return 0;
	uint64_t delta = now_tsc - pm->base_tsc;
	return delta / pm->tsc_hz * PM_TIMER_HZ + delta % pm->tsc_hz * PM_TIMER_HZ / pm->tsc_hz;
}

uint32_t acpi_pm_timer(const struct acpi_pm *pm, uint64_t now_tsc)
{
	return (uint32_t)timer_ticks(pm, now_tsc);
}

static uint16_t status_now(const struct acpi_pm *pm, uint64_t now_tsc)
{
	uint16_t status = pm->status;
	if (timer_ticks(pm, now_tsc) >> 31 != pm->tmr_status_epoch)
		status |= STS_TMR;
	return status;
}

static uint8_t read_byte(struct acpi_pm *pm, unsigned offset, uint64_t now_tsc)
{
	uint32_t reg;
	switch (offset & ~1u) {
	case ACPI_PM_STATUS:
		reg = status_now(pm, now_tsc);
		break;
	case ACPI_PM_ENABLE:
		reg = pm->enable;
		break;
	case ACPI_PM_CONTROL:
		reg = pm->control;
		break;
	case ACPI_PM_TIMER:
	case ACPI_PM_TIMER + 2:
		reg = acpi_pm_timer(pm, now_tsc) >> ((offset & 2) * 8);
		break;
	default:
		return 0; /* reserved bytes and the write-only reset register */
	}
	return (uint8_t)(reg >> ((offset & 1) * 8));
}

uint32_t acpi_pm_read(struct acpi_pm *pm, unsigned offset, unsigned size, uint64_t now_tsc)
{
	uint32_t value = 0;
	for (unsigned i = 0; i < size && i < 4; i++)
		if (offset + i < ACPI_PM_BLOCK_SIZE)
			value |= (uint32_t)read_byte(pm, offset + i, now_tsc) << (i * 8);
	return value;
}

static enum acpi_pm_action write_byte(struct acpi_pm *pm, unsigned offset, uint8_t value, uint64_t now_tsc)
{
	unsigned shift = (offset & 1) * 8;
	uint16_t bits = (uint16_t)(value << shift);

	switch (offset & ~1u) {
	case ACPI_PM_STATUS:
		bits &= STS_WRITABLE_ONE_TO_CLEAR;
		if (bits & STS_TMR)
			pm->tmr_status_epoch = timer_ticks(pm, now_tsc) >> 31;
		pm->status &= (uint16_t)~bits;
		return ACPI_PM_NONE;
	case ACPI_PM_ENABLE:
		pm->enable = (uint16_t)((pm->enable & ~(0xffu << shift)) | (bits & EN_WRITABLE));
		return ACPI_PM_NONE;
	case ACPI_PM_CONTROL: {
		uint16_t keep = (uint16_t)(pm->control & ~(0xffu << shift));
		pm->control = (uint16_t)(keep | (bits & CNT_WRITABLE) | CNT_SCI_EN);
		if (bits & CNT_SLP_EN) {
			pm->last_slp_typ = (uint8_t)((pm->control >> CNT_SLP_TYP_SHIFT) & 7);
			return pm->last_slp_typ == pm->slp_typ_s5 ? ACPI_PM_POWER_OFF : ACPI_PM_SLEEP_UNSUPPORTED;
		}
		return ACPI_PM_NONE;
	}
	case ACPI_PM_RESET_REGISTER:
		if (offset == ACPI_PM_RESET_REGISTER && value == pm->reset_value)
			return ACPI_PM_RESET;
		return ACPI_PM_NONE;
	default:
		return ACPI_PM_NONE; /* the timer is read-only */
	}
}

enum acpi_pm_action acpi_pm_write(struct acpi_pm *pm, unsigned offset, unsigned size, uint32_t value,
				  uint64_t now_tsc)
{
	enum acpi_pm_action action = ACPI_PM_NONE;
	for (unsigned i = 0; i < size && i < 4; i++) {
		if (offset + i >= ACPI_PM_BLOCK_SIZE)
			break;
		enum acpi_pm_action a = write_byte(pm, offset + i, (uint8_t)(value >> (i * 8)), now_tsc);
		if (a != ACPI_PM_NONE)
			action = a;
	}
	return action;
}

bool acpi_pm_sci(const struct acpi_pm *pm, uint64_t now_tsc)
{
	return status_now(pm, now_tsc) & pm->enable & EN_WRITABLE;
}

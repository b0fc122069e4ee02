/*
 * The virtual MC146818 RTC and CMOS RAM (ports 0x70/0x71): the wall clock
 * (seconds since 1970 at a host TSC moment, advancing with the TSC), BCD or
 * binary and 12/24-hour formats, update-in-progress, the periodic, alarm
 * and update-ended interrupts on IRQ 8, and the CMOS bytes firmware-less
 * guests read (memory sizes, century). Pure logic; the platform serializes.
 */
#ifndef KAPSEL_VDEV_RTC_H
#define KAPSEL_VDEV_RTC_H

#include <stdbool.h>
#include <stdint.h>

#define VRTC_CENTURY_INDEX 0x32u /* also in the FADT */

struct vrtc {
	uint8_t cmos[128];     /* time registers hold the last set/latched values */
	uint8_t index;         /* port 0x70 bits 0-6 */
	bool nmi_disabled;     /* port 0x70 bit 7 (kept, no effect) */
	uint64_t tsc_hz;
	uint64_t base_tsc;     /* TSC at which the clock read base_seconds */
	int64_t base_seconds;  /* seconds since 1970-01-01 00:00:00 UTC */
	int64_t last_second;   /* the last second whose update was processed */
	uint64_t next_periodic_tsc; /* 0: periodic interrupt off */
	bool irq_edge;         /* IRQF rose: the platform pulses IRQ 8 */
};

/* The battery-backed CMOS bytes a VM's NVRAM file keeps: 0x0e-0x7f (the
 * clock registers 0x00-0x0d are the clock's). */
#define VRTC_NVRAM_FIRST 0x0eu
#define VRTC_NVRAM_BYTES (128u - VRTC_NVRAM_FIRST)
void vrtc_nvram_save(const struct vrtc *rtc, uint8_t out[VRTC_NVRAM_BYTES]);
/* Restores saved bytes but the century (the clock's) and the memory sizes
 * (0x15-0x18, 0x30-0x31, 0x34-0x35, 0x5b-0x5d: the platform's, per power-on). */
void vrtc_nvram_load(struct vrtc *rtc, const uint8_t in[VRTC_NVRAM_BYTES]);

/* Calendar conversion (proleptic Gregorian, UTC). */
struct vrtc_date {
	int year, month, day, hour, minute, second, weekday; /* month 1-12, weekday 0 = Sunday */
};
void vrtc_seconds_to_date(int64_t seconds, struct vrtc_date *date);
int64_t vrtc_date_to_seconds(const struct vrtc_date *date);

void vrtc_init(struct vrtc *rtc, uint64_t tsc_hz, uint64_t now_tsc, int64_t wall_seconds);
/* Memory size bytes: base 640 KiB, extended (KiB above 1 MiB, 64 KiB units
 * above 16 MiB) and above 4 GiB (64 KiB units, 0x5b-0x5d). */
void vrtc_set_memory(struct vrtc *rtc, uint64_t ram_below_4g, uint64_t ram_above_4g);
/* offset 0: index port (write only; reads 0xff), 1: data port. */
uint8_t vrtc_read(struct vrtc *rtc, unsigned offset, uint64_t now_tsc);
void vrtc_write(struct vrtc *rtc, unsigned offset, uint8_t value, uint64_t now_tsc);
/* Processes time passing (flags, interrupts); returns the next TSC at which
 * something can happen, 0: nothing armed. */
uint64_t vrtc_update(struct vrtc *rtc, uint64_t now_tsc);
/* The current wall clock, seconds since 1970. */
int64_t vrtc_now(const struct vrtc *rtc, uint64_t now_tsc);

#endif

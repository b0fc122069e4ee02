/*
 * Virtual MC146818. The time registers are not ticked: reads compute them
 * from the wall clock at the current TSC (in the format register B asks
 * for). Setting register B's SET bit freezes them for the guest to write;
 * clearing it makes the written time the new clock. Register A: UIP (bit
 * 7) reads 1 during the last 244 us before each second's update, and the
 * rate (bits 0-3) selects the periodic interrupt. Register C's flags (PF,
 * AF, UF and IRQF) clear on read; IRQ 8 is pulsed when IRQF rises.
 */
#include <vdev/rtc.h>

#include <lib/string.h>

#define REG_SECONDS 0x00
#define REG_SECONDS_ALARM 0x01
#define REG_MINUTES 0x02
#define REG_MINUTES_ALARM 0x03
#define REG_HOURS 0x04
#define REG_HOURS_ALARM 0x05
#define REG_WEEKDAY 0x06
#define REG_DAY 0x07
#define REG_MONTH 0x08
#define REG_YEAR 0x09
#define REG_A 0x0a
#define REG_B 0x0b
#define REG_C 0x0c
#define REG_D 0x0d

#define A_UIP 0x80
#define B_SET 0x80
#define B_PIE 0x40
#define B_AIE 0x20
#define B_UIE 0x10
#define B_BINARY 0x04
#define B_24H 0x02
#define C_IRQF 0x80
#define C_PF 0x40
#define C_AF 0x20
#define C_UF 0x10

#define UIP_US 244u

/* Days since 1970-01-01 of a civil date, and back (era-based: 400-year cycles). */
static int64_t days_from_civil(int64_t y, int m, int d)
{
	y -= m <= 2;
	int64_t era = (y >= 0 ? y : y - 399) / 400;
	int64_t year_of_era = y - era * 400;
	int64_t day_of_year = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	int64_t day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
	return era * 146097 + day_of_era - 719468;
}

void vrtc_seconds_to_date(int64_t seconds, struct vrtc_date *date)
{
	int64_t days = seconds >= 0 ? seconds / 86400 : (seconds - 86399) / 86400;
	int64_t rest = seconds - days * 86400;

	date->hour = (int)(rest / 3600);
	date->minute = (int)(rest / 60 % 60);
	date->second = (int)(rest % 60);
	date->weekday = (int)((days % 7 + 11) % 7); /* 1970-01-01 was a Thursday */
	int64_t z = days + 719468;
	int64_t era = (z >= 0 ? z : z - 146096) / 146097;
	int64_t day_of_era = z - era * 146097;
	int64_t year_of_era = (day_of_era - day_of_era / 1460 + day_of_era / 36524 - day_of_era / 146096) / 365;
	int64_t day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
	int64_t mp = (5 * day_of_year + 2) / 153;
	date->day = (int)(day_of_year - (153 * mp + 2) / 5 + 1);
	date->month = (int)(mp < 10 ? mp + 3 : mp - 9);
	date->year = (int)(year_of_era + era * 400 + (date->month <= 2));
}

int64_t vrtc_date_to_seconds(const struct vrtc_date *date)
{
	return days_from_civil(date->year, date->month, date->day) * 86400 + (int64_t)date->hour * 3600 +
	       (int64_t)date->minute * 60 + date->second;
}

static bool binary_mode(const struct vrtc *rtc)
{
	return rtc->cmos[REG_B] & B_BINARY;
}

static uint8_t encode(const struct vrtc *rtc, int value)
{
	return binary_mode(rtc) ? (uint8_t)value : (uint8_t)((value / 10) << 4 | value % 10);
}

static int decode(const struct vrtc *rtc, uint8_t value)
{
	return binary_mode(rtc) ? value : (value >> 4) * 10 + (value & 0xf);
}

static uint8_t encode_hour(const struct vrtc *rtc, int hour)
{
	if (rtc->cmos[REG_B] & B_24H)
		return encode(rtc, hour);
	int h12 = hour % 12 ? hour % 12 : 12;
	return (uint8_t)(encode(rtc, h12) | (hour >= 12 ? 0x80 : 0));
}

static int decode_hour(const struct vrtc *rtc, uint8_t value)
{
	if (rtc->cmos[REG_B] & B_24H)
		return decode(rtc, value);
	int h12 = decode(rtc, value & 0x7f) % 12;
	return h12 + (value & 0x80 ? 12 : 0);
}

int64_t vrtc_now(const struct vrtc *rtc, uint64_t now_tsc)
{
	if (!rtc->tsc_hz || now_tsc <= rtc->base_tsc)
		return rtc->base_seconds;
	return rtc->base_seconds + (int64_t)((now_tsc - rtc->base_tsc) / rtc->tsc_hz);
}

/* Writes the clock's current time into the time registers. */
static void latch_time(struct vrtc *rtc, int64_t seconds)
{
	struct vrtc_date d;

	vrtc_seconds_to_date(seconds, &d);
	rtc->cmos[REG_SECONDS] = encode(rtc, d.second);
	rtc->cmos[REG_MINUTES] = encode(rtc, d.minute);
	rtc->cmos[REG_HOURS] = encode_hour(rtc, d.hour);
	rtc->cmos[REG_WEEKDAY] = (uint8_t)(d.weekday + 1);
	rtc->cmos[REG_DAY] = encode(rtc, d.day);
	rtc->cmos[REG_MONTH] = encode(rtc, d.month);
	rtc->cmos[REG_YEAR] = encode(rtc, d.year % 100);
	rtc->cmos[VRTC_CENTURY_INDEX] = encode(rtc, d.year / 100);
}

/* The time the registers hold, as seconds; out-of-range fields are clamped
 * into range rather than trusted. */
static int64_t registers_time(const struct vrtc *rtc)
{
	struct vrtc_date d = {
		.year = decode(rtc, rtc->cmos[VRTC_CENTURY_INDEX]) * 100 + decode(rtc, rtc->cmos[REG_YEAR]) % 100,
		.month = decode(rtc, rtc->cmos[REG_MONTH]),
		.day = decode(rtc, rtc->cmos[REG_DAY]),
		.hour = decode_hour(rtc, rtc->cmos[REG_HOURS]),
		.minute = decode(rtc, rtc->cmos[REG_MINUTES]),
		.second = decode(rtc, rtc->cmos[REG_SECONDS]),
	};
	if (d.month < 1 || d.month > 12)
		d.month = 1;
	if (d.day < 1 || d.day > 31)
		d.day = 1;
	if (d.hour > 23)
		d.hour = 0;
	if (d.minute > 59)
		d.minute = 0;
	if (d.second > 59)
		d.second = 0;
	return vrtc_date_to_seconds(&d);
}

static uint64_t periodic_period_tsc(const struct vrtc *rtc)
{
	unsigned rate = rtc->cmos[REG_A] & 0xf;
	if (!rate)
		return 0;
	if (rate < 3)
		rate += 7; /* rates 1 and 2 repeat 8 and 9 */
	/* 2^(rate-1) / 32768 seconds */
	return (rtc->tsc_hz << (rate - 1)) / 32768;
}

static void raise_flags(struct vrtc *rtc, uint8_t flags)
{
	uint8_t c = rtc->cmos[REG_C] | flags;
	uint8_t enabled = rtc->cmos[REG_B] & (B_PIE | B_AIE | B_UIE);
	bool irqf = c & enabled & (C_PF | C_AF | C_UF);
	if (irqf && !(c & C_IRQF)) {
		c |= C_IRQF;
		rtc->irq_edge = true;
	}
	rtc->cmos[REG_C] = c;
}

static bool alarm_matches(const struct vrtc *rtc, int64_t second)
{
	struct vrtc_date d;
	vrtc_seconds_to_date(second, &d);
	const uint8_t alarm[3] = { rtc->cmos[REG_SECONDS_ALARM], rtc->cmos[REG_MINUTES_ALARM],
				   rtc->cmos[REG_HOURS_ALARM] };
	const uint8_t now[3] = { encode(rtc, d.second), encode(rtc, d.minute), encode_hour(rtc, d.hour) };
	for (int i = 0; i < 3; i++)
		if ((alarm[i] & 0xc0) != 0xc0 && alarm[i] != now[i]) /* 11xxxxxx: don't care */
			return false;
	return true;
}

uint64_t vrtc_update(struct vrtc *rtc, uint64_t now_tsc)
{
	uint64_t next = 0;

	if (!(rtc->cmos[REG_B] & B_SET)) {
		int64_t second = vrtc_now(rtc, now_tsc);
		if (second != rtc->last_second) {
			uint8_t flags = C_UF;
			if (alarm_matches(rtc, second))
				flags |= C_AF;
			rtc->last_second = second;
			raise_flags(rtc, flags);
		}
		if (rtc->cmos[REG_B] & (B_AIE | B_UIE))
			next = rtc->base_tsc + (uint64_t)(second + 1 - rtc->base_seconds) * rtc->tsc_hz;
	}
	if (rtc->next_periodic_tsc) {
		uint64_t period = periodic_period_tsc(rtc);
		if (now_tsc >= rtc->next_periodic_tsc) {
			raise_flags(rtc, C_PF);
			rtc->next_periodic_tsc += period;
			if (rtc->next_periodic_tsc <= now_tsc) /* far behind: skip missed periods */
				rtc->next_periodic_tsc = now_tsc + period;
		}
		if (!next || rtc->next_periodic_tsc < next)
			next = rtc->next_periodic_tsc;
	}
	return next;
}

static void rearm_periodic(struct vrtc *rtc, uint64_t now_tsc)
{
	uint64_t period = periodic_period_tsc(rtc);
	rtc->next_periodic_tsc = (rtc->cmos[REG_B] & B_PIE) && period ? now_tsc + period : 0;
}

void vrtc_init(struct vrtc *rtc, uint64_t tsc_hz, uint64_t now_tsc, int64_t wall_seconds)
{
	memset(rtc, 0, sizeof(*rtc));
	rtc->tsc_hz = tsc_hz;
	rtc->base_tsc = now_tsc;
	rtc->base_seconds = wall_seconds;
	rtc->last_second = wall_seconds;
	rtc->cmos[REG_A] = 0x26; /* 32.768 kHz time base, 1024 Hz rate */
	rtc->cmos[REG_B] = B_24H;
	rtc->cmos[REG_D] = 0x80; /* valid RAM and time */
	latch_time(rtc, wall_seconds);
}

void vrtc_set_memory(struct vrtc *rtc, uint64_t ram_below_4g, uint64_t ram_above_4g)
{
	uint64_t extended_kib = ram_below_4g > (1u << 20) ? (ram_below_4g - (1u << 20)) >> 10 : 0;
	uint64_t above_16m = ram_below_4g > (16u << 20) ? (ram_below_4g - (16u << 20)) >> 16 : 0;
	uint64_t above_4g = ram_above_4g >> 16;

	if (extended_kib > 0xffff)
		extended_kib = 0xffff;
	if (above_16m > 0xffff)
		above_16m = 0xffff;
	rtc->cmos[0x15] = 0x80; /* 640 KiB base memory */
	rtc->cmos[0x16] = 0x02;
	rtc->cmos[0x17] = rtc->cmos[0x30] = (uint8_t)extended_kib;
	rtc->cmos[0x18] = rtc->cmos[0x31] = (uint8_t)(extended_kib >> 8);
	rtc->cmos[0x34] = (uint8_t)above_16m;
	rtc->cmos[0x35] = (uint8_t)(above_16m >> 8);
	rtc->cmos[0x5b] = (uint8_t)above_4g;
	rtc->cmos[0x5c] = (uint8_t)(above_4g >> 8);
	rtc->cmos[0x5d] = (uint8_t)(above_4g >> 16);
}

static bool is_time_register(unsigned index)
{
	return index <= REG_YEAR || index == VRTC_CENTURY_INDEX;
}

uint8_t vrtc_read(struct vrtc *rtc, unsigned offset, uint64_t now_tsc)
{
	if (!(offset & 1))
		return 0xff;
	unsigned index = rtc->index;
	vrtc_update(rtc, now_tsc);
	if (!(rtc->cmos[REG_B] & B_SET) && is_time_register(index) && index != REG_SECONDS_ALARM &&
	    index != REG_MINUTES_ALARM && index != REG_HOURS_ALARM)
		latch_time(rtc, vrtc_now(rtc, now_tsc));
	switch (index) {
	case REG_A: {
		uint8_t a = rtc->cmos[REG_A] & 0x7f;
		if (!(rtc->cmos[REG_B] & B_SET) && rtc->tsc_hz && now_tsc > rtc->base_tsc) {
			uint64_t into_second = (now_tsc - rtc->base_tsc) % rtc->tsc_hz;
			if (into_second >= rtc->tsc_hz - rtc->tsc_hz / 1000000 * UIP_US)
				a |= A_UIP;
		}
		return a;
	}
	case REG_C: {
		uint8_t c = rtc->cmos[REG_C];
		rtc->cmos[REG_C] = 0;
		return c;
	}
	default:
		return rtc->cmos[index];
	}
}

void vrtc_write(struct vrtc *rtc, unsigned offset, uint8_t value, uint64_t now_tsc)
{
	if (!(offset & 1)) {
		rtc->index = value & 0x7f;
		rtc->nmi_disabled = value & 0x80;
		return;
	}
	unsigned index = rtc->index;
	vrtc_update(rtc, now_tsc);
	switch (index) {
	case REG_A:
		rtc->cmos[REG_A] = value & 0x7f; /* UIP is read-only */
		rearm_periodic(rtc, now_tsc);
		break;
	case REG_B: {
		uint8_t old = rtc->cmos[REG_B];
		if (!(old & B_SET) && (value & B_SET))
			latch_time(rtc, vrtc_now(rtc, now_tsc)); /* freeze for the guest to edit */
		rtc->cmos[REG_B] = value;
		if ((old & B_SET) && !(value & B_SET)) {
			rtc->base_seconds = registers_time(rtc);
			rtc->base_tsc = now_tsc;
			rtc->last_second = rtc->base_seconds;
		}
		rearm_periodic(rtc, now_tsc);
		break;
	}
	case REG_C:
	case REG_D:
		break; /* read-only */
	default:
		if (is_time_register(index) && index != REG_SECONDS_ALARM && index != REG_MINUTES_ALARM &&
		    index != REG_HOURS_ALARM && !(rtc->cmos[REG_B] & B_SET)) {
			/* A running clock takes the new field at once. */
			latch_time(rtc, vrtc_now(rtc, now_tsc));
			rtc->cmos[index] = value;
			rtc->base_seconds = registers_time(rtc);
			rtc->base_tsc = now_tsc;
			rtc->last_second = rtc->base_seconds;
		} else {
			rtc->cmos[index] = value;
		}
		break;
	}
}

void vrtc_nvram_save(const struct vrtc *rtc, uint8_t out[VRTC_NVRAM_BYTES])
{
	memcpy(out, rtc->cmos + VRTC_NVRAM_FIRST, VRTC_NVRAM_BYTES);
}

static bool platform_owned(unsigned index)
{
	return index == VRTC_CENTURY_INDEX || (index >= 0x15 && index <= 0x18) || index == 0x30 ||
	       index == 0x31 || index == 0x34 || index == 0x35 || (index >= 0x5b && index <= 0x5d);
}

void vrtc_nvram_load(struct vrtc *rtc, const uint8_t in[VRTC_NVRAM_BYTES])
{
	for (unsigned i = 0; i < VRTC_NVRAM_BYTES; i++)
		if (!platform_owned(VRTC_NVRAM_FIRST + i))
			rtc->cmos[VRTC_NVRAM_FIRST + i] = in[i];
}

/*
 * Virtual 8254. A channel counts down from its reload value at 1.193182 MHz
 * once the count is written (modes 0, 2, 3, 4) or the gate rises (modes 1,
 * 5; also restarts 2 and 3). Instead of ticking, the count and the output
 * are computed from the time elapsed since counting began:
 *   mode 0  interrupt on terminal count: OUT rises when the count reaches 0
 *   mode 1  one-shot: OUT low from the trigger until terminal count
 *   mode 2  rate generator: OUT low for one clock every `reload` clocks
 *   mode 3  square wave: OUT high for the first half of each period
 *   mode 4/5 strobe: OUT low for one clock at terminal count
 * Gate low pauses modes 0 and 4, and holds 2 and 3 (OUT high). Channel 0's
 * OUT is IRQ 0; channel 2's gate and OUT are bits 0 and 5 of port 0x61.
 */
#include <vdev/vpit.h>

#include <lib/string.h>

/* Rate conversions split into whole seconds and the rest, so they are
 * exact with 64-bit arithmetic (the vmkernel has no 128-bit division). */
static uint64_t ticks_at(const struct vpit *pit, uint64_t now_tsc)
{
	if (now_tsc <= pit->base_tsc)
		return 0;
	uint64_t delta = now_tsc - pit->base_tsc;
	return delta / pit->tsc_hz * VPIT_HZ + delta % pit->tsc_hz * VPIT_HZ / pit->tsc_hz;
}

static uint64_t tsc_at(const struct vpit *pit, uint64_t ticks)
{
	/* Rounded up: at that TSC the tick has certainly happened. */
	return pit->base_tsc + ticks / VPIT_HZ * pit->tsc_hz +
	       (ticks % VPIT_HZ * pit->tsc_hz + VPIT_HZ - 1) / VPIT_HZ;
}

static uint16_t to_bcd(uint32_t value)
{
	return (uint16_t)((value % 10) | (value / 10 % 10) << 4 | (value / 100 % 10) << 8 |
			  (value / 1000 % 10) << 12);
}

static uint32_t from_bcd(uint16_t value)
{
	return (value & 0xf) % 10 + ((value >> 4) & 0xf) % 10 * 10 + ((value >> 8) & 0xf) % 10 * 100 +
	       ((value >> 12) & 0xf) % 10 * 1000;
}

static uint64_t elapsed(const struct vpit_channel *c, uint64_t now)
{
	if (c->paused)
		return c->paused_at;
	return now > c->start ? now - c->start : 0;
}

/* The counter's value in binary (0..modulus-1; the modulus stands for 0). */
static uint32_t count_value(const struct vpit_channel *c, uint64_t now)
{
	uint32_t modulus = c->bcd ? 10000 : 65536;
	uint32_t n = c->reload;

	if (!c->counting)
		return n % modulus;
	uint64_t d = elapsed(c, now);
	switch (c->mode) {
	case 2:
		return (uint32_t)(n - d % n) % modulus;
	case 3: {
		/* Decrements by two, twice per period. */
		uint64_t half = (n + 1) / 2;
		uint64_t phase = d % n;
		uint64_t into = phase < half ? phase : phase - half;
		uint32_t value = (uint32_t)((n - 2 * into) % modulus) & ~1u;
		return value;
	}
	default: /* 0, 1, 4, 5: count down and wrap */
		return (uint32_t)(((uint64_t)n + modulus - d % modulus) % modulus);
	}
}

static bool output_of(const struct vpit_channel *c, uint64_t now)
{
	if (!c->counting)
		return c->mode != 0; /* mode 0 starts low; the others idle high */
	uint64_t d = elapsed(c, now), n = c->reload;
	switch (c->mode) {
	case 0:
	case 1:
		return d >= n;
	case 2:
		return n < 2 || d % n != n - 1;
	case 3:
		return d % n < (n + 1) / 2;
	default: /* 4, 5 */
		return d != n;
	}
}

/* The first IRQ 0 edge after `after` (PIT ticks), or 0. */
static uint64_t next_edge_after(const struct vpit_channel *c, uint64_t after)
{
	if (!c->counting || c->paused || !c->gate)
		return 0;
	uint64_t n = c->reload;
	switch (c->mode) {
	case 0:
		return c->start + n > after ? c->start + n : 0;
	case 4:
		return c->start + n + 1 > after ? c->start + n + 1 : 0;
	case 2:
	case 3: {
		uint64_t k = after >= c->start ? (after - c->start) / n + 1 : 1;
		return c->start + k * n;
	}
	default:
		return 0; /* modes 1 and 5 need a gate edge, which channel 0 never gets */
	}
}

static void update_edge(struct vpit *pit, uint64_t now)
{
	struct vpit_channel *c = &pit->channel[0];
	c->next_edge = next_edge_after(c, now);
	pit->missed_edges = 0; /* a reprogrammed counter forgets the old period's backlog */
}

void vpit_init(struct vpit *pit, uint64_t tsc_hz, uint64_t now_tsc)
{
	memset(pit, 0, sizeof(*pit));
	pit->tsc_hz = tsc_hz ? tsc_hz : 1;
	pit->base_tsc = now_tsc;
	for (unsigned i = 0; i < 3; i++) {
		pit->channel[i].access = 3;
		pit->channel[i].reload = 65536;
		pit->channel[i].gate = i != 2; /* channel 2's gate is port 0x61 bit 0 */
	}
}

static void load_count(struct vpit *pit, unsigned index, uint16_t raw, uint64_t now)
{
	struct vpit_channel *c = &pit->channel[index];
	uint32_t value = c->bcd ? from_bcd(raw) : raw;

	c->reload = value ? value : (c->bcd ? 10000 : 65536);
	if (c->mode == 2 && c->reload == 1)
		c->reload = 2; /* count 1 is illegal in mode 2 */
	c->null_count = false;
	c->paused = false;
	if (c->mode == 1 || c->mode == 5) {
		c->counting = false; /* waits for a gate edge */
	} else {
		/* Modes 2 and 3 would finish the current period first; starting
		 * the new one at once differs by less than one old period. */
		c->counting = true;
		c->start = now;
		if (!c->gate && (c->mode == 0 || c->mode == 4)) {
			c->paused = true;
			c->paused_at = 0;
		}
		if (!c->gate && (c->mode == 2 || c->mode == 3))
			c->counting = false;
	}
	if (index == 0)
		update_edge(pit, now);
}

static void write_control(struct vpit *pit, uint8_t value, uint64_t now)
{
	unsigned index = value >> 6;

	if (index == 3) { /* read-back: bit 5 clear latches counts, bit 4 clear latches status */
		for (unsigned i = 0; i < 3; i++) {
			if (!(value & (2u << i)))
				continue;
			struct vpit_channel *c = &pit->channel[i];
			if (!(value & 0x10) && !c->status_latched) {
				c->status = (uint8_t)((output_of(c, now) ? 0x80 : 0) | (c->null_count ? 0x40 : 0) |
						      c->access << 4 | c->mode << 1 | (c->bcd ? 1 : 0));
				c->status_latched = true;
			}
			if (!(value & 0x20) && !c->latch_bytes) {
				uint32_t v = count_value(c, now);
				c->latched = c->bcd ? to_bcd(v) : (uint16_t)v;
				c->latch_bytes = c->access == 3 ? 2 : 1;
			}
		}
		return;
	}
	struct vpit_channel *c = &pit->channel[index];
	unsigned access = (value >> 4) & 3;
	if (access == 0) { /* counter latch */
		if (!c->latch_bytes) {
			uint32_t v = count_value(c, now);
			c->latched = c->bcd ? to_bcd(v) : (uint16_t)v;
			c->latch_bytes = c->access == 3 ? 2 : 1;
		}
		return;
	}
	unsigned mode = (value >> 1) & 7;
	c->mode = (uint8_t)(mode > 5 ? mode - 4 : mode);
	c->access = (uint8_t)access;
	c->bcd = value & 1;
	c->counting = false;
	c->paused = false;
	c->null_count = true;
	c->write_msb_next = false;
	c->read_msb_next = false;
	c->latch_bytes = 0;
	c->status_latched = false;
	if (index == 0)
		update_edge(pit, now);
}

void vpit_write(struct vpit *pit, unsigned offset, uint8_t value, uint64_t now_tsc)
{
	uint64_t now = ticks_at(pit, now_tsc);

	if (offset == 3) {
		write_control(pit, value, now);
		return;
	}
	if (offset > 2)
		return;
	struct vpit_channel *c = &pit->channel[offset];
	switch (c->access) {
	case 1:
		load_count(pit, offset, value, now);
		break;
	case 2:
		load_count(pit, offset, (uint16_t)(value << 8), now);
		break;
	default:
		if (!c->write_msb_next) {
			c->write_lsb = value;
			c->write_msb_next = true;
			if (c->mode == 0) /* the first byte stops a mode-0 count */
				c->counting = false;
		} else {
			c->write_msb_next = false;
			load_count(pit, offset, (uint16_t)(c->write_lsb | value << 8), now);
		}
		break;
	}
}

uint8_t vpit_read(struct vpit *pit, unsigned offset, uint64_t now_tsc)
{
	uint64_t now = ticks_at(pit, now_tsc);

	if (offset > 2)
		return 0xff; /* the control word is write-only */
	struct vpit_channel *c = &pit->channel[offset];
	if (c->status_latched) {
		c->status_latched = false;
		return c->status;
	}
	uint16_t value;
	if (c->latch_bytes) {
		value = c->latched;
	} else {
		uint32_t v = count_value(c, now);
		value = c->bcd ? to_bcd(v) : (uint16_t)v;
	}
	uint8_t byte;
	switch (c->access) {
	case 1:
		byte = (uint8_t)value;
		c->latch_bytes = 0;
		break;
	case 2:
		byte = (uint8_t)(value >> 8);
		c->latch_bytes = 0;
		break;
	default:
		byte = c->read_msb_next ? (uint8_t)(value >> 8) : (uint8_t)value;
		c->read_msb_next = !c->read_msb_next;
		if (c->latch_bytes)
			c->latch_bytes--;
		break;
	}
	return byte;
}

uint16_t vpit_count(struct vpit *pit, unsigned channel, uint64_t now_tsc)
{
	const struct vpit_channel *c = &pit->channel[channel % 3];
	uint32_t v = count_value(c, ticks_at(pit, now_tsc));
	return c->bcd ? to_bcd(v) : (uint16_t)v;
}

bool vpit_output(struct vpit *pit, unsigned channel, uint64_t now_tsc)
{
	return output_of(&pit->channel[channel % 3], ticks_at(pit, now_tsc));
}

static void set_gate(struct vpit *pit, unsigned index, bool gate, uint64_t now)
{
	struct vpit_channel *c = &pit->channel[index];

	if (gate == c->gate)
		return;
	c->gate = gate;
	switch (c->mode) {
	case 0:
	case 4:
		if (!c->counting)
			break;
		if (!gate) {
			c->paused_at = elapsed(c, now);
			c->paused = true;
		} else if (c->paused) {
			c->start = now - c->paused_at;
			c->paused = false;
		}
		break;
	default: /* 1, 2, 3, 5: a rising gate (re)starts the count; a falling one holds 2 and 3 */
		if (gate && !c->null_count) {
			c->counting = true;
			c->start = now;
		} else if (!gate && (c->mode == 2 || c->mode == 3)) {
			c->counting = false;
		}
		break;
	}
	if (index == 0)
		update_edge(pit, now);
}

uint8_t vpit_port61_read(struct vpit *pit, uint64_t now_tsc)
{
	uint64_t now = ticks_at(pit, now_tsc);
	struct vpit_channel *c = &pit->channel[2];
	/* Bit 4 toggles with DRAM refresh, every 15.09 us (18 PIT clocks). */
	bool refresh = (now / 18) & 1;
	return (uint8_t)((c->gate ? 1 : 0) | (pit->speaker_enable ? 2 : 0) | (refresh ? 0x10 : 0) |
			 (output_of(c, now) ? 0x20 : 0));
}

void vpit_port61_write(struct vpit *pit, uint8_t value, uint64_t now_tsc)
{
	pit->speaker_enable = value & 2;
	set_gate(pit, 2, value & 1, ticks_at(pit, now_tsc));
}

uint64_t vpit_next_irq_tsc(const struct vpit *pit)
{
	uint64_t edge = pit->channel[0].next_edge;
	if (pit->missed_edges && (!edge || pit->replay_at < edge))
		edge = pit->replay_at;
	return edge ? tsc_at(pit, edge) : 0;
}

bool vpit_poll_irq(struct vpit *pit, uint64_t now_tsc)
{
	struct vpit_channel *c = &pit->channel[0];
	uint64_t now = ticks_at(pit, now_tsc);
	uint64_t replay_gap = c->reload / 8 ? c->reload / 8 : 1;

	if (c->next_edge && now >= c->next_edge) {
		if (c->mode == 2 || c->mode == 3) {
			uint64_t late = (now - c->next_edge) / c->reload;
			uint64_t backlog = pit->missed_edges + late;
			pit->missed_edges = (uint32_t)(backlog < VPIT_MAX_MISSED_EDGES ? backlog : VPIT_MAX_MISSED_EDGES);
			pit->replay_at = now + replay_gap;
		}
		c->next_edge = next_edge_after(c, now);
		return true;
	}
	if (pit->missed_edges && now >= pit->replay_at) {
		pit->missed_edges--;
		pit->replay_at = now + replay_gap;
		return true;
	}
	return false;
}

/*
 * The virtual 8254 PIT (ports 0x40-0x43) and the system control port 0x61
 * (channel 2 gate, speaker enable, OUT2, refresh toggle). Pure logic: time
 * is the host TSC, converted at the vmkernel's calibrated TSC rate, so the
 * PIT agrees with every other virtual clock and with the guest's TSC.
 */
#ifndef KAPSEL_VDEV_VPIT_H
#define KAPSEL_VDEV_VPIT_H

#include <stdbool.h>
#include <stdint.h>

#define VPIT_HZ 1193182u
/* Periodic IRQ 0 edges that fell while the VM was not running are replayed
 * (up to this many), an eighth of a period apart: a guest that counts ticks
 * across a delay (Linux's check_timer) sees them all, as KVM's "reinject"
 * PIT does. Older ones are dropped. */
#define VPIT_MAX_MISSED_EDGES 32u

struct vpit_channel {
	uint8_t mode;          /* 0-5 */
	uint8_t access;        /* 1 LSB, 2 MSB, 3 LSB then MSB */
	bool bcd;
	bool gate;
	bool counting;         /* a count was loaded (and, modes 1/5, triggered) */
	bool null_count;       /* written but not yet loaded (read-back status) */
	bool write_msb_next;   /* access 3: the LSB was written */
	bool read_msb_next;    /* access 3: the LSB was read */
	uint8_t write_lsb;
	uint32_t reload;       /* 1..65536 (binary) or 1..10000 (BCD) */
	uint64_t start;        /* PIT tick at which counting began */
	uint64_t paused_at;    /* elapsed ticks frozen while the gate is low (modes 0, 4) */
	bool paused;
	uint8_t latch_bytes;   /* latched count bytes still to read (0: none) */
	uint16_t latched;
	bool status_latched;
	uint8_t status;
	uint64_t next_edge;    /* channel 0: PIT tick of the next IRQ 0 edge, 0: none */
};

struct vpit {
	struct vpit_channel channel[3];
	bool speaker_enable;   /* port 0x61 bit 1 */
	uint64_t tsc_hz;
	uint64_t base_tsc;     /* PIT tick 0 */
	uint32_t missed_edges; /* channel 0 edges still to replay */
	uint64_t replay_at;    /* PIT tick of the next replayed edge */
};

void vpit_init(struct vpit *pit, uint64_t tsc_hz, uint64_t now_tsc);
/* Port offset 0-2 (counters) and 3 (control word). */
uint8_t vpit_read(struct vpit *pit, unsigned offset, uint64_t now_tsc);
void vpit_write(struct vpit *pit, unsigned offset, uint8_t value, uint64_t now_tsc);
uint8_t vpit_port61_read(struct vpit *pit, uint64_t now_tsc);
void vpit_port61_write(struct vpit *pit, uint8_t value, uint64_t now_tsc);
/* The current count of a channel as the guest would read it (no latch). */
uint16_t vpit_count(struct vpit *pit, unsigned channel, uint64_t now_tsc);
bool vpit_output(struct vpit *pit, unsigned channel, uint64_t now_tsc);
/* Host TSC of the next channel-0 output rising edge (IRQ 0), 0: none. */
uint64_t vpit_next_irq_tsc(const struct vpit *pit);
/* Whether a channel-0 rising edge happened by now (edges missed while the
 * VM did not run are merged into one); advances to the next. */
bool vpit_poll_irq(struct vpit *pit, uint64_t now_tsc);

#endif

/*
 * The vLAPIC (vdev/vlapic.c) on the host: a fake VM of three vCPUs, the
 * MMIO page reached through the handler vlapic.c registers, the MSRs
 * through the vCPU's interrupt-source hooks. The clock is faked: rdtsc()
 * is the host's, so timers are checked by their deadlines, not by waiting.
 */
#include "unit.h"

#include <stdarg.h>
#include <stdbool.h>

#include <arch/x86/lapic.h>
#include <lib/log.h>
#include <mm/heap.h>
#include <vdev/chipset.h>
#include <vdev/vdev.h>
#include <vm/vm.h>

/* ---- fakes of the layers below ---- */

void log_printf(enum log_level level, const char *fmt, ...)
{
	(void)level;
	(void)fmt;
}

void *kzalloc(size_t size)
{
	return calloc(1, size);
}

void kfree(void *ptr)
{
	free(ptr);
}

uint64_t tsc_hz(void)
{
	return 1000000000ull;
}

uint64_t lapic_timer_hz(void)
{
	return 6250000ull; /* bus 100 MHz / 16 */
}

static unsigned kicks[VM_MAX_VCPUS];

void vcpu_kick(struct vcpu *vcpu)
{
	kicks[vcpu->index]++;
}

static vm_mmio_read_fn mmio_read;
static vm_mmio_write_fn mmio_write;

int vm_register_mmio(struct vm *vm, uint64_t base, uint64_t size, vm_mmio_read_fn read, vm_mmio_write_fn write,
		     void *opaque)
{
	(void)vm;
	(void)base;
	(void)size;
	(void)opaque;
	mmio_read = read;
	mmio_write = write;
	return 0;
}

static int eoi_broadcasts, last_eoi_vector;

void chipset_eoi(struct vm_chipset *chipset, uint8_t vector)
{
	(void)chipset;
	eoi_broadcasts++;
	last_eoi_vector = vector;
}

static int pic_vector = -1;

int chipset_pic_pending(struct vm_chipset *chipset)
{
	(void)chipset;
	return pic_vector;
}

static int pic_acks;

uint8_t chipset_pic_acknowledge(struct vm_chipset *chipset)
{
	(void)chipset;
	pic_acks++;
	return (uint8_t)pic_vector;
}

void chipset_update(struct vm_chipset *chipset, uint64_t now_tsc)
{
	(void)chipset;
	(void)now_tsc;
}

/* ---- the fake VM ---- */

static struct vm vm;
static struct vm_chipset chipset; /* only its pic_output flag is read by vlapic.c */
static struct vcpu vcpus[3];

static void setup(void)
{
	for (uint32_t i = 0; i < 3; i++) {
		if (vcpus[i].irq.opaque)
			free(vcpus[i].irq.opaque);
	}
	memset(&vm, 0, sizeof(vm));
	memset(&chipset, 0, sizeof(chipset));
	memset(vcpus, 0, sizeof(vcpus));
	memset(kicks, 0, sizeof(kicks));
	eoi_broadcasts = 0;
	pic_vector = -1;
	pic_acks = 0;
	vm.vcpu_count = 3;
	for (uint32_t i = 0; i < 3; i++) {
		vcpus[i].vm = &vm;
		vcpus[i].index = i;
		vm.vcpus[i] = &vcpus[i];
	}
	CHECK_EQ(vdev_lapic_attach(&vm), 0);
}

static uint32_t rd(unsigned cpu, uint32_t reg)
{
	uint64_t v = 0;
	mmio_read(NULL, &vcpus[cpu], 0xfee00000u + reg, 4, &v);
	return (uint32_t)v;
}

static void wr(unsigned cpu, uint32_t reg, uint32_t value)
{
	mmio_write(NULL, &vcpus[cpu], 0xfee00000u + reg, 4, value);
}

static int msr_rd(unsigned cpu, uint32_t index, uint64_t *value)
{
	return vcpus[cpu].irq.msr_read(&vcpus[cpu], index, value);
}

static int msr_wr(unsigned cpu, uint32_t index, uint64_t value)
{
	return vcpus[cpu].irq.msr_write(&vcpus[cpu], index, value);
}

static bool irr_has(unsigned cpu, unsigned vector)
{
	return rd(cpu, 0x200 + (vector / 32) * 0x10) & (1u << (vector % 32));
}

static void enable(unsigned cpu)
{
	wr(cpu, 0xf0, 0x1ff);
}

static void to_x2apic(unsigned cpu)
{
	CHECK_EQ(msr_wr(cpu, 0x1b, 0xfee00000u | (1u << 11) | (1u << 10) | (cpu == 0 ? 1u << 8 : 0)), 0);
}

/* ---- xAPIC ---- */

UNIT_TEST(xapic_reset_state_and_identity)
{
	setup();
	uint64_t base = 0;
	CHECK_EQ(msr_rd(0, 0x1b, &base), 0);
	CHECK_EQ(base, 0xfee00900u); /* enabled, BSP */
	CHECK_EQ(msr_rd(1, 0x1b, &base), 0);
	CHECK_EQ(base, 0xfee00800u);
	CHECK_EQ(rd(1, 0x20), 1u << 24);
	CHECK_EQ(rd(0, 0x30), 0x00050014u);
	CHECK_EQ(rd(2, 0xf0), 0xff);        /* software-disabled */
	CHECK_EQ(rd(2, 0x320), 1u << 16);   /* LVTs masked */
	CHECK_EQ(rd(2, 0xe0), 0xffffffffu); /* DFR flat */
	CHECK_EQ(vcpus[2].irq.pending_vector(&vcpus[2]), -1);
}

UNIT_TEST(xapic_reserved_and_read_only_registers)
{
	setup();
	enable(0);
	wr(0, 0x280, 0);
	CHECK_EQ(rd(0, 0x280), 0);
	CHECK_EQ(rd(0, 0x2f0), 0);  /* no CMCI LVT: reserved */
	wr(0, 0x3f0, 0x40);         /* SELF IPI is x2APIC only */
	CHECK(!irr_has(0, 0x40));
	wr(0, 0x280, 0);            /* latch */
	CHECK_EQ(rd(0, 0x280), 0x80);
	wr(0, 0x280, 0);
	CHECK_EQ(rd(0, 0x280), 0);
	wr(0, 0x30, 0);             /* version: read-only */
	wr(0, 0x20, 0x05000000);    /* ID: kept */
	wr(0, 0x390, 5);            /* current count: read-only */
	CHECK_EQ(rd(0, 0x30), 0x00050014u);
	CHECK_EQ(rd(0, 0x20), 0);
	CHECK_EQ(rd(0, 0x390), 0);
	/* narrow and unaligned accesses never reach a register */
	uint64_t v = 0;
	mmio_write(NULL, &vcpus[0], 0xfee00080u, 1, 0xff);
	CHECK_EQ(rd(0, 0x80), 0);
	mmio_read(NULL, &vcpus[0], 0xfee00031u, 1, &v);
	CHECK_EQ(v, 0x00); /* byte 1 of the version register */
}

UNIT_TEST(xapic_software_disable_masks_lvts)
{
	setup();
	enable(0);
	wr(0, 0x350, 0x700); /* LINT0 ExtINT, unmasked */
	CHECK_EQ(rd(0, 0x350), 0x700);
	wr(0, 0xf0, 0xff);   /* software disable */
	CHECK_EQ(rd(0, 0x350), 0x10700);
	wr(0, 0x350, 0x700); /* cannot unmask while disabled */
	CHECK_EQ(rd(0, 0x350), 0x10700);
	wr(0, 0x320, 0xffffffffu); /* reserved bits and timer mode 3 dropped */
	CHECK_EQ(rd(0, 0x320) & ~0x10000u, 0x000000ffu);
}

/* ---- mode switches ---- */

UNIT_TEST(apic_base_mode_switches)
{
	setup();
	uint64_t x = 0;
	CHECK_EQ(msr_rd(1, 0x802, &x), -1);                      /* x2APIC MSRs need x2APIC mode */
	CHECK_EQ(msr_wr(1, 0x1b, 0xfee00000u | (1u << 10)), -1); /* EXTD without EN */
	CHECK_EQ(msr_wr(1, 0x1b, 0xfed00000u | (1u << 11)), -1); /* relocation */
	CHECK_EQ(msr_wr(1, 0x1b, 0xfee00000u | (1u << 11) | 1), -1); /* reserved bit 0 */
	CHECK_EQ(msr_wr(1, 0x1b, 0xfee00000u | (1u << 11) | (1ull << 55)), -1);
	to_x2apic(1);
	CHECK_EQ(msr_rd(1, 0x802, &x), 0);
	CHECK_EQ(x, 1);
	CHECK_EQ(rd(1, 0x20), 0xffffffffu); /* the xAPIC page is gone */
	CHECK_EQ(msr_wr(1, 0x1b, 0xfee00000u | (1u << 11)), -1); /* x2APIC -> xAPIC */
	CHECK_EQ(msr_wr(1, 0x1b, 0xfee00000u), 0);               /* -> disabled */
	CHECK_EQ(msr_wr(1, 0x1b, 0xfee00000u | (1u << 11) | (1u << 10)), -1); /* disabled -> x2APIC */
	CHECK_EQ(msr_wr(1, 0x1b, 0xfee00000u | (1u << 11)), 0);  /* -> xAPIC */
	CHECK_EQ(rd(1, 0xf0), 0xff); /* reset by the disable */
	/* BSP bit is not the guest's to change */
	CHECK_EQ(msr_wr(2, 0x1b, 0xfee00000u | (1u << 11) | (1u << 8)), 0);
	CHECK_EQ(msr_rd(2, 0x1b, &x), 0);
	CHECK_EQ(x, 0xfee00800u);
}

/* ---- x2APIC register rules ---- */

UNIT_TEST(x2apic_gp_cases)
{
	setup();
	to_x2apic(2);
	uint64_t x = 0;
	CHECK_EQ(msr_rd(2, 0x80d, &x), 0);
	CHECK_EQ(x, 1u << 2);                 /* LDR: cluster 0, bit 2 */
	CHECK_EQ(msr_rd(2, 0x80e, &x), -1);   /* DFR */
	CHECK_EQ(msr_rd(2, 0x831, &x), -1);   /* ICR high */
	CHECK_EQ(msr_rd(2, 0x80b, &x), -1);   /* EOI: write-only */
	CHECK_EQ(msr_rd(2, 0x83f, &x), -1);   /* SELF IPI: write-only */
	CHECK_EQ(msr_rd(2, 0x809, &x), -1);   /* APR */
	CHECK_EQ(msr_rd(2, 0x8ff, &x), -1);   /* nothing there */
	CHECK_EQ(msr_wr(2, 0x802, 2), -1);    /* ID */
	CHECK_EQ(msr_wr(2, 0x80d, 0), -1);    /* LDR */
	CHECK_EQ(msr_wr(2, 0x803, 0), -1);    /* version */
	CHECK_EQ(msr_wr(2, 0x839, 0), -1);    /* current count */
	CHECK_EQ(msr_wr(2, 0x820, 0), -1);    /* IRR */
	CHECK_EQ(msr_wr(2, 0x80b, 1), -1);    /* EOI must be 0 */
	CHECK_EQ(msr_wr(2, 0x828, 1), -1);    /* ESR must be 0 */
	CHECK_EQ(msr_wr(2, 0x808, 0x100), -1); /* TPR reserved bits */
	CHECK_EQ(msr_wr(2, 0x80f, 1u << 12), -1); /* SVR: no EOI suppression */
	CHECK_EQ(msr_wr(2, 0x832, 3u << 17), -1); /* timer mode 3 */
	CHECK_EQ(msr_wr(2, 0x83e, 0x10), -1); /* divide reserved bits */
	CHECK_EQ(msr_wr(2, 0x830, 1ull << 16), -1); /* ICR reserved bit */
	CHECK_EQ(msr_wr(2, 0x808, 1ull << 32), -1); /* high half of a 32-bit register */
	CHECK_EQ(msr_wr(2, 0x808, 0x20), 0);
	CHECK_EQ(msr_rd(2, 0x808, &x), 0);
	CHECK_EQ(x, 0x20);
	CHECK_EQ(msr_wr(2, 0x80b, 0), 0);
}

/* ---- interrupts ---- */

UNIT_TEST(ipi_physical_logical_shorthand_lowest)
{
	setup();
	for (unsigned i = 0; i < 3; i++)
		enable(i);
	wr(0, 0x310, 1u << 24);
	wr(0, 0x300, 0x41); /* fixed, physical, to APIC 1 */
	CHECK(irr_has(1, 0x41) && !irr_has(0, 0x41) && !irr_has(2, 0x41));
	CHECK_EQ(kicks[1], 1);
	/* logical flat: LDRs 0x01, 0x02, 0x04 */
	for (unsigned i = 0; i < 3; i++)
		wr(i, 0xd0, (1u << i) << 24);
	wr(0, 0x310, 0x06u << 24);
	wr(0, 0x300, 0x800 | 0x42);
	CHECK(!irr_has(0, 0x42) && irr_has(1, 0x42) && irr_has(2, 0x42));
	wr(0, 0x300, 0x800 | 0x100 | 0x43); /* lowest priority: one APIC only, the lowest-numbered */
	CHECK(irr_has(1, 0x43) && !irr_has(2, 0x43));
	/* logical cluster: cluster 1 members 1 and 2 */
	for (unsigned i = 0; i < 3; i++) {
		wr(i, 0xe0, 0x0fffffffu);
		wr(i, 0xd0, (0x10u | (1u << i)) << 24);
	}
	wr(0, 0x310, 0x14u << 24);
	wr(0, 0x300, 0x800 | 0x44);
	CHECK(irr_has(2, 0x44) && !irr_has(1, 0x44) && !irr_has(0, 0x44));
	/* shorthands: all-but-self, self */
	wr(1, 0x300, (3u << 18) | 0x45);
	CHECK(irr_has(0, 0x45) && !irr_has(1, 0x45) && irr_has(2, 0x45));
	wr(1, 0x300, (1u << 18) | 0x46);
	CHECK(irr_has(1, 0x46) && !irr_has(0, 0x46));
	/* an illegal vector is not sent: ESR bit 5 */
	wr(0, 0x310, 2u << 24);
	wr(0, 0x300, 0x0f);
	CHECK(!irr_has(2, 0x0f));
	wr(0, 0x280, 0);
	CHECK_EQ(rd(0, 0x280), 0x20);
	/* NMI */
	wr(0, 0x300, 0x400);
	CHECK(vcpus[2].nmi_pending);
}

static bool irr_has_msr(unsigned cpu, unsigned vector)
{
	uint64_t v = 0;
	CHECK_EQ(msr_rd(cpu, 0x820 + vector / 32, &v), 0);
	return v & (1u << (vector % 32));
}

UNIT_TEST(init_resets_the_target_apic_on_its_own_cpu)
{
	setup();
	enable(0);
	enable(1);
	wr(1, 0x80, 0x40);
	wr(1, 0x320, 0x30);
	wr(1, 0xd0, 0x02000000);
	wr(0, 0x310, 1u << 24);
	wr(0, 0x300, 0x4500); /* INIT, level assert */
	CHECK_EQ(vcpus[1].state, VCPU_WAIT_FOR_SIPI);
	CHECK_EQ(kicks[1], 1);
	vcpus[1].irq.update(&vcpus[1], 0); /* the target's next pass on its own pCPU */
	CHECK_EQ(rd(1, 0xf0), 0xff);
	CHECK_EQ(rd(1, 0x80), 0);
	CHECK_EQ(rd(1, 0x320), 1u << 16);
	CHECK_EQ(rd(1, 0xd0), 0);
	CHECK_EQ(rd(1, 0x20), 1u << 24); /* the ID stays */
	/* INIT to the BSP is ignored */
	wr(1, 0x310, 0);
	wr(0, 0x80, 0x20);
	enable(1);
	wr(1, 0x300, 0x4500);
	vcpus[0].irq.update(&vcpus[0], 0);
	CHECK_EQ(rd(0, 0x80), 0x20);
}

UNIT_TEST(x2apic_ipi_self_ipi_and_cluster)
{
	setup();
	for (unsigned i = 0; i < 3; i++) {
		to_x2apic(i);
		CHECK_EQ(msr_wr(i, 0x80f, 0x1ff), 0);
	}
	CHECK_EQ(msr_wr(0, 0x830, (2ull << 32) | 0x51), 0); /* physical, 32-bit destination */
	CHECK(irr_has_msr(2, 0x51) && !irr_has_msr(1, 0x51));
	uint64_t icr = 0;
	CHECK_EQ(msr_rd(0, 0x830, &icr), 0);
	CHECK_EQ(icr, (2ull << 32) | 0x51);
	/* cluster 0, members 0 and 1 */
	CHECK_EQ(msr_wr(2, 0x830, 0x3ull << 32 | 0x800 | 0x52), 0);
	CHECK(irr_has_msr(0, 0x52) && irr_has_msr(1, 0x52) && !irr_has_msr(2, 0x52));
	/* broadcast is 0xffffffff in x2APIC mode; 0xff is just APIC ID 255 */
	CHECK_EQ(msr_wr(0, 0x830, 0xffull << 32 | 0x53), 0);
	CHECK(!irr_has_msr(1, 0x53));
	CHECK_EQ(msr_wr(0, 0x830, 0xffffffffull << 32 | 0x54), 0);
	CHECK(irr_has_msr(0, 0x54) && irr_has_msr(1, 0x54) && irr_has_msr(2, 0x54));
	CHECK_EQ(msr_wr(1, 0x83f, 0x55), 0); /* self IPI */
	CHECK(irr_has_msr(1, 0x55) && !irr_has_msr(0, 0x55));
	CHECK_EQ(msr_wr(1, 0x83f, 0x100), -1);
}

UNIT_TEST(priorities_eoi_and_level_broadcast)
{
	setup();
	enable(0);
	struct vcpu *v = &vcpus[0];
	struct apic_message m = { .destination = 0, .vector = 0x45, .delivery_mode = 0 };
	vlapic_deliver(&vm, &m);
	wr(0, 0x80, 0x50); /* TPR class 5 blocks class 4 */
	CHECK_EQ(v->irq.pending_vector(v), -1);
	CHECK_EQ(rd(0, 0xa0), 0x50); /* PPR */
	wr(0, 0x80, 0x30);
	CHECK_EQ(v->irq.pending_vector(v), 0x45);
	v->irq.acknowledge(v, 0x45);
	CHECK_EQ(rd(0, 0xa0), 0x40); /* PPR = the class in service */
	CHECK(rd(0, 0x100 + 2 * 0x10) & (1u << 5)); /* ISR bit 0x45 */
	/* a level-triggered message sets TMR; its EOI is broadcast */
	vm.chipset = &chipset;
	struct apic_message level = { .destination = 0, .vector = 0x61, .delivery_mode = 0, .level = true };
	vlapic_deliver(&vm, &level);
	CHECK(rd(0, 0x180 + 3 * 0x10) & (1u << 1));
	CHECK_EQ(v->irq.pending_vector(v), 0x61); /* higher class than the one in service */
	v->irq.acknowledge(v, 0x61);
	CHECK_EQ(v->irq.pending_vector(v), -1);
	wr(0, 0xb0, 0); /* EOI of 0x61 */
	CHECK_EQ(eoi_broadcasts, 1);
	CHECK_EQ(last_eoi_vector, 0x61);
	wr(0, 0xb0, 0); /* EOI of 0x45: edge, no broadcast */
	CHECK_EQ(eoi_broadcasts, 1);
	CHECK_EQ(rd(0, 0xa0), 0x30);
	/* lowest priority messages go to one APIC */
	enable(1);
	enable(2);
	struct apic_message lowest = { .destination = 0xff, .vector = 0x70, .delivery_mode = 1 };
	vlapic_deliver(&vm, &lowest);
	CHECK(irr_has(0, 0x70) && !irr_has(1, 0x70) && !irr_has(2, 0x70));
	vm.chipset = NULL;
}

UNIT_TEST(extint_from_the_8259)
{
	setup();
	vm.chipset = &chipset;
	struct vcpu *v = &vcpus[0];
	pic_vector = 0x28;
	chipset.pic_output = true;
	CHECK_EQ(v->irq.pending_vector(v), -1); /* LINT0 masked */
	vlapic_virtual_wire(&vm);
	CHECK_EQ(rd(0, 0x350), 0x700);
	chipset.pic_output = false; /* INTR low: the 8259 is not asked */
	CHECK_EQ(v->irq.pending_vector(v), -1);
	chipset.pic_output = true;
	CHECK_EQ(v->irq.pending_vector(v), 0x28);
	v->irq.acknowledge(v, 0x28);
	CHECK_EQ(pic_acks, 1);
	CHECK_EQ(rd(0, 0x100 + 1 * 0x10), 0); /* not in the APIC's ISR */
	/* other vCPUs' LINT0 stays masked */
	CHECK_EQ(vcpus[1].irq.pending_vector(&vcpus[1]), -1);
	vm.chipset = NULL;
}

UNIT_TEST(timer_modes_and_tsc_deadline)
{
	setup();
	enable(0);
	struct vcpu *v = &vcpus[0];
	wr(0, 0x3e0, 0xb);      /* divide by 1: 100 MHz bus */
	wr(0, 0x320, 0x40);     /* one-shot */
	wr(0, 0x380, 1000000);  /* 10 ms */
	uint64_t deadline = v->irq.next_deadline(v);
	uint64_t now = __builtin_ia32_rdtsc();
	CHECK(deadline > now && deadline - now <= 10000000 + 1000);
	CHECK(rd(0, 0x390) <= 1000000);
	v->irq.update(v, deadline);
	CHECK(irr_has(0, 0x40));
	CHECK_EQ(v->irq.next_deadline(v), 0);
	/* TSC deadline: the MSR reads 0 in the other modes and ignores writes */
	uint64_t x = 1;
	CHECK_EQ(msr_wr(0, 0x6e0, 12345), 0);
	CHECK_EQ(msr_rd(0, 0x6e0, &x), 0);
	CHECK_EQ(x, 0);
	wr(0, 0x320, (2u << 17) | 0x41);
	v->arch.tsc_offset = 1000; /* guest TSC = host + 1000 */
	uint64_t guest_deadline = __builtin_ia32_rdtsc() + 1000 + 50000000;
	CHECK_EQ(msr_wr(0, 0x6e0, guest_deadline), 0);
	CHECK_EQ(msr_rd(0, 0x6e0, &x), 0);
	CHECK_EQ(x, guest_deadline);
	CHECK_EQ(v->irq.next_deadline(v), guest_deadline - 1000);
	wr(0, 0x380, 5); /* the initial count does nothing in this mode */
	CHECK_EQ(v->irq.next_deadline(v), guest_deadline - 1000);
	v->irq.update(v, guest_deadline - 1001);
	CHECK(!irr_has(0, 0x41));
	v->irq.update(v, guest_deadline - 1000);
	CHECK(irr_has(0, 0x41));
	CHECK_EQ(msr_rd(0, 0x6e0, &x), 0);
	CHECK_EQ(x, 0);
	/* a deadline in the past is due at once; 0 disarms; a mode change disarms */
	CHECK_EQ(msr_wr(0, 0x6e0, 1), 0);
	CHECK(v->irq.next_deadline(v) <= __builtin_ia32_rdtsc());
	CHECK_EQ(msr_wr(0, 0x6e0, 0), 0);
	CHECK_EQ(v->irq.next_deadline(v), 0);
	CHECK_EQ(msr_wr(0, 0x6e0, guest_deadline), 0);
	wr(0, 0x320, 0x41);
	CHECK_EQ(v->irq.next_deadline(v), 0);
	/* periodic reloads */
	wr(0, 0x320, (1u << 17) | 0x42);
	wr(0, 0x380, 100000); /* 1 ms */
	uint64_t first = v->irq.next_deadline(v);
	v->irq.update(v, first);
	uint64_t second = v->irq.next_deadline(v);
	CHECK(second > first && second - first >= 999000 && second - first <= 1001000);
	/* read before the run loop fired the period: still counting, reloaded */
	while (__builtin_ia32_rdtsc() < second + 1000)
		;
	uint32_t current = rd(0, 0x390);
	CHECK(current > 0 && current <= 100000);
	/* masked: no interrupt, the count still runs */
	wr(0, 0x320, (1u << 17) | (1u << 16) | 0x43);
	v->irq.update(v, second);
	CHECK(!irr_has(0, 0x43));
	CHECK(v->irq.next_deadline(v) > second);
}

UNIT_MAIN();

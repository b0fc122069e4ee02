/*
 * The local APIC of each vCPU: xAPIC registers through MMIO at 0xfee00000
 * and, once IA32_APIC_BASE.EXTD is set, x2APIC registers as MSRs
 * 0x800-0x8ff (MSR = 0x800 + offset / 16). Timer one-shot, periodic and
 * TSC-deadline; IPIs with every delivery mode the guest needs (fixed,
 * lowest priority delivered as fixed to the lowest-numbered vCPU addressed,
 * NMI, INIT, STARTUP), shorthands, physical and logical (flat, cluster and
 * x2APIC cluster) destinations; EOI with the broadcast of level-triggered
 * vectors to the I/O APIC; TPR/PPR; LINT0 in ExtINT mode passes the 8259's
 * interrupts through.
 *
 * Register rules follow the SDM: in xAPIC mode a reserved register reads 0,
 * ignores writes and sets the ESR's illegal-register bit, and writes to
 * read-only registers are ignored; in x2APIC mode reading a write-only or
 * missing register, writing a read-only one, and setting reserved bits are
 * #GP. A vCPU's registers are touched only on its own pCPU; other pCPUs
 * set IRR/TMR bits atomically and kick it.
 */
#include <vdev/vdev.h>

#include <arch/x86/cpu.h>
#include <arch/x86/lapic.h>
#include <lib/errno.h>
#include <lib/log.h>
#include <mm/heap.h>
#include <vdev/chipset.h>
#include <vdev/platform.h>
#include <vm/vm.h>

#define REG_ID 0x020
#define REG_VERSION 0x030
#define REG_TPR 0x080
#define REG_APR 0x090
#define REG_PPR 0x0a0
#define REG_EOI 0x0b0
#define REG_RRD 0x0c0
#define REG_LDR 0x0d0
#define REG_DFR 0x0e0
#define REG_SVR 0x0f0
#define REG_ISR 0x100
#define REG_TMR 0x180
#define REG_IRR 0x200
#define REG_ESR 0x280
#define REG_ICR_LOW 0x300
#define REG_ICR_HIGH 0x310
#define REG_LVT_TIMER 0x320
#define REG_LVT_LINT0 0x350
#define REG_LVT_LAST 0x370
#define REG_TIMER_INITIAL 0x380
#define REG_TIMER_CURRENT 0x390
#define REG_TIMER_DIVIDE 0x3e0
#define REG_SELF_IPI 0x3f0

#define LVT_TIMER 0
#define LVT_THERMAL 1
#define LVT_PERF 2
#define LVT_LINT0 3
#define LVT_LINT1 4
#define LVT_ERROR 5
#define LVT_COUNT 6

#define LVT_MASKED (1u << 16)
#define LVT_TIMER_MODE_SHIFT 17
#define TIMER_ONESHOT 0u
#define TIMER_PERIODIC 1u
#define TIMER_TSC_DEADLINE 2u
#define SVR_ENABLE (1u << 8)
#define VERSION_VALUE (0x14u | ((LVT_COUNT - 1) << 16))

#define ESR_SEND_ILLEGAL_VECTOR (1u << 5)
#define ESR_RECEIVE_ILLEGAL_VECTOR (1u << 6)
#define ESR_ILLEGAL_REGISTER (1u << 7)

#define MSR_TSC_DEADLINE 0x6e0
#define MSR_X2APIC_FIRST 0x800
#define MSR_X2APIC_LAST 0x8ff
#define APIC_BASE_BSP (1ull << 8)
#define APIC_BASE_EXTD (1ull << 10)
#define APIC_BASE_ENABLE (1ull << 11)
#define APIC_BASE_ADDRESS_MASK 0x000ffffffffff000ull

#define MODE_FIXED 0
#define MODE_LOWEST 1
#define MODE_SMI 2
#define MODE_NMI 4
#define MODE_INIT 5
#define MODE_STARTUP 6
#define MODE_EXTINT 7

/* Writable bits of each LVT entry (reserved ones are #GP in x2APIC mode). */
static const uint32_t lvt_writable[LVT_COUNT] = {
	[LVT_TIMER] = 0x000700ff, [LVT_THERMAL] = 0x000107ff, [LVT_PERF] = 0x000107ff,
	[LVT_LINT0] = 0x0001a7ff, [LVT_LINT1] = 0x0001a7ff, [LVT_ERROR] = 0x000100ff,
};

struct vlapic {
	struct vcpu *vcpu;
	uint32_t irr[8];           /* set from any pCPU: atomic bit operations */
	uint32_t tmr[8];           /* likewise, with IRR */
	bool irr_maybe_set;        /* set after every IRR bit (atomic): false means IRR is empty */
	uint32_t isr[8];
	uint64_t apic_base;
	uint32_t tpr, svr, ldr, dfr, icr_low, icr_high;
	uint32_t esr, esr_pending; /* ESR as last latched / errors since */
	uint32_t lvt[LVT_COUNT];
	uint32_t timer_initial, timer_divide_reg;
	uint64_t timer_start_tsc, timer_deadline_tsc; /* host TSC; 0: not armed */
	uint64_t timer_period_tsc;
	uint64_t tsc_deadline;     /* IA32_TSC_DEADLINE as the guest wrote it */
	bool extint_offered;       /* the last pending_vector() was the 8259's */
	bool init_pending;         /* an INIT arrived: reset on the vCPU's own pCPU (atomic) */
};

static struct vlapic *lapic_of(struct vcpu *vcpu)
{
	return vcpu->irq.opaque;
}

static void init_reset(struct vlapic *l);

static bool x2apic_mode(const struct vlapic *l)
{
	return (l->apic_base & (APIC_BASE_ENABLE | APIC_BASE_EXTD)) == (APIC_BASE_ENABLE | APIC_BASE_EXTD);
}

static bool hardware_enabled(const struct vlapic *l)
{
	return l->apic_base & APIC_BASE_ENABLE;
}

static bool software_enabled(const struct vlapic *l)
{
	return hardware_enabled(l) && (l->svr & SVR_ENABLE);
}

static unsigned timer_mode(const struct vlapic *l)
{
	return (l->lvt[LVT_TIMER] >> LVT_TIMER_MODE_SHIFT) & 3;
}

/* ---- timer ---- */

/* The virtual bus clock is the host's: the LAPIC timer counts at the rate
 * the host calibrated (CPUID 0x40000010 tells the guest). */
static uint64_t bus_hz(void)
{
	return lapic_timer_hz() * 16;
}

static unsigned divide_value(uint32_t reg)
{
	unsigned code = (reg & 3) | ((reg >> 1) & 4);
	return code == 7 ? 1 : 2u << code;
}

static uint64_t counts_to_tsc(uint64_t counts, unsigned divide)
{
	/* counts * divide / bus_hz seconds, in TSC ticks, without 128-bit division. */
	uint64_t tsc_per_bus_fp24 = (tsc_hz() << 24) / (bus_hz() ? bus_hz() : 1);
	return (uint64_t)(((unsigned __int128)(counts * divide) * tsc_per_bus_fp24) >> 24);
}

static uint64_t tsc_to_counts(uint64_t ticks, unsigned divide)
{
	uint64_t bus_per_tsc_fp32 = (bus_hz() << 32) / (tsc_hz() ? tsc_hz() : 1);
	return (uint64_t)(((unsigned __int128)ticks * bus_per_tsc_fp32) >> 32) / divide;
}

static void timer_arm(struct vlapic *l)
{
	if (timer_mode(l) == TIMER_TSC_DEADLINE)
		return; /* the initial count is ignored in TSC-deadline mode */
	if (!l->timer_initial) {
		l->timer_deadline_tsc = 0;
		return;
	}
	l->timer_start_tsc = rdtsc();
	l->timer_period_tsc = counts_to_tsc(l->timer_initial, divide_value(l->timer_divide_reg));
	if (!l->timer_period_tsc)
		l->timer_period_tsc = 1;
	l->timer_deadline_tsc = l->timer_start_tsc + l->timer_period_tsc;
}

static uint32_t timer_current(struct vlapic *l)
{
	if (!l->timer_deadline_tsc || timer_mode(l) == TIMER_TSC_DEADLINE)
		return 0;
	uint64_t now = rdtsc(), start = l->timer_start_tsc;
	if (now >= l->timer_deadline_tsc) {
		if (timer_mode(l) != TIMER_PERIODIC || !l->timer_period_tsc)
			return 0;
		/* Periods the run loop has not fired yet: the count reloaded anyway. */
		start = now - (now - start) % l->timer_period_tsc;
	}
	uint64_t elapsed = tsc_to_counts(now - start, divide_value(l->timer_divide_reg));
	return elapsed >= l->timer_initial ? 0 : l->timer_initial - (uint32_t)elapsed;
}

/* IA32_TSC_DEADLINE holds a guest TSC value; the host's is offset from it. */
static void tsc_deadline_arm(struct vlapic *l, uint64_t guest_deadline)
{
	uint64_t offset = l->vcpu->arch.tsc_offset;
	l->tsc_deadline = guest_deadline;
	if (!guest_deadline) {
		l->timer_deadline_tsc = 0;
		return;
	}
	uint64_t host = guest_deadline - offset;
	/* A deadline already past (or before the host TSC's start) fires at once. */
	if ((int64_t)(guest_deadline - (rdtsc() + offset)) <= 0 || !host)
		host = rdtsc();
	l->timer_deadline_tsc = host ? host : 1;
}

/* ---- interrupt state ---- */

static int highest_bit(const uint32_t *bits)
{
	for (int word = 7; word >= 0; word--) {
		uint32_t w = __atomic_load_n(&bits[word], __ATOMIC_ACQUIRE);
		if (w)
			return word * 32 + 31 - __builtin_clz(w);
	}
	return -1;
}

static void set_irr(struct vlapic *l, uint8_t vector, bool level)
{
	if (level)
		__atomic_or_fetch(&l->tmr[vector / 32], 1u << (vector % 32), __ATOMIC_RELEASE);
	else
		__atomic_and_fetch(&l->tmr[vector / 32], ~(1u << (vector % 32)), __ATOMIC_RELEASE);
	__atomic_or_fetch(&l->irr[vector / 32], 1u << (vector % 32), __ATOMIC_SEQ_CST);
	__atomic_store_n(&l->irr_maybe_set, true, __ATOMIC_SEQ_CST);
}

/* The highest vector in IRR, or -1. The run loop asks before every entry
 * and IRR is usually empty: the scan is skipped while irr_maybe_set is
 * false. The flag is cleared before a scan and set again when it finds a
 * bit, so a set_irr() racing with the scan leaves it set either way. */
static int highest_irr(struct vlapic *l)
{
	if (!__atomic_load_n(&l->irr_maybe_set, __ATOMIC_ACQUIRE))
		return -1;
	__atomic_store_n(&l->irr_maybe_set, false, __ATOMIC_SEQ_CST);
	int irr = highest_bit(l->irr);
	if (irr >= 0)
		__atomic_store_n(&l->irr_maybe_set, true, __ATOMIC_RELAXED);
	return irr;
}

static uint32_t ppr_of(const struct vlapic *l)
{
	int isr = highest_bit(l->isr);
	uint32_t isr_class = isr >= 0 ? (uint32_t)isr & 0xf0 : 0;
	return (l->tpr & 0xf0) >= isr_class ? l->tpr & 0xff : isr_class;
}

/* An error the APIC detected: kept for the next ESR latch, and the error
 * LVT interrupt when unmasked. */
static void raise_error(struct vlapic *l, uint32_t bits)
{
	l->esr_pending |= bits;
	uint32_t lvt = l->lvt[LVT_ERROR];
	if (!(lvt & LVT_MASKED) && software_enabled(l) && (lvt & 0xff) >= 16)
		set_irr(l, lvt & 0xff, false);
}

/* Whether this vCPU's LINT0 takes the 8259's INTR: virtual-wire mode, or a
 * hardware-disabled APIC (the CPU's INTR pin then sees the 8259 directly). */
static bool takes_extint(const struct vlapic *l)
{
	if (!hardware_enabled(l))
		return l->vcpu->index == 0;
	uint32_t lint0 = l->lvt[LVT_LINT0];
	return software_enabled(l) && !(lint0 & LVT_MASKED) && ((lint0 >> 8) & 7) == MODE_EXTINT;
}

/* The 8259's vector when LINT0 takes ExtINT and INTR is high, else the
 * highest IRR vector above the PPR's class, or -1. */
static __attribute__((noinline)) int pending_vector_slow(struct vlapic *l, struct vm_chipset *chipset)
{
	if (__atomic_load_n(&l->init_pending, __ATOMIC_ACQUIRE))
		init_reset(l);
	if (chipset && __atomic_load_n(&chipset->pic_output, __ATOMIC_ACQUIRE) && takes_extint(l)) {
		int vector = chipset_pic_pending(chipset);
		if (vector >= 0) {
			l->extint_offered = true;
			return vector;
		}
	}
	if (!__atomic_load_n(&l->irr_maybe_set, __ATOMIC_ACQUIRE) || !software_enabled(l))
		return -1;
	int irr = highest_irr(l);
	if (irr < 0)
		return -1;
	return ((uint32_t)irr & 0xf0) > (ppr_of(l) & 0xf0) ? irr : -1;
}

static int vlapic_pending_vector(struct vcpu *vcpu)
{
	struct vlapic *l = lapic_of(vcpu);
	struct vm_chipset *chipset = vcpu->vm->chipset;

	l->extint_offered = false;
	/* Asked before every entry: no INIT, INTR low and IRR empty answer at once. */
	if (!__atomic_load_n(&l->init_pending, __ATOMIC_ACQUIRE) &&
	    !__atomic_load_n(&l->irr_maybe_set, __ATOMIC_ACQUIRE) &&
	    !(chipset && __atomic_load_n(&chipset->pic_output, __ATOMIC_ACQUIRE)))
		return -1;
	return pending_vector_slow(l, chipset);
}

static void vlapic_acknowledge(struct vcpu *vcpu, int vector)
{
	struct vlapic *l = lapic_of(vcpu);
	if (l->extint_offered && vcpu->vm->chipset) {
		/* The 8259's INTA; the vector was chosen when it was offered. */
		l->extint_offered = false;
		chipset_pic_acknowledge(vcpu->vm->chipset);
		return;
	}
	__atomic_and_fetch(&l->irr[vector / 32], ~(1u << (vector % 32)), __ATOMIC_ACQ_REL);
	l->isr[vector / 32] |= 1u << (vector % 32);
}

static uint64_t vlapic_next_deadline(struct vcpu *vcpu)
{
	struct vlapic *l = lapic_of(vcpu);
	uint64_t deadline = l->timer_deadline_tsc;
	struct vm_chipset *chipset = vcpu->vm->chipset;

	/* The chipset's clocks run on vCPU 0's pCPU. */
	if (vcpu->index == 0 && chipset) {
		uint64_t platform = chipset->next_deadline;
		if (platform && (!deadline || platform < deadline))
			deadline = platform;
	}
	return deadline;
}

static void vlapic_update(struct vcpu *vcpu, uint64_t now)
{
	struct vlapic *l = lapic_of(vcpu);

	if (vcpu->index == 0 && vcpu->vm->chipset)
		chipset_update(vcpu->vm->chipset, now);
	if (__atomic_load_n(&l->init_pending, __ATOMIC_ACQUIRE))
		init_reset(l);
	if (!l->timer_deadline_tsc || now < l->timer_deadline_tsc)
		return;
	uint32_t lvt = l->lvt[LVT_TIMER];
	if (!(lvt & LVT_MASKED) && software_enabled(l))
		set_irr(l, lvt & 0xff, false);
	if (timer_mode(l) == TIMER_PERIODIC && l->timer_period_tsc) {
		l->timer_deadline_tsc += l->timer_period_tsc;
		if (l->timer_deadline_tsc <= now) /* far behind: skip missed periods */
			l->timer_deadline_tsc = now + l->timer_period_tsc;
		l->timer_start_tsc = l->timer_deadline_tsc - l->timer_period_tsc;
	} else {
		l->timer_deadline_tsc = 0;
		if (timer_mode(l) == TIMER_TSC_DEADLINE)
			l->tsc_deadline = 0;
	}
}

/* ---- delivery ---- */

static uint32_t apic_id(const struct vlapic *l)
{
	return l->vcpu->index;
}

/* Whether a message's destination addresses this APIC. */
static bool addressed(const struct vlapic *l, uint32_t destination, bool logical, bool wide)
{
	uint32_t broadcast = wide ? 0xffffffffu : 0xffu;

	if (!hardware_enabled(l))
		return false;
	if (destination == broadcast)
		return true;
	if (!logical)
		return destination == apic_id(l);
	if (x2apic_mode(l)) {
		/* x2APIC cluster: cluster ID in bits 31:16, a bit per APIC in 15:0. */
		return (destination >> 16) == (l->ldr >> 16) && (destination & l->ldr & 0xffff);
	}
	uint8_t mda = (uint8_t)destination, logical_id = (uint8_t)(l->ldr >> 24);
	if ((l->dfr >> 28) == 0xf)
		return mda & logical_id; /* flat */
	return (mda >> 4) == (logical_id >> 4) && (mda & logical_id & 0xf); /* cluster */
}

static void accept(struct vlapic *l, uint8_t mode, uint8_t vector, bool level, bool level_assert)
{
	struct vcpu *target = l->vcpu;

	switch (mode) {
	case MODE_FIXED:
	case MODE_LOWEST:
		if (vector < 16) {
			raise_error(l, ESR_RECEIVE_ILLEGAL_VECTOR);
			break;
		}
		set_irr(l, vector, level);
		vcpu_kick(target);
		break;
	case MODE_NMI:
		__atomic_store_n(&target->nmi_pending, true, __ATOMIC_RELEASE);
		vcpu_kick(target);
		break;
	case MODE_INIT: /* the level-deassert form does nothing on modern CPUs */
		if (level_assert && target->index != 0) {
			__atomic_store_n(&l->init_pending, true, __ATOMIC_RELEASE);
			target->state = VCPU_WAIT_FOR_SIPI;
			vcpu_kick(target);
		}
		break;
	case MODE_STARTUP: /* handled on the target's own pCPU */
		if (target->state == VCPU_WAIT_FOR_SIPI) {
			target->sipi_vector = vector;
			__atomic_store_n(&target->sipi_pending, true, __ATOMIC_RELEASE);
			vcpu_kick(target);
		}
		break;
	case MODE_EXTINT:
		vcpu_kick(target); /* the 8259's vector is fetched when it can be taken */
		break;
	default: /* SMI and the reserved mode: no SMM here */
		break;
	}
}

void vlapic_deliver(struct vm *vm, const struct apic_message *message)
{
	for (uint32_t i = 0; i < vm->vcpu_count; i++) {
		struct vlapic *l = lapic_of(vm->vcpus[i]);
		if (!l || !addressed(l, message->destination, message->logical, message->wide))
			continue;
		accept(l, message->delivery_mode, message->vector, message->level, true);
		/* Lowest priority goes to one APIC: the lowest-numbered one. */
		if (message->delivery_mode == MODE_LOWEST)
			break;
	}
}

void vlapic_extint_changed(struct vm *vm)
{
	for (uint32_t i = 0; i < vm->vcpu_count; i++) {
		struct vlapic *l = lapic_of(vm->vcpus[i]);
		if (l && takes_extint(l))
			vcpu_kick(vm->vcpus[i]);
	}
}

/* Sends the IPI the ICR describes. */
static void send_ipi(struct vlapic *l, uint32_t low, uint32_t destination)
{
	struct vm *vm = l->vcpu->vm;
	uint8_t mode = (uint8_t)((low >> 8) & 7);
	uint32_t shorthand = (low >> 18) & 3;
	uint8_t vector = low & 0xff;
	bool logical = low & (1u << 11);
	bool level_assert = (low & (1u << 14)) || mode == MODE_STARTUP || !(low & (1u << 15));

	if ((mode == MODE_FIXED || mode == MODE_LOWEST) && vector < 16) {
		raise_error(l, ESR_SEND_ILLEGAL_VECTOR);
		return;
	}
	bool delivered_lowest = false;
	for (uint32_t i = 0; i < vm->vcpu_count; i++) {
		struct vlapic *target = lapic_of(vm->vcpus[i]);
		bool self = target == l;
		bool hit = shorthand == 1   ? self
			   : shorthand == 2 ? true
			   : shorthand == 3 ? !self
					    : addressed(target, destination, logical, x2apic_mode(l));
		if (!hit || (mode == MODE_LOWEST && delivered_lowest))
			continue;
		accept(target, mode, vector, false, level_assert);
		delivered_lowest = mode == MODE_LOWEST;
	}
}

static void eoi(struct vlapic *l)
{
	int vector = highest_bit(l->isr);
	if (vector < 0)
		return;
	l->isr[vector / 32] &= ~(1u << (vector % 32));
	bool level = __atomic_load_n(&l->tmr[vector / 32], __ATOMIC_ACQUIRE) & (1u << (vector % 32));
	if (level && l->vcpu->vm->chipset)
		chipset_eoi(l->vcpu->vm->chipset, (uint8_t)vector);
}

/* ---- registers ---- */

static void reset_registers(struct vlapic *l)
{
	for (int i = 0; i < 8; i++) {
		__atomic_store_n(&l->irr[i], 0, __ATOMIC_RELEASE);
		__atomic_store_n(&l->tmr[i], 0, __ATOMIC_RELEASE);
		l->isr[i] = 0;
	}
	l->tpr = 0;
	l->ldr = 0;
	l->dfr = 0xffffffffu;
	l->svr = 0xff; /* software-disabled until the guest enables it */
	l->icr_low = l->icr_high = 0;
	l->esr = l->esr_pending = 0;
	for (int j = 0; j < LVT_COUNT; j++)
		l->lvt[j] = LVT_MASKED;
	l->timer_initial = l->timer_divide_reg = 0;
	l->timer_deadline_tsc = 0;
	l->tsc_deadline = 0;
	l->extint_offered = false;
}

/* INIT: the APIC's registers back to their power-on values; the APIC base
 * (and so the x2APIC mode) and the ID stay, as the SDM says. */
static void init_reset(struct vlapic *l)
{
	__atomic_store_n(&l->init_pending, false, __ATOMIC_RELEASE);
	reset_registers(l);
	if (x2apic_mode(l)) {
		uint32_t id = apic_id(l);
		l->ldr = (id >> 4) << 16 | 1u << (id & 0xf);
	}
}

/* Reads register `reg` (offset in the xAPIC page). Returns 0, or -1 when
 * the register does not exist (or is write-only) in the current mode. */
static int reg_read(struct vlapic *l, uint32_t reg, uint64_t *value)
{
	bool x2 = x2apic_mode(l);
	uint32_t v;

	if (reg >= REG_ISR && reg < REG_ISR + 0x80) {
		v = l->isr[(reg - REG_ISR) / 16];
	} else if (reg >= REG_TMR && reg < REG_TMR + 0x80) {
		v = __atomic_load_n(&l->tmr[(reg - REG_TMR) / 16], __ATOMIC_ACQUIRE);
	} else if (reg >= REG_IRR && reg < REG_IRR + 0x80) {
		v = __atomic_load_n(&l->irr[(reg - REG_IRR) / 16], __ATOMIC_ACQUIRE);
	} else if (reg >= REG_LVT_TIMER && reg <= REG_LVT_LAST) {
		v = l->lvt[(reg - REG_LVT_TIMER) / 16];
	} else {
		switch (reg) {
		case REG_ID:
			v = x2 ? apic_id(l) : apic_id(l) << 24;
			break;
		case REG_VERSION:
			v = VERSION_VALUE;
			break;
		case REG_TPR:
			v = l->tpr;
			break;
		case REG_PPR:
			v = ppr_of(l);
			break;
		case REG_LDR:
			v = l->ldr;
			break;
		case REG_SVR:
			v = l->svr;
			break;
		case REG_ESR:
			v = l->esr;
			break;
		case REG_ICR_LOW:
			v = l->icr_low & ~(1u << 12); /* delivery status: always idle */
			if (x2) {
				*value = (uint64_t)l->icr_high << 32 | v;
				return 0;
			}
			break;
		case REG_TIMER_INITIAL:
			v = l->timer_initial;
			break;
		case REG_TIMER_CURRENT:
			v = timer_current(l);
			break;
		case REG_TIMER_DIVIDE:
			v = l->timer_divide_reg;
			break;
		case REG_APR:
		case REG_RRD:
		case REG_EOI:
			if (x2)
				return -1;
			v = 0;
			break;
		case REG_DFR:
		case REG_ICR_HIGH:
			if (x2)
				return -1;
			v = reg == REG_DFR ? l->dfr : l->icr_high;
			break;
		default: /* reserved; REG_SELF_IPI is write-only */
			if (x2)
				return -1;
			raise_error(l, ESR_ILLEGAL_REGISTER);
			v = 0;
			break;
		}
	}
	*value = v;
	return 0;
}

static int write_lvt(struct vlapic *l, unsigned index, uint32_t v, bool x2)
{
	uint32_t writable = lvt_writable[index];
	if (x2 && (v & ~writable))
		return -1;
	v &= writable;
	if (index == LVT_TIMER && ((v >> LVT_TIMER_MODE_SHIFT) & 3) == 3) {
		if (x2)
			return -1;
		v &= ~(3u << LVT_TIMER_MODE_SHIFT); /* reserved mode: one-shot */
	}
	if (!(l->svr & SVR_ENABLE))
		v |= LVT_MASKED; /* a software-disabled APIC keeps its LVTs masked */
	if (index == LVT_TIMER && ((v ^ l->lvt[LVT_TIMER]) >> LVT_TIMER_MODE_SHIFT) & 3) {
		/* Changing the timer mode stops the timer. */
		l->timer_deadline_tsc = 0;
		l->tsc_deadline = 0;
	}
	l->lvt[index] = v;
	return 0;
}

/* Writes register `reg`. Returns 0, or -1 for #GP (x2APIC mode only). */
static int reg_write(struct vlapic *l, uint32_t reg, uint64_t value)
{
	bool x2 = x2apic_mode(l);
	uint32_t v = (uint32_t)value;

	if (x2 && reg != REG_ICR_LOW && (value >> 32))
		return -1;
	if (reg >= REG_LVT_TIMER && reg <= REG_LVT_LAST)
		return write_lvt(l, (reg - REG_LVT_TIMER) / 16, v, x2);
	switch (reg) {
	case REG_TPR:
		if (x2 && (v & ~0xffu))
			return -1;
		l->tpr = v & 0xff;
		return 0;
	case REG_EOI:
		if (x2 && v)
			return -1;
		eoi(l);
		return 0;
	case REG_LDR:
		if (x2)
			return -1; /* derived from the x2APIC ID */
		l->ldr = v & 0xff000000u;
		return 0;
	case REG_DFR:
		if (x2)
			return -1;
		l->dfr = v | 0x0fffffffu;
		return 0;
	case REG_SVR:
		if (x2 && (v & ~0x3ffu))
			return -1;
		l->svr = v & 0x3ff;
		if (!(l->svr & SVR_ENABLE))
			for (int i = 0; i < LVT_COUNT; i++)
				l->lvt[i] |= LVT_MASKED;
		if (l->vcpu->vm->chipset)
			vlapic_extint_changed(l->vcpu->vm);
		return 0;
	case REG_ESR:
		if (x2 && v)
			return -1;
		l->esr = l->esr_pending;
		l->esr_pending = 0;
		return 0;
	case REG_ICR_HIGH:
		if (x2)
			return -1;
		l->icr_high = v & 0xff000000u;
		return 0;
	case REG_ICR_LOW:
		if (x2) {
			if (v & ~0x000ccfffu)
				return -1;
			l->icr_high = (uint32_t)(value >> 32);
			l->icr_low = v;
			send_ipi(l, v, l->icr_high);
		} else {
			l->icr_low = v & 0x000ccfffu;
			send_ipi(l, v, l->icr_high >> 24);
		}
		return 0;
	case REG_TIMER_INITIAL:
		l->timer_initial = v;
		timer_arm(l);
		return 0;
	case REG_TIMER_DIVIDE:
		if (x2 && (v & ~0xbu))
			return -1;
		l->timer_divide_reg = v & 0xb;
		return 0;
	case REG_SELF_IPI:
		if (!x2)
			break;
		if (v & ~0xffu)
			return -1;
		if (v < 16)
			raise_error(l, ESR_SEND_ILLEGAL_VECTOR);
		else
			accept(l, MODE_FIXED, (uint8_t)v, false, true);
		return 0;
	case REG_ID:
	case REG_VERSION:
	case REG_PPR:
	case REG_TIMER_CURRENT:
		return x2 ? -1 : 0; /* read-only: ignored in xAPIC mode */
	default:
		if (reg >= REG_ISR && reg < REG_IRR + 0x80)
			return x2 ? -1 : 0; /* ISR, TMR, IRR are read-only */
		break;
	}
	if (x2)
		return -1;
	raise_error(l, ESR_ILLEGAL_REGISTER);
	return 0;
}

/* ---- xAPIC MMIO ---- */

static int vlapic_mmio_read(void *opaque, struct vcpu *vcpu, uint64_t gpa, unsigned size, uint64_t *value)
{
	(void)opaque;
	struct vlapic *l = lapic_of(vcpu);
	uint32_t offset = (uint32_t)(gpa - PLATFORM_LAPIC_BASE);
	uint64_t v = 0;

	if (!hardware_enabled(l) || x2apic_mode(l)) {
		*value = ~0ull; /* the xAPIC page is gone */
		return 0;
	}
	/* Registers are 32 bits at 16-byte strides; narrower reads of one work. */
	reg_read(l, offset & 0xff0, &v);
	*value = (offset & 0xf) < 4 ? (uint32_t)v >> ((offset & 3) * 8) : 0;
	if (size < 4)
		*value &= (1ull << (size * 8)) - 1;
	return 0;
}

static int vlapic_mmio_write(void *opaque, struct vcpu *vcpu, uint64_t gpa, unsigned size, uint64_t value)
{
	(void)opaque;
	struct vlapic *l = lapic_of(vcpu);
	uint32_t offset = (uint32_t)(gpa - PLATFORM_LAPIC_BASE);

	if (!hardware_enabled(l) || x2apic_mode(l))
		return 0;
	if (size != 4 || (offset & 0xf))
		return 0; /* only aligned dword writes reach a register */
	reg_write(l, offset, (uint32_t)value);
	return 0;
}

/* ---- MSRs ---- */

static int vlapic_msr_read(struct vcpu *vcpu, uint32_t index, uint64_t *value)
{
	struct vlapic *l = lapic_of(vcpu);

	if (index == MSR_APIC_BASE) {
		*value = l->apic_base;
		return 0;
	}
	if (index == MSR_TSC_DEADLINE) {
		*value = timer_mode(l) == TIMER_TSC_DEADLINE ? l->tsc_deadline : 0;
		return 0;
	}
	if (!x2apic_mode(l) || index < MSR_X2APIC_FIRST || index > MSR_X2APIC_LAST)
		return -1;
	uint32_t reg = (index - MSR_X2APIC_FIRST) << 4;
	if (reg == REG_ICR_HIGH)
		return -1;
	return reg_read(l, reg, value);
}

/* IA32_APIC_BASE: the address stays at 0xfee00000; the mode moves between
 * disabled, xAPIC and x2APIC as the SDM allows (x2APIC -> xAPIC and
 * disabled -> x2APIC directly are #GP). Disabling resets the APIC. */
static int write_apic_base(struct vlapic *l, uint64_t value)
{
	uint64_t reserved = ~(APIC_BASE_ADDRESS_MASK | APIC_BASE_BSP | APIC_BASE_EXTD | APIC_BASE_ENABLE);
	bool enable = value & APIC_BASE_ENABLE, extd = value & APIC_BASE_EXTD;
	bool was_enabled = hardware_enabled(l), was_x2 = x2apic_mode(l);

	if ((value & reserved) || (value & APIC_BASE_ADDRESS_MASK) != PLATFORM_LAPIC_BASE)
		return -1;
	if (extd && !enable)
		return -1;
	if (was_x2 && enable && !extd)
		return -1;
	if (!was_enabled && extd)
		return -1;
	l->apic_base = (value & ~APIC_BASE_BSP) | (l->apic_base & APIC_BASE_BSP);
	if (!enable && was_enabled) {
		reset_registers(l);
	} else if (extd && !was_x2) {
		uint32_t id = apic_id(l);
		l->ldr = (id >> 4) << 16 | 1u << (id & 0xf);
	}
	if (l->vcpu->vm->chipset)
		vlapic_extint_changed(l->vcpu->vm);
	return 0;
}

static int vlapic_msr_write(struct vcpu *vcpu, uint32_t index, uint64_t value)
{
	struct vlapic *l = lapic_of(vcpu);

	if (index == MSR_APIC_BASE)
		return write_apic_base(l, value);
	if (index == MSR_TSC_DEADLINE) {
		if (timer_mode(l) == TIMER_TSC_DEADLINE)
			tsc_deadline_arm(l, value);
		return 0; /* ignored in the other timer modes */
	}
	if (!x2apic_mode(l) || index < MSR_X2APIC_FIRST || index > MSR_X2APIC_LAST)
		return -1;
	return reg_write(l, (index - MSR_X2APIC_FIRST) << 4, value);
}

void vlapic_virtual_wire(struct vm *vm)
{
	struct vlapic *l = vm->vcpu_count ? lapic_of(vm->vcpus[0]) : NULL;
	if (!l)
		return;
	l->svr = SVR_ENABLE | 0xff;
	l->lvt[LVT_LINT0] = MODE_EXTINT << 8;
	l->lvt[LVT_LINT1] = MODE_NMI << 8;
}

int vdev_lapic_attach(struct vm *vm)
{
	for (uint32_t i = 0; i < vm->vcpu_count; i++) {
		struct vcpu *vcpu = vm->vcpus[i];
		struct vlapic *l = kzalloc(sizeof(*l));
		if (!l)
			return -ENOMEM;
		vm->overhead_bytes += sizeof(*l);
		l->vcpu = vcpu;
		l->apic_base = PLATFORM_LAPIC_BASE | APIC_BASE_ENABLE | (i == 0 ? APIC_BASE_BSP : 0);
		reset_registers(l);
		vcpu->irq = (struct vcpu_interrupt_source){
			.pending_vector = vlapic_pending_vector,
			.acknowledge = vlapic_acknowledge,
			.next_deadline = vlapic_next_deadline,
			.update = vlapic_update,
			.msr_read = vlapic_msr_read,
			.msr_write = vlapic_msr_write,
			.opaque = l,
		};
	}
	return vm_register_mmio(vm, PLATFORM_LAPIC_BASE, 0x1000, vlapic_mmio_read, vlapic_mmio_write, NULL);
}

void vlapic_reset(struct vcpu *vcpu)
{
	struct vlapic *l = lapic_of(vcpu);
	if (!l)
		return;
	l->apic_base = PLATFORM_LAPIC_BASE | APIC_BASE_ENABLE | (vcpu->index == 0 ? APIC_BASE_BSP : 0);
	reset_registers(l);
}

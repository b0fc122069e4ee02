/*
 * A minimal local APIC per vCPU (the full device comes with Linux guests):
 * ID/version, TPR, EOI, spurious vector, IRR/ISR, the LVT timer (one-shot
 * and periodic, any divide) and the ICR (fixed IPIs with the destination
 * shorthands, INIT and STARTUP for bringing up APs). Reached through MMIO
 * at 0xfee00000; each vCPU sees its own.
 */
#include <vdev/vdev.h>

#include <arch/x86/cpu.h>
#include <arch/x86/lapic.h>
#include <lib/errno.h>
#include <lib/log.h>
#include <mm/heap.h>
#include <public/kapsel_guest.h>
#include <vm/vm.h>

#define REG_ID 0x020
#define REG_VERSION 0x030
#define REG_TPR 0x080
#define REG_PPR 0x0a0
#define REG_EOI 0x0b0
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
#define REG_LVT_LAST 0x370
#define REG_TIMER_INITIAL 0x380
#define REG_TIMER_CURRENT 0x390
#define REG_TIMER_DIVIDE 0x3e0

#define LVT_MASKED (1u << 16)
#define LVT_PERIODIC (1u << 17)
#define SVR_ENABLE (1u << 8)

struct vlapic {
	struct vcpu *vcpu;
	uint32_t irr[8];           /* set from any pCPU: atomic bit operations */
	uint32_t isr[8];
	uint32_t tpr, svr, ldr, dfr, esr, icr_high;
	uint32_t lvt[6];           /* timer, thermal, perf, LINT0, LINT1, error */
	uint32_t timer_initial, timer_divide_reg;
	uint64_t timer_start_tsc, timer_deadline_tsc; /* 0: not armed */
	uint64_t timer_period_tsc;
};

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

static int highest_bit(const uint32_t *bits)
{
	for (int word = 7; word >= 0; word--) {
		uint32_t w = __atomic_load_n(&bits[word], __ATOMIC_ACQUIRE);
		if (w)
			return word * 32 + 31 - __builtin_clz(w);
	}
	return -1;
}

static void set_irr(struct vlapic *l, uint8_t vector)
{
	__atomic_or_fetch(&l->irr[vector / 32], 1u << (vector % 32), __ATOMIC_RELEASE);
}

static int vlapic_pending_vector(struct vcpu *vcpu)
{
	struct vlapic *l = vcpu->irq.opaque;
	if (!(l->svr & SVR_ENABLE))
		return -1;
	int irr = highest_bit(l->irr);
	if (irr < 0)
		return -1;
	int isr = highest_bit(l->isr);
	uint32_t ppr_class = (isr >= 0 && (uint32_t)(isr >> 4) > (l->tpr >> 4)) ? (uint32_t)isr >> 4 : l->tpr >> 4;
	return ((uint32_t)irr >> 4) > ppr_class ? irr : -1;
}

static void vlapic_acknowledge(struct vcpu *vcpu, int vector)
{
	struct vlapic *l = vcpu->irq.opaque;
	__atomic_and_fetch(&l->irr[vector / 32], ~(1u << (vector % 32)), __ATOMIC_ACQ_REL);
	l->isr[vector / 32] |= 1u << (vector % 32);
}

static uint64_t vlapic_next_deadline(struct vcpu *vcpu)
{
	struct vlapic *l = vcpu->irq.opaque;
	return l->timer_deadline_tsc;
}

static void vlapic_update(struct vcpu *vcpu, uint64_t now)
{
	struct vlapic *l = vcpu->irq.opaque;
	if (!l->timer_deadline_tsc || now < l->timer_deadline_tsc)
		return;
	uint32_t lvt = l->lvt[0];
	if (!(lvt & LVT_MASKED))
		set_irr(l, lvt & 0xff);
	if ((lvt & LVT_PERIODIC) && l->timer_period_tsc) {
		l->timer_deadline_tsc += l->timer_period_tsc;
		if (l->timer_deadline_tsc <= now) /* far behind: skip missed periods */
			l->timer_deadline_tsc = now + l->timer_period_tsc;
		l->timer_start_tsc = l->timer_deadline_tsc - l->timer_period_tsc;
	} else {
		l->timer_deadline_tsc = 0;
	}
}

static void timer_arm(struct vlapic *l)
{
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
	if (!l->timer_deadline_tsc)
		return 0;
	uint64_t now = rdtsc();
	if (now >= l->timer_deadline_tsc)
		return 0;
	uint64_t elapsed = tsc_to_counts(now - l->timer_start_tsc, divide_value(l->timer_divide_reg));
	return elapsed >= l->timer_initial ? 0 : l->timer_initial - (uint32_t)elapsed;
}

static struct vlapic *lapic_of(struct vcpu *vcpu)
{
	return vcpu->irq.opaque;
}

static void deliver_ipi(struct vcpu *target, uint32_t mode, uint8_t vector, bool level_assert)
{
	switch (mode) {
	case 0: /* fixed */
		set_irr(lapic_of(target), vector);
		vcpu_kick(target);
		break;
	case 4: /* NMI */
		__atomic_store_n(&target->nmi_pending, true, __ATOMIC_RELEASE);
		vcpu_kick(target);
		break;
	case 5: /* INIT (the level-deassert form does nothing on modern CPUs) */
		if (level_assert && target->index != 0) {
			target->state = VCPU_WAIT_FOR_SIPI;
			vcpu_kick(target);
		}
		break;
	case 6: /* STARTUP: handled on the target's own pCPU */
		if (target->state == VCPU_WAIT_FOR_SIPI) {
			target->sipi_vector = vector;
			__atomic_store_n(&target->sipi_pending, true, __ATOMIC_RELEASE);
			vcpu_kick(target);
		}
		break;
	default:
		log_warn("vm %s: vCPU %u: IPI delivery mode %u is not emulated; dropped\n",
			 target->vm->name, target->index, mode);
		break;
	}
}

static void icr_write(struct vlapic *l, uint32_t low)
{
	struct vm *vm = l->vcpu->vm;
	uint32_t mode = (low >> 8) & 7;
	uint32_t shorthand = (low >> 18) & 3;
	uint8_t vector = low & 0xff;
	bool level_assert = low & (1u << 14);
	uint32_t destination = l->icr_high >> 24;

	for (uint32_t i = 0; i < vm->vcpu_count; i++) {
		struct vcpu *v = vm->vcpus[i];
		bool self = v == l->vcpu;
		bool hit = shorthand == 1 ? self
			   : shorthand == 2 ? true
			   : shorthand == 3 ? !self
					    : (destination == 0xff || destination == v->index);
		if (hit)
			deliver_ipi(v, mode, vector, level_assert || mode == 6);
	}
}

static int vlapic_read(void *opaque, struct vcpu *vcpu, uint64_t gpa, unsigned size, uint64_t *value)
{
	(void)opaque;
	struct vlapic *l = lapic_of(vcpu);
	uint32_t reg = (uint32_t)(gpa - KAPSEL_GUEST_LAPIC_BASE);
	uint32_t v = 0;

	if (size != 4 || (reg & 0xf)) {
		*value = 0; /* registers are 32-bit aligned dwords */
		return 0;
	}
	if (reg >= REG_ISR && reg < REG_ISR + 0x80)
		v = l->isr[(reg - REG_ISR) / 16];
	else if (reg >= REG_IRR && reg < REG_IRR + 0x80)
		v = __atomic_load_n(&l->irr[(reg - REG_IRR) / 16], __ATOMIC_ACQUIRE);
	else if (reg >= REG_LVT_TIMER && reg <= REG_LVT_LAST)
		v = l->lvt[(reg - REG_LVT_TIMER) / 16];
	else {
		switch (reg) {
		case REG_ID:
			v = vcpu->index << 24;
			break;
		case REG_VERSION:
			v = 0x00050014; /* version 0x14, 6 LVT entries */
			break;
		case REG_TPR:
			v = l->tpr;
			break;
		case REG_LDR:
			v = l->ldr;
			break;
		case REG_DFR:
			v = l->dfr;
			break;
		case REG_SVR:
			v = l->svr;
			break;
		case REG_ESR:
			v = l->esr;
			break;
		case REG_ICR_LOW:
			v = 0; /* delivery status: always idle */
			break;
		case REG_ICR_HIGH:
			v = l->icr_high;
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
		default:
			v = 0;
			break;
		}
	}
	*value = v;
	return 0;
}

static int vlapic_write(void *opaque, struct vcpu *vcpu, uint64_t gpa, unsigned size, uint64_t value)
{
	(void)opaque;
	struct vlapic *l = lapic_of(vcpu);
	uint32_t reg = (uint32_t)(gpa - KAPSEL_GUEST_LAPIC_BASE);
	uint32_t v = (uint32_t)value;

	if (size != 4 || (reg & 0xf))
		return 0;
	if (reg >= REG_LVT_TIMER && reg <= REG_LVT_LAST) {
		l->lvt[(reg - REG_LVT_TIMER) / 16] = v & 0x000307ff;
		return 0;
	}
	switch (reg) {
	case REG_TPR:
		l->tpr = v & 0xff;
		break;
	case REG_EOI: {
		int isr = highest_bit(l->isr);
		if (isr >= 0)
			l->isr[isr / 32] &= ~(1u << (isr % 32));
		break;
	}
	case REG_LDR:
		l->ldr = v & 0xff000000u;
		break;
	case REG_DFR:
		l->dfr = v | 0x0fffffffu;
		break;
	case REG_SVR:
		l->svr = v & 0x1ff;
		break;
	case REG_ESR:
		l->esr = 0;
		break;
	case REG_ICR_HIGH:
		l->icr_high = v & 0xff000000u;
		break;
	case REG_ICR_LOW:
		icr_write(l, v);
		break;
	case REG_TIMER_INITIAL:
		l->timer_initial = v;
		timer_arm(l);
		break;
	case REG_TIMER_DIVIDE:
		l->timer_divide_reg = v & 0xb;
		break;
	default:
		break; /* read-only or reserved: writes are ignored */
	}
	return 0;
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
		l->dfr = 0xffffffffu;
		l->svr = 0xff; /* software-disabled until the guest enables it */
		for (int j = 0; j < 6; j++)
			l->lvt[j] = LVT_MASKED;
		vcpu->irq = (struct vcpu_interrupt_source){
			.pending_vector = vlapic_pending_vector,
			.acknowledge = vlapic_acknowledge,
			.next_deadline = vlapic_next_deadline,
			.update = vlapic_update,
			.opaque = l,
		};
	}
	return vm_register_mmio(vm, KAPSEL_GUEST_LAPIC_BASE, 0x1000, vlapic_read, vlapic_write, NULL);
}

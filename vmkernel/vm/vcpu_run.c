#include <vm/vm_sched.h>

#include <arch/x86/cpu.h>
#include <arch/x86/interrupt.h>
#include <arch/x86/lapic.h>
#include <arch/x86/percpu.h>
#include <core/smp.h>
#include <lib/log.h>
#include <lib/spinlock.h>
#include <mm/heap.h>
#include <vm/exit.h>
#include <vm/vm.h>

#define SLICE_MICROSECONDS 10000

struct run_queue {
	struct spinlock lock;
	struct vcpu *head; /* [m] lock */
	uint32_t count;
	struct vcpu *last_run; /* whose FPU state is in the registers */
};

static struct run_queue run_queues[MAX_CPUS];
static uint32_t next_cpu;

static void kick_interrupt(struct interrupt_frame *frame)
{
	(void)frame; /* the interrupt itself did the work: hlt or the guest was left */
}

void vm_sched_init(void)
{
	interrupt_register(VECTOR_KICK, kick_interrupt);
}

uint32_t vm_sched_pick_cpu(void)
{
	uint32_t cpu = __atomic_fetch_add(&next_cpu, 1, __ATOMIC_RELAXED);
	return cpu % smp_cpu_count();
}

void vm_sched_add(struct vcpu *vcpu)
{
	struct run_queue *q = &run_queues[vcpu->host_cpu];
	uint64_t flags = spin_lock_irqsave(&q->lock);
	struct vcpu **tail = &q->head;
	while (*tail)
		tail = &(*tail)->next_on_cpu;
	vcpu->next_on_cpu = NULL;
	*tail = vcpu;
	q->count++;
	spin_unlock_irqrestore(&q->lock, flags);
	vm_sched_kick_cpu(vcpu->host_cpu);
}

void vm_sched_kick_cpu(uint32_t cpu)
{
	if (cpu == cpu_index())
		return;
	struct percpu *target = smp_cpu(cpu);
	if (target)
		lapic_send_ipi(target->apic_id, VECTOR_KICK);
}

uint32_t vm_sched_running_vms(void)
{
	uint32_t n = 0;
	for (struct vm *vm = vm_list(); vm; vm = vm->next)
		n += vm->state == VM_RUNNING;
	return n;
}

/* The FPU/SSE registers belong to the guest while it runs; the vmkernel
 * itself never uses them (-mgeneral-regs-only), so they are swapped only
 * when a pCPU switches between vCPUs. XSAVE is hidden from guests, so
 * FXSAVE covers all of their state. */
/* The FXSAVE image of a CPU after reset: FCW 0x37f, MXCSR 0x1f80, every
 * register zero (fninit alone would leave the last vCPU's XMM registers). */
static const uint8_t fpu_reset_image[512] __attribute__((aligned(16))) = {
	[0] = 0x7f, [1] = 0x03, [24] = 0x80, [25] = 0x1f,
};

static void fpu_switch(struct run_queue *q, struct vcpu *next)
{
	struct vcpu *previous = q->last_run;

	if (previous == next)
		return;
	if (previous && previous->vm->state == VM_RUNNING) {
		__asm__ volatile("fxsave64 %0" : "=m"(previous->fpu));
		previous->fpu_valid = true;
	}
	if (next->fpu_valid)
		__asm__ volatile("fxrstor64 %0" : : "m"(next->fpu));
	else
		__asm__ volatile("fxrstor64 %0" : : "m"(fpu_reset_image));
	q->last_run = next;
}

/* Queues the highest pending interrupt when the guest can take it, or asks
 * for an exit as soon as it can. */
static void prepare_interrupts(struct vcpu *vcpu, uint64_t now)
{
	const struct virt_ops *ops = virt_backend();

	if (vcpu->irq.update)
		vcpu->irq.update(vcpu, now);
	vcpu->arch.want_interrupt_window = false;
	if (!vcpu->arch.event.pending && __atomic_exchange_n(&vcpu->nmi_pending, false, __ATOMIC_ACQ_REL)) {
		/* NMIs are not maskable by IF; one at a time is what real CPUs latch too. */
		vcpu->arch.event = (struct virt_event){ .pending = true, .type = VIRT_EVENT_NMI, .vector = 2 };
		return;
	}
	if (vcpu->arch.event.pending || !vcpu->irq.pending_vector)
		return;
	int vector = vcpu->irq.pending_vector(vcpu);
	if (vector < 0)
		return;
	if (ops->interruptible(&vcpu->arch)) {
		vcpu->arch.event = (struct virt_event){ .pending = true, .type = VIRT_EVENT_EXTERNAL,
							.vector = (uint8_t)vector };
		vcpu->irq.acknowledge(vcpu, vector);
	} else {
		vcpu->arch.want_interrupt_window = true;
	}
}

static uint64_t deadline_of(struct vcpu *vcpu)
{
	return vcpu->irq.next_deadline ? vcpu->irq.next_deadline(vcpu) : 0;
}

/* Arms this pCPU's timer for the earlier of `deadline` (0: none) and `limit`. */
static void arm_timer(uint64_t now, uint64_t deadline, uint64_t limit_us)
{
	uint64_t ticks_per_us = tsc_hz() / 1000000;
	uint64_t us = limit_us;
	if (deadline) {
		uint64_t until = deadline > now ? (deadline - now) / (ticks_per_us ? ticks_per_us : 1) : 0;
		if (until < us)
			us = until ? until : 1;
	}
	lapic_timer_oneshot(us, VECTOR_TIMER);
}

static void vcpu_run_slice(struct run_queue *q, struct vcpu *vcpu)
{
	const struct virt_ops *ops = virt_backend();
	struct vmk_exit exit;
	uint64_t slice_end = rdtsc() + SLICE_MICROSECONDS * (tsc_hz() / 1000000);

	if (!vcpu->arch.backend) {
		int rc = ops->vcpu_init(&vcpu->arch);
		if (rc) {
			vm_stop(vcpu->vm, -1, "vCPU %u: the %s backend could not set it up (%d)", vcpu->index,
				ops->name, rc);
			return;
		}
	}
	if (vcpu->boot_sysregs) {
		ops->set_sysregs(&vcpu->arch, vcpu->boot_sysregs);
		kfree(vcpu->boot_sysregs);
		vcpu->boot_sysregs = NULL;
	}
	fpu_switch(q, vcpu);
	/* The host timer ends the slice or wakes the guest's own timer: it is
	 * re-armed only when that moment changes, not on every exit. */
	uint64_t armed_for = ~0ul;
	for (;;) {
		uint64_t now = rdtsc();
		if (vcpu->vm->state != VM_RUNNING || vcpu->state != VCPU_RUNNABLE || now >= slice_end)
			return;
		prepare_interrupts(vcpu, now);
		uint64_t deadline = deadline_of(vcpu);
		uint64_t wake = deadline && deadline < slice_end ? deadline : slice_end;
		if (wake != armed_for) {
			arm_timer(now, wake, SLICE_MICROSECONDS);
			armed_for = wake;
		}
		int rc = ops->vcpu_run(&vcpu->arch, &exit);
		uint64_t exit_tsc = rdtsc();
		if (rc) {
			vm_stop(vcpu->vm, -1, "vCPU %u: entry failed (%d)", vcpu->index, rc);
			return;
		}
		enum exit_result result = vm_handle_exit(vcpu, &exit);

		uint32_t code = exit.code < VMK_EXIT_COUNT ? exit.code : VMK_EXIT_UNHANDLED;
		vcpu->exit_count[code]++;
		vcpu->exit_cycles[code] += rdtsc() - exit_tsc;
		if (result == EXIT_YIELD)
			return;
	}
}

/* A halted vCPU becomes runnable when an interrupt is pending and its IF
 * allows it; an AP waiting for SIPI when one arrived. Runs on the vCPU's
 * own pCPU, where its VMCS/VMCB may be touched. */
static void maybe_wake(struct vcpu *vcpu, uint64_t now)
{
	if (vcpu->state == VCPU_WAIT_FOR_SIPI && __atomic_load_n(&vcpu->sipi_pending, __ATOMIC_ACQUIRE)) {
		vcpu->sipi_pending = false;
		if (!vcpu->arch.backend && virt_backend()->vcpu_init(&vcpu->arch)) {
			vm_stop(vcpu->vm, -1, "vCPU %u: the backend could not set it up", vcpu->index);
			return;
		}
		vcpu_reset_to_sipi(vcpu, vcpu->sipi_vector);
		vcpu->state = VCPU_RUNNABLE;
		return;
	}
	if (vcpu->state != VCPU_HALTED)
		return;
	if (vcpu->nmi_pending) {
		vcpu->state = VCPU_RUNNABLE;
		return;
	}
	if (vcpu->irq.update)
		vcpu->irq.update(vcpu, now);
	if (vcpu->irq.pending_vector && vcpu->irq.pending_vector(vcpu) >= 0 &&
	    virt_backend()->interruptible(&vcpu->arch))
		vcpu->state = VCPU_RUNNABLE;
}

bool vm_sched_run_once(void)
{
	struct run_queue *q = &run_queues[cpu_index()];
	bool ran = false, any = false;
	uint64_t earliest = 0;

	irq_disable();
	for (struct vcpu *vcpu = q->head; vcpu; vcpu = vcpu->next_on_cpu) {
		if (vcpu->vm->state != VM_RUNNING) {
			vcpu->state = VCPU_STOPPED;
			continue;
		}
		any = true;
		__atomic_store_n(&vcpu->kick, false, __ATOMIC_RELAXED);
		uint64_t now = rdtsc();
		maybe_wake(vcpu, now);
		if (vcpu->state == VCPU_RUNNABLE) {
			vcpu_run_slice(q, vcpu);
			ran = true;
		} else if (vcpu->state == VCPU_HALTED) {
			uint64_t d = deadline_of(vcpu);
			if (d && (!earliest || d < earliest))
				earliest = d;
		}
	}
	if (!ran) {
		/* Nothing to run: sleep until a guest timer is due or a kick arrives. */
		arm_timer(rdtsc(), earliest, any ? 100000 : 1000000);
		__asm__ volatile("sti; hlt; cli" : : : "memory");
	} else {
		/* Let pending host interrupts (kicks, timers) in between slices. */
		__asm__ volatile("sti; nop; cli" : : : "memory");
	}
	irq_enable();
	return any;
}

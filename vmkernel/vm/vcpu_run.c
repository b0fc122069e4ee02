#include <vm/vcpu_run.h>

#include <arch/x86/cpu.h>
#include <arch/x86/interrupt.h>
#include <arch/x86/lapic.h>
#include <arch/x86/percpu.h>
#include <core/smp.h>
#include <lib/log.h>
#include <mm/heap.h>
#include <sched/sched.h>
#include <vm/exit.h>
#include <vm/vm.h>

#include <stddef.h>


static struct vcpu *vcpu_of(struct sched_task *task)
{
	return (struct vcpu *)((char *)task - offsetof(struct vcpu, task));
}

uint32_t vm_running_count(void)
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

static void fpu_switch(struct vcpu *next)
{
	struct percpu *cpu = percpu_get();
	struct vcpu *previous = cpu->fpu_owner;

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
	cpu->fpu_owner = next;
}

static uint64_t deadline_of(struct vcpu *vcpu)
{
	return vcpu->irq.next_deadline ? vcpu->irq.next_deadline(vcpu) : 0;
}

/* Fires the interrupt controller's due timers and returns its next
 * deadline (0: none). Timers are the only work of update() between slices
 * (an INIT is carried out when the next slice starts), so passes before
 * the deadline skip the call. */
static uint64_t fire_due_timers(struct vcpu *vcpu, uint64_t now)
{
	uint64_t deadline = deadline_of(vcpu);
	if (deadline && deadline <= now && vcpu->irq.update) {
		vcpu->irq.update(vcpu, now);
		deadline = deadline_of(vcpu);
	}
	return deadline;
}

/* Queues the highest pending interrupt when the guest can take it, or asks
 * for an exit as soon as it can. */
static void prepare_interrupts(struct vcpu *vcpu, const struct virt_ops *ops)
{
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

/* Arms this pCPU's timer for `wake` (TSC). */
static void arm_timer(uint64_t now, uint64_t wake)
{
	uint64_t ticks_per_us = tsc_hz() / 1000000;
	uint64_t until = wake > now ? (wake - now) / (ticks_per_us ? ticks_per_us : 1) : 0;
	lapic_timer_oneshot(until ? until : 1, VECTOR_TIMER);
}

/* Runs the guest until `until`, a block, its VM's end or a reschedule. */
static void vcpu_run_slice(struct vcpu *vcpu, uint64_t until)
{
	const struct virt_ops *ops = virt_backend();
	struct vmk_exit exit;

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
	fpu_switch(vcpu);
	uint64_t now = rdtsc();
	/* Everything update() does, INIT included, once per slice. */
	if (vcpu->irq.update)
		vcpu->irq.update(vcpu, now);
	/* The host timer ends the slice or wakes the guest's own timer: it is
	 * re-armed only when that moment changes, not on every exit. */
	uint64_t armed_for = ~0ul;
	for (;;) {
		if (vcpu->vm->state != VM_RUNNING || vcpu->state != VCPU_RUNNABLE || now >= until ||
		    sched_resched_pending())
			return;
		uint64_t deadline = fire_due_timers(vcpu, now);
		prepare_interrupts(vcpu, ops);
		uint64_t wake = deadline && deadline < until ? deadline : until;
		if (wake != armed_for) {
			arm_timer(now, wake);
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
		now = rdtsc(); /* the handler's end, and the next pass's clock */
		vcpu->exit_count[code]++;
		vcpu->exit_cycles[code] += now - exit_tsc;
		/* A reset by the handler (ACPI reset register) left the power-on
		 * state in boot_sysregs: the next slice loads it before any entry. */
		if (result == EXIT_YIELD || vcpu->boot_sysregs)
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

/* Its VM ended: the vCPU leaves this pCPU for good. Its VMCS/VMCB is
 * freed here, where it is active, so that a power-on creates a fresh one
 * on whichever pCPU then runs it. */
static uint32_t stopped(struct vcpu *vcpu)
{
	struct percpu *cpu = percpu_get();

	if (cpu->fpu_owner == vcpu)
		cpu->fpu_owner = NULL;
	vcpu->fpu_valid = false;
	if (vcpu->arch.backend)
		virt_backend()->vcpu_free(&vcpu->arch);
	vcpu->state = VCPU_STOPPED;
	return SCHED_DEAD;
}

static uint32_t client_run(struct sched_task *task, uint64_t until)
{
	struct vcpu *vcpu = vcpu_of(task);

	if (vcpu->vm->state != VM_RUNNING)
		return stopped(vcpu);
	vcpu->arch.host_cpu = cpu_index();
	if (vcpu->state == VCPU_RUNNABLE)
		vcpu_run_slice(vcpu, until);
	if (vcpu->vm->state != VM_RUNNING)
		return stopped(vcpu);
	return vcpu->state == VCPU_RUNNABLE ? SCHED_READY : SCHED_BLOCKED;
}

static uint32_t client_poll(struct sched_task *task, uint64_t now, uint64_t *moment)
{
	struct vcpu *vcpu = vcpu_of(task);

	if (vcpu->vm->state != VM_RUNNING)
		return stopped(vcpu);
	vcpu->arch.host_cpu = cpu_index();
	uint64_t due = vcpu->state == VCPU_HALTED ? deadline_of(vcpu) : 0;
	maybe_wake(vcpu, now);
	if (vcpu->vm->state != VM_RUNNING)
		return stopped(vcpu);
	if (vcpu->state != VCPU_RUNNABLE)
		return SCHED_BLOCKED;
	/* A timer wake counts from its deadline, not from when it was seen. */
	*moment = due && due <= now ? due : now;
	return SCHED_READY;
}

static uint64_t client_next_deadline(struct sched_task *task)
{
	struct vcpu *vcpu = vcpu_of(task);
	return vcpu->state == VCPU_HALTED ? deadline_of(vcpu) : 0;
}

/* Its FPU registers and its VMCS/VMCB state leave this pCPU. */
static void client_unload(struct sched_task *task)
{
	struct vcpu *vcpu = vcpu_of(task);
	struct percpu *cpu = percpu_get();
	const struct virt_ops *ops = virt_backend();

	if (cpu->fpu_owner == vcpu) {
		__asm__ volatile("fxsave64 %0" : "=m"(vcpu->fpu));
		vcpu->fpu_valid = true;
		cpu->fpu_owner = NULL;
	}
	if (vcpu->arch.backend && ops->vcpu_unload)
		ops->vcpu_unload(&vcpu->arch);
}

static const struct sched_client vcpu_client = {
	.run = client_run,
	.poll = client_poll,
	.next_deadline = client_next_deadline,
	.unload = client_unload,
};

void vcpu_run_init(void)
{
	sched_init(&vcpu_client);
}

/*
 * Running a vCPU: what is written into the VMCS before each entry (state
 * the core changed, the event to inject, window exits), the guest state
 * VMX does not switch (CR2, XCR0, the SYSCALL/SWAPGS MSRs, DR0-3 and DR6),
 * the world switch itself, and what an entry failure says.
 *
 * Events: an event whose delivery a VM exit interrupted (IDT-vectoring
 * information valid) is re-injected first, exactly as the hardware
 * described it. Otherwise the core's vcpu->event is injected and cleared.
 * An event the guest cannot take yet (IF=0, an STI or MOV SS shadow, NMI
 * blocking) stays pending and a window exit brings the vCPU back as soon
 * as it can; that exit reaches the core as VMK_EXIT_NONE.
 */
#include "vmx.h"

#include <arch/x86/cpu.h>
#include <lib/errno.h>
#include <lib/log.h>
#include <lib/printf.h>
#include <lib/string.h>

#define CR0_PE (1ul << 0)
#define CR0_PG (1ul << 31)
#define XCR0_X87 (1ul << 0)
#define XCR0_SSE (1ul << 1)
/* The guest FPU state the core switches between vCPUs (FXSAVE). */
#define XCR0_SWITCHED (XCR0_X87 | XCR0_SSE)

#define DEFINE_DR_ACCESSORS(n)                                          \
	static inline uint64_t read_dr##n(void)                         \
	{                                                               \
		uint64_t value;                                         \
		__asm__ volatile("mov %%dr" #n ", %0" : "=r"(value));   \
		return value;                                           \
	}                                                               \
	static inline void write_dr##n(uint64_t value)                  \
	{                                                               \
		__asm__ volatile("mov %0, %%dr" #n : : "r"(value));     \
	}
DEFINE_DR_ACCESSORS(0)
DEFINE_DR_ACCESSORS(1)
DEFINE_DR_ACCESSORS(2)
DEFINE_DR_ACCESSORS(3)
DEFINE_DR_ACCESSORS(6)
#undef DEFINE_DR_ACCESSORS

static void lazy_state_save(struct vmx_lazy_state *l)
{
	l->kernel_gs_base = rdmsr(MSR_KERNEL_GS_BASE);
	l->star = rdmsr(MSR_STAR);
	l->lstar = rdmsr(MSR_LSTAR);
	l->cstar = rdmsr(MSR_CSTAR);
	l->sfmask = rdmsr(MSR_SFMASK);
	if (vmx_caps.proc2_controls & PROC2_ENABLE_RDTSCP)
		l->tsc_aux = rdmsr(MSR_TSC_AUX);
	l->dr[0] = read_dr0();
	l->dr[1] = read_dr1();
	l->dr[2] = read_dr2();
	l->dr[3] = read_dr3();
	l->dr6 = read_dr6();
}

static void lazy_state_load(const struct vmx_lazy_state *l)
{
	wrmsr(MSR_KERNEL_GS_BASE, l->kernel_gs_base);
	wrmsr(MSR_STAR, l->star);
	wrmsr(MSR_LSTAR, l->lstar);
	wrmsr(MSR_CSTAR, l->cstar);
	wrmsr(MSR_SFMASK, l->sfmask);
	if (vmx_caps.proc2_controls & PROC2_ENABLE_RDTSCP)
		wrmsr(MSR_TSC_AUX, l->tsc_aux);
	write_dr0(l->dr[0]);
	write_dr1(l->dr[1]);
	write_dr2(l->dr[2]);
	write_dr3(l->dr[3]);
	write_dr6(l->dr6);
}

static void switch_lazy_state(struct vmx_vcpu *v)
{
	struct vmx_cpu *cpu = &vmx_cpus[v->cpu];

	if (cpu->lazy_owner == v)
		return;
	if (cpu->lazy_owner)
		lazy_state_save(&cpu->lazy_owner->lazy);
	lazy_state_load(&v->lazy);
	cpu->lazy_owner = v;
}

void vmx_lazy_state_forget(struct vmx_vcpu *v)
{
	if (vmx_cpus[v->cpu].lazy_owner == v)
		vmx_cpus[v->cpu].lazy_owner = NULL;
}

void vmx_vcpu_unload(struct virt_vcpu *vcpu)
{
	struct vmx_vcpu *v = vmx_of(vcpu);

	if (!v || v->cpu == VMX_NO_CPU)
		return;
	struct vmx_cpu *cpu = &vmx_cpus[v->cpu];
	if (cpu->lazy_owner == v) {
		lazy_state_save(&v->lazy);
		cpu->lazy_owner = NULL;
	}
	vmx_vmclear(v->vmcs_phys);
	if (cpu->current_vmcs == v)
		cpu->current_vmcs = NULL;
	v->launched = false;
	/* The new CPU may hold stale translations from an earlier stay:
	 * INVEPT there, and VPID rewritten with an INVVPID. */
	v->ept_flush_pending = true;
	v->vpid = 0;
	v->cpu = VMX_NO_CPU;
}

static void xsetbv(uint64_t value)
{
	__asm__ volatile("xsetbv" : : "c"(0), "a"((uint32_t)value), "d"((uint32_t)(value >> 32)));
}

static void entry_refused(struct vmx_vcpu *v, struct vmk_exit *exit)
{
	exit->code = VMK_EXIT_ENTRY_FAILED;
	exit->failure.why = v->why;
}

/* Guest state this CPU cannot enter; 0 or refused with *exit filled. */
static int refuse_unrunnable(struct vmx_vcpu *v, struct vmk_exit *exit)
{
	uint64_t cr0 = vmread(VMCS_CR0_READ_SHADOW);

	/* Paging off with PE on runs on an identity table (vmx_paging.c);
	 * real mode has no such stand-in. */
	if (!vmx_caps.unrestricted_guest && !(cr0 & CR0_PE)) {
		/* Short: the core's stop reason holds about 130 characters of it. */
		snprintf(v->why, sizeof(v->why), "CR0 0x%lx: real mode needs unrestricted guest, which this CPU lacks",
			 cr0);
		entry_refused(v, exit);
		return -EINVAL;
	}
	if (!(v->xcr0 & XCR0_X87) || (v->xcr0 & ~XCR0_SWITCHED) ||
	    (v->xcr0 != XCR0_X87 && !vmx_caps.xsave)) {
		snprintf(v->why, sizeof(v->why),
			 "XCR0 0x%lx: only x87 and SSE state are switched between vCPUs", v->xcr0);
		entry_refused(v, exit);
		return -EINVAL;
	}
	return 0;
}

/* What the core may have changed between runs, besides sysregs. */
static void sync_core_fields(struct vmx_vcpu *v, struct virt_vcpu *vcpu)
{
	if (vcpu->tsc_offset != v->tsc_offset) {
		v->tsc_offset = vcpu->tsc_offset;
		vmwrite(VMCS_TSC_OFFSET, v->tsc_offset);
	}
	if (vcpu->gpa_root != v->eptp_root) {
		uint64_t eptp = vmx_eptp(vcpu->gpa_root);
		v->eptp_root = vcpu->gpa_root;
		if (vcpu->gpa_root && eptp != v->eptp) {
			v->eptp = eptp;
			vmwrite(VMCS_EPT_POINTER, eptp);
			v->ept_flush_pending = true;
		}
	}
	if (__atomic_load_n(&v->ept_flush_pending, __ATOMIC_ACQUIRE)) {
		v->ept_flush_pending = false;
		vmx_invept(v->eptp);
	}
	/* v->vpid is 0 after an unload: rewritten (and flushed) on the new CPU. */
	if (vmx_caps.vpid && (vcpu->tag != v->vpid_tag || !v->vpid)) {
		uint32_t vpid = (vcpu->tag - 1) % 0xffffu + 1;
		v->vpid_tag = vcpu->tag;
		if (vpid != v->vpid) {
			v->vpid = vpid;
			vmwrite(VMCS_VPID, vpid);
			vmx_invvpid(vpid);
		}
	}
	if (vcpu->gprs[VIRT_RSP] != v->guest_rsp) {
		v->guest_rsp = vcpu->gprs[VIRT_RSP];
		vmwrite(VMCS_GUEST_RSP, v->guest_rsp);
	}
}

/* Exceptions that push an error code (SDM: #DF #TS #NP #SS #GP #PF #AC). */
static bool pushes_error_code(uint8_t vector)
{
	return vector == 8 || (vector >= 10 && vector <= 14) || vector == 17;
}

static void write_injection(uint32_t info, uint32_t error_code, uint32_t instruction_length)
{
	uint32_t type = INTERRUPTION_TYPE(info);

	vmwrite(VMCS_ENTRY_INTERRUPTION_INFO, info);
	if (info & INTERRUPTION_ERROR_CODE_VALID)
		vmwrite(VMCS_ENTRY_EXCEPTION_ERROR_CODE, error_code);
	if (type == INTERRUPTION_TYPE_SOFTWARE_INTERRUPT ||
	    type == INTERRUPTION_TYPE_PRIVILEGED_SOFTWARE_EXCEPTION ||
	    type == INTERRUPTION_TYPE_SOFTWARE_EXCEPTION)
		vmwrite(VMCS_ENTRY_INSTRUCTION_LENGTH, instruction_length);
}

enum injection_outcome { INJECTED, NEEDS_INTERRUPT_WINDOW, NEEDS_NMI_WINDOW };

/* The core's event in VMX terms; its types are VMX interruption types. */
static enum injection_outcome inject_core_event(struct vmx_vcpu *v, struct virt_event *e)
{
	uint64_t interruptibility = vmread(VMCS_GUEST_INTERRUPTIBILITY);
	uint32_t info = INTERRUPTION_VALID | e->vector | ((uint32_t)e->type << 8);
	uint32_t length = 0;

	switch (e->type) {
	case VIRT_EVENT_EXTERNAL:
		if (!(vmread(VMCS_GUEST_RFLAGS) & RFLAGS_IF) ||
		    (interruptibility & (INTERRUPTIBILITY_BLOCKING_BY_STI | INTERRUPTIBILITY_BLOCKING_BY_MOV_SS)))
			return NEEDS_INTERRUPT_WINDOW;
		break;
	case VIRT_EVENT_NMI:
		info = INTERRUPTION_VALID | 2 | (INTERRUPTION_TYPE_NMI << 8);
		if ((interruptibility & INTERRUPTIBILITY_BLOCKING_BY_MOV_SS) ||
		    (vmx_caps.virtual_nmis && (interruptibility & INTERRUPTIBILITY_BLOCKING_BY_NMI)))
			return NEEDS_NMI_WINDOW;
		break;
	case VIRT_EVENT_EXCEPTION:
		/* Real mode (possible with unrestricted guest) pushes no error code. */
		if (pushes_error_code(e->vector) && (vmread(VMCS_GUEST_CR0) & CR0_PE))
			info |= INTERRUPTION_ERROR_CODE_VALID;
		break;
	case VIRT_EVENT_SOFTWARE_INT:
		/* INT n: the return address is RIP + the length of the INT
		 * instruction, the one that caused the last exit. */
		length = v->last_instruction_length;
		break;
	default:
		log_warn("vmx: unknown event type %u dropped\n", e->type);
		e->pending = false;
		return INJECTED;
	}
	write_injection(info, e->error_code, length);
	e->pending = false;
	return INJECTED;
}

static void prepare_injection(struct vmx_vcpu *v, struct virt_vcpu *vcpu)
{
	enum injection_outcome outcome = INJECTED;
	uint32_t controls = v->proc_controls & ~(PROC_INTERRUPT_WINDOW_EXITING | PROC_NMI_WINDOW_EXITING);

	if (v->reinjection.pending) {
		write_injection(v->reinjection.info, v->reinjection.error_code,
				v->reinjection.instruction_length);
		v->reinjection.pending = false;
		if (vcpu->event.pending)
			outcome = vcpu->event.type == VIRT_EVENT_NMI ? NEEDS_NMI_WINDOW : NEEDS_INTERRUPT_WINDOW;
	} else if (vcpu->event.pending) {
		outcome = inject_core_event(v, &vcpu->event);
	}
	/* Without virtual NMIs there is no NMI-window exit: retry after any exit. */
	if (outcome == NEEDS_NMI_WINDOW && vmx_caps.virtual_nmis)
		controls |= PROC_NMI_WINDOW_EXITING;
	v->backend_window = outcome == NEEDS_INTERRUPT_WINDOW;
	if (v->backend_window || vcpu->want_interrupt_window)
		controls |= PROC_INTERRUPT_WINDOW_EXITING;
	if (controls != v->proc_controls)
		vmx_set_proc_controls(v, controls);
}

/* An event cut short by the exit is delivered again on the next entry. */
static void remember_interrupted_delivery(struct vmx_vcpu *v)
{
	uint32_t info = (uint32_t)vmread(VMCS_IDT_VECTORING_INFO);
	uint32_t type = INTERRUPTION_TYPE(info);

	if (!(info & INTERRUPTION_VALID))
		return;
	v->reinjection.pending = true;
	v->reinjection.info = info & (INTERRUPTION_VALID | INTERRUPTION_ERROR_CODE_VALID | 0x7ff);
	v->reinjection.error_code = 0;
	if (info & INTERRUPTION_ERROR_CODE_VALID)
		v->reinjection.error_code = (uint32_t)vmread(VMCS_IDT_VECTORING_ERROR_CODE);
	v->reinjection.instruction_length = 0;
	if (type == INTERRUPTION_TYPE_SOFTWARE_INTERRUPT ||
	    type == INTERRUPTION_TYPE_PRIVILEGED_SOFTWARE_EXCEPTION ||
	    type == INTERRUPTION_TYPE_SOFTWARE_EXCEPTION)
		v->reinjection.instruction_length = (uint32_t)vmread(VMCS_EXIT_INSTRUCTION_LENGTH);
}

static const char *instruction_error_name(uint64_t error)
{
	switch (error) {
	case VMX_ERROR_VMLAUNCH_NOT_CLEAR:
		return "VMLAUNCH with a non-clear VMCS";
	case VMX_ERROR_VMRESUME_NOT_LAUNCHED:
		return "VMRESUME with a non-launched VMCS";
	case VMX_ERROR_INVALID_CONTROLS:
		return "invalid control fields";
	case VMX_ERROR_INVALID_HOST_STATE:
		return "invalid host-state fields";
	case VMX_ERROR_BLOCKED_BY_MOV_SS:
		return "events blocked by MOV SS";
	default:
		return "see the SDM's VM-instruction error numbers";
	}
}

/* VMLAUNCH/VMRESUME failed as an instruction: nothing of the guest ran. */
static void entry_instruction_failed(struct vmx_vcpu *v, int switch_result, struct vmk_exit *exit)
{
	const char *instruction = v->launched ? "VMRESUME" : "VMLAUNCH";

	if (switch_result == VMX_SWITCH_FAIL_INVALID) {
		exit->failure.error = 0;
		snprintf(v->why, sizeof(v->why), "%s failed: no current VMCS", instruction);
	} else {
		exit->failure.error = vmread(VMCS_INSTRUCTION_ERROR);
		snprintf(v->why, sizeof(v->why), "%s failed: VM-instruction error %lu (%s)", instruction,
			 exit->failure.error, instruction_error_name(exit->failure.error));
	}
	log_error("vmx: %s\n", v->why);
	entry_refused(v, exit);
}

/* The CPU checked the guest state and refused it (exit reason bit 31). */
static void entry_failed(struct vmx_vcpu *v, uint32_t reason, struct vmk_exit *exit)
{
	uint64_t qualification = vmread(VMCS_EXIT_QUALIFICATION);
	uint32_t basic = VMX_EXIT_REASON_BASIC(reason);

	exit->hardware_reason = reason;
	exit->qualification = qualification;
	exit->failure.error = basic;
	switch (basic) {
	case VMX_EXIT_INVALID_GUEST_STATE: {
		static const char *const detail[] = {
			[0] = "", [2] = " (PDPTE loading)", [3] = " (NMI injected while blocked)",
			[4] = " (VMCS link pointer)",
		};
		size_t used = (size_t)snprintf(v->why, sizeof(v->why), "VM entry: invalid guest state%s",
					       qualification < 5 && detail[qualification] ? detail[qualification] : "");
		if (used < sizeof(v->why))
			vmx_explain_guest_state(v, v->why + used, sizeof(v->why) - used);
		break;
	}
	case VMX_EXIT_MSR_LOADING:
		snprintf(v->why, sizeof(v->why), "VM entry: MSR loading failed at entry %lu", qualification);
		break;
	case VMX_EXIT_MACHINE_CHECK:
		snprintf(v->why, sizeof(v->why), "VM entry: machine-check event during entry");
		break;
	default:
		snprintf(v->why, sizeof(v->why), "VM entry failed, exit reason %u", basic);
		break;
	}
	entry_refused(v, exit);
}

/* @pre called on vcpu->host_cpu with interrupts disabled. */
int vmx_vcpu_run(struct virt_vcpu *vcpu, struct vmk_exit *exit)
{
	struct vmx_vcpu *v = vmx_of(vcpu);
	int rc;

	*exit = (struct vmk_exit){ 0 }; /* stores, not a byte-wise rep stosb */
	if (!v)
		return -EINVAL;
	rc = vmx_make_current(v);
	if (rc)
		return rc;
	bool new_state = v->sysregs_pending && vmx_apply_sysregs(v); /* the test inline: rarely true */
	vcpu->sysregs_dirty = false;
	/* The checked state changes only through set_sysregs: the guest cannot
	 * change host-owned CR0 bits or XCR0 without an exit. */
	if ((new_state || !v->launched) && refuse_unrunnable(v, exit))
		return 0;
	/* Only while the guest runs with paging off (identity table). */
	rc = v->paging_off.active ? vmx_paging_off_prepare(v) : 0;
	if (rc) {
		snprintf(v->why, sizeof(v->why), "paging off: cannot map the identity page table at gpa 0x%lx (%d)",
			 VMX_IDENTITY_TABLE_GPA, rc);
		entry_refused(v, exit);
		return 0;
	}
	sync_core_fields(v, vcpu);
	prepare_injection(v, vcpu);
	switch_lazy_state(v);
	if (read_cr2() != v->cr2)
		write_cr2(v->cr2);
	/* XCR0 stays the guest's after the exit: nothing in the vmkernel uses
	 * XSAVE, so it is switched only between vCPUs that differ. */
	struct vmx_cpu *cpu = &vmx_cpus[v->cpu];
	if (vmx_caps.xsave && cpu->xcr0 != v->xcr0) {
		xsetbv(v->xcr0);
		cpu->xcr0 = v->xcr0;
	}

	int switch_result = vmx_world_switch(vcpu->gprs, v->launched);

	v->cr2 = read_cr2();
	if (switch_result) {
		entry_instruction_failed(v, switch_result, exit);
		return 0;
	}
	uint32_t reason = (uint32_t)vmread(VMCS_EXIT_REASON);
	if (reason & VMX_EXIT_REASON_ENTRY_FAILURE) {
		entry_failed(v, reason, exit);
		return 0;
	}
	v->launched = true;
	v->guest_rsp = vmread(VMCS_GUEST_RSP);
	vcpu->gprs[VIRT_RSP] = v->guest_rsp;
	remember_interrupted_delivery(v);
	vmx_translate_exit(v, reason, exit);
	return 0;
}

/*
 * A vCPU's VMCS: creation (controls, host state, a reset guest state),
 * and the guest's architectural state in and out of it.
 *
 * Contract with the core: vcpu_init, get_sysregs, interruptible and
 * vcpu_run run on vcpu->host_cpu, where the VMCS is active (VMREAD and
 * VMWRITE reach only the current VMCS of the executing CPU). set_sysregs
 * only stores the state; vcpu_run writes it into the VMCS before the next
 * entry, so it may be called anywhere once vcpu_init has run.
 */
#include "vmx.h"

#include <arch/x86/cpu.h>
#include <lib/errno.h>
#include <lib/log.h>
#include <lib/printf.h>
#include <lib/string.h>

#define CR0_PG (1ul << 31)
#define RFLAGS_RESERVED_ONE (1ul << 1)
#define DR7_RESERVED_ONE (1ul << 10)
#define DR6_RESET 0xffff0ff0ul
#define PAT_RESET 0x0007040600070406ul
#define VMCS_LINK_NONE (~0ul)
#define EXCEPTION_UD 6
#define EXCEPTION_AC 17
#define EXCEPTION_MC 18
/* PAUSE-loop exiting: PAUSEs at most this many TSC ticks apart form one
 * spin loop; a loop longer than the window exits. */
#define PLE_GAP 128
#define PLE_WINDOW 4096

struct descriptor_table_register {
	uint16_t limit;
	uint64_t base;
} __attribute__((packed));

static uint16_t read_selector_ds(void)
{
	uint16_t s;
	__asm__ volatile("mov %%ds, %0" : "=r"(s));
	return s;
}

static uint16_t read_selector_es(void)
{
	uint16_t s;
	__asm__ volatile("mov %%es, %0" : "=r"(s));
	return s;
}

static uint16_t read_selector_ss(void)
{
	uint16_t s;
	__asm__ volatile("mov %%ss, %0" : "=r"(s));
	return s;
}

static uint16_t read_selector_cs(void)
{
	uint16_t s;
	__asm__ volatile("mov %%cs, %0" : "=r"(s));
	return s;
}

static uint16_t read_task_register(void)
{
	uint16_t s;
	__asm__ volatile("str %0" : "=r"(s));
	return s;
}

/*
 * What a VM exit loads: the vmkernel as it runs on this CPU. GS base is
 * this CPU's struct percpu, the GDT and TSS are per CPU too: a VMCS is
 * therefore tied to the CPU that built it. FS and GS selectors are 0 (the
 * vmkernel never loads them); SYSENTER is unused. On every exit the CPU
 * also sets the GDTR/IDTR limits to 0xffff and the TR limit to 0x67,
 * which the vmkernel's tables tolerate (its TSS is 104 bytes, no I/O map).
 */
static void write_host_state(void)
{
	struct descriptor_table_register gdtr, idtr;

	__asm__ volatile("sgdt %0" : "=m"(gdtr));
	__asm__ volatile("sidt %0" : "=m"(idtr));
	vmwrite(VMCS_HOST_CR0, read_cr0());
	vmwrite(VMCS_HOST_CR3, read_cr3());
	vmwrite(VMCS_HOST_CR4, read_cr4());
	vmwrite(VMCS_HOST_CS_SELECTOR, read_selector_cs());
	vmwrite(VMCS_HOST_SS_SELECTOR, read_selector_ss());
	vmwrite(VMCS_HOST_DS_SELECTOR, read_selector_ds());
	vmwrite(VMCS_HOST_ES_SELECTOR, read_selector_es());
	vmwrite(VMCS_HOST_FS_SELECTOR, 0);
	vmwrite(VMCS_HOST_GS_SELECTOR, 0);
	vmwrite(VMCS_HOST_TR_SELECTOR, read_task_register());
	vmwrite(VMCS_HOST_FS_BASE, rdmsr(MSR_FS_BASE));
	vmwrite(VMCS_HOST_GS_BASE, rdmsr(MSR_GS_BASE));
	vmwrite(VMCS_HOST_TR_BASE, (uint64_t)&percpu_get()->tss);
	vmwrite(VMCS_HOST_GDTR_BASE, gdtr.base);
	vmwrite(VMCS_HOST_IDTR_BASE, idtr.base);
	vmwrite(VMCS_HOST_SYSENTER_CS, 0);
	vmwrite(VMCS_HOST_SYSENTER_ESP, 0);
	vmwrite(VMCS_HOST_SYSENTER_EIP, 0);
	vmwrite(VMCS_HOST_PAT, rdmsr(MSR_PAT));
	vmwrite(VMCS_HOST_EFER, rdmsr(MSR_EFER));
	vmwrite(VMCS_HOST_RIP, (uint64_t)vmx_exit_stub);
	/* HOST_RSP is written by vmx_world_switch on every entry. */
}

static void write_controls(struct vmx_vcpu *v)
{
	const struct vmx_caps *c = &vmx_caps;
	struct virt_vcpu *vcpu = v->vcpu;

	vmwrite(VMCS_PIN_CONTROLS, c->pin_controls);
	v->proc_controls = c->proc_controls;
	vmwrite(VMCS_PROC_CONTROLS, v->proc_controls);
	vmwrite(VMCS_PROC2_CONTROLS, c->proc2_controls);
	v->entry_controls = c->entry_controls;
	vmwrite(VMCS_ENTRY_CONTROLS, v->entry_controls);
	vmwrite(VMCS_EXIT_CONTROLS, c->exit_controls);
	/* #MC belongs to the host. #AC is reflected by the backend so that a
	 * guest cannot loop the CPU in #AC delivery without an exit. #UD goes
	 * to the core, which runs AMD's VMMCALL as a hypercall too. */
	vmwrite(VMCS_EXCEPTION_BITMAP, (1u << EXCEPTION_UD) | (1u << EXCEPTION_MC) | (1u << EXCEPTION_AC));
	vmwrite(VMCS_PAGE_FAULT_ERROR_MASK, 0);
	vmwrite(VMCS_PAGE_FAULT_ERROR_MATCH, 0);
	vmwrite(VMCS_CR3_TARGET_COUNT, 0);
	vmwrite(VMCS_EXIT_MSR_STORE_COUNT, 0);
	vmwrite(VMCS_EXIT_MSR_LOAD_COUNT, 0);
	vmwrite(VMCS_ENTRY_MSR_LOAD_COUNT, 0);
	vmwrite(VMCS_ENTRY_INTERRUPTION_INFO, 0);
	vmwrite(VMCS_IO_BITMAP_A, c->io_bitmap_a);
	vmwrite(VMCS_IO_BITMAP_B, c->io_bitmap_b);
	vmwrite(VMCS_MSR_BITMAP, c->msr_bitmap);
	vmwrite(VMCS_CR0_GUEST_HOST_MASK, c->cr0_host_owned);
	v->cr4_host_owned = c->cr4_host_owned;
	vmwrite(VMCS_CR4_GUEST_HOST_MASK, v->cr4_host_owned);
	v->tsc_offset = vcpu->tsc_offset;
	vmwrite(VMCS_TSC_OFFSET, v->tsc_offset);
	if (c->proc2_controls & PROC2_PAUSE_LOOP_EXITING) {
		vmwrite(VMCS_PLE_GAP, PLE_GAP);
		vmwrite(VMCS_PLE_WINDOW, PLE_WINDOW);
	}
	if (c->proc2_controls & PROC2_ENABLE_XSAVES)
		vmwrite(VMCS_XSS_EXITING_BITMAP, 0);
	vmwrite(VMCS_LINK_POINTER, VMCS_LINK_NONE);
	vmwrite(VMCS_GUEST_DEBUGCTL, 0);
	vmwrite(VMCS_GUEST_INTERRUPTIBILITY, 0);
	vmwrite(VMCS_GUEST_ACTIVITY_STATE, ACTIVITY_STATE_ACTIVE);
	vmwrite(VMCS_GUEST_PENDING_DEBUG_EXCEPTIONS, 0);
	v->guest_rsp = 0;
	vmwrite(VMCS_GUEST_RSP, 0);
	if (c->vpid) {
		/* VPIDs are 16 bits, 0 is the host's: fold the core's tag into 1..0xffff. */
		v->vpid = (vcpu->tag - 1) % 0xffffu + 1;
		vmwrite(VMCS_VPID, v->vpid);
		vmx_invvpid(v->vpid); /* a previous owner of the VPID left translations */
	}
	if (vcpu->gpa_root) {
		v->eptp = vmx_eptp(vcpu->gpa_root);
		vmwrite(VMCS_EPT_POINTER, v->eptp);
		vmx_invept(v->eptp); /* the root may have been another VM's */
	}
}

static void reset_sysregs(struct virt_sysregs *s)
{
	memset(s, 0, sizeof(*s));
	s->rip = 0xfff0;
	s->rflags = RFLAGS_RESERVED_ONE;
	s->cr0 = 0x60000010; /* CD NW ET */
	s->xcr0 = 1;
	for (int i = 0; i < VIRT_SEGMENT_COUNT; i++) {
		s->segments[i].limit = 0xffff;
		s->segments[i].attributes = 0x93; /* present, read/write data, accessed */
	}
	s->segments[VIRT_CS] = (struct virt_segment){ 0xf000, 0x9b, 0xffff, 0xffff0000ul };
	s->segments[VIRT_LDTR].attributes = 0x82;
	s->segments[VIRT_TR].attributes = 0x8b;
	s->gdtr_limit = 0xffff;
	s->idtr_limit = 0xffff;
	s->pat = PAT_RESET;
	s->dr7 = DR7_RESERVED_ONE;
}

int vmx_vcpu_init(struct virt_vcpu *vcpu)
{
	const struct virt_host_services *host = virt_host();
	uint32_t cpu = cpu_index();
	struct vmx_cpu *this_cpu = &vmx_cpus[cpu];

	if (!this_cpu->enabled) {
		log_error("vmx: vcpu_init on cpu %u, where VMX is not on\n", cpu);
		return -ENODEV;
	}
	if (cpu != vcpu->host_cpu) {
		log_error("vmx: vcpu_init on cpu %u for a vCPU of cpu %u\n", cpu, vcpu->host_cpu);
		return -EINVAL;
	}
	uint64_t pages[2]; /* the VMCS, then this backend's struct vmx_vcpu */
	for (int i = 0; i < 2; i++) {
		pages[i] = host->alloc_zeroed_page();
		if (!pages[i]) {
			while (i--)
				host->free_page(pages[i]);
			return -ENOMEM;
		}
	}
	uint64_t vmcs_phys = pages[0], self_phys = pages[1];
	struct vmx_vcpu *v = host->phys_to_virt(self_phys);
	v->vcpu = vcpu;
	v->vmcs_phys = vmcs_phys;
	v->self_phys = self_phys;
	v->cpu = cpu;
	v->lazy.dr6 = DR6_RESET;
	*(uint32_t *)host->phys_to_virt(vmcs_phys) = vmx_caps.revision;
	if (vmx_vmclear(vmcs_phys) || vmx_vmptrld(vmcs_phys)) {
		log_error("vmx: VMCLEAR/VMPTRLD of a new VMCS failed on cpu %u\n", cpu);
		host->free_page(vmcs_phys);
		host->free_page(self_phys);
		return -EIO;
	}
	this_cpu->current_vmcs = v;
	uint32_t errors_before = this_cpu->field_errors;
	write_controls(v);
	write_host_state();
	reset_sysregs(&v->pending);
	vmx_set_sysregs_into(v, &v->pending);
	if (this_cpu->field_errors != errors_before) {
		log_error("vmx: VMWRITE of VMCS field 0x%x failed on cpu %u\n", this_cpu->last_bad_field, cpu);
		vmx_vmclear(vmcs_phys);
		this_cpu->current_vmcs = NULL;
		host->free_page(vmcs_phys);
		host->free_page(self_phys);
		return -EIO;
	}
	v->sysregs_pending = false;
	vcpu->backend = v;
	return 0;
}

int vmx_vcpu_adopt(struct vmx_vcpu *v)
{
	uint32_t cpu = cpu_index();

	if (!vmx_cpus[cpu].enabled || vmx_vmptrld(v->vmcs_phys))
		return -EIO;
	vmx_cpus[cpu].current_vmcs = v;
	v->cpu = cpu;
	write_host_state(); /* GS base, TR, GDT: this CPU's */
	return 0;
}

/* @pre on vcpu->host_cpu (VMCLEAR must run where the VMCS is active). */
void vmx_vcpu_free(struct virt_vcpu *vcpu)
{
	const struct virt_host_services *host = virt_host();
	struct vmx_vcpu *v = vmx_of(vcpu);

	if (!v)
		return;
	if (v->cpu == VMX_NO_CPU && vmx_vcpu_adopt(v))
		return;
	if (cpu_index() != v->cpu)
		log_error("vmx: vcpu_free on cpu %u for a VMCS active on cpu %u\n", cpu_index(), v->cpu);
	vmx_lazy_state_forget(v);
	vmx_vmclear(v->vmcs_phys);
	if (vmx_cpus[v->cpu].current_vmcs == v)
		vmx_cpus[v->cpu].current_vmcs = NULL;
	vcpu->backend = NULL;
	host->free_page(v->vmcs_phys);
	host->free_page(v->self_phys);
}

/* virt.h's attributes are 16 bits: P clear stands for VMX's "unusable". */
static uint32_t access_rights_of(uint16_t attributes)
{
	if (!(attributes & ACCESS_RIGHTS_PRESENT))
		return attributes | ACCESS_RIGHTS_UNUSABLE;
	return attributes & 0xf0ff;
}

static uint16_t attributes_of(uint32_t access_rights)
{
	uint16_t attributes = access_rights & 0xf0ff;

	if (access_rights & ACCESS_RIGHTS_UNUSABLE)
		attributes &= (uint16_t)~ACCESS_RIGHTS_PRESENT;
	return attributes;
}

/* Writes *s into the current VMCS (v's). */
void vmx_set_sysregs_into(struct vmx_vcpu *v, const struct virt_sysregs *s)
{
	const struct vmx_paging paging = { .cr0 = s->cr0, .cr3 = s->cr3, .cr4 = s->cr4, .efer = s->efer };

	vmx_paging_write(v, &paging);
	v->cr2 = s->cr2;
	v->xcr0 = s->xcr0 ? s->xcr0 : 1; /* 0: never set; the reset value is x87 only */
	/* Moving RIP completes the instruction that had an STI / MOV SS shadow
	 * (virt.h); blocking by NMI lasts until the guest's IRET whatever the
	 * core does. */
	uint64_t old_rip = vmread(VMCS_GUEST_RIP);
	if (s->rip != old_rip) {
		uint64_t interruptibility = vmread(VMCS_GUEST_INTERRUPTIBILITY);
		if (interruptibility & (INTERRUPTIBILITY_BLOCKING_BY_STI | INTERRUPTIBILITY_BLOCKING_BY_MOV_SS))
			vmwrite(VMCS_GUEST_INTERRUPTIBILITY,
				interruptibility & ~(uint64_t)(INTERRUPTIBILITY_BLOCKING_BY_STI |
							       INTERRUPTIBILITY_BLOCKING_BY_MOV_SS));
		vmwrite(VMCS_GUEST_PENDING_DEBUG_EXCEPTIONS, 0);
	}
	vmwrite(VMCS_GUEST_RIP, s->rip);
	vmwrite(VMCS_GUEST_RFLAGS, s->rflags | RFLAGS_RESERVED_ONE);
	for (int i = 0; i < VIRT_SEGMENT_COUNT; i++) {
		const struct virt_segment *seg = &s->segments[i];
		vmwrite(VMCS_GUEST_ES_SELECTOR + 2 * i, seg->selector);
		vmwrite(VMCS_GUEST_ES_BASE + 2 * i, seg->base);
		vmwrite(VMCS_GUEST_ES_LIMIT + 2 * i, seg->limit);
		vmwrite(VMCS_GUEST_ES_ACCESS_RIGHTS + 2 * i, access_rights_of(seg->attributes));
	}
	vmwrite(VMCS_GUEST_GDTR_BASE, s->gdtr_base);
	vmwrite(VMCS_GUEST_GDTR_LIMIT, s->gdtr_limit);
	vmwrite(VMCS_GUEST_IDTR_BASE, s->idtr_base);
	vmwrite(VMCS_GUEST_IDTR_LIMIT, s->idtr_limit);
	vmwrite(VMCS_GUEST_SYSENTER_CS, s->sysenter_cs);
	vmwrite(VMCS_GUEST_SYSENTER_ESP, s->sysenter_esp);
	vmwrite(VMCS_GUEST_SYSENTER_EIP, s->sysenter_eip);
	/* 0 stands for "never set" (no guest writes an all-UC PAT at boot). */
	vmwrite(VMCS_GUEST_PAT, s->pat ? s->pat : PAT_RESET);
	vmwrite(VMCS_GUEST_DR7, (s->dr7 | DR7_RESERVED_ONE) & 0xffffffffu);
}

void vmx_set_sysregs(struct virt_vcpu *vcpu, const struct virt_sysregs *in)
{
	struct vmx_vcpu *v = vmx_of(vcpu);

	if (!v) {
		log_error("vmx: set_sysregs before vcpu_init: ignored\n");
		return;
	}
	v->pending = *in;
	v->sysregs_pending = true;
}

bool vmx_apply_sysregs(struct vmx_vcpu *v)
{
	if (!v->sysregs_pending)
		return false;
	vmx_set_sysregs_into(v, &v->pending);
	v->sysregs_pending = false;
	return true;
}

void vmx_get_sysregs(struct virt_vcpu *vcpu, struct virt_sysregs *out)
{
	struct vmx_vcpu *v = vmx_of(vcpu);

	if (v && v->sysregs_pending) {
		*out = v->pending;
		return;
	}
	memset(out, 0, sizeof(*out));
	if (!v || vmx_make_current(v))
		return;
	out->rip = vmread(VMCS_GUEST_RIP);
	out->rflags = vmread(VMCS_GUEST_RFLAGS);
	struct vmx_paging paging;
	vmx_paging_read(v, &paging);
	out->cr0 = paging.cr0;
	out->cr3 = paging.cr3;
	out->cr4 = paging.cr4;
	out->efer = paging.efer;
	out->cr2 = v->cr2;
	out->xcr0 = v->xcr0;
	for (int i = 0; i < VIRT_SEGMENT_COUNT; i++) {
		struct virt_segment *seg = &out->segments[i];
		seg->selector = (uint16_t)vmread(VMCS_GUEST_ES_SELECTOR + 2 * i);
		seg->base = vmread(VMCS_GUEST_ES_BASE + 2 * i);
		seg->limit = (uint32_t)vmread(VMCS_GUEST_ES_LIMIT + 2 * i);
		seg->attributes = attributes_of((uint32_t)vmread(VMCS_GUEST_ES_ACCESS_RIGHTS + 2 * i));
	}
	out->gdtr_base = vmread(VMCS_GUEST_GDTR_BASE);
	out->gdtr_limit = (uint32_t)vmread(VMCS_GUEST_GDTR_LIMIT);
	out->idtr_base = vmread(VMCS_GUEST_IDTR_BASE);
	out->idtr_limit = (uint32_t)vmread(VMCS_GUEST_IDTR_LIMIT);
	out->sysenter_cs = vmread(VMCS_GUEST_SYSENTER_CS);
	out->sysenter_esp = vmread(VMCS_GUEST_SYSENTER_ESP);
	out->sysenter_eip = vmread(VMCS_GUEST_SYSENTER_EIP);
	out->pat = vmread(VMCS_GUEST_PAT);
	out->dr7 = vmread(VMCS_GUEST_DR7);
}

bool vmx_interruptible(struct virt_vcpu *vcpu)
{
	struct vmx_vcpu *v = vmx_of(vcpu);

	if (!v || vmx_make_current(v))
		return false;
	/* An interrupted delivery goes first on the next entry. */
	if (v->reinjection.pending)
		return false;
	uint64_t rflags = v->sysregs_pending ? v->pending.rflags : vmread(VMCS_GUEST_RFLAGS);
	if (!(rflags & RFLAGS_IF))
		return false;
	/* Pending state that moves RIP ends the shadow when it is applied. */
	if (v->sysregs_pending && v->pending.rip != vmread(VMCS_GUEST_RIP))
		return true;
	return !(vmread(VMCS_GUEST_INTERRUPTIBILITY) &
		 (INTERRUPTIBILITY_BLOCKING_BY_STI | INTERRUPTIBILITY_BLOCKING_BY_MOV_SS));
}

int vmx_read_guest_msr(struct virt_vcpu *vcpu, uint32_t index, uint64_t *value)
{
	struct vmx_vcpu *v = vmx_of(vcpu);
	const struct virt_sysregs *p = v ? &v->pending : NULL;
	uint32_t field;

	switch (index) {
	case VIRT_GUEST_MSR_PAT:
		field = VMCS_GUEST_PAT;
		break;
	case VIRT_GUEST_MSR_SYSENTER_CS:
		field = VMCS_GUEST_SYSENTER_CS;
		break;
	case VIRT_GUEST_MSR_SYSENTER_ESP:
		field = VMCS_GUEST_SYSENTER_ESP;
		break;
	case VIRT_GUEST_MSR_SYSENTER_EIP:
		field = VMCS_GUEST_SYSENTER_EIP;
		break;
	default:
		return -1;
	}
	if (!v)
		return -1;
	if (v->sysregs_pending) {
		*value = index == VIRT_GUEST_MSR_PAT ? p->pat
			 : index == VIRT_GUEST_MSR_SYSENTER_CS ? p->sysenter_cs
			 : index == VIRT_GUEST_MSR_SYSENTER_ESP ? p->sysenter_esp : p->sysenter_eip;
		return 0;
	}
	if (vmx_make_current(v))
		return -1;
	*value = vmread(field);
	return 0;
}

uint32_t vmx_guest_cpl(struct virt_vcpu *vcpu)
{
	struct vmx_vcpu *v = vmx_of(vcpu);

	if (!v)
		return 0;
	if (v->sysregs_pending)
		return (v->pending.segments[VIRT_SS].attributes >> 5) & 3;
	if (vmx_make_current(v))
		return 0;
	return (uint32_t)(vmread(VMCS_GUEST_ES_ACCESS_RIGHTS + 2 * VIRT_SS) >> 5) & 3;
}

void vmx_set_rip_rflags(struct virt_vcpu *vcpu, uint64_t rip, uint64_t rflags)
{
	struct vmx_vcpu *v = vmx_of(vcpu);

	if (!v)
		return;
	if (v->sysregs_pending) {
		v->pending.rip = rip;
		v->pending.rflags = rflags;
		return;
	}
	if (vmx_make_current(v))
		return;
	if (vmread(VMCS_GUEST_RIP) != rip) {
		uint64_t interruptibility = vmread(VMCS_GUEST_INTERRUPTIBILITY);
		if (interruptibility & (INTERRUPTIBILITY_BLOCKING_BY_STI | INTERRUPTIBILITY_BLOCKING_BY_MOV_SS))
			vmwrite(VMCS_GUEST_INTERRUPTIBILITY,
				interruptibility & ~(uint64_t)(INTERRUPTIBILITY_BLOCKING_BY_STI |
							       INTERRUPTIBILITY_BLOCKING_BY_MOV_SS));
	}
	vmwrite(VMCS_GUEST_RIP, rip);
	vmwrite(VMCS_GUEST_RFLAGS, rflags | 2);
}

void vmx_skip_instruction(struct virt_vcpu *vcpu, uint32_t length)
{
	struct vmx_vcpu *v = vmx_of(vcpu);
	uint64_t rip;
	bool long_mode;

	if (!v)
		return;
	if (v->sysregs_pending) {
		const struct virt_sysregs *s = &v->pending;
		long_mode = (s->efer & EFER_LME) && (s->cr0 & CR0_PG) &&
			    (s->segments[VIRT_CS].attributes & VIRT_SEG_ATTR_LONG);
		v->pending.rip += length;
		if (!long_mode)
			v->pending.rip &= 0xffffffffu;
		return;
	}
	if (vmx_make_current(v))
		return;
	rip = vmread(VMCS_GUEST_RIP) + length;
	/* Outside 64-bit code RIP wraps at 4 GiB; below it there is nothing to cut. */
	if (rip >> 32) {
		long_mode = vmx_guest_ia32e(v) &&
			    (vmread(VMCS_GUEST_ES_ACCESS_RIGHTS + 2 * VIRT_CS) & VIRT_SEG_ATTR_LONG);
		if (!long_mode)
			rip &= 0xffffffffu;
	}
	vmwrite(VMCS_GUEST_RIP, rip);
	uint64_t interruptibility = vmread(VMCS_GUEST_INTERRUPTIBILITY);
	if (interruptibility & (INTERRUPTIBILITY_BLOCKING_BY_STI | INTERRUPTIBILITY_BLOCKING_BY_MOV_SS))
		vmwrite(VMCS_GUEST_INTERRUPTIBILITY,
			interruptibility & ~(uint64_t)(INTERRUPTIBILITY_BLOCKING_BY_STI |
						       INTERRUPTIBILITY_BLOCKING_BY_MOV_SS));
}

void vmx_set_proc_controls(struct vmx_vcpu *v, uint32_t controls)
{
	if (controls == v->proc_controls)
		return;
	v->proc_controls = controls;
	vmwrite(VMCS_PROC_CONTROLS, controls);
}

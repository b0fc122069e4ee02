/*
 * The Intel VT-x backend's private state and helpers, shared by the files
 * of arch/x86/vmx only. The rest of the vmkernel sees virt_ops_vmx.
 *
 * Files: vmx.c (capabilities, probe, VMXON, the ops table), vmx_vmcs.c
 * (a vCPU's VMCS: controls, host state, guest state), vmx_run.c (entry,
 * event injection, the state VMX does not switch), vmx_exit.c (exit
 * translation), vmx_ept.c (the EPT format, INVEPT/INVVPID), vmx_entry.S
 * (the world switch), vmx_check.c (why the CPU refused a guest state),
 * vmx_paging.c (CR0/CR3/CR4/EFER and CR-access exits; guests with paging
 * off on CPUs without unrestricted guest).
 */
#ifndef KAPSEL_ARCH_X86_VMX_VMX_H
#define KAPSEL_ARCH_X86_VMX_VMX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <arch/x86/percpu.h>
#include <arch/x86/pt.h>
#include <arch/x86/virt.h>

#include "vmx_fields.h"

/* A control MSR's allowed settings: bits that must be 1, bits that may be 1. */
struct vmx_allowed {
	uint32_t must_be_one;
	uint32_t may_be_one;
};

/* What this CPU's VMX offers and what the backend chose; (o) set by probe. */
struct vmx_caps {
	uint64_t basic;
	uint32_t revision;
	uint32_t region_size;
	struct vmx_allowed pin, proc, proc2, exit, entry;
	uint64_t misc;
	uint64_t ept_vpid; /* 0 when neither EPT nor VPID exists */
	uint64_t cr0_fixed0, cr0_fixed1, cr4_fixed0, cr4_fixed1;
	bool vpid;
	bool unrestricted_guest;
	bool virtual_nmis;
	/* Controls every VMCS starts with (window exits and IA-32e mode change later). */
	uint32_t pin_controls, proc_controls, proc2_controls, exit_controls, entry_controls;
	/* CR0/CR4 bits the guest may not change behind our back: their reads come
	 * from the read shadow and writes that change them exit. */
	uint64_t cr0_host_owned, cr4_host_owned;
	/* Bits forced on / allowed in the CR0 and CR4 the hardware really runs with. */
	uint64_t cr0_forced_on, cr0_allowed, cr4_forced_on, cr4_allowed;
	/* Shared by every VMCS: all ports exit; MSRs exit except the passed-through ones. */
	uint64_t io_bitmap_a, io_bitmap_b, msr_bitmap;
	/* XSAVE exists: CR4.OSXSAVE is on so guest XCR0 values can be loaded. */
	bool xsave;
};

extern struct vmx_caps vmx_caps;

/* Guest state VMX does not switch and the vmkernel never uses (no SYSCALL,
 * SWAPGS, RDTSCP or hardware breakpoints in the vmkernel): it stays in the
 * CPU while the guest runs and is swapped only when another vCPU takes the
 * CPU. DR7 and DEBUGCTL are in the VMCS; DR0-3 and DR6 are not. */
struct vmx_lazy_state {
	uint64_t kernel_gs_base, star, lstar, cstar, sfmask, tsc_aux;
	uint64_t dr[4], dr6;
};

/* An event to deliver on the next entry that the core did not ask for:
 * one whose delivery an exit interrupted, or a fault the backend reflects. */
struct vmx_reinjection {
	bool pending;
	uint32_t info;               /* interruption-information layout */
	uint32_t error_code;
	uint32_t instruction_length; /* software interrupts and exceptions */
};

/* The control registers and EFER as the guest sees them. */
struct vmx_paging {
	uint64_t cr0, cr3, cr4, efer;
};

/* Guest-physical page of the identity page table that paging-off guests
 * run on without unrestricted guest (vmx_paging.c): in the hole below
 * 4 GiB, clear of guest RAM (up to 3 GiB), the test device and the LAPIC. */
#define VMX_IDENTITY_TABLE_GPA 0xfffbc000ul

/* A paging-off guest run on the identity table (vmx_paging.c). */
struct vmx_paging_off {
	bool active;          /* now: guest CR0.PE=1 PG=0 without unrestricted guest */
	uint64_t cr3;         /* the guest's CR3 (the CPU's is the identity table's) */
	uint64_t efer;        /* the guest's EFER (the CPU's lacks LME) */
	uint64_t mapped_root; /* the EPT root the identity table is mapped into */
};

/* A vCPU's backend half; lives in its own page (vcpu->backend). */
struct vmx_vcpu {
	struct virt_vcpu *vcpu;
	uint64_t vmcs_phys;
	uint64_t self_phys;
	uint32_t cpu;              /* where the VMCS is active; VMX_NO_CPU after unload */
	bool launched;
	uint32_t proc_controls;    /* as in the VMCS now */
	uint32_t entry_controls;   /* as in the VMCS now */
	uint64_t cr4_host_owned;   /* as in the VMCS now: vmx_caps' plus the paging-off bits */
	struct vmx_paging_off paging_off;
	bool backend_window;       /* the backend itself asked for an interrupt window */
	uint64_t eptp;             /* 0: not written yet */
	bool ept_flush_pending;    /* flush_gpa() ran on another CPU */
	uint64_t tsc_offset;       /* as in the VMCS */
	uint32_t vpid;             /* as in the VMCS (0: no VPID) */
	uint64_t vpid_tag;         /* the vcpu->tag `vpid` was derived from */
	uint64_t eptp_root;        /* the vcpu->gpa_root `eptp` was derived from */
	uint64_t guest_rsp;        /* as in the VMCS */
	uint64_t cr2;              /* guest CR2 (VMX does not switch it) */
	uint64_t xcr0;             /* guest XCR0 */
	uint32_t last_instruction_length;
	struct vmx_reinjection reinjection;
	bool sysregs_pending;      /* set_sysregs stored `pending`; applied at entry */
	struct virt_sysregs pending;
	struct vmx_lazy_state lazy;
	char why[160];             /* detail for VMK_EXIT_ENTRY_FAILED / UNHANDLED */
};

/* Per physical CPU, indexed by cpu_index(); written by that CPU only. */
struct vmx_cpu {
	uint64_t vmxon_phys;
	bool enabled;
	struct vmx_vcpu *current_vmcs; /* whose VMCS is current (VMPTRLD) */
	struct vmx_vcpu *lazy_owner;   /* whose struct vmx_lazy_state the CPU holds */
	uint64_t xcr0;                 /* in the CPU now (the vmkernel never uses XSAVE) */
	uint32_t field_errors;         /* failed VMREADs/VMWRITEs */
	uint32_t last_bad_field;
};

/* MAX_CPUS entries from the frame allocator, set up by the probe: only a
 * machine that runs VMX pays for them. */
extern struct vmx_cpu *vmx_cpus;

/* VMREAD / VMWRITE on the current VMCS. A failure (a field this CPU lacks)
 * is counted in this CPU's struct vmx_cpu, for callers that check. */
void vmx_note_field_error(uint32_t field);

static inline uint64_t vmread(uint32_t field)
{
	uint64_t value;
	bool failed;

	__asm__ volatile("vmread %2, %0" : "=rm"(value), "=@ccbe"(failed) : "r"((uint64_t)field) : "cc");
	if (__builtin_expect(failed, 0)) {
		vmx_note_field_error(field);
		return 0;
	}
	return value;
}

static inline void vmwrite(uint32_t field, uint64_t value)
{
	bool failed;

	__asm__ volatile("vmwrite %1, %2" : "=@ccbe"(failed) : "rm"(value), "r"((uint64_t)field) : "cc");
	if (__builtin_expect(failed, 0))
		vmx_note_field_error(field);
}

/* 0 or -EIO: VMCLEAR / VMPTRLD take the VMCS's physical address. */
int vmx_vmclear(uint64_t vmcs_phys);
int vmx_vmptrld(uint64_t vmcs_phys);
#define VMX_NO_CPU 0xffffffffu
/* Makes v's VMCS current on this CPU (VMPTRLD only when another one is);
 * adopts a VMCS unloaded on another CPU. Every exit asks, and the answer is
 * almost always "it already is": that test is inline. */
int vmx_make_current_slow(struct vmx_vcpu *v);
static inline int vmx_make_current(struct vmx_vcpu *v)
{
	uint32_t cpu = cpu_index();
	if (v->cpu == cpu && vmx_cpus[cpu].current_vmcs == v)
		return 0;
	return vmx_make_current_slow(v);
}

/* vmx_ept.c */
extern struct pt_format vmx_ept_format;
uint64_t vmx_eptp(uint64_t root);
void vmx_ept_setup(void); /* after the capabilities are known */
/* Single-context when the CPU has it, else every context. */
void vmx_invept(uint64_t eptp);
void vmx_invept_all(void);
void vmx_invvpid(uint32_t vpid);
void vmx_invvpid_all(void);
void vmx_flush_gpa(struct virt_vcpu *vcpu);
/* Host-physical mapping of a guest-physical address, through the EPT. */
bool vmx_lookup_gpa(uint64_t root, uint64_t gpa, struct pt_mapping *out);

/* vmx_vmcs.c */
int vmx_vcpu_init(struct virt_vcpu *vcpu);
void vmx_vcpu_free(struct virt_vcpu *vcpu);
void vmx_get_sysregs(struct virt_vcpu *vcpu, struct virt_sysregs *out);
void vmx_set_sysregs(struct virt_vcpu *vcpu, const struct virt_sysregs *in);
/* Writes *s into v's VMCS, which must be current. */
void vmx_set_sysregs_into(struct vmx_vcpu *v, const struct virt_sysregs *s);
/* Writes what set_sysregs stored, if anything, into the current VMCS;
 * true when there was something. */
bool vmx_apply_sysregs(struct vmx_vcpu *v);
bool vmx_interruptible(struct virt_vcpu *vcpu);
/* RIP += length and the STI/MOV-SS shadow ends, as when an instruction
 * completes; cheaper than get/set_sysregs. */
void vmx_skip_instruction(struct virt_vcpu *vcpu, uint32_t length);
uint32_t vmx_guest_cpl(struct virt_vcpu *vcpu);
int vmx_read_guest_msr(struct virt_vcpu *vcpu, uint32_t index, uint64_t *value);
void vmx_set_rip_rflags(struct virt_vcpu *vcpu, uint64_t rip, uint64_t rflags);
void vmx_set_proc_controls(struct vmx_vcpu *v, uint32_t controls);
/* A VMCS cleared on another CPU (vmx_vcpu_unload) becomes active on this
 * one: VMPTRLD and this CPU's host state. */
int vmx_vcpu_adopt(struct vmx_vcpu *v);

/* vmx_paging.c */
/* The guest's view, from the current VMCS (v's). */
void vmx_paging_read(struct vmx_vcpu *v, struct vmx_paging *out);
/* Writes the guest's view and what the CPU runs with for it into the
 * current VMCS; switches the paging-off emulation on or off. */
void vmx_paging_write(struct vmx_vcpu *v, const struct vmx_paging *in);
/* Before an entry: maps the identity table into the VM's EPT when the
 * guest runs on it. 0, -ENOMEM, or -EEXIST (the page is taken). */
int vmx_paging_off_prepare(struct vmx_vcpu *v);
/* A CR-access exit the paging-off emulation causes is handled here
 * (exit->code becomes VMK_EXIT_NONE); others are left to the core. */
void vmx_paging_cr_access(struct vmx_vcpu *v, struct vmk_exit *exit);

/* vmx_run.c */
int vmx_vcpu_run(struct virt_vcpu *vcpu, struct vmk_exit *exit);
void vmx_lazy_state_forget(struct vmx_vcpu *v);
/* Before the vCPU migrates, on the CPU where its VMCS is active: its lazy
 * state saved, VMCLEAR (launch state reset), no CPU until adopted. */
void vmx_vcpu_unload(struct virt_vcpu *vcpu);

/* vmx_check.c: after an "invalid guest state" entry failure, names the
 * first entry check the VMCS's guest state breaks (": ..." or nothing). */
void vmx_explain_guest_state(struct vmx_vcpu *v, char *out, size_t size);

/* vmx_exit.c: fills *exit from the VMCS after a VM exit. */
void vmx_translate_exit(struct vmx_vcpu *v, uint32_t reason, struct vmk_exit *exit);

/* vmx_entry.S: enters the guest with gprs loaded; returns at its exit.
 * 0: a VM exit happened; VMX_SWITCH_FAIL_*: VMLAUNCH/VMRESUME failed. */
#define VMX_SWITCH_FAIL_INVALID 1 /* no current VMCS */
#define VMX_SWITCH_FAIL_VALID 2   /* VM-instruction error field says why */
int vmx_world_switch(uint64_t *gprs, int launched);
void vmx_exit_stub(void);

static inline struct vmx_vcpu *vmx_of(struct virt_vcpu *vcpu)
{
	return vcpu->backend;
}

/*
 * Whether the guest is in IA-32e mode. The CPU rewrites the "IA-32e mode
 * guest" entry control at every VM exit (a guest may turn long mode on by
 * itself: a real-mode AP going through Linux's trampoline with unrestricted
 * guest), so the cached controls are refreshed from the current VMCS first.
 * @pre v's VMCS is current on this CPU.
 */
static inline bool vmx_guest_ia32e(struct vmx_vcpu *v)
{
	v->entry_controls = (uint32_t)vmread(VMCS_ENTRY_CONTROLS);
	return v->entry_controls & ENTRY_IA32E_MODE_GUEST;
}

#endif

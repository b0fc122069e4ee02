/*
 * The neutral interface between the vendor backends (arch/x86/vmx, which
 * alone touches the VMCS, and arch/x86/svm, which alone touches the VMCB)
 * and everything above them. A backend runs a vCPU until something needs
 * the core, translates the hardware's exit into one struct vmk_exit, and
 * returns. The core (vm/) handles exits through a table indexed by
 * enum vmk_exit_code and never learns which backend runs it. The backend is
 * chosen once at boot (virt_select()), through struct virt_ops.
 */
#ifndef KAPSEL_ARCH_X86_VIRT_H
#define KAPSEL_ARCH_X86_VIRT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <arch/x86/pt.h>

enum vmk_exit_code {
	VMK_EXIT_NONE = 0,           /* nothing for the core: re-enter (host IRQ handled, ...) */
	VMK_EXIT_INTERRUPT_WINDOW,   /* the guest can take an interrupt now */
	VMK_EXIT_CPUID,
	VMK_EXIT_IO,                 /* port I/O */
	VMK_EXIT_MMIO,               /* guest-physical access outside guest RAM */
	VMK_EXIT_MSR_READ,
	VMK_EXIT_MSR_WRITE,
	VMK_EXIT_HLT,
	VMK_EXIT_HYPERCALL,          /* VMCALL / VMMCALL */
	VMK_EXIT_TRIPLE_FAULT,       /* shutdown */
	VMK_EXIT_INIT,               /* INIT signal reached this vCPU */
	VMK_EXIT_SIPI,
	VMK_EXIT_CR_ACCESS,
	VMK_EXIT_XSETBV,
	VMK_EXIT_EXCEPTION,          /* an intercepted guest exception */
	VMK_EXIT_PAUSE,
	VMK_EXIT_INVALID_INSTRUCTION, /* VMX/SVM instructions, INVD, ...: #UD for the guest */
	VMK_EXIT_ENTRY_FAILED,       /* the hardware refused the guest state */
	VMK_EXIT_UNHANDLED,          /* a reason the backend cannot translate */
	VMK_EXIT_COUNT
};

struct vmk_exit {
	uint32_t code;             /* enum vmk_exit_code */
	uint32_t hardware_reason;  /* raw VMX exit reason / SVM exit code, for logs and stats */
	uint32_t instruction_length; /* 0: unknown, the core decodes it */
	uint64_t qualification;    /* raw, for logs */
	union {
		struct {
			uint16_t port;
			uint8_t size;  /* 1, 2 or 4 */
			bool in;
			bool string;   /* INS/OUTS */
			bool rep;
			uint8_t address_size; /* INS/OUTS: 2, 4 or 8 bytes */
			uint8_t segment;      /* OUTS: enum virt_segment_id of the source */
		} io;
		struct {
			uint64_t gpa;
			uint64_t gva;  /* when the hardware reports it, else 0 */
			bool gva_valid;
			bool write;
			bool fetch;
		} mmio;
		struct {
			uint32_t index;
			uint64_t value; /* for writes: EDX:EAX */
		} msr;
		struct {
			uint8_t vector;
			bool has_error_code;
			uint32_t error_code;
			uint64_t fault_address; /* #PF: the linear address */
		} exception;
		struct {
			uint8_t cr;    /* 0, 3, 4, 8 */
			bool write;
			uint8_t gpr;   /* register number (0 = rax .. 15 = r15), when known */
			bool gpr_valid;
		} cr;
		struct {
			uint8_t vector;
		} sipi;
		struct {
			uint64_t error;   /* VM-instruction error / exit info */
			const char *why;  /* what the backend could tell */
		} failure;
	};
};

/* General registers, in the order instruction encodings number them. */
enum virt_gpr {
	VIRT_RAX, VIRT_RCX, VIRT_RDX, VIRT_RBX, VIRT_RSP, VIRT_RBP, VIRT_RSI, VIRT_RDI,
	VIRT_R8, VIRT_R9, VIRT_R10, VIRT_R11, VIRT_R12, VIRT_R13, VIRT_R14, VIRT_R15,
	VIRT_GPR_COUNT
};

/* A segment whose attributes have P (bit 7) clear is unusable (VMX's
 * "unusable" bit does not fit in 16 bits); backends enter it that way. */
struct virt_segment {
	uint16_t selector;
	uint16_t attributes; /* VMX access-rights layout: type(4) S DPL(2) P, AVL L D/B G at 12..15 */
	uint32_t limit;      /* byte granular */
	uint64_t base;
};

#define VIRT_SEG_ATTR_CODE_DATA (1u << 4)
#define VIRT_SEG_ATTR_PRESENT (1u << 7)
#define VIRT_SEG_ATTR_LONG (1u << 13)
#define VIRT_SEG_ATTR_DB (1u << 14)
#define VIRT_SEG_ATTR_GRANULARITY (1u << 15)

enum virt_segment_id { VIRT_ES, VIRT_CS, VIRT_SS, VIRT_DS, VIRT_FS, VIRT_GS, VIRT_LDTR, VIRT_TR,
		       VIRT_SEGMENT_COUNT };

/* Architectural state the core reads (instruction emulation, loaders) and
 * writes (reset, loaders). rip, rsp and rflags live here too. */
struct virt_sysregs {
	uint64_t rip, rflags;
	uint64_t cr0, cr2, cr3, cr4, efer;
	uint64_t xcr0;
	struct virt_segment segments[VIRT_SEGMENT_COUNT];
	uint64_t gdtr_base, idtr_base;
	uint32_t gdtr_limit, idtr_limit;
	uint64_t sysenter_cs, sysenter_esp, sysenter_eip;
	uint64_t pat;
	uint64_t dr7;
};

enum virt_event_type {
	VIRT_EVENT_EXTERNAL = 0, /* interrupt from a device model (vLAPIC/vPIC) */
	VIRT_EVENT_NMI = 2,
	VIRT_EVENT_EXCEPTION = 3,
	VIRT_EVENT_SOFTWARE_INT = 4,
};

struct virt_event {
	bool pending;
	uint8_t type;    /* enum virt_event_type */
	uint8_t vector;
	bool has_error_code;
	uint32_t error_code;
};

/*
 * The arch-level half of a vCPU, embedded in vm/'s struct vcpu. The backend
 * owns `backend`; the core owns the rest and the backend honours it on every
 * entry ([c] core writes between runs, [b] backend writes at exit).
 */
struct virt_vcpu {
	uint64_t gprs[VIRT_GPR_COUNT]; /* [b][c] all sixteen, RSP included (the backend syncs it) */
	struct virt_event event;       /* [c] injected on the next entry, then cleared [b] */
	bool want_interrupt_window;    /* [c] exit as soon as the guest can take an interrupt */
	bool sysregs_dirty;            /* [c] set_sysregs was called: reload on entry */
	uint64_t tsc_offset;           /* [c] guest TSC = host TSC + offset */
	uint64_t gpa_root;             /* [c] EPT/NPT root (physical) */
	uint32_t tag;                  /* [c] VPID / ASID, 1.. */
	uint32_t host_cpu;             /* [c] the pCPU running it now (set before every op) */
	void *backend;                 /* [b] VMCS / VMCB and friends */
};

/*
 * Every op that takes a vCPU runs on vcpu->host_cpu (its VMCS is loaded
 * there); flush_gpa from another CPU takes effect at the next entry, so
 * kick the vCPU after it. A vCPU moves to another pCPU only after
 * vcpu_unload on the one it last ran on.
 */
/* The MSRs read_guest_msr() answers. */
#define VIRT_GUEST_MSR_SYSENTER_CS 0x174
#define VIRT_GUEST_MSR_SYSENTER_ESP 0x175
#define VIRT_GUEST_MSR_SYSENTER_EIP 0x176
#define VIRT_GUEST_MSR_PAT 0x277

struct virt_ops {
	const char *name; /* "vmx" or "svm": the ready line's virt= */
	/* Checks this CPU can host guests; on refusal writes why (names the feature). */
	int (*probe)(char *why, size_t why_size);
	/* Turns virtualization on for the calling CPU (VMXON / EFER.SVME). */
	int (*cpu_enable)(void);
	/* The guest-physical page-table format (EPT or NPT) for pt_map(). */
	const struct pt_format *gpa_format;
	int (*vcpu_init)(struct virt_vcpu *vcpu);
	void (*vcpu_free)(struct virt_vcpu *vcpu);
	/* Enters the guest; returns with *exit filled. Called on vcpu->host_cpu
	 * with interrupts disabled; host interrupts cause VMK_EXIT_NONE after
	 * being handled. */
	int (*vcpu_run)(struct virt_vcpu *vcpu, struct vmk_exit *exit);
	void (*get_sysregs)(struct virt_vcpu *vcpu, struct virt_sysregs *out);
	/* A changed RIP also ends any STI / MOV SS interrupt shadow (the core
	 * moved past the instruction that had it). */
	void (*set_sysregs)(struct virt_vcpu *vcpu, const struct virt_sysregs *in);
	/* Moves RIP past the instruction that exited (wrapping as the guest's
	 * mode does) and ends its interrupt shadow: the cheap path of every
	 * emulated instruction. */
	void (*skip_instruction)(struct virt_vcpu *vcpu, uint32_t length);
	/* The cheap halves of get/set_sysregs for the exit paths that need only
	 * these: the guest's privilege level, and RIP/RFLAGS after an emulated
	 * instruction (a changed RIP ends the interrupt shadow). */
	uint32_t (*guest_cpl)(struct virt_vcpu *vcpu);
	void (*set_rip_rflags)(struct virt_vcpu *vcpu, uint64_t rip, uint64_t rflags);
	/* The cheap path of an RDMSR of guest state the VMCS/VMCB holds
	 * (VIRT_GUEST_MSR_*): 0 with *value, or -1 for any other MSR. */
	int (*read_guest_msr)(struct virt_vcpu *vcpu, uint32_t index, uint64_t *value);
	/* Guest would accept an external interrupt now (IF=1, no shadow). */
	bool (*interruptible)(struct virt_vcpu *vcpu);
	/* On the pCPU the vCPU last ran on, before it migrates: afterwards any
	 * pCPU may run it (VMX: VMCLEAR here, VMPTRLD and host state there;
	 * SVM: the new pCPU flushes the vCPU's ASID). */
	void (*vcpu_unload)(struct virt_vcpu *vcpu);
	/* After removing or downgrading guest-physical mappings. */
	void (*flush_gpa)(struct virt_vcpu *vcpu);
	/* Bytes of backend memory per vCPU, for the per-VM overhead figure. */
	uint64_t (*vcpu_overhead)(void);
};

/*
 * What the backends need from the memory manager, which lives above arch/
 * in the layering: the core installs these once, before virt_select().
 */
struct virt_host_services {
	uint64_t (*alloc_zeroed_page)(void); /* physical address, 0 when out of memory */
	/* count physically contiguous zeroed pages (bitmaps), 0 when none. */
	uint64_t (*alloc_zeroed_pages)(unsigned count);
	void (*free_page)(uint64_t phys);
	void *(*phys_to_virt)(uint64_t phys);
	uint64_t (*virt_to_phys)(const void *virt);
};

void virt_set_host_services(const struct virt_host_services *services);
const struct virt_host_services *virt_host(void);

/* Weak: a backend not linked into this build is simply not offered. */
extern const struct virt_ops virt_ops_vmx __attribute__((weak));
extern const struct virt_ops virt_ops_svm __attribute__((weak));

/* Chooses the backend from CPUID once at boot; NULL with *why set when the
 * CPU can host no guests (virt=none). */
const struct virt_ops *virt_select(char *why, size_t why_size);
/* The chosen backend, or NULL. Every exit asks several times: inline.
 * Written only by virt_select() and virt_clear_backend(). */
extern const struct virt_ops *virt_chosen_backend;
static inline const struct virt_ops *virt_backend(void)
{
	return virt_chosen_backend;
}
/* Forgets the backend (it could not be enabled everywhere): no VM starts. */
void virt_clear_backend(void);

#endif

/*
 * The AMD-V (SVM) backend: capability discovery, EFER.SVME and a host save
 * area per CPU, a VMCB per vCPU, nested paging, ASIDs, intercepts, event
 * injection and the translation of #VMEXIT codes into struct vmk_exit.
 * Optional features (NRIPS, flush-by-ASID, decode assists, clean bits,
 * pause filter) are used when present and never required: QEMU's TCG has
 * none of them.
 */
#include <arch/x86/virt.h>

#include <arch/x86/cpu.h>
#include <arch/x86/interrupt.h>
#include <arch/x86/percpu.h>
#include <arch/x86/svm/svm_vmcb.h>
#include <lib/errno.h>
#include <lib/log.h>
#include <lib/printf.h>
#include <lib/spinlock.h>
#include <lib/string.h>

#define MSR_VM_CR 0xc0010114
#define MSR_VM_HSAVE_PA 0xc0010117
#define VM_CR_SVMDIS (1u << 4)
#define EFER_SVME (1ul << 12)

/* CPUID 0x8000000A EDX feature bits. */
#define SVM_FEATURE_NPT (1u << 0)
#define SVM_FEATURE_NRIPS (1u << 3)
#define SVM_FEATURE_FLUSH_BY_ASID (1u << 6)
#define SVM_FEATURE_DECODE_ASSISTS (1u << 7)
#define SVM_FEATURE_PAUSE_FILTER (1u << 10)

#define IOPM_PAGES 3
#define MSRPM_PAGES 2

struct svm_features {
	uint32_t edx;
	uint32_t asid_count;
};

struct svm_vcpu {
	uint8_t *vmcb;
	uint64_t vmcb_phys;
	bool flush_pending;
};

static struct svm_features features;
/* Per CPU: the VM_HSAVE_PA page, and the VMCB the host's FS/GS/TR/...
 * are VMSAVE'd to. MAX_CPUS entries from the frame allocator (global
 * set-up): only a machine that runs SVM pays for them. */
struct svm_host_pages {
	uint64_t save_area;
	uint64_t state_vmcb;
};
static struct svm_host_pages *host_pages;
static uint64_t iopm_phys;                  /* shared: every port intercepted */
static uint64_t msrpm_phys;                 /* shared: all but the pass-through MSRs */

int svm_vmrun(uint64_t vmcb_phys, uint64_t *gprs, uint64_t host_vmcb_phys);

static int svm_probe(char *why, size_t why_size)
{
	if (!cpu_features.svm) {
		snprintf(why, why_size, "the CPU has no SVM");
		return -ENODEV;
	}
	if (rdmsr(MSR_VM_CR) & VM_CR_SVMDIS) {
		snprintf(why, why_size, "SVM is disabled by the firmware (VM_CR.SVMDIS)");
		return -ENODEV;
	}
	if (cpu_features.max_ext_leaf < 0x8000000a) {
		snprintf(why, why_size, "the CPU reports no SVM feature leaf");
		return -ENODEV;
	}
	struct cpuid_regs r = cpuid(0x8000000a, 0);
	features.edx = r.edx;
	features.asid_count = r.ebx;
	if (!(r.edx & SVM_FEATURE_NPT)) {
		snprintf(why, why_size, "SVM without nested paging (NPT) is not supported");
		return -ENODEV;
	}
	if (features.asid_count < 2) {
		snprintf(why, why_size, "SVM reports no guest ASIDs");
		return -ENODEV;
	}
	log_info("svm: revision %u, %u ASIDs, NPT%s%s%s%s\n", r.eax & 0xff, r.ebx,
		 r.edx & SVM_FEATURE_NRIPS ? " NRIPS" : "", r.edx & SVM_FEATURE_FLUSH_BY_ASID ? " flush-by-ASID" : "",
		 r.edx & SVM_FEATURE_DECODE_ASSISTS ? " decode-assists" : "",
		 r.edx & SVM_FEATURE_PAUSE_FILTER ? " pause-filter" : "");
	return 0;
}

static uint64_t alloc_pages_filled(unsigned count, uint8_t fill)
{
	const struct virt_host_services *host = virt_host();
	uint64_t first = host->alloc_zeroed_pages(count);
	if (first)
		memset(host->phys_to_virt(first), fill, count * PAGE_SIZE);
	return first;
}

/* MSR permission map: two bits per MSR (read, write) in three 2 KiB ranges. */
static void msrpm_allow(uint8_t *map, uint32_t msr)
{
	uint32_t base;
	if (msr < 0x2000)
		base = 0;
	else if (msr >= 0xc0000000 && msr < 0xc0002000)
		base = 0x800, msr -= 0xc0000000;
	else if (msr >= 0xc0010000 && msr < 0xc0012000)
		base = 0x1000, msr -= 0xc0010000;
	else
		return;
	map[base + msr / 4] &= (uint8_t)~(3u << ((msr % 4) * 2));
}

static int svm_global_setup(void)
{
	if (iopm_phys)
		return 0;
	if (!host_pages) {
		unsigned count = (unsigned)((sizeof(*host_pages) * MAX_CPUS + PAGE_SIZE - 1) / PAGE_SIZE);
		uint64_t phys = virt_host()->alloc_zeroed_pages(count);
		if (!phys)
			return -ENOMEM;
		host_pages = virt_host()->phys_to_virt(phys);
	}
	iopm_phys = alloc_pages_filled(IOPM_PAGES, 0xff);
	msrpm_phys = alloc_pages_filled(MSRPM_PAGES, 0xff);
	if (!iopm_phys || !msrpm_phys)
		return -ENOMEM;
	uint8_t *msrpm = virt_host()->phys_to_virt(msrpm_phys);
	/* Kept in the VMCB and switched by VMLOAD/VMSAVE: safe to hand over. */
	static const uint32_t pass_through[] = {
		MSR_FS_BASE, MSR_GS_BASE, MSR_KERNEL_GS_BASE,
		0xc0000081 /* STAR */, 0xc0000082 /* LSTAR */, 0xc0000083 /* CSTAR */,
		0xc0000084 /* SFMASK */,
	};
	for (unsigned i = 0; i < sizeof(pass_through) / sizeof(pass_through[0]); i++)
		msrpm_allow(msrpm, pass_through[i]);
	return 0;
}

static struct spinlock svm_setup_lock = SPINLOCK_INIT;

static int svm_cpu_enable(void)
{
	const struct virt_host_services *host = virt_host();
	uint32_t cpu = cpu_index();

	spin_lock(&svm_setup_lock);
	int rc = svm_global_setup();
	spin_unlock(&svm_setup_lock);
	if (rc)
		return rc;
	struct svm_host_pages *pages = &host_pages[cpu];
	pages->save_area = host->alloc_zeroed_page();
	pages->state_vmcb = host->alloc_zeroed_page();
	if (!pages->save_area || !pages->state_vmcb)
		return -ENOMEM;
	wrmsr(MSR_EFER, rdmsr(MSR_EFER) | EFER_SVME);
	wrmsr(MSR_VM_HSAVE_PA, pages->save_area);
	/* The host's FS/GS/TR/LDTR/syscall state, reloaded after every guest run. */
	__asm__ volatile("vmsave %0" : : "a"(pages->state_vmcb) : "memory");
	return 0;
}

static inline struct svm_vcpu *svm_of(struct virt_vcpu *vcpu)
{
	return vcpu->backend;
}

/* VMX access rights <-> the VMCB's 12-bit attribute format. */
static uint16_t attributes_to_vmcb(uint16_t vmx)
{
	return (uint16_t)((vmx & 0xff) | ((vmx >> 4) & 0xf00));
}

static uint16_t attributes_from_vmcb(uint16_t svm)
{
	return (uint16_t)((svm & 0xff) | ((svm & 0xf00) << 4));
}

static const unsigned segment_offsets[VIRT_SEGMENT_COUNT] = {
	[VIRT_ES] = VMCB_ES, [VIRT_CS] = VMCB_CS, [VIRT_SS] = VMCB_SS, [VIRT_DS] = VMCB_DS,
	[VIRT_FS] = VMCB_FS, [VIRT_GS] = VMCB_GS, [VIRT_LDTR] = VMCB_LDTR, [VIRT_TR] = VMCB_TR,
};

static int svm_vcpu_init(struct virt_vcpu *vcpu)
{
	const struct virt_host_services *host = virt_host();
	struct svm_vcpu *svm;
	uint64_t page = host->alloc_zeroed_page();
	/* The backend's per-vCPU struct gets a page of its own, next to the VMCB's. */
	uint64_t state_page = page ? host->alloc_zeroed_page() : 0;

	if (!state_page) {
		if (page)
			host->free_page(page);
		return -ENOMEM;
	}
	svm = host->phys_to_virt(state_page);
	svm->vmcb = host->phys_to_virt(page);
	svm->vmcb_phys = page;
	svm->flush_pending = true;
	vcpu->backend = svm;

	uint8_t *v = svm->vmcb;
	vmcb_write32(v, VMCB_INTERCEPT_EXCEPTIONS, 1u << 6 /* #UD: VMCALL is Intel's hypercall */ |
						   1u << 18 /* #MC: the host's to handle */);
	vmcb_write32(v, VMCB_INTERCEPT_MISC1,
		     SVM_INTERCEPT_INTR | SVM_INTERCEPT_NMI | SVM_INTERCEPT_CPUID | SVM_INTERCEPT_INVD |
			     SVM_INTERCEPT_HLT | SVM_INTERCEPT_IOIO | SVM_INTERCEPT_MSR |
			     SVM_INTERCEPT_SHUTDOWN);
	vmcb_write32(v, VMCB_INTERCEPT_MISC2,
		     SVM_INTERCEPT_VMRUN | SVM_INTERCEPT_VMMCALL | SVM_INTERCEPT_VMLOAD |
			     SVM_INTERCEPT_VMSAVE | SVM_INTERCEPT_STGI | SVM_INTERCEPT_CLGI |
			     SVM_INTERCEPT_SKINIT | SVM_INTERCEPT_MONITOR | SVM_INTERCEPT_MWAIT |
			     SVM_INTERCEPT_XSETBV);
	vmcb_write64(v, VMCB_IOPM_BASE, iopm_phys);
	vmcb_write64(v, VMCB_MSRPM_BASE, msrpm_phys);
	vmcb_write64(v, VMCB_TSC_OFFSET, vcpu->tsc_offset);
	uint32_t asid = 1 + (vcpu->tag - 1) % (features.asid_count - 1);
	vmcb_write32(v, VMCB_ASID, asid);
	vmcb_write64(v, VMCB_VINTR, SVM_VINTR_MASKING);
	vmcb_write64(v, VMCB_NP_ENABLE, 1);
	vmcb_write64(v, VMCB_NESTED_CR3, vcpu->gpa_root);
	vmcb_write64(v, VMCB_G_PAT, 0x0007040600070406ul);
	vmcb_write64(v, VMCB_EFER, EFER_SVME);
	vmcb_write64(v, VMCB_RFLAGS, 2);
	vmcb_write64(v, VMCB_DR6, 0xffff0ff0);
	vmcb_write64(v, VMCB_DR7, 0x400);
	return 0;
}

static void svm_vcpu_free(struct virt_vcpu *vcpu)
{
	const struct virt_host_services *host = virt_host();
	struct svm_vcpu *svm = svm_of(vcpu);
	if (!svm)
		return;
	host->free_page(svm->vmcb_phys);
	host->free_page(host->virt_to_phys(svm));
	vcpu->backend = NULL;
}

static void svm_get_sysregs(struct virt_vcpu *vcpu, struct virt_sysregs *s)
{
	const uint8_t *v = svm_of(vcpu)->vmcb;

	s->rip = vmcb_read64(v, VMCB_RIP);
	s->rflags = vmcb_read64(v, VMCB_RFLAGS);
	s->cr0 = vmcb_read64(v, VMCB_CR0);
	s->cr2 = vmcb_read64(v, VMCB_CR2);
	s->cr3 = vmcb_read64(v, VMCB_CR3);
	s->cr4 = vmcb_read64(v, VMCB_CR4);
	s->efer = vmcb_read64(v, VMCB_EFER) & ~EFER_SVME;
	s->xcr0 = 1;
	for (int i = 0; i < VIRT_SEGMENT_COUNT; i++) {
		const uint8_t *seg = v + segment_offsets[i];
		s->segments[i].selector = *(const uint16_t *)seg;
		s->segments[i].attributes = attributes_from_vmcb(*(const uint16_t *)(seg + 2));
		s->segments[i].limit = *(const uint32_t *)(seg + 4);
		s->segments[i].base = *(const uint64_t *)(seg + 8);
	}
	s->gdtr_limit = vmcb_read32(v, VMCB_GDTR + 4);
	s->gdtr_base = vmcb_read64(v, VMCB_GDTR + 8);
	s->idtr_limit = vmcb_read32(v, VMCB_IDTR + 4);
	s->idtr_base = vmcb_read64(v, VMCB_IDTR + 8);
	s->sysenter_cs = vmcb_read64(v, VMCB_SYSENTER_CS);
	s->sysenter_esp = vmcb_read64(v, VMCB_SYSENTER_ESP);
	s->sysenter_eip = vmcb_read64(v, VMCB_SYSENTER_EIP);
	s->pat = vmcb_read64(v, VMCB_G_PAT);
	s->dr7 = vmcb_read64(v, VMCB_DR7);
}

static void svm_set_sysregs(struct virt_vcpu *vcpu, const struct virt_sysregs *s)
{
	uint8_t *v = svm_of(vcpu)->vmcb;

	/* Moving RIP past an instruction (STI; HLT) ends its interrupt shadow. */
	if (vmcb_read64(v, VMCB_RIP) != s->rip)
		vmcb_write64(v, VMCB_INTERRUPT_SHADOW, 0);
	vmcb_write64(v, VMCB_RIP, s->rip);
	vmcb_write64(v, VMCB_RFLAGS, s->rflags | 2);
	vmcb_write64(v, VMCB_CR0, s->cr0);
	vmcb_write64(v, VMCB_CR2, s->cr2);
	vmcb_write64(v, VMCB_CR3, s->cr3);
	vmcb_write64(v, VMCB_CR4, s->cr4);
	/* VMRUN requires the guest's EFER.SVME; the guest never sees it. */
	vmcb_write64(v, VMCB_EFER, s->efer | EFER_SVME);
	for (int i = 0; i < VIRT_SEGMENT_COUNT; i++) {
		uint8_t *seg = v + segment_offsets[i];
		const struct virt_segment *in = &s->segments[i];
		bool unusable = in->attributes & (1u << 16) || !(in->attributes & VIRT_SEG_ATTR_PRESENT);
		*(uint16_t *)seg = in->selector;
		*(uint16_t *)(seg + 2) = unusable && i != VIRT_CS ? 0 : attributes_to_vmcb(in->attributes);
		*(uint32_t *)(seg + 4) = in->limit;
		*(uint64_t *)(seg + 8) = in->base;
	}
	*(uint8_t *)(v + VMCB_CPL) = (uint8_t)((s->segments[VIRT_SS].attributes >> 5) & 3);
	vmcb_write32(v, VMCB_GDTR + 4, s->gdtr_limit);
	vmcb_write64(v, VMCB_GDTR + 8, s->gdtr_base);
	vmcb_write32(v, VMCB_IDTR + 4, s->idtr_limit);
	vmcb_write64(v, VMCB_IDTR + 8, s->idtr_base);
	vmcb_write64(v, VMCB_SYSENTER_CS, s->sysenter_cs);
	vmcb_write64(v, VMCB_SYSENTER_ESP, s->sysenter_esp);
	vmcb_write64(v, VMCB_SYSENTER_EIP, s->sysenter_eip);
	vmcb_write64(v, VMCB_G_PAT, s->pat);
	vmcb_write64(v, VMCB_DR7, s->dr7 ? s->dr7 : 0x400);
}

static void svm_skip_instruction(struct virt_vcpu *vcpu, uint32_t length)
{
	uint8_t *v = svm_of(vcpu)->vmcb;
	uint64_t rip = vmcb_read64(v, VMCB_RIP) + length;
	/* Outside 64-bit code RIP wraps at 32 bits. */
	bool long_code = (vmcb_read64(v, VMCB_EFER) & (1ul << 10)) && (*(uint16_t *)(v + VMCB_CS + 2) & (1u << 9));
	vmcb_write64(v, VMCB_RIP, long_code ? rip : rip & 0xffffffffu);
	vmcb_write64(v, VMCB_INTERRUPT_SHADOW, 0);
}

static uint32_t svm_guest_cpl(struct virt_vcpu *vcpu)
{
	return *(svm_of(vcpu)->vmcb + VMCB_CPL) & 3;
}

static int svm_read_guest_msr(struct virt_vcpu *vcpu, uint32_t index, uint64_t *value)
{
	const uint8_t *v = svm_of(vcpu)->vmcb;

	switch (index) {
	case VIRT_GUEST_MSR_PAT:
		*value = vmcb_read64(v, VMCB_G_PAT);
		return 0;
	case VIRT_GUEST_MSR_SYSENTER_CS:
		*value = vmcb_read64(v, VMCB_SYSENTER_CS);
		return 0;
	case VIRT_GUEST_MSR_SYSENTER_ESP:
		*value = vmcb_read64(v, VMCB_SYSENTER_ESP);
		return 0;
	case VIRT_GUEST_MSR_SYSENTER_EIP:
		*value = vmcb_read64(v, VMCB_SYSENTER_EIP);
		return 0;
	default:
		return -1;
	}
}

static void svm_set_rip_rflags(struct virt_vcpu *vcpu, uint64_t rip, uint64_t rflags)
{
	uint8_t *v = svm_of(vcpu)->vmcb;
	if (vmcb_read64(v, VMCB_RIP) != rip)
		vmcb_write64(v, VMCB_INTERRUPT_SHADOW, 0);
	vmcb_write64(v, VMCB_RIP, rip);
	vmcb_write64(v, VMCB_RFLAGS, rflags | 2);
}

static bool svm_interruptible(struct virt_vcpu *vcpu)
{
	const uint8_t *v = svm_of(vcpu)->vmcb;
	return (vmcb_read64(v, VMCB_RFLAGS) & RFLAGS_IF) && !(vmcb_read64(v, VMCB_INTERRUPT_SHADOW) & 1);
}

static void svm_flush_gpa(struct virt_vcpu *vcpu)
{
	svm_of(vcpu)->flush_pending = true;
}

static uint64_t svm_vcpu_overhead(void)
{
	return 2 * PAGE_SIZE;
}

/* Instruction lengths when the CPU has no NRIPS: these intercepted
 * instructions have one encoding (prefixes aside, which guests do not use
 * on them; a prefixed one only misleads the guest itself). */
static uint32_t fixed_length(uint64_t code)
{
	switch (code) {
	case SVM_EXIT_HLT:
		return 1;
	case SVM_EXIT_CPUID:
	case SVM_EXIT_MSR:
	case SVM_EXIT_INVD:
	case SVM_EXIT_PAUSE:
		return 2;
	case SVM_EXIT_VMMCALL:
	case SVM_EXIT_XSETBV:
	case SVM_EXIT_MONITOR:
	case SVM_EXIT_MWAIT:
		return 3;
	default:
		return 0;
	}
}

static void translate_exit(struct virt_vcpu *vcpu, struct vmk_exit *e)
{
	const uint8_t *v = svm_of(vcpu)->vmcb;
	uint64_t code = vmcb_read64(v, VMCB_EXIT_CODE);
	uint64_t info1 = vmcb_read64(v, VMCB_EXIT_INFO1);
	uint64_t info2 = vmcb_read64(v, VMCB_EXIT_INFO2);
	uint64_t rip = vmcb_read64(v, VMCB_RIP);

	*e = (struct vmk_exit){ 0 }; /* stores, not a byte-wise rep stosb */
	e->hardware_reason = (uint32_t)code;
	e->qualification = info1;
	if (features.edx & SVM_FEATURE_NRIPS) {
		uint64_t next = vmcb_read64(v, VMCB_NEXT_RIP);
		if (next > rip && next - rip <= 15)
			e->instruction_length = (uint32_t)(next - rip);
	}
	if (!e->instruction_length)
		e->instruction_length = fixed_length(code);

	switch (code) {
	case SVM_EXIT_INTR:
		e->code = VMK_EXIT_NONE;
		break;
	case SVM_EXIT_NMI:
		e->code = VMK_EXIT_NONE;
		/* The NMI was for the host: let its handler run now. */
		__asm__ volatile("int $2");
		break;
	case SVM_EXIT_VINTR:
		e->code = VMK_EXIT_INTERRUPT_WINDOW;
		break;
	case SVM_EXIT_CPUID:
		e->code = VMK_EXIT_CPUID;
		break;
	case SVM_EXIT_HLT:
		e->code = VMK_EXIT_HLT;
		break;
	case SVM_EXIT_VMMCALL:
		e->code = VMK_EXIT_HYPERCALL;
		break;
	case SVM_EXIT_IOIO:
		e->code = VMK_EXIT_IO;
		e->io.in = info1 & 1;
		e->io.string = info1 & (1u << 2);
		e->io.rep = info1 & (1u << 3);
		e->io.size = (info1 & (1u << 4)) ? 1 : (info1 & (1u << 5)) ? 2 : 4;
		e->io.port = (uint16_t)(info1 >> 16);
		e->io.address_size = (info1 & (1u << 7)) ? 2 : (info1 & (1u << 8)) ? 4 : 8;
		e->io.segment = (uint8_t)((info1 >> 10) & 7);
		/* EXITINFO2 holds the next RIP for IOIO, with or without NRIPS. */
		if (info2 > rip && info2 - rip <= 15)
			e->instruction_length = (uint32_t)(info2 - rip);
		break;
	case SVM_EXIT_MSR:
		e->code = info1 ? VMK_EXIT_MSR_WRITE : VMK_EXIT_MSR_READ;
		e->msr.index = (uint32_t)vcpu->gprs[VIRT_RCX];
		e->msr.value = (vcpu->gprs[VIRT_RDX] << 32) | (uint32_t)vmcb_read64(v, VMCB_RAX);
		break;
	case SVM_EXIT_NPF:
		e->code = VMK_EXIT_MMIO;
		e->mmio.gpa = info2;
		e->mmio.write = info1 & (1u << 1);
		e->mmio.fetch = info1 & (1u << 4);
		break;
	case SVM_EXIT_SHUTDOWN:
		e->code = VMK_EXIT_TRIPLE_FAULT;
		break;
	case SVM_EXIT_INIT:
		e->code = VMK_EXIT_INIT;
		break;
	case SVM_EXIT_XSETBV:
		e->code = VMK_EXIT_XSETBV;
		break;
	case SVM_EXIT_PAUSE:
		e->code = VMK_EXIT_PAUSE;
		break;
	case SVM_EXIT_INVD:
	case SVM_EXIT_VMRUN:
	case SVM_EXIT_VMLOAD:
	case SVM_EXIT_VMSAVE:
	case SVM_EXIT_STGI:
	case SVM_EXIT_CLGI:
	case SVM_EXIT_SKINIT:
	case SVM_EXIT_MONITOR:
	case SVM_EXIT_MWAIT:
		e->code = VMK_EXIT_INVALID_INSTRUCTION;
		break;
	case SVM_EXIT_INVALID:
		e->code = VMK_EXIT_ENTRY_FAILED;
		e->failure.why = "VMRUN found the guest state invalid (VMEXIT_INVALID)";
		break;
	default:
		if (code >= SVM_EXIT_EXCEPTION_BASE && code < SVM_EXIT_EXCEPTION_BASE + 32) {
			e->code = VMK_EXIT_EXCEPTION;
			e->exception.vector = (uint8_t)(code - SVM_EXIT_EXCEPTION_BASE);
			/* #DF #TS #NP #SS #GP #PF #AC carry an error code, in EXITINFO1. */
			uint32_t with_error = (1u << 8) | (1u << 10) | (1u << 11) | (1u << 12) | (1u << 13) |
					      (1u << 14) | (1u << 17);
			e->exception.has_error_code = with_error & (1u << e->exception.vector);
			e->exception.error_code = (uint32_t)info1;
			e->exception.fault_address = info2;
			e->instruction_length = 0;
			if (e->exception.vector == 18) {
				/* A machine check in guest context is the host's. */
				__asm__ volatile("int $18");
				e->code = VMK_EXIT_NONE;
			}
		} else {
			e->code = VMK_EXIT_UNHANDLED;
			e->failure.why = "an SVM exit code this backend does not translate";
		}
		break;
	}
}

/* The VMCB holds all guest state and moves as it is; only this ASID's TLB
 * entries on the new CPU may be stale from an earlier stay there. */
static void svm_vcpu_unload(struct virt_vcpu *vcpu)
{
	svm_of(vcpu)->flush_pending = true;
}

static int svm_vcpu_run(struct virt_vcpu *vcpu, struct vmk_exit *exit)
{
	struct svm_vcpu *svm = svm_of(vcpu);
	uint8_t *v = svm->vmcb;
	uint32_t cpu = cpu_index();

	if (cpu != vcpu->host_cpu)
		return -EINVAL; /* the caller's bug, not the guest's */
	vmcb_write64(v, VMCB_TSC_OFFSET, vcpu->tsc_offset);
	vmcb_write64(v, VMCB_RAX, vcpu->gprs[VIRT_RAX]);
	vmcb_write64(v, VMCB_RSP, vcpu->gprs[VIRT_RSP]);
	if (svm->flush_pending) {
		*(v + VMCB_TLB_CONTROL) = SVM_TLB_FLUSH_ALL;
		svm->flush_pending = false;
	} else {
		*(v + VMCB_TLB_CONTROL) = SVM_TLB_NOTHING;
	}
	uint64_t inject = 0;
	if (vcpu->event.pending) {
		const struct virt_event *ev = &vcpu->event;
		inject = SVM_EVENT_VALID | ev->vector | ((uint64_t)ev->type << SVM_EVENT_TYPE_SHIFT);
		if (ev->has_error_code)
			inject |= SVM_EVENT_ERROR_VALID | ((uint64_t)ev->error_code << 32);
		vcpu->event.pending = false;
	}
	vmcb_write64(v, VMCB_EVENT_INJECT, inject);
	uint64_t vintr = SVM_VINTR_MASKING;
	uint32_t misc1 = vmcb_read32(v, VMCB_INTERCEPT_MISC1) & ~SVM_INTERCEPT_VINTR;
	if (vcpu->want_interrupt_window) {
		/* A dummy virtual interrupt: VINTR exits once the guest could take it. */
		vintr |= SVM_VINTR_V_IRQ | SVM_VINTR_IGNORE_TPR | (0xful << SVM_VINTR_PRIORITY_SHIFT);
		misc1 |= SVM_INTERCEPT_VINTR;
	}
	vmcb_write64(v, VMCB_VINTR, vintr);
	vmcb_write32(v, VMCB_INTERCEPT_MISC1, misc1);

	svm_vmrun(svm->vmcb_phys, vcpu->gprs, host_pages[cpu].state_vmcb);

	vcpu->gprs[VIRT_RAX] = vmcb_read64(v, VMCB_RAX);
	vcpu->gprs[VIRT_RSP] = vmcb_read64(v, VMCB_RSP);
	/* An event whose delivery the exit interrupted is delivered again. */
	uint64_t pending = vmcb_read64(v, VMCB_EXIT_INT_INFO);
	if (pending & SVM_EVENT_VALID) {
		uint8_t type = (pending >> SVM_EVENT_TYPE_SHIFT) & 7;
		vcpu->event = (struct virt_event){
			.pending = type != VIRT_EVENT_SOFTWARE_INT,
			.type = type,
			.vector = pending & 0xff,
			.has_error_code = pending & SVM_EVENT_ERROR_VALID,
			.error_code = (uint32_t)(pending >> 32),
		};
	}
	translate_exit(vcpu, exit);
	if (exit->code == VMK_EXIT_NONE) {
		/* Let the host take the interrupt that ended the run. */
		__asm__ volatile("sti; nop; cli" : : : "memory");
	}
	return 0;
}

const struct virt_ops virt_ops_svm = {
	.name = "svm",
	.probe = svm_probe,
	.cpu_enable = svm_cpu_enable,
	.gpa_format = &pt_format_host, /* NPT entries are ordinary long-mode entries (U set) */
	.vcpu_init = svm_vcpu_init,
	.vcpu_free = svm_vcpu_free,
	.vcpu_run = svm_vcpu_run,
	.vcpu_unload = svm_vcpu_unload,
	.get_sysregs = svm_get_sysregs,
	.set_sysregs = svm_set_sysregs,
	.skip_instruction = svm_skip_instruction,
	.guest_cpl = svm_guest_cpl,
	.set_rip_rflags = svm_set_rip_rflags,
	.read_guest_msr = svm_read_guest_msr,
	.interruptible = svm_interruptible,
	.flush_gpa = svm_flush_gpa,
	.vcpu_overhead = svm_vcpu_overhead,
};

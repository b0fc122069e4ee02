#include <vm/msr_policy.h>

#include <arch/x86/cpu.h>
#include <lib/log.h>
#include <public/kapsel_guest.h>
#include <vm/vm.h>

#define MSR_TSC 0x10
#define MSR_PLATFORM_ID 0x17
#define MSR_FEATURE_CONTROL 0x3a
#define MSR_BIOS_SIGN_ID 0x8b
#define MSR_MTRRCAP 0xfe
#define MSR_MCG_CAP 0x179
#define MSR_MCG_STATUS 0x17a
#define MSR_MISC_ENABLE 0x1a0
#define MSR_MTRR_DEF_TYPE 0x2ff
#define MSR_SYSENTER_CS 0x174
#define MSR_SYSENTER_ESP 0x175
#define MSR_SYSENTER_EIP 0x176
#define MSR_TSC_AUX 0xc0000103
#define MSR_AMD_PATCH_LEVEL 0x8b
#define MSR_AMD_HWCR 0xc0010015
#define MSR_AMD_SYSCFG 0xc0010010 /* Linux reads it on every AMD CPU; 0: no SME */
#define MSR_AMD_INT_PENDING 0xc0010055 /* Linux reads it on family 0xf/0x10: 0: no C1E */

/* MTRRs: a fixed, write-back-everything set (8 variable pairs, all
 * invalid; fixed ranges WB; default type WB, MTRRs and fixed ranges on).
 * Guest memory types come from the host mapping anyway, so the MTRRs only
 * have to be consistent: writes are accepted and ignored (Linux copies the
 * BSP's values to every AP). */
#define MSR_MTRR_PHYS_FIRST 0x200
#define MSR_MTRR_PHYS_LAST 0x20f
#define MSR_MTRR_FIX_64K 0x250
#define MSR_MTRR_FIX_16K_FIRST 0x258
#define MSR_MTRR_FIX_16K_LAST 0x259
#define MSR_MTRR_FIX_4K_FIRST 0x268
#define MSR_MTRR_FIX_4K_LAST 0x26f
#define MTRR_CAP_VALUE (8u | (1u << 8) | (1u << 10)) /* VCNT 8, FIX, WC */
#define MTRR_DEF_TYPE_VALUE ((1u << 11) | (1u << 10) | 6u) /* E, FE, WB */
#define MTRR_FIXED_ALL_WB 0x0606060606060606ull

#define MSR_TSC_DEADLINE 0x6e0
#define MSR_X2APIC_FIRST 0x800
#define MSR_X2APIC_LAST 0x8ff

#define APIC_BASE_BSP (1ul << 8)
#define APIC_BASE_ENABLE (1ul << 11)

/* PAT entries must be valid memory types: 0, 1, 4, 5, 6, 7. */
static bool pat_valid(uint64_t pat)
{
	for (int i = 0; i < 8; i++) {
		uint8_t type = (pat >> (i * 8)) & 0xff;
		if (type == 2 || type == 3 || type > 7)
			return false;
	}
	return true;
}

static bool is_fixed_mtrr(uint32_t index)
{
	return index == MSR_MTRR_FIX_64K ||
	       (index >= MSR_MTRR_FIX_16K_FIRST && index <= MSR_MTRR_FIX_16K_LAST) ||
	       (index >= MSR_MTRR_FIX_4K_FIRST && index <= MSR_MTRR_FIX_4K_LAST);
}

static bool is_variable_mtrr(uint32_t index)
{
	return index >= MSR_MTRR_PHYS_FIRST && index <= MSR_MTRR_PHYS_LAST;
}

/* MSRs that belong to the vCPU's local APIC model when it has one. */
static bool apic_msr(const struct vcpu *vcpu, uint32_t index)
{
	return (index == MSR_APIC_BASE || index == MSR_TSC_DEADLINE ||
		(index >= MSR_X2APIC_FIRST && index <= MSR_X2APIC_LAST)) &&
	       vcpu->irq.msr_read;
}

int msr_policy_read(struct vcpu *vcpu, uint32_t index, uint64_t *value)
{
	const struct virt_ops *ops = virt_backend();
	struct virt_sysregs s;

	if (apic_msr(vcpu, index))
		return vcpu->irq.msr_read(vcpu, index, value);
	if (is_fixed_mtrr(index)) {
		*value = MTRR_FIXED_ALL_WB;
		return 0;
	}
	if (is_variable_mtrr(index)) {
		*value = 0;
		return 0;
	}
	switch (index) {
	case MSR_TSC:
		*value = rdtsc() + vcpu->arch.tsc_offset;
		return 0;
	case MSR_APIC_BASE:
		*value = KAPSEL_GUEST_LAPIC_BASE | APIC_BASE_ENABLE | (vcpu->index == 0 ? APIC_BASE_BSP : 0);
		return 0;
	case MSR_PAT:
		if (ops->read_guest_msr && !ops->read_guest_msr(&vcpu->arch, index, value))
			return 0;
		ops->get_sysregs(&vcpu->arch, &s);
		*value = s.pat;
		return 0;
	case MSR_EFER:
		ops->get_sysregs(&vcpu->arch, &s);
		*value = s.efer;
		return 0;
	case MSR_SYSENTER_CS:
	case MSR_SYSENTER_ESP:
	case MSR_SYSENTER_EIP:
		if (ops->read_guest_msr && !ops->read_guest_msr(&vcpu->arch, index, value))
			return 0;
		ops->get_sysregs(&vcpu->arch, &s);
		*value = index == MSR_SYSENTER_CS ? s.sysenter_cs
			 : index == MSR_SYSENTER_ESP ? s.sysenter_esp : s.sysenter_eip;
		return 0;
	case MSR_MISC_ENABLE:
		*value = 1; /* fast strings */
		return 0;
	case MSR_MTRRCAP:
		*value = MTRR_CAP_VALUE;
		return 0;
	case MSR_MTRR_DEF_TYPE:
		*value = MTRR_DEF_TYPE_VALUE;
		return 0;
	case MSR_PLATFORM_ID:
	case MSR_BIOS_SIGN_ID:
	case MSR_MCG_CAP:        /* no machine-check banks */
	case MSR_MCG_STATUS:
	case MSR_TSC_AUX:
	case MSR_AMD_HWCR:
	case MSR_AMD_SYSCFG:
	case MSR_AMD_INT_PENDING:
		*value = 0;
		return 0;
	default:
		log_debug("vm %s: vCPU %u: rdmsr 0x%x: not emulated, #GP\n", vcpu->vm->name, vcpu->index, index);
		return -1;
	}
}

int msr_policy_write(struct vcpu *vcpu, uint32_t index, uint64_t value)
{
	const struct virt_ops *ops = virt_backend();
	struct virt_sysregs s;

	if (apic_msr(vcpu, index) && vcpu->irq.msr_write)
		return vcpu->irq.msr_write(vcpu, index, value);
	if (is_fixed_mtrr(index) || is_variable_mtrr(index))
		return 0;
	switch (index) {
	case MSR_TSC:
		vcpu->arch.tsc_offset = value - rdtsc();
		return 0;
	case MSR_APIC_BASE:
		/* The LAPIC stays where the platform puts it; other values are ignored
		 * as long as they only toggle the enable bit. */
		return (value & ~(APIC_BASE_ENABLE | APIC_BASE_BSP | 0xfff)) == KAPSEL_GUEST_LAPIC_BASE ? 0 : -1;
	case MSR_PAT:
		if (!pat_valid(value))
			return -1;
		ops->get_sysregs(&vcpu->arch, &s);
		s.pat = value;
		ops->set_sysregs(&vcpu->arch, &s);
		return 0;
	case MSR_EFER: {
		/* SCE LME LMA NXE only; LMA is the CPU's to set. */
		uint64_t allowed = EFER_SCE | EFER_LME | (1ul << 10) | EFER_NXE;
		if (value & ~allowed)
			return -1;
		ops->get_sysregs(&vcpu->arch, &s);
		s.efer = (value & ~(1ul << 10)) | (s.efer & (1ul << 10));
		ops->set_sysregs(&vcpu->arch, &s);
		return 0;
	}
	case MSR_SYSENTER_CS:
	case MSR_SYSENTER_ESP:
	case MSR_SYSENTER_EIP:
		ops->get_sysregs(&vcpu->arch, &s);
		if (index == MSR_SYSENTER_CS)
			s.sysenter_cs = value;
		else if (index == MSR_SYSENTER_ESP)
			s.sysenter_esp = value;
		else
			s.sysenter_eip = value;
		ops->set_sysregs(&vcpu->arch, &s);
		return 0;
	case MSR_BIOS_SIGN_ID:   /* microcode update probes: ignored */
	case MSR_MTRR_DEF_TYPE:
	case MSR_MCG_STATUS:
	case MSR_TSC_AUX:
	case MSR_MISC_ENABLE:
		return 0;
	default:
		log_debug("vm %s: vCPU %u: wrmsr 0x%x = 0x%lx: not emulated, #GP\n", vcpu->vm->name,
			  vcpu->index, index, value);
		return -1;
	}
}

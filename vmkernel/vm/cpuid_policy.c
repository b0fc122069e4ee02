#include <vm/cpuid_policy.h>

#include <public/kapsel_guest.h>

/* Leaf 1 ECX: only what needs no vmkernel help.
 * SSE3 PCLMULQDQ SSSE3 CX16 SSE4.1 SSE4.2 MOVBE POPCNT AES RDRAND;
 * hidden: VMX(5) SMX(6) EST TM2 PDCM XSAVE(26) OSXSAVE(27) AVX(28)
 * MONITOR(3), and FMA(12) and F16C(29): VEX instructions on YMM state,
 * which does not exist without XSAVE, so offering them would be
 * inconsistent (Linux and glibc would see FMA without AVX). */
#define L1_ECX_ALLOWED ((1u << 0) | (1u << 1) | (1u << 9) | (1u << 13) | \
			(1u << 19) | (1u << 20) | (1u << 22) | (1u << 23) | (1u << 25) | \
			(1u << 30))
#define L1_ECX_HYPERVISOR (1u << 31)
/* The vLAPIC's, whatever the host has: x2APIC (21) and TSC-deadline (24). */
#define L1_ECX_VLAPIC ((1u << 21) | (1u << 24))
/* 0x80000007 EDX: invariant TSC. Every virtual clock runs off the host TSC
 * at the vmkernel's calibrated rate, so the guest's TSC is its clock. */
#define E7_EDX_INVARIANT_TSC (1u << 8)
/* Leaf 1 EDX: FPU VME DE PSE TSC MSR PAE CX8 APIC SEP MTRR PGE CMOV PAT PSE36
 * CLFSH MMX FXSR SSE SSE2 HTT. Hidden: MCE(7) MCA(14) (no machine-check
 * banks), DS ACPI TM PBE SS. MTRR: a fixed write-back set (msr_policy.c). */
#define L1_EDX_ALLOWED ((1u << 0) | (1u << 1) | (1u << 2) | (1u << 3) | (1u << 4) | \
			(1u << 5) | (1u << 6) | (1u << 8) | (1u << 9) | (1u << 11) | \
			(1u << 12) | (1u << 13) | (1u << 15) | (1u << 16) | (1u << 17) | (1u << 19) | \
			(1u << 23) | (1u << 24) | (1u << 25) | (1u << 26) | (1u << 28))
/* Leaf 7.0 EBX: FSGSBASE BMI1 SMEP BMI2 ERMS ADX SMAP CLFLUSHOPT SHA;
 * hidden: AVX2/AVX-512 (no XSAVE), HLE/RTM, MPX, PT, SGX, INVPCID. */
#define L7_EBX_ALLOWED ((1u << 0) | (1u << 3) | (1u << 7) | (1u << 8) | (1u << 9) | \
			(1u << 19) | (1u << 20) | (1u << 23) | (1u << 29))
/* 0x80000001 ECX: LAHF ABM/LZCNT SSE4A PREFETCHW; hidden: SVM(2) and the rest. */
#define E1_ECX_ALLOWED ((1u << 0) | (1u << 5) | (1u << 6) | (1u << 8))
/* 0x80000001 EDX: SYSCALL NX 1GB-pages RDTSCP LM, and the leaf-1 mirrors AMD keeps. */
#define E1_EDX_ALLOWED ((1u << 11) | (1u << 20) | (1u << 26) | (1u << 27) | (1u << 29) | \
			(L1_EDX_ALLOWED & 0x0183f3ffu))

#define BASIC_MAX_LEAF 0x7u
#define EXTENDED_MAX_LEAF 0x80000008u

struct cpuid_result cpuid_policy(cpuid_source_fn host, const struct cpuid_policy_vcpu *vcpu,
				 uint32_t leaf, uint32_t subleaf)
{
	struct cpuid_result r = { 0, 0, 0, 0 };
	struct cpuid_result max = host(0, 0);
	uint32_t basic_max = max.eax < BASIC_MAX_LEAF ? max.eax : BASIC_MAX_LEAF;
	uint32_t extended_max = host(0x80000000, 0).eax;

	if (extended_max > EXTENDED_MAX_LEAF)
		extended_max = EXTENDED_MAX_LEAF;
	/* Out-of-range basic leaves answer like the highest one, as on real CPUs. */
	if (leaf < 0x40000000 && leaf > basic_max)
		leaf = basic_max;
	switch (leaf) {
	case 0:
		r = max;
		r.eax = basic_max;
		break;
	case 1:
		r = host(1, 0);
		r.ecx = (r.ecx & L1_ECX_ALLOWED) | L1_ECX_HYPERVISOR | L1_ECX_VLAPIC;
		r.edx &= L1_EDX_ALLOWED;
		/* EBX: initial APIC ID, logical processor count, CLFLUSH size, brand. */
		r.ebx = (r.ebx & 0x0000ffffu) | ((vcpu->vcpu_index & 0xff) << 24) |
			((vcpu->vcpu_count & 0xff) << 16);
		if (vcpu->vcpu_count > 1)
			r.edx |= 1u << 28;
		else
			r.edx &= ~(1u << 28);
		break;
	case 2:
	case 4:
		r = host(leaf, subleaf);
		if (leaf == 4)
			r.eax &= 0x3ff; /* cache type and level; no core-count claims */
		break;
	case 7:
		if (subleaf == 0) {
			r = host(7, 0);
			r.eax = 0;
			r.ebx &= L7_EBX_ALLOWED;
			r.ecx = 0;
			r.edx = 0;
		}
		break;
	case KAPSEL_CPUID_BASE:
		r.eax = KAPSEL_CPUID_MAX_LEAF;
		r.ebx = KAPSEL_CPUID_SIGNATURE_EBX;
		r.ecx = KAPSEL_CPUID_SIGNATURE_ECX;
		r.edx = KAPSEL_CPUID_SIGNATURE_EDX;
		break;
	case KAPSEL_CPUID_INFO:
		r.eax = KAPSEL_CPUID_POLICY_VERSION;
		r.ebx = KAPSEL_HYPERCALL_ABI_VERSION;
		r.ecx = 1; /* hw.version */
		break;
	case KAPSEL_CPUID_TIMING:
		r.eax = (uint32_t)vcpu->tsc_khz;
		r.ebx = (uint32_t)vcpu->lapic_khz;
		break;
	case 0x80000000:
		r = host(0x80000000, 0);
		r.eax = extended_max;
		break;
	case 0x80000001:
		if (extended_max >= 0x80000001) {
			r = host(0x80000001, 0);
			r.ebx = 0;
			r.ecx &= E1_ECX_ALLOWED;
			r.edx &= E1_EDX_ALLOWED;
		}
		break;
	case 0x80000002:
	case 0x80000003:
	case 0x80000004:
		if (extended_max >= leaf)
			r = host(leaf, 0);
		break;
	case 0x80000007:
		if (extended_max >= leaf)
			r.edx = E7_EDX_INVARIANT_TSC;
		break;
	case 0x80000008:
		if (extended_max >= leaf) {
			r = host(leaf, 0);
			r.eax &= 0xffff; /* physical and linear address bits */
			r.ebx = 0;
			r.ecx = 0;
			r.edx = 0;
		}
		break;
	default:
		/* Unknown hypervisor or extended leaves: zeros, as on real CPUs. */
		break;
	}
	return r;
}

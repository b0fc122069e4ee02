/*
 * The virtual CPUID policy (vm/cpuid_policy.c) against canned host CPUs:
 * what is hidden, what is added, what stays stable.
 */
#include "unit.h"

#include <public/kapsel_guest.h>
#include <vm/cpuid_policy.h>

/* A host that offers everything: every feature bit set, leaf 0 max 0x1f. */
static struct cpuid_result host_everything(uint32_t leaf, uint32_t subleaf)
{
	(void)subleaf;
	if (leaf == 0)
		return (struct cpuid_result){ 0x1f, 0x756e6547, 0x6c65746e, 0x49656e69 }; /* GenuineIntel */
	if (leaf == 0x80000000)
		return (struct cpuid_result){ 0x80000021, 0, 0, 0 };
	return (struct cpuid_result){ 0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff };
}

/* An old host: basic leaves up to 4, extended up to 0x80000004. */
static struct cpuid_result host_old(uint32_t leaf, uint32_t subleaf)
{
	(void)subleaf;
	if (leaf == 0)
		return (struct cpuid_result){ 4, 1, 2, 3 };
	if (leaf == 0x80000000)
		return (struct cpuid_result){ 0x80000004, 0, 0, 0 };
	if (leaf == 4)
		return (struct cpuid_result){ 0x1234abcd, 5, 6, 7 };
	return (struct cpuid_result){ 0x11, 0x22, 0x33, 0x44 };
}

static const struct cpuid_policy_vcpu vcpu0 = { 0, 2, 2000000, 1000000 };
static const struct cpuid_policy_vcpu vcpu1 = { 1, 2, 2000000, 1000000 };

UNIT_TEST(hypervisor_bit_set_vmx_and_svm_hidden)
{
	struct cpuid_result l1 = cpuid_policy(host_everything, &vcpu0, 1, 0);
	CHECK(l1.ecx & (1u << 31));
	CHECK(!(l1.ecx & (1u << 5))); /* VMX */
	struct cpuid_result e1 = cpuid_policy(host_everything, &vcpu0, 0x80000001, 0);
	CHECK(!(e1.ecx & (1u << 2))); /* SVM */
}

UNIT_TEST(xsave_avx_monitor_hidden)
{
	struct cpuid_result l1 = cpuid_policy(host_everything, &vcpu0, 1, 0);
	CHECK(!(l1.ecx & (1u << 26))); /* XSAVE: FPU state is switched with FXSAVE */
	CHECK(!(l1.ecx & (1u << 27)));
	CHECK(!(l1.ecx & (1u << 28))); /* AVX */
	CHECK(!(l1.ecx & (1u << 3)));  /* MONITOR/MWAIT */
	CHECK(!(l1.ecx & (1u << 12))); /* FMA and F16C need AVX state */
	CHECK(!(l1.ecx & (1u << 29)));
	struct cpuid_result l7 = cpuid_policy(host_everything, &vcpu0, 7, 0);
	CHECK(!(l7.ebx & (1u << 5)));  /* AVX2 */
	CHECK(!(l7.ebx & (1u << 16))); /* AVX-512F */
	CHECK_EQ(l7.ecx, 0);
	CHECK_EQ(l7.edx, 0);
}

/* The vLAPIC's features and the invariant TSC do not depend on the host. */
UNIT_TEST(vlapic_features_and_invariant_tsc_always_shown)
{
	struct cpuid_result old1 = cpuid_policy(host_old, &vcpu0, 1, 0);
	CHECK(old1.ecx & (1u << 21)); /* x2APIC */
	CHECK(old1.ecx & (1u << 24)); /* TSC-deadline */
	struct cpuid_result l1 = cpuid_policy(host_everything, &vcpu1, 1, 0);
	CHECK(l1.ecx & (1u << 21));
	CHECK(l1.ecx & (1u << 24));
	struct cpuid_result e7 = cpuid_policy(host_everything, &vcpu0, 0x80000007, 0);
	CHECK_EQ(e7.edx, 1u << 8);
	CHECK_EQ(e7.eax | e7.ebx | e7.ecx, 0);
}

UNIT_TEST(common_features_pass_through)
{
	struct cpuid_result l1 = cpuid_policy(host_everything, &vcpu0, 1, 0);
	CHECK(l1.edx & (1u << 25)); /* SSE */
	CHECK(l1.edx & (1u << 26)); /* SSE2 */
	CHECK(l1.edx & (1u << 9));  /* APIC */
	CHECK(l1.ecx & (1u << 0));  /* SSE3 */
	struct cpuid_result e1 = cpuid_policy(host_everything, &vcpu0, 0x80000001, 0);
	CHECK(e1.edx & (1u << 29)); /* long mode */
	CHECK(e1.edx & (1u << 20)); /* NX */
}

UNIT_TEST(apic_id_and_count_per_vcpu)
{
	struct cpuid_result a = cpuid_policy(host_everything, &vcpu0, 1, 0);
	struct cpuid_result b = cpuid_policy(host_everything, &vcpu1, 1, 0);
	CHECK_EQ(a.ebx >> 24, 0);
	CHECK_EQ(b.ebx >> 24, 1);
	CHECK_EQ((a.ebx >> 16) & 0xff, 2);
	CHECK(a.edx & (1u << 28)); /* HTT with two logical CPUs */
	struct cpuid_policy_vcpu single = { 0, 1, 1, 1 };
	CHECK(!(cpuid_policy(host_everything, &single, 1, 0).edx & (1u << 28)));
}

UNIT_TEST(kapsel_leaves)
{
	struct cpuid_result base = cpuid_policy(host_everything, &vcpu0, KAPSEL_CPUID_BASE, 0);
	CHECK_EQ(base.eax, KAPSEL_CPUID_MAX_LEAF);
	char signature[13];
	memcpy(signature, &base.ebx, 4);
	memcpy(signature + 4, &base.ecx, 4);
	memcpy(signature + 8, &base.edx, 4);
	signature[12] = '\0';
	CHECK_STR(signature, KAPSEL_CPUID_SIGNATURE);
	struct cpuid_result info = cpuid_policy(host_everything, &vcpu0, KAPSEL_CPUID_INFO, 0);
	CHECK_EQ(info.eax, KAPSEL_CPUID_POLICY_VERSION);
	CHECK_EQ(info.ebx, KAPSEL_HYPERCALL_ABI_VERSION);
	struct cpuid_result timing = cpuid_policy(host_everything, &vcpu0, KAPSEL_CPUID_TIMING, 0);
	CHECK_EQ(timing.eax, 2000000);
	CHECK_EQ(timing.ebx, 1000000);
	CHECK_EQ(cpuid_policy(host_everything, &vcpu0, 0x40000005, 0).eax, 0);
}

UNIT_TEST(max_leaves_capped_and_out_of_range_like_hardware)
{
	CHECK_EQ(cpuid_policy(host_everything, &vcpu0, 0, 0).eax, 7);
	CHECK_EQ(cpuid_policy(host_everything, &vcpu0, 0x80000000, 0).eax, 0x80000008);
	/* Vendor passes through. */
	CHECK_EQ(cpuid_policy(host_everything, &vcpu0, 0, 0).ebx, 0x756e6547);
	/* Above the basic maximum: the answer of the highest basic leaf. */
	struct cpuid_result high = cpuid_policy(host_old, &vcpu0, 0x10, 0);
	struct cpuid_result top = cpuid_policy(host_old, &vcpu0, 4, 0);
	CHECK_EQ(high.eax, top.eax);
	CHECK_EQ(cpuid_policy(host_old, &vcpu0, 0, 0).eax, 4);
	/* Extended leaves past the host's maximum are zero. */
	CHECK_EQ(cpuid_policy(host_old, &vcpu0, 0x80000008, 0).eax, 0);
	/* Leaf 4 keeps only the cache type and level fields. */
	CHECK_EQ(top.eax, 0x1234abcd & 0x3ff);
}

UNIT_TEST(same_question_same_answer)
{
	for (uint32_t leaf = 0; leaf < 0x10; leaf++) {
		struct cpuid_result a = cpuid_policy(host_everything, &vcpu0, leaf, 0);
		struct cpuid_result b = cpuid_policy(host_everything, &vcpu0, leaf, 0);
		CHECK(memcmp(&a, &b, sizeof(a)) == 0);
	}
}

UNIT_MAIN()

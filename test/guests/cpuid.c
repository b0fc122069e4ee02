/*
 * cpuid: the CPUID policy a Kapsel guest sees (kapsel_guest.h): hypervisor
 * bit set, VMX and SVM hidden, the Kapsel leaves, and answers that do not
 * change from call to call. 32-bit protected mode.
 */
#include "guest.h"

const char guest_name[] = "cpuid";

#define LEAF1_ECX_VMX (1u << 5)
#define LEAF1_ECX_HYPERVISOR (1u << 31)
#define EXT1_ECX_SVM (1u << 2)
#define REPEATS 16

/* Every leaf the guests of this suite read (subleaf 0). */
static const uint32_t leaves_used[] = { 0, 1, 7, 0x80000000, 0x80000001, 0x80000008 };

static void check_repeatable(uint32_t leaf, uint32_t subleaf)
{
	struct cpuid_regs first = cpuid(leaf, subleaf);
	for (int i = 0; i < REPEATS; i++) {
		struct cpuid_regs again = cpuid(leaf, subleaf);
		CHECK(!memcmp(&first, &again, sizeof(first)),
		      "leaf 0x%x.%u changed between calls: eax 0x%x->0x%x ebx 0x%x->0x%x ecx 0x%x->0x%x edx 0x%x->0x%x",
		      leaf, subleaf, first.eax, again.eax, first.ebx, again.ebx, first.ecx, again.ecx, first.edx,
		      again.edx);
	}
}

static void check_max_leaves(void)
{
	uint32_t max_basic = cpuid(0, 0).eax, max_extended = cpuid(0x80000000, 0).eax;
	CHECK(max_extended >= 0x80000000 && max_extended < 0x80000100, "leaf 0x80000000 max 0x%x is not sane",
	      max_extended);
	for (unsigned i = 0; i < sizeof(leaves_used) / sizeof(leaves_used[0]); i++) {
		uint32_t leaf = leaves_used[i];
		uint32_t max = leaf >= 0x80000000 ? max_extended : max_basic;
		CHECK(leaf <= max, "leaf 0x%x is used but the max leaf is 0x%x", leaf, max);
		check_repeatable(leaf, 0);
	}
	guest_printf("cpuid: max basic 0x%x, max extended 0x%x\n", max_basic, max_extended);
}

static void check_apic_id_matches(void)
{
	uint32_t initial_apic_id = cpuid(1, 0).ebx >> 24;
	CHECK_EQ(initial_apic_id, lapic_id(), "leaf 1 EBX[31:24] initial APIC ID vs LAPIC ID register");
}

static void check_kapsel_leaves(void)
{
	struct cpuid_regs leaf1 = cpuid(1, 0);
	CHECK(leaf1.ecx & LEAF1_ECX_HYPERVISOR, "leaf 1 ECX bit 31 (hypervisor present) clear");
	CHECK(!(leaf1.ecx & LEAF1_ECX_VMX), "leaf 1 ECX bit 5 (VMX) shown to the guest");
	CHECK(!(cpuid(0x80000001, 0).ecx & EXT1_ECX_SVM), "leaf 0x80000001 ECX bit 2 (SVM) shown to the guest");

	struct cpuid_regs base = cpuid(KAPSEL_CPUID_BASE, 0);
	char signature[13];
	memcpy(signature, &base.ebx, 4);
	memcpy(signature + 4, &base.ecx, 4);
	memcpy(signature + 8, &base.edx, 4);
	signature[12] = '\0';
	CHECK(!memcmp(signature, KAPSEL_CPUID_SIGNATURE, 12), "signature \"%s\"", signature);
	CHECK(base.eax >= KAPSEL_CPUID_MAX_LEAF && base.eax <= KAPSEL_CPUID_BASE + 0xff,
	      "leaf 0x40000000 EAX (max leaf) 0x%x, want >= 0x%x", base.eax, KAPSEL_CPUID_MAX_LEAF);

	struct cpuid_regs info = cpuid(KAPSEL_CPUID_INFO, 0);
	CHECK_EQ(info.eax, KAPSEL_CPUID_POLICY_VERSION, "leaf 0x40000001 EAX (CPUID policy version)");
	CHECK_EQ(info.ebx, KAPSEL_HYPERCALL_ABI_VERSION, "leaf 0x40000001 EBX (hypercall ABI version)");
	CHECK(info.ecx >= 1, "leaf 0x40000001 ECX (hw.version) is 0");

	struct cpuid_regs timing = cpuid(KAPSEL_CPUID_TIMING, 0);
	CHECK(timing.eax, "leaf 0x40000010 EAX (TSC kHz) is 0");
	CHECK(timing.ebx, "leaf 0x40000010 EBX (LAPIC timer kHz) is 0");

	for (uint32_t leaf = KAPSEL_CPUID_BASE; leaf <= KAPSEL_CPUID_MAX_LEAF; leaf++)
		check_repeatable(leaf, 0);
	guest_printf("cpuid: %s max 0x%x policy %u abi %u hw.version %u tsc %u kHz lapic timer %u kHz\n", signature,
		     base.eax, info.eax, info.ebx, info.ecx, timing.eax, timing.ebx);
}

void guest_main(uint32_t multiboot_info)
{
	(void)multiboot_info;
	check_max_leaves();
	check_apic_id_matches();
	if (!skip_unless_kapsel("hypervisor leaves, VMX/SVM hidden"))
		check_kapsel_leaves();
}

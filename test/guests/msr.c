/*
 * msr: RDMSR/WRMSR policy. MSRs a guest OS needs work: the TSC counts and
 * can be written, IA32_APIC_BASE shows the LAPIC at 0xfee00000 enabled on
 * the BSP, EFER shows long mode and keeps SCE, PAT starts at its power-on
 * value and keeps what is written, MISC_ENABLE reads, the segment-base,
 * SYSENTER and SYSCALL MSRs keep what is written, SWAPGS swaps. MSRs the
 * VM must not have (SVM's VM_HSAVE_PA, VMX capabilities, writing
 * FEATURE_CONTROL or EFER.SVME, an index nothing implements, a PAT with a
 * reserved memory type) raise #GP with error code 0 in the guest, leaving
 * EDX:EAX untouched. 64-bit long mode.
 */
#include "guest.h"

const char guest_name[] = "msr";

#define APIC_BASE_BSP (1ull << 8)
#define APIC_BASE_X2APIC (1ull << 10)
#define APIC_BASE_ENABLE (1ull << 11)
#define PAT_POWER_ON 0x0007040600070406ull
#define MSR_SYSENTER_CS 0x174u
#define MSR_SYSENTER_ESP 0x175u
#define MSR_SYSENTER_EIP 0x176u
#define MSR_VMX_BASIC 0x480u
#define MSR_UNIMPLEMENTED 0x12345678u
/* What a faulting RDMSR must leave in EDX:EAX (nothing is written). */
#define UNTOUCHED 0x5a5a5a5aa5a5a5a5ull

/* RDMSR with EDX:EAX preloaded, so a #GP that is skipped shows whether
 * anything was written. The handler skips the 2-byte instruction. */
static uint64_t rdmsr_preloaded(uint32_t index)
{
	uint32_t low = (uint32_t)UNTOUCHED, high = (uint32_t)(UNTOUCHED >> 32);
	__asm__ volatile("rdmsr" : "+a"(low), "+d"(high) : "c"(index));
	return ((uint64_t)high << 32) | low;
}

static void expect_gp_on_read(uint32_t index, const char *name)
{
	guest_catch(VECTOR_GP, 2);
	uint64_t value = rdmsr_preloaded(index);
	CHECK(guest_caught.count == 1, "rdmsr 0x%x (%s) did not fault: read 0x%llx", index, name,
	      (unsigned long long)value);
	CHECK(guest_caught.vector == VECTOR_GP && guest_caught.error_code == 0,
	      "rdmsr 0x%x (%s): vector %u error 0x%lx, want #GP(0)", index, name, guest_caught.vector,
	      (unsigned long)guest_caught.error_code);
	CHECK_EQ(value, UNTOUCHED, "EDX:EAX after a faulting rdmsr");
	guest_uncatch(VECTOR_GP);
}

static void expect_gp_on_write(uint32_t index, uint64_t value, const char *name)
{
	guest_catch(VECTOR_GP, 2);
	wrmsr(index, value);
	CHECK(guest_caught.count == 1, "wrmsr 0x%x (%s) value 0x%llx did not fault", index, name,
	      (unsigned long long)value);
	CHECK(guest_caught.vector == VECTOR_GP && guest_caught.error_code == 0,
	      "wrmsr 0x%x (%s): vector %u error 0x%lx, want #GP(0)", index, name, guest_caught.vector,
	      (unsigned long)guest_caught.error_code);
	guest_uncatch(VECTOR_GP);
}

static void check_round_trip(uint32_t index, uint64_t value, const char *name)
{
	uint64_t saved = rdmsr(index);
	wrmsr(index, value);
	uint64_t read_back = rdmsr(index);
	wrmsr(index, saved);
	CHECK(read_back == value, "%s (0x%x): wrote 0x%llx read 0x%llx", name, index, (unsigned long long)value,
	      (unsigned long long)read_back);
}

static void check_tsc(void)
{
	uint64_t before = rdtsc_ordered(), msr = rdmsr(MSR_IA32_TSC), after = rdtsc_ordered();
	CHECK(before <= msr && msr <= after, "IA32_TSC 0x%llx not between RDTSCs 0x%llx and 0x%llx",
	      (unsigned long long)msr, (unsigned long long)before, (unsigned long long)after);
	/* A write moves the counter forward; it keeps counting from there. */
	uint64_t target = after + (1ull << 40);
	wrmsr(MSR_IA32_TSC, target);
	uint64_t now = rdtsc_ordered();
	CHECK(now >= target && now - target < (1ull << 36), "TSC after writing 0x%llx reads 0x%llx",
	      (unsigned long long)target, (unsigned long long)now);
}

static void check_allowed(void)
{
	/* QEMU's TCG CPU reads IA32_TSC as 0. */
	if (!skip_unless_kapsel("IA32_TSC: bare QEMU reads it as 0"))
		check_tsc();

	uint64_t apic_base = rdmsr(MSR_IA32_APIC_BASE);
	CHECK_EQ(apic_base & ~0xfffull, KAPSEL_GUEST_LAPIC_BASE, "IA32_APIC_BASE address");
	CHECK_EQ(apic_base & (APIC_BASE_ENABLE | APIC_BASE_X2APIC | APIC_BASE_BSP), APIC_BASE_ENABLE | APIC_BASE_BSP,
		 "IA32_APIC_BASE enable/x2APIC/BSP bits on the boot CPU");

	uint64_t efer = rdmsr(MSR_EFER);
	CHECK((efer & (EFER_LME | EFER_LMA)) == (EFER_LME | EFER_LMA), "EFER 0x%llx: LME/LMA not both set in long mode",
	      (unsigned long long)efer);
	wrmsr(MSR_EFER, efer | EFER_SCE);
	CHECK(rdmsr(MSR_EFER) & EFER_SCE, "EFER.SCE did not stick");
	wrmsr(MSR_EFER, efer & ~(uint64_t)EFER_SCE);
	CHECK(!(rdmsr(MSR_EFER) & EFER_SCE), "EFER.SCE did not clear");
	wrmsr(MSR_EFER, efer);

	uint64_t pat = rdmsr(MSR_IA32_PAT);
	CHECK_EQ(pat, PAT_POWER_ON, "IA32_PAT at start (the power-on value)");
	check_round_trip(MSR_IA32_PAT, 0x0007010600070106ull, "IA32_PAT (WC in entries 1 and 5)");

	uint64_t misc = rdmsr(MSR_IA32_MISC_ENABLE);

	check_round_trip(MSR_FS_BASE, 0x00007fffdeadb000ull, "FS.base");
	check_round_trip(MSR_GS_BASE, 0xffff800012345000ull, "GS.base");
	check_round_trip(MSR_KERNEL_GS_BASE, 0x0000123456789000ull, "KERNEL_GS_BASE");
	check_round_trip(MSR_SYSENTER_CS, SELECTOR_KERNEL_CODE, "SYSENTER_CS");
	check_round_trip(MSR_SYSENTER_ESP, 0xffff800000001000ull, "SYSENTER_ESP");
	check_round_trip(MSR_SYSENTER_EIP, 0xffff800000002000ull, "SYSENTER_EIP");
	check_round_trip(MSR_STAR, 0x0023000800000000ull, "STAR");
	check_round_trip(MSR_LSTAR, 0xffffffff81000000ull, "LSTAR");
	check_round_trip(MSR_SFMASK, 0x47700, "SFMASK");

	uint64_t gs = rdmsr(MSR_GS_BASE), kernel_gs = rdmsr(MSR_KERNEL_GS_BASE);
	wrmsr(MSR_GS_BASE, 0x1000);
	wrmsr(MSR_KERNEL_GS_BASE, 0x2000);
	__asm__ volatile("swapgs");
	uint64_t swapped_gs = rdmsr(MSR_GS_BASE), swapped_kernel_gs = rdmsr(MSR_KERNEL_GS_BASE);
	wrmsr(MSR_GS_BASE, gs);
	wrmsr(MSR_KERNEL_GS_BASE, kernel_gs);
	CHECK(swapped_gs == 0x2000 && swapped_kernel_gs == 0x1000, "swapgs: GS.base 0x%llx KERNEL_GS_BASE 0x%llx",
	      (unsigned long long)swapped_gs, (unsigned long long)swapped_kernel_gs);
	guest_printf("msr: allowed MSRs ok (APIC_BASE 0x%llx EFER 0x%llx MISC_ENABLE 0x%llx)\n",
		     (unsigned long long)apic_base, (unsigned long long)efer, (unsigned long long)misc);
}

static void check_denied(void)
{
	expect_gp_on_read(MSR_AMD_VM_HSAVE_PA, "VM_HSAVE_PA");
	expect_gp_on_read(MSR_VMX_BASIC, "IA32_VMX_BASIC");
	expect_gp_on_read(MSR_UNIMPLEMENTED, "unimplemented");
	expect_gp_on_write(MSR_UNIMPLEMENTED, 1, "unimplemented");
	expect_gp_on_write(MSR_IA32_FEATURE_CONTROL, 0x5, "IA32_FEATURE_CONTROL lock+VMX");
	expect_gp_on_write(MSR_AMD_VM_HSAVE_PA, 0x100000, "VM_HSAVE_PA");
	expect_gp_on_write(MSR_EFER, rdmsr(MSR_EFER) | EFER_SVME, "EFER.SVME");
	CHECK(!(rdmsr(MSR_EFER) & EFER_SVME), "EFER.SVME set after a refused write");
	expect_gp_on_write(MSR_IA32_PAT, 0x0007040600070402ull, "IA32_PAT with reserved type 2");
	CHECK_EQ(rdmsr(MSR_IA32_PAT), PAT_POWER_ON, "IA32_PAT after a refused write");
	guest_printf("msr: denied MSRs raise #GP(0)\n");
}

void guest_main(uint32_t multiboot_info)
{
	(void)multiboot_info;
	check_allowed();
	/* QEMU's TCG CPU ignores unknown MSRs instead of raising #GP. */
	if (!skip_unless_kapsel("denied MSRs: bare QEMU does not raise #GP for them"))
		check_denied();
}

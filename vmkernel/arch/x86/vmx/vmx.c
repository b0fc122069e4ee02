/*
 * VT-x capabilities, the probe, VMXON on each CPU, and the ops table.
 *
 * Every VMX control has allowed settings the CPU reports in a capability
 * MSR: the low 32 bits are the bits that must be 1, the high 32 bits the
 * bits that may be 1. When IA32_VMX_BASIC bit 55 is set, the TRUE_* MSRs
 * report them more precisely (some "default1" bits become optional, e.g.
 * CR3-load exiting), so those are used instead. The probe decides every
 * control once; a VMCS starts from that choice.
 */
#include "vmx.h"

#include <arch/x86/cpu.h>
#include <lib/errno.h>
#include <lib/log.h>
#include <lib/printf.h>
#include <lib/string.h>

#define CPUID_1_ECX_VMX (1u << 5)
#define CPUID_1_ECX_XSAVE (1u << 26)
#define CPUID_7_EBX_INVPCID (1u << 10)
#define CR0_PE (1ul << 0)
#define CR0_NE (1ul << 5)
#define CR0_PG (1ul << 31)
#define CR4_VMXE (1ul << 13)
#define CR4_OSXSAVE (1ul << 18)
#define XCR0_X87 (1ul << 0)

struct vmx_caps vmx_caps;
struct vmx_cpu *vmx_cpus;

static struct vmx_allowed read_allowed(uint32_t msr)
{
	uint64_t v = rdmsr(msr);
	return (struct vmx_allowed){ .must_be_one = (uint32_t)v, .may_be_one = (uint32_t)(v >> 32) };
}

/* The wanted bits as far as the CPU allows them, plus the ones it insists on. */
static uint32_t settle(struct vmx_allowed allowed, uint32_t wanted)
{
	return (wanted | allowed.must_be_one) & allowed.may_be_one;
}

static bool can_set(struct vmx_allowed allowed, uint32_t bits)
{
	return (allowed.may_be_one & bits) == bits;
}

struct required_control {
	const struct vmx_allowed *allowed;
	uint32_t bits;
	const char *name;
};

/* Reads every capability MSR the CPU has; the EPT/VPID MSR only when the
 * secondary controls can enable one of them (it faults otherwise). */
static void read_capabilities(struct vmx_caps *c)
{
	bool true_controls;

	c->basic = rdmsr(MSR_VMX_BASIC);
	c->revision = (uint32_t)(c->basic & VMX_BASIC_REVISION_MASK);
	c->region_size = (uint32_t)VMX_BASIC_REGION_SIZE(c->basic);
	true_controls = c->basic & VMX_BASIC_TRUE_CONTROLS;
	c->pin = read_allowed(true_controls ? MSR_VMX_TRUE_PINBASED_CTLS : MSR_VMX_PINBASED_CTLS);
	c->proc = read_allowed(true_controls ? MSR_VMX_TRUE_PROCBASED_CTLS : MSR_VMX_PROCBASED_CTLS);
	c->exit = read_allowed(true_controls ? MSR_VMX_TRUE_EXIT_CTLS : MSR_VMX_EXIT_CTLS);
	c->entry = read_allowed(true_controls ? MSR_VMX_TRUE_ENTRY_CTLS : MSR_VMX_ENTRY_CTLS);
	c->proc2 = (struct vmx_allowed){ 0, 0 };
	if (can_set(c->proc, PROC_SECONDARY_CONTROLS))
		c->proc2 = read_allowed(MSR_VMX_PROCBASED_CTLS2);
	c->ept_vpid = 0;
	if (c->proc2.may_be_one & (PROC2_ENABLE_EPT | PROC2_ENABLE_VPID))
		c->ept_vpid = rdmsr(MSR_VMX_EPT_VPID_CAP);
	c->misc = rdmsr(MSR_VMX_MISC);
	c->cr0_fixed0 = rdmsr(MSR_VMX_CR0_FIXED0);
	c->cr0_fixed1 = rdmsr(MSR_VMX_CR0_FIXED1);
	c->cr4_fixed0 = rdmsr(MSR_VMX_CR4_FIXED0);
	c->cr4_fixed1 = rdmsr(MSR_VMX_CR4_FIXED1);
}

/*
 * The controls every VMCS starts from, and why:
 * - pin: external interrupts and NMIs exit (the host owns the CPU's
 *   interrupts); virtual NMIs so guest NMI blocking is tracked per guest.
 * - primary: HLT exits (the core deschedules); CR8 accesses exit (the guest
 *   would otherwise write the host LAPIC's TPR); MWAIT/MONITOR exit (the
 *   guest would otherwise sleep the physical CPU) and become #UD, as CPUID
 *   hides them; RDPMC exits (no virtual PMU, the host's counters stay
 *   private); I/O and MSR bitmaps; TSC offsetting. CPUID, INVD, XSETBV,
 *   GETSEC and the VMX instructions exit by architecture. CR3 accesses do
 *   not exit: with EPT, CR3 is the guest's own (except while a guest without
 *   unrestricted guest runs with paging off: vmx_paging.c).
 * - secondary: EPT; VPID (TLB entries survive exits); unrestricted guest
 *   (real mode and paging-off guests); PAUSE-loop exiting instead of exits
 *   on every PAUSE; RDTSCP, INVPCID, XSAVES enabled when the CPU has them so
 *   a guest that sees them in CPUID does not take #UD.
 * - exit: 64-bit host; EFER and PAT saved and loaded (the vmkernel's PAT
 *   has its own WC entry); interrupts are not acknowledged on exit: the
 *   host takes them through its IDT once interrupts are enabled again.
 * - entry: EFER and PAT loaded; debug controls (DR7, DEBUGCTL) loaded;
 *   IA-32e mode guest follows the guest's EFER.LMA.
 */
static void choose_controls(struct vmx_caps *c)
{
	c->pin_controls = settle(c->pin, PIN_EXTERNAL_INTERRUPT_EXITING | PIN_NMI_EXITING |
					  PIN_VIRTUAL_NMIS);
	c->virtual_nmis = c->pin_controls & PIN_VIRTUAL_NMIS;
	c->proc_controls = settle(c->proc, PROC_USE_TSC_OFFSETTING | PROC_HLT_EXITING |
					   PROC_MWAIT_EXITING | PROC_RDPMC_EXITING |
					   PROC_CR8_LOAD_EXITING | PROC_CR8_STORE_EXITING |
					   PROC_USE_IO_BITMAPS | PROC_USE_MSR_BITMAPS |
					   PROC_MONITOR_EXITING | PROC_SECONDARY_CONTROLS);
	uint32_t proc2 = PROC2_ENABLE_EPT | PROC2_ENABLE_VPID | PROC2_UNRESTRICTED_GUEST |
			 PROC2_PAUSE_LOOP_EXITING | PROC2_ENABLE_RDTSCP | PROC2_ENABLE_XSAVES;
	/* INVPCID is enabled only together with CPUID's INVPCID bit: the
	 * control's 1-setting is reported even where the instruction is absent. */
	if (cpu_features.max_leaf >= 7 && (cpuid(7, 0).ebx & CPUID_7_EBX_INVPCID))
		proc2 |= PROC2_ENABLE_INVPCID;
	c->proc2_controls = settle(c->proc2, proc2);
	c->vpid = (c->proc2_controls & PROC2_ENABLE_VPID) && (c->ept_vpid & VMX_VPID_INVVPID) &&
		  (c->ept_vpid & (VMX_VPID_INVVPID_SINGLE | VMX_VPID_INVVPID_ALL));
	if (!c->vpid)
		c->proc2_controls &= ~PROC2_ENABLE_VPID;
	c->unrestricted_guest = c->proc2_controls & PROC2_UNRESTRICTED_GUEST;
	c->exit_controls = settle(c->exit, EXIT_HOST_ADDRESS_SPACE_SIZE | EXIT_SAVE_PAT |
					   EXIT_LOAD_PAT | EXIT_SAVE_EFER | EXIT_LOAD_EFER |
					   EXIT_SAVE_DEBUG_CONTROLS);
	c->entry_controls = settle(c->entry, ENTRY_LOAD_PAT | ENTRY_LOAD_EFER |
					     ENTRY_LOAD_DEBUG_CONTROLS) &
			    ~ENTRY_IA32E_MODE_GUEST;

	/* CR0/CR4: FIXED0 bits must be 1, bits clear in FIXED1 must be 0 while
	 * in VMX operation. Unrestricted guest frees PE and PG; without it they
	 * stay host-owned, so the guest's changes of them exit (vmx_paging.c). */
	uint64_t cr0_free = c->unrestricted_guest ? (CR0_PE | CR0_PG) : 0;
	c->cr0_forced_on = c->cr0_fixed0 & ~cr0_free;
	c->cr0_allowed = c->cr0_fixed1 | cr0_free;
	c->cr0_host_owned = (c->cr0_forced_on | ~c->cr0_allowed) & 0xffffffffu;
	c->cr4_forced_on = c->cr4_fixed0;
	c->cr4_allowed = c->cr4_fixed1;
	c->cr4_host_owned = (c->cr4_forced_on | ~c->cr4_allowed) & 0xffffffffu;
}

/* Names the first required control the CPU cannot set, or NULL. */
static const char *missing_control(const struct vmx_caps *c)
{
	const struct required_control required[] = {
		{ &c->pin, PIN_EXTERNAL_INTERRUPT_EXITING, "external-interrupt exiting" },
		{ &c->pin, PIN_NMI_EXITING, "NMI exiting" },
		{ &c->proc, PROC_HLT_EXITING, "HLT exiting" },
		{ &c->proc, PROC_USE_TSC_OFFSETTING, "TSC offsetting" },
		{ &c->proc, PROC_CR8_LOAD_EXITING | PROC_CR8_STORE_EXITING, "CR8 exiting" },
		{ &c->proc, PROC_USE_IO_BITMAPS, "I/O bitmaps" },
		{ &c->proc, PROC_USE_MSR_BITMAPS, "MSR bitmaps" },
		{ &c->proc, PROC_SECONDARY_CONTROLS, "secondary controls (so no EPT)" },
		{ &c->proc2, PROC2_ENABLE_EPT, "EPT (extended page tables)" },
		{ &c->exit, EXIT_HOST_ADDRESS_SPACE_SIZE, "64-bit host on VM exit" },
		{ &c->exit, EXIT_SAVE_EFER | EXIT_LOAD_EFER, "EFER save/load on VM exit" },
		{ &c->exit, EXIT_SAVE_PAT | EXIT_LOAD_PAT, "PAT save/load on VM exit" },
		{ &c->entry, ENTRY_LOAD_EFER | ENTRY_LOAD_PAT, "EFER/PAT load on VM entry" },
		{ &c->entry, ENTRY_IA32E_MODE_GUEST, "64-bit guests" },
	};
	for (size_t i = 0; i < sizeof(required) / sizeof(required[0]); i++)
		if (!can_set(*required[i].allowed, required[i].bits))
			return required[i].name;
	/* Controls the backend must be able to turn off. */
	if (c->proc.must_be_one & (PROC_CR3_LOAD_EXITING | PROC_CR3_STORE_EXITING))
		return "CR3 accesses without exits";
	if (c->proc.must_be_one & (PROC_UNCONDITIONAL_IO_EXITING | PROC_INVLPG_EXITING))
		return "guests running without forced I/O or INVLPG exits";
	return NULL;
}

static const char *missing_ept_feature(const struct vmx_caps *c)
{
	if (!(c->ept_vpid & VMX_EPT_WALK_LENGTH_4))
		return "4-level EPT";
	if (!(c->ept_vpid & VMX_EPT_WB))
		return "write-back EPT structures";
	/* pt_format cannot say "no 2 MiB leaves", and the core maps guest RAM
	 * in 2 MiB pages. */
	if (!(c->ept_vpid & VMX_EPT_2M_PAGES))
		return "2 MiB EPT pages";
	if (!(c->ept_vpid & VMX_EPT_INVEPT) ||
	    !(c->ept_vpid & (VMX_EPT_INVEPT_SINGLE | VMX_EPT_INVEPT_ALL)))
		return "INVEPT";
	return NULL;
}

/* Pages every VMCS shares: the I/O bitmaps (every port exits) and the MSR
 * bitmap. A bit set in a bitmap means "exit". */
static int allocate_shared_pages(struct vmx_caps *c)
{
	const struct virt_host_services *host = virt_host();
	uint64_t pages[3];

	for (int i = 0; i < 3; i++) {
		pages[i] = host->alloc_zeroed_page();
		if (!pages[i]) {
			while (i--)
				host->free_page(pages[i]);
			return -ENOMEM;
		}
		memset(host->phys_to_virt(pages[i]), 0xff, PAGE_SIZE);
	}
	c->io_bitmap_a = pages[0];
	c->io_bitmap_b = pages[1];
	c->msr_bitmap = pages[2];
	return 0;
}

/* The MSR bitmap: read bits for MSRs 0..0x1fff at offset 0, for
 * 0xc0000000..0xc0001fff at 1024; write bits at 2048 and 3072. */
static void msr_pass_through(uint8_t *bitmap, uint32_t msr)
{
	uint32_t base = msr >= 0xc0000000u ? 1024 : 0;
	uint32_t bit = msr & 0x1fff;

	bitmap[base + bit / 8] &= (uint8_t) ~(1u << (bit % 8));
	bitmap[2048 + base + bit / 8] &= (uint8_t) ~(1u << (bit % 8));
}

/*
 * MSRs the guest reads and writes without exits, because the hardware
 * switches them (FS/GS base and SYSENTER are guest-state fields), or because
 * the vmkernel never uses them and the backend swaps them between vCPUs
 * (struct vmx_lazy_state). Everything else exits to the core's MSR policy,
 * EFER and PAT included (the core checks the values).
 */
static void fill_msr_bitmap(const struct vmx_caps *c)
{
	uint8_t *bitmap = virt_host()->phys_to_virt(c->msr_bitmap);
	static const uint32_t always[] = {
		MSR_FS_BASE, MSR_GS_BASE, MSR_KERNEL_GS_BASE, MSR_SYSENTER_CS, MSR_SYSENTER_ESP,
		MSR_SYSENTER_EIP, MSR_STAR, MSR_LSTAR, MSR_CSTAR, MSR_SFMASK,
	};

	for (size_t i = 0; i < sizeof(always) / sizeof(always[0]); i++)
		msr_pass_through(bitmap, always[i]);
	/* TSC_AUX exists where RDTSCP does. */
	if (c->proc2_controls & PROC2_ENABLE_RDTSCP)
		msr_pass_through(bitmap, MSR_TSC_AUX);
}

static int vmx_probe(char *why, size_t why_size)
{
	struct vmx_caps *c = &vmx_caps;
	const char *missing;

	if (!(cpuid(1, 0).ecx & CPUID_1_ECX_VMX)) {
		snprintf(why, why_size, "vmx: the CPU does not offer VMX (CPUID.1:ECX.VMX=0)");
		return -ENODEV;
	}
	uint64_t feature_control = rdmsr(MSR_FEATURE_CONTROL);
	if ((feature_control & FEATURE_CONTROL_LOCKED) &&
	    !(feature_control & FEATURE_CONTROL_VMXON_OUTSIDE_SMX)) {
		snprintf(why, why_size,
			 "vmx: disabled by the firmware (IA32_FEATURE_CONTROL locked without VMXON outside SMX; enable VT-x in the firmware setup)");
		return -EPERM;
	}
	read_capabilities(c);
	if (VMX_BASIC_MEMORY_TYPE(c->basic) != VMX_MEMORY_TYPE_WB) {
		snprintf(why, why_size, "vmx: VMCS memory type %lu is not write-back",
			 (unsigned long)VMX_BASIC_MEMORY_TYPE(c->basic));
		return -ENODEV;
	}
	if (c->basic & VMX_BASIC_32BIT_ADDRESSES) {
		snprintf(why, why_size, "vmx: VMX structures limited to 32-bit physical addresses");
		return -ENODEV;
	}
	if (c->region_size > PAGE_SIZE) {
		snprintf(why, why_size, "vmx: VMCS region of %u bytes is larger than a page", c->region_size);
		return -ENODEV;
	}
	missing = missing_control(c);
	if (!missing)
		missing = missing_ept_feature(c);
	if (missing) {
		snprintf(why, why_size, "vmx: the CPU lacks %s", missing);
		return -ENODEV;
	}
	if (!virt_host()) {
		snprintf(why, why_size, "vmx: no host services installed (virt_set_host_services)");
		return -EINVAL;
	}
	if (!vmx_cpus) {
		uint64_t phys = virt_host()->alloc_zeroed_pages(
			(unsigned)((sizeof(struct vmx_cpu) * MAX_CPUS + PAGE_SIZE - 1) / PAGE_SIZE));
		if (!phys) {
			snprintf(why, why_size, "vmx: out of memory for the per-CPU state");
			return -ENOMEM;
		}
		vmx_cpus = virt_host()->phys_to_virt(phys);
	}
	choose_controls(c);
	vmx_ept_setup();
	c->xsave = cpuid(1, 0).ecx & CPUID_1_ECX_XSAVE;
	if (!c->io_bitmap_a) {
		if (allocate_shared_pages(c)) {
			snprintf(why, why_size, "vmx: out of memory for the I/O and MSR bitmaps");
			return -ENOMEM;
		}
		fill_msr_bitmap(c);
	}
	log_info("vmx: revision %u, EPT%s%s%s, VPID %s, unrestricted guest %s%s\n", c->revision,
		 (c->ept_vpid & VMX_EPT_2M_PAGES) ? " 2M" : "", vmx_ept_format.has_1g ? " 1G" : "",
		 (c->ept_vpid & VMX_EPT_ACCESSED_DIRTY) ? " A/D" : "", c->vpid ? "yes" : "no",
		 c->unrestricted_guest ? "yes" : "no",
		 c->unrestricted_guest ? "" : " (real-mode guests, such as a BIOS, are refused; paging off runs on an identity map)");
	return 0;
}

/* VMXON needs CR0 and CR4 inside the fixed bits; NE is the usual one the
 * host lacks. Returns 0 or -EIO when a bit that must be 0 is set. */
static int honour_fixed_bits(void)
{
	const struct vmx_caps *c = &vmx_caps;
	uint64_t cr0 = read_cr0() | c->cr0_fixed0;
	uint64_t cr4 = read_cr4() | c->cr4_fixed0 | CR4_VMXE;

	if (c->xsave)
		cr4 |= CR4_OSXSAVE; /* so guest XCR0 values can be loaded */
	if ((cr0 & ~c->cr0_fixed1) || (cr4 & ~c->cr4_fixed1)) {
		log_error("vmx: cpu %u: CR0 %lx / CR4 %lx outside the VMX fixed bits\n", cpu_index(), cr0, cr4);
		return -EIO;
	}
	write_cr0(cr0);
	write_cr4(cr4);
	return 0;
}

static int vmx_cpu_enable(void)
{
	const struct vmx_caps *c = &vmx_caps;
	uint32_t index = cpu_index();
	struct vmx_cpu *cpu = &vmx_cpus[index];
	uint64_t feature_control = rdmsr(MSR_FEATURE_CONTROL);
	bool failed;

	if (cpu->enabled)
		return 0;
	if ((uint32_t)(rdmsr(MSR_VMX_BASIC) & VMX_BASIC_REVISION_MASK) != c->revision) {
		log_error("vmx: cpu %u has another VMCS revision than cpu 0\n", index);
		return -ENODEV;
	}
	if (!(feature_control & FEATURE_CONTROL_LOCKED)) {
		feature_control |= FEATURE_CONTROL_VMXON_OUTSIDE_SMX | FEATURE_CONTROL_LOCKED;
		wrmsr(MSR_FEATURE_CONTROL, feature_control);
	} else if (!(feature_control & FEATURE_CONTROL_VMXON_OUTSIDE_SMX)) {
		log_error("vmx: cpu %u: VMX disabled by the firmware\n", index);
		return -EPERM;
	}
	if (honour_fixed_bits())
		return -EIO;
	if (c->xsave) {
		__asm__ volatile("xsetbv" : : "c"(0), "a"((uint32_t)XCR0_X87), "d"(0));
		cpu->xcr0 = XCR0_X87;
	}
	if (!cpu->vmxon_phys) {
		cpu->vmxon_phys = virt_host()->alloc_zeroed_page();
		if (!cpu->vmxon_phys)
			return -ENOMEM;
	}
	*(uint32_t *)virt_host()->phys_to_virt(cpu->vmxon_phys) = c->revision;
	__asm__ volatile("vmxon %1" : "=@ccbe"(failed) : "m"(cpu->vmxon_phys) : "cc", "memory");
	if (failed) {
		log_error("vmx: cpu %u: VMXON failed\n", index);
		return -EIO;
	}
	/* Nothing cached from before (a warm reboot, a previous VMXON) may
	 * survive into our guests' translations. */
	vmx_invept_all();
	if (c->vpid)
		vmx_invvpid_all();
	cpu->enabled = true;
	log_info("vmx: VMXON on cpu %u\n", index);
	return 0;
}

void vmx_note_field_error(uint32_t field)
{
	struct vmx_cpu *cpu = &vmx_cpus[cpu_index()];

	cpu->field_errors++;
	cpu->last_bad_field = field;
}

int vmx_vmclear(uint64_t vmcs_phys)
{
	bool failed;

	__asm__ volatile("vmclear %1" : "=@ccbe"(failed) : "m"(vmcs_phys) : "cc", "memory");
	return failed ? -EIO : 0;
}

int vmx_vmptrld(uint64_t vmcs_phys)
{
	bool failed;

	__asm__ volatile("vmptrld %1" : "=@ccbe"(failed) : "m"(vmcs_phys) : "cc", "memory");
	return failed ? -EIO : 0;
}

int vmx_make_current_slow(struct vmx_vcpu *v)
{
	struct vmx_cpu *cpu = &vmx_cpus[cpu_index()];

	if (v->cpu == VMX_NO_CPU)
		return vmx_vcpu_adopt(v);
	if (v->cpu != cpu_index()) {
		log_error("vmx: vCPU VMCS is active on cpu %u, used from cpu %u\n", v->cpu, cpu_index());
		return -EINVAL;
	}
	if (cpu->current_vmcs == v)
		return 0;
	if (vmx_vmptrld(v->vmcs_phys))
		return -EIO;
	cpu->current_vmcs = v;
	return 0;
}

static uint64_t vmx_vcpu_overhead(void)
{
	/* The VMCS and the vmx_vcpu page; the bitmaps are shared by all. */
	return 2 * PAGE_SIZE;
}

const struct virt_ops virt_ops_vmx = {
	.name = "vmx",
	.probe = vmx_probe,
	.cpu_enable = vmx_cpu_enable,
	.gpa_format = &vmx_ept_format,
	.vcpu_init = vmx_vcpu_init,
	.vcpu_free = vmx_vcpu_free,
	.vcpu_run = vmx_vcpu_run,
	.vcpu_unload = vmx_vcpu_unload,
	.get_sysregs = vmx_get_sysregs,
	.set_sysregs = vmx_set_sysregs,
	.skip_instruction = vmx_skip_instruction,
	.guest_cpl = vmx_guest_cpl,
	.read_guest_msr = vmx_read_guest_msr,
	.set_rip_rflags = vmx_set_rip_rflags,
	.interruptible = vmx_interruptible,
	.flush_gpa = vmx_flush_gpa,
	.vcpu_overhead = vmx_vcpu_overhead,
};

/*
 * EPT: the guest-physical page-table format, the EPT pointer, and TLB
 * invalidation (INVEPT for guest-physical and combined mappings, INVVPID
 * for a vCPU's guest-linear ones).
 *
 * An EPT entry has read, write and execute permission bits 0..2 (an entry
 * with none of them is not present; write without read is a
 * misconfiguration), and, in a leaf, the memory type in bits 5:3 and
 * "ignore guest PAT" in bit 6. Bit 7 makes a level-2 or level-3 entry a
 * 2 MiB or 1 GiB leaf. Guest RAM is mapped write-back with the guest's PAT
 * ignored: no device memory is passed through, so guest RAM always has the
 * type of the vmkernel's own mapping of the same frames.
 */
#include "vmx.h"

#include <arch/x86/cpu.h>
#include <lib/log.h>

#define EPT_READ (1ul << 0)
#define EPT_WRITE (1ul << 1)
#define EPT_EXECUTE (1ul << 2)
#define EPT_MEMORY_TYPE_SHIFT 3
#define EPT_MEMORY_TYPE_MASK (7ul << EPT_MEMORY_TYPE_SHIFT)
#define EPT_IGNORE_PAT (1ul << 6)
#define EPT_LARGE (1ul << 7)
#define EPT_TYPE_UC 0ul
#define EPT_TYPE_WC 1ul
#define EPT_TYPE_WB 6ul

/* EPTP: memory type of the EPT structures (WB), walk length - 1 (3). */
#define EPTP_WB 6ul
#define EPTP_WALK_4 (3ul << 3)

static bool ept_execute_only;

static uint64_t ept_leaf_bits(uint32_t prot, int level)
{
	uint64_t bits = 0;

	if (prot & (PT_READ | PT_WRITE))
		bits |= EPT_READ;
	if (prot & PT_WRITE)
		bits |= EPT_WRITE;
	if (prot & PT_EXEC)
		bits |= EPT_EXECUTE;
	if ((bits & EPT_EXECUTE) && !ept_execute_only)
		bits |= EPT_READ;
	if (!bits)
		return 0; /* no access: not present, every access exits */
	if (prot & PT_UNCACHED)
		bits |= EPT_TYPE_UC << EPT_MEMORY_TYPE_SHIFT;
	else if (prot & PT_WRITE_COMBINING)
		bits |= EPT_TYPE_WC << EPT_MEMORY_TYPE_SHIFT;
	else
		bits |= EPT_TYPE_WB << EPT_MEMORY_TYPE_SHIFT;
	bits |= EPT_IGNORE_PAT;
	if (level > 1)
		bits |= EPT_LARGE;
	return bits;
}

static uint32_t ept_leaf_prot(uint64_t entry)
{
	uint32_t prot = 0;
	uint64_t type = (entry & EPT_MEMORY_TYPE_MASK) >> EPT_MEMORY_TYPE_SHIFT;

	if (entry & EPT_READ)
		prot |= PT_READ;
	if (entry & EPT_WRITE)
		prot |= PT_WRITE;
	if (entry & EPT_EXECUTE)
		prot |= PT_EXEC;
	if (type == EPT_TYPE_UC)
		prot |= PT_UNCACHED;
	else if (type == EPT_TYPE_WC)
		prot |= PT_WRITE_COMBINING;
	return prot;
}

/* has_1g is settled by vmx_ept_setup() once the capabilities are known. */
struct pt_format vmx_ept_format = {
	.present_mask = EPT_READ | EPT_WRITE | EPT_EXECUTE,
	.large_bit = EPT_LARGE,
	.table_bits = EPT_READ | EPT_WRITE | EPT_EXECUTE,
	.has_1g = false,
	.leaf_bits = ept_leaf_bits,
	.leaf_prot = ept_leaf_prot,
};

void vmx_ept_setup(void)
{
	vmx_ept_format.has_1g = vmx_caps.ept_vpid & VMX_EPT_1G_PAGES;
	ept_execute_only = vmx_caps.ept_vpid & VMX_EPT_EXECUTE_ONLY;
}

/* Accessed/dirty flags stay off: nothing reads them yet, and with them on
 * every guest page walk writes to guest page tables. */
uint64_t vmx_eptp(uint64_t root)
{
	return (root & PT_ADDRESS_MASK) | EPTP_WB | EPTP_WALK_4;
}

struct invalidation_descriptor {
	uint64_t first;  /* INVEPT: EPTP; INVVPID: VPID in bits 15:0 */
	uint64_t second; /* INVVPID: linear address; else 0 */
};

static void invept(uint64_t type, uint64_t eptp)
{
	struct invalidation_descriptor d = { eptp, 0 };
	bool failed;

	__asm__ volatile("invept %1, %2" : "=@ccbe"(failed) : "m"(d), "r"(type) : "cc", "memory");
	if (failed)
		log_error("vmx: INVEPT type %lu failed on cpu %u\n", type, cpu_index());
}

static void invvpid(uint64_t type, uint32_t vpid)
{
	struct invalidation_descriptor d = { vpid, 0 };
	bool failed;

	__asm__ volatile("invvpid %1, %2" : "=@ccbe"(failed) : "m"(d), "r"(type) : "cc", "memory");
	if (failed)
		log_error("vmx: INVVPID type %lu (vpid %u) failed on cpu %u\n", type, vpid, cpu_index());
}

void vmx_invept(uint64_t eptp)
{
	if (vmx_caps.ept_vpid & VMX_EPT_INVEPT_SINGLE)
		invept(INVEPT_SINGLE_CONTEXT, eptp);
	else
		invept(INVEPT_ALL_CONTEXTS, 0);
}

void vmx_invept_all(void)
{
	if (vmx_caps.ept_vpid & VMX_EPT_INVEPT_ALL)
		invept(INVEPT_ALL_CONTEXTS, 0);
}

void vmx_invvpid(uint32_t vpid)
{
	if (!vmx_caps.vpid)
		return;
	if (vmx_caps.ept_vpid & VMX_VPID_INVVPID_SINGLE)
		invvpid(INVVPID_SINGLE_CONTEXT, vpid);
	else
		invvpid(INVVPID_ALL_CONTEXTS, 0);
}

void vmx_invvpid_all(void)
{
	if (vmx_caps.vpid && (vmx_caps.ept_vpid & VMX_VPID_INVVPID_ALL))
		invvpid(INVVPID_ALL_CONTEXTS, 0);
}

/*
 * INVEPT acts on the calling CPU only. On the vCPU's own CPU the flush is
 * immediate; called elsewhere it is done before the vCPU's next entry, so
 * the caller must make a running vCPU exit (kick it) before reusing frames
 * it unmapped. Every vCPU of the VM needs the call (each may have run on
 * another CPU).
 */
void vmx_flush_gpa(struct virt_vcpu *vcpu)
{
	struct vmx_vcpu *v = vmx_of(vcpu);

	if (!v || !v->eptp)
		return; /* never entered: the first entry flushes */
	if (cpu_index() == v->cpu && vmx_cpus[v->cpu].enabled) {
		vmx_invept(v->eptp);
		v->ept_flush_pending = false;
	} else {
		__atomic_store_n(&v->ept_flush_pending, true, __ATOMIC_RELEASE);
	}
}

static void *ept_phys_to_virt(void *ctx, uint64_t phys)
{
	(void)ctx;
	return virt_host()->phys_to_virt(phys);
}

bool vmx_lookup_gpa(uint64_t root, uint64_t gpa, struct pt_mapping *out)
{
	const struct pt_env env = { .phys_to_virt = ept_phys_to_virt };

	return root && pt_lookup(&vmx_ept_format, &env, root, gpa, out);
}

/*
 * The guest's CR0, CR3, CR4 and EFER: what the CPU runs with for the
 * values the guest believes it has, and the CR-access exits that keep the
 * two apart.
 *
 * Without "unrestricted guest" VMX enters a guest only with CR0.PE=1 and
 * CR0.PG=1, yet every multiboot guest starts with paging off. Such a guest
 * runs with paging on in the CPU, through an identity page table: 32-bit
 * paging (CR4.PSE=1, PAE=0), 1024 4 MiB pages covering the 4 GiB a 32-bit
 * linear address reaches, each present, writable and user (so no access
 * the guest's segments allow can fault), with accessed and dirty already
 * set (so the CPU's page walk never writes). The table is one page shared
 * by every VM, mapped read-only into each VM's EPT at guest-physical
 * VMX_IDENTITY_TABLE_GPA, in the hole below 4 GiB where nothing else is
 * (guest RAM ends at 3 GiB; the test device is at 0xfeb00000, the LAPIC at
 * 0xfee00000). The guest can read that page there; its writes exit as MMIO.
 *
 * While the guest's paging is off: CR0.PE and PG are host-owned (they are
 * on every CPU without unrestricted guest: VMX fixes them to 1), so a MOV
 * to CR0 that turns paging on exits; CR4.PSE, PAE, SMEP and SMAP are
 * host-owned and kept at the table's needs (the guest sees its own in the
 * read shadow); CR3 loads and stores exit and use the guest's CR3, kept
 * here; EFER.LME is hidden from the CPU (paging is on there, and LME with
 * paging but without PAE is not a state VMX enters). When the guest turns
 * paging on, its CR3, CR4 and EFER go to the CPU and the CR3 exits stop;
 * when it turns paging off again (PE staying 1), the identity table comes
 * back. Real mode (PE=0) cannot be run this way and stays refused.
 */
#include "vmx.h"

#include <arch/x86/cpu.h>
#include <lib/errno.h>
#include <lib/log.h>
#include <lib/printf.h>
#include <lib/spinlock.h>
#include <lib/string.h>

#define CR0_PE (1ul << 0)
#define CR0_NW (1ul << 29)
#define CR0_CD (1ul << 30)
#define CR0_PG (1ul << 31)
#define CR4_PSE (1ul << 4)
#define CR4_PAE (1ul << 5)
#define CR4_LA57 (1ul << 12)
#define CR4_PCIDE (1ul << 17)
#define CR4_SMEP (1ul << 20)
#define CR4_SMAP (1ul << 21)
#define CR4_CET (1ul << 23)
#define EFER_LMA (1ul << 10)
#define EXCEPTION_GP 13

/* A 32-bit page-directory entry mapping 4 MiB: P, R/W, U/S, A, D, PS. */
#define IDENTITY_PDE_FLAGS 0xe7u
#define IDENTITY_PDE_COUNT 1024

/* CR4 bits the identity table needs off; PSE it needs on. */
#define PAGING_OFF_CR4_CLEAR (CR4_PAE | CR4_SMEP | CR4_SMAP)
#define PAGING_OFF_CR4_OWNED (CR4_PSE | PAGING_OFF_CR4_CLEAR)
/* Bits whose change makes cached translations stale. */
#define TRANSLATION_CR0 (CR0_PE | CR0_WP | CR0_PG)
#define TRANSLATION_CR4 (CR4_PSE | CR4_PAE | CR4_PGE | CR4_PCIDE | CR4_SMEP | CR4_SMAP | CR4_LA57)
#define TRANSLATION_EFER (EFER_LMA | EFER_NXE)

/* Host-physical; 0 until a guest first needs it. [identity_lock] */
static uint64_t identity_table;
/* Serialises filling the table and adding it to an EPT (vCPUs of one VM
 * may do it on two CPUs at once); the core itself maps guest-physical
 * memory only while creating a VM. */
static struct spinlock identity_lock = SPINLOCK_INIT;

static bool paging_off_emulated(uint64_t cr0)
{
	return !vmx_caps.unrestricted_guest && (cr0 & CR0_PE) && !(cr0 & CR0_PG);
}

static bool pae_paging(uint64_t cr0, uint64_t cr4, uint64_t efer)
{
	return (cr0 & CR0_PG) && (cr4 & CR4_PAE) && !(efer & EFER_LMA);
}

/* The guest's four PAE page-directory-pointer entries: with EPT, VM entry
 * takes them from the VMCS rather than from memory. */
static void load_pdptes(struct vmx_vcpu *v, uint64_t cr3)
{
	uint64_t gpa = cr3 & 0xffffffe0ul;
	uint64_t entries[4] = { 0, 0, 0, 0 };
	struct pt_mapping m;

	if (vmx_lookup_gpa(v->vcpu->gpa_root, gpa, &m))
		memcpy(entries, virt_host()->phys_to_virt(m.phys), sizeof(entries));
	else
		log_warn("vmx: PAE page-directory pointers at gpa 0x%lx are not in guest RAM\n", gpa);
	for (int i = 0; i < 4; i++)
		vmwrite(VMCS_GUEST_PDPTE0 + 2 * i, entries[i]);
}

void vmx_paging_read(struct vmx_vcpu *v, struct vmx_paging *out)
{
	uint64_t cr0_owned = vmx_caps.cr0_host_owned, cr4_owned = v->cr4_host_owned;

	out->cr0 = (vmread(VMCS_GUEST_CR0) & ~cr0_owned) | (vmread(VMCS_CR0_READ_SHADOW) & cr0_owned);
	out->cr4 = (vmread(VMCS_GUEST_CR4) & ~cr4_owned) | (vmread(VMCS_CR4_READ_SHADOW) & cr4_owned);
	if (v->paging_off.active) {
		out->cr3 = v->paging_off.cr3;
		out->efer = v->paging_off.efer;
	} else {
		out->cr3 = vmread(VMCS_GUEST_CR3);
		out->efer = vmread(VMCS_GUEST_EFER);
	}
}

void vmx_paging_write(struct vmx_vcpu *v, const struct vmx_paging *in)
{
	const struct vmx_caps *c = &vmx_caps;
	uint64_t efer = in->efer & ~EFER_LMA;

	/* EFER.LMA is the CPU's: long mode is active when paging is on with LME. */
	if ((efer & EFER_LME) && (in->cr0 & CR0_PG))
		efer |= EFER_LMA;
	bool off = paging_off_emulated(in->cr0);
	uint64_t cr3 = off ? VMX_IDENTITY_TABLE_GPA : in->cr3;
	uint64_t cr4 = off ? (in->cr4 | CR4_PSE) & ~PAGING_OFF_CR4_CLEAR : in->cr4;
	uint64_t cpu_efer = off ? efer & ~EFER_LME : efer;
	uint64_t cpu_cr0 = ((in->cr0 | c->cr0_forced_on) & c->cr0_allowed) & 0xffffffffu;
	uint64_t cpu_cr4 = (cr4 | c->cr4_forced_on) & c->cr4_allowed;

	(void)vmx_guest_ia32e(v); /* the cache as the last exit left it */
	uint32_t entry = v->entry_controls & ~ENTRY_IA32E_MODE_GUEST;
	if (efer & EFER_LMA)
		entry |= ENTRY_IA32E_MODE_GUEST;
	if (entry != v->entry_controls) {
		v->entry_controls = entry;
		vmwrite(VMCS_ENTRY_CONTROLS, entry);
	}
	uint64_t old_cr0 = vmread(VMCS_GUEST_CR0), old_cr3 = vmread(VMCS_GUEST_CR3);
	uint64_t old_cr4 = vmread(VMCS_GUEST_CR4), old_efer = vmread(VMCS_GUEST_EFER);
	bool was_pae = pae_paging(old_cr0, old_cr4, old_efer);

	vmwrite(VMCS_GUEST_EFER, cpu_efer);
	vmwrite(VMCS_GUEST_CR0, cpu_cr0);
	vmwrite(VMCS_CR0_READ_SHADOW, in->cr0);
	vmwrite(VMCS_GUEST_CR4, cpu_cr4);
	vmwrite(VMCS_CR4_READ_SHADOW, in->cr4);
	vmwrite(VMCS_GUEST_CR3, cr3);
	uint64_t cr4_owned = c->cr4_host_owned | (off ? PAGING_OFF_CR4_OWNED : 0);
	if (cr4_owned != v->cr4_host_owned) {
		v->cr4_host_owned = cr4_owned;
		vmwrite(VMCS_CR4_GUEST_HOST_MASK, cr4_owned);
	}
	uint32_t cr3_exits = PROC_CR3_LOAD_EXITING | PROC_CR3_STORE_EXITING;
	vmx_set_proc_controls(v, off ? v->proc_controls | cr3_exits : v->proc_controls & ~cr3_exits);
	v->paging_off.active = off;
	v->paging_off.cr3 = in->cr3;
	v->paging_off.efer = efer;
	/* Reloading the PDPTEs only when CR3 or the paging mode changed keeps
	 * the architectural rule that they are read at MOV to CR3 only. */
	if (pae_paging(in->cr0, in->cr4, efer) && (!was_pae || old_cr3 != cr3))
		load_pdptes(v, cr3);
	/* A VM entry keeps a VPID's translations: when the backend, not a guest
	 * instruction, changes how addresses translate, they must go. */
	if (old_cr3 != cr3 || ((old_cr0 ^ cpu_cr0) & TRANSLATION_CR0) ||
	    ((old_cr4 ^ cpu_cr4) & TRANSLATION_CR4) || ((old_efer ^ cpu_efer) & TRANSLATION_EFER))
		vmx_invvpid(v->vpid);
}

static void *identity_phys_to_virt(void *ctx, uint64_t phys)
{
	(void)ctx;
	return virt_host()->phys_to_virt(phys);
}

static uint64_t identity_alloc_table(void *ctx)
{
	(void)ctx;
	return virt_host()->alloc_zeroed_page();
}

static void identity_free_table(void *ctx, uint64_t phys)
{
	(void)ctx;
	virt_host()->free_page(phys);
}

/* @pre identity_lock held. */
static int identity_table_fill(void)
{
	if (identity_table)
		return 0;
	uint64_t page = virt_host()->alloc_zeroed_page();
	if (!page)
		return -ENOMEM;
	uint32_t *pde = virt_host()->phys_to_virt(page);
	for (uint32_t i = 0; i < IDENTITY_PDE_COUNT; i++)
		pde[i] = (i << 22) | IDENTITY_PDE_FLAGS;
	identity_table = page;
	return 0;
}

/*
 * The EPT tables this adds (below 4 GiB, where guest RAM has none) are
 * freed with the VM's others but not counted in its overhead.
 */
int vmx_paging_off_prepare(struct vmx_vcpu *v)
{
	const struct pt_env env = { .alloc_table = identity_alloc_table,
				    .free_table = identity_free_table,
				    .phys_to_virt = identity_phys_to_virt };
	uint64_t root = v->vcpu->gpa_root;
	struct pt_mapping m;
	int rc;

	if (!v->paging_off.active || v->paging_off.mapped_root == root)
		return 0;
	if (!root)
		return -EINVAL;
	spin_lock(&identity_lock);
	rc = identity_table_fill();
	if (!rc && !vmx_lookup_gpa(root, VMX_IDENTITY_TABLE_GPA, &m))
		rc = pt_map(&vmx_ept_format, &env, root, VMX_IDENTITY_TABLE_GPA, identity_table, PAGE_SIZE,
			    PT_READ, false);
	else if (!rc && (m.phys & PT_ADDRESS_MASK) != identity_table)
		rc = -EEXIST; /* the VM has something else there */
	spin_unlock(&identity_lock);
	if (!rc)
		v->paging_off.mapped_root = root;
	return rc;
}

static bool in_64bit_code(struct vmx_vcpu *v)
{
	return vmx_guest_ia32e(v) &&
	       (vmread(VMCS_GUEST_ES_ACCESS_RIGHTS + 2 * VIRT_CS) & VIRT_SEG_ATTR_LONG);
}

/* The instruction is done: past it, and back into the guest. */
static void emulated(struct vmx_vcpu *v, struct vmk_exit *exit)
{
	vmx_skip_instruction(v->vcpu, exit->instruction_length);
	exit->code = VMK_EXIT_NONE;
}

static void general_protection(struct vmx_vcpu *v, struct vmk_exit *exit)
{
	v->reinjection = (struct vmx_reinjection){
		.pending = true,
		.info = INTERRUPTION_VALID | INTERRUPTION_ERROR_CODE_VALID | EXCEPTION_GP |
			(INTERRUPTION_TYPE_HARDWARE_EXCEPTION << 8),
		.error_code = 0,
	};
	exit->code = VMK_EXIT_NONE;
}

/* The #GP(0) cases of MOV to CR0 (SDM, MOV—Move to/from Control
 * Registers); the exit comes before the CPU checks them. */
static bool cr0_write_faults(struct vmx_vcpu *v, const struct vmx_paging *g, uint64_t value)
{
	bool paging_on = !(g->cr0 & CR0_PG) && (value & CR0_PG);
	bool paging_off = (g->cr0 & CR0_PG) && !(value & CR0_PG);

	if (value >> 32)
		return true;
	if ((value & CR0_PG) && !(value & CR0_PE))
		return true;
	if ((value & CR0_NW) && !(value & CR0_CD))
		return true;
	if (paging_on && (g->efer & EFER_LME) && !(g->cr4 & CR4_PAE))
		return true;
	if (paging_off && ((g->cr4 & CR4_PCIDE) || in_64bit_code(v)))
		return true;
	return false;
}

static void cr0_write(struct vmx_vcpu *v, struct vmk_exit *exit)
{
	struct vmx_paging g;
	uint64_t value = v->vcpu->gprs[exit->cr.gpr];

	vmx_paging_read(v, &g);
	if (!in_64bit_code(v))
		value &= 0xffffffffu;
	/* Only PE and PG are this file's; other host-owned bits go to the core. */
	if ((value ^ g.cr0) & vmx_caps.cr0_host_owned & ~(CR0_PE | CR0_PG))
		return;
	if (cr0_write_faults(v, &g, value)) {
		general_protection(v, exit);
		return;
	}
	if (!(value & CR0_PE)) {
		/* Worded as vmx_run.c refuses a real-mode state set by the core. */
		exit->code = VMK_EXIT_ENTRY_FAILED;
		exit->failure.error = 0;
		snprintf(v->why, sizeof(v->why), "CR0 0x%lx: real mode needs unrestricted guest, which this CPU lacks",
			 value);
		exit->failure.why = v->why;
		return;
	}
	g.cr0 = value;
	vmx_paging_write(v, &g);
	emulated(v, exit);
}

static void cr4_write(struct vmx_vcpu *v, struct vmk_exit *exit)
{
	struct vmx_paging g;
	uint64_t value = v->vcpu->gprs[exit->cr.gpr] & 0xffffffffu; /* paging off: not 64-bit code */

	vmx_paging_read(v, &g);
	/* Bits VMX fixes, or this CPU lacks, are the core's business as ever. */
	if ((value ^ g.cr4) & vmx_caps.cr4_host_owned)
		return;
	/* PCIDE needs IA-32e mode; CET needs CR0.WP (the CPU would check both). */
	if ((value & CR4_PCIDE) || ((value & CR4_CET) && !(g.cr0 & CR0_WP))) {
		general_protection(v, exit);
		return;
	}
	g.cr4 = value;
	vmx_paging_write(v, &g);
	emulated(v, exit);
}

/* MOV to or from CR3 while paging is off: the guest's own CR3, 32 bits. */
static void cr3_access(struct vmx_vcpu *v, struct vmk_exit *exit)
{
	uint64_t *gpr = &v->vcpu->gprs[exit->cr.gpr];

	if (exit->cr.write)
		v->paging_off.cr3 = *gpr & 0xffffffffu;
	else
		*gpr = v->paging_off.cr3 & 0xffffffffu;
	emulated(v, exit);
}

void vmx_paging_cr_access(struct vmx_vcpu *v, struct vmk_exit *exit)
{
	if (vmx_caps.unrestricted_guest || !exit->cr.gpr_valid)
		return; /* CLTS and LMSW never touch PG; nothing here with unrestricted guest */
	switch (exit->cr.cr) {
	case 0:
		if (exit->cr.write)
			cr0_write(v, exit);
		break;
	case 3:
		if (v->paging_off.active)
			cr3_access(v, exit);
		break;
	case 4:
		if (exit->cr.write && v->paging_off.active)
			cr4_write(v, exit);
		break;
	default:
		break;
	}
}

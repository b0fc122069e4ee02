#include <vm/mmio.h>

#include <lib/errno.h>
#include <lib/string.h>
#include <vm/vm.h>

#define CR0_PG (1ul << 31)
#define CR0_WP (1ul << 16)
#define CR4_PSE (1ul << 4)
#define CR4_PAE (1ul << 5)
#define EFER_LMA (1ul << 10)
#define PTE_P (1ul << 0)
#define PTE_W (1ul << 1)
#define PTE_U (1ul << 2)
#define PTE_PS (1ul << 7)
#define PF_PRESENT (1u << 0)
#define PF_WRITE (1u << 1)
#define PF_RESERVED (1u << 3)

/*
 * Walks the guest's page tables, which live in guest RAM: 2-level 32-bit
 * (4 MiB pages with CR4.PSE), 3-level PAE, or 4-level long mode. Only
 * present/write bits matter here (the vmkernel reads instruction bytes and
 * string operands; the guest's own accesses were already checked by the CPU
 * before the exit).
 */
int vcpu_translate(struct vcpu *vcpu, const struct virt_sysregs *s, uint64_t linear, bool write,
		   uint64_t *gpa, uint32_t *fault_error)
{
	struct vm *vm = vcpu->vm;
	int levels, shift_top;
	bool wide = true;

	if (!(s->cr0 & CR0_PG)) {
		*gpa = linear & 0xffffffffu;
		return 0;
	}
	if (s->efer & EFER_LMA) {
		levels = 4;
		shift_top = 39;
	} else if (s->cr4 & CR4_PAE) {
		levels = 3;
		shift_top = 30;
		linear &= 0xffffffffu;
	} else {
		levels = 2;
		shift_top = 22;
		wide = false;
		linear &= 0xffffffffu;
	}
	uint64_t table = levels == 3 ? s->cr3 & 0xffffffe0u : s->cr3 & 0x000ffffffffff000ul;
	for (int level = levels, shift = shift_top; level >= 1; level--, shift -= wide ? 9 : 10) {
		unsigned index;
		uint64_t entry = 0;
		if (levels == 3 && level == 3)
			index = (linear >> 30) & 3;
		else
			index = (linear >> shift) & (wide ? 511 : 1023);
		if (wide) {
			const uint64_t *p = vm_gpa_to_host(vm, table + index * 8, 8);
			if (!p)
				return -EFAULT;
			entry = *p;
		} else {
			const uint32_t *p = vm_gpa_to_host(vm, table + index * 4, 4);
			if (!p)
				return -EFAULT;
			entry = *p;
		}
		if (!(entry & PTE_P)) {
			*fault_error = write ? PF_WRITE : 0;
			return -EFAULT;
		}
		bool has_write_bit = !(levels == 3 && level == 3); /* PAE PDPTEs have none */
		if (write && has_write_bit && !(entry & PTE_W) && (s->cr0 & CR0_WP)) {
			*fault_error = PF_PRESENT | PF_WRITE;
			return -EFAULT;
		}
		bool large = (entry & PTE_PS) && ((level == 2) || (level == 3 && levels == 4));
		if (large && !wide && !(s->cr4 & CR4_PSE))
			large = false;
		if (level == 1 || large) {
			uint64_t page_mask = (1ul << shift) - 1;
			uint64_t base = wide ? entry & 0x000ffffffffff000ul : entry & 0xfffff000u;
			if (large && !wide)
				base = (entry & 0xffc00000u) | ((entry & 0x001fe000ul) << 19); /* PSE-36 */
			*gpa = (base & ~page_mask) | (linear & page_mask);
			return 0;
		}
		table = wide ? entry & 0x000ffffffffff000ul : entry & 0xfffff000u;
	}
	return -EFAULT;
}

uint32_t vm_instruction_length(struct vcpu *vcpu)
{
	(void)vcpu;
	return 0;
}

int vm_emulate_mmio(struct vcpu *vcpu, const struct vmk_exit *exit)
{
	(void)vcpu;
	(void)exit;
	return -ENOSYS;
}

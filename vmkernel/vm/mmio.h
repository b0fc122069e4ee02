/*
 * Guest accesses to guest-physical addresses that are not RAM: the
 * instruction at the guest's RIP is fetched (through the guest's own page
 * tables), decoded and emulated against the device registered there; an
 * address nobody claims reads all-ones and drops writes, like an empty bus.
 */
#ifndef KAPSEL_VM_MMIO_H
#define KAPSEL_VM_MMIO_H

#include <stdint.h>

#include <arch/x86/virt.h>

struct vcpu;

/* 0 done (RIP advanced), -EFAULT a fault was injected, other <0: cannot emulate. */
int vm_emulate_mmio(struct vcpu *vcpu, const struct vmk_exit *exit);
/* Length of the instruction at the guest's RIP, 0 when it cannot be decoded. */
uint32_t vm_instruction_length(struct vcpu *vcpu);
/* Reads up to 15 instruction bytes at CS:RIP; returns how many could be read. */
int vm_fetch_instruction(struct vcpu *vcpu, const struct virt_sysregs *s, uint8_t bytes[15]);
/* Copies guest RAM by linear address (through the guest's paging); -EFAULT
 * when a page is not present or not RAM. */
int vcpu_copy_linear(struct vcpu *vcpu, const struct virt_sysregs *s, uint64_t linear, void *data,
		     unsigned size, bool write);
/* Guest linear -> guest physical through the guest's paging mode.
 * Returns 0, or -EFAULT with *fault_error set to a #PF error code. */
int vcpu_translate(struct vcpu *vcpu, const struct virt_sysregs *s, uint64_t linear, bool write,
		   uint64_t *gpa, uint32_t *fault_error);

#endif

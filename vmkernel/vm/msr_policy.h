/*
 * Guest MSR accesses that reach the vmkernel. An allowlist: what is listed
 * is emulated (per-vCPU values where a guest may write), everything else
 * is #GP, as on a CPU that lacks the MSR.
 */
#ifndef KAPSEL_VM_MSR_POLICY_H
#define KAPSEL_VM_MSR_POLICY_H

#include <stdbool.h>
#include <stdint.h>

struct vcpu;

/* Return 0, or -1 for #GP. */
int msr_policy_read(struct vcpu *vcpu, uint32_t index, uint64_t *value);
int msr_policy_write(struct vcpu *vcpu, uint32_t index, uint64_t value);

#endif

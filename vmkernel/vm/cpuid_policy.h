/*
 * The virtual CPUID every VM sees (policy version KAPSEL_CPUID_POLICY_VERSION):
 * the host's vendor and family, its features masked to a fixed baseline the
 * vmkernel virtualizes, the hypervisor bit and Kapsel's leaves, VMX/SVM
 * hidden. The same host gives the same answers to every VM, run after run.
 */
#ifndef KAPSEL_VM_CPUID_POLICY_H
#define KAPSEL_VM_CPUID_POLICY_H

#include <stdint.h>

struct cpuid_result {
	uint32_t eax, ebx, ecx, edx;
};

/* Raw host CPUID, injectable for host unit tests. */
typedef struct cpuid_result (*cpuid_source_fn)(uint32_t leaf, uint32_t subleaf);

struct cpuid_policy_vcpu {
	uint32_t vcpu_index; /* initial APIC ID */
	uint32_t vcpu_count;
	uint64_t tsc_khz;
	uint64_t lapic_khz;
};

struct cpuid_result cpuid_policy(cpuid_source_fn host, const struct cpuid_policy_vcpu *vcpu,
				 uint32_t leaf, uint32_t subleaf);

#endif

/*
 * Running vCPUs: the vm layer's client of the scheduler (sched/sched.h).
 * A vCPU is a scheduler task; this file enters the guest for a slice,
 * decides when a halted or SIPI-waiting vCPU wakes, and moves its FPU and
 * backend state off a pCPU when the scheduler migrates it.
 */
#ifndef KAPSEL_VM_VCPU_RUN_H
#define KAPSEL_VM_VCPU_RUN_H

#include <stdint.h>

/* Registers the client; once, after the backend is enabled everywhere. */
void vcpu_run_init(void);
/* VMs still running. */
uint32_t vm_running_count(void);

#endif

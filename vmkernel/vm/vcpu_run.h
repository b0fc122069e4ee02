/*
 * Running vCPUs on pCPUs. Each vCPU is pinned to one pCPU (its VMCS/VMCB
 * is loaded there); each pCPU round-robins over its vCPUs with a 10 ms
 * slice, sleeps in hlt when all are halted, and wakes for the nearest
 * guest timer or a kick IPI. Proportional shares come with the scheduler
 * issue; this is the mechanism they will steer.
 */
#ifndef KAPSEL_VM_VM_SCHED_H
#define KAPSEL_VM_VM_SCHED_H

#include <stdbool.h>
#include <stdint.h>

struct vcpu;

void vm_sched_init(void);
/* The first pCPU of a new VM (round-robin over online CPUs); its vCPU i
 * goes to (first + i) mod CPUs, so an SMP guest's vCPUs do not share a
 * pCPU while there are enough of them. */
uint32_t vm_sched_pick_cpu(void);
void vm_sched_add(struct vcpu *vcpu);
/* Makes pCPU cpu look at its run queue soon (IPI when it is another CPU). */
void vm_sched_kick_cpu(uint32_t cpu);
/* One pass of this pCPU's scheduler: runs what is runnable, else sleeps
 * until something may be. Returns whether any vCPU is still assigned here. */
bool vm_sched_run_once(void);
/* VMs still running. */
uint32_t vm_sched_running_vms(void);

#endif

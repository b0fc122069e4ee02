/* Power cycles of the boot-time VMs: the end of a power-off and every
 * power-on after the first run in the BSP's scheduling loop. */
#ifndef KAPSEL_VM_POWER_H
#define KAPSEL_VM_POWER_H

#include <stdbool.h>
#include <stddef.h>

struct vm;

/* A VM just loaded: its power-on resources (disks) are held; with
 * @running false (autostart = off) they are released at once. */
void vm_power_loaded(struct vm *vm, bool running);
/* vm->start_check of boot-time VMs: is a disk held by another VM? */
int vm_power_start_check(struct vm *vm, char *why, size_t why_size);
/* Resets a VM with several vCPUs the only way it can be while they run
 * elsewhere: stops it, and the BSP's loop powers it on again once off
 * (RAM, devices and every vCPU at power-on state). Any context. */
int vm_power_cycle(struct vm *vm, const char *why);
/* From the BSP's loop: finishes the power-off of stopped VMs whose vCPUs
 * have all left their pCPUs, and powers on the VMs `vm start` asked for. */
void vm_power_poll(void);
/* Work is left for vm_power_poll (a power-on asked, a power-off to finish). */
bool vm_power_busy(void);

#endif

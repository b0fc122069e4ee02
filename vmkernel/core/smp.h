/*
 * Bringing up the application processors, and cross-CPU calls. CPUs are
 * numbered densely from 0 (the BSP) in MADT order; smp_cpu(i) gives each
 * one's struct percpu.
 */
#ifndef KAPSEL_CORE_SMP_H
#define KAPSEL_CORE_SMP_H

#include <stdint.h>

#include <arch/x86/acpi.h>
#include <arch/x86/percpu.h>

struct smp_options {
	uint32_t max_cpus; /* 0: all */
	bool no_smp;
};

/* Registers the BSP (already running on bsp) and starts every other usable
 * CPU from the MADT. Returns the number of CPUs online. */
uint32_t smp_init(struct percpu *bsp, const struct acpi_madt_info *madt,
		  const struct smp_options *options);
uint32_t smp_cpu_count(void);
struct percpu *smp_cpu(uint32_t index);
/* Runs fn(arg) on every other online CPU through an IPI and waits for all.
 * Returns the number of CPUs that ran it. */
uint32_t smp_call_on_others(void (*fn)(void *arg), void *arg);
/* Stops every other CPU with an NMI (panic path). */
void smp_stop_others(void);
/* What every AP does when idle (the VM scheduler, once it exists):
 * called with interrupts enabled, in a loop. */
void smp_set_idle_hook(void (*hook)(void));

#endif

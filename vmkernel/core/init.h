/* The core's part of boot, and small services vmkernel_main() uses after it. */
#ifndef KAPSEL_CORE_INIT_H
#define KAPSEL_CORE_INIT_H

#include <stdint.h>

#include <boot_info.h>
#include <core/cmdline.h>

/* Console, CPU, memory, interrupts, ACPI, timers, SMP; returns the number
 * of CPUs online. Halts with a message when the boot information is unusable. */
uint32_t core_init(struct boot_info *boot, const char *problem, struct vmkernel_options *options);
const char *core_boot_mode_name(uint32_t mode);
/* Logs the TSC since the first vmkernel instruction (loglevel=debug). */
void core_boot_milestone(const char *what);
/* test_fault=: raises the requested exception; never returns. */
__attribute__((noreturn)) void core_trigger_test_fault(enum test_fault fault);

extern uint64_t boot_tsc_at_entry;

#endif

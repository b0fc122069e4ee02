/* panic(): a broken vmkernel invariant. Prints, stops every CPU, never returns.
 * Guests' misbehaviour never comes here: it is a fault injected or a VM stopped. */
#ifndef KAPSEL_CORE_PANIC_H
#define KAPSEL_CORE_PANIC_H

__attribute__((noreturn, format(printf, 1, 2))) void panic(const char *fmt, ...);
/* Stops the other CPUs (NMI IPI once SMP is up); used by panic and fatal exceptions. */
void panic_stop_other_cpus(void);
void panic_set_stop_hook(void (*hook)(void));

#endif

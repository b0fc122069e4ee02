#include <core/panic.h>

#include <arch/x86/cpu.h>
#include <lib/log.h>
#include <lib/printf.h>

static void (*panic_stop_hook)(void);
static volatile int panic_entered;

void panic_set_stop_hook(void (*hook)(void))
{
	panic_stop_hook = hook;
}

void panic_stop_other_cpus(void)
{
	if (panic_stop_hook)
		panic_stop_hook();
}

void panic(const char *fmt, ...)
{
	char message[256];
	va_list ap;

	irq_disable();
	if (__atomic_exchange_n(&panic_entered, 1, __ATOMIC_ACQ_REL))
		cpu_halt_forever();
	va_start(ap, fmt);
	vsnprintf(message, sizeof(message), fmt, ap);
	va_end(ap);
	log_emergency("\nvmkernel: PANIC: %s\n", message);
	panic_stop_other_cpus();
	log_emergency("vmkernel: all CPUs halted\n");
	cpu_halt_forever();
}

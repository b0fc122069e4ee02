#include <core/smp.h>

#include <arch/x86/cpu.h>
#include <arch/x86/interrupt.h>
#include <arch/x86/lapic.h>
#include <lib/log.h>
#include <lib/string.h>
#include <mm/heap.h>
#include <mm/pmm.h>
#include <mm/vmm.h>

#define SMP_TIMER_HZ 100

/* arch/x86/trampoline.S: the code, its size (an absolute symbol), and the
 * parameter block that ends it. */
extern const char trampoline_start[];
extern const char trampoline_size[];

struct trampoline_params {
	uint64_t cr3; /* below 4 GiB: loaded in 32-bit mode */
	uint64_t efer;
	uint64_t stack;
	uint64_t percpu;
	uint64_t entry;
	volatile uint64_t started; /* set by the AP once in protected mode */
};

static struct trampoline_params *trampoline_params_in(uint8_t *copy)
{
	return (struct trampoline_params *)(copy + (uintptr_t)trampoline_size -
					    sizeof(struct trampoline_params));
}

static struct percpu *cpus[MAX_CPUS];     /* (o) set during smp_init */
static uint32_t cpus_online;
static volatile bool smp_stopping;
static void (*volatile smp_idle_hook)(void);

/* Cross-call state: one caller at a time, serialized by call_busy. */
static volatile int call_busy;
static void (*volatile call_fn)(void *);
static void *volatile call_arg;
static volatile uint32_t call_done;

uint32_t smp_cpu_count(void)
{
	return cpus_online;
}

struct percpu *smp_cpu(uint32_t index)
{
	return index < cpus_online ? cpus[index] : NULL;
}

/* The timer's work is waking hlt or ending a guest's run; the EOI follows. */
static void smp_timer_interrupt(struct interrupt_frame *frame)
{
	(void)frame;
}

static void smp_call_interrupt(struct interrupt_frame *frame)
{
	(void)frame;
	call_fn(call_arg);
	__atomic_add_fetch(&call_done, 1, __ATOMIC_RELEASE);
}

static void smp_nmi(struct interrupt_frame *frame)
{
	if (smp_stopping) {
		percpu_get()->halted = true;
		cpu_halt_forever();
	}
	log_warn("vmkernel: warning: NMI on cpu %u at rip %016lx\n", cpu_index(), frame->rip);
}


__attribute__((noreturn)) void smp_ap_main(struct percpu *cpu);
__attribute__((noreturn)) void smp_ap_main(struct percpu *cpu)
{
	percpu_install(cpu);
	interrupt_load_idt();
	vmm_install_on_cpu();
	lapic_init_this_cpu();
	lapic_timer_start_periodic(SMP_TIMER_HZ, VECTOR_TIMER);
	cpu->tsc_at_online = rdtsc();
	__atomic_store_n(&cpu->online, true, __ATOMIC_RELEASE);
	for (;;) {
		irq_enable();
		if (smp_idle_hook)
			smp_idle_hook();
		else
			cpu_halt();
	}
}

static struct percpu *smp_alloc_cpu(uint32_t index, uint32_t apic_id)
{
	struct percpu *cpu = kzalloc(sizeof(*cpu));
	uint8_t *stack = kmalloc(KERNEL_STACK_SIZE);
	if (!cpu || !stack) {
		kfree(cpu);
		kfree(stack);
		return NULL;
	}
	cpu->index = index;
	cpu->apic_id = apic_id;
	cpu->kernel_stack_top = ((uint64_t)stack + KERNEL_STACK_SIZE) & ~15ul;
	return cpu;
}

/*
 * Waits in hlt, woken by short one-shot timer interrupts, rather than
 * spinning: an emulator then runs the other vCPUs at once instead of
 * when the spinning one's time slice ends.
 */
static void smp_pause_briefly(void)
{
	lapic_timer_oneshot(20, VECTOR_TIMER);
	__asm__ volatile("sti; hlt; cli" : : : "memory");
}

static bool wait_for(volatile uint64_t *flag, uint64_t microseconds)
{
	uint64_t end = rdtsc() + microseconds * (tsc_hz() / 1000000);
	while (rdtsc() < end) {
		if (__atomic_load_n(flag, __ATOMIC_ACQUIRE))
			return true;
		smp_pause_briefly();
	}
	return __atomic_load_n(flag, __ATOMIC_ACQUIRE) != 0;
}

static bool wait_online(struct percpu *cpu, uint64_t microseconds)
{
	uint64_t end = rdtsc() + microseconds * (tsc_hz() / 1000000);
	while (rdtsc() < end && !__atomic_load_n(&cpu->online, __ATOMIC_ACQUIRE))
		smp_pause_briefly();
	return cpu->online;
}

/* INIT, then SIPI, and a second SIPI only if the first did not take. */
static bool smp_start_ap(struct percpu *cpu, uint8_t *trampoline, uint64_t trampoline_phys)
{
	struct trampoline_params *params = trampoline_params_in(trampoline);
	volatile uint64_t *started = &params->started;
	params->stack = cpu->kernel_stack_top;
	params->percpu = (uint64_t)cpu;
	*started = 0;
	__atomic_thread_fence(__ATOMIC_SEQ_CST);

	lapic_send_init(cpu->apic_id);
	/* The MP spec's 10 ms INIT delay only matters to pre-P6 CPUs. */
	if (cpu_features.family < 6)
		udelay(10000);
	lapic_send_startup(cpu->apic_id, (uint32_t)trampoline_phys);
	if (!wait_for(started, 10000)) {
		lapic_send_startup(cpu->apic_id, (uint32_t)trampoline_phys);
		if (!wait_for(started, 100000))
			return false;
	}
	return wait_online(cpu, 1000000);
}

uint32_t smp_init(struct percpu *bsp, const struct acpi_madt_info *madt,
		  const struct smp_options *options)
{
	interrupt_register(VECTOR_TIMER, smp_timer_interrupt);
	interrupt_register(VECTOR_IPI_CALL, smp_call_interrupt);
	interrupt_register(VECTOR_NMI, smp_nmi);

	bsp->apic_id = lapic_id();
	bsp->online = true;
	bsp->tsc_at_online = rdtsc();
	cpus[0] = bsp;
	cpus_online = 1;

	uint32_t limit = options->max_cpus ? options->max_cpus : MAX_CPUS;
	if (options->no_smp || !madt->present || limit == 1) {
		log_info("smp: running on the BSP only (%s)\n",
			 options->no_smp ? "nosmp" : !madt->present ? "no MADT" : "maxcpus=1");
		lapic_timer_start_periodic(SMP_TIMER_HZ, VECTOR_TIMER);
		return cpus_online;
	}

	uint64_t trampoline_phys = pmm_alloc_in(0x1000, 0x100000);
	if (!trampoline_phys || vmm_map_identity(trampoline_phys, PAGE_SIZE, PT_READ | PT_WRITE | PT_EXEC)) {
		log_error("smp: no low page for the AP trampoline; running on the BSP only\n");
		lapic_timer_start_periodic(SMP_TIMER_HZ, VECTOR_TIMER);
		return cpus_online;
	}
	uint8_t *trampoline = phys_to_virt(trampoline_phys);
	memcpy(trampoline, trampoline_start, (uintptr_t)trampoline_size);
	struct trampoline_params *params = trampoline_params_in(trampoline);
	params->cr3 = vmm_kernel_root();
	params->efer = EFER_LME | (cpu_features.nx ? EFER_NXE : 0);
	params->entry = (uint64_t)smp_ap_main;

	for (uint32_t i = 0; i < madt->cpu_count && cpus_online < limit && cpus_online < MAX_CPUS; i++) {
		const struct acpi_cpu *c = &madt->cpus[i];
		if (!c->enabled || c->apic_id == bsp->apic_id)
			continue;
		if (c->apic_id > 0xff && !lapic_x2apic_mode()) {
			log_warn("smp: warning: CPU with APIC ID %u needs x2APIC mode; skipped\n", c->apic_id);
			continue;
		}
		struct percpu *cpu = smp_alloc_cpu(cpus_online, c->apic_id);
		if (!cpu) {
			log_error("smp: out of memory for CPU %u\n", cpus_online);
			break;
		}
		if (!smp_start_ap(cpu, trampoline, trampoline_phys)) {
			/* It may still wake later: keep its memory, never reuse it. */
			log_error("smp: CPU with APIC ID %u did not start; continuing without it\n", c->apic_id);
			continue;
		}
		cpus[cpus_online++] = cpu;
	}
	vmm_unmap_identity(trampoline_phys, PAGE_SIZE);
	pmm_free_frame(trampoline_phys);
	lapic_timer_start_periodic(SMP_TIMER_HZ, VECTOR_TIMER);
	log_info("smp: %u of %u CPUs online\n", cpus_online, madt->cpu_count ? madt->cpu_count : 1);
	return cpus_online;
}

void smp_set_idle_hook(void (*hook)(void))
{
	smp_idle_hook = hook;
	/* Wake every idle AP so it starts calling the hook. */
	for (uint32_t i = 1; i < cpus_online; i++)
		lapic_send_ipi(cpus[i]->apic_id, VECTOR_TIMER);
}

uint32_t smp_call_on_others(void (*fn)(void *arg), void *arg)
{
	while (__atomic_exchange_n(&call_busy, 1, __ATOMIC_ACQUIRE))
		cpu_relax();
	call_fn = fn;
	call_arg = arg;
	__atomic_store_n(&call_done, 0, __ATOMIC_RELEASE);
	uint32_t self = cpu_index(), sent = 0;
	for (uint32_t i = 0; i < cpus_online; i++) {
		if (i == self)
			continue;
		lapic_send_ipi(cpus[i]->apic_id, VECTOR_IPI_CALL);
		sent++;
	}
	uint64_t end = rdtsc() + tsc_hz(); /* one second */
	while (__atomic_load_n(&call_done, __ATOMIC_ACQUIRE) < sent && rdtsc() < end)
		cpu_relax();
	uint32_t done = __atomic_load_n(&call_done, __ATOMIC_ACQUIRE);
	__atomic_store_n(&call_busy, 0, __ATOMIC_RELEASE);
	return done;
}

void smp_stop_others(void)
{
	if (cpus_online <= 1)
		return;
	smp_stopping = true;
	lapic_send_nmi_all_others();
	/* Give them a moment to reach hlt so their output does not interleave. */
	for (uint32_t i = 0; i < cpus_online; i++) {
		if (i == cpu_index())
			continue;
		for (int spins = 0; spins < 10000000 && !cpus[i]->halted; spins++)
			cpu_relax();
	}
}

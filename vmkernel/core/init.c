/*
 * core_init: brings the machine up in the order DESIGN.md gives — console,
 * per-CPU data, memory, interrupts, ACPI, timers, SMP. vmkernel_main()
 * (vmkernel/main.c) calls it first, then starts the layers above.
 */
#include <boot_info.h>

#include <arch/x86/cpu.h>
#include <arch/x86/interrupt.h>
#include <arch/x86/percpu.h>
#include <arch/x86/pic.h>
#include <arch/x86/serial.h>
#include <core/cmdline.h>
#include <core/init.h>
#include <core/panic.h>
#include <core/platform.h>
#include <core/smp.h>
#include <lib/log.h>
#include <lib/string.h>
#include <mm/heap.h>
#include <mm/pmm.h>
#include <mm/vmm.h>

extern char boot_stack_top[];

static struct percpu bsp_percpu;

static void report_cmdline_problem(const char *message)
{
	log_warn("vmkernel: warning: %s\n", message);
}

const char *core_boot_mode_name(uint32_t mode)
{
	return mode == BOOT_MODE_UEFI ? "uefi" : "bios";
}

static const char *loader_name(uint32_t loader)
{
	switch (loader) {
	case BOOT_LOADER_MULTIBOOT2:
		return "multiboot2";
	case BOOT_LOADER_MULTIBOOT1:
		return "multiboot1";
	case BOOT_LOADER_EFI:
		return "kapsel.efi";
	default:
		return "unknown";
	}
}

static void log_memory_map(const struct boot_info *boot)
{
	static const char *const type_names[] = {
		"?", "usable", "reserved", "ACPI reclaimable", "ACPI NVS", "bad", "loader", "firmware runtime",
	};
	for (uint32_t i = 0; i < boot->mem_range_count; i++) {
		const struct boot_mem_range *r = &boot->mem_ranges[i];
		log_debug("  mem %016lx-%016lx %s\n", r->base, r->base + r->length - 1,
			  r->type < 8 ? type_names[r->type] : "?");
	}
}

static bool range_in_map(const struct boot_info *boot, uint64_t start, uint64_t end)
{
	for (uint32_t i = 0; i < boot->mem_range_count; i++) {
		const struct boot_mem_range *r = &boot->mem_ranges[i];
		bool ram = r->type == BOOT_MEM_USABLE || r->type == BOOT_MEM_LOADER_RECLAIMABLE;
		if (ram && start >= r->base && end <= r->base + r->length)
			return true;
	}
	return false;
}

/* The image and every module are off limits to the frame allocator. A module
 * outside RAM is dropped: nothing could read it safely. */
static uint32_t collect_reserved(struct boot_info *boot, struct boot_mem_range *out)
{
	uint32_t n = 0, kept = 0;

	out[n].base = boot->kernel_phys_start;
	out[n++].length = boot->kernel_phys_end - boot->kernel_phys_start;
	for (uint32_t i = 0; i < boot->module_count; i++) {
		const struct boot_module *m = &boot->modules[i];
		if (m->phys_end <= m->phys_start) {
			log_warn("vmkernel: warning: module %u ('%s') is empty or inverted, ignored\n", i,
				 m->name);
			continue;
		}
		if (!range_in_map(boot, m->phys_start, m->phys_end)) {
			log_warn("vmkernel: warning: module %u ('%s') at 0x%lx-0x%lx is not in RAM, ignored\n",
				 i, m->name, m->phys_start, m->phys_end);
			continue;
		}
		log_info("vmkernel: module %u: '%s' (%lu KiB)\n", kept, m->name,
			 (m->phys_end - m->phys_start) >> 10);
		out[n].base = m->phys_start;
		out[n++].length = m->phys_end - m->phys_start;
		boot->modules[kept++] = *m;
	}
	boot->module_count = kept;
	return n;
}

static void memory_init(struct boot_info *boot)
{
	static struct boot_mem_range reserved[BOOT_MAX_MODULES + 1];
	static const struct pmm_phys_access identity = { phys_to_virt };
	uint32_t reserved_count = collect_reserved(boot, reserved);

	log_memory_map(boot);
	if (pmm_init(boot->mem_ranges, boot->mem_range_count, reserved, reserved_count, &identity))
		panic("cannot manage physical memory with this memory map");
	if (vmm_init(boot))
		panic("cannot build the vmkernel's page tables");
	/* The loader's page tables and buffers are no longer in use. */
	uint64_t reclaimed = pmm_reclaim(boot->mem_ranges, boot->mem_range_count,
					 BOOT_MEM_LOADER_RECLAIMABLE, reserved, reserved_count);
	struct pmm_stats stats;
	pmm_get_stats(&stats);
	log_info("mm: %lu MiB usable, %lu MiB free, highest address 0x%lx, %lu KiB reclaimed from the loader\n",
		 stats.usable_bytes >> 20, (stats.free_frames * PMM_FRAME_SIZE) >> 20,
		 stats.highest_usable, reclaimed * 4);
}

/* Proves RAM above 4 GiB is in use: one frame there, written and read back. */
static void memory_check_high(void)
{
	struct pmm_stats stats;

	pmm_get_stats(&stats);
	if (stats.highest_usable <= (4ul << 30))
		return;
	uint64_t phys = pmm_alloc_in(4ul << 30, UINT64_MAX);
	if (!phys) {
		log_warn("mm: warning: RAM above 4 GiB is reported but no frame there is free\n");
		return;
	}
	volatile uint64_t *p = phys_to_virt(phys);
	for (int i = 0; i < 512; i++)
		p[i] = phys ^ (uint64_t)i;
	bool ok = true;
	for (int i = 0; i < 512; i++)
		ok &= p[i] == (phys ^ (uint64_t)i);
	pmm_free_frame(phys);
	if (ok)
		log_info("mm: RAM above 4 GiB in use (frame 0x%lx checked)\n", phys);
	else
		panic("RAM above 4 GiB at 0x%lx does not hold what was written", phys);
}

__attribute__((noinline)) void core_trigger_test_fault(enum test_fault fault)
{
	log_info("vmkernel: test_fault: triggering the requested fault\n");
	switch (fault) {
	case TEST_FAULT_UD:
		__asm__ volatile("ud2");
		break;
	case TEST_FAULT_PF:
		*(volatile uint64_t *)0xdead0000ul = 1; /* nothing is mapped low */
		break;
	case TEST_FAULT_GP: {
		/* A non-canonical address faults with #GP, not #PF. */
		volatile uint64_t *p = (volatile uint64_t *)0x8000000000000000ul;
		(void)*p;
		break;
	}
	case TEST_FAULT_DE:
		__asm__ volatile("xorl %%ecx, %%ecx; divl %%ecx" : : : "eax", "ecx", "edx");
		break;
	case TEST_FAULT_BP:
		__asm__ volatile("int3");
		break;
	default:
		break;
	}
	panic("test_fault: the requested fault did not happen");
}

void core_boot_milestone(const char *what)
{
	log_debug("boot: %-12s tsc=%lu\n", what, rdtsc() - boot_tsc_at_entry);
}

static void count_ipi(void *arg)
{
	__atomic_add_fetch((uint32_t *)arg, 1, __ATOMIC_RELAXED);
}

/* Every AP answers a cross-call IPI and takes timer interrupts. */
static void smp_check_ipis(uint32_t cpus)
{
	if (cpus < 2)
		return;
	uint32_t count = 0;
	uint32_t answered = smp_call_on_others(count_ipi, &count);
	if (answered != cpus - 1)
		log_warn("smp: warning: %u of %u CPUs answered the IPI\n", answered, cpus - 1);
	else
		log_info("smp: IPI answered by all %u other CPUs\n", answered);
}

uint32_t core_init(struct boot_info *boot, const char *problem, struct vmkernel_options *options)
{
	bool have_serial = serial_init();

	if (have_serial)
		log_add_sink(serial_write);
	log_info("\nKapsel vmkernel %s starting (loader: %s, boot: %s)\n", KAPSEL_VERSION,
		 loader_name(boot->loader), core_boot_mode_name(boot->mode));
	if (boot->magic != BOOT_INFO_MAGIC) {
		log_error("vmkernel: halted: %s\n", problem ? problem : "no usable boot information");
		cpu_halt_forever();
	}
	if (problem)
		log_warn("vmkernel: warning: %s\n", problem);
	cmdline_parse(boot->cmdline, options, report_cmdline_problem);
	log_set_level((enum log_level)options->log_level);
	log_info("vmkernel: command line: '%s'\n", boot->cmdline);

	cpu_features_init();
	bsp_percpu.index = 0;
	bsp_percpu.kernel_stack_top = (uint64_t)boot_stack_top;
	percpu_install(&bsp_percpu);
	pic_disable();
	interrupt_init();
	interrupt_load_idt();
	interrupt_set_fatal_hook(panic_stop_other_cpus);
	log_info("cpu: %s %s family %u model %u%s%s\n", cpu_features.vendor, cpu_features.brand,
		 cpu_features.family, cpu_features.model, cpu_features.vmx ? " vmx" : "",
		 cpu_features.svm ? " svm" : "");

	core_boot_milestone("console");
	memory_init(boot);
	memory_check_high();
	core_boot_milestone("memory");

	platform_init(boot, !options->no_x2apic, options->debug_exit);
	core_boot_milestone("platform");
	struct smp_options smp_options = { .max_cpus = options->max_cpus, .no_smp = options->no_smp };
	uint32_t cpus = smp_init(&bsp_percpu, &platform_acpi()->madt, &smp_options);
	panic_set_stop_hook(smp_stop_others);
	core_boot_milestone("smp");
	irq_enable();
	smp_check_ipis(cpus);
	return cpus;
}

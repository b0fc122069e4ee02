#include <vm/vm_init.h>

#include <arch/x86/virt.h>
#include <core/smp.h>
#include <lib/log.h>
#include <lib/string.h>
#include <mm/pmm.h>
#include <mm/vmm.h>
#include <sched/sched.h>
#include <vm/vcpu_run.h>

static uint64_t alloc_zeroed_pages(unsigned count)
{
	uint64_t phys = pmm_alloc_contiguous(count, PMM_FRAME_SIZE);
	if (phys)
		memset(phys_to_virt(phys), 0, count * PMM_FRAME_SIZE);
	return phys;
}

static const struct virt_host_services host_services = {
	.alloc_zeroed_page = vmm_alloc_zeroed_frame,
	.alloc_zeroed_pages = alloc_zeroed_pages,
	.free_page = pmm_free_frame,
	.phys_to_virt = phys_to_virt,
	.virt_to_phys = virt_to_phys,
};

static volatile int enable_failures;

static void enable_on_this_cpu(void *arg)
{
	const struct virt_ops *ops = arg;
	if (ops->cpu_enable())
		__atomic_add_fetch(&enable_failures, 1, __ATOMIC_RELAXED);
}

const char *vm_subsystem_init(void)
{
	char why[160];

	virt_set_host_services(&host_services);
	const struct virt_ops *ops = virt_select(why, sizeof(why));
	if (!ops) {
		log_warn("virt: warning: no hardware virtualization: %s; VMs cannot run\n", why);
		return "none";
	}
	enable_on_this_cpu((void *)ops);
	uint32_t others = smp_call_on_others(enable_on_this_cpu, (void *)ops);
	if (enable_failures || others != smp_cpu_count() - 1) {
		log_error("virt: %s could not be enabled on every CPU (%d failed); VMs cannot run\n",
			  ops->name, enable_failures);
		virt_clear_backend();
		return "none";
	}
	vcpu_run_init();
	smp_set_idle_hook(vm_idle_loop_once);
	log_info("virt: %s enabled on %u CPUs\n", ops->name, smp_cpu_count());
	return ops->name;
}

void vm_idle_loop_once(void)
{
	sched_run_once();
}

#include <vm/vm.h>

#include <arch/x86/cpu.h>
#include <arch/x86/lapic.h>
#include <core/smp.h>
#include <lib/errno.h>
#include <lib/log.h>
#include <lib/printf.h>
#include <lib/string.h>
#include <mm/heap.h>
#include <mm/pmm.h>
#include <mm/vmm.h>
#include <vm/vm_log.h>

static struct vm *all_vms;              /* [m] vms_lock */
static uint32_t next_vm_id = 1;
static struct spinlock vms_lock = SPINLOCK_INIT;

/*
 * Guest RAM layout (shared with the loaders' memory map): up to 3 GiB from
 * guest-physical 0, the rest from 4 GiB, leaving [3 GiB, 4 GiB) to devices
 * (the LAPIC, the test device, later PCI).
 */
#define GPA_LOW_RAM_LIMIT 0xc0000000ul
#define GPA_HIGH_RAM_START 0x100000000ul

static uint64_t chunk_gpa(uint64_t chunk)
{
	uint64_t offset = chunk * VM_RAM_CHUNK;
	return offset < GPA_LOW_RAM_LIMIT ? offset : GPA_HIGH_RAM_START + (offset - GPA_LOW_RAM_LIMIT);
}

/* The chunk holding gpa, or -1 when gpa is not RAM. */
static int64_t gpa_chunk(struct vm *vm, uint64_t gpa)
{
	uint64_t offset;
	if (gpa < GPA_LOW_RAM_LIMIT)
		offset = gpa;
	else if (gpa >= GPA_HIGH_RAM_START)
		offset = gpa - GPA_HIGH_RAM_START + GPA_LOW_RAM_LIMIT;
	else
		return -1;
	return offset < vm->ram_size ? (int64_t)(offset / VM_RAM_CHUNK) : -1;
}

static uint64_t gpa_alloc_table(void *ctx)
{
	struct vm *vm = ctx;
	uint64_t phys = vmm_alloc_zeroed_frame();
	if (phys)
		vm->overhead_bytes += PAGE_SIZE;
	return phys;
}

static void gpa_free_table(void *ctx, uint64_t phys)
{
	struct vm *vm = ctx;
	vm->overhead_bytes -= PAGE_SIZE;
	pmm_free_frame(phys);
}

static void *gpa_phys_to_virt(void *ctx, uint64_t phys)
{
	(void)ctx;
	return phys_to_virt(phys);
}

static void gpa_env(struct vm *vm, struct pt_env *env)
{
	env->alloc_table = gpa_alloc_table;
	env->free_table = gpa_free_table;
	env->phys_to_virt = gpa_phys_to_virt;
	env->ctx = vm;
}

struct vm *vm_list(void)
{
	return all_vms;
}

static void vm_free_memory(struct vm *vm)
{
	if (vm->ram_chunks) {
		for (uint64_t i = 0; i < vm->ram_size / VM_RAM_CHUNK; i++)
			if (vm->ram_chunks[i])
				pmm_free_contiguous(vm->ram_chunks[i], VM_RAM_CHUNK / PAGE_SIZE);
		kfree(vm->ram_chunks);
	}
	if (vm->gpa_root) {
		struct pt_env env;
		gpa_env(vm, &env);
		pt_free_tables(virt_backend()->gpa_format, &env, vm->gpa_root);
		pmm_free_frame(vm->gpa_root);
	}
}

/* Guest RAM: 2 MiB host-contiguous chunks, so EPT/NPT can use 2 MiB pages
 * and guest-physical -> host lookups are one array index. */
static int vm_alloc_memory(struct vm *vm, char *error, size_t error_size)
{
	const struct virt_ops *ops = virt_backend();
	uint64_t chunks = vm->ram_size / VM_RAM_CHUNK;
	struct pt_env env;

	gpa_env(vm, &env);
	vm->ram_chunks = kzalloc(chunks * sizeof(uint64_t));
	vm->gpa_root = vmm_alloc_zeroed_frame();
	if (!vm->ram_chunks || !vm->gpa_root) {
		snprintf(error, error_size, "out of vmkernel memory");
		return -ENOMEM;
	}
	vm->overhead_bytes += chunks * sizeof(uint64_t) + PAGE_SIZE;
	for (uint64_t i = 0; i < chunks; i++) {
		uint64_t hpa = pmm_alloc_contiguous(VM_RAM_CHUNK / PAGE_SIZE, VM_RAM_CHUNK);
		if (!hpa) {
			snprintf(error, error_size, "not enough free host memory for %lu MiB of guest RAM",
				 vm->ram_size >> 20);
			return -ENOMEM;
		}
		memset(phys_to_virt(hpa), 0, VM_RAM_CHUNK);
		vm->ram_chunks[i] = hpa;
		int rc = pt_map(ops->gpa_format, &env, vm->gpa_root, chunk_gpa(i), hpa, VM_RAM_CHUNK,
				PT_READ | PT_WRITE | PT_EXEC | PT_USER, true);
		if (rc) {
			snprintf(error, error_size, "cannot map guest RAM (%d)", rc);
			return rc;
		}
	}
	return 0;
}

struct vm *vm_create(const struct vm_create_params *params, char *error, size_t error_size)
{
	const struct virt_ops *ops = virt_backend();

	if (!ops) {
		snprintf(error, error_size, "this machine cannot run VMs (no usable VMX or SVM)");
		return NULL;
	}
	if (!params->ram_mib || (params->ram_mib << 20) > VM_MAX_RAM || (params->ram_mib & 1)) {
		snprintf(error, error_size, "memory must be an even number of MiB, 2 .. %lu",
			 VM_MAX_RAM >> 20);
		return NULL;
	}
	if (!params->vcpus || params->vcpus > VM_MAX_VCPUS) {
		snprintf(error, error_size, "vCPUs must be 1 .. %u", (unsigned)VM_MAX_VCPUS);
		return NULL;
	}
	struct vm *vm = kzalloc(sizeof(*vm));
	if (!vm) {
		snprintf(error, error_size, "out of vmkernel memory");
		return NULL;
	}
	strlcpy(vm->name, params->name, sizeof(vm->name));
	vm->ram_size = params->ram_mib << 20;
	vm->vcpu_count = params->vcpus;
	vm->on_triple_fault = params->on_triple_fault;
	vm->exit_status = -1;
	vm->overhead_bytes = sizeof(*vm);
	if (vm_alloc_memory(vm, error, error_size))
		goto fail;

	uint64_t flags = spin_lock_irqsave(&vms_lock);
	vm->id = next_vm_id++;
	spin_unlock_irqrestore(&vms_lock, flags);

	if (params->shares > SCHED_SHARES_MAX || params->reservation_pct > SCHED_PERCENT_MAX ||
	    params->limit_pct > SCHED_PERCENT_MAX ||
	    (params->limit_pct && params->reservation_pct > params->limit_pct)) {
		snprintf(error, error_size, "shares must be 1 .. %u, reservation and limit 0 .. %u%% with reservation <= limit",
			 SCHED_SHARES_MAX, SCHED_PERCENT_MAX);
		goto fail;
	}
	sched_group_init(&vm->sched, params->shares, params->reservation_pct, params->limit_pct, vm->vcpu_count,
			 rdtsc());
	/* One offset for every vCPU: their TSCs agree (Linux checks for warps
	 * between CPUs and drops the TSC as its clock if they differ). */
	uint64_t tsc_offset = -rdtsc(); /* the guest's TSC starts near 0 */
	for (uint32_t i = 0; i < vm->vcpu_count; i++) {
		struct vcpu *vcpu = kzalloc(sizeof(*vcpu));
		if (!vcpu) {
			snprintf(error, error_size, "out of vmkernel memory");
			goto fail;
		}
		vm->vcpus[i] = vcpu;
		vm->overhead_bytes += sizeof(*vcpu) + ops->vcpu_overhead();
		vcpu->vm = vm;
		vcpu->index = i;
		vcpu->state = i == 0 ? VCPU_RUNNABLE : VCPU_WAIT_FOR_SIPI;
		sched_task_init(&vcpu->task, &vm->sched, params->affinity);
		vcpu->arch.gpa_root = vm->gpa_root;
		vcpu->arch.tag = vm->id * VM_MAX_VCPUS + i + 1;
		vcpu->arch.tsc_offset = tsc_offset;
	}
	flags = spin_lock_irqsave(&vms_lock);
	vm->next = all_vms;
	all_vms = vm;
	spin_unlock_irqrestore(&vms_lock, flags);
	return vm;
fail:
	for (uint32_t i = 0; i < vm->vcpu_count; i++)
		kfree(vm->vcpus[i]);
	vm_free_memory(vm);
	kfree(vm);
	return NULL;
}

int vm_register_io(struct vm *vm, uint16_t first, uint16_t last, vm_io_read_fn read,
		   vm_io_write_fn write, void *opaque)
{
	if (vm->io_count == VM_MAX_IO_HANDLERS || last < first)
		return -ENOSPC;
	vm->io[vm->io_count++] = (struct vm_io_handler){ first, last, read, write, opaque };
	return 0;
}

int vm_register_mmio(struct vm *vm, uint64_t base, uint64_t size, vm_mmio_read_fn read,
		     vm_mmio_write_fn write, void *opaque)
{
	if (vm->mmio_count == VM_MAX_MMIO_HANDLERS || !size || base + size < base)
		return -ENOSPC;
	vm->mmio[vm->mmio_count++] = (struct vm_mmio_handler){ base, size, read, write, opaque };
	return 0;
}

void *vm_gpa_to_host(struct vm *vm, uint64_t gpa, uint64_t length)
{
	int64_t chunk = gpa_chunk(vm, gpa);
	if (chunk < 0 || (gpa & (VM_RAM_CHUNK - 1)) + length > VM_RAM_CHUNK)
		return NULL;
	return (uint8_t *)phys_to_virt(vm->ram_chunks[chunk]) + (gpa & (VM_RAM_CHUNK - 1));
}

static int vm_copy(struct vm *vm, uint64_t gpa, void *buffer, uint64_t length, bool to_guest)
{
	uint8_t *p = buffer;

	while (length) {
		uint64_t in_chunk = VM_RAM_CHUNK - (gpa & (VM_RAM_CHUNK - 1));
		uint64_t n = length < in_chunk ? length : in_chunk;
		uint8_t *host = vm_gpa_to_host(vm, gpa, n);
		if (!host)
			return -EFAULT;
		if (to_guest)
			memcpy(host, p, n);
		else
			memcpy(p, host, n);
		gpa += n;
		p += n;
		length -= n;
	}
	return 0;
}

int vm_copy_to_guest(struct vm *vm, uint64_t gpa, const void *src, uint64_t length)
{
	return vm_copy(vm, gpa, (void *)src, length, true);
}

int vm_copy_from_guest(struct vm *vm, uint64_t gpa, void *dst, uint64_t length)
{
	return vm_copy(vm, gpa, dst, length, false);
}

void vm_start(struct vm *vm)
{
	vm->state = VM_RUNNING;
	vm->start_tsc = rdtsc();
	log_info("vm %s: started: %lu MiB, %u vCPU%s, vmkernel overhead %lu KiB\n", vm->name,
		 vm->ram_size >> 20, vm->vcpu_count, vm->vcpu_count > 1 ? "s" : "",
		 vm->overhead_bytes >> 10);
	vm_log(vm, "started: %lu MiB, %u vCPU%s", vm->ram_size >> 20, vm->vcpu_count, vm->vcpu_count > 1 ? "s" : "");
	for (uint32_t i = 0; i < vm->vcpu_count; i++)
		sched_task_start(&vm->vcpus[i]->task, vm->vcpus[i]->state == VCPU_RUNNABLE);
}

bool vm_stop(struct vm *vm, int64_t exit_status, const char *fmt, ...)
{
	va_list ap;
	uint64_t flags = spin_lock_irqsave(&vm->lock);

	if (vm->state == VM_STOPPED) {
		spin_unlock_irqrestore(&vm->lock, flags);
		return false;
	}
	va_start(ap, fmt);
	vsnprintf(vm->stop_reason, sizeof(vm->stop_reason), fmt, ap);
	va_end(ap);
	vm->exit_status = exit_status;
	vm->stop_tsc = rdtsc();
	__atomic_store_n(&vm->state, VM_STOPPED, __ATOMIC_RELEASE);
	spin_unlock_irqrestore(&vm->lock, flags);
	if (exit_status >= 0)
		log_info("vm %s: exited status=%ld\n", vm->name, exit_status);
	else
		log_warn("vm %s: stopped: %s\n", vm->name, vm->stop_reason);
	vm_log(vm, "stopping: %s", vm->stop_reason);
	for (uint32_t i = 0; i < vm->vcpu_count; i++)
		vcpu_kick(vm->vcpus[i]);
	return true;
}

bool vm_restart_service_console(struct vcpu *vcpu, const char *why)
{
	struct vm *vm = vcpu->vm;
	uint64_t now = rdtsc();

	if (!vm->service_console || !vm->restart_on_end || !vm->reset || vm->vcpu_count != 1 || vcpu->index)
		return false;
	if (!vm->restart_window_tsc || now - vm->restart_window_tsc > VM_CONSOLE_RESTART_WINDOW_S * tsc_hz()) {
		vm->restart_window_tsc = now;
		vm->restarts_in_window = 0;
	}
	if (vm->restarts_in_window >= VM_CONSOLE_RESTARTS) {
		log_error("vm %s: service console %s, after %u restarts within %u s: not restarted again\n",
			  vm->name, why, vm->restarts_in_window, VM_CONSOLE_RESTART_WINDOW_S);
		return false;
	}
	vm->restarts_in_window++;
	uint64_t flags = spin_lock_irqsave(&vm->lock);
	vm->resets++;
	spin_unlock_irqrestore(&vm->lock, flags);
	log_warn("vm %s: service console %s: restarting it (restart %u; running VMs are not affected)\n",
		 vm->name, why, vm->resets);
	vm_log(vm, "reset: service console %s (restart %u)", why, vm->resets);
	if (vm->reset(vm)) {
		log_error("vm %s: the service console could not be restarted\n", vm->name);
		return false;
	}
	return true;
}

void vcpu_kick(struct vcpu *vcpu)
{
	sched_kick(&vcpu->task);
}

static const char *const exit_names[VMK_EXIT_COUNT] = {
	[VMK_EXIT_NONE] = "host-interrupt",
	[VMK_EXIT_INTERRUPT_WINDOW] = "interrupt-window",
	[VMK_EXIT_CPUID] = "cpuid",
	[VMK_EXIT_IO] = "io",
	[VMK_EXIT_MMIO] = "mmio",
	[VMK_EXIT_MSR_READ] = "rdmsr",
	[VMK_EXIT_MSR_WRITE] = "wrmsr",
	[VMK_EXIT_HLT] = "hlt",
	[VMK_EXIT_HYPERCALL] = "hypercall",
	[VMK_EXIT_TRIPLE_FAULT] = "triple-fault",
	[VMK_EXIT_INIT] = "init",
	[VMK_EXIT_SIPI] = "sipi",
	[VMK_EXIT_CR_ACCESS] = "cr-access",
	[VMK_EXIT_XSETBV] = "xsetbv",
	[VMK_EXIT_EXCEPTION] = "exception",
	[VMK_EXIT_PAUSE] = "pause",
	[VMK_EXIT_INVALID_INSTRUCTION] = "invalid-instruction",
	[VMK_EXIT_ENTRY_FAILED] = "entry-failed",
	[VMK_EXIT_UNHANDLED] = "unhandled",
};

const char *vmk_exit_name(uint32_t code)
{
	return code < VMK_EXIT_COUNT && exit_names[code] ? exit_names[code] : "?";
}

/* TSC ticks as microseconds, for people; the ticks are printed too, for
 * tests under -icount where a tick is an instruction. */
static uint64_t ticks_to_us(uint64_t ticks)
{
	uint64_t per_us = tsc_hz() / 1000000;
	return ticks / (per_us ? per_us : 1);
}

static void vm_print_cpu_accounting(struct vm *vm)
{
	struct sched_account a;
	const struct sched_task *tasks[VM_MAX_VCPUS];
	uint64_t end = vm->state == VM_RUNNING ? rdtsc() : vm->stop_tsc;
	uint64_t elapsed = end > vm->start_tsc ? end - vm->start_tsc : 0;

	for (uint32_t i = 0; i < vm->vcpu_count; i++)
		tasks[i] = &vm->vcpus[i]->task;
	sched_group_account(&vm->sched, tasks, vm->vcpu_count, &a);
	log_info("vm %s: cpu shares=%u reservation=%u%% limit=%u%% elapsed=%lu used=%lu ready=%lu limited=%lu halted=%lu ticks\n",
		 vm->name, vm->sched.shares, vm->sched.reservation_pct, vm->sched.limit_pct, elapsed, a.used,
		 a.ready, a.limited, a.blocked);
	log_info("vm %s: cpu used=%lu us ready=%lu us halted=%lu us wakeups=%lu wake-latency avg=%lu max=%lu ticks (avg %lu us) dispatches=%lu migrations=%lu\n",
		 vm->name, ticks_to_us(a.used), ticks_to_us(a.ready), ticks_to_us(a.blocked), a.wakeups,
		 a.wakeups ? a.wake_latency / a.wakeups : 0, a.wake_latency_max,
		 ticks_to_us(a.wakeups ? a.wake_latency / a.wakeups : 0), a.dispatches, a.migrations);
}

void vm_exit_totals(const struct vm *vm, uint32_t code, uint64_t *count, uint64_t *cycles)
{
	*count = *cycles = 0;
	for (uint32_t i = 0; i < vm->vcpu_count; i++) {
		*count += vm->vcpus[i]->exit_count[code];
		*cycles += vm->vcpus[i]->exit_cycles[code];
	}
}

void vm_print_exit_stats(struct vm *vm)
{
	uint64_t total = 0;

	for (uint32_t code = 0; code < VMK_EXIT_COUNT; code++) {
		uint64_t count, cycles;
		vm_exit_totals(vm, code, &count, &cycles);
		if (!count)
			continue;
		total += count;
		log_info("vm %s:   %-20s %10lu exits %12lu cycles %8lu avg\n", vm->name,
			 vmk_exit_name(code), count, cycles, cycles / count);
	}
	log_info("vm %s:   %-20s %10lu exits\n", vm->name, "total", total);
	vm_print_cpu_accounting(vm);
}

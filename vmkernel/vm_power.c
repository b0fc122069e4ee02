/*
 * Power cycles of the boot-time VMs. `vm stop` (or the guest's own end)
 * stops a VM wherever its vCPUs run; once every vCPU has left its pCPU
 * (its scheduler task is dead, its VMCS/VMCB freed), the BSP's loop here
 * finishes the power-off: the disks' VMFS locks are dropped. `vm start` of
 * a VM that is off only asks (vm->power); the same loop then powers it on:
 * disks locked again (refused with the reason when another VM or host has
 * them), RAM zeroed, PCI/virtio, chipset and local APICs reset, every
 * vCPU at power-on state (vCPU 0 at the guest's entry, the others waiting
 * for SIPI), the guest loaded again. Datastore I/O may block, so it is
 * done here, never in a vCPU's exit path where device locks are held.
 *
 * A VM whose .vmx is on a datastore also has, in that directory, its log
 * (vmware.log, vm_logfile.h: power-on and -off with reasons, its
 * configuration, COM1's lines, exit statistics) and its NVRAM
 * (<name>.nvram, vm_nvram.h), loaded at power-on and saved at power-off.
 */
#include "vm_power.h"

#include "boot_vm.h"
#include "vm_logfile.h"
#include "vm_nvram.h"

#include <arch/x86/cpu.h>
#include <arch/x86/lapic.h>
#include <lib/errno.h>
#include <lib/log.h>
#include <lib/printf.h>
#include <lib/string.h>
#include <mm/heap.h>
#include <mm/vmm.h>
#include <sched/sched.h>
#include <storage/vmfs_vdisk.h>
#include <vdev/chipset.h>
#include <vdev/pci.h>
#include <vdev/rtc.h>
#include <vdev/vdev.h>
#include <vm/vm_log.h>

/* A stopped VM whose vCPUs have not left after this long no longer holds
 * up the host's power-off (its disks are closed by datastore_shutdown). */
#define VCPU_LEAVE_TIMEOUT_S 10

static struct boot_vm *boot_vm_of(struct vm *vm)
{
	return vm->reset_opaque;
}

/* Every vCPU is off its pCPU for good (or never ran). */
static bool vcpus_gone(struct vm *vm)
{
	if (!vm->start_tsc)
		return true;
	for (uint32_t i = 0; i < vm->vcpu_count; i++)
		if (!sched_task_dead(&vm->vcpus[i]->task))
			return false;
	return true;
}

static void release_disks(struct boot_vm *b, unsigned count)
{
	for (unsigned i = 0; i < count; i++)
		vmfs_vdisk_release(b->datastore_disks[i]);
}

/* "<directory>/<name><suffix>", or "" when the VM has no directory. */
static void file_path(const struct vm *vm, const struct boot_vm *b, const char *suffix, char *out, size_t size)
{
	out[0] = '\0';
	if (b->directory[0] && snprintf(out, size, "%s/%s%s", b->directory, vm->name, suffix) >= (int)size)
		out[0] = '\0';
}

/* The exit statistics and CPU accounting of this power-on, into its log. */
static void log_exit_stats(struct vm *vm)
{
	struct sched_account a;
	const struct sched_task *tasks[VM_MAX_VCPUS];
	uint64_t total = 0;

	for (uint32_t code = 0; code < VMK_EXIT_COUNT; code++) {
		uint64_t count, cycles;
		vm_exit_totals(vm, code, &count, &cycles);
		if (count)
			vm_log(vm, "exits %s: %lu, %lu cycles, %lu avg", vmk_exit_name(code), count, cycles,
			       cycles / count);
		total += count;
	}
	vm_log(vm, "exits total: %lu", total);
	for (uint32_t i = 0; i < vm->vcpu_count; i++)
		tasks[i] = &vm->vcpus[i]->task;
	sched_group_account(&vm->sched, tasks, vm->vcpu_count, &a);
	vm_log(vm, "cpu: used %lu ready %lu halted %lu ticks, %lu dispatches, %lu migrations", a.used, a.ready,
	       a.blocked, a.dispatches, a.migrations);
}

static void unlock_files(struct boot_vm *b)
{
	if (b->config_file)
		vmfs_close(b->config_file);
	if (b->nvram_file)
		vmfs_close(b->nvram_file);
	b->config_file = NULL;
	b->nvram_file = NULL;
}

/* Its .vmx and .nvram (created empty when new), held exclusively until
 * power-off. 0, or -EBUSY with the reason when another host holds one;
 * other failures (a read-only datastore) are only logged. */
static int lock_files(struct vm *vm, struct boot_vm *b, char *error, size_t error_size)
{
	char path[DATASTORE_PATH_MAX], why[160];
	int rc = 0;

	if (b->config_path[0] && !b->config_file)
		rc = datastore_open(b->config_path, 0, VMFS_LOCK_EXCLUSIVE, &b->config_file, why, sizeof(why));
	file_path(vm, b, ".nvram", path, sizeof(path));
	if (!rc && path[0] && !b->nvram_file)
		rc = datastore_open(path, VMFS_O_CREAT, VMFS_LOCK_EXCLUSIVE, &b->nvram_file, why, sizeof(why));
	if (rc == -EBUSY) {
		unlock_files(b);
		snprintf(error, error_size, "%s", why);
		return rc;
	}
	if (rc)
		log_warn("vm %s: its files are not locked while it runs: %s\n", vm->name, why);
	return 0;
}

static void save_nvram(struct vm *vm, struct boot_vm *b)
{
	char path[DATASTORE_PATH_MAX], why[192];

	file_path(vm, b, ".nvram", path, sizeof(path));
	if (!path[0])
		return;
	if (vm_nvram_save(vm, path, why, sizeof(why))) {
		vm_log(vm, "nvram: not saved: %s", why);
		log_warn("vm %s: NVRAM not saved: %s\n", vm->name, why);
	} else {
		vm_log(vm, "nvram: saved to %s", path);
	}
}

static void close_files(struct vm *vm, struct boot_vm *b)
{
	vm->serial_log = NULL;
	vm_logfile_close(b->serial);
	vm->log = NULL;
	vm_logfile_close(b->log);
}

static void finish_power_off(struct vm *vm, bool ran)
{
	struct boot_vm *b = boot_vm_of(vm);

	if (ran) {
		if (vm->exit_status >= 0)
			vm_log(vm, "power off: %s, exit status %ld", vm->stop_reason, vm->exit_status);
		else
			vm_log(vm, "power off: %s", vm->stop_reason);
		log_exit_stats(vm);
		save_nvram(vm, b);
	}
	release_disks(b, b->datastore_disk_count);
	unlock_files(b);
	if (ran)
		vm_log(vm, "powered off, disk and file locks released");
	close_files(vm, b);
	bool again = __atomic_exchange_n(&b->power_cycle, false, __ATOMIC_ACQ_REL);
	if (again)
		b->power_on_reason = "reset of a VM with several vCPUs (power cycle)";
	__atomic_store_n(&vm->power, again ? VM_POWER_ON_PENDING : VM_POWER_OFF, __ATOMIC_RELEASE);
	if (ran)
		log_info("vm %s: powered off%s\n", vm->name,
			 b->datastore_disk_count ? ", its disk locks released" : "");
}

/* Its configuration, for the log. */
static void log_configuration(struct vm *vm, const struct boot_vm *b)
{
	const struct vm_definition *def = &b->def;

	vm_log(vm, "Kapsel vmkernel %s, VM %s, hw.version %u", KAPSEL_VERSION, vm->name, def->hw_version);
	if (vm->chipset) {
		/* Its clock starts from the host's: the wall time of this power-on. */
		struct vrtc_date d;
		uint64_t flags = spin_lock_irqsave(&vm->chipset->lock);
		int64_t now = vrtc_now(&vm->chipset->rtc, rdtsc());
		spin_unlock_irqrestore(&vm->chipset->lock, flags);
		vrtc_seconds_to_date(now, &d);
		vm_log(vm, "time: %04d-%02d-%02dT%02d:%02d:%02dZ", d.year, d.month, d.day, d.hour, d.minute, d.second);
	}
	vm_log(vm, "config: memsize %u MiB, numvcpus %u, shares %u, reservation %u%%, limit %u%%, autostart %s",
	       def->memsize_mib, def->vcpu_count, vm->sched.shares, def->reservation_pct, def->limit_pct,
	       def->autostart ? "on" : "off");
	vm_log(vm, "config: kernel %s%s%s", def->kernel, def->initrd[0] ? ", initrd " : "", def->initrd);
	if (def->cmdline[0])
		vm_log(vm, "config: cmdline %s", def->cmdline);
	for (unsigned i = 0; i < def->disk_count; i++)
		vm_log(vm, "config: disk %u %s", i, def->disks[i]);
	for (unsigned i = 0; i < VMDEF_MAX_NICS; i++)
		if (def->nics[i].present)
			vm_log(vm, "config: ethernet%u on network \"%s\"", i, def->nics[i].network);
	if (!def->serial_present)
		vm_log(vm, "config: serial0 absent");
	else if (def->serial_target == VMDEF_SERIAL_FILE)
		vm_log(vm, "config: serial0 to file %s", def->serial_file);
	else
		vm_log(vm, "config: serial0 to the vmkernel console");
}

/* COM1 to a file: "[ds]/path", or a name in the VM's directory. */
static void open_serial_file(struct vm *vm, struct boot_vm *b)
{
	char path[DATASTORE_PATH_MAX], why[192];
	const char *name = b->def.serial_file;

	if (!b->def.serial_present || b->def.serial_target != VMDEF_SERIAL_FILE)
		return;
	if (name[0] == '[')
		snprintf(path, sizeof(path), "%s", name);
	else if (!b->directory[0] || snprintf(path, sizeof(path), "%s/%s", b->directory, name) >= (int)sizeof(path))
		path[0] = '\0';
	if (!path[0]) {
		snprintf(why, sizeof(why), "'%s': a relative name needs a VM defined on a datastore", name);
	} else if (!vm_logfile_open(&b->serial, path, false, why, sizeof(why))) {
		vm->serial_log = &b->serial->ring;
		vm_log(vm, "serial0: output to %s", path);
		return;
	}
	vm_log(vm, "serial0: no file (%s): output to the vmkernel console", why);
	log_warn("vm %s: serial0 file %s: output to the vmkernel console\n", vm->name, why);
}

/* Log and serial files and NVRAM for a power-on. @why: what powers it on. */
static void open_files(struct vm *vm, struct boot_vm *b, const char *why)
{
	char path[DATASTORE_PATH_MAX], error[192];

	if (b->directory[0]) {
		if (snprintf(path, sizeof(path), "%s/" VM_LOGFILE_NAME, b->directory) >= (int)sizeof(path))
			snprintf(error, sizeof(error), "'%s': path too long", b->directory);
		else if (!vm_logfile_open(&b->log, path, true, error, sizeof(error)))
			vm->log = &b->log->ring;
		if (!vm->log)
			log_warn("vm %s: no log file: %s\n", vm->name, error);
	}
	vm_log(vm, "power on: %s", why);
	log_configuration(vm, b);
	open_serial_file(vm, b);
	file_path(vm, b, ".nvram", path, sizeof(path));
	if (!path[0])
		return;
	int rc = vm_nvram_load(vm, path, error, sizeof(error));
	b->nvram_loaded = !rc;
	if (!rc)
		vm_log(vm, "nvram: loaded from %s", path);
	else if (rc == -ENOENT)
		vm_log(vm, "nvram: %s holds no settings yet: defaults (saved at power-off)", path);
	else
		vm_log(vm, "nvram: ignored, defaults used: %s", error);
}

void vm_power_loaded(struct vm *vm, bool running)
{
	__atomic_store_n(&vm->power, VM_POWER_ON, __ATOMIC_RELEASE);
	vm->start_check = vm_power_start_check;
	if (running) {
		char error[192];
		/* At host boot its disks were locked first: a VM that another
		 * host runs was refused there already. */
		if (lock_files(vm, boot_vm_of(vm), error, sizeof(error)))
			log_warn("vm %s: started without its file locks: %s\n", vm->name, error);
		open_files(vm, boot_vm_of(vm), "autostart at host boot");
	}
	else
		finish_power_off(vm, false);
}

int vm_power_cycle(struct vm *vm, const char *why)
{
	struct boot_vm *b = boot_vm_of(vm);

	if (vm->start_check != vm_power_start_check || !b)
		return -EINVAL;
	__atomic_store_n(&b->power_cycle, true, __ATOMIC_RELEASE);
	/* Already stopped (a vm stop came first): it stays off. */
	if (!vm_stop(vm, -1, "%s: power cycle (a VM with several vCPUs is reset by powering it off and on)", why))
		__atomic_store_n(&b->power_cycle, false, __ATOMIC_RELEASE);
	return 0;
}

int vm_power_start_check(struct vm *vm, char *why, size_t why_size)
{
	struct boot_vm *b = boot_vm_of(vm);
	char holder[VM_NAME_MAX];

	for (unsigned i = 0; i < b->datastore_disk_count; i++) {
		if (vmfs_vdisk_holder(b->datastore_disks[i], holder, sizeof(holder))) {
			snprintf(why, why_size, "disk '%s': locked: in use by VM %s",
				 vmfs_vdisk_name(b->datastore_disks[i]), holder);
			return -EBUSY;
		}
	}
	return 0;
}

/* Power-on state of everything but the disks. @pre every vCPU gone */
static int reset_machine(struct vm *vm, struct boot_vm *b, char *error, size_t error_size)
{
	/* The PCI devices first: none may write guest RAM after it is cleared.
	 * The platform after: its reset writes the ACPI tables into RAM and
	 * drops what interrupts arrived meanwhile. The heartbeat goes on while
	 * a large RAM clears. */
	if (vm->pci)
		pci_bus_reset(vm->pci);
	for (uint64_t offset = 0; offset < vm->ram_size; offset += VM_RAM_CHUNK) {
		memset(phys_to_virt(vm->ram_chunks[offset / VM_RAM_CHUNK]), 0, VM_RAM_CHUNK);
		if ((offset / VM_RAM_CHUNK) % 512 == 511)
			datastore_heartbeat_due();
	}
	if (vdev_platform_reset(vm)) {
		snprintf(error, error_size, "the platform devices could not be reset");
		return -1;
	}
	vdev_uart_reset(vm);
	uint64_t now = rdtsc();
	/* Accounting and exit counts start again with each power-on. */
	sched_group_init(&vm->sched, vm->sched.shares, vm->sched.reservation_pct, vm->sched.limit_pct,
			 vm->vcpu_count, now);
	for (uint32_t i = 0; i < vm->vcpu_count; i++) {
		struct vcpu *vcpu = vm->vcpus[i];
		struct sched_affinity affinity = vcpu->task.affinity;

		sched_task_init(&vcpu->task, &vm->sched, &affinity);
		vcpu->state = i == 0 ? VCPU_RUNNABLE : VCPU_WAIT_FOR_SIPI;
		vcpu->sipi_pending = false;
		vcpu->nmi_pending = false;
		memset(vcpu->arch.gprs, 0, sizeof(vcpu->arch.gprs));
		vcpu->arch.event.pending = false;
		vcpu->arch.want_interrupt_window = false;
		vcpu->arch.tsc_offset = -now; /* the guest's TSC starts near 0 again */
		memset(vcpu->exit_count, 0, sizeof(vcpu->exit_count));
		memset(vcpu->exit_cycles, 0, sizeof(vcpu->exit_cycles));
		vcpu->fpu_valid = false;
		kfree(vcpu->boot_sysregs);
		vcpu->boot_sysregs = NULL;
	}
	return boot_vm_load_guest(vm, b, error, error_size);
}

static void power_on(struct vm *vm)
{
	struct boot_vm *b = boot_vm_of(vm);
	char error[192];
	unsigned locked = 0;
	uint64_t flags;

	log_info("vm %s: powering on\n", vm->name);
	if (lock_files(vm, b, error, sizeof(error)))
		goto refused;
	for (; locked < b->datastore_disk_count; locked++)
		if (vmfs_vdisk_reacquire(b->datastore_disks[locked], error, sizeof(error)))
			goto refused;
	if (reset_machine(vm, b, error, sizeof(error)))
		goto refused;
	/* After the reset, which keeps the CMOS: the NVRAM file then wins. */
	if (!b->power_on_reason) {
		flags = spin_lock_irqsave(&vm->lock);
		vm->resets = 0; /* a new start, not a reset */
		spin_unlock_irqrestore(&vm->lock, flags);
	}
	open_files(vm, b, b->power_on_reason ? b->power_on_reason : "vm start from the service console");
	b->power_on_reason = NULL;
	flags = spin_lock_irqsave(&vm->lock);
	vm->exit_status = 0;
	vm->stop_reason[0] = '\0';
	spin_unlock_irqrestore(&vm->lock, flags);
	vm_start(vm);
	__atomic_store_n(&vm->power, VM_POWER_ON, __ATOMIC_RELEASE);
	return;
refused:
	release_disks(b, locked);
	unlock_files(b);
	if (b->directory[0] && !vm->log) {
		/* The refusal belongs in its log too. */
		char path[DATASTORE_PATH_MAX], why[160];
		if (snprintf(path, sizeof(path), "%s/" VM_LOGFILE_NAME, b->directory) < (int)sizeof(path) &&
		    !vm_logfile_open(&b->log, path, true, why, sizeof(why)))
			vm->log = &b->log->ring;
	}
	vm_log(vm, "power on refused: %s", error);
	close_files(vm, b);
	flags = spin_lock_irqsave(&vm->lock);
	vm->exit_status = -1;
	snprintf(vm->stop_reason, sizeof(vm->stop_reason), "power-on refused: %s", error);
	spin_unlock_irqrestore(&vm->lock, flags);
	__atomic_store_n(&vm->power, VM_POWER_OFF, __ATOMIC_RELEASE);
	log_warn("vm %s: power-on refused: %s\n", vm->name, error);
}

/* Stopped and still holding its resources: finished once its vCPUs left,
 * however long that takes (a busy BSP must not strand its locks). */
static bool power_off_due(struct vm *vm)
{
	return __atomic_load_n(&vm->power, __ATOMIC_ACQUIRE) == VM_POWER_ON &&
	       __atomic_load_n(&vm->state, __ATOMIC_ACQUIRE) == VM_STOPPED;
}

void vm_power_poll(void)
{
	for (struct vm *vm = vm_list(); vm; vm = vm->next) {
		if (vm->start_check != vm_power_start_check)
			continue;
		if (power_off_due(vm) && vcpus_gone(vm)) {
			finish_power_off(vm, true);
		} else if (__atomic_load_n(&vm->power, __ATOMIC_ACQUIRE) == VM_POWER_ON_PENDING) {
			power_on(vm);
		} else if (__atomic_load_n(&vm->power, __ATOMIC_ACQUIRE) == VM_POWER_ON) {
			vm_logfile_flush(boot_vm_of(vm)->log, false);
			vm_logfile_flush(boot_vm_of(vm)->serial, false);
		}
	}
}

bool vm_power_busy(void)
{
	uint64_t now = rdtsc();

	for (struct vm *vm = vm_list(); vm; vm = vm->next) {
		if (vm->start_check != vm_power_start_check)
			continue;
		/* Host shutdown waits for a stopping VM, but not forever. */
		bool stopping = power_off_due(vm) && now - vm->stop_tsc < VCPU_LEAVE_TIMEOUT_S * tsc_hz();
		if (stopping || __atomic_load_n(&vm->power, __ATOMIC_ACQUIRE) == VM_POWER_ON_PENDING)
			return true;
	}
	return false;
}

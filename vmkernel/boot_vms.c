/*
 * Boot-time VMs: every boot module that is a VM definition (a .vmx-style
 * text, see vm/vmdef.h and README.md) becomes a VM: RAM, vCPUs, the
 * hw.version 1 devices, its kernel and modules loaded by the guest loaders.
 * A definition or image that does not work is refused with a message
 * naming it; the others start anyway.
 */
#include "boot_vms.h"

#include "boot_vm.h"
#include "vm_power.h"

#include <arch/x86/cpu.h>
#include <arch/x86/lapic.h>
#include <lib/log.h>
#include <lib/printf.h>
#include <lib/string.h>
#include <mm/heap.h>
#include <mm/vmm.h>
#include <mgmt/mgmt.h>
#include <storage/datastore.h>
#include <storage/vmfs_vdisk.h>
#include <vdev/pci.h>
#include <vdev/platform.h>
#include <vdev/vdev.h>
#include <vdev/vdisk.h>
#include <vdev/vnic.h>
#include <vdev/vsock.h>
#include <sched/sched.h>
#include <vm/guest_loader.h>
#include <vm/linux_loader.h>
#include <vm/vm.h>
#include <vm/vm_log.h>
#include <vm/vcpu_run.h>
#include <vm/vmdef.h>

static unsigned boot_vm_count;
static bool console_defined;

static void *loader_gpa_to_host(void *ctx, uint64_t gpa, uint64_t length)
{
	return vm_gpa_to_host(ctx, gpa, length);
}

static struct guest_image module_image(const struct boot_module *m, const char *name)
{
	return (struct guest_image){ .data = phys_to_virt(m->phys_start),
				     .size = m->phys_end - m->phys_start,
				     .name = name };
}

/* A disk= boot module as a RAM-backed virtio-blk disk (writes stay in the
 * module's memory, which the vmkernel never reuses), or a "[datastore]/path"
 * VMDK or raw file on a datastore, locked while the VM has it. */
static int attach_disk(const struct boot_info *boot, struct vm *vm, const char *name)
{
	if (vmfs_vdisk_is_datastore_path(name)) {
		char reason[192];
		struct boot_vm *b = vm->reset_opaque;
		bool hold = b->def.autostart || b->def.service_console; /* else locked at its power-on */
		struct vdisk_backend *disk = vmfs_vdisk_open(name, vm->name, hold, reason, sizeof(reason));

		if (!disk) {
			log_warn("vm %s: %s\n", vm->name, reason);
			return -1;
		}
		int rc = vdev_virtio_blk_attach(vm, disk);

		if (rc)
			vmfs_vdisk_close(disk);
		else
			b->datastore_disks[b->datastore_disk_count++] = disk;
		return rc;
	}
	int k = vmdef_find_module(boot->modules, boot->module_count, name);
	if (k < 0) {
		log_warn("vm %s: disk module '%s' was not loaded at boot\n", vm->name, name);
		return -1;
	}
	const struct boot_module *m = &boot->modules[k];
	struct vdisk_backend *disk = vdisk_memory_create(phys_to_virt(m->phys_start),
							 m->phys_end - m->phys_start, name);
	return disk ? vdev_virtio_blk_attach(vm, disk) : -1;
}

static int attach_devices(const struct boot_info *boot, struct vm *vm,
			  const struct vm_definition *def)
{
	int rc = def->serial_present ? vdev_uart_attach(vm) : 0;
	if (!rc)
		rc = vdev_exit_port_attach(vm);
	if (!rc)
		rc = vdev_platform_attach(vm); /* with the local APICs */
	if (!rc && def->testdev)
		rc = vdev_testdev_attach(vm);
	if (!rc)
		rc = vdev_pci_attach(vm);
	for (unsigned i = 0; !rc && i < def->disk_count; i++)
		rc = attach_disk(boot, vm, def->disks[i]);
	if (!rc)
		rc = vdev_virtio_console_attach(vm);
	for (unsigned i = 0; !rc && i < VMDEF_MAX_NICS; i++) {
		const struct vmdef_nic *nic = &def->nics[i];
		struct vnic_params params = { .index = i, .mac = nic->mac_given ? nic->mac : NULL,
					      .network = nic->network };
		if (nic->present)
			rc = vdev_virtio_net_attach(vm, &params);
	}
	/* Only the service console reaches the vmkernel's services. */
	if (!rc && def->service_console)
		rc = vdev_virtio_vsock_attach(vm, VSOCK_CID_CONSOLE);
	return rc;
}

/* A kernel, initrd or module: a boot module, or a "[datastore]/path" file
 * read into vmkernel memory (kept, like a module's, for resets). */
static int find_image(const struct boot_info *boot, const char *what, const char *name, const char *line,
		      struct guest_image *out, char *error, size_t error_size)
{
	if (vmfs_vdisk_is_datastore_path(name)) {
		char reason[160];
		void *data;
		uint64_t size;

		if (datastore_read_file(name, &data, &size, reason, sizeof(reason))) {
			snprintf(error, error_size, "%s %s", what, reason);
			return -1;
		}
		*out = (struct guest_image){ .data = data, .size = size, .name = line };
		return 0;
	}
	int k = vmdef_find_module(boot->modules, boot->module_count, name);
	if (k < 0) {
		snprintf(error, error_size, "%s module '%s' was not loaded at boot", what, name);
		return -1;
	}
	*out = module_image(&boot->modules[k], line);
	return 0;
}

/* Resolves the kernel, initrd and modules a definition names. */
static int gather_images(const struct boot_info *boot, const struct vm_definition *def,
			 struct guest_image *kernel, struct guest_image *modules, unsigned *count,
			 char *error, size_t error_size)
{
	if (find_image(boot, "kernel", def->kernel, def->kernel, kernel, error, error_size))
		return -1;
	*count = 0;
	if (def->initrd[0]) {
		if (find_image(boot, "initrd", def->initrd, def->initrd, &modules[*count], error, error_size))
			return -1;
		(*count)++;
	}
	for (unsigned j = 0; j < def->module_count; j++) {
		if (find_image(boot, "module", def->modules[j].name, def->modules[j].line, &modules[*count],
			       error, error_size))
			return -1;
		(*count)++;
	}
	return 0;
}

/* What a Linux guest's memory map adds to RAM: the hw.version 1 ranges a
 * kernel must not take for its own (vdev/platform.h). */
static const struct linux_platform linux_platform_v1 = {
	.reserved = {
		{ PLATFORM_PCI_ECAM_BASE, PLATFORM_PCI_ECAM_SIZE, GUEST_RAM_RESERVED },
		{ PLATFORM_IOAPIC_BASE, 0x1000, GUEST_RAM_RESERVED },
		{ PLATFORM_LAPIC_BASE, 0x1000, GUEST_RAM_RESERVED },
	},
	.reserved_count = 3,
	.rsdp_address = PLATFORM_ACPI_BASE,
};

/* A bzImage or a vmlinux with a PVH note boots through the Linux
 * protocols; anything else through the Multiboot/ELF64 loaders. */
static bool is_linux_kernel(const struct guest_image *kernel)
{
	return linux_is_bzimage(kernel) || linux_is_pvh_elf(kernel);
}

/* vCPU 0's boot state is loaded on its pCPU at its next run. */
int boot_vm_load_guest(struct vm *vm, const struct boot_vm *b, char *error, size_t error_size)
{
	struct guest_boot_state *state = kzalloc(sizeof(*state));
	struct vcpu *bsp = vm->vcpus[0];
	struct guest_memory memory = { .size = vm->ram_size, .gpa_to_host = loader_gpa_to_host, .ctx = vm };
	int rc = -1;

	if (!state) {
		snprintf(error, error_size, "out of vmkernel memory");
		return -1;
	}
	int loaded;
	if (is_linux_kernel(&b->kernel))
		loaded = linux_load(&memory, &b->kernel, b->def.cmdline, b->def.initrd[0] ? &b->modules[0] : NULL,
				    &linux_platform_v1, state, error, error_size);
	else
		loaded = guest_load(&memory, &b->kernel, b->def.cmdline, b->modules, b->module_count, state,
				    error, error_size);
	if (!loaded) {
		struct virt_sysregs *sysregs = bsp->boot_sysregs ? bsp->boot_sysregs : kzalloc(sizeof(*sysregs));
		if (sysregs) {
			memcpy(bsp->arch.gprs, state->gprs, sizeof(bsp->arch.gprs));
			*sysregs = state->sysregs;
			bsp->arch.event.pending = false;
			bsp->boot_sysregs = sysregs;
			rc = 0;
		} else {
			snprintf(error, error_size, "out of vmkernel memory");
		}
	}
	kfree(state);
	return rc;
}

/* on_triple_fault = "reset" or an ACPI reset: power-on again with fresh
 * RAM. A 1-vCPU VM is reset in place on its pCPU; a VM with several vCPUs
 * (the others run elsewhere meanwhile) is power-cycled (vm_power.c). */
static int reset_boot_vm(struct vm *vm)
{
	char error[160];

	if (vm->vcpu_count != 1)
		return vm_power_cycle(vm, "reset");
	vm_log(vm, "reset: power-on state, guest loaded again");
	for (uint64_t offset = 0; offset < vm->ram_size; offset += VM_RAM_CHUNK)
		memset(phys_to_virt(vm->ram_chunks[offset / VM_RAM_CHUNK]), 0, VM_RAM_CHUNK);
	if (vdev_platform_reset(vm)) {
		log_error("vm %s: reset: the platform devices could not be reset\n", vm->name);
		return -1;
	}
	vdev_uart_reset(vm);
	if (boot_vm_load_guest(vm, vm->reset_opaque, error, sizeof(error))) {
		log_error("vm %s: reset: %s\n", vm->name, error);
		return -1;
	}
	vm->vcpus[0]->state = VCPU_RUNNABLE;
	return 0;
}

/* The VM was refused after creation: it never runs, its disks are not kept. */
static void refuse_loaded(struct vm *vm, struct boot_vm *b, const char *error)
{
	for (unsigned i = 0; i < b->datastore_disk_count; i++)
		vmfs_vdisk_release(b->datastore_disks[i]);
	vm->reset_opaque = NULL;
	vm_stop(vm, -1, "refused: %s", error);
}

/* @text: the definition (a boot module's or a datastore file's contents);
 * @config_path: its "[ds]/dir/name.vmx", or NULL for a boot module. */
static struct vm *start_one(const struct boot_info *boot, const char *text, size_t length,
			    const char *config_path, char *error, size_t error_size)
{
	struct boot_vm *b = kzalloc(sizeof(*b));
	struct vm *vm = NULL;

	if (!b) {
		snprintf(error, error_size, "out of vmkernel memory");
		return NULL;
	}
	if (config_path) {
		size_t directory_length = 0; /* up to its last '/' */
		for (size_t i = 0; config_path[i]; i++)
			if (config_path[i] == '/')
				directory_length = i;
		snprintf(b->directory, sizeof(b->directory), "%.*s", (int)directory_length, config_path);
		snprintf(b->config_path, sizeof(b->config_path), "%s", config_path);
	}
	struct vm_definition *def = &b->def;
	if (vmdef_parse(text, length, def, error, error_size))
		goto out;
	if (def->service_console && console_defined) {
		snprintf(error, error_size, "a second VM with role = console (there is one service console)");
		goto out;
	}
	if (gather_images(boot, def, &b->kernel, b->modules, &b->module_count, error, error_size))
		goto out;
	struct sched_affinity affinity = { .bits = { def->affinity } };
	struct vm_create_params params = {
		.name = def->name,
		.ram_mib = def->memsize_mib,
		.vcpus = def->vcpu_count,
		.on_triple_fault = def->on_triple_fault == VMDEF_TRIPLE_FAULT_RESET ? VM_TRIPLE_FAULT_RESET
										 : VM_TRIPLE_FAULT_STOP,
		.shares = def->shares,
		.reservation_pct = def->reservation_pct,
		.limit_pct = def->limit_pct,
		.affinity = def->affinity ? &affinity : NULL,
	};
	vm = vm_create(&params, error, error_size);
	if (!vm)
		goto out;
	vm->reset_opaque = b;
	if (attach_devices(boot, vm, def)) {
		snprintf(error, error_size, "cannot attach the virtual devices");
		refuse_loaded(vm, b, error);
		vm = NULL;
		goto out;
	}
	if (boot_vm_load_guest(vm, b, error, error_size)) {
		refuse_loaded(vm, b, error);
		vm = NULL;
		goto out;
	}
	if (vm->pci)
		pci_bus_save_power_on_state(vm->pci);
	vm->reset = reset_boot_vm;
	vm->service_console = def->service_console;
	vm->restart_on_end = def->console_restart;
	console_defined |= def->service_console;
	return vm;
out:
	kfree(b);
	return vm;
}

static bool boot_vm_autostarts(const struct vm *vm)
{
	const struct boot_vm *b = vm->reset_opaque;
	return b->def.autostart;
}

/* Loaded but not started: stopped, with start_tsc 0, until the service
 * console starts it (mgmt/). */
static void boot_vm_mark_defined(struct vm *vm)
{
	uint64_t flags = spin_lock_irqsave(&vm->lock);
	vm->exit_status = -1;
	snprintf(vm->stop_reason, sizeof(vm->stop_reason), "defined, never started (autostart = off)");
	__atomic_store_n(&vm->state, VM_STOPPED, __ATOMIC_RELEASE);
	spin_unlock_irqrestore(&vm->lock, flags);
	log_info("vm %s: defined, waiting for vm start (autostart = off)\n", vm->name);
}

unsigned vm_start_boot_vms(const struct boot_info *boot)
{
	unsigned started = 0, refused = 0;
	char error[192];
	/* Started together once all are loaded: the BSP loads them before it
	 * schedules, and a vCPU placed on it would wait for all the loading. */
	static struct vm *loaded[BOOT_MAX_MODULES];

	for (uint32_t i = 0; i < boot->module_count; i++) {
		const struct boot_module *m = &boot->modules[i];
		if (!vmdef_is_definition_module(m->name))
			continue;
		error[0] = '\0';
		struct vm *vm = start_one(boot, phys_to_virt(m->phys_start), m->phys_end - m->phys_start, NULL,
					  error, sizeof(error));
		if (vm) {
			loaded[started++] = vm;
		} else {
			refused++;
			log_error("vm: the definition in module '%s' was refused: %s\n", m->name, error);
		}
	}
	/* VMs as files: every *.vmx in a top-level directory of a datastore. */
	static char configs[BOOT_MAX_MODULES][DATASTORE_PATH_MAX];
	unsigned config_count = datastore_find_vm_configs(configs, BOOT_MAX_MODULES - started);
	for (unsigned i = 0; i < config_count; i++) {
		void *text;
		uint64_t length;
		struct vm *vm = NULL;
		error[0] = '\0';
		if (!datastore_read_file(configs[i], &text, &length, error, sizeof(error))) {
			vm = start_one(boot, text, length, configs[i], error, sizeof(error));
			kfree(text);
		}
		if (vm) {
			loaded[started++] = vm;
		} else {
			refused++;
			log_error("vm: the definition in '%s' was refused: %s\n", configs[i], error);
		}
	}
	if (console_defined && mgmt_init())
		log_error("vm: the control service could not start: the service console cannot manage VMs\n");
	/* The service console first: it manages the others. A VM with
	 * autostart = off waits for `vm start` (it counts as ended until then). */
	for (unsigned i = 0; i < started; i++) {
		if (loaded[i]->service_console) {
			vm_power_loaded(loaded[i], true);
			vm_start(loaded[i]);
		}
	}
	for (unsigned i = 0; i < started; i++) {
		if (loaded[i]->service_console)
			continue;
		bool autostart = boot_vm_autostarts(loaded[i]);
		vm_power_loaded(loaded[i], autostart);
		if (autostart)
			vm_start(loaded[i]);
		else
			boot_vm_mark_defined(loaded[i]);
	}
	boot_vm_count = started + refused;
	if (boot_vm_count)
		log_info("vm: %u boot-time VM%s started, %u refused\n", started, started == 1 ? "" : "s",
			 refused);
	return boot_vm_count;
}

void vm_wait_all_and_report(void)
{
	/* Until every VM ended and let go of its disks; a VM may be powered
	 * on again meanwhile (vm start from the service console). */
	while (vm_running_count() || vm_power_busy()) {
		sched_run_once();
		datastore_heartbeat_due(); /* the VMs' disk locks live by the heartbeat */
		vm_power_poll();
	}
	unsigned passed = 0, failed = 0;
	for (struct vm *vm = vm_list(); vm; vm = vm->next) {
		bool ok = vm->exit_status == 0;
		passed += ok;
		failed += !ok;
		uint64_t ms = (vm->stop_tsc - vm->start_tsc) / (tsc_hz() / 1000 ? tsc_hz() / 1000 : 1);
		log_info("vm %s: %s (%s) after %lu ms\n", vm->name, ok ? "passed" : "failed",
			 vm->exit_status >= 0 ? "exit status" : vm->stop_reason, ms);
		vm_print_exit_stats(vm);
	}
	/* Refused definitions never became VMs: they count as failed. */
	failed += boot_vm_count - (passed + failed);
	log_info("guests: %u passed, %u failed\n", passed, failed);
}

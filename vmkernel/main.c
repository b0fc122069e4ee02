/*
 * vmkernel_main: the one place that wires every layer together. The core
 * brings the machine up; then the virtualization backend is chosen, the
 * ready line printed, and the boot-time VMs started.
 */
#include <boot_info.h>

#include <arch/x86/cpu.h>
#include <arch/x86/power.h>
#include <core/init.h>
#include <core/screen.h>
#include <core/platform.h>
#include <core/smp.h>
#include <drivers/block/drivers.h>
#include <lib/log.h>
#include <mm/pmm.h>
#include <net/vswitch.h>
#include <storage/datastore.h>
#include <vm/vm_init.h>

#include "boot_vms.h"

static struct vmkernel_options options;

__attribute__((noreturn)) static void power_down_as_asked(void)
{
	log_info("vmkernel: %s as requested on the command line\n",
		 options.reboot ? "rebooting" : "powering off");
	smp_stop_others();
	datastore_shutdown();
	if (options.reboot)
		power_reboot();
	power_off();
}

void vmkernel_main(struct boot_info *boot, const char *problem)
{
	uint32_t cpus = core_init(boot, problem, &options);
	const char *virt = vm_subsystem_init();
	core_boot_milestone("virt");
	drivers_init(platform_acpi());
	if (options.blockdev_selftest)
		blockdev_selftest();

	struct pmm_stats stats;
	pmm_get_stats(&stats);
	log_info("vmkernel: boot cost tsc=%lu\n", rdtsc() - boot_tsc_at_entry);
	log_info("vmkernel: ready version=%s cpus=%u mem=%lu virt=%s boot=%s\n", KAPSEL_VERSION, cpus,
		 stats.usable_bytes >> 20, virt, core_boot_mode_name(boot->mode));

	if (!options.no_screen && screen_init(&boot->framebuffer, boot->mode) == 0) {
		struct screen_status status = {
			.version = KAPSEL_VERSION, .cpu_brand = cpu_features.brand, .cpus = cpus,
			.mem_mib = stats.usable_bytes >> 20, .virt = virt,
			.boot_mode = boot->mode == BOOT_MODE_UEFI ? "UEFI" : "BIOS",
		};
		screen_show_status(&status);
	}
	if (options.test_fault != TEST_FAULT_NONE)
		core_trigger_test_fault(options.test_fault);
	struct datastore_options datastore_options = {
		.format = options.vmfs_format, .selftest = options.vmfs_selftest,
	};
	datastore_init(boot, &datastore_options); /* after the drivers registered their disks */
	vswitch_init(); /* before the first NIC connects */
	unsigned started = vm_start_boot_vms(boot);
	if (started)
		vm_wait_all_and_report();
	if (options.power_off || options.reboot)
		power_down_as_asked();
	for (;;) {
		irq_enable();
		cpu_halt(); /* until the BSP's periodic timer or another interrupt */
		datastore_heartbeat_due();
	}
}

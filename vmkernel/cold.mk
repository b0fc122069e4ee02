# Code that runs once or far from the exit path is built for size: boot and
# firmware tables, guest loaders and VM definitions, VM lifecycle and
# management, VMFS and the storage services, PCI enumeration, the physical
# block drivers (their time goes to the device, not to instructions), the
# console and vsock channels, the rarely used chipset parts (RTC, PIT, ACPI),
# log formatting. The loaded image has a budget (make bench: 512 KiB); the
# exit and interrupt paths, the instruction emulator, virtio-blk/net, the
# vSwitch and the scheduler stay at -O2 (-Os there costs instructions per
# exit: mmio 1709 -> 1982).
# Included by the top-level Makefile after KERNEL_OBJS is complete.
KERNEL_COLD_C := $(filter $(wildcard vmkernel/*.c) boot/multiboot/% vmfs/lib/% vmkernel/core/% \
	vmkernel/mm/% vmkernel/mgmt/% vmkernel/storage/% drivers/pci/% drivers/block/% \
	vmkernel/lib/printf.c vmkernel/lib/ksym.c \
	vmkernel/arch/x86/acpi.c vmkernel/arch/x86/power.c vmkernel/arch/x86/pic.c \
	vmkernel/arch/x86/ioapic.c vmkernel/arch/x86/descriptors.c vmkernel/arch/x86/cpu.c \
	vmkernel/arch/x86/serial.c vmkernel/arch/x86/vmx/vmx_check.c \
	vmkernel/vm/guest_loader.c vmkernel/vm/linux_loader.c vmkernel/vm/vmdef.c \
	vmkernel/vm/vm_init.c vmkernel/vm/vm_log.c \
	vmkernel/vdev/acpi_tables.c vmkernel/vdev/acpi_pm.c vmkernel/vdev/rtc.c vmkernel/vdev/vpit.c \
	vmkernel/vdev/pci.c vmkernel/vdev/virtio_console.c vmkernel/vdev/virtio_vsock.c,$(KERNEL_C) $(VMFS_KERNEL_C))
KERNEL_COLD_OBJS := $(patsubst %,$(BUILD)/kernel/%.o,$(KERNEL_COLD_C))
$(KERNEL_COLD_OBJS): KERNEL_CFLAGS += -Os
# A change of this list rebuilds what it names (make does not track flags).
$(KERNEL_COLD_OBJS): vmkernel/cold.mk

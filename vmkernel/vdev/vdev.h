/* The virtual devices of hw.version 1, attached to a VM before it starts. */
#ifndef KAPSEL_VDEV_VDEV_H
#define KAPSEL_VDEV_VDEV_H

#include <stdbool.h>

struct vm;
struct vdisk_backend;

/* COM1 (16550 at 0x3f8): output to the vmkernel log as "vm <name>: ..." and
 * to the VM's console ring. */
int vdev_uart_attach(struct vm *vm);
/* COM1's registers back to their power-on values (a VM's power-on/reset). */
void vdev_uart_reset(struct vm *vm);
/* The test-exit port (0xf4, isa-debug-exit compatible). */
int vdev_exit_port_attach(struct vm *vm);
/* One local APIC per vCPU at 0xfee00000: xAPIC and x2APIC, timer (one-shot,
 * periodic, TSC deadline), IPIs, EOI. */
int vdev_lapic_attach(struct vm *vm);
/* The hw.version 1 chipset (vdev/HARDWARE.md): 8259 pair, 8254 and port
 * 0x61, RTC/CMOS, I/O APIC, ACPI PM registers, and the ACPI tables written
 * into guest RAM; attaches the local APICs too when not yet attached. Call
 * after vm_create, before the guest is loaded. */
int vdev_platform_attach(struct vm *vm);
/* Back to power-on after the VM's RAM was cleared (VM reset): the devices'
 * state and the ACPI tables. */
int vdev_platform_reset(struct vm *vm);
/* The 4 KiB emulated-memory test device (testdev = "on"). */
int vdev_testdev_attach(struct vm *vm);
/* Reads up to size-1 bytes of the VM's console output (oldest first). */
unsigned vdev_uart_console_read(struct vm *vm, char *out, unsigned size);

/* The PCI bus (host bridge, 0xcf8/0xcfc, ECAM, BAR windows; vdev/pci.h).
 * Attach it before any PCI device. */
int vdev_pci_attach(struct vm *vm);
/* virtio 1.x PCI devices, each in the next free slot (the bus must exist):
 * a disk over `backend` (vdev/vdisk.h), a console with one port whose
 * output goes to the vmkernel log as "vm <name>: ...", and a NIC on the
 * host's internal switch with a MAC derived from the VM's name. */
int vdev_virtio_blk_attach(struct vm *vm, struct vdisk_backend *backend);
int vdev_virtio_console_attach(struct vm *vm);
struct vnic_params;
int vdev_virtio_net_attach(struct vm *vm, const struct vnic_params *params);
/* Queues input for the VM's virtio console; returns the bytes taken. */
unsigned vdev_virtio_console_input(struct vm *vm, const char *data, unsigned length);

#endif

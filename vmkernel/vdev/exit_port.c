/* The test-exit port: QEMU's isa-debug-exit at 0xf4. A write of N ends the VM with status N. */
#include <vdev/vdev.h>

#include <public/kapsel_guest.h>
#include <vm/vm.h>

static int exit_port_write(void *opaque, struct vcpu *vcpu, uint16_t port, unsigned size, uint32_t value)
{
	(void)opaque;
	(void)port;
	(void)size;
	vm_stop(vcpu->vm, value, "exit port");
	return 0;
}

int vdev_exit_port_attach(struct vm *vm)
{
	return vm_register_io(vm, KAPSEL_EXIT_PORT, KAPSEL_EXIT_PORT + 3, NULL, exit_port_write, NULL);
}

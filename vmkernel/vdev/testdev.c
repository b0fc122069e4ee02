/* The test MMIO device: 4 KiB of emulated memory, for checking the
 * instruction emulator from inside guests (testdev = "on"). */
#include <vdev/vdev.h>

#include <lib/errno.h>
#include <lib/string.h>
#include <mm/heap.h>
#include <public/kapsel_guest.h>
#include <vm/vm.h>

struct testdev {
	uint8_t bytes[KAPSEL_TESTDEV_MMIO_SIZE + 8]; /* +8: an access may straddle the end */
};

static int testdev_read(void *opaque, struct vcpu *vcpu, uint64_t gpa, unsigned size, uint64_t *value)
{
	struct testdev *t = opaque;
	(void)vcpu;
	uint64_t v = 0;
	memcpy(&v, &t->bytes[gpa - KAPSEL_TESTDEV_MMIO_BASE], size);
	*value = v;
	return 0;
}

static int testdev_write(void *opaque, struct vcpu *vcpu, uint64_t gpa, unsigned size, uint64_t value)
{
	struct testdev *t = opaque;
	(void)vcpu;
	memcpy(&t->bytes[gpa - KAPSEL_TESTDEV_MMIO_BASE], &value, size);
	return 0;
}

int vdev_testdev_attach(struct vm *vm)
{
	struct testdev *t = kzalloc(sizeof(*t));
	if (!t)
		return -ENOMEM;
	vm->overhead_bytes += sizeof(*t);
	return vm_register_mmio(vm, KAPSEL_TESTDEV_MMIO_BASE, KAPSEL_TESTDEV_MMIO_SIZE, testdev_read,
				testdev_write, t);
}

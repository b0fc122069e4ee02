/* The fake guest RAM of fake_guest_ram.h. */
#include "fake_guest_ram.h"

#include <stdlib.h>
#include <string.h>

#include <lib/errno.h>
#include <vm/vm.h>

uint8_t *fake_guest_ram;
uint64_t fake_guest_ram_size;
unsigned fake_guest_ram_refused;

void fake_guest_ram_init(uint64_t size)
{
	free(fake_guest_ram);
	fake_guest_ram = calloc(1, size);
	if (!fake_guest_ram)
		abort();
	fake_guest_ram_size = size;
	fake_guest_ram_refused = 0;
}

static int fake_in_ram(uint64_t gpa, uint64_t length)
{
	return gpa < fake_guest_ram_size && length <= fake_guest_ram_size - gpa;
}

void *vm_gpa_to_host(struct vm *vm, uint64_t gpa, uint64_t length)
{
	(void)vm;
	if (!fake_in_ram(gpa, length) || (gpa & (VM_RAM_CHUNK - 1)) + length > VM_RAM_CHUNK) {
		fake_guest_ram_refused++;
		return NULL;
	}
	return fake_guest_ram + gpa;
}

int vm_copy_from_guest(struct vm *vm, uint64_t gpa, void *dst, uint64_t length)
{
	(void)vm;
	if (!fake_in_ram(gpa, length)) {
		fake_guest_ram_refused++;
		return -EFAULT;
	}
	memcpy(dst, fake_guest_ram + gpa, length);
	return 0;
}

int vm_copy_to_guest(struct vm *vm, uint64_t gpa, const void *src, uint64_t length)
{
	(void)vm;
	if (!fake_in_ram(gpa, length)) {
		fake_guest_ram_refused++;
		return -EFAULT;
	}
	memcpy(fake_guest_ram + gpa, src, length);
	return 0;
}

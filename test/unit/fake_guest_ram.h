/*
 * A fake guest RAM for host tests of device models: guest-physical
 * [0, fake_guest_ram_size) is one host buffer, and vm_gpa_to_host,
 * vm_copy_from_guest and vm_copy_to_guest (vm/vm.h) work on it with the
 * vmkernel's rules (no access past the end, 2 MiB chunks for
 * vm_gpa_to_host). The struct vm pointer is never dereferenced.
 */
#ifndef KAPSEL_TEST_UNIT_FAKE_GUEST_RAM_H
#define KAPSEL_TEST_UNIT_FAKE_GUEST_RAM_H

#include <stdint.h>

extern uint8_t *fake_guest_ram;
extern uint64_t fake_guest_ram_size;
/* Accesses outside RAM that the code under test attempted (and was refused). */
extern unsigned fake_guest_ram_refused;

/* (Re)allocates a zeroed RAM of `size` bytes. */
void fake_guest_ram_init(uint64_t size);

#endif

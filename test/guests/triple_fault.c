/*
 * triple_fault: loads an empty IDT (limit 0) and executes UD2. #UD cannot
 * be delivered, neither can the #GP that follows nor the #DF after it:
 * the CPU shuts down. It says PASS first; the verdict is then the
 * hypervisor's: the VM stopped with a logged reason while the other VMs
 * keep running (the harness checks that).
 *
 * A bare PC (or QEMU without -no-reboot) resets instead, RAM intact, and
 * starts the guest again: a marker left in RAM makes that second run end
 * with exit status 0. With fresh RAM after a reset it would triple-fault
 * again, every boot.
 */
#include "guest.h"

const char guest_name[] = "triple_fault";

#define MARKER_ADDRESS 0x00300000u /* outside the image, kept across a reset */
#define MARKER 0x4c505254u         /* "TRPL" */

void guest_main(uint32_t multiboot_info)
{
	(void)multiboot_info;
	volatile uint32_t *marker = (volatile uint32_t *)(uintptr_t)MARKER_ADDRESS;
	if (*marker == MARKER) {
		*marker = 0;
		guest_printf("triple_fault: started again after the triple fault (the machine reset)\n");
		return;
	}
	*marker = MARKER;
	guest_printf("PASS %s: about to triple fault\n", guest_name);
	struct {
		uint16_t limit;
		uint32_t base;
	} __attribute__((packed)) empty_idt = { 0, 0 };
	__asm__ volatile("lidt %0; ud2" : : "m"(empty_idt));
	guest_fail("still running after the triple fault");
}

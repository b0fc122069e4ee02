/*
 * The application processors' way in, for 32-bit guests with several
 * vCPUs. A STARTUP IPI with vector GUEST_AP_TRAMPOLINE_BASE >> 12 starts
 * an AP in real mode at that address, where guest_ap_install() copied this
 * trampoline: it loads the runtime's GDT, sets CR0.PE and far-jumps into
 * 32-bit code linked in the image, which takes a stack of its own by an
 * atomic ticket (APs may arrive together) and calls guest_ap_entry.
 */
#include "layout.h"

#define ABS(label) (GUEST_AP_TRAMPOLINE_BASE + (label) - guest_ap_trampoline_start)

	.section .data.trampoline, "aw"
	.code16
	.globl guest_ap_trampoline_start, guest_ap_trampoline_end
guest_ap_trampoline_start:
	cli
	cld
	xorw %ax, %ax
	movw %ax, %ds
	lgdtl ABS(trampoline_gdt_pointer)
	movl %cr0, %eax
	orl $1, %eax
	movl %eax, %cr0
	ljmpl $SELECTOR_KERNEL_CODE, $ap_protected_mode
	.align 4
trampoline_gdt_pointer:
	.word GDT_ENTRIES * 8 - 1
	.long guest_gdt
guest_ap_trampoline_end:

	.text
	.code32
ap_protected_mode:
	movw $SELECTOR_KERNEL_DATA, %ax
	movw %ax, %ds
	movw %ax, %es
	movw %ax, %fs
	movw %ax, %gs
	movw %ax, %ss
	movl $1, %eax
	lock xaddl %eax, ap_ticket
	cmpl $GUEST_MAX_APS, %eax
	jae 1f
	incl %eax
	imull $GUEST_STACK_SIZE, %eax, %esp
	addl $ap_stacks, %esp
	call *guest_ap_entry
1:	cli
	hlt
	jmp 1b

	.data
	.align 4
ap_ticket: .long 0

	.bss
	.align 16
ap_stacks: .skip GUEST_STACK_SIZE * GUEST_MAX_APS

/*
 * The application processor's way in for the smp2 guest. A STARTUP IPI
 * with vector 0x08 starts the AP in real mode at 0x0800:0000, where
 * smp2.c copied this trampoline: it loads the runtime's GDT, sets CR0.PE
 * and far-jumps into 32-bit code linked in the image, which takes its own
 * stack and calls smp2_ap_main().
 */
#include "layout.h"

#define TRAMPOLINE_BASE 0x8000
#define ABS(label) (TRAMPOLINE_BASE + (label) - smp2_trampoline_start)

	.section .data.trampoline, "aw"
	.code16
	.globl smp2_trampoline_start, smp2_trampoline_end
smp2_trampoline_start:
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
smp2_trampoline_end:

	.text
	.code32
ap_protected_mode:
	movw $SELECTOR_KERNEL_DATA, %ax
	movw %ax, %ds
	movw %ax, %es
	movw %ax, %fs
	movw %ax, %gs
	movw %ax, %ss
	movl $ap_stack + GUEST_STACK_SIZE, %esp
	call smp2_ap_main
1:	cli
	hlt
	jmp 1b

	.bss
	.align 16
ap_stack: .skip GUEST_STACK_SIZE

	.section .note.GNU-stack, "", @progbits

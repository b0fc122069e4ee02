/*
 * The application processor's way in for the platform guest (as smp2.S):
 * a STARTUP IPI with vector 0x09 starts it in real mode at 0x0900:0000,
 * where platform.c copied this trampoline; it loads the runtime's GDT,
 * enters 32-bit code linked in the image, takes its own stack and calls
 * platform_ap_main().
 */
#include "layout.h"

#define TRAMPOLINE_BASE 0x9000
#define ABS(label) (TRAMPOLINE_BASE + (label) - platform_trampoline_start)

	.section .data.trampoline, "aw"
	.code16
	.globl platform_trampoline_start, platform_trampoline_end
platform_trampoline_start:
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
platform_trampoline_end:

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
	call platform_ap_main
1:	cli
	hlt
	jmp 1b

	.bss
	.align 16
ap_stack: .skip GUEST_STACK_SIZE

	.section .note.GNU-stack, "", @progbits

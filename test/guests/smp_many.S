/*
 * The application processors' way in for the smp_many guest: as smp2's
 * trampoline (real mode at 0x8000 -> 32-bit through the runtime's GDT),
 * but APs may arrive together, so each takes its own stack by an atomic
 * ticket before calling smp_many_ap_main().
 */
#include "layout.h"

#define TRAMPOLINE_BASE 0x8000
#define ABS(label) (TRAMPOLINE_BASE + (label) - smp_many_trampoline_start)
#define MAX_APS 15

	.section .data.trampoline, "aw"
	.code16
	.globl smp_many_trampoline_start, smp_many_trampoline_end
smp_many_trampoline_start:
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
smp_many_trampoline_end:

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
	cmpl $MAX_APS, %eax
	jae 1f
	incl %eax
	imull $GUEST_STACK_SIZE, %eax, %esp
	addl $ap_stacks, %esp
	call smp_many_ap_main
1:	cli
	hlt
	jmp 1b

	.data
	.align 4
ap_ticket: .long 0

	.bss
	.align 16
ap_stacks: .skip GUEST_STACK_SIZE * MAX_APS

	.section .note.GNU-stack, "", @progbits

/*
 * Application-processor start-up code. The BSP copies the bytes between
 * trampoline_start and trampoline_end to a page below 1 MiB, fills the
 * parameter block at its end, and sends INIT-SIPI-SIPI with that page's
 * number. The AP wakes in real mode at CS:IP = page:0 and climbs through
 * protected mode to long mode on the vmkernel's page tables (which
 * identity-map this page during bring-up), then jumps to the vmkernel.
 * Everything is addressed relative to the page: the code is copied.
 */
#define TRAMPOLINE_OFFSET(label) ((label) - trampoline_start)

	.section .rodata
	.globl trampoline_start, trampoline_size
	.balign 16
	.code16
trampoline_start:
	cli
	cld
	movw %cs, %ax
	movw %ax, %ds
	xorl %ebx, %ebx
	movw %ax, %bx
	shll $4, %ebx /* ebx = physical address of this page */

	/* Patch the GDT base and both far-jump targets with where we run. */
	leal TRAMPOLINE_OFFSET(trampoline_gdt)(%ebx), %eax
	movl %eax, TRAMPOLINE_OFFSET(trampoline_gdt_pointer) + 2
	leal TRAMPOLINE_OFFSET(trampoline_protected)(%ebx), %eax
	movl %eax, TRAMPOLINE_OFFSET(trampoline_far32)
	leal TRAMPOLINE_OFFSET(trampoline_long)(%ebx), %eax
	movl %eax, TRAMPOLINE_OFFSET(trampoline_far64)

	lgdtl TRAMPOLINE_OFFSET(trampoline_gdt_pointer)
	movl %cr0, %eax
	orl $1, %eax
	movl %eax, %cr0
	ljmpl *TRAMPOLINE_OFFSET(trampoline_far32)

	.code32
trampoline_protected:
	movw $0x10, %ax
	movw %ax, %ds
	movw %ax, %es
	movw %ax, %ss
	movl $1, TRAMPOLINE_OFFSET(trampoline_param_started)(%ebx)
	movl %cr4, %eax
	orl $(1 << 5), %eax /* PAE */
	movl %eax, %cr4
	movl TRAMPOLINE_OFFSET(trampoline_param_cr3)(%ebx), %eax
	movl %eax, %cr3
	movl $0xc0000080, %ecx /* EFER */
	rdmsr
	orl TRAMPOLINE_OFFSET(trampoline_param_efer)(%ebx), %eax
	wrmsr
	movl %cr0, %eax
	orl $0x80010001, %eax /* PG, WP, PE */
	movl %eax, %cr0
	ljmpl *TRAMPOLINE_OFFSET(trampoline_far64)(%ebx)

	.code64
trampoline_long:
	movq TRAMPOLINE_OFFSET(trampoline_param_stack)(%rbx), %rsp
	movq TRAMPOLINE_OFFSET(trampoline_param_percpu)(%rbx), %rdi
	movq TRAMPOLINE_OFFSET(trampoline_param_entry)(%rbx), %rax
	xorl %ebp, %ebp
	pushq $0 /* a null return address ends stack traces */
	jmp *%rax

	.balign 8
trampoline_gdt:
	.quad 0
	.quad 0x00cf9a000000ffff /* 0x08: 32-bit code */
	.quad 0x00cf92000000ffff /* 0x10: data */
	.quad 0x00af9a000000ffff /* 0x18: 64-bit code */
trampoline_gdt_pointer:
	.word trampoline_gdt_pointer - trampoline_gdt - 1
	.long 0
	.balign 4
trampoline_far32:
	.long 0
	.word 0x08
	.balign 4
trampoline_far64:
	.long 0
	.word 0x18

	/* struct trampoline_params in core/smp.c: the last bytes of the blob. */
	.balign 8
trampoline_param_cr3: .quad 0
trampoline_param_efer: .quad 0
trampoline_param_stack: .quad 0
trampoline_param_percpu: .quad 0
trampoline_param_entry: .quad 0
trampoline_param_started: .quad 0
trampoline_end:
	.set trampoline_size, trampoline_end - trampoline_start

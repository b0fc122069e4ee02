/*
 * The EFI loader's entry (the ELF entry point): already in long mode on the
 * loader's page tables, %rdi = physical address of its struct boot_info.
 * Switch to the vmkernel's boot stack and go to C.
 */
#include <boot_layout.h>

	.section .text.entry, "ax"
	.code64
	.globl boot_efi_entry64
boot_efi_entry64:
	cli
	cld
	movq %rdi, %rbx
	rdtsc
	shlq $32, %rdx
	orq %rdx, %rax
	movabsq $boot_tsc_at_entry, %rcx
	movq %rax, (%rcx)
	movq %rbx, %rdi
	movabsq $boot_stack_top, %rsp
	xorl %ebp, %ebp
	call boot_efi_main
1:	hlt
	jmp 1b

	.section .data
	.balign 8
	.globl boot_tsc_at_entry
boot_tsc_at_entry: .quad 0 /* TSC at the first vmkernel instruction */

	.section .bss
	.balign 16
	.globl boot_stack, boot_stack_top
boot_stack:
	.skip BOOT_STACK_SIZE
boot_stack_top:

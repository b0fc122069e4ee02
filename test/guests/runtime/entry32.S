/*
 * Multiboot1 entry of the 32-bit guests. The loader leaves us in 32-bit
 * protected mode with flat segments, paging off, EAX = magic, EBX = info,
 * and no stack; the GDTR may point anywhere, so our own GDT comes first.
 */
#include "layout.h"
#define ASM_FILE
#include <multiboot/multiboot.h>

#define MULTIBOOT_FLAGS (MULTIBOOT_PAGE_ALIGN | MULTIBOOT_MEMORY_INFO)

	.section .multiboot, "a"
	.align 4
	.long MULTIBOOT_HEADER_MAGIC
	.long MULTIBOOT_FLAGS
	.long -(MULTIBOOT_HEADER_MAGIC + MULTIBOOT_FLAGS)

	.section .text.entry, "ax"
	.code32
	.globl guest_entry
guest_entry:
	/* The loader's state first, before anything changes it. */
	movl %eax, guest_boot_eax
	movl %cr0, %eax
	movl %eax, guest_boot_cr0
	movl $entry_scratch_stack_top, %esp
	pushfl
	popl guest_boot_eflags
	cli
	cld
	/* The loader should have zeroed .bss; do not depend on it. */
	movl $guest_bss_start, %edi
	movl $guest_bss_end, %ecx
	subl %edi, %ecx
	xorl %eax, %eax
	rep stosb
	lgdt gdt_pointer
	ljmp $SELECTOR_KERNEL_CODE, $1f
1:	movw $SELECTOR_KERNEL_DATA, %ax
	movw %ax, %ds
	movw %ax, %es
	movw %ax, %fs
	movw %ax, %gs
	movw %ax, %ss
	movl $boot_stack + GUEST_STACK_SIZE, %esp
	pushl %ebx
	call guest_start
2:	cli
	hlt
	jmp 2b

	.data
	.align 4
	.globl guest_boot_eax, guest_boot_cr0, guest_boot_eflags
guest_boot_eax: .long 0
guest_boot_cr0: .long 0
guest_boot_eflags: .long 0
entry_scratch_stack: .long 0, 0
entry_scratch_stack_top:
gdt_pointer:
	.word GDT_ENTRIES * 8 - 1
	.long guest_gdt

	.bss
	.align 16
boot_stack: .skip GUEST_STACK_SIZE

	.section .note.GNU-stack, "", @progbits

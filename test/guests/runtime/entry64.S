/*
 * Multiboot1 entry of the 64-bit guests: the image is linked as ELF64 and
 * converted to ELF32 so that multiboot1 loaders (and qemu -kernel) take it.
 * The loader leaves us in 32-bit protected mode with paging off; we build
 * 4-level page tables that identity-map 0-4 GiB with 2 MiB pages (the top
 * 32 MiB, where the LAPIC and test devices live, uncached), turn on PAE,
 * EFER.LME and paging, and far-jump into 64-bit code.
 */
#include "layout.h"
#define ASM_FILE
#include <multiboot/multiboot.h>

#define MULTIBOOT_FLAGS (MULTIBOOT_PAGE_ALIGN | MULTIBOOT_MEMORY_INFO)
#define PAGE_PRESENT_WRITABLE_USER 0x7 /* user: the ring-3 tests run anywhere */
#define PAGE_LARGE 0x80
#define PAGE_UNCACHED 0x18 /* PCD | PWT */
#define FIRST_UNCACHED_2M (0xfe000000 >> 21)
#define CR4_PAE 0x20
#define MSR_EFER 0xc0000080
#define EFER_LME 0x100
#define CR0_PG 0x80000000

	.section .multiboot, "a"
	.align 4
	.long MULTIBOOT_HEADER_MAGIC
	.long MULTIBOOT_FLAGS
	.long -(MULTIBOOT_HEADER_MAGIC + MULTIBOOT_FLAGS)

	.section .text.entry, "ax"
	.code32
	.globl guest_entry
guest_entry:
	movl %eax, guest_boot_eax
	movl %cr0, %eax
	movl %eax, guest_boot_cr0
	movl $entry_scratch_stack_top, %esp
	pushfl
	popl guest_boot_eflags
	cli
	cld
	movl %ebx, %esi /* the multiboot info, kept for guest_start */
	movl $guest_bss_start, %edi
	movl $guest_bss_end, %ecx
	subl %edi, %ecx
	xorl %eax, %eax
	rep stosb
	lgdt gdt_pointer
	movw $SELECTOR_KERNEL_DATA, %ax
	movw %ax, %ds
	movw %ax, %es
	movw %ax, %ss

	/* PML4[0] -> PDPT; PDPT[0..3] -> the four page directories. */
	movl $guest_pdpt + PAGE_PRESENT_WRITABLE_USER, guest_pml4
	movl $guest_page_directories + PAGE_PRESENT_WRITABLE_USER, %eax
	xorl %ecx, %ecx
1:	movl %eax, guest_pdpt(, %ecx, 8)
	addl $0x1000, %eax
	incl %ecx
	cmpl $4, %ecx
	jne 1b
	/* 2048 directory entries of 2 MiB each: entry n maps n << 21. */
	xorl %ecx, %ecx
2:	movl %ecx, %eax
	shll $21, %eax
	orl $PAGE_PRESENT_WRITABLE_USER | PAGE_LARGE, %eax
	cmpl $FIRST_UNCACHED_2M, %ecx
	jb 3f
	orl $PAGE_UNCACHED, %eax
3:	movl %eax, guest_page_directories(, %ecx, 8)
	incl %ecx
	cmpl $2048, %ecx
	jne 2b

	movl %cr4, %eax
	orl $CR4_PAE, %eax
	movl %eax, %cr4
	movl $guest_pml4, %eax
	movl %eax, %cr3
	movl $MSR_EFER, %ecx
	rdmsr
	orl $EFER_LME, %eax
	wrmsr
	movl %cr0, %eax
	orl $CR0_PG, %eax
	movl %eax, %cr0
	ljmp $SELECTOR_KERNEL_CODE, $long_mode

	.code64
long_mode:
	movw $SELECTOR_KERNEL_DATA, %ax
	movw %ax, %ds
	movw %ax, %es
	movw %ax, %fs
	movw %ax, %gs
	movw %ax, %ss
	movq $boot_stack + GUEST_STACK_SIZE, %rsp
	movl %esi, %edi
	call guest_start
4:	cli
	hlt
	jmp 4b

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
	.align 4096
	.globl guest_pml4, guest_pdpt, guest_page_directories
guest_pml4: .skip 4096
guest_pdpt: .skip 4096
guest_page_directories: .skip 4 * 4096
	.align 16
boot_stack: .skip GUEST_STACK_SIZE

	.section .note.GNU-stack, "", @progbits

/*
 * Multiboot entry: GRUB (multiboot2) and `qemu -kernel` (multiboot1) enter
 * here in 32-bit protected mode, paging off, with the loader's magic in %eax
 * and the physical address of its information block in %ebx. We build
 * temporary page tables (identity [0, 4 GiB) for the loader's data, and the
 * top 2 GiB aliasing [0, 1 GiB) for the kernel image), enter long mode and
 * call boot_multiboot_main() in the higher half.
 */
#include <boot_layout.h>

#define MB1_MAGIC 0x1badb002
#define MB1_FLAGS ((1 << 0) | (1 << 1) | (1 << 16)) /* align mods, mem info, address fields */
#define MB2_MAGIC 0xe85250d6
#define MSR_EFER 0xc0000080
#define EFER_LME (1 << 8)
#define EFER_NXE (1 << 11)
#define COM1 0x3f8

	.section .multiboot_header, "a"
	.balign 8
multiboot2_header:
	.long MB2_MAGIC
	.long 0 /* i386 protected mode */
	.long multiboot2_header_end - multiboot2_header
	.long -(MB2_MAGIC + 0 + (multiboot2_header_end - multiboot2_header))
	/* entry address tag: the ELF entry point is the EFI loader's 64-bit one */
	.balign 8
	.word 3, 0
	.long 12
	.long boot_multiboot_entry32
	/* module alignment tag: modules page aligned */
	.balign 8
	.word 6, 0
	.long 8
	.balign 8
	.word 0, 0
	.long 8
multiboot2_header_end:

	.balign 4
multiboot1_header:
	.long MB1_MAGIC
	.long MB1_FLAGS
	.long -(MB1_MAGIC + MB1_FLAGS)
	.long multiboot1_header         /* header_addr */
	.long __kernel_phys_start       /* load_addr */
	.long __kernel_load_end_phys    /* load_end_addr */
	.long __kernel_end_phys         /* bss_end_addr */
	.long boot_multiboot_entry32    /* entry_addr */

	.section .boot.text, "ax"
	.code32
	.globl boot_multiboot_entry32
boot_multiboot_entry32:
	cli
	cld
	movl %eax, %edi
	rdtsc
	movl %eax, boot_tsc32
	movl %edx, boot_tsc32 + 4
	movl %edi, %eax
	movl $boot_stack32_top, %esp
	movl %eax, boot_multiboot_magic
	movl %ebx, boot_multiboot_info

	/* Long mode needs CPUID leaf 0x80000001 EDX.LM; say so on COM1 if absent. */
	movl $0x80000000, %eax
	cpuid
	cmpl $0x80000001, %eax
	jb no_long_mode
	movl $0x80000001, %eax
	cpuid
	testl $(1 << 29), %edx
	jz no_long_mode
	movl %edx, boot_cpuid_ext_edx

	/* PML4[0] -> identity PDPT (4 x 1 GiB of 2 MiB pages);
	 * PML4[511] -> high PDPT whose entry 510 reuses the first PD. */
	movl $boot_pdpt_low, %eax
	orl $3, %eax
	movl %eax, boot_pml4
	movl $boot_pdpt_high, %eax
	orl $3, %eax
	movl %eax, boot_pml4 + 511 * 8
	movl $boot_pd, %eax
	orl $3, %eax
	movl %eax, boot_pdpt_high + 510 * 8
	xorl %ecx, %ecx
1:	movl %ecx, %eax
	shll $12, %eax
	addl $boot_pd, %eax
	orl $3, %eax
	movl %eax, boot_pdpt_low(, %ecx, 8)
	incl %ecx
	cmpl $4, %ecx
	jb 1b
	/* 2048 PD entries: 2 MiB pages, present + writable + large. */
	xorl %ecx, %ecx
2:	movl %ecx, %eax
	shll $21, %eax
	orl $0x83, %eax
	movl %eax, boot_pd(, %ecx, 8)
	movl %ecx, %eax
	shrl $11, %eax
	movl %eax, boot_pd + 4(, %ecx, 8)
	incl %ecx
	cmpl $2048, %ecx
	jb 2b

	movl %cr4, %eax
	orl $(1 << 5), %eax /* PAE */
	movl %eax, %cr4
	movl $boot_pml4, %eax
	movl %eax, %cr3
	movl $MSR_EFER, %ecx
	rdmsr
	orl $EFER_LME, %eax
	testl $(1 << 20), boot_cpuid_ext_edx /* NX supported? */
	jz 3f
	orl $EFER_NXE, %eax
3:	wrmsr
	movl %cr0, %eax
	orl $0x80010001, %eax /* PG, WP, PE */
	movl %eax, %cr0
	lgdt boot_gdt_descriptor
	ljmp $0x08, $boot_long_mode

no_long_mode:
	movl $no_long_mode_message, %esi
4:	movb (%esi), %al
	testb %al, %al
	jz 6f
	movl %eax, %ebx
	movw $(COM1 + 5), %dx
5:	inb %dx, %al
	testb $0x20, %al
	jz 5b
	movw $COM1, %dx
	movl %ebx, %eax
	outb %al, %dx
	incl %esi
	jmp 4b
6:	hlt
	jmp 6b

	.code64
boot_long_mode:
	movw $0x10, %ax
	movw %ax, %ds
	movw %ax, %es
	movw %ax, %ss
	xorw %ax, %ax
	movw %ax, %fs
	movw %ax, %gs
	movabsq $boot_stack_top, %rsp
	xorl %ebp, %ebp
	movq boot_tsc32, %rax
	movabsq $boot_tsc_at_entry, %rcx
	movq %rax, (%rcx)
	movl boot_multiboot_magic, %edi
	movl boot_multiboot_info, %esi
	movabsq $boot_multiboot_main, %rax
	call *%rax
7:	hlt
	jmp 7b

	.section .boot.data, "aw"
	.balign 8
boot_gdt:
	.quad 0
	.quad 0x00af9a000000ffff /* 64-bit code */
	.quad 0x00cf92000000ffff /* data */
boot_gdt_descriptor:
	.word boot_gdt_descriptor - boot_gdt - 1
	.long boot_gdt
no_long_mode_message:
	.asciz "vmkernel: halted: this CPU has no 64-bit long mode\r\n"

	.section .boot.bss, "aw", @nobits
	.balign 4096
boot_pml4: .skip 4096
boot_pdpt_low: .skip 4096
boot_pdpt_high: .skip 4096
boot_pd: .skip 4096 * 4
boot_stack32: .skip 1024
boot_stack32_top:
	.balign 8
boot_tsc32: .quad 0
boot_multiboot_magic: .long 0
boot_multiboot_info: .long 0
boot_cpuid_ext_edx: .long 0

/*
 * The real-mode part of the realmode guest. realmode_enter() leaves 32-bit
 * protected mode the way the SDM (vol. 3, 10.9.2) prescribes: jump to a
 * 16-bit code segment, load 64 KiB data segments, load the real-mode IDT,
 * clear CR0.PE, far-jump to load a real-mode CS. The real-mode code runs
 * from a copy at REALMODE_BASE (real mode reaches only the first MiB):
 * CS = REALMODE_SEGMENT, so code labels are offsets from the blob's start
 * (RM) and data, reached with DS = 0, is at linear ABS addresses. It writes
 * its results into the blob, then turns PE back on and returns to 32-bit C.
 */
#include "layout.h"

#define REALMODE_BASE 0x7000
#define REALMODE_SEGMENT (REALMODE_BASE >> 4)
#define SELECTOR_CODE16 (SELECTOR_SPARE_FIRST)
#define SELECTOR_DATA16 (SELECTOR_SPARE_FIRST + 8)
#define RM(label) ((label) - realmode_blob_start)
#define ABS(label) (REALMODE_BASE + RM(label))
#define TEST_VECTOR 0x31
#define UART_DATA 0x3f8
#define UART_LINE_STATUS 0x3fd

	.text
	.code32
/* void realmode_enter(void): the blob is at REALMODE_BASE and GDT slots
 * SELECTOR_CODE16/SELECTOR_DATA16 hold 16-bit segments (realmode.c). */
	.globl realmode_enter
realmode_enter:
	pushal
	movl %esp, saved_esp
	cli
	ljmp $SELECTOR_CODE16, $RM(protected16)

protected_again:
	movw $SELECTOR_KERNEL_DATA, %ax
	movw %ax, %ds
	movw %ax, %es
	movw %ax, %fs
	movw %ax, %gs
	movw %ax, %ss
	movl saved_esp, %esp
	popal
	ret

	.data
	.align 4
saved_esp: .long 0

/* Copied to REALMODE_BASE; never run where it is linked. */
	.section .data.realmode, "aw"
	.code16
	.globl realmode_blob_start, realmode_blob_end
realmode_blob_start:
protected16: /* 16-bit protected mode, CS base = REALMODE_BASE */
	movw $SELECTOR_DATA16, %ax
	movw %ax, %ds
	movw %ax, %es
	movw %ax, %fs
	movw %ax, %gs
	movw %ax, %ss
	lidt ABS(real_mode_idt_pointer)
	movl %cr0, %eax
	andl $~1, %eax
	movl %eax, %cr0
	ljmp $REALMODE_SEGMENT, $RM(real_mode)

real_mode:
	xorw %ax, %ax
	movw %ax, %ds
	movw %ax, %es
	movw %ax, %ss
	movw $REALMODE_BASE, %sp /* the stack grows down below the blob */

	movw $ABS(hello_text), %si
	call print_string

	/* INT n through an IVT entry we wrote (segment:offset at 4 * n). */
	movw $RM(test_vector_handler), TEST_VECTOR * 4
	movw $REALMODE_SEGMENT, TEST_VECTOR * 4 + 2
	movw $0x1234, %ax
	xorw %bx, %bx
	int $TEST_VECTOR
	movw %ax, ABS(realmode_result_int_ax)
	movw %bx, ABS(realmode_result_int_bx)

	/* A real-mode exception: #DE through IVT entry 0. */
	movw $RM(divide_error_handler), 0
	movw $REALMODE_SEGMENT, 2
	movw $1, %ax
	xorb %bl, %bl
	divb %bl /* f6 f3: the handler steps over these 2 bytes */

	/* Segment arithmetic: 0x1234:0x5678 and 0x179b:0x0008 are both
	 * linear 0x179b8 (segment * 16 + offset). */
	movw $0x1234, %ax
	movw %ax, %ds
	movw $0xa55a, 0x5678
	movw $0x179b, %ax
	movw %ax, %es
	movw %es:0x0008, %cx
	xorw %ax, %ax
	movw %ax, %ds
	movw %ax, %es
	movw %cx, ABS(realmode_result_segment_word)

	/* A 32-bit operand (0x66 prefix) in real mode. */
	movl $0x12345678, %eax
	addl $0x11111111, %eax
	movl %eax, ABS(realmode_result_operand32)

	movw $ABS(bye_text), %si
	call print_string

	/* Back: the runtime's GDT, PE on, a far jump to 32-bit code. */
	lgdtl ABS(gdt_pointer)
	movl %cr0, %eax
	orl $1, %eax
	movl %eax, %cr0
	ljmpl $SELECTOR_KERNEL_CODE, $protected_again

test_vector_handler: /* the frame: IP, CS, FLAGS at SS:SP */
	movw %sp, %bp
	movw 2(%bp), %dx
	movw %dx, ABS(realmode_result_int_cs)
	movw 4(%bp), %dx
	movw %dx, ABS(realmode_result_int_flags)
	incw %ax
	movw $0xbeef, %bx
	iret

divide_error_handler: /* #DE is a fault: the saved IP is the DIV's */
	movw %sp, %bp
	addw $2, (%bp)
	incw ABS(realmode_result_divide_errors)
	iret

/* DS:SI: a NUL-terminated string, to the UART by port I/O. */
print_string:
	lodsb
	testb %al, %al
	jz 3f
	movb %al, %bl
	movw $UART_LINE_STATUS, %dx
	movw $0xffff, %cx /* bounded: a UART that never drains must not hang us */
1:	inb %dx, %al
	testb $0x20, %al
	jnz 2f
	loop 1b
2:	movb %bl, %al
	movw $UART_DATA, %dx
	outb %al, %dx
	jmp print_string
3:	ret

hello_text: .asciz "realmode: hello from real mode (CS=0x0700)\r\n"
bye_text: .asciz "realmode: leaving real mode\r\n"
	.align 4
real_mode_idt_pointer:
	.word 0x3ff
	.long 0
gdt_pointer:
	.word GDT_ENTRIES * 8 - 1
	.long guest_gdt
	.align 4
	.globl realmode_result_int_ax, realmode_result_int_bx, realmode_result_int_cs
	.globl realmode_result_int_flags, realmode_result_divide_errors
	.globl realmode_result_segment_word, realmode_result_operand32
realmode_result_operand32: .long 0
realmode_result_int_ax: .word 0
realmode_result_int_bx: .word 0
realmode_result_int_cs: .word 0
realmode_result_int_flags: .word 0
realmode_result_divide_errors: .word 0
realmode_result_segment_word: .word 0
realmode_blob_end:

	.section .note.GNU-stack, "", @progbits

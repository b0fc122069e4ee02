/* 32-bit interrupt stubs: one per vector, 16 bytes apart (idt.c relies on
 * it). Each pushes a zero where the CPU pushes no error code, then the
 * vector, so every frame has the same shape (struct guest_frame). */
	.altmacro
	.macro isr_stub vector
	.align 16
	.if (\vector == 8) || ((\vector >= 10) && (\vector <= 14)) || (\vector == 17) || (\vector == 21) || (\vector == 29) || (\vector == 30)
	.else
	pushl $0
	.endif
	pushl $\vector
	jmp isr_common
	.endm

	.text
	.code32
	.align 16
	.globl guest_isr_stubs
guest_isr_stubs:
	vector = 0
	.rept 256
	isr_stub %vector
	vector = vector + 1
	.endr

isr_common:
	pushal
	cld
	pushl %esp
	call guest_interrupt_dispatch
	addl $4, %esp
	popal
	addl $8, %esp /* vector, error code */
	iret

	.section .note.GNU-stack, "", @progbits

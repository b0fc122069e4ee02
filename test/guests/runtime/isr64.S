/* 64-bit interrupt stubs: one per vector, 16 bytes apart (idt.c relies on
 * it). Each pushes a zero where the CPU pushes no error code, then the
 * vector, so every frame has the same shape (struct guest_frame). */
	.altmacro
	.macro isr_stub vector
	.align 16
	.if (\vector == 8) || ((\vector >= 10) && (\vector <= 14)) || (\vector == 17) || (\vector == 21) || (\vector == 29) || (\vector == 30)
	.else
	pushq $0
	.endif
	pushq $\vector
	jmp isr_common
	.endm

	.text
	.code64
	.align 16
	.globl guest_isr_stubs
guest_isr_stubs:
	vector = 0
	.rept 256
	isr_stub %vector
	vector = vector + 1
	.endr

/* The CPU aligned RSP to 16 before its 5-word frame; with the error code,
 * the vector and 15 registers RSP is 16-byte aligned again for the call. */
isr_common:
	pushq %rax
	pushq %rcx
	pushq %rdx
	pushq %rbx
	pushq %rbp
	pushq %rsi
	pushq %rdi
	pushq %r8
	pushq %r9
	pushq %r10
	pushq %r11
	pushq %r12
	pushq %r13
	pushq %r14
	pushq %r15
	cld
	movq %rsp, %rdi
	call guest_interrupt_dispatch
	popq %r15
	popq %r14
	popq %r13
	popq %r12
	popq %r11
	popq %r10
	popq %r9
	popq %r8
	popq %rdi
	popq %rsi
	popq %rbp
	popq %rbx
	popq %rdx
	popq %rcx
	popq %rax
	addq $16, %rsp /* vector, error code */
	iretq

	.section .note.GNU-stack, "", @progbits

/*
 * Interrupt entry stubs: one per vector, each pushing a dummy error code
 * where the CPU pushes none (so every frame has the same shape) and the
 * vector number, then a common path that saves the general registers and
 * calls interrupt_dispatch(frame).
 */
	.section .text
	.code64

	.globl isr_stub_table
isr_stubs_start:
	vec = 0
	.rept 256
	.balign 16
	.if (vec == 8) || (vec == 10) || (vec == 11) || (vec == 12) || (vec == 13) || (vec == 14) || (vec == 17) || (vec == 21) || (vec == 29) || (vec == 30)
	.else
	pushq $0
	.endif
	pushq $vec
	jmp isr_common
	vec = vec + 1
	.endr

isr_common:
	pushq %rax
	pushq %rbx
	pushq %rcx
	pushq %rdx
	pushq %rsi
	pushq %rdi
	pushq %rbp
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
	/* Frame pointer chain for the stack trace: fake a frame at the faulting rip. */
	pushq 17*8(%rsp)      /* rip */
	pushq %rbp
	movq %rsp, %rbp
	call interrupt_dispatch
	addq $16, %rsp
	popq %r15
	popq %r14
	popq %r13
	popq %r12
	popq %r11
	popq %r10
	popq %r9
	popq %r8
	popq %rbp
	popq %rdi
	popq %rsi
	popq %rdx
	popq %rcx
	popq %rbx
	popq %rax
	addq $16, %rsp /* vector, error code */
	iretq

	.section .rodata
	.balign 8
isr_stub_table:
	vec = 0
	.rept 256
	.quad isr_stubs_start + vec * 16
	vec = vec + 1
	.endr

/*
 * Ring 3 for the 64-bit guests. guest_call_user(fn, argument) saves the
 * callee-saved registers and RFLAGS, then IRETQs to fn in ring 3 on
 * user_stack. fn ends with guest_user_return(value): INT on a DPL-3 gate
 * (vector GUEST_USER_RETURN_VECTOR) brings the CPU back to ring 0 on the
 * TSS stack, and guest_user_resume() drops that frame and returns value
 * from guest_call_user on the saved stack.
 */
#include "layout.h"

	.text
	.code64
	.globl guest_call_user
guest_call_user:
	pushq %rbx
	pushq %rbp
	pushq %r12
	pushq %r13
	pushq %r14
	pushq %r15
	pushfq
	movq %rsp, saved_kernel_rsp(%rip)
	movq %rdi, %rax
	movq %rsi, %rdi
	pushq $SELECTOR_USER_DATA | 3
	leaq user_stack_top - 8(%rip), %rcx /* as if called: RSP+8 16-aligned */
	pushq %rcx
	pushq $0x2 /* RFLAGS: interrupts off */
	pushq $SELECTOR_USER_CODE | 3
	pushq %rax
	iretq

	.globl guest_user_return
guest_user_return:
	movq %rdi, %rax
	int $GUEST_USER_RETURN_VECTOR
	ud2 /* never returns */

/* void guest_user_resume(uint64_t value): from the vector's handler. */
	.globl guest_user_resume
guest_user_resume:
	movq saved_kernel_rsp(%rip), %rsp
	movq %rdi, %rax
	popfq
	popq %r15
	popq %r14
	popq %r13
	popq %r12
	popq %rbp
	popq %rbx
	ret

	.bss
	.align 16
saved_kernel_rsp: .quad 0
	.align 16
user_stack: .skip GUEST_STACK_SIZE
user_stack_top:

	.section .note.GNU-stack, "", @progbits

/* SYSCALL entry of the long64 guest: records what the CPU loaded, returns
 * RAX + 1 with SYSRETQ. It runs on the caller's (ring-3) stack: SYSCALL
 * does not switch stacks, and the test needs none. */
	.text
	.code64
	.globl long64_syscall_entry
long64_syscall_entry:
	movw %cs, long64_syscall_cs(%rip)
	movw %ss, long64_syscall_ss(%rip)
	movq %rcx, long64_syscall_rcx(%rip)
	movq %r11, long64_syscall_r11(%rip)
	pushfq
	popq long64_syscall_rflags(%rip)
	incq %rax
	sysretq

	.bss
	.align 8
	.globl long64_syscall_cs, long64_syscall_ss, long64_syscall_rcx, long64_syscall_r11
	.globl long64_syscall_rflags
long64_syscall_rcx: .quad 0
long64_syscall_r11: .quad 0
long64_syscall_rflags: .quad 0
long64_syscall_cs: .word 0
long64_syscall_ss: .word 0

	.section .note.GNU-stack, "", @progbits

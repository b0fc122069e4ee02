/*
 * The SVM world switch. svm_vmrun(vmcb_phys, gprs, host_save_vmcb_phys):
 * guest RAX, RSP, RIP and RFLAGS live in the VMCB; the other guest general
 * registers are loaded from gprs[] before VMRUN and stored back after.
 * VMLOAD/VMSAVE move the state VMRUN does not (FS, GS, TR, LDTR, the
 * SYSCALL and SYSENTER MSRs, KernelGsBase); the host's copy of that state
 * is reloaded from its per-CPU save VMCB. GIF is clear across the switch.
 * The host's IF is set for VMRUN: with V_INTR_MASKING the host IF saved by
 * VMRUN decides whether physical interrupts reach the INTR intercept, and
 * with IF clear a guest that never exits would never give the CPU back.
 * After #VMEXIT, IF is cleared again before STGI, so the interrupt that
 * ended the run waits for the caller's own sti.
 */
	.section .text
	.code64
	.globl svm_vmrun
svm_vmrun:
	pushq %rbp
	movq %rsp, %rbp
	pushq %rbx
	pushq %r12
	pushq %r13
	pushq %r14
	pushq %r15
	pushq %rsi            /* gprs */
	pushq %rdx            /* host save VMCB */
	movq %rdi, %rax       /* guest VMCB */

	clgi
	movq 1*8(%rsi), %rcx
	movq 2*8(%rsi), %rdx
	movq 3*8(%rsi), %rbx
	movq 5*8(%rsi), %rbp
	movq 7*8(%rsi), %rdi
	movq 8*8(%rsi), %r8
	movq 9*8(%rsi), %r9
	movq 10*8(%rsi), %r10
	movq 11*8(%rsi), %r11
	movq 12*8(%rsi), %r12
	movq 13*8(%rsi), %r13
	movq 14*8(%rsi), %r14
	movq 15*8(%rsi), %r15
	movq 6*8(%rsi), %rsi
	vmload %rax
	sti
	vmrun %rax
	vmsave %rax
	cli

	/* Guest registers back to gprs[] (RAX and RSP are in the VMCB). */
	pushq %rsi
	movq 2*8(%rsp), %rsi  /* gprs, below the host save VMCB and this push */
	movq %rcx, 1*8(%rsi)
	movq %rdx, 2*8(%rsi)
	movq %rbx, 3*8(%rsi)
	movq %rbp, 5*8(%rsi)
	popq %rcx
	movq %rcx, 6*8(%rsi)
	movq %rdi, 7*8(%rsi)
	movq %r8, 8*8(%rsi)
	movq %r9, 9*8(%rsi)
	movq %r10, 10*8(%rsi)
	movq %r11, 11*8(%rsi)
	movq %r12, 12*8(%rsi)
	movq %r13, 13*8(%rsi)
	movq %r14, 14*8(%rsi)
	movq %r15, 15*8(%rsi)

	popq %rax             /* host save VMCB */
	vmload %rax
	stgi
	popq %rsi
	popq %r15
	popq %r14
	popq %r13
	popq %r12
	popq %rbx
	popq %rbp
	ret

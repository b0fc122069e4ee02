/*
 * The VMX world switch.
 *
 * int vmx_world_switch(uint64_t *gprs, int launched)
 *
 * Saves the host's callee-saved registers and the gprs pointer on the
 * stack, records that stack in the VMCS as the host RSP, loads the guest's
 * general registers from gprs[] (indexed like enum virt_gpr; RSP is the
 * VMCS's), and enters with VMLAUNCH or VMRESUME. At a VM exit the CPU
 * starts vmx_exit_stub (the VMCS's host RIP) on that stack, with the
 * host's segments, control registers, EFER and PAT loaded and RFLAGS = 2
 * (interrupts off): the stub stores the guest registers back into gprs[],
 * clears them from the CPU and returns 0 from vmx_world_switch.
 *
 * If VMLAUNCH/VMRESUME fails as an instruction (CF: no current VMCS, ZF:
 * the VM-instruction error field says why) execution continues after it
 * with the host stack intact; the function returns 1 or 2.
 */
#define VMCS_HOST_RSP 0x6c14
#define VMX_SWITCH_FAIL_INVALID 1
#define VMX_SWITCH_FAIL_VALID 2

#define GPR_RAX 0x00
#define GPR_RCX 0x08
#define GPR_RDX 0x10
#define GPR_RBX 0x18
#define GPR_RBP 0x28
#define GPR_RSI 0x30
#define GPR_RDI 0x38
#define GPR_R8 0x40
#define GPR_R9 0x48
#define GPR_R10 0x50
#define GPR_R11 0x58
#define GPR_R12 0x60
#define GPR_R13 0x68
#define GPR_R14 0x70
#define GPR_R15 0x78

	.section .text
	.code64

	.globl vmx_world_switch
	.type vmx_world_switch, @function
vmx_world_switch:
	pushq %rbp
	movq %rsp, %rbp
	pushq %rbx
	pushq %r12
	pushq %r13
	pushq %r14
	pushq %r15
	pushq %rdi                      /* gprs: found at (%rsp) after the exit */

	movl $VMCS_HOST_RSP, %eax
	vmwrite %rsp, %rax
	jbe .Lentry_failed             /* the flags say which failure */

	testl %esi, %esi                /* launched? the movs below keep the flags */
	movq GPR_RAX(%rdi), %rax
	movq GPR_RCX(%rdi), %rcx
	movq GPR_RDX(%rdi), %rdx
	movq GPR_RBX(%rdi), %rbx
	movq GPR_RBP(%rdi), %rbp
	movq GPR_RSI(%rdi), %rsi
	movq GPR_R8(%rdi), %r8
	movq GPR_R9(%rdi), %r9
	movq GPR_R10(%rdi), %r10
	movq GPR_R11(%rdi), %r11
	movq GPR_R12(%rdi), %r12
	movq GPR_R13(%rdi), %r13
	movq GPR_R14(%rdi), %r14
	movq GPR_R15(%rdi), %r15
	movq GPR_RDI(%rdi), %rdi
	jnz .Lresume
	vmlaunch
	jmp .Lentry_failed
.Lresume:
	vmresume
.Lentry_failed:
	/* Still on the host stack; the caller-saved registers hold guest values. */
	movl $VMX_SWITCH_FAIL_INVALID, %eax
	jc .Lreturn_failure
	movl $VMX_SWITCH_FAIL_VALID, %eax
.Lreturn_failure:
	leaq 8(%rsp), %rsp              /* the gprs pointer */
	popq %r15
	popq %r14
	popq %r13
	popq %r12
	popq %rbx
	popq %rbp
	ret
	.size vmx_world_switch, . - vmx_world_switch

	.globl vmx_exit_stub
	.type vmx_exit_stub, @function
vmx_exit_stub:
	pushq %rdi
	movq 8(%rsp), %rdi              /* gprs */
	movq %rax, GPR_RAX(%rdi)
	movq %rcx, GPR_RCX(%rdi)
	movq %rdx, GPR_RDX(%rdi)
	movq %rbx, GPR_RBX(%rdi)
	movq %rbp, GPR_RBP(%rdi)
	movq %rsi, GPR_RSI(%rdi)
	movq %r8, GPR_R8(%rdi)
	movq %r9, GPR_R9(%rdi)
	movq %r10, GPR_R10(%rdi)
	movq %r11, GPR_R11(%rdi)
	movq %r12, GPR_R12(%rdi)
	movq %r13, GPR_R13(%rdi)
	movq %r14, GPR_R14(%rdi)
	movq %r15, GPR_R15(%rdi)
	popq GPR_RDI(%rdi)
	/* Guest values must not linger in registers the C caller may not
	 * overwrite before using them speculatively. */
	xorl %eax, %eax
	xorl %ecx, %ecx
	xorl %edx, %edx
	xorl %esi, %esi
	xorl %edi, %edi
	xorl %r8d, %r8d
	xorl %r9d, %r9d
	xorl %r10d, %r10d
	xorl %r11d, %r11d
	leaq 8(%rsp), %rsp              /* the gprs pointer */
	popq %r15
	popq %r14
	popq %r13
	popq %r12
	popq %rbx
	popq %rbp
	ret
	.size vmx_exit_stub, . - vmx_exit_stub

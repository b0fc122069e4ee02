/* Exit handling: one handler per neutral exit code, in a table. */
#ifndef KAPSEL_VM_EXIT_H
#define KAPSEL_VM_EXIT_H

#include <arch/x86/virt.h>

struct vcpu;

enum exit_result {
	EXIT_RESUME, /* re-enter the guest */
	EXIT_YIELD,  /* leave the run loop: halted, stopped, or time to switch */
};

enum exit_result vm_handle_exit(struct vcpu *vcpu, struct vmk_exit *exit);
/* Moves RIP past the instruction that exited (decoding it when the
 * hardware did not give its length). */
int vcpu_skip_instruction(struct vcpu *vcpu, const struct vmk_exit *exit);
/* Queues an exception for the next entry. */
void vcpu_inject_exception(struct vcpu *vcpu, uint8_t vector, bool has_error, uint32_t error);
/* Puts a vCPU into the state INIT-SIPI leaves it in (real mode at vector:0). */
void vcpu_reset_to_sipi(struct vcpu *vcpu, uint8_t vector);

#endif

/*
 * IDT, interrupt dispatch and the fatal-exception dump. Vectors 0-31 are
 * CPU exceptions; 32-255 are free for the IOAPIC, the LAPIC timer and IPIs.
 */
#ifndef KAPSEL_ARCH_X86_INTERRUPT_H
#define KAPSEL_ARCH_X86_INTERRUPT_H

#include <stdint.h>

/* Saved by the entry stubs; layout fixed by isr.S. */
struct interrupt_frame {
	uint64_t r15, r14, r13, r12, r11, r10, r9, r8;
	uint64_t rbp, rdi, rsi, rdx, rcx, rbx, rax;
	uint64_t vector;
	uint64_t error_code;
	/* pushed by the CPU */
	uint64_t rip, cs, rflags, rsp, ss;
};

#define VECTOR_DIVIDE_ERROR 0
#define VECTOR_BREAKPOINT 3
#define VECTOR_INVALID_OPCODE 6
#define VECTOR_DOUBLE_FAULT 8
#define VECTOR_GENERAL_PROTECTION 13
#define VECTOR_PAGE_FAULT 14
#define VECTOR_NMI 2
#define VECTOR_MACHINE_CHECK 18

/* Vectors used by the vmkernel itself. */
#define VECTOR_IRQ_BASE 0x20   /* IOAPIC GSIs from here */
#define VECTOR_TIMER 0xe0
#define VECTOR_IPI_CALL 0xf0
#define VECTOR_IPI_STOP 0xf1
#define VECTOR_KICK 0xf2      /* look at the run queue (a vCPU woke) */
#define VECTOR_SPURIOUS 0xff

typedef void (*interrupt_handler_fn)(struct interrupt_frame *frame);

void interrupt_init(void);       /* builds the IDT once */
void interrupt_load_idt(void);   /* on every CPU */
int interrupt_register(uint8_t vector, interrupt_handler_fn handler);
/* Called on a fatal exception after the dump; set by core to stop all CPUs. */
void interrupt_set_fatal_hook(void (*hook)(void));
/* Fatal exception: prints the dump and never returns. */
__attribute__((noreturn)) void interrupt_fatal(struct interrupt_frame *frame);
const char *exception_mnemonic(uint64_t vector);
/* Hook for the end-of-interrupt write; the LAPIC driver installs it. */
void interrupt_set_eoi(void (*eoi)(void));

#endif

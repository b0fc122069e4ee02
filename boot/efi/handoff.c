/*
 * The last instructions of kapsel.efi. Boot services are gone when these run:
 * no firmware calls, no ConOut.
 */
#include "loader.h"

#define COM1 0x3f8
#define COM1_LINE_STATUS (COM1 + 5)
#define LINE_STATUS_TRANSMIT_EMPTY 0x20
#define TRANSMIT_POLL_LIMIT 100000 /* do not hang on a machine without COM1 */

void loader_enter_kernel(uint64_t cr3, uint64_t stack_top, uint64_t entry, uint64_t boot_info_phys)
{
	/*
	 * Fixed registers, so clearing %rbp cannot clobber an operand. The
	 * pushed zero is a return address: the entry sees the stack as after a
	 * call (rsp + 8 16-byte aligned), and a return faults instead of
	 * running stale loader code.
	 */
	__asm__ volatile("cli\n\t"
			 "cld\n\t"
			 "mov %%rax, %%cr3\n\t"
			 "mov %%rdx, %%rsp\n\t"
			 "xor %%ebp, %%ebp\n\t"
			 "pushq $0\n\t"
			 "jmp *%%rcx"
			 :
			 : "a"(cr3), "d"(stack_top), "c"(entry), "D"(boot_info_phys)
			 : "memory");
	__builtin_unreachable();
}

static void port_write(uint16_t port, uint8_t value)
{
	__asm__ volatile("outb %0, %1" : : "a"(value), "Nd"(port));
}

static uint8_t port_read(uint16_t port)
{
	uint8_t value;

	__asm__ volatile("inb %1, %0" : "=a"(value) : "Nd"(port));
	return value;
}

void loader_halt_with_serial_message(const char *message)
{
	for (; *message; message++) {
		unsigned int polls = 0;

		while (!(port_read(COM1_LINE_STATUS) & LINE_STATUS_TRANSMIT_EMPTY) &&
		       polls++ < TRANSMIT_POLL_LIMIT)
			;
		port_write(COM1, (uint8_t)*message);
	}
	for (;;)
		__asm__ volatile("cli; hlt");
}

#include <arch/x86/pic.h>

#include <arch/x86/interrupt.h>
#include <arch/x86/io.h>

#define PIC1_COMMAND 0x20
#define PIC1_DATA 0x21
#define PIC2_COMMAND 0xa0
#define PIC2_DATA 0xa1

void pic_disable(void)
{
	/* ICW1-4: edge, cascade, vectors 0x20/0x28 (a stray IRQ can then not
	 * look like an exception), 8086 mode; then mask every line. */
	outb(PIC1_COMMAND, 0x11);
	io_delay();
	outb(PIC2_COMMAND, 0x11);
	io_delay();
	outb(PIC1_DATA, VECTOR_IRQ_BASE);
	io_delay();
	outb(PIC2_DATA, VECTOR_IRQ_BASE + 8);
	io_delay();
	outb(PIC1_DATA, 4);
	io_delay();
	outb(PIC2_DATA, 2);
	io_delay();
	outb(PIC1_DATA, 0x01);
	io_delay();
	outb(PIC2_DATA, 0x01);
	io_delay();
	outb(PIC1_DATA, 0xff);
	outb(PIC2_DATA, 0xff);
}

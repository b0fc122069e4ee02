/* The C side of start-up: devices and tables, the loader check, the guest. */
#include <multiboot/multiboot.h>

#include "internal.h"

#define PIC_MASTER_COMMAND 0x20
#define PIC_MASTER_DATA 0x21
#define PIC_SLAVE_COMMAND 0xa0
#define PIC_SLAVE_DATA 0xa1
#define PIC_VECTOR_BASE 0x20

/* The firmware may have left the PICs delivering at vectors 0x08-0x0f, on
 * top of the exceptions: move them to 0x20-0x2f, then mask every line. */
void pic_remap_and_mask(void)
{
	outb(PIC_MASTER_COMMAND, 0x11); /* ICW1: edge, cascade, ICW4 follows */
	outb(PIC_SLAVE_COMMAND, 0x11);
	outb(PIC_MASTER_DATA, PIC_VECTOR_BASE);
	outb(PIC_SLAVE_DATA, PIC_VECTOR_BASE + 8);
	outb(PIC_MASTER_DATA, 4); /* slave on line 2 */
	outb(PIC_SLAVE_DATA, 2);
	outb(PIC_MASTER_DATA, 1); /* 8086 mode */
	outb(PIC_SLAVE_DATA, 1);
	outb(PIC_MASTER_DATA, 0xff);
	outb(PIC_SLAVE_DATA, 0xff);
}

_Noreturn void guest_start(uint32_t multiboot_info)
{
	console_init();
	pic_remap_and_mask();
	gdt_init();
	guest_idt_init();
	guest_printf("\n%s: start\n", guest_name);
	if (guest_boot_eax != MULTIBOOT_BOOTLOADER_MAGIC)
		guest_fail("loader left EAX=0x%x, not the multiboot1 magic 0x2badb002", guest_boot_eax);
	guest_main(multiboot_info);
	guest_pass();
}

/* The legacy 8259 PIC pair: remapped off the exception vectors and masked,
 * because the vmkernel takes interrupts through the IOAPIC and LAPIC. */
#ifndef KAPSEL_ARCH_X86_PIC_H
#define KAPSEL_ARCH_X86_PIC_H

void pic_disable(void);

#endif

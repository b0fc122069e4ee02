/* Link-time layout shared by assembly and C. */
#ifndef KAPSEL_BOOT_LAYOUT_H
#define KAPSEL_BOOT_LAYOUT_H

#define KERNEL_VIRT_OFFSET 0xffffffff80000000
#define BOOT_STACK_SIZE 32768

#endif

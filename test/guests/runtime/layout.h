/*
 * Constants shared by the runtime's assembly and C: selectors of the
 * runtime's GDT, stack sizes, the multiboot load address.
 */
#ifndef GUEST_LAYOUT_H
#define GUEST_LAYOUT_H

/* Where every guest image is linked and loaded (multiboot1 needs >= 1 MiB). */
#define GUEST_LOAD_ADDRESS 0x100000
#define GUEST_STACK_SIZE 0x4000

/* 32-bit: flat code/data, then spare slots 3..7 for the guest's own use.
 * 64-bit: the SYSCALL/SYSRET layout (STAR wants kernel code, kernel data,
 * then user code32, user data, user code64 in this order), then the TSS. */
#define SELECTOR_KERNEL_CODE 0x08
#define SELECTOR_KERNEL_DATA 0x10
#define SELECTOR_SPARE_FIRST 0x18
#define SELECTOR_USER_CODE32 0x18
#define SELECTOR_USER_DATA 0x20
#define SELECTOR_USER_CODE 0x28
#define SELECTOR_TSS 0x30
#define GDT_ENTRIES 8

/* Where guest_ap_install() puts the AP start-up trampoline (the STARTUP
 * IPI's vector is this >> 12), and how many APs get a stack. */
#define GUEST_AP_TRAMPOLINE_BASE 0x8000
#define GUEST_MAX_APS 15

/* 64-bit: ring 3 comes back to guest_call_user() through INT n on this vector. */
#define GUEST_USER_RETURN_VECTOR 0x81

#endif

/* Between the runtime's own files: set-up steps guest_start() runs in order. */
#ifndef GUEST_INTERNAL_H
#define GUEST_INTERNAL_H

#include "guest.h"

void console_init(void);
void gdt_init(void);
void pic_remap_and_mask(void);
/* Called by entry32.S / entry64.S on the boot stack. */
_Noreturn void guest_start(uint32_t multiboot_info);

#endif

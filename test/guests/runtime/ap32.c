/* The AP start-up of 32-bit guests (ap_start32.S has the trampoline). */
#include "guest.h"

#include "layout.h"

extern char guest_ap_trampoline_start[], guest_ap_trampoline_end[];

void (*guest_ap_entry)(void);

uint32_t guest_ap_install(void (*entry)(void))
{
	guest_ap_entry = entry;
	memcpy((void *)(uintptr_t)GUEST_AP_TRAMPOLINE_BASE, guest_ap_trampoline_start,
	       (size_t)(guest_ap_trampoline_end - guest_ap_trampoline_start));
	return GUEST_AP_TRAMPOLINE_BASE >> 12;
}

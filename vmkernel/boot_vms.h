/* VMs defined at boot: boot modules carrying VM definitions (.vmx text),
 * started once the vmkernel is ready. */
#ifndef KAPSEL_BOOT_VMS_H
#define KAPSEL_BOOT_VMS_H

#include <boot_info.h>

/* Creates and starts every VM defined by a boot module; a bad definition or
 * image is refused with a message and the others still start. Returns how
 * many started. */
unsigned vm_start_boot_vms(const struct boot_info *boot);
/* Runs this CPU's share of vCPUs until every boot-time VM has ended, then
 * prints the summary line "guests: <N> passed, <M> failed". */
void vm_wait_all_and_report(void);

#endif

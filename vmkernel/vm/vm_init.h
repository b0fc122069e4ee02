/* Bringing the VM layer up at boot. */
#ifndef KAPSEL_VM_VM_INIT_H
#define KAPSEL_VM_VM_INIT_H

/* Chooses the backend and enables it on every CPU. Returns "vmx", "svm",
 * or "none" (then logs why: no VMX/SVM, a missing feature, ...). */
const char *vm_subsystem_init(void);
/* Each pCPU's idle loop: runs its vCPUs. */
void vm_idle_loop_once(void);

#endif

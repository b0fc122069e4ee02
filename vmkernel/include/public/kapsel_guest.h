/*
 * What a Kapsel guest can rely on beyond the PC platform: the CPUID
 * hypervisor leaves, the hypercall ABI, and the test devices. A public ABI:
 * numbers here never change meaning; new ones are added.
 * Usable from guest code (C or assembly with __ASSEMBLY__) and the vmkernel.
 */
#ifndef KAPSEL_PUBLIC_GUEST_H
#define KAPSEL_PUBLIC_GUEST_H

/* CPUID: leaf 1 ECX bit 31 is set (a hypervisor is present); VMX (leaf 1
 * ECX bit 5) and SVM (0x80000001 ECX bit 2) are never shown. */
#define KAPSEL_CPUID_BASE 0x40000000u
/* Leaf 0x40000000: EAX = highest hypervisor leaf, EBX:ECX:EDX = signature. */
#define KAPSEL_CPUID_SIGNATURE "KapselVMKern"
#define KAPSEL_CPUID_SIGNATURE_EBX 0x7370614bu /* "Kaps" */
#define KAPSEL_CPUID_SIGNATURE_ECX 0x4d566c65u /* "elVM" */
#define KAPSEL_CPUID_SIGNATURE_EDX 0x6e72654bu /* "Kern" */
/* Leaf 0x40000001: EAX = CPUID policy version, EBX = hypercall ABI version,
 * ECX = the VM's virtual hardware version (hw.version). */
#define KAPSEL_CPUID_INFO 0x40000001u
#define KAPSEL_CPUID_POLICY_VERSION 1u
/* Leaf 0x40000010 (the common convention): EAX = TSC kHz, EBX = LAPIC timer kHz. */
#define KAPSEL_CPUID_TIMING 0x40000010u
#define KAPSEL_CPUID_MAX_LEAF KAPSEL_CPUID_TIMING

/*
 * Hypercalls: VMCALL (Intel) or VMMCALL (AMD) — both work on either, the
 * vmkernel treats the other vendor's instruction the same way. RAX = call
 * number, arguments in RDI, RSI, RDX; result in RAX (negative: -errno).
 * From CPL > 0 every call returns KAPSEL_HC_EPERM. Unknown calls return
 * KAPSEL_HC_ENOSYS.
 */
#define KAPSEL_HYPERCALL_ABI_VERSION 1u
#define KAPSEL_HC_VERSION 0u       /* returns KAPSEL_HYPERCALL_ABI_VERSION */
#define KAPSEL_HC_CONSOLE_WRITE 1u /* RDI = guest-physical buffer, RSI = length (<= 4096) */
#define KAPSEL_HC_EXIT 2u          /* RDI = status: ends the VM like the exit port */
#define KAPSEL_HC_EPERM (-1)
#define KAPSEL_HC_EFAULT (-14)
#define KAPSEL_HC_EINVAL (-22)
#define KAPSEL_HC_ENOSYS (-38)

/* Test-exit port, compatible with QEMU's isa-debug-exit: a write of N (any
 * width) ends the VM with status N. The vmkernel logs "vm <name>: exited
 * status=<N>". */
#define KAPSEL_EXIT_PORT 0xf4

/*
 * Test MMIO device (VM definition option testdev=on): 4 KiB of emulated
 * memory at this guest-physical address; every access exits to the vmkernel
 * and is decoded, so guests can check the instruction emulator: reads
 * return what was last written (little-endian, any size, any alignment
 * within the page); it starts zeroed.
 */
#define KAPSEL_TESTDEV_MMIO_BASE 0xfeb00000u
#define KAPSEL_TESTDEV_MMIO_SIZE 0x1000u

/* Guest RAM layout the loaders give a VM: RAM from 0 up to the VM's memory
 * size, minus the PC holes: [0x9fc00, 0x100000) is reserved (EBDA, VGA,
 * BIOS). The LAPIC is at 0xfee00000, the IOAPIC (later) at 0xfec00000. */
#define KAPSEL_GUEST_LAPIC_BASE 0xfee00000u

#endif

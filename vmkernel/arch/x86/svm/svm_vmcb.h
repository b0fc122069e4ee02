/*
 * The VMCB (AMD APM vol. 2, appendix B): a 4 KiB page, the control area at
 * 0x000 (intercepts, event injection, exit information) and the guest
 * state save area at 0x400. Offsets, not a struct, because the layout has
 * large reserved gaps and we touch few fields. Only arch/x86/svm sees this.
 */
#ifndef KAPSEL_ARCH_X86_SVM_VMCB_H
#define KAPSEL_ARCH_X86_SVM_VMCB_H

#include <stdint.h>

/* Control area. */
#define VMCB_INTERCEPT_CR 0x000
#define VMCB_INTERCEPT_DR 0x004
#define VMCB_INTERCEPT_EXCEPTIONS 0x008
#define VMCB_INTERCEPT_MISC1 0x00c
#define VMCB_INTERCEPT_MISC2 0x010
#define VMCB_PAUSE_FILTER_COUNT 0x03e
#define VMCB_IOPM_BASE 0x040
#define VMCB_MSRPM_BASE 0x048
#define VMCB_TSC_OFFSET 0x050
#define VMCB_ASID 0x058
#define VMCB_TLB_CONTROL 0x05c
#define VMCB_VINTR 0x060
#define VMCB_INTERRUPT_SHADOW 0x068
#define VMCB_EXIT_CODE 0x070
#define VMCB_EXIT_INFO1 0x078
#define VMCB_EXIT_INFO2 0x080
#define VMCB_EXIT_INT_INFO 0x088
#define VMCB_NP_ENABLE 0x090
#define VMCB_EVENT_INJECT 0x0a8
#define VMCB_NESTED_CR3 0x0b0
#define VMCB_CLEAN_BITS 0x0c0
#define VMCB_NEXT_RIP 0x0c8

/* Save area: segments are 16 bytes: selector, attributes, limit, base. */
#define VMCB_ES 0x400
#define VMCB_CS 0x410
#define VMCB_SS 0x420
#define VMCB_DS 0x430
#define VMCB_FS 0x440
#define VMCB_GS 0x450
#define VMCB_GDTR 0x460
#define VMCB_LDTR 0x470
#define VMCB_IDTR 0x480
#define VMCB_TR 0x490
#define VMCB_CPL 0x4cb
#define VMCB_EFER 0x4d0
#define VMCB_CR4 0x548
#define VMCB_CR3 0x550
#define VMCB_CR0 0x558
#define VMCB_DR7 0x560
#define VMCB_DR6 0x568
#define VMCB_RFLAGS 0x570
#define VMCB_RIP 0x578
#define VMCB_RSP 0x5d8
#define VMCB_RAX 0x5f8
#define VMCB_STAR 0x600
#define VMCB_LSTAR 0x608
#define VMCB_CSTAR 0x610
#define VMCB_SFMASK 0x618
#define VMCB_KERNEL_GS_BASE 0x620
#define VMCB_SYSENTER_CS 0x628
#define VMCB_SYSENTER_ESP 0x630
#define VMCB_SYSENTER_EIP 0x638
#define VMCB_CR2 0x640
#define VMCB_G_PAT 0x668

/* MISC1 intercepts. */
#define SVM_INTERCEPT_INTR (1u << 0)
#define SVM_INTERCEPT_NMI (1u << 1)
#define SVM_INTERCEPT_VINTR (1u << 4)
#define SVM_INTERCEPT_CPUID (1u << 18)
#define SVM_INTERCEPT_INVD (1u << 22)
#define SVM_INTERCEPT_PAUSE (1u << 23)
#define SVM_INTERCEPT_HLT (1u << 24)
#define SVM_INTERCEPT_IOIO (1u << 27)
#define SVM_INTERCEPT_MSR (1u << 28)
#define SVM_INTERCEPT_SHUTDOWN (1u << 31)
/* MISC2 intercepts. */
#define SVM_INTERCEPT_VMRUN (1u << 0)
#define SVM_INTERCEPT_VMMCALL (1u << 1)
#define SVM_INTERCEPT_VMLOAD (1u << 2)
#define SVM_INTERCEPT_VMSAVE (1u << 3)
#define SVM_INTERCEPT_STGI (1u << 4)
#define SVM_INTERCEPT_CLGI (1u << 5)
#define SVM_INTERCEPT_SKINIT (1u << 6)
#define SVM_INTERCEPT_MONITOR (1u << 10)
#define SVM_INTERCEPT_MWAIT (1u << 11)
#define SVM_INTERCEPT_XSETBV (1u << 13)

/* VINTR field. */
#define SVM_VINTR_V_IRQ (1ul << 8)
#define SVM_VINTR_PRIORITY_SHIFT 16
#define SVM_VINTR_IGNORE_TPR (1ul << 20)
#define SVM_VINTR_MASKING (1ul << 24)

/* EVENTINJ / EXITINTINFO. */
#define SVM_EVENT_VALID (1ul << 31)
#define SVM_EVENT_ERROR_VALID (1ul << 11)
#define SVM_EVENT_TYPE_SHIFT 8

/* Exit codes used here. */
#define SVM_EXIT_EXCEPTION_BASE 0x40
#define SVM_EXIT_INTR 0x60
#define SVM_EXIT_NMI 0x61
#define SVM_EXIT_INIT 0x63
#define SVM_EXIT_VINTR 0x64
#define SVM_EXIT_CPUID 0x72
#define SVM_EXIT_INVD 0x76
#define SVM_EXIT_PAUSE 0x77
#define SVM_EXIT_HLT 0x78
#define SVM_EXIT_IOIO 0x7b
#define SVM_EXIT_MSR 0x7c
#define SVM_EXIT_SHUTDOWN 0x7f
#define SVM_EXIT_VMRUN 0x80
#define SVM_EXIT_VMMCALL 0x81
#define SVM_EXIT_VMLOAD 0x82
#define SVM_EXIT_VMSAVE 0x83
#define SVM_EXIT_STGI 0x84
#define SVM_EXIT_CLGI 0x85
#define SVM_EXIT_SKINIT 0x86
#define SVM_EXIT_MONITOR 0x8a
#define SVM_EXIT_MWAIT 0x8b
#define SVM_EXIT_XSETBV 0x8d
#define SVM_EXIT_NPF 0x400
#define SVM_EXIT_INVALID 0xffffffffffffffffull

/* TLB_CONTROL values. */
#define SVM_TLB_NOTHING 0
#define SVM_TLB_FLUSH_ALL 1
#define SVM_TLB_FLUSH_ASID 3

static inline uint64_t vmcb_read64(const uint8_t *vmcb, unsigned offset)
{
	return *(const volatile uint64_t *)(vmcb + offset);
}

static inline void vmcb_write64(uint8_t *vmcb, unsigned offset, uint64_t value)
{
	*(volatile uint64_t *)(vmcb + offset) = value;
}

static inline uint32_t vmcb_read32(const uint8_t *vmcb, unsigned offset)
{
	return *(const volatile uint32_t *)(vmcb + offset);
}

static inline void vmcb_write32(uint8_t *vmcb, unsigned offset, uint32_t value)
{
	*(volatile uint32_t *)(vmcb + offset) = value;
}

#endif

/*
 * Per-CPU state, reached through %gs (GS base points at the CPU's own
 * struct percpu). Fields are written by their own CPU only, except where noted.
 */
#ifndef KAPSEL_ARCH_X86_PERCPU_H
#define KAPSEL_ARCH_X86_PERCPU_H

#include <stdbool.h>
#include <stdint.h>

#define MAX_CPUS 256
#define IST_DOUBLE_FAULT 1
#define IST_NMI 2
#define IST_MACHINE_CHECK 3
#define IST_STACK_SIZE 8192
#define KERNEL_STACK_SIZE 32768

struct tss64 {
	uint32_t reserved0;
	uint64_t rsp[3];
	uint64_t reserved1;
	uint64_t ist[7];
	uint64_t reserved2;
	uint16_t reserved3;
	uint16_t iomap_base;
} __attribute__((packed));

#define GDT_ENTRIES 5 /* null, code, data, TSS (two slots) */
#define GDT_KERNEL_CODE 0x08
#define GDT_KERNEL_DATA 0x10
#define GDT_TSS 0x18

struct percpu {
	struct percpu *self;    /* (o) %gs:0, so percpu_get() is one load */
	uint32_t index;         /* (o) 0 = BSP, dense */
	uint32_t apic_id;       /* (o) from the MADT / CPUID */
	uint64_t kernel_stack_top;
	volatile bool online;   /* set by the CPU itself, read by the BSP */
	volatile bool halted;   /* set when stopped by a panic */
	uint64_t tsc_at_online;
	void *fpu_owner;        /* vm/vcpu_run.c: the vCPU whose FPU state the registers hold */
	uint64_t gdt[GDT_ENTRIES] __attribute__((aligned(16)));
	struct tss64 tss __attribute__((aligned(16)));
	uint8_t ist_stacks[3][IST_STACK_SIZE] __attribute__((aligned(16)));
};

static inline struct percpu *percpu_get(void)
{
	struct percpu *cpu;
	__asm__ volatile("movq %%gs:0, %0" : "=r"(cpu));
	return cpu;
}

static inline uint32_t cpu_index(void)
{
	return percpu_get()->index;
}

/* Loads the GDT, TSS (with IST stacks) and GS base for this CPU. */
void percpu_install(struct percpu *cpu);

#endif

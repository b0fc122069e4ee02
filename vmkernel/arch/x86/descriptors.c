#include <arch/x86/cpu.h>
#include <arch/x86/percpu.h>

#include <lib/string.h>

struct descriptor_pointer {
	uint16_t limit;
	uint64_t base;
} __attribute__((packed));

void percpu_install(struct percpu *cpu)
{
	cpu->self = cpu;
	/* Long-mode code and data segments; the TSS is a 16-byte system descriptor. */
	cpu->gdt[0] = 0;
	cpu->gdt[1] = 0x00af9a000000fffful;
	cpu->gdt[2] = 0x00cf92000000fffful;
	memset(&cpu->tss, 0, sizeof(cpu->tss));
	for (int i = 0; i < 3; i++)
		cpu->tss.ist[i] = (uint64_t)&cpu->ist_stacks[i][IST_STACK_SIZE];
	cpu->tss.rsp[0] = cpu->kernel_stack_top;
	cpu->tss.iomap_base = sizeof(cpu->tss); /* no I/O bitmap: ring 3 gets #GP */
	uint64_t base = (uint64_t)&cpu->tss;
	uint64_t limit = sizeof(cpu->tss) - 1;
	cpu->gdt[3] = (limit & 0xffff) | ((base & 0xffffff) << 16) | (0x89ul << 40) |
		      (((limit >> 16) & 0xf) << 48) | (((base >> 24) & 0xff) << 56);
	cpu->gdt[4] = base >> 32;

	struct descriptor_pointer gdtr = { sizeof(cpu->gdt) - 1, (uint64_t)cpu->gdt };
	__asm__ volatile(
		"lgdt %0\n\t"
		"pushq %1\n\t"
		"leaq 1f(%%rip), %%rax\n\t"
		"pushq %%rax\n\t"
		"lretq\n"
		"1:\n\t"
		"movw %w2, %%ds\n\t"
		"movw %w2, %%es\n\t"
		"movw %w2, %%ss\n\t"
		"xorl %%eax, %%eax\n\t"
		"movw %%ax, %%fs\n\t"
		"movw %%ax, %%gs\n\t"
		:
		: "m"(gdtr), "i"((uint64_t)GDT_KERNEL_CODE), "r"((uint32_t)GDT_KERNEL_DATA)
		: "rax", "memory");
	__asm__ volatile("ltr %w0" : : "r"((uint16_t)GDT_TSS));
	/* Loading %gs cleared the base: set it after. */
	wrmsr(MSR_GS_BASE, (uint64_t)cpu);
	wrmsr(MSR_KERNEL_GS_BASE, 0);
}

#include <arch/x86/interrupt.h>

#include <arch/x86/cpu.h>
#include <arch/x86/percpu.h>
#include <lib/ksym.h>
#include <lib/log.h>

struct idt_gate {
	uint16_t offset_low;
	uint16_t selector;
	uint8_t ist;
	uint8_t type_attr;
	uint16_t offset_mid;
	uint32_t offset_high;
	uint32_t reserved;
} __attribute__((packed));

struct idt_pointer {
	uint16_t limit;
	uint64_t base;
} __attribute__((packed));

extern const uint64_t isr_stub_table[256];

static struct idt_gate idt[256] __attribute__((aligned(16)));
static interrupt_handler_fn interrupt_handlers[256];
static void (*interrupt_fatal_hook)(void);
static void (*interrupt_eoi)(void);
static volatile int interrupt_fatal_entered;

static const char *const exception_names[32] = {
	"DE", "DB", "NMI", "BP", "OF", "BR", "UD", "NM", "DF", "CSO", "TS", "NP", "SS", "GP", "PF", "RES15",
	"MF", "AC", "MC", "XM", "VE", "CP", "RES22", "RES23", "RES24", "RES25", "RES26", "RES27", "HV", "VC", "SX", "RES31",
};

const char *exception_mnemonic(uint64_t vector)
{
	return vector < 32 ? exception_names[vector] : "IRQ";
}

static void idt_set_gate(int vector, uint64_t handler, uint8_t ist)
{
	struct idt_gate *g = &idt[vector];

	g->offset_low = handler & 0xffff;
	g->selector = GDT_KERNEL_CODE;
	g->ist = ist;
	g->type_attr = 0x8e; /* present, DPL 0, 64-bit interrupt gate */
	g->offset_mid = (handler >> 16) & 0xffff;
	g->offset_high = handler >> 32;
	g->reserved = 0;
}

void interrupt_init(void)
{
	for (int v = 0; v < 256; v++)
		idt_set_gate(v, isr_stub_table[v], 0);
	/* These can arrive on a broken stack: give them stacks of their own. */
	idt_set_gate(VECTOR_DOUBLE_FAULT, isr_stub_table[VECTOR_DOUBLE_FAULT], IST_DOUBLE_FAULT);
	idt_set_gate(VECTOR_NMI, isr_stub_table[VECTOR_NMI], IST_NMI);
	idt_set_gate(VECTOR_MACHINE_CHECK, isr_stub_table[VECTOR_MACHINE_CHECK], IST_MACHINE_CHECK);
}

void interrupt_load_idt(void)
{
	struct idt_pointer p = { sizeof(idt) - 1, (uint64_t)idt };
	__asm__ volatile("lidt %0" : : "m"(p));
}

int interrupt_register(uint8_t vector, interrupt_handler_fn handler)
{
	if (vector < 32 && vector != VECTOR_NMI)
		return -1;
	interrupt_handlers[vector] = handler;
	return 0;
}

void interrupt_set_fatal_hook(void (*hook)(void))
{
	interrupt_fatal_hook = hook;
}

void interrupt_set_eoi(void (*eoi)(void))
{
	interrupt_eoi = eoi;
}

/* Frame-pointer walk; stops at a null, misaligned or non-kernel frame. */
static void print_stack_trace(uint64_t rip, uint64_t rbp)
{
	log_emergency("stack trace:\n");
	uint64_t offset = 0;
	const char *name = ksym_lookup(rip, &offset);
	log_emergency("  %016lx %s+0x%lx\n", rip, name ? name : "?", offset);
	for (int depth = 0; depth < 32; depth++) {
		if (rbp < 0xffff800000000000ul || (rbp & 7))
			break;
		const uint64_t *frame = (const uint64_t *)rbp;
		uint64_t return_address = frame[1];
		if (!return_address)
			break;
		name = ksym_lookup(return_address, &offset);
		log_emergency("  %016lx %s+0x%lx\n", return_address, name ? name : "?", offset);
		if (frame[0] <= rbp)
			break; /* frames grow upwards; anything else is corrupt */
		rbp = frame[0];
	}
}

void interrupt_fatal(struct interrupt_frame *f)
{
	irq_disable();
	if (__atomic_exchange_n(&interrupt_fatal_entered, 1, __ATOMIC_ACQ_REL)) {
		/* Another CPU (or a nested fault) is already reporting. */
		cpu_halt_forever();
	}
	uint32_t cpu = 0;
	if (rdmsr(MSR_GS_BASE))
		cpu = percpu_get()->index;
	log_emergency("\nvmkernel: PANIC: exception %lu (#%s) error=0x%lx cpu=%u\n", f->vector,
		      exception_mnemonic(f->vector), f->error_code, cpu);
	log_emergency("rip=%016lx cs=%04lx rflags=%016lx rsp=%016lx ss=%04lx\n", f->rip, f->cs,
		      f->rflags, f->rsp, f->ss);
	log_emergency("rax=%016lx rbx=%016lx rcx=%016lx rdx=%016lx\n", f->rax, f->rbx, f->rcx, f->rdx);
	log_emergency("rsi=%016lx rdi=%016lx rbp=%016lx r8=%016lx\n", f->rsi, f->rdi, f->rbp, f->r8);
	log_emergency("r9=%016lx r10=%016lx r11=%016lx r12=%016lx\n", f->r9, f->r10, f->r11, f->r12);
	log_emergency("r13=%016lx r14=%016lx r15=%016lx\n", f->r13, f->r14, f->r15);
	log_emergency("cr0=%016lx cr2=%016lx cr3=%016lx cr4=%016lx\n", read_cr0(), read_cr2(),
		      read_cr3(), read_cr4());
	print_stack_trace(f->rip, f->rbp);
	if (interrupt_fatal_hook)
		interrupt_fatal_hook();
	log_emergency("vmkernel: all CPUs halted\n");
	cpu_halt_forever();
}

void interrupt_dispatch(struct interrupt_frame *frame);
void interrupt_dispatch(struct interrupt_frame *frame)
{
	interrupt_handler_fn handler = interrupt_handlers[frame->vector & 0xff];

	if (handler) {
		handler(frame);
		if (frame->vector >= 32 && frame->vector != VECTOR_SPURIOUS && interrupt_eoi)
			interrupt_eoi();
		return;
	}
	if (frame->vector < 32)
		interrupt_fatal(frame);
	if (frame->vector == VECTOR_SPURIOUS)
		return;
	log_warn("vmkernel: warning: unexpected interrupt vector %lu on cpu %u\n", frame->vector,
		 cpu_index());
	if (interrupt_eoi)
		interrupt_eoi();
}

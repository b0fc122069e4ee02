/*
 * The IDT: 256 interrupt gates, each to a stub (isr32.S / isr64.S) that
 * builds a struct guest_frame and calls guest_interrupt_dispatch(), which
 * runs the handler registered for the vector. An unregistered vector is an
 * unexpected event: the guest FAILs naming it.
 */
#include "internal.h"

#define GATE_INTERRUPT 0x8e /* present, DPL 0, interrupt gate (IF cleared) */
#define GATE_DPL3 0x60
#define ISR_STUB_SIZE 16

extern const uint8_t guest_isr_stubs[]; /* 256 stubs, ISR_STUB_SIZE apart */
void guest_interrupt_dispatch(struct guest_frame *frame);

#ifdef __x86_64__
struct idt_gate {
	uint16_t offset_low, selector;
	uint8_t ist, type;
	uint16_t offset_middle;
	uint32_t offset_high, reserved;
} __attribute__((packed));
#else
struct idt_gate {
	uint16_t offset_low, selector;
	uint8_t reserved, type;
	uint16_t offset_high;
} __attribute__((packed));
#endif

static struct idt_gate idt[256] __attribute__((aligned(16)));
static guest_handler handlers[256];
static uint8_t catch_length[256];
volatile struct guest_fault guest_caught;

static const char *const exception_names[32] = {
	"#DE", "#DB", "NMI", "#BP", "#OF", "#BR", "#UD", "#NM", "#DF", "CSO", "#TS", "#NP", "#SS", "#GP",
	"#PF", "15",  "#MF", "#AC", "#MC", "#XM", "#VE", "#CP",
};

static void unexpected_event(struct guest_frame *frame)
{
	const char *name = frame->vector < 32 && exception_names[frame->vector] ? exception_names[frame->vector]
										   : "interrupt";
	guest_fail("unexpected %s (vector %u) error 0x%lx at ip 0x%lx cr2 0x%lx", name, (unsigned)frame->vector,
		   (unsigned long)frame->error_code, (unsigned long)frame->ip, (unsigned long)read_cr2());
}

static void ignore_event(struct guest_frame *frame)
{
	(void)frame;
}

static void record_fault(struct guest_frame *frame)
{
	guest_caught.vector = (uint8_t)frame->vector;
	guest_caught.error_code = frame->error_code;
	guest_caught.ip = frame->ip;
	guest_caught.cr2 = read_cr2();
	guest_caught.count++;
	frame->ip += catch_length[frame->vector];
}

void guest_interrupt_dispatch(struct guest_frame *frame)
{
	guest_handler handler = handlers[frame->vector & 0xff];
	(handler ? handler : unexpected_event)(frame);
}

static void set_gate(unsigned vector, uint8_t type)
{
	uintptr_t stub = (uintptr_t)(guest_isr_stubs + vector * ISR_STUB_SIZE);
	struct idt_gate *gate = &idt[vector];
	gate->offset_low = (uint16_t)stub;
	gate->selector = SELECTOR_KERNEL_CODE;
	gate->type = type;
#ifdef __x86_64__
	gate->offset_middle = (uint16_t)(stub >> 16);
	gate->offset_high = (uint32_t)(stub >> 32);
#else
	gate->offset_high = (uint16_t)(stub >> 16);
#endif
}

void guest_idt_load(void)
{
	struct {
		uint16_t limit;
		uintptr_t base;
	} __attribute__((packed)) pointer = { sizeof(idt) - 1, (uintptr_t)idt };
	__asm__ volatile("lidt %0" : : "m"(pointer));
}

#ifdef __x86_64__
_Noreturn void guest_user_resume(uint64_t value);

static void user_return(struct guest_frame *frame)
{
	guest_user_resume(frame->ax);
}
#endif

void guest_idt_init(void)
{
	for (unsigned vector = 0; vector < 256; vector++)
		set_gate(vector, GATE_INTERRUPT);
	/* LAPIC spurious interrupts and the PICs' spurious IRQ 7 / 15 are noise. */
	handlers[VECTOR_SPURIOUS] = ignore_event;
	handlers[0x27] = ignore_event;
	handlers[0x2f] = ignore_event;
#ifdef __x86_64__
	handlers[GUEST_USER_RETURN_VECTOR] = user_return;
	set_gate(GUEST_USER_RETURN_VECTOR, GATE_INTERRUPT | GATE_DPL3);
#endif
	guest_idt_load();
}

void guest_set_handler(uint8_t vector, guest_handler handler)
{
	handlers[vector] = handler;
}

void guest_allow_user_int(uint8_t vector)
{
	set_gate(vector, GATE_INTERRUPT | GATE_DPL3);
}

void guest_catch(uint8_t vector, unsigned instruction_length)
{
	catch_length[vector] = (uint8_t)instruction_length;
	handlers[vector] = record_fault;
}

void guest_uncatch(uint8_t vector)
{
	handlers[vector] = 0;
	memset((void *)&guest_caught, 0, sizeof(guest_caught));
}

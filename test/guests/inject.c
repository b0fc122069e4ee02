/*
 * inject: exceptions and interrupts reach the guest's IDT with the right
 * vector, error code, CR2 and return address: #GP(0) from a denied MSR
 * (injected by the hypervisor), #GP(selector) from a bad segment load,
 * #PF from the guest's own paging (not present, write to read-only with
 * CR0.WP, NX fetch, reserved bit, user access to a supervisor page), #UD,
 * #DE, #BP, INT n with registers both ways, a self-IPI through the LAPIC
 * ICR (shorthand and physical destination; pending in IRR while IF=0), and
 * an NMI IPI to itself. 64-bit long mode.
 */
#include "guest.h"

const char guest_name[] = "inject";

#define PF_PRESENT (1u << 0)
#define PF_WRITE (1u << 1)
#define PF_USER (1u << 2)
#define PF_RESERVED (1u << 3)
#define PF_FETCH (1u << 4)
#define PTE_WRITABLE (1ull << 1)
#define PTE_USER (1ull << 2)
#define PTE_NO_EXECUTE (1ull << 63)
#define VECTOR_NMI 2
#define SOFTWARE_VECTOR 0x80
#define IPI_VECTOR_SHORTHAND 0x50
#define IPI_VECTOR_PHYSICAL 0x51
#define ICR_DELIVERY_NMI (4u << 8)
#define IPI_WAIT_SPINS 10000000u
/* Scratch pages for the paging faults, well inside the identity map. */
#define PROBE_PAGE 0x00800000ul

static void expect_caught(uint8_t vector, uintptr_t error_code, uintptr_t ip, const char *what)
{
	CHECK(guest_caught.count == 1, "%s: %u exceptions caught, want 1", what, guest_caught.count);
	CHECK(guest_caught.vector == vector && guest_caught.error_code == error_code,
	      "%s: vector %u error 0x%lx, want vector %u error 0x%lx", what, guest_caught.vector,
	      (unsigned long)guest_caught.error_code, vector, (unsigned long)error_code);
	CHECK(guest_caught.ip == ip, "%s: frame IP 0x%lx, want 0x%lx", what, (unsigned long)guest_caught.ip,
	      (unsigned long)ip);
	guest_uncatch(vector);
}

static void check_general_protection(void)
{
	uintptr_t at;
	guest_catch(VECTOR_GP, 2);
	__asm__ volatile("movw $0x1230, %%ax; lea 1f(%%rip), %0\n1: movw %%ax, %%ds" /* 8e d8 */
			 : "=r"(at) : : "rax", "memory");
	expect_caught(VECTOR_GP, 0x1230, at, "mov ds, selector beyond the GDT");
	__asm__ volatile("movw %w0, %%ds" : : "r"(SELECTOR_KERNEL_DATA));

	if (skip_unless_kapsel("#GP from a denied MSR: bare QEMU does not raise it"))
		return;
	guest_catch(VECTOR_GP, 2);
	__asm__ volatile("lea 1f(%%rip), %0\n1: rdmsr" : "=r"(at) : "c"(0x12345678u) : "rax", "rdx");
	expect_caught(VECTOR_GP, 0, at, "rdmsr of an unimplemented MSR");
}

static uint32_t probe_load(uintptr_t address, uintptr_t *at)
{
	uint32_t value = 0;
	__asm__ volatile("lea 1f(%%rip), %1\n1: movl (%2), %0" /* 8b 08: 2 bytes, no REX */
			 : "+c"(value), "=&d"(*at) : "a"(address) : "memory");
	return value;
}

static void probe_store(uintptr_t address, uint32_t value, uintptr_t *at)
{
	__asm__ volatile("lea 1f(%%rip), %0\n1: movl %2, (%1)" /* 89 08: 2 bytes, no REX */
			 : "=&d"(*at) : "a"(address), "c"(value) : "memory");
}

/* An NX fetch faults at the CALL's target: resume at the return address. */
static void return_from_nx_fetch(struct guest_frame *frame)
{
	guest_caught.vector = (uint8_t)frame->vector;
	guest_caught.error_code = frame->error_code;
	guest_caught.ip = frame->ip;
	guest_caught.cr2 = read_cr2();
	guest_caught.count++;
	frame->ip = *(uint64_t *)frame->sp;
	frame->sp += 8;
}

static void user_load(uint64_t address)
{
	uint32_t value;
	__asm__ volatile("movl (%1), %0" : "=c"(value) : "a"(address) : "memory"); /* 8b 08: 2 bytes */
	guest_user_return(value);
}

static void check_page_faults(void)
{
	static uint8_t probe_memory[4096] __attribute__((aligned(4096)));
	uint64_t *entry = guest_page_entry(PROBE_PAGE);
	uint64_t mapped = (uintptr_t)probe_memory | PTE_WRITABLE | PTE_USER | 1;
	uintptr_t at;

	/* Not present, read: error code 0 (no P, no W, supervisor). */
	*entry = 0;
	invlpg(PROBE_PAGE);
	guest_catch(VECTOR_PF, 2);
	probe_load(PROBE_PAGE + 0x10, &at);
	CHECK_EQ(guest_caught.cr2, PROBE_PAGE + 0x10, "CR2 after a not-present read");
	expect_caught(VECTOR_PF, 0, at, "read of a not-present page");

	/* Present, read-only, written with CR0.WP: P | W. */
	write_cr0(read_cr0() | CR0_WP);
	*entry = mapped & ~PTE_WRITABLE;
	invlpg(PROBE_PAGE);
	guest_catch(VECTOR_PF, 2);
	probe_store(PROBE_PAGE + 0x24, 0xbad, &at);
	CHECK_EQ(guest_caught.cr2, PROBE_PAGE + 0x24, "CR2 after a write to a read-only page");
	expect_caught(VECTOR_PF, PF_PRESENT | PF_WRITE, at, "write to a read-only page (CR0.WP=1)");
	CHECK_EQ(probe_memory[0x24], 0, "the refused write changed memory");

	/* Reserved bit (above MAXPHYADDR) in a present entry: RSVD, and P on
	 * hardware (QEMU's TCG leaves P clear, so P is not checked). */
	unsigned physical_bits = cpuid(0x80000008, 0).eax & 0xff;
	if (physical_bits < 52) {
		*entry = mapped | (1ull << 51);
		invlpg(PROBE_PAGE);
		guest_catch(VECTOR_PF, 2);
		probe_load(PROBE_PAGE + 0x30, &at);
		CHECK_EQ(guest_caught.cr2, PROBE_PAGE + 0x30, "CR2 after a reserved-bit fault");
		expect_caught(VECTOR_PF, PF_RESERVED | (guest_caught.error_code & PF_PRESENT), at,
			      "read through an entry with bit 51 set");
	}

	/* Instruction fetch from an NX page: P | I, IP and CR2 = the target. */
	if (cpuid(0x80000001, 0).edx & (1u << 20)) {
		wrmsr(MSR_EFER, rdmsr(MSR_EFER) | EFER_NXE);
		probe_memory[0] = 0xc3; /* ret */
		*entry = mapped | PTE_NO_EXECUTE;
		invlpg(PROBE_PAGE);
		guest_set_handler(VECTOR_PF, return_from_nx_fetch);
		__asm__ volatile("call *%0" : : "r"(PROBE_PAGE) : "memory");
		CHECK_EQ(guest_caught.cr2, PROBE_PAGE, "CR2 after an NX fetch");
		expect_caught(VECTOR_PF, PF_PRESENT | PF_FETCH, PROBE_PAGE, "fetch from an NX page");
	}

	/* Ring 3 reading a supervisor page: P | U. */
	*entry = mapped & ~PTE_USER;
	invlpg(PROBE_PAGE);
	guest_catch(VECTOR_PF, 2);
	guest_call_user(user_load, PROBE_PAGE + 0x40);
	CHECK(guest_caught.count == 1 && guest_caught.error_code == (PF_PRESENT | PF_USER) &&
		      guest_caught.cr2 == PROBE_PAGE + 0x40,
	      "user read of a supervisor page: %u faults error 0x%lx CR2 0x%lx", guest_caught.count,
	      (unsigned long)guest_caught.error_code, (unsigned long)guest_caught.cr2);
	guest_uncatch(VECTOR_PF);

	*entry = mapped;
	invlpg(PROBE_PAGE);
	guest_printf("inject: #PF not-present, read-only, reserved-bit, NX, user ok\n");
}

static void check_simple_exceptions(void)
{
	uintptr_t at;
	guest_catch(VECTOR_UD, 2);
	__asm__ volatile("lea 1f(%%rip), %0\n1: ud2" : "=r"(at));
	expect_caught(VECTOR_UD, 0, at, "ud2");

	guest_catch(VECTOR_DE, 2);
	__asm__ volatile("xorl %%ecx, %%ecx; lea 1f(%%rip), %0\n1: divl %%ecx" /* f7 f1 */
			 : "=r"(at) : "a"(1), "d"(0) : "rcx");
	expect_caught(VECTOR_DE, 0, at, "div by zero");

	/* #BP is a trap: the frame points after the INT3. */
	guest_catch(VECTOR_BP, 0);
	__asm__ volatile("int3\n1: lea 1b(%%rip), %0" : "=r"(at));
	expect_caught(VECTOR_BP, 0, at, "int3");
}

static void software_interrupt(struct guest_frame *frame)
{
	guest_caught.count++;
	guest_caught.ip = frame->ip;
	frame->ax = frame->ax * 2 + frame->bx;
}

static void check_software_interrupt(void)
{
	uint64_t value = 21, at;
	guest_set_handler(SOFTWARE_VECTOR, software_interrupt);
	guest_caught.count = 0;
	__asm__ volatile("int $0x80\n1: lea 1b(%%rip), %1" : "+a"(value), "=r"(at) : "b"(100ull) : "memory");
	CHECK(guest_caught.count == 1 && guest_caught.ip == at, "int $0x80: %u calls, frame IP 0x%lx want 0x%lx",
	      guest_caught.count, (unsigned long)guest_caught.ip, (unsigned long)at);
	CHECK_EQ(value, 142, "int $0x80 handler result in RAX");
	guest_uncatch(SOFTWARE_VECTOR);
}

static volatile unsigned ipis_received[256];

static void ipi_interrupt(struct guest_frame *frame)
{
	ipis_received[frame->vector & 0xff]++;
	lapic_eoi();
}

static void wait_for_ipi(uint8_t vector, const char *what)
{
	interrupts_enable();
	for (uint32_t spins = 0; !ipis_received[vector] && spins < IPI_WAIT_SPINS; spins++)
		cpu_pause();
	interrupts_disable();
	CHECK(ipis_received[vector] == 1, "%s: vector 0x%x delivered %u times", what, vector, ipis_received[vector]);
}

static bool lapic_vector_bit(uint32_t base_register, uint8_t vector)
{
	return lapic_read(base_register + (vector / 32) * 0x10) & (1u << (vector % 32));
}

static void check_ipis(void)
{
	lapic_enable();
	guest_set_handler(IPI_VECTOR_SHORTHAND, ipi_interrupt);
	guest_set_handler(IPI_VECTOR_PHYSICAL, ipi_interrupt);

	/* Sent with IF=0: pending in IRR, delivered at STI. */
	CHECK(lapic_send_ipi(0, LAPIC_ICR_SELF | IPI_VECTOR_SHORTHAND), "self IPI (shorthand) stuck in ICR");
	CHECK(lapic_vector_bit(LAPIC_IRR, IPI_VECTOR_SHORTHAND), "self IPI not pending in IRR while IF=0");
	CHECK_EQ(ipis_received[IPI_VECTOR_SHORTHAND], 0, "IPI delivered with IF=0");
	wait_for_ipi(IPI_VECTOR_SHORTHAND, "self IPI (shorthand)");
	CHECK(!lapic_vector_bit(LAPIC_IRR, IPI_VECTOR_SHORTHAND) && !lapic_vector_bit(LAPIC_ISR, IPI_VECTOR_SHORTHAND),
	      "IRR/ISR bit still set after the handler's EOI");

	CHECK(lapic_send_ipi(lapic_id(), IPI_VECTOR_PHYSICAL), "IPI to own APIC ID stuck in ICR");
	wait_for_ipi(IPI_VECTOR_PHYSICAL, "IPI to own APIC ID");

	guest_set_handler(VECTOR_NMI, ipi_interrupt);
	CHECK(lapic_send_ipi(lapic_id(), ICR_DELIVERY_NMI), "NMI IPI stuck in ICR");
	wait_for_ipi(VECTOR_NMI, "NMI to own APIC ID");
	guest_printf("inject: self IPIs (shorthand, physical, NMI) ok\n");
}

void guest_main(uint32_t multiboot_info)
{
	(void)multiboot_info;
	check_general_protection();
	check_page_faults();
	check_simple_exceptions();
	check_software_interrupt();
	check_ipis();
}

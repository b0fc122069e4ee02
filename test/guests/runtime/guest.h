/*
 * The test-guest runtime: what every guest in test/guests/ can use.
 *
 * A guest is one C file (plus <name>.S if it needs assembly) that defines
 * guest_name[] and guest_main(); returning from guest_main() means PASS.
 * Before it runs, the runtime (entry32.S or entry64.S, start.c) has loaded
 * its own GDT and a stack, checked the multiboot1 magic, moved the 8259 PICs
 * to vectors 0x20-0x2f and masked them, set up the UART, and loaded an IDT
 * whose every vector reports an unexpected event as FAIL. 64-bit guests run
 * in long mode with 0-4 GiB identity-mapped by 2 MiB pages (from 0xfe000000
 * up uncached) and every page user-accessible.
 *
 * Verdicts on the UART, one line each, always at the start of a line:
 *   SKIP <name>: <why>      a part that cannot run here (zero or more)
 *   PASS <name>             the guest's last line on success, exit status 0
 *   FAIL <name>: <reason>   the first failed check, exit status 1
 */
#ifndef GUEST_H
#define GUEST_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <public/kapsel_guest.h>

#include "layout.h"
#include "x86.h"

/* Defined by each guest. multiboot_info is the physical address from EBX. */
extern const char guest_name[];
void guest_main(uint32_t multiboot_info);

/* --- console and verdicts (console.c) --- */
#define GUEST_UART_BASE 0x3f8u
#define UART_SCRATCH 7u
#define UART_LINE_STATUS 5u
#define UART_LINE_STATUS_THR_EMPTY 0x20u

void guest_putc(char c);
void guest_printf(const char *format, ...) __attribute__((format(printf, 1, 2)));
void guest_vprintf(const char *format, va_list args);
/* Formats into buffer like snprintf (%s %c %d %u %x %p, l/ll/z, width, 0). */
size_t guest_snprintf(char *buffer, size_t size, const char *format, ...)
	__attribute__((format(printf, 3, 4)));
_Noreturn void guest_pass(void);
/* Only prints "PASS <name>", for a guest that ends some other way. */
void guest_pass_line(void);
_Noreturn void guest_fail(const char *format, ...) __attribute__((format(printf, 1, 2)));
void guest_skip(const char *format, ...) __attribute__((format(printf, 1, 2)));
/* Ends the VM through the exit port; halts forever if nothing is there. */
_Noreturn void guest_exit(unsigned status);
/* Fails with "<what>: got <actual> want <expected>" unless they are equal. */
void guest_check_eq(uint64_t actual, uint64_t expected, const char *what);

#define CHECK(condition, ...)                     \
	do {                                      \
		if (!(condition))                 \
			guest_fail(__VA_ARGS__);  \
	} while (0)
#define CHECK_EQ(actual, expected, what) \
	guest_check_eq((uint64_t)(actual), (uint64_t)(expected), (what))

/* --- interrupts and exceptions (idt.c, isr32.S / isr64.S) --- */
/* What the vector stubs push: general registers, then the vector, the error
 * code (0 when the CPU pushes none), then the CPU's own frame. Handlers may
 * change any field; it is restored on return. */
struct guest_frame {
#ifdef __x86_64__
	uint64_t r15, r14, r13, r12, r11, r10, r9, r8;
	uint64_t di, si, bp, bx, dx, cx, ax;
	uint64_t vector, error_code;
	uint64_t ip, cs, flags, sp, ss;
#else
	uint32_t di, si, bp, unused_sp, bx, dx, cx, ax; /* pushal order */
	uint32_t vector, error_code;
	uint32_t ip, cs, flags; /* no sp/ss: guests stay in ring 0 */
#endif
};

typedef void (*guest_handler)(struct guest_frame *frame);

void guest_idt_init(void);
/* Loads the shared IDT on this CPU (application processors). */
void guest_idt_load(void);
void guest_set_handler(uint8_t vector, guest_handler handler);
/* Lets ring 3 raise this vector with INT n (gate DPL 3). */
void guest_allow_user_int(uint8_t vector);

/* The last exception caught by guest_catch(). */
struct guest_fault {
	unsigned count;
	uint8_t vector;
	uintptr_t error_code;
	uintptr_t ip;
	uintptr_t cr2;
};
extern volatile struct guest_fault guest_caught;
/* From now on, exception `vector` is recorded in guest_caught and the
 * faulting instruction (instruction_length bytes) skipped. */
void guest_catch(uint8_t vector, unsigned instruction_length);
/* Clears guest_caught and restores the FAIL handler for `vector`. */
void guest_uncatch(uint8_t vector);

#define VECTOR_DE 0
#define VECTOR_DB 1
#define VECTOR_BP 3
#define VECTOR_UD 6
#define VECTOR_DF 8
#define VECTOR_GP 13
#define VECTOR_PF 14
#define VECTOR_SPURIOUS 0xff

/* --- descriptors (gdt.c) --- */
extern uint64_t guest_gdt[GDT_ENTRIES];
/* A data segment (read/write, ring 0) with this base and byte limit. */
uint64_t gdt_data_descriptor(uint32_t base, uint32_t limit);
/* A code segment: bits 16, 32 or 64. */
uint64_t gdt_code_descriptor(uint32_t base, uint32_t limit, unsigned bits);
#ifdef __x86_64__
/* Ring-3 code runs fn(argument) on its own stack; it comes back with
 * guest_user_return(value), which becomes the result. */
uint64_t guest_call_user(void (*fn)(uint64_t), uint64_t argument);
_Noreturn void guest_user_return(uint64_t value);
#endif

/* --- paging (paging32.c / paging64.c) --- */
/* Maps one 4 KiB page at virt to phys (splitting the large page there). The
 * 32-bit runtime first turns on paging with an identity map of 4 GiB by
 * 4 MiB pages. Pages from 0xfe000000 up are uncached. */
void guest_map_page(uintptr_t virt, uint64_t phys);
#ifdef __x86_64__
/* The 4 KiB page-table entry for virt (< 4 GiB), splitting as needed; the
 * caller edits it and flushes (invlpg). */
uint64_t *guest_page_entry(uintptr_t virt);
#endif

/* --- LAPIC (lapic.c) --- */
#define LAPIC_ID 0x20u
#define LAPIC_VERSION 0x30u
#define LAPIC_TPR 0x80u
#define LAPIC_EOI 0xb0u
#define LAPIC_SVR 0xf0u
#define LAPIC_ISR 0x100u
#define LAPIC_IRR 0x200u
#define LAPIC_ESR 0x280u
#define LAPIC_ICR_LOW 0x300u
#define LAPIC_ICR_HIGH 0x310u
#define LAPIC_LVT_TIMER 0x320u
#define LAPIC_TIMER_INITIAL 0x380u
#define LAPIC_TIMER_CURRENT 0x390u
#define LAPIC_TIMER_DIVIDE 0x3e0u

#define LAPIC_SVR_ENABLE (1u << 8)
#define LAPIC_LVT_MASKED (1u << 16)
#define LAPIC_LVT_TIMER_PERIODIC (1u << 17)
#define LAPIC_ICR_DELIVERY_PENDING (1u << 12)
#define LAPIC_ICR_INIT (5u << 8)
#define LAPIC_ICR_STARTUP (6u << 8)
#define LAPIC_ICR_LEVEL_ASSERT (1u << 14)
#define LAPIC_ICR_SELF (1u << 18)

uint32_t lapic_read(uint32_t reg);
void lapic_write(uint32_t reg, uint32_t value);
/* Software-enables the LAPIC (SVR) with spurious vector 0xff, TPR 0. */
void lapic_enable(void);
void lapic_eoi(void);
uint32_t lapic_id(void);
/* Writes ICR (destination APIC ID, low word) and waits for the send to
 * finish; false if it never does. */
bool lapic_send_ipi(uint32_t destination, uint32_t icr_low);
/* 32-bit guests with several vCPUs: puts the AP start-up trampoline in low
 * memory and returns the STARTUP IPI vector that runs it; each AP started
 * so calls entry on a stack of its own (up to GUEST_MAX_APS). */
extern void (*guest_ap_entry)(void);
uint32_t guest_ap_install(void (*entry)(void));

/* --- Kapsel and the platform (kapsel.c) --- */
/* True when CPUID 0x40000000 carries the Kapsel signature. */
bool kapsel_present(void);
/* Prints "SKIP <name>: not under Kapsel (<what>)" and returns true when not
 * under Kapsel: `if (skip_unless_kapsel("hypercalls")) return;` */
bool skip_unless_kapsel(const char *what);
bool cpu_is_intel(void);
bool cpu_is_amd(void);
/* Hypercalls through one instruction; the result in RAX. */
long kapsel_vmcall(unsigned long number, unsigned long arg0, unsigned long arg1, unsigned long arg2);
long kapsel_vmmcall(unsigned long number, unsigned long arg0, unsigned long arg1, unsigned long arg2);
/* The vendor's own instruction. */
long kapsel_hypercall(unsigned long number, unsigned long arg0, unsigned long arg1, unsigned long arg2);
/* Maps the test device at virtual address virt (4 KiB): the device under
 * Kapsel, a zeroed RAM page elsewhere (so a guest's checks still run on
 * bare hardware; a SKIP line says so once). True for the real device. */
bool guest_testdev_map(uintptr_t virt);
/* TSC ticks per millisecond: Kapsel's timing leaf, CPUID 0x15/0x16, or a
 * 3 GHz guess (long enough for every wait it is used for). */
uint64_t guest_tsc_khz(void);
void guest_delay_us(uint64_t microseconds);
/* The end of guest RAM: the top of the highest available region of the
 * multiboot memory map (mem_upper if there is no map); 0 if neither. */
uint64_t multiboot_ram_end(uint32_t multiboot_info);

/* --- SMP support and helpers (string.c) --- */
void *memset(void *destination, int value, size_t size);
void *memcpy(void *destination, const void *source, size_t size);
int memcmp(const void *a, const void *b, size_t size);
size_t strlen(const char *text);

/* 64-by-32 division (32-bit guests have no libgcc). */
uint64_t guest_div64(uint64_t dividend, uint32_t divisor, uint32_t *remainder);

struct spinlock {
	volatile uint32_t locked;
};
void spin_lock(struct spinlock *lock);
void spin_unlock(struct spinlock *lock);

/* Linker symbols: the guest image's first byte and first byte past the end. */
extern char guest_image_start[], guest_image_end[];
/* EAX, CR0 and EFLAGS as the loader left them (entry32/entry64). */
extern uint32_t guest_boot_eax, guest_boot_cr0, guest_boot_eflags;

#endif

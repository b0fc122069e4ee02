/*
 * realmode: a guest that goes from 32-bit protected mode down to real mode
 * and back (realmode.S): 16-bit protected mode, CR0.PE off, real-mode
 * segment arithmetic, INT n and a #DE through an IVT of its own (no BIOS),
 * UART output by port I/O, a 32-bit operand, then PE on again. The results
 * the real-mode code stored are checked here.
 */
#include "guest.h"

const char guest_name[] = "realmode";

#define REALMODE_BASE 0x7000u
#define REALMODE_SEGMENT (REALMODE_BASE >> 4)
#define SELECTOR_CODE16 SELECTOR_SPARE_FIRST
#define SELECTOR_DATA16 (SELECTOR_SPARE_FIRST + 8)

void realmode_enter(void);
extern char realmode_blob_start[], realmode_blob_end[];
extern char realmode_result_operand32[], realmode_result_int_ax[], realmode_result_int_bx[],
	realmode_result_int_cs[], realmode_result_int_flags[], realmode_result_divide_errors[],
	realmode_result_segment_word[];

/* A result as the real-mode copy left it. */
static uint32_t result(const char *linked_address, unsigned size)
{
	const volatile uint8_t *copy =
		(const volatile uint8_t *)(uintptr_t)(REALMODE_BASE + (linked_address - realmode_blob_start));
	return size == 4 ? *(const volatile uint32_t *)copy : *(const volatile uint16_t *)copy;
}

/* A word of low memory; the asm hides the constant address from gcc, which
 * would otherwise take addresses below 4 KiB for null-pointer accesses. */
static uint16_t low_memory_word(uintptr_t address)
{
	const volatile uint16_t *pointer;
	__asm__("" : "=r"(pointer) : "0"(address));
	return *pointer;
}

void guest_main(uint32_t multiboot_info)
{
	(void)multiboot_info;
	size_t blob_size = (size_t)(realmode_blob_end - realmode_blob_start);
	CHECK(blob_size < 0x1000, "real-mode blob of %zu bytes does not fit below 0x8000", blob_size);
	memcpy((void *)(uintptr_t)REALMODE_BASE, realmode_blob_start, blob_size);
	guest_gdt[SELECTOR_CODE16 / 8] = gdt_code_descriptor(REALMODE_BASE, 0xffff, 16);
	guest_gdt[SELECTOR_DATA16 / 8] = gdt_data_descriptor(0, 0xffff);
	/* 64 KiB, byte granular, 16-bit: what real mode's hidden parts get. */
	guest_gdt[SELECTOR_DATA16 / 8] &= ~(1ull << 54);

	realmode_enter();
	guest_idt_load();
	guest_printf("realmode: back in protected mode\n");

	CHECK_EQ(result(realmode_result_int_ax, 2), 0x1235, "AX after INT 0x31 (the handler adds 1)");
	CHECK_EQ(result(realmode_result_int_bx, 2), 0xbeef, "BX set by the INT 0x31 handler");
	CHECK_EQ(result(realmode_result_int_cs, 2), REALMODE_SEGMENT, "CS pushed by INT 0x31");
	CHECK(!(result(realmode_result_int_flags, 2) & EFLAGS_IF), "FLAGS pushed by INT show IF=1 (was 0)");
	CHECK_EQ(result(realmode_result_divide_errors, 2), 1, "#DE taken through IVT entry 0");
	CHECK_EQ(result(realmode_result_segment_word, 2), 0xa55a, "word at 0x179b8 through ES=0x179b:0x0008");
	CHECK_EQ(low_memory_word(0x179b8), 0xa55a, "linear 0x179b8 from protected mode");
	CHECK_EQ(result(realmode_result_operand32, 4), 0x23456789, "32-bit ADD in real mode");
	CHECK_EQ(low_memory_word(0x31 * 4 + 2), REALMODE_SEGMENT, "IVT entry 0x31 segment");
}

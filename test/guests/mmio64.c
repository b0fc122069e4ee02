/*
 * mmio64: the hypervisor's instruction emulator on the test device from
 * 64-bit code: REX.W and REX.R/X/B forms (r8-r15, SIL/DIL byte registers),
 * sign-extended immediates, 64-bit moffs, RIP-relative addressing (the
 * device is also mapped at TESTDEV_ALIAS, near the code, since RIP-relative
 * reaches only +-2 GiB), FS/GS bases from their MSRs, MOVZX/MOVSX/MOVSXD,
 * 32-bit loads that zero the upper half, narrow loads that do not, the
 * 0x67 address-size prefix, and STOSQ/MOVSQ with REP both ways.
 */
#include "guest.h"

const char guest_name[] = "mmio64";

#define DEVICE ((uintptr_t)KAPSEL_TESTDEV_MMIO_BASE)
/* The device address spelled out for moffs64 operands in asm strings. */
#define DEVICE_ASM "0xfeb00000"
_Static_assert(KAPSEL_TESTDEV_MMIO_BASE == 0xfeb00000u, "DEVICE_ASM is stale");
#define TESTDEV_ALIAS 0x40000000ul /* testdev_alias in mmio64.S */

static void poke64(uint32_t offset, uint64_t value)
{
	__asm__ volatile("movq %1, (%0)" : : "r"(DEVICE + offset), "r"(value) : "memory");
}

static uint8_t peek8(uint32_t offset)
{
	uint8_t value;
	__asm__ volatile("movb (%1), %0" : "=q"(value) : "r"(DEVICE + offset) : "memory");
	return value;
}

static uint16_t peek16(uint32_t offset)
{
	uint16_t value;
	__asm__ volatile("movw (%1), %0" : "=r"(value) : "r"(DEVICE + offset) : "memory");
	return value;
}

static uint32_t peek32(uint32_t offset)
{
	uint32_t value;
	__asm__ volatile("movl (%1), %0" : "=r"(value) : "r"(DEVICE + offset) : "memory");
	return value;
}

static uint64_t peek64(uint32_t offset)
{
	uint64_t value;
	__asm__ volatile("movq (%1), %0" : "=r"(value) : "r"(DEVICE + offset) : "memory");
	return value;
}

static void check_rex_forms(void)
{
	uint64_t value;
	__asm__ volatile("movq %1, (%0)" : : "b"(DEVICE + 0x10), "c"(0x0123456789abcdefull) : "memory"); /* 48 89 0b */
	CHECK_EQ(peek64(0x10), 0x0123456789abcdefull, "mov r64 -> m64 (48 89)");
	CHECK(peek32(0x10) == 0x89abcdef && peek32(0x14) == 0x01234567, "64-bit write read as halves: %x %x",
	      peek32(0x10), peek32(0x14));
	__asm__ volatile("movq (%1), %0" : "=d"(value) : "b"(DEVICE + 0x10) : "memory"); /* 48 8b 13 */
	CHECK_EQ(value, 0x0123456789abcdefull, "mov m64 -> r64 (48 8b)");

	__asm__ volatile("movq %1, %%r10; movq %2, %%r9; movq %%r9, 0x10(%%r10); movq 0x10(%%r10), %0"
			 : "=r"(value) : "r"(DEVICE + 0x10), "r"(0xfedcba9876543210ull) : "r9", "r10", "memory");
	CHECK_EQ(value, 0xfedcba9876543210ull, "r9 -> [r10 + disp8] -> r (4d 89 4a 10)");
	__asm__ volatile("movq %1, %%r12; movl %2, %%r11d; movl %%r11d, (%%r12); movl (%%r12), %k0"
			 : "=r"(value) : "r"(DEVICE + 0x30), "r"(0x11112222u) : "r11", "r12", "memory"); /* 45 89 1c 24 */
	CHECK_EQ(value, 0x11112222, "r11d -> [r12] (SIB, r12 is ESP-like)");
	__asm__ volatile("movq %1, %%r13; movq (%%r13), %%r14; movq %%r14, %0"
			 : "=r"(value) : "r"(DEVICE + 0x20) : "r13", "r14", "memory"); /* 4d 8b 75 00 */
	CHECK_EQ(value, 0xfedcba9876543210ull, "[r13] (disp8 0, r13 is EBP-like) -> r14");
	__asm__ volatile("movq $3, %%r9; movq %0, 8(%1,%%r9,8)" /* 4a 89 44 cb 08 */
			 : : "a"(0x5555666677778888ull), "b"(DEVICE + 0x40) : "r9", "memory");
	CHECK_EQ(peek64(0x40 + 8 + 3 * 8), 0x5555666677778888ull, "[rbx + r9*8 + disp8] (REX.X)");
}

static void check_immediates(void)
{
	__asm__ volatile("movq $-2, (%0)" : : "r"(DEVICE + 0x60) : "memory"); /* 48 c7 /0 imm32, sign-extended */
	CHECK_EQ(peek64(0x60), 0xfffffffffffffffeull, "movq $-2 (imm32 sign-extended to 64 bits)");
	__asm__ volatile("movq $0x7fffffff, 8(%0)" : : "r"(DEVICE + 0x60) : "memory");
	CHECK_EQ(peek64(0x68), 0x7fffffffull, "movq $0x7fffffff");
	poke64(0x70, ~0ull);
	__asm__ volatile("movl $0x12345678, (%0)" : : "r"(DEVICE + 0x70) : "memory"); /* c7: 32 bits only */
	CHECK_EQ(peek64(0x70), 0xffffffff12345678ull, "movl $imm32 writes only 4 bytes");
}

static void check_moffs64(void)
{
	uint64_t value = 0x0102030405060708ull;
	__asm__ volatile("movabsq %%rax, " DEVICE_ASM "+0x80" : : "a"(value) : "memory"); /* 48 a3 moffs64 */
	CHECK_EQ(peek64(0x80), 0x0102030405060708ull, "movabs rax -> moffs64 (48 a3)");
	value = 0;
	__asm__ volatile("movabsq " DEVICE_ASM "+0x80, %%rax" : "=a"(value) : : "memory"); /* 48 a1 */
	CHECK_EQ(value, 0x0102030405060708ull, "movabs moffs64 -> rax (48 a1)");
	value = ~0ull;
	__asm__ volatile("movabsl " DEVICE_ASM "+0x80, %%eax" : "+a"(value) : : "memory"); /* a1, 8-byte address */
	CHECK_EQ(value, 0x05060708ull, "movabs moffs64 -> eax (a1): upper half zeroed");
	value = ~0ull;
	__asm__ volatile("movabsb " DEVICE_ASM "+0x87, %%al" : "+a"(value) : : "memory"); /* a0 */
	CHECK_EQ(value, 0xffffffffffffff01ull, "movabs moffs64 -> al (a0): only AL changes");
}

static void check_rip_relative(void)
{
	uint64_t value;
	__asm__ volatile("movl %0, testdev_alias+0x100(%%rip)" : : "a"(0xaabbccddu) : "memory"); /* 89 05 rel32 */
	CHECK_EQ(peek32(0x100), 0xaabbccdd, "mov eax -> [rip + rel32]");
	__asm__ volatile("movq testdev_alias+0x100(%%rip), %0" : "=c"(value) : : "memory"); /* 48 8b 0d */
	CHECK_EQ(value, 0xaabbccddull, "mov [rip + rel32] -> rcx");
	/* The immediate follows the displacement: RIP is the end of the whole
	 * instruction, immediate included. */
	__asm__ volatile("movl $0x13572468, testdev_alias+0x108(%%rip)" : : : "memory"); /* c7 05 rel32 imm32 */
	CHECK_EQ(peek32(0x108), 0x13572468, "movl $imm32 -> [rip + rel32] (c7 05)");
	__asm__ volatile("movb $0x9a, testdev_alias+0x10c(%%rip)" : : : "memory"); /* c6 05 rel32 imm8 */
	CHECK_EQ(peek8(0x10c), 0x9a, "movb $imm8 -> [rip + rel32] (c6 05)");
	__asm__ volatile("movw $0x7531, testdev_alias+0x10e(%%rip)" : : : "memory"); /* 66 c7 05 rel32 imm16 */
	CHECK_EQ(peek16(0x10e), 0x7531, "movw $imm16 -> [rip + rel32] (66 c7 05)");
	__asm__ volatile("movq $-16, testdev_alias+0x110(%%rip)" : : : "memory"); /* 48 c7 05 rel32 imm32 */
	CHECK_EQ(peek64(0x110), 0xfffffffffffffff0ull, "movq $imm32 -> [rip + rel32] (48 c7 05)");
	__asm__ volatile("movzbl testdev_alias+0x10c(%%rip), %k0" : "=r"(value) : : "memory");
	CHECK_EQ(value, 0x9a, "movzx [rip + rel32]");
}

static void check_fs_gs_bases(void)
{
	uint64_t value;
	uint64_t saved_fs = rdmsr(MSR_FS_BASE), saved_gs = rdmsr(MSR_GS_BASE);
	wrmsr(MSR_FS_BASE, DEVICE - 0x2000);
	wrmsr(MSR_GS_BASE, TESTDEV_ALIAS - 0x3000);
	__asm__ volatile("movq %0, %%fs:0x2120" : : "c"(0x1212343456567878ull) : "memory"); /* 64 48 89 0c 25 */
	CHECK_EQ(peek64(0x120), 0x1212343456567878ull, "FS override with FS.base from the MSR");
	__asm__ volatile("movq %%gs:(%1), %0" : "=d"(value) : "b"(0x3120ul) : "memory"); /* 65 48 8b 13 */
	CHECK_EQ(value, 0x1212343456567878ull, "GS override with GS.base from the MSR (alias mapping)");
	wrmsr(MSR_FS_BASE, saved_fs);
	wrmsr(MSR_GS_BASE, saved_gs);
}

static void check_extensions(void)
{
	uint64_t value;
	poke64(0x140, 0x8000000180018081ull); /* bytes 81 80 01 80 01 00 00 80 */
	__asm__ volatile("movzbq (%1), %0" : "=r"(value) : "r"(DEVICE + 0x140) : "memory"); /* 48 0f b6 */
	CHECK_EQ(value, 0x81, "movzx r64, m8");
	__asm__ volatile("movzwq (%1), %0" : "=r"(value) : "r"(DEVICE + 0x140) : "memory"); /* 48 0f b7 */
	CHECK_EQ(value, 0x8081, "movzx r64, m16");
	__asm__ volatile("movsbq (%1), %0" : "=r"(value) : "r"(DEVICE + 0x140) : "memory"); /* 48 0f be */
	CHECK_EQ(value, 0xffffffffffffff81ull, "movsx r64, m8");
	__asm__ volatile("movswq 2(%1), %0" : "=r"(value) : "r"(DEVICE + 0x140) : "memory"); /* 48 0f bf */
	CHECK_EQ(value, 0xffffffffffff8001ull, "movsx r64, m16");
	__asm__ volatile("movslq 4(%1), %0" : "=r"(value) : "r"(DEVICE + 0x140) : "memory"); /* 48 63 */
	CHECK_EQ(value, 0xffffffff80000001ull, "movsxd r64, m32");
	__asm__ volatile("movslq (%1), %%r10; movq %%r10, %0" : "=r"(value) : "r"(DEVICE + 0x140) : "r10", "memory");
	CHECK_EQ(value, 0xffffffff80018081ull, "movsxd r10, m32 (4c 63)");
	value = ~0ull;
	__asm__ volatile("movzbl (%1), %k0" : "+r"(value) : "r"(DEVICE + 0x140) : "memory"); /* 0f b6, 32-bit dest */
	CHECK_EQ(value, 0x81, "movzx r32, m8 zeroes bits 63:32");
}

static void check_destination_widths(void)
{
	uint64_t value = ~0ull;
	poke64(0x160, 0x1122334455667788ull);
	__asm__ volatile("movl (%1), %k0" : "+r"(value) : "r"(DEVICE + 0x160) : "memory");
	CHECK_EQ(value, 0x55667788ull, "mov m32 -> r32 zeroes bits 63:32");
	value = ~0ull;
	__asm__ volatile("movw (%1), %w0" : "+r"(value) : "r"(DEVICE + 0x160) : "memory");
	CHECK_EQ(value, 0xffffffffffff7788ull, "mov m16 -> r16 keeps bits 63:16");
	value = ~0ull;
	__asm__ volatile("movb (%1), %b0" : "+r"(value) : "r"(DEVICE + 0x160) : "memory");
	CHECK_EQ(value, 0xffffffffffffff88ull, "mov m8 -> r8 keeps bits 63:8");
	__asm__ volatile("movq $-1, %%r9; movl (%1), %%r9d; movq %%r9, %0" : "=r"(value) : "r"(DEVICE + 0x160) : "r9", "memory");
	CHECK_EQ(value, 0x55667788ull, "mov m32 -> r9d zeroes bits 63:32 (44 8b)");
}

/* SIL/DIL need a REX prefix; without one, 4-7 are AH/CH/DH/BH. */
static void check_byte_registers(void)
{
	uint64_t value;
	__asm__ volatile("movb %%sil, (%0)" : : "b"(DEVICE + 0x180), "S"(0x5au) : "memory"); /* 40 88 33 */
	CHECK_EQ(peek8(0x180), 0x5a, "mov sil -> m8 (40 88 33)");
	__asm__ volatile("movb $0xa7, %%r9b; movb %%r9b, 1(%0)" : : "b"(DEVICE + 0x180) : "r9", "memory"); /* 44 88 4b 01 */
	CHECK_EQ(peek8(0x181), 0xa7, "mov r9b -> m8 (44 88 4b 01)");
	__asm__ volatile("movb %%ah, 2(%0)" : : "b"(DEVICE + 0x180), "a"(0xc300u) : "memory"); /* 88 63 02 */
	CHECK_EQ(peek8(0x182), 0xc3, "mov ah -> m8 without REX in 64-bit mode (88 63 02)");
	value = 0x1111111111111111ull;
	__asm__ volatile("movb (%1), %%dil" : "+D"(value) : "b"(DEVICE + 0x180) : "memory"); /* 40 8a 3b */
	CHECK_EQ(value, 0x111111111111115aull, "mov m8 -> dil (40 8a 3b)");
}

static void check_address_size_prefix(void)
{
	uint32_t address = (uint32_t)DEVICE + 0x1a0;
	__asm__ volatile("movl %0, (%1)" : : "c"(0xabab1212u), "b"(address) : "memory"); /* 67 89 0b */
	CHECK_EQ(peek32(0x1a0), 0xabab1212, "0x67 prefix: [ebx] in 64-bit mode (67 89 0b)");
}

static void check_strings(void)
{
	static uint64_t ram[4] = { 0xa0a0a0a0a0a0a0a0ull, 0xa1a1a1a1a1a1a1a1ull, 0xa2a2a2a2a2a2a2a2ull,
				   0xa3a3a3a3a3a3a3a3ull };
	uintptr_t si, di;
	uint64_t count;

	di = DEVICE + 0x200, count = 4;
	__asm__ volatile("rep stosq" : "+D"(di), "+c"(count) : "a"(0x0102030405060708ull) : "memory"); /* f3 48 ab */
	CHECK(di == DEVICE + 0x220 && count == 0 && peek64(0x218) == 0x0102030405060708ull && peek64(0x220) == 0,
	      "rep stosq: RDI=0x%lx RCX=%lu last 0x%lx", (unsigned long)di, (unsigned long)count,
	      (unsigned long)peek64(0x218));

	si = (uintptr_t)ram, di = DEVICE + 0x240, count = 4;
	__asm__ volatile("rep movsq" : "+S"(si), "+D"(di), "+c"(count) : : "memory"); /* f3 48 a5 */
	CHECK(count == 0 && di == DEVICE + 0x260 && peek64(0x240) == ram[0] && peek64(0x258) == ram[3],
	      "rep movsq RAM->device");

	si = DEVICE + 0x258, di = DEVICE + 0x298, count = 4;
	__asm__ volatile("std; rep movsq; cld" : "+S"(si), "+D"(di), "+c"(count) : : "memory");
	CHECK(count == 0 && si == DEVICE + 0x238 && di == DEVICE + 0x278, "std; rep movsq left RSI=0x%lx RDI=0x%lx",
	      (unsigned long)si, (unsigned long)di);
	CHECK(peek64(0x280) == ram[0] && peek64(0x298) == ram[3], "std; rep movsq device->device: %lx .. %lx",
	      (unsigned long)peek64(0x280), (unsigned long)peek64(0x298));

}

void guest_main(uint32_t multiboot_info)
{
	(void)multiboot_info;
	guest_testdev_map(DEVICE);
	guest_testdev_map(TESTDEV_ALIAS);
	check_rex_forms();
	check_immediates();
	check_moffs64();
	check_rip_relative();
	check_fs_gs_bases();
	check_extensions();
	check_destination_widths();
	check_byte_registers();
	check_address_size_prefix();
	check_strings();
	guest_printf("mmio64: all forms ok\n");
}

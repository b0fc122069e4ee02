/*
 * mmio_rmw: read-modify-write and read-only instruction forms on the test
 * device, beyond plain moves (which mmio32 covers): ALU ops with register
 * and immediate operands in both directions, INC/DEC/NOT/NEG, shifts,
 * TEST/CMP/BT (flags only), XCHG, LOCK CMPXCHG/XADD/OR, BTS/BTR/BTC,
 * SETcc, CMOVcc, PUSH/POP of memory, CMPS/SCAS. Each one's result in
 * memory, its register results and its arithmetic flags (CF ZF SF OF) must
 * be exactly the CPU's. Optional for a hypervisor: Linux drivers use few
 * of these on MMIO. 32-bit protected mode with paging.
 */
#include "guest.h"

const char guest_name[] = "mmio_rmw";

#define DEVICE KAPSEL_TESTDEV_MMIO_BASE
#define FLAG_CF (1u << 0)
#define FLAG_ZF (1u << 6)
#define FLAG_SF (1u << 7)
#define FLAG_OF (1u << 11)
#define ARITHMETIC_FLAGS (FLAG_CF | FLAG_ZF | FLAG_SF | FLAG_OF)

static volatile uint32_t *const device = (volatile uint32_t *)DEVICE;

static void check_flags(uint32_t flags, uint32_t expected, const char *what)
{
	CHECK((flags & ARITHMETIC_FLAGS) == expected, "%s: flags CF%u ZF%u SF%u OF%u, want CF%u ZF%u SF%u OF%u", what,
	      !!(flags & FLAG_CF), !!(flags & FLAG_ZF), !!(flags & FLAG_SF), !!(flags & FLAG_OF),
	      !!(expected & FLAG_CF), !!(expected & FLAG_ZF), !!(expected & FLAG_SF), !!(expected & FLAG_OF));
}

static void check_alu(void)
{
	uint32_t flags, value;
	device[0] = 10;
	__asm__ volatile("addl $5, (%1); pushfl; popl %0" : "=r"(flags) : "r"(device) : "memory", "cc"); /* 83 /0 ib */
	CHECK_EQ(device[0], 15, "add $imm8, m32");
	check_flags(flags, 0, "add $imm8, m32");
	device[1] = 0xffffffff;
	__asm__ volatile("addl %2, 4(%1); pushfl; popl %0" : "=r"(flags) : "r"(device), "r"(1u) : "memory", "cc"); /* 01 /r */
	CHECK_EQ(device[1], 0, "add r32, m32 (carry out)");
	check_flags(flags, FLAG_CF | FLAG_ZF, "add r32, m32 wrapping to 0");
	value = 100;
	__asm__ volatile("addl (%1), %0" : "+r"(value) : "r"(device) : "memory", "cc"); /* 03 /r */
	CHECK_EQ(value, 115, "add m32 -> r32");
	device[2] = 0x1000;
	__asm__ volatile("subl $0x1001, 8(%1); pushfl; popl %0" : "=r"(flags) : "r"(device) : "memory", "cc"); /* 81 /5 id */
	CHECK_EQ(device[2], 0xffffffff, "sub $imm32, m32");
	check_flags(flags, FLAG_CF | FLAG_SF, "sub $imm32, m32 borrowing");
	device[5] = 0x0f0f0f0f;
	__asm__ volatile("orb $0x80, 20(%0)" : : "r"(device) : "memory", "cc"); /* 80 /1 ib */
	CHECK_EQ(device[5], 0x0f0f0f8f, "or $imm8, m8");
	__asm__ volatile("andw $0xff00, 20(%0)" : : "r"(device) : "memory", "cc"); /* 66 81 /4 iw */
	CHECK_EQ(device[5], 0x0f0f0f00, "and $imm16, m16");
	__asm__ volatile("xorl %1, 20(%0)" : : "r"(device), "r"(0xffffffffu) : "memory", "cc"); /* 31 /r */
	CHECK_EQ(device[5], 0xf0f0f0ff, "xor r32, m32");
	__asm__ volatile("stc; adcl $0, 20(%0)" : : "r"(device) : "memory", "cc"); /* 83 /2 ib */
	CHECK_EQ(device[5], 0xf0f0f100, "adc $0, m32 with CF set");
}

static void check_compare_and_test(void)
{
	uint32_t flags;
	device[8] = 5;
	__asm__ volatile("cmpl $5, 32(%1); pushfl; popl %0" : "=r"(flags) : "r"(device) : "memory", "cc"); /* 83 /7 ib */
	check_flags(flags, FLAG_ZF, "cmp $imm8, m32 (equal)");
	__asm__ volatile("cmpl $6, 32(%1); pushfl; popl %0" : "=r"(flags) : "r"(device) : "memory", "cc");
	check_flags(flags, FLAG_CF | FLAG_SF, "cmp $imm8, m32 (below)");
	device[9] = 0x80;
	__asm__ volatile("testl $0x80, 36(%1); pushfl; popl %0" : "=r"(flags) : "r"(device) : "memory", "cc"); /* f7 /0 id */
	check_flags(flags, 0, "test $imm32, m32 (bit set)");
	__asm__ volatile("testb %2, 36(%1); pushfl; popl %0" : "=r"(flags) : "r"(device), "q"((uint8_t)0x7f) : "memory", "cc"); /* 84 /r */
	check_flags(flags, FLAG_ZF, "test r8, m8 (no common bit)");
	CHECK(device[8] == 5 && device[9] == 0x80, "read-only forms changed memory");
}

static void check_unary_and_shift(void)
{
	uint32_t flags;
	device[3] = 0x7fffffff;
	__asm__ volatile("clc; incl 12(%1); pushfl; popl %0" : "=r"(flags) : "r"(device) : "memory", "cc"); /* ff /0 */
	CHECK_EQ(device[3], 0x80000000, "inc m32");
	check_flags(flags, FLAG_SF | FLAG_OF, "inc m32 overflowing (CF untouched: clear)");
	__asm__ volatile("decl 12(%0)" : : "r"(device) : "memory", "cc"); /* ff /1 */
	CHECK_EQ(device[3], 0x7fffffff, "dec m32");
	__asm__ volatile("notl 12(%0)" : : "r"(device) : "memory"); /* f7 /2 */
	CHECK_EQ(device[3], 0x80000000, "not m32");
	device[4] = 5;
	__asm__ volatile("negl 16(%0)" : : "r"(device) : "memory", "cc"); /* f7 /3 */
	CHECK_EQ(device[4], 0xfffffffb, "neg m32");

	device[6] = 0x0f0f0f0f;
	__asm__ volatile("shll $4, 24(%0)" : : "r"(device) : "memory", "cc"); /* c1 /4 ib */
	CHECK_EQ(device[6], 0xf0f0f0f0, "shl $imm8, m32");
}

static void check_exchanges(void)
{
	uint32_t value = 0x11111111, expected, flags;
	device[16] = 0x22222222;
	__asm__ volatile("xchgl %0, 64(%1)" : "+r"(value) : "r"(device) : "memory"); /* 87 /r */
	CHECK(value == 0x22222222 && device[16] == 0x11111111, "xchg r32, m32: reg 0x%x mem 0x%x", value, device[16]);

	expected = 0x11111111;
	__asm__ volatile("lock cmpxchgl %2, 64(%3); pushfl; popl %1"
			 : "+a"(expected), "=r"(flags) : "r"(0x33333333u), "r"(device) : "memory", "cc"); /* f0 0f b1 */
	CHECK(device[16] == 0x33333333 && (flags & FLAG_ZF), "lock cmpxchg (equal): mem 0x%x ZF %u", device[16],
	      !!(flags & FLAG_ZF));
	expected = 0x44444444;
	__asm__ volatile("lock cmpxchgl %2, 64(%3); pushfl; popl %1"
			 : "+a"(expected), "=r"(flags) : "r"(0x55555555u), "r"(device) : "memory", "cc");
	CHECK(device[16] == 0x33333333 && expected == 0x33333333 && !(flags & FLAG_ZF),
	      "lock cmpxchg (different): mem 0x%x EAX 0x%x", device[16], expected);

	value = 7;
	__asm__ volatile("lock xaddl %0, 64(%1)" : "+r"(value) : "r"(device) : "memory", "cc"); /* f0 0f c1 */
	CHECK(value == 0x33333333 && device[16] == 0x3333333a, "lock xadd: reg 0x%x mem 0x%x", value, device[16]);
	__asm__ volatile("lock orl $0x100, 64(%0)" : : "r"(device) : "memory", "cc"); /* f0 83 /1 ib */
	CHECK_EQ(device[16], 0x3333333a | 0x100, "lock or $imm8, m32");
}

static void check_bit_ops_and_conditions(void)
{
	uint32_t flags, value;
	device[9] = 0x80;
	__asm__ volatile("btl $7, 36(%1); pushfl; popl %0" : "=r"(flags) : "r"(device) : "memory", "cc"); /* 0f ba /4 ib */
	CHECK(flags & FLAG_CF, "bt $7, m32: CF clear but bit 7 is set");
	device[8] = 5;
	value = 0xdead;
	__asm__ volatile("cmpl $5, 32(%1); cmovel 36(%1), %0" : "+r"(value) : "r"(device) : "memory", "cc"); /* 0f 44 */
	CHECK_EQ(value, 0x80, "cmove m32 -> r32 (taken)");
	device[20] = 0;
	__asm__ volatile("btsl $31, 80(%1); pushfl; popl %0" : "=r"(flags) : "r"(device) : "memory", "cc"); /* 0f ba /5 */
	CHECK(device[20] == 0x80000000 && !(flags & FLAG_CF), "bts $31: mem 0x%x old bit %u", device[20],
	      flags & FLAG_CF);
	__asm__ volatile("btcl $0, 80(%0)" : : "r"(device) : "memory", "cc"); /* 0f ba /7 */
	CHECK_EQ(device[20], 0x80000001, "btc $0, m32");
	__asm__ volatile("btrl $31, 80(%1); pushfl; popl %0" : "=r"(flags) : "r"(device) : "memory", "cc"); /* 0f ba /6 */
	CHECK(device[20] == 1 && (flags & FLAG_CF), "btr $31: mem 0x%x old bit %u", device[20], flags & FLAG_CF);
	device[21] = 0xffffffff;
	__asm__ volatile("xorl %%eax, %%eax; sete 84(%0)" : : "r"(device) : "eax", "memory", "cc"); /* 0f 94 /0 */
	CHECK_EQ(device[21], 0xffffff01, "sete m8 writes one byte");
}

static void check_stack_and_strings(void)
{
	uint32_t value, si, di, count, flags;
	device[24] = 0xfeedface;
	__asm__ volatile("pushl 96(%1); popl %0" : "=r"(value) : "r"(device) : "memory"); /* ff /6 */
	CHECK_EQ(value, 0xfeedface, "push m32");
	__asm__ volatile("pushl %1; popl 100(%0)" : : "r"(device), "r"(0xc0ffee00u) : "memory"); /* 8f /0 */
	CHECK_EQ(device[25], 0xc0ffee00, "pop m32");

	static const uint32_t ram[2] = { 0xfeedface, 0xc0ffee01 };
	si = (uintptr_t)ram, di = DEVICE + 96, count = 2;
	__asm__ volatile("repe cmpsl; pushfl; popl %0" : "=r"(flags), "+S"(si), "+D"(di), "+c"(count) : : "memory", "cc");
	CHECK(count == 0 && !(flags & FLAG_ZF) && di == DEVICE + 104, "repe cmpsl stopped at ECX=%u EDI=0x%x ZF %u",
	      count, di, !!(flags & FLAG_ZF));
	di = DEVICE + 96, count = 4;
	__asm__ volatile("repne scasl; pushfl; popl %0" : "=r"(flags), "+D"(di), "+c"(count) : "a"(0xc0ffee00u) : "memory", "cc");
	CHECK(count == 2 && (flags & FLAG_ZF) && di == DEVICE + 104, "repne scasl stopped at ECX=%u EDI=0x%x", count,
	      di);
}

void guest_main(uint32_t multiboot_info)
{
	(void)multiboot_info;
	guest_testdev_map(DEVICE);
	/* Most common on real MMIO first: the first form a hypervisor lacks ends
	 * the run, and should be the one that matters most. */
	check_alu();
	check_compare_and_test();
	check_exchanges();
	check_unary_and_shift();
	check_bit_ops_and_conditions();
	check_stack_and_strings();
	guest_printf("mmio_rmw: all forms ok\n");
}

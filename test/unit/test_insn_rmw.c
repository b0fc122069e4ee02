/*
 * Emulation of the read-modify-write forms and the rest beyond moves and
 * ALU operations: CMPXCHG, XADD, INC DEC NOT NEG, shifts and rotates, BT
 * BTS BTR BTC, CMOVcc, SETcc, PUSH/POP of memory, CMPS and SCAS, against
 * the fake device, with results and flags compared with this host's
 * processor (test/fuzz/host_alu.h).
 */
#include "unit.h"

#include <lib/errno.h>

#include "../fuzz/host_alu.h"
#include "test_insn.h"

#define CF INSN_RFLAGS_CF
#define PF INSN_RFLAGS_PF
#define AF INSN_RFLAGS_AF
#define ZF INSN_RFLAGS_ZF
#define SF INSN_RFLAGS_SF
#define OF INSN_RFLAGS_OF
#define STATUS INSN_RFLAGS_STATUS

static const char *size_prefix(unsigned size)
{
	return size == 2 ? "66 " : size == 8 ? "48 " : "";
}

static uint64_t mask_of(unsigned size)
{
	return size == 8 ? ~0ull : (1ull << (8 * size)) - 1;
}

/* --- CMPXCHG and XADD ------------------------------------------------------ */

UNIT_TEST(emulate_cmpxchg)
{
	/* lock cmpxchg [rbx+0x40],edx, equal: EDX goes to the device, RAX
	 * (its upper half too) is left alone. */
	reset(INSN_MODE_64);
	cpu.gprs[RBX] = LINEAR64;
	cpu.gprs[RAX] = 0xffffffff11111111ull;
	cpu.gprs[RDX] = 0x33333333;
	put_device(0x40, 0x11111111, 4);
	CHECK_EQ(emulate("f0 0f b1 53 40", MMIO_BASE + 0x40, false), 0);
	CHECK_EQ(fake.count, 2);
	check_access(0, 'r', MMIO_BASE + 0x40, 4, 0x11111111);
	check_access(1, 'w', MMIO_BASE + 0x40, 4, 0x33333333);
	CHECK_EQ(cpu.gprs[RAX], 0xffffffff11111111ull);
	CHECK_EQ(cpu.rflags & STATUS, ZF | PF);
	CHECK_EQ(cpu.rip, RIP0 + 5);
	check_only_changed(0);

	/* Different: the device gets its own value back (the hardware's write
	 * cycle), EAX takes it, zero-extended; flags of EAX - memory. */
	cpu.gprs[RAX] = 0xffffffff44444444ull;
	CHECK_EQ(emulate("f0 0f b1 53 40", MMIO_BASE + 0x40, false), 0);
	CHECK_EQ(fake.count, 4);
	check_access(2, 'r', MMIO_BASE + 0x40, 4, 0x33333333);
	check_access(3, 'w', MMIO_BASE + 0x40, 4, 0x33333333);
	CHECK_EQ(cpu.gprs[RAX], 0x33333333);
	CHECK_EQ(cpu.rflags & STATUS, PF); /* 0x44444444 - 0x33333333 */
	check_only_changed(BIT(RAX));

	/* Byte: cmpxchg [rbx],ah compares AL. */
	reset(INSN_MODE_64);
	cpu.gprs[RBX] = LINEAR64 + 0x10;
	cpu.gprs[RAX] = 0x1234;
	put_device(0x10, 0x34, 1);
	CHECK_EQ(emulate("0f b0 23", MMIO_BASE + 0x10, true), 0);
	CHECK_EQ(get_device(0x10, 1), 0x12);
	CHECK_EQ(cpu.gprs[RAX], 0x1234);

	/* The write fails: registers and flags stay. */
	reset(INSN_MODE_64);
	cpu.gprs[RBX] = LINEAR64;
	put_device(0x40, 7, 4);
	fake.fail_at = 1;
	CHECK_EQ(emulate("0f b1 53 40", MMIO_BASE + 0x40, false), -EIO);
	CHECK(memcmp(&cpu, &cpu_before, sizeof(cpu)) == 0);
}

UNIT_TEST(emulate_xadd)
{
	/* lock xadd [rbx+0x40],eax: the device gets the sum, EAX the old value. */
	reset(INSN_MODE_64);
	cpu.gprs[RBX] = LINEAR64;
	cpu.gprs[RAX] = 0xaaaaaaaa00000007ull;
	put_device(0x40, 0x33333333, 4);
	CHECK_EQ(emulate("f0 0f c1 43 40", MMIO_BASE + 0x40, true), 0);
	check_access(0, 'r', MMIO_BASE + 0x40, 4, 0x33333333);
	check_access(1, 'w', MMIO_BASE + 0x40, 4, 0x3333333a);
	CHECK_EQ(cpu.gprs[RAX], 0x33333333);
	CHECK_EQ(cpu.rflags & STATUS, PF);
	check_only_changed(BIT(RAX));

	/* xadd [rbx],cl: 0xff + 1 carries. */
	put_device(0x40, 0xff, 1);
	cpu.gprs[RCX] = 0x101;
	CHECK_EQ(emulate("0f c0 4b 40", MMIO_BASE + 0x40, true), 0);
	CHECK_EQ(get_device(0x40, 1), 0);
	CHECK_EQ(cpu.gprs[RCX], 0x1ff);
	CHECK_EQ(cpu.rflags & STATUS, CF | ZF | PF | AF);
}

/* --- INC DEC NOT NEG, shifts ---------------------------------------------- */

UNIT_TEST(emulate_unary)
{
	reset(INSN_MODE_64);
	cpu.gprs[RBX] = LINEAR64 + 0x20;
	put_device(0x20, 0x7fffffff, 4);
	cpu.rflags |= CF;
	CHECK_EQ(emulate("ff 03", MMIO_BASE + 0x20, true), 0); /* inc dword [rbx] */
	CHECK_EQ(fake.count, 2);
	CHECK_EQ(get_device(0x20, 4), 0x80000000);
	CHECK_EQ(cpu.rflags & STATUS, CF | SF | OF | AF | PF); /* CF kept */
	CHECK_EQ(emulate("ff 0b", MMIO_BASE + 0x20, true), 0); /* dec */
	CHECK_EQ(get_device(0x20, 4), 0x7fffffff);
	CHECK_EQ(cpu.rflags & STATUS, CF | OF | AF | PF);
	cpu.rflags &= ~CF;
	CHECK_EQ(emulate("fe 0b", MMIO_BASE + 0x20, true), 0); /* dec byte */
	CHECK_EQ(get_device(0x20, 4), 0x7ffffffe);
	CHECK_EQ(cpu.rflags & CF, 0);
	uint64_t flags = cpu.rflags;
	CHECK_EQ(emulate("f7 13", MMIO_BASE + 0x20, true), 0); /* not: no flags */
	CHECK_EQ(get_device(0x20, 4), 0x80000001);
	CHECK_EQ(cpu.rflags, flags);
	put_device(0x20, 5, 4);
	CHECK_EQ(emulate("f0 f7 1b", MMIO_BASE + 0x20, true), 0); /* lock neg */
	CHECK_EQ(get_device(0x20, 4), 0xfffffffb);
	CHECK_EQ(cpu.rflags & STATUS, CF | SF | AF);
	put_device(0x20, 0, 8);
	CHECK_EQ(emulate("48 f7 1b", MMIO_BASE + 0x20, true), 0); /* neg 0: no carry */
	CHECK_EQ(cpu.rflags & STATUS, ZF | PF);
	check_only_changed(0);
	CHECK_EQ(cpu.rip, cpu_before.rip + 3);
}

UNIT_TEST(emulate_shifts)
{
	reset(INSN_MODE_64);
	cpu.gprs[RBX] = LINEAR64 + 0x30;
	put_device(0x30, 0x0f0f0f0f, 4);
	CHECK_EQ(emulate("c1 23 04", MMIO_BASE + 0x30, true), 0); /* shl dword [rbx],4 */
	CHECK_EQ(get_device(0x30, 4), 0xf0f0f0f0);
	CHECK_EQ(cpu.rflags & (CF | ZF | SF), SF);
	CHECK_EQ(emulate("d1 2b", MMIO_BASE + 0x30, true), 0); /* shr by 1: OF = old MSB */
	CHECK_EQ(get_device(0x30, 4), 0x78787878);
	CHECK_EQ(cpu.rflags & (CF | OF | SF), OF);
	cpu.gprs[RCX] = 0x0104; /* by CL: 4; CH does not count */
	CHECK_EQ(emulate("d3 3b", MMIO_BASE + 0x30, true), 0); /* sar */
	CHECK_EQ(get_device(0x30, 4), 0x07878787);
	CHECK_EQ(emulate("d0 03", MMIO_BASE + 0x30, true), 0); /* rol byte by 1 */
	CHECK_EQ(get_device(0x30, 4), 0x0787870f);
	cpu.rflags |= CF;
	CHECK_EQ(emulate("66 d1 13", MMIO_BASE + 0x30, true), 0); /* rcl word by 1 */
	CHECK_EQ(get_device(0x30, 4), 0x07870e1f);
	CHECK(cpu.rflags & CF); /* bit 15 of 0x870f */

	/* By 0 (the count is masked to 5 bits): flags stay, the value is
	 * written back as it was, like the hardware's read-modify-write. */
	uint64_t flags = cpu.rflags;
	CHECK_EQ(emulate("c1 23 20", MMIO_BASE + 0x30, true), 0);
	CHECK_EQ(cpu.rflags, flags);
	CHECK_EQ(fake.count, 12);
	check_access(11, 'w', MMIO_BASE + 0x30, 4, 0x07870e1f);
	/* 64-bit operands mask to 6 bits: 0x20 is 32. */
	put_device(0x30, 1, 8);
	CHECK_EQ(emulate("48 c1 23 20", MMIO_BASE + 0x30, true), 0);
	CHECK_EQ(get_device(0x30, 8), 1ull << 32);
	check_only_changed(0);
}

/* --- BT BTS BTR BTC ------------------------------------------------------- */

UNIT_TEST(emulate_bit_test_immediate)
{
	reset(INSN_MODE_64);
	cpu.gprs[RBX] = LINEAR64 + 0x50;
	put_device(0x50, 0x80, 4);
	CHECK_EQ(emulate("0f ba 23 07", MMIO_BASE + 0x50, false), 0); /* bt dword [rbx],7 */
	CHECK_EQ(fake.count, 1);
	CHECK(cpu.rflags & CF);
	CHECK_EQ(emulate("0f ba 23 27", MMIO_BASE + 0x50, false), 0); /* 39 mod 32 = 7 */
	CHECK(cpu.rflags & CF);
	CHECK_EQ(emulate("0f ba 2b 1f", MMIO_BASE + 0x50, true), 0); /* bts 31 */
	CHECK_EQ(get_device(0x50, 4), 0x80000080);
	CHECK_EQ(cpu.rflags & CF, 0);
	CHECK_EQ(emulate("f0 0f ba 33 07", MMIO_BASE + 0x50, true), 0); /* lock btr 7 */
	CHECK_EQ(get_device(0x50, 4), 0x80000000);
	CHECK(cpu.rflags & CF);
	CHECK_EQ(emulate("66 0f ba 3b 10", MMIO_BASE + 0x50, true), 0); /* btc word, 16 mod 16 */
	CHECK_EQ(get_device(0x50, 4), 0x80000001);
	CHECK_EQ(cpu.rflags & CF, 0);
	CHECK_EQ(fake.count, 8);
	check_only_changed(0);
}

/* With the offset in a register the bit string reaches past the operand:
 * the unit accessed is EA + size * floor(offset / (8 * size)). */
UNIT_TEST(emulate_bit_test_register_offset)
{
	reset(INSN_MODE_64);
	cpu.gprs[RBX] = LINEAR64 + 0x100;
	cpu.gprs[RCX] = 0xffffffff00000000ull | 100; /* ECX = 100: dword 3, bit 4 */
	put_device(0x10c, 0x10, 4);
	CHECK_EQ(emulate("0f ab 0b", MMIO_BASE + 0x10c, true), 0); /* bts [rbx],ecx */
	CHECK_EQ(insn_mmio_linear_address(&current, &cpu_before, true), LINEAR64 + 0x10c);
	check_access(0, 'r', MMIO_BASE + 0x10c, 4, 0x10);
	check_access(1, 'w', MMIO_BASE + 0x10c, 4, 0x10);
	CHECK(cpu.rflags & CF);

	/* Negative: ECX = -1 is bit 31 of the dword before. */
	cpu.gprs[RCX] = 0xffffffff;
	put_device(0xfc, 0, 4);
	CHECK_EQ(emulate("0f ab 0b", MMIO_BASE + 0xfc, true), 0);
	CHECK_EQ(get_device(0xfc, 4), 0x80000000);
	CHECK_EQ(cpu.rflags & CF, 0);
	/* 16-bit: CX = 0x8000 is -32768, 4096 bytes back; the fault names that page. */
	cpu.gprs[RCX] = 0x8000;
	put_device(0x100, 0x0001, 2);
	CHECK_EQ(emulate("66 0f b3 0b", MMIO_BASE + 0x100, true), 0); /* btr [rbx],cx */
	CHECK_EQ(insn_mmio_linear_address(&current, &cpu_before, true), LINEAR64 + 0x100 - 0x1000);
	CHECK_EQ(get_device(0x100, 2), 0);
	CHECK(cpu.rflags & CF);
	/* 64-bit offsets: RCX = 64 * 2 + 63 is qword 2, bit 63. */
	cpu.gprs[RCX] = 191;
	put_device(0x110, 0, 8);
	CHECK_EQ(emulate("48 0f bb 0b", MMIO_BASE + 0x110, true), 0); /* btc [rbx],rcx */
	CHECK_EQ(get_device(0x110, 8), 1ull << 63);
	/* bt reads only. */
	cpu.gprs[RCX] = 63 + 64 * 2;
	unsigned before = fake.count;
	CHECK_EQ(emulate("48 0f a3 0b", MMIO_BASE + 0x110, false), 0);
	CHECK_EQ(fake.count, before + 1);
	CHECK(cpu.rflags & CF);
	check_only_changed(0);
}

UNIT_TEST(emulate_bit_test_fault_checks)
{
	/* The hardware may access less than the unit: a fault anywhere in it counts. */
	reset(INSN_MODE_64);
	cpu.gprs[RBX] = LINEAR64 + 0x100;
	cpu.gprs[RCX] = 100;
	put_device(0x10c, 0, 4);
	CHECK_EQ(emulate("0f ab 0b", MMIO_BASE + 0x10c + 3, true), 0);
	check_access(1, 'w', MMIO_BASE + 0x10c, 4, 0x10);
	/* Outside the unit: stale. */
	CHECK_EQ(emulate("0f ab 0b", MMIO_BASE + 0x10c + 4, true), -ESTALE);
	CHECK_EQ(emulate("0f ab 0b", MMIO_BASE + 0x100, true), -ESTALE);
	/* A unit crossing the page end is not emulated. */
	cpu.gprs[RBX] = LINEAR64 + 0xffe;
	cpu.gprs[RCX] = 0;
	CHECK_EQ(emulate("0f ab 0b", MMIO_BASE + 0xffe, true), -EOPNOTSUPP);
	CHECK_EQ(emulate("66 0f ab 0b", MMIO_BASE + 0xffe, true), 0); /* a word fits */
	/* The offset leaves the page for the next one: that page faulted,
	 * and the unit is at its start. */
	cpu.gprs[RBX] = LINEAR64 + 0xffc;
	cpu.gprs[RCX] = 32;
	CHECK_EQ(emulate("0f ab 0b", MMIO_BASE + 0x1000, true), 0);
	CHECK_EQ(insn_mmio_linear_address(&current, &cpu_before, true), LINEAR64 + 0x1000);
	CHECK_EQ(fake.log[fake.count - 1].address, MMIO_BASE + 0x1000);
	CHECK_EQ(emulate("0f ab 0b", MMIO_BASE + 0xffc, true), -ESTALE);
}

/* --- CMOVcc, SETcc ----------------------------------------------------------- */

UNIT_TEST(emulate_cmov_and_set)
{
	reset(INSN_MODE_64);
	cpu.gprs[RSI] = LINEAR64 + 0x20;
	cpu.gprs[RAX] = 0xffffffffffffdeadull;
	put_device(0x24, 0x80, 4);
	cpu.rflags |= ZF;
	CHECK_EQ(emulate("0f 44 46 04", MMIO_BASE + 0x24, false), 0); /* cmove eax,[rsi+4] */
	CHECK_EQ(cpu.gprs[RAX], 0x80);
	CHECK_EQ(fake.count, 1);
	/* Not taken: still read; a 32-bit destination is zero-extended anyway. */
	cpu.gprs[RAX] = 0xffffffffffffdeadull;
	CHECK_EQ(emulate("0f 45 46 04", MMIO_BASE + 0x24, false), 0); /* cmovne */
	CHECK_EQ(fake.count, 2);
	CHECK_EQ(cpu.gprs[RAX], 0xffffdeadull);
	cpu.gprs[RAX] = 0xffffffffffffdeadull;
	CHECK_EQ(emulate("66 0f 45 46 04", MMIO_BASE + 0x24, false), 0); /* 16-bit: untouched */
	CHECK_EQ(cpu.gprs[RAX], 0xffffffffffffdeadull);
	CHECK_EQ(emulate("48 0f 45 46 04", MMIO_BASE + 0x24, false), 0);
	CHECK_EQ(cpu.gprs[RAX], 0xffffffffffffdeadull);
	check_only_changed(BIT(RAX));
	CHECK_EQ(cpu.rflags, FLAGS0 | ZF);

	/* sete [rsi+0x34]: one byte, 1 or 0, nothing read. */
	reset(INSN_MODE_64);
	cpu.gprs[RSI] = LINEAR64 + 0x20;
	put_device(0x34, 0xffffffff, 4);
	cpu.rflags |= ZF;
	CHECK_EQ(emulate("0f 94 46 14", MMIO_BASE + 0x34, true), 0);
	CHECK_EQ(fake.count, 1);
	check_access(0, 'w', MMIO_BASE + 0x34, 1, 1);
	CHECK_EQ(get_device(0x34, 4), 0xffffff01);
	CHECK_EQ(emulate("0f 95 46 14", MMIO_BASE + 0x34, true), 0); /* setne */
	CHECK_EQ(get_device(0x34, 4), 0xffffff00);
	CHECK_EQ(cpu.rip, cpu_before.rip + 4);
	check_only_changed(0);
}

/* --- PUSH and POP of memory ------------------------------------------------ */

UNIT_TEST(emulate_push_pop_32)
{
	/* pushl [esi+0x60]: the device is read, the stack (SS base 0x10000) written. */
	reset(INSN_MODE_32);
	cpu.segment_base[INSN_SEG_SS] = RAM_LINEAR;
	cpu.gprs[RSP] = 0x1000;
	cpu.gprs[RSI] = MMIO_BASE;
	put_device(0x60, 0xfeedface, 4);
	CHECK_EQ(emulate("ff 76 60", MMIO_BASE + 0x60, false), 0);
	CHECK_EQ(fake.count, 2);
	check_access(0, 'r', MMIO_BASE + 0x60, 4, 0xfeedface);
	check_access(1, 'W', RAM_LINEAR + 0xffc, 4, 0xfeedface);
	CHECK_EQ(cpu.gprs[RSP], 0xffc);
	CHECK_EQ(cpu.rip, RIP0 + 3);
	check_only_changed(BIT(RSP));

	/* popl [esi+0x64]: the stack is read, the device written. */
	put_ram(RAM_LINEAR + 0xffc, 0xc0ffee00, 4);
	CHECK_EQ(emulate("8f 46 64", MMIO_BASE + 0x64, true), 0);
	check_access(2, 'R', RAM_LINEAR + 0xffc, 4, 0xc0ffee00);
	check_access(3, 'w', MMIO_BASE + 0x64, 4, 0xc0ffee00);
	CHECK_EQ(cpu.gprs[RSP], 0x1000);

	/* 66: 16-bit operands move ESP by 2. */
	CHECK_EQ(emulate("66 ff 76 60", MMIO_BASE + 0x60, false), 0);
	check_access(5, 'W', RAM_LINEAR + 0xffe, 2, 0xface);
	CHECK_EQ(cpu.gprs[RSP], 0xffe);
	CHECK_EQ(emulate("66 8f 46 64", MMIO_BASE + 0x64, true), 0);
	CHECK_EQ(get_device(0x64, 4), 0xc0fffaceull);
	CHECK_EQ(cpu.gprs[RSP], 0x1000);

	/* The fault the other way round was the stack's: not emulated. */
	CHECK_EQ(emulate("ff 76 60", MMIO_BASE + 0x60, true), -EOPNOTSUPP);
	CHECK_EQ(emulate("8f 46 64", MMIO_BASE + 0x64, false), -EOPNOTSUPP);
	CHECK_EQ(fake.count, 8);
	/* The stack write fails: ESP stays. */
	fake.fail_at = 9;
	CHECK_EQ(emulate("ff 76 60", MMIO_BASE + 0x60, false), -EIO);
	CHECK(memcmp(&cpu, &cpu_before, sizeof(cpu)) == 0);
}

/* rSP-based operands: PUSH uses rSP before the push, POP after the pop. */
UNIT_TEST(emulate_push_pop_stack_pointer_operand)
{
	reset(INSN_MODE_32);
	cpu.segment_base[INSN_SEG_SS] = 0;
	cpu.gprs[RSP] = RAM_LINEAR + 0x800;
	cpu.segment_base[INSN_SEG_FS] = MMIO_BASE - (RAM_LINEAR + 0x800);
	/* push dword fs:[esp+8] */
	put_device(0x8, 0x11223344, 4);
	CHECK_EQ(emulate("64 ff 74 24 08", MMIO_BASE + 0x8, false), 0);
	check_access(1, 'W', RAM_LINEAR + 0x7fc, 4, 0x11223344);
	/* pop dword fs:[esp+8]: the address counts from ESP + 4 (the old ESP). */
	CHECK_EQ(emulate("64 8f 44 24 08", MMIO_BASE + 0x8, true), 0);
	CHECK_EQ(insn_mmio_linear_address(&current, &cpu_before, true), MMIO_BASE + 0x8);
	check_access(3, 'w', MMIO_BASE + 0x8, 4, 0x11223344);
	CHECK_EQ(cpu.gprs[RSP], RAM_LINEAR + 0x800);
	/* Had it counted from ESP before the pop, it would be 4 lower. */
	CHECK_EQ(emulate("64 8f 44 24 08", MMIO_BASE + 0x4, true), -ESTALE);
}

UNIT_TEST(emulate_push_pop_stack_sizes)
{
	/* 64-bit: 8 bytes (66: 2); SS's base does not count. */
	reset(INSN_MODE_64);
	cpu.segment_base[INSN_SEG_SS] = 0x5000;
	cpu.gprs[RSP] = RAM_LINEAR + 0x100;
	cpu.gprs[RBX] = LINEAR64;
	put_device(0, 0x0123456789abcdefull, 8);
	CHECK_EQ(emulate("ff 33", MMIO_BASE, false), 0);
	check_access(1, 'W', RAM_LINEAR + 0xf8, 8, 0x0123456789abcdefull);
	CHECK_EQ(emulate("66 ff 33", MMIO_BASE, false), 0);
	check_access(3, 'W', RAM_LINEAR + 0xf6, 2, 0xcdef);
	CHECK_EQ(cpu.gprs[RSP], RAM_LINEAR + 0xf6);
	CHECK_EQ(emulate("66 8f 03", MMIO_BASE, true), 0);
	CHECK_EQ(emulate("8f 03", MMIO_BASE, true), 0);
	CHECK_EQ(get_device(0, 8), 0x0123456789abcdefull);
	CHECK_EQ(cpu.gprs[RSP], RAM_LINEAR + 0x100);

	/* 32-bit code on a 16-bit stack (SS.B = 0): SP wraps, ESP's upper half stays. */
	reset(INSN_MODE_32);
	cpu.stack_address_size = 2;
	cpu.segment_base[INSN_SEG_SS] = RAM_LINEAR;
	cpu.gprs[RSP] = 0xabcd0002;
	cpu.gprs[RBX] = MMIO_BASE;
	put_ram(RAM_LINEAR + 2, 0x99aabbcc, 4);
	CHECK_EQ(emulate("8f 03", MMIO_BASE, true), 0); /* pop from SS:0002 */
	check_access(0, 'R', RAM_LINEAR + 2, 4, 0x99aabbcc);
	check_access(1, 'w', MMIO_BASE, 4, 0x99aabbcc);
	CHECK_EQ(cpu.gprs[RSP], 0xabcd0006);
	cpu.segment_base[INSN_SEG_SS] = RAM_LINEAR - 0xf000;
	cpu.gprs[RSP] = 0xabcd0002;
	CHECK_EQ(emulate("ff 33", MMIO_BASE, false), 0); /* SP 2 - 4 wraps to 0xfffe */
	check_access(3, 'W', RAM_LINEAR - 0xf000 + 0xfffe, 4, 0x99aabbcc);
	CHECK_EQ(cpu.gprs[RSP], 0xabcdfffe);

	/* Real mode: SS.B = 0 by default. */
	reset(INSN_MODE_16);
	cpu.segment_base[INSN_SEG_SS] = RAM_LINEAR;
	cpu.segment_base[INSN_SEG_DS] = MMIO_BASE - 0x1000;
	cpu.gprs[RSP] = 0x12340100;
	put_device(0x10, 0xbeef, 2);
	CHECK_EQ(emulate("ff 36 10 10", MMIO_BASE + 0x10, false), 0); /* push word [0x1010] */
	check_access(1, 'W', RAM_LINEAR + 0xfe, 2, 0xbeef);
	CHECK_EQ(cpu.gprs[RSP], 0x123400feull);

	/* A stack address size that is not one is refused. */
	reset(INSN_MODE_32);
	cpu.stack_address_size = 8;
	cpu.gprs[RBX] = MMIO_BASE;
	CHECK_EQ(emulate("ff 33", MMIO_BASE, false), -EINVAL);
	cpu.stack_address_size = 3;
	CHECK_EQ(emulate("8b 03", MMIO_BASE, false), -EINVAL);
	CHECK_EQ(fake.count, 0);
}

/* --- CMPS and SCAS ----------------------------------------------------------- */

/* The guest's forms: repe cmpsl RAM against the device, repne scasl. */
UNIT_TEST(emulate_cmps_scas_32)
{
	reset(INSN_MODE_32);
	put_ram(RAM_LINEAR, 0xfeedface, 4);
	put_ram(RAM_LINEAR + 4, 0xc0ffee01, 4);
	put_device(0x60, 0xfeedface, 4);
	put_device(0x64, 0xc0ffee00, 4);
	cpu.gprs[RSI] = RAM_LINEAR;
	cpu.gprs[RDI] = MMIO_BASE + 0x60;
	cpu.gprs[RCX] = 2;
	CHECK_EQ(emulate("f3 a7", MMIO_BASE + 0x60, false), 0);
	CHECK_EQ(fake.count, 4);
	check_access(0, 'R', RAM_LINEAR, 4, 0xfeedface);
	check_access(1, 'r', MMIO_BASE + 0x60, 4, 0xfeedface);
	check_access(3, 'r', MMIO_BASE + 0x64, 4, 0xc0ffee00);
	CHECK_EQ(cpu.gprs[RCX], 0);
	CHECK_EQ(cpu.gprs[RSI], RAM_LINEAR + 8);
	CHECK_EQ(cpu.gprs[RDI], MMIO_BASE + 0x68);
	CHECK_EQ(cpu.rflags & STATUS, 0); /* 0xc0ffee01 - 0xc0ffee00 */
	CHECK_EQ(cpu.rip, RIP0 + 2);
	check_only_changed(BIT(RCX) | BIT(RSI) | BIT(RDI));

	/* repne scasl: ends on the match, ECX 2 short of 4. */
	cpu.gprs[RDI] = MMIO_BASE + 0x60;
	cpu.gprs[RCX] = 4;
	cpu.gprs[RAX] = 0xc0ffee00;
	CHECK_EQ(emulate("f2 af", MMIO_BASE + 0x60, false), 0);
	CHECK_EQ(fake.count, 6);
	CHECK_EQ(cpu.gprs[RCX], 2);
	CHECK_EQ(cpu.gprs[RDI], MMIO_BASE + 0x68);
	CHECK_EQ(cpu.rflags & STATUS, ZF | PF);
	CHECK_EQ(cpu.rip, cpu_before.rip + 2);

	/* repe ends on the first mismatch, with elements left: RIP moves on. */
	cpu.gprs[RDI] = MMIO_BASE + 0x60;
	cpu.gprs[RCX] = 10;
	CHECK_EQ(emulate("f3 af", MMIO_BASE + 0x60, false), 0);
	CHECK_EQ(fake.count, 7);
	CHECK_EQ(cpu.gprs[RCX], 9);
	CHECK_EQ(cpu.rip, cpu_before.rip + 2);
	CHECK_EQ(cpu.rflags & (ZF | CF), CF); /* 0xc0ffee00 < 0xfeedface */
}

UNIT_TEST(emulate_cmps_sides)
{
	/* The device on the rSI side, RAM on rDI (cmpsb). */
	reset(INSN_MODE_64);
	cpu.gprs[RSI] = LINEAR64 + 0x200;
	cpu.gprs[RDI] = RAM_LINEAR + 0x10;
	put_device(0x200, 5, 1);
	put_ram(RAM_LINEAR + 0x10, 7, 1);
	CHECK_EQ(emulate("a6", MMIO_BASE + 0x200, false), 0);
	check_access(0, 'r', MMIO_BASE + 0x200, 1, 5);
	check_access(1, 'R', RAM_LINEAR + 0x10, 1, 7);
	CHECK_EQ(cpu.rflags & STATUS, CF | SF | AF); /* 5 - 7 */
	CHECK_EQ(cpu.gprs[RSI], LINEAR64 + 0x201);
	CHECK_EQ(cpu.gprs[RDI], RAM_LINEAR + 0x11);
	CHECK_EQ(cpu.rip, RIP0 + 1);
	check_only_changed(BIT(RSI) | BIT(RDI));

	/* Both sides at the fault's page offset: no side is known to be the
	 * device, both go through memory_read (the caller routes them). */
	reset(INSN_MODE_64);
	cpu.gprs[RSI] = RAM_LINEAR + 0x40;
	cpu.gprs[RDI] = RAM_LINEAR + 0x1040;
	cpu.gprs[RCX] = 3;
	put_ram(RAM_LINEAR + 0x40, 0x1111, 8);
	put_ram(RAM_LINEAR + 0x1040, 0x1111, 8);
	CHECK_EQ(emulate("f3 66 a7", MMIO_BASE + 0x40, false), 0);
	CHECK_EQ(fake.count, 6);
	for (unsigned i = 0; i < fake.count; i++)
		CHECK_EQ(fake.log[i].kind, 'R');
	CHECK_EQ(cpu.gprs[RCX], 0);

	/* Neither side has it: stale. */
	reset(INSN_MODE_64);
	cpu.gprs[RSI] = RAM_LINEAR + 0x40;
	cpu.gprs[RDI] = LINEAR64 + 0x80;
	CHECK_EQ(emulate("a7", MMIO_BASE + 0x44, false), -ESTALE);
	/* Nor a later element (no fast strings for CMPS). */
	cpu.gprs[RCX] = 4;
	CHECK_EQ(emulate("f3 a7", MMIO_BASE + 0x84, false), -ESTALE);
	CHECK_EQ(fake.count, 0);
	/* The second read fails: the element leaves no trace. */
	fake.fail_at = 1;
	CHECK_EQ(emulate("f3 a7", MMIO_BASE + 0x80, false), -EIO);
	CHECK(memcmp(&cpu, &cpu_before, sizeof(cpu)) == 0);
}

/* A REPE CMPS stops at the device page's end; the guest re-executes. */
UNIT_TEST(emulate_cmps_scas_page_end_and_direction)
{
	reset(INSN_MODE_64);
	cpu.gprs[RSI] = RAM_LINEAR;
	cpu.gprs[RDI] = LINEAR64 + 0xff8;
	cpu.gprs[RCX] = 100;
	memset(fake.ram, 0xab, 64);
	memset(&fake.device[0xff8], 0xab, 8);
	CHECK_EQ(emulate("f3 a6", MMIO_BASE + 0xff8, false), 0);
	CHECK_EQ(fake.count, 16);
	CHECK_EQ(cpu.gprs[RCX], 92);
	CHECK_EQ(cpu.gprs[RDI], LINEAR64 + 0x1000);
	CHECK_EQ(cpu.rip, RIP0); /* not done: run it again */
	CHECK(cpu.rflags & ZF);

	/* Backward scasw (DF) from 0x006: four words to the page start. */
	reset(INSN_MODE_64);
	cpu.rflags |= INSN_RFLAGS_DF;
	cpu.gprs[RDI] = LINEAR64 + 0x006;
	cpu.gprs[RCX] = 10;
	cpu.gprs[RAX] = 0x7777;
	CHECK_EQ(emulate("f2 66 af", MMIO_BASE + 0x006, false), 0);
	CHECK_EQ(fake.count, 4);
	check_access(3, 'r', MMIO_BASE, 2, get_device(0, 2));
	CHECK_EQ(cpu.gprs[RDI], LINEAR64 - 2);
	CHECK_EQ(cpu.gprs[RCX], 6);
	CHECK_EQ(cpu.rip, RIP0);

	/* REP with RCX = 0: nothing, not even flags. */
	reset(INSN_MODE_64);
	cpu.gprs[RCX] = 0;
	CHECK_EQ(emulate("f3 a7", MMIO_BASE, false), 0);
	CHECK_EQ(fake.count, 0);
	CHECK_EQ(cpu.rflags, FLAGS0);
	CHECK_EQ(cpu.rip, RIP0 + 2);
}

/* --- results and flags, against this host's processor ------------------------ */

static uint64_t random_flags(uint32_t *seed)
{
	*seed = *seed * 1103515245u + 12345u;
	return FLAGS0 | ((*seed >> 7) & STATUS);
}

/* Reports the first mismatch of one comparison loop and tells it to stop. */
static bool differs(const char *hex, uint64_t a, uint64_t b, uint64_t flags_in, uint64_t ours,
		    uint64_t host)
{
	if (ours == host)
		return false;
	fprintf(stderr, "%s a=%#llx b=%#llx flags in %#llx: %#llx vs host %#llx\n", hex,
		(unsigned long long)a, (unsigned long long)b, (unsigned long long)flags_in,
		(unsigned long long)ours, (unsigned long long)host);
	CHECK_EQ(ours, host);
	return true;
}

/* INC DEC NOT NEG, CMPXCHG, XADD at every size: memory, registers, flags. */
UNIT_TEST(read_modify_write_matches_the_host)
{
	static const unsigned sizes[] = { 1, 2, 4, 8 };
	static const char *const unary[] = { "03", "0b", "13", "1b" }; /* ModRM /0 /1 /2 /3 */
	uint32_t seed = 7;
	unsigned compared = 0;

	for (unsigned s = 0; s < 4; s++) {
		unsigned size = sizes[s];
		uint64_t mask = mask_of(size);

		for (unsigned round = 0; round < 4000; round++) {
			unsigned kind = round % 6; /* INC DEC NOT NEG CMPXCHG XADD */
			uint64_t a = interesting(&seed, size), b = interesting(&seed, size);
			uint64_t flags_in = random_flags(&seed), host_flags = flags_in;
			uint64_t host_memory, host_rax, host_rcx;
			char hex[32];

			reset(INSN_MODE_64);
			cpu.rflags = flags_in;
			cpu.gprs[RBX] = LINEAR64 + 0x100;
			put_device(0x100, a | (0x5a5a5a5a5a5a5a5aull & ~mask), 8);
			cpu.gprs[RCX] = b | (0x3333333333333333ull & ~mask);
			cpu.gprs[RAX] = ((seed & 1) ? a : interesting(&seed, size)) |
					(0x7777777777777777ull & ~mask);
			host_rax = cpu.gprs[RAX];
			host_rcx = cpu.gprs[RCX];
			if (kind < 4) {
				snprintf(hex, sizeof(hex), "%s%s %s", size_prefix(size),
					 kind < 2 ? (size == 1 ? "fe" : "ff") : (size == 1 ? "f6" : "f7"),
					 unary[kind]);
				host_memory = host_unary(INSN_INC + kind, size, a, &host_flags);
			} else if (kind == 4) {
				snprintf(hex, sizeof(hex), "%s0f %s 0b", size_prefix(size), size == 1 ? "b0" : "b1");
				host_memory = host_cmpxchg(size, a, host_rcx, &host_rax, &host_flags);
			} else {
				snprintf(hex, sizeof(hex), "%s0f %s 0b", size_prefix(size), size == 1 ? "c0" : "c1");
				host_memory = host_xadd(size, a, &host_rcx, &host_flags);
			}
			CHECK_EQ(emulate(hex, MMIO_BASE + 0x100, true), 0);
			if (differs(hex, a, b, flags_in, get_device(0x100, 8),
				    (host_memory & mask) | (0x5a5a5a5a5a5a5a5aull & ~mask)) ||
			    differs(hex, a, b, flags_in, cpu.gprs[RAX], host_rax) ||
			    differs(hex, a, b, flags_in, cpu.gprs[RCX], host_rcx) ||
			    differs(hex, a, b, flags_in, cpu.rflags, host_flags))
				return;
			compared++;
		}
	}
	CHECK_EQ(compared, 4 * 4000);
}

/* The status flags a shift or rotate defines (CF OF only where the SDM does). */
static uint64_t defined_shift_flags(unsigned operation, unsigned size, unsigned count)
{
	unsigned masked = count & (size == 8 ? 63 : 31), width = 8 * size;
	uint64_t defined = STATUS;

	if (masked == 0)
		return defined; /* nothing changes */
	if (masked != 1)
		defined &= ~OF;
	if (operation >= INSN_SHL) {
		defined &= ~AF;
		if (masked >= width)
			defined &= ~CF; /* SHL SHR by the width or more; SAR alike here */
	}
	return defined;
}

/* Every shift and rotate, by CL, imm8 and 1, every size, counts around the
 * edges: the result always, the flags where defined. */
UNIT_TEST(shifts_match_the_host)
{
	static const unsigned sizes[] = { 1, 2, 4, 8 };
	static const unsigned counts[] = { 0, 1, 2, 7, 8, 9, 15, 16, 17, 31, 32, 33, 63, 64, 65, 255 };
	uint32_t seed = 11;
	unsigned compared = 0;

	for (unsigned reg = 0; reg < 8; reg++) {
		unsigned operation = reg == 6 ? INSN_SHL : reg == 7 ? INSN_SAR : INSN_ROL + reg;

		for (unsigned s = 0; s < 4; s++) {
			unsigned size = sizes[s];
			uint64_t mask = mask_of(size);

			for (unsigned round = 0; round < 600; round++) {
				unsigned form = round % 3; /* CL, imm8, 1 */
				uint64_t a = interesting(&seed, size);
				unsigned count = round % 2 ? counts[(seed >> 3) % 16] : (seed >> 9) & 0xff;
				uint64_t flags_in = random_flags(&seed), host_flags = flags_in;
				unsigned modrm = 0x03 | reg << 3;
				char hex[32];

				if (form == 2)
					count = 1;
				if (form == 0)
					snprintf(hex, sizeof(hex), "%s%s %02x", size_prefix(size),
						 size == 1 ? "d2" : "d3", modrm);
				else if (form == 1)
					snprintf(hex, sizeof(hex), "%s%s %02x %02x", size_prefix(size),
						 size == 1 ? "c0" : "c1", modrm, count);
				else
					snprintf(hex, sizeof(hex), "%s%s %02x", size_prefix(size),
						 size == 1 ? "d0" : "d1", modrm);
				reset(INSN_MODE_64);
				cpu.rflags = flags_in;
				cpu.gprs[RBX] = LINEAR64 + 0x100;
				cpu.gprs[RCX] = 0xabcd00 | count;
				put_device(0x100, a | (0x5a5a5a5a5a5a5a5aull & ~mask), 8);

				uint64_t expected = host_shift(operation, size, a, (uint8_t)count, &host_flags);
				uint64_t defined = defined_shift_flags(operation, size, count);
				CHECK_EQ(emulate(hex, MMIO_BASE + 0x100, true), 0);
				if (differs(hex, a, count, flags_in, get_device(0x100, 8),
					    (expected & mask) | (0x5a5a5a5a5a5a5a5aull & ~mask)) ||
				    differs(hex, a, count, flags_in, cpu.rflags & defined,
					    host_flags & defined) ||
				    differs(hex, a, count, flags_in, cpu.rflags & ~STATUS,
					    flags_in & ~STATUS))
					return;
				compared++;
			}
		}
	}
	CHECK_EQ(compared, 8 * 4 * 600);
}

/* BT BTS BTR BTC, register offsets reaching units before and after the
 * operand and imm8 offsets: the unit accessed, its result, CF, and ZF
 * (unaffected). */
UNIT_TEST(bit_operations_match_the_host)
{
	static const unsigned sizes[] = { 2, 4, 8 };
	uint32_t seed = 13;
	unsigned compared = 0;

	for (unsigned operation = INSN_BT; operation <= INSN_BTC; operation++) {
		for (unsigned s = 0; s < 3; s++) {
			unsigned size = sizes[s], width = 8 * size;
			uint64_t mask = mask_of(size);

			for (unsigned round = 0; round < 1000; round++) {
				bool immediate = round & 1;
				int64_t offset;
				char hex[32];

				seed = seed * 1103515245u + 12345u;
				if (immediate)
					offset = (seed >> 5) & 0xff;
				else
					offset = (int64_t)((seed >> 5) % (7 * width)) - 3 * (int64_t)width;
				/* The unit: floor(offset / width) units from EA, unless imm8. */
				int64_t unit = immediate ? 0 : (offset >= 0 ? offset / width
									    : -((-offset + width - 1) / width));
				unsigned bit = (unsigned)(offset - unit * (int64_t)width) % width;
				unsigned at = 0x400 + (unsigned)(unit * (int64_t)size);
				uint64_t a = interesting(&seed, size);
				uint64_t flags_in = random_flags(&seed), host_flags = flags_in;

				if (immediate)
					snprintf(hex, sizeof(hex), "%s0f ba %02x %02x", size_prefix(size),
						 0x23 | (4 + operation - INSN_BT) << 3, (unsigned)offset);
				else
					snprintf(hex, sizeof(hex), "%s0f %s 0b", size_prefix(size),
						 (const char *const[]){ "a3", "ab", "b3", "bb" }[operation - INSN_BT]);
				reset(INSN_MODE_64);
				cpu.rflags = flags_in;
				cpu.gprs[RBX] = LINEAR64 + 0x400;
				cpu.gprs[RCX] = (uint64_t)offset & mask;
				put_device(at, a | (0x5a5a5a5a5a5a5a5aull & ~mask), 8);

				uint64_t expected = host_bit(operation, size, a, bit, &host_flags);
				CHECK_EQ(emulate(hex, MMIO_BASE + at, operation != INSN_BT), 0);
				if (differs(hex, a, (uint64_t)offset, flags_in, get_device(at, 8),
					    (expected & mask) | (0x5a5a5a5a5a5a5a5aull & ~mask)) ||
				    differs(hex, a, (uint64_t)offset, flags_in, cpu.rflags & (CF | ZF),
					    host_flags & (CF | ZF)) ||
				    differs(hex, a, (uint64_t)offset, flags_in, fake.count,
					    operation == INSN_BT ? 1 : 2))
					return;
				compared++;
			}
		}
	}
	CHECK_EQ(compared, 4 * 3 * 1000);
}

/* SETcc and CMOVcc for every condition under every combination of the
 * status flags. */
UNIT_TEST(conditions_match_the_host)
{
	static const unsigned sizes[] = { 2, 4, 8 };
	uint32_t seed = 17;
	unsigned compared = 0;

	for (unsigned condition = 0; condition < 16; condition++) {
		for (unsigned combination = 0; combination < 64; combination++) {
			uint64_t flags_in = FLAGS0;
			char hex[32];

			/* CF PF AF ZF SF OF from the combination's six bits. */
			for (unsigned bit = 0, flag = 0; flag < 12; flag++) {
				if (!((STATUS >> flag) & 1))
					continue;
				if ((combination >> bit++) & 1)
					flags_in |= 1ull << flag;
			}
			reset(INSN_MODE_64);
			cpu.rflags = flags_in;
			cpu.gprs[RBX] = LINEAR64 + 0x100;
			snprintf(hex, sizeof(hex), "0f %02x 03", 0x90 + condition);
			CHECK_EQ(emulate(hex, MMIO_BASE + 0x100, true), 0);
			if (differs(hex, condition, combination, flags_in, get_device(0x100, 1),
				    host_set(condition, flags_in)))
				return;
			for (unsigned s = 0; s < 3; s++) {
				unsigned size = sizes[s];
				uint64_t source = interesting(&seed, 8), destination = interesting(&seed, 8);

				put_device(0x100, source, 8);
				cpu.gprs[RCX] = destination;
				snprintf(hex, sizeof(hex), "%s0f %02x 0b", size_prefix(size), 0x40 + condition);
				CHECK_EQ(emulate(hex, MMIO_BASE + 0x100, false), 0);
				if (differs(hex, source, destination, flags_in, cpu.gprs[RCX],
					    host_cmov(condition, size, destination, source, flags_in)) ||
				    differs(hex, source, destination, flags_in, cpu.rflags, flags_in))
					return;
				compared++;
			}
		}
	}
	CHECK_EQ(compared, 16 * 64 * 3);
}

/* CMPS and SCAS set the flags of CMP; the device on either side. */
UNIT_TEST(string_compares_match_the_host)
{
	static const unsigned sizes[] = { 1, 2, 4, 8 };
	static const char *const cmps[] = { "a6", "66 a7", "a7", "48 a7" };
	static const char *const scas[] = { "ae", "66 af", "af", "48 af" };
	uint32_t seed = 19;
	unsigned compared = 0;

	for (unsigned s = 0; s < 4; s++) {
		unsigned size = sizes[s];

		for (unsigned round = 0; round < 2000; round++) {
			uint64_t a = interesting(&seed, size), b = interesting(&seed, size);
			uint64_t flags_in = random_flags(&seed), host_flags = flags_in;
			bool device_is_source = round & 2, scan = round & 1;
			const char *hex = scan ? scas[s] : cmps[s];

			reset(INSN_MODE_64);
			cpu.rflags = flags_in;
			cpu.gprs[RSI] = device_is_source ? LINEAR64 + 0x100 : RAM_LINEAR + 0x208;
			cpu.gprs[RDI] = device_is_source && !scan ? RAM_LINEAR + 0x208 : LINEAR64 + 0x100;
			cpu.gprs[RAX] = a;
			if (device_is_source && !scan) {
				put_device(0x100, a, 8);
				put_ram(RAM_LINEAR + 0x208, b, 8);
			} else {
				put_ram(RAM_LINEAR + 0x208, a, 8);
				put_device(0x100, b, 8);
			}
			host_alu(INSN_CMP, size, a, b, &host_flags);
			CHECK_EQ(emulate(hex, MMIO_BASE + 0x100, false), 0);
			if (differs(hex, a, b, flags_in, cpu.rflags, host_flags))
				return;
			compared++;
		}
	}
	CHECK_EQ(compared, 4 * 2000);
}

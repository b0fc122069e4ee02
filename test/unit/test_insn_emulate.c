/*
 * Emulation of moves, ALU operations, TEST, XCHG and the string moves
 * (MOVS STOS LODS) against the fake device, errors, and the ALU flags
 * compared with what this host's own processor computes.
 */
#include "unit.h"

#include <lib/errno.h>

#include "../fuzz/host_alu.h"
#include "test_insn.h"

UNIT_TEST(emulate_mov_store_byte_registers)
{
	reset(INSN_MODE_64);
	cpu.gprs[RBX] = LINEAR64 + 0x10;
	cpu.gprs[RAX] = 0xaabb;
	CHECK_EQ(emulate("88 23", MMIO_BASE + 0x10, true), 0); /* mov [rbx],ah */
	CHECK_EQ(fake.count, 1);
	check_access(0, 'w', MMIO_BASE + 0x10, 1, 0xaa);
	CHECK_EQ(cpu.rip, RIP0 + 2);
	CHECK_EQ(cpu.rflags, FLAGS0);
	check_only_changed(0);

	reset(INSN_MODE_64);
	cpu.gprs[RBX] = LINEAR64 + 0x10;
	cpu.gprs[RSP] = 0x5566;
	CHECK_EQ(emulate("40 88 23", MMIO_BASE + 0x10, true), 0); /* mov [rbx],spl */
	check_access(0, 'w', MMIO_BASE + 0x10, 1, 0x66);

	reset(INSN_MODE_64);
	cpu.gprs[RBX] = LINEAR64 + 0x10;
	cpu.gprs[R12] = 0x77;
	CHECK_EQ(emulate("44 88 23", MMIO_BASE + 0x10, true), 0); /* mov [rbx],r12b */
	check_access(0, 'w', MMIO_BASE + 0x10, 1, 0x77);
	CHECK_EQ(get_device(0x10, 1), 0x77);
}

UNIT_TEST(emulate_mov_store_sizes)
{
	static const struct {
		const char *hex;
		unsigned size;
		uint64_t value;
	} cases[] = {
		{ "66 89 0b", 2, 0x2222 },                          /* mov [rbx],cx */
		{ "89 0b", 4, 0x22222222 },
		{ "48 89 0b", 8, 0x2222222222222222ull },
		{ "4c 89 03", 8, 0x1818181818181818ull },           /* mov [rbx],r8 */
		{ "c6 03 ab", 1, 0xab },
		{ "66 c7 03 34 12", 2, 0x1234 },
		{ "c7 03 78 56 34 12", 4, 0x12345678 },
		{ "48 c7 03 f0 ff ff ff", 8, 0xfffffffffffffff0ull }, /* imm32 sign-extended */
		{ "88 4b 10", 1, 0x22 },                            /* mov [rbx+0x10],cl */
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		reset(INSN_MODE_64);
		cpu.gprs[RCX] = 0x2222222222222222ull;
		cpu.gprs[RBX] = LINEAR64 + 0x100;
		unsigned offset = 0x100 + (strstr(cases[i].hex, "4b 10") ? 0x10 : 0);
		CHECK_EQ(emulate(cases[i].hex, MMIO_BASE + offset, true), 0);
		CHECK_EQ(fake.count, 1);
		check_access(0, 'w', MMIO_BASE + offset, cases[i].size, cases[i].value);
		CHECK_EQ(get_device(offset, cases[i].size), cases[i].value);
		CHECK_EQ(cpu.rip, RIP0 + current.length);
		check_only_changed(0);
	}
}

UNIT_TEST(emulate_mov_load_sizes)
{
	static const struct {
		const char *hex;
		unsigned reg;
		unsigned size;
		uint64_t expected;
	} cases[] = {
		{ "8a 23", RAX, 1, 0xffffffffffff88ffull },      /* mov ah,[rbx] */
		{ "8a 03", RAX, 1, 0xffffffffffffff88ull },      /* mov al,[rbx] */
		{ "40 8a 33", RSI, 1, 0xffffffffffffff88ull },   /* mov sil,[rbx] */
		{ "66 8b 03", RAX, 2, 0xffffffffffff7788ull },
		{ "8b 03", RAX, 4, 0x0000000055667788ull },     /* 32-bit writes zero-extend */
		{ "48 8b 03", RAX, 8, 0x1122334455667788ull },
		{ "44 8b 03", R8, 4, 0x0000000055667788ull },
		{ "0f b6 03", RAX, 1, 0x88 },                    /* movzx eax,byte */
		{ "66 0f b6 03", RAX, 1, 0xffffffffffff0088ull },
		{ "0f b7 03", RAX, 2, 0x7788 },
		{ "0f be 03", RAX, 1, 0x00000000ffffff88ull },   /* movsx eax,byte */
		{ "48 0f be 03", RAX, 1, 0xffffffffffffff88ull },
		{ "66 0f be 03", RAX, 1, 0xffffffffffffff88ull },
		{ "0f bf 03", RAX, 2, 0x0000000000007788ull },
		{ "48 63 03", RAX, 4, 0x0000000055667788ull },   /* movsxd, positive */
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		reset(INSN_MODE_64);
		cpu.gprs[cases[i].reg] = ~0ull;
		cpu.gprs[RBX] = LINEAR64 + 0x20;
		put_device(0x20, 0x1122334455667788ull, 8);
		CHECK_EQ(emulate(cases[i].hex, MMIO_BASE + 0x20, false), 0);
		CHECK_EQ(fake.count, 1);
		check_access(0, 'r', MMIO_BASE + 0x20, cases[i].size,
			     0x1122334455667788ull & (cases[i].size == 8 ? ~0ull
							: (1ull << (8 * cases[i].size)) - 1));
		if (cpu.gprs[cases[i].reg] != cases[i].expected)
			fprintf(stderr, "%s\n", cases[i].hex);
		CHECK_EQ(cpu.gprs[cases[i].reg], cases[i].expected);
		check_only_changed(BIT(cases[i].reg));
		CHECK_EQ(cpu.rflags, FLAGS0);
	}
}

UNIT_TEST(emulate_sign_extension_of_negative_values)
{
	reset(INSN_MODE_64);
	cpu.gprs[RBX] = LINEAR64 + 0x40;
	put_device(0x40, 0x80000000ff80ull, 8);
	CHECK_EQ(emulate("0f bf 03", MMIO_BASE + 0x40, false), 0); /* movsx eax,word */
	CHECK_EQ(cpu.gprs[RAX], 0x00000000ffffff80ull);
	CHECK_EQ(emulate("48 0f bf 03", MMIO_BASE + 0x40, false), 0);
	CHECK_EQ(cpu.gprs[RAX], 0xffffffffffffff80ull);
	CHECK_EQ(emulate("0f be 03", MMIO_BASE + 0x40, false), 0);
	CHECK_EQ(cpu.gprs[RAX], 0x00000000ffffff80ull);
	cpu.gprs[RBX] = LINEAR64 + 0x42;
	CHECK_EQ(emulate("48 63 03", MMIO_BASE + 0x42, false), 0); /* movsxd rax,[rbx] */
	CHECK_EQ(cpu.gprs[RAX], 0xffffffff80000000ull);
}

UNIT_TEST(emulate_moffs)
{
	reset(INSN_MODE_64);
	put_device(0x40, 0x1122334455667788ull, 8);
	/* mov rax,[0x7f1234560040] */
	CHECK_EQ(emulate("48 a1 40 00 56 34 12 7f 00 00", MMIO_BASE + 0x40, false), 0);
	CHECK_EQ(cpu.gprs[RAX], 0x1122334455667788ull);
	CHECK_EQ(cpu.rip, RIP0 + 10);
	check_only_changed(BIT(RAX));
	/* mov [0x7f1234560048],al */
	CHECK_EQ(emulate("a2 48 00 56 34 12 7f 00 00", MMIO_BASE + 0x48, true), 0);
	check_access(1, 'w', MMIO_BASE + 0x48, 1, 0x88);

	/* 32-bit code: the offset is DS-relative. */
	reset(INSN_MODE_32);
	cpu.segment_base[INSN_SEG_DS] = 0x00100000;
	put_device(0x234, 0xcafe, 2);
	CHECK_EQ(emulate("66 a1 34 12 00 00", MMIO_BASE + 0x234, false), 0); /* mov ax,[0x1234] */
	CHECK_EQ(cpu.gprs[RAX] & 0xffff, 0xcafe);
	CHECK_EQ(insn_mmio_linear_address(&current, &cpu, false), 0x101234);
}

UNIT_TEST(emulate_rip_relative)
{
	reset(INSN_MODE_64);
	cpu.rip = LINEAR64 - 0x2000;
	/* mov eax,[rip+0x2ff0]: next RIP is rip+6, so linear = LINEAR64 + 0xff6. */
	put_device(0xff6, 0x12345678, 4);
	CHECK_EQ(emulate("8b 05 f0 2f 00 00", MMIO_BASE + 0xff6, false), 0);
	CHECK_EQ(cpu.gprs[RAX], 0x12345678);
	CHECK_EQ(cpu.rip, LINEAR64 - 0x2000 + 6);
	/* mov dword [rip+0x1ff0],1: the immediate counts in the next RIP. */
	cpu.rip = LINEAR64 - 0x1000;
	CHECK_EQ(emulate("c7 05 f0 0f 00 00 01 00 00 00", MMIO_BASE + 0xffa, true), 0);
	check_access(1, 'w', MMIO_BASE + 0xffa, 4, 1);
	/* 67: EIP-relative, the address truncated to 32 bits. */
	cpu.rip = 0xfffffffffffffff0ull;
	CHECK_EQ(emulate("67 8b 05 10 01 00 00", MMIO_BASE + 0x107, false), 0);
	CHECK_EQ(insn_mmio_linear_address(&current, &cpu_before, false), 0x107);
}

UNIT_TEST(emulate_segments)
{
	/* 32-bit: DS base added, SS for EBP, wrap at 4 GiB. */
	reset(INSN_MODE_32);
	cpu.segment_base[INSN_SEG_DS] = 0x00100000;
	cpu.segment_base[INSN_SEG_SS] = 0x00200000;
	cpu.segment_base[INSN_SEG_FS] = 0x00300000;
	cpu.gprs[RBX] = 0xffffffff00002010ull; /* upper half ignored */
	cpu.gprs[RBP] = 0x3000;
	CHECK_EQ(emulate("8b 03", MMIO_BASE + 0x010, false), 0);
	CHECK_EQ(insn_mmio_linear_address(&current, &cpu, false), 0x102010);
	CHECK_EQ(emulate("8b 45 08", MMIO_BASE + 0x008, false), 0); /* mov eax,[ebp+8] */
	CHECK_EQ(insn_mmio_linear_address(&current, &cpu, false), 0x203008);
	CHECK_EQ(emulate("64 8b 45 08", MMIO_BASE + 0x008, false), 0);
	CHECK_EQ(insn_mmio_linear_address(&current, &cpu, false), 0x303008);
	cpu.segment_base[INSN_SEG_DS] = 0xfffff000;
	CHECK_EQ(emulate("8b 03", MMIO_BASE + 0x010, false), 0);
	CHECK_EQ(insn_mmio_linear_address(&current, &cpu, false), 0x1010);

	/* 64-bit: DS ES SS bases count as 0, FS GS do not. */
	reset(INSN_MODE_64);
	cpu.segment_base[INSN_SEG_DS] = 0x5000;
	cpu.segment_base[INSN_SEG_GS] = 0xffff888000000000ull;
	cpu.gprs[RBX] = LINEAR64 + 0x18;
	CHECK_EQ(emulate("8b 03", MMIO_BASE + 0x18, false), 0);
	CHECK_EQ(insn_mmio_linear_address(&current, &cpu, false), LINEAR64 + 0x18);
	CHECK_EQ(emulate("65 8b 03", MMIO_BASE + 0x18, false), 0);
	CHECK_EQ(insn_mmio_linear_address(&current, &cpu, false), 0xffff888000000000ull + LINEAR64 + 0x18);

	/* 16-bit: [bx+si+disp8] wraps at 64 KiB before the segment base; BP uses SS. */
	reset(INSN_MODE_16);
	cpu.segment_base[INSN_SEG_DS] = 0x10000;
	cpu.segment_base[INSN_SEG_SS] = 0x20000;
	cpu.gprs[RBX] = 0xdead0000fff0ull;
	cpu.gprs[RSI] = 0x0020;
	put_device(0x020, 0xbeef, 2);
	/* mov ax,[bx+si+0x10]: 0xfff0 + 0x20 + 0x10 wraps to 0x0020. */
	CHECK_EQ(emulate("8b 40 10", MMIO_BASE + 0x020, false), 0);
	CHECK_EQ(insn_mmio_linear_address(&current, &cpu_before, false), 0x10020);
	CHECK_EQ(cpu.gprs[RAX] & 0xffff, 0xbeef);
	CHECK_EQ(cpu.gprs[RAX] >> 16, cpu_before.gprs[RAX] >> 16);
	cpu.gprs[RBP] = 0x100;
	CHECK_EQ(emulate("8b 46 02", MMIO_BASE + 0x102, false), 0);
	CHECK_EQ(insn_mmio_linear_address(&current, &cpu, false), 0x20102);
}

UNIT_TEST(emulate_rip_wraps_with_the_code_size)
{
	reset(INSN_MODE_16);
	cpu.rip = 0xfffe;
	cpu.gprs[RBX] = 0x10;
	CHECK_EQ(emulate("8b 07", MMIO_BASE + 0x10, false), 0);
	CHECK_EQ(cpu.rip, 0);
	reset(INSN_MODE_32);
	cpu.rip = 0xffffffff;
	cpu.gprs[RBX] = 0x10;
	CHECK_EQ(emulate("8b 03", MMIO_BASE + 0x10, false), 0);
	CHECK_EQ(cpu.rip, 1);
}

UNIT_TEST(emulate_alu_forms)
{
	/* add [rbx],eax: 0xffffffff + 1 = 0 with CF ZF PF AF. */
	reset(INSN_MODE_64);
	cpu.gprs[RBX] = LINEAR64 + 0x80;
	cpu.gprs[RAX] = 1;
	put_device(0x80, 0xffffffff, 4);
	CHECK_EQ(emulate("01 03", MMIO_BASE + 0x80, true), 0);
	CHECK_EQ(fake.count, 2);
	check_access(0, 'r', MMIO_BASE + 0x80, 4, 0xffffffff);
	check_access(1, 'w', MMIO_BASE + 0x80, 4, 0);
	CHECK_EQ(cpu.rflags, FLAGS0 | INSN_RFLAGS_CF | INSN_RFLAGS_ZF | INSN_RFLAGS_PF | INSN_RFLAGS_AF);
	check_only_changed(0);

	/* add eax,[rbx]: the register is the destination, the device is only read. */
	reset(INSN_MODE_64);
	cpu.gprs[RBX] = LINEAR64 + 0x80;
	cpu.gprs[RAX] = 0xffffffff00000005ull;
	put_device(0x80, 0x7ffffffe, 4);
	CHECK_EQ(emulate("03 03", MMIO_BASE + 0x80, false), 0);
	CHECK_EQ(fake.count, 1);
	CHECK_EQ(cpu.gprs[RAX], 0x80000003ull);
	CHECK_EQ(cpu.rflags & INSN_RFLAGS_STATUS,
		 INSN_RFLAGS_OF | INSN_RFLAGS_SF | INSN_RFLAGS_AF | INSN_RFLAGS_PF);

	/* cmp [rbx],eax and cmp eax,[rbx] write nothing. */
	reset(INSN_MODE_64);
	cpu.gprs[RBX] = LINEAR64 + 0x80;
	cpu.gprs[RAX] = 5;
	put_device(0x80, 5, 4);
	CHECK_EQ(emulate("39 03", MMIO_BASE + 0x80, false), 0);
	CHECK_EQ(fake.count, 1);
	CHECK_EQ(cpu.rflags & INSN_RFLAGS_STATUS, INSN_RFLAGS_ZF | INSN_RFLAGS_PF);
	CHECK_EQ(emulate("3b 03", MMIO_BASE + 0x80, false), 0);
	CHECK_EQ(fake.count, 2);
	check_only_changed(0);

	/* and dword [rbx],0xfffffff0 (83 /4 ib: imm8 sign-extended). */
	reset(INSN_MODE_64);
	cpu.gprs[RBX] = LINEAR64 + 0x80;
	put_device(0x80, 0x12345678, 4);
	CHECK_EQ(emulate("83 23 f0", MMIO_BASE + 0x80, true), 0);
	CHECK_EQ(get_device(0x80, 4), 0x12345670);
	CHECK_EQ(cpu.rflags & INSN_RFLAGS_STATUS, 0);

	/* or qword [rbx],-1 */
	CHECK_EQ(emulate("48 83 0b ff", MMIO_BASE + 0x80, true), 0);
	CHECK_EQ(get_device(0x80, 8), ~0ull);
	CHECK_EQ(cpu.rflags & INSN_RFLAGS_STATUS, INSN_RFLAGS_SF | INSN_RFLAGS_PF);

	/* lock sub [rbx],ecx; lock xor byte [rbx],0x0f */
	put_device(0x80, 10, 8);
	cpu.gprs[RCX] = 11;
	CHECK_EQ(emulate("f0 29 0b", MMIO_BASE + 0x80, true), 0);
	CHECK_EQ(get_device(0x80, 8), 0x00000000ffffffffull);
	CHECK_EQ(cpu.rflags & INSN_RFLAGS_STATUS,
		 INSN_RFLAGS_CF | INSN_RFLAGS_SF | INSN_RFLAGS_PF | INSN_RFLAGS_AF);
	CHECK_EQ(emulate("f0 80 33 0f", MMIO_BASE + 0x80, true), 0);
	CHECK_EQ(get_device(0x80, 1), 0xf0);

	/* adc / sbb take CF in. */
	put_device(0x80, 0x10, 2);
	cpu.rflags |= INSN_RFLAGS_CF;
	CHECK_EQ(emulate("66 83 13 01", MMIO_BASE + 0x80, true), 0); /* adc word [rbx],1 */
	CHECK_EQ(get_device(0x80, 2), 0x12);
	cpu.rflags |= INSN_RFLAGS_CF;
	CHECK_EQ(emulate("66 83 1b 01", MMIO_BASE + 0x80, true), 0); /* sbb word [rbx],1 */
	CHECK_EQ(get_device(0x80, 2), 0x10);
}

UNIT_TEST(emulate_test_and_xchg)
{
	reset(INSN_MODE_64);
	cpu.gprs[RBX] = LINEAR64 + 0x90;
	put_device(0x90, 0x80, 1);
	CHECK_EQ(emulate("f6 03 80", MMIO_BASE + 0x90, false), 0); /* test byte [rbx],0x80 */
	CHECK_EQ(fake.count, 1);
	CHECK_EQ(cpu.rflags & INSN_RFLAGS_STATUS, INSN_RFLAGS_SF);
	cpu.gprs[RCX] = 0x7f;
	CHECK_EQ(emulate("84 0b", MMIO_BASE + 0x90, false), 0); /* test [rbx],cl */
	CHECK_EQ(fake.count, 2);
	CHECK_EQ(cpu.rflags & INSN_RFLAGS_STATUS, INSN_RFLAGS_ZF | INSN_RFLAGS_PF);
	check_only_changed(0);

	/* xchg [rbx],eax: the device and the register trade values. */
	reset(INSN_MODE_64);
	cpu.gprs[RBX] = LINEAR64 + 0x90;
	cpu.gprs[RAX] = 0xffffffff11111111ull;
	put_device(0x90, 0x22222222, 4);
	CHECK_EQ(emulate("87 03", MMIO_BASE + 0x90, true), 0);
	check_access(0, 'r', MMIO_BASE + 0x90, 4, 0x22222222);
	check_access(1, 'w', MMIO_BASE + 0x90, 4, 0x11111111);
	CHECK_EQ(cpu.gprs[RAX], 0x22222222);
	CHECK_EQ(cpu.rflags, FLAGS0);
	/* xchg [rbx],ah */
	cpu.gprs[RAX] = 0x1234;
	put_device(0x90, 0x56, 1);
	CHECK_EQ(emulate("86 23", MMIO_BASE + 0x90, true), 0);
	CHECK_EQ(cpu.gprs[RAX], 0x5634);
	CHECK_EQ(get_device(0x90, 1), 0x12);
}

UNIT_TEST(emulate_errors_leave_state_alone)
{
	/* The page offset does not match the fault: stale. */
	reset(INSN_MODE_64);
	cpu.gprs[RBX] = LINEAR64 + 0x10;
	CHECK_EQ(emulate("8b 03", MMIO_BASE + 0x14, false), -ESTALE);
	CHECK_EQ(fake.count, 0);
	CHECK(memcmp(&cpu, &cpu_before, sizeof(cpu)) == 0);

	/* An access crossing the page. */
	cpu.gprs[RBX] = LINEAR64 + 0xffe;
	CHECK_EQ(emulate("8b 03", MMIO_BASE + 0xffe, false), -EOPNOTSUPP);
	CHECK_EQ(fake.count, 0);
	CHECK_EQ(emulate("88 03", MMIO_BASE + 0xffe, true), 0); /* one byte fits */

	/* The device fails the read: nothing changes. */
	reset(INSN_MODE_64);
	cpu.gprs[RBX] = LINEAR64 + 0x10;
	fake.fail_at = 0;
	CHECK_EQ(emulate("8b 03", MMIO_BASE + 0x10, false), -EIO);
	CHECK(memcmp(&cpu, &cpu_before, sizeof(cpu)) == 0);

	/* The write half of a read-modify-write fails: flags untouched too. */
	reset(INSN_MODE_64);
	cpu.gprs[RBX] = LINEAR64 + 0x10;
	fake.fail_at = 1;
	CHECK_EQ(emulate("01 03", MMIO_BASE + 0x10, true), -EIO);
	CHECK(memcmp(&cpu, &cpu_before, sizeof(cpu)) == 0);
	reset(INSN_MODE_64);
	cpu.gprs[RBX] = LINEAR64 + 0x10;
	fake.fail_at = 1;
	CHECK_EQ(emulate("87 03", MMIO_BASE + 0x10, true), -EIO);
	CHECK(memcmp(&cpu, &cpu_before, sizeof(cpu)) == 0);

	/* A corrupted struct insn is refused before anything is indexed with it. */
	reset(INSN_MODE_64);
	uint8_t bytes[] = { 0x8b, 0x03 };
	struct insn bad;
	CHECK_EQ(insn_decode(bytes, sizeof(bytes), INSN_MODE_64, &bad), 0);
	bad.memory.base = 40;
	CHECK_EQ(insn_emulate_mmio(&bad, &cpu, &bus, MMIO_BASE, false), -EINVAL);
	CHECK_EQ(insn_decode(bytes, sizeof(bytes), INSN_MODE_64, &bad), 0);
	bad.operation = INSN_OPERATION_COUNT;
	CHECK_EQ(insn_emulate_mmio(&bad, &cpu, &bus, MMIO_BASE, false), -EINVAL);
	CHECK_EQ(insn_decode(bytes, sizeof(bytes), INSN_MODE_64, &bad), 0);
	bad.memory_size = 3;
	CHECK_EQ(insn_emulate_mmio(&bad, &cpu, &bus, MMIO_BASE, false), -EINVAL);
	/* Decoded for 32-bit code, run against a 64-bit vCPU. */
	CHECK_EQ(insn_decode(bytes, sizeof(bytes), INSN_MODE_32, &bad), 0);
	CHECK_EQ(insn_emulate_mmio(&bad, &cpu, &bus, MMIO_BASE, false), -EINVAL);
	CHECK_EQ(fake.count, 0);
}

/* --- string instructions ------------------------------------------------- */

UNIT_TEST(emulate_stos)
{
	reset(INSN_MODE_64);
	cpu.gprs[RDI] = LINEAR64 + 0x100;
	cpu.gprs[RAX] = 0x11111111deadbeefull;
	CHECK_EQ(emulate("ab", MMIO_BASE + 0x100, true), 0);
	CHECK_EQ(fake.count, 1);
	check_access(0, 'w', MMIO_BASE + 0x100, 4, 0xdeadbeef);
	CHECK_EQ(cpu.gprs[RDI], LINEAR64 + 0x104);
	CHECK_EQ(cpu.rip, RIP0 + 1);
	check_only_changed(BIT(RDI));

	/* rep stosd, all within the page. */
	reset(INSN_MODE_64);
	cpu.gprs[RDI] = LINEAR64 + 0x100;
	cpu.gprs[RCX] = 10;
	cpu.gprs[RAX] = 0xa5a5a5a5;
	CHECK_EQ(emulate("f3 ab", MMIO_BASE + 0x100, true), 0);
	CHECK_EQ(fake.count, 10);
	for (unsigned i = 0; i < 10; i++)
		check_access(i, 'w', MMIO_BASE + 0x100 + 4 * i, 4, 0xa5a5a5a5);
	CHECK_EQ(cpu.gprs[RCX], 0);
	CHECK_EQ(cpu.gprs[RDI], LINEAR64 + 0x100 + 40);
	CHECK_EQ(cpu.rip, RIP0 + 2);
	check_only_changed(BIT(RDI) | BIT(RCX));
}

/* A REP stops at the end of the faulting page and leaves RIP on itself; the
 * guest re-executes it and faults on the next page, possibly elsewhere. */
UNIT_TEST(emulate_rep_stops_at_the_page_end)
{
	reset(INSN_MODE_64);
	cpu.gprs[RDI] = LINEAR64 + 0xff0;
	cpu.gprs[RCX] = 100;
	cpu.gprs[RAX] = 0x5a;
	CHECK_EQ(emulate("f3 aa", MMIO_BASE + 0xff0, true), 0);
	CHECK_EQ(fake.count, 16);
	check_access(15, 'w', MMIO_BASE + 0xfff, 1, 0x5a);
	CHECK_EQ(cpu.gprs[RCX], 84);
	CHECK_EQ(cpu.gprs[RDI], LINEAR64 + 0x1000);
	CHECK_EQ(cpu.rip, RIP0);

	/* The next page is the second device page here. */
	CHECK_EQ(insn_emulate_mmio(&current, &cpu, &bus, MMIO_BASE + 0x1000, true), 0);
	CHECK_EQ(fake.count, 100);
	check_access(16, 'w', MMIO_BASE + 0x1000, 1, 0x5a);
	check_access(99, 'w', MMIO_BASE + 0x1000 + 83, 1, 0x5a);
	CHECK_EQ(cpu.gprs[RCX], 0);
	CHECK_EQ(cpu.rip, RIP0 + 2);

	/* An element that would cross the page end is left for the guest. */
	reset(INSN_MODE_64);
	cpu.gprs[RDI] = LINEAR64 + 0xff8;
	cpu.gprs[RCX] = 5;
	CHECK_EQ(emulate("f3 66 ab", MMIO_BASE + 0xff8, true), 0); /* rep stosw from 0xff8 */
	CHECK_EQ(fake.count, 4);
	CHECK_EQ(cpu.gprs[RCX], 1);
	CHECK_EQ(cpu.rip, RIP0);
	/* Odd start: the fourth word would cross. */
	reset(INSN_MODE_64);
	cpu.gprs[RDI] = LINEAR64 + 0xff9;
	cpu.gprs[RCX] = 5;
	CHECK_EQ(emulate("f3 66 ab", MMIO_BASE + 0xff9, true), 0);
	CHECK_EQ(fake.count, 3);
	CHECK_EQ(cpu.gprs[RCX], 2);
}

/* The fault may name a later element of the page than RDI (fast strings
 * run out of order), never an earlier one or one between elements. */
UNIT_TEST(emulate_rep_fault_on_a_later_element)
{
	reset(INSN_MODE_64);
	cpu.gprs[RDI] = LINEAR64 + 0x100;
	cpu.gprs[RCX] = 16;
	CHECK_EQ(emulate("f3 ab", MMIO_BASE + 0x108, true), 0);
	CHECK_EQ(fake.count, 16);
	check_access(0, 'w', MMIO_BASE + 0x100, 4, cpu.gprs[RAX] & 0xffffffff);
	CHECK_EQ(cpu.rip, RIP0 + 2);

	reset(INSN_MODE_64);
	cpu.gprs[RDI] = LINEAR64 + 0x100;
	cpu.gprs[RCX] = 16;
	CHECK_EQ(emulate("f3 ab", MMIO_BASE + 0x0fc, true), -ESTALE); /* before RDI */
	CHECK_EQ(emulate("f3 ab", MMIO_BASE + 0x106, true), -ESTALE); /* between elements */
	CHECK_EQ(emulate("f3 ab", MMIO_BASE + 0x140, true), -ESTALE); /* past RCX elements */
	CHECK_EQ(emulate("ab", MMIO_BASE + 0x104, true), -ESTALE);    /* no REP: one element */
	CHECK_EQ(fake.count, 0);
	cpu.rflags |= INSN_RFLAGS_DF;
	CHECK_EQ(emulate("f3 ab", MMIO_BASE + 0x0fc, true), 0); /* DF: earlier is later */
	CHECK_EQ(fake.count, 16);
	check_access(0, 'w', MMIO_BASE + 0x100, 4, cpu.gprs[RAX] & 0xffffffff);
	check_access(15, 'w', MMIO_BASE + 0x100 - 60, 4, cpu.gprs[RAX] & 0xffffffff);
}

UNIT_TEST(emulate_rep_with_direction_flag)
{
	reset(INSN_MODE_64);
	cpu.rflags |= INSN_RFLAGS_DF;
	cpu.gprs[RDI] = LINEAR64 + 0x006;
	cpu.gprs[RCX] = 10;
	CHECK_EQ(emulate("f3 66 ab", MMIO_BASE + 0x006, true), 0); /* std; rep stosw */
	CHECK_EQ(fake.count, 4);
	check_access(0, 'w', MMIO_BASE + 6, 2, cpu.gprs[RAX] & 0xffff);
	check_access(3, 'w', MMIO_BASE + 0, 2, cpu.gprs[RAX] & 0xffff);
	CHECK_EQ(cpu.gprs[RCX], 6);
	CHECK_EQ(cpu.gprs[RDI], LINEAR64 - 2);
	CHECK_EQ(cpu.rip, RIP0);
}

UNIT_TEST(emulate_rep_zero_count)
{
	reset(INSN_MODE_64);
	cpu.gprs[RDI] = LINEAR64 + 0x100;
	cpu.gprs[RCX] = 0;
	CHECK_EQ(emulate("f3 ab", MMIO_BASE + 0x100, true), 0);
	CHECK_EQ(fake.count, 0);
	CHECK_EQ(cpu.rip, RIP0 + 2);
	check_only_changed(0);
	/* 67: only ECX counts. */
	cpu.gprs[RCX] = 0xffffffff00000000ull;
	CHECK_EQ(emulate("67 f3 ab", 0, true), 0);
	CHECK_EQ(fake.count, 0);
}

/* At most 4096 iterations per call, whatever RCX says. */
UNIT_TEST(emulate_rep_iterations_bounded)
{
	reset(INSN_MODE_64);
	cpu.gprs[RDI] = LINEAR64;
	cpu.gprs[RCX] = 1ull << 40;
	CHECK_EQ(emulate("f3 aa", MMIO_BASE, true), 0);
	CHECK_EQ(fake.count, 4096);
	CHECK_EQ(cpu.gprs[RCX], (1ull << 40) - 4096);
	CHECK_EQ(cpu.gprs[RDI], LINEAR64 + 4096);
	CHECK_EQ(cpu.rip, RIP0);
}

UNIT_TEST(emulate_rep_movs_memory_to_device)
{
	reset(INSN_MODE_64);
	memcpy(&fake.ram[0x10], "hello, device", 13);
	cpu.gprs[RSI] = RAM_LINEAR + 0x10;
	cpu.gprs[RDI] = LINEAR64 + 0x200;
	cpu.gprs[RCX] = 13;
	/* memcpy_toio: the write to the device faulted. */
	CHECK_EQ(emulate("f3 a4", MMIO_BASE + 0x200, true), 0);
	CHECK_EQ(fake.count, 26);
	check_access(0, 'R', RAM_LINEAR + 0x10, 1, 'h');
	check_access(1, 'w', MMIO_BASE + 0x200, 1, 'h');
	CHECK(memcmp(&fake.device[0x200], "hello, device", 13) == 0);
	CHECK_EQ(cpu.gprs[RSI], RAM_LINEAR + 0x10 + 13);
	CHECK_EQ(cpu.gprs[RDI], LINEAR64 + 0x200 + 13);
	CHECK_EQ(cpu.gprs[RCX], 0);
	CHECK_EQ(cpu.rip, RIP0 + 2);
	check_only_changed(BIT(RSI) | BIT(RDI) | BIT(RCX));

	/* Same page offset on both sides: the fault's direction decides. */
	reset(INSN_MODE_64);
	cpu.gprs[RSI] = RAM_LINEAR + 0x1000;
	cpu.gprs[RDI] = LINEAR64;
	cpu.gprs[RCX] = 2;
	CHECK_EQ(emulate("f3 48 a5", MMIO_BASE, true), 0);
	check_access(0, 'R', RAM_LINEAR + 0x1000, 8, get_device(0, 8));
	check_access(1, 'w', MMIO_BASE, 8, get_device(0, 8));
	check_access(2, 'R', RAM_LINEAR + 0x1008, 8, get_device(8, 8));
}

UNIT_TEST(emulate_rep_movs_device_to_memory)
{
	reset(INSN_MODE_64);
	cpu.gprs[RSI] = LINEAR64 + 0x300;
	cpu.gprs[RDI] = RAM_LINEAR + 0x1000;
	cpu.gprs[RCX] = 8;
	/* memcpy_fromio: the read from the device faulted. */
	CHECK_EQ(emulate("f3 a5", MMIO_BASE + 0x300, false), 0);
	CHECK_EQ(fake.count, 16);
	check_access(0, 'r', MMIO_BASE + 0x300, 4, get_device(0x300, 4));
	check_access(1, 'W', RAM_LINEAR + 0x1000, 4, get_device(0x300, 4));
	CHECK(memcmp(&fake.ram[0x1000], &fake.device[0x300], 32) == 0);
	CHECK_EQ(cpu.gprs[RCX], 0);
	CHECK_EQ(cpu.rip, RIP0 + 2);

	/* Source segment override (FS) in 64-bit mode. */
	reset(INSN_MODE_64);
	cpu.segment_base[INSN_SEG_FS] = 0x1000;
	cpu.gprs[RSI] = LINEAR64 - 0x1000 + 0x40;
	cpu.gprs[RDI] = RAM_LINEAR;
	CHECK_EQ(emulate("64 a4", MMIO_BASE + 0x40, false), 0);
	check_access(0, 'r', MMIO_BASE + 0x40, 1, get_device(0x40, 1));
	check_access(1, 'W', RAM_LINEAR, 1, get_device(0x40, 1));
	CHECK_EQ(cpu.rip, RIP0 + 2);

	/* The other side faults on the third element: two done, then the error. */
	reset(INSN_MODE_64);
	cpu.gprs[RSI] = LINEAR64 + 0x300;
	cpu.gprs[RDI] = RAM_LINEAR;
	cpu.gprs[RCX] = 8;
	fake.fail_at = 5;
	CHECK_EQ(emulate("f3 a5", MMIO_BASE + 0x300, false), -EIO);
	CHECK_EQ(cpu.gprs[RCX], 6);
	CHECK_EQ(cpu.gprs[RSI], LINEAR64 + 0x308);
	CHECK_EQ(cpu.gprs[RDI], RAM_LINEAR + 8);
	CHECK_EQ(cpu.rip, RIP0);

	/* The MMIO side's offset must match the fault. */
	reset(INSN_MODE_64);
	cpu.gprs[RSI] = LINEAR64 + 0x300;
	cpu.gprs[RDI] = RAM_LINEAR;
	CHECK_EQ(emulate("a5", MMIO_BASE + 0x304, false), -ESTALE);
	CHECK_EQ(emulate("a5", MMIO_BASE + 0x300, true), -ESTALE); /* a write fault means RDI */
	CHECK_EQ(fake.count, 0);
}

UNIT_TEST(emulate_lods)
{
	reset(INSN_MODE_64);
	cpu.gprs[RSI] = LINEAR64 + 0x50;
	cpu.gprs[RAX] = ~0ull;
	put_device(0x50, 0x1234, 2);
	CHECK_EQ(emulate("66 ad", MMIO_BASE + 0x50, false), 0);
	CHECK_EQ(cpu.gprs[RAX], 0xffffffffffff1234ull);
	CHECK_EQ(cpu.gprs[RSI], LINEAR64 + 0x52);
	check_only_changed(BIT(RAX) | BIT(RSI));
}

/* Address size 32 in 64-bit mode: ECX ESI EDI, written zero-extended. */
UNIT_TEST(emulate_string_address_size_32)
{
	reset(INSN_MODE_64);
	cpu.gprs[RDI] = 0xaaaaaaaa7f001000ull;
	cpu.gprs[RCX] = 0xbbbbbbbb00000003ull;
	CHECK_EQ(emulate("67 f3 aa", MMIO_BASE, true), 0);
	CHECK_EQ(insn_mmio_linear_address(&current, &cpu_before, true), 0x7f001000);
	CHECK_EQ(fake.count, 3);
	CHECK_EQ(cpu.gprs[RCX], 0);
	CHECK_EQ(cpu.gprs[RDI], 0x7f001003);
	CHECK_EQ(cpu.rip, RIP0 + 3);
}

/* Address size 16: DI wraps at 64 KiB, which leaves the page; 16-bit
 * register writes keep the upper bits. */
UNIT_TEST(emulate_string_address_size_16)
{
	reset(INSN_MODE_32);
	cpu.segment_base[INSN_SEG_ES] = 0x10000;
	cpu.gprs[RDI] = 0x12340000fffeull;
	cpu.gprs[RCX] = 0x567800000003ull;
	CHECK_EQ(emulate("67 f3 aa", MMIO_BASE + 0xffe, true), 0);
	CHECK_EQ(insn_mmio_linear_address(&current, &cpu_before, true), 0x1fffe);
	CHECK_EQ(fake.count, 2);
	CHECK_EQ(cpu.gprs[RDI], 0x123400000000ull);
	CHECK_EQ(cpu.gprs[RCX], 0x567800000001ull);
	CHECK_EQ(cpu.rip, RIP0);
	/* Real mode: the same with the default sizes. */
	reset(INSN_MODE_16);
	cpu.segment_base[INSN_SEG_ES] = 0xb8000;
	cpu.gprs[RDI] = 0x0010;
	cpu.gprs[RCX] = 4;
	cpu.gprs[RAX] = 0x0741;
	CHECK_EQ(emulate("f3 ab", MMIO_BASE + 0x010, true), 0); /* rep stosw */
	CHECK_EQ(fake.count, 4);
	check_access(3, 'w', MMIO_BASE + 0x16, 2, 0x0741);
	CHECK_EQ(cpu.gprs[RDI] & 0xffff, 0x18);
	CHECK_EQ(cpu.rip, (RIP0 + 2) & 0xffff); /* IP is 16 bits */
}

/* --- flags, against this host's processor ----------------------------------- */

/* Every ALU operation and TEST, at every size, both directions: memory and
 * status flags must be what the host computes (AF only where defined). */
UNIT_TEST(alu_flags_match_the_host)
{
	static const unsigned sizes[] = { 1, 2, 4, 8 };
	uint32_t seed = 99;
	unsigned compared = 0;

	for (unsigned operation = 0; operation <= INSN_TEST; operation++) {
		for (unsigned s = 0; s < 4; s++) {
			unsigned size = sizes[s];
			uint64_t mask = size == 8 ? ~0ull : (1ull << (8 * size)) - 1;
			bool logical = operation == INSN_OR || operation == INSN_AND ||
				       operation == INSN_XOR || operation == INSN_TEST;
			uint64_t checked = INSN_RFLAGS_STATUS & ~(logical ? INSN_RFLAGS_AF : 0);

			for (unsigned round = 0; round < 3000; round++) {
				uint64_t a = interesting(&seed, size), b = interesting(&seed, size);
				uint64_t flags_in = FLAGS0 | (seed & INSN_RFLAGS_STATUS);
				bool to_register = round & 1 && operation != INSN_TEST;
				char hex[32];
				const char *prefix = size == 2 ? "66 " : size == 8 ? "48 " : "";
				unsigned opcode = operation == INSN_TEST ? 0x84 : operation * 8;

				opcode += (size != 1) + (to_register ? 2 : 0);
				snprintf(hex, sizeof(hex), "%s%02x 0b", prefix, opcode); /* op [rbx],cl / cl,[rbx] */
				reset(INSN_MODE_64);
				cpu.rflags = flags_in;
				cpu.gprs[RBX] = LINEAR64 + 0x100;
				uint64_t memory = to_register ? b : a, reg = to_register ? a : b;
				cpu.gprs[RCX] = reg | (0x5555555555555555ull & ~mask);
				put_device(0x100, memory, 8);

				uint64_t host_flags = flags_in;
				uint64_t expected = host_alu(operation, size, a, b, &host_flags);
				CHECK_EQ(emulate(hex, MMIO_BASE + 0x100, !to_register), 0);
				bool writes = operation != INSN_CMP && operation != INSN_TEST;
				uint64_t memory_after = get_device(0x100, 8);
				uint64_t reg_after = cpu.gprs[RCX];
				if (to_register) {
					CHECK_EQ(memory_after, memory);
					uint64_t want = writes ? expected & mask : reg;
					if (size == 4 && writes)
						CHECK_EQ(reg_after, want);
					else
						CHECK_EQ(reg_after, (cpu_before.gprs[RCX] & ~mask) | want);
				} else {
					uint64_t want = writes ? expected & mask : memory & mask;
					CHECK_EQ(memory_after, (memory & ~mask) | want);
					CHECK_EQ(reg_after, cpu_before.gprs[RCX]);
				}
				if ((cpu.rflags & checked) != (host_flags & checked)) {
					fprintf(stderr, "%s size %u a=%#llx b=%#llx in=%#llx: %#llx vs host %#llx\n",
						hex, size, (unsigned long long)a, (unsigned long long)b,
						(unsigned long long)flags_in, (unsigned long long)cpu.rflags,
						(unsigned long long)host_flags);
					CHECK_EQ(cpu.rflags & checked, host_flags & checked);
					return;
				}
				if (logical)
					CHECK_EQ(cpu.rflags & INSN_RFLAGS_AF, 0);
				CHECK_EQ(cpu.rflags & ~INSN_RFLAGS_STATUS, flags_in & ~INSN_RFLAGS_STATUS);
				compared++;
			}
		}
	}
	CHECK_EQ(compared, 9 * 4 * 3000);
}

/*
 * The MMIO instruction decoder and emulator (vmkernel/vm/insn_decode.c,
 * insn_emulate.c). Decoding: a table of encodings in 16-, 32- and 64-bit
 * code with the expected result as a canonical line (test/fuzz/insn_format.h;
 * every row was checked against objdump with `test/fuzz/insn-objdump-diff
 * --cases test/unit/test_insn.c`), the errors, truncation at every length and
 * every two-byte start. Emulation: each form against a fake device that logs
 * accesses, string instructions across page ends, and the ALU flags compared
 * with what this host's own processor computes.
 */
#include "unit.h"

#include <vm/insn_decode.h>
#include <vm/insn_emulate.h>
#include <lib/errno.h>

#include <stdbool.h>

#include "../fuzz/host_alu.h"
#include "../fuzz/insn_format.h"

/* --- decoding ------------------------------------------------------------- */

static enum insn_mode mode_of_bits(int bits)
{
	return bits == 16 ? INSN_MODE_16 : bits == 32 ? INSN_MODE_32 : INSN_MODE_64;
}

static size_t parse_hex(const char *hex, uint8_t *out, size_t max)
{
	size_t count = 0;
	unsigned byte;
	int used;

	while (count < max && sscanf(hex, " %2x%n", &byte, &used) == 1) {
		out[count++] = (uint8_t)byte;
		hex += used;
	}
	return count;
}

/* Decodes from a heap buffer of exactly `available` bytes, so ASan reports
 * any read past it. */
static int decode_exact(const uint8_t *bytes, size_t available, enum insn_mode mode,
			struct insn *out)
{
	uint8_t *copy = malloc(available ? available : 1);
	int err;

	memcpy(copy, bytes, available);
	err = insn_decode(copy, available, mode, out);
	free(copy);
	return err;
}

struct decode_case {
	int mode;
	const char *hex;
	const char *expected; /* insn_format() line */
};

static const struct decode_case decode_cases[] = {
	{ 64, "88 00", "len=2 op=mov lock=0 rep=0 osz=1 asz=8 ops=m1:ds:rax+-*1+0|al" },
	{ 64, "88 20", "len=2 op=mov lock=0 rep=0 osz=1 asz=8 ops=m1:ds:rax+-*1+0|ah" },
	{ 64, "40 88 20", "len=3 op=mov lock=0 rep=0 osz=1 asz=8 ops=m1:ds:rax+-*1+0|spl" },
	{ 64, "44 88 20", "len=3 op=mov lock=0 rep=0 osz=1 asz=8 ops=m1:ds:rax+-*1+0|r12b" },
	{ 64, "41 88 38", "len=3 op=mov lock=0 rep=0 osz=1 asz=8 ops=m1:ds:r8+-*1+0|dil" },
	{ 64, "88 3c 24", "len=3 op=mov lock=0 rep=0 osz=1 asz=8 ops=m1:ss:rsp+-*1+0|bh" },
	{ 64, "89 04 98", "len=3 op=mov lock=0 rep=0 osz=4 asz=8 ops=m4:ds:rax+rbx*4+0|eax" },
	{ 64, "48 89 04 98", "len=4 op=mov lock=0 rep=0 osz=8 asz=8 ops=m8:ds:rax+rbx*4+0|rax" },
	{ 64, "66 89 00", "len=3 op=mov lock=0 rep=0 osz=2 asz=8 ops=m2:ds:rax+-*1+0|ax" },
	{ 64, "66 48 89 00", "len=4 op=mov lock=0 rep=0 osz=8 asz=8 ops=m8:ds:rax+-*1+0|rax" },
	{ 64, "4c 89 3c 24", "len=4 op=mov lock=0 rep=0 osz=8 asz=8 ops=m8:ss:rsp+-*1+0|r15" },
	{ 64, "8a 05 10 00 00 00", "len=6 op=mov lock=0 rep=0 osz=1 asz=8 ops=al|m1:ds:rip+-*1+10" },
	{ 64, "8b 05 f0 ff ff ff", "len=6 op=mov lock=0 rep=0 osz=4 asz=8 ops=eax|m4:ds:rip+-*1+fffffffffffffff0" },
	{ 64, "67 8b 05 10 00 00 00", "len=7 op=mov lock=0 rep=0 osz=4 asz=4 ops=eax|m4:ds:eip+-*1+10" },
	{ 64, "8b 04 24", "len=3 op=mov lock=0 rep=0 osz=4 asz=8 ops=eax|m4:ss:rsp+-*1+0" },
	{ 64, "8b 45 00", "len=3 op=mov lock=0 rep=0 osz=4 asz=8 ops=eax|m4:ss:rbp+-*1+0" },
	{ 64, "41 8b 45 00", "len=4 op=mov lock=0 rep=0 osz=4 asz=8 ops=eax|m4:ds:r13+-*1+0" },
	{ 64, "41 8b 04 24", "len=4 op=mov lock=0 rep=0 osz=4 asz=8 ops=eax|m4:ds:r12+-*1+0" },
	{ 64, "8b 04 25 78 56 34 12", "len=7 op=mov lock=0 rep=0 osz=4 asz=8 ops=eax|m4:ds:-+-*1+12345678" },
	{ 64, "42 8b 04 20", "len=4 op=mov lock=0 rep=0 osz=4 asz=8 ops=eax|m4:ds:rax+r12*1+0" },
	{ 64, "4a 8b 04 e5 00 10 00 00", "len=8 op=mov lock=0 rep=0 osz=8 asz=8 ops=rax|m8:ds:-+r12*8+1000" },
	{ 64, "41 8b 04 25 00 20 00 00", "len=8 op=mov lock=0 rep=0 osz=4 asz=8 ops=eax|m4:ds:-+-*1+2000" },
	{ 64, "43 8b 04 2c", "len=4 op=mov lock=0 rep=0 osz=4 asz=8 ops=eax|m4:ds:r12+r13*1+0" },
	{ 64, "8b 44 24 08", "len=4 op=mov lock=0 rep=0 osz=4 asz=8 ops=eax|m4:ss:rsp+-*1+8" },
	{ 64, "8b 84 24 00 01 00 00", "len=7 op=mov lock=0 rep=0 osz=4 asz=8 ops=eax|m4:ss:rsp+-*1+100" },
	{ 64, "8b 40 f0", "len=3 op=mov lock=0 rep=0 osz=4 asz=8 ops=eax|m4:ds:rax+-*1+fffffffffffffff0" },
	{ 64, "8b 80 00 ff ff ff", "len=6 op=mov lock=0 rep=0 osz=4 asz=8 ops=eax|m4:ds:rax+-*1+ffffffffffffff00" },
	{ 64, "8b 04 4b", "len=3 op=mov lock=0 rep=0 osz=4 asz=8 ops=eax|m4:ds:rbx+rcx*2+0" },
	{ 64, "8b 44 b5 7f", "len=4 op=mov lock=0 rep=0 osz=4 asz=8 ops=eax|m4:ss:rbp+rsi*4+7f" },
	{ 64, "67 8b 04 88", "len=4 op=mov lock=0 rep=0 osz=4 asz=4 ops=eax|m4:ds:eax+ecx*4+0" },
	{ 64, "64 8b 00", "len=3 op=mov lock=0 rep=0 osz=4 asz=8 ops=eax|m4:fs:rax+-*1+0" },
	{ 64, "65 48 8b 04 25 28 00 00 00", "len=9 op=mov lock=0 rep=0 osz=8 asz=8 ops=rax|m8:gs:-+-*1+28" },
	{ 64, "26 8b 00", "len=3 op=mov lock=0 rep=0 osz=4 asz=8 ops=eax|m4:ds:rax+-*1+0" },
	{ 64, "36 8b 00", "len=3 op=mov lock=0 rep=0 osz=4 asz=8 ops=eax|m4:ds:rax+-*1+0" },
	{ 64, "64 26 8b 00", "len=4 op=mov lock=0 rep=0 osz=4 asz=8 ops=eax|m4:fs:rax+-*1+0" },
	{ 64, "26 64 8b 00", "len=4 op=mov lock=0 rep=0 osz=4 asz=8 ops=eax|m4:fs:rax+-*1+0" },
	{ 64, "c6 00 ff", "len=3 op=mov lock=0 rep=0 osz=1 asz=8 ops=m1:ds:rax+-*1+0|iff" },
	{ 64, "c6 40 10 ab", "len=4 op=mov lock=0 rep=0 osz=1 asz=8 ops=m1:ds:rax+-*1+10|iab" },
	{ 64, "c7 00 78 56 34 12", "len=6 op=mov lock=0 rep=0 osz=4 asz=8 ops=m4:ds:rax+-*1+0|i12345678" },
	{ 64, "48 c7 00 ff ff ff ff", "len=7 op=mov lock=0 rep=0 osz=8 asz=8 ops=m8:ds:rax+-*1+0|iffffffffffffffff" },
	{ 64, "66 c7 00 34 12", "len=5 op=mov lock=0 rep=0 osz=2 asz=8 ops=m2:ds:rax+-*1+0|i1234" },
	{ 64, "c7 05 10 00 00 00 01 00 00 00", "len=10 op=mov lock=0 rep=0 osz=4 asz=8 ops=m4:ds:rip+-*1+10|i1" },
	{ 64, "41 c6 84 24 00 01 00 00 7f", "len=9 op=mov lock=0 rep=0 osz=1 asz=8 ops=m1:ds:r12+-*1+100|i7f" },
	{ 64, "a0 88 77 66 55 44 33 22 11", "len=9 op=mov lock=0 rep=0 osz=1 asz=8 ops=al|m1:ds:-+-*1+1122334455667788" },
	{ 64, "a1 00 10 00 fe 00 00 00 00", "len=9 op=mov lock=0 rep=0 osz=4 asz=8 ops=eax|m4:ds:-+-*1+fe001000" },
	{ 64, "a2 00 10 00 fe 00 00 00 00", "len=9 op=mov lock=0 rep=0 osz=1 asz=8 ops=m1:ds:-+-*1+fe001000|al" },
	{ 64, "48 a3 00 10 00 fe 00 00 00 00", "len=10 op=mov lock=0 rep=0 osz=8 asz=8 ops=m8:ds:-+-*1+fe001000|rax" },
	{ 64, "66 a1 00 10 00 fe 00 00 00 00", "len=10 op=mov lock=0 rep=0 osz=2 asz=8 ops=ax|m2:ds:-+-*1+fe001000" },
	{ 64, "67 a1 00 10 00 fe", "len=6 op=mov lock=0 rep=0 osz=4 asz=4 ops=eax|m4:ds:-+-*1+fe001000" },
	{ 64, "0f b6 00", "len=3 op=movzx lock=0 rep=0 osz=4 asz=8 ops=eax|m1:ds:rax+-*1+0" },
	{ 64, "0f b7 00", "len=3 op=movzx lock=0 rep=0 osz=4 asz=8 ops=eax|m2:ds:rax+-*1+0" },
	{ 64, "48 0f b6 00", "len=4 op=movzx lock=0 rep=0 osz=8 asz=8 ops=rax|m1:ds:rax+-*1+0" },
	{ 64, "66 0f b6 00", "len=4 op=movzx lock=0 rep=0 osz=2 asz=8 ops=ax|m1:ds:rax+-*1+0" },
	{ 64, "0f be 00", "len=3 op=movsx lock=0 rep=0 osz=4 asz=8 ops=eax|m1:ds:rax+-*1+0" },
	{ 64, "0f bf 00", "len=3 op=movsx lock=0 rep=0 osz=4 asz=8 ops=eax|m2:ds:rax+-*1+0" },
	{ 64, "48 0f bf 00", "len=4 op=movsx lock=0 rep=0 osz=8 asz=8 ops=rax|m2:ds:rax+-*1+0" },
	{ 64, "44 0f b6 00", "len=4 op=movzx lock=0 rep=0 osz=4 asz=8 ops=r8d|m1:ds:rax+-*1+0" },
	{ 64, "48 63 00", "len=3 op=movsxd lock=0 rep=0 osz=8 asz=8 ops=rax|m4:ds:rax+-*1+0" },
	{ 64, "4c 63 48 04", "len=4 op=movsxd lock=0 rep=0 osz=8 asz=8 ops=r9|m4:ds:rax+-*1+4" },
	{ 64, "63 00", "len=2 op=movsxd lock=0 rep=0 osz=4 asz=8 ops=eax|m4:ds:rax+-*1+0" },
	{ 64, "a4", "len=1 op=movs lock=0 rep=0 osz=1 asz=8 ops=m1:es:rdi+-*1+0|m1:ds:rsi+-*1+0" },
	{ 64, "a5", "len=1 op=movs lock=0 rep=0 osz=4 asz=8 ops=m4:es:rdi+-*1+0|m4:ds:rsi+-*1+0" },
	{ 64, "48 a5", "len=2 op=movs lock=0 rep=0 osz=8 asz=8 ops=m8:es:rdi+-*1+0|m8:ds:rsi+-*1+0" },
	{ 64, "66 a5", "len=2 op=movs lock=0 rep=0 osz=2 asz=8 ops=m2:es:rdi+-*1+0|m2:ds:rsi+-*1+0" },
	{ 64, "f3 a4", "len=2 op=movs lock=0 rep=1 osz=1 asz=8 ops=m1:es:rdi+-*1+0|m1:ds:rsi+-*1+0" },
	{ 64, "f3 48 a5", "len=3 op=movs lock=0 rep=1 osz=8 asz=8 ops=m8:es:rdi+-*1+0|m8:ds:rsi+-*1+0" },
	{ 64, "f3 ab", "len=2 op=stos lock=0 rep=1 osz=4 asz=8 ops=m4:es:rdi+-*1+0|eax" },
	{ 64, "aa", "len=1 op=stos lock=0 rep=0 osz=1 asz=8 ops=m1:es:rdi+-*1+0|al" },
	{ 64, "67 a5", "len=2 op=movs lock=0 rep=0 osz=4 asz=4 ops=m4:es:edi+-*1+0|m4:ds:esi+-*1+0" },
	{ 64, "64 a5", "len=2 op=movs lock=0 rep=0 osz=4 asz=8 ops=m4:es:rdi+-*1+0|m4:fs:rsi+-*1+0" },
	{ 64, "64 aa", "len=2 op=stos lock=0 rep=0 osz=1 asz=8 ops=m1:es:rdi+-*1+0|al" },
	{ 64, "ac", "len=1 op=lods lock=0 rep=0 osz=1 asz=8 ops=al|m1:ds:rsi+-*1+0" },
	{ 64, "48 ad", "len=2 op=lods lock=0 rep=0 osz=8 asz=8 ops=rax|m8:ds:rsi+-*1+0" },
	{ 64, "f2 a5", "len=2 op=movs lock=0 rep=1 osz=4 asz=8 ops=m4:es:rdi+-*1+0|m4:ds:rsi+-*1+0" },
	{ 64, "01 00", "len=2 op=add lock=0 rep=0 osz=4 asz=8 ops=m4:ds:rax+-*1+0|eax" },
	{ 64, "03 00", "len=2 op=add lock=0 rep=0 osz=4 asz=8 ops=eax|m4:ds:rax+-*1+0" },
	{ 64, "09 08", "len=2 op=or lock=0 rep=0 osz=4 asz=8 ops=m4:ds:rax+-*1+0|ecx" },
	{ 64, "0b 08", "len=2 op=or lock=0 rep=0 osz=4 asz=8 ops=ecx|m4:ds:rax+-*1+0" },
	{ 64, "11 10", "len=2 op=adc lock=0 rep=0 osz=4 asz=8 ops=m4:ds:rax+-*1+0|edx" },
	{ 64, "19 18", "len=2 op=sbb lock=0 rep=0 osz=4 asz=8 ops=m4:ds:rax+-*1+0|ebx" },
	{ 64, "21 20", "len=2 op=and lock=0 rep=0 osz=4 asz=8 ops=m4:ds:rax+-*1+0|esp" },
	{ 64, "23 20", "len=2 op=and lock=0 rep=0 osz=4 asz=8 ops=esp|m4:ds:rax+-*1+0" },
	{ 64, "29 28", "len=2 op=sub lock=0 rep=0 osz=4 asz=8 ops=m4:ds:rax+-*1+0|ebp" },
	{ 64, "31 30", "len=2 op=xor lock=0 rep=0 osz=4 asz=8 ops=m4:ds:rax+-*1+0|esi" },
	{ 64, "39 38", "len=2 op=cmp lock=0 rep=0 osz=4 asz=8 ops=m4:ds:rax+-*1+0|edi" },
	{ 64, "3b 38", "len=2 op=cmp lock=0 rep=0 osz=4 asz=8 ops=edi|m4:ds:rax+-*1+0" },
	{ 64, "00 20", "len=2 op=add lock=0 rep=0 osz=1 asz=8 ops=m1:ds:rax+-*1+0|ah" },
	{ 64, "02 20", "len=2 op=add lock=0 rep=0 osz=1 asz=8 ops=ah|m1:ds:rax+-*1+0" },
	{ 64, "80 00 01", "len=3 op=add lock=0 rep=0 osz=1 asz=8 ops=m1:ds:rax+-*1+0|i1" },
	{ 64, "80 38 ff", "len=3 op=cmp lock=0 rep=0 osz=1 asz=8 ops=m1:ds:rax+-*1+0|iff" },
	{ 64, "83 20 f0", "len=3 op=and lock=0 rep=0 osz=4 asz=8 ops=m4:ds:rax+-*1+0|ifffffff0" },
	{ 64, "48 83 08 ff", "len=4 op=or lock=0 rep=0 osz=8 asz=8 ops=m8:ds:rax+-*1+0|iffffffffffffffff" },
	{ 64, "81 00 78 56 34 12", "len=6 op=add lock=0 rep=0 osz=4 asz=8 ops=m4:ds:rax+-*1+0|i12345678" },
	{ 64, "66 81 00 34 12", "len=5 op=add lock=0 rep=0 osz=2 asz=8 ops=m2:ds:rax+-*1+0|i1234" },
	{ 64, "48 81 30 00 00 00 80", "len=7 op=xor lock=0 rep=0 osz=8 asz=8 ops=m8:ds:rax+-*1+0|iffffffff80000000" },
	{ 64, "f0 01 00", "len=3 op=add lock=1 rep=0 osz=4 asz=8 ops=m4:ds:rax+-*1+0|eax" },
	{ 64, "f0 83 08 01", "len=4 op=or lock=1 rep=0 osz=4 asz=8 ops=m4:ds:rax+-*1+0|i1" },
	{ 64, "f0 87 00", "len=3 op=xchg lock=1 rep=0 osz=4 asz=8 ops=m4:ds:rax+-*1+0|eax" },
	{ 64, "86 00", "len=2 op=xchg lock=0 rep=0 osz=1 asz=8 ops=m1:ds:rax+-*1+0|al" },
	{ 64, "84 00", "len=2 op=test lock=0 rep=0 osz=1 asz=8 ops=m1:ds:rax+-*1+0|al" },
	{ 64, "85 00", "len=2 op=test lock=0 rep=0 osz=4 asz=8 ops=m4:ds:rax+-*1+0|eax" },
	{ 64, "f6 00 01", "len=3 op=test lock=0 rep=0 osz=1 asz=8 ops=m1:ds:rax+-*1+0|i1" },
	{ 64, "f7 00 78 56 34 12", "len=6 op=test lock=0 rep=0 osz=4 asz=8 ops=m4:ds:rax+-*1+0|i12345678" },
	{ 64, "48 f7 00 00 00 00 80", "len=7 op=test lock=0 rep=0 osz=8 asz=8 ops=m8:ds:rax+-*1+0|iffffffff80000000" },
	{ 64, "66 f7 00 34 12", "len=5 op=test lock=0 rep=0 osz=2 asz=8 ops=m2:ds:rax+-*1+0|i1234" },
	{ 64, "f3 89 00", "len=3 op=mov lock=0 rep=0 osz=4 asz=8 ops=m4:ds:rax+-*1+0|eax" },
	{ 64, "f2 f0 01 00", "len=4 op=add lock=1 rep=0 osz=4 asz=8 ops=m4:ds:rax+-*1+0|eax" },
	{ 32, "8b 00", "len=2 op=mov lock=0 rep=0 osz=4 asz=4 ops=eax|m4:ds:eax+-*1+0" },
	{ 32, "8b 05 00 10 00 00", "len=6 op=mov lock=0 rep=0 osz=4 asz=4 ops=eax|m4:ds:-+-*1+1000" },
	{ 32, "8b 45 08", "len=3 op=mov lock=0 rep=0 osz=4 asz=4 ops=eax|m4:ss:ebp+-*1+8" },
	{ 32, "8b 04 24", "len=3 op=mov lock=0 rep=0 osz=4 asz=4 ops=eax|m4:ss:esp+-*1+0" },
	{ 32, "8b 04 8d 00 10 00 00", "len=7 op=mov lock=0 rep=0 osz=4 asz=4 ops=eax|m4:ds:-+ecx*4+1000" },
	{ 32, "66 8b 00", "len=3 op=mov lock=0 rep=0 osz=2 asz=4 ops=ax|m2:ds:eax+-*1+0" },
	{ 32, "67 8b 00", "len=3 op=mov lock=0 rep=0 osz=4 asz=2 ops=eax|m4:ds:bx+si*1+0" },
	{ 32, "67 8b 46 02", "len=4 op=mov lock=0 rep=0 osz=4 asz=2 ops=eax|m4:ss:bp+-*1+2" },
	{ 32, "67 8b 06 34 12", "len=5 op=mov lock=0 rep=0 osz=4 asz=2 ops=eax|m4:ds:-+-*1+1234" },
	{ 32, "a1 00 10 00 00", "len=5 op=mov lock=0 rep=0 osz=4 asz=4 ops=eax|m4:ds:-+-*1+1000" },
	{ 32, "67 a1 34 12", "len=4 op=mov lock=0 rep=0 osz=4 asz=2 ops=eax|m4:ds:-+-*1+1234" },
	{ 32, "82 00 05", "len=3 op=add lock=0 rep=0 osz=1 asz=4 ops=m1:ds:eax+-*1+0|i5" },
	{ 32, "a5", "len=1 op=movs lock=0 rep=0 osz=4 asz=4 ops=m4:es:edi+-*1+0|m4:ds:esi+-*1+0" },
	{ 32, "67 a5", "len=2 op=movs lock=0 rep=0 osz=4 asz=2 ops=m4:es:di+-*1+0|m4:ds:si+-*1+0" },
	{ 32, "66 a5", "len=2 op=movs lock=0 rep=0 osz=2 asz=4 ops=m2:es:edi+-*1+0|m2:ds:esi+-*1+0" },
	{ 32, "f3 a5", "len=2 op=movs lock=0 rep=1 osz=4 asz=4 ops=m4:es:edi+-*1+0|m4:ds:esi+-*1+0" },
	{ 32, "36 a5", "len=2 op=movs lock=0 rep=0 osz=4 asz=4 ops=m4:es:edi+-*1+0|m4:ss:esi+-*1+0" },
	{ 32, "26 a5", "len=2 op=movs lock=0 rep=0 osz=4 asz=4 ops=m4:es:edi+-*1+0|m4:es:esi+-*1+0" },
	{ 32, "2e 8b 00", "len=3 op=mov lock=0 rep=0 osz=4 asz=4 ops=eax|m4:cs:eax+-*1+0" },
	{ 32, "36 8b 00", "len=3 op=mov lock=0 rep=0 osz=4 asz=4 ops=eax|m4:ss:eax+-*1+0" },
	{ 32, "88 20", "len=2 op=mov lock=0 rep=0 osz=1 asz=4 ops=m1:ds:eax+-*1+0|ah" },
	{ 32, "88 64 24 04", "len=4 op=mov lock=0 rep=0 osz=1 asz=4 ops=m1:ss:esp+-*1+4|ah" },
	{ 32, "0f b7 4d f8", "len=4 op=movzx lock=0 rep=0 osz=4 asz=4 ops=ecx|m2:ss:ebp+-*1+fffffff8" },
	{ 32, "f0 21 0d 00 00 c0 fe", "len=7 op=and lock=1 rep=0 osz=4 asz=4 ops=m4:ds:-+-*1+fec00000|ecx" },
	{ 16, "8b 00", "len=2 op=mov lock=0 rep=0 osz=2 asz=2 ops=ax|m2:ds:bx+si*1+0" },
	{ 16, "8b 01", "len=2 op=mov lock=0 rep=0 osz=2 asz=2 ops=ax|m2:ds:bx+di*1+0" },
	{ 16, "8b 02", "len=2 op=mov lock=0 rep=0 osz=2 asz=2 ops=ax|m2:ss:bp+si*1+0" },
	{ 16, "8b 03", "len=2 op=mov lock=0 rep=0 osz=2 asz=2 ops=ax|m2:ss:bp+di*1+0" },
	{ 16, "8b 04", "len=2 op=mov lock=0 rep=0 osz=2 asz=2 ops=ax|m2:ds:si+-*1+0" },
	{ 16, "8b 05", "len=2 op=mov lock=0 rep=0 osz=2 asz=2 ops=ax|m2:ds:di+-*1+0" },
	{ 16, "8b 06 34 12", "len=4 op=mov lock=0 rep=0 osz=2 asz=2 ops=ax|m2:ds:-+-*1+1234" },
	{ 16, "8b 07", "len=2 op=mov lock=0 rep=0 osz=2 asz=2 ops=ax|m2:ds:bx+-*1+0" },
	{ 16, "8b 46 02", "len=3 op=mov lock=0 rep=0 osz=2 asz=2 ops=ax|m2:ss:bp+-*1+2" },
	{ 16, "8b 86 34 12", "len=4 op=mov lock=0 rep=0 osz=2 asz=2 ops=ax|m2:ss:bp+-*1+1234" },
	{ 16, "8b 47 ff", "len=3 op=mov lock=0 rep=0 osz=2 asz=2 ops=ax|m2:ds:bx+-*1+ffff" },
	{ 16, "66 8b 00", "len=3 op=mov lock=0 rep=0 osz=4 asz=2 ops=eax|m4:ds:bx+si*1+0" },
	{ 16, "67 8b 00", "len=3 op=mov lock=0 rep=0 osz=2 asz=4 ops=ax|m2:ds:eax+-*1+0" },
	{ 16, "67 66 8b 04 24", "len=5 op=mov lock=0 rep=0 osz=4 asz=4 ops=eax|m4:ss:esp+-*1+0" },
	{ 16, "a1 34 12", "len=3 op=mov lock=0 rep=0 osz=2 asz=2 ops=ax|m2:ds:-+-*1+1234" },
	{ 16, "a5", "len=1 op=movs lock=0 rep=0 osz=2 asz=2 ops=m2:es:di+-*1+0|m2:ds:si+-*1+0" },
	{ 16, "66 a5", "len=2 op=movs lock=0 rep=0 osz=4 asz=2 ops=m4:es:di+-*1+0|m4:ds:si+-*1+0" },
	{ 16, "67 a5", "len=2 op=movs lock=0 rep=0 osz=2 asz=4 ops=m2:es:edi+-*1+0|m2:ds:esi+-*1+0" },
	{ 16, "f3 aa", "len=2 op=stos lock=0 rep=1 osz=1 asz=2 ops=m1:es:di+-*1+0|al" },
	{ 16, "c7 06 34 12 78 56", "len=6 op=mov lock=0 rep=0 osz=2 asz=2 ops=m2:ds:-+-*1+1234|i5678" },
	{ 16, "66 c7 06 34 12 78 56 34 12", "len=9 op=mov lock=0 rep=0 osz=4 asz=2 ops=m4:ds:-+-*1+1234|i12345678" },
	{ 16, "88 26 34 12", "len=4 op=mov lock=0 rep=0 osz=1 asz=2 ops=m1:ds:-+-*1+1234|ah" },
	{ 16, "3e 8b 02", "len=3 op=mov lock=0 rep=0 osz=2 asz=2 ops=ax|m2:ds:bp+si*1+0" },
	{ 16, "26 89 1d", "len=3 op=mov lock=0 rep=0 osz=2 asz=2 ops=m2:es:di+-*1+0|bx" },
	{ 16, "83 0f 80", "len=3 op=or lock=0 rep=0 osz=2 asz=2 ops=m2:ds:bx+-*1+0|iff80" },
};

UNIT_TEST(decode_table)
{
	for (size_t i = 0; i < sizeof(decode_cases) / sizeof(decode_cases[0]); i++) {
		const struct decode_case *c = &decode_cases[i];
		uint8_t bytes[32];
		size_t count = parse_hex(c->hex, bytes, sizeof(bytes));
		struct insn insn;
		char text[256];
		int err = decode_exact(bytes, count, mode_of_bits(c->mode), &insn);

		if (err) {
			fprintf(stderr, "%d-bit %s: error %d, expected %s\n", c->mode, c->hex, err,
				c->expected);
			CHECK_EQ(err, 0);
			continue;
		}
		insn_format(&insn, text, sizeof(text));
		if (strcmp(text, c->expected) != 0)
			fprintf(stderr, "%d-bit %s\n", c->mode, c->hex);
		CHECK_STR(text, c->expected);
		CHECK_EQ(insn.length, count);
	}
}

/* An instruction complete at n bytes is -EAGAIN at every shorter length and
 * decodes identically whatever follows it. */
UNIT_TEST(decode_truncated_and_followed)
{
	for (size_t i = 0; i < sizeof(decode_cases) / sizeof(decode_cases[0]); i++) {
		const struct decode_case *c = &decode_cases[i];
		uint8_t bytes[32];
		size_t count = parse_hex(c->hex, bytes, 15);
		enum insn_mode mode = mode_of_bits(c->mode);
		struct insn exact, longer, partial;

		CHECK_EQ(decode_exact(bytes, count, mode, &exact), 0);
		for (size_t n = 0; n < count; n++) {
			CHECK_EQ(decode_exact(bytes, n, mode, &partial), -EAGAIN);
			CHECK_EQ(partial.length, 0);
		}
		for (size_t n = count; n < sizeof(bytes); n++)
			bytes[n] = (uint8_t)(0x90 + n * 37);
		CHECK_EQ(decode_exact(bytes, sizeof(bytes), mode, &longer), 0);
		CHECK(memcmp(&exact, &longer, sizeof(exact)) == 0);
	}
}

struct error_case {
	int mode;
	const char *hex;
	int expected;
};

static const struct error_case error_cases[] = {
	{ 64, "", -EAGAIN },
	{ 64, "8b", -EAGAIN },                      /* ModRM missing */
	{ 64, "8b 05 00 00 00", -EAGAIN },          /* disp32 cut short */
	{ 64, "8b 04", -EAGAIN },                   /* SIB missing */
	{ 64, "c7 00 00 00 00", -EAGAIN },          /* imm32 cut short */
	{ 64, "48 a1 00 00 00 00 00 00 00", -EAGAIN }, /* moffs64 cut short */
	{ 64, "66 66 66", -EAGAIN },                /* prefixes only */
	{ 64, "0f", -EAGAIN },
	/* 16 bytes: 14 prefixes, opcode, ModRM. */
	{ 64, "66 66 66 66 66 66 66 66 66 66 66 66 66 66 8b 00", -EINVAL },
	{ 64, "66 66 66 66 66 66 66 66 66 66 66 66 66 66 66 66 66", -EINVAL },
	{ 64, "8b c0", -EINVAL },                   /* register form */
	{ 64, "88 e0", -EINVAL },
	{ 64, "0f b6 c0", -EINVAL },
	{ 64, "90", -EINVAL },
	{ 64, "0f 0b", -EINVAL },                   /* UD2 */
	{ 64, "0f 10 00", -EINVAL },                /* SSE */
	{ 64, "c5 f9 6f 00", -EINVAL },             /* VEX */
	{ 64, "62 f1 7c 48 10 00", -EINVAL },       /* EVEX */
	{ 64, "c6 08 00", -EINVAL },                /* C6 /1 */
	{ 64, "c7 f8 00 00 00 00", -EINVAL },       /* XBEGIN */
	{ 64, "f7 08 00 00 00 00", -EINVAL },       /* F7 /1 */
	{ 64, "f6 10", -EINVAL },                   /* NOT */
	{ 64, "f0 89 00", -EINVAL },                /* LOCK MOV */
	{ 64, "f0 8b 00", -EINVAL },
	{ 64, "f0 39 00", -EINVAL },                /* LOCK CMP */
	{ 64, "f0 80 38 01", -EINVAL },             /* LOCK CMP imm */
	{ 64, "f0 03 00", -EINVAL },                /* LOCK with a register destination */
	{ 64, "f0 85 00", -EINVAL },                /* LOCK TEST */
	{ 64, "f0 a5", -EINVAL },                   /* LOCK MOVS */
	{ 64, "f0 0f b6 00", -EINVAL },
	{ 64, "f0 48 0f b1 00", -EINVAL },          /* CMPXCHG: not emulated */
	{ 64, "f3 0f b6 00", -EINVAL },             /* F3 0F xx is another map */
	{ 64, "f2 0f be 00", -EINVAL },
	{ 64, "82 00 05", -EINVAL },                /* invalid in 64-bit mode */
	{ 64, "66 63 00", -EINVAL },
	{ 64, "a6", -EINVAL },                      /* CMPS */
	{ 64, "ae", -EINVAL },                      /* SCAS */
	{ 64, "6c", -EINVAL },                      /* INS */
	{ 64, "8e 00", -EINVAL },                   /* MOV Sreg */
	{ 64, "ff 00", -EINVAL },                   /* INC */
	{ 32, "40", -EINVAL },                      /* INC EAX, not a REX */
	{ 32, "48 8b 00", -EINVAL },
	{ 32, "63 00", -EINVAL },                   /* ARPL */
	{ 32, "c4 00", -EINVAL },                   /* LES */
	{ 16, "8b c0", -EINVAL },
	{ 16, "8b 06 34", -EAGAIN },                /* disp16 cut short */
	{ 16, "8b 46", -EAGAIN },
};

UNIT_TEST(decode_errors)
{
	for (size_t i = 0; i < sizeof(error_cases) / sizeof(error_cases[0]); i++) {
		const struct error_case *c = &error_cases[i];
		uint8_t bytes[32];
		size_t count = parse_hex(c->hex, bytes, sizeof(bytes));
		struct insn insn;
		int err = decode_exact(bytes, count, mode_of_bits(c->mode), &insn);

		if (err != c->expected)
			fprintf(stderr, "%d-bit %s: %d\n", c->mode, c->hex, err);
		CHECK_EQ(err, c->expected);
		CHECK_EQ(insn.length, 0);
	}
}

UNIT_TEST(decode_rejects_bad_mode)
{
	const uint8_t bytes[] = { 0x8b, 0x00 };
	struct insn insn;

	CHECK_EQ(insn_decode(bytes, sizeof(bytes), (enum insn_mode)7, &insn), -EINVAL);
}

/* 15 bytes is the limit, 16 is #GP. */
UNIT_TEST(decode_length_limit)
{
	uint8_t bytes[16];
	struct insn insn;

	memset(bytes, 0x66, sizeof(bytes));
	bytes[13] = 0x8b;
	bytes[14] = 0x00;
	CHECK_EQ(decode_exact(bytes, 15, INSN_MODE_64, &insn), 0);
	CHECK_EQ(insn.length, 15);
	CHECK_EQ(insn.operand_size, 2);
	/* More bytes available than the limit changes nothing. */
	CHECK_EQ(decode_exact(bytes, 16, INSN_MODE_64, &insn), 0);
	CHECK_EQ(insn.length, 15);
	memset(bytes, 0x66, sizeof(bytes));
	bytes[14] = 0x8b;
	bytes[15] = 0x00;
	CHECK_EQ(decode_exact(bytes, 16, INSN_MODE_64, &insn), -EINVAL);
	/* An immediate that would end past byte 15. */
	memset(bytes, 0x3e, sizeof(bytes));
	bytes[10] = 0xc7; /* 10 prefixes, opcode, ModRM, imm32: 16 bytes */
	bytes[11] = 0x00;
	CHECK_EQ(decode_exact(bytes, 16, INSN_MODE_32, &insn), -EINVAL);
	CHECK_EQ(decode_exact(bytes + 1, 15, INSN_MODE_32, &insn), 0);
	CHECK_EQ(insn.length, 15);
}

/* Fields the canonical line does not show. */
UNIT_TEST(decode_fields)
{
	struct insn insn;
	uint8_t bytes[16];

	CHECK_EQ(decode_exact(bytes, parse_hex("83 00 80", bytes, 16), INSN_MODE_64, &insn), 0);
	CHECK_EQ(insn.immediate, 0xffffffffffffff80ull);
	CHECK_EQ(insn.has_modrm, true);
	CHECK_EQ(insn.modrm, 0x00);
	CHECK_EQ(insn.has_sib, false);
	CHECK_EQ(insn.opcode, 0x83);
	CHECK_EQ(insn.two_byte, false);

	CHECK_EQ(decode_exact(bytes, parse_hex("66 81 00 00 80", bytes, 16), INSN_MODE_64, &insn), 0);
	CHECK_EQ(insn.immediate, 0xffffffffffff8000ull);

	CHECK_EQ(decode_exact(bytes, parse_hex("4c 8b 44 8d 10", bytes, 16), INSN_MODE_64, &insn), 0);
	CHECK_EQ(insn.rex, 0x4c);
	CHECK_EQ(insn.has_sib, true);
	CHECK_EQ(insn.sib, 0x8d);
	CHECK_EQ(insn.reg.number, 8);
	CHECK_EQ(insn.memory.base, INSN_REG_RBP);
	CHECK_EQ(insn.memory.index, INSN_REG_RCX);
	CHECK_EQ(insn.memory.scale, 4);
	CHECK_EQ(insn.memory.displacement, 0x10);
	CHECK_EQ(insn.memory.segment, INSN_SEG_SS);

	/* AH is register 0's high byte; with a REX, 4 is SPL. */
	CHECK_EQ(decode_exact(bytes, parse_hex("88 20", bytes, 16), INSN_MODE_64, &insn), 0);
	CHECK_EQ(insn.reg.number, 0);
	CHECK_EQ(insn.reg.high_byte, true);
	CHECK_EQ(decode_exact(bytes, parse_hex("40 88 20", bytes, 16), INSN_MODE_64, &insn), 0);
	CHECK_EQ(insn.reg.number, 4);
	CHECK_EQ(insn.reg.high_byte, false);
	/* MOVZX's register is never a high byte. */
	CHECK_EQ(decode_exact(bytes, parse_hex("0f b6 20", bytes, 16), INSN_MODE_64, &insn), 0);
	CHECK_EQ(insn.reg.number, 4);
	CHECK_EQ(insn.reg.high_byte, false);
	CHECK_EQ(insn.two_byte, true);
	CHECK_EQ(insn.opcode, 0xb6);

	/* A REX followed by a legacy prefix is ignored; of two REX, the last. */
	CHECK_EQ(decode_exact(bytes, parse_hex("48 66 89 00", bytes, 16), INSN_MODE_64, &insn), 0);
	CHECK_EQ(insn.rex, 0);
	CHECK_EQ(insn.operand_size, 2);
	CHECK_EQ(decode_exact(bytes, parse_hex("48 41 89 00", bytes, 16), INSN_MODE_64, &insn), 0);
	CHECK_EQ(insn.rex, 0x41);
	CHECK_EQ(insn.operand_size, 4);
	CHECK_EQ(insn.memory.base, 8);

	/* REP kinds; F2/F3 on a non-string MOV are hints and dropped. */
	CHECK_EQ(decode_exact(bytes, parse_hex("f3 a4", bytes, 16), INSN_MODE_64, &insn), 0);
	CHECK_EQ(insn.rep, INSN_REP_F3);
	CHECK_EQ(decode_exact(bytes, parse_hex("f3 f2 a4", bytes, 16), INSN_MODE_64, &insn), 0);
	CHECK_EQ(insn.rep, INSN_REP_F2);
	CHECK_EQ(decode_exact(bytes, parse_hex("f2 89 00", bytes, 16), INSN_MODE_64, &insn), 0);
	CHECK_EQ(insn.rep, INSN_REP_NONE);

	/* Segment overrides: the last wins; in 64-bit mode only FS and GS count. */
	CHECK_EQ(decode_exact(bytes, parse_hex("26 36 8b 00", bytes, 16), INSN_MODE_32, &insn), 0);
	CHECK_EQ(insn.segment_override, INSN_SEG_SS);
	CHECK_EQ(decode_exact(bytes, parse_hex("65 26 8b 00", bytes, 16), INSN_MODE_64, &insn), 0);
	CHECK_EQ(insn.segment_override, INSN_SEG_GS);
	CHECK_EQ(decode_exact(bytes, parse_hex("26 8b 00", bytes, 16), INSN_MODE_64, &insn), 0);
	CHECK_EQ(insn.segment_override, INSN_NO_SEGMENT_OVERRIDE);
	/* MOVS: the override moves the source only. */
	CHECK_EQ(decode_exact(bytes, parse_hex("26 a5", bytes, 16), INSN_MODE_32, &insn), 0);
	CHECK_EQ(insn.memory.segment, INSN_SEG_ES);
	CHECK_EQ(insn.memory.base, INSN_REG_RSI);
}

UNIT_TEST(mode_of)
{
	CHECK_EQ(insn_mode_of(true, true, false), INSN_MODE_64);
	CHECK_EQ(insn_mode_of(true, false, true), INSN_MODE_32);  /* compatibility mode */
	CHECK_EQ(insn_mode_of(true, false, false), INSN_MODE_16);
	CHECK_EQ(insn_mode_of(false, true, true), INSN_MODE_32);  /* CS.L without LMA */
	CHECK_EQ(insn_mode_of(false, false, false), INSN_MODE_16); /* real mode */
}

/* Every two-byte start in every mode, with fixed pseudo-random tails: a
 * result is an error or a length within what was given, and the
 * truncation property holds. */
UNIT_TEST(decode_every_two_byte_start)
{
	uint8_t bytes[15];
	uint32_t seed = 12345;
	unsigned accepted = 0;

	for (unsigned mode = INSN_MODE_16; mode <= INSN_MODE_64; mode++) {
		for (unsigned start = 0; start < 0x10000; start++) {
			struct insn insn, again;
			size_t available = 2 + start % 14;

			bytes[0] = (uint8_t)start;
			bytes[1] = (uint8_t)(start >> 8);
			for (size_t i = 2; i < sizeof(bytes); i++) {
				seed = seed * 1103515245u + 12345u;
				bytes[i] = (uint8_t)(seed >> 16);
			}
			int err = decode_exact(bytes, available, (enum insn_mode)mode, &insn);
			if (err) {
				CHECK(err == -EINVAL || err == -EAGAIN);
				continue;
			}
			accepted++;
			CHECK(insn.length >= 1 && insn.length <= available);
			CHECK_EQ(decode_exact(bytes, insn.length, (enum insn_mode)mode, &again), 0);
			CHECK(memcmp(&insn, &again, sizeof(insn)) == 0);
			CHECK_EQ(decode_exact(bytes, insn.length - 1u, (enum insn_mode)mode, &again),
				 -EAGAIN);
		}
	}
	CHECK(accepted > 10000);
}

/* --- emulation ------------------------------------------------------------ */

#define MMIO_BASE 0xfeb00000ull   /* two device pages */
#define MMIO_SIZE 0x2000u
#define RAM_LINEAR 0x10000ull     /* guest RAM for MOVS's other side */
#define RAM_SIZE 0x3000u
#define MAX_ACCESSES 10000

struct access {
	char kind; /* r w: device; R W: guest memory */
	uint64_t address;
	unsigned size;
	uint64_t value;
};

struct fake_bus {
	uint8_t device[MMIO_SIZE];
	uint8_t ram[RAM_SIZE];
	struct access log[MAX_ACCESSES];
	unsigned count;
	int fail_at;       /* the access number that returns -EIO, or -1 */
	bool out_of_range; /* an access outside device or RAM */
};

static struct fake_bus fake;

static int record(char kind, uint64_t address, unsigned size, uint64_t value)
{
	int fail = fake.fail_at >= 0 && fake.count == (unsigned)fake.fail_at;

	if (fake.count < MAX_ACCESSES)
		fake.log[fake.count] = (struct access){ kind, address, size, value };
	fake.count++;
	return fail ? -EIO : 0;
}

static uint8_t *device_at(uint64_t gpa, unsigned size)
{
	if (gpa < MMIO_BASE || gpa + size > MMIO_BASE + MMIO_SIZE) {
		fake.out_of_range = true;
		return NULL;
	}
	return &fake.device[gpa - MMIO_BASE];
}

static uint8_t *ram_at(uint64_t linear, unsigned size)
{
	if (linear < RAM_LINEAR || linear + size > RAM_LINEAR + RAM_SIZE) {
		fake.out_of_range = true;
		return NULL;
	}
	return &fake.ram[linear - RAM_LINEAR];
}

static int fake_mmio_read(void *opaque, uint64_t gpa, unsigned size, uint64_t *value)
{
	uint8_t *at = device_at(gpa, size);

	(void)opaque;
	*value = 0;
	if (!at)
		return -EFAULT;
	memcpy(value, at, size);
	return record('r', gpa, size, *value);
}

static int fake_mmio_write(void *opaque, uint64_t gpa, unsigned size, uint64_t value)
{
	uint8_t *at = device_at(gpa, size);
	int err;

	(void)opaque;
	if (!at)
		return -EFAULT;
	err = record('w', gpa, size, value);
	if (!err)
		memcpy(at, &value, size);
	return err;
}

static int fake_memory_read(void *opaque, uint64_t linear, void *data, unsigned size)
{
	uint8_t *at = ram_at(linear, size);
	uint64_t value = 0;

	(void)opaque;
	if (!at)
		return -EFAULT;
	memcpy(data, at, size);
	memcpy(&value, at, size);
	return record('R', linear, size, value);
}

static int fake_memory_write(void *opaque, uint64_t linear, const void *data, unsigned size)
{
	uint8_t *at = ram_at(linear, size);
	uint64_t value = 0;
	int err;

	(void)opaque;
	if (!at)
		return -EFAULT;
	memcpy(&value, data, size);
	err = record('W', linear, size, value);
	if (!err)
		memcpy(at, data, size);
	return err;
}

static const struct insn_bus bus = {
	.mmio_read = fake_mmio_read,
	.mmio_write = fake_mmio_write,
	.memory_read = fake_memory_read,
	.memory_write = fake_memory_write,
	.opaque = &fake,
};

#define RIP0 0x401000ull
#define FLAGS0 0x202ull /* IF and the reserved bit */

static struct insn_cpu_state cpu, cpu_before;
static struct insn current;

static void reset(enum insn_mode mode)
{
	memset(&cpu, 0, sizeof(cpu));
	cpu.mode = mode;
	cpu.rip = RIP0;
	cpu.rflags = FLAGS0;
	for (unsigned i = 0; i < INSN_GPR_COUNT; i++)
		cpu.gprs[i] = 0x0101010101010101ull * (i + 0x10);
	memset(&fake, 0, sizeof(fake));
	for (unsigned i = 0; i < MMIO_SIZE; i++)
		fake.device[i] = (uint8_t)(i * 7 + 3);
	for (unsigned i = 0; i < RAM_SIZE; i++)
		fake.ram[i] = (uint8_t)(i * 13 + 5);
	fake.fail_at = -1;
}

static void put_device(unsigned offset, uint64_t value, unsigned size)
{
	memcpy(&fake.device[offset], &value, size);
}

static uint64_t get_device(unsigned offset, unsigned size)
{
	uint64_t value = 0;

	memcpy(&value, &fake.device[offset], size);
	return value;
}

/* Decodes hex in cpu.mode and emulates it for a fault at fault_gpa. */
static int emulate(const char *hex, uint64_t fault_gpa, bool fault_write)
{
	uint8_t bytes[16];
	size_t count = parse_hex(hex, bytes, sizeof(bytes));
	int err = insn_decode(bytes, count, cpu.mode, &current);

	if (err) {
		fprintf(stderr, "cannot decode %s: %d\n", hex, err);
		return -1000;
	}
	CHECK_EQ(current.length, count);
	cpu_before = cpu;
	err = insn_emulate_mmio(&current, &cpu, &bus, fault_gpa, fault_write);
	CHECK(!fake.out_of_range);
	return err;
}

static void check_access(unsigned i, char kind, uint64_t address, unsigned size, uint64_t value)
{
	CHECK(i < fake.count);
	if (i >= fake.count)
		return;
	CHECK_EQ(fake.log[i].kind, kind);
	CHECK_EQ(fake.log[i].address, address);
	CHECK_EQ(fake.log[i].size, size);
	CHECK_EQ(fake.log[i].value, value);
}

/* Registers other than those listed keep their values. */
static void check_only_changed(unsigned changed_mask)
{
	for (unsigned i = 0; i < INSN_GPR_COUNT; i++) {
		if (!(changed_mask & (1u << i)) && cpu.gprs[i] != cpu_before.gprs[i]) {
			fprintf(stderr, "register %u changed\n", i);
			CHECK_EQ(cpu.gprs[i], cpu_before.gprs[i]);
		}
	}
}

#define BIT(r) (1u << (r))
#define RAX 0
#define RCX 1
#define RDX 2
#define RBX 3
#define RSP 4
#define RBP 5
#define RSI 6
#define RDI 7
#define R8 8
#define R12 12
#define LINEAR64 0x00007f1234560000ull /* a page-aligned guest linear address */

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

static uint64_t interesting(uint32_t *seed, unsigned size)
{
	static const uint64_t edges[] = { 0, 1, 2, 0x7f, 0x80, 0xff, 0x7fff, 0x8000, 0xffff,
					  0x7fffffff, 0x80000000, 0xffffffff, 0x0f, 0x10,
					  0x7fffffffffffffffull, 0x8000000000000000ull, ~0ull };
	*seed = *seed * 1103515245u + 12345u;
	uint64_t r = ((uint64_t)*seed << 32) ^ (*seed * 2654435761u);
	uint64_t mask = size == 8 ? ~0ull : (1ull << (8 * size)) - 1;

	if ((*seed >> 28) < 6)
		return edges[(*seed >> 8) % (sizeof(edges) / sizeof(edges[0]))] & mask;
	return r & mask;
}

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

UNIT_MAIN()

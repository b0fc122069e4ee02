/*
 * The MMIO instruction decoder and emulator (vmkernel/vm/insn_decode.c,
 * insn_emulate*.c). This file: decoding, and main(). A table of encodings in
 * 16-, 32- and 64-bit code with the expected result as a canonical line
 * (test/fuzz/insn_format.h; every row was checked against objdump with
 * `test/fuzz/insn-objdump-diff --cases test/unit/test_insn.c`), the errors,
 * truncation at every length and every two-byte start. Emulation against a
 * fake device that logs accesses, with flags compared with what this host's
 * own processor computes: test_insn_emulate.c (moves, ALU, strings) and
 * test_insn_rmw.c (the read-modify-write and the rest of the forms).
 */
#include "unit.h"

#include <vm/insn_decode.h>
#include <vm/insn_emulate.h>
#include <lib/errno.h>

#include <stdbool.h>

#include "../fuzz/insn_format.h"
#include "test_insn.h"

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
	{ 64, "f2 a5", "len=2 op=movs lock=0 rep=2 osz=4 asz=8 ops=m4:es:rdi+-*1+0|m4:ds:rsi+-*1+0" },
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
	/* Read-modify-write and the rest beyond moves and ALU operations. */
	{ 64, "0f b1 00", "len=3 op=cmpxchg lock=0 rep=0 osz=4 asz=8 ops=m4:ds:rax+-*1+0|eax" },
	{ 64, "f0 0f b1 53 40", "len=5 op=cmpxchg lock=1 rep=0 osz=4 asz=8 ops=m4:ds:rbx+-*1+40|edx" },
	{ 64, "f0 48 0f b1 0b", "len=5 op=cmpxchg lock=1 rep=0 osz=8 asz=8 ops=m8:ds:rbx+-*1+0|rcx" },
	{ 64, "66 0f b1 0b", "len=4 op=cmpxchg lock=0 rep=0 osz=2 asz=8 ops=m2:ds:rbx+-*1+0|cx" },
	{ 64, "0f b0 20", "len=3 op=cmpxchg lock=0 rep=0 osz=1 asz=8 ops=m1:ds:rax+-*1+0|ah" },
	{ 64, "40 0f b0 20", "len=4 op=cmpxchg lock=0 rep=0 osz=1 asz=8 ops=m1:ds:rax+-*1+0|spl" },
	{ 64, "f2 f0 0f b1 00", "len=5 op=cmpxchg lock=1 rep=0 osz=4 asz=8 ops=m4:ds:rax+-*1+0|eax" },
	{ 64, "f3 f0 0f c1 00", "len=5 op=xadd lock=1 rep=0 osz=4 asz=8 ops=m4:ds:rax+-*1+0|eax" },
	{ 64, "0f c1 00", "len=3 op=xadd lock=0 rep=0 osz=4 asz=8 ops=m4:ds:rax+-*1+0|eax" },
	{ 64, "f0 4c 0f c1 43 08", "len=6 op=xadd lock=1 rep=0 osz=8 asz=8 ops=m8:ds:rbx+-*1+8|r8" },
	{ 64, "0f c0 20", "len=3 op=xadd lock=0 rep=0 osz=1 asz=8 ops=m1:ds:rax+-*1+0|ah" },
	{ 64, "fe 00", "len=2 op=inc lock=0 rep=0 osz=1 asz=8 ops=m1:ds:rax+-*1+0" },
	{ 64, "fe 08", "len=2 op=dec lock=0 rep=0 osz=1 asz=8 ops=m1:ds:rax+-*1+0" },
	{ 64, "ff 00", "len=2 op=inc lock=0 rep=0 osz=4 asz=8 ops=m4:ds:rax+-*1+0" },
	{ 64, "f0 ff 08", "len=3 op=dec lock=1 rep=0 osz=4 asz=8 ops=m4:ds:rax+-*1+0" },
	{ 64, "48 ff 00", "len=3 op=inc lock=0 rep=0 osz=8 asz=8 ops=m8:ds:rax+-*1+0" },
	{ 64, "66 ff 00", "len=3 op=inc lock=0 rep=0 osz=2 asz=8 ops=m2:ds:rax+-*1+0" },
	{ 64, "f6 10", "len=2 op=not lock=0 rep=0 osz=1 asz=8 ops=m1:ds:rax+-*1+0" },
	{ 64, "f0 f7 10", "len=3 op=not lock=1 rep=0 osz=4 asz=8 ops=m4:ds:rax+-*1+0" },
	{ 64, "f7 18", "len=2 op=neg lock=0 rep=0 osz=4 asz=8 ops=m4:ds:rax+-*1+0" },
	{ 64, "f0 48 f7 18", "len=4 op=neg lock=1 rep=0 osz=8 asz=8 ops=m8:ds:rax+-*1+0" },
	{ 64, "f6 1b", "len=2 op=neg lock=0 rep=0 osz=1 asz=8 ops=m1:ds:rbx+-*1+0" },
	{ 64, "d0 00", "len=2 op=rol lock=0 rep=0 osz=1 asz=8 ops=m1:ds:rax+-*1+0|i1" },
	{ 64, "d1 20", "len=2 op=shl lock=0 rep=0 osz=4 asz=8 ops=m4:ds:rax+-*1+0|i1" },
	{ 64, "48 d1 38", "len=3 op=sar lock=0 rep=0 osz=8 asz=8 ops=m8:ds:rax+-*1+0|i1" },
	{ 64, "d2 08", "len=2 op=ror lock=0 rep=0 osz=1 asz=8 ops=m1:ds:rax+-*1+0|cl" },
	{ 64, "d3 10", "len=2 op=rcl lock=0 rep=0 osz=4 asz=8 ops=m4:ds:rax+-*1+0|cl" },
	{ 64, "66 d3 18", "len=3 op=rcr lock=0 rep=0 osz=2 asz=8 ops=m2:ds:rax+-*1+0|cl" },
	{ 64, "d3 28", "len=2 op=shr lock=0 rep=0 osz=4 asz=8 ops=m4:ds:rax+-*1+0|cl" },
	{ 64, "d3 30", "len=2 op=shl lock=0 rep=0 osz=4 asz=8 ops=m4:ds:rax+-*1+0|cl" },
	{ 64, "c0 20 ff", "len=3 op=shl lock=0 rep=0 osz=1 asz=8 ops=m1:ds:rax+-*1+0|iff" },
	{ 64, "c1 20 04", "len=3 op=shl lock=0 rep=0 osz=4 asz=8 ops=m4:ds:rax+-*1+0|i4" },
	{ 64, "48 c1 38 3f", "len=4 op=sar lock=0 rep=0 osz=8 asz=8 ops=m8:ds:rax+-*1+0|i3f" },
	{ 64, "0f a3 00", "len=3 op=bt lock=0 rep=0 osz=4 asz=8 ops=m4:ds:rax+-*1+0|eax" },
	{ 64, "f0 0f ab 08", "len=4 op=bts lock=1 rep=0 osz=4 asz=8 ops=m4:ds:rax+-*1+0|ecx" },
	{ 64, "66 0f b3 00", "len=4 op=btr lock=0 rep=0 osz=2 asz=8 ops=m2:ds:rax+-*1+0|ax" },
	{ 64, "48 0f bb 00", "len=4 op=btc lock=0 rep=0 osz=8 asz=8 ops=m8:ds:rax+-*1+0|rax" },
	{ 64, "4c 0f a3 00", "len=4 op=bt lock=0 rep=0 osz=8 asz=8 ops=m8:ds:rax+-*1+0|r8" },
	{ 64, "0f ba 20 ff", "len=4 op=bt lock=0 rep=0 osz=4 asz=8 ops=m4:ds:rax+-*1+0|iff" },
	{ 64, "f0 0f ba 28 1f", "len=5 op=bts lock=1 rep=0 osz=4 asz=8 ops=m4:ds:rax+-*1+0|i1f" },
	{ 64, "0f ba 30 05", "len=4 op=btr lock=0 rep=0 osz=4 asz=8 ops=m4:ds:rax+-*1+0|i5" },
	{ 64, "48 0f ba 38 3f", "len=5 op=btc lock=0 rep=0 osz=8 asz=8 ops=m8:ds:rax+-*1+0|i3f" },
	{ 64, "0f 40 00", "len=3 op=cmovo lock=0 rep=0 osz=4 asz=8 ops=eax|m4:ds:rax+-*1+0" },
	{ 64, "0f 44 46 24", "len=4 op=cmove lock=0 rep=0 osz=4 asz=8 ops=eax|m4:ds:rsi+-*1+24" },
	{ 64, "48 0f 4f 00", "len=4 op=cmovg lock=0 rep=0 osz=8 asz=8 ops=rax|m8:ds:rax+-*1+0" },
	{ 64, "66 0f 42 00", "len=4 op=cmovb lock=0 rep=0 osz=2 asz=8 ops=ax|m2:ds:rax+-*1+0" },
	{ 64, "4c 0f 4c 00", "len=4 op=cmovl lock=0 rep=0 osz=8 asz=8 ops=r8|m8:ds:rax+-*1+0" },
	{ 64, "0f 90 00", "len=3 op=seto lock=0 rep=0 osz=1 asz=8 ops=m1:ds:rax+-*1+0" },
	{ 64, "0f 94 46 54", "len=4 op=sete lock=0 rep=0 osz=1 asz=8 ops=m1:ds:rsi+-*1+54" },
	{ 64, "0f 9f 00", "len=3 op=setg lock=0 rep=0 osz=1 asz=8 ops=m1:ds:rax+-*1+0" },
	{ 64, "0f 94 38", "len=3 op=sete lock=0 rep=0 osz=1 asz=8 ops=m1:ds:rax+-*1+0" },
	{ 64, "66 0f 95 00", "len=4 op=setne lock=0 rep=0 osz=1 asz=8 ops=m1:ds:rax+-*1+0" },
	{ 64, "41 0f 92 00", "len=4 op=setb lock=0 rep=0 osz=1 asz=8 ops=m1:ds:r8+-*1+0" },
	{ 64, "ff 30", "len=2 op=push lock=0 rep=0 osz=8 asz=8 ops=m8:ds:rax+-*1+0" },
	{ 64, "66 ff 30", "len=3 op=push lock=0 rep=0 osz=2 asz=8 ops=m2:ds:rax+-*1+0" },
	{ 64, "48 ff 30", "len=3 op=push lock=0 rep=0 osz=8 asz=8 ops=m8:ds:rax+-*1+0" },
	{ 64, "66 48 ff 30", "len=4 op=push lock=0 rep=0 osz=8 asz=8 ops=m8:ds:rax+-*1+0" },
	{ 64, "66 48 8f 00", "len=4 op=pop lock=0 rep=0 osz=8 asz=8 ops=m8:ds:rax+-*1+0" },
	{ 64, "ff 74 24 08", "len=4 op=push lock=0 rep=0 osz=8 asz=8 ops=m8:ss:rsp+-*1+8" },
	{ 64, "8f 00", "len=2 op=pop lock=0 rep=0 osz=8 asz=8 ops=m8:ds:rax+-*1+0" },
	{ 64, "66 8f 00", "len=3 op=pop lock=0 rep=0 osz=2 asz=8 ops=m2:ds:rax+-*1+0" },
	{ 64, "8f 44 24 08", "len=4 op=pop lock=0 rep=0 osz=8 asz=8 ops=m8:ss:rsp+-*1+8" },
	{ 64, "41 8f 00", "len=3 op=pop lock=0 rep=0 osz=8 asz=8 ops=m8:ds:r8+-*1+0" },
	{ 64, "a6", "len=1 op=cmps lock=0 rep=0 osz=1 asz=8 ops=m1:ds:rsi+-*1+0|m1:es:rdi+-*1+0" },
	{ 64, "a7", "len=1 op=cmps lock=0 rep=0 osz=4 asz=8 ops=m4:ds:rsi+-*1+0|m4:es:rdi+-*1+0" },
	{ 64, "48 a7", "len=2 op=cmps lock=0 rep=0 osz=8 asz=8 ops=m8:ds:rsi+-*1+0|m8:es:rdi+-*1+0" },
	{ 64, "66 a7", "len=2 op=cmps lock=0 rep=0 osz=2 asz=8 ops=m2:ds:rsi+-*1+0|m2:es:rdi+-*1+0" },
	{ 64, "f3 a6", "len=2 op=cmps lock=0 rep=1 osz=1 asz=8 ops=m1:ds:rsi+-*1+0|m1:es:rdi+-*1+0" },
	{ 64, "f2 a7", "len=2 op=cmps lock=0 rep=2 osz=4 asz=8 ops=m4:ds:rsi+-*1+0|m4:es:rdi+-*1+0" },
	{ 64, "64 a7", "len=2 op=cmps lock=0 rep=0 osz=4 asz=8 ops=m4:fs:rsi+-*1+0|m4:es:rdi+-*1+0" },
	{ 64, "67 f3 a7", "len=3 op=cmps lock=0 rep=1 osz=4 asz=4 ops=m4:ds:esi+-*1+0|m4:es:edi+-*1+0" },
	{ 64, "ae", "len=1 op=scas lock=0 rep=0 osz=1 asz=8 ops=al|m1:es:rdi+-*1+0" },
	{ 64, "af", "len=1 op=scas lock=0 rep=0 osz=4 asz=8 ops=eax|m4:es:rdi+-*1+0" },
	{ 64, "48 af", "len=2 op=scas lock=0 rep=0 osz=8 asz=8 ops=rax|m8:es:rdi+-*1+0" },
	{ 64, "f3 ae", "len=2 op=scas lock=0 rep=1 osz=1 asz=8 ops=al|m1:es:rdi+-*1+0" },
	{ 64, "f2 af", "len=2 op=scas lock=0 rep=2 osz=4 asz=8 ops=eax|m4:es:rdi+-*1+0" },
	{ 64, "26 af", "len=2 op=scas lock=0 rep=0 osz=4 asz=8 ops=eax|m4:es:rdi+-*1+0" },
	{ 64, "67 f2 ae", "len=3 op=scas lock=0 rep=2 osz=1 asz=4 ops=al|m1:es:edi+-*1+0" },
	{ 32, "f0 0f b1 53 40", "len=5 op=cmpxchg lock=1 rep=0 osz=4 asz=4 ops=m4:ds:ebx+-*1+40|edx" },
	{ 32, "f0 0f c1 43 40", "len=5 op=xadd lock=1 rep=0 osz=4 asz=4 ops=m4:ds:ebx+-*1+40|eax" },
	{ 32, "ff 43 0c", "len=3 op=inc lock=0 rep=0 osz=4 asz=4 ops=m4:ds:ebx+-*1+c" },
	{ 32, "ff 4b 0c", "len=3 op=dec lock=0 rep=0 osz=4 asz=4 ops=m4:ds:ebx+-*1+c" },
	{ 32, "f7 53 0c", "len=3 op=not lock=0 rep=0 osz=4 asz=4 ops=m4:ds:ebx+-*1+c" },
	{ 32, "f7 5b 10", "len=3 op=neg lock=0 rep=0 osz=4 asz=4 ops=m4:ds:ebx+-*1+10" },
	{ 32, "c1 63 18 04", "len=4 op=shl lock=0 rep=0 osz=4 asz=4 ops=m4:ds:ebx+-*1+18|i4" },
	{ 32, "0f ba 63 24 07", "len=5 op=bt lock=0 rep=0 osz=4 asz=4 ops=m4:ds:ebx+-*1+24|i7" },
	{ 32, "0f 44 46 24", "len=4 op=cmove lock=0 rep=0 osz=4 asz=4 ops=eax|m4:ds:esi+-*1+24" },
	{ 32, "0f ba 6e 50 1f", "len=5 op=bts lock=0 rep=0 osz=4 asz=4 ops=m4:ds:esi+-*1+50|i1f" },
	{ 32, "0f ba 7e 50 00", "len=5 op=btc lock=0 rep=0 osz=4 asz=4 ops=m4:ds:esi+-*1+50|i0" },
	{ 32, "0f ba 76 50 1f", "len=5 op=btr lock=0 rep=0 osz=4 asz=4 ops=m4:ds:esi+-*1+50|i1f" },
	{ 32, "0f 94 46 54", "len=4 op=sete lock=0 rep=0 osz=1 asz=4 ops=m1:ds:esi+-*1+54" },
	{ 32, "ff 76 60", "len=3 op=push lock=0 rep=0 osz=4 asz=4 ops=m4:ds:esi+-*1+60" },
	{ 32, "8f 46 64", "len=3 op=pop lock=0 rep=0 osz=4 asz=4 ops=m4:ds:esi+-*1+64" },
	{ 32, "f3 a7", "len=2 op=cmps lock=0 rep=1 osz=4 asz=4 ops=m4:ds:esi+-*1+0|m4:es:edi+-*1+0" },
	{ 32, "f2 af", "len=2 op=scas lock=0 rep=2 osz=4 asz=4 ops=eax|m4:es:edi+-*1+0" },
	{ 32, "66 ff 30", "len=3 op=push lock=0 rep=0 osz=2 asz=4 ops=m2:ds:eax+-*1+0" },
	{ 32, "66 8f 00", "len=3 op=pop lock=0 rep=0 osz=2 asz=4 ops=m2:ds:eax+-*1+0" },
	{ 32, "8f 04 24", "len=3 op=pop lock=0 rep=0 osz=4 asz=4 ops=m4:ss:esp+-*1+0" },
	{ 32, "66 0f a3 00", "len=4 op=bt lock=0 rep=0 osz=2 asz=4 ops=m2:ds:eax+-*1+0|ax" },
	{ 32, "0f a3 44 24 04", "len=5 op=bt lock=0 rep=0 osz=4 asz=4 ops=m4:ss:esp+-*1+4|eax" },
	{ 32, "fe 00", "len=2 op=inc lock=0 rep=0 osz=1 asz=4 ops=m1:ds:eax+-*1+0" },
	{ 32, "d3 20", "len=2 op=shl lock=0 rep=0 osz=4 asz=4 ops=m4:ds:eax+-*1+0|cl" },
	{ 32, "0f b0 24 24", "len=4 op=cmpxchg lock=0 rep=0 osz=1 asz=4 ops=m1:ss:esp+-*1+0|ah" },
	{ 32, "f3 a6", "len=2 op=cmps lock=0 rep=1 osz=1 asz=4 ops=m1:ds:esi+-*1+0|m1:es:edi+-*1+0" },
	{ 16, "ff 30", "len=2 op=push lock=0 rep=0 osz=2 asz=2 ops=m2:ds:bx+si*1+0" },
	{ 16, "66 ff 30", "len=3 op=push lock=0 rep=0 osz=4 asz=2 ops=m4:ds:bx+si*1+0" },
	{ 16, "8f 06 34 12", "len=4 op=pop lock=0 rep=0 osz=2 asz=2 ops=m2:ds:-+-*1+1234" },
	{ 16, "0f b1 07", "len=3 op=cmpxchg lock=0 rep=0 osz=2 asz=2 ops=m2:ds:bx+-*1+0|ax" },
	{ 16, "66 0f b1 07", "len=4 op=cmpxchg lock=0 rep=0 osz=4 asz=2 ops=m4:ds:bx+-*1+0|eax" },
	{ 16, "ff 07", "len=2 op=inc lock=0 rep=0 osz=2 asz=2 ops=m2:ds:bx+-*1+0" },
	{ 16, "0f a3 07", "len=3 op=bt lock=0 rep=0 osz=2 asz=2 ops=m2:ds:bx+-*1+0|ax" },
	{ 16, "0f 4f 07", "len=3 op=cmovg lock=0 rep=0 osz=2 asz=2 ops=ax|m2:ds:bx+-*1+0" },
	{ 16, "0f 95 07", "len=3 op=setne lock=0 rep=0 osz=1 asz=2 ops=m1:ds:bx+-*1+0" },
	{ 16, "f3 a7", "len=2 op=cmps lock=0 rep=1 osz=2 asz=2 ops=m2:ds:si+-*1+0|m2:es:di+-*1+0" },
	{ 16, "66 f2 af", "len=3 op=scas lock=0 rep=2 osz=4 asz=2 ops=eax|m4:es:di+-*1+0" },
	{ 16, "67 ae", "len=2 op=scas lock=0 rep=0 osz=1 asz=4 ops=al|m1:es:edi+-*1+0" },
	{ 16, "d1 27", "len=2 op=shl lock=0 rep=0 osz=2 asz=2 ops=m2:ds:bx+-*1+0|i1" },
};

UNIT_TEST(decode_table)
{
	for (size_t i = 0; i < sizeof(decode_cases) / sizeof(decode_cases[0]); i++) {
		const struct decode_case *c = &decode_cases[i];
		uint8_t bytes[32];
		size_t count = test_insn_parse_hex(c->hex, bytes, sizeof(bytes));
		struct insn insn;
		char text[256];
		int err = test_insn_decode_exact(bytes, count, test_insn_mode_of_bits(c->mode), &insn);

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
		size_t count = test_insn_parse_hex(c->hex, bytes, 15);
		enum insn_mode mode = test_insn_mode_of_bits(c->mode);
		struct insn exact, longer, partial;

		CHECK_EQ(test_insn_decode_exact(bytes, count, mode, &exact), 0);
		for (size_t n = 0; n < count; n++) {
			CHECK_EQ(test_insn_decode_exact(bytes, n, mode, &partial), -EAGAIN);
			CHECK_EQ(partial.length, 0);
		}
		for (size_t n = count; n < sizeof(bytes); n++)
			bytes[n] = (uint8_t)(0x90 + n * 37);
		CHECK_EQ(test_insn_decode_exact(bytes, sizeof(bytes), mode, &longer), 0);
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
	{ 64, "f0 89 00", -EINVAL },                /* LOCK MOV */
	{ 64, "f0 8b 00", -EINVAL },
	{ 64, "f0 39 00", -EINVAL },                /* LOCK CMP */
	{ 64, "f0 80 38 01", -EINVAL },             /* LOCK CMP imm */
	{ 64, "f0 03 00", -EINVAL },                /* LOCK with a register destination */
	{ 64, "f0 85 00", -EINVAL },                /* LOCK TEST */
	{ 64, "f0 a5", -EINVAL },                   /* LOCK MOVS */
	{ 64, "f0 0f b6 00", -EINVAL },
	{ 64, "f3 0f b6 00", -EINVAL },             /* F3 0F xx is another map */
	{ 64, "f2 0f be 00", -EINVAL },
	{ 64, "82 00 05", -EINVAL },                /* invalid in 64-bit mode */
	{ 64, "66 63 00", -EINVAL },
	{ 64, "6c", -EINVAL },                      /* INS */
	{ 64, "8e 00", -EINVAL },                   /* MOV Sreg */
	/* LOCK where the hardware raises #UD. */
	{ 64, "f0 0f a3 00", -EINVAL },             /* BT */
	{ 64, "f0 0f ba 20 01", -EINVAL },
	{ 64, "f0 0f 44 00", -EINVAL },             /* CMOVE */
	{ 64, "f0 0f 94 00", -EINVAL },             /* SETE */
	{ 64, "f0 ff 30", -EINVAL },                /* PUSH */
	{ 64, "f0 8f 00", -EINVAL },                /* POP */
	{ 64, "f0 d1 20", -EINVAL },                /* SHL */
	{ 64, "f0 c1 00 01", -EINVAL },             /* ROL */
	{ 64, "f0 a6", -EINVAL },                   /* CMPS */
	{ 64, "f0 af", -EINVAL },                   /* SCAS */
	{ 64, "f0 f6 00 01", -EINVAL },             /* TEST */
	/* F2/F3 0F without LOCK: other instructions or reserved. */
	{ 64, "f3 0f b1 00", -EINVAL },
	{ 64, "f2 0f c1 00", -EINVAL },
	{ 64, "f3 0f a3 00", -EINVAL },
	{ 64, "f3 0f 44 00", -EINVAL },
	{ 64, "f2 0f 94 00", -EINVAL },
	/* Group rows without a memory-operand instruction here. */
	{ 64, "ff 10", -EINVAL },                   /* CALL */
	{ 64, "ff 18", -EINVAL },                   /* CALL far */
	{ 64, "ff 20", -EINVAL },                   /* JMP */
	{ 64, "ff 28", -EINVAL },                   /* JMP far */
	{ 64, "ff 38", -EINVAL },
	{ 64, "fe 10", -EINVAL },
	{ 64, "8f 08", -EINVAL },                   /* XOP space */
	{ 64, "0f ba 00 01", -EINVAL },
	{ 64, "0f ba 18 01", -EINVAL },
	{ 64, "f6 08 01", -EINVAL },                /* TEST's undocumented alias */
	{ 64, "f7 20", -EINVAL },                   /* MUL */
	{ 64, "f7 38", -EINVAL },                   /* IDIV */
	{ 64, "0f c7 08", -EINVAL },                /* CMPXCHG8B */
	{ 64, "0f bc 00", -EINVAL },                /* BSF */
	/* Register forms of the new instructions. */
	{ 64, "0f b1 c0", -EINVAL },
	{ 64, "0f c1 c0", -EINVAL },
	{ 64, "ff c0", -EINVAL },
	{ 64, "d1 e0", -EINVAL },
	{ 64, "0f a3 c0", -EINVAL },
	{ 64, "0f ba e0 05", -EINVAL },
	{ 64, "0f 44 c0", -EINVAL },
	{ 64, "0f 94 c0", -EINVAL },
	{ 64, "ff f0", -EINVAL },                   /* PUSH rax, long form */
	{ 64, "8f c0", -EINVAL },
	/* Cut short. */
	{ 64, "0f ba 20", -EAGAIN },                /* imm8 missing */
	{ 64, "c1 20", -EAGAIN },
	{ 64, "0f 44", -EAGAIN },
	{ 64, "f0 0f", -EAGAIN },
	{ 64, "ff", -EAGAIN },
	{ 32, "8f 44 24", -EAGAIN },
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
		size_t count = test_insn_parse_hex(c->hex, bytes, sizeof(bytes));
		struct insn insn;
		int err = test_insn_decode_exact(bytes, count, test_insn_mode_of_bits(c->mode), &insn);

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
	CHECK_EQ(test_insn_decode_exact(bytes, 15, INSN_MODE_64, &insn), 0);
	CHECK_EQ(insn.length, 15);
	CHECK_EQ(insn.operand_size, 2);
	/* More bytes available than the limit changes nothing. */
	CHECK_EQ(test_insn_decode_exact(bytes, 16, INSN_MODE_64, &insn), 0);
	CHECK_EQ(insn.length, 15);
	memset(bytes, 0x66, sizeof(bytes));
	bytes[14] = 0x8b;
	bytes[15] = 0x00;
	CHECK_EQ(test_insn_decode_exact(bytes, 16, INSN_MODE_64, &insn), -EINVAL);
	/* An immediate that would end past byte 15. */
	memset(bytes, 0x3e, sizeof(bytes));
	bytes[10] = 0xc7; /* 10 prefixes, opcode, ModRM, imm32: 16 bytes */
	bytes[11] = 0x00;
	CHECK_EQ(test_insn_decode_exact(bytes, 16, INSN_MODE_32, &insn), -EINVAL);
	CHECK_EQ(test_insn_decode_exact(bytes + 1, 15, INSN_MODE_32, &insn), 0);
	CHECK_EQ(insn.length, 15);
}

/* Fields the canonical line does not show. */
UNIT_TEST(decode_fields)
{
	struct insn insn;
	uint8_t bytes[16];

	CHECK_EQ(test_insn_decode_exact(bytes, test_insn_parse_hex("83 00 80", bytes, 16), INSN_MODE_64, &insn), 0);
	CHECK_EQ(insn.immediate, 0xffffffffffffff80ull);
	CHECK_EQ(insn.has_modrm, true);
	CHECK_EQ(insn.modrm, 0x00);
	CHECK_EQ(insn.has_sib, false);
	CHECK_EQ(insn.opcode, 0x83);
	CHECK_EQ(insn.two_byte, false);

	CHECK_EQ(test_insn_decode_exact(bytes, test_insn_parse_hex("66 81 00 00 80", bytes, 16), INSN_MODE_64, &insn), 0);
	CHECK_EQ(insn.immediate, 0xffffffffffff8000ull);

	CHECK_EQ(test_insn_decode_exact(bytes, test_insn_parse_hex("4c 8b 44 8d 10", bytes, 16), INSN_MODE_64, &insn), 0);
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
	CHECK_EQ(test_insn_decode_exact(bytes, test_insn_parse_hex("88 20", bytes, 16), INSN_MODE_64, &insn), 0);
	CHECK_EQ(insn.reg.number, 0);
	CHECK_EQ(insn.reg.high_byte, true);
	CHECK_EQ(test_insn_decode_exact(bytes, test_insn_parse_hex("40 88 20", bytes, 16), INSN_MODE_64, &insn), 0);
	CHECK_EQ(insn.reg.number, 4);
	CHECK_EQ(insn.reg.high_byte, false);
	/* MOVZX's register is never a high byte. */
	CHECK_EQ(test_insn_decode_exact(bytes, test_insn_parse_hex("0f b6 20", bytes, 16), INSN_MODE_64, &insn), 0);
	CHECK_EQ(insn.reg.number, 4);
	CHECK_EQ(insn.reg.high_byte, false);
	CHECK_EQ(insn.two_byte, true);
	CHECK_EQ(insn.opcode, 0xb6);

	/* A REX followed by a legacy prefix is ignored; of two REX, the last. */
	CHECK_EQ(test_insn_decode_exact(bytes, test_insn_parse_hex("48 66 89 00", bytes, 16), INSN_MODE_64, &insn), 0);
	CHECK_EQ(insn.rex, 0);
	CHECK_EQ(insn.operand_size, 2);
	CHECK_EQ(test_insn_decode_exact(bytes, test_insn_parse_hex("48 41 89 00", bytes, 16), INSN_MODE_64, &insn), 0);
	CHECK_EQ(insn.rex, 0x41);
	CHECK_EQ(insn.operand_size, 4);
	CHECK_EQ(insn.memory.base, 8);

	/* REP kinds; F2/F3 on a non-string MOV are hints and dropped. */
	CHECK_EQ(test_insn_decode_exact(bytes, test_insn_parse_hex("f3 a4", bytes, 16), INSN_MODE_64, &insn), 0);
	CHECK_EQ(insn.rep, INSN_REP_F3);
	CHECK_EQ(test_insn_decode_exact(bytes, test_insn_parse_hex("f3 f2 a4", bytes, 16), INSN_MODE_64, &insn), 0);
	CHECK_EQ(insn.rep, INSN_REP_F2);
	CHECK_EQ(test_insn_decode_exact(bytes, test_insn_parse_hex("f2 89 00", bytes, 16), INSN_MODE_64, &insn), 0);
	CHECK_EQ(insn.rep, INSN_REP_NONE);

	/* Segment overrides: the last wins; in 64-bit mode only FS and GS count. */
	CHECK_EQ(test_insn_decode_exact(bytes, test_insn_parse_hex("26 36 8b 00", bytes, 16), INSN_MODE_32, &insn), 0);
	CHECK_EQ(insn.segment_override, INSN_SEG_SS);
	CHECK_EQ(test_insn_decode_exact(bytes, test_insn_parse_hex("65 26 8b 00", bytes, 16), INSN_MODE_64, &insn), 0);
	CHECK_EQ(insn.segment_override, INSN_SEG_GS);
	CHECK_EQ(test_insn_decode_exact(bytes, test_insn_parse_hex("26 8b 00", bytes, 16), INSN_MODE_64, &insn), 0);
	CHECK_EQ(insn.segment_override, INSN_NO_SEGMENT_OVERRIDE);
	/* MOVS: the override moves the source only. */
	CHECK_EQ(test_insn_decode_exact(bytes, test_insn_parse_hex("26 a5", bytes, 16), INSN_MODE_32, &insn), 0);
	CHECK_EQ(insn.memory.segment, INSN_SEG_ES);
	CHECK_EQ(insn.memory.base, INSN_REG_RSI);
}

/* Fields of the newer forms the canonical line does not show. */
UNIT_TEST(decode_fields_of_read_modify_write_forms)
{
	struct insn insn;
	uint8_t bytes[16];

	/* The condition code is the opcode's low nibble. */
	CHECK_EQ(test_insn_decode_exact(bytes, test_insn_parse_hex("0f 4e 03", bytes, 16), INSN_MODE_64,
					&insn), 0);
	CHECK_EQ(insn.condition, INSN_CC_LE);
	CHECK_EQ(test_insn_decode_exact(bytes, test_insn_parse_hex("0f 93 03", bytes, 16), INSN_MODE_64,
					&insn), 0);
	CHECK_EQ(insn.condition, INSN_CC_AE);
	CHECK_EQ(insn.source, INSN_OPERAND_NONE);
	CHECK_EQ(insn.reg.number, 0); /* ModRM.reg is ignored: no register operand */

	/* Shift counts: imm8 zero-extended, 1 implied, CL as register 1 (never CH). */
	CHECK_EQ(test_insn_decode_exact(bytes, test_insn_parse_hex("c0 23 ff", bytes, 16), INSN_MODE_64,
					&insn), 0);
	CHECK_EQ(insn.immediate, 0xff);
	CHECK_EQ(test_insn_decode_exact(bytes, test_insn_parse_hex("d1 23", bytes, 16), INSN_MODE_64,
					&insn), 0);
	CHECK_EQ(insn.source, INSN_OPERAND_IMMEDIATE);
	CHECK_EQ(insn.immediate, 1);
	CHECK_EQ(test_insn_decode_exact(bytes, test_insn_parse_hex("d2 23", bytes, 16), INSN_MODE_64,
					&insn), 0);
	CHECK_EQ(insn.source, INSN_OPERAND_REGISTER);
	CHECK_EQ(insn.reg.number, INSN_REG_RCX);
	CHECK_EQ(insn.reg.high_byte, false);
	/* BT's imm8 is zero-extended too; F6 /0's TEST imm8 as before. */
	CHECK_EQ(test_insn_decode_exact(bytes, test_insn_parse_hex("0f ba 23 80", bytes, 16),
					INSN_MODE_64, &insn), 0);
	CHECK_EQ(insn.immediate, 0x80);
	CHECK_EQ(test_insn_decode_exact(bytes, test_insn_parse_hex("f7 03 00 00 00 80", bytes, 16),
					INSN_MODE_64, &insn), 0);
	CHECK_EQ(insn.operation, INSN_TEST);
	CHECK_EQ(insn.immediate, 0xffffffff80000000ull);

	/* PUSH and POP: the stack is the other operand. */
	CHECK_EQ(test_insn_decode_exact(bytes, test_insn_parse_hex("ff 33", bytes, 16), INSN_MODE_64,
					&insn), 0);
	CHECK_EQ(insn.destination, INSN_OPERAND_STACK);
	CHECK_EQ(insn.source, INSN_OPERAND_MEMORY);
	CHECK_EQ(test_insn_decode_exact(bytes, test_insn_parse_hex("8f 03", bytes, 16), INSN_MODE_32,
					&insn), 0);
	CHECK_EQ(insn.destination, INSN_OPERAND_MEMORY);
	CHECK_EQ(insn.source, INSN_OPERAND_STACK);

	/* XACQUIRE on a LOCKed 0F instruction is a hint: no REP left. */
	CHECK_EQ(test_insn_decode_exact(bytes, test_insn_parse_hex("f2 f0 0f c1 03", bytes, 16),
					INSN_MODE_64, &insn), 0);
	CHECK_EQ(insn.rep, INSN_REP_NONE);
	CHECK_EQ(insn.lock, true);
	/* REPE and REPNE stay apart on CMPS and SCAS. */
	CHECK_EQ(test_insn_decode_exact(bytes, test_insn_parse_hex("f2 a6", bytes, 16), INSN_MODE_64,
					&insn), 0);
	CHECK_EQ(insn.rep, INSN_REP_F2);
	CHECK_EQ(insn.memory.base, INSN_REG_RSI);
	CHECK_EQ(test_insn_decode_exact(bytes, test_insn_parse_hex("64 f3 af", bytes, 16), INSN_MODE_64,
					&insn), 0);
	CHECK_EQ(insn.rep, INSN_REP_F3);
	CHECK_EQ(insn.memory.base, INSN_REG_RDI);
	CHECK_EQ(insn.memory.segment, INSN_SEG_ES); /* no override for SCAS */
	CHECK_EQ(insn.reg.number, INSN_REG_RAX);
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
			int err = test_insn_decode_exact(bytes, available, (enum insn_mode)mode, &insn);
			if (err) {
				CHECK(err == -EINVAL || err == -EAGAIN);
				continue;
			}
			accepted++;
			CHECK(insn.length >= 1 && insn.length <= available);
			CHECK_EQ(test_insn_decode_exact(bytes, insn.length, (enum insn_mode)mode, &again), 0);
			CHECK(memcmp(&insn, &again, sizeof(insn)) == 0);
			CHECK_EQ(test_insn_decode_exact(bytes, insn.length - 1u, (enum insn_mode)mode, &again),
				 -EAGAIN);
		}
	}
	CHECK(accepted > 10000);
}

UNIT_MAIN()

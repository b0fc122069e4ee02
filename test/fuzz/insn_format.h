/*
 * A decoded instruction as one line of text, in the canonical form the
 * objdump differential check (insn-objdump-diff) also derives from objdump's
 * disassembly, so the unit tests' expected strings can be checked against
 * objdump when they are written:
 *   len=<n> op=<mnemonic> lock=<0|1> rep=<0|1|2> osz=<n> asz=<n> ops=<a>|<b>
 * rep is enum insn_rep (1: F3, 2: F2). The operands are the ones objdump
 * shows, in its order: one for INC, NOT, SETcc, PUSH and the like (then
 * ops=<a>), none implied (CMPXCHG's accumulator, the stack). An operand is a
 * register name, i<hex> (the immediate masked to the operand size) or
 * m<size>:<segment>:<base>+<index>*<scale>+<hex displacement masked to the
 * address size>; "-" is no register. CMOVcc and SETcc carry objdump's
 * condition suffix (cmove, setb).
 */
#ifndef KAPSEL_TEST_FUZZ_INSN_FORMAT_H
#define KAPSEL_TEST_FUZZ_INSN_FORMAT_H

#include <stddef.h>

#include <vm/insn_decode.h>

/* Writes the line (no newline) to buffer; returns buffer. */
const char *insn_format(const struct insn *insn, char *buffer, size_t size);

#endif

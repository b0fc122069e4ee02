/*
 * A decoded instruction as one line of text, in the canonical form the
 * objdump differential check (insn-objdump-diff) also derives from objdump's
 * disassembly, so the unit tests' expected strings can be checked against
 * objdump when they are written:
 *   len=<n> op=<mnemonic> lock=<0|1> rep=<0|1> osz=<n> asz=<n> ops=<a>|<b>
 * An operand is a register name, i<hex> (the immediate masked to the
 * operand size) or m<size>:<segment>:<base>+<index>*<scale>+<hex
 * displacement masked to the address size>; "-" is no register.
 */
#ifndef KAPSEL_TEST_FUZZ_INSN_FORMAT_H
#define KAPSEL_TEST_FUZZ_INSN_FORMAT_H

#include <stddef.h>

#include <vm/insn_decode.h>

/* Writes the line (no newline) to buffer; returns buffer. */
const char *insn_format(const struct insn *insn, char *buffer, size_t size);

#endif

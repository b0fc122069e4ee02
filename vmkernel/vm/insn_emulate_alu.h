/*
 * The arithmetic of the emulated instructions (vm/insn_emulate.h): values
 * and RFLAGS status flags, no memory, no registers. Each function takes the
 * operand size in bytes (1 2 4 8), operands masked to it or not, and
 * *rflags, of which it changes only the status flags the instruction
 * changes (the undefined ones as vm/insn_emulate.h says), and returns the
 * result masked to the size.
 */
#ifndef KAPSEL_VM_INSN_EMULATE_ALU_H
#define KAPSEL_VM_INSN_EMULATE_ALU_H

#include <stdbool.h>
#include <stdint.h>

/* INSN_ADD .. INSN_CMP and INSN_TEST: a <op> b (CMP: a - b; TEST: a & b). */
uint64_t insn_alu_binary(unsigned operation, uint64_t a, uint64_t b, unsigned size,
			 uint64_t *rflags);

/* INSN_INC INSN_DEC INSN_NOT INSN_NEG. */
uint64_t insn_alu_unary(unsigned operation, uint64_t value, unsigned size, uint64_t *rflags);

/* INSN_ROL .. INSN_SAR by count as encoded (the CPU masks it to 5 bits, 6
 * with 64-bit operands; RCL RCR by 8- and 16-bit operands then rotate
 * modulo 9 and 17). */
uint64_t insn_alu_shift(unsigned operation, uint64_t value, uint64_t count, unsigned size,
			uint64_t *rflags);

/* INSN_BT .. INSN_BTC on bit (below 8 * size) of value: CF = the bit; the
 * result has it unchanged, set, cleared or flipped. */
uint64_t insn_alu_bit(unsigned operation, uint64_t value, unsigned bit, unsigned size,
		      uint64_t *rflags);

/* Whether condition (enum insn_condition) holds for these flags. */
bool insn_condition_holds(unsigned condition, uint64_t rflags);

#endif

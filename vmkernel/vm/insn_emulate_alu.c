#include <vm/insn_emulate_alu.h>

#include <vm/insn_decode.h>
#include <vm/insn_emulate.h>
#include <vm/insn_emulate_internal.h>

#define CF INSN_RFLAGS_CF
#define PF INSN_RFLAGS_PF
#define AF INSN_RFLAGS_AF
#define ZF INSN_RFLAGS_ZF
#define SF INSN_RFLAGS_SF
#define OF INSN_RFLAGS_OF

static bool even_parity(uint64_t value)
{
	uint8_t byte = (uint8_t)value;

	byte ^= byte >> 4;
	byte ^= byte >> 2;
	byte ^= byte >> 1;
	return !(byte & 1);
}

/* ZF SF PF of a result; PF looks at the low byte only. */
static uint64_t result_flags(uint64_t result, unsigned size)
{
	uint64_t flags = 0;

	if (result == 0)
		flags |= ZF;
	if ((result >> (8 * size - 1)) & 1)
		flags |= SF;
	if (even_parity(result))
		flags |= PF;
	return flags;
}

/* Replaces the flags in changed with those of flags. */
static void set_flags(uint64_t *rflags, uint64_t changed, uint64_t flags)
{
	*rflags = (*rflags & ~changed) | (flags & changed);
}

/*
 * Carries and borrows out of every bit position come from the operands and
 * the result: for a + b (+ carry-in) = r the carry out of bit i is bit i of
 * (a & b) | ((a | b) & ~r), for a - b (- borrow-in) = r the borrow is
 * (~a & b) | (~(a ^ b) & r). CF is the one out of the top bit, AF the one
 * out of bit 3. The logical operations clear CF and OF (and AF, undefined).
 */
uint64_t insn_alu_binary(unsigned operation, uint64_t a, uint64_t b, unsigned size,
			 uint64_t *rflags)
{
	uint64_t mask = insn_mask_of(size);
	unsigned top = 8 * size - 1;
	uint64_t carry_in = *rflags & CF;
	uint64_t result, carries = 0, overflow = 0, flags;

	a &= mask;
	b &= mask;
	switch (operation) {
	case INSN_ADD:
	case INSN_ADC:
		result = (a + b + (operation == INSN_ADC ? carry_in : 0)) & mask;
		carries = (a & b) | ((a | b) & ~result);
		overflow = (a ^ result) & (b ^ result);
		break;
	case INSN_SUB:
	case INSN_SBB:
	case INSN_CMP:
		result = (a - b - (operation == INSN_SBB ? carry_in : 0)) & mask;
		carries = (~a & b) | (~(a ^ b) & result);
		overflow = (a ^ b) & (a ^ result);
		break;
	case INSN_OR:
		result = a | b;
		break;
	case INSN_XOR:
		result = a ^ b;
		break;
	default: /* AND, TEST */
		result = a & b;
		break;
	}
	flags = result_flags(result, size);
	if ((carries >> top) & 1)
		flags |= CF;
	if ((carries >> 3) & 1)
		flags |= AF;
	if ((overflow >> top) & 1)
		flags |= OF;
	set_flags(rflags, INSN_RFLAGS_STATUS, flags);
	return result;
}

/* INC and DEC are ADD and SUB of 1 that keep CF; NEG is 0 - value (so CF
 * is set unless value is 0); NOT changes no flag. */
uint64_t insn_alu_unary(unsigned operation, uint64_t value, unsigned size, uint64_t *rflags)
{
	uint64_t carry = *rflags & CF, result;

	switch (operation) {
	case INSN_INC:
	case INSN_DEC:
		result = insn_alu_binary(operation == INSN_INC ? INSN_ADD : INSN_SUB, value, 1, size,
					 rflags);
		set_flags(rflags, CF, carry);
		return result;
	case INSN_NEG:
		return insn_alu_binary(INSN_SUB, 0, value, size, rflags);
	default: /* NOT */
		return ~value & insn_mask_of(size);
	}
}

/*
 * One bit position at a time, as the SDM's pseudo-code does: at most 63
 * steps. A masked count of 0 changes nothing. Rotates change only CF and
 * OF; RCL and RCR rotate through CF, so a count that is a multiple of
 * size + 1 leaves even CF. OF is defined for a count of 1: for left shifts
 * and rotates MSB(result) XOR CF, for ROR and RCR the XOR of the result's
 * two top bits, for SHR the operand's MSB, for SAR 0. Shifts set ZF SF PF
 * by the result; CF is the last bit shifted out.
 */
uint64_t insn_alu_shift(unsigned operation, uint64_t value, uint64_t count, unsigned size,
			uint64_t *rflags)
{
	unsigned width = 8 * size;
	uint64_t mask = insn_mask_of(size), top = 1ull << (width - 1);
	unsigned masked = (unsigned)count & (size == 8 ? 63 : 31);
	unsigned steps = masked;
	bool carry = *rflags & CF;
	uint64_t original, flags = 0;

	value &= mask;
	original = value;
	if (masked == 0)
		return value;
	if (operation == INSN_ROL || operation == INSN_ROR)
		steps = masked % width;
	else if (operation == INSN_RCL || operation == INSN_RCR)
		steps = masked % (width + 1);
	for (unsigned i = 0; i < steps; i++) {
		bool out;

		switch (operation) {
		case INSN_ROL:
			value = ((value << 1) | (value >> (width - 1))) & mask;
			break;
		case INSN_ROR:
			value = (value >> 1) | ((value & 1) << (width - 1));
			break;
		case INSN_RCL:
			out = value & top;
			value = ((value << 1) | carry) & mask;
			carry = out;
			break;
		case INSN_RCR:
			out = value & 1;
			value = (value >> 1) | ((uint64_t)carry << (width - 1));
			carry = out;
			break;
		case INSN_SHL:
			carry = value & top;
			value = (value << 1) & mask;
			break;
		case INSN_SHR:
			carry = value & 1;
			value >>= 1;
			break;
		default: /* SAR */
			carry = value & 1;
			value = (value >> 1) | (value & top);
			break;
		}
	}

	bool msb = value & top, below_msb = (value >> (width - 2)) & 1;

	switch (operation) {
	case INSN_ROL:
		carry = value & 1;
		break;
	case INSN_ROR:
		carry = msb;
		break;
	case INSN_RCL:
	case INSN_RCR:
		if (steps == 0)
			return value; /* a full turn: nothing moved */
		break;
	default:
		break;
	}
	if (carry)
		flags |= CF;
	if (operation == INSN_ROL || operation == INSN_RCL || operation == INSN_SHL)
		flags |= msb != carry ? OF : 0;
	else if (operation == INSN_ROR || operation == INSN_RCR)
		flags |= msb != below_msb ? OF : 0;
	else if (operation == INSN_SHR)
		flags |= (original & top) ? OF : 0;
	if (operation >= INSN_SHL) {
		flags |= result_flags(value, size);
		set_flags(rflags, INSN_RFLAGS_STATUS, flags);
	} else {
		set_flags(rflags, CF | OF, flags);
	}
	return value;
}

uint64_t insn_alu_bit(unsigned operation, uint64_t value, unsigned bit, unsigned size,
		      uint64_t *rflags)
{
	uint64_t selected = 1ull << (bit & 63);

	value &= insn_mask_of(size);
	set_flags(rflags, CF, (value & selected) ? CF : 0);
	switch (operation) {
	case INSN_BTS: return value | selected;
	case INSN_BTR: return value & ~selected;
	case INSN_BTC: return value ^ selected;
	default: return value; /* BT */
	}
}

/* Conditions come in pairs, the odd one the even one negated. */
bool insn_condition_holds(unsigned condition, uint64_t rflags)
{
	bool cf = rflags & CF, zf = rflags & ZF, sf = rflags & SF, of = rflags & OF;
	bool pf = rflags & PF, holds;

	switch ((condition >> 1) & 7) {
	case 0: holds = of; break;                   /* O */
	case 1: holds = cf; break;                   /* B */
	case 2: holds = zf; break;                   /* E */
	case 3: holds = cf || zf; break;             /* BE */
	case 4: holds = sf; break;                   /* S */
	case 5: holds = pf; break;                   /* P */
	case 6: holds = sf != of; break;             /* L */
	default: holds = zf || sf != of; break;      /* LE */
	}
	return (condition & 1) ? !holds : holds;
}

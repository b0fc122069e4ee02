/*
 * The host processor as the reference for the emulator's results and flags
 * (x86-64 hosts only): host_alu() host_unary() host_shift() host_bit()
 * host_cmpxchg() host_xadd() host_set() host_cmov() run the real
 * instruction. Shared by the unit tests and the fuzz target. Each takes
 * *flags (or flags) as RFLAGS in; only the status flags, DF, bit 1 and IF
 * should be set: popf would load TF and AC too.
 */
#ifndef KAPSEL_TEST_FUZZ_HOST_ALU_H
#define KAPSEL_TEST_FUZZ_HOST_ALU_H

#include <stdint.h>

#include <vm/insn_decode.h>

/* Runs `<mnemonic> b, a` at the given size with *flags as RFLAGS in;
 * returns a afterwards and sets *flags to RFLAGS out. The red zone is
 * stepped over because pushf/popf write below RSP. */
#define HOST_ALU(name)                                                                          \
	static inline uint64_t host_##name(unsigned size, uint64_t a, uint64_t b, uint64_t *flags) \
	{                                                                                       \
		uint64_t f = *flags;                                                            \
		switch (size) {                                                                 \
		case 1:                                                                         \
			__asm__("lea -128(%%rsp),%%rsp\n\tpush %[f]\n\tpopf\n\t" #name          \
				"b %b[b],%b[a]\n\tpushf\n\tpop %[f]\n\tlea 128(%%rsp),%%rsp"    \
				: [a] "+r"(a), [f] "+r"(f) : [b] "r"(b) : "cc", "memory");      \
			break;                                                                  \
		case 2:                                                                         \
			__asm__("lea -128(%%rsp),%%rsp\n\tpush %[f]\n\tpopf\n\t" #name          \
				"w %w[b],%w[a]\n\tpushf\n\tpop %[f]\n\tlea 128(%%rsp),%%rsp"    \
				: [a] "+r"(a), [f] "+r"(f) : [b] "r"(b) : "cc", "memory");      \
			break;                                                                  \
		case 4:                                                                         \
			__asm__("lea -128(%%rsp),%%rsp\n\tpush %[f]\n\tpopf\n\t" #name          \
				"l %k[b],%k[a]\n\tpushf\n\tpop %[f]\n\tlea 128(%%rsp),%%rsp"    \
				: [a] "+r"(a), [f] "+r"(f) : [b] "r"(b) : "cc", "memory");      \
			break;                                                                  \
		default:                                                                        \
			__asm__("lea -128(%%rsp),%%rsp\n\tpush %[f]\n\tpopf\n\t" #name          \
				"q %q[b],%q[a]\n\tpushf\n\tpop %[f]\n\tlea 128(%%rsp),%%rsp"    \
				: [a] "+r"(a), [f] "+r"(f) : [b] "r"(b) : "cc", "memory");      \
			break;                                                                  \
		}                                                                               \
		*flags = f;                                                                     \
		return a;                                                                       \
	}

HOST_ALU(add)
HOST_ALU(or)
HOST_ALU(adc)
HOST_ALU(sbb)
HOST_ALU(and)
HOST_ALU(sub)
HOST_ALU(xor)
HOST_ALU(cmp)
HOST_ALU(test)

#undef HOST_ALU

/* Around each instruction below: RFLAGS in from f, out to f. */
#define HOST_FLAGS_IN "lea -128(%%rsp),%%rsp\n\tpush %[f]\n\tpopf\n\t"
#define HOST_FLAGS_OUT "\n\tpushf\n\tpop %[f]\n\tlea 128(%%rsp),%%rsp"

/* `<mnemonic> a` at the given size; returns a afterwards. */
#define HOST_UNARY(name)                                                                         \
	static inline uint64_t host_##name(unsigned size, uint64_t a, uint64_t *flags)            \
	{                                                                                        \
		uint64_t f = *flags;                                                             \
		switch (size) {                                                                  \
		case 1:                                                                          \
			__asm__(HOST_FLAGS_IN #name "b %b[a]" HOST_FLAGS_OUT                     \
				: [a] "+r"(a), [f] "+r"(f) : : "cc", "memory");                  \
			break;                                                                   \
		case 2:                                                                          \
			__asm__(HOST_FLAGS_IN #name "w %w[a]" HOST_FLAGS_OUT                     \
				: [a] "+r"(a), [f] "+r"(f) : : "cc", "memory");                  \
			break;                                                                   \
		case 4:                                                                          \
			__asm__(HOST_FLAGS_IN #name "l %k[a]" HOST_FLAGS_OUT                     \
				: [a] "+r"(a), [f] "+r"(f) : : "cc", "memory");                  \
			break;                                                                   \
		default:                                                                         \
			__asm__(HOST_FLAGS_IN #name "q %q[a]" HOST_FLAGS_OUT                     \
				: [a] "+r"(a), [f] "+r"(f) : : "cc", "memory");                  \
			break;                                                                   \
		}                                                                                \
		*flags = f;                                                                      \
		return a;                                                                        \
	}

HOST_UNARY(inc)
HOST_UNARY(dec)
HOST_UNARY(not)
HOST_UNARY(neg)

/* `<mnemonic> %cl, a` at the given size; returns a afterwards. */
#define HOST_SHIFT(name)                                                                         \
	static inline uint64_t host_##name(unsigned size, uint64_t a, uint8_t count,             \
					   uint64_t *flags)                                      \
	{                                                                                        \
		uint64_t f = *flags;                                                             \
		switch (size) {                                                                  \
		case 1:                                                                          \
			__asm__(HOST_FLAGS_IN #name "b %%cl,%b[a]" HOST_FLAGS_OUT                \
				: [a] "+r"(a), [f] "+r"(f) : "c"(count) : "cc", "memory");       \
			break;                                                                   \
		case 2:                                                                          \
			__asm__(HOST_FLAGS_IN #name "w %%cl,%w[a]" HOST_FLAGS_OUT                \
				: [a] "+r"(a), [f] "+r"(f) : "c"(count) : "cc", "memory");       \
			break;                                                                   \
		case 4:                                                                          \
			__asm__(HOST_FLAGS_IN #name "l %%cl,%k[a]" HOST_FLAGS_OUT                \
				: [a] "+r"(a), [f] "+r"(f) : "c"(count) : "cc", "memory");       \
			break;                                                                   \
		default:                                                                         \
			__asm__(HOST_FLAGS_IN #name "q %%cl,%q[a]" HOST_FLAGS_OUT                \
				: [a] "+r"(a), [f] "+r"(f) : "c"(count) : "cc", "memory");       \
			break;                                                                   \
		}                                                                                \
		*flags = f;                                                                      \
		return a;                                                                        \
	}

HOST_SHIFT(rol)
HOST_SHIFT(ror)
HOST_SHIFT(rcl)
HOST_SHIFT(rcr)
HOST_SHIFT(shl)
HOST_SHIFT(shr)
HOST_SHIFT(sar)

/* `<mnemonic> bit, a` on registers (so bit counts modulo the size), sizes
 * 2 4 8; returns a afterwards. */
#define HOST_BIT(name)                                                                           \
	static inline uint64_t host_##name(unsigned size, uint64_t a, uint64_t bit,              \
					   uint64_t *flags)                                      \
	{                                                                                        \
		uint64_t f = *flags;                                                             \
		switch (size) {                                                                  \
		case 2:                                                                          \
			__asm__(HOST_FLAGS_IN #name "w %w[b],%w[a]" HOST_FLAGS_OUT               \
				: [a] "+r"(a), [f] "+r"(f) : [b] "r"(bit) : "cc", "memory");     \
			break;                                                                   \
		case 4:                                                                          \
			__asm__(HOST_FLAGS_IN #name "l %k[b],%k[a]" HOST_FLAGS_OUT               \
				: [a] "+r"(a), [f] "+r"(f) : [b] "r"(bit) : "cc", "memory");     \
			break;                                                                   \
		default:                                                                         \
			__asm__(HOST_FLAGS_IN #name "q %q[b],%q[a]" HOST_FLAGS_OUT               \
				: [a] "+r"(a), [f] "+r"(f) : [b] "r"(bit) : "cc", "memory");     \
			break;                                                                   \
		}                                                                                \
		*flags = f;                                                                      \
		return a;                                                                        \
	}

HOST_BIT(bt)
HOST_BIT(bts)
HOST_BIT(btr)
HOST_BIT(btc)

#undef HOST_UNARY
#undef HOST_SHIFT
#undef HOST_BIT

/* operation: INSN_INC INSN_DEC INSN_NOT INSN_NEG. */
static inline uint64_t host_unary(unsigned operation, unsigned size, uint64_t a, uint64_t *flags)
{
	switch (operation) {
	case INSN_INC: return host_inc(size, a, flags);
	case INSN_DEC: return host_dec(size, a, flags);
	case INSN_NOT: return host_not(size, a, flags);
	default: return host_neg(size, a, flags);
	}
}

/* operation: INSN_ROL .. INSN_SAR. */
static inline uint64_t host_shift(unsigned operation, unsigned size, uint64_t a, uint8_t count,
				  uint64_t *flags)
{
	switch (operation) {
	case INSN_ROL: return host_rol(size, a, count, flags);
	case INSN_ROR: return host_ror(size, a, count, flags);
	case INSN_RCL: return host_rcl(size, a, count, flags);
	case INSN_RCR: return host_rcr(size, a, count, flags);
	case INSN_SHL: return host_shl(size, a, count, flags);
	case INSN_SHR: return host_shr(size, a, count, flags);
	default: return host_sar(size, a, count, flags);
	}
}

/* operation: INSN_BT .. INSN_BTC; size 2 4 8. */
static inline uint64_t host_bit(unsigned operation, unsigned size, uint64_t a, uint64_t bit,
				uint64_t *flags)
{
	switch (operation) {
	case INSN_BT: return host_bt(size, a, bit, flags);
	case INSN_BTS: return host_bts(size, a, bit, flags);
	case INSN_BTR: return host_btr(size, a, bit, flags);
	default: return host_btc(size, a, bit, flags);
	}
}

/* `cmpxchg src, (dest)` with *accumulator as RAX; returns the memory after. */
static inline uint64_t host_cmpxchg(unsigned size, uint64_t dest, uint64_t src,
				    uint64_t *accumulator, uint64_t *flags)
{
	uint64_t f = *flags, a = *accumulator;

	switch (size) {
	case 1:
		__asm__(HOST_FLAGS_IN "cmpxchgb %b[s],(%[p])" HOST_FLAGS_OUT
			: "+a"(a), [f] "+r"(f) : [p] "r"(&dest), [s] "r"(src) : "cc", "memory");
		break;
	case 2:
		__asm__(HOST_FLAGS_IN "cmpxchgw %w[s],(%[p])" HOST_FLAGS_OUT
			: "+a"(a), [f] "+r"(f) : [p] "r"(&dest), [s] "r"(src) : "cc", "memory");
		break;
	case 4:
		__asm__(HOST_FLAGS_IN "cmpxchgl %k[s],(%[p])" HOST_FLAGS_OUT
			: "+a"(a), [f] "+r"(f) : [p] "r"(&dest), [s] "r"(src) : "cc", "memory");
		break;
	default:
		__asm__(HOST_FLAGS_IN "cmpxchgq %q[s],(%[p])" HOST_FLAGS_OUT
			: "+a"(a), [f] "+r"(f) : [p] "r"(&dest), [s] "r"(src) : "cc", "memory");
		break;
	}
	*flags = f;
	*accumulator = a;
	return dest;
}

/* `xadd *reg, (dest)`; returns the memory after, *reg the register after. */
static inline uint64_t host_xadd(unsigned size, uint64_t dest, uint64_t *reg, uint64_t *flags)
{
	uint64_t f = *flags, r = *reg;

	switch (size) {
	case 1:
		__asm__(HOST_FLAGS_IN "xaddb %b[r],(%[p])" HOST_FLAGS_OUT
			: [r] "+r"(r), [f] "+r"(f) : [p] "r"(&dest) : "cc", "memory");
		break;
	case 2:
		__asm__(HOST_FLAGS_IN "xaddw %w[r],(%[p])" HOST_FLAGS_OUT
			: [r] "+r"(r), [f] "+r"(f) : [p] "r"(&dest) : "cc", "memory");
		break;
	case 4:
		__asm__(HOST_FLAGS_IN "xaddl %k[r],(%[p])" HOST_FLAGS_OUT
			: [r] "+r"(r), [f] "+r"(f) : [p] "r"(&dest) : "cc", "memory");
		break;
	default:
		__asm__(HOST_FLAGS_IN "xaddq %q[r],(%[p])" HOST_FLAGS_OUT
			: [r] "+r"(r), [f] "+r"(f) : [p] "r"(&dest) : "cc", "memory");
		break;
	}
	*flags = f;
	*reg = r;
	return dest;
}

/* SETcc and CMOVcc (memory source, sizes 2 4 8) for each condition code. */
#define HOST_CONDITION(cc)                                                                       \
	static inline uint64_t host_set##cc(uint64_t flags)                                      \
	{                                                                                        \
		uint64_t f = flags, r = 0;                                                       \
		__asm__(HOST_FLAGS_IN "set" #cc " %b[r]" HOST_FLAGS_OUT                          \
			: [r] "+r"(r), [f] "+r"(f) : : "cc", "memory");                          \
		return r;                                                                        \
	}                                                                                        \
	static inline uint64_t host_cmov##cc(unsigned size, uint64_t d, uint64_t source,        \
					     uint64_t flags)                                     \
	{                                                                                        \
		uint64_t f = flags;                                                              \
		switch (size) {                                                                  \
		case 2:                                                                          \
			__asm__(HOST_FLAGS_IN "cmov" #cc "w (%[p]),%w[d]" HOST_FLAGS_OUT         \
				: [d] "+r"(d), [f] "+r"(f) : [p] "r"(&source) : "cc", "memory"); \
			break;                                                                   \
		case 4:                                                                          \
			__asm__(HOST_FLAGS_IN "cmov" #cc "l (%[p]),%k[d]" HOST_FLAGS_OUT         \
				: [d] "+r"(d), [f] "+r"(f) : [p] "r"(&source) : "cc", "memory"); \
			break;                                                                   \
		default:                                                                         \
			__asm__(HOST_FLAGS_IN "cmov" #cc "q (%[p]),%q[d]" HOST_FLAGS_OUT         \
				: [d] "+r"(d), [f] "+r"(f) : [p] "r"(&source) : "cc", "memory"); \
			break;                                                                   \
		}                                                                                \
		return d;                                                                        \
	}

HOST_CONDITION(o)
HOST_CONDITION(no)
HOST_CONDITION(b)
HOST_CONDITION(ae)
HOST_CONDITION(e)
HOST_CONDITION(ne)
HOST_CONDITION(be)
HOST_CONDITION(a)
HOST_CONDITION(s)
HOST_CONDITION(ns)
HOST_CONDITION(p)
HOST_CONDITION(np)
HOST_CONDITION(l)
HOST_CONDITION(ge)
HOST_CONDITION(le)
HOST_CONDITION(g)

#undef HOST_CONDITION

/* `set<cc>` of condition (enum insn_condition) under flags: 0 or 1. */
static inline uint64_t host_set(unsigned condition, uint64_t flags)
{
	switch (condition & 15) {
	case 0: return host_seto(flags);
	case 1: return host_setno(flags);
	case 2: return host_setb(flags);
	case 3: return host_setae(flags);
	case 4: return host_sete(flags);
	case 5: return host_setne(flags);
	case 6: return host_setbe(flags);
	case 7: return host_seta(flags);
	case 8: return host_sets(flags);
	case 9: return host_setns(flags);
	case 10: return host_setp(flags);
	case 11: return host_setnp(flags);
	case 12: return host_setl(flags);
	case 13: return host_setge(flags);
	case 14: return host_setle(flags);
	default: return host_setg(flags);
	}
}

/* `cmov<cc> (source), d` at size 2 4 8; returns d afterwards (the whole register). */
static inline uint64_t host_cmov(unsigned condition, unsigned size, uint64_t d, uint64_t source,
				 uint64_t flags)
{
	switch (condition & 15) {
	case 0: return host_cmovo(size, d, source, flags);
	case 1: return host_cmovno(size, d, source, flags);
	case 2: return host_cmovb(size, d, source, flags);
	case 3: return host_cmovae(size, d, source, flags);
	case 4: return host_cmove(size, d, source, flags);
	case 5: return host_cmovne(size, d, source, flags);
	case 6: return host_cmovbe(size, d, source, flags);
	case 7: return host_cmova(size, d, source, flags);
	case 8: return host_cmovs(size, d, source, flags);
	case 9: return host_cmovns(size, d, source, flags);
	case 10: return host_cmovp(size, d, source, flags);
	case 11: return host_cmovnp(size, d, source, flags);
	case 12: return host_cmovl(size, d, source, flags);
	case 13: return host_cmovge(size, d, source, flags);
	case 14: return host_cmovle(size, d, source, flags);
	default: return host_cmovg(size, d, source, flags);
	}
}

/* operation: INSN_ADD .. INSN_CMP or INSN_TEST. Only the status flags of
 * *flags should be set beyond bit 1 and IF: popf would load TF and AC too. */
static inline uint64_t host_alu(unsigned operation, unsigned size, uint64_t a, uint64_t b,
				uint64_t *flags)
{
	switch (operation) {
	case INSN_ADD: return host_add(size, a, b, flags);
	case INSN_OR: return host_or(size, a, b, flags);
	case INSN_ADC: return host_adc(size, a, b, flags);
	case INSN_SBB: return host_sbb(size, a, b, flags);
	case INSN_AND: return host_and(size, a, b, flags);
	case INSN_SUB: return host_sub(size, a, b, flags);
	case INSN_XOR: return host_xor(size, a, b, flags);
	case INSN_CMP: return host_cmp(size, a, b, flags);
	default: return host_test(size, a, b, flags);
	}
}

#endif

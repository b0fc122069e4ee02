/*
 * The host processor as the reference for the emulator's ALU results and
 * flags (x86-64 hosts only): host_alu() runs the real instruction. Shared by
 * the unit tests and the fuzz target.
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

#include "insn_format.h"

#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>

static const char *const names64[16] = { "rax", "rcx", "rdx", "rbx", "rsp", "rbp", "rsi", "rdi",
					 "r8", "r9", "r10", "r11", "r12", "r13", "r14", "r15" };
static const char *const names32[16] = { "eax", "ecx", "edx", "ebx", "esp", "ebp", "esi", "edi",
					 "r8d", "r9d", "r10d", "r11d", "r12d", "r13d", "r14d", "r15d" };
static const char *const names16[16] = { "ax", "cx", "dx", "bx", "sp", "bp", "si", "di",
					 "r8w", "r9w", "r10w", "r11w", "r12w", "r13w", "r14w", "r15w" };
static const char *const names8[16] = { "al", "cl", "dl", "bl", "spl", "bpl", "sil", "dil",
					"r8b", "r9b", "r10b", "r11b", "r12b", "r13b", "r14b", "r15b" };
static const char *const names8_high[4] = { "ah", "ch", "dh", "bh" };
static const char *const segment_names[INSN_SEGMENT_COUNT] = { "es", "cs", "ss", "ds", "fs", "gs" };
static const char *const mnemonics[INSN_OPERATION_COUNT] = {
	"add", "or", "adc", "sbb", "and", "sub", "xor", "cmp", "test", "mov",
	"movzx", "movsx", "xchg", "cmpxchg", "xadd", "inc", "dec", "not", "neg",
	"rol", "ror", "rcl", "rcr", "shl", "shr", "sar", "bt", "bts", "btr", "btc",
	"cmov", "set", "push", "pop", "movs", "stos", "lods", "cmps", "scas",
};
/* objdump's condition suffixes, by enum insn_condition. */
static const char *const conditions[16] = { "o", "no", "b", "ae", "e", "ne", "be", "a",
					    "s", "ns", "p", "np", "l", "ge", "le", "g" };

static const char *register_name(unsigned number, unsigned size, int high_byte)
{
	if (number == INSN_REG_NONE)
		return "-";
	if (number == INSN_REG_RIP)
		return size == 8 ? "rip" : "eip";
	if (number >= 16)
		return "?";
	switch (size) {
	case 1: return high_byte ? names8_high[number & 3] : names8[number];
	case 2: return names16[number];
	case 4: return names32[number];
	default: return names64[number];
	}
}

static uint64_t mask_of(unsigned bytes)
{
	return bytes >= 8 ? ~0ull : (1ull << (8 * bytes)) - 1;
}

static int format_memory(char *out, size_t size, const struct insn *insn,
			 const struct insn_memory_operand *m)
{
	return snprintf(out, size, "m%u:%s:%s+%s*%u+%" PRIx64, insn->memory_size,
			m->segment < INSN_SEGMENT_COUNT ? segment_names[m->segment] : "?",
			register_name(m->base, insn->address_size, 0),
			register_name(m->index, insn->address_size, 0),
			m->index == INSN_REG_NONE ? 1 : m->scale,
			m->displacement & mask_of(insn->address_size));
}

static int format_operand(char *out, size_t size, const struct insn *insn, unsigned kind,
			  int second)
{
	/* MOVS: the destination ES:[rDI] first, the source (insn->memory)
	 * second; CMPS as objdump shows it: DS:[rSI] (insn->memory), ES:[rDI]. */
	struct insn_memory_operand es_rdi = {
		.base = INSN_REG_RDI, .index = INSN_REG_NONE, .scale = 1, .segment = INSN_SEG_ES,
	};
	bool shift = insn->operation >= INSN_ROL && insn->operation <= INSN_SAR;

	switch (kind) {
	case INSN_OPERAND_MEMORY:
		if ((insn->operation == INSN_MOVS && !second) || (insn->operation == INSN_CMPS && second))
			return format_memory(out, size, insn, &es_rdi);
		return format_memory(out, size, insn, &insn->memory);
	case INSN_OPERAND_REGISTER:
		/* A shift's count register is CL. */
		return snprintf(out, size, "%s",
				register_name(insn->reg.number, shift ? 1 : insn->operand_size,
					      insn->reg.high_byte));
	case INSN_OPERAND_IMMEDIATE:
		return snprintf(out, size, "i%" PRIx64, insn->immediate & mask_of(insn->operand_size));
	default:
		return snprintf(out, size, "?");
	}
}

/* The operands objdump shows: the stack and absent ones are left out. */
static bool shown(unsigned kind)
{
	return kind == INSN_OPERAND_MEMORY || kind == INSN_OPERAND_REGISTER ||
	       kind == INSN_OPERAND_IMMEDIATE;
}

const char *insn_format(const struct insn *insn, char *buffer, size_t size)
{
	char first[96] = "", second[96] = "", mnemonic[16];
	const char *name = insn->operation < INSN_OPERATION_COUNT ? mnemonics[insn->operation] : "?";

	if (insn->operation == INSN_MOVSX && !insn->two_byte)
		name = "movsxd";
	if (insn->operation == INSN_CMOV || insn->operation == INSN_SET)
		snprintf(mnemonic, sizeof(mnemonic), "%s%s", name, conditions[insn->condition & 15]);
	else
		snprintf(mnemonic, sizeof(mnemonic), "%s", name);
	if (shown(insn->destination))
		format_operand(first, sizeof(first), insn, insn->destination, 0);
	if (shown(insn->source))
		format_operand(second, sizeof(second), insn, insn->source, 1);
	snprintf(buffer, size, "len=%u op=%s lock=%d rep=%u osz=%u asz=%u ops=%s%s%s", insn->length,
		 mnemonic, insn->lock, insn->rep, insn->operand_size, insn->address_size, first,
		 first[0] && second[0] ? "|" : "", second);
	return buffer;
}

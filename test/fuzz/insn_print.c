/*
 * Host tool for test/fuzz/insn-objdump-diff: reads lines "<16|32|64> <hex
 * bytes>" and prints, per line, what vm/insn_decode.c makes of them in the
 * canonical form the script also derives from objdump's disassembly:
 *   ERR <errno>
 *   len=<n> op=<mnemonic> lock=<0|1> rep=<0|1> osz=<n> asz=<n> ops=<operand>|<operand>
 * An operand is a register name, i<hex> (immediate, masked to the operand
 * size) or m<size>:<segment>:<base>+<index>*<scale>+<hex displacement>.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lib/errno.h>
#include <vm/insn_decode.h>

static const char *const names64[16] = { "rax", "rcx", "rdx", "rbx", "rsp", "rbp", "rsi", "rdi",
					 "r8", "r9", "r10", "r11", "r12", "r13", "r14", "r15" };
static const char *const names32[16] = { "eax", "ecx", "edx", "ebx", "esp", "ebp", "esi", "edi",
					 "r8d", "r9d", "r10d", "r11d", "r12d", "r13d", "r14d", "r15d" };
static const char *const names16[16] = { "ax", "cx", "dx", "bx", "sp", "bp", "si", "di",
					 "r8w", "r9w", "r10w", "r11w", "r12w", "r13w", "r14w", "r15w" };
static const char *const names8[16] = { "al", "cl", "dl", "bl", "spl", "bpl", "sil", "dil",
					"r8b", "r9b", "r10b", "r11b", "r12b", "r13b", "r14b", "r15b" };
static const char *const names8_high[4] = { "ah", "ch", "dh", "bh" };
static const char *const segment_names[6] = { "es", "cs", "ss", "ds", "fs", "gs" };

static const char *register_name(unsigned number, unsigned size, int high_byte)
{
	if (number == INSN_REG_NONE)
		return "-";
	if (number == INSN_REG_RIP)
		return size == 8 ? "rip" : "eip";
	switch (size) {
	case 1: return high_byte ? names8_high[number & 3] : names8[number & 15];
	case 2: return names16[number & 15];
	case 4: return names32[number & 15];
	default: return names64[number & 15];
	}
}

static const char *mnemonic(const struct insn *insn)
{
	static const char *const names[INSN_OPERATION_COUNT] = {
		"add", "or", "adc", "sbb", "and", "sub", "xor", "cmp", "test", "mov",
		"movzx", "movsx", "xchg", "movs", "stos", "lods",
	};

	if (insn->operation == INSN_MOVSX && !insn->two_byte)
		return "movsxd";
	return names[insn->operation];
}

static uint64_t mask_of(unsigned bytes)
{
	return bytes >= 8 ? ~0ull : (1ull << (8 * bytes)) - 1;
}

static void print_memory(const struct insn *insn, const struct insn_memory_operand *m)
{
	unsigned index_scale = m->index == INSN_REG_NONE ? 1 : m->scale;

	printf("m%u:%s:%s+%s*%u+%" PRIx64, insn->memory_size, segment_names[m->segment],
	       register_name(m->base, insn->address_size, 0),
	       register_name(m->index, insn->address_size, 0), index_scale,
	       m->displacement & mask_of(insn->address_size));
}

static void print_operand(const struct insn *insn, unsigned kind, int second_memory)
{
	struct insn_memory_operand destination = {
		.base = INSN_REG_RDI, .index = INSN_REG_NONE, .scale = 1, .segment = INSN_SEG_ES,
	};

	switch (kind) {
	case INSN_OPERAND_MEMORY:
		/* MOVS: the destination ES:[rDI] first, the source second. */
		if (insn->operation == INSN_MOVS && !second_memory)
			print_memory(insn, &destination);
		else
			print_memory(insn, &insn->memory);
		break;
	case INSN_OPERAND_REGISTER:
		printf("%s", register_name(insn->reg.number, insn->operand_size, insn->reg.high_byte));
		break;
	case INSN_OPERAND_IMMEDIATE:
		printf("i%" PRIx64, insn->immediate & mask_of(insn->operand_size));
		break;
	default:
		printf("?");
	}
}

int main(void)
{
	char line[256];

	while (fgets(line, sizeof(line), stdin)) {
		uint8_t bytes[64];
		size_t count = 0;
		int mode_bits = 0, consumed = 0;
		struct insn insn;
		unsigned byte;

		if (sscanf(line, "%d%n", &mode_bits, &consumed) != 1)
			continue;
		char *cursor = line + consumed;
		int step;
		while (count < sizeof(bytes) && sscanf(cursor, "%2x%n", &byte, &step) == 1) {
			bytes[count++] = (uint8_t)byte;
			cursor += step;
		}
		enum insn_mode mode = mode_bits == 16 ? INSN_MODE_16 : mode_bits == 32 ? INSN_MODE_32
										      : INSN_MODE_64;
		int err = insn_decode(bytes, count, mode, &insn);
		if (err) {
			printf("ERR %d\n", err);
			continue;
		}
		printf("len=%u op=%s lock=%d rep=%d osz=%u asz=%u ops=", insn.length, mnemonic(&insn),
		       insn.lock, insn.rep != INSN_REP_NONE, insn.operand_size, insn.address_size);
		print_operand(&insn, insn.destination, 0);
		printf("|");
		print_operand(&insn, insn.source, 1);
		printf("\n");
	}
	return 0;
}

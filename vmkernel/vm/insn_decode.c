/*
 * Instruction layout (Intel SDM vol. 2 ch. 2, AMD APM vol. 3 ch. 1):
 *   legacy prefixes | REX (64-bit mode) | opcode (0F xx) | ModRM | SIB |
 *   displacement (0, 1, 2 or 4 bytes) | immediate (0, 1, 2 or 4 bytes)
 * at most 15 bytes in all. ModRM = mod(7:6) reg(5:3) rm(2:0); SIB =
 * scale(7:6) index(5:3) base(2:0). REX = 0100WRXB: W selects 64-bit
 * operands, R X B extend ModRM.reg, SIB.index and ModRM.rm / SIB.base.
 */
#include <vm/insn_decode.h>

#include <lib/errno.h>
#include <lib/string.h>

#define REX_W 0x08
#define REX_R 0x04
#define REX_X 0x02
#define REX_B 0x01

enum insn_mode insn_mode_of(bool efer_lma, bool cs_long, bool cs_default_32)
{
	if (efer_lma && cs_long)
		return INSN_MODE_64;
	return cs_default_32 ? INSN_MODE_32 : INSN_MODE_16;
}

/* What an opcode implies beyond its operation and operand kinds. */
#define OPC_MODRM (1u << 0)
#define OPC_BYTE (1u << 1)       /* 8-bit operand size */
#define OPC_IMM8 (1u << 2)       /* imm8, sign-extended */
#define OPC_IMM_FULL (1u << 3)   /* imm16 or imm32 (sign-extended for 64-bit) */
#define OPC_IMM_SIZED (1u << 4)  /* OPC_IMM8 for byte operations, else OPC_IMM_FULL */
#define OPC_UIMM8 (1u << 5)      /* imm8, zero-extended: shift counts, bit offsets */
#define OPC_MOFFS (1u << 6)      /* address-sized offset, no ModRM */
#define OPC_STRING (1u << 7)
#define OPC_REG_ZERO (1u << 8)   /* ModRM.reg must be 0 (C6 C7) */
#define OPC_NOT_64 (1u << 9)     /* invalid in 64-bit mode */
#define OPC_ONLY_64 (1u << 10)   /* a different instruction outside 64-bit mode */
#define OPC_COUNT_ONE (1u << 11) /* shift by 1, not encoded */
#define OPC_COUNT_CL (1u << 12)  /* shift by CL */
#define OPC_STACK (1u << 13)     /* 64-bit mode: 64-bit operands unless 66 (then 16) */
#define OPC_MEMORY_8 (1u << 14)  /* the memory side is 8 bits (MOVZX, MOVSX) */
#define OPC_MEMORY_16 (1u << 15) /* ... or 16 bits */
#define OPC_CONDITION (1u << 16) /* opcode bits 3:0 are a condition code */

/*
 * Groups: opcodes whose ModRM.reg selects the instruction. The group's row
 * for reg gives the operation and the destination (NONE: not supported), a
 * source when the opcode's own is not the one (TEST among NOT and NEG), and
 * flags added to the opcode's.
 */
enum opcode_group {
	GROUP_NONE,
	GROUP_ALU,       /* 80-83 */
	GROUP_SHIFT,     /* C0 C1 D0-D3: the count's kind is the opcode's */
	GROUP_UNARY,     /* F6 F7 */
	GROUP_INC_DEC,   /* FE */
	GROUP_INC_PUSH,  /* FF */
	GROUP_POP,       /* 8F */
	GROUP_BIT,       /* 0F BA */
	GROUP_COUNT
};

struct opcode_entry {
	uint8_t operation;   /* enum insn_operation */
	uint8_t destination; /* enum insn_operand_kind; NONE: not supported */
	uint8_t source;
	uint8_t group;       /* enum opcode_group */
	uint32_t flags;      /* OPC_* */
};

#define MEM INSN_OPERAND_MEMORY
#define REG INSN_OPERAND_REGISTER
#define IMM INSN_OPERAND_IMMEDIATE
#define STK INSN_OPERAND_STACK
#define NONE INSN_OPERAND_NONE

/* The four ModRM forms of one ALU row: r/m8,r8  r/m,r  r8,r/m8  r,r/m. */
#define ALU_ROW(first, op)                                            \
	[(first) + 0] = { op, MEM, REG, 0, OPC_MODRM | OPC_BYTE },    \
	[(first) + 1] = { op, MEM, REG, 0, OPC_MODRM },               \
	[(first) + 2] = { op, REG, MEM, 0, OPC_MODRM | OPC_BYTE },    \
	[(first) + 3] = { op, REG, MEM, 0, OPC_MODRM }

/* A group opcode: what its rows have in common. */
#define GROUP(group, source, flags) { 0, NONE, source, group, OPC_MODRM | (flags) }

static const struct opcode_entry one_byte_opcodes[256] = {
	ALU_ROW(0x00, INSN_ADD),
	ALU_ROW(0x08, INSN_OR),
	ALU_ROW(0x10, INSN_ADC),
	ALU_ROW(0x18, INSN_SBB),
	ALU_ROW(0x20, INSN_AND),
	ALU_ROW(0x28, INSN_SUB),
	ALU_ROW(0x30, INSN_XOR),
	ALU_ROW(0x38, INSN_CMP),
	[0x63] = { INSN_MOVSX, REG, MEM, 0, OPC_MODRM | OPC_ONLY_64 }, /* ARPL elsewhere */
	[0x80] = GROUP(GROUP_ALU, IMM, OPC_BYTE | OPC_IMM8),
	[0x81] = GROUP(GROUP_ALU, IMM, OPC_IMM_FULL),
	[0x82] = GROUP(GROUP_ALU, IMM, OPC_BYTE | OPC_IMM8 | OPC_NOT_64),
	[0x83] = GROUP(GROUP_ALU, IMM, OPC_IMM8),
	[0x84] = { INSN_TEST, MEM, REG, 0, OPC_MODRM | OPC_BYTE },
	[0x85] = { INSN_TEST, MEM, REG, 0, OPC_MODRM },
	[0x86] = { INSN_XCHG, MEM, REG, 0, OPC_MODRM | OPC_BYTE },
	[0x87] = { INSN_XCHG, MEM, REG, 0, OPC_MODRM },
	[0x88] = { INSN_MOV, MEM, REG, 0, OPC_MODRM | OPC_BYTE },
	[0x89] = { INSN_MOV, MEM, REG, 0, OPC_MODRM },
	[0x8a] = { INSN_MOV, REG, MEM, 0, OPC_MODRM | OPC_BYTE },
	[0x8b] = { INSN_MOV, REG, MEM, 0, OPC_MODRM },
	[0x8f] = GROUP(GROUP_POP, STK, OPC_STACK),
	[0xa0] = { INSN_MOV, REG, MEM, 0, OPC_MOFFS | OPC_BYTE },
	[0xa1] = { INSN_MOV, REG, MEM, 0, OPC_MOFFS },
	[0xa2] = { INSN_MOV, MEM, REG, 0, OPC_MOFFS | OPC_BYTE },
	[0xa3] = { INSN_MOV, MEM, REG, 0, OPC_MOFFS },
	[0xa4] = { INSN_MOVS, MEM, MEM, 0, OPC_STRING | OPC_BYTE },
	[0xa5] = { INSN_MOVS, MEM, MEM, 0, OPC_STRING },
	[0xa6] = { INSN_CMPS, MEM, MEM, 0, OPC_STRING | OPC_BYTE },
	[0xa7] = { INSN_CMPS, MEM, MEM, 0, OPC_STRING },
	[0xaa] = { INSN_STOS, MEM, REG, 0, OPC_STRING | OPC_BYTE },
	[0xab] = { INSN_STOS, MEM, REG, 0, OPC_STRING },
	[0xac] = { INSN_LODS, REG, MEM, 0, OPC_STRING | OPC_BYTE },
	[0xad] = { INSN_LODS, REG, MEM, 0, OPC_STRING },
	[0xae] = { INSN_SCAS, REG, MEM, 0, OPC_STRING | OPC_BYTE },
	[0xaf] = { INSN_SCAS, REG, MEM, 0, OPC_STRING },
	[0xc0] = GROUP(GROUP_SHIFT, IMM, OPC_BYTE | OPC_UIMM8),
	[0xc1] = GROUP(GROUP_SHIFT, IMM, OPC_UIMM8),
	[0xc6] = { INSN_MOV, MEM, IMM, 0, OPC_MODRM | OPC_BYTE | OPC_IMM8 | OPC_REG_ZERO },
	[0xc7] = { INSN_MOV, MEM, IMM, 0, OPC_MODRM | OPC_IMM_FULL | OPC_REG_ZERO },
	[0xd0] = GROUP(GROUP_SHIFT, IMM, OPC_BYTE | OPC_COUNT_ONE),
	[0xd1] = GROUP(GROUP_SHIFT, IMM, OPC_COUNT_ONE),
	[0xd2] = GROUP(GROUP_SHIFT, REG, OPC_BYTE | OPC_COUNT_CL),
	[0xd3] = GROUP(GROUP_SHIFT, REG, OPC_COUNT_CL),
	[0xf6] = GROUP(GROUP_UNARY, NONE, OPC_BYTE),
	[0xf7] = GROUP(GROUP_UNARY, NONE, 0),
	[0xfe] = GROUP(GROUP_INC_DEC, NONE, OPC_BYTE),
	[0xff] = GROUP(GROUP_INC_PUSH, NONE, 0),
};

/* The 0F map; F2/F3 before these are hints at most (see the header). */
static const struct opcode_entry two_byte_opcodes[256] = {
#define CMOV(cc) [0x40 + (cc)] = { INSN_CMOV, REG, MEM, 0, OPC_MODRM | OPC_CONDITION }
#define SET(cc) [0x90 + (cc)] = { INSN_SET, MEM, NONE, 0, OPC_MODRM | OPC_BYTE | OPC_CONDITION }
	CMOV(0), CMOV(1), CMOV(2), CMOV(3), CMOV(4), CMOV(5), CMOV(6), CMOV(7),
	CMOV(8), CMOV(9), CMOV(10), CMOV(11), CMOV(12), CMOV(13), CMOV(14), CMOV(15),
	SET(0), SET(1), SET(2), SET(3), SET(4), SET(5), SET(6), SET(7),
	SET(8), SET(9), SET(10), SET(11), SET(12), SET(13), SET(14), SET(15),
#undef CMOV
#undef SET
	[0xa3] = { INSN_BT, MEM, REG, 0, OPC_MODRM },
	[0xab] = { INSN_BTS, MEM, REG, 0, OPC_MODRM },
	[0xb0] = { INSN_CMPXCHG, MEM, REG, 0, OPC_MODRM | OPC_BYTE },
	[0xb1] = { INSN_CMPXCHG, MEM, REG, 0, OPC_MODRM },
	[0xb3] = { INSN_BTR, MEM, REG, 0, OPC_MODRM },
	[0xb6] = { INSN_MOVZX, REG, MEM, 0, OPC_MODRM | OPC_MEMORY_8 },
	[0xb7] = { INSN_MOVZX, REG, MEM, 0, OPC_MODRM | OPC_MEMORY_16 },
	[0xba] = GROUP(GROUP_BIT, IMM, OPC_UIMM8),
	[0xbb] = { INSN_BTC, MEM, REG, 0, OPC_MODRM },
	[0xbe] = { INSN_MOVSX, REG, MEM, 0, OPC_MODRM | OPC_MEMORY_8 },
	[0xbf] = { INSN_MOVSX, REG, MEM, 0, OPC_MODRM | OPC_MEMORY_16 },
	[0xc0] = { INSN_XADD, MEM, REG, 0, OPC_MODRM | OPC_BYTE },
	[0xc1] = { INSN_XADD, MEM, REG, 0, OPC_MODRM },
};

/* A group row: operation and destination; the source and flags come from
 * the opcode unless given. */
#define ROW(op, destination) { op, destination, NONE, 0, 0 }

static const struct opcode_entry groups[GROUP_COUNT][8] = {
	[GROUP_ALU] = {
		ROW(INSN_ADD, MEM), ROW(INSN_OR, MEM), ROW(INSN_ADC, MEM), ROW(INSN_SBB, MEM),
		ROW(INSN_AND, MEM), ROW(INSN_SUB, MEM), ROW(INSN_XOR, MEM), ROW(INSN_CMP, MEM),
	},
	[GROUP_SHIFT] = {
		ROW(INSN_ROL, MEM), ROW(INSN_ROR, MEM), ROW(INSN_RCL, MEM), ROW(INSN_RCR, MEM),
		ROW(INSN_SHL, MEM), ROW(INSN_SHR, MEM), ROW(INSN_SHL, MEM), ROW(INSN_SAR, MEM),
	},
	[GROUP_UNARY] = {
		[0] = { INSN_TEST, MEM, IMM, 0, OPC_IMM_SIZED },
		[2] = ROW(INSN_NOT, MEM),
		[3] = ROW(INSN_NEG, MEM),
	},
	[GROUP_INC_DEC] = { [0] = ROW(INSN_INC, MEM), [1] = ROW(INSN_DEC, MEM) },
	[GROUP_INC_PUSH] = {
		[0] = ROW(INSN_INC, MEM),
		[1] = ROW(INSN_DEC, MEM),
		[6] = { INSN_PUSH, STK, MEM, 0, OPC_STACK },
	},
	[GROUP_POP] = { [0] = ROW(INSN_POP, MEM) },
	[GROUP_BIT] = {
		[4] = ROW(INSN_BT, MEM), [5] = ROW(INSN_BTS, MEM), [6] = ROW(INSN_BTR, MEM),
		[7] = ROW(INSN_BTC, MEM),
	},
};

#undef ROW
#undef GROUP
#undef MEM
#undef REG
#undef IMM
#undef STK
#undef NONE

/* The bytes still to be read; every fetch is checked against both limits. */
struct byte_reader {
	const uint8_t *bytes;
	size_t available;
	size_t position;
};

static int fetch(struct byte_reader *r, unsigned count, uint64_t *value)
{
	uint64_t v = 0;

	*value = 0;
	for (unsigned i = 0; i < count; i++) {
		if (r->position >= INSN_MAX_LENGTH)
			return -EINVAL;
		if (r->position >= r->available)
			return -EAGAIN;
		v |= (uint64_t)r->bytes[r->position++] << (8 * i);
	}
	*value = v;
	return 0;
}

static int fetch_byte(struct byte_reader *r, uint8_t *byte)
{
	uint64_t v = 0;
	int err = fetch(r, 1, &v);

	*byte = (uint8_t)v;
	return err;
}

static uint64_t sign_extend(uint64_t value, unsigned bytes)
{
	uint64_t sign;

	if (bytes >= 8)
		return value;
	sign = 1ull << (8 * bytes - 1);
	value &= (sign << 1) - 1;
	return (value ^ sign) - sign;
}

static int fetch_signed(struct byte_reader *r, unsigned count, uint64_t *value)
{
	int err = fetch(r, count, value);

	*value = sign_extend(*value, count);
	return err;
}

static enum insn_segment segment_of_prefix(uint8_t byte)
{
	switch (byte) {
	case 0x26: return INSN_SEG_ES;
	case 0x2e: return INSN_SEG_CS;
	case 0x36: return INSN_SEG_SS;
	case 0x64: return INSN_SEG_FS;
	case 0x65: return INSN_SEG_GS;
	default: return INSN_SEG_DS;
	}
}

/*
 * 16-bit addressing (ModRM only, no SIB): rm selects one of eight base+index
 * pairs; mod 00 rm 110 is a bare disp16 instead of [BP]. Forms with BP
 * default to SS.
 */
static int decode_modrm_16(struct byte_reader *r, struct insn *insn, uint8_t mod, uint8_t rm)
{
	static const uint8_t base_of[8] = { 3, 3, 5, 5, 6, 7, 5, 3 };     /* BX BX BP BP SI DI BP BX */
	static const uint8_t index_of[8] = { 6, 7, 6, 7, INSN_REG_NONE, INSN_REG_NONE,
					     INSN_REG_NONE, INSN_REG_NONE }; /* SI DI SI DI */
	struct insn_memory_operand *m = &insn->memory;

	m->base = base_of[rm];
	m->index = index_of[rm];
	if (mod == 0 && rm == 6) {
		m->base = INSN_REG_NONE;
		return fetch_signed(r, 2, &m->displacement);
	}
	if (mod == 1)
		return fetch_signed(r, 1, &m->displacement);
	if (mod == 2)
		return fetch_signed(r, 2, &m->displacement);
	return 0;
}

/*
 * 32/64-bit addressing: rm 100 means a SIB byte follows; rm 101 with mod 00
 * is a bare disp32 (RIP-relative in 64-bit mode). In the SIB, index 100
 * without REX.X means none, and base 101 with mod 00 means disp32 without a
 * base. Both special cases look at the three encoded bits only: REX.B does
 * not turn them back into R12/R13.
 */
static int decode_modrm_32(struct byte_reader *r, struct insn *insn, enum insn_mode mode,
			   uint8_t mod, uint8_t rm)
{
	struct insn_memory_operand *m = &insn->memory;
	uint8_t rex_b = (insn->rex & REX_B) ? 8 : 0;
	unsigned displacement_bytes = mod == 1 ? 1 : mod == 2 ? 4 : 0;
	int err;

	m->base = rm | rex_b;
	if (rm == 4) {
		err = fetch_byte(r, &insn->sib);
		if (err)
			return err;
		insn->has_sib = true;
		uint8_t scale_bits = insn->sib >> 6;
		uint8_t index = ((insn->sib >> 3) & 7) | ((insn->rex & REX_X) ? 8 : 0);
		uint8_t base = insn->sib & 7;

		m->scale = 1u << scale_bits;
		m->index = index == INSN_REG_RSP ? INSN_REG_NONE : index;
		m->base = base | rex_b;
		if (base == 5 && mod == 0) {
			m->base = INSN_REG_NONE;
			displacement_bytes = 4;
		}
	} else if (rm == 5 && mod == 0) {
		m->base = mode == INSN_MODE_64 ? INSN_REG_RIP : INSN_REG_NONE;
		displacement_bytes = 4;
	}
	if (displacement_bytes == 0)
		return 0;
	return fetch_signed(r, displacement_bytes, &m->displacement);
}

/* ModRM.reg as a register operand of the given size. Without any REX, byte
 * registers 4..7 are AH CH DH BH; with one, SPL BPL SIL DIL. */
static struct insn_register_operand register_operand(const struct insn *insn, uint8_t number,
						     unsigned size)
{
	struct insn_register_operand reg = { .number = number, .high_byte = false };

	if (size == 1 && insn->rex == 0 && number >= 4 && number < 8) {
		reg.number = number - 4;
		reg.high_byte = true;
	}
	return reg;
}

/* LOCK is #UD except on these, and on them only with a memory destination. */
static bool lock_allowed(const struct insn *insn)
{
	if (insn->destination != INSN_OPERAND_MEMORY)
		return false;
	switch (insn->operation) {
	case INSN_ADD: case INSN_OR: case INSN_ADC: case INSN_SBB:
	case INSN_AND: case INSN_SUB: case INSN_XOR:
	case INSN_XCHG: case INSN_CMPXCHG: case INSN_XADD:
	case INSN_INC: case INSN_DEC: case INSN_NOT: case INSN_NEG:
	case INSN_BTS: case INSN_BTR: case INSN_BTC:
		return true;
	default:
		return false;
	}
}

/* Operand size: 64-bit mode defaults to 32 (REX.W: 64, else 66: 16); 32-bit
 * code to 32 (66: 16); 16-bit code to 16 (66: 32). PUSH and POP in 64-bit
 * mode have no 32-bit form: 64 unless 66 without REX.W. */
static unsigned default_operand_size(enum insn_mode mode, bool operand_prefix, uint8_t rex,
				     bool stack)
{
	if (mode == INSN_MODE_64 && (rex & REX_W))
		return 8;
	if (mode == INSN_MODE_64 && stack)
		return operand_prefix ? 2 : 8;
	if (mode == INSN_MODE_16)
		return operand_prefix ? 4 : 2;
	return operand_prefix ? 2 : 4;
}

static unsigned default_address_size(enum insn_mode mode, bool address_prefix)
{
	switch (mode) {
	case INSN_MODE_64: return address_prefix ? 4 : 8;
	case INSN_MODE_32: return address_prefix ? 2 : 4;
	default: return address_prefix ? 4 : 2;
	}
}

static int fetch_immediate(struct byte_reader *r, struct insn *insn, uint32_t flags)
{
	if (flags & OPC_IMM_SIZED)
		flags |= insn->operand_size == 1 ? OPC_IMM8 : OPC_IMM_FULL;
	if (flags & OPC_IMM8)
		return fetch_signed(r, 1, &insn->immediate);
	if (flags & OPC_IMM_FULL)
		return fetch_signed(r, insn->operand_size == 2 ? 2 : 4, &insn->immediate);
	if (flags & OPC_UIMM8)
		return fetch(r, 1, &insn->immediate);
	if (flags & OPC_COUNT_ONE)
		insn->immediate = 1;
	return 0;
}

/*
 * The opcode (byte, the first one read; a 0F escape reads the second), the
 * ModRM byte if it has one, and for a group the row ModRM.reg selects:
 * *entry says what the instruction is, *reg is ModRM.reg.
 */
static int decode_opcode(struct byte_reader *r, enum insn_mode mode, struct insn *insn,
			 uint8_t byte, struct opcode_entry *entry, uint8_t *reg)
{
	int err;

	insn->opcode = byte;
	*entry = one_byte_opcodes[byte];
	if (byte == 0x0f) {
		err = fetch_byte(r, &byte);
		if (err)
			return err;
		insn->two_byte = true;
		insn->opcode = byte;
		*entry = two_byte_opcodes[byte];
	}
	if (entry->destination == INSN_OPERAND_NONE && entry->group == GROUP_NONE)
		return -EINVAL;
	if ((entry->flags & OPC_NOT_64) && mode == INSN_MODE_64)
		return -EINVAL;
	if ((entry->flags & OPC_ONLY_64) && mode != INSN_MODE_64)
		return -EINVAL;
	if (!(entry->flags & OPC_MODRM))
		return 0;

	err = fetch_byte(r, &insn->modrm);
	if (err)
		return err;
	insn->has_modrm = true;
	*reg = (insn->modrm >> 3) & 7;
	if (insn->modrm >> 6 == 3)
		return -EINVAL; /* no memory operand: never an MMIO access */
	if ((entry->flags & OPC_REG_ZERO) && *reg != 0)
		return -EINVAL;
	if (entry->group != GROUP_NONE) {
		const struct opcode_entry *row = &groups[entry->group][*reg];

		if (row->destination == INSN_OPERAND_NONE)
			return -EINVAL;
		entry->operation = row->operation;
		entry->destination = row->destination;
		if (row->source != INSN_OPERAND_NONE)
			entry->source = row->source;
		entry->flags |= row->flags;
	}
	return 0;
}

static int decode(struct byte_reader *r, enum insn_mode mode, struct insn *insn)
{
	struct opcode_entry entry;
	bool operand_prefix = false, address_prefix = false;
	uint8_t byte, reg = 0;
	int err;

	/* Prefixes. A REX only counts directly before the opcode. */
	for (;;) {
		err = fetch_byte(r, &byte);
		if (err)
			return err;
		if (mode == INSN_MODE_64 && (byte & 0xf0) == 0x40) {
			insn->rex = byte;
			continue;
		}
		switch (byte) {
		case 0xf0: insn->lock = true; break;
		case 0xf2: insn->rep = INSN_REP_F2; break;
		case 0xf3: insn->rep = INSN_REP_F3; break;
		case 0x66: operand_prefix = true; break;
		case 0x67: address_prefix = true; break;
		case 0x26: case 0x2e: case 0x36: case 0x3e: case 0x64: case 0x65:
			/* In 64-bit mode ES CS SS DS prefixes are null prefixes:
			 * they do not even cancel an earlier FS or GS. */
			if (mode != INSN_MODE_64 || byte == 0x64 || byte == 0x65)
				insn->segment_override = segment_of_prefix(byte);
			break;
		default:
			goto opcode;
		}
		insn->rex = 0;
	}
opcode:
	err = decode_opcode(r, mode, insn, byte, &entry, &reg);
	if (err)
		return err;

	insn->mode = mode;
	insn->operation = entry.operation;
	insn->destination = entry.destination;
	insn->source = entry.source;
	if (entry.flags & OPC_BYTE)
		insn->operand_size = 1;
	else
		insn->operand_size = (uint8_t)default_operand_size(mode, operand_prefix, insn->rex,
								   entry.flags & OPC_STACK);
	insn->memory_size = insn->operand_size;
	insn->address_size = (uint8_t)default_address_size(mode, address_prefix);
	insn->memory.scale = 1;
	insn->memory.base = INSN_REG_NONE;
	insn->memory.index = INSN_REG_NONE;
	if (entry.flags & OPC_CONDITION)
		insn->condition = insn->opcode & 0xf;
	if (insn->lock && !lock_allowed(insn))
		return -EINVAL; /* #UD on the hardware */
	/* F2/F3 0F xx are other instructions, unless hints on a LOCKed one. */
	if (insn->two_byte && insn->rep != INSN_REP_NONE && !insn->lock)
		return -EINVAL;
	if (!(entry.flags & OPC_STRING))
		insn->rep = INSN_REP_NONE; /* XACQUIRE/XRELEASE or ignored */

	if (entry.flags & OPC_MEMORY_8)
		insn->memory_size = 1;
	else if (entry.flags & OPC_MEMORY_16)
		insn->memory_size = 2;
	else if (insn->operation == INSN_MOVSX && (insn->rex & REX_W))
		insn->memory_size = 4; /* MOVSXD r64, r/m32; r32, r/m32 is a plain move */
	else if (insn->operation == INSN_MOVSX && insn->operand_size == 2)
		return -EINVAL; /* 66 63: the SDM reads 16 bits, disassemblers 32 */

	if (entry.flags & OPC_COUNT_CL)
		insn->reg.number = INSN_REG_RCX;
	else if (entry.source == INSN_OPERAND_REGISTER || entry.destination == INSN_OPERAND_REGISTER)
		insn->reg = register_operand(insn, reg | ((insn->rex & REX_R) ? 8 : 0),
					     insn->operand_size);

	if (insn->has_modrm) {
		uint8_t mod = insn->modrm >> 6, rm = insn->modrm & 7;

		if (insn->address_size == 2)
			err = decode_modrm_16(r, insn, mod, rm);
		else
			err = decode_modrm_32(r, insn, mode, mod, rm);
		if (err)
			return err;
	}
	if (entry.flags & OPC_MOFFS) {
		err = fetch(r, insn->address_size, &insn->memory.displacement);
		if (err)
			return err;
		insn->reg.number = INSN_REG_RAX;
	}
	if (entry.flags & OPC_STRING) {
		bool uses_rdi = insn->operation == INSN_STOS || insn->operation == INSN_SCAS;

		insn->reg.number = INSN_REG_RAX;
		insn->memory.base = uses_rdi ? INSN_REG_RDI : INSN_REG_RSI;
	}
	err = fetch_immediate(r, insn, entry.flags);
	if (err)
		return err;

	/* Segment: STOS, SCAS and the ES:[rDI] side of MOVS and CMPS are ES
	 * whatever the prefix; otherwise the override, else SS for RSP/RBP
	 * bases and DS for the rest. */
	if (insn->operation == INSN_STOS || insn->operation == INSN_SCAS)
		insn->memory.segment = INSN_SEG_ES;
	else if (insn->segment_override != INSN_NO_SEGMENT_OVERRIDE)
		insn->memory.segment = insn->segment_override;
	else if (insn->memory.base == INSN_REG_RSP || insn->memory.base == INSN_REG_RBP)
		insn->memory.segment = INSN_SEG_SS;
	else
		insn->memory.segment = INSN_SEG_DS;

	insn->length = (uint8_t)r->position;
	return 0;
}

int insn_decode(const uint8_t *bytes, size_t available, enum insn_mode mode, struct insn *out)
{
	struct byte_reader reader = { .bytes = bytes, .available = available, .position = 0 };
	int err;

	memset(out, 0, sizeof(*out));
	out->segment_override = INSN_NO_SEGMENT_OVERRIDE;
	if (mode != INSN_MODE_16 && mode != INSN_MODE_32 && mode != INSN_MODE_64)
		return -EINVAL;
	err = decode(&reader, mode, out);
	if (err) {
		/* A failed decode leaves nothing half-filled behind. */
		memset(out, 0, sizeof(*out));
		out->segment_override = INSN_NO_SEGMENT_OVERRIDE;
	}
	return err;
}

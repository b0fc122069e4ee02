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
#define OPC_BYTE (1u << 1)      /* 8-bit operand size */
#define OPC_IMM8 (1u << 2)      /* imm8, sign-extended */
#define OPC_IMM_FULL (1u << 3)  /* imm16 or imm32 (sign-extended for 64-bit) */
#define OPC_MOFFS (1u << 4)     /* address-sized offset, no ModRM */
#define OPC_STRING (1u << 5)
#define OPC_ALU_GROUP (1u << 6) /* ModRM.reg is the ALU operation */
#define OPC_REG_ZERO (1u << 7)  /* ModRM.reg must be 0 (C6 C7 F6 F7) */
#define OPC_NOT_64 (1u << 8)    /* invalid in 64-bit mode */
#define OPC_ONLY_64 (1u << 9)   /* a different instruction outside 64-bit mode */

struct opcode_entry {
	uint8_t operation;   /* enum insn_operation */
	uint8_t destination; /* enum insn_operand_kind; NONE: not supported */
	uint8_t source;
	uint16_t flags;      /* OPC_* */
};

#define MEM INSN_OPERAND_MEMORY
#define REG INSN_OPERAND_REGISTER
#define IMM INSN_OPERAND_IMMEDIATE

/* The four ModRM forms of one ALU row: r/m8,r8  r/m,r  r8,r/m8  r,r/m. */
#define ALU_ROW(first, op)                                            \
	[(first) + 0] = { op, MEM, REG, OPC_MODRM | OPC_BYTE },       \
	[(first) + 1] = { op, MEM, REG, OPC_MODRM },                  \
	[(first) + 2] = { op, REG, MEM, OPC_MODRM | OPC_BYTE },       \
	[(first) + 3] = { op, REG, MEM, OPC_MODRM }

static const struct opcode_entry one_byte_opcodes[256] = {
	ALU_ROW(0x00, INSN_ADD),
	ALU_ROW(0x08, INSN_OR),
	ALU_ROW(0x10, INSN_ADC),
	ALU_ROW(0x18, INSN_SBB),
	ALU_ROW(0x20, INSN_AND),
	ALU_ROW(0x28, INSN_SUB),
	ALU_ROW(0x30, INSN_XOR),
	ALU_ROW(0x38, INSN_CMP),
	[0x63] = { INSN_MOVSX, REG, MEM, OPC_MODRM | OPC_ONLY_64 }, /* ARPL elsewhere */
	[0x80] = { INSN_ADD, MEM, IMM, OPC_MODRM | OPC_BYTE | OPC_IMM8 | OPC_ALU_GROUP },
	[0x81] = { INSN_ADD, MEM, IMM, OPC_MODRM | OPC_IMM_FULL | OPC_ALU_GROUP },
	[0x82] = { INSN_ADD, MEM, IMM,
		   OPC_MODRM | OPC_BYTE | OPC_IMM8 | OPC_ALU_GROUP | OPC_NOT_64 },
	[0x83] = { INSN_ADD, MEM, IMM, OPC_MODRM | OPC_IMM8 | OPC_ALU_GROUP },
	[0x84] = { INSN_TEST, MEM, REG, OPC_MODRM | OPC_BYTE },
	[0x85] = { INSN_TEST, MEM, REG, OPC_MODRM },
	[0x86] = { INSN_XCHG, MEM, REG, OPC_MODRM | OPC_BYTE },
	[0x87] = { INSN_XCHG, MEM, REG, OPC_MODRM },
	[0x88] = { INSN_MOV, MEM, REG, OPC_MODRM | OPC_BYTE },
	[0x89] = { INSN_MOV, MEM, REG, OPC_MODRM },
	[0x8a] = { INSN_MOV, REG, MEM, OPC_MODRM | OPC_BYTE },
	[0x8b] = { INSN_MOV, REG, MEM, OPC_MODRM },
	[0xa0] = { INSN_MOV, REG, MEM, OPC_MOFFS | OPC_BYTE },
	[0xa1] = { INSN_MOV, REG, MEM, OPC_MOFFS },
	[0xa2] = { INSN_MOV, MEM, REG, OPC_MOFFS | OPC_BYTE },
	[0xa3] = { INSN_MOV, MEM, REG, OPC_MOFFS },
	[0xa4] = { INSN_MOVS, MEM, MEM, OPC_STRING | OPC_BYTE },
	[0xa5] = { INSN_MOVS, MEM, MEM, OPC_STRING },
	[0xaa] = { INSN_STOS, MEM, REG, OPC_STRING | OPC_BYTE },
	[0xab] = { INSN_STOS, MEM, REG, OPC_STRING },
	[0xac] = { INSN_LODS, REG, MEM, OPC_STRING | OPC_BYTE },
	[0xad] = { INSN_LODS, REG, MEM, OPC_STRING },
	[0xc6] = { INSN_MOV, MEM, IMM, OPC_MODRM | OPC_BYTE | OPC_IMM8 | OPC_REG_ZERO },
	[0xc7] = { INSN_MOV, MEM, IMM, OPC_MODRM | OPC_IMM_FULL | OPC_REG_ZERO },
	[0xf6] = { INSN_TEST, MEM, IMM, OPC_MODRM | OPC_BYTE | OPC_IMM8 | OPC_REG_ZERO },
	[0xf7] = { INSN_TEST, MEM, IMM, OPC_MODRM | OPC_IMM_FULL | OPC_REG_ZERO },
};

/* 0F B6/B7 (MOVZX) and 0F BE/BF (MOVSX): the memory side is 8 or 16 bits. */
static const struct opcode_entry movzx_entry = { INSN_MOVZX, REG, MEM, OPC_MODRM };
static const struct opcode_entry movsx_entry = { INSN_MOVSX, REG, MEM, OPC_MODRM };

#undef MEM
#undef REG
#undef IMM

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

static bool lock_allowed(const struct insn *insn)
{
	if (insn->destination != INSN_OPERAND_MEMORY)
		return false;
	return insn->operation < INSN_CMP || insn->operation == INSN_XCHG;
}

/* Operand size: 64-bit mode defaults to 32 (REX.W: 64, else 66: 16); 32-bit
 * code to 32 (66: 16); 16-bit code to 16 (66: 32). */
static unsigned default_operand_size(enum insn_mode mode, bool operand_prefix, uint8_t rex)
{
	if (mode == INSN_MODE_64 && (rex & REX_W))
		return 8;
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

static int decode(struct byte_reader *r, enum insn_mode mode, struct insn *insn)
{
	const struct opcode_entry *entry;
	bool operand_prefix = false, address_prefix = false;
	uint8_t byte;
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
	insn->opcode = byte;
	entry = &one_byte_opcodes[byte];
	if (byte == 0x0f) {
		err = fetch_byte(r, &byte);
		if (err)
			return err;
		insn->two_byte = true;
		insn->opcode = byte;
		if (byte == 0xb6 || byte == 0xb7)
			entry = &movzx_entry;
		else if (byte == 0xbe || byte == 0xbf)
			entry = &movsx_entry;
		else
			return -EINVAL;
		if (insn->rep != INSN_REP_NONE)
			return -EINVAL; /* F2/F3 0F xx are other instructions */
	}
	if (entry->destination == INSN_OPERAND_NONE)
		return -EINVAL;
	if ((entry->flags & OPC_NOT_64) && mode == INSN_MODE_64)
		return -EINVAL;
	if ((entry->flags & OPC_ONLY_64) && mode != INSN_MODE_64)
		return -EINVAL;

	insn->mode = mode;
	insn->operation = entry->operation;
	insn->destination = entry->destination;
	insn->source = entry->source;
	insn->operand_size = (entry->flags & OPC_BYTE) ? 1 : default_operand_size(mode, operand_prefix, insn->rex);
	insn->memory_size = insn->operand_size;
	insn->address_size = default_address_size(mode, address_prefix);
	insn->memory.scale = 1;
	insn->memory.base = INSN_REG_NONE;
	insn->memory.index = INSN_REG_NONE;
	if (!(entry->flags & OPC_STRING))
		insn->rep = INSN_REP_NONE; /* XACQUIRE/XRELEASE or ignored */

	if (insn->two_byte)
		insn->memory_size = (insn->opcode & 1) ? 2 : 1;
	else if (insn->opcode == 0x63 && (insn->rex & REX_W))
		insn->memory_size = 4; /* MOVSXD r64, r/m32; r32, r/m32 is a plain move */
	else if (insn->opcode == 0x63 && insn->operand_size == 2)
		return -EINVAL; /* 66 63: the SDM reads 16 bits, disassemblers 32 */

	if (entry->flags & OPC_MODRM) {
		err = fetch_byte(r, &insn->modrm);
		if (err)
			return err;
		insn->has_modrm = true;
		uint8_t mod = insn->modrm >> 6;
		uint8_t reg = (insn->modrm >> 3) & 7;
		uint8_t rm = insn->modrm & 7;

		if (mod == 3)
			return -EINVAL; /* no memory operand: never an MMIO access */
		if ((entry->flags & OPC_REG_ZERO) && reg != 0)
			return -EINVAL;
		if (entry->flags & OPC_ALU_GROUP)
			insn->operation = reg;
		if (insn->lock && !lock_allowed(insn))
			return -EINVAL; /* #UD on the hardware */
		insn->reg = register_operand(insn, reg | ((insn->rex & REX_R) ? 8 : 0),
					     insn->operand_size);
		if (insn->address_size == 2)
			err = decode_modrm_16(r, insn, mod, rm);
		else
			err = decode_modrm_32(r, insn, mode, mod, rm);
		if (err)
			return err;
	} else if (insn->lock) {
		return -EINVAL;
	}

	if (entry->flags & OPC_MOFFS) {
		err = fetch(r, insn->address_size, &insn->memory.displacement);
		if (err)
			return err;
		insn->reg.number = INSN_REG_RAX;
	}
	if (entry->flags & OPC_STRING) {
		insn->reg.number = INSN_REG_RAX;
		insn->memory.base = insn->operation == INSN_STOS ? INSN_REG_RDI : INSN_REG_RSI;
	}

	if (entry->flags & OPC_IMM8) {
		err = fetch_signed(r, 1, &insn->immediate);
	} else if (entry->flags & OPC_IMM_FULL) {
		err = fetch_signed(r, insn->operand_size == 2 ? 2 : 4, &insn->immediate);
	}
	if (err)
		return err;

	/* Segment: STOS and MOVS's destination are ES:[rDI] whatever the prefix;
	 * otherwise the override, else SS for RSP/RBP bases and DS for the rest. */
	if (insn->operation == INSN_STOS)
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

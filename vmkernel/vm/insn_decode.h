/*
 * x86 instruction decoder for MMIO emulation. When a guest touches
 * guest-physical memory that is not RAM, the caller fetches up to 15 bytes at
 * the guest's RIP and this decodes them into one struct insn, which
 * insn_emulate_mmio() (vm/insn_emulate.h) then performs against a device.
 *
 * Only instructions with a memory operand that drivers use on MMIO decode:
 *   MOV      88 89 8A 8B (r/m <-> reg), C6/0 C7/0 (r/m <- imm), A0-A3 (moffs)
 *   MOVZX    0F B6 0F B7    MOVSX 0F BE 0F BF    MOVSXD 63 (64-bit mode, not with 66)
 *   ALU      ADD OR ADC SBB AND SUB XOR CMP: 00-3B forms x0-x3, 80-83 /digit
 *   TEST     84 85, F6/0 F7/0     XCHG 86 87
 *   CMPXCHG  0F B0 0F B1          XADD 0F C0 0F C1
 *   unary    INC FE/0 FF/0, DEC FE/1 FF/1, NOT F6/2 F7/2, NEG F6/3 F7/3
 *   shifts   ROL ROR RCL RCR SHL SHR SAR: C0 C1 (imm8), D0 D1 (by 1), D2 D3
 *            (by CL), ModRM.reg selecting (/6 is SHL, as on the hardware)
 *   bits     BT BTS BTR BTC: 0F A3 AB B3 BB (bit offset in a register),
 *            0F BA /4-/7 (imm8)
 *   CMOVcc   0F 40-4F (memory source)     SETcc 0F 90-9F (memory destination)
 *   stack    PUSH FF/6, POP 8F/0 (the memory operand; the stack is implied)
 *   string   MOVS A4 A5, STOS AA AB, LODS AC AD, with REP (F3; F2 acts
 *            alike); CMPS A6 A7, SCAS AE AF with REPE (F3) or REPNE (F2)
 * Everything else, register-only forms (ModRM.mod = 3) included, is -EINVAL:
 * the caller injects #UD or stops the VM.
 *
 * Prefixes: any number of legacy prefixes (the last of a group wins), then in
 * 64-bit mode an optional REX (one followed by a legacy prefix or another REX
 * is ignored, as the hardware does). LOCK is accepted only where the hardware
 * accepts it: with a memory destination on ADD OR ADC SBB AND SUB XOR, XCHG,
 * CMPXCHG, XADD, INC, DEC, NOT, NEG, BTS, BTR and BTC. F2/F3 on a non-string
 * one-byte opcode are the XACQUIRE/XRELEASE hints and ignored; on 0F opcodes
 * they select other instructions and are refused, except as those hints on a
 * LOCKed instruction.
 */
#ifndef KAPSEL_VM_INSN_DECODE_H
#define KAPSEL_VM_INSN_DECODE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define INSN_MAX_LENGTH 15 /* architectural: longer is #GP */
#define INSN_GPR_COUNT 16

/* The code segment's default sizes: CS.L with EFER.LMA, else CS.D. */
enum insn_mode { INSN_MODE_16, INSN_MODE_32, INSN_MODE_64 };

enum insn_mode insn_mode_of(bool efer_lma, bool cs_long, bool cs_default_32);

/* The eight ALU operations are numbered as their encodings number them
 * (opcode bits 5:3 for 00-3B, ModRM.reg for 80-83). */
enum insn_operation {
	INSN_ADD, INSN_OR, INSN_ADC, INSN_SBB, INSN_AND, INSN_SUB, INSN_XOR, INSN_CMP,
	INSN_TEST, INSN_MOV, INSN_MOVZX, INSN_MOVSX, INSN_XCHG,
	INSN_CMPXCHG, INSN_XADD,
	INSN_INC, INSN_DEC, INSN_NOT, INSN_NEG,
	INSN_ROL, INSN_ROR, INSN_RCL, INSN_RCR, INSN_SHL, INSN_SHR, INSN_SAR,
	INSN_BT, INSN_BTS, INSN_BTR, INSN_BTC,
	INSN_CMOV, INSN_SET,
	INSN_PUSH, INSN_POP,
	/* The string operations come last: insn_is_string() is operation >= INSN_MOVS. */
	INSN_MOVS, INSN_STOS, INSN_LODS, INSN_CMPS, INSN_SCAS,
	INSN_OPERATION_COUNT
};

static inline bool insn_is_string(unsigned operation)
{
	return operation >= INSN_MOVS && operation < INSN_OPERATION_COUNT;
}

enum insn_operand_kind {
	INSN_OPERAND_NONE,
	INSN_OPERAND_MEMORY,
	INSN_OPERAND_REGISTER,
	INSN_OPERAND_IMMEDIATE,
	INSN_OPERAND_STACK, /* PUSH's destination, POP's source: SS:[rSP] */
};

/* Segment registers in the encoding's Sreg order (= enum virt_segment_id). */
enum insn_segment {
	INSN_SEG_ES, INSN_SEG_CS, INSN_SEG_SS, INSN_SEG_DS, INSN_SEG_FS, INSN_SEG_GS,
	INSN_SEGMENT_COUNT
};

/* General registers are numbered as encodings number them (= enum virt_gpr). */
#define INSN_REG_RAX 0
#define INSN_REG_RCX 1
#define INSN_REG_RSP 4
#define INSN_REG_RBP 5
#define INSN_REG_RSI 6
#define INSN_REG_RDI 7
#define INSN_REG_NONE 0xff /* no base / no index */
#define INSN_REG_RIP 0x10  /* base: RIP of the next instruction (64-bit mode) */

#define INSN_NO_SEGMENT_OVERRIDE 0xff

/* On CMPS and SCAS F3 is REPE/REPZ and F2 REPNE/REPNZ; elsewhere both are REP. */
enum insn_rep { INSN_REP_NONE, INSN_REP_F3, INSN_REP_F2 };

/* Condition codes (CMOVcc, SETcc) in the encoding's order: opcode bits 3:0. */
enum insn_condition {
	INSN_CC_O, INSN_CC_NO, INSN_CC_B, INSN_CC_AE, INSN_CC_E, INSN_CC_NE, INSN_CC_BE, INSN_CC_A,
	INSN_CC_S, INSN_CC_NS, INSN_CC_P, INSN_CC_NP, INSN_CC_L, INSN_CC_GE, INSN_CC_LE, INSN_CC_G,
};

/*
 * Effective address = (base + index * scale + displacement) truncated to the
 * address size. For string instructions base is RSI (MOVS's and CMPS's
 * source, LODS) or RDI (STOS, SCAS); MOVS's destination and CMPS's second
 * operand are always ES:[rDI], STOS's and SCAS's too (no override).
 */
struct insn_memory_operand {
	uint8_t base;          /* a GPR, INSN_REG_NONE or INSN_REG_RIP */
	uint8_t index;         /* a GPR or INSN_REG_NONE */
	uint8_t scale;         /* 1, 2, 4 or 8 */
	uint8_t segment;       /* enum insn_segment: the override, else the default */
	uint64_t displacement; /* sign-extended; moffs as encoded */
};

struct insn_register_operand {
	uint8_t number;  /* 0..15 */
	bool high_byte;  /* AH CH DH BH: bits 15:8 of register number 0..3 */
};

struct insn {
	uint8_t mode;         /* enum insn_mode it was decoded in */
	uint8_t length;       /* bytes, 1..INSN_MAX_LENGTH */
	uint8_t operation;    /* enum insn_operation */
	uint8_t destination;  /* enum insn_operand_kind */
	uint8_t source;       /* enum insn_operand_kind */
	uint8_t operand_size; /* bytes of the operation, register and immediate: 1 2 4 8 */
	uint8_t memory_size;  /* bytes of the memory access (each string element) */
	uint8_t address_size; /* 2 4 8 */
	uint8_t rep;          /* enum insn_rep; string operations only */
	uint8_t condition;    /* enum insn_condition; CMOVcc and SETcc only */
	bool lock;
	uint8_t segment_override; /* the last one (64-bit mode: FS GS only), or INSN_NO_SEGMENT_OVERRIDE */
	uint8_t rex;              /* the REX prefix in effect, 0 when none */
	bool two_byte;            /* 0F escape */
	uint8_t opcode;           /* the (last) opcode byte */
	bool has_modrm;
	uint8_t modrm;
	bool has_sib;
	uint8_t sib;
	struct insn_memory_operand memory;
	/* When source or destination is a register; for shifts by CL, CL
	 * (register 1, read as a byte whatever operand_size says). */
	struct insn_register_operand reg;
	/* Sign-extended to 64 bits; shift counts and bit offsets zero-extended
	 * (imm8), 1 for the shifts by 1. */
	uint64_t immediate;
};

/*
 * Decodes the instruction at bytes[0..available). Reads no byte at or past
 * available (nor past INSN_MAX_LENGTH). Returns 0 with *out filled (every
 * byte of it, padding included, is deterministic), -EAGAIN when the
 * instruction continues past available, -EINVAL when it is malformed, longer
 * than 15 bytes or not one this decoder supports.
 */
int insn_decode(const uint8_t *bytes, size_t available, enum insn_mode mode, struct insn *out);

#endif

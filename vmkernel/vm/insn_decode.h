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
 *   string   MOVS A4 A5, STOS AA AB, LODS AC AD, with REP (F3; F2 acts alike)
 * Everything else, register-only forms (ModRM.mod = 3) included, is -EINVAL:
 * the caller injects #UD or stops the VM.
 *
 * Prefixes: any number of legacy prefixes (the last of a group wins), then in
 * 64-bit mode an optional REX (one followed by a legacy prefix or another REX
 * is ignored, as the hardware does). LOCK is accepted only where the hardware accepts it:
 * on ALU ops other than CMP and on XCHG, with a memory destination. F2/F3 on
 * a non-string one-byte opcode are the XACQUIRE/XRELEASE hints and ignored;
 * on 0F opcodes they select other instructions and are refused.
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
	INSN_MOVS, INSN_STOS, INSN_LODS,
	INSN_OPERATION_COUNT
};

enum insn_operand_kind {
	INSN_OPERAND_NONE,
	INSN_OPERAND_MEMORY,
	INSN_OPERAND_REGISTER,
	INSN_OPERAND_IMMEDIATE,
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

enum insn_rep { INSN_REP_NONE, INSN_REP_F3, INSN_REP_F2 };

/*
 * Effective address = (base + index * scale + displacement) truncated to the
 * address size. For string instructions base is RSI (source, MOVS and LODS)
 * or RDI (STOS); MOVS's destination is always ES:[rDI].
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
	struct insn_register_operand reg; /* when source or destination is a register */
	uint64_t immediate;               /* sign-extended to 64 bits */
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

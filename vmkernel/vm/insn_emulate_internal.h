/*
 * What the parts of the MMIO emulator (insn_emulate.c, insn_emulate_alu.c,
 * insn_emulate_string.c) share; nothing outside vm/insn_emulate*.c includes
 * this. The functions assume an insn that insn_emulate_mmio() found sane.
 */
#ifndef KAPSEL_VM_INSN_EMULATE_INTERNAL_H
#define KAPSEL_VM_INSN_EMULATE_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>

#include <vm/insn_decode.h>
#include <vm/insn_emulate.h>

static inline uint64_t insn_mask_of(unsigned bytes)
{
	return bytes >= 8 ? ~0ull : (1ull << (8 * bytes)) - 1;
}

static inline uint64_t insn_sign_extend(uint64_t value, unsigned bytes)
{
	uint64_t sign = 1ull << (8 * bytes - 1);

	value &= insn_mask_of(bytes);
	return (value ^ sign) - sign;
}

/* segment:effective as a linear address (32 bits outside 64-bit mode). */
uint64_t insn_linear_of(const struct insn_cpu_state *cpu, unsigned segment, uint64_t effective);
/* The ModRM (or string, or moffs) operand's effective address. */
uint64_t insn_effective_address(const struct insn *insn, const struct insn_cpu_state *cpu);

/* Registers at an operand size: 8- and 16-bit writes keep the rest of the
 * register, 32-bit writes zero-extend. */
uint64_t insn_read_register(const struct insn_cpu_state *cpu, struct insn_register_operand reg,
			    unsigned size);
void insn_write_register(struct insn_cpu_state *cpu, struct insn_register_operand reg,
			 unsigned size, uint64_t value);
void insn_write_gpr(struct insn_cpu_state *cpu, uint8_t number, unsigned size, uint64_t value);

/* RIP past insn, wrapped at the code segment's size. */
uint64_t insn_next_rip(const struct insn *insn, const struct insn_cpu_state *cpu);

/* The device address of an MMIO operand at linear: fault_gpa's page, the
 * operand's page offset; -EOPNOTSUPP when it would cross the page end. */
int insn_mmio_address(uint64_t fault_gpa, uint64_t linear, unsigned size, uint64_t *gpa);
/* Device accesses; values are masked to size both ways. */
int insn_mmio_read(const struct insn_bus *bus, uint64_t gpa, unsigned size, uint64_t *value);
int insn_mmio_write(const struct insn_bus *bus, uint64_t gpa, unsigned size, uint64_t value);

/* MOVS STOS LODS CMPS SCAS (insn_emulate_string.c); as insn_emulate_mmio(). */
int insn_emulate_string(const struct insn *insn, struct insn_cpu_state *cpu,
			const struct insn_bus *bus, uint64_t fault_gpa, bool fault_write);

#endif

#include <vm/insn_emulate.h>

#include <lib/errno.h>
#include <vm/insn_emulate_alu.h>
#include <vm/insn_emulate_internal.h>

static bool valid_size(unsigned bytes)
{
	return bytes == 1 || bytes == 2 || bytes == 4 || bytes == 8;
}

static bool valid_register(uint8_t number, bool rip_allowed)
{
	return number < INSN_GPR_COUNT || number == INSN_REG_NONE ||
	       (rip_allowed && number == INSN_REG_RIP);
}

/* What the code below indexes arrays with or divides by: a corrupted insn
 * must be refused, not followed out of bounds. */
static bool insn_is_sane(const struct insn *insn)
{
	return insn->operation < INSN_OPERATION_COUNT && valid_size(insn->operand_size) &&
	       valid_size(insn->memory_size) && insn->address_size >= 2 &&
	       valid_size(insn->address_size) && insn->reg.number < INSN_GPR_COUNT &&
	       (!insn->reg.high_byte || insn->reg.number < 4) &&
	       valid_register(insn->memory.base, true) && valid_register(insn->memory.index, false) &&
	       insn->memory.segment < INSN_SEGMENT_COUNT;
}

/* In 64-bit mode only FS and GS have a base; ES CS SS DS count as 0. */
static uint64_t segment_base(const struct insn_cpu_state *cpu, unsigned segment)
{
	if (cpu->mode == INSN_MODE_64 && segment != INSN_SEG_FS && segment != INSN_SEG_GS)
		return 0;
	return cpu->segment_base[segment];
}

/* Outside 64-bit mode linear addresses are 32 bits and wrap. */
uint64_t insn_linear_of(const struct insn_cpu_state *cpu, unsigned segment, uint64_t effective)
{
	uint64_t linear = segment_base(cpu, segment) + effective;

	return cpu->mode == INSN_MODE_64 ? linear : linear & 0xffffffffull;
}

uint64_t insn_effective_address(const struct insn *insn, const struct insn_cpu_state *cpu)
{
	const struct insn_memory_operand *m = &insn->memory;
	uint64_t effective = m->displacement;

	if (m->base == INSN_REG_RIP)
		effective += cpu->rip + insn->length;
	else if (m->base != INSN_REG_NONE)
		effective += cpu->gprs[m->base];
	if (m->index != INSN_REG_NONE)
		effective += cpu->gprs[m->index] * m->scale;
	return effective & insn_mask_of(insn->address_size);
}

uint64_t insn_read_register(const struct insn_cpu_state *cpu, struct insn_register_operand reg,
			    unsigned size)
{
	uint64_t value = cpu->gprs[reg.number];

	if (reg.high_byte)
		value >>= 8;
	return value & insn_mask_of(size);
}

/* 32-bit writes zero-extend: architectural in 64-bit mode, harmless elsewhere. */
void insn_write_register(struct insn_cpu_state *cpu, struct insn_register_operand reg,
			 unsigned size, uint64_t value)
{
	uint64_t *gpr = &cpu->gprs[reg.number];

	switch (size) {
	case 1:
		if (reg.high_byte)
			*gpr = (*gpr & ~0xff00ull) | ((value & 0xff) << 8);
		else
			*gpr = (*gpr & ~0xffull) | (value & 0xff);
		break;
	case 2:
		*gpr = (*gpr & ~0xffffull) | (value & 0xffff);
		break;
	case 4:
		*gpr = value & 0xffffffffull;
		break;
	default:
		*gpr = value;
		break;
	}
}

void insn_write_gpr(struct insn_cpu_state *cpu, uint8_t number, unsigned size, uint64_t value)
{
	struct insn_register_operand reg = { .number = number, .high_byte = false };

	insn_write_register(cpu, reg, size, value);
}

uint64_t insn_next_rip(const struct insn *insn, const struct insn_cpu_state *cpu)
{
	uint64_t rip = cpu->rip + insn->length;

	switch (cpu->mode) {
	case INSN_MODE_16: return rip & 0xffff;
	case INSN_MODE_32: return rip & 0xffffffffull;
	default: return rip;
	}
}

int insn_mmio_address(uint64_t fault_gpa, uint64_t linear, unsigned size, uint64_t *gpa)
{
	uint64_t offset = linear & (INSN_MMIO_PAGE_SIZE - 1);

	if (offset + size > INSN_MMIO_PAGE_SIZE)
		return -EOPNOTSUPP;
	*gpa = (fault_gpa & ~(INSN_MMIO_PAGE_SIZE - 1)) | offset;
	return 0;
}

int insn_mmio_read(const struct insn_bus *bus, uint64_t gpa, unsigned size, uint64_t *value)
{
	int err;

	*value = 0;
	err = bus->mmio_read(bus->opaque, gpa, size, value);
	*value &= insn_mask_of(size);
	return err;
}

int insn_mmio_write(const struct insn_bus *bus, uint64_t gpa, unsigned size, uint64_t value)
{
	return bus->mmio_write(bus->opaque, gpa, size, value & insn_mask_of(size));
}

/* The stack's address size: 8 in 64-bit mode, else SS.B's. */
static unsigned stack_address_size(const struct insn_cpu_state *cpu)
{
	if (cpu->mode == INSN_MODE_64)
		return 8;
	if (cpu->stack_address_size)
		return cpu->stack_address_size;
	return cpu->mode == INSN_MODE_32 ? 4 : 2;
}

static bool is_bit_operation(unsigned operation)
{
	return operation >= INSN_BT && operation <= INSN_BTC;
}

/*
 * BT BTS BTR BTC with the bit offset in a register: the offset is signed
 * (as wide as the operand) and addresses a bit string from bit 0 of the
 * effective address. The hardware accesses the operand-sized unit holding
 * the bit, at EA + size * floor(offset / (8 * size)). Returns that
 * displacement (to add modulo the address size) and the bit within the unit.
 */
static uint64_t bit_string_displacement(const struct insn *insn, const struct insn_cpu_state *cpu,
					unsigned *bit)
{
	unsigned size = insn->operand_size, bits_log2 = size == 2 ? 4 : size == 4 ? 5 : 6;
	uint64_t offset = insn_sign_extend(insn_read_register(cpu, insn->reg, size), size);
	uint64_t units = offset >> bits_log2;

	if (offset >> 63)
		units |= ~(~0ull >> bits_log2); /* the shift is arithmetic */
	*bit = (unsigned)offset & (8 * size - 1);
	return units * size;
}

/* The linear address of the memory operand as the hardware accesses it. */
static uint64_t memory_operand_linear(const struct insn *insn, const struct insn_cpu_state *cpu)
{
	uint64_t effective = insn_effective_address(insn, cpu);
	unsigned bit;

	if (is_bit_operation(insn->operation) && insn->source == INSN_OPERAND_REGISTER) {
		effective += bit_string_displacement(insn, cpu, &bit);
		effective &= insn_mask_of(insn->address_size);
	} else if (insn->operation == INSN_POP && insn->memory.base == INSN_REG_RSP) {
		/* POP computes an rSP-based address after incrementing rSP. */
		struct insn_cpu_state after = *cpu;
		unsigned stack_size = stack_address_size(cpu);

		insn_write_gpr(&after, INSN_REG_RSP, stack_size,
			       cpu->gprs[INSN_REG_RSP] + insn->operand_size);
		effective = insn_effective_address(insn, &after);
	}
	return insn_linear_of(cpu, insn->memory.segment, effective);
}

uint64_t insn_mmio_linear_address(const struct insn *insn, const struct insn_cpu_state *cpu,
				  bool fault_write)
{
	if ((insn->operation == INSN_MOVS && fault_write) || insn->operation == INSN_STOS ||
	    insn->operation == INSN_SCAS)
		return insn_linear_of(cpu, INSN_SEG_ES,
				      cpu->gprs[INSN_REG_RDI] & insn_mask_of(insn->address_size));
	return memory_operand_linear(insn, cpu);
}

/*
 * What an instruction with one memory operand does, computed from the value
 * it read there before anything is written: the write-back to the device,
 * the register written, RFLAGS. Committed only once the device write
 * succeeded.
 */
struct effect {
	bool memory_write;
	uint64_t memory_value;
	bool register_write;
	struct insn_register_operand reg;
	unsigned register_size;
	uint64_t register_value;
	uint64_t rflags;
};

static void set_register(struct effect *e, struct insn_register_operand reg, unsigned size,
			 uint64_t value)
{
	e->register_write = true;
	e->reg = reg;
	e->register_size = size;
	e->register_value = value;
}

static void set_memory(struct effect *e, uint64_t value)
{
	e->memory_write = true;
	e->memory_value = value;
}

static bool reads_memory(const struct insn *insn)
{
	if (insn->operation == INSN_MOV)
		return insn->destination != INSN_OPERAND_MEMORY;
	return insn->operation != INSN_SET;
}

static int compute_effect(const struct insn *insn, const struct insn_cpu_state *cpu,
			  uint64_t memory, struct effect *e)
{
	static const struct insn_register_operand accumulator = { INSN_REG_RAX, false };
	unsigned size = insn->operand_size, operation = insn->operation, bit;
	bool to_memory = insn->destination == INSN_OPERAND_MEMORY;
	uint64_t other = 0, result;

	/* The non-memory operand: the register or the immediate. */
	if (insn->source == INSN_OPERAND_IMMEDIATE)
		other = insn->immediate & insn_mask_of(size);
	else if (insn->source == INSN_OPERAND_REGISTER || insn->destination == INSN_OPERAND_REGISTER)
		other = insn_read_register(cpu, insn->reg, size);

	switch (operation) {
	case INSN_MOV:
		if (to_memory)
			set_memory(e, other);
		else
			set_register(e, insn->reg, size, memory);
		return 0;
	case INSN_MOVZX:
	case INSN_MOVSX:
		if (operation == INSN_MOVSX)
			memory = insn_sign_extend(memory, insn->memory_size);
		set_register(e, insn->reg, size, memory);
		return 0;
	case INSN_XCHG:
		set_memory(e, other);
		set_register(e, insn->reg, size, memory);
		return 0;
	case INSN_TEST:
		insn_alu_binary(INSN_AND, memory, other, size, &e->rflags);
		return 0;
	case INSN_ADD: case INSN_OR: case INSN_ADC: case INSN_SBB:
	case INSN_AND: case INSN_SUB: case INSN_XOR: case INSN_CMP:
		if (to_memory) {
			result = insn_alu_binary(operation, memory, other, size, &e->rflags);
			if (operation != INSN_CMP)
				set_memory(e, result);
		} else {
			result = insn_alu_binary(operation, other, memory, size, &e->rflags);
			if (operation != INSN_CMP)
				set_register(e, insn->reg, size, result);
		}
		return 0;
	case INSN_CMPXCHG:
		/* Flags of CMP accumulator, destination. Equal: the source goes
		 * to memory. Not: memory gets its own value back (the hardware's
		 * write cycle) and the accumulator takes it. */
		insn_alu_binary(INSN_CMP, insn_read_register(cpu, accumulator, size), memory, size,
				&e->rflags);
		if (e->rflags & INSN_RFLAGS_ZF) {
			set_memory(e, other);
		} else {
			set_memory(e, memory);
			set_register(e, accumulator, size, memory);
		}
		return 0;
	case INSN_XADD:
		set_memory(e, insn_alu_binary(INSN_ADD, memory, other, size, &e->rflags));
		set_register(e, insn->reg, size, memory);
		return 0;
	case INSN_INC: case INSN_DEC: case INSN_NOT: case INSN_NEG:
		set_memory(e, insn_alu_unary(operation, memory, size, &e->rflags));
		return 0;
	case INSN_ROL: case INSN_ROR: case INSN_RCL: case INSN_RCR:
	case INSN_SHL: case INSN_SHR: case INSN_SAR: {
		uint64_t count = insn->source == INSN_OPERAND_REGISTER
					 ? cpu->gprs[INSN_REG_RCX] & 0xff : insn->immediate & 0xff;

		set_memory(e, insn_alu_shift(operation, memory, count, size, &e->rflags));
		return 0;
	}
	case INSN_BT: case INSN_BTS: case INSN_BTR: case INSN_BTC:
		if (insn->source == INSN_OPERAND_REGISTER)
			bit_string_displacement(insn, cpu, &bit);
		else
			bit = (unsigned)insn->immediate & (8 * size - 1);
		result = insn_alu_bit(operation, memory, bit, size, &e->rflags);
		if (operation != INSN_BT)
			set_memory(e, result);
		return 0;
	case INSN_CMOV:
		/* The source is read either way; a 32-bit destination is
		 * written (zero-extended) either way. */
		if (insn_condition_holds(insn->condition, cpu->rflags))
			set_register(e, insn->reg, size, memory);
		else if (size == 4)
			set_register(e, insn->reg, size, other);
		return 0;
	case INSN_SET:
		set_memory(e, insn_condition_holds(insn->condition, cpu->rflags));
		return 0;
	default:
		return -EINVAL;
	}
}

static int emulate_single(const struct insn *insn, struct insn_cpu_state *cpu,
			  const struct insn_bus *bus, uint64_t gpa)
{
	struct effect e = { .rflags = cpu->rflags };
	uint64_t memory = 0;
	int err;

	if (reads_memory(insn)) {
		err = insn_mmio_read(bus, gpa, insn->memory_size, &memory);
		if (err)
			return err;
	}
	err = compute_effect(insn, cpu, memory, &e);
	if (err)
		return err;
	if (e.memory_write) {
		err = insn_mmio_write(bus, gpa, insn->memory_size, e.memory_value);
		if (err)
			return err;
	}
	if (e.register_write)
		insn_write_register(cpu, e.reg, e.register_size, e.register_value);
	cpu->rflags = e.rflags;
	return 0;
}

/* PUSH reads the device and writes the stack, POP the other way round; rSP
 * moves at the stack's address size once both accesses succeeded. */
static int emulate_stack(const struct insn *insn, struct insn_cpu_state *cpu,
			 const struct insn_bus *bus, uint64_t gpa)
{
	unsigned size = insn->operand_size, stack_size = stack_address_size(cpu);
	uint64_t rsp = cpu->gprs[INSN_REG_RSP], value = 0;
	int err;

	if (insn->operation == INSN_PUSH) {
		uint64_t top = (rsp - size) & insn_mask_of(stack_size);

		err = insn_mmio_read(bus, gpa, size, &value);
		if (!err)
			err = bus->memory_write(bus->opaque, insn_linear_of(cpu, INSN_SEG_SS, top),
						&value, size);
		if (err)
			return err;
		insn_write_gpr(cpu, INSN_REG_RSP, stack_size, rsp - size);
	} else {
		uint64_t top = rsp & insn_mask_of(stack_size);

		err = bus->memory_read(bus->opaque, insn_linear_of(cpu, INSN_SEG_SS, top), &value, size);
		if (!err)
			err = insn_mmio_write(bus, gpa, size, value);
		if (err)
			return err;
		insn_write_gpr(cpu, INSN_REG_RSP, stack_size, rsp + size);
	}
	return 0;
}

int insn_emulate_mmio(const struct insn *insn, struct insn_cpu_state *cpu,
		      const struct insn_bus *bus, uint64_t fault_gpa, bool fault_write)
{
	uint64_t linear, gpa, fault_offset = fault_gpa & (INSN_MMIO_PAGE_SIZE - 1);
	int err;

	/* Sizes decoded for one mode mean nothing in another. */
	if (!insn_is_sane(insn) || insn->length == 0 || insn->length > INSN_MAX_LENGTH ||
	    insn->mode != cpu->mode)
		return -EINVAL;
	if (cpu->mode != INSN_MODE_64 && cpu->stack_address_size != 0 &&
	    cpu->stack_address_size != 2 && cpu->stack_address_size != 4)
		return -EINVAL;
	if (insn_is_string(insn->operation))
		return insn_emulate_string(insn, cpu, bus, fault_gpa, fault_write);

	/* PUSH reads its memory operand, POP writes it: a fault the other way
	 * was the stack's. */
	if ((insn->operation == INSN_PUSH && fault_write) ||
	    (insn->operation == INSN_POP && !fault_write))
		return -EOPNOTSUPP;
	linear = insn_mmio_linear_address(insn, cpu, fault_write);
	err = insn_mmio_address(fault_gpa, linear, insn->memory_size, &gpa);
	if (err)
		return err;
	if (is_bit_operation(insn->operation)) {
		if (fault_offset < gpa % INSN_MMIO_PAGE_SIZE ||
		    fault_offset >= gpa % INSN_MMIO_PAGE_SIZE + insn->memory_size)
			return -ESTALE;
	} else if (gpa != fault_gpa) {
		return -ESTALE;
	}
	if (insn->operation == INSN_PUSH || insn->operation == INSN_POP)
		err = emulate_stack(insn, cpu, bus, gpa);
	else
		err = emulate_single(insn, cpu, bus, gpa);
	if (err)
		return err;
	cpu->rip = insn_next_rip(insn, cpu);
	return 0;
}

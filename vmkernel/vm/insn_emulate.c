#include <vm/insn_emulate.h>

#include <lib/errno.h>

static uint64_t mask_of(unsigned bytes)
{
	return bytes >= 8 ? ~0ull : (1ull << (8 * bytes)) - 1;
}

static uint64_t sign_extend(uint64_t value, unsigned bytes)
{
	uint64_t sign = 1ull << (8 * bytes - 1);

	value &= mask_of(bytes);
	return (value ^ sign) - sign;
}

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
static uint64_t linear_of(const struct insn_cpu_state *cpu, unsigned segment, uint64_t effective)
{
	uint64_t linear = segment_base(cpu, segment) + effective;

	return cpu->mode == INSN_MODE_64 ? linear : linear & 0xffffffffull;
}

static uint64_t effective_address(const struct insn *insn, const struct insn_cpu_state *cpu)
{
	const struct insn_memory_operand *m = &insn->memory;
	uint64_t effective = m->displacement;

	if (m->base == INSN_REG_RIP)
		effective += cpu->rip + insn->length;
	else if (m->base != INSN_REG_NONE)
		effective += cpu->gprs[m->base];
	if (m->index != INSN_REG_NONE)
		effective += cpu->gprs[m->index] * m->scale;
	return effective & mask_of(insn->address_size);
}

static uint64_t string_destination_linear(const struct insn *insn, const struct insn_cpu_state *cpu)
{
	return linear_of(cpu, INSN_SEG_ES, cpu->gprs[INSN_REG_RDI] & mask_of(insn->address_size));
}

uint64_t insn_mmio_linear_address(const struct insn *insn, const struct insn_cpu_state *cpu,
				  bool fault_write)
{
	if (insn->operation == INSN_MOVS && fault_write)
		return string_destination_linear(insn, cpu);
	return linear_of(cpu, insn->memory.segment, effective_address(insn, cpu));
}

static uint64_t read_register(const struct insn_cpu_state *cpu, struct insn_register_operand reg,
			      unsigned size)
{
	uint64_t value = cpu->gprs[reg.number];

	if (reg.high_byte)
		value >>= 8;
	return value & mask_of(size);
}

/* 8- and 16-bit writes keep the rest of the register; 32-bit writes
 * zero-extend (architectural in 64-bit mode, harmless elsewhere). */
static void write_register(struct insn_cpu_state *cpu, struct insn_register_operand reg,
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

static void write_gpr(struct insn_cpu_state *cpu, uint8_t number, unsigned size, uint64_t value)
{
	struct insn_register_operand reg = { .number = number, .high_byte = false };

	write_register(cpu, reg, size, value);
}

/* IP wraps at the code segment's size. */
static uint64_t next_rip(const struct insn *insn, const struct insn_cpu_state *cpu)
{
	uint64_t rip = cpu->rip + insn->length;

	switch (cpu->mode) {
	case INSN_MODE_16: return rip & 0xffff;
	case INSN_MODE_32: return rip & 0xffffffffull;
	default: return rip;
	}
}

static bool even_parity(uint64_t value)
{
	uint8_t byte = (uint8_t)value;

	byte ^= byte >> 4;
	byte ^= byte >> 2;
	byte ^= byte >> 1;
	return !(byte & 1);
}

/*
 * One ALU operation at the given size; updates the status flags in *rflags
 * and returns the result. Carries and borrows out of every bit position come
 * from the operands and the result: for a + b (+ carry-in) = r the carry out
 * of bit i is bit i of (a & b) | ((a | b) & ~r), for a - b (- borrow-in) = r
 * the borrow is (~a & b) | (~(a ^ b) & r). CF is the one out of the top bit,
 * AF the one out of bit 3.
 */
static uint64_t alu(unsigned operation, uint64_t a, uint64_t b, unsigned size, uint64_t *rflags)
{
	uint64_t mask = mask_of(size);
	unsigned top = 8 * size - 1;
	uint64_t carry_in = *rflags & INSN_RFLAGS_CF;
	uint64_t result, carries = 0, overflow = 0, flags = 0;

	a &= mask;
	b &= mask;
	switch (operation) {
	case INSN_ADD:
	case INSN_ADC:
		result = (a + b + (operation == INSN_ADC ? carry_in : 0)) & mask;
		carries = (a & b) | ((a | b) & ~result);
		overflow = (a ^ result) & (b ^ result);
		break;
	case INSN_SUB:
	case INSN_SBB:
	case INSN_CMP:
		result = (a - b - (operation == INSN_SBB ? carry_in : 0)) & mask;
		carries = (~a & b) | (~(a ^ b) & result);
		overflow = (a ^ b) & (a ^ result);
		break;
	case INSN_OR:
		result = a | b;
		break;
	case INSN_XOR:
		result = a ^ b;
		break;
	default: /* AND, TEST */
		result = a & b;
		break;
	}
	if ((carries >> top) & 1)
		flags |= INSN_RFLAGS_CF;
	if ((carries >> 3) & 1)
		flags |= INSN_RFLAGS_AF;
	if ((overflow >> top) & 1)
		flags |= INSN_RFLAGS_OF;
	if (result == 0)
		flags |= INSN_RFLAGS_ZF;
	if ((result >> top) & 1)
		flags |= INSN_RFLAGS_SF;
	if (even_parity(result))
		flags |= INSN_RFLAGS_PF;
	*rflags = (*rflags & ~INSN_RFLAGS_STATUS) | flags;
	return result;
}

/* The device address of an MMIO operand at linear: fault_gpa's page, the
 * operand's offset. */
static int mmio_address(uint64_t fault_gpa, uint64_t linear, unsigned size, uint64_t *gpa)
{
	uint64_t offset = linear & (INSN_MMIO_PAGE_SIZE - 1);

	if (offset + size > INSN_MMIO_PAGE_SIZE)
		return -EOPNOTSUPP;
	*gpa = (fault_gpa & ~(INSN_MMIO_PAGE_SIZE - 1)) | offset;
	return 0;
}

static int mmio_read(const struct insn_bus *bus, uint64_t gpa, unsigned size, uint64_t *value)
{
	int err;

	*value = 0;
	err = bus->mmio_read(bus->opaque, gpa, size, value);
	*value &= mask_of(size);
	return err;
}

static int mmio_write(const struct insn_bus *bus, uint64_t gpa, unsigned size, uint64_t value)
{
	return bus->mmio_write(bus->opaque, gpa, size, value & mask_of(size));
}

static int emulate_single(const struct insn *insn, struct insn_cpu_state *cpu,
			  const struct insn_bus *bus, uint64_t gpa)
{
	unsigned size = insn->operand_size;
	unsigned operation = insn->operation;
	uint64_t rflags = cpu->rflags;
	uint64_t other, value, result;
	int err;

	/* The non-memory operand: the register or the immediate. */
	if (insn->source == INSN_OPERAND_IMMEDIATE)
		other = insn->immediate & mask_of(size);
	else
		other = read_register(cpu, insn->reg, size);

	switch (operation) {
	case INSN_MOV:
		if (insn->destination == INSN_OPERAND_MEMORY)
			return mmio_write(bus, gpa, size, other);
		err = mmio_read(bus, gpa, size, &value);
		if (err)
			return err;
		write_register(cpu, insn->reg, size, value);
		return 0;
	case INSN_MOVZX:
	case INSN_MOVSX:
		err = mmio_read(bus, gpa, insn->memory_size, &value);
		if (err)
			return err;
		if (operation == INSN_MOVSX)
			value = sign_extend(value, insn->memory_size);
		write_register(cpu, insn->reg, size, value);
		return 0;
	case INSN_XCHG:
		err = mmio_read(bus, gpa, size, &value);
		if (!err)
			err = mmio_write(bus, gpa, size, other);
		if (err)
			return err;
		write_register(cpu, insn->reg, size, value);
		return 0;
	case INSN_TEST:
		err = mmio_read(bus, gpa, size, &value);
		if (err)
			return err;
		alu(INSN_AND, value, other, size, &rflags);
		cpu->rflags = rflags;
		return 0;
	default:
		break;
	}
	if (operation > INSN_CMP)
		return -EINVAL;

	/* ADD OR ADC SBB AND SUB XOR CMP. */
	err = mmio_read(bus, gpa, size, &value);
	if (err)
		return err;
	if (insn->destination == INSN_OPERAND_MEMORY) {
		result = alu(operation, value, other, size, &rflags);
		if (operation != INSN_CMP) {
			err = mmio_write(bus, gpa, size, result);
			if (err)
				return err;
		}
	} else {
		result = alu(operation, other, value, size, &rflags);
		if (operation != INSN_CMP)
			write_register(cpu, insn->reg, size, result);
	}
	cpu->rflags = rflags;
	return 0;
}

/* One MOVS STOS or LODS element between the MMIO side at gpa and the rest. */
static int string_element(const struct insn *insn, struct insn_cpu_state *cpu,
			  const struct insn_bus *bus, uint64_t gpa, bool mmio_is_destination)
{
	unsigned size = insn->memory_size;
	uint64_t value = 0;
	int err;

	switch (insn->operation) {
	case INSN_STOS:
		return mmio_write(bus, gpa, size, cpu->gprs[INSN_REG_RAX]);
	case INSN_LODS:
		err = mmio_read(bus, gpa, size, &value);
		if (!err)
			write_gpr(cpu, INSN_REG_RAX, size, value);
		return err;
	default: /* MOVS */
		if (mmio_is_destination) {
			uint64_t source = linear_of(cpu, insn->memory.segment,
						    effective_address(insn, cpu));

			err = bus->memory_read(bus->opaque, source, &value, size);
			if (!err)
				err = mmio_write(bus, gpa, size, value);
		} else {
			err = mmio_read(bus, gpa, size, &value);
			if (!err)
				err = bus->memory_write(bus->opaque, string_destination_linear(insn, cpu),
							&value, size);
		}
		return err;
	}
}

/* Fast-string operation may access the elements of a REP out of order, so
 * the fault can be on a later element of the page than the one the
 * registers point at: whole elements ahead in DF's direction, fewer than
 * count of them. */
static bool fault_on_element(uint64_t first_offset, uint64_t fault_offset, bool down,
			     unsigned size, uint64_t count)
{
	uint64_t distance = down ? first_offset - fault_offset : fault_offset - first_offset;

	if (down ? fault_offset > first_offset : fault_offset < first_offset)
		return false;
	return distance % size == 0 && distance / size < count;
}

static int emulate_string(const struct insn *insn, struct insn_cpu_state *cpu,
			  const struct insn_bus *bus, uint64_t fault_gpa, bool fault_write)
{
	unsigned size = insn->memory_size;
	unsigned address_size = insn->address_size;
	uint64_t address_mask = mask_of(address_size);
	bool mmio_is_destination = insn->operation == INSN_STOS ||
				   (insn->operation == INSN_MOVS && fault_write);
	bool down = cpu->rflags & INSN_RFLAGS_DF;
	uint64_t step = down ? -(uint64_t)size : size;
	uint64_t count = insn->rep ? cpu->gprs[INSN_REG_RCX] & address_mask : 1;
	uint64_t done = 0, first_page = 0;

	while (done < count && done < INSN_STRING_MAX_ITERATIONS) {
		uint64_t linear = insn_mmio_linear_address(insn, cpu, fault_write);
		uint64_t gpa;
		int err;

		if (done == 0) {
			err = mmio_address(fault_gpa, linear, size, &gpa);
			if (err)
				return err;
			if (!fault_on_element(gpa % INSN_MMIO_PAGE_SIZE,
					      fault_gpa % INSN_MMIO_PAGE_SIZE, down, size, count))
				return -ESTALE;
			first_page = linear / INSN_MMIO_PAGE_SIZE;
		} else if (linear / INSN_MMIO_PAGE_SIZE != first_page ||
			   mmio_address(fault_gpa, linear, size, &gpa)) {
			break; /* the rest is for the guest to re-execute */
		}
		err = string_element(insn, cpu, bus, gpa, mmio_is_destination);
		if (err)
			return err;
		if (insn->operation != INSN_STOS)
			write_gpr(cpu, INSN_REG_RSI, address_size, cpu->gprs[INSN_REG_RSI] + step);
		if (insn->operation != INSN_LODS)
			write_gpr(cpu, INSN_REG_RDI, address_size, cpu->gprs[INSN_REG_RDI] + step);
		if (insn->rep)
			write_gpr(cpu, INSN_REG_RCX, address_size, cpu->gprs[INSN_REG_RCX] - 1);
		done++;
	}
	if (done == count)
		cpu->rip = next_rip(insn, cpu);
	return 0;
}

int insn_emulate_mmio(const struct insn *insn, struct insn_cpu_state *cpu,
		      const struct insn_bus *bus, uint64_t fault_gpa, bool fault_write)
{
	uint64_t linear, gpa;
	int err;

	/* Sizes decoded for one mode mean nothing in another. */
	if (!insn_is_sane(insn) || insn->length == 0 || insn->length > INSN_MAX_LENGTH ||
	    insn->mode != cpu->mode)
		return -EINVAL;
	if (insn->operation >= INSN_MOVS)
		return emulate_string(insn, cpu, bus, fault_gpa, fault_write);

	linear = insn_mmio_linear_address(insn, cpu, fault_write);
	err = mmio_address(fault_gpa, linear, insn->memory_size, &gpa);
	if (err)
		return err;
	if (gpa != fault_gpa)
		return -ESTALE;
	err = emulate_single(insn, cpu, bus, gpa);
	if (err)
		return err;
	cpu->rip = next_rip(insn, cpu);
	return 0;
}

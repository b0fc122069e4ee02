/*
 * MOVS STOS LODS CMPS SCAS on MMIO (the contract is vm/insn_emulate.h's).
 * Each has up to two sides: the source DS:[rSI] (segment overridable; MOVS
 * LODS CMPS) and the destination ES:[rDI] (MOVS STOS CMPS SCAS). One side
 * is the MMIO one, reached through mmio_read/mmio_write on the faulting
 * page; the other, if any, through memory_read/memory_write. A CMPS whose
 * two sides both have the fault's page offset has no side known to be MMIO
 * (SIDE_BOTH_MEMORY): both go through memory_read, each kept to its page.
 */
#include <vm/insn_emulate.h>

#include <lib/errno.h>
#include <vm/insn_emulate_alu.h>
#include <vm/insn_emulate_internal.h>

enum mmio_side { SIDE_SOURCE, SIDE_DESTINATION, SIDE_BOTH_MEMORY };

struct string_walk {
	enum mmio_side mmio;
	uint64_t fault_gpa;
	uint64_t source_page;      /* the linear pages the walk stays on */
	uint64_t destination_page;
};

static bool has_source(unsigned operation)
{
	return operation == INSN_MOVS || operation == INSN_LODS || operation == INSN_CMPS;
}

static bool has_destination(unsigned operation)
{
	return operation != INSN_LODS;
}

static uint64_t source_linear(const struct insn *insn, const struct insn_cpu_state *cpu)
{
	return insn_linear_of(cpu, insn->memory.segment, insn_effective_address(insn, cpu));
}

static uint64_t destination_linear(const struct insn *insn, const struct insn_cpu_state *cpu)
{
	return insn_linear_of(cpu, INSN_SEG_ES,
			      cpu->gprs[INSN_REG_RDI] & insn_mask_of(insn->address_size));
}

/* Fast-string operation (REP MOVS, STOS, and LODS here alike) may access
 * the elements out of order, so the fault can be on a later element of the
 * page than the one the registers point at: whole elements ahead in DF's
 * direction, fewer than count of them. CMPS and SCAS stop on a mismatch:
 * their fault is on the current element. */
static bool fault_on_element(const struct insn *insn, uint64_t first_offset, uint64_t fault_offset,
			     bool down, uint64_t count)
{
	unsigned size = insn->memory_size;
	uint64_t distance = down ? first_offset - fault_offset : fault_offset - first_offset;

	if (insn->operation == INSN_CMPS || insn->operation == INSN_SCAS)
		return fault_offset == first_offset;
	if (down ? fault_offset > first_offset : fault_offset < first_offset)
		return false;
	return distance % size == 0 && distance / size < count;
}

/* Which side the fault was on: the written one for MOVS when it was a
 * write, else the read one; for CMPS the one at the fault's page offset. */
static int choose_mmio_side(const struct insn *insn, const struct insn_cpu_state *cpu,
			    uint64_t fault_gpa, bool fault_write, enum mmio_side *side)
{
	uint64_t page_mask = INSN_MMIO_PAGE_SIZE - 1, fault_offset = fault_gpa & page_mask;
	bool source_matches, destination_matches;

	switch (insn->operation) {
	case INSN_MOVS:
		*side = fault_write ? SIDE_DESTINATION : SIDE_SOURCE;
		return 0;
	case INSN_LODS:
		*side = SIDE_SOURCE;
		return 0;
	case INSN_CMPS:
		source_matches = (source_linear(insn, cpu) & page_mask) == fault_offset;
		destination_matches = (destination_linear(insn, cpu) & page_mask) == fault_offset;
		if (source_matches && destination_matches)
			*side = SIDE_BOTH_MEMORY;
		else if (source_matches)
			*side = SIDE_SOURCE;
		else if (destination_matches)
			*side = SIDE_DESTINATION;
		else
			return -ESTALE;
		return 0;
	default: /* STOS SCAS */
		*side = SIDE_DESTINATION;
		return 0;
	}
}

/* Whether an element at linear lies on page, not crossing its end. */
static bool within_page(uint64_t linear, unsigned size, uint64_t page)
{
	return linear / INSN_MMIO_PAGE_SIZE == page &&
	       (linear & (INSN_MMIO_PAGE_SIZE - 1)) + size <= INSN_MMIO_PAGE_SIZE;
}

/* One side's element: the device when it is the MMIO side, else memory. */
static int read_side(const struct insn_bus *bus, const struct string_walk *walk, bool is_mmio,
		     uint64_t linear, unsigned size, uint64_t *value)
{
	uint64_t gpa = 0;
	int err;

	*value = 0;
	if (!is_mmio)
		return bus->memory_read(bus->opaque, linear, value, size);
	err = insn_mmio_address(walk->fault_gpa, linear, size, &gpa);
	return err ? err : insn_mmio_read(bus, gpa, size, value);
}

static int write_side(const struct insn_bus *bus, const struct string_walk *walk, bool is_mmio,
		      uint64_t linear, unsigned size, uint64_t value)
{
	uint64_t gpa = 0;
	int err;

	if (!is_mmio)
		return bus->memory_write(bus->opaque, linear, &value, size);
	err = insn_mmio_address(walk->fault_gpa, linear, size, &gpa);
	return err ? err : insn_mmio_write(bus, gpa, size, value);
}

/* One element: its accesses, then RAX (LODS) and RFLAGS (CMPS, SCAS). */
static int string_element(const struct insn *insn, struct insn_cpu_state *cpu,
			  const struct insn_bus *bus, const struct string_walk *walk)
{
	unsigned size = insn->memory_size;
	bool source_mmio = walk->mmio == SIDE_SOURCE, destination_mmio = walk->mmio == SIDE_DESTINATION;
	uint64_t source = 0, destination = 0, rflags = cpu->rflags;
	int err = 0;

	if (has_source(insn->operation)) {
		err = read_side(bus, walk, source_mmio, source_linear(insn, cpu), size, &source);
		if (err)
			return err;
	}
	switch (insn->operation) {
	case INSN_STOS:
		return write_side(bus, walk, true, destination_linear(insn, cpu), size,
				  cpu->gprs[INSN_REG_RAX]);
	case INSN_LODS:
		insn_write_gpr(cpu, INSN_REG_RAX, size, source);
		return 0;
	case INSN_MOVS:
		return write_side(bus, walk, destination_mmio, destination_linear(insn, cpu), size,
				  source);
	default: /* CMPS: [rSI] - [rDI]; SCAS: rAX - [rDI] */
		err = read_side(bus, walk, destination_mmio, destination_linear(insn, cpu), size,
				&destination);
		if (err)
			return err;
		if (insn->operation == INSN_SCAS)
			source = cpu->gprs[INSN_REG_RAX];
		insn_alu_binary(INSN_CMP, source, destination, size, &rflags);
		cpu->rflags = rflags;
		return 0;
	}
}

/* REPE ends on a mismatch, REPNE on a match. */
static bool repeat_ends(const struct insn *insn, uint64_t rflags)
{
	bool zf = rflags & INSN_RFLAGS_ZF;

	if (insn->operation != INSN_CMPS && insn->operation != INSN_SCAS)
		return false;
	return insn->rep == INSN_REP_F3 ? !zf : zf;
}

int insn_emulate_string(const struct insn *insn, struct insn_cpu_state *cpu,
			const struct insn_bus *bus, uint64_t fault_gpa, bool fault_write)
{
	unsigned size = insn->memory_size;
	unsigned address_size = insn->address_size;
	bool down = cpu->rflags & INSN_RFLAGS_DF;
	uint64_t step = down ? -(uint64_t)size : size;
	uint64_t count = insn->rep ? cpu->gprs[INSN_REG_RCX] & insn_mask_of(address_size) : 1;
	struct string_walk walk = { .fault_gpa = fault_gpa };
	uint64_t done = 0, gpa;
	bool ended = false;
	int err;

	if (count == 0) {
		cpu->rip = insn_next_rip(insn, cpu);
		return 0;
	}
	err = choose_mmio_side(insn, cpu, fault_gpa, fault_write, &walk.mmio);
	if (err)
		return err;
	if (walk.mmio != SIDE_BOTH_MEMORY) {
		uint64_t linear = walk.mmio == SIDE_SOURCE ? source_linear(insn, cpu)
							    : destination_linear(insn, cpu);

		err = insn_mmio_address(fault_gpa, linear, size, &gpa);
		if (err)
			return err;
		if (!fault_on_element(insn, gpa % INSN_MMIO_PAGE_SIZE,
				      fault_gpa % INSN_MMIO_PAGE_SIZE, down, count))
			return -ESTALE;
	}
	walk.source_page = source_linear(insn, cpu) / INSN_MMIO_PAGE_SIZE;
	walk.destination_page = destination_linear(insn, cpu) / INSN_MMIO_PAGE_SIZE;

	/* The walk stays on the MMIO side's page (both pages when neither is
	 * known to be MMIO); the rest is for the guest to re-execute. */
	while (done < count && done < INSN_STRING_MAX_ITERATIONS && !ended) {
		bool source_bounded = walk.mmio != SIDE_DESTINATION && has_source(insn->operation);
		bool destination_bounded = walk.mmio != SIDE_SOURCE &&
					   has_destination(insn->operation);

		if ((source_bounded &&
		     !within_page(source_linear(insn, cpu), size, walk.source_page)) ||
		    (destination_bounded &&
		     !within_page(destination_linear(insn, cpu), size, walk.destination_page))) {
			if (done == 0)
				return -EOPNOTSUPP; /* the first element crosses the page end */
			break;
		}
		err = string_element(insn, cpu, bus, &walk);
		if (err)
			return err;
		if (has_source(insn->operation))
			insn_write_gpr(cpu, INSN_REG_RSI, address_size, cpu->gprs[INSN_REG_RSI] + step);
		if (has_destination(insn->operation))
			insn_write_gpr(cpu, INSN_REG_RDI, address_size, cpu->gprs[INSN_REG_RDI] + step);
		if (insn->rep) {
			insn_write_gpr(cpu, INSN_REG_RCX, address_size, cpu->gprs[INSN_REG_RCX] - 1);
			ended = repeat_ends(insn, cpu->rflags);
		}
		done++;
	}
	if (done == count || ended)
		cpu->rip = insn_next_rip(insn, cpu);
	return 0;
}

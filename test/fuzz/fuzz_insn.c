/*
 * libFuzzer target for the MMIO instruction decoder and emulator
 * (vmkernel/vm/insn_decode.c, insn_emulate.c). One input is
 *   [0] mode (mod 3)   [1] control bits   [2] bytes available (mod 16)
 *   [3] which bus access fails (with CONTROL_FAIL)
 *   then the instruction bytes, then 8-byte values for the registers, RIP,
 *   RFLAGS, segment bases, the faulting page and the device's data seed
 *   (missing values take defaults).
 * Decoding must give 0, -EINVAL or -EAGAIN, read nothing past the bytes
 * given (they sit in a heap block of exactly that size, under ASan), give a
 * length within them, decode identically from exactly its length and give
 * -EAGAIN one byte short. Emulation, with a fake bus that checks every
 * access, must touch only the registers, flags and RIP the instruction
 * names, as much as its accesses account for, and compute what this host's
 * processor computes (results, registers and the flags it defines). A
 * broken invariant aborts with the instruction printed.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lib/errno.h>
#include <vm/insn_decode.h>
#include <vm/insn_emulate.h>

#include "host_alu.h"
#include "insn_format.h"

#define CONTROL_FAULT_WRITE 0x01 /* the fault was a write */
#define CONTROL_DF 0x02          /* RFLAGS.DF set */
#define CONTROL_MATCH 0x04       /* fault_gpa has the operand's page offset */
#define CONTROL_FAIL 0x08        /* one bus access returns -EIO */
#define CONTROL_SMALL_RCX 0x10   /* RCX below 64, so REPs finish */
#define CONTROL_NEAR_PAGE_END 0x20 /* operand registers point near a page end */
#define CONTROL_STACK_16 0x40    /* stack_address_size 2 (SS.B = 0) */
#define CONTROL_STACK_32 0x80    /* stack_address_size 4; with STACK_16: 0 (default) */

#define PAGE 4096u
#define MAX_ACCESSES (2 * INSN_STRING_MAX_ITERATIONS + 2)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct access {
	char kind; /* r w device, R W memory */
	uint64_t address;
	unsigned size;
	uint64_t value;
};

static struct {
	const struct insn *insn;
	uint64_t fault_page;
	uint64_t data_seed;
	int fail_at;
	unsigned count;
	struct access log[MAX_ACCESSES];
} bus_state;

static const struct insn *current_insn;

static void fail(const char *file, int line, const char *what)
{
	char text[256];

	fprintf(stderr, "%s:%d: invariant failed: %s\n", file, line, what);
	if (current_insn)
		fprintf(stderr, "  instruction: %s\n", insn_format(current_insn, text, sizeof(text)));
	abort();
}

#define FUZZ_CHECK(cond)                                  \
	do {                                              \
		if (!(cond))                              \
			fail(__FILE__, __LINE__, #cond);  \
	} while (0)

static uint64_t mask_of(unsigned bytes)
{
	return bytes >= 8 ? ~0ull : (1ull << (8 * bytes)) - 1;
}

static uint64_t mix(uint64_t x)
{
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdull;
	x ^= x >> 33;
	x *= 0xc4ceb9fe1a85ec53ull;
	return x ^ (x >> 33);
}

static int record(char kind, uint64_t address, unsigned size, uint64_t value)
{
	bool failing = bus_state.fail_at >= 0 && (int)bus_state.count == bus_state.fail_at;

	FUZZ_CHECK(bus_state.count < MAX_ACCESSES);
	FUZZ_CHECK(size == bus_state.insn->memory_size);
	bus_state.log[bus_state.count++] = (struct access){ kind, address, size, value };
	return failing ? -EIO : 0;
}

static void check_device_address(uint64_t gpa, unsigned size)
{
	FUZZ_CHECK((gpa & ~(uint64_t)(PAGE - 1)) == bus_state.fault_page);
	FUZZ_CHECK((gpa & (PAGE - 1)) + size <= PAGE);
}

static int fuzz_mmio_read(void *opaque, uint64_t gpa, unsigned size, uint64_t *value)
{
	(void)opaque;
	check_device_address(gpa, size);
	/* Deliberately dirty above size: the emulator must mask. */
	*value = mix(gpa ^ bus_state.data_seed);
	return record('r', gpa, size, *value & mask_of(size));
}

static int fuzz_mmio_write(void *opaque, uint64_t gpa, unsigned size, uint64_t value)
{
	(void)opaque;
	check_device_address(gpa, size);
	FUZZ_CHECK((value & ~mask_of(size)) == 0);
	return record('w', gpa, size, value);
}

/* Who may use memory_read/memory_write: the other side of MOVS and CMPS,
 * the stack of PUSH and POP. */
static bool uses_memory(unsigned operation)
{
	return operation == INSN_MOVS || operation == INSN_CMPS || operation == INSN_PUSH ||
	       operation == INSN_POP;
}

static int fuzz_memory_read(void *opaque, uint64_t linear, void *data, unsigned size)
{
	uint64_t value = mix(linear ^ ~bus_state.data_seed);

	(void)opaque;
	FUZZ_CHECK(uses_memory(bus_state.insn->operation));
	FUZZ_CHECK(size <= 8);
	memcpy(data, &value, size);
	return record('R', linear, size, value & mask_of(size));
}

static int fuzz_memory_write(void *opaque, uint64_t linear, const void *data, unsigned size)
{
	uint64_t value = 0;

	(void)opaque;
	FUZZ_CHECK(uses_memory(bus_state.insn->operation));
	FUZZ_CHECK(size <= 8);
	memcpy(&value, data, size);
	return record('W', linear, size, value);
}

static const struct insn_bus fuzz_bus = {
	.mmio_read = fuzz_mmio_read,
	.mmio_write = fuzz_mmio_write,
	.memory_read = fuzz_memory_read,
	.memory_write = fuzz_memory_write,
	.opaque = NULL,
};

/* Values after the instruction bytes, 8 bytes each while they last. */
struct value_reader {
	const uint8_t *data;
	size_t size;
	size_t position;
	unsigned index;
};

static uint64_t next_value(struct value_reader *r)
{
	uint64_t value = 0x1000ull * (r->index + 1) + 0x10 * r->index;

	if (r->position + 8 <= r->size) {
		memcpy(&value, r->data + r->position, 8);
		r->position += 8;
	}
	r->index++;
	return value;
}

static int decode_exact(const uint8_t *bytes, size_t available, enum insn_mode mode,
			struct insn *out)
{
	uint8_t *copy = malloc(available ? available : 1);
	int err;

	if (available)
		memcpy(copy, bytes, available);
	err = insn_decode(copy, available, mode, out);
	free(copy);
	return err;
}

static bool is_shift(unsigned operation)
{
	return operation >= INSN_ROL && operation <= INSN_SAR;
}

static void check_decode(const uint8_t *bytes, size_t available, enum insn_mode mode,
			 struct insn *insn, int err)
{
	struct insn again, empty;
	char text[256];

	memset(&empty, 0, sizeof(empty));
	empty.segment_override = INSN_NO_SEGMENT_OVERRIDE;
	FUZZ_CHECK(err == 0 || err == -EINVAL || err == -EAGAIN);
	if (err) {
		FUZZ_CHECK(memcmp(insn, &empty, sizeof(empty)) == 0);
		return;
	}
	current_insn = insn;
	FUZZ_CHECK(insn->length >= 1 && insn->length <= available && insn->length <= INSN_MAX_LENGTH);
	FUZZ_CHECK(decode_exact(bytes, insn->length, mode, &again) == 0);
	FUZZ_CHECK(memcmp(insn, &again, sizeof(again)) == 0);
	FUZZ_CHECK(decode_exact(bytes, insn->length - 1u, mode, &again) == -EAGAIN);
	FUZZ_CHECK(insn->mode == mode);
	FUZZ_CHECK(insn->operation < INSN_OPERATION_COUNT);
	FUZZ_CHECK(insn->operand_size == 1 || insn->operand_size == 2 || insn->operand_size == 4 ||
		   insn->operand_size == 8);
	FUZZ_CHECK(insn->memory_size >= 1 && insn->memory_size <= insn->operand_size);
	FUZZ_CHECK(mode == INSN_MODE_64 ? insn->address_size != 2 : insn->address_size != 8);
	FUZZ_CHECK(insn->destination == INSN_OPERAND_MEMORY || insn->source == INSN_OPERAND_MEMORY);
	FUZZ_CHECK(insn->reg.number < INSN_GPR_COUNT);
	FUZZ_CHECK(!insn->reg.high_byte || (insn->reg.number < 4 && insn->rex == 0));
	FUZZ_CHECK(insn->memory.segment < INSN_SEGMENT_COUNT);
	FUZZ_CHECK(insn->memory.base < INSN_GPR_COUNT || insn->memory.base == INSN_REG_NONE ||
		   (insn->memory.base == INSN_REG_RIP && mode == INSN_MODE_64));
	FUZZ_CHECK(insn->memory.index < INSN_GPR_COUNT || insn->memory.index == INSN_REG_NONE);
	FUZZ_CHECK(insn->memory.index != INSN_REG_RSP);
	FUZZ_CHECK(!insn->lock || insn->destination == INSN_OPERAND_MEMORY);
	FUZZ_CHECK(!insn->lock || (insn->operation != INSN_CMP && insn->operation != INSN_TEST &&
				   insn->operation != INSN_MOV && insn->operation != INSN_BT &&
				   insn->operation != INSN_SET && !is_shift(insn->operation)));
	FUZZ_CHECK(insn->rep == INSN_REP_NONE || insn_is_string(insn->operation));
	FUZZ_CHECK(insn->condition < 16);
	FUZZ_CHECK(insn->condition == 0 ||
		   insn->operation == INSN_CMOV || insn->operation == INSN_SET);
	if (is_shift(insn->operation) && insn->source == INSN_OPERAND_REGISTER)
		FUZZ_CHECK(insn->reg.number == INSN_REG_RCX && !insn->reg.high_byte);
	if (insn->operation == INSN_PUSH || insn->operation == INSN_POP)
		FUZZ_CHECK(insn->operand_size != 1 &&
			   (mode == INSN_MODE_64 ? insn->operand_size != 4 : insn->operand_size != 8));
	insn_format(insn, text, sizeof(text));
}

/* Whether the instruction may write its ModRM.reg register (insn->reg). */
static bool writes_register(const struct insn *insn)
{
	switch (insn->operation) {
	case INSN_MOV:
	case INSN_MOVZX:
	case INSN_MOVSX:
	case INSN_CMOV:
		return insn->destination == INSN_OPERAND_REGISTER;
	case INSN_XCHG:
	case INSN_XADD:
		return true;
	case INSN_CMP:
	case INSN_TEST:
		return false;
	default:
		return insn->operation < INSN_CMP && insn->destination == INSN_OPERAND_REGISTER;
	}
}

/* Whether the instruction may change status flags. */
static bool writes_flags(unsigned operation)
{
	switch (operation) {
	case INSN_MOV: case INSN_MOVZX: case INSN_MOVSX: case INSN_XCHG: case INSN_NOT:
	case INSN_CMOV: case INSN_SET: case INSN_PUSH: case INSN_POP:
	case INSN_MOVS: case INSN_STOS: case INSN_LODS:
		return false;
	default:
		return true;
	}
}

/* The status flags a shift or rotate defines for this count. */
static uint64_t defined_shift_flags(unsigned operation, unsigned size, unsigned count)
{
	unsigned masked = count & (size == 8 ? 63 : 31);
	uint64_t defined = INSN_RFLAGS_STATUS;

	if (masked == 0)
		return defined;
	if (masked != 1)
		defined &= ~INSN_RFLAGS_OF;
	if (operation >= INSN_SHL) {
		defined &= ~INSN_RFLAGS_AF;
		if (masked >= 8 * size)
			defined &= ~INSN_RFLAGS_CF;
	}
	return defined;
}

static unsigned stack_size_of(const struct insn_cpu_state *cpu)
{
	if (cpu->mode == INSN_MODE_64)
		return 8;
	if (cpu->stack_address_size)
		return cpu->stack_address_size;
	return cpu->mode == INSN_MODE_32 ? 4 : 2;
}

/* The bits of a register an access of this size leaves alone. */
static uint64_t kept_bits(unsigned size, bool high_byte)
{
	if (size == 1)
		return high_byte ? ~0xff00ull : ~0xffull;
	if (size == 2)
		return ~0xffffull;
	return 0;
}

/* A register written at size: the untouched bits and, for 32-bit, zero above. */
static void check_register_write(uint64_t before, uint64_t after, unsigned size, bool high_byte)
{
	uint64_t kept = kept_bits(size, high_byte);

	FUZZ_CHECK((after & kept) == (before & kept));
	if (size == 4)
		FUZZ_CHECK(after >> 32 == 0);
}

static uint64_t read_register(const struct insn_cpu_state *cpu, const struct insn *insn,
			      unsigned size)
{
	uint64_t value = cpu->gprs[insn->reg.number];

	if (insn->reg.high_byte)
		value >>= 8;
	return value & mask_of(size);
}

/* The host runs the instruction on the value the device gave. */
static void check_read_modify_write(const struct insn *insn, const struct insn_cpu_state *before,
				    const struct insn_cpu_state *after, uint64_t other)
{
	unsigned size = insn->operand_size, operation = insn->operation;
	const struct access *log = bus_state.log;
	uint64_t host_flags = (before->rflags & INSN_RFLAGS_STATUS) | 0x202;
	uint64_t checked = INSN_RFLAGS_STATUS, result;
	uint64_t accumulator = before->gprs[INSN_REG_RAX], reg = before->gprs[insn->reg.number];

	FUZZ_CHECK(bus_state.count == 2 && log[0].kind == 'r' && log[1].kind == 'w');
	FUZZ_CHECK(log[1].address == log[0].address);
	if (operation == INSN_CMPXCHG) {
		result = host_cmpxchg(size, log[0].value, other, &accumulator, &host_flags);
		FUZZ_CHECK(after->gprs[INSN_REG_RAX] == accumulator);
	} else if (operation == INSN_XADD) {
		if (insn->reg.high_byte) {
			uint64_t high = reg >> 8;

			result = host_xadd(size, log[0].value, &high, &host_flags);
			reg = (reg & ~0xff00ull) | ((high & 0xff) << 8);
		} else {
			result = host_xadd(size, log[0].value, &reg, &host_flags);
		}
		FUZZ_CHECK(after->gprs[insn->reg.number] == reg);
	} else if (is_shift(operation)) {
		unsigned count = (unsigned)(insn->source == INSN_OPERAND_REGISTER
						    ? before->gprs[INSN_REG_RCX] & 0xff
						    : insn->immediate & 0xff);

		result = host_shift(operation, size, log[0].value, (uint8_t)count, &host_flags);
		checked = defined_shift_flags(operation, size, count);
	} else {
		result = host_unary(operation, size, log[0].value, &host_flags);
	}
	FUZZ_CHECK(log[1].value == (result & mask_of(size)));
	FUZZ_CHECK((after->rflags & checked) == (host_flags & checked));
}

/* The unit BT & co. accessed holds the bit the offset names. */
static void check_bit_operation(const struct insn *insn, const struct insn_cpu_state *before,
				const struct insn_cpu_state *after, uint64_t other)
{
	unsigned size = insn->operand_size, width = 8 * size;
	const struct access *log = bus_state.log;
	uint64_t host_flags = (before->rflags & INSN_RFLAGS_STATUS) | 0x202;
	uint64_t checked = INSN_RFLAGS_CF | INSN_RFLAGS_ZF, result;
	unsigned bit = (unsigned)other & (width - 1);

	FUZZ_CHECK(log[0].kind == 'r');
	FUZZ_CHECK(bus_state.count == (insn->operation == INSN_BT ? 1u : 2u));
	result = host_bit(insn->operation, size, log[0].value, bit, &host_flags);
	if (insn->operation != INSN_BT)
		FUZZ_CHECK(log[1].kind == 'w' && log[1].address == log[0].address &&
			   log[1].value == (result & mask_of(size)));
	FUZZ_CHECK((after->rflags & checked) == (host_flags & checked));
	if (insn->source == INSN_OPERAND_REGISTER) {
		/* The unit is at EA + size * floor(offset / width); the wraps at the
		 * address size and at 4 GiB leave page offsets alone. */
		uint64_t sign = 1ull << (width - 1);
		int64_t offset = (int64_t)(((other & mask_of(size)) ^ sign) - sign);
		int64_t unit = offset >= 0 ? offset / width : -((-(offset + 1)) / width) - 1;
		struct insn effective_only = *insn;

		effective_only.source = INSN_OPERAND_NONE;
		uint64_t base = insn_mmio_linear_address(&effective_only, before, false);
		uint64_t linear = insn_mmio_linear_address(insn, before, false);

		FUZZ_CHECK(((base + (uint64_t)unit * size) & (PAGE - 1)) == (linear & (PAGE - 1)));
		FUZZ_CHECK((log[0].address & (PAGE - 1)) == (linear & (PAGE - 1)));
	}
}

/* PUSH: device read, stack write below rSP; POP: stack read at rSP, device write. */
static void check_stack(const struct insn *insn, const struct insn_cpu_state *before,
			const struct insn_cpu_state *after)
{
	unsigned size = insn->operand_size, stack_size = stack_size_of(before);
	const struct access *log = bus_state.log;
	uint64_t rsp = before->gprs[INSN_REG_RSP];
	uint64_t moved = insn->operation == INSN_PUSH ? rsp - size : rsp + size;
	uint64_t top = (insn->operation == INSN_PUSH ? moved : rsp) & mask_of(stack_size);
	uint64_t ss = before->mode == INSN_MODE_64 ? 0 : before->segment_base[INSN_SEG_SS];
	uint64_t linear = before->mode == INSN_MODE_64 ? top : (ss + top) & 0xffffffffull;

	FUZZ_CHECK(bus_state.count == 2);
	FUZZ_CHECK(log[0].kind == (insn->operation == INSN_PUSH ? 'r' : 'R'));
	FUZZ_CHECK(log[1].kind == (insn->operation == INSN_PUSH ? 'W' : 'w'));
	FUZZ_CHECK(log[1].value == log[0].value);
	FUZZ_CHECK(log[insn->operation == INSN_PUSH ? 1 : 0].address == linear);
	check_register_write(rsp, after->gprs[INSN_REG_RSP], stack_size, false);
	FUZZ_CHECK(((after->gprs[INSN_REG_RSP] ^ moved) & mask_of(stack_size)) == 0);
}

static void check_single(const struct insn *insn, const struct insn_cpu_state *before,
			 const struct insn_cpu_state *after)
{
	unsigned size = insn->operand_size;
	unsigned n = bus_state.count;
	const struct access *log = bus_state.log;
	uint64_t other = insn->source == INSN_OPERAND_IMMEDIATE ? insn->immediate & mask_of(size)
								: read_register(before, insn, size);
	uint64_t result = 0;

	switch (insn->operation) {
	case INSN_MOV:
		FUZZ_CHECK(n == 1);
		if (insn->destination == INSN_OPERAND_MEMORY) {
			FUZZ_CHECK(log[0].kind == 'w' && log[0].value == other);
		} else {
			FUZZ_CHECK(log[0].kind == 'r');
			FUZZ_CHECK(read_register(after, insn, size) == log[0].value);
		}
		break;
	case INSN_MOVZX:
	case INSN_MOVSX: {
		uint64_t value = log[0].value;
		uint64_t sign = 1ull << (8 * insn->memory_size - 1);

		FUZZ_CHECK(n == 1 && log[0].kind == 'r');
		if (insn->operation == INSN_MOVSX)
			value = (value ^ sign) - sign;
		FUZZ_CHECK(read_register(after, insn, size) == (value & mask_of(size)));
		break;
	}
	case INSN_XCHG:
		FUZZ_CHECK(n == 2 && log[0].kind == 'r' && log[1].kind == 'w');
		FUZZ_CHECK(log[1].address == log[0].address);
		FUZZ_CHECK(log[1].value == other);
		FUZZ_CHECK(read_register(after, insn, size) == log[0].value);
		break;
	case INSN_CMPXCHG:
	case INSN_XADD:
	case INSN_INC: case INSN_DEC: case INSN_NOT: case INSN_NEG:
	case INSN_ROL: case INSN_ROR: case INSN_RCL: case INSN_RCR:
	case INSN_SHL: case INSN_SHR: case INSN_SAR:
		check_read_modify_write(insn, before, after, other);
		break;
	case INSN_BT: case INSN_BTS: case INSN_BTR: case INSN_BTC:
		check_bit_operation(insn, before, after, other);
		break;
	case INSN_CMOV: {
		uint64_t flags = before->rflags & (INSN_RFLAGS_STATUS | 0x202);

		FUZZ_CHECK(n == 1 && log[0].kind == 'r');
		FUZZ_CHECK(after->gprs[insn->reg.number] ==
			   host_cmov(insn->condition, size, before->gprs[insn->reg.number],
				     log[0].value, flags));
		break;
	}
	case INSN_SET:
		FUZZ_CHECK(n == 1 && log[0].kind == 'w' && log[0].size == 1);
		FUZZ_CHECK(log[0].value == host_set(insn->condition,
						    before->rflags & (INSN_RFLAGS_STATUS | 0x202)));
		break;
	case INSN_PUSH:
	case INSN_POP:
		check_stack(insn, before, after);
		break;
	default: {
		/* ALU and TEST: the host's processor says what comes out. */
		bool memory_destination = insn->destination == INSN_OPERAND_MEMORY;
		bool writes = insn->operation != INSN_CMP && insn->operation != INSN_TEST;
		uint64_t host_flags = (before->rflags & INSN_RFLAGS_STATUS) | 0x202;
		uint64_t checked = INSN_RFLAGS_STATUS;

		FUZZ_CHECK(log[0].kind == 'r');
		if (memory_destination)
			result = host_alu(insn->operation, size, log[0].value, other, &host_flags);
		else
			result = host_alu(insn->operation, size, other, log[0].value, &host_flags);
		result &= mask_of(size);
		if (insn->operation == INSN_OR || insn->operation == INSN_AND ||
		    insn->operation == INSN_XOR || insn->operation == INSN_TEST) {
			checked &= ~INSN_RFLAGS_AF; /* undefined; the emulator clears it */
			FUZZ_CHECK(!(after->rflags & INSN_RFLAGS_AF));
		}
		FUZZ_CHECK((after->rflags & checked) == (host_flags & checked));
		if (memory_destination && writes) {
			FUZZ_CHECK(n == 2 && log[1].kind == 'w' && log[1].address == log[0].address);
			FUZZ_CHECK(log[1].value == result);
		} else {
			FUZZ_CHECK(n == 1);
		}
		if (!memory_destination && writes)
			FUZZ_CHECK(read_register(after, insn, size) == result);
		break;
	}
	}
}

/* A count or pointer register moved by delta at the address size; untouched
 * when no element was done. */
static void check_string_register(const struct insn_cpu_state *before,
				  const struct insn_cpu_state *after, unsigned reg, uint64_t delta,
				  unsigned address_size, uint64_t done)
{
	uint64_t mask = mask_of(address_size);

	if (done == 0) {
		FUZZ_CHECK(after->gprs[reg] == before->gprs[reg]);
		return;
	}
	check_register_write(before->gprs[reg], after->gprs[reg], address_size, false);
	FUZZ_CHECK(((before->gprs[reg] + delta) & mask) == (after->gprs[reg] & mask));
}

static bool string_has_source(unsigned operation)
{
	return operation == INSN_MOVS || operation == INSN_LODS || operation == INSN_CMPS;
}

static bool string_has_destination(unsigned operation)
{
	return operation != INSN_LODS;
}

/* A string instruction's registers moved by exactly the elements done, and
 * CMPS's and SCAS's flags are those of CMP on the last element; returns
 * whether the instruction is finished (RCX elements done, or REPE/REPNE
 * ended on ZF). */
static bool check_string(const struct insn *insn, const struct insn_cpu_state *before,
			 const struct insn_cpu_state *after, int err)
{
	bool compare = insn->operation == INSN_CMPS || insn->operation == INSN_SCAS;
	unsigned per_element = insn->operation == INSN_MOVS || insn->operation == INSN_CMPS ? 2 : 1;
	uint64_t address_mask = mask_of(insn->address_size);
	uint64_t step = (before->rflags & INSN_RFLAGS_DF) ? -(uint64_t)insn->memory_size
							    : insn->memory_size;
	/* The access that failed (the last one) completed no element. */
	uint64_t done = (bus_state.count - (err == -EIO ? 1 : 0)) / per_element;
	uint64_t count = insn->rep ? before->gprs[INSN_REG_RCX] & address_mask : 1;
	const struct access *log = bus_state.log;
	bool ended = false;

	FUZZ_CHECK(done <= INSN_STRING_MAX_ITERATIONS);
	FUZZ_CHECK(done <= count);
	if (insn->rep)
		check_string_register(before, after, INSN_REG_RCX, -done, insn->address_size, done);
	if (string_has_source(insn->operation))
		check_string_register(before, after, INSN_REG_RSI, done * step, insn->address_size, done);
	if (string_has_destination(insn->operation))
		check_string_register(before, after, INSN_REG_RDI, done * step, insn->address_size, done);
	/* Consecutive device accesses walk one page in DF's direction. */
	for (unsigned i = per_element; i < bus_state.count; i++) {
		const struct access *a = &log[i];

		if (a->kind == 'r' || a->kind == 'w')
			FUZZ_CHECK(a->address == log[i - per_element].address + step);
	}
	if (compare && done > 0) {
		/* The last complete element: CMPS [rSI] then [rDI], SCAS rAX and [rDI]. */
		const struct access *last = &log[(done - 1) * per_element];
		uint64_t host_flags = (before->rflags & INSN_RFLAGS_STATUS) | 0x202;
		uint64_t first = insn->operation == INSN_CMPS ? last[0].value
							       : before->gprs[INSN_REG_RAX];
		uint64_t second = insn->operation == INSN_CMPS ? last[1].value : last[0].value;
		bool zf = after->rflags & INSN_RFLAGS_ZF;

		host_alu(INSN_CMP, insn->operand_size, first, second, &host_flags);
		FUZZ_CHECK((after->rflags & INSN_RFLAGS_STATUS) == (host_flags & INSN_RFLAGS_STATUS));
		ended = insn->rep && (insn->rep == INSN_REP_F3 ? !zf : zf);
		/* A REPE/REPNE goes on only while ZF says so: every element but
		 * the last kept it going. */
		for (uint64_t i = 0; insn->rep && i + 1 < done; i++) {
			const struct access *element = &log[i * per_element];
			uint64_t flags = 0x202;

			host_alu(INSN_CMP, insn->operand_size,
				 insn->operation == INSN_CMPS ? element[0].value : before->gprs[INSN_REG_RAX],
				 insn->operation == INSN_CMPS ? element[1].value : element[0].value,
				 &flags);
			FUZZ_CHECK(insn->rep == INSN_REP_F3 ? (flags & INSN_RFLAGS_ZF) != 0
							    : (flags & INSN_RFLAGS_ZF) == 0);
		}
	}
	if (compare && done == 0)
		FUZZ_CHECK(after->rflags == before->rflags);
	return done == count || ended;
}

static void check_emulation(const struct insn *insn, const struct insn_cpu_state *before,
			    const struct insn_cpu_state *after, int err)
{
	uint32_t may_change = 0;
	bool string = insn_is_string(insn->operation);

	FUZZ_CHECK(err == 0 || err == -ESTALE || err == -EOPNOTSUPP || err == -EIO);
	FUZZ_CHECK(after->mode == before->mode);
	FUZZ_CHECK(after->stack_address_size == before->stack_address_size);
	FUZZ_CHECK(memcmp(after->segment_base, before->segment_base, sizeof(before->segment_base)) == 0);
	if (err == -ESTALE || err == -EOPNOTSUPP) {
		/* Refused before any access: nothing changed. */
		FUZZ_CHECK(bus_state.count == 0);
		FUZZ_CHECK(memcmp(after, before, sizeof(*after)) == 0);
	}

	/* RFLAGS: status flags only, only by the instructions that set them,
	 * only on success (or by the compares a string completed). */
	if ((err && !string) || !writes_flags(insn->operation))
		FUZZ_CHECK(after->rflags == before->rflags);
	else
		FUZZ_CHECK((after->rflags & ~INSN_RFLAGS_STATUS) == (before->rflags & ~INSN_RFLAGS_STATUS));

	/* RIP: unchanged on error, else past the instruction (REPs aside). */
	uint64_t next = before->rip + insn->length;
	if (before->mode == INSN_MODE_16)
		next &= 0xffff;
	else if (before->mode == INSN_MODE_32)
		next &= 0xffffffffull;
	if (err)
		FUZZ_CHECK(after->rip == before->rip);
	else if (!string)
		FUZZ_CHECK(after->rip == next);

	if (string) {
		if (insn->rep)
			may_change |= 1u << INSN_REG_RCX;
		if (string_has_source(insn->operation))
			may_change |= 1u << INSN_REG_RSI;
		if (string_has_destination(insn->operation))
			may_change |= 1u << INSN_REG_RDI;
		if (insn->operation == INSN_LODS)
			may_change |= 1u << INSN_REG_RAX;
		bool finished = check_string(insn, before, after, err);
		/* A REP with elements left leaves RIP for the guest to re-execute. */
		if (!err)
			FUZZ_CHECK(after->rip == (finished ? next : before->rip));
	} else if (!err) {
		if (writes_register(insn)) {
			may_change |= 1u << insn->reg.number;
			check_register_write(before->gprs[insn->reg.number],
					     after->gprs[insn->reg.number], insn->operand_size,
					     insn->reg.high_byte);
		}
		if (insn->operation == INSN_CMPXCHG) {
			/* The accumulator is written only when the comparison fails
			 * (ZF clear); on success a 32-bit CMPXCHG leaves RAX's upper
			 * half alone, as this host's CPU does. */
			may_change |= 1u << INSN_REG_RAX;
			if (!(after->rflags & INSN_RFLAGS_ZF))
				check_register_write(before->gprs[INSN_REG_RAX], after->gprs[INSN_REG_RAX],
						     insn->operand_size, false);
			else
				FUZZ_CHECK(after->gprs[INSN_REG_RAX] == before->gprs[INSN_REG_RAX]);
		}
		if (insn->operation == INSN_PUSH || insn->operation == INSN_POP)
			may_change |= 1u << INSN_REG_RSP;
		check_single(insn, before, after);
	}
	for (unsigned i = 0; i < INSN_GPR_COUNT; i++) {
		if (!(may_change & (1u << i)))
			FUZZ_CHECK(after->gprs[i] == before->gprs[i]);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct insn insn;
	struct insn_cpu_state cpu, before;
	struct value_reader values;

	if (size < 4)
		return 0;
	enum insn_mode mode = (enum insn_mode)(data[0] % 3);
	uint8_t control = data[1];
	size_t available = data[2] % 16;
	if (available > size - 4)
		available = size - 4;
	const uint8_t *bytes = data + 4;

	current_insn = NULL;
	int err = decode_exact(bytes, available, mode, &insn);
	check_decode(bytes, available, mode, &insn, err);
	if (err)
		return 0;

	values = (struct value_reader){ .data = data, .size = size, .position = 4 + available };
	memset(&cpu, 0, sizeof(cpu));
	cpu.mode = mode;
	for (unsigned i = 0; i < INSN_GPR_COUNT; i++)
		cpu.gprs[i] = next_value(&values);
	cpu.rip = next_value(&values);
	/* Only status flags and DF vary: the host oracle loads them with popf. */
	cpu.rflags = 0x202 | (next_value(&values) & INSN_RFLAGS_STATUS) |
		     ((control & CONTROL_DF) ? INSN_RFLAGS_DF : 0);
	for (unsigned i = 0; i < INSN_SEGMENT_COUNT; i++)
		cpu.segment_base[i] = next_value(&values);
	if (mode != INSN_MODE_64) {
		for (unsigned i = 0; i < INSN_SEGMENT_COUNT; i++)
			cpu.segment_base[i] &= 0xffffffffull;
	}
	if ((control & CONTROL_STACK_16) && !(control & CONTROL_STACK_32))
		cpu.stack_address_size = 2;
	else if ((control & CONTROL_STACK_32) && !(control & CONTROL_STACK_16))
		cpu.stack_address_size = 4;
	if (control & CONTROL_SMALL_RCX)
		cpu.gprs[INSN_REG_RCX] &= 0x3f;
	if (control & CONTROL_NEAR_PAGE_END) {
		/* Pull the string registers within 64 bytes of a page end. */
		cpu.gprs[INSN_REG_RSI] |= 0xfc0;
		cpu.gprs[INSN_REG_RDI] |= 0xfc0;
	}

	bool fault_write = control & CONTROL_FAULT_WRITE;
	uint64_t linear = insn_mmio_linear_address(&insn, &cpu, fault_write);
	uint64_t page = next_value(&values) & 0x000ffffffffff000ull;
	uint64_t offset = (control & CONTROL_MATCH) ? linear & (PAGE - 1) : next_value(&values) & (PAGE - 1);

	bus_state.insn = &insn;
	bus_state.fault_page = page;
	bus_state.data_seed = next_value(&values);
	bus_state.fail_at = (control & CONTROL_FAIL) ? data[3] : -1;
	bus_state.count = 0;

	before = cpu;
	err = insn_emulate_mmio(&insn, &cpu, &fuzz_bus, page | offset, fault_write);
	check_emulation(&insn, &before, &cpu, err);
	if (err == -EIO)
		FUZZ_CHECK(bus_state.fail_at >= 0 && bus_state.count == (unsigned)bus_state.fail_at + 1);
	return 0;
}

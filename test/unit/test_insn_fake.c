/*
 * The MMIO instruction tests' shared parts (test/unit/test_insn.h): hex
 * parsing, exact-size decoding, the fake bus and the vCPU state.
 */
#include "unit.h"

#include <lib/errno.h>

#include "test_insn.h"

enum insn_mode test_insn_mode_of_bits(int bits)
{
	return bits == 16 ? INSN_MODE_16 : bits == 32 ? INSN_MODE_32 : INSN_MODE_64;
}

size_t test_insn_parse_hex(const char *hex, uint8_t *out, size_t max)
{
	size_t count = 0;
	unsigned byte;
	int used;

	while (count < max && sscanf(hex, " %2x%n", &byte, &used) == 1) {
		out[count++] = (uint8_t)byte;
		hex += used;
	}
	return count;
}

int test_insn_decode_exact(const uint8_t *bytes, size_t available, enum insn_mode mode,
			   struct insn *out)
{
	uint8_t *copy = malloc(available ? available : 1);
	int err;

	memcpy(copy, bytes, available);
	err = insn_decode(copy, available, mode, out);
	free(copy);
	return err;
}

struct fake_bus fake;

static int record(char kind, uint64_t address, unsigned size, uint64_t value)
{
	int fail = fake.fail_at >= 0 && fake.count == (unsigned)fake.fail_at;

	if (fake.count < MAX_ACCESSES)
		fake.log[fake.count] = (struct access){ kind, address, size, value };
	fake.count++;
	return fail ? -EIO : 0;
}

static uint8_t *device_at(uint64_t gpa, unsigned size)
{
	if (gpa < MMIO_BASE || gpa + size > MMIO_BASE + MMIO_SIZE) {
		fake.out_of_range = true;
		return NULL;
	}
	return &fake.device[gpa - MMIO_BASE];
}

static uint8_t *ram_at(uint64_t linear, unsigned size)
{
	if (linear < RAM_LINEAR || linear + size > RAM_LINEAR + RAM_SIZE) {
		fake.out_of_range = true;
		return NULL;
	}
	return &fake.ram[linear - RAM_LINEAR];
}

static int fake_mmio_read(void *opaque, uint64_t gpa, unsigned size, uint64_t *value)
{
	uint8_t *at = device_at(gpa, size);

	(void)opaque;
	*value = 0;
	if (!at)
		return -EFAULT;
	memcpy(value, at, size);
	return record('r', gpa, size, *value);
}

static int fake_mmio_write(void *opaque, uint64_t gpa, unsigned size, uint64_t value)
{
	uint8_t *at = device_at(gpa, size);
	int err;

	(void)opaque;
	if (!at)
		return -EFAULT;
	err = record('w', gpa, size, value);
	if (!err)
		memcpy(at, &value, size);
	return err;
}

static int fake_memory_read(void *opaque, uint64_t linear, void *data, unsigned size)
{
	uint8_t *at = ram_at(linear, size);
	uint64_t value = 0;

	(void)opaque;
	if (!at)
		return -EFAULT;
	memcpy(data, at, size);
	memcpy(&value, at, size);
	return record('R', linear, size, value);
}

static int fake_memory_write(void *opaque, uint64_t linear, const void *data, unsigned size)
{
	uint8_t *at = ram_at(linear, size);
	uint64_t value = 0;
	int err;

	(void)opaque;
	if (!at)
		return -EFAULT;
	memcpy(&value, data, size);
	err = record('W', linear, size, value);
	if (!err)
		memcpy(at, data, size);
	return err;
}

const struct insn_bus bus = {
	.mmio_read = fake_mmio_read,
	.mmio_write = fake_mmio_write,
	.memory_read = fake_memory_read,
	.memory_write = fake_memory_write,
	.opaque = &fake,
};

struct insn_cpu_state cpu, cpu_before;
struct insn current;

void reset(enum insn_mode mode)
{
	memset(&cpu, 0, sizeof(cpu));
	cpu.mode = mode;
	cpu.rip = RIP0;
	cpu.rflags = FLAGS0;
	for (unsigned i = 0; i < INSN_GPR_COUNT; i++)
		cpu.gprs[i] = 0x0101010101010101ull * (i + 0x10);
	memset(&fake, 0, sizeof(fake));
	for (unsigned i = 0; i < MMIO_SIZE; i++)
		fake.device[i] = (uint8_t)(i * 7 + 3);
	for (unsigned i = 0; i < RAM_SIZE; i++)
		fake.ram[i] = (uint8_t)(i * 13 + 5);
	fake.fail_at = -1;
}

void put_device(unsigned offset, uint64_t value, unsigned size)
{
	memcpy(&fake.device[offset], &value, size);
}

uint64_t get_device(unsigned offset, unsigned size)
{
	uint64_t value = 0;

	memcpy(&value, &fake.device[offset], size);
	return value;
}

void put_ram(uint64_t linear, uint64_t value, unsigned size)
{
	memcpy(&fake.ram[linear - RAM_LINEAR], &value, size);
}

uint64_t get_ram(uint64_t linear, unsigned size)
{
	uint64_t value = 0;

	memcpy(&value, &fake.ram[linear - RAM_LINEAR], size);
	return value;
}

int emulate(const char *hex, uint64_t fault_gpa, bool fault_write)
{
	uint8_t bytes[16];
	size_t count = test_insn_parse_hex(hex, bytes, sizeof(bytes));
	int err = insn_decode(bytes, count, cpu.mode, &current);

	if (err) {
		fprintf(stderr, "cannot decode %s: %d\n", hex, err);
		return -1000;
	}
	CHECK_EQ(current.length, count);
	cpu_before = cpu;
	err = insn_emulate_mmio(&current, &cpu, &bus, fault_gpa, fault_write);
	CHECK(!fake.out_of_range);
	return err;
}

void check_access(unsigned i, char kind, uint64_t address, unsigned size, uint64_t value)
{
	CHECK(i < fake.count);
	if (i >= fake.count)
		return;
	CHECK_EQ(fake.log[i].kind, kind);
	CHECK_EQ(fake.log[i].address, address);
	CHECK_EQ(fake.log[i].size, size);
	CHECK_EQ(fake.log[i].value, value);
}

void check_only_changed(unsigned changed_mask)
{
	for (unsigned i = 0; i < INSN_GPR_COUNT; i++) {
		if (!(changed_mask & (1u << i)) && cpu.gprs[i] != cpu_before.gprs[i]) {
			fprintf(stderr, "register %u changed\n", i);
			CHECK_EQ(cpu.gprs[i], cpu_before.gprs[i]);
		}
	}
}

uint64_t interesting(uint32_t *seed, unsigned size)
{
	static const uint64_t edges[] = { 0, 1, 2, 0x7f, 0x80, 0xff, 0x7fff, 0x8000, 0xffff,
					  0x7fffffff, 0x80000000, 0xffffffff, 0x0f, 0x10,
					  0x7fffffffffffffffull, 0x8000000000000000ull, ~0ull };
	*seed = *seed * 1103515245u + 12345u;
	uint64_t r = ((uint64_t)*seed << 32) ^ (*seed * 2654435761u);
	uint64_t mask = size == 8 ? ~0ull : (1ull << (8 * size)) - 1;

	if ((*seed >> 28) < 6)
		return edges[(*seed >> 8) % (sizeof(edges) / sizeof(edges[0]))] & mask;
	return r & mask;
}

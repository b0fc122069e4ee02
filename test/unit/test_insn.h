/*
 * What the MMIO instruction tests (test/unit/test_insn*.c) share: hex
 * parsing, exact-size decoding, and a fake bus (two device pages, some guest
 * RAM) that logs every access, with the vCPU state the emulation runs on.
 */
#ifndef KAPSEL_TEST_UNIT_TEST_INSN_H
#define KAPSEL_TEST_UNIT_TEST_INSN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <vm/insn_decode.h>
#include <vm/insn_emulate.h>

enum insn_mode test_insn_mode_of_bits(int bits);
size_t test_insn_parse_hex(const char *hex, uint8_t *out, size_t max);
/* Decodes from a heap buffer of exactly `available` bytes, so ASan reports
 * any read past it. */
int test_insn_decode_exact(const uint8_t *bytes, size_t available, enum insn_mode mode,
			   struct insn *out);

#define MMIO_BASE 0xfeb00000ull   /* two device pages */
#define MMIO_SIZE 0x2000u
#define RAM_LINEAR 0x10000ull     /* guest RAM: MOVS's and CMPS's other side, the stack */
#define RAM_SIZE 0x3000u
#define MAX_ACCESSES 10000

struct access {
	char kind; /* r w: device; R W: guest memory */
	uint64_t address;
	unsigned size;
	uint64_t value;
};

struct fake_bus {
	uint8_t device[MMIO_SIZE];
	uint8_t ram[RAM_SIZE];
	struct access log[MAX_ACCESSES];
	unsigned count;
	int fail_at;       /* the access number that returns -EIO, or -1 */
	bool out_of_range; /* an access outside device or RAM */
};

#define RIP0 0x401000ull
#define FLAGS0 0x202ull /* IF and the reserved bit */

extern struct fake_bus fake;
extern const struct insn_bus bus;
extern struct insn_cpu_state cpu, cpu_before; /* before: as the last emulate() found it */
extern struct insn current;                   /* what the last emulate() decoded */

/* Fresh state in a mode: patterned registers, device and RAM. */
void reset(enum insn_mode mode);
void put_device(unsigned offset, uint64_t value, unsigned size);
uint64_t get_device(unsigned offset, unsigned size);
void put_ram(uint64_t linear, uint64_t value, unsigned size);
uint64_t get_ram(uint64_t linear, unsigned size);
/* Decodes hex in cpu.mode and emulates it for a fault at fault_gpa;
 * -1000 when it does not decode. */
int emulate(const char *hex, uint64_t fault_gpa, bool fault_write);
void check_access(unsigned i, char kind, uint64_t address, unsigned size, uint64_t value);
/* Registers other than those in changed_mask (bit per register) kept their values. */
void check_only_changed(unsigned changed_mask);
/* A random value of size bytes, often an edge case (0, 1, sign bits, all ones). */
uint64_t interesting(uint32_t *seed, unsigned size);

#define BIT(r) (1u << (r))
#define RAX 0
#define RCX 1
#define RDX 2
#define RBX 3
#define RSP 4
#define RBP 5
#define RSI 6
#define RDI 7
#define R8 8
#define R12 12
#define LINEAR64 0x00007f1234560000ull /* a page-aligned guest linear address */

#endif

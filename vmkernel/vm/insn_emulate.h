/*
 * Performs one decoded instruction (vm/insn_decode.h) whose memory access
 * faulted on guest-physical memory that is not RAM.
 *
 * Which operand is the MMIO one: the hardware reports the guest-physical
 * address (fault_gpa) and whether the access was a write. An instruction with
 * one memory operand has that one. MOVS has two: the processor reads the
 * source before writing the destination, so a write fault means the
 * destination is MMIO (the source was readable memory) and a read fault
 * means the source is. CMPS reads both: the one with fault_gpa's page offset
 * is the MMIO one; when both have it, neither can be told from the other and
 * both go through memory_read, which routes each to RAM or a device. PUSH
 * and POP: the memory operand (PUSH reads it, so its fault is a read; POP
 * writes it); a fault the other way was on the stack, which is not emulated
 * on MMIO (-EOPNOTSUPP). The MMIO operand's linear address must have the
 * page offset of fault_gpa (paging never changes bits 11:0), else the
 * instruction is not the one that faulted: -ESTALE. (A REP MOVS, STOS or
 * LODS's fault may be on a later element of that page: fast-string
 * operation can run out of order. BT BTS BTR BTC may access less than their
 * operand, so a fault anywhere in it counts.) Its device address is
 * fault_gpa's 4 KiB page plus the operand's page offset; an access crossing
 * that page is not emulated (-EOPNOTSUPP). For BT BTS BTR BTC with the bit
 * offset in a register the operand is where the hardware accesses it: the
 * offset's whole operand-sized units move the address (up to +-256 MiB
 * with 32-bit operands), so it may lie far from the effective address.
 *
 * String instructions: a REP runs as many iterations as stay on the faulting
 * page (at most 4096), then leaves RIP on the instruction when RCX is not
 * yet 0 so the guest re-executes it for the rest, faulting again on the next
 * MMIO page or running natively on RAM. REPE/REPNE CMPS and SCAS also end
 * when ZF says so. Without REP, one iteration. The non-MMIO side of MOVS and
 * CMPS goes through memory_read/memory_write by linear address, one element
 * at a time; so does PUSH's and POP's stack (SS, with the stack's address
 * size).
 *
 * Flags: the status flags are computed as the hardware defines them; where
 * it leaves one undefined the emulator clears AF (logical operations,
 * shifts), gives OF of a shift or rotate by more than 1 the 1-bit rule's
 * value, and leaves the others alone (BT's OF SF AF PF).
 *
 * Not modelled: segment limits and access rights, canonical checks,
 * alignment checks, single-step traps; the hardware checked the faulting
 * access itself. A LOCKed read-modify-write is two device calls; the device
 * model makes them atomic if it cares. Like the hardware, CMPXCHG writes the
 * destination also when the comparison fails (its old value), and every
 * read-modify-write writes back, shifts by 0 included.
 */
#ifndef KAPSEL_VM_INSN_EMULATE_H
#define KAPSEL_VM_INSN_EMULATE_H

#include <stdbool.h>
#include <stdint.h>

#include <vm/insn_decode.h>

#define INSN_RFLAGS_CF (1ull << 0)
#define INSN_RFLAGS_PF (1ull << 2)
#define INSN_RFLAGS_AF (1ull << 4)
#define INSN_RFLAGS_ZF (1ull << 6)
#define INSN_RFLAGS_SF (1ull << 7)
#define INSN_RFLAGS_DF (1ull << 10)
#define INSN_RFLAGS_OF (1ull << 11)
#define INSN_RFLAGS_STATUS (INSN_RFLAGS_CF | INSN_RFLAGS_PF | INSN_RFLAGS_AF | \
			    INSN_RFLAGS_ZF | INSN_RFLAGS_SF | INSN_RFLAGS_OF)

#define INSN_MMIO_PAGE_SIZE 4096ull
#define INSN_STRING_MAX_ITERATIONS 4096u

/* The vCPU state an emulation reads and writes; the caller copies it in
 * before and back after (also after an error: see insn_emulate_mmio). */
struct insn_cpu_state {
	uint64_t gprs[INSN_GPR_COUNT]; /* encoding order, RSP at 4 (enum virt_gpr) */
	uint64_t rip;
	uint64_t rflags;
	uint64_t segment_base[INSN_SEGMENT_COUNT]; /* ES CS SS DS FS GS */
	enum insn_mode mode;
	/* PUSH and POP outside 64-bit mode: SS.B ? 4 : 2; 0 takes the code
	 * segment's (mode's) default. Ignored in 64-bit mode (always 8). */
	uint8_t stack_address_size;
};

/* Where accesses go. All return 0 or a negative errno, which the emulation
 * returns unchanged. */
struct insn_bus {
	/* The device at a guest-physical address; size is 1, 2, 4 or 8 and the
	 * access never crosses a 4 KiB page. *value: the low size bytes. */
	int (*mmio_read)(void *opaque, uint64_t gpa, unsigned size, uint64_t *value);
	int (*mmio_write)(void *opaque, uint64_t gpa, unsigned size, uint64_t value);
	/* Guest memory by linear address (the caller walks the guest's page
	 * tables; the range may cross pages). The non-MMIO side of MOVS and
	 * CMPS and the stack of PUSH and POP use these; if that side turns out
	 * to be MMIO too, the caller routes it. */
	int (*memory_read)(void *opaque, uint64_t linear, void *data, unsigned size);
	int (*memory_write)(void *opaque, uint64_t linear, const void *data, unsigned size);
	void *opaque;
};

/*
 * Linear address of the operand insn_emulate_mmio() treats as the MMIO one
 * for a fault of that kind (see above), from the current register state:
 * for BT BTS BTR BTC with a register bit offset the unit accessed, for POP
 * with an rSP base the address after the pop, for CMPS DS:[rSI] (which of
 * its two is MMIO is the fault's page offset's to say). For a caller that
 * knows the faulting linear address (VMX reports it), a mismatch is the
 * same staleness -ESTALE reports.
 */
uint64_t insn_mmio_linear_address(const struct insn *insn, const struct insn_cpu_state *cpu,
				  bool fault_write);

/*
 * Emulates insn, which faulted at fault_gpa (fault_write: the access was a
 * write). On success updates the registers, RFLAGS (status flags, as the
 * instruction defines them) and RIP (past the instruction, or unchanged
 * while a REP has iterations left) and returns 0. On error RIP is unchanged
 * and the state reflects only the string iterations that completed (their
 * accesses happened): -ESTALE, -EOPNOTSUPP, -EINVAL (not an instruction
 * insn_decode() produces, decoded for another mode than cpu->mode, or a
 * stack_address_size that is not 0, 2 or 4), or what a bus callback
 * returned.
 */
int insn_emulate_mmio(const struct insn *insn, struct insn_cpu_state *cpu,
		      const struct insn_bus *bus, uint64_t fault_gpa, bool fault_write);

#endif

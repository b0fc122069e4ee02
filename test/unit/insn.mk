# MMIO instruction decoder and emulator (test/unit/test_insn.c); the canonical
# formatter is shared with the objdump differential check in test/fuzz/.
UNIT_TESTS += insn
unit_insn_SOURCES := test/unit/test_insn.c test/fuzz/insn_format.c \
	vmkernel/vm/insn_decode.c vmkernel/vm/insn_emulate.c

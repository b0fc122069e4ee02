# MMIO instruction decoder and emulator (test/unit/test_insn*.c); the canonical
# formatter and the host-CPU reference are shared with test/fuzz/.
UNIT_TESTS += insn
unit_insn_SOURCES := test/unit/test_insn.c test/unit/test_insn_fake.c \
	test/unit/test_insn_emulate.c test/unit/test_insn_rmw.c test/fuzz/insn_format.c \
	vmkernel/vm/insn_decode.c vmkernel/vm/insn_emulate.c vmkernel/vm/insn_emulate_alu.c \
	vmkernel/vm/insn_emulate_string.c

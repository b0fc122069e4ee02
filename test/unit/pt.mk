# Page-table walker with the x86-64 host format (test/unit/test_pt.c).
UNIT_TESTS += pt
unit_pt_SOURCES := test/unit/test_pt.c vmkernel/arch/x86/pt.c

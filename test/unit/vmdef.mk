# VM definition parsing and boot-module lookup (test/unit/test_vmdef.c).
UNIT_TESTS += vmdef
unit_vmdef_SOURCES := test/unit/test_vmdef.c vmkernel/vm/vmdef.c

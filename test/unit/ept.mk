# The EPT format through the shared walker (test/unit/test_ept.c).
UNIT_TESTS += ept
unit_ept_SOURCES := test/unit/test_ept.c vmkernel/arch/x86/vmx/vmx_ept.c vmkernel/arch/x86/pt.c \
	test/unit/host_support.c

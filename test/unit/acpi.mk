# ACPI table parsing (vmkernel/arch/x86/acpi.c) against canned tables.
UNIT_TESTS += acpi
unit_acpi_SOURCES := test/unit/test_acpi.c vmkernel/arch/x86/acpi.c

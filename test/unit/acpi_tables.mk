# The per-VM ACPI tables (vmkernel/vdev/acpi_tables.c), parsed back with the
# vmkernel's own ACPI parser (test/unit/test_acpi_tables.c).
UNIT_TESTS += acpi_tables
unit_acpi_tables_SOURCES := test/unit/test_acpi_tables.c vmkernel/vdev/acpi_tables.c vmkernel/arch/x86/acpi.c

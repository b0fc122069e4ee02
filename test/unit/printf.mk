# The vmkernel's printf against the host libc's (test/unit/test_printf.c,
# which includes vmkernel/lib/printf.c under other names).
UNIT_TESTS += printf
unit_printf_SOURCES := test/unit/test_printf.c

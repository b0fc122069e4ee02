# vmkernel command-line options (test/unit/test_cmdline.c).
UNIT_TESTS += cmdline
unit_cmdline_SOURCES := test/unit/test_cmdline.c vmkernel/core/cmdline.c

# The internal learning switch (test/unit/test_vswitch.c).
UNIT_TESTS += vswitch
unit_vswitch_SOURCES := test/unit/test_vswitch.c vmkernel/net/vswitch.c

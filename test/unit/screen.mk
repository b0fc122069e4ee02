# Status screen layout, log area and rendering (test/unit/test_screen.c,
# which includes vmkernel/core/screen.c itself).
UNIT_TESTS += screen
unit_screen_SOURCES := test/unit/test_screen.c test/unit/host_support.c

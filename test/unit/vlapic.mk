# The local APIC model (vmkernel/vdev/vlapic.c): register access rules in
# xAPIC and x2APIC mode, mode switches, IPIs, priorities, EOI, timers
# (test/unit/test_vlapic.c, with the vCPUs and the chipset faked).
UNIT_TESTS += vlapic
unit_vlapic_SOURCES := test/unit/test_vlapic.c vmkernel/vdev/vlapic.c

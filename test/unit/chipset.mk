# The chipset models of hw.version 1 (vmkernel/vdev/vioapic.c, vpic.c,
# vpit.c, rtc.c, acpi_pm.c) driven directly (test/unit/test_chipset.c).
UNIT_TESTS += chipset
unit_chipset_SOURCES := test/unit/test_chipset.c vmkernel/vdev/vioapic.c vmkernel/vdev/vpic.c \
	vmkernel/vdev/vpit.c vmkernel/vdev/rtc.c vmkernel/vdev/acpi_pm.c

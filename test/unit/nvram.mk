# A VM's NVRAM file (vmkernel/vm_nvram.c): format, CRC32C, damaged files,
# the CMOS bytes it keeps (vmkernel/vdev/rtc.c) (test/unit/test_nvram.c).
UNIT_TESTS += nvram
unit_nvram_SOURCES := test/unit/test_nvram.c vmkernel/vm_nvram.c vmkernel/vdev/rtc.c
unit_nvram_CFLAGS := -I. -Ivmfs/lib/include

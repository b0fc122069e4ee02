# The Linux boot protocols (bzImage 64-bit entry, PVH vmlinux) against
# canned images (test/unit/test_linux_loader.c).
UNIT_TESTS += linux_loader
unit_linux_loader_SOURCES := test/unit/test_linux_loader.c test/unit/host_support.c \
	vmkernel/vm/linux_loader.c vmkernel/vm/guest_loader.c

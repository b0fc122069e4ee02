# Guest kernel loaders against canned Multiboot1/2 and ELF64 images
# (test/unit/test_guest_loader.c); <multiboot/multiboot.h> cross-checks the
# Multiboot1 information layout.
UNIT_TESTS += guest_loader
unit_guest_loader_SOURCES := test/unit/test_guest_loader.c test/unit/host_support.c \
	vmkernel/vm/guest_loader.c

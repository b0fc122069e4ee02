# Multiboot1/2 information parsing into struct boot_info
# (test/unit/test_multiboot.c).
UNIT_TESTS += multiboot
unit_multiboot_SOURCES := test/unit/test_multiboot.c test/unit/test_multiboot1.c \
	test/unit/host_support.c \
	boot/multiboot/multiboot1_parse.c boot/multiboot/multiboot2_parse.c \
	boot/multiboot/boot_info_build.c
# <multiboot2.h> comes from the grub2 source package (scripts/setup-deps).
# test/test.mk has no per-unit flags, so the include directory reaches gcc
# through CPATH, which gcc treats like -I; only this unit's objects see it.
$(BUILD)/unit/obj/multiboot/%.o: export CPATH := $(CURDIR)/$(BUILD)/third_party/multiboot2

# Multiboot1/2 information parsing into struct boot_info
# (test/unit/test_multiboot.c).
UNIT_TESTS += multiboot
unit_multiboot_SOURCES := test/unit/test_multiboot.c test/unit/test_multiboot1.c \
	test/unit/host_support.c \
	boot/multiboot/multiboot1_parse.c boot/multiboot/multiboot2_parse.c \
	boot/multiboot/boot_info_build.c
# <multiboot2.h> comes from the grub2 source package (scripts/setup-deps).
unit_multiboot_CFLAGS := -I$(BUILD)/third_party/multiboot2

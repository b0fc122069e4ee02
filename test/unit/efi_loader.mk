# The EFI loader's pure parts (boot/efi): boot.cfg parsing, vmkernel ELF
# checks, memory-range merging (test/unit/test_efi_loader.c).
UNIT_TESTS += efi_loader
unit_efi_loader_SOURCES := test/unit/test_efi_loader.c boot/efi/boot_config.c \
	boot/efi/elf_image.c boot/efi/memory_ranges.c

# kapsel.efi, the UEFI boot loader, built against Debian's gnu-efi package.
# Included by the top-level Makefile (BUILD, CC, LD, OBJCOPY, WARNINGS, VERSION).
#
# GNU-EFI builds a position-independent ELF shared object that starts at
# crt0's _start, relocates itself (_relocate) and calls efi_main; objcopy
# then rewrites it as a PE32+ EFI application. GNU_EFI_USE_MS_ABI lets our
# code call firmware function pointers directly (they are declared
# __attribute__((ms_abi))); efi_main itself is called with the System V ABI.

GNU_EFI_INCLUDE := /usr/include/efi
GNU_EFI_LIB := /usr/lib
GNU_EFI_CRT0 := $(GNU_EFI_LIB)/crt0-efi-x86_64.o
GNU_EFI_LDS := $(GNU_EFI_LIB)/elf_x86_64_efi.lds

EFI_SOURCES := $(sort $(wildcard boot/efi/*.c))
EFI_OBJS := $(patsubst boot/efi/%.c,$(BUILD)/efi/%.o,$(EFI_SOURCES))

# -isystem: gnu-efi's headers are not ours to warn about. No SSE: the loader
# needs no floating point and firmware does not promise to preserve it for us.
EFI_CFLAGS := -std=gnu11 -O2 -g $(WARNINGS) -ffreestanding -fno-stack-protector \
	-fno-stack-check -fpic -fshort-wchar -mno-red-zone -mgeneral-regs-only \
	-fno-strict-aliasing -fno-common -fno-asynchronous-unwind-tables \
	-DGNU_EFI_USE_MS_ABI -DKAPSEL_VERSION='"$(VERSION)"' \
	-isystem $(GNU_EFI_INCLUDE) -isystem $(GNU_EFI_INCLUDE)/x86_64 \
	-Iboot/efi -Ivmkernel/include
EFI_LDFLAGS := -nostdlib -shared -Bsymbolic -znocombreloc --no-undefined \
	--fatal-warnings --no-warn-rwx-segments -T $(GNU_EFI_LDS)
# The sections the PE image needs; .reloc makes firmware accept it as relocatable.
EFI_SECTIONS := -j .text -j .sdata -j .data -j .dynamic -j .dynsym -j .rel \
	-j .rela -j .rel.* -j .rela.* -j .reloc

$(BUILD)/efi/%.o: boot/efi/%.c boot/efi/build.mk
	@mkdir -p $(dir $@)
	$(CC) $(EFI_CFLAGS) $(DEPFLAGS) -c $< -o $@

# _relocate only handles R_X86_64_RELATIVE; anything else would be left
# unapplied at run time, so the link fails on it here instead.
$(BUILD)/efi/kapsel.so: $(EFI_OBJS) $(GNU_EFI_CRT0) $(GNU_EFI_LDS)
	$(LD) $(EFI_LDFLAGS) $(GNU_EFI_CRT0) $(EFI_OBJS) -o $@.tmp \
		-L$(GNU_EFI_LIB) -lefi -lgnuefi
	@if readelf -rW $@.tmp | awk 'NR > 2 && /^[0-9a-f]/ && $$3 != "R_X86_64_RELATIVE"' | grep .; then \
		echo "$@: relocations other than R_X86_64_RELATIVE" >&2; exit 1; fi
	mv $@.tmp $@

$(BUILD)/kapsel.efi: $(BUILD)/efi/kapsel.so
	$(OBJCOPY) $(EFI_SECTIONS) --target efi-app-x86_64 --subsystem=10 $< $@

-include $(wildcard $(BUILD)/efi/*.d)

# Kapsel — top-level build. `make` builds the vmkernel, the EFI loader and the
# hybrid ISO; `make run` boots it in QEMU; `make test` runs every test.
# Sub-makefiles (*.mk) add their own targets; this file owns the vmkernel.

BUILD := build
CC := gcc
LD := ld
OBJCOPY := objcopy
NM := nm
PYTHON := python3

VERSION := $(shell cat VERSION)

# Flags from ../shared/STYLE.md plus what a freestanding x86-64 kernel needs:
# no red zone (interrupts use the stack), no SSE (state not saved), the
# kernel code model (linked in the top 2 GiB).
WARNINGS := -Wall -Wextra -Werror -Wmissing-prototypes -Wshadow \
	-Wstrict-prototypes -Wpointer-arith -Wvla -Wundef
KERNEL_CFLAGS := -std=gnu11 -O2 -g $(WARNINGS) -ffreestanding -fno-builtin \
	-fno-stack-protector -fno-pic -fno-pie -mno-red-zone -mcmodel=kernel \
	-mgeneral-regs-only -fno-omit-frame-pointer -fno-asynchronous-unwind-tables \
	-fno-strict-aliasing -fno-common -ffunction-sections -fdata-sections \
	-Ivmkernel -Ivmkernel/include -I. -I$(BUILD)/third_party/multiboot2 -DKAPSEL_VERSION='"$(VERSION)"'
KERNEL_ASFLAGS := -Ivmkernel -Ivmkernel/include -D__ASSEMBLY__
# --gc-sections: with -ffunction-sections, what nothing calls stays out of
# the image (the VMFS library's host-tool parts: fsck, format, ...).
KERNEL_LDFLAGS := -nostdlib -static --gc-sections -z max-page-size=0x1000 -z noexecstack \
	--no-warn-rwx-segments -T boot/vmkernel.ld

# Every C and assembly file under these trees is part of the vmkernel.
KERNEL_DIRS := boot/multiboot vmkernel drivers
KERNEL_C := $(sort $(shell find $(KERNEL_DIRS) -name '*.c'))
KERNEL_S := $(sort $(shell find $(KERNEL_DIRS) -name '*.S'))
KERNEL_OBJS := $(patsubst %,$(BUILD)/kernel/%.o,$(KERNEL_C) $(KERNEL_S))
include vmfs/kernel.mk
include vmkernel/core/font.mk
include vmkernel/cold.mk

.PHONY: all run test test-long bench deps clean lint
all: $(BUILD)/vmkernel.elf $(BUILD)/kapsel.efi $(BUILD)/kapsel.iso guests $(BUILD)/kapsel-test.iso

# Header dependencies for an object under every name make may know it by:
# scripts and tests call make with BUILD absolute, people with build/; a
# .d file naming only one of them would leave the other's object stale
# against a changed header (a kernel mixing two layouts of one struct).
DEPFLAGS = -MMD -MP $(foreach t,$(sort $@ $(abspath $@) $(patsubst $(CURDIR)/%,%,$(abspath $@))),-MT $(t))

$(BUILD)/kernel/%.c.o: %.c
	@mkdir -p $(dir $@)
	@echo "  CC      $<"
	@$(CC) $(KERNEL_CFLAGS) $(DEPFLAGS) -c $< -o $@

$(BUILD)/kernel/%.S.o: %.S
	@mkdir -p $(dir $@)
	@echo "  AS      $<"
	@$(CC) $(KERNEL_ASFLAGS) $(DEPFLAGS) -c $< -o $@

# Two-pass link: the first image's symbols become the table the exception
# handler uses for stack traces; the table's size is fixed by the second pass.
$(BUILD)/kernel/vmkernel.pass1: $(KERNEL_OBJS) boot/vmkernel.ld $(BUILD)/kernel/symbols-empty.o
	$(LD) $(KERNEL_LDFLAGS) -o $@ $(KERNEL_OBJS) $(BUILD)/kernel/symbols-empty.o

$(BUILD)/kernel/symbols-empty.S:
	@mkdir -p $(dir $@)
	$(PYTHON) scripts/gensyms.py --empty > $@

$(BUILD)/kernel/symbols.S: $(BUILD)/kernel/vmkernel.pass1 scripts/gensyms.py
	$(NM) -n $< | $(PYTHON) scripts/gensyms.py > $@

$(BUILD)/kernel/%.o: $(BUILD)/kernel/%.S
	$(CC) $(KERNEL_ASFLAGS) -c $< -o $@

$(BUILD)/vmkernel.elf: $(KERNEL_OBJS) boot/vmkernel.ld $(BUILD)/kernel/symbols.o scripts/check-image.py
	$(LD) $(KERNEL_LDFLAGS) -o $@.tmp $(KERNEL_OBJS) $(BUILD)/kernel/symbols.o
	$(PYTHON) scripts/check-image.py $@.tmp
	mv $@.tmp $@

-include $(shell find $(BUILD)/kernel -name '*.d' 2>/dev/null)

-include boot/efi/build.mk
-include scripts/iso.mk
-include test/test.mk
-include test/guests/build.mk
-include vmfs/build.mk

deps:
	scripts/setup-deps

clean:
	rm -rf $(BUILD)

# The test-guest suite as one bootable ISO: every guest a boot-time VM,
# powering off with "guests: <N> passed, <M> failed" (test/emu/tests.sh).
# cpu_spin and smp_many run in the scheduler tests, on ISOs of their own.
TEST_ISO_GUESTS := $(filter-out demo cpu_spin smp_many,$(GUEST_NAMES))
.PHONY: test-iso
test-iso: $(BUILD)/kapsel-test.iso
$(BUILD)/kapsel-test.iso: $(BUILD)/vmkernel.elf $(BUILD)/kapsel.efi $(GUEST_ELFS) $(GUEST_DISKS) scripts/mkiso Makefile
	scripts/mkiso -o $@ --kernel $(BUILD)/vmkernel.elf --efi $(BUILD)/kapsel.efi --timeout 0 \
		--poweroff-when-done \
		$(foreach g,$(TEST_ISO_GUESTS),--vm 'name=$(g) kernel=$(BUILD)/guests/$(g).elf mem=32M testdev=on$(if $(filter smp2 platform acpi_reset,$(g)), cpus=2)$(if $(call guest_disk,$(g)), disk=$(call guest_disk,$(g)))') \
		--vm 'name=triple_fault_reset kernel=$(BUILD)/guests/triple_fault.elf mem=32M on_triple_fault=reset'
# Bochs 2.7 panics on a triple fault inside an SVM guest instead of taking
# the SHUTDOWN intercept: the Bochs SVM run uses a suite without that guest.
$(BUILD)/kapsel-test-no-triple-fault.iso: $(BUILD)/vmkernel.elf $(BUILD)/kapsel.efi $(GUEST_ELFS) $(GUEST_DISKS) scripts/mkiso Makefile
	scripts/mkiso -o $@ --kernel $(BUILD)/vmkernel.elf --efi $(BUILD)/kapsel.efi --timeout 0 \
		--poweroff-when-done \
		$(foreach g,$(filter-out triple_fault,$(TEST_ISO_GUESTS)),--vm 'name=$(g) kernel=$(BUILD)/guests/$(g).elf mem=32M testdev=on$(if $(filter smp2 platform acpi_reset,$(g)), cpus=2)$(if $(call guest_disk,$(g)), disk=$(call guest_disk,$(g)))')
test-iso: $(BUILD)/kapsel-test-no-triple-fault.iso
all: $(BUILD)/kapsel-test-no-triple-fault.iso

print-test-iso-guests:
	@echo $(TEST_ISO_GUESTS) triple_fault_reset

# The test guests (README.md here): small freestanding kernels, one behaviour
# each, built into build/guests/<name>.elf (multiboot1 ELF32; the 64-bit
# ones carry their own switch to long mode). Included by the top-level
# Makefile; stand-alone: make -f Makefile -f test/guests/build.mk guests
#
#   make guests         build every guest (GUEST_ELFS) and its VM definition
#                       (GUEST_VMXS: build/guests/<name>.vmx)
#   make guests-bare    build, then run each on bare QEMU (no hypervisor)
#   make guests-kapsel  build, then run each as a VM under the vmkernel

GUEST_DIR := test/guests
GUEST_BUILD := $(or $(BUILD),build)/guests
GUEST_CC := $(or $(CC),gcc)
GUEST_LD := $(or $(LD),ld)
GUEST_OBJCOPY := $(or $(OBJCOPY),objcopy)

# Guests by the mode their C code runs in (all start as multiboot1 ELF32).
GUESTS_32 := cpuid portio mmio32 mmio_rmw hlt_timer realmode pmode32 smp2 platform acpi_reset \
	ept_isolation triple_fault demo cpu_spin smp_many
GUESTS_64 := mmio64 msr inject long64 hypercall bench virtio_blk virtio_hostile
GUEST_NAMES := $(GUESTS_32) $(GUESTS_64)
GUEST_ELFS := $(patsubst %,$(GUEST_BUILD)/%.elf,$(GUEST_NAMES))
GUEST_VMXS := $(patsubst %,$(GUEST_BUILD)/%.vmx,$(GUEST_NAMES))
# Guests with a virtio-blk disk: a 1 MiB zeroed image each, passed as disk=.
GUESTS_WITH_DISK := virtio_blk virtio_hostile
GUEST_DISKS := $(patsubst %,$(GUEST_BUILD)/%.disk,$(GUESTS_WITH_DISK))
guest_disk = $(if $(filter $(GUESTS_WITH_DISK),$(1)),$(GUEST_BUILD)/$(1).disk)

GUEST_RUNTIME_C := console.c string.c start.c gdt.c idt.c lapic.c kapsel.c
GUEST_RUNTIME_32 := $(GUEST_RUNTIME_C) paging32.c entry32.S isr32.S ap32.c ap_start32.S
GUEST_RUNTIME_64 := $(GUEST_RUNTIME_C) paging64.c entry64.S isr64.S user64.S

GUEST_WARNINGS := -Wall -Wextra -Werror -Wmissing-prototypes -Wshadow \
	-Wstrict-prototypes -Wpointer-arith -Wvla -Wundef
# No SSE (the guests never enable it), no red zone (interrupts share the
# stack), no libc: only gcc's freestanding headers and the public ABI.
GUEST_CFLAGS := -std=gnu11 -O2 -g $(GUEST_WARNINGS) -ffreestanding -fno-builtin \
	-fno-stack-protector -fno-pic -fno-pie -mgeneral-regs-only \
	-fno-asynchronous-unwind-tables -fno-common -fno-strict-aliasing \
	-I$(GUEST_DIR)/runtime -Ivmkernel/include
GUEST_CFLAGS_32 := -m32 -march=i686 $(GUEST_CFLAGS)
GUEST_CFLAGS_64 := -m64 -mno-red-zone -mcmodel=small $(GUEST_CFLAGS)
GUEST_LDFLAGS := -nostdlib -static -z max-page-size=0x1000 -z noexecstack --no-warn-rwx-segments

$(GUEST_BUILD)/obj32/%.c.o: $(GUEST_DIR)/%.c
	@mkdir -p $(dir $@)
	@echo "  CC32    $<"
	@$(GUEST_CC) $(GUEST_CFLAGS_32) $(DEPFLAGS) -c $< -o $@

$(GUEST_BUILD)/obj32/%.S.o: $(GUEST_DIR)/%.S
	@mkdir -p $(dir $@)
	@echo "  AS32    $<"
	@$(GUEST_CC) $(GUEST_CFLAGS_32) -D__ASSEMBLY__ $(DEPFLAGS) -c $< -o $@

$(GUEST_BUILD)/obj64/%.c.o: $(GUEST_DIR)/%.c
	@mkdir -p $(dir $@)
	@echo "  CC64    $<"
	@$(GUEST_CC) $(GUEST_CFLAGS_64) $(DEPFLAGS) -c $< -o $@

$(GUEST_BUILD)/obj64/%.S.o: $(GUEST_DIR)/%.S
	@mkdir -p $(dir $@)
	@echo "  AS64    $<"
	@$(GUEST_CC) $(GUEST_CFLAGS_64) -D__ASSEMBLY__ $(DEPFLAGS) -c $< -o $@

# A guest is <name>.c plus <name>.S when it has assembly of its own.
guest_sources = $(notdir $(wildcard $(GUEST_DIR)/$(1).c $(GUEST_DIR)/$(1).S))

define GUEST_32_template
$(GUEST_BUILD)/$(1).elf: $(patsubst %,$(GUEST_BUILD)/obj32/runtime/%.o,$(GUEST_RUNTIME_32)) \
		$(patsubst %,$(GUEST_BUILD)/obj32/%.o,$(call guest_sources,$(1))) $(GUEST_DIR)/runtime/guest32.ld
	@echo "  LD32    $$@"
	@$(GUEST_LD) -m elf_i386 $(GUEST_LDFLAGS) -T $(GUEST_DIR)/runtime/guest32.ld -o $$@ $$(filter %.o,$$^)
endef

# ELF64 linked, then converted to ELF32 for multiboot1 loaders; the .elf64
# keeps the debug information for gdb.
define GUEST_64_template
$(GUEST_BUILD)/obj64/$(1).elf64: $(patsubst %,$(GUEST_BUILD)/obj64/runtime/%.o,$(GUEST_RUNTIME_64)) \
		$(patsubst %,$(GUEST_BUILD)/obj64/%.o,$(call guest_sources,$(1))) $(GUEST_DIR)/runtime/guest64.ld
	@echo "  LD64    $$@"
	@$(GUEST_LD) -m elf_x86_64 $(GUEST_LDFLAGS) -T $(GUEST_DIR)/runtime/guest64.ld -o $$@ $$(filter %.o,$$^)
$(GUEST_BUILD)/$(1).elf: $(GUEST_BUILD)/obj64/$(1).elf64
	@$(GUEST_OBJCOPY) -O elf32-i386 --strip-debug $$< $$@
endef

$(foreach g,$(GUESTS_32),$(eval $(call GUEST_32_template,$(g))))
$(foreach g,$(GUESTS_64),$(eval $(call GUEST_64_template,$(g))))

-include $(shell find $(GUEST_BUILD) -name '*.d' 2>/dev/null)

# VM definitions (vm/vmdef.h) to run each guest under Kapsel: 32 MiB, the
# test device on; smp2 and platform have two vCPUs.
guest_vcpus = $(if $(filter smp2 platform,$(1)),2,1)
$(GUEST_BUILD)/%.vmx: $(GUEST_DIR)/build.mk
	@mkdir -p $(dir $@)
	@printf 'name = "%s"\nmemsize = "32"\nnumvcpus = %s\nkernel = "%s.elf"\ntestdev = "on"\n' \
		$* $(call guest_vcpus,$*) $* > $@

.PHONY: guests guests-bare guests-kapsel
$(GUEST_DISKS):
	@mkdir -p $(dir $@)
	@head -c 1048576 /dev/zero > $@

guests: $(GUEST_ELFS) $(GUEST_VMXS) $(GUEST_DISKS)

guests-bare: guests
	$(GUEST_DIR)/run-bare $(GUEST_NAMES)

guests-kapsel: guests $(BUILD)/vmkernel.elf
	$(GUEST_DIR)/run-kapsel $(GUEST_NAMES)

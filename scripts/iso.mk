# build/kapsel.iso, the hybrid BIOS/UEFI boot image (see scripts/mkiso --help).
# Included by the top-level Makefile. `make ISO_CMDLINE="..."` sets the
# vmkernel command line; ISO_FLAGS passes further mkiso options, e.g.
# ISO_FLAGS='--module "build/sc/vmlinuz sc-kernel"'.

ISO_CMDLINE ?=
-include mgmt-console/build.mk
# The service console (mgmt-console/build.mk) when it can be built, and two
# demo VMs, so `make run` shows Kapsel running guests: their output
# appears on the console as "vm demo1: ...". ISO_FLAGS= builds a bare ISO.
ISO_DEMO_GUEST := $(BUILD)/guests/demo.elf
ISO_FLAGS ?= $(MGMT_CONSOLE_VM) --vm 'name=demo1 kernel=$(ISO_DEMO_GUEST) mem=32M' \
	--vm 'name=demo2 kernel=$(ISO_DEMO_GUEST) mem=64M'

# Rebuilt when the command line or flags change, not only the inputs.
$(BUILD)/iso-options: FORCE
	@mkdir -p $(dir $@)
	@printf '%s\n' '$(subst ','\'',$(ISO_CMDLINE) $(ISO_FLAGS))' | cmp -s - $@ || \
		printf '%s\n' '$(subst ','\'',$(ISO_CMDLINE) $(ISO_FLAGS))' > $@

$(BUILD)/kapsel.iso: $(BUILD)/vmkernel.elf $(BUILD)/kapsel.efi scripts/mkiso \
		boot/grub/grub.cfg.in $(BUILD)/iso-options $(ISO_DEMO_GUEST) $(MGMT_CONSOLE_FILES)
	scripts/mkiso -o $@.tmp --kernel $(BUILD)/vmkernel.elf --efi $(BUILD)/kapsel.efi \
		--cmdline '$(subst ','\'',$(ISO_CMDLINE))' $(ISO_FLAGS)
	mv $@.tmp $@

.PHONY: FORCE
FORCE:

# build/kapsel.iso, the hybrid BIOS/UEFI boot image (see scripts/mkiso --help).
# Included by the top-level Makefile. `make ISO_CMDLINE="..."` sets the
# vmkernel command line; ISO_FLAGS passes further mkiso options, e.g.
# ISO_FLAGS='--module "build/sc/vmlinuz sc-kernel"'.

ISO_CMDLINE ?=
ISO_FLAGS ?=

# Rebuilt when the command line or flags change, not only the inputs.
$(BUILD)/iso-options: FORCE
	@mkdir -p $(dir $@)
	@printf '%s\n' '$(subst ','\'',$(ISO_CMDLINE) $(ISO_FLAGS))' | cmp -s - $@ || \
		printf '%s\n' '$(subst ','\'',$(ISO_CMDLINE) $(ISO_FLAGS))' > $@

$(BUILD)/kapsel.iso: $(BUILD)/vmkernel.elf $(BUILD)/kapsel.efi scripts/mkiso \
		boot/grub/grub.cfg.in $(BUILD)/iso-options
	scripts/mkiso -o $@.tmp --kernel $(BUILD)/vmkernel.elf --efi $(BUILD)/kapsel.efi \
		--cmdline '$(subst ','\'',$(ISO_CMDLINE))' $(ISO_FLAGS)
	mv $@.tmp $@

.PHONY: FORCE
FORCE:

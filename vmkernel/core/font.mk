# The status screen's font (vmkernel/core/font.h), converted at build time
# from a Debian console font: Uni2-VGA16 from console-setup-linux is the IBM
# VGA typeface, so the framebuffer screen looks like the BIOS text screen,
# and it has every glyph the screen draws. Included by the top-level Makefile
# after KERNEL_OBJS is set; the generated font.S is assembled by its
# $(BUILD)/kernel/%.o rule.
SCREEN_FONT_PSF ?= /usr/share/consolefonts/Uni2-VGA16.psf.gz
SCREEN_FONT_OBJ := $(BUILD)/kernel/font.o
KERNEL_OBJS += $(SCREEN_FONT_OBJ)

$(BUILD)/kernel/font.S: $(SCREEN_FONT_PSF) scripts/genfont.py vmkernel/core/font.mk
	@mkdir -p $(dir $@)
	$(PYTHON) scripts/genfont.py $(SCREEN_FONT_PSF) > $@.tmp
	mv $@.tmp $@

$(SCREEN_FONT_PSF):
	@echo "font.mk: $@ is missing: run scripts/setup-deps (package console-setup-linux)" >&2
	@exit 1

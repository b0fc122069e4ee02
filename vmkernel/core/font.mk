# The status screen's font (vmkernel/core/font.h), converted at build time
# from a Debian console font: Uni2-VGA16 from console-setup-linux is the IBM
# VGA typeface, so the framebuffer screen looks like the BIOS text screen,
# and it has every glyph the screen draws. Included by the top-level Makefile
# after KERNEL_OBJS is set and before the rules that link it; the generated
# font.S is assembled by the $(BUILD)/kernel/%.o rule there.
SCREEN_FONT_PSF ?= /usr/share/consolefonts/Uni2-VGA16.psf.gz
KERNEL_OBJS += $(BUILD)/kernel/font.o

# The rules below must not become the default goal, wherever this file is
# included.
screen_font_default_goal := $(.DEFAULT_GOAL)

$(BUILD)/kernel/font.S: $(SCREEN_FONT_PSF) scripts/genfont.py vmkernel/core/font.mk
	@mkdir -p $(dir $@)
	$(PYTHON) scripts/genfont.py $(SCREEN_FONT_PSF) > $@.tmp
	mv $@.tmp $@

$(SCREEN_FONT_PSF):
	@echo "font.mk: $@ is missing: run scripts/setup-deps (package console-setup-linux)" >&2
	@exit 1

.DEFAULT_GOAL := $(screen_font_default_goal)

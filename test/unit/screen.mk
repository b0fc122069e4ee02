# Status screen layout, log area and rendering (test/unit/test_screen.c,
# which includes vmkernel/core/screen.c itself).
UNIT_TESTS += screen
unit_screen_SOURCES := test/unit/test_screen.c test/unit/host_support.c

# The font converter's PSF parser (scripts/genfont.py --self-test) runs when
# this unit is built: a failure there fails `make unit`.
$(BUILD)/unit/screen: $(BUILD)/unit/genfont-self-test.ok
$(BUILD)/unit/genfont-self-test.ok: scripts/genfont.py
	@mkdir -p $(dir $@)
	@$(PYTHON) scripts/genfont.py --self-test >$@.log 2>&1 || { cat $@.log; exit 1; }
	@mv $@.log $@

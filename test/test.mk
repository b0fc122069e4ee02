# Test system: host unit tests, the quality gates, emulator boot tests,
# benchmarks and `make run`. Included by the top-level Makefile, which
# defines BUILD, CC, KERNEL_CFLAGS and KERNEL_C.
#
#   make test        everything a commit must pass (unit, lint, emulators)
#   make test-long   the same plus slower runs (more CPUs, repeated boots)
#   make lint        only the quality gates
#   make unit        only build the host unit tests
#   make bench       boot cost and image size against their targets
#   make run         boot the ISO in QEMU with the serial console here
# test/run-all takes stage names and TEST_FILTER=<regex> for a subset.

# Host unit tests: each test/unit/<name>.mk adds <name> to UNIT_TESTS and sets
# unit_<name>_SOURCES. Objects go per test because UNIT_FILE_NAME differs.
UNIT_TESTS :=
include $(sort $(wildcard test/unit/*.mk))
# libFuzzer targets: make fuzz / fuzz-long, run-all stages fuzz / fuzz-long.
include test/fuzz/fuzz.mk

UNIT_CC := gcc
UNIT_CFLAGS := -std=gnu11 -g -O1 -Wall -Wextra -Werror -Wshadow \
	-Ivmkernel -Ivmkernel/include -DKAPSEL_HOST_TEST \
	-fsanitize=address,undefined -fno-sanitize-recover=all
UNIT_BINS := $(patsubst %,$(BUILD)/unit/%,$(UNIT_TESTS))

define UNIT_template
unit_$(1)_OBJS := $$(patsubst %.c,$(BUILD)/unit/obj/$(1)/%.o,$$(unit_$(1)_SOURCES))
$(BUILD)/unit/obj/$(1)/%.o: %.c test/test.mk $$(wildcard test/unit/$(1).mk)
	@mkdir -p $$(dir $$@)
	$(UNIT_CC) $(UNIT_CFLAGS) $$(unit_$(1)_CFLAGS) -DUNIT_FILE_NAME='"$(1)"' $$(DEPFLAGS) -c $$< -o $$@
$(BUILD)/unit/$(1): $$(unit_$(1)_OBJS)
	$(UNIT_CC) $(UNIT_CFLAGS) $$(unit_$(1)_CFLAGS) $$(unit_$(1)_OBJS) -o $$@
endef
$(foreach t,$(UNIT_TESTS),$(eval $(call UNIT_template,$(t))))

-include $(shell find $(BUILD)/unit -name '*.d' 2>/dev/null)

# Installs the Debian packages only when something is missing.
TEST_DEPS := scripts/setup-deps --check || scripts/setup-deps

.PHONY: unit test-vars
unit: $(UNIT_BINS)

test:
	$(TEST_DEPS)
	$(MAKE) all
	test/run-all

test-long:
	$(TEST_DEPS)
	$(MAKE) all
	test/run-all unit lint emu long fuzz-long vmfs-long

lint:
	test/run-all lint

bench:
	$(TEST_DEPS)
	$(MAKE) --no-print-directory $(BUILD)/vmkernel.elf $(BUILD)/kapsel.efi guests
	scripts/bench

run:
	$(TEST_DEPS)
	$(MAKE) all
	scripts/run-qemu

# For test/run-all: the build's own flag and file lists, printed raw ($(info)
# bypasses the shell, so quoting inside KERNEL_CFLAGS survives).
test-vars:
	$(info KERNEL_CFLAGS=$(KERNEL_CFLAGS))
	$(info KERNEL_C=$(KERNEL_C))
	$(info UNIT_TESTS=$(UNIT_TESTS))
	$(info EFI_CFLAGS=$(EFI_CFLAGS))
	@:

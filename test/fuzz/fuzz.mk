# libFuzzer targets and the host tools beside them. Included from
# test/test.mk; test/fuzz/run-fuzz also reads it directly (make -f Makefile
# -f test/fuzz/fuzz.mk), hence the guard against a second inclusion.
#
#   make fuzz        every target for 30 s (what `make test` runs)
#   make fuzz-long   every target for 10 min (what `make test-long` runs)
#   make build/fuzz/insn_print   the decoder as text, for insn-objdump-diff
ifndef KAPSEL_FUZZ_MK
KAPSEL_FUZZ_MK := 1
BUILD ?= build

FUZZ_CC := clang
FUZZ_CFLAGS := -std=gnu11 -g -O1 -Wall -Wextra -Werror -Wshadow -Wmissing-prototypes \
	-Ivmkernel -Ivmkernel/include -DKAPSEL_HOST_TEST \
	-fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all

# Each target: FUZZ_TARGETS += <name>, fuzz_<name>_SOURCES.
FUZZ_TARGETS := insn virtqueue mgmt
fuzz_insn_SOURCES := test/fuzz/fuzz_insn.c test/fuzz/insn_format.c \
	vmkernel/vm/insn_decode.c vmkernel/vm/insn_emulate.c vmkernel/vm/insn_emulate_alu.c \
	vmkernel/vm/insn_emulate_string.c
fuzz_insn_HEADERS := test/fuzz/host_alu.h test/fuzz/insn_format.h \
	vmkernel/vm/insn_decode.h vmkernel/vm/insn_emulate.h vmkernel/vm/insn_emulate_alu.h \
	vmkernel/vm/insn_emulate_internal.h

fuzz_virtqueue_SOURCES := test/fuzz/fuzz_virtqueue.c test/unit/fake_guest_ram.c \
	vmkernel/vdev/virtqueue.c
fuzz_virtqueue_HEADERS := test/unit/fake_guest_ram.h vmkernel/vdev/virtqueue.h

# The control service as its hostile peer sees it: mgmt.c with the VM list,
# datastores and vsock transport stubbed in the target.
fuzz_mgmt_SOURCES := test/fuzz/fuzz_mgmt.c test/unit/host_support.c vmkernel/mgmt/mgmt.c
fuzz_mgmt_HEADERS := vmkernel/mgmt/mgmt.h vmkernel/vdev/vsock.h vmkernel/vm/vm.h vmkernel/storage/datastore.h
fuzz_mgmt_CFLAGS := -I. -Ivmfs/lib/include -DKAPSEL_VERSION='"fuzz"'

define FUZZ_template
$(BUILD)/fuzz/$(1): $$(fuzz_$(1)_SOURCES) $$(fuzz_$(1)_HEADERS) test/fuzz/fuzz.mk
	@mkdir -p $$(dir $$@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) $$(fuzz_$(1)_CFLAGS) $$(fuzz_$(1)_SOURCES) -o $$@
endef
$(foreach t,$(FUZZ_TARGETS),$(eval $(call FUZZ_template,$(t))))

$(BUILD)/fuzz/insn_print: test/fuzz/insn_print.c test/fuzz/insn_format.c \
		vmkernel/vm/insn_decode.c $(fuzz_insn_HEADERS) test/fuzz/fuzz.mk
	@mkdir -p $(dir $@)
	gcc -std=gnu11 -g -O1 -Wall -Wextra -Werror -Wshadow -Ivmkernel -Ivmkernel/include \
		-DKAPSEL_HOST_TEST -fsanitize=address,undefined test/fuzz/insn_print.c \
		test/fuzz/insn_format.c vmkernel/vm/insn_decode.c -o $@

.PHONY: fuzz fuzz-long
fuzz:
	test/fuzz/run-fuzz --seconds 30
fuzz-long:
	test/fuzz/run-fuzz --seconds 600
endif

# The service console, built by mgmt-console/build into $(BUILD)/mgmt-console/
# and put on the default ISO (scripts/iso.mk, which includes this file).
# Built only when apt knows its Debian packages and glibc's static library is
# installed (scripts/setup-deps): a fresh machine's `make` still works, with
# an ISO without a console.
MGMT_CONSOLE_AVAILABLE := $(shell apt-cache show busybox-static linux-image-amd64 >/dev/null 2>&1 && \
	[ -e /usr/lib/x86_64-linux-gnu/libc.a ] && echo yes)
ifeq ($(MGMT_CONSOLE_AVAILABLE),yes)
MGMT_CONSOLE_FILES := $(BUILD)/mgmt-console/vmlinuz $(BUILD)/mgmt-console/initrd
all: $(MGMT_CONSOLE_FILES)
$(MGMT_CONSOLE_FILES) &: mgmt-console/build mgmt-console/init mgmt-console/vmkctl.c \
		test/linux/build-assets test/linux/mkcpio.py
	mgmt-console/build $(BUILD)
# The console VM of the default ISO: 128 MiB, one vCPU, restarted when it ends.
MGMT_CONSOLE_VM := --vm 'name=console role=console kernel=$(BUILD)/mgmt-console/vmlinuz \
	initrd=$(BUILD)/mgmt-console/initrd mem=128M cpus=1 cmdline="console=ttyS0 loglevel=4"'
endif

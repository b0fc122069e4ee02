# VMFS: the library and the host tools (mkfs.vmfs, fsck.vmfs, vmfs) in
# $(BUILD)/bin. Included by the top-level Makefile; `make` builds them.
# vmfs/tools/vmfs_fuse.c (FUSE mount), when present, is linked into `vmfs`
# with libfuse3.

VMFS_CC := gcc
VMFS_CFLAGS := -std=gnu11 -O2 -g -Wall -Wextra -Werror -Wmissing-prototypes -Wshadow \
	-Wstrict-prototypes -Wpointer-arith -Wvla -Wundef -Ivmfs/lib/include
VMFS_LIB_SRCS := $(sort $(wildcard vmfs/lib/*.c))
VMFS_LIB_OBJS := $(patsubst %.c,$(BUILD)/vmfs/%.o,$(VMFS_LIB_SRCS))
VMFS_FUSE_SRC := $(wildcard vmfs/tools/vmfs_fuse.c)
VMFS_TOOL_COMMON := $(BUILD)/vmfs/vmfs/tools/tool_common.o
ifneq ($(VMFS_FUSE_SRC),)
VMFS_FUSE_CFLAGS := $(shell pkg-config --cflags fuse3 2>/dev/null) -DVMFS_HAVE_FUSE
VMFS_FUSE_LIBS := $(shell pkg-config --libs fuse3 2>/dev/null || echo -lfuse3)
VMFS_FUSE_OBJ := $(BUILD)/vmfs/vmfs/tools/vmfs_fuse.o
# vmfs_tool.o is compiled with -DVMFS_HAVE_FUSE once vmfs_fuse.c exists.
$(BUILD)/vmfs/vmfs/tools/vmfs_tool.o: $(VMFS_FUSE_SRC)
endif
VMFS_TOOLS := $(BUILD)/bin/mkfs.vmfs $(BUILD)/bin/fsck.vmfs $(BUILD)/bin/vmfs

.PHONY: vmfs-tools
all: vmfs-tools
vmfs-tools: $(VMFS_TOOLS)

$(BUILD)/vmfs/%.o: %.c vmfs/build.mk
	@mkdir -p $(dir $@)
	@echo "  CC      $<"
	@$(VMFS_CC) $(VMFS_CFLAGS) $(if $(findstring vmfs_fuse,$<),$(VMFS_FUSE_CFLAGS)) \
		$(if $(findstring vmfs_tool,$<),$(VMFS_FUSE_CFLAGS)) $(DEPFLAGS) -c $< -o $@

$(BUILD)/vmfs/libvmfs.a: $(VMFS_LIB_OBJS)
	@rm -f $@
	@ar rcs $@ $^

$(BUILD)/bin/mkfs.vmfs: $(BUILD)/vmfs/vmfs/tools/mkfs_vmfs.o $(VMFS_TOOL_COMMON) $(BUILD)/vmfs/libvmfs.a
	@mkdir -p $(dir $@)
	$(VMFS_CC) -o $@ $^ -lpthread

$(BUILD)/bin/fsck.vmfs: $(BUILD)/vmfs/vmfs/tools/fsck_vmfs.o $(VMFS_TOOL_COMMON) $(BUILD)/vmfs/libvmfs.a
	@mkdir -p $(dir $@)
	$(VMFS_CC) -o $@ $^ -lpthread

$(BUILD)/bin/vmfs: $(BUILD)/vmfs/vmfs/tools/vmfs_tool.o $(VMFS_FUSE_OBJ) $(VMFS_TOOL_COMMON) $(BUILD)/vmfs/libvmfs.a
	@mkdir -p $(dir $@)
	$(VMFS_CC) -o $@ $^ $(VMFS_FUSE_LIBS) -lpthread

-include $(shell find $(BUILD)/vmfs -name '*.d' 2>/dev/null)

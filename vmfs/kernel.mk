# The VMFS library linked into the vmkernel (vmkernel/storage/ uses it).
# Included by the top-level Makefile right after KERNEL_OBJS is set.
# The library is portable C (vmfs/lib/include/vmfs/vmfs_os.h is all it
# needs); os_posix.c is the host processes' interface and stays out.
# Its <string.h> is the vmkernel's (vmkernel/lib/string.h), never glibc's.
# The lint gates (cppcheck, clang-tidy, headers, layering) cover vmkernel/,
# boot/ and drivers/ only: the library has its own gates in the vmfs stage
# (test/vmfs/t-lib: warnings as errors, ASan/UBSan, the kernel's flags).
VMFS_KERNEL_C := $(filter-out vmfs/lib/os_posix.c,$(sort $(wildcard vmfs/lib/*.c)))
VMFS_KERNEL_OBJS := $(patsubst %,$(BUILD)/kernel/%.o,$(VMFS_KERNEL_C))
KERNEL_OBJS += $(VMFS_KERNEL_OBJS)
KERNEL_CFLAGS += -Ivmfs/lib/include
$(VMFS_KERNEL_OBJS): KERNEL_CFLAGS += -Ivmkernel/lib -Ivmfs/lib

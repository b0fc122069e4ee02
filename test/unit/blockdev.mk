# The block layer: registry, sync helpers, GPT scan (test/unit/test_blockdev.c).
UNIT_TESTS += blockdev
unit_blockdev_SOURCES := test/unit/test_blockdev.c test/unit/host_support.c drivers/block/blockdev.c
unit_blockdev_CFLAGS := -I.

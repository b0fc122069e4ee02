# Split virtqueue parsing against a fake guest RAM (test/unit/test_virtqueue.c).
UNIT_TESTS += virtqueue
unit_virtqueue_SOURCES := test/unit/test_virtqueue.c test/unit/fake_guest_ram.c \
	vmkernel/vdev/virtqueue.c

# The virtio devices end to end through their PCI BARs over a fake guest
# RAM: transport, virtio-blk, virtio-console, virtio-net with the vswitch, virtio-vsock
# (test/unit/test_virtio.c).
UNIT_TESTS += virtio
unit_virtio_SOURCES := test/unit/test_virtio.c test/unit/fake_guest_ram.c test/unit/host_support.c \
	vmkernel/vdev/pci.c vmkernel/vdev/virtio_pci.c vmkernel/vdev/virtqueue.c \
	vmkernel/vdev/virtio_blk.c vmkernel/vdev/virtio_console.c vmkernel/vdev/virtio_net.c \
	vmkernel/vdev/virtio_vsock.c \
	vmkernel/vdev/vdisk.c vmkernel/net/vswitch.c

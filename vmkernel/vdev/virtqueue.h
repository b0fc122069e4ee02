/*
 * Split virtqueues (virtio 1.x, section 2.6) as a device sees them: the
 * driver's descriptor table and available ring, the device's used ring,
 * all in guest RAM. Everything read from the guest is copied once, then
 * checked: ring areas and buffers must be guest RAM, a chain may not be
 * longer than the queue (the spec's rule, which also ends descriptor
 * loops), its byte count is bounded, readable buffers come before writable
 * ones. A violation makes the call fail; the device then sets
 * DEVICE_NEEDS_RESET and stops using the queue.
 *
 * Host-buildable: guest memory is reached only through vm_copy_from_guest,
 * vm_copy_to_guest and vm_gpa_to_host, which the unit tests and the fuzzer
 * provide over a fake RAM.
 */
#ifndef KAPSEL_VDEV_VIRTQUEUE_H
#define KAPSEL_VDEV_VIRTQUEUE_H

#include <stdbool.h>
#include <stdint.h>

struct vm;

#define VIRTQ_MAX_SIZE 1024          /* the largest queue a device offers */
#define VIRTQ_MAX_SEGMENTS 64        /* buffers per chain a device accepts */
#define VIRTQ_MAX_CHAIN_BYTES (64u << 20)

#define VIRTQ_DESC_F_NEXT 1
#define VIRTQ_DESC_F_WRITE 2
#define VIRTQ_DESC_F_INDIRECT 4
#define VIRTQ_AVAIL_F_NO_INTERRUPT 1

struct virtq_segment {
	uint64_t gpa;
	uint32_t length;
};

/* One popped request: readable segments first, then writable ones. */
struct virtq_chain {
	uint16_t head;
	uint16_t readable_count, writable_count;
	uint64_t readable_bytes, writable_bytes;
	struct virtq_segment segments[VIRTQ_MAX_SEGMENTS];
};

/* Guarded by the owning device's lock. */
struct virtq {
	struct vm *vm;
	uint16_t size;           /* power of two, 1..VIRTQ_MAX_SIZE */
	uint64_t desc_gpa, avail_gpa, used_gpa;
	uint16_t next_avail;     /* the next available-ring entry to take */
	uint16_t next_used;      /* the used index the device publishes next */
	bool indirect;           /* VIRTIO_F_INDIRECT_DESC negotiated */
	bool ready;              /* set up and not broken */
	const char *error;       /* why the queue stopped, for the log */
};

/* Checks the layout (sizes, alignment, ring areas in guest RAM) and makes
 * the queue ready. Returns 0 or -EINVAL with q->error set. */
int virtq_setup(struct virtq *q, struct vm *vm, uint16_t size, uint64_t desc_gpa,
		uint64_t avail_gpa, uint64_t used_gpa, bool indirect);
/* Takes the next available chain: 1 one was taken, 0 none is available,
 * <0 bad input (q->error says why; the queue is no longer ready). */
int virtq_pop(struct virtq *q, struct virtq_chain *chain);
/* Copies bytes [offset, offset+length) of the chain's readable (or
 * writable) part; -EINVAL when the range is beyond it. */
int virtq_chain_read(struct virtq *q, const struct virtq_chain *chain, uint64_t offset, void *dst,
		     uint64_t length);
int virtq_chain_write(struct virtq *q, const struct virtq_chain *chain, uint64_t offset,
		      const void *src, uint64_t length);
/* Calls visit(context, host pointer, n) over the host memory behind bytes
 * [offset, offset+length) of the readable (or writable) part, in order;
 * stops at the first non-zero return and returns it. -EINVAL when the
 * range is beyond that part. */
int virtq_chain_for_each(struct virtq *q, const struct virtq_chain *chain, bool writable,
			 uint64_t offset, uint64_t length,
			 int (*visit)(void *context, void *host, uint64_t n), void *context);
/* Returns the chain to the driver with `written` bytes written into it. */
int virtq_push(struct virtq *q, uint16_t head, uint32_t written);
/* After pushes: whether the driver wants an interrupt. */
bool virtq_wants_interrupt(struct virtq *q);
/* Whether [gpa, gpa+length) is all guest RAM. */
bool virtq_range_is_ram(struct vm *vm, uint64_t gpa, uint64_t length);

#endif

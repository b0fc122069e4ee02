/*
 * libFuzzer target: the split virtqueue parser (vmkernel/vdev/virtqueue.c)
 * with arbitrary descriptor tables and available rings in a 64 KiB fake
 * guest RAM. Input: queue-size exponent, flags (bit 0: indirect allowed),
 * the device's starting available index (2 bytes), then bytes for the
 * descriptor table at 0, the available ring at 0x1000 and an indirect area
 * at 0x3000. Every popped chain must lie in RAM within the limits and be
 * readable and writable in full; every refusal must stop the queue with a
 * reason. Sanitizers catch any access outside the fake RAM.
 */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../unit/fake_guest_ram.h"

#include <vdev/virtqueue.h>

#define RAM_SIZE 0x10000u
#define DESC_GPA 0x0u
#define AVAIL_GPA 0x1000u
#define USED_GPA 0x2000u
#define INDIRECT_GPA 0x3000u
#define COPY_LIMIT 4096u

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void invariant(int ok, const char *what)
{
	if (!ok) {
		fprintf(stderr, "invariant failed: %s\n", what);
		abort();
	}
}

static size_t fill(uint64_t gpa, uint64_t room, const uint8_t **data, size_t *size)
{
	size_t n = *size < room ? *size : room;
	memcpy(fake_guest_ram + gpa, *data, n);
	*data += n;
	*size -= n;
	return n;
}

static void check_chain(struct virtq *q, const struct virtq_chain *chain)
{
	static uint8_t buffer[COPY_LIMIT];
	uint64_t readable = 0, writable = 0;
	unsigned count = chain->readable_count + chain->writable_count;

	invariant(chain->head < q->size, "head within the queue");
	invariant(count <= VIRTQ_MAX_SEGMENTS, "segment count bounded");
	for (unsigned i = 0; i < count; i++) {
		const struct virtq_segment *s = &chain->segments[i];
		invariant(s->length && s->gpa < RAM_SIZE && s->length <= RAM_SIZE - s->gpa,
			  "segment inside RAM");
		if (i < chain->readable_count)
			readable += s->length;
		else
			writable += s->length;
	}
	invariant(readable == chain->readable_bytes && writable == chain->writable_bytes,
		  "byte counts match the segments");
	invariant(readable + writable <= VIRTQ_MAX_CHAIN_BYTES, "chain size bounded");
	uint64_t n = readable < COPY_LIMIT ? readable : COPY_LIMIT;
	invariant(virtq_chain_read(q, chain, readable - n, buffer, n) == 0, "readable part readable");
	invariant(virtq_chain_read(q, chain, readable, buffer, 1) != 0, "read past the end refused");
	n = writable < COPY_LIMIT ? writable : COPY_LIMIT;
	invariant(virtq_chain_write(q, chain, 0, buffer, n) == 0, "writable part writable");
	invariant(virtq_chain_write(q, chain, writable, buffer, 1) != 0, "write past the end refused");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct virtq q;
	static struct virtq_chain chain;

	if (size < 4)
		return 0;
	uint16_t queue_size = (uint16_t)(1u << (data[0] % 9));
	bool indirect = data[1] & 1;
	uint16_t start = (uint16_t)(data[2] | data[3] << 8);
	data += 4;
	size -= 4;
	if (!fake_guest_ram || fake_guest_ram_size != RAM_SIZE)
		fake_guest_ram_init(RAM_SIZE);
	memset(fake_guest_ram, 0, RAM_SIZE);
	fill(DESC_GPA, 16u * queue_size, &data, &size);
	fill(AVAIL_GPA, 4u + 2u * queue_size, &data, &size);
	fill(INDIRECT_GPA, RAM_SIZE - INDIRECT_GPA, &data, &size);

	invariant(virtq_setup(&q, (struct vm *)0x1, queue_size, DESC_GPA, AVAIL_GPA, USED_GPA,
			      indirect) == 0, "valid layout accepted");
	q.next_avail = q.next_used = start;
	for (unsigned round = 0; round < 2u * queue_size + 2; round++) {
		int result = virtq_pop(&q, &chain);
		if (result == 0) {
			invariant(q.ready, "an empty queue stays ready");
			break;
		}
		if (result < 0) {
			invariant(!q.ready && q.error, "a refusal stops the queue with a reason");
			break;
		}
		check_chain(&q, &chain);
		invariant(virtq_push(&q, chain.head, (uint32_t)chain.writable_bytes) == 0, "push");
	}
	return 0;
}

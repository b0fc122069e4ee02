/*
 * Split virtqueue parsing. Layout in guest RAM (all little-endian):
 *   descriptor table  size x { u64 addr; u32 len; u16 flags; u16 next; }
 *   available ring    u16 flags; u16 idx; u16 ring[size]; (u16 used_event)
 *   used ring         u16 flags; u16 idx; { u32 id; u32 len; } ring[size];
 * The driver publishes heads in the available ring and bumps idx; the
 * device takes them in order and returns them through the used ring.
 * A descriptor with INDIRECT points at a table of further descriptors that
 * replaces the rest of the chain. Each descriptor is copied out of guest
 * memory exactly once, so a guest rewriting a ring under us can only hurt
 * its own request.
 */
#include <vdev/virtqueue.h>

#include <lib/errno.h>
#include <vm/vm.h>

struct virtq_desc {
	uint64_t addr;
	uint32_t len;
	uint16_t flags;
	uint16_t next;
};

#define DESC_SIZE 16u
#define RING_HEADER 4u

static int virtq_fail(struct virtq *q, const char *why)
{
	q->error = why;
	q->ready = false;
	return -EINVAL;
}

bool virtq_range_is_ram(struct vm *vm, uint64_t gpa, uint64_t length)
{
	if (gpa + length < gpa)
		return false;
	while (length) {
		uint64_t in_chunk = VM_RAM_CHUNK - (gpa & (VM_RAM_CHUNK - 1));
		uint64_t n = length < in_chunk ? length : in_chunk;
		if (!vm_gpa_to_host(vm, gpa, n))
			return false;
		gpa += n;
		length -= n;
	}
	return true;
}

int virtq_setup(struct virtq *q, struct vm *vm, uint16_t size, uint64_t desc_gpa,
		uint64_t avail_gpa, uint64_t used_gpa, bool indirect)
{
	*q = (struct virtq){ .vm = vm, .size = size, .desc_gpa = desc_gpa, .avail_gpa = avail_gpa,
			     .used_gpa = used_gpa, .indirect = indirect };
	if (!size || size > VIRTQ_MAX_SIZE || (size & (size - 1)))
		return virtq_fail(q, "queue size not a power of two within the limit");
	if ((desc_gpa & 15) || (avail_gpa & 1) || (used_gpa & 3))
		return virtq_fail(q, "misaligned ring");
	/* +2: the event-index word after each ring, which the driver lays out
	 * whether or not it is used. */
	if (!virtq_range_is_ram(vm, desc_gpa, (uint64_t)DESC_SIZE * size) ||
	    !virtq_range_is_ram(vm, avail_gpa, RING_HEADER + 2ull * size + 2) ||
	    !virtq_range_is_ram(vm, used_gpa, RING_HEADER + 8ull * size + 2))
		return virtq_fail(q, "ring outside guest RAM");
	q->ready = true;
	return 0;
}

static int virtq_add_segment(struct virtq *q, struct virtq_chain *chain, const struct virtq_desc *d)
{
	bool writable = d->flags & VIRTQ_DESC_F_WRITE;
	unsigned count = chain->readable_count + chain->writable_count;

	if (!d->len)
		return 0;
	if (!writable && chain->writable_count)
		return virtq_fail(q, "readable buffer after a writable one");
	if (count == VIRTQ_MAX_SEGMENTS)
		return virtq_fail(q, "too many buffers in one chain");
	if (chain->readable_bytes + chain->writable_bytes + d->len > VIRTQ_MAX_CHAIN_BYTES)
		return virtq_fail(q, "chain larger than the device accepts");
	if (!virtq_range_is_ram(q->vm, d->addr, d->len))
		return virtq_fail(q, "buffer outside guest RAM");
	chain->segments[count] = (struct virtq_segment){ d->addr, d->len };
	if (writable) {
		chain->writable_count++;
		chain->writable_bytes += d->len;
	} else {
		chain->readable_count++;
		chain->readable_bytes += d->len;
	}
	return 0;
}

/* Walks the chain at `head`. The descriptor budget is the table's length:
 * a longer chain revisits a descriptor, i.e. it loops. */
static int virtq_walk(struct virtq *q, uint16_t head, struct virtq_chain *chain)
{
	uint64_t table = q->desc_gpa;
	uint32_t table_size = q->size, budget = q->size, index = head;
	bool in_indirect = false;

	for (;;) {
		struct virtq_desc d;
		if (budget-- == 0)
			return virtq_fail(q, "descriptor chain longer than its table (a loop)");
		if (vm_copy_from_guest(q->vm, table + (uint64_t)index * DESC_SIZE, &d, sizeof(d)))
			return virtq_fail(q, "descriptor outside guest RAM");
		if (d.flags & VIRTQ_DESC_F_INDIRECT) {
			if (!q->indirect || in_indirect || (d.flags & VIRTQ_DESC_F_NEXT))
				return virtq_fail(q, "indirect descriptor where none is allowed");
			if (!d.len || d.len % DESC_SIZE || d.len / DESC_SIZE > VIRTQ_MAX_SIZE)
				return virtq_fail(q, "bad indirect table length");
			if (!virtq_range_is_ram(q->vm, d.addr, d.len))
				return virtq_fail(q, "indirect table outside guest RAM");
			table = d.addr;
			table_size = budget = d.len / DESC_SIZE;
			index = 0;
			in_indirect = true;
			continue;
		}
		int error = virtq_add_segment(q, chain, &d);
		if (error)
			return error;
		if (!(d.flags & VIRTQ_DESC_F_NEXT))
			return 0;
		index = d.next;
		if (index >= table_size)
			return virtq_fail(q, "next descriptor beyond the table");
	}
}

int virtq_pop(struct virtq *q, struct virtq_chain *chain)
{
	uint16_t avail_idx, head;

	if (!q->ready)
		return -EINVAL;
	if (vm_copy_from_guest(q->vm, q->avail_gpa + 2, &avail_idx, sizeof(avail_idx)))
		return virtq_fail(q, "available ring outside guest RAM");
	uint16_t pending = (uint16_t)(avail_idx - q->next_avail);
	if (!pending)
		return 0;
	if (pending > q->size)
		return virtq_fail(q, "available index ahead by more than the queue size");
	/* The ring entry is read after the index that published it. */
	__atomic_thread_fence(__ATOMIC_ACQUIRE);
	uint64_t entry = q->avail_gpa + RING_HEADER + 2ull * (q->next_avail & (q->size - 1));
	if (vm_copy_from_guest(q->vm, entry, &head, sizeof(head)))
		return virtq_fail(q, "available ring outside guest RAM");
	if (head >= q->size)
		return virtq_fail(q, "available head beyond the descriptor table");
	chain->head = head;
	chain->readable_count = chain->writable_count = 0;
	chain->readable_bytes = chain->writable_bytes = 0;
	int error = virtq_walk(q, head, chain);
	if (error)
		return error;
	q->next_avail++;
	return 1;
}

static int virtq_chain_copy(struct virtq *q, const struct virtq_chain *chain, bool writable,
			    uint64_t offset, uint8_t *buffer, uint64_t length)
{
	unsigned first = writable ? chain->readable_count : 0;
	unsigned end = first + (writable ? chain->writable_count : chain->readable_count);
	uint64_t available = writable ? chain->writable_bytes : chain->readable_bytes;

	if (offset > available || length > available - offset)
		return -EINVAL;
	for (unsigned i = first; i < end && length; i++) {
		const struct virtq_segment *s = &chain->segments[i];
		if (offset >= s->length) {
			offset -= s->length;
			continue;
		}
		uint64_t n = s->length - offset < length ? s->length - offset : length;
		int error = writable ? vm_copy_to_guest(q->vm, s->gpa + offset, buffer, n)
				     : vm_copy_from_guest(q->vm, s->gpa + offset, buffer, n);
		if (error)
			return error;
		buffer += n;
		length -= n;
		offset = 0;
	}
	return 0;
}

int virtq_chain_for_each(struct virtq *q, const struct virtq_chain *chain, bool writable,
			 uint64_t offset, uint64_t length,
			 int (*visit)(void *context, void *host, uint64_t n), void *context)
{
	unsigned first = writable ? chain->readable_count : 0;
	unsigned end = first + (writable ? chain->writable_count : chain->readable_count);
	uint64_t available = writable ? chain->writable_bytes : chain->readable_bytes;

	if (offset > available || length > available - offset)
		return -EINVAL;
	for (unsigned i = first; i < end && length; i++) {
		const struct virtq_segment *s = &chain->segments[i];
		if (offset >= s->length) {
			offset -= s->length;
			continue;
		}
		uint64_t gpa = s->gpa + offset;
		uint64_t left = s->length - offset < length ? s->length - offset : length;
		length -= left;
		offset = 0;
		while (left) {
			uint64_t in_chunk = VM_RAM_CHUNK - (gpa & (VM_RAM_CHUNK - 1));
			uint64_t n = left < in_chunk ? left : in_chunk;
			void *host = vm_gpa_to_host(q->vm, gpa, n);
			if (!host)
				return -EFAULT; /* checked at pop; only a changed memory map gets here */
			int error = visit(context, host, n);
			if (error)
				return error;
			gpa += n;
			left -= n;
		}
	}
	return 0;
}

int virtq_chain_read(struct virtq *q, const struct virtq_chain *chain, uint64_t offset, void *dst,
		     uint64_t length)
{
	return virtq_chain_copy(q, chain, false, offset, dst, length);
}

int virtq_chain_write(struct virtq *q, const struct virtq_chain *chain, uint64_t offset,
		      const void *src, uint64_t length)
{
	return virtq_chain_copy(q, chain, true, offset, (uint8_t *)src, length);
}

int virtq_push(struct virtq *q, uint16_t head, uint32_t written)
{
	uint32_t element[2] = { head, written };

	if (!q->ready)
		return -EINVAL;
	uint64_t slot = q->used_gpa + RING_HEADER + 8ull * (q->next_used & (q->size - 1));
	if (vm_copy_to_guest(q->vm, slot, element, sizeof(element)))
		return virtq_fail(q, "used ring outside guest RAM");
	/* The element is visible before the index that publishes it. */
	__atomic_thread_fence(__ATOMIC_RELEASE);
	q->next_used++;
	if (vm_copy_to_guest(q->vm, q->used_gpa + 2, &q->next_used, sizeof(q->next_used)))
		return virtq_fail(q, "used ring outside guest RAM");
	return 0;
}

bool virtq_wants_interrupt(struct virtq *q)
{
	uint16_t flags;

	/* The used index store must be globally visible before the flags are
	 * read, or a driver re-enabling interrupts could miss this one. */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	if (vm_copy_from_guest(q->vm, q->avail_gpa, &flags, sizeof(flags)))
		return true;
	return !(flags & VIRTQ_AVAIL_F_NO_INTERRUPT);
}

/*
 * Split virtqueue parsing (vmkernel/vdev/virtqueue.c) against a fake guest
 * RAM of 4 MiB (two 2 MiB chunks): valid direct and indirect chains, index
 * wrap-around, and every kind of bad input a guest can build — loops,
 * buffers beyond RAM, huge lengths, bad heads, misplaced rings — each of
 * which must stop the queue with a reason and touch nothing outside RAM.
 */
#include "unit.h"
#include "fake_guest_ram.h"

#include <lib/errno.h>
#include <vdev/virtqueue.h>

#define RAM_SIZE (4u << 20)
#define QSIZE 8
#define DESC 0x1000u
#define AVAIL 0x2000u
#define USED 0x3000u
#define DATA 0x10000u
#define TABLE 0x8000u

static struct vm *const vm = (struct vm *)0x1; /* never dereferenced */
static struct virtq q;

static void put16(uint64_t gpa, uint16_t v) { memcpy(fake_guest_ram + gpa, &v, 2); }
static void put32(uint64_t gpa, uint32_t v) { memcpy(fake_guest_ram + gpa, &v, 4); }
static void put64(uint64_t gpa, uint64_t v) { memcpy(fake_guest_ram + gpa, &v, 8); }
static uint16_t get16(uint64_t gpa) { uint16_t v; memcpy(&v, fake_guest_ram + gpa, 2); return v; }
static uint32_t get32(uint64_t gpa) { uint32_t v; memcpy(&v, fake_guest_ram + gpa, 4); return v; }

static void desc_at(uint64_t table, unsigned i, uint64_t addr, uint32_t len, uint16_t flags, uint16_t next)
{
	uint64_t d = table + 16ull * i;
	put64(d, addr);
	put32(d + 8, len);
	put16(d + 12, flags);
	put16(d + 14, next);
}

static void desc(unsigned i, uint64_t addr, uint32_t len, uint16_t flags, uint16_t next)
{
	desc_at(DESC, i, addr, len, flags, next);
}

/* Publishes `head` as the next available entry. */
static void offer(uint16_t head)
{
	uint16_t idx = get16(AVAIL + 2);
	put16(AVAIL + 4 + 2 * (idx % QSIZE), head);
	put16(AVAIL + 2, (uint16_t)(idx + 1));
}

static void fresh(bool indirect)
{
	fake_guest_ram_init(RAM_SIZE);
	CHECK_EQ(virtq_setup(&q, vm, QSIZE, DESC, AVAIL, USED, indirect), 0);
	CHECK(q.ready);
}

/* Pops expecting bad input whose reason contains `why`. */
static void check_rejected(const char *why)
{
	struct virtq_chain chain;
	CHECK_EQ(virtq_pop(&q, &chain), -EINVAL);
	CHECK(!q.ready);
	CHECK(q.error && strstr(q.error, why));
	if (q.error && !strstr(q.error, why))
		fprintf(stderr, "  reason was: %s\n", q.error);
	/* A stopped queue stays stopped. */
	CHECK_EQ(virtq_pop(&q, &chain), -EINVAL);
	CHECK_EQ(virtq_push(&q, 0, 0), -EINVAL);
}

UNIT_TEST(setup_checks_layout)
{
	fake_guest_ram_init(RAM_SIZE);
	CHECK_EQ(virtq_setup(&q, vm, 0, DESC, AVAIL, USED, false), -EINVAL);
	CHECK_EQ(virtq_setup(&q, vm, 6, DESC, AVAIL, USED, false), -EINVAL);
	CHECK_EQ(virtq_setup(&q, vm, 2048, DESC, AVAIL, USED, false), -EINVAL);
	CHECK_EQ(virtq_setup(&q, vm, QSIZE, DESC + 8, AVAIL, USED, false), -EINVAL);
	CHECK(strstr(q.error, "misaligned"));
	CHECK_EQ(virtq_setup(&q, vm, QSIZE, DESC, AVAIL + 1, USED, false), -EINVAL);
	CHECK_EQ(virtq_setup(&q, vm, QSIZE, DESC, AVAIL, USED + 2, false), -EINVAL);
	CHECK_EQ(virtq_setup(&q, vm, QSIZE, RAM_SIZE - 64, AVAIL, USED, false), -EINVAL);
	CHECK(strstr(q.error, "outside"));
	CHECK_EQ(virtq_setup(&q, vm, QSIZE, DESC, AVAIL, RAM_SIZE - 16, false), -EINVAL);
	CHECK_EQ(virtq_setup(&q, vm, QSIZE, DESC, 0xfffffffffffffff0ull, USED, false), -EINVAL);
	CHECK(!q.ready);
	CHECK_EQ(virtq_setup(&q, vm, 1, DESC, AVAIL, USED, false), 0);
	CHECK_EQ(virtq_setup(&q, vm, 1024, DESC, DESC + 16 * 1024, USED + 0x4000, false), 0);
}

UNIT_TEST(empty_queue)
{
	struct virtq_chain chain;
	fresh(false);
	CHECK_EQ(virtq_pop(&q, &chain), 0);
	CHECK(q.ready);
}

UNIT_TEST(request_round_trip)
{
	struct virtq_chain chain;
	uint8_t header[16], status = 0x5a, out[20];
	fresh(false);
	for (unsigned i = 0; i < sizeof(header); i++)
		fake_guest_ram[DATA + i] = (uint8_t)(i * 3);
	desc(3, DATA, 16, VIRTQ_DESC_F_NEXT, 5);
	desc(5, DATA + 0x100, 512, VIRTQ_DESC_F_NEXT | VIRTQ_DESC_F_WRITE, 0);
	desc(0, DATA + 0x400, 1, VIRTQ_DESC_F_WRITE, 0);
	offer(3);
	CHECK_EQ(virtq_pop(&q, &chain), 1);
	CHECK_EQ(chain.head, 3);
	CHECK_EQ(chain.readable_count, 1);
	CHECK_EQ(chain.writable_count, 2);
	CHECK_EQ(chain.readable_bytes, 16);
	CHECK_EQ(chain.writable_bytes, 513);
	CHECK_EQ(virtq_chain_read(&q, &chain, 0, header, sizeof(header)), 0);
	CHECK_EQ(header[15], 45);
	CHECK_EQ(virtq_chain_read(&q, &chain, 8, out, 9), -EINVAL); /* past the readable part */
	memset(out, 0xab, sizeof(out));
	/* A write spanning both writable buffers. */
	CHECK_EQ(virtq_chain_write(&q, &chain, 500, out, 12), 0);
	CHECK_EQ(virtq_chain_write(&q, &chain, 512, &status, 1), 0);
	CHECK_EQ(virtq_chain_write(&q, &chain, 512, out, 2), -EINVAL);
	CHECK_EQ(fake_guest_ram[DATA + 0x100 + 511], 0xab);
	CHECK_EQ(fake_guest_ram[DATA + 0x100 + 499], 0);
	CHECK_EQ(fake_guest_ram[DATA + 0x400], 0x5a);
	CHECK_EQ(virtq_pop(&q, &chain), 0);
	CHECK_EQ(virtq_push(&q, 3, 513), 0);
	CHECK_EQ(get16(USED + 2), 1);
	CHECK_EQ(get32(USED + 4), 3);
	CHECK_EQ(get32(USED + 8), 513);
	CHECK(virtq_wants_interrupt(&q));
	put16(AVAIL, VIRTQ_AVAIL_F_NO_INTERRUPT);
	CHECK(!virtq_wants_interrupt(&q));
	CHECK_EQ(fake_guest_ram_refused, 0);
}

UNIT_TEST(index_wraps_around)
{
	struct virtq_chain chain;
	fresh(false);
	q.next_avail = 0xffff;
	q.next_used = 0xffff;
	desc(1, DATA, 4, 0, 0);
	put16(AVAIL + 4 + 2 * (0xffff % QSIZE), 1);
	put16(AVAIL + 2, 0);
	CHECK_EQ(virtq_pop(&q, &chain), 1);
	CHECK_EQ(chain.head, 1);
	CHECK_EQ(q.next_avail, 0);
	CHECK_EQ(virtq_push(&q, 1, 0), 0);
	CHECK_EQ(get16(USED + 2), 0);
	CHECK_EQ(get32(USED + 4 + 8 * (0xffff % QSIZE)), 1);
}

UNIT_TEST(buffer_across_chunks)
{
	struct virtq_chain chain;
	uint8_t data[64];
	fresh(false);
	for (unsigned i = 0; i < 64; i++)
		fake_guest_ram[(2u << 20) - 32 + i] = (uint8_t)i;
	desc(0, (2u << 20) - 32, 64, 0, 0);
	offer(0);
	CHECK_EQ(virtq_pop(&q, &chain), 1);
	CHECK_EQ(virtq_chain_read(&q, &chain, 0, data, 64), 0);
	CHECK_EQ(data[0], 0);
	CHECK_EQ(data[63], 63);
}

UNIT_TEST(indirect_chain)
{
	struct virtq_chain chain;
	fresh(true);
	desc_at(TABLE, 0, DATA, 16, VIRTQ_DESC_F_NEXT, 2);
	desc_at(TABLE, 2, DATA + 0x100, 4096, VIRTQ_DESC_F_NEXT | VIRTQ_DESC_F_WRITE, 1);
	desc_at(TABLE, 1, DATA + 0x2000, 1, VIRTQ_DESC_F_WRITE, 0);
	desc(4, TABLE, 3 * 16, VIRTQ_DESC_F_INDIRECT, 0);
	offer(4);
	CHECK_EQ(virtq_pop(&q, &chain), 1);
	CHECK_EQ(chain.head, 4);
	CHECK_EQ(chain.readable_count, 1);
	CHECK_EQ(chain.writable_count, 2);
	CHECK_EQ(chain.writable_bytes, 4097);
	CHECK_EQ(chain.segments[2].gpa, DATA + 0x2000);
}

UNIT_TEST(indirect_without_feature)
{
	fresh(false);
	desc_at(TABLE, 0, DATA, 16, 0, 0);
	desc(0, TABLE, 16, VIRTQ_DESC_F_INDIRECT, 0);
	offer(0);
	check_rejected("indirect");
}

UNIT_TEST(nested_indirect)
{
	fresh(true);
	desc_at(TABLE, 0, TABLE, 16, VIRTQ_DESC_F_INDIRECT, 0);
	desc(0, TABLE, 16, VIRTQ_DESC_F_INDIRECT, 0);
	offer(0);
	check_rejected("indirect");
}

UNIT_TEST(indirect_bad_length)
{
	fresh(true);
	desc(0, TABLE, 24, VIRTQ_DESC_F_INDIRECT, 0);
	offer(0);
	check_rejected("indirect table length");
	fresh(true);
	desc(0, TABLE, 0, VIRTQ_DESC_F_INDIRECT, 0);
	offer(0);
	check_rejected("indirect table length");
	fresh(true);
	desc(0, RAM_SIZE - 16, 32, VIRTQ_DESC_F_INDIRECT, 0);
	offer(0);
	check_rejected("outside guest RAM");
}

UNIT_TEST(descriptor_loop)
{
	fresh(false);
	desc(0, DATA, 16, VIRTQ_DESC_F_NEXT, 1);
	desc(1, DATA, 16, VIRTQ_DESC_F_NEXT, 0);
	offer(0);
	check_rejected("loop");
	fresh(false);
	desc(2, DATA, 0, VIRTQ_DESC_F_NEXT, 2); /* empty buffers still count */
	offer(2);
	check_rejected("loop");
}

UNIT_TEST(indirect_loop)
{
	fresh(true);
	desc_at(TABLE, 0, DATA, 16, VIRTQ_DESC_F_NEXT, 1);
	desc_at(TABLE, 1, DATA, 16, VIRTQ_DESC_F_NEXT, 0);
	desc(0, TABLE, 2 * 16, VIRTQ_DESC_F_INDIRECT, 0);
	offer(0);
	check_rejected("loop");
}

UNIT_TEST(buffer_beyond_ram)
{
	fresh(false);
	desc(0, RAM_SIZE - 8, 16, 0, 0);
	offer(0);
	check_rejected("outside guest RAM");
	fresh(false);
	desc(0, 0xfffffffffffffff8ull, 16, VIRTQ_DESC_F_WRITE, 0); /* wraps around */
	offer(0);
	check_rejected("outside guest RAM");
	fresh(false);
	desc(0, 0x100000000ull, 1, VIRTQ_DESC_F_WRITE, 0);
	offer(0);
	check_rejected("outside guest RAM");
}

UNIT_TEST(huge_lengths)
{
	fresh(false);
	desc(0, DATA, 0xffffffffu, VIRTQ_DESC_F_WRITE, 0);
	offer(0);
	check_rejected("larger");
	/* Each buffer is RAM (the same 2 MiB, over and over), the sum is too large. */
	fake_guest_ram_init(RAM_SIZE);
	CHECK_EQ(virtq_setup(&q, vm, 64, DESC, AVAIL, USED, false), 0);
	for (unsigned i = 0; i < 33; i++)
		desc(i, 0, 2u << 20, VIRTQ_DESC_F_NEXT, (uint16_t)(i + 1));
	desc(32, 0, 2u << 20, 0, 0);
	put16(AVAIL + 2, 1);
	check_rejected("larger");
}

UNIT_TEST(too_many_segments)
{
	struct virtq_chain chain;
	fake_guest_ram_init(RAM_SIZE);
	CHECK_EQ(virtq_setup(&q, vm, 128, DESC, AVAIL, USED, false), 0);
	for (unsigned i = 0; i < VIRTQ_MAX_SEGMENTS + 1; i++)
		desc(i, DATA, 1, VIRTQ_DESC_F_NEXT, (uint16_t)(i + 1));
	desc(VIRTQ_MAX_SEGMENTS, DATA, 1, 0, 0);
	put16(AVAIL + 4, 0);
	put16(AVAIL + 2, 1);
	CHECK_EQ(virtq_pop(&q, &chain), -EINVAL);
	CHECK(strstr(q.error, "too many"));
	/* Exactly the maximum is fine. */
	CHECK_EQ(virtq_setup(&q, vm, 128, DESC, AVAIL, USED, false), 0);
	desc(VIRTQ_MAX_SEGMENTS - 1, DATA, 1, 0, 0);
	CHECK_EQ(virtq_pop(&q, &chain), 1);
	CHECK_EQ(chain.readable_count, VIRTQ_MAX_SEGMENTS);
}

UNIT_TEST(readable_after_writable)
{
	fresh(false);
	desc(0, DATA, 16, VIRTQ_DESC_F_WRITE | VIRTQ_DESC_F_NEXT, 1);
	desc(1, DATA, 16, 0, 0);
	offer(0);
	check_rejected("readable buffer after a writable");
}

UNIT_TEST(bad_heads_and_indices)
{
	fresh(false);
	offer(QSIZE);
	check_rejected("head beyond");
	fresh(false);
	put16(AVAIL + 2, QSIZE + 1);
	check_rejected("ahead");
	fresh(false);
	desc(0, DATA, 16, VIRTQ_DESC_F_NEXT, QSIZE);
	offer(0);
	check_rejected("beyond the table");
	fresh(true);
	desc_at(TABLE, 0, DATA, 16, VIRTQ_DESC_F_NEXT, 1); /* table of one */
	desc(0, TABLE, 16, VIRTQ_DESC_F_INDIRECT, 0);
	offer(0);
	check_rejected("beyond the table");
	CHECK_EQ(fake_guest_ram_refused, 0);
}

static int count_pieces(void *context, void *host, uint64_t n)
{
	uint64_t *seen = context;
	CHECK((uint8_t *)host >= fake_guest_ram && (uint8_t *)host + n <= fake_guest_ram + RAM_SIZE);
	seen[0]++;
	seen[1] += n;
	seen[2] = (uint64_t)((uint8_t *)host - fake_guest_ram);
	return seen[0] == 100 ? -EIO : 0;
}

UNIT_TEST(for_each_piece)
{
	struct virtq_chain chain;
	uint64_t seen[3] = { 0 };
	fresh(false);
	desc(0, DATA, 16, VIRTQ_DESC_F_NEXT, 1);
	desc(1, (2u << 20) - 100, 200, VIRTQ_DESC_F_NEXT | VIRTQ_DESC_F_WRITE, 2);
	desc(2, DATA + 0x1000, 50, VIRTQ_DESC_F_WRITE, 0);
	offer(0);
	CHECK_EQ(virtq_pop(&q, &chain), 1);
	/* Writable bytes 10..229: the 2 MiB boundary splits the first buffer. */
	CHECK_EQ(virtq_chain_for_each(&q, &chain, true, 10, 220, count_pieces, seen), 0);
	CHECK_EQ(seen[0], 3);
	CHECK_EQ(seen[1], 220);
	CHECK_EQ(seen[2], DATA + 0x1000);
	CHECK_EQ(virtq_chain_for_each(&q, &chain, true, 10, 241, count_pieces, seen), -EINVAL);
	seen[0] = 99;
	CHECK_EQ(virtq_chain_for_each(&q, &chain, false, 0, 16, count_pieces, seen), -EIO);
}

UNIT_MAIN()

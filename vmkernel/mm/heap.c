#include <mm/heap.h>

#include <lib/log.h>
#include <lib/spinlock.h>
#include <lib/string.h>
#include <mm/pmm.h>
#include <mm/vmm.h>

#define HEAP_MIN_SHIFT 5  /* 32 bytes */
#define HEAP_MAX_SHIFT 11 /* 2 KiB */
#define HEAP_CLASSES (HEAP_MAX_SHIFT - HEAP_MIN_SHIFT + 1)
#define HEAP_MAGIC_USED 0x4b48454150555345ul /* "KHEAPUSE" */
#define HEAP_MAGIC_FREE 0x4b48454150465245ul /* "KHEAPFRE" */

/* 16 bytes, so payloads stay 16-byte aligned. */
struct heap_block {
	uint64_t magic;
	uint32_t size_class;  /* shift, or 0 for a page run */
	uint32_t page_count;  /* page runs only */
};

struct heap_free_node {
	struct heap_block header;
	struct heap_free_node *next;
};

static struct heap_free_node *heap_free_lists[HEAP_CLASSES]; /* [m] heap_lock */
static struct heap_stats heap_stats;
static struct spinlock heap_lock = SPINLOCK_INIT;

static int class_for(size_t total)
{
	for (int shift = HEAP_MIN_SHIFT; shift <= HEAP_MAX_SHIFT; shift++)
		if (total <= (1ul << shift))
			return shift;
	return 0;
}

/* Splits one fresh page into blocks of the class. */
static int refill(int shift)
{
	uint64_t phys = pmm_alloc_frame();
	if (!phys)
		return -1;
	heap_stats.pages_from_pmm++;
	char *page = phys_to_virt(phys);
	size_t block = 1ul << shift;
	for (size_t off = 0; off + block <= PMM_FRAME_SIZE; off += block) {
		struct heap_free_node *node = (struct heap_free_node *)(page + off);
		node->header.magic = HEAP_MAGIC_FREE;
		node->header.size_class = (uint32_t)shift;
		node->next = heap_free_lists[shift - HEAP_MIN_SHIFT];
		heap_free_lists[shift - HEAP_MIN_SHIFT] = node;
	}
	return 0;
}

void *kmalloc(size_t size)
{
	size_t total = size + sizeof(struct heap_block);

	if (size == 0 || total < size)
		return NULL;
	int shift = class_for(total);
	if (!shift) {
		uint64_t pages = (total + PMM_FRAME_SIZE - 1) / PMM_FRAME_SIZE;
		uint64_t phys = pmm_alloc_contiguous(pages, PMM_FRAME_SIZE);
		if (!phys)
			return NULL;
		struct heap_block *b = phys_to_virt(phys);
		b->magic = HEAP_MAGIC_USED;
		b->size_class = 0;
		b->page_count = (uint32_t)pages;
		uint64_t flags = spin_lock_irqsave(&heap_lock);
		heap_stats.bytes_in_use += pages * PMM_FRAME_SIZE;
		heap_stats.allocations++;
		spin_unlock_irqrestore(&heap_lock, flags);
		return b + 1;
	}
	uint64_t flags = spin_lock_irqsave(&heap_lock);
	struct heap_free_node **list = &heap_free_lists[shift - HEAP_MIN_SHIFT];
	if (!*list && refill(shift)) {
		spin_unlock_irqrestore(&heap_lock, flags);
		return NULL;
	}
	struct heap_free_node *node = *list;
	*list = node->next;
	node->header.magic = HEAP_MAGIC_USED;
	heap_stats.bytes_in_use += 1ul << shift;
	heap_stats.allocations++;
	spin_unlock_irqrestore(&heap_lock, flags);
	return &node->header + 1;
}

void *kzalloc(size_t size)
{
	void *p = kmalloc(size);
	if (p)
		memset(p, 0, size);
	return p;
}

void kfree(void *ptr)
{
	if (!ptr)
		return;
	struct heap_block *b = (struct heap_block *)ptr - 1;
	if (b->magic != HEAP_MAGIC_USED) {
		log_error("heap: kfree(%p): %s\n", ptr,
			  b->magic == HEAP_MAGIC_FREE ? "double free" : "not a heap block");
		return;
	}
	uint64_t flags = spin_lock_irqsave(&heap_lock);
	heap_stats.allocations--;
	if (!b->size_class) {
		uint64_t pages = b->page_count;
		b->magic = HEAP_MAGIC_FREE;
		heap_stats.bytes_in_use -= pages * PMM_FRAME_SIZE;
		spin_unlock_irqrestore(&heap_lock, flags);
		pmm_free_contiguous(virt_to_phys(b), pages);
		return;
	}
	struct heap_free_node *node = (struct heap_free_node *)b;
	node->header.magic = HEAP_MAGIC_FREE;
	node->next = heap_free_lists[b->size_class - HEAP_MIN_SHIFT];
	heap_free_lists[b->size_class - HEAP_MIN_SHIFT] = node;
	heap_stats.bytes_in_use -= 1ul << b->size_class;
	spin_unlock_irqrestore(&heap_lock, flags);
}

void heap_get_stats(struct heap_stats *out)
{
	uint64_t flags = spin_lock_irqsave(&heap_lock);
	*out = heap_stats;
	spin_unlock_irqrestore(&heap_lock, flags);
}

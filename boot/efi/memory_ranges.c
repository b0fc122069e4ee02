/*
 * Firmware memory maps list many small neighbours (every boot-services
 * allocation is its own descriptor) that become one usable range once boot
 * services are gone, so merging keeps the hand-off list short. The UEFI spec
 * does not promise a sorted map, hence the sorted insert.
 */
#include "memory_ranges.h"

static uint64_t range_end(const struct boot_mem_range *range)
{
	return range->base + range->length;
}

/* Folds ranges[index + 1] into ranges[index] while they touch and match. */
static void absorb_following(struct boot_mem_range *ranges, uint32_t *count, uint32_t index)
{
	while (index + 1 < *count && ranges[index + 1].type == ranges[index].type &&
	       ranges[index + 1].base <= range_end(&ranges[index])) {
		uint64_t end = range_end(&ranges[index + 1]);
		uint32_t i;

		if (end > range_end(&ranges[index]))
			ranges[index].length = end - ranges[index].base;
		for (i = index + 1; i + 1 < *count; i++)
			ranges[i] = ranges[i + 1];
		(*count)--;
	}
}

int loader_memory_ranges_add(struct boot_mem_range *ranges, uint32_t *count, uint32_t capacity,
			     uint64_t base, uint64_t length, uint32_t type)
{
	uint32_t index = *count;
	uint32_t i;

	if (length == 0)
		return 0;
	while (index > 0 && ranges[index - 1].base > base)
		index--;

	if (index > 0 && ranges[index - 1].type == type && range_end(&ranges[index - 1]) >= base) {
		struct boot_mem_range *previous = &ranges[index - 1];

		if (base + length > range_end(previous))
			previous->length = base + length - previous->base;
		absorb_following(ranges, count, index - 1);
		return 0;
	}
	if (index < *count && ranges[index].type == type && base + length >= ranges[index].base) {
		struct boot_mem_range *next = &ranges[index];
		uint64_t end = range_end(next) > base + length ? range_end(next) : base + length;

		next->base = base;
		next->length = end - base;
		absorb_following(ranges, count, index);
		return 0;
	}

	if (*count == capacity)
		return -1;
	for (i = *count; i > index; i--)
		ranges[i] = ranges[i - 1];
	ranges[index].base = base;
	ranges[index].length = length;
	ranges[index].type = type;
	ranges[index].reserved = 0;
	(*count)++;
	return 0;
}

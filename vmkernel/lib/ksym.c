#include <lib/ksym.h>

#include <stddef.h>

/* Emitted by scripts/gensyms.py, sorted by address. */
extern const struct ksym_entry ksym_table[];
extern const uint64_t ksym_count;
extern const char ksym_names[];
extern const char __kernel_text_start[], __kernel_text_end[];

const char *ksym_lookup(uint64_t address, uint64_t *offset)
{
	if (address < (uint64_t)__kernel_text_start || address >= (uint64_t)__kernel_text_end ||
	    ksym_count == 0)
		return NULL;
	uint32_t text_offset = (uint32_t)(address - (uint64_t)__kernel_text_start);
	/* Last entry with entry.text_offset <= text_offset. */
	uint64_t lo = 0, hi = ksym_count;
	while (hi - lo > 1) {
		uint64_t mid = lo + (hi - lo) / 2;
		if (ksym_table[mid].text_offset <= text_offset)
			lo = mid;
		else
			hi = mid;
	}
	if (ksym_table[lo].text_offset > text_offset)
		return NULL;
	*offset = text_offset - ksym_table[lo].text_offset;
	return &ksym_names[ksym_table[lo].name_offset];
}

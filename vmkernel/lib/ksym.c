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
	/* Last entry with entry.address <= address. */
	uint64_t lo = 0, hi = ksym_count;
	while (hi - lo > 1) {
		uint64_t mid = lo + (hi - lo) / 2;
		if (ksym_table[mid].address <= address)
			lo = mid;
		else
			hi = mid;
	}
	if (ksym_table[lo].address > address)
		return NULL;
	*offset = address - ksym_table[lo].address;
	return &ksym_names[ksym_table[lo].name_offset];
}

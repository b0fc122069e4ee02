/*
 * Host tool for test/fuzz/insn-objdump-diff: reads lines "<16|32|64> <hex
 * bytes>" and prints, per line, what vm/insn_decode.c makes of them: "ERR
 * <errno>" or the canonical line of insn_format.h.
 */
#include <stdio.h>

#include <vm/insn_decode.h>

#include "insn_format.h"

int main(void)
{
	char line[256];

	while (fgets(line, sizeof(line), stdin)) {
		uint8_t bytes[64];
		size_t count = 0;
		int mode_bits = 0, consumed = 0, step = 0;
		unsigned byte;
		struct insn insn;
		char text[256];

		if (sscanf(line, "%d%n", &mode_bits, &consumed) != 1)
			continue;
		const char *cursor = line + consumed;
		while (count < sizeof(bytes) && sscanf(cursor, "%2x%n", &byte, &step) == 1) {
			bytes[count++] = (uint8_t)byte;
			cursor += step;
		}
		enum insn_mode mode = mode_bits == 16 ? INSN_MODE_16
				    : mode_bits == 32 ? INSN_MODE_32 : INSN_MODE_64;
		int err = insn_decode(bytes, count, mode, &insn);
		if (err)
			printf("ERR %d\n", err);
		else
			printf("%s\n", insn_format(&insn, text, sizeof(text)));
	}
	return 0;
}

#!/usr/bin/env python3
"""Turns `nm -n vmkernel` output into an assembly symbol table (ksym_table,
ksym_count, ksym_names) for the exception handler's stack traces: the
functions of .text, each as its 32-bit offset from __kernel_text_start and
the offset of its name (8 bytes an entry; .text is far below 4 GiB).
With --empty, emits an empty table for the first link pass."""
import sys


def emit(symbols):
    out = ['\t.section .kapsel_symbols, "a"', "\t.balign 8", "\t.globl ksym_table, ksym_count, ksym_names"]
    out.append("ksym_count:\n\t.quad %d" % len(symbols))
    out.append("ksym_table:")
    offset = 0
    for text_offset, name in symbols:
        out.append("\t.long 0x%x, %d" % (text_offset, offset))
        offset += len(name) + 1
    out.append("ksym_names:")
    for _, name in symbols:
        out.append('\t.asciz "%s"' % name)
    out.append('\t.section .note.GNU-stack, "", @progbits')
    return "\n".join(out) + "\n"


def main():
    if "--empty" in sys.argv:
        sys.stdout.write(emit([]))
        return
    functions = []
    text_start = text_end = None
    for line in sys.stdin:
        parts = line.split()
        if len(parts) != 3:
            continue
        if parts[2] == "__kernel_text_start":
            text_start = int(parts[0], 16)
        elif parts[2] == "__kernel_text_end":
            text_end = int(parts[0], 16)
        if parts[1] in "tT":
            functions.append((int(parts[0], 16), parts[2]))
    if text_start is None or text_end is None or text_end - text_start >= 1 << 32:
        sys.exit("gensyms: no __kernel_text_start/__kernel_text_end, or .text is 4 GiB or more")
    # Only .text is looked up (ksym_lookup); the low .boot code is left out.
    symbols = sorted((address - text_start, name) for address, name in functions
             if text_start <= address < text_end)
    sys.stdout.write(emit(symbols))


if __name__ == "__main__":
    main()

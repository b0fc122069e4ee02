#!/usr/bin/env python3
"""Turns `nm -n vmkernel` output into an assembly symbol table (ksym_table,
ksym_count, ksym_names) for the exception handler's stack traces.
With --empty, emits an empty table for the first link pass."""
import sys


def emit(symbols):
    out = ['\t.section .kapsel_symbols, "a"', "\t.balign 8", "\t.globl ksym_table, ksym_count, ksym_names"]
    out.append("ksym_count:\n\t.quad %d" % len(symbols))
    out.append("ksym_table:")
    offset = 0
    for address, name in symbols:
        out.append("\t.quad 0x%x\n\t.long %d, 0" % (address, offset))
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
    symbols = []
    for line in sys.stdin:
        parts = line.split()
        if len(parts) != 3 or parts[1] not in "tT":
            continue
        symbols.append((int(parts[0], 16), parts[2]))
    symbols.sort()
    sys.stdout.write(emit(symbols))


if __name__ == "__main__":
    main()

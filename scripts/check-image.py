#!/usr/bin/env python3
"""Checks a linked vmkernel.elf the way its loaders will see it:
- every PT_LOAD has file offset - physical address constant, so the
  multiboot1 a.out-kludge loader (qemu -kernel) may copy the file as one
  block;
- the multiboot1 and multiboot2 headers sit where loaders look for them;
- the loaded image stays below the size budget."""
import struct
import sys

MB1_MAGIC = 0x1BADB002
MB2_MAGIC = 0xE85250D6
IMAGE_BUDGET = 4 << 20  # hard limit; the 512 KiB target is reported by make bench


def fail(message):
    sys.stderr.write("check-image: %s: %s\n" % (sys.argv[1], message))
    sys.exit(1)


def main():
    data = open(sys.argv[1], "rb").read()
    if data[:4] != b"\x7fELF" or data[4] != 2:
        fail("not an ELF64 file")
    phoff, = struct.unpack_from("<Q", data, 0x20)
    phentsize, phnum = struct.unpack_from("<HH", data, 0x36)
    loads = []
    for i in range(phnum):
        p_type, _, p_offset, _, p_paddr, p_filesz, p_memsz, _ = struct.unpack_from(
            "<IIQQQQQQ", data, phoff + i * phentsize)
        if p_type == 1 and p_memsz:
            loads.append((p_offset, p_paddr, p_filesz, p_memsz))
    if not loads:
        fail("no PT_LOAD segments")
    deltas = {off - paddr for off, paddr, filesz, _ in loads if filesz}
    if len(deltas) != 1:
        fail("PT_LOAD file offsets are not contiguous with physical addresses: %s" % loads)
    mb1 = data.find(struct.pack("<I", MB1_MAGIC), 0, 8192)
    if mb1 < 0 or mb1 % 4:
        fail("no multiboot1 header in the first 8 KiB")
    mb2 = data.find(struct.pack("<I", MB2_MAGIC), 0, 32768)
    if mb2 < 0 or mb2 % 8:
        fail("no 8-byte aligned multiboot2 header in the first 32 KiB")
    start = min(p for _, p, _, _ in loads)
    end = max(p + m for _, p, _, m in loads)
    if end - start > IMAGE_BUDGET:
        fail("loaded image is %d KiB, over the %d KiB limit" % ((end - start) >> 10, IMAGE_BUDGET >> 10))


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Extracts the uncompressed vmlinux ELF from a bzImage.

  extract-vmlinux.py BZIMAGE OUT

A bzImage is the real-mode setup, then the protected-mode part: a small
decompressor followed by the kernel compressed with one of the kernel's
methods (Debian: xz). The payload's offset is in the setup header
(payload_offset at 0x248, counted from the protected-mode part, which
starts after (setup_sects + 1) * 512 bytes); when that is missing, the
first compressed stream that decompresses to an ELF file is taken.
"""
import gzip
import lzma
import struct
import sys
import zlib

MAGICS = [
    (b"\xfd7zXZ\x00", "xz"),
    (b"\x1f\x8b\x08", "gzip"),
]


def decompress(data, method):
    if method == "xz":
        d = lzma.LZMADecompressor(format=lzma.FORMAT_XZ)
        # The decompressor's own checks (CRC) pass or it raises.
        return d.decompress(data)
    d = zlib.decompressobj(16 + zlib.MAX_WBITS)
    return d.decompress(data)


def candidates(image):
    if len(image) >= 0x250 and image[0x202:0x206] == b"HdrS":
        setup_sects = image[0x1F1] or 4
        payload_offset, payload_length = struct.unpack_from("<II", image, 0x248)
        start = (setup_sects + 1) * 512 + payload_offset
        if payload_length and start + payload_length <= len(image):
            yield start
    for magic, _ in MAGICS:
        at = image.find(magic)
        while at >= 0:
            yield at
            at = image.find(magic, at + 1)


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    image = open(sys.argv[1], "rb").read()
    for at in candidates(image):
        for magic, method in MAGICS:
            if not image.startswith(magic, at):
                continue
            try:
                out = decompress(image[at:], method)
            except (lzma.LZMAError, zlib.error, EOFError, gzip.BadGzipFile):
                continue
            if out[:4] == b"\x7fELF":
                with open(sys.argv[2], "wb") as f:
                    f.write(out)
                return
    sys.exit("extract-vmlinux.py: no compressed ELF kernel found in %s" % sys.argv[1])


if __name__ == "__main__":
    main()

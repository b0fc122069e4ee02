#!/usr/bin/env python3
"""Writes a raw disk image with a GPT (protective MBR, primary and backup
header and entry array, UEFI 2.x chapter 5) holding one partition, and a
text at the start of that partition.

mkgpt.py IMAGE SIZE_MIB TYPE_GUID NAME TEXT [--corrupt-header] [--sector-size N]
The partition starts at 1 MiB.
"""
import argparse
import struct
import sys
import uuid
import zlib

ENTRIES = 128
ENTRY_SIZE = 128


def header(SECTOR, my_lba, alt_lba, first, last, disk_guid, array_lba, array_crc):
    fields = struct.pack("<8sIIIIQQQQ16sQIII", b"EFI PART", 0x10000, 92, 0, 0, my_lba, alt_lba,
                         first, last, disk_guid.bytes_le, array_lba, ENTRIES, ENTRY_SIZE, array_crc)
    crc = zlib.crc32(fields) & 0xffffffff
    fields = fields[:16] + struct.pack("<I", crc) + fields[20:]
    return fields.ljust(SECTOR, b"\0")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("image")
    parser.add_argument("size_mib", type=int)
    parser.add_argument("type_guid")
    parser.add_argument("name")
    parser.add_argument("text")
    parser.add_argument("--corrupt-header", action="store_true")
    parser.add_argument("--sector-size", type=int, default=512, choices=(512, 4096))
    args = parser.parse_args()
    SECTOR = args.sector_size

    sectors = args.size_mib * 1024 * 1024 // SECTOR
    array_sectors = (ENTRIES * ENTRY_SIZE + SECTOR - 1) // SECTOR
    first_usable = 2 + array_sectors
    last_usable = sectors - 2 - array_sectors
    part_first, part_last = 1024 * 1024 // SECTOR, last_usable
    if part_last <= part_first:
        sys.exit("mkgpt: image too small")

    name = args.name.encode("utf-16-le")[:72]
    entry = struct.pack("<16s16sQQQ72s", uuid.UUID(args.type_guid).bytes_le, uuid.uuid4().bytes_le,
                        part_first, part_last, 0, name)
    array = entry + b"\0" * (ENTRIES * ENTRY_SIZE - len(entry))
    array_padded = array.ljust(array_sectors * SECTOR, b"\0")
    array_crc = zlib.crc32(array) & 0xffffffff
    disk_guid = uuid.uuid4()

    mbr = bytearray(SECTOR)
    mbr[446:462] = struct.pack("<BBBBBBBBII", 0, 0, 2, 0, 0xEE, 0xff, 0xff, 0xff, 1,
                               min(sectors - 1, 0xffffffff))
    mbr[510:512] = b"\x55\xaa"
    primary = bytearray(header(SECTOR, 1, sectors - 1, first_usable, last_usable, disk_guid, 2, array_crc))
    backup = header(SECTOR, sectors - 1, 1, first_usable, last_usable, disk_guid, last_usable + 1, array_crc)
    if args.corrupt_header:
        primary[40] ^= 0x01  # first usable LBA changes, the CRC no longer matches

    with open(args.image, "wb") as f:
        f.truncate(sectors * SECTOR)
        f.write(mbr)
        f.write(primary)
        f.write(array_padded)
        f.seek(part_first * SECTOR)
        f.write(args.text.encode().ljust(SECTOR, b"\0"))
        f.seek((last_usable + 1) * SECTOR)
        f.write(array_padded)
        f.write(backup)


if __name__ == "__main__":
    main()

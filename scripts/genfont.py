#!/usr/bin/env python3
"""Converts a Linux console font (PSF1 or PSF2, optionally gzipped) into the
vmkernel's status-screen font: 256 glyphs of 8x16 pixels, one byte per row
(bit 7 = leftmost pixel), in code page 437 order.

Why CP437 order: VGA text mode draws bytes through the card's own CP437
font, so the status screen lays out CP437 bytes (box drawing included) and
the framebuffer renderer must draw the same byte as the same picture.

PSF1: 4-byte header (magic 36 04, mode, glyph height); mode bit 0 = 512
glyphs, bit 1 or 2 = a Unicode table follows the glyphs: per glyph, UCS-2
little-endian code points, 0xFFFE before multi-code-point sequences, 0xFFFF
ending the glyph's entry.
PSF2: 32-byte header (magic 72 b5 4a 86, version, header size, flags,
glyph count, bytes per glyph, height, width); flags bit 0 = a Unicode table
follows: per glyph, UTF-8 code points, 0xFE before sequences, 0xFF ending.
Without a table the first 256 glyphs are taken as CP437 already.

usage: genfont.py FONT.psf[.gz] > font.S     (the assembly for the vmkernel)
       genfont.py --check FONT.psf[.gz]      (report coverage, write nothing)
       genfont.py --self-test                (the parser against made-up fonts)
"""
import gzip
import struct
import sys
import unittest

GLYPH_WIDTH = 8
GLYPH_HEIGHT = 16
GLYPH_COUNT = 256
SYMBOL = "screen_font_glyphs"

PSF1_MAGIC = b"\x36\x04"
PSF1_MODE512 = 0x01
PSF1_MODEHASTAB = 0x02
PSF1_MODESEQ = 0x04
PSF1_SEPARATOR = 0xFFFF
PSF1_STARTSEQ = 0xFFFE

PSF2_MAGIC = b"\x72\xb5\x4a\x86"
PSF2_HAS_UNICODE_TABLE = 0x01
PSF2_SEPARATOR = 0xFF
PSF2_STARTSEQ = 0xFE

# CP437 0x00-0x1F and 0x7F are pictures on a VGA screen, not controls, but
# Python's cp437 codec maps them to controls; 0x00 is drawn blank.
CP437_LOW = (
    "\u0020\u263a\u263b\u2665\u2666\u2663\u2660\u2022"
    "\u25d8\u25cb\u25d9\u2642\u2640\u266a\u266b\u263c"
    "\u25ba\u25c4\u2195\u203c\u00b6\u00a7\u25ac\u21a8"
    "\u2191\u2193\u2192\u2190\u221f\u2194\u25b2\u25bc"
)
CP437_DEL = "\u2302"
# Drawn instead of a code point the font lacks, best first.
FALLBACKS = ("\ufffd", "?")


class FontError(Exception):
    pass


def cp437_to_unicode(code):
    if code < 0x20:
        return CP437_LOW[code]
    if code == 0x7F:
        return CP437_DEL
    return bytes([code]).decode("cp437")


def parse_psf1_table(data, offset, glyph_count):
    table = {}
    for glyph in range(glyph_count):
        in_sequence = False
        while True:
            if offset + 2 > len(data):
                raise FontError("PSF1 Unicode table ends early (glyph %d)" % glyph)
            value, = struct.unpack_from("<H", data, offset)
            offset += 2
            if value == PSF1_SEPARATOR:
                break
            if value == PSF1_STARTSEQ:
                in_sequence = True  # sequences (combining forms) are not used
            elif not in_sequence:
                table.setdefault(chr(value), glyph)
    return table


def parse_psf2_table(data, offset, glyph_count):
    table = {}
    for glyph in range(glyph_count):
        end = data.find(bytes([PSF2_SEPARATOR]), offset)
        if end < 0:
            raise FontError("PSF2 Unicode table ends early (glyph %d)" % glyph)
        entry = data[offset:end]
        offset = end + 1
        single = entry.split(bytes([PSF2_STARTSEQ]), 1)[0]
        try:
            for char in single.decode("utf-8"):
                table.setdefault(char, glyph)
        except UnicodeDecodeError as error:
            raise FontError("PSF2 Unicode table: bad UTF-8 at glyph %d: %s" % (glyph, error))
    return table


def parse_psf(data):
    """Returns (glyphs, unicode_table or None); glyphs are bytes objects of
    GLYPH_HEIGHT rows."""
    if data[:2] == PSF1_MAGIC:
        if len(data) < 4:
            raise FontError("truncated PSF1 header")
        mode, height = data[2], data[3]
        width, bytes_per_glyph, header_size = GLYPH_WIDTH, height, 4
        glyph_count = 512 if mode & PSF1_MODE512 else 256
        has_table = bool(mode & (PSF1_MODEHASTAB | PSF1_MODESEQ))
        parse_table = parse_psf1_table
    elif data[:4] == PSF2_MAGIC:
        if len(data) < 32:
            raise FontError("truncated PSF2 header")
        (_, _, header_size, flags, glyph_count, bytes_per_glyph, height,
         width) = struct.unpack_from("<4sIIIIIII", data, 0)
        has_table = bool(flags & PSF2_HAS_UNICODE_TABLE)
        parse_table = parse_psf2_table
        if bytes_per_glyph != height * ((width + 7) // 8):
            raise FontError("PSF2 glyph size %d does not match %dx%d" % (bytes_per_glyph, width, height))
    else:
        raise FontError("not a PSF1 or PSF2 font")
    if (width, height) != (GLYPH_WIDTH, GLYPH_HEIGHT):
        raise FontError("glyphs are %dx%d, the screen needs %dx%d" % (width, height, GLYPH_WIDTH, GLYPH_HEIGHT))
    if glyph_count < GLYPH_COUNT and not has_table:
        raise FontError("only %d glyphs and no Unicode table" % glyph_count)
    glyphs_end = header_size + glyph_count * bytes_per_glyph
    if len(data) < glyphs_end:
        raise FontError("glyph data ends early (%d of %d bytes)" % (len(data), glyphs_end))
    glyphs = [data[header_size + i * bytes_per_glyph:header_size + (i + 1) * bytes_per_glyph]
              for i in range(glyph_count)]
    table = parse_table(data, glyphs_end, glyph_count) if has_table else None
    return glyphs, table


def cp437_glyphs(glyphs, table):
    """Returns (256 glyphs in CP437 order, list of CP437 codes drawn with a
    fallback glyph)."""
    if table is None:
        return glyphs[:GLYPH_COUNT], []
    fallback = next((table[c] for c in FALLBACKS if c in table), None)
    if fallback is None:
        raise FontError("the font has no glyph for U+FFFD or '?'")
    blank = bytes(GLYPH_HEIGHT)
    ordered, missing = [], []
    for code in range(GLYPH_COUNT):
        char = cp437_to_unicode(code)
        if code == 0:
            ordered.append(blank)
        elif char in table:
            ordered.append(glyphs[table[char]])
        else:
            if 0x20 <= code < 0x7F:
                raise FontError("the font has no glyph for ASCII %r" % char)
            ordered.append(glyphs[fallback])
            missing.append(code)
    return ordered, missing


def load(path):
    with open(path, "rb") as f:
        data = f.read()
    if data[:2] == b"\x1f\x8b":
        data = gzip.decompress(data)
    return parse_psf(data)


def describe(code):
    char = cp437_to_unicode(code)
    return "0x%02x U+%04X" % (code, ord(char))


def assembly(path, ordered, missing):
    lines = [
        "/* Generated by scripts/genfont.py from %s: do not edit." % path,
        " * 256 glyphs of 8x16 pixels in CP437 order, bit 7 = leftmost pixel.",
    ]
    if missing:
        lines.append(" * Drawn as the fallback glyph: %s." % ", ".join("0x%02x" % c for c in missing))
    lines += [
        " */",
        '\t.section .rodata.%s, "a"' % SYMBOL,
        "\t.globl %s" % SYMBOL,
        "\t.type %s, @object" % SYMBOL,
        "\t.size %s, %d" % (SYMBOL, GLYPH_COUNT * GLYPH_HEIGHT),
        "%s:" % SYMBOL,
    ]
    for code, glyph in enumerate(ordered):
        rows = ", ".join("0x%02x" % b for b in glyph)
        lines.append("\t.byte %s /* %s */" % (rows, describe(code)))
    lines.append('\t.section .note.GNU-stack, "", @progbits')
    return "\n".join(lines) + "\n"


def made_up_glyph(n):
    return bytes((n + row) & 0xFF for row in range(GLYPH_HEIGHT))


def made_up_psf1(glyph_count=256, table=None, height=GLYPH_HEIGHT):
    """A PSF1 font whose glyph i is made_up_glyph(i); table maps glyph ->
    list of code points (or lists, for sequences)."""
    mode = (PSF1_MODE512 if glyph_count == 512 else 0) | (PSF1_MODEHASTAB if table is not None else 0)
    data = PSF1_MAGIC + bytes([mode, height])
    data += b"".join(made_up_glyph(i)[:height] for i in range(glyph_count))
    if table is not None:
        for glyph in range(glyph_count):
            for entry in table.get(glyph, []):
                if isinstance(entry, list):
                    data += struct.pack("<H", PSF1_STARTSEQ)
                    data += b"".join(struct.pack("<H", c) for c in entry)
                else:
                    data += struct.pack("<H", entry)
            data += struct.pack("<H", PSF1_SEPARATOR)
    return data


def made_up_psf2(glyph_count, table):
    header = struct.pack("<4sIIIIIII", PSF2_MAGIC, 0, 32, PSF2_HAS_UNICODE_TABLE, glyph_count,
                         GLYPH_HEIGHT, GLYPH_HEIGHT, GLYPH_WIDTH)
    data = header + b"".join(made_up_glyph(i) for i in range(glyph_count))
    for glyph in range(glyph_count):
        for entry in table.get(glyph, []):
            if isinstance(entry, list):
                data += bytes([PSF2_STARTSEQ]) + "".join(map(chr, entry)).encode("utf-8")
            else:
                data += chr(entry).encode("utf-8")
        data += bytes([PSF2_SEPARATOR])
    return data


class GenfontSelfTest(unittest.TestCase):
    # A font in Unicode order for printable ASCII and two box-drawing
    # characters, with the glyphs shuffled: glyph i holds code point
    # ASCII[(i * 7) % 95].
    ASCII = list(range(0x20, 0x7F))

    def shuffled_table(self):
        table = {i: [self.ASCII[(i * 7) % 95]] for i in range(95)}
        table[95] = [0x2500, [0x2500, 0x0301]]  # horizontal line, and a sequence
        table[96] = [0xFFFD]
        return table

    def glyph_for(self, code_point, table):
        return next(made_up_glyph(g) for g, cps in table.items() if code_point in cps)

    def test_psf1_without_table_is_taken_as_cp437(self):
        ordered, missing = cp437_glyphs(*parse_psf(made_up_psf1()))
        self.assertEqual(len(ordered), 256)
        self.assertEqual(ordered[0x41], made_up_glyph(0x41))
        self.assertEqual(missing, [])

    def test_psf1_table_reorders_into_cp437(self):
        table = self.shuffled_table()
        ordered, missing = cp437_glyphs(*parse_psf(made_up_psf1(256, table)))
        self.assertEqual(ordered[ord("A")], self.glyph_for(ord("A"), table))
        self.assertEqual(ordered[ord("~")], self.glyph_for(ord("~"), table))
        self.assertEqual(ordered[0xC4], made_up_glyph(95))  # CP437 0xC4 is U+2500
        self.assertEqual(ordered[0], bytes(GLYPH_HEIGHT))   # NUL is blank
        self.assertEqual(ordered[0xB3], made_up_glyph(96))  # U+2502 absent: U+FFFD
        self.assertIn(0xB3, missing)
        self.assertNotIn(0xC4, missing)

    def test_psf1_with_512_glyphs(self):
        table = {300: [ord("A")], **{i: [c] for i, c in enumerate(self.ASCII) if c != ord("A")}}
        table[301] = [ord("?")]
        ordered, _ = cp437_glyphs(*parse_psf(made_up_psf1(512, table)))
        self.assertEqual(ordered[ord("A")], made_up_glyph(300))

    def test_psf2_utf8_table(self):
        table = self.shuffled_table()
        ordered, _ = cp437_glyphs(*parse_psf(made_up_psf2(97, table)))
        self.assertEqual(ordered[ord("z")], self.glyph_for(ord("z"), table))
        self.assertEqual(ordered[0xC4], made_up_glyph(95))

    def test_refused_fonts(self):
        with self.assertRaisesRegex(FontError, "8x8"):
            parse_psf(made_up_psf1(height=8))
        with self.assertRaisesRegex(FontError, "ends early"):
            parse_psf(made_up_psf1()[:1000])
        with self.assertRaisesRegex(FontError, "not a PSF"):
            parse_psf(b"\0" * 64)
        table = self.shuffled_table()
        del table[0]
        table[0] = [0x263A]  # lose ASCII[0] (space)
        with self.assertRaisesRegex(FontError, "ASCII"):
            cp437_glyphs(*parse_psf(made_up_psf1(256, table)))

    def test_assembly_has_every_glyph(self):
        ordered, missing = cp437_glyphs(*parse_psf(made_up_psf1()))
        text = assembly("made-up.psf", ordered, missing)
        self.assertIn("\t.globl %s\n" % SYMBOL, text)
        self.assertIn("\t.size %s, 4096\n" % SYMBOL, text)
        rows = [line for line in text.splitlines() if line.startswith("\t.byte ")]
        self.assertEqual(len(rows), 256)
        self.assertTrue(all(line.count("0x") == GLYPH_HEIGHT + 1 for line in rows))


def main(argv):
    if argv[1:] == ["--self-test"]:
        suite = unittest.defaultTestLoader.loadTestsFromTestCase(GenfontSelfTest)
        result = unittest.TextTestRunner(verbosity=0).run(suite)
        return 0 if result.wasSuccessful() else 1
    check_only = len(argv) == 3 and argv[1] == "--check"
    if len(argv) != 2 and not check_only:
        sys.stderr.write(__doc__.split("\n\n")[-1])
        return 2
    path = argv[-1]
    try:
        ordered, missing = cp437_glyphs(*load(path))
    except (OSError, FontError) as error:
        sys.stderr.write("genfont: %s: %s\n" % (path, error))
        return 1
    if check_only:
        print("%s: %d of 256 CP437 glyphs, fallback for: %s" % (
            path, GLYPH_COUNT - len(missing), ", ".join(describe(c) for c in missing) or "none"))
    else:
        sys.stdout.write(assembly(path, ordered, missing))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))

/*
 * The status screen's font: 256 glyphs of 8x16 pixels in code page 437
 * order (the order VGA text mode draws bytes in), one byte per pixel row,
 * bit 7 = leftmost pixel. Generated at build time by scripts/genfont.py from
 * a Debian console font (see vmkernel/core/font.mk).
 */
#ifndef KAPSEL_CORE_FONT_H
#define KAPSEL_CORE_FONT_H

#include <stdint.h>

#define SCREEN_FONT_WIDTH 8
#define SCREEN_FONT_HEIGHT 16
#define SCREEN_FONT_GLYPHS 256

/* Weak so the vmkernel still links where the build does not generate the
 * font: the address is then NULL and only VGA text mode is available. */
extern const uint8_t screen_font_glyphs[SCREEN_FONT_GLYPHS][SCREEN_FONT_HEIGHT]
	__attribute__((weak));

#endif

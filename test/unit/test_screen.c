/*
 * The status screen (vmkernel/core/screen.c): where the status text lands
 * in the character grid, truncation, the log area (order, scrolling,
 * wrapping, alerts, unfinished lines), the choice of screen, and the pixels
 * the framebuffer renderer writes in 16, 24 and 32 bits per pixel.
 *
 * screen.c is included, not linked: the tests read its grid and state
 * directly, and its VGA register writes (port I/O, which faults in user
 * space) land in the recorder below, defined under <arch/x86/io.h>'s
 * include guard before screen.c asks for that header. Device memory is a
 * heap buffer of exactly the mapped size, so AddressSanitizer reports any
 * write past the screen.
 */
#include "unit.h"

/* unit.h's UNIT_TEST(name) also rewrites the `.name` member it assigns; the
 * same registration with a non-colliding parameter, as test_acpi.c does. */
#undef UNIT_TEST
#define UNIT_TEST(test_name)                                                   \
	static void unit_test_##test_name(void);                                 \
	__attribute__((constructor)) static void unit_register_##test_name(void) \
	{                                                                        \
		unit_tests[unit_test_count].name = #test_name;                   \
		unit_tests[unit_test_count++].run = unit_test_##test_name;       \
	}                                                                        \
	static void unit_test_##test_name(void)

#include <stdint.h>

#include "host_support.h"

/* ---- port I/O recorder, in place of <arch/x86/io.h> ---- */

#define KAPSEL_ARCH_X86_IO_H
static unsigned port_writes;
static uint8_t last_attribute_mode; /* what was written to the mode control register */

static inline void outb(uint16_t port, uint8_t value)
{
	static uint16_t attribute_index;
	static int attribute_flip;

	port_writes++;
	if (port == 0x3c0) {
		if (!attribute_flip)
			attribute_index = value & 0x1f;
		else if (attribute_index == 0x10)
			last_attribute_mode = value;
		attribute_flip ^= 1;
	}
}

static inline uint8_t inb(uint16_t port)
{
	return port == 0x3c1 ? 0x0c : 0; /* mode control: blink and line graphics on */
}

#include "../../vmkernel/core/screen.c"

/* ---- stand-ins for the layers below ---- */

/* Glyphs for the pixel checks: 'X' is solid, '|' is its leftmost column,
 * everything else is blank. */
const uint8_t screen_font_glyphs[SCREEN_FONT_GLYPHS][SCREEN_FONT_HEIGHT] = {
	['X'] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
		  0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff },
	['|'] = { 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80,
		  0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80 },
};

void *kmalloc(size_t size)
{
	return malloc(size);
}

void *kzalloc(size_t size)
{
	return calloc(1, size);
}

void kfree(void *ptr)
{
	free(ptr);
}

static struct {
	uint64_t phys, size;
	uint32_t prot;
	void *memory;
	unsigned count;
} mapping;

void *vmm_map_mmio(uint64_t phys, uint64_t size, uint32_t prot)
{
	mapping.phys = phys;
	mapping.size = size;
	mapping.prot = prot;
	mapping.count++;
	free(mapping.memory);
	mapping.memory = malloc(size);
	memset(mapping.memory, 0x5a, size); /* not what the screen writes */
	return mapping.memory;
}

static log_sink_fn installed_sink;
static int sink_slots_full;

int log_add_sink(log_sink_fn sink)
{
	if (sink_slots_full)
		return -1;
	installed_sink = sink;
	return 0;
}

static const char *ring_text = "";

size_t log_ring_read(char *out, size_t size)
{
	size_t length = strlen(ring_text);
	size_t n = length < size - 1 ? length : size - 1;

	memcpy(out, ring_text + length - n, n); /* the newest bytes, as log.c does */
	out[n] = '\0';
	return n;
}

/* ---- helpers ---- */

static void reset(void)
{
	free(screen.grid.cells);
	free(screen.fb.drawn);
	free(mapping.memory);
	memset(&screen, 0, sizeof(screen));
	memset(&mapping, 0, sizeof(mapping));
	installed_sink = NULL;
	sink_slots_full = 0;
	ring_text = "";
	port_writes = 0;
	last_attribute_mode = 0;
	host_log_reset();
}

static const struct boot_framebuffer no_framebuffer = { .type = BOOT_FB_NONE };

static int init_vga(void)
{
	reset();
	return screen_init(&no_framebuffer, BOOT_MODE_BIOS);
}

/* The characters of one grid row, trailing blanks dropped. */
static const char *row_text(uint32_t row)
{
	static char text[1024];
	uint32_t n = 0;

	for (uint32_t c = 0; c < screen.grid.cols && c < sizeof(text) - 1; c++)
		text[n++] = (char)CELL_CODE(screen.grid.cells[row * screen.grid.cols + c]);
	while (n && text[n - 1] == ' ')
		n--;
	text[n] = '\0';
	return text;
}

static uint8_t attr_at(uint32_t row, uint32_t col)
{
	return CELL_ATTR_OF(screen.grid.cells[row * screen.grid.cols + col]);
}

static void log_text(const char *text)
{
	installed_sink(text, strlen(text));
}

static const struct screen_status typical_status = {
	.version = "0.1.0",
	.cpu_brand = "QEMU TCG CPU version 2.5+",
	.cpus = 4,
	.mem_mib = 16384,
	.virt = "AMD-V with NPT",
	.boot_mode = "BIOS",
};

/* Row of the log area's first line. */
#define LOG_ROW(i) (screen.layout.log_first_row + (i))
#define VALUE_COL (SCREEN_MARGIN + STATUS_LABEL_WIDTH)

/* ---- choice of screen ---- */

UNIT_TEST(bios_without_framebuffer_uses_vga_text_at_b8000)
{
	CHECK_EQ(init_vga(), 0);
	CHECK_EQ(screen.kind, SCREEN_VGA_TEXT);
	CHECK_EQ(mapping.phys, 0xb8000);
	CHECK_EQ(mapping.size, 80 * 25 * 2);
	CHECK_EQ(mapping.prot, PT_READ | PT_WRITE | PT_UNCACHED);
	CHECK_EQ(screen.grid.cols, 80);
	CHECK_EQ(screen.grid.rows, 25);
	CHECK(installed_sink == screen_log_sink);
	/* Blink off (bright backgrounds), the rest of the mode register kept. */
	CHECK_EQ(last_attribute_mode, 0x04);
	/* The device shows the grid. */
	CHECK(!memcmp(mapping.memory, screen.grid.cells, 80 * 25 * 2));
	CHECK(host_log_contains("screen: VGA text 80x25"));
	reset();
}

UNIT_TEST(uefi_without_framebuffer_has_no_screen)
{
	reset();
	CHECK_EQ(screen_init(&no_framebuffer, BOOT_MODE_UEFI), -ENODEV);
	CHECK_EQ(mapping.count, 0);
	CHECK(installed_sink == NULL);
	screen_show_status(&typical_status); /* a no-op, not a crash */
	reset();
}

UNIT_TEST(ega_text_framebuffer_is_used_where_grub_says)
{
	struct boot_framebuffer fb = {
		.type = BOOT_FB_EGA_TEXT, .phys_addr = 0xb8000, .width = 80, .height = 50, .pitch = 160,
	};

	reset();
	CHECK_EQ(screen_init(&fb, BOOT_MODE_BIOS), 0);
	CHECK_EQ(screen.kind, SCREEN_VGA_TEXT);
	CHECK_EQ(mapping.size, 160 * 50);
	CHECK_EQ(screen.grid.rows, 50);
	CHECK_EQ(screen.layout.footer_row, 49);
	reset();

	fb.width = 20; /* too narrow for the layout */
	CHECK_EQ(screen_init(&fb, BOOT_MODE_BIOS), -ENODEV);
	fb.width = 80;
	fb.pitch = 100; /* rows would overlap */
	CHECK_EQ(screen_init(&fb, BOOT_MODE_BIOS), -ENODEV);
	CHECK(screen.kind == SCREEN_NONE);
	reset();
}

/* ---- status panel ---- */

UNIT_TEST(status_fields_land_on_their_rows)
{
	CHECK_EQ(init_vga(), 0);
	screen_show_status(&typical_status);
	CHECK_STR(row_text(0), "");
	CHECK_STR(row_text(STATUS_ROW_TITLE), "  Kapsel 0.1.0");
	CHECK_STR(row_text(STATUS_ROW_TAGLINE), "  Bare-metal hypervisor");
	CHECK_STR(row_text(STATUS_ROW_CPU), "  CPU             QEMU TCG CPU version 2.5+");
	CHECK_STR(row_text(STATUS_ROW_CPUS), "  CPUs            4");
	CHECK_STR(row_text(STATUS_ROW_MEMORY), "  Memory          16.0 GiB");
	CHECK_STR(row_text(STATUS_ROW_VIRT), "  Virtualization  AMD-V with NPT");
	CHECK_STR(row_text(STATUS_ROW_BOOT), "  Boot            BIOS");
	CHECK_EQ(attr_at(STATUS_ROW_CPU, 2), LABEL_ATTR);
	CHECK_EQ(attr_at(STATUS_ROW_CPU, VALUE_COL), PANEL_ATTR);
	CHECK_EQ(attr_at(0, 79), PANEL_ATTR);
	CHECK_EQ(screen.layout.panel_rows, 10);
	CHECK_EQ(attr_at(9, 0), PANEL_ATTR);
	CHECK_EQ(attr_at(10, 0), LOG_ATTR);
	CHECK(strstr(row_text(10), "Recent log messages") != NULL);
	CHECK_STR(row_text(24), "  Status only: this console takes no input yet");
	CHECK_EQ(attr_at(24, 0), FOOTER_ATTR);
	/* The device got the panel too. */
	CHECK(!memcmp(mapping.memory, screen.grid.cells, 80 * 25 * 2));
	reset();
}

UNIT_TEST(long_values_are_truncated_inside_the_panel)
{
	char brand[300];
	struct screen_status status = typical_status;

	memset(brand, 'B', sizeof(brand) - 1);
	brand[sizeof(brand) - 1] = '\0';
	status.cpu_brand = brand;
	status.virt = "Intel VT-x with EPT, unrestricted guest, VPID, posted interrupts, APICv";
	CHECK_EQ(init_vga(), 0);
	screen_show_status(&status);
	const char *row = row_text(STATUS_ROW_CPU);
	CHECK_EQ(strlen(row), 80 - SCREEN_MARGIN);
	CHECK(!strcmp(row + 80 - SCREEN_MARGIN - 3, "..."));
	CHECK_EQ(row[80 - SCREEN_MARGIN - 4], 'B');
	/* The right margin stays panel background; the next row is untouched. */
	CHECK_EQ(CELL_CODE(screen.grid.cells[STATUS_ROW_CPU * 80 + 78]), ' ');
	CHECK_EQ(attr_at(STATUS_ROW_CPU, 79), PANEL_ATTR);
	CHECK_STR(row_text(STATUS_ROW_CPUS), "  CPUs            4");
	CHECK_STR(row_text(STATUS_ROW_VIRT),
		  "  Virtualization  Intel VT-x with EPT, unrestricted guest, VPID, posted int...");
	/* An update with shorter values leaves nothing of the longer ones. */
	screen_show_status(&typical_status);
	CHECK_STR(row_text(STATUS_ROW_CPU), "  CPU             QEMU TCG CPU version 2.5+");
	reset();
}

UNIT_TEST(missing_values_show_as_unknown)
{
	struct screen_status status = { .cpus = 1, .mem_mib = 512 };

	CHECK_EQ(init_vga(), 0);
	screen_show_status(&status);
	CHECK_STR(row_text(STATUS_ROW_TITLE), "  Kapsel unknown");
	CHECK_STR(row_text(STATUS_ROW_CPU), "  CPU             unknown");
	CHECK_STR(row_text(STATUS_ROW_MEMORY), "  Memory          512 MiB");
	CHECK_STR(row_text(STATUS_ROW_VIRT), "  Virtualization  unknown");
	reset();
}

UNIT_TEST(memory_is_shown_in_mib_or_gib_rounded_down)
{
	char text[32];

	format_memory(text, sizeof(text), 0);
	CHECK_STR(text, "0 MiB");
	format_memory(text, sizeof(text), 1023);
	CHECK_STR(text, "1023 MiB");
	format_memory(text, sizeof(text), 1024);
	CHECK_STR(text, "1.0 GiB");
	format_memory(text, sizeof(text), 1536);
	CHECK_STR(text, "1.5 GiB");
	format_memory(text, sizeof(text), 4095);
	CHECK_STR(text, "3.9 GiB");
	format_memory(text, sizeof(text), 2ull << 20);
	CHECK_STR(text, "2048.0 GiB");
}

UNIT_TEST(control_characters_in_values_are_not_drawn)
{
	struct screen_status status = typical_status;

	status.boot_mode = "BI\nOS\x1b[2J\xff";
	CHECK_EQ(init_vga(), 0);
	screen_show_status(&status);
	CHECK_STR(row_text(STATUS_ROW_BOOT), "  Boot            BI?OS?[2J?");
	reset();
}

UNIT_TEST(smallest_grid_keeps_everything_inside)
{
	struct screen_grid grid = { SCREEN_MIN_COLS, SCREEN_MIN_ROWS, NULL };
	struct screen_status status = typical_status;
	char brand[200];

	memset(brand, 'C', sizeof(brand) - 1);
	brand[sizeof(brand) - 1] = '\0';
	status.cpu_brand = brand;
	grid.cells = calloc((size_t)grid.cols * grid.rows, sizeof(*grid.cells));
	struct screen_layout layout = layout_compute(grid.rows);
	CHECK_EQ(layout.panel_rows, 5);
	CHECK_EQ(layout.log_first_row, 6);
	CHECK_EQ(layout.log_rows, 5);
	CHECK_EQ(layout.footer_row, 11);
	layout_frame(&grid, &layout);
	layout_status(&grid, &layout, &status);
	/* Rows past the short panel are not written by the status. */
	for (uint32_t c = 0; c < grid.cols; c++)
		CHECK_EQ(CELL_ATTR_OF(grid.cells[layout.log_title_row * grid.cols + c]), LOG_ATTR);
	CHECK_EQ(CELL_CODE(grid.cells[STATUS_ROW_CPU * grid.cols + grid.cols - 4]), '.');
	CHECK_EQ(CELL_CODE(grid.cells[STATUS_ROW_CPU * grid.cols + grid.cols - 1]), ' ');
	free(grid.cells);

	/* Below the minimum nothing is drawn at all. */
	struct screen_grid tiny = { 10, 5, calloc(50, sizeof(uint16_t)) };
	layout = layout_compute(tiny.rows);
	layout_frame(&tiny, &layout);
	layout_status(&tiny, &layout, &status);
	for (int i = 0; i < 50; i++)
		CHECK_EQ(tiny.cells[i], 0);
	free(tiny.cells);
}

/* ---- log area ---- */

UNIT_TEST(log_lines_fill_from_the_top_then_scroll)
{
	char line[64];

	CHECK_EQ(init_vga(), 0);
	uint32_t rows = screen.layout.log_rows;
	CHECK_EQ(rows, 13);
	log_text("first\n");
	CHECK_STR(row_text(LOG_ROW(0)), "  first");
	CHECK_STR(row_text(LOG_ROW(1)), "");
	for (uint32_t i = 0; i < rows + 5; i++) {
		snprintf(line, sizeof(line), "line %u\n", i);
		log_text(line);
	}
	CHECK_STR(row_text(LOG_ROW(0)), "  line 5");
	CHECK_STR(row_text(LOG_ROW(rows - 1)), "  line 17");
	CHECK_STR(row_text(screen.layout.footer_row), "  Status only: this console takes no input yet");
	CHECK(!memcmp(mapping.memory, screen.grid.cells, 80 * 25 * 2));
	reset();
}

UNIT_TEST(log_shows_whole_lines_only)
{
	CHECK_EQ(init_vga(), 0);
	log_text("vmkernel: part");
	CHECK_STR(row_text(LOG_ROW(0)), "");
	log_text("ial\n\n\nsecond\tcolumn\r\nbell\a\n");
	CHECK_STR(row_text(LOG_ROW(0)), "  vmkernel: partial");
	CHECK_STR(row_text(LOG_ROW(1)), "  second  column");
	CHECK_STR(row_text(LOG_ROW(2)), "  bell?");
	CHECK_STR(row_text(LOG_ROW(3)), "");
	reset();
}

UNIT_TEST(long_log_lines_wrap_at_spaces)
{
	char line[LOG_LINE_MAX * 2];

	CHECK_EQ(init_vga(), 0);
	/* 76 columns for the first row, 74 after it. */
	log_text("mm: 511 MiB usable, 511 MiB free, highest address 0x1ffe0000, 0 KiB reclaimed from the loader\n");
	CHECK_STR(row_text(LOG_ROW(0)), "  mm: 511 MiB usable, 511 MiB free, highest address 0x1ffe0000, 0 KiB");
	CHECK_STR(row_text(LOG_ROW(1)), "    reclaimed from the loader");
	/* A word longer than a row is cut where the row ends. */
	memset(line, 'w', 100);
	strcpy(line + 100, "\n");
	log_text(line);
	CHECK_EQ(strlen(row_text(LOG_ROW(2))), 78);
	CHECK_EQ(strlen(row_text(LOG_ROW(3))), 4 + 24);
	/* A line longer than the receive buffer shows in pieces, all of it. */
	memset(line, 'x', sizeof(line) - 2);
	line[sizeof(line) - 2] = '\n';
	line[sizeof(line) - 1] = '\0';
	log_text(line);
	uint32_t shown = 0;
	for (uint32_t r = 0; r < screen.layout.log_rows; r++)
		for (const char *p = row_text(LOG_ROW(r)); *p; p++)
			shown += *p == 'x';
	CHECK(shown >= 13 * 74 - 2 * 76); /* every row the area has, nearly */
	reset();
}

UNIT_TEST(line_taller_than_the_area_shows_its_start)
{
	char line[LOG_LINE_MAX + 1];

	CHECK_EQ(init_vga(), 0);
	screen.layout.log_rows = 3; /* 512 characters need 7 rows */
	memset(line, 'a', LOG_LINE_MAX - 1);
	line[0] = 'S';
	line[LOG_LINE_MAX - 1] = '\n';
	line[LOG_LINE_MAX] = '\0';
	log_text(line);
	CHECK_EQ(CELL_CODE(screen.grid.cells[LOG_ROW(0) * 80 + 2]), 'S');
	CHECK_STR(row_text(LOG_ROW(3)), ""); /* nothing below the shortened area */
	reset();
}

UNIT_TEST(trouble_is_drawn_in_red)
{
	CHECK_EQ(init_vga(), 0);
	log_text("mm: warning: RAM above 4 GiB is reported but no frame there is free and this line is long\n");
	log_text("all is well\n");
	log_text("\nvmkernel: PANIC: test\n");
	log_text("  ffffffff8020e672 trigger_test_fault+0x42\n");
	log_text("smp: CPU 3 failed to start\n");
	CHECK_EQ(attr_at(LOG_ROW(0), 2), LOG_ALERT_ATTR);
	CHECK_EQ(attr_at(LOG_ROW(1), 4), LOG_ALERT_ATTR); /* the wrapped part too */
	CHECK_EQ(attr_at(LOG_ROW(2), 2), LOG_ATTR);
	CHECK_EQ(attr_at(LOG_ROW(3), 2), LOG_ALERT_ATTR);
	CHECK_EQ(attr_at(LOG_ROW(4), 2), LOG_ATTR); /* a symbol name is no alarm */
	CHECK_EQ(attr_at(LOG_ROW(5), 2), LOG_ALERT_ATTR);
	reset();
}

UNIT_TEST(lines_logged_before_the_screen_are_shown)
{
	reset();
	ring_text = "vmkernel: starting\nmm: ready\nunfinished";
	CHECK_EQ(screen_init(&no_framebuffer, BOOT_MODE_BIOS), 0);
	CHECK_STR(row_text(LOG_ROW(0)), "  vmkernel: starting");
	CHECK_STR(row_text(LOG_ROW(1)), "  mm: ready");
	CHECK_STR(row_text(LOG_ROW(2)), "");
	/* The sink finishes the unfinished line. */
	log_text(" business\n");
	CHECK_STR(row_text(LOG_ROW(2)), "  unfinished business");
	reset();

	/* A ring holding more than is read: its first, partial line is cut. */
	static char big[LOG_HISTORY_BYTES * 2];
	memset(big, 'p', sizeof(big) - 20);
	strcpy(big + sizeof(big) - 20, "\nlast line\n");
	ring_text = big;
	CHECK_EQ(screen_init(&no_framebuffer, BOOT_MODE_BIOS), 0);
	CHECK_STR(row_text(LOG_ROW(0)), "  last line");
	reset();
}

UNIT_TEST(no_free_log_sink_still_shows_the_screen)
{
	reset();
	sink_slots_full = 1;
	CHECK_EQ(screen_init(&no_framebuffer, BOOT_MODE_BIOS), 0);
	CHECK(host_log_contains("no free log sink"));
	screen_show_status(&typical_status);
	CHECK_STR(row_text(STATUS_ROW_CPUS), "  CPUs            4");
	reset();
}

/* ---- framebuffer ---- */

static struct boot_framebuffer gop_32bpp(uint32_t width, uint32_t height)
{
	struct boot_framebuffer fb = {
		.type = BOOT_FB_RGB, .phys_addr = 0x80000000, .width = width, .height = height,
		.pitch = width * 4, .bpp = 32,
		.red_shift = 16, .red_size = 8, .green_shift = 8, .green_size = 8,
		.blue_shift = 0, .blue_size = 8,
	};
	return fb;
}

static uint32_t pixel32(uint32_t x, uint32_t y)
{
	return ((uint32_t *)mapping.memory)[(size_t)y * screen.fb.pitch / 4 + x];
}

UNIT_TEST(framebuffer_grid_size_scale_and_centring)
{
	struct boot_framebuffer fb = gop_32bpp(1280, 800);

	reset();
	CHECK_EQ(screen_init(&fb, BOOT_MODE_UEFI), 0);
	CHECK_EQ(screen.kind, SCREEN_FRAMEBUFFER);
	CHECK_EQ(mapping.phys, 0x80000000);
	CHECK_EQ(mapping.size, 1280 * 4 * 800);
	CHECK_EQ(mapping.prot, PT_READ | PT_WRITE | PT_WRITE_COMBINING);
	CHECK_EQ(screen.fb.scale, 2);
	CHECK_EQ(screen.grid.cols, 80);
	CHECK_EQ(screen.grid.rows, 25);
	CHECK(host_log_contains("screen: framebuffer 1280x800, 32 bpp, 80x25 characters"));
	reset();

	fb = gop_32bpp(800, 600);
	CHECK_EQ(screen_init(&fb, BOOT_MODE_BIOS), 0);
	CHECK_EQ(screen.fb.scale, 1);
	CHECK_EQ(screen.grid.cols, 100);
	CHECK_EQ(screen.grid.rows, 37);
	CHECK_EQ(screen.fb.origin_y, 4); /* 600 - 37 * 16 = 8 rows of border */
	CHECK_EQ(pixel32(10, 0), 0x000000);  /* border: black */
	CHECK_EQ(pixel32(10, 4), 0xaaaaaa);  /* panel: light grey */
	CHECK_EQ(pixel32(10, 599), 0x000000);
	reset();

	fb = gop_32bpp(3840, 2160);
	CHECK_EQ(screen_init(&fb, BOOT_MODE_UEFI), 0);
	CHECK_EQ(screen.fb.scale, 4);
	CHECK_EQ(screen.grid.cols, 120);
	CHECK_EQ(screen.grid.rows, 33);
	reset();
}

UNIT_TEST(framebuffer_draws_glyphs_in_the_cell_colours)
{
	struct boot_framebuffer fb = gop_32bpp(1280, 800); /* scale 2: 16x32 cells */

	reset();
	CHECK_EQ(screen_init(&fb, BOOT_MODE_UEFI), 0);
	log_text("X|\n");
	uint32_t x = SCREEN_MARGIN * 16, y = LOG_ROW(0) * 32;
	CHECK_EQ(pixel32(x, y), 0x000000);           /* 'X' is solid black on yellow */
	CHECK_EQ(pixel32(x + 15, y + 31), 0x000000);
	CHECK_EQ(pixel32(x + 16, y), 0x000000);      /* '|': its first font column, */
	CHECK_EQ(pixel32(x + 17, y + 31), 0x000000); /* two pixels wide */
	CHECK_EQ(pixel32(x + 18, y), 0xffff55);      /* then background */
	CHECK_EQ(pixel32(x + 40, y + 10), 0xffff55);
	log_text("a warning: X\n");
	CHECK_EQ(pixel32(SCREEN_MARGIN * 16 + 11 * 16, LOG_ROW(1) * 32), 0xaa0000); /* red 'X' */
	/* Everything the grid holds is on the screen. */
	CHECK(!memcmp(screen.fb.drawn, screen.grid.cells, 80 * 25 * sizeof(uint16_t)));
	screen_show_status(&typical_status);
	CHECK(!memcmp(screen.fb.drawn, screen.grid.cells, 80 * 25 * sizeof(uint16_t)));
	reset();
}

UNIT_TEST(framebuffer_16_and_24_bits_per_pixel)
{
	struct boot_framebuffer fb = {
		.type = BOOT_FB_RGB, .phys_addr = 0xe0000000, .width = 1024, .height = 768,
		.pitch = 2048, .bpp = 16,
		.red_shift = 11, .red_size = 5, .green_shift = 5, .green_size = 6,
		.blue_shift = 0, .blue_size = 5,
	};

	reset();
	CHECK_EQ(screen_init(&fb, BOOT_MODE_BIOS), 0);
	const uint16_t *pixels16 = mapping.memory;
	CHECK_EQ(pixels16[0], 0xad55);             /* panel grey aaaaaa in 5:6:5 */
	CHECK_EQ(pixels16[LOG_ROW(0) * 16 * 1024], 0xffea); /* yellow ffff55 */
	reset();

	fb.bpp = 24;
	fb.pitch = 1024 * 3 + 64; /* padded lines */
	fb.red_shift = 16, fb.red_size = 8, fb.green_shift = 8, fb.green_size = 8;
	fb.blue_shift = 0, fb.blue_size = 8;
	CHECK_EQ(screen_init(&fb, BOOT_MODE_BIOS), 0);
	const uint8_t *bytes = mapping.memory;
	size_t at = (size_t)LOG_ROW(0) * 16 * fb.pitch + 1023 * 3; /* last pixel of a log row */
	CHECK_EQ(bytes[at], 0x55);
	CHECK_EQ(bytes[at + 1], 0xff);
	CHECK_EQ(bytes[at + 2], 0xff);
	CHECK_EQ(bytes[1024 * 3], 0x5a); /* the padding is not written */
	reset();
}

UNIT_TEST(unusable_framebuffers_are_refused)
{
	struct boot_framebuffer good = gop_32bpp(1024, 768), fb;

	reset();
	fb = good, fb.bpp = 8;
	CHECK_EQ(screen_init(&fb, BOOT_MODE_UEFI), -ENODEV);
	fb = good, fb.pitch = 1024 * 4 - 4;
	CHECK_EQ(screen_init(&fb, BOOT_MODE_UEFI), -ENODEV);
	fb = good, fb.green_size = 0;
	CHECK_EQ(screen_init(&fb, BOOT_MODE_UEFI), -ENODEV);
	fb = good, fb.red_shift = 28;
	CHECK_EQ(screen_init(&fb, BOOT_MODE_UEFI), -ENODEV);
	fb = good, fb.phys_addr = 0;
	CHECK_EQ(screen_init(&fb, BOOT_MODE_UEFI), -ENODEV);
	fb = gop_32bpp(300, 150); /* fewer cells than the layout needs */
	CHECK_EQ(screen_init(&fb, BOOT_MODE_UEFI), -ENODEV);
	CHECK_EQ(mapping.count, 0);
	CHECK(screen.kind == SCREEN_NONE);
	reset();
}

UNIT_MAIN()

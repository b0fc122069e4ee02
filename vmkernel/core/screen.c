/*
 * The status screen keeps a character grid in memory. A cell is a VGA
 * text-mode word: CP437 code in bits 7:0, attribute in bits 15:8
 * (background colour in 15:12, foreground in 11:8, the 16 VGA colours).
 * VGA text mode shows the grid by copying it; the framebuffer renderer draws
 * each changed cell with the font and the VGA palette, so both look alike.
 *
 * Layout, top to bottom: the status panel (grey), a title row and the log
 * area (yellow), one footer row. Text never leaves its field: a value too
 * long for it ends in "...", a log line too long for a row wraps.
 *
 * No lock of its own: the status panel and footer are written only by
 * screen_show_status() (whose callers serialize), the log area only by the
 * log sink (which the log calls under its lock). They never share a cell or
 * a pixel. Only a panic's log_emergency() may race the sink, while the
 * machine stops; the log code then garbles at worst the log area.
 */
#include <core/screen.h>

#include <stdbool.h>
#include <stddef.h>

#include <arch/x86/io.h>
#include <arch/x86/pt.h>
#include <core/font.h>
#include <lib/errno.h>
#include <lib/log.h>
#include <lib/printf.h>
#include <lib/string.h>
#include <mm/heap.h>
#include <mm/vmm.h>

enum vga_color {
	VGA_BLACK,
	VGA_BLUE,
	VGA_GREEN,
	VGA_CYAN,
	VGA_RED,
	VGA_MAGENTA,
	VGA_BROWN,
	VGA_LIGHT_GREY,
	VGA_DARK_GREY,
	VGA_LIGHT_BLUE,
	VGA_LIGHT_GREEN,
	VGA_LIGHT_CYAN,
	VGA_LIGHT_RED,
	VGA_LIGHT_MAGENTA,
	VGA_YELLOW,
	VGA_WHITE,
};

#define CELL_ATTR(fg, bg) ((uint8_t)((bg) << 4 | (fg)))
#define CELL(code, attr) ((uint16_t)((uint16_t)(attr) << 8 | (uint8_t)(code)))
#define CELL_CODE(cell) ((uint8_t)(cell))
#define CELL_ATTR_OF(cell) ((uint8_t)((cell) >> 8))

#define PANEL_ATTR CELL_ATTR(VGA_BLACK, VGA_LIGHT_GREY)
#define TITLE_ATTR CELL_ATTR(VGA_BLACK, VGA_LIGHT_GREY)
#define LABEL_ATTR CELL_ATTR(VGA_DARK_GREY, VGA_LIGHT_GREY)
#define LOG_ATTR CELL_ATTR(VGA_BLACK, VGA_YELLOW)
#define LOG_ALERT_ATTR CELL_ATTR(VGA_RED, VGA_YELLOW)
#define FOOTER_ATTR CELL_ATTR(VGA_LIGHT_GREY, VGA_BLACK)

#define CP437_HORIZONTAL_LINE 0xc4

#define SCREEN_MARGIN 2          /* blank columns left and right of text */
#define SCREEN_MIN_COLS 40
#define SCREEN_MIN_ROWS 12
#define STATUS_PANEL_ROWS 10
#define STATUS_LABEL_WIDTH 16
#define LOG_WRAP_INDENT 2        /* continuation rows of a wrapped line */
#define LOG_LINE_MAX 512         /* longer lines are shown in pieces */
#define LOG_HISTORY_BYTES 8192   /* ring tail shown when the screen starts */
#define TAB_WIDTH 8

#define VGA_TEXT_PHYS 0xb8000ul
#define VGA_TEXT_COLS 80
#define VGA_TEXT_ROWS 25
#define VGA_TEXT_MAX_CELLS (132 * 60) /* the largest text mode there is */

/* Framebuffer cells are the font scaled by an integer factor, the largest
 * that still gives an 80x25 grid (so a 4K screen is readable). */
#define FB_MAX_SCALE 4
#define FB_GRID_TARGET_COLS 80
#define FB_GRID_TARGET_ROWS 25

struct screen_grid {
	uint32_t cols, rows;
	uint16_t *cells; /* rows * cols, row-major */
};

struct screen_layout {
	uint32_t panel_rows;    /* rows [0, panel_rows): status panel */
	uint32_t log_title_row;
	uint32_t log_first_row; /* log lines: [log_first_row, +log_rows) */
	uint32_t log_rows;
	uint32_t footer_row;
};

enum screen_kind {
	SCREEN_NONE,
	SCREEN_VGA_TEXT,
	SCREEN_FRAMEBUFFER,
};

struct screen_vga_text {
	volatile uint16_t *cells;
	uint32_t pitch_cells; /* cells from one row to the next */
};

struct screen_framebuffer {
	uint8_t *pixels;
	uint32_t width, height, pitch;
	uint32_t bytes_per_pixel; /* 2, 3 or 4 */
	uint32_t scale;           /* pixels per font pixel, each way */
	uint32_t origin_x, origin_y; /* the grid is centred */
	uint32_t palette[16];     /* VGA colour -> pixel value */
	uint16_t *drawn;          /* what each cell shows now */
};

/* Everything below is (o) set by screen_init unless marked otherwise. */
struct screen {
	enum screen_kind kind;
	struct screen_grid grid; /* cells: see the file comment for who writes which */
	struct screen_layout layout;
	struct screen_vga_text vga;
	struct screen_framebuffer fb;
	char log_line[LOG_LINE_MAX]; /* [m] log lock: the line being received */
	size_t log_line_length;      /* [m] log lock */
	uint32_t log_rows_used;      /* [m] log lock: the area fills from the top */
};

static struct screen screen;

/* The standard VGA palette (8-bit channels), as the BIOS text mode shows it. */
static const uint8_t vga_palette_rgb[16][3] = {
	{ 0x00, 0x00, 0x00 }, { 0x00, 0x00, 0xaa }, { 0x00, 0xaa, 0x00 }, { 0x00, 0xaa, 0xaa },
	{ 0xaa, 0x00, 0x00 }, { 0xaa, 0x00, 0xaa }, { 0xaa, 0x55, 0x00 }, { 0xaa, 0xaa, 0xaa },
	{ 0x55, 0x55, 0x55 }, { 0x55, 0x55, 0xff }, { 0x55, 0xff, 0x55 }, { 0x55, 0xff, 0xff },
	{ 0xff, 0x55, 0x55 }, { 0xff, 0x55, 0xff }, { 0xff, 0xff, 0x55 }, { 0xff, 0xff, 0xff },
};

/* ---- the grid: pure layout, no device ---------------------------------- */

static uint8_t printable(char c)
{
	return c >= 0x20 && c < 0x7f ? (uint8_t)c : '?';
}

static uint16_t *grid_row(const struct screen_grid *grid, uint32_t row)
{
	return &grid->cells[(size_t)row * grid->cols];
}

static void grid_fill(struct screen_grid *grid, uint32_t row, uint32_t count, uint8_t attr)
{
	for (uint32_t r = row; r < row + count && r < grid->rows; r++)
		for (uint32_t c = 0; c < grid->cols; c++)
			grid_row(grid, r)[c] = CELL(' ', attr);
}

/*
 * Writes text into exactly width cells of row from col (padding with
 * blanks), clipped to the grid. Text longer than the field ends in "...".
 * Returns the number of cells the text itself took.
 */
static uint32_t grid_put(struct screen_grid *grid, uint32_t row, uint32_t col, uint32_t width,
			 uint8_t attr, const char *text, size_t length)
{
	if (row >= grid->rows || col >= grid->cols)
		return 0;
	if (width > grid->cols - col)
		width = grid->cols - col;
	uint16_t *cells = grid_row(grid, row) + col;
	bool truncated = length > width;
	uint32_t shown = truncated ? width : (uint32_t)length;
	for (uint32_t i = 0; i < width; i++)
		cells[i] = CELL(i < shown ? printable(text[i]) : ' ', attr);
	if (truncated && width >= 4)
		for (uint32_t i = width - 3; i < width; i++)
			cells[i] = CELL('.', attr);
	return shown;
}

static void grid_put_string(struct screen_grid *grid, uint32_t row, uint32_t col, uint32_t width,
			    uint8_t attr, const char *text)
{
	grid_put(grid, row, col, width, attr, text, strlen(text));
}

static bool grid_usable(const struct screen_grid *grid)
{
	return grid->cells && grid->cols >= SCREEN_MIN_COLS && grid->rows >= SCREEN_MIN_ROWS;
}

static struct screen_layout layout_compute(uint32_t rows)
{
	struct screen_layout layout;

	layout.footer_row = rows - 1;
	layout.panel_rows = (rows - 1) / 2 < STATUS_PANEL_ROWS ? (rows - 1) / 2 : STATUS_PANEL_ROWS;
	layout.log_title_row = layout.panel_rows;
	layout.log_first_row = layout.panel_rows + 1;
	layout.log_rows = layout.footer_row - layout.log_first_row;
	return layout;
}

static const char *or_unknown(const char *text)
{
	return text && text[0] ? text : "unknown";
}

static void format_memory(char *out, size_t size, uint64_t mib)
{
	if (mib < 1024)
		snprintf(out, size, "%lu MiB", (unsigned long)mib);
	else /* one decimal, rounded down: never more than there is */
		snprintf(out, size, "%lu.%lu GiB", (unsigned long)(mib / 1024),
			 (unsigned long)(mib % 1024 * 10 / 1024));
}

/* Rows of the status panel, counted from its top. */
enum {
	STATUS_ROW_TITLE = 1,
	STATUS_ROW_TAGLINE = 2,
	STATUS_ROW_CPU = 4,
	STATUS_ROW_CPUS = 5,
	STATUS_ROW_MEMORY = 6,
	STATUS_ROW_VIRT = 7,
	STATUS_ROW_BOOT = 8,
};

static void layout_status_field(struct screen_grid *grid, const struct screen_layout *layout,
				uint32_t row, const char *label, const char *value)
{
	uint32_t value_col = SCREEN_MARGIN + STATUS_LABEL_WIDTH;

	if (row >= layout->panel_rows)
		return;
	grid_put_string(grid, row, SCREEN_MARGIN, STATUS_LABEL_WIDTH, LABEL_ATTR, label);
	grid_put_string(grid, row, value_col, grid->cols - SCREEN_MARGIN - value_col, PANEL_ATTR,
			value);
}

/* The panel without values: what shows until the first status arrives. */
static void layout_panel(struct screen_grid *grid, const struct screen_layout *layout,
			 const char *version)
{
	char title[160];
	uint32_t width = grid->cols - 2 * SCREEN_MARGIN;

	grid_fill(grid, 0, layout->panel_rows, PANEL_ATTR);
	snprintf(title, sizeof(title), "Kapsel %s", version ? version : "");
	if (STATUS_ROW_TITLE < layout->panel_rows)
		grid_put_string(grid, STATUS_ROW_TITLE, SCREEN_MARGIN, width, TITLE_ATTR, title);
	if (STATUS_ROW_TAGLINE < layout->panel_rows)
		grid_put_string(grid, STATUS_ROW_TAGLINE, SCREEN_MARGIN, width, LABEL_ATTR,
				"Bare-metal hypervisor");
}

static void layout_status(struct screen_grid *grid, const struct screen_layout *layout,
			  const struct screen_status *status)
{
	char number[32];

	if (!grid_usable(grid))
		return;
	layout_panel(grid, layout, or_unknown(status->version));
	layout_status_field(grid, layout, STATUS_ROW_CPU, "CPU", or_unknown(status->cpu_brand));
	snprintf(number, sizeof(number), "%u", status->cpus);
	layout_status_field(grid, layout, STATUS_ROW_CPUS, "CPUs", number);
	format_memory(number, sizeof(number), status->mem_mib);
	layout_status_field(grid, layout, STATUS_ROW_MEMORY, "Memory", number);
	layout_status_field(grid, layout, STATUS_ROW_VIRT, "Virtualization", or_unknown(status->virt));
	layout_status_field(grid, layout, STATUS_ROW_BOOT, "Boot", or_unknown(status->boot_mode));
}

/* Everything but the status values: panel, log title and area, footer. */
static void layout_frame(struct screen_grid *grid, const struct screen_layout *layout)
{
	static const char log_title[] = " Recent log messages ";

	if (!grid_usable(grid))
		return;
	layout_panel(grid, layout, NULL);
	grid_fill(grid, layout->log_title_row, 1, LOG_ATTR);
	uint16_t *title_row = grid_row(grid, layout->log_title_row);
	for (uint32_t c = SCREEN_MARGIN; c < grid->cols - SCREEN_MARGIN; c++)
		title_row[c] = CELL(CP437_HORIZONTAL_LINE, LOG_ATTR);
	grid_put_string(grid, layout->log_title_row, SCREEN_MARGIN + 2, sizeof(log_title) - 1,
			LOG_ATTR, log_title);
	grid_fill(grid, layout->log_first_row, layout->log_rows, LOG_ATTR);
	grid_fill(grid, layout->footer_row, 1, FOOTER_ATTR);
	grid_put_string(grid, layout->footer_row, SCREEN_MARGIN, grid->cols - 2 * SCREEN_MARGIN,
			FOOTER_ATTR, "Status only: this console takes no input yet");
}

/* A line that reports trouble is drawn in red. The log carries no level to
 * the sinks, so this goes by the words the vmkernel's messages use. */
static bool log_line_is_alert(const char *text, size_t length)
{
	static const char *const alert_words[] = { "error", "warning", "fail", "PANIC", "halted" };

	for (size_t w = 0; w < sizeof(alert_words) / sizeof(alert_words[0]); w++) {
		size_t word_length = strlen(alert_words[w]);
		for (size_t i = 0; i + word_length <= length; i++)
			if (!memcmp(text + i, alert_words[w], word_length))
				return true;
	}
	return false;
}

static void log_area_scroll(struct screen_grid *grid, const struct screen_layout *layout,
			    uint32_t count)
{
	uint32_t kept = layout->log_rows - count;
	uint16_t *area = grid_row(grid, layout->log_first_row);

	memmove(area, area + (size_t)count * grid->cols, (size_t)kept * grid->cols * sizeof(*area));
	grid_fill(grid, layout->log_first_row + kept, count, LOG_ATTR);
}

/*
 * The length of the next piece of a wrapped line: at most width characters
 * from start, broken at a space when one is in the piece's second half.
 * *skip gets the number of spaces the break swallows.
 */
static size_t log_wrap_piece(const char *text, size_t length, size_t start, uint32_t width,
			     size_t *skip)
{
	*skip = 0;
	if (length - start <= width)
		return length - start;
	size_t end = start + width; /* text[end] exists: the line goes on */
	while (end > start + width / 2 && text[end] != ' ')
		end--;
	if (text[end] != ' ')
		return width; /* one long word: cut it */
	while (end + *skip < length && text[end + *skip] == ' ')
		(*skip)++;
	return end - start;
}

/* The rows a line takes once wrapped. */
static uint32_t log_wrap_rows(const char *text, size_t length, uint32_t first_width,
			      uint32_t next_width)
{
	uint32_t rows = 0;
	size_t skip;

	for (size_t done = 0; done < length || !rows; rows++) {
		done += log_wrap_piece(text, length, done, rows ? next_width : first_width, &skip);
		done += skip;
	}
	return rows;
}

/* Shows one whole line below the lines already shown, wrapped, scrolling
 * the area once it is full. A line taller than the area shows its start. */
static void log_area_show_line(struct screen *s, const char *text, size_t length)
{
	struct screen_grid *grid = &s->grid;
	const struct screen_layout *layout = &s->layout;
	uint32_t first_width = grid->cols - 2 * SCREEN_MARGIN;
	uint32_t next_width = first_width - LOG_WRAP_INDENT;
	size_t done = 0, skip;

	if (!grid_usable(grid) || !layout->log_rows)
		return;
	uint32_t rows = log_wrap_rows(text, length, first_width, next_width);
	if (rows > layout->log_rows)
		rows = layout->log_rows;
	uint32_t used = s->log_rows_used < layout->log_rows ? s->log_rows_used : layout->log_rows;
	if (used + rows > layout->log_rows) {
		log_area_scroll(grid, layout, used + rows - layout->log_rows);
		used = layout->log_rows - rows;
	}
	s->log_rows_used = used + rows;
	uint8_t attr = log_line_is_alert(text, length) ? LOG_ALERT_ATTR : LOG_ATTR;
	for (uint32_t r = 0; r < rows; r++) {
		uint32_t col = r ? SCREEN_MARGIN + LOG_WRAP_INDENT : SCREEN_MARGIN;
		uint32_t width = r ? next_width : first_width;
		size_t piece = log_wrap_piece(text, length, done, width, &skip);
		grid_put(grid, layout->log_first_row + used + r, col, width, attr, text + done, piece);
		done += piece + skip;
	}
}

/*
 * Takes log text as the sink receives it (any number of lines, the last one
 * possibly unfinished) and shows each finished line. Empty lines are
 * skipped: the area is small. Returns true when the grid changed.
 */
static bool log_area_take(struct screen *s, const char *text, size_t length)
{
	bool changed = false;

	for (size_t i = 0; i < length; i++) {
		size_t used = s->log_line_length;
		if (used > LOG_LINE_MAX) /* only a racing panic gets here */
			used = 0;
		char c = text[i];
		if (c == '\n' || used == LOG_LINE_MAX) {
			if (used) {
				log_area_show_line(s, s->log_line, used);
				changed = true;
			}
			used = 0;
			if (c == '\n') {
				s->log_line_length = 0;
				continue;
			}
		}
		if (c == '\r')
			continue;
		if (c == '\t') {
			do
				s->log_line[used++] = ' ';
			while (used % TAB_WIDTH && used < LOG_LINE_MAX);
		} else {
			s->log_line[used++] = (char)printable(c);
		}
		s->log_line_length = used;
	}
	return changed;
}

/* ---- devices ----------------------------------------------------------- */

static void vga_text_draw_rows(uint32_t first, uint32_t count)
{
	for (uint32_t r = first; r < first + count && r < screen.grid.rows; r++)
		for (uint32_t c = 0; c < screen.grid.cols; c++)
			screen.vga.cells[(size_t)r * screen.vga.pitch_cells + c] =
				grid_row(&screen.grid, r)[c];
}

static void framebuffer_store_run(uint8_t *line, const uint32_t *pixels, uint32_t count,
				  uint32_t bytes_per_pixel)
{
	switch (bytes_per_pixel) {
	case 4:
		for (uint32_t i = 0; i < count; i++)
			((uint32_t *)line)[i] = pixels[i];
		break;
	case 3:
		for (uint32_t i = 0; i < count; i++) {
			uint8_t *pixel = line + (size_t)i * 3;
			pixel[0] = (uint8_t)pixels[i];
			pixel[1] = (uint8_t)(pixels[i] >> 8);
			pixel[2] = (uint8_t)(pixels[i] >> 16);
		}
		break;
	default:
		for (uint32_t i = 0; i < count; i++)
			((uint16_t *)line)[i] = (uint16_t)pixels[i];
		break;
	}
}

static void framebuffer_draw_cell(const struct screen_framebuffer *fb, uint32_t col, uint32_t row,
				  uint16_t cell)
{
	const uint8_t *glyph = screen_font_glyphs[CELL_CODE(cell)];
	uint32_t fg = fb->palette[CELL_ATTR_OF(cell) & 0xf];
	uint32_t bg = fb->palette[CELL_ATTR_OF(cell) >> 4];
	uint32_t cell_width = SCREEN_FONT_WIDTH * fb->scale;
	uint32_t x = fb->origin_x + col * cell_width;
	uint32_t y = fb->origin_y + row * SCREEN_FONT_HEIGHT * fb->scale;
	uint32_t run[SCREEN_FONT_WIDTH * FB_MAX_SCALE];

	for (uint32_t gy = 0; gy < SCREEN_FONT_HEIGHT; gy++) {
		uint32_t px = 0;
		for (uint32_t gx = 0; gx < SCREEN_FONT_WIDTH; gx++)
			for (uint32_t sx = 0; sx < fb->scale; sx++)
				run[px++] = glyph[gy] & (0x80u >> gx) ? fg : bg;
		for (uint32_t sy = 0; sy < fb->scale; sy++) {
			uint8_t *line = fb->pixels + (size_t)(y + gy * fb->scale + sy) * fb->pitch +
					(size_t)x * fb->bytes_per_pixel;
			framebuffer_store_run(line, run, cell_width, fb->bytes_per_pixel);
		}
	}
}

/* Draws the cells that changed since they were last drawn. */
static void framebuffer_draw_rows(uint32_t first, uint32_t count)
{
	for (uint32_t r = first; r < first + count && r < screen.grid.rows; r++)
		for (uint32_t c = 0; c < screen.grid.cols; c++) {
			size_t i = (size_t)r * screen.grid.cols + c;
			if (screen.fb.drawn[i] == screen.grid.cells[i])
				continue;
			framebuffer_draw_cell(&screen.fb, c, r, screen.grid.cells[i]);
			screen.fb.drawn[i] = screen.grid.cells[i];
		}
}

static void screen_draw_rows(uint32_t first, uint32_t count)
{
	if (screen.kind == SCREEN_VGA_TEXT)
		vga_text_draw_rows(first, count);
	else if (screen.kind == SCREEN_FRAMEBUFFER)
		framebuffer_draw_rows(first, count);
}

/* Bright backgrounds (the yellow) need the attribute controller's blink bit
 * off; the blinking hardware cursor is hidden too. */
static void vga_text_setup_hardware(void)
{
	(void)inb(0x3da);             /* attribute controller: back to index state */
	outb(0x3c0, 0x10 | 0x20);     /* mode control register, display kept on */
	uint8_t mode = inb(0x3c1);
	outb(0x3c0, mode & ~0x08);    /* blink off: attribute bit 7 = bright background */
	outb(0x3d4, 0x0a);            /* CRTC cursor start register */
	outb(0x3d5, 0x20);            /* cursor disabled */
}

static int vga_text_init(uint64_t phys, uint32_t cols, uint32_t rows, uint32_t pitch_bytes)
{
	if (cols < SCREEN_MIN_COLS || rows < SCREEN_MIN_ROWS || cols * rows > VGA_TEXT_MAX_CELLS ||
	    pitch_bytes < cols * 2)
		return -ENODEV;
	screen.vga.cells = vmm_map_mmio(phys, (uint64_t)pitch_bytes * rows,
					PT_READ | PT_WRITE | PT_UNCACHED);
	if (!screen.vga.cells)
		return -ENOMEM;
	screen.vga.pitch_cells = pitch_bytes / 2;
	screen.grid.cols = cols;
	screen.grid.rows = rows;
	vga_text_setup_hardware();
	return 0;
}

static uint32_t framebuffer_channel(uint8_t value, uint8_t shift, uint8_t size)
{
	return (uint32_t)(value >> (8 - size)) << shift;
}

static bool framebuffer_format_ok(const struct boot_framebuffer *fb)
{
	const uint8_t sizes[3] = { fb->red_size, fb->green_size, fb->blue_size };
	const uint8_t shifts[3] = { fb->red_shift, fb->green_shift, fb->blue_shift };

	if (fb->bpp != 15 && fb->bpp != 16 && fb->bpp != 24 && fb->bpp != 32)
		return false;
	for (int i = 0; i < 3; i++)
		if (!sizes[i] || sizes[i] > 8 || shifts[i] + sizes[i] > fb->bpp)
			return false;
	return fb->phys_addr && fb->width && fb->height &&
	       fb->pitch >= (uint64_t)fb->width * ((fb->bpp + 7u) / 8);
}

static int framebuffer_init(const struct boot_framebuffer *fb)
{
	struct screen_framebuffer *out = &screen.fb;

	if (!screen_font_glyphs) {
		log_warn("screen: warning: no font linked in, the framebuffer stays unused\n");
		return -ENODEV;
	}
	if (!framebuffer_format_ok(fb))
		return -ENODEV;
	uint32_t scale_x = fb->width / (FB_GRID_TARGET_COLS * SCREEN_FONT_WIDTH);
	uint32_t scale_y = fb->height / (FB_GRID_TARGET_ROWS * SCREEN_FONT_HEIGHT);
	uint32_t scale = scale_x < scale_y ? scale_x : scale_y;
	out->scale = scale < 1 ? 1 : scale > FB_MAX_SCALE ? FB_MAX_SCALE : scale;
	uint32_t cols = fb->width / (SCREEN_FONT_WIDTH * out->scale);
	uint32_t rows = fb->height / (SCREEN_FONT_HEIGHT * out->scale);
	if (cols < SCREEN_MIN_COLS || rows < SCREEN_MIN_ROWS)
		return -ENODEV;
	out->drawn = kzalloc((size_t)cols * rows * sizeof(*out->drawn));
	if (!out->drawn)
		return -ENOMEM;
	out->pixels = vmm_map_mmio(fb->phys_addr, (uint64_t)fb->pitch * fb->height,
				   PT_READ | PT_WRITE | PT_WRITE_COMBINING);
	if (!out->pixels) {
		kfree(out->drawn);
		out->drawn = NULL;
		return -ENOMEM;
	}
	out->width = fb->width;
	out->height = fb->height;
	out->pitch = fb->pitch;
	out->bytes_per_pixel = (fb->bpp + 7u) / 8;
	out->origin_x = (fb->width - cols * SCREEN_FONT_WIDTH * out->scale) / 2;
	out->origin_y = (fb->height - rows * SCREEN_FONT_HEIGHT * out->scale) / 2;
	for (int i = 0; i < 16; i++)
		out->palette[i] =
			framebuffer_channel(vga_palette_rgb[i][0], fb->red_shift, fb->red_size) |
			framebuffer_channel(vga_palette_rgb[i][1], fb->green_shift, fb->green_size) |
			framebuffer_channel(vga_palette_rgb[i][2], fb->blue_shift, fb->blue_size);
	screen.grid.cols = cols;
	screen.grid.rows = rows;
	return 0;
}

/* The border around the centred grid is black; the grid is drawn whole. */
static void framebuffer_clear(struct screen_framebuffer *fb)
{
	uint32_t run[64];

	for (uint32_t i = 0; i < 64; i++)
		run[i] = fb->palette[VGA_BLACK];
	for (uint32_t y = 0; y < fb->height; y++)
		for (uint32_t x = 0; x < fb->width; x += 64)
			framebuffer_store_run(fb->pixels + (size_t)y * fb->pitch +
						      (size_t)x * fb->bytes_per_pixel,
					      run, fb->width - x < 64 ? fb->width - x : 64,
					      fb->bytes_per_pixel);
	for (uint32_t i = 0; i < screen.grid.cols * screen.grid.rows; i++)
		fb->drawn[i] = (uint16_t)~screen.grid.cells[i];
}

/* The log lines logged before the screen existed: the ring's tail, from
 * its first whole line. */
static void screen_show_log_history(void)
{
	char *history = kmalloc(LOG_HISTORY_BYTES);

	if (!history)
		return;
	size_t length = log_ring_read(history, LOG_HISTORY_BYTES);
	const char *start = history;
	if (length == LOG_HISTORY_BYTES - 1) { /* the ring held more: cut the partial line */
		const char *newline = memchr(history, '\n', length);
		start = newline ? newline + 1 : history + length;
	}
	log_area_take(&screen, start, length - (size_t)(start - history));
	kfree(history);
}

static void screen_log_sink(const char *text, size_t length)
{
	if (log_area_take(&screen, text, length))
		screen_draw_rows(screen.layout.log_first_row, screen.layout.log_rows);
}

int screen_init(const struct boot_framebuffer *fb, uint32_t boot_mode)
{
	int rc;

	if (fb->type == BOOT_FB_RGB) {
		screen.kind = SCREEN_FRAMEBUFFER;
		rc = framebuffer_init(fb);
	} else if (fb->type == BOOT_FB_EGA_TEXT) {
		screen.kind = SCREEN_VGA_TEXT;
		rc = vga_text_init(fb->phys_addr, fb->width, fb->height, fb->pitch);
	} else if (boot_mode == BOOT_MODE_BIOS) {
		/* qemu -kernel (multiboot1) passes no video information, but a
		 * BIOS leaves the VGA in 80x25 text mode. */
		screen.kind = SCREEN_VGA_TEXT;
		rc = vga_text_init(VGA_TEXT_PHYS, VGA_TEXT_COLS, VGA_TEXT_ROWS, VGA_TEXT_COLS * 2);
	} else {
		rc = -ENODEV;
	}
	if (!rc) {
		screen.grid.cells = kzalloc((size_t)screen.grid.cols * screen.grid.rows *
					    sizeof(*screen.grid.cells));
		if (!screen.grid.cells)
			rc = -ENOMEM;
	}
	if (rc) {
		kfree(screen.fb.drawn);
		memset(&screen, 0, sizeof(screen));
		return rc;
	}
	screen.layout = layout_compute(screen.grid.rows);
	layout_frame(&screen.grid, &screen.layout);
	screen_show_log_history();
	if (screen.kind == SCREEN_FRAMEBUFFER)
		framebuffer_clear(&screen.fb);
	screen_draw_rows(0, screen.grid.rows);
	if (log_add_sink(screen_log_sink))
		log_warn("screen: warning: no free log sink, new log lines will not show here\n");
	if (screen.kind == SCREEN_FRAMEBUFFER)
		log_info("screen: framebuffer %ux%u, %u bpp, %ux%u characters\n", fb->width,
			 fb->height, fb->bpp, screen.grid.cols, screen.grid.rows);
	else
		log_info("screen: VGA text %ux%u\n", screen.grid.cols, screen.grid.rows);
	return 0;
}

void screen_show_status(const struct screen_status *status)
{
	if (screen.kind == SCREEN_NONE)
		return;
	layout_status(&screen.grid, &screen.layout, status);
	screen_draw_rows(0, screen.layout.panel_rows);
}

/*
 * The UART console (a 16550 at 0x3f8, polled, no interrupts), a small
 * printf, and the verdict lines the test harness reads.
 */
#include "internal.h"

#define UART_DATA 0u
#define UART_INTERRUPT_ENABLE 1u
#define UART_FIFO_CONTROL 2u
#define UART_LINE_CONTROL 3u
#define UART_MODEM_CONTROL 4u
#define UART_LINE_CONTROL_DLAB 0x80u
/* A UART that never reports an empty transmitter must not hang the guest. */
#define UART_POLL_LIMIT 100000

static struct spinlock console_lock;

void console_init(void)
{
	outb(GUEST_UART_BASE + UART_INTERRUPT_ENABLE, 0);
	outb(GUEST_UART_BASE + UART_LINE_CONTROL, UART_LINE_CONTROL_DLAB);
	outb(GUEST_UART_BASE + 0, 1); /* divisor 1: 115200 baud */
	outb(GUEST_UART_BASE + 1, 0);
	outb(GUEST_UART_BASE + UART_LINE_CONTROL, 0x03); /* 8N1 */
	outb(GUEST_UART_BASE + UART_FIFO_CONTROL, 0xc7);
	outb(GUEST_UART_BASE + UART_MODEM_CONTROL, 0x03); /* DTR, RTS; OUT2 off: no IRQ */
}

static void uart_write_byte(char c)
{
	for (int i = 0; i < UART_POLL_LIMIT; i++) {
		if (inb(GUEST_UART_BASE + UART_LINE_STATUS) & UART_LINE_STATUS_THR_EMPTY)
			break;
		cpu_pause();
	}
	outb(GUEST_UART_BASE + UART_DATA, (uint8_t)c);
}

void guest_putc(char c)
{
	if (c == '\n')
		uart_write_byte('\r');
	uart_write_byte(c);
}

/* Output either to the UART or into a bounded buffer. */
struct format_sink {
	char *buffer;
	size_t size, length;
};

static void sink_put(struct format_sink *sink, char c)
{
	if (!sink->buffer)
		guest_putc(c);
	else if (sink->length + 1 < sink->size)
		sink->buffer[sink->length] = c;
	sink->length++;
}

static void format_number(struct format_sink *sink, uint64_t value, bool negative, unsigned base,
			  unsigned width, char pad, bool left)
{
	char digits[24];
	unsigned count = 0;
	do {
		uint32_t digit;
		value = guest_div64(value, base, &digit);
		digits[count++] = "0123456789abcdef"[digit];
	} while (value);
	unsigned length = count + (negative ? 1 : 0);
	if (negative && pad == '0')
		sink_put(sink, '-');
	for (; !left && length < width; width--)
		sink_put(sink, pad);
	if (negative && pad != '0')
		sink_put(sink, '-');
	while (count)
		sink_put(sink, digits[--count]);
	for (; left && length < width; width--)
		sink_put(sink, ' ');
}

static void format(struct format_sink *sink, const char *f, va_list args)
{
	for (; *f; f++) {
		if (*f != '%') {
			sink_put(sink, *f);
			continue;
		}
		f++;
		bool left = false;
		char pad = ' ';
		for (; *f == '-' || *f == '0'; f++) {
			if (*f == '-')
				left = true;
			else
				pad = '0';
		}
		unsigned width = 0;
		for (; *f >= '0' && *f <= '9'; f++)
			width = width * 10 + (unsigned)(*f - '0');
		unsigned longs = 0;
		for (; *f == 'l' || *f == 'z'; f++)
			longs += *f == 'z' ? (sizeof(size_t) == 8 ? 2 : 1) : 1;
		uint64_t value;
		switch (*f) {
		case 'd':
		case 'i': {
			int64_t number = longs >= 2 ? va_arg(args, long long)
				       : longs == 1 ? va_arg(args, long)
						    : va_arg(args, int);
			bool negative = number < 0;
			value = negative ? (uint64_t)0 - (uint64_t)number : (uint64_t)number;
			format_number(sink, value, negative, 10, width, pad, left);
			break;
		}
		case 'u':
		case 'x':
			value = longs >= 2 ? va_arg(args, unsigned long long)
			      : longs == 1 ? va_arg(args, unsigned long)
					   : va_arg(args, unsigned int);
			format_number(sink, value, false, *f == 'u' ? 10 : 16, width, pad, left);
			break;
		case 'p':
			sink_put(sink, '0');
			sink_put(sink, 'x');
			format_number(sink, (uintptr_t)va_arg(args, void *), false, 16, width, pad, left);
			break;
		case 'c':
			sink_put(sink, (char)va_arg(args, int));
			break;
		case 's': {
			const char *text = va_arg(args, const char *);
			if (!text)
				text = "(null)";
			size_t length = strlen(text);
			for (; !left && length < width; width--)
				sink_put(sink, ' ');
			while (*text)
				sink_put(sink, *text++);
			for (; left && length < width; width--)
				sink_put(sink, ' ');
			break;
		}
		case '%':
			sink_put(sink, '%');
			break;
		default: /* unknown: show it as written */
			sink_put(sink, '%');
			if (!*f)
				return;
			sink_put(sink, *f);
		}
	}
}

void guest_vprintf(const char *f, va_list args)
{
	struct format_sink sink = { 0 };
	spin_lock(&console_lock);
	format(&sink, f, args);
	spin_unlock(&console_lock);
}

void guest_printf(const char *f, ...)
{
	va_list args;
	va_start(args, f);
	guest_vprintf(f, args);
	va_end(args);
}

size_t guest_snprintf(char *buffer, size_t size, const char *f, ...)
{
	struct format_sink sink = { .buffer = buffer, .size = size };
	va_list args;
	va_start(args, f);
	format(&sink, f, args);
	va_end(args);
	if (size)
		buffer[sink.length < size ? sink.length : size - 1] = '\0';
	return sink.length;
}

_Noreturn void guest_exit(unsigned status)
{
	outb(KAPSEL_EXIT_PORT, (uint8_t)status);
	for (;;)
		__asm__ volatile("cli; hlt");
}

void guest_pass_line(void)
{
	guest_printf("PASS %s\n", guest_name);
}

_Noreturn void guest_pass(void)
{
	guest_pass_line();
	guest_exit(0);
}

/* One line: the verdict and its reason are printed under one lock hold so an
 * AP's output cannot split them. */
static void verdict_line(const char *verdict, const char *f, va_list args)
{
	char reason[160];
	struct format_sink sink = { .buffer = reason, .size = sizeof(reason) };
	format(&sink, f, args);
	reason[sink.length < sizeof(reason) ? sink.length : sizeof(reason) - 1] = '\0';
	guest_printf("%s %s: %s\n", verdict, guest_name, reason);
}

_Noreturn void guest_fail(const char *f, ...)
{
	va_list args;
	va_start(args, f);
	verdict_line("FAIL", f, args);
	va_end(args);
	guest_exit(1);
}

void guest_skip(const char *f, ...)
{
	va_list args;
	va_start(args, f);
	verdict_line("SKIP", f, args);
	va_end(args);
}

void guest_check_eq(uint64_t actual, uint64_t expected, const char *what)
{
	if (actual != expected)
		guest_fail("%s: got 0x%llx want 0x%llx", what, (unsigned long long)actual,
			   (unsigned long long)expected);
}

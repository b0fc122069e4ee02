#include <arch/x86/serial.h>

#include <arch/x86/io.h>

/* 16550 register offsets from the base port. */
#define UART_DATA 0
#define UART_INTERRUPT_ENABLE 1
#define UART_DIVISOR_LOW 0
#define UART_DIVISOR_HIGH 1
#define UART_FIFO_CONTROL 2
#define UART_LINE_CONTROL 3
#define UART_MODEM_CONTROL 4
#define UART_LINE_STATUS 5
#define UART_SCRATCH 7

#define LSR_THR_EMPTY 0x20
#define LCR_DLAB 0x80
#define LCR_8N1 0x03

static bool serial_present;

bool serial_init(void)
{
	const uint16_t base = SERIAL_COM1;

	/* A UART keeps what is written to its scratch register. */
	outb(base + UART_SCRATCH, 0x5a);
	if (inb(base + UART_SCRATCH) != 0x5a)
		return false;
	outb(base + UART_INTERRUPT_ENABLE, 0);
	outb(base + UART_LINE_CONTROL, LCR_DLAB);
	outb(base + UART_DIVISOR_LOW, 1); /* 115200 baud = 1.8432 MHz / 16 / 1 */
	outb(base + UART_DIVISOR_HIGH, 0);
	outb(base + UART_LINE_CONTROL, LCR_8N1);
	outb(base + UART_FIFO_CONTROL, 0xc7); /* enable, clear, 14-byte trigger */
	outb(base + UART_MODEM_CONTROL, 0x03); /* DTR, RTS */
	serial_present = true;
	return true;
}

static void serial_put(char c)
{
	/* Bounded wait: a wedged UART must not hang the vmkernel. */
	for (int spins = 0; spins < 100000; spins++)
		if (inb(SERIAL_COM1 + UART_LINE_STATUS) & LSR_THR_EMPTY)
			break;
	outb(SERIAL_COM1 + UART_DATA, (uint8_t)c);
}

void serial_write(const char *text, size_t length)
{
	if (!serial_present)
		return;
	for (size_t i = 0; i < length; i++) {
		if (text[i] == '\n')
			serial_put('\r');
		serial_put(text[i]);
	}
}

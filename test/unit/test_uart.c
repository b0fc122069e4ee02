/*
 * The 16550 UART model (vmkernel/vdev/uart16550.c) on the host, through
 * its registered port handlers: output lines in the log with the VM's
 * name, the transmitter-empty interrupt as Linux's 8250 driver relies on
 * it (pending on enable and after each byte, cleared by reading IIR, IRQ 4
 * gated by OUT2), and the vmkernel clock on "@time " lines.
 */
#include "unit.h"

#include <stdarg.h>

#include <lib/errno.h>
#include <lib/log.h>
#include <vdev/irq.h>
#include <vdev/vdev.h>
#include <vm/vm.h>
#include <vm/vm_log.h>

/* ---- stubs of the layers below ---- */

void *kzalloc(size_t size) { return calloc(1, size); }

static char logged[4096];

void log_printf(enum log_level level, const char *fmt, ...)
{
	va_list ap;
	(void)level;
	va_start(ap, fmt);
	size_t used = strlen(logged);
	vsnprintf(logged + used, sizeof(logged) - used, fmt, ap);
	va_end(ap);
}

static uint64_t fake_tsc_hz = 1000000000;
uint64_t tsc_hz(void) { return fake_tsc_hz; }

int vm_register_io(struct vm *vm, uint16_t first, uint16_t last, vm_io_read_fn read,
		   vm_io_write_fn write, void *opaque)
{
	if (vm->io_count == VM_MAX_IO_HANDLERS)
		return -ENOSPC;
	vm->io[vm->io_count++] = (struct vm_io_handler){ first, last, read, write, opaque };
	return 0;
}

static int irq4_level;
static unsigned irq4_raises, irq_other;

void vm_irq_line_set(struct vm *vm, unsigned gsi, bool asserted)
{
	(void)vm;
	if (gsi != 4) {
		irq_other++;
		return;
	}
	if (asserted && !irq4_level)
		irq4_raises++;
	irq4_level = asserted;
}

/* ---- the guest's view ---- */

static struct vm vm;

static void setup(void)
{
	free(vm.console); /* the previous test's UART */
	memset(&vm, 0, sizeof(vm));
	strcpy(vm.name, "web");
	logged[0] = '\0';
	irq4_level = 0;
	irq4_raises = irq_other = 0;
	CHECK_EQ(vdev_uart_attach(&vm), 0);
	CHECK_EQ(vm.io_count, 1);
	CHECK_EQ(vm.io[0].first, 0x3f8);
	CHECK_EQ(vm.io[0].last, 0x3ff);
}

static uint32_t in(unsigned reg)
{
	uint32_t value = 0xdeadbeef;
	CHECK_EQ(vm.io[0].read(vm.io[0].opaque, NULL, (uint16_t)(0x3f8 + reg), 1, &value), 0);
	return value;
}

static void out(unsigned reg, uint32_t value)
{
	CHECK_EQ(vm.io[0].write(vm.io[0].opaque, NULL, (uint16_t)(0x3f8 + reg), 1, value), 0);
}

static void say(const char *text)
{
	while (*text)
		out(0, (uint8_t)*text++);
}

UNIT_TEST(lines_go_to_the_log_with_the_vm_name)
{
	setup();
	say("hello\r\nsecond\n");
	CHECK_STR(logged, "vm web: hello\nvm web: second\n");
	char ring[64];
	CHECK_EQ(vdev_uart_console_read(&vm, ring, sizeof(ring)), 14);
	CHECK_STR(ring, "hello\r\nsecond\n");
	CHECK_EQ(in(5) & 0x60, 0x60); /* THR empty, transmitter idle */
}

UNIT_TEST(thre_interrupt_follows_the_16550_rules)
{
	setup();
	CHECK_EQ(in(2), 0xc1); /* nothing pending */
	out(4, 0x08);          /* OUT2: the board lets IRQ 4 through */
	out(1, 0x02);          /* enable THRE: pending at once */
	CHECK_EQ(irq4_level, 1);
	CHECK_EQ(irq4_raises, 1);
	CHECK_EQ(in(2), 0xc2); /* cause THRE, and reading it clears it */
	CHECK_EQ(irq4_level, 0);
	CHECK_EQ(in(2), 0xc1);
	say("x");              /* a byte sent: empty again, a new edge */
	CHECK_EQ(irq4_level, 1);
	CHECK_EQ(irq4_raises, 2);
	out(1, 0x00);          /* disabled: line drops, IIR quiet */
	CHECK_EQ(irq4_level, 0);
	CHECK_EQ(in(2), 0xc1);
	out(1, 0x02);          /* enabled again: pending again */
	CHECK_EQ(irq4_level, 1);
	CHECK_EQ(irq4_raises, 3);
	out(4, 0x00);          /* OUT2 off: pending but not on the line */
	CHECK_EQ(irq4_level, 0);
	CHECK_EQ(in(2), 0xc2); /* still reported in IIR */
	CHECK_EQ(irq_other, 0);
}

UNIT_TEST(no_interrupt_without_enable_or_with_dlab)
{
	setup();
	out(4, 0x08);
	say("abc\n");
	CHECK_EQ(irq4_raises, 0);
	out(3, 0x80);          /* DLAB: port 1 is the divisor, not IER */
	out(1, 0x02);
	CHECK_EQ(irq4_raises, 0);
	CHECK_EQ(in(1), 0x02);
	out(3, 0x03);
	CHECK_EQ(in(1), 0x00);
}

UNIT_TEST(time_marked_lines_carry_the_vmkernel_clock)
{
	setup();
	say("@time sleep start\nplain @time\n");
	CHECK(strstr(logged, "vm web: @time sleep start [vmkernel-time ") == logged);
	CHECK(strstr(logged, "]\nvm web: plain @time\n") != NULL);
	fake_tsc_hz = 0; /* uncalibrated: no stamp rather than a division by 0 */
	logged[0] = '\0';
	say("@time x\n");
	CHECK_STR(logged, "vm web: @time x\n");
	fake_tsc_hz = 1000000000;
	free(vm.console);
	vm.console = NULL;
}

/* The ring's text with the "<seconds>| " stamps cut off. */
static void unstamped(struct vm_log *log, char *out, size_t size)
{
	char raw[4096];
	size_t n = vm_log_take(log, raw, sizeof(raw) - 1), used = 0;
	raw[n] = '\0';
	out[0] = '\0';
	for (char *line = raw; *line && used < size;) {
		char *bar = strstr(line, "| "), *end = strchr(line, '\n');
		CHECK(bar && end && bar < end);
		used += (size_t)snprintf(out + used, size - used, "%.*s", (int)(end + 1 - (bar + 2)), bar + 2);
		line = end + 1;
	}
}

UNIT_TEST(lines_go_to_the_vm_log_and_its_serial_file)
{
	static struct vm_log vm_file, serial_file;
	char text[512];

	setup();
	vm_log_reset(&vm_file);
	vm_log_reset(&serial_file);
	vm.log = &vm_file;
	say("to console\n");
	CHECK_STR(logged, "vm web: to console\n");
	vm.serial_log = &serial_file;
	logged[0] = '\0';
	say("to file\n");
	CHECK_STR(logged, ""); /* serial0.fileType = file: not on the console */
	CHECK_EQ(vm_log_pending(&serial_file), 8);
	CHECK_EQ(vm_log_take(&serial_file, text, sizeof(text)), 8);
	CHECK(memcmp(text, "to file\n", 8) == 0);
	unstamped(&vm_file, text, sizeof(text));
	CHECK_STR(text, "serial0| to console\nserial0| to file\n");
	vm.log = vm.serial_log = NULL;
}

UNIT_TEST(a_full_vm_log_loses_lines_not_the_vm)
{
	static struct vm_log ring;
	char line[100], out[256];

	setup();
	vm_log_reset(&ring);
	vm.log = &ring;
	memset(line, 'x', sizeof(line) - 1);
	line[sizeof(line) - 1] = '\0';
	unsigned lines = 0;
	while (vm_log_pending(&ring) + 200 < VM_LOG_RING_BYTES) {
		vm_log(&vm, "%s", line);
		lines++;
	}
	CHECK(lines > 100);
	for (unsigned i = 0; i < 200; i++)
		vm_log(&vm, "%s", line);
	CHECK(vm_log_take_lost(&ring) >= 198);
	CHECK_EQ(vm_log_take_lost(&ring), 0);
	/* Taken out in whole lines only. */
	size_t n = vm_log_take(&ring, out, 150);
	CHECK(n > 0 && n <= 150 && out[n - 1] == '\n');
	vm.log = NULL;
}

UNIT_MAIN()

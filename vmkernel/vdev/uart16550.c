/*
 * A 16550 UART as guests probe and use it: transmit holding register
 * always empty (output is never slowed), scratch register, divisor latch,
 * line/modem control kept, no receive data (for now). Output lines go to
 * the vmkernel log prefixed with the VM's name (or to the VM's serial file,
 * vm->serial_log), to its log file and to a per-VM ring.
 *
 * The transmitter-empty interrupt works as on the chip, because Linux's
 * 8250 driver sends everything after boot from that interrupt: enabling it
 * (IER bit 1) or writing a byte makes it pending, reading IIR while it is
 * the reported cause clears it. IRQ 4 follows "pending and enabled", gated
 * by MCR OUT2 as on PC boards.
 */
#include <vdev/vdev.h>

#include <arch/x86/cpu.h>
#include <arch/x86/lapic.h>
#include <lib/errno.h>
#include <lib/log.h>
#include <lib/string.h>
#include <mm/heap.h>
#include <vdev/irq.h>
#include <vdev/platform.h>
#include <vm/vm.h>
#include <vm/vm_log.h>

#define UART_BASE 0x3f8
#define UART_LINE_MAX 160
#define UART_RING_SIZE 8192

#define REG_DATA 0
#define REG_IER 1
#define REG_IIR_FCR 2
#define REG_LCR 3
#define REG_MCR 4
#define REG_LSR 5
#define REG_MSR 6
#define REG_SCRATCH 7
#define LCR_DLAB 0x80
#define IER_THRE 0x02
#define MCR_OUT2 0x08
#define IIR_FIFO_BITS 0xc0
#define IIR_NO_INTERRUPT 0x01
#define IIR_THRE 0x02
#define LSR_THR_EMPTY 0x20
#define LSR_TX_IDLE 0x40

struct uart {
	struct vm *vm;
	uint8_t ier, lcr, mcr, scratch, divisor_low, divisor_high;
	bool thre_pending;  /* transmitter-empty interrupt waiting to be seen */
	bool irq_asserted;  /* the level last given to IRQ 4 */
	char line[UART_LINE_MAX + 1];
	unsigned line_length;
	char ring[UART_RING_SIZE];
	uint64_t ring_head;
	struct spinlock lock; /* vCPUs of an SMP guest may print at once */
};

/* A guest line starting with this gets the vmkernel's clock appended, so a
 * test can measure a guest's sleep against the host's time, not its own. */
#define UART_TIME_MARK "@time "

static void uart_flush_line(struct uart *u)
{
	struct vm_log *file = u->vm->serial_log;

	u->line[u->line_length] = '\0';
	vm_log(u->vm, "serial0| %s", u->line);
	if (file) {
		/* serial0.fileType = file: the line goes there instead. */
		u->line[u->line_length] = '\n';
		vm_log_put(file, u->line, u->line_length + 1);
	} else if (!strncmp(u->line, UART_TIME_MARK, sizeof(UART_TIME_MARK) - 1) && tsc_hz() >= 1000) {
		uint64_t us = rdtsc() / (tsc_hz() / 1000000 ? tsc_hz() / 1000000 : 1);
		log_info("vm %s: %s [vmkernel-time %lu.%06lu]\n", u->vm->name, u->line,
			 us / 1000000, us % 1000000);
	} else {
		log_info("vm %s: %s\n", u->vm->name, u->line);
	}
	u->line_length = 0;
}

static void uart_output(struct uart *u, char c)
{
	u->ring[u->ring_head++ % UART_RING_SIZE] = c;
	if (c == '\r')
		return;
	if (c == '\n') {
		uart_flush_line(u);
		return;
	}
	/* Keep the log readable: control characters become '.'. */
	u->line[u->line_length++] = (c >= 0x20 && c < 0x7f) ? c : '.';
	if (u->line_length == UART_LINE_MAX)
		uart_flush_line(u);
}

/* @pre u->lock held. */
static void uart_update_irq(struct uart *u)
{
	bool level = u->thre_pending && (u->ier & IER_THRE) && (u->mcr & MCR_OUT2);
	if (level != u->irq_asserted) {
		u->irq_asserted = level;
		vm_irq_line_set(u->vm, PLATFORM_IRQ_COM1, level);
	}
}

static int uart_read(void *opaque, struct vcpu *vcpu, uint16_t port, unsigned size, uint32_t *value)
{
	struct uart *u = opaque;
	(void)vcpu;
	(void)size;
	uint64_t flags = spin_lock_irqsave(&u->lock);
	switch (port - UART_BASE) {
	case REG_DATA:
		*value = (u->lcr & LCR_DLAB) ? u->divisor_low : 0;
		break;
	case REG_IER:
		*value = (u->lcr & LCR_DLAB) ? u->divisor_high : u->ier;
		break;
	case REG_IIR_FCR:
		if (u->thre_pending && (u->ier & IER_THRE)) {
			*value = IIR_FIFO_BITS | IIR_THRE;
			u->thre_pending = false; /* reading the cause clears it */
		} else {
			*value = IIR_FIFO_BITS | IIR_NO_INTERRUPT;
		}
		break;
	case REG_LCR:
		*value = u->lcr;
		break;
	case REG_MCR:
		*value = u->mcr;
		break;
	case REG_LSR:
		*value = LSR_THR_EMPTY | LSR_TX_IDLE;
		break;
	case REG_MSR:
		*value = 0xb0; /* CTS, DSR, DCD */
		break;
	default:
		*value = u->scratch;
		break;
	}
	uart_update_irq(u);
	spin_unlock_irqrestore(&u->lock, flags);
	return 0;
}

static int uart_write(void *opaque, struct vcpu *vcpu, uint16_t port, unsigned size, uint32_t value)
{
	struct uart *u = opaque;
	(void)vcpu;
	(void)size;
	uint64_t flags = spin_lock_irqsave(&u->lock);
	switch (port - UART_BASE) {
	case REG_DATA:
		if (u->lcr & LCR_DLAB)
			u->divisor_low = (uint8_t)value;
		else
			uart_output(u, (char)value);
		u->thre_pending = true; /* sent at once: the register is empty again */
		break;
	case REG_IER:
		if (u->lcr & LCR_DLAB) {
			u->divisor_high = (uint8_t)value;
		} else {
			if ((value & IER_THRE) && !(u->ier & IER_THRE))
				u->thre_pending = true;
			u->ier = value & 0x0f;
		}
		break;
	case REG_LCR:
		u->lcr = (uint8_t)value;
		break;
	case REG_MCR:
		u->mcr = value & 0x1f;
		break;
	case REG_SCRATCH:
		u->scratch = (uint8_t)value;
		break;
	default:
		break;
	}
	uart_update_irq(u);
	spin_unlock_irqrestore(&u->lock, flags);
	return 0;
}

int vdev_uart_attach(struct vm *vm)
{
	struct uart *u = kzalloc(sizeof(*u));
	if (!u)
		return -ENOMEM;
	u->vm = vm;
	vm->overhead_bytes += sizeof(*u);
	vm->console = u;
	return vm_register_io(vm, UART_BASE, UART_BASE + 7, uart_read, uart_write, u);
}

void vdev_uart_reset(struct vm *vm)
{
	struct uart *u = vm->console;
	if (!u)
		return;
	uint64_t flags = spin_lock_irqsave(&u->lock);
	/* The registers' power-on values; the console ring keeps its history. */
	u->ier = u->lcr = u->mcr = u->scratch = u->divisor_low = u->divisor_high = 0;
	u->thre_pending = false;
	u->irq_asserted = false; /* the chipset's IRQ 4 line is reset low with it */
	u->line_length = 0;
	spin_unlock_irqrestore(&u->lock, flags);
}

unsigned vdev_uart_console_read(struct vm *vm, char *out, unsigned size)
{
	struct uart *u = vm->console;
	if (!u || !size)
		return 0;
	uint64_t available = u->ring_head < UART_RING_SIZE ? u->ring_head : UART_RING_SIZE;
	unsigned n = available < size - 1 ? (unsigned)available : size - 1;
	for (unsigned i = 0; i < n; i++)
		out[i] = u->ring[(u->ring_head - n + i) % UART_RING_SIZE];
	out[n] = '\0';
	return n;
}

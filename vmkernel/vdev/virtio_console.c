/*
 * virtio-console (virtio 1.1, 5.3) with one port and no multiport
 * feature: queue 0 carries input to the guest (writable buffers the driver
 * posts), queue 1 its output. Output goes to the vmkernel log as
 * "vm <name>: <line>", as the UART's does; input comes from a host ring
 * filled by vdev_virtio_console_input() and is handed over whenever the
 * driver has posted buffers.
 */
#include <vdev/vdev.h>

#include <lib/errno.h>
#include <lib/log.h>
#include <lib/string.h>
#include <mm/heap.h>
#include <vdev/virtio_pci.h>
#include <vm/vm.h>

#define QUEUE_RECEIVE 0
#define QUEUE_TRANSMIT 1
#define LINE_MAX 160
#define INPUT_RING_SIZE 1024
#define OUTPUT_CHUNK 256
#define CONFIG_SIZE 12 /* cols, rows, max_nr_ports, emerg_wr */

struct virtio_console {
	struct virtio_device *vdev;
	struct vm *vm;
	uint8_t config[CONFIG_SIZE];
	char line[LINE_MAX + 1];               /* [vdev lock] */
	unsigned line_length;
	char input[INPUT_RING_SIZE];           /* [vdev lock] */
	unsigned input_head, input_count;
	struct virtq_chain chain;              /* [vdev lock] */
	struct virtio_console *next;           /* the list of all consoles */
};

static struct virtio_console *consoles;
static struct spinlock consoles_lock;

static void console_flush_line(struct virtio_console *c)
{
	c->line[c->line_length] = '\0';
	log_info("vm %s: %s\n", c->vm->name, c->line);
	c->line_length = 0;
}

static void console_output(struct virtio_console *c, const char *data, uint64_t length)
{
	for (uint64_t i = 0; i < length; i++) {
		char ch = data[i];
		if (ch == '\r')
			continue;
		if (ch == '\n') {
			console_flush_line(c);
			continue;
		}
		c->line[c->line_length++] = (ch >= 0x20 && ch < 0x7f) ? ch : '.';
		if (c->line_length == LINE_MAX)
			console_flush_line(c);
	}
}

/* @pre vdev lock held */
static void console_transmit(struct virtio_console *c)
{
	struct virtio_device *vdev = c->vdev;
	struct virtq *q = virtio_queue_live(vdev, QUEUE_TRANSMIT);
	char buffer[OUTPUT_CHUNK];
	bool served = false;

	if (!q)
		return;
	/* At most a ring's worth per doorbell. */
	for (unsigned chains = 0; chains < q->size && virtq_pop(q, &c->chain) > 0; chains++) {
		for (uint64_t done = 0; done < c->chain.readable_bytes;) {
			uint64_t n = c->chain.readable_bytes - done;
			n = n < sizeof(buffer) ? n : sizeof(buffer);
			if (virtq_chain_read(q, &c->chain, done, buffer, n))
				break;
			console_output(c, buffer, n);
			done += n;
		}
		if (virtq_push(q, c->chain.head, 0))
			break;
		served = true;
	}
	if (!q->ready)
		virtio_device_fail(vdev, q->error);
	else if (served)
		virtio_queue_interrupt(vdev, QUEUE_TRANSMIT);
}

/* Moves queued input into posted buffers. @pre vdev lock held */
static void console_receive(struct virtio_console *c)
{
	struct virtio_device *vdev = c->vdev;
	struct virtq *q = virtio_queue_live(vdev, QUEUE_RECEIVE);
	bool served = false;

	if (!q)
		return;
	for (unsigned chains = 0; chains < q->size && c->input_count && virtq_pop(q, &c->chain) > 0;
	     chains++) {
		uint32_t written = 0;
		while (c->input_count && written < c->chain.writable_bytes) {
			unsigned tail = (c->input_head + INPUT_RING_SIZE - c->input_count) % INPUT_RING_SIZE;
			unsigned n = c->input_count;
			if (n > INPUT_RING_SIZE - tail)
				n = INPUT_RING_SIZE - tail; /* up to the ring's end */
			if (n > c->chain.writable_bytes - written)
				n = (unsigned)(c->chain.writable_bytes - written);
			if (virtq_chain_write(q, &c->chain, written, &c->input[tail], n))
				break;
			written += n;
			c->input_count -= n;
		}
		if (virtq_push(q, c->chain.head, written))
			break;
		served = true;
	}
	if (!q->ready)
		virtio_device_fail(vdev, q->error);
	else if (served)
		virtio_queue_interrupt(vdev, QUEUE_RECEIVE);
}

static void console_queue_notify(struct virtio_device *vdev, unsigned queue)
{
	struct virtio_console *c = vdev->opaque;
	uint64_t flags = spin_lock_irqsave(&vdev->lock);
	if (queue == QUEUE_TRANSMIT)
		console_transmit(c);
	else
		console_receive(c);
	spin_unlock_irqrestore(&vdev->lock, flags);
}

static void console_reset(struct virtio_device *vdev)
{
	struct virtio_console *c = vdev->opaque;
	if (c->line_length)
		console_flush_line(c);
}

static const struct virtio_device_ops console_ops = {
	.name = "virtio-console",
	.device_type = VIRTIO_ID_CONSOLE,
	.class_code = 0x078000, /* other communication controller */
	.queue_count = 2,
	.features = VIRTIO_F_INDIRECT_DESC,
	.queue_notify = console_queue_notify,
	.reset = console_reset,
};

int vdev_virtio_console_attach(struct vm *vm)
{
	struct virtio_console *c = kzalloc(sizeof(*c));
	if (!c)
		return -ENOMEM;
	vm->overhead_bytes += sizeof(*c);
	c->vm = vm;
	c->config[4] = 1; /* max_nr_ports */
	c->vdev = virtio_pci_create(vm, &console_ops, c, c->config, sizeof(c->config));
	if (!c->vdev) {
		kfree(c);
		return -ENOSPC;
	}
	uint64_t flags = spin_lock_irqsave(&consoles_lock);
	c->next = consoles;
	consoles = c;
	spin_unlock_irqrestore(&consoles_lock, flags);
	return 0;
}

unsigned vdev_virtio_console_input(struct vm *vm, const char *data, unsigned length)
{
	struct virtio_console *c;
	unsigned taken = 0;

	uint64_t flags = spin_lock_irqsave(&consoles_lock);
	for (c = consoles; c && c->vm != vm; c = c->next)
		;
	spin_unlock_irqrestore(&consoles_lock, flags);
	if (!c)
		return 0;
	flags = spin_lock_irqsave(&c->vdev->lock);
	while (taken < length && c->input_count < INPUT_RING_SIZE) {
		c->input[c->input_head] = data[taken++];
		c->input_head = (c->input_head + 1) % INPUT_RING_SIZE;
		c->input_count++;
	}
	console_receive(c);
	spin_unlock_irqrestore(&c->vdev->lock, flags);
	return taken;
}

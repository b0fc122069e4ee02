/*
 * virtio-vsock (virtio 1.2, 5.10): stream sockets between the service
 * console (guest CID 3) and vmkernel services (host CID 2). Queue 0 (rx)
 * holds buffers the driver posts for packets to it, queue 1 (tx) its
 * packets, queue 2 (event) is unused (transport resets happen only on
 * migration). Every packet starts with a 44-byte header; a stream is
 * REQUEST -> RESPONSE, RW packets, SHUTDOWN, RST.
 *
 * Flow control is by credit: each side announces its receive buffer
 * (buf_alloc) and the bytes it has consumed (fwd_cnt) in every header; a
 * sender keeps tx_cnt - peer fwd_cnt <= peer buf_alloc. Services consume
 * at once, so our fwd_cnt follows the received bytes and a credit update
 * goes out after every half buffer.
 *
 * Hostile input costs only the connection it names: a packet with the
 * wrong CIDs or type, unknown ports, a length beyond its buffer or an
 * unknown op is answered with RST. Only a broken ring (virtqueue.c's
 * checks) stops the device.
 */
#include <vdev/vsock.h>

#include <lib/errno.h>
#include <lib/log.h>
#include <lib/string.h>
#include <mm/heap.h>
#include <vdev/virtio_pci.h>
#include <vm/vm.h>

#define VIRTIO_ID_VSOCK 19
#define QUEUE_RX 0
#define QUEUE_TX 1
#define MAX_CONNECTIONS 8
#define MAX_SERVICES 4
#define MAX_PENDING_RESETS 8
#define RECEIVE_BUFFER 65536u  /* our buf_alloc */
#define MAX_RW_PAYLOAD 4096u   /* per packet to the guest (Linux posts 4 KiB buffers) */
#define RECEIVE_CHUNK 512u

#define TYPE_STREAM 1
#define SHUTDOWN_BOTH 3

enum vsock_op {
	OP_INVALID = 0,
	OP_REQUEST = 1,
	OP_RESPONSE = 2,
	OP_RST = 3,
	OP_SHUTDOWN = 4,
	OP_RW = 5,
	OP_CREDIT_UPDATE = 6,
	OP_CREDIT_REQUEST = 7,
};

struct vsock_header {
	uint64_t src_cid, dst_cid;
	uint32_t src_port, dst_port;
	uint32_t len;
	uint16_t type, op;
	uint32_t flags, buf_alloc, fwd_cnt;
} __attribute__((packed));
_Static_assert(sizeof(struct vsock_header) == 44, "virtio-vsock header is 44 bytes");

struct virtio_vsock;

struct vsock_connection {
	struct virtio_vsock *dev;
	const struct vsock_service *service;
	void *context;
	bool used;
	bool response_due;       /* answer the REQUEST */
	bool credit_update_due;
	bool closing;            /* the service closed: SHUTDOWN once the data is out */
	bool shutdown_sent;      /* waiting for the guest's RST */
	uint32_t guest_port, host_port;
	uint32_t peer_buf_alloc, peer_fwd_cnt;
	uint32_t tx_cnt;         /* bytes sent to the guest */
	uint32_t fwd_cnt;        /* bytes taken from the guest */
	uint32_t fwd_cnt_reported;
	size_t out_length;
	char out[VSOCK_SEND_BUFFER];
};

struct pending_reset {
	uint32_t guest_port, host_port;
};

struct virtio_vsock {
	struct virtio_device *vdev;
	struct vm *vm;
	uint64_t guest_cid;
	uint8_t config[8];                         /* guest_cid, little endian */
	struct virtq_chain chain;                  /* [vdev lock] */
	struct vsock_connection connections[MAX_CONNECTIONS]; /* [vdev lock] */
	struct pending_reset resets[MAX_PENDING_RESETS];      /* [vdev lock] */
	unsigned reset_count;
	char payload[RECEIVE_CHUNK];
};

/* Written at boot, before any VM runs; read-only after. */
static const struct vsock_service *services[MAX_SERVICES];

int vsock_register_service(const struct vsock_service *service)
{
	for (unsigned i = 0; i < MAX_SERVICES; i++)
		if (services[i] && services[i]->port == service->port)
			return -EEXIST;
	for (unsigned i = 0; i < MAX_SERVICES; i++) {
		if (!services[i]) {
			services[i] = service;
			return 0;
		}
	}
	return -ENOSPC;
}

void vsock_set_context(struct vsock_connection *c, void *context)
{
	c->context = context;
}

void *vsock_context(struct vsock_connection *c)
{
	return c->context;
}

int vsock_send(struct vsock_connection *c, const char *data, size_t length)
{
	if (c->closing || length > sizeof(c->out) - c->out_length)
		return -ENOBUFS;
	memcpy(c->out + c->out_length, data, length);
	c->out_length += length;
	return 0;
}

void vsock_close(struct vsock_connection *c)
{
	c->closing = true;
}

static void queue_reset(struct virtio_vsock *dev, uint32_t guest_port, uint32_t host_port)
{
	if (dev->reset_count < MAX_PENDING_RESETS)
		dev->resets[dev->reset_count++] = (struct pending_reset){ guest_port, host_port };
	/* else dropped: the guest's connect or send times out instead. */
}

/* Ends a connection: the service hears of it, the slot is free. */
static void connection_end(struct vsock_connection *c)
{
	if (c->service && c->service->closed)
		c->service->closed(c);
	memset(c, 0, sizeof(*c));
}

/* Ends it and tells the guest with RST. */
static void connection_reset(struct vsock_connection *c)
{
	queue_reset(c->dev, c->guest_port, c->host_port);
	connection_end(c);
}

static struct vsock_connection *find_connection(struct virtio_vsock *dev, uint32_t guest_port,
						uint32_t host_port)
{
	for (unsigned i = 0; i < MAX_CONNECTIONS; i++) {
		struct vsock_connection *c = &dev->connections[i];
		if (c->used && c->guest_port == guest_port && c->host_port == host_port)
			return c;
	}
	return NULL;
}

static struct vsock_connection *new_connection(struct virtio_vsock *dev)
{
	struct vsock_connection *lingering = NULL;
	for (unsigned i = 0; i < MAX_CONNECTIONS; i++) {
		struct vsock_connection *c = &dev->connections[i];
		if (!c->used)
			return c;
		if (c->shutdown_sent && !lingering)
			lingering = c;
	}
	/* A guest that never answers our SHUTDOWN does not keep the slot. */
	if (lingering)
		connection_reset(lingering);
	return lingering;
}

static uint32_t peer_credit(const struct vsock_connection *c)
{
	uint32_t in_flight = c->tx_cnt - c->peer_fwd_cnt;
	return in_flight >= c->peer_buf_alloc ? 0 : c->peer_buf_alloc - in_flight;
}

/*
 * Puts one packet into the next posted receive buffer: returns the payload
 * bytes sent (the buffer may take fewer than asked), or -EAGAIN when no
 * buffer is posted. @pre vdev lock held
 */
static int emit(struct virtio_vsock *dev, struct vsock_header *header, const char *payload,
		uint32_t length)
{
	struct virtq *q = virtio_queue_live(dev->vdev, QUEUE_RX);
	if (!q || virtq_pop(q, &dev->chain) <= 0)
		return -EAGAIN;
	if (dev->chain.writable_bytes < sizeof(*header)) {
		virtq_push(q, dev->chain.head, 0);
		return -EAGAIN; /* a driver posting buffers too small for a header */
	}
	uint64_t room = dev->chain.writable_bytes - sizeof(*header);
	if (length > room)
		length = (uint32_t)room;
	header->len = length;
	uint32_t written = 0;
	if (!virtq_chain_write(q, &dev->chain, 0, header, sizeof(*header)) &&
	    (!length || !virtq_chain_write(q, &dev->chain, sizeof(*header), payload, length)))
		written = (uint32_t)sizeof(*header) + length;
	virtq_push(q, dev->chain.head, written);
	return written ? (int)length : -EAGAIN;
}

static struct vsock_header header_for(struct virtio_vsock *dev, uint32_t guest_port, uint32_t host_port,
				      enum vsock_op op)
{
	return (struct vsock_header){ .src_cid = VSOCK_CID_HOST, .dst_cid = dev->guest_cid,
				      .src_port = host_port, .dst_port = guest_port,
				      .type = TYPE_STREAM, .op = op, .buf_alloc = RECEIVE_BUFFER };
}

/* Sends what is due, as far as posted buffers and credit allow. @pre vdev lock held */
static void flush(struct virtio_vsock *dev)
{
	bool sent = false;

	while (dev->reset_count) {
		struct pending_reset *r = &dev->resets[dev->reset_count - 1];
		struct vsock_header h = header_for(dev, r->guest_port, r->host_port, OP_RST);
		if (emit(dev, &h, NULL, 0) < 0)
			goto out;
		dev->reset_count--;
		sent = true;
	}
	for (unsigned i = 0; i < MAX_CONNECTIONS; i++) {
		struct vsock_connection *c = &dev->connections[i];
		if (!c->used)
			continue;
		if (c->response_due) {
			struct vsock_header h = header_for(dev, c->guest_port, c->host_port, OP_RESPONSE);
			h.fwd_cnt = c->fwd_cnt;
			if (emit(dev, &h, NULL, 0) < 0)
				goto out;
			c->response_due = false;
			sent = true;
		}
		while (c->out_length && peer_credit(c)) {
			uint32_t n = (uint32_t)c->out_length;
			if (n > MAX_RW_PAYLOAD)
				n = MAX_RW_PAYLOAD;
			if (n > peer_credit(c))
				n = peer_credit(c);
			struct vsock_header h = header_for(dev, c->guest_port, c->host_port, OP_RW);
			h.fwd_cnt = c->fwd_cnt;
			int done = emit(dev, &h, c->out, n);
			if (done < 0)
				goto out;
			memmove(c->out, c->out + done, c->out_length - (size_t)done);
			c->out_length -= (size_t)done;
			c->tx_cnt += (uint32_t)done;
			c->fwd_cnt_reported = c->fwd_cnt;
			sent = true;
		}
		if (c->credit_update_due) {
			struct vsock_header h = header_for(dev, c->guest_port, c->host_port, OP_CREDIT_UPDATE);
			h.fwd_cnt = c->fwd_cnt;
			if (emit(dev, &h, NULL, 0) < 0)
				goto out;
			c->credit_update_due = false;
			c->fwd_cnt_reported = c->fwd_cnt;
			sent = true;
		}
		if (c->closing && !c->out_length && !c->shutdown_sent) {
			struct vsock_header h = header_for(dev, c->guest_port, c->host_port, OP_SHUTDOWN);
			h.flags = SHUTDOWN_BOTH;
			h.fwd_cnt = c->fwd_cnt;
			if (emit(dev, &h, NULL, 0) < 0)
				goto out;
			c->shutdown_sent = true;
			sent = true;
		}
	}
out:
	if (sent)
		virtio_queue_interrupt(dev->vdev, QUEUE_RX);
}

static void connect_request(struct virtio_vsock *dev, const struct vsock_header *h)
{
	const struct vsock_service *service = NULL;
	for (unsigned i = 0; i < MAX_SERVICES; i++)
		if (services[i] && services[i]->port == h->dst_port)
			service = services[i];
	struct vsock_connection *c = service ? new_connection(dev) : NULL;
	if (!c) {
		queue_reset(dev, h->src_port, h->dst_port);
		return;
	}
	*c = (struct vsock_connection){ .dev = dev, .service = service, .used = true,
					.guest_port = h->src_port, .host_port = h->dst_port,
					.peer_buf_alloc = h->buf_alloc, .peer_fwd_cnt = h->fwd_cnt };
	if (service->accept(c, dev->vm, h->src_cid) < 0) {
		c->service = NULL; /* never accepted: no closed() */
		connection_reset(c);
		return;
	}
	c->response_due = true;
}

/* Hands the chain's payload to the service in pieces. @pre vdev lock held */
static int deliver(struct virtio_vsock *dev, struct virtq *q, struct vsock_connection *c, uint32_t length)
{
	for (uint32_t done = 0; done < length && c->used && !c->closing;) {
		uint32_t n = length - done < RECEIVE_CHUNK ? length - done : RECEIVE_CHUNK;
		if (virtq_chain_read(q, &dev->chain, sizeof(struct vsock_header) + done, dev->payload, n))
			return -EINVAL;
		c->service->receive(c, dev->payload, n);
		done += n;
	}
	return 0;
}

/* One packet from the guest. @pre vdev lock held */
static void handle_packet(struct virtio_vsock *dev, struct virtq *q, const struct vsock_header *h)
{
	if (h->src_cid != dev->guest_cid || h->dst_cid != VSOCK_CID_HOST || h->type != TYPE_STREAM ||
	    h->len > dev->chain.readable_bytes - sizeof(*h)) {
		if (h->op != OP_RST)
			queue_reset(dev, h->src_port, h->dst_port);
		struct vsock_connection *c = find_connection(dev, h->src_port, h->dst_port);
		if (c && h->src_cid == dev->guest_cid)
			connection_end(c);
		return;
	}
	struct vsock_connection *c = find_connection(dev, h->src_port, h->dst_port);
	if (h->op == OP_REQUEST) {
		if (c)
			connection_reset(c); /* a second REQUEST on a live pair */
		else
			connect_request(dev, h);
		return;
	}
	if (!c) {
		if (h->op != OP_RST)
			queue_reset(dev, h->src_port, h->dst_port);
		return;
	}
	c->peer_buf_alloc = h->buf_alloc;
	c->peer_fwd_cnt = h->fwd_cnt;
	switch (h->op) {
	case OP_RW:
		/* More than our buffer in flight: the guest ignored its credit. */
		if (h->len > RECEIVE_BUFFER - (c->fwd_cnt - c->fwd_cnt_reported) ||
		    deliver(dev, q, c, h->len)) {
			connection_reset(c);
			return;
		}
		if (c->used) {
			c->fwd_cnt += h->len;
			if (c->fwd_cnt - c->fwd_cnt_reported >= RECEIVE_BUFFER / 2)
				c->credit_update_due = true;
		}
		break;
	case OP_CREDIT_REQUEST:
		c->credit_update_due = true;
		break;
	case OP_CREDIT_UPDATE:
		break;
	case OP_SHUTDOWN:
		connection_reset(c); /* the guest is done: it waits for our RST */
		break;
	case OP_RST:
		connection_end(c);
		break;
	default:
		connection_reset(c);
		break;
	}
}

/* @pre vdev lock held */
static void process_transmit(struct virtio_vsock *dev)
{
	struct virtio_device *vdev = dev->vdev;
	struct virtq *q = virtio_queue_live(vdev, QUEUE_TX);
	bool served = false;

	if (!q)
		return;
	for (unsigned chains = 0; chains < q->size && virtq_pop(q, &dev->chain) > 0; chains++) {
		struct vsock_header h;
		if (dev->chain.readable_bytes >= sizeof(h) &&
		    !virtq_chain_read(q, &dev->chain, 0, &h, sizeof(h)))
			handle_packet(dev, q, &h);
		if (virtq_push(q, dev->chain.head, 0))
			break;
		served = true;
	}
	if (!q->ready) {
		virtio_device_fail(vdev, q->error);
		return;
	}
	if (served)
		virtio_queue_interrupt(vdev, QUEUE_TX);
}

static void vsock_queue_notify(struct virtio_device *vdev, unsigned queue)
{
	struct virtio_vsock *dev = vdev->opaque;
	uint64_t flags = spin_lock_irqsave(&vdev->lock);
	if (queue == QUEUE_TX)
		process_transmit(dev);
	flush(dev); /* new rx buffers, or replies to what came in */
	struct virtq *rx = virtio_queue_live(vdev, QUEUE_RX);
	if (rx && !rx->ready)
		virtio_device_fail(vdev, rx->error);
	spin_unlock_irqrestore(&vdev->lock, flags);
}

static void vsock_reset(struct virtio_device *vdev)
{
	struct virtio_vsock *dev = vdev->opaque;
	for (unsigned i = 0; i < MAX_CONNECTIONS; i++)
		if (dev->connections[i].used)
			connection_end(&dev->connections[i]);
	dev->reset_count = 0;
}

static const struct virtio_device_ops vsock_ops = {
	.name = "virtio-vsock",
	.device_type = VIRTIO_ID_VSOCK,
	.class_code = 0x078000, /* other communication controller */
	.queue_count = 3,
	.features = 0,
	.queue_notify = vsock_queue_notify,
	.reset = vsock_reset,
};

int vdev_virtio_vsock_attach(struct vm *vm, uint64_t guest_cid)
{
	struct virtio_vsock *dev = kzalloc(sizeof(*dev));
	if (!dev)
		return -ENOMEM;
	vm->overhead_bytes += sizeof(*dev);
	dev->vm = vm;
	dev->guest_cid = guest_cid;
	for (unsigned i = 0; i < 8; i++)
		dev->config[i] = (uint8_t)(guest_cid >> (8 * i));
	dev->vdev = virtio_pci_create(vm, &vsock_ops, dev, dev->config, sizeof(dev->config));
	if (!dev->vdev) {
		kfree(dev);
		return -ENOSPC;
	}
	return 0;
}

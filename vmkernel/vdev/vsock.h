/*
 * The vmkernel end of virtio-vsock (vdev/virtio_vsock.c): stream sockets
 * that a guest opens to the host (CID 2) on a port a vmkernel service
 * listens on. Only the service console has the device (guest CID 3).
 *
 * A service's callbacks run in the vCPU's context with the device lock
 * held; from inside them (and only there) it may call vsock_send and
 * vsock_close on that connection. Data is delivered as it arrives: the
 * service consumes it at once, so the guest's credit is the whole receive
 * buffer again after every packet.
 */
#ifndef KAPSEL_VDEV_VSOCK_H
#define KAPSEL_VDEV_VSOCK_H

#include <stddef.h>
#include <stdint.h>

struct vm;
struct vsock_connection;

#define VSOCK_CID_HOST 2
#define VSOCK_CID_CONSOLE 3
#define VSOCK_SEND_BUFFER 8192 /* bytes a connection buffers toward the guest */

struct vsock_service {
	uint32_t port;
	/* A guest connects: 0 accepts, <0 refuses (the guest sees a reset). */
	int (*accept)(struct vsock_connection *c, struct vm *vm, uint64_t peer_cid);
	/* Bytes from the guest, in order. */
	void (*receive)(struct vsock_connection *c, const char *data, size_t length);
	/* The connection ended (either side); it must not be used after. */
	void (*closed)(struct vsock_connection *c);
};

/* Listens on service->port (static storage). -EEXIST, -ENOSPC. */
int vsock_register_service(const struct vsock_service *service);
/* Queues bytes toward the guest: -ENOBUFS when the send buffer cannot hold
 * them all (nothing queued). @pre inside a callback of this connection */
int vsock_send(struct vsock_connection *c, const char *data, size_t length);
/* Sends what is queued, then ends the connection (shutdown, then reset).
 * @pre inside a callback of this connection */
void vsock_close(struct vsock_connection *c);
/* The service's own pointer for the connection. */
void vsock_set_context(struct vsock_connection *c, void *context);
void *vsock_context(struct vsock_connection *c);

/* virtio-vsock (device 19) for the VM, guest CID `guest_cid`. */
int vdev_virtio_vsock_attach(struct vm *vm, uint64_t guest_cid);

#endif

/*
 * The vmkernel's control service for the service console: the protocol of
 * mgmt-console/PROTOCOL.md on virtio-vsock port MGMT_PORT.
 */
#ifndef KAPSEL_MGMT_MGMT_H
#define KAPSEL_MGMT_MGMT_H

#define MGMT_PORT 1024
#define MGMT_PROTOCOL_VERSION "1.1"
#define MGMT_LINE_MAX 1024  /* bytes of one request line, without the newline */

/* Listens on MGMT_PORT. Call at boot, before the service console starts. */
int mgmt_init(void);

#endif

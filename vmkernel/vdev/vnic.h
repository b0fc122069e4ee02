/*
 * Virtual NICs and the switch they plug into. The switch lives above the
 * device models (vmkernel/net); it registers its operations here once at
 * boot, and NICs attached afterwards connect to it. Frames are Ethernet
 * frames without FCS, at most VNIC_FRAME_MAX bytes.
 */
#ifndef KAPSEL_VDEV_VNIC_H
#define KAPSEL_VDEV_VNIC_H

#include <stdbool.h>
#include <stdint.h>

#define VNIC_FRAME_MAX 1518 /* 1500-byte MTU, Ethernet header, a VLAN tag */
#define VNIC_MAC_SIZE 6
#define VNIC_NETWORK_NAME_MAX 32 /* with the NUL */

/* One virtual NIC of a VM, from its definition (ethernetN.*). */
struct vnic_params {
	unsigned index;                  /* N of ethernetN: the generated MAC and the log name it */
	const uint8_t *mac;              /* NULL: generated (vnic_mac_for) */
	const char *network;             /* the network (port group) it joins */
};

struct vnic;

struct vnic_switch_ops {
	/* A NIC joins a network (created on first use; frames never cross
	 * networks); returns the switch's handle for its port, NULL: no link. */
	void *(*connect)(struct vnic *nic, const uint8_t mac[VNIC_MAC_SIZE], const char *network);
	/* A frame the NIC sent (vCPU context, no device lock held). */
	void (*transmit)(void *port, const void *frame, unsigned length);
};

void vnic_register_switch(const struct vnic_switch_ops *ops);
/* Hands a frame to a NIC's guest; false when it had no buffer posted (the
 * frame is dropped, as a full receive ring would). Any context. */
bool vnic_receive(struct vnic *nic, const void *frame, unsigned length);
/* The deterministic MAC of a VM's NIC: locally administered, unicast,
 * from a hash of the VM's name and the NIC's index. */
void vnic_mac_for(const char *vm_name, unsigned index, uint8_t mac[VNIC_MAC_SIZE]);

#endif

/*
 * The host's internal virtual switch: a learning L2 switch connecting the
 * virtual NICs of all VMs (until physical uplinks arrive), split into
 * networks (port groups, by the name in ethernetN.networkName) that never
 * see each other's frames. Source MACs are learnt per network and port;
 * unicast to a known MAC goes to its port only, anything else floods to
 * every other port of the sender's network.
 */
#ifndef KAPSEL_NET_VSWITCH_H
#define KAPSEL_NET_VSWITCH_H

#include <stdint.h>

#define VSWITCH_MAX_PORTS 64
#define VSWITCH_MAC_TABLE 256
#define VSWITCH_MAX_NETWORKS 16

struct vswitch_stats {
	uint64_t frames, flooded, unicast, dropped;
};

/* Registers the switch with the NIC models (vdev/vnic.h); call before VMs
 * are created. */
void vswitch_init(void);
void vswitch_get_stats(struct vswitch_stats *out);

#endif

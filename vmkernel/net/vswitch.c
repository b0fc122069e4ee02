/*
 * The internal learning switch. Each port belongs to one network (a port
 * group, by name): frames are delivered and flooded only within it, and
 * the MAC table is keyed by network and address, so the same MAC may live
 * in two networks. The table is open-addressed by a hash of both; an entry
 * is refreshed on every frame from that address, so a VM that moves ports
 * is followed at once. Delivery happens after the
 * switch lock is dropped (ports are never removed), so a receiving NIC's
 * lock is never taken under it.
 */
#include <net/vswitch.h>

#include <lib/spinlock.h>
#include <lib/string.h>
#include <vdev/vnic.h>

struct vswitch_port {
	struct vnic *nic;
	uint8_t mac[VNIC_MAC_SIZE];
	uint8_t network;   /* index into networks */
};

struct mac_entry {
	uint8_t mac[VNIC_MAC_SIZE];
	uint8_t network;
	uint16_t port; /* index + 1; 0: free */
};

static struct vswitch_port ports[VSWITCH_MAX_PORTS];
static unsigned port_count;
static char networks[VSWITCH_MAX_NETWORKS][VNIC_NETWORK_NAME_MAX];
static unsigned network_count;
static struct mac_entry table[VSWITCH_MAC_TABLE];
static struct vswitch_stats stats;
static struct spinlock lock;

static unsigned mac_hash(uint8_t network, const uint8_t *mac)
{
	uint32_t h = (2166136261u ^ network) * 16777619u;
	for (unsigned i = 0; i < VNIC_MAC_SIZE; i++)
		h = (h ^ mac[i]) * 16777619u;
	return h % VSWITCH_MAC_TABLE;
}

/* The entry holding (network, mac), or the free slot where it would go, or
 * NULL when the table is full. @pre lock held */
static struct mac_entry *mac_slot(uint8_t network, const uint8_t *mac)
{
	unsigned at = mac_hash(network, mac);
	for (unsigned i = 0; i < VSWITCH_MAC_TABLE; i++) {
		struct mac_entry *e = &table[(at + i) % VSWITCH_MAC_TABLE];
		if (!e->port || (e->network == network && !memcmp(e->mac, mac, VNIC_MAC_SIZE)))
			return e;
	}
	return NULL;
}

/* The network's index, created when new; -1 when the table is full or the
 * name is empty or too long. @pre lock held */
static int network_index(const char *name)
{
	size_t length = name ? strlen(name) : 0;
	if (!length || length >= VNIC_NETWORK_NAME_MAX)
		return -1;
	for (unsigned i = 0; i < network_count; i++)
		if (!strcmp(networks[i], name))
			return (int)i;
	if (network_count == VSWITCH_MAX_NETWORKS)
		return -1;
	memcpy(networks[network_count], name, length + 1);
	return (int)network_count++;
}

static void *vswitch_connect(struct vnic *nic, const uint8_t mac[VNIC_MAC_SIZE], const char *network)
{
	void *port = NULL;
	uint64_t flags = spin_lock_irqsave(&lock);
	int index = network_index(network);
	if (index >= 0 && port_count < VSWITCH_MAX_PORTS) {
		ports[port_count].nic = nic;
		ports[port_count].network = (uint8_t)index;
		memcpy(ports[port_count].mac, mac, VNIC_MAC_SIZE);
		port = &ports[port_count++];
	}
	spin_unlock_irqrestore(&lock, flags);
	return port;
}

static void vswitch_transmit(void *from, const void *frame, unsigned length)
{
	const uint8_t *bytes = frame;
	struct vswitch_port *source = from;
	struct vnic *targets[VSWITCH_MAX_PORTS];
	unsigned target_count = 0;

	if (length < 14 || length > VNIC_FRAME_MAX) {
		__atomic_fetch_add(&stats.dropped, 1, __ATOMIC_RELAXED);
		return;
	}
	const uint8_t *destination = bytes, *sender = bytes + VNIC_MAC_SIZE;
	uint16_t source_index = (uint16_t)(source - ports + 1);
	uint64_t flags = spin_lock_irqsave(&lock);
	stats.frames++;
	if (!(sender[0] & 1)) { /* a group address is never a sender */
		struct mac_entry *e = mac_slot(source->network, sender);
		if (e) {
			memcpy(e->mac, sender, VNIC_MAC_SIZE);
			e->network = source->network;
			e->port = source_index;
		}
	}
	struct mac_entry *known = (destination[0] & 1) ? NULL : mac_slot(source->network, destination);
	if (known && known->port) {
		stats.unicast++;
		if (known->port != source_index)
			targets[target_count++] = ports[known->port - 1].nic;
	} else {
		stats.flooded++;
		for (unsigned i = 0; i < port_count; i++)
			if (&ports[i] != source && ports[i].network == source->network)
				targets[target_count++] = ports[i].nic;
	}
	spin_unlock_irqrestore(&lock, flags);
	for (unsigned i = 0; i < target_count; i++)
		if (!vnic_receive(targets[i], frame, length))
			__atomic_fetch_add(&stats.dropped, 1, __ATOMIC_RELAXED);
}

static const struct vnic_switch_ops vswitch_ops = {
	.connect = vswitch_connect,
	.transmit = vswitch_transmit,
};

void vswitch_init(void)
{
	vnic_register_switch(&vswitch_ops);
}

void vswitch_get_stats(struct vswitch_stats *out)
{
	uint64_t flags = spin_lock_irqsave(&lock);
	*out = stats;
	spin_unlock_irqrestore(&lock, flags);
}

/*
 * The internal learning switch (vmkernel/net/vswitch.c): flooding while a
 * destination is unknown, learning from source addresses, unicast to the
 * learnt port only, broadcast, no echo to the sender, malformed frames
 * dropped. The NIC side (vdev/vnic.h) is recorded by stubs.
 */
#include "unit.h"

#include <net/vswitch.h>
#include <vdev/vnic.h>

static const struct vnic_switch_ops *ops;
static unsigned received[8];
static bool full[8];

struct vnic {
	unsigned index;
};
static struct vnic nics[8] = { { 0 }, { 1 }, { 2 }, { 3 }, { 4 }, { 5 }, { 6 }, { 7 } };
static void *port[8];

void vnic_register_switch(const struct vnic_switch_ops *switch_ops) { ops = switch_ops; }

bool vnic_receive(struct vnic *nic, const void *frame, unsigned length)
{
	(void)frame;
	(void)length;
	if (full[nic->index])
		return false;
	received[nic->index]++;
	return true;
}

static uint8_t mac[8][6] = {
	{ 2, 0, 0, 0, 0, 1 }, { 2, 0, 0, 0, 0, 2 }, { 2, 0, 0, 0, 0, 3 }, { 2, 0, 0, 0, 0, 4 },
	{ 2, 0, 0, 0, 0, 5 }, { 2, 0, 0, 0, 0, 6 }, { 2, 0, 0, 0, 0, 1 }, { 2, 0, 0, 0, 0, 8 },
};
static const uint8_t broadcast[6] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };

static void send(unsigned from, const uint8_t *to)
{
	uint8_t frame[60] = { 0 };
	memcpy(frame, to, 6);
	memcpy(frame + 6, mac[from], 6);
	ops->transmit(port[from], frame, sizeof(frame));
}

static void clear(void) { memset(received, 0, sizeof(received)); }

UNIT_TEST(learning_and_forwarding)
{
	struct vswitch_stats s;
	vswitch_init();
	CHECK(ops != NULL);
	for (unsigned i = 0; i < 3; i++) {
		port[i] = ops->connect(&nics[i], mac[i], "VM Network");
		CHECK(port[i] != NULL);
	}
	/* Unknown destination: everyone but the sender. */
	send(0, mac[1]);
	CHECK_EQ(received[0], 0);
	CHECK_EQ(received[1], 1);
	CHECK_EQ(received[2], 1);
	clear();
	/* 0 was learnt: the reply goes to port 0 only. */
	send(1, mac[0]);
	CHECK_EQ(received[0], 1);
	CHECK_EQ(received[1] + received[2], 0);
	clear();
	send(0, mac[1]);
	CHECK_EQ(received[1], 1);
	CHECK_EQ(received[0] + received[2], 0);
	clear();
	send(2, broadcast);
	CHECK_EQ(received[0], 1);
	CHECK_EQ(received[1], 1);
	CHECK_EQ(received[2], 0);
	clear();
	/* A frame to yourself (learnt on your own port) goes nowhere. */
	send(0, mac[0]);
	CHECK_EQ(received[0] + received[1] + received[2], 0);
	/* Runts and giants are dropped; a full receiver counts a drop. */
	vswitch_get_stats(&s);
	uint64_t dropped = s.dropped;
	uint8_t small[10] = { 0 };
	ops->transmit(port[0], small, sizeof(small));
	ops->transmit(port[0], small, VNIC_FRAME_MAX + 1);
	full[1] = true;
	send(0, mac[1]);
	full[1] = false;
	vswitch_get_stats(&s);
	CHECK_EQ(s.dropped, dropped + 3);
	CHECK_EQ(received[0] + received[1] + received[2], 0);
	CHECK(s.unicast >= 3);
	CHECK(s.flooded >= 2);
	/* A station moving to another port is followed. */
	port[3] = ops->connect(&nics[3], mac[3], "VM Network");
	memcpy(mac[3], mac[1], 6);
	send(3, mac[0]);
	clear();
	send(0, mac[1]);
	CHECK_EQ(received[3], 1);
	CHECK_EQ(received[1], 0);
}

static unsigned received_total(unsigned first, unsigned last)
{
	unsigned total = 0;
	for (unsigned i = first; i <= last; i++)
		total += received[i];
	return total;
}

/* Ports 4-6 on "storage" (6 with port 0's MAC): nothing crosses between
 * it and "VM Network" (ports 0-3), in either direction, and each network
 * learns its own copy of the shared MAC. */
UNIT_TEST(networks_are_isolated)
{
	for (unsigned i = 4; i < 7; i++) {
		port[i] = ops->connect(&nics[i], mac[i], "storage");
		CHECK(port[i] != NULL);
	}
	clear();
	send(4, broadcast);
	CHECK_EQ(received[5], 1);
	CHECK_EQ(received[6], 1);
	CHECK_EQ(received_total(0, 3), 0);
	clear();
	send(0, broadcast);
	CHECK_EQ(received_total(1, 3), 3);
	CHECK_EQ(received_total(4, 6), 0);
	clear();
	/* Unknown unicast floods only within the sender's network. */
	send(1, mac[7]);
	CHECK_EQ(received_total(4, 7), 0);
	CHECK_EQ(received_total(0, 3), 3); /* ports 0, 2 and 3 */
	clear();
	/* 02:..:01 is port 0 on VM Network and port 6 on storage. */
	send(6, mac[4]);
	clear();
	send(4, mac[0]);
	CHECK_EQ(received[6], 1);
	CHECK_EQ(received_total(0, 5), 0);
	clear();
	send(1, mac[0]);
	CHECK_EQ(received[0], 1);
	CHECK_EQ(received_total(1, 7), 0);
	/* A network needs a name that fits. */
	static struct vnic extra;
	CHECK(ops->connect(&extra, mac[7], "") == NULL);
	CHECK(ops->connect(&extra, mac[7], NULL) == NULL);
	CHECK(ops->connect(&extra, mac[7], "a network name of thirty-two ch") != NULL);
	CHECK(ops->connect(&extra, mac[7], "a network name of thirty-two cha") == NULL);
}

UNIT_TEST(network_limit)
{
	static struct vnic extra;
	char name[16];
	unsigned created = 0;
	/* VM Network, storage and the 31-character one exist. */
	for (unsigned i = 0; i < 2 * VSWITCH_MAX_NETWORKS; i++) {
		snprintf(name, sizeof(name), "net%u", i);
		created += ops->connect(&extra, mac[7], name) != NULL;
	}
	CHECK_EQ(created, VSWITCH_MAX_NETWORKS - 3);
	/* An existing network still takes ports. */
	CHECK(ops->connect(&extra, mac[7], "storage") != NULL);
}

UNIT_TEST(port_limit)
{
	unsigned connected = 0;
	static struct vnic extra;
	while (connected < 2 * VSWITCH_MAX_PORTS && ops->connect(&extra, mac[0], "VM Network"))
		connected++;
	/* 4 + 3 ports above, 1 in the name test, 13 + 1 in the network test. */
	CHECK_EQ(connected, VSWITCH_MAX_PORTS - 4 - 3 - 1 - (VSWITCH_MAX_NETWORKS - 3) - 1);
}

UNIT_MAIN()

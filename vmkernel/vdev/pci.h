/*
 * A VM's PCI bus (hw.version 1): segment 0, bus 0, single-function devices,
 * a host bridge at 00:00.0. Configuration space through the 0xcf8/0xcfc
 * mechanism and through ECAM; 32-bit memory and I/O BARs placed by the
 * vmkernel at attach time (as firmware would) inside the platform's PCI
 * windows, movable by the guest; capability lists with MSI and MSI-X
 * (table and PBA in a BAR of their own); INTx on GSI 16-23.
 *
 * A device model fills its configuration header through pci_device_add*,
 * then receives the accesses to its BARs. Locking: the bus lock guards
 * configuration space and MSI/MSI-X state; BAR callbacks run without it.
 */
#ifndef KAPSEL_VDEV_PCI_H
#define KAPSEL_VDEV_PCI_H

#include <stdbool.h>
#include <stdint.h>

#include <lib/spinlock.h>

struct vm;
struct pci_device;

#define PCI_SLOTS 32
#define PCI_BARS 6
#define PCI_CONFIG_SIZE 256          /* what is modelled; ECAM's rest reads 0 */
#define PCI_ECAM_FUNCTION_SIZE 4096
#define PCI_MSIX_MAX_VECTORS 64
#define PCI_MSIX_NO_VECTOR 0xffffu

/* Configuration header offsets and bits (type 0). */
#define PCI_VENDOR_ID 0x00
#define PCI_DEVICE_ID 0x02
#define PCI_COMMAND 0x04
#define PCI_STATUS 0x06
#define PCI_REVISION 0x08
#define PCI_CLASS_PROG 0x09
#define PCI_CACHE_LINE_SIZE 0x0c
#define PCI_LATENCY_TIMER 0x0d
#define PCI_HEADER_TYPE 0x0e
#define PCI_BAR0 0x10
#define PCI_SUBSYSTEM_VENDOR_ID 0x2c
#define PCI_SUBSYSTEM_ID 0x2e
#define PCI_CAPABILITY_LIST 0x34
#define PCI_INTERRUPT_LINE 0x3c
#define PCI_INTERRUPT_PIN 0x3d

#define PCI_COMMAND_IO 0x1
#define PCI_COMMAND_MEMORY 0x2
#define PCI_COMMAND_MASTER 0x4
#define PCI_COMMAND_INTX_DISABLE 0x400
#define PCI_STATUS_INTERRUPT 0x8
#define PCI_STATUS_CAP_LIST 0x10

#define PCI_CAP_ID_MSI 0x05
#define PCI_CAP_ID_VENDOR 0x09
#define PCI_CAP_ID_MSIX 0x11

#define PCI_MSIX_CONTROL_ENABLE 0x8000
#define PCI_MSIX_CONTROL_MASK_ALL 0x4000
#define PCI_MSIX_ENTRY_SIZE 16
#define PCI_MSIX_ENTRY_MASKED 0x1
#define PCI_MSI_CONTROL_ENABLE 0x1
#define PCI_MSI_CONTROL_64BIT 0x80

/* The host bridge carries the IDs of QEMU's generic PCIe host bridge, which
 * guests know as a plain bridge needing no quirks. */
#define PCI_HOST_BRIDGE_VENDOR 0x1b36
#define PCI_HOST_BRIDGE_DEVICE 0x0008

enum pci_bar_type {
	PCI_BAR_UNUSED,
	PCI_BAR_MEMORY, /* 32-bit, non-prefetchable */
	PCI_BAR_IO,
};

/* Accesses inside a BAR; offset < the BAR's size, size 1/2/4/8. */
typedef void (*pci_bar_read_fn)(struct pci_device *dev, unsigned bar, uint64_t offset,
				unsigned size, uint64_t *value);
typedef void (*pci_bar_write_fn)(struct pci_device *dev, unsigned bar, uint64_t offset,
				 unsigned size, uint64_t value);

struct pci_bar {
	enum pci_bar_type type;   /* (o) */
	uint32_t size;            /* (o) power of two */
	pci_bar_read_fn read;     /* (o) */
	pci_bar_write_fn write;   /* (o) */
};

struct pci_msix_entry {
	uint32_t address_low, address_high, data, control;
};

struct pci_device {
	struct pci_bus *bus;      /* (o) */
	uint8_t slot;             /* (o) */
	uint8_t config[PCI_CONFIG_SIZE];   /* [bus lock] */
	uint8_t writable[PCI_CONFIG_SIZE]; /* (o) bits the guest may change */
	struct pci_bar bars[PCI_BARS];
	uint8_t last_capability;  /* (o) the list's tail, 0: none yet */
	uint8_t next_free;        /* (o) where the next capability goes */
	uint8_t msi_capability;   /* (o) 0: none */
	uint8_t msix_capability;  /* (o) 0: none */
	uint8_t msix_bar;         /* (o) BAR holding the table (offset 0) and PBA */
	uint16_t msix_count;      /* (o) vectors */
	struct pci_msix_entry msix_table[PCI_MSIX_MAX_VECTORS]; /* [bus lock] */
	uint64_t msix_pending;    /* [bus lock] the PBA */
	bool intx_level;          /* [bus lock] the device's INTx output */
	bool intx_driven;         /* [bus lock] counted in the bus's line */
	void *opaque;             /* (o) the device model */
	/* Optional: configuration bytes [hook_offset, hook_offset + hook_length)
	 * belong to the device model, which sees every access to them (after a
	 * write has gone through the mask). Called without the bus lock. */
	void (*config_hook)(struct pci_device *dev, unsigned offset, unsigned size, uint32_t *value,
			    bool write);
	uint8_t hook_offset, hook_length; /* (o) */
	/* Optional: the device model's part of a bus reset (no lock held). */
	void (*reset)(struct pci_device *dev);
	uint8_t power_on_config[PCI_CONFIG_SIZE]; /* (o) config as the VM first started */
};

struct pci_bus {
	struct vm *vm;                       /* (o) */
	struct pci_device *slots[PCI_SLOTS]; /* (o) filled before the VM starts */
	uint32_t config_address;             /* [lock] the 0xcf8 latch */
	uint32_t next_memory, next_io;       /* (o) BAR placement at attach */
	uint8_t intx_count[8];               /* [lock] devices asserting each PCI GSI */
	struct spinlock lock;
};

/* Creates the VM's bus with its host bridge and claims 0xcf8-0xcff, ECAM,
 * the PCI memory window and the PCI I/O window. */
int pci_bus_attach(struct vm *vm);
/* A new single-function device in the next free slot; NULL when full.
 * class_code is base class << 16 | subclass << 8 | programming interface. */
struct pci_device *pci_device_add(struct pci_bus *bus, uint16_t vendor, uint16_t device,
				  uint32_t class_code, uint8_t revision, uint16_t subsystem_vendor,
				  uint16_t subsystem_id, void *opaque);
/* Declares BAR `index` (placed in the PCI window now). 0 or -errno. */
int pci_device_add_bar(struct pci_device *dev, unsigned index, enum pci_bar_type type,
		       uint32_t size, pci_bar_read_fn read, pci_bar_write_fn write);
/* Appends a capability of `length` bytes with ID `id` to the list; returns
 * its offset in configuration space, 0 when there is no room. */
uint8_t pci_device_add_capability(struct pci_device *dev, uint8_t id, uint8_t length);
/* MSI-X with `vectors` entries; table at offset 0 and PBA at 2 KiB of the
 * new memory BAR `bar`. 0 or -errno. */
int pci_device_add_msix(struct pci_device *dev, unsigned bar, unsigned vectors);
/* MSI with one vector and 64-bit addresses. 0 or -errno. */
int pci_device_add_msi(struct pci_device *dev);

/* Interrupt delivery from the device model (any context). */
bool pci_device_msix_enabled(struct pci_device *dev);
/* Sends MSI-X vector `vector`, or marks it pending while masked; a vector
 * beyond the table (or PCI_MSIX_NO_VECTOR) is dropped. */
void pci_device_msix_send(struct pci_device *dev, unsigned vector);
/* Sends the MSI message; false when MSI is not enabled. */
bool pci_device_msi_send(struct pci_device *dev);
/* Sets the device's INTx output level (routed unless INTx is disabled). */
void pci_device_set_intx(struct pci_device *dev, bool level);
/* The GSI of a device's INTA#. */
unsigned pci_device_intx_gsi(const struct pci_device *dev);

/* Records every device's configuration space as the power-on state that
 * pci_bus_reset() returns to. Once, after the devices are attached. */
void pci_bus_save_power_on_state(struct pci_bus *bus);
/* Power-on reset of every device: configuration space (BARs, command,
 * MSI/MSI-X) as saved, MSI-X table masked, INTx low, then each device
 * model's reset. @pre no vCPU of the VM runs */
void pci_bus_reset(struct pci_bus *bus);

/* Configuration space by bus/device/function (both access mechanisms end
 * here; exported for the unit tests). Absent functions read all-ones. */
uint32_t pci_config_read(struct pci_bus *bus, unsigned bus_number, unsigned slot,
			 unsigned function, unsigned offset, unsigned size);
void pci_config_write(struct pci_bus *bus, unsigned bus_number, unsigned slot, unsigned function,
		      unsigned offset, unsigned size, uint32_t value);
/* The memory BAR (of a device with memory decoding on) holding gpa, for
 * the PCI window's dispatch; NULL when none. */
struct pci_device *pci_find_memory_bar(struct pci_bus *bus, uint64_t gpa, unsigned *bar,
				       uint64_t *offset);

#endif

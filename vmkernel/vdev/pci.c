/*
 * The PCI bus of a VM: configuration space (0xcf8/0xcfc and ECAM), BAR
 * sizing and decoding, capability lists, MSI and MSI-X, INTx routing.
 *
 * Configuration space is a byte array with a parallel mask of the bits the
 * guest may write: writing all-ones to a BAR and reading it back yields
 * ~(size - 1) plus the type bits, which is how software sizes BARs.
 * Writes go byte by byte through the mask, so any access width behaves
 * alike. Only 256 bytes are modelled; the extended space reads 0 (no
 * extended capabilities).
 *
 * MSI-X (PCI 3.0, 6.8.2): each table entry is a message address, data and
 * a vector-control word whose bit 0 masks it. A message raised while its
 * vector or the whole function is masked sets the vector's bit in the
 * pending-bit array (PBA) and is sent when unmasked. The table accepts
 * aligned dword and qword accesses; writes beyond the table are ignored
 * as hardware does.
 */
#include <vdev/pci.h>

#include <lib/errno.h>
#include <lib/log.h>
#include <lib/string.h>
#include <mm/heap.h>
#include <vdev/irq.h>
#include <vdev/platform.h>
#include <vdev/vdev.h>
#include <vm/vm.h>

#define CONFIG_ENABLE 0x80000000u
#define MSIX_PBA_OFFSET 2048u
#define MSIX_BAR_SIZE 4096u
#define FIRST_CAPABILITY 0x40

static uint32_t config_get(const struct pci_device *dev, unsigned offset, unsigned size)
{
	uint32_t value = 0;
	memcpy(&value, &dev->config[offset], size);
	return value;
}

static void config_set(struct pci_device *dev, unsigned offset, unsigned size, uint32_t value)
{
	memcpy(&dev->config[offset], &value, size);
}

static void writable_set(struct pci_device *dev, unsigned offset, unsigned size, uint32_t mask)
{
	memcpy(&dev->writable[offset], &mask, size);
}

unsigned pci_device_intx_gsi(const struct pci_device *dev)
{
	/* INTA# is pin 0 in the platform's swizzle. */
	return PLATFORM_GSI_PCI_FIRST + dev->slot % PLATFORM_GSI_PCI_COUNT;
}

/* Drives the shared line from this device's level and INTx Disable.
 * @pre bus lock held */
static void intx_update(struct pci_device *dev)
{
	struct pci_bus *bus = dev->bus;
	bool drive = dev->intx_level && !(config_get(dev, PCI_COMMAND, 2) & PCI_COMMAND_INTX_DISABLE) &&
		     dev->config[PCI_INTERRUPT_PIN];
	unsigned line = dev->slot % PLATFORM_GSI_PCI_COUNT;
	uint16_t status = (uint16_t)config_get(dev, PCI_STATUS, 2);

	status = dev->intx_level ? status | PCI_STATUS_INTERRUPT : status & ~PCI_STATUS_INTERRUPT;
	config_set(dev, PCI_STATUS, 2, status);
	if (drive == dev->intx_driven)
		return;
	dev->intx_driven = drive;
	if (drive && bus->intx_count[line]++ == 0)
		vm_irq_line_set(bus->vm, pci_device_intx_gsi(dev), true);
	else if (!drive && --bus->intx_count[line] == 0)
		vm_irq_line_set(bus->vm, pci_device_intx_gsi(dev), false);
}

void pci_device_set_intx(struct pci_device *dev, bool level)
{
	uint64_t flags = spin_lock_irqsave(&dev->bus->lock);
	dev->intx_level = level;
	intx_update(dev);
	spin_unlock_irqrestore(&dev->bus->lock, flags);
}

/* ---- MSI-X ---- */

static uint16_t msix_control(const struct pci_device *dev)
{
	return (uint16_t)config_get(dev, dev->msix_capability + 2, 2);
}

static bool msix_vector_masked(const struct pci_device *dev, unsigned vector)
{
	return (msix_control(dev) & PCI_MSIX_CONTROL_MASK_ALL) ||
	       (dev->msix_table[vector].control & PCI_MSIX_ENTRY_MASKED);
}

static void msix_deliver(struct pci_device *dev, unsigned vector)
{
	const struct pci_msix_entry *e = &dev->msix_table[vector];
	vm_msi_send(dev->bus->vm, (uint64_t)e->address_high << 32 | e->address_low, e->data);
}

/* Sends what became unmasked. @pre bus lock held */
static void msix_flush_pending(struct pci_device *dev)
{
	if (!(msix_control(dev) & PCI_MSIX_CONTROL_ENABLE))
		return;
	for (unsigned v = 0; v < dev->msix_count; v++) {
		if ((dev->msix_pending & (1ull << v)) && !msix_vector_masked(dev, v)) {
			dev->msix_pending &= ~(1ull << v);
			msix_deliver(dev, v);
		}
	}
}

bool pci_device_msix_enabled(struct pci_device *dev)
{
	return dev->msix_capability && (msix_control(dev) & PCI_MSIX_CONTROL_ENABLE);
}

void pci_device_msix_send(struct pci_device *dev, unsigned vector)
{
	if (vector >= dev->msix_count)
		return;
	uint64_t flags = spin_lock_irqsave(&dev->bus->lock);
	if (msix_control(dev) & PCI_MSIX_CONTROL_ENABLE) {
		if (msix_vector_masked(dev, vector))
			dev->msix_pending |= 1ull << vector;
		else
			msix_deliver(dev, vector);
	}
	spin_unlock_irqrestore(&dev->bus->lock, flags);
}

static void msix_bar_read(struct pci_device *dev, unsigned bar, uint64_t offset, unsigned size,
			  uint64_t *value)
{
	(void)bar;
	*value = 0;
	if ((size != 4 && size != 8) || (offset & (size - 1)))
		return;
	uint64_t flags = spin_lock_irqsave(&dev->bus->lock);
	if (offset < (uint64_t)dev->msix_count * PCI_MSIX_ENTRY_SIZE) {
		memcpy(value, (uint8_t *)dev->msix_table + offset, size);
	} else if (offset >= MSIX_PBA_OFFSET && offset < MSIX_PBA_OFFSET + 8) {
		uint64_t pba = dev->msix_pending;
		*value = size == 8 ? pba : (uint32_t)(pba >> (8 * (offset - MSIX_PBA_OFFSET)));
	}
	spin_unlock_irqrestore(&dev->bus->lock, flags);
}

static void msix_bar_write(struct pci_device *dev, unsigned bar, uint64_t offset, unsigned size,
			   uint64_t value)
{
	(void)bar;
	if ((size != 4 && size != 8) || (offset & (size - 1)) ||
	    offset >= (uint64_t)dev->msix_count * PCI_MSIX_ENTRY_SIZE)
		return; /* misaligned, beyond the table, or the read-only PBA */
	uint64_t flags = spin_lock_irqsave(&dev->bus->lock);
	for (unsigned i = 0; i < size; i += 4) {
		uint32_t dword = (uint32_t)(value >> (8 * i));
		unsigned index = (unsigned)(offset + i) / 4;
		struct pci_msix_entry *e = &dev->msix_table[index / 4];
		switch (index % 4) {
		case 0:
			e->address_low = dword & ~3u;
			break;
		case 1:
			e->address_high = dword;
			break;
		case 2:
			e->data = dword;
			break;
		default:
			e->control = dword & PCI_MSIX_ENTRY_MASKED;
			break;
		}
	}
	msix_flush_pending(dev);
	spin_unlock_irqrestore(&dev->bus->lock, flags);
}

int pci_device_add_msix(struct pci_device *dev, unsigned bar, unsigned vectors)
{
	if (!vectors || vectors > PCI_MSIX_MAX_VECTORS || dev->msix_capability)
		return -EINVAL;
	int error = pci_device_add_bar(dev, bar, PCI_BAR_MEMORY, MSIX_BAR_SIZE, msix_bar_read,
				       msix_bar_write);
	if (error)
		return error;
	uint8_t cap = pci_device_add_capability(dev, PCI_CAP_ID_MSIX, 12);
	if (!cap)
		return -ENOSPC;
	dev->msix_capability = cap;
	dev->msix_bar = (uint8_t)bar;
	dev->msix_count = (uint16_t)vectors;
	config_set(dev, cap + 2, 2, vectors - 1);
	writable_set(dev, cap + 2, 2, PCI_MSIX_CONTROL_ENABLE | PCI_MSIX_CONTROL_MASK_ALL);
	config_set(dev, cap + 4, 4, bar);                   /* table at offset 0 */
	config_set(dev, cap + 8, 4, MSIX_PBA_OFFSET | bar);
	for (unsigned v = 0; v < vectors; v++)
		dev->msix_table[v].control = PCI_MSIX_ENTRY_MASKED;
	return 0;
}

/* ---- MSI ---- */

int pci_device_add_msi(struct pci_device *dev)
{
	if (dev->msi_capability)
		return -EINVAL;
	uint8_t cap = pci_device_add_capability(dev, PCI_CAP_ID_MSI, 14);
	if (!cap)
		return -ENOSPC;
	dev->msi_capability = cap;
	config_set(dev, cap + 2, 2, PCI_MSI_CONTROL_64BIT); /* one vector */
	writable_set(dev, cap + 2, 2, PCI_MSI_CONTROL_ENABLE);
	writable_set(dev, cap + 4, 4, ~3u);
	writable_set(dev, cap + 8, 4, ~0u);
	writable_set(dev, cap + 12, 2, 0xffff);
	return 0;
}

bool pci_device_msi_send(struct pci_device *dev)
{
	unsigned cap = dev->msi_capability;
	bool sent = false;

	if (!cap)
		return false;
	uint64_t flags = spin_lock_irqsave(&dev->bus->lock);
	if (config_get(dev, cap + 2, 2) & PCI_MSI_CONTROL_ENABLE) {
		uint64_t address = (uint64_t)config_get(dev, cap + 8, 4) << 32 | config_get(dev, cap + 4, 4);
		vm_msi_send(dev->bus->vm, address, config_get(dev, cap + 12, 2));
		sent = true;
	}
	spin_unlock_irqrestore(&dev->bus->lock, flags);
	return sent;
}

/* ---- Configuration space ---- */

uint8_t pci_device_add_capability(struct pci_device *dev, uint8_t id, uint8_t length)
{
	unsigned offset = (dev->next_free + 3u) & ~3u;

	if (length < 2 || offset + length > PCI_CONFIG_SIZE)
		return 0;
	dev->config[offset] = id;
	dev->config[offset + 1] = 0;
	if (dev->last_capability)
		dev->config[dev->last_capability + 1] = (uint8_t)offset;
	else
		dev->config[PCI_CAPABILITY_LIST] = (uint8_t)offset;
	config_set(dev, PCI_STATUS, 2, config_get(dev, PCI_STATUS, 2) | PCI_STATUS_CAP_LIST);
	dev->last_capability = (uint8_t)offset;
	dev->next_free = (uint8_t)(offset + length);
	return (uint8_t)offset;
}

int pci_device_add_bar(struct pci_device *dev, unsigned index, enum pci_bar_type type,
		       uint32_t size, pci_bar_read_fn read, pci_bar_write_fn write)
{
	struct pci_bus *bus = dev->bus;
	uint32_t *next = type == PCI_BAR_IO ? &bus->next_io : &bus->next_memory;
	uint32_t limit = type == PCI_BAR_IO ? PLATFORM_PCI_IO_BASE + PLATFORM_PCI_IO_SIZE
					    : (uint32_t)(PLATFORM_PCI_MMIO_BASE + PLATFORM_PCI_MMIO_SIZE);
	uint32_t min_size = type == PCI_BAR_IO ? 4 : 4096; /* memory BARs own whole pages */

	if (index >= PCI_BARS || dev->bars[index].type != PCI_BAR_UNUSED || type == PCI_BAR_UNUSED ||
	    size < min_size || (size & (size - 1)) || (type == PCI_BAR_IO && size > 256))
		return -EINVAL;
	uint32_t base = (*next + size - 1) & ~(size - 1);
	if (base < *next || base + size > limit || base + size < base)
		return -ENOSPC;
	*next = base + size;
	dev->bars[index] = (struct pci_bar){ type, size, read, write };
	unsigned offset = PCI_BAR0 + 4 * index;
	uint32_t type_bits = type == PCI_BAR_IO ? 0x1 : 0x0;
	config_set(dev, offset, 4, base | type_bits);
	writable_set(dev, offset, 4, ~(size - 1));
	return 0;
}

struct pci_device *pci_device_add(struct pci_bus *bus, uint16_t vendor, uint16_t device,
				  uint32_t class_code, uint8_t revision, uint16_t subsystem_vendor,
				  uint16_t subsystem_id, void *opaque)
{
	unsigned slot = 0;

	while (slot < PCI_SLOTS && bus->slots[slot])
		slot++;
	if (slot == PCI_SLOTS)
		return NULL;
	struct pci_device *dev = kzalloc(sizeof(*dev));
	if (!dev)
		return NULL;
	bus->vm->overhead_bytes += sizeof(*dev);
	dev->bus = bus;
	dev->slot = (uint8_t)slot;
	dev->opaque = opaque;
	dev->next_free = FIRST_CAPABILITY;
	config_set(dev, PCI_VENDOR_ID, 2, vendor);
	config_set(dev, PCI_DEVICE_ID, 2, device);
	config_set(dev, PCI_REVISION, 4, class_code << 8 | revision);
	config_set(dev, PCI_SUBSYSTEM_VENDOR_ID, 2, subsystem_vendor);
	config_set(dev, PCI_SUBSYSTEM_ID, 2, subsystem_id);
	writable_set(dev, PCI_COMMAND, 2,
		     PCI_COMMAND_IO | PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER | PCI_COMMAND_INTX_DISABLE);
	writable_set(dev, PCI_CACHE_LINE_SIZE, 2, 0xffff); /* and the latency timer */
	writable_set(dev, PCI_INTERRUPT_LINE, 1, 0xff);
	if (slot) { /* the host bridge raises no interrupts */
		dev->config[PCI_INTERRUPT_PIN] = 1; /* INTA# */
		dev->config[PCI_INTERRUPT_LINE] = (uint8_t)pci_device_intx_gsi(dev);
	}
	bus->slots[slot] = dev;
	return dev;
}

static struct pci_device *config_target(struct pci_bus *bus, unsigned bus_number, unsigned slot,
					unsigned function)
{
	if (bus_number != 0 || function != 0 || slot >= PCI_SLOTS)
		return NULL;
	return bus->slots[slot];
}

static bool hooked(const struct pci_device *dev, unsigned offset, unsigned size)
{
	return dev->config_hook && offset < dev->hook_offset + dev->hook_length &&
	       offset + size > dev->hook_offset;
}

uint32_t pci_config_read(struct pci_bus *bus, unsigned bus_number, unsigned slot,
			 unsigned function, unsigned offset, unsigned size)
{
	struct pci_device *dev = config_target(bus, bus_number, slot, function);

	if (!dev)
		return size == 4 ? ~0u : (1u << (8 * size)) - 1;
	if (offset >= PCI_CONFIG_SIZE || offset + size > PCI_CONFIG_SIZE)
		return 0;
	uint64_t flags = spin_lock_irqsave(&bus->lock);
	uint32_t value = config_get(dev, offset, size);
	spin_unlock_irqrestore(&bus->lock, flags);
	if (hooked(dev, offset, size))
		dev->config_hook(dev, offset, size, &value, false);
	return value;
}

void pci_config_write(struct pci_bus *bus, unsigned bus_number, unsigned slot, unsigned function,
		      unsigned offset, unsigned size, uint32_t value)
{
	struct pci_device *dev = config_target(bus, bus_number, slot, function);

	if (!dev || offset >= PCI_CONFIG_SIZE || offset + size > PCI_CONFIG_SIZE)
		return;
	uint64_t flags = spin_lock_irqsave(&bus->lock);
	for (unsigned i = 0; i < size; i++) {
		uint8_t mask = dev->writable[offset + i];
		uint8_t byte = (uint8_t)(value >> (8 * i));
		dev->config[offset + i] = (uint8_t)((dev->config[offset + i] & ~mask) | (byte & mask));
	}
	if (offset < PCI_COMMAND + 2 && offset + size > PCI_COMMAND)
		intx_update(dev);
	unsigned msix_control_offset = dev->msix_capability + 2u;
	if (dev->msix_capability && offset < msix_control_offset + 2 && offset + size > msix_control_offset)
		msix_flush_pending(dev);
	spin_unlock_irqrestore(&bus->lock, flags);
	if (hooked(dev, offset, size))
		dev->config_hook(dev, offset, size, &value, true);
}

/* ---- BAR decoding ---- */

static uint32_t bar_base(const struct pci_device *dev, unsigned index)
{
	uint32_t raw = config_get(dev, PCI_BAR0 + 4 * index, 4);
	return dev->bars[index].type == PCI_BAR_IO ? raw & ~3u : raw & ~15u;
}

static struct pci_device *find_bar(struct pci_bus *bus, enum pci_bar_type type, uint64_t address,
				   unsigned *bar, uint64_t *offset)
{
	uint16_t decode = type == PCI_BAR_IO ? PCI_COMMAND_IO : PCI_COMMAND_MEMORY;

	for (unsigned slot = 0; slot < PCI_SLOTS; slot++) {
		struct pci_device *dev = bus->slots[slot];
		if (!dev || !(config_get(dev, PCI_COMMAND, 2) & decode))
			continue;
		for (unsigned i = 0; i < PCI_BARS; i++) {
			if (dev->bars[i].type != type)
				continue;
			uint64_t base = bar_base(dev, i);
			if (address >= base && address - base < dev->bars[i].size) {
				*bar = i;
				*offset = address - base;
				return dev;
			}
		}
	}
	return NULL;
}

struct pci_device *pci_find_memory_bar(struct pci_bus *bus, uint64_t gpa, unsigned *bar,
				       uint64_t *offset)
{
	return find_bar(bus, PCI_BAR_MEMORY, gpa, bar, offset);
}

static int window_read(struct pci_bus *bus, enum pci_bar_type type, uint64_t address,
		       unsigned size, uint64_t *value)
{
	unsigned bar;
	uint64_t offset;
	struct pci_device *dev = find_bar(bus, type, address, &bar, &offset);

	if (!dev || offset + size > dev->bars[bar].size || !dev->bars[bar].read)
		return -ENODEV; /* reads all-ones, like an empty bus */
	dev->bars[bar].read(dev, bar, offset, size, value);
	return 0;
}

static void window_write(struct pci_bus *bus, enum pci_bar_type type, uint64_t address,
			 unsigned size, uint64_t value)
{
	unsigned bar;
	uint64_t offset;
	struct pci_device *dev = find_bar(bus, type, address, &bar, &offset);

	if (dev && offset + size <= dev->bars[bar].size && dev->bars[bar].write)
		dev->bars[bar].write(dev, bar, offset, size, value);
}

static int mmio_window_read(void *opaque, struct vcpu *vcpu, uint64_t gpa, unsigned size,
			    uint64_t *value)
{
	(void)vcpu;
	return window_read(opaque, PCI_BAR_MEMORY, gpa, size, value);
}

static int mmio_window_write(void *opaque, struct vcpu *vcpu, uint64_t gpa, unsigned size,
			     uint64_t value)
{
	(void)vcpu;
	window_write(opaque, PCI_BAR_MEMORY, gpa, size, value);
	return 0;
}

static int io_window_read(void *opaque, struct vcpu *vcpu, uint16_t port, unsigned size,
			  uint32_t *value)
{
	uint64_t wide = 0;
	(void)vcpu;
	int error = window_read(opaque, PCI_BAR_IO, port, size, &wide);
	*value = (uint32_t)wide;
	return error;
}

static int io_window_write(void *opaque, struct vcpu *vcpu, uint16_t port, unsigned size,
			   uint32_t value)
{
	(void)vcpu;
	window_write(opaque, PCI_BAR_IO, port, size, value);
	return 0;
}

/* ---- Access mechanisms ---- */

/* 0xcf8: a dword address latch (enable, bus, device, function, register);
 * 0xcfc-0xcff: the data window into the selected dword. */
static int config_port_read(void *opaque, struct vcpu *vcpu, uint16_t port, unsigned size,
			    uint32_t *value)
{
	struct pci_bus *bus = opaque;
	uint32_t address = __atomic_load_n(&bus->config_address, __ATOMIC_RELAXED);
	(void)vcpu;

	if (port < PLATFORM_PORT_PCI_CONFIG + 4)
		return port == PLATFORM_PORT_PCI_CONFIG && size == 4 ? (*value = address, 0) : -ENODEV;
	unsigned byte = port - (PLATFORM_PORT_PCI_CONFIG + 4);
	if (!(address & CONFIG_ENABLE) || byte + size > 4)
		return -ENODEV;
	*value = pci_config_read(bus, (address >> 16) & 0xff, (address >> 11) & 0x1f,
				 (address >> 8) & 7, (address & 0xfc) + byte, size);
	return 0;
}

static int config_port_write(void *opaque, struct vcpu *vcpu, uint16_t port, unsigned size,
			     uint32_t value)
{
	struct pci_bus *bus = opaque;
	uint32_t address = __atomic_load_n(&bus->config_address, __ATOMIC_RELAXED);
	(void)vcpu;

	if (port < PLATFORM_PORT_PCI_CONFIG + 4) {
		if (port == PLATFORM_PORT_PCI_CONFIG && size == 4)
			__atomic_store_n(&bus->config_address, value & 0x80fffffcu, __ATOMIC_RELAXED);
		return 0;
	}
	unsigned byte = port - (PLATFORM_PORT_PCI_CONFIG + 4);
	if ((address & CONFIG_ENABLE) && byte + size <= 4)
		pci_config_write(bus, (address >> 16) & 0xff, (address >> 11) & 0x1f,
				 (address >> 8) & 7, (address & 0xfc) + byte, size, value);
	return 0;
}

/* ECAM: bus << 20 | device << 15 | function << 12 | register. */
static int ecam_read(void *opaque, struct vcpu *vcpu, uint64_t gpa, unsigned size, uint64_t *value)
{
	uint64_t offset = gpa - PLATFORM_PCI_ECAM_BASE;
	(void)vcpu;

	if (size > 4 || (offset & (size - 1)))
		return -ENODEV;
	*value = pci_config_read(opaque, (unsigned)(offset >> 20), (offset >> 15) & 0x1f,
				 (offset >> 12) & 7, offset & 0xfff, size);
	return 0;
}

static int ecam_write(void *opaque, struct vcpu *vcpu, uint64_t gpa, unsigned size, uint64_t value)
{
	uint64_t offset = gpa - PLATFORM_PCI_ECAM_BASE;
	(void)vcpu;

	if (size <= 4 && !(offset & (size - 1)))
		pci_config_write(opaque, (unsigned)(offset >> 20), (offset >> 15) & 0x1f,
				 (offset >> 12) & 7, offset & 0xfff, size, (uint32_t)value);
	return 0;
}

int pci_bus_attach(struct vm *vm)
{
	if (vm->pci)
		return -EEXIST;
	struct pci_bus *bus = kzalloc(sizeof(*bus));
	if (!bus)
		return -ENOMEM;
	bus->vm = vm;
	bus->next_memory = (uint32_t)PLATFORM_PCI_MMIO_BASE;
	bus->next_io = PLATFORM_PCI_IO_BASE;
	vm->overhead_bytes += sizeof(*bus);
	if (!pci_device_add(bus, PCI_HOST_BRIDGE_VENDOR, PCI_HOST_BRIDGE_DEVICE, 0x060000, 0, 0, 0, NULL))
		return -ENOMEM;
	int error = vm_register_io(vm, PLATFORM_PORT_PCI_CONFIG, PLATFORM_PORT_PCI_CONFIG + 7,
				   config_port_read, config_port_write, bus);
	if (!error)
		error = vm_register_io(vm, PLATFORM_PCI_IO_BASE,
				       PLATFORM_PCI_IO_BASE + PLATFORM_PCI_IO_SIZE - 1, io_window_read,
				       io_window_write, bus);
	if (!error)
		error = vm_register_mmio(vm, PLATFORM_PCI_ECAM_BASE, PLATFORM_PCI_ECAM_SIZE, ecam_read,
					 ecam_write, bus);
	if (!error)
		error = vm_register_mmio(vm, PLATFORM_PCI_MMIO_BASE, PLATFORM_PCI_MMIO_SIZE,
					 mmio_window_read, mmio_window_write, bus);
	if (error) {
		log_warn("vm %s: PCI bus: no room for its handlers\n", vm->name);
		return error;
	}
	vm->pci = bus;
	return 0;
}

void pci_bus_save_power_on_state(struct pci_bus *bus)
{
	for (unsigned slot = 0; slot < PCI_SLOTS; slot++)
		if (bus->slots[slot])
			memcpy(bus->slots[slot]->power_on_config, bus->slots[slot]->config, PCI_CONFIG_SIZE);
}

void pci_bus_reset(struct pci_bus *bus)
{
	uint64_t flags = spin_lock_irqsave(&bus->lock);
	bus->config_address = 0;
	memset(bus->intx_count, 0, sizeof(bus->intx_count)); /* the chipset's lines are reset with it */
	for (unsigned slot = 0; slot < PCI_SLOTS; slot++) {
		struct pci_device *dev = bus->slots[slot];
		if (!dev)
			continue;
		memcpy(dev->config, dev->power_on_config, PCI_CONFIG_SIZE);
		for (unsigned v = 0; v < dev->msix_count; v++)
			dev->msix_table[v] = (struct pci_msix_entry){ .control = PCI_MSIX_ENTRY_MASKED };
		dev->msix_pending = 0;
		dev->intx_level = dev->intx_driven = false;
	}
	spin_unlock_irqrestore(&bus->lock, flags);
	for (unsigned slot = 0; slot < PCI_SLOTS; slot++)
		if (bus->slots[slot] && bus->slots[slot]->reset)
			bus->slots[slot]->reset(bus->slots[slot]);
}

int vdev_pci_attach(struct vm *vm)
{
	return pci_bus_attach(vm);
}

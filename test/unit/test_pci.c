/*
 * The PCI bus (vmkernel/vdev/pci.c) on the host: configuration space rules
 * through both access mechanisms (the registered 0xcf8/0xcfc and ECAM
 * handlers are called as the exit path would), BAR sizing, placement and
 * decoding, capability lists, MSI-X masking and pending bits, out-of-range
 * table writes, MSI, INTx routing. The interrupt contract (vdev/irq.h) and
 * vm registration are recorded by stubs here.
 */
#include "unit.h"
#include "host_support.h"

#include <lib/errno.h>
#include <vdev/irq.h>
#include <vdev/pci.h>
#include <vdev/platform.h>
#include <vm/vm.h>

/* ---- stubs of the layers below ---- */

void *kzalloc(size_t size) { return calloc(1, size); }

int vm_register_io(struct vm *vm, uint16_t first, uint16_t last, vm_io_read_fn read,
		   vm_io_write_fn write, void *opaque)
{
	if (vm->io_count == VM_MAX_IO_HANDLERS)
		return -ENOSPC;
	vm->io[vm->io_count++] = (struct vm_io_handler){ first, last, read, write, opaque };
	return 0;
}

int vm_register_mmio(struct vm *vm, uint64_t base, uint64_t size, vm_mmio_read_fn read,
		     vm_mmio_write_fn write, void *opaque)
{
	if (vm->mmio_count == VM_MAX_MMIO_HANDLERS)
		return -ENOSPC;
	vm->mmio[vm->mmio_count++] = (struct vm_mmio_handler){ base, size, read, write, opaque };
	return 0;
}

static struct { uint64_t address; uint32_t data; } msi_log[16];
static unsigned msi_count;
static int gsi_level[24];
static unsigned gsi_changes;

void vm_msi_send(struct vm *vm, uint64_t address, uint32_t data)
{
	(void)vm;
	if (msi_count < 16)
		msi_log[msi_count] = (typeof(msi_log[0])){ address, data };
	msi_count++;
}

void vm_irq_line_set(struct vm *vm, unsigned gsi, bool asserted)
{
	(void)vm;
	if (gsi < 24)
		gsi_level[gsi] = asserted;
	gsi_changes++;
}

/* ---- the guest's view ---- */

static struct vm vm;

static const struct vm_io_handler *io_at(uint16_t port)
{
	for (unsigned i = 0; i < vm.io_count; i++)
		if (port >= vm.io[i].first && port <= vm.io[i].last)
			return &vm.io[i];
	return NULL;
}

static uint32_t in(uint16_t port, unsigned size)
{
	const struct vm_io_handler *h = io_at(port);
	uint32_t value = size == 4 ? ~0u : (1u << (8 * size)) - 1;
	if (h && h->read(h->opaque, NULL, port, size, &value) < 0)
		value = size == 4 ? ~0u : (1u << (8 * size)) - 1;
	return value;
}

static void out(uint16_t port, unsigned size, uint32_t value)
{
	const struct vm_io_handler *h = io_at(port);
	if (h)
		h->write(h->opaque, NULL, port, size, value);
}

static const struct vm_mmio_handler *mmio_at(uint64_t gpa)
{
	for (unsigned i = 0; i < vm.mmio_count; i++)
		if (gpa >= vm.mmio[i].base && gpa - vm.mmio[i].base < vm.mmio[i].size)
			return &vm.mmio[i];
	return NULL;
}

static uint64_t mmio_read(uint64_t gpa, unsigned size)
{
	const struct vm_mmio_handler *h = mmio_at(gpa);
	uint64_t all = size == 8 ? ~0ull : (1ull << (8 * size)) - 1, value = all;
	if (h && h->read(h->opaque, NULL, gpa, size, &value) < 0)
		value = all;
	return value;
}

static void mmio_write(uint64_t gpa, unsigned size, uint64_t value)
{
	const struct vm_mmio_handler *h = mmio_at(gpa);
	if (h)
		h->write(h->opaque, NULL, gpa, size, value);
}

static uint32_t cf8_read(unsigned slot, unsigned offset, unsigned size)
{
	out(0xcf8, 4, 0x80000000u | slot << 11 | (offset & 0xfc));
	return in((uint16_t)(0xcfc + (offset & 3)), size);
}

static void cf8_write(unsigned slot, unsigned offset, unsigned size, uint32_t value)
{
	out(0xcf8, 4, 0x80000000u | slot << 11 | (offset & 0xfc));
	out((uint16_t)(0xcfc + (offset & 3)), size, value);
}

static uint64_t ecam(unsigned bus, unsigned slot, unsigned function, unsigned offset)
{
	return PLATFORM_PCI_ECAM_BASE + ((uint64_t)bus << 20) + (slot << 15) + (function << 12) + offset;
}

/* A test device: BAR0 memory 4 KiB that records accesses, BAR1 I/O 32 ports. */
static struct { unsigned bar; uint64_t offset; unsigned size; uint64_t value; unsigned count; } last;

static void test_bar_read(struct pci_device *dev, unsigned bar, uint64_t offset, unsigned size,
			  uint64_t *value)
{
	(void)dev;
	last.bar = bar;
	last.offset = offset;
	last.size = size;
	last.count++;
	*value = 0x1234 + offset;
}

static void test_bar_write(struct pci_device *dev, unsigned bar, uint64_t offset, unsigned size,
			   uint64_t value)
{
	(void)dev;
	last.bar = bar;
	last.offset = offset;
	last.size = size;
	last.value = value;
	last.count++;
}

static struct pci_device *dev;

static void fresh(void)
{
	if (vm.pci) {
		for (unsigned i = 0; i < PCI_SLOTS; i++)
			free(vm.pci->slots[i]);
		free(vm.pci);
	}
	memset(&vm, 0, sizeof(vm));
	strcpy(vm.name, "t");
	memset(&last, 0, sizeof(last));
	memset(gsi_level, 0, sizeof(gsi_level));
	msi_count = gsi_changes = 0;
	CHECK_EQ(pci_bus_attach(&vm), 0);
	CHECK(vm.pci != NULL);
	dev = pci_device_add(vm.pci, 0x1af4, 0x1042, 0x010000, 1, 0x1af4, 2, NULL);
	CHECK(dev != NULL);
	CHECK_EQ(dev->slot, 1);
	CHECK_EQ(pci_device_add_bar(dev, 0, PCI_BAR_MEMORY, 0x4000, test_bar_read, test_bar_write), 0);
	CHECK_EQ(pci_device_add_bar(dev, 2, PCI_BAR_IO, 32, test_bar_read, test_bar_write), 0);
}

UNIT_TEST(enumeration)
{
	fresh();
	CHECK_EQ(cf8_read(0, PCI_VENDOR_ID, 4), PCI_HOST_BRIDGE_DEVICE << 16 | PCI_HOST_BRIDGE_VENDOR);
	CHECK_EQ(cf8_read(0, PCI_REVISION, 4) >> 8, 0x060000);
	CHECK_EQ(cf8_read(1, PCI_VENDOR_ID, 4), 0x10421af4);
	CHECK_EQ(cf8_read(1, PCI_DEVICE_ID, 2), 0x1042);
	CHECK_EQ(cf8_read(1, PCI_DEVICE_ID + 1, 1), 0x10);
	CHECK_EQ(cf8_read(1, PCI_SUBSYSTEM_ID, 2), 2);
	CHECK_EQ(cf8_read(1, PCI_HEADER_TYPE, 1), 0);
	CHECK_EQ(cf8_read(2, PCI_VENDOR_ID, 4), 0xffffffff); /* empty slot */
	CHECK_EQ(cf8_read(2, PCI_VENDOR_ID, 2), 0xffff);
	/* Other functions and buses are absent. */
	out(0xcf8, 4, 0x80000000u | 1 << 11 | 1 << 8);
	CHECK_EQ(in(0xcfc, 4), 0xffffffff);
	out(0xcf8, 4, 0x80000000u | 1 << 16 | 1 << 11);
	CHECK_EQ(in(0xcfc, 4), 0xffffffff);
	/* The same through ECAM. */
	CHECK_EQ(mmio_read(ecam(0, 1, 0, 0), 4), 0x10421af4);
	CHECK_EQ(mmio_read(ecam(0, 1, 0, 2), 2), 0x1042);
	CHECK_EQ(mmio_read(ecam(0, 3, 0, 0), 4), 0xffffffff);
	CHECK_EQ(mmio_read(ecam(0, 1, 2, 0), 4), 0xffffffff);
	CHECK_EQ(mmio_read(ecam(7, 1, 0, 0), 4), 0xffffffff);
	CHECK_EQ(mmio_read(ecam(0, 1, 0, 0x100), 4), 0); /* no extended capabilities */
	CHECK_EQ(mmio_read(ecam(0, 1, 0, 0xffc), 4), 0);
	CHECK_EQ(mmio_read(ecam(0, 1, 0, 1), 2), 0xffff); /* misaligned: nothing there */
}

UNIT_TEST(config_address_latch)
{
	fresh();
	out(0xcf8, 4, 0xffffffff);
	CHECK_EQ(in(0xcf8, 4), 0x80fffffc); /* reserved bits read 0 */
	out(0xcf8, 4, 1 << 11); /* enable bit clear: the data port is not config space */
	CHECK_EQ(in(0xcfc, 4), 0xffffffff);
	out(0xcfc, 4, 0);
	CHECK_EQ(cf8_read(1, PCI_VENDOR_ID, 4), 0x10421af4);
	CHECK_EQ(in(0xcf8, 2), 0xffff); /* only dword accesses reach the latch */
	out(0xcf8, 1, 0);
	CHECK_EQ(in(0xcf8, 4) >> 31, 1);
	/* Byte and word access at each lane of the data window. */
	CHECK_EQ(cf8_read(1, 1, 1), 0x1a);
	CHECK_EQ(cf8_read(1, 2, 2), 0x1042);
	CHECK_EQ(cf8_read(1, 3, 1), 0x10);
}

UNIT_TEST(read_only_registers)
{
	fresh();
	cf8_write(1, PCI_VENDOR_ID, 4, 0);
	CHECK_EQ(cf8_read(1, PCI_VENDOR_ID, 4), 0x10421af4);
	cf8_write(1, PCI_REVISION, 4, 0);
	CHECK_EQ(cf8_read(1, PCI_REVISION, 4), 0x01000001);
	cf8_write(1, PCI_INTERRUPT_PIN, 1, 4);
	CHECK_EQ(cf8_read(1, PCI_INTERRUPT_PIN, 1), 1);
	CHECK_EQ(cf8_read(1, PCI_INTERRUPT_LINE, 1), 17);
	cf8_write(1, PCI_INTERRUPT_LINE, 1, 11);
	CHECK_EQ(cf8_read(1, PCI_INTERRUPT_LINE, 1), 11);
	cf8_write(1, PCI_COMMAND, 4, 0xffffffff); /* status is not written through */
	CHECK_EQ(cf8_read(1, PCI_COMMAND, 2), 0x0407);
	CHECK_EQ(cf8_read(1, PCI_STATUS, 2), 0);
	mmio_write(ecam(0, 1, 0, PCI_COMMAND), 2, 0);
	CHECK_EQ(cf8_read(1, PCI_COMMAND, 2), 0);
	mmio_write(ecam(0, 1, 0, 0x200), 4, 0xffffffff); /* beyond the model: dropped */
	CHECK_EQ(mmio_read(ecam(0, 1, 0, 0x200), 4), 0);
}

UNIT_TEST(bar_sizing_and_placement)
{
	fresh();
	uint32_t bar0 = cf8_read(1, PCI_BAR0, 4);
	uint32_t bar2 = cf8_read(1, PCI_BAR0 + 8, 4);
	CHECK_EQ(bar0, PLATFORM_PCI_MMIO_BASE); /* placed, aligned, memory type */
	CHECK_EQ(bar2 & 3, 1);
	CHECK(bar2 >= PLATFORM_PCI_IO_BASE && bar2 < PLATFORM_PCI_IO_BASE + PLATFORM_PCI_IO_SIZE);
	cf8_write(1, PCI_BAR0, 4, 0xffffffff);
	CHECK_EQ(cf8_read(1, PCI_BAR0, 4), 0xffffc000);
	cf8_write(1, PCI_BAR0 + 8, 4, 0xffffffff);
	CHECK_EQ(cf8_read(1, PCI_BAR0 + 8, 4), 0xffffffe1);
	cf8_write(1, PCI_BAR0 + 4, 4, 0xffffffff); /* unimplemented BARs read 0 */
	CHECK_EQ(cf8_read(1, PCI_BAR0 + 4, 4), 0);
	cf8_write(1, 0x30, 4, 0xffffffff);        /* no expansion ROM */
	CHECK_EQ(cf8_read(1, 0x30, 4), 0);
	/* Through ECAM too, then a new place: low bits stay the type. */
	mmio_write(ecam(0, 1, 0, PCI_BAR0), 4, 0xffffffff);
	CHECK_EQ(mmio_read(ecam(0, 1, 0, PCI_BAR0), 4), 0xffffc000);
	mmio_write(ecam(0, 1, 0, PCI_BAR0), 4, 0xd0001fff);
	CHECK_EQ(cf8_read(1, PCI_BAR0, 4), 0xd0000000);
	cf8_write(1, PCI_BAR0 + 8, 4, 0xe00f);
	CHECK_EQ(cf8_read(1, PCI_BAR0 + 8, 4), 0xe001);
	/* Bad BAR declarations. */
	CHECK_EQ(pci_device_add_bar(dev, 0, PCI_BAR_MEMORY, 4096, NULL, NULL), -EINVAL);
	CHECK_EQ(pci_device_add_bar(dev, 3, PCI_BAR_MEMORY, 4097, NULL, NULL), -EINVAL);
	CHECK_EQ(pci_device_add_bar(dev, 3, PCI_BAR_MEMORY, 16, NULL, NULL), -EINVAL);
	CHECK_EQ(pci_device_add_bar(dev, 6, PCI_BAR_IO, 16, NULL, NULL), -EINVAL);
	CHECK_EQ(pci_device_add_bar(dev, 3, PCI_BAR_MEMORY, 0x40000000, NULL, NULL), -ENOSPC);
}

UNIT_TEST(bar_decoding)
{
	fresh();
	/* Decoding off: nothing answers. */
	CHECK_EQ(mmio_read(PLATFORM_PCI_MMIO_BASE + 8, 4), 0xffffffff);
	CHECK_EQ(last.count, 0);
	cf8_write(1, PCI_COMMAND, 2, PCI_COMMAND_MEMORY);
	CHECK_EQ(mmio_read(PLATFORM_PCI_MMIO_BASE + 8, 4), 0x1234 + 8);
	CHECK_EQ(last.bar, 0);
	mmio_write(PLATFORM_PCI_MMIO_BASE + 0x3ffc, 4, 0xabcd);
	CHECK_EQ(last.offset, 0x3ffc);
	CHECK_EQ(last.value, 0xabcd);
	unsigned before = last.count;
	mmio_write(PLATFORM_PCI_MMIO_BASE + 0x3ffe, 4, 1); /* straddles the end: dropped */
	CHECK_EQ(mmio_read(PLATFORM_PCI_MMIO_BASE + 0x4000, 4), 0xffffffff);
	CHECK_EQ(last.count, before);
	/* I/O needs its own enable. */
	uint16_t port = (uint16_t)(cf8_read(1, PCI_BAR0 + 8, 4) & ~3u);
	CHECK_EQ(in(port + 4, 2), 0xffff);
	cf8_write(1, PCI_COMMAND, 2, PCI_COMMAND_MEMORY | PCI_COMMAND_IO);
	CHECK_EQ(in(port + 4, 2), 0x1234 + 4);
	CHECK_EQ(last.bar, 2);
	/* Moved: the old address is empty, the new one answers. */
	cf8_write(1, PCI_BAR0, 4, 0xd0000000);
	CHECK_EQ(mmio_read(PLATFORM_PCI_MMIO_BASE + 8, 4), 0xffffffff);
	CHECK_EQ(mmio_read(0xd0000010, 4), 0x1234 + 0x10);
}

UNIT_TEST(capability_list)
{
	fresh();
	CHECK_EQ(cf8_read(1, PCI_STATUS, 2) & PCI_STATUS_CAP_LIST, 0);
	uint8_t a = pci_device_add_capability(dev, PCI_CAP_ID_VENDOR, 16);
	uint8_t b = pci_device_add_capability(dev, PCI_CAP_ID_VENDOR, 5);
	uint8_t c = pci_device_add_capability(dev, PCI_CAP_ID_VENDOR, 20);
	CHECK_EQ(a, 0x40);
	CHECK_EQ(b, 0x50);
	CHECK_EQ(c, 0x58);
	CHECK(cf8_read(1, PCI_STATUS, 2) & PCI_STATUS_CAP_LIST);
	/* Walk it as a driver does. */
	unsigned seen = 0, at = cf8_read(1, PCI_CAPABILITY_LIST, 1);
	while (at && seen < 10) {
		CHECK_EQ(cf8_read(1, at, 1), PCI_CAP_ID_VENDOR);
		at = cf8_read(1, at + 1, 1);
		seen++;
	}
	CHECK_EQ(seen, 3);
	cf8_write(1, a + 1, 1, 0); /* the links are read-only */
	CHECK_EQ(cf8_read(1, a + 1, 1), b);
	CHECK_EQ(pci_device_add_capability(dev, PCI_CAP_ID_VENDOR, 200), 0); /* no room */
}

static uint64_t msix_bar_address(void)
{
	return cf8_read(1, PCI_BAR0 + 4 * dev->msix_bar, 4) & ~15u;
}

static void msix_program(unsigned vector, uint32_t address, uint32_t data)
{
	uint64_t entry = msix_bar_address() + 16 * vector;
	mmio_write(entry, 4, address);
	mmio_write(entry + 4, 4, 0);
	mmio_write(entry + 8, 4, data);
}

UNIT_TEST(msix_capability_and_table)
{
	fresh();
	CHECK_EQ(pci_device_add_msix(dev, 1, 3), 0);
	uint8_t cap = dev->msix_capability;
	CHECK_EQ(cf8_read(1, cap, 1), PCI_CAP_ID_MSIX);
	CHECK_EQ(cf8_read(1, cap + 2, 2), 2);          /* table size - 1 */
	CHECK_EQ(cf8_read(1, cap + 4, 4), 1);          /* offset 0, BIR 1 */
	CHECK_EQ(cf8_read(1, cap + 8, 4), 2048 | 1);   /* PBA */
	cf8_write(1, cap + 4, 4, 0x100);
	CHECK_EQ(cf8_read(1, cap + 4, 4), 1);
	cf8_write(1, cap + 2, 2, 0xffff);              /* only enable and mask-all change */
	CHECK_EQ(cf8_read(1, cap + 2, 2), 0xc002);
	cf8_write(1, PCI_COMMAND, 2, PCI_COMMAND_MEMORY);
	uint64_t table = msix_bar_address();
	CHECK(table >= PLATFORM_PCI_MMIO_BASE + 0x4000);
	CHECK_EQ(mmio_read(table + 12, 4), 1);         /* vectors start masked */
	msix_program(2, 0xfee01003, 0x4041);
	CHECK_EQ(mmio_read(table + 32, 4), 0xfee01000); /* low address bits are 0 */
	CHECK_EQ(mmio_read(table + 40, 4), 0x4041);
	mmio_write(table + 44, 4, 0xfffffffe);         /* reserved control bits stay 0 */
	CHECK_EQ(mmio_read(table + 44, 4), 0);
	mmio_write(table + 32, 8, 0x00000001fee02000ull);
	CHECK_EQ(mmio_read(table + 32, 8), 0x00000001fee02000ull);
	/* Beyond the table: ignored, reads 0; odd widths ignored. */
	mmio_write(table + 48, 4, 0xdeadbeef);
	CHECK_EQ(mmio_read(table + 48, 4), 0);
	mmio_write(table + 0x7fc, 4, 0xdeadbeef);
	CHECK_EQ(mmio_read(table + 0x7fc, 4), 0);
	mmio_write(table + 0xffc, 4, 0xdeadbeef);
	mmio_write(table + 2, 2, 0xffff);
	CHECK_EQ(mmio_read(table + 0, 4), 0);
	mmio_write(table + 1, 4, 0xffffffff);
	CHECK_EQ(mmio_read(table + 0, 4), 0);
	mmio_write(table + 2048, 4, 0xffffffff);       /* the PBA is read-only */
	CHECK_EQ(mmio_read(table + 2048, 8), 0);
	CHECK_EQ(pci_device_add_msix(dev, 3, 3), -EINVAL); /* one MSI-X per device */
}

UNIT_TEST(msix_masking_and_pending)
{
	fresh();
	CHECK_EQ(pci_device_add_msix(dev, 1, 3), 0);
	uint8_t cap = dev->msix_capability;
	cf8_write(1, PCI_COMMAND, 2, PCI_COMMAND_MEMORY);
	uint64_t table = msix_bar_address();
	msix_program(0, 0xfee00000, 0x31);
	msix_program(1, 0xfee00000, 0x32);
	/* Disabled: nothing is sent or kept. */
	pci_device_msix_send(dev, 0);
	CHECK_EQ(msi_count, 0);
	CHECK(!pci_device_msix_enabled(dev));
	cf8_write(1, cap + 2, 2, PCI_MSIX_CONTROL_ENABLE);
	CHECK(pci_device_msix_enabled(dev));
	/* Masked vector: pending bit, sent on unmask. */
	pci_device_msix_send(dev, 1);
	CHECK_EQ(msi_count, 0);
	CHECK_EQ(mmio_read(table + 2048, 8), 2);
	CHECK_EQ(mmio_read(table + 2048, 4), 2);
	mmio_write(table + 16 + 12, 4, 0);
	CHECK_EQ(msi_count, 1);
	CHECK_EQ(msi_log[0].address, 0xfee00000);
	CHECK_EQ(msi_log[0].data, 0x32);
	CHECK_EQ(mmio_read(table + 2048, 8), 0);
	/* Unmasked: straight through. */
	pci_device_msix_send(dev, 1);
	CHECK_EQ(msi_count, 2);
	/* Function mask holds everything back; clearing it flushes. */
	mmio_write(table + 12, 4, 0);
	cf8_write(1, cap + 2, 2, PCI_MSIX_CONTROL_ENABLE | PCI_MSIX_CONTROL_MASK_ALL);
	pci_device_msix_send(dev, 0);
	pci_device_msix_send(dev, 1);
	CHECK_EQ(msi_count, 2);
	CHECK_EQ(mmio_read(table + 2048, 8), 3);
	cf8_write(1, cap + 3, 1, PCI_MSIX_CONTROL_ENABLE >> 8);
	CHECK_EQ(msi_count, 4);
	CHECK_EQ(msi_log[2].data, 0x31);
	CHECK_EQ(msi_log[3].data, 0x32);
	/* Vectors beyond the table and "no vector" are dropped. */
	pci_device_msix_send(dev, 3);
	pci_device_msix_send(dev, PCI_MSIX_NO_VECTOR);
	CHECK_EQ(msi_count, 4);
	CHECK_EQ(mmio_read(table + 2048, 8), 0);
}

UNIT_TEST(msi_capability)
{
	fresh();
	CHECK(!pci_device_msi_send(dev));
	CHECK_EQ(pci_device_add_msi(dev), 0);
	uint8_t cap = dev->msi_capability;
	CHECK_EQ(cf8_read(1, cap, 1), PCI_CAP_ID_MSI);
	CHECK_EQ(cf8_read(1, cap + 2, 2), PCI_MSI_CONTROL_64BIT);
	CHECK(!pci_device_msi_send(dev));
	cf8_write(1, cap + 4, 4, 0xfee0100f);
	cf8_write(1, cap + 8, 4, 0);
	cf8_write(1, cap + 12, 2, 0x4055);
	cf8_write(1, cap + 2, 2, 0xffff);
	CHECK_EQ(cf8_read(1, cap + 2, 2), PCI_MSI_CONTROL_64BIT | PCI_MSI_CONTROL_ENABLE);
	CHECK(pci_device_msi_send(dev));
	CHECK_EQ(msi_count, 1);
	CHECK_EQ(msi_log[0].address, 0xfee0100c);
	CHECK_EQ(msi_log[0].data, 0x4055);
}

UNIT_TEST(intx_routing)
{
	fresh();
	struct pci_device *other = NULL;
	/* Slots 1 and 9 share GSI 17: the line is the OR of both. */
	for (unsigned i = 2; i <= 9; i++)
		other = pci_device_add(vm.pci, 0x1af4, 0x1043, 0x078000, 1, 0x1af4, 3, NULL);
	CHECK(other && other->slot == 9);
	CHECK_EQ(pci_device_intx_gsi(dev), 17);
	CHECK_EQ(pci_device_intx_gsi(other), 17);
	pci_device_set_intx(dev, true);
	CHECK_EQ(gsi_level[17], 1);
	CHECK(cf8_read(1, PCI_STATUS, 2) & PCI_STATUS_INTERRUPT);
	pci_device_set_intx(other, true);
	pci_device_set_intx(dev, false);
	CHECK_EQ(gsi_level[17], 1);
	CHECK_EQ(cf8_read(1, PCI_STATUS, 2) & PCI_STATUS_INTERRUPT, 0);
	pci_device_set_intx(other, false);
	CHECK_EQ(gsi_level[17], 0);
	/* INTx Disable holds the line low but the status bit still shows it. */
	pci_device_set_intx(dev, true);
	unsigned changes = gsi_changes;
	cf8_write(1, PCI_COMMAND, 2, PCI_COMMAND_INTX_DISABLE);
	CHECK_EQ(gsi_level[17], 0);
	CHECK(cf8_read(1, PCI_STATUS, 2) & PCI_STATUS_INTERRUPT);
	cf8_write(1, PCI_COMMAND, 2, 0);
	CHECK_EQ(gsi_level[17], 1);
	CHECK_EQ(gsi_changes, changes + 2);
	pci_device_set_intx(dev, true); /* no change, no new edge */
	CHECK_EQ(gsi_changes, changes + 2);
}

static unsigned reset_calls;

static void count_reset(struct pci_device *d)
{
	CHECK(d == dev);
	reset_calls++;
}

UNIT_TEST(bus_reset_restores_power_on_state)
{
	fresh();
	CHECK_EQ(pci_device_add_msix(dev, 1, 3), 0);
	uint8_t cap = dev->msix_capability;
	dev->reset = count_reset;
	reset_calls = 0;
	uint32_t bar0 = cf8_read(1, PCI_BAR0, 4);
	pci_bus_save_power_on_state(vm.pci);
	/* The guest moves BAR 0, enables decoding and MSI-X, unmasks a
	 * vector that then goes pending, and leaves the 0xcf8 latch set. */
	cf8_write(1, PCI_BAR0, 4, 0xe0100000);
	cf8_write(1, PCI_COMMAND, 2, PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER);
	cf8_write(1, cap + 2, 2, PCI_MSIX_CONTROL_ENABLE | PCI_MSIX_CONTROL_MASK_ALL);
	msix_program(0, 0xfee00000, 0x31);
	pci_device_msix_send(dev, 0);
	CHECK(dev->msix_pending != 0);
	CHECK_EQ(cf8_read(1, PCI_BAR0, 4), 0xe0100000);
	pci_bus_reset(vm.pci);
	CHECK_EQ(reset_calls, 1);
	CHECK_EQ(vm.pci->config_address, 0);
	CHECK_EQ(cf8_read(1, PCI_BAR0, 4), bar0);
	CHECK_EQ(cf8_read(1, PCI_COMMAND, 2), 0);
	CHECK_EQ(cf8_read(1, cap + 2, 2), 2); /* disabled, unmasked, table size - 1 */
	CHECK(!pci_device_msix_enabled(dev));
	CHECK_EQ(dev->msix_pending, 0);
	for (unsigned v = 0; v < 3; v++)
		CHECK_EQ(dev->msix_table[v].control, PCI_MSIX_ENTRY_MASKED);
	CHECK_EQ(cf8_read(1, PCI_VENDOR_ID, 2), 0x1af4); /* identity untouched */
	dev->reset = NULL;
}

UNIT_TEST(bus_full)
{
	fresh();
	unsigned added = 0;
	while (pci_device_add(vm.pci, 0x1af4, 0x1043, 0x078000, 1, 0x1af4, 3, NULL))
		added++;
	CHECK_EQ(added, PCI_SLOTS - 2);
	CHECK_EQ(pci_bus_attach(&vm), -EEXIST);
}

UNIT_MAIN()

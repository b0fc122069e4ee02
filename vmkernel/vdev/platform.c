/*
 * The hw.version 1 chipset of a VM: attaches the 8259 pair, the 8254 and
 * port 0x61, the RTC/CMOS, the I/O APIC and the ACPI fixed hardware to
 * their ports and addresses (vdev/platform.h), writes the ACPI tables into
 * guest RAM, and carries out what the guest asks of the ACPI hardware
 * (power-off, reset). Every device clock is the host TSC at the vmkernel's
 * calibrated rate, the same TSC the guest reads.
 */
#include <vdev/vdev.h>

#include <arch/x86/cpu.h>
#include <arch/x86/io.h>
#include <arch/x86/lapic.h>
#include <lib/errno.h>
#include <lib/log.h>
#include <lib/spinlock.h>
#include <lib/string.h>
#include <mm/heap.h>
#include <vdev/acpi_tables.h>
#include <vdev/chipset.h>
#include <vdev/platform.h>
#include <vm/vm.h>

/* ---- the host's wall clock, read once from its CMOS RTC ---- */

static struct spinlock host_clock_lock = SPINLOCK_INIT;
static bool host_clock_read;
static int64_t host_clock_seconds;
static uint64_t host_clock_tsc;

static uint8_t host_cmos(uint8_t index)
{
	outb(0x70, index);
	return inb(0x71);
}

static int host_cmos_value(uint8_t raw, bool binary)
{
	return binary ? raw : (raw >> 4) * 10 + (raw & 0xf);
}

/* The host's time of day at boot (UTC as PC firmware keeps it), then
 * advanced by the TSC: every VM's RTC starts from it. */
static int64_t host_wall_clock(uint64_t now_tsc)
{
	uint64_t flags = spin_lock_irqsave(&host_clock_lock);
	if (!host_clock_read) {
		/* Wait out an update in progress (at most ~2 ms), bounded. */
		for (int i = 0; i < 100000 && (host_cmos(0x0a) & 0x80); i++)
			__builtin_ia32_pause();
		uint8_t b = host_cmos(0x0b);
		bool binary = b & 0x04;
		uint8_t hour_raw = host_cmos(0x04);
		int hour = host_cmos_value(hour_raw & 0x7f, binary);
		if (!(b & 0x02)) /* 12-hour mode */
			hour = hour % 12 + ((hour_raw & 0x80) ? 12 : 0);
		int century = host_cmos_value(host_cmos(0x32), binary);
		struct vrtc_date d = {
			.year = (century >= 19 && century <= 99 ? century : 20) * 100 +
				host_cmos_value(host_cmos(0x09), binary),
			.month = host_cmos_value(host_cmos(0x08), binary),
			.day = host_cmos_value(host_cmos(0x07), binary),
			.hour = hour,
			.minute = host_cmos_value(host_cmos(0x02), binary),
			.second = host_cmos_value(host_cmos(0x00), binary),
		};
		if (d.month < 1 || d.month > 12 || d.day < 1 || d.day > 31 || d.hour > 23 || d.minute > 59 ||
		    d.second > 59) {
			log_warn("vdev: the host RTC reads nonsense; VM clocks start at 2026-01-01\n");
			d = (struct vrtc_date){ .year = 2026, .month = 1, .day = 1 };
		}
		host_clock_seconds = vrtc_date_to_seconds(&d);
		host_clock_tsc = rdtsc();
		host_clock_read = true;
	}
	int64_t seconds = host_clock_seconds;
	if (now_tsc > host_clock_tsc && tsc_hz())
		seconds += (int64_t)((now_tsc - host_clock_tsc) / tsc_hz());
	spin_unlock_irqrestore(&host_clock_lock, flags);
	return seconds;
}

/* ---- port handlers: byte-wide devices take wider accesses byte by byte ---- */

typedef uint8_t (*byte_read_fn)(struct vm_chipset *chipset, struct vcpu *vcpu, uint16_t port, uint64_t now);
typedef void (*byte_write_fn)(struct vm_chipset *chipset, struct vcpu *vcpu, uint16_t port, uint8_t value,
			      uint64_t now);

static uint8_t pic_read(struct vm_chipset *c, struct vcpu *vcpu, uint16_t port, uint64_t now)
{
	(void)vcpu;
	(void)now;
	if (port >= PLATFORM_PORT_ELCR)
		return vpic_elcr_read(&c->pic, port - PLATFORM_PORT_ELCR);
	uint8_t value = vpic_read(&c->pic, port >= PLATFORM_PORT_PIC_SLAVE, port & 1);
	chipset_pic_refresh_locked(c); /* a poll read acknowledges: INTR can only fall */
	return value;
}

static void pic_write(struct vm_chipset *c, struct vcpu *vcpu, uint16_t port, uint8_t value, uint64_t now)
{
	(void)vcpu;
	(void)now;
	if (port >= PLATFORM_PORT_ELCR)
		vpic_elcr_write(&c->pic, port - PLATFORM_PORT_ELCR, value);
	else
		vpic_write(&c->pic, port >= PLATFORM_PORT_PIC_SLAVE, port & 1, value);
	if (chipset_pic_refresh_locked(c))
		vlapic_extint_changed(c->vm);
}

/* The PIT's and RTC's events are fired by vCPU 0: a change made from
 * another vCPU must reach it. */
static void timers_changed(struct vm_chipset *c, struct vcpu *vcpu, uint64_t now)
{
	uint64_t before = c->next_deadline;
	chipset_rearm_locked(c, now);
	if (vcpu->index != 0 && c->next_deadline != before)
		vcpu_kick(c->vm->vcpus[0]);
}

static uint8_t pit_read(struct vm_chipset *c, struct vcpu *vcpu, uint16_t port, uint64_t now)
{
	(void)vcpu;
	if (port == PLATFORM_PORT_SYSTEM_CONTROL)
		return vpit_port61_read(&c->pit, now);
	return vpit_read(&c->pit, port - PLATFORM_PORT_PIT, now);
}

static void pit_write(struct vm_chipset *c, struct vcpu *vcpu, uint16_t port, uint8_t value, uint64_t now)
{
	if (port == PLATFORM_PORT_SYSTEM_CONTROL)
		vpit_port61_write(&c->pit, value, now);
	else
		vpit_write(&c->pit, port - PLATFORM_PORT_PIT, value, now);
	timers_changed(c, vcpu, now);
}

static uint8_t rtc_read(struct vm_chipset *c, struct vcpu *vcpu, uint16_t port, uint64_t now)
{
	uint8_t value = vrtc_read(&c->rtc, port - PLATFORM_PORT_RTC, now);
	timers_changed(c, vcpu, now); /* reading register C clears flags */
	return value;
}

static void rtc_write(struct vm_chipset *c, struct vcpu *vcpu, uint16_t port, uint8_t value, uint64_t now)
{
	vrtc_write(&c->rtc, port - PLATFORM_PORT_RTC, value, now);
	timers_changed(c, vcpu, now);
}

struct byte_device {
	uint16_t first, last;
	byte_read_fn read;
	byte_write_fn write;
};

static const struct byte_device byte_devices[] = {
	{ PLATFORM_PORT_PIC_MASTER, PLATFORM_PORT_PIC_MASTER + 1, pic_read, pic_write },
	{ PLATFORM_PORT_PIC_SLAVE, PLATFORM_PORT_PIC_SLAVE + 1, pic_read, pic_write },
	{ PLATFORM_PORT_ELCR, PLATFORM_PORT_ELCR + 1, pic_read, pic_write },
	{ PLATFORM_PORT_PIT, PLATFORM_PORT_PIT + 3, pit_read, pit_write },
	{ PLATFORM_PORT_SYSTEM_CONTROL, PLATFORM_PORT_SYSTEM_CONTROL, pit_read, pit_write },
	{ PLATFORM_PORT_RTC, PLATFORM_PORT_RTC + 1, rtc_read, rtc_write },
};

static const struct byte_device *byte_device_at(uint16_t port)
{
	for (unsigned i = 0; i < sizeof(byte_devices) / sizeof(byte_devices[0]); i++)
		if (port >= byte_devices[i].first && port <= byte_devices[i].last)
			return &byte_devices[i];
	return NULL;
}

static int byte_port_read(void *opaque, struct vcpu *vcpu, uint16_t port, unsigned size, uint32_t *value)
{
	struct vm_chipset *c = opaque;
	uint64_t now = rdtsc();
	uint32_t v = 0;

	uint64_t flags = spin_lock_irqsave(&c->lock);
	for (unsigned i = 0; i < size; i++) {
		const struct byte_device *d = byte_device_at((uint16_t)(port + i));
		uint8_t byte = d ? d->read(c, vcpu, (uint16_t)(port + i), now) : 0xff;
		v |= (uint32_t)byte << (i * 8);
	}
	spin_unlock_irqrestore(&c->lock, flags);
	*value = v;
	return 0;
}

static int byte_port_write(void *opaque, struct vcpu *vcpu, uint16_t port, unsigned size, uint32_t value)
{
	struct vm_chipset *c = opaque;
	uint64_t now = rdtsc();

	uint64_t flags = spin_lock_irqsave(&c->lock);
	for (unsigned i = 0; i < size; i++) {
		const struct byte_device *d = byte_device_at((uint16_t)(port + i));
		if (d)
			d->write(c, vcpu, (uint16_t)(port + i), (uint8_t)(value >> (i * 8)), now);
	}
	spin_unlock_irqrestore(&c->lock, flags);
	return 0;
}

/* ---- ACPI fixed hardware ---- */

static void update_sci_locked(struct vm_chipset *c, uint64_t now)
{
	bool sci = acpi_pm_sci(&c->pm, now);
	if (sci != c->sci) {
		c->sci = sci;
		chipset_set_isa_irq_locked(c, PLATFORM_IRQ_SCI, sci);
	}
}

static int acpi_pm_port_read(void *opaque, struct vcpu *vcpu, uint16_t port, unsigned size, uint32_t *value)
{
	(void)vcpu;
	struct vm_chipset *c = opaque;
	uint64_t now = rdtsc();
	uint64_t flags = spin_lock_irqsave(&c->lock);
	*value = acpi_pm_read(&c->pm, port - PLATFORM_ACPI_PM_BASE, size, now);
	spin_unlock_irqrestore(&c->lock, flags);
	return 0;
}

static void acpi_reset(struct vcpu *vcpu)
{
	struct vm *vm = vcpu->vm;

	/* A reset reloads a 1-vCPU VM on its pCPU; a VM with several vCPUs is
	 * power-cycled (stopped, then powered on again by the vmkernel). */
	if (vm->reset) {
		log_info("vm %s: ACPI reset: restarting the VM\n", vm->name);
		vm->resets++;
		if (vm->reset(vm)) /* which resets the chipset too (vdev_platform_reset) */
			vm_stop(vm, -1, "ACPI reset requested, and the reset failed");
		return;
	}
	vm_stop(vm, -1, "ACPI reset requested; this VM cannot be reset: stopped");
}

static int acpi_pm_port_write(void *opaque, struct vcpu *vcpu, uint16_t port, unsigned size, uint32_t value)
{
	struct vm_chipset *c = opaque;
	uint64_t now = rdtsc();

	uint64_t flags = spin_lock_irqsave(&c->lock);
	enum acpi_pm_action action = acpi_pm_write(&c->pm, port - PLATFORM_ACPI_PM_BASE, size, value, now);
	uint8_t slp_typ = c->pm.last_slp_typ;
	update_sci_locked(c, now);
	spin_unlock_irqrestore(&c->lock, flags);

	switch (action) {
	case ACPI_PM_POWER_OFF:
		/* A clean power-off exits with status 0, which vm_stop logs without the reason. */
		log_info("vm %s: ACPI power-off (S5)\n", vcpu->vm->name);
		if (vm_restart_service_console(vcpu, "powered off"))
			break;
		vm_stop(vcpu->vm, 0, "ACPI power-off (S5)");
		break;
	case ACPI_PM_RESET:
		acpi_reset(vcpu);
		break;
	case ACPI_PM_SLEEP_UNSUPPORTED:
		log_warn("vm %s: vCPU %u: sleep state SLP_TYP=%u is not supported; ignored\n", vcpu->vm->name,
			 vcpu->index, slp_typ);
		break;
	default:
		break;
	}
	return 0;
}

/* ---- I/O APIC ---- */

static int ioapic_mmio_read(void *opaque, struct vcpu *vcpu, uint64_t gpa, unsigned size, uint64_t *value)
{
	(void)vcpu;
	struct vm_chipset *c = opaque;
	uint32_t offset = (uint32_t)(gpa - PLATFORM_IOAPIC_BASE);

	uint64_t flags = spin_lock_irqsave(&c->lock);
	uint32_t v = vioapic_mmio_read(&c->ioapic, offset & ~3u);
	spin_unlock_irqrestore(&c->lock, flags);
	v >>= (offset & 3) * 8;
	*value = size >= 4 ? v : v & ((1u << (size * 8)) - 1);
	return 0;
}

static int ioapic_mmio_write(void *opaque, struct vcpu *vcpu, uint64_t gpa, unsigned size, uint64_t value)
{
	(void)vcpu;
	struct vm_chipset *c = opaque;
	uint32_t offset = (uint32_t)(gpa - PLATFORM_IOAPIC_BASE);

	if (offset & 3)
		return 0; /* registers take aligned accesses */
	uint64_t flags = spin_lock_irqsave(&c->lock);
	if (size == 1 && offset == VIOAPIC_REG_SELECT)
		vioapic_mmio_write(&c->ioapic, offset, (uint8_t)value);
	else if (size >= 4)
		vioapic_mmio_write(&c->ioapic, offset, (uint32_t)value);
	spin_unlock_irqrestore(&c->lock, flags);
	return 0;
}

static void ioapic_deliver(void *ctx, const struct apic_message *message)
{
	struct vm_chipset *c = ctx;
	vlapic_deliver(c->vm, message);
}

/* ---- attach and reset ---- */

static int write_acpi_tables(struct vm *vm)
{
	struct acpi_tables_params params = { .base = PLATFORM_ACPI_BASE, .vcpu_count = vm->vcpu_count };
	size_t size = 8192;
	uint8_t *buffer = kzalloc(size);

	if (!buffer)
		return -ENOMEM;
	int length = acpi_tables_build(buffer, size, &params);
	int rc = length < 0 ? length : vm_copy_to_guest(vm, PLATFORM_ACPI_BASE, buffer, (uint64_t)length);
	kfree(buffer);
	if (rc < 0)
		log_error("vm %s: cannot build its ACPI tables (%d)\n", vm->name, rc);
	return rc < 0 ? rc : 0;
}

/* CMOS RAM past the clock registers is battery-backed: it survives a reset. */
#define CMOS_NVRAM_FIRST 0x0e

static void init_devices(struct vm_chipset *c, bool keep_nvram)
{
	struct vm *vm = c->vm;
	uint64_t now = rdtsc();
	uint64_t low = vm->ram_size < PLATFORM_RAM_LOW_MAX ? vm->ram_size : PLATFORM_RAM_LOW_MAX;
	uint8_t nvram[sizeof(c->rtc.cmos) - CMOS_NVRAM_FIRST];

	if (keep_nvram)
		memcpy(nvram, c->rtc.cmos + CMOS_NVRAM_FIRST, sizeof(nvram));
	vioapic_init(&c->ioapic, PLATFORM_IOAPIC_ID, ioapic_deliver, c);
	vpic_init(&c->pic);
	chipset_pic_refresh_locked(c);
	vpit_init(&c->pit, tsc_hz(), now);
	vrtc_init(&c->rtc, tsc_hz(), now, host_wall_clock(now));
	if (keep_nvram)
		memcpy(c->rtc.cmos + CMOS_NVRAM_FIRST, nvram, sizeof(nvram));
	vrtc_set_memory(&c->rtc, low, vm->ram_size - low);
	acpi_pm_init(&c->pm, tsc_hz(), now, PLATFORM_ACPI_SLP_TYP_S5, PLATFORM_ACPI_RESET_VALUE);
	c->sci = false;
	chipset_rearm_locked(c, now);
}

int vdev_platform_reset(struct vm *vm)
{
	struct vm_chipset *c = vm->chipset;
	if (!c)
		return 0;
	uint64_t flags = spin_lock_irqsave(&c->lock);
	init_devices(c, true);
	spin_unlock_irqrestore(&c->lock, flags);
	for (uint32_t i = 0; i < vm->vcpu_count; i++)
		vlapic_reset(vm->vcpus[i]);
	vlapic_virtual_wire(vm);
	return write_acpi_tables(vm);
}

int vdev_platform_attach(struct vm *vm)
{
	int rc;

	if (vm->chipset)
		return -EEXIST;
	if (!vm->vcpu_count || !vm->vcpus[0]->irq.opaque) {
		rc = vdev_lapic_attach(vm);
		if (rc)
			return rc;
	}
	struct vm_chipset *c = kzalloc(sizeof(*c));
	if (!c)
		return -ENOMEM;
	vm->overhead_bytes += sizeof(*c);
	c->vm = vm;
	init_devices(c, false);
	vm->chipset = c;
	vlapic_virtual_wire(vm);

	rc = vm_register_io(vm, PLATFORM_PORT_PIC_MASTER, PLATFORM_PORT_PIC_MASTER + 1, byte_port_read,
			    byte_port_write, c);
	if (!rc)
		rc = vm_register_io(vm, PLATFORM_PORT_PIC_SLAVE, PLATFORM_PORT_PIC_SLAVE + 1, byte_port_read,
				    byte_port_write, c);
	if (!rc)
		rc = vm_register_io(vm, PLATFORM_PORT_ELCR, PLATFORM_PORT_ELCR + 1, byte_port_read, byte_port_write, c);
	if (!rc)
		rc = vm_register_io(vm, PLATFORM_PORT_PIT, PLATFORM_PORT_PIT + 3, byte_port_read, byte_port_write, c);
	if (!rc)
		rc = vm_register_io(vm, PLATFORM_PORT_SYSTEM_CONTROL, PLATFORM_PORT_SYSTEM_CONTROL, byte_port_read,
				    byte_port_write, c);
	if (!rc)
		rc = vm_register_io(vm, PLATFORM_PORT_RTC, PLATFORM_PORT_RTC + 1, byte_port_read, byte_port_write, c);
	if (!rc)
		rc = vm_register_io(vm, PLATFORM_ACPI_PM_BASE, PLATFORM_ACPI_PM_LAST, acpi_pm_port_read,
				    acpi_pm_port_write, c);
	if (!rc)
		rc = vm_register_mmio(vm, PLATFORM_IOAPIC_BASE, 0x1000, ioapic_mmio_read, ioapic_mmio_write, c);
	if (!rc)
		rc = write_acpi_tables(vm);
	return rc;
}

/*
 * Power-off and reboot, each a chain of methods from the cleanest to the
 * bluntest; every attempt is logged so a machine that refuses to go down
 * says how far it got.
 */
#include <arch/x86/power.h>

#include <arch/x86/cpu.h>
#include <arch/x86/io.h>
#include <lib/errno.h>
#include <lib/log.h>

/* io_delay() is about 1 µs: these are rough waits without a timer. */
#define POWER_SETTLE_US 100000     /* time for the machine to act on a request */
#define ACPI_ENABLE_TIMEOUT_US 3000000
#define KBC_INPUT_TIMEOUT_US 100000

#define BOCHS_SHUTDOWN_PORT 0x8900
#define QEMU_DEBUG_EXIT_PORT 0xf4
#define KBC_STATUS_PORT 0x64
#define KBC_STATUS_INPUT_FULL (1u << 1)
#define KBC_COMMAND_PULSE_RESET 0xfe
#define PCI_CONFIG_ADDRESS_PORT 0xcf8
#define PCI_CONFIG_DATA_PORT 0xcfc

static struct acpi_mapper power_mapper;
static struct acpi_soft_off power_soft_off;
static bool power_soft_off_known;
static struct acpi_reset_method power_reset;
static bool power_reset_known;
static bool power_debug_exit_enabled;

void power_init(const struct acpi_info *info)
{
	int rc;

	power_mapper = info->mapper;
	rc = acpi_soft_off_method(info, &power_soft_off);
	power_soft_off_known = rc == 0;
	if (rc == -ENOTSUP)
		log_warn("power: PM1 control block in an unsupported address space\n");
	rc = acpi_reset_method(info, &power_reset);
	power_reset_known = rc == 0;
	if (rc == -ENOTSUP)
		log_warn("power: FADT reset register in an unsupported address space %u\n",
			 info->fadt.reset_register.space_id);
	log_info("power: ACPI soft-off %s, ACPI reset register %s\n",
		 power_soft_off_known ? "available" : "unavailable",
		 power_reset_known ? "available" : "unavailable");
}

void power_set_debug_exit(bool enabled)
{
	power_debug_exit_enabled = enabled;
}

static void power_delay_us(unsigned int microseconds)
{
	while (microseconds--)
		io_delay();
}

/* A register in memory space, through the mapper ACPI was parsed with. The
 * mapper hands out const pointers because tables are only read; the
 * vmkernel's physmap behind it is writable. */
static volatile uint8_t *map_register(uint64_t phys, size_t size)
{
	const void *mapped;

	if (!power_mapper.map)
		return NULL;
	mapped = power_mapper.map(power_mapper.ctx, phys, size);
	return (volatile uint8_t *)(uintptr_t)mapped;
}

static bool io_port_valid(uint64_t address, unsigned int size)
{
	return address + size <= 0x10000;
}

static bool register_read16(const struct acpi_generic_address *reg, uint16_t *value)
{
	volatile uint8_t *mmio;

	if (reg->space_id == ACPI_SPACE_IO && io_port_valid(reg->address, 2)) {
		*value = inw((uint16_t)reg->address);
		return true;
	}
	if (reg->space_id == ACPI_SPACE_MEMORY && (mmio = map_register(reg->address, 2))) {
		*value = *(volatile uint16_t *)mmio;
		return true;
	}
	return false;
}

static bool register_write16(const struct acpi_generic_address *reg, uint16_t value)
{
	volatile uint8_t *mmio;

	if (reg->space_id == ACPI_SPACE_IO && io_port_valid(reg->address, 2)) {
		outw((uint16_t)reg->address, value);
		return true;
	}
	if (reg->space_id == ACPI_SPACE_MEMORY && (mmio = map_register(reg->address, 2))) {
		*(volatile uint16_t *)mmio = value;
		return true;
	}
	return false;
}

/* Mechanism #1 config write on bus 0, the only bus a reset register may be
 * on. The GAS address packs device (bits 47-32), function (31-16) and
 * register offset (15-0). */
static bool pci_config_write8_bus0(uint64_t address, uint8_t value)
{
	uint32_t device = (uint32_t)(address >> 32) & 0xffff;
	uint32_t function = (uint32_t)(address >> 16) & 0xffff;
	uint32_t offset = (uint32_t)address & 0xffff;

	if (device > 31 || function > 7 || offset > 255)
		return false;
	outl(PCI_CONFIG_ADDRESS_PORT,
	     0x80000000u | device << 11 | function << 8 | (offset & 0xfc));
	outb((uint16_t)(PCI_CONFIG_DATA_PORT + (offset & 3)), value);
	return true;
}

static bool reset_register_write(const struct acpi_reset_method *reset)
{
	volatile uint8_t *mmio;

	switch (reset->reg.space_id) {
	case ACPI_SPACE_IO:
		if (!io_port_valid(reset->reg.address, 1))
			return false;
		outb((uint16_t)reset->reg.address, reset->value);
		return true;
	case ACPI_SPACE_MEMORY:
		mmio = map_register(reset->reg.address, 1);
		if (!mmio)
			return false;
		*mmio = reset->value;
		return true;
	case ACPI_SPACE_PCI_CONFIG:
		return pci_config_write8_bus0(reset->reg.address, reset->value);
	default:
		return false;
	}
}

/* Firmware that boots in legacy mode owns the PM registers through SMM
 * until the OS writes ACPI_ENABLE to SMI_CMD and SCI_EN comes up. */
static uint16_t acpi_enter_acpi_mode(const struct acpi_soft_off *method,
				     uint16_t pm1a)
{
	unsigned int waited;

	log_info("power: entering ACPI mode (0x%x to SMI_CMD 0x%x)\n",
		 method->acpi_enable_value, method->smi_command_port);
	outb((uint16_t)method->smi_command_port, method->acpi_enable_value);
	for (waited = 0; waited < ACPI_ENABLE_TIMEOUT_US && !(pm1a & ACPI_PM1_SCI_EN);
	     waited++) {
		io_delay();
		if (!register_read16(&method->pm1a_control, &pm1a))
			break;
	}
	if (!(pm1a & ACPI_PM1_SCI_EN))
		log_warn("power: SCI_EN still clear; trying S5 anyway\n");
	return pm1a;
}

static void acpi_soft_off(void)
{
	const struct acpi_soft_off *method = &power_soft_off;
	bool has_pm1b = method->pm1b_control.address != 0;
	uint16_t pm1a, pm1b = 0;

	if (!register_read16(&method->pm1a_control, &pm1a)) {
		log_warn("power: PM1a control at 0x%llx is not accessible\n",
			 (unsigned long long)method->pm1a_control.address);
		return;
	}
	if (acpi_soft_off_needs_acpi_enable(method, pm1a))
		pm1a = acpi_enter_acpi_mode(method, pm1a);
	if (has_pm1b && !register_read16(&method->pm1b_control, &pm1b))
		has_pm1b = false;

	log_info("power: ACPI S5 (SLP_TYPa %u, SLP_TYPb %u)\n", method->slp_typ_a,
		 method->slp_typ_b);
	/* SLP_TYP first, then SLP_TYP with SLP_EN: the sequence mainstream
	 * OSes write, so chipsets see what they were validated with. */
	register_write16(&method->pm1a_control,
			 acpi_pm1_sleep_value(pm1a, method->slp_typ_a, false));
	if (has_pm1b)
		register_write16(&method->pm1b_control,
				 acpi_pm1_sleep_value(pm1b, method->slp_typ_b, false));
	register_write16(&method->pm1a_control,
			 acpi_pm1_sleep_value(pm1a, method->slp_typ_a, true));
	if (has_pm1b)
		register_write16(&method->pm1b_control,
				 acpi_pm1_sleep_value(pm1b, method->slp_typ_b, true));
	power_delay_us(POWER_SETTLE_US);
	log_warn("power: still running after ACPI S5\n");
}

static void emulator_power_off(void)
{
	/* Bochs, and QEMU's PIIX4 before it had ACPI power-off, turn off when
	 * this string arrives at port 0x8900. */
	log_info("power: trying the Bochs shutdown port 0x%x\n", BOCHS_SHUTDOWN_PORT);
	for (const char *c = "Shutdown"; *c; c++)
		outb(BOCHS_SHUTDOWN_PORT, (uint8_t)*c);
	power_delay_us(POWER_SETTLE_US);
	if (power_debug_exit_enabled) {
		log_info("power: trying QEMU isa-debug-exit port 0x%x\n", QEMU_DEBUG_EXIT_PORT);
		outb(QEMU_DEBUG_EXIT_PORT, 0);
		power_delay_us(POWER_SETTLE_US);
	}
}

void power_off(void)
{
	irq_disable();
	if (power_soft_off_known)
		acpi_soft_off();
	else
		log_warn("power: no ACPI soft-off method\n");
	emulator_power_off();
	log_error("power: could not power off; halted. It is safe to switch the machine off.\n");
	cpu_halt_forever();
}

static void keyboard_controller_reset(void)
{
	unsigned int waited = 0;

	log_info("power: reboot through the keyboard controller\n");
	/* The controller takes no command while its input buffer is full. */
	while ((inb(KBC_STATUS_PORT) & KBC_STATUS_INPUT_FULL) &&
	       waited++ < KBC_INPUT_TIMEOUT_US)
		io_delay();
	outb(KBC_STATUS_PORT, KBC_COMMAND_PULSE_RESET);
	power_delay_us(POWER_SETTLE_US);
}

/* With an IDT of limit 0 every exception is itself out of bounds: #GP, then
 * #DF, then shutdown, which the chipset turns into a reset. */
static void triple_fault(void)
{
	struct __attribute__((packed)) {
		uint16_t limit;
		uint64_t base;
	} empty_idt = { 0, 0 };

	log_info("power: reboot through a triple fault\n");
	__asm__ volatile("lidt %0\n\tint3" : : "m"(empty_idt) : "memory");
}

void power_reboot(void)
{
	irq_disable();
	if (power_reset_known) {
		log_info("power: reboot through the ACPI reset register (space %u, 0x%llx, value 0x%x)\n",
			 power_reset.reg.space_id,
			 (unsigned long long)power_reset.reg.address, power_reset.value);
		if (reset_register_write(&power_reset))
			power_delay_us(POWER_SETTLE_US);
		log_warn("power: still running after the ACPI reset register\n");
	}
	keyboard_controller_reset();
	triple_fault();
	log_error("power: could not reboot; halted\n");
	cpu_halt_forever();
}

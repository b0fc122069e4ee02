/*
 * The vendor-neutral VM and vCPU. A VM is guest RAM (2 MiB chunks of host
 * frames mapped through EPT/NPT), a set of vCPUs, the port and MMIO
 * handlers its devices registered, and its exit statistics. Field legend:
 * (o) set at creation, [v] written only by the vCPU's own pCPU, [l] vm->lock.
 */
#ifndef KAPSEL_VM_VM_H
#define KAPSEL_VM_VM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <arch/x86/virt.h>
#include <lib/spinlock.h>
#include <sched/sched.h>

#define VM_NAME_MAX 32
#define VM_MAX_VCPUS 16
#define VM_MAX_IO_HANDLERS 16
#define VM_MAX_MMIO_HANDLERS 8
#define VM_RAM_CHUNK (2ul << 20)
#define VM_MAX_RAM (64ul << 30)

struct vm;
struct vcpu;
struct pci_bus;
struct vm_chipset;
struct vm_log;

/* Port I/O: value holds the data (low `size` bytes). Return 0, or <0 to
 * make the access behave as unassigned. */
typedef int (*vm_io_read_fn)(void *opaque, struct vcpu *vcpu, uint16_t port, unsigned size, uint32_t *value);
typedef int (*vm_io_write_fn)(void *opaque, struct vcpu *vcpu, uint16_t port, unsigned size, uint32_t value);
typedef int (*vm_mmio_read_fn)(void *opaque, struct vcpu *vcpu, uint64_t gpa, unsigned size, uint64_t *value);
typedef int (*vm_mmio_write_fn)(void *opaque, struct vcpu *vcpu, uint64_t gpa, unsigned size, uint64_t value);

struct vm_io_handler {
	uint16_t first, last; /* inclusive */
	vm_io_read_fn read;
	vm_io_write_fn write;
	void *opaque;
};

struct vm_mmio_handler {
	uint64_t base, size;
	vm_mmio_read_fn read;
	vm_mmio_write_fn write;
	void *opaque;
};

/* A vCPU's interrupt controller (the vLAPIC registers itself here). */
struct vcpu_interrupt_source {
	/* Highest-priority interrupt ready for delivery, or -1. */
	int (*pending_vector)(struct vcpu *vcpu);
	/* The vector was injected: move it from IRR to ISR. */
	void (*acknowledge)(struct vcpu *vcpu, int vector);
	/* Host TSC at which the next timer fires, or 0: none armed. */
	uint64_t (*next_deadline)(struct vcpu *vcpu);
	/* Fires due timers: called when next_deadline() has passed, and once at
	 * the start of each slice. */
	void (*update)(struct vcpu *vcpu, uint64_t now_tsc);
	/* The APIC's MSRs (IA32_APIC_BASE, x2APIC 0x800-0x8ff, TSC deadline):
	 * 0, or -1 for #GP. NULL: the MSR policy answers alone. */
	int (*msr_read)(struct vcpu *vcpu, uint32_t index, uint64_t *value);
	int (*msr_write)(struct vcpu *vcpu, uint32_t index, uint64_t value);
	void *opaque;
};

enum vcpu_state {
	VCPU_WAIT_FOR_SIPI, /* APs before INIT-SIPI */
	VCPU_RUNNABLE,
	VCPU_HALTED,        /* HLT: until an interrupt is due */
	VCPU_STOPPED,       /* its VM ended */
};

enum vm_state {
	VM_RUNNING,
	VM_STOPPED,
};

/* Whether a VM holds its power-on resources (disk locks, log, NVRAM).
 * Powering on and the end of a power-off run in the BSP's loop
 * (boot_vms.c), where datastore I/O may block; `vm start` only asks. */
enum vm_power {
	VM_POWER_OFF,        /* nothing held: may be started */
	VM_POWER_ON_PENDING, /* `vm start` asked; the BSP's loop powers it on */
	VM_POWER_ON,         /* running, or stopped with its vCPUs still leaving */
};

enum vm_triple_fault_action {
	VM_TRIPLE_FAULT_STOP,
	VM_TRIPLE_FAULT_RESET,
};

struct vcpu {
	struct virt_vcpu arch;          /* [v] the backend's view */
	struct vm *vm;                  /* (o) */
	uint32_t index;                 /* (o) 0 = BSP */
	volatile uint32_t state;        /* enum vcpu_state; other pCPUs may wake it */
	volatile uint8_t sipi_vector;   /* set by a STARTUP IPI from another vCPU */
	volatile bool sipi_pending;     /* handled on the vCPU's own pCPU */
	volatile bool nmi_pending;      /* an NMI IPI waits for delivery */
	struct vcpu_interrupt_source irq; /* (o) */
	uint64_t exit_count[VMK_EXIT_COUNT];  /* [v] */
	uint64_t exit_cycles[VMK_EXIT_COUNT]; /* [v] TSC ticks from exit to re-entry */
	struct sched_task task;         /* the scheduler's: its pCPU, run-queue place, accounting */
	struct virt_sysregs *boot_sysregs; /* state to load at its next run (on its pCPU), then freed */
	bool fpu_valid;                 /* [v] fpu holds its state */
	uint8_t fpu[512] __attribute__((aligned(16))); /* [v] FXSAVE area while switched out */
};

struct vm {
	char name[VM_NAME_MAX];         /* (o) */
	uint32_t id;                    /* (o) */
	uint64_t ram_size;              /* (o) bytes from guest-physical 0 */
	uint64_t *ram_chunks;           /* (o) host-physical base of each 2 MiB chunk */
	uint64_t gpa_root;              /* (o) EPT/NPT root */
	uint32_t vcpu_count;            /* (o) */
	struct vcpu *vcpus[VM_MAX_VCPUS]; /* (o) */
	enum vm_triple_fault_action on_triple_fault; /* (o) */
	struct vm_io_handler io[VM_MAX_IO_HANDLERS]; /* (o) registered before start */
	uint32_t io_count;
	struct vm_mmio_handler mmio[VM_MAX_MMIO_HANDLERS]; /* (o) */
	uint32_t mmio_count;
	volatile uint32_t state;        /* enum vm_state */
	int64_t exit_status;            /* [l] the exit port's value, or -1 */
	char stop_reason[192];          /* [l] */
	uint64_t start_tsc, stop_tsc;
	uint64_t overhead_bytes;        /* vmkernel memory besides guest RAM */
	struct sched_group sched;       /* shares, reservation, limit (o); CPU accounting */
	/* Puts the VM back to power-on (RAM reloaded, vCPU 0's boot state
	 * pending, the others waiting for SIPI); set by whoever loaded it. */
	int (*reset)(struct vm *vm);
	void *reset_opaque;
	uint32_t resets;                /* [l] since start */
	volatile uint32_t power;        /* enum vm_power, changed with compare-and-swap */
	/* Set by the loader of a VM that can be powered on again: 0 when a
	 * start may go ahead, else -EBUSY with why (another VM holds a disk).
	 * Memory only, any context. NULL: the VM starts once per boot. */
	int (*start_check)(struct vm *vm, char *why, size_t why_size);
	bool service_console;           /* (o) role = console: has virtio-vsock, restarted when it ends */
	bool restart_on_end;            /* (o) console.restart = on */
	uint32_t restarts_in_window;    /* [v] console restarts since restart_window_tsc */
	uint64_t restart_window_tsc;    /* [v] */
	void *console;                  /* (o) the UART that owns its console ring */
	/* Rings of files on its datastore (vm/vm_log.h), set while it is
	 * powered on, NULL otherwise: its log, and COM1's output when that goes
	 * to a file (then not to the vmkernel log). */
	struct vm_log *log;
	struct vm_log *serial_log;
	struct pci_bus *pci;            /* (o) its PCI bus (vdev/pci.h), or NULL */
	struct vm_chipset *chipset;     /* (o) PIC, PIT, RTC, IOAPIC, ACPI (vdev/chipset.h), or NULL */
	struct spinlock lock;
	struct vm *next;                /* list of all VMs */
};

struct vm_create_params {
	const char *name;
	uint64_t ram_mib;
	uint32_t vcpus;
	enum vm_triple_fault_action on_triple_fault;
	uint32_t shares;                /* 0: SCHED_SHARES_DEFAULT */
	uint32_t reservation_pct, limit_pct; /* percent of one pCPU, 0: none */
	const struct sched_affinity *affinity; /* NULL: every pCPU */
};

/* Allocates RAM, the EPT/NPT tables and the vCPUs (not yet running).
 * Returns NULL with *error set. */
struct vm *vm_create(const struct vm_create_params *params, char *error, size_t error_size);
int vm_register_io(struct vm *vm, uint16_t first, uint16_t last, vm_io_read_fn read,
		   vm_io_write_fn write, void *opaque);
int vm_register_mmio(struct vm *vm, uint64_t base, uint64_t size, vm_mmio_read_fn read,
		     vm_mmio_write_fn write, void *opaque);
/* Host pointer to [gpa, gpa+length) when it is guest RAM within one chunk, else NULL. */
void *vm_gpa_to_host(struct vm *vm, uint64_t gpa, uint64_t length);
/* Copies to/from guest RAM across chunks; -EFAULT when not all RAM. */
int vm_copy_to_guest(struct vm *vm, uint64_t gpa, const void *src, uint64_t length);
int vm_copy_from_guest(struct vm *vm, uint64_t gpa, void *dst, uint64_t length);
/* Puts every vCPU on its pCPU's run queue; vCPU 0 runnable, the others wait for SIPI. */
void vm_start(struct vm *vm);
/* Ends the VM: every vCPU stops at its next exit; logged with the reason. */
bool vm_stop(struct vm *vm, int64_t exit_status, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* The service console powered off or crashed: with console.restart = on
 * it is restarted (at most VM_CONSOLE_RESTARTS per VM_CONSOLE_RESTART_WINDOW_S
 * seconds) and true returned; other VMs run on meanwhile. false: the caller
 * stops it. @pre on vCPU 0's pCPU */
#define VM_CONSOLE_RESTARTS 5
#define VM_CONSOLE_RESTART_WINDOW_S 60
bool vm_restart_service_console(struct vcpu *vcpu, const char *why);
/* Wakes a vCPU that may be halted or running on another pCPU. */
void vcpu_kick(struct vcpu *vcpu);
/* One exit reason's count and TSC ticks, summed over the VM's vCPUs. */
void vm_exit_totals(const struct vm *vm, uint32_t code, uint64_t *count, uint64_t *cycles);
/* Prints the per-exit-reason counts and cycles of a VM, and its CPU accounting. */
void vm_print_exit_stats(struct vm *vm);
const char *vmk_exit_name(uint32_t code);

/* All VMs ever created, newest first. */
struct vm *vm_list(void);

#endif

/*
 * VM definitions: a boot module holding a small text file in the style of
 * an ESX .vmx, one `key = "value"` per line:
 *
 *   # comment                    blank lines and comments are ignored
 *   name = "web1"                required; [A-Za-z0-9_.-], 1..31 characters
 *   memsize = "256"              MiB, 1..65536; default 64
 *   numvcpus = 2                 1..16; default 1 (quotes optional)
 *   kernel = "guest.elf"         required: the boot module holding the kernel
 *   initrd = "initrd.img"        optional boot module
 *   module = "disk.img ro"       repeatable, up to 8: boot module name, then
 *                                the string the guest sees with it
 *   disk = "disk.img"            repeatable, up to 4: a boot module that
 *                                becomes a RAM-backed virtio-blk disk
 *   cmdline = "console=ttyS0"    the guest's command line, up to 1023 bytes
 *   testdev = "on"               on/off (true/false): the test MMIO device
 *   on_triple_fault = "reset"    stop (default) or reset
 *   hw.version = "1"             virtual hardware version; only 1 exists
 *   shares = "2000"              CPU shares under contention: a number 1..1000000
 *                                or low/normal/high (500/1000/2000 per vCPU);
 *                                default normal
 *   reservation = "30%"          guaranteed CPU, percent of one pCPU (the '%'
 *                                optional), 0..100 per vCPU; default 0
 *   limit = "50%"                most CPU it ever gets, percent of one pCPU,
 *                                1..100 per vCPU, >= reservation; default none
 *   affinity = "0,2-3"           pCPUs (0..63) its vCPUs may run on; default all
 *   role = "console"             the service console (at most one): started
 *                                first, gets virtio-vsock (CID 3); default none
 *   console.restart = "off"      on/off: restart the console when it powers off
 *                                or crashes (role = console only); default on
 *   autostart = "off"            on/off: start at boot, or wait for `vm start`
 *                                from the service console; default on
 *   ethernet0.present = "true"   on/off: NIC 0..3 (ethernet0..ethernet3), a
 *                                virtio-net; with no ethernetN key at all a VM
 *                                has one NIC, ethernet0 on "VM Network"
 *   ethernet0.networkName = "VM Network"  the virtual network (port group) it
 *                                joins; VMs see only VMs of the same network;
 *                                1..31 printable characters; default VM Network
 *   ethernet0.address = "02:00:00:00:00:01"  a static unicast MAC; default
 *                                generated from the VM's name and the index
 *   ethernet0.virtualDev = "virtio"  the NIC model; only virtio exists
 *   serial0.present = "false"    on/off: COM1 (16550A at 0x3f8, IRQ 4); default on
 *   serial0.fileType = "file"    where COM1's output goes: console (the
 *                                vmkernel console and log, default) or file
 *   serial0.fileName = "serial.log"  with fileType file: a file next to the
 *                                definition, or "[datastore]/path"
 *   bios.bootOrder = "kernel"    the devices to boot from, in order: kernel
 *                                (the kernel key, loaded as firmware would),
 *                                hdd, cdrom, ethernet; hw.version 1 has no
 *                                virtual BIOS, so only kernel is accepted
 *
 * Keys are case-insensitive (ESX writes memSize). Unlike ESX, an unknown or
 * repeated key is an error: a typo in a boot-time definition must be loud.
 * Values in quotes may hold spaces and '#'; an unquoted value ends at '#'.
 */
#ifndef KAPSEL_VM_VMDEF_H
#define KAPSEL_VM_VMDEF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <boot_info.h>

#define VMDEF_NAME_MAX 32      /* with the NUL */
#define VMDEF_MODULE_NAME_MAX BOOT_MODULE_NAME_MAX
#define VMDEF_MODULE_LINE_MAX 256
#define VMDEF_CMDLINE_MAX 1024 /* with the NUL */
#define VMDEF_MAX_MODULES 8
#define VMDEF_MAX_DISKS 4
#define VMDEF_MEMSIZE_DEFAULT_MIB 64
#define VMDEF_MEMSIZE_MAX_MIB 65536
#define VMDEF_MAX_VCPUS 16
#define VMDEF_HW_VERSION_CURRENT 1
#define VMDEF_SHARES_MAX 1000000
#define VMDEF_SHARES_PER_VCPU_DEFAULT 1000
#define VMDEF_AFFINITY_CPUS 64
#define VMDEF_MAX_NICS 4
#define VMDEF_NETWORK_NAME_MAX 32  /* with the NUL */
#define VMDEF_DEFAULT_NETWORK "VM Network"
#define VMDEF_MAC_SIZE 6
#define VMDEF_PATH_MAX 128         /* "[label]/dir/file" with the NUL */
#define VMDEF_MAX_BOOT_DEVICES 4

enum vmdef_triple_fault_action {
	VMDEF_TRIPLE_FAULT_STOP = 0,
	VMDEF_TRIPLE_FAULT_RESET = 1,
};

enum vmdef_serial_target {
	VMDEF_SERIAL_CONSOLE = 0, /* the vmkernel console and log, prefixed by the VM's name */
	VMDEF_SERIAL_FILE = 1,    /* serial_file */
};

enum vmdef_boot_device {
	VMDEF_BOOT_KERNEL = 0,
	VMDEF_BOOT_HDD,
	VMDEF_BOOT_CDROM,
	VMDEF_BOOT_ETHERNET,
};

struct vmdef_nic {
	bool present;
	bool mac_given;            /* ethernetN.address; else generated */
	uint8_t mac[VMDEF_MAC_SIZE];
	char network[VMDEF_NETWORK_NAME_MAX];
};

struct vmdef_module {
	char name[VMDEF_MODULE_NAME_MAX]; /* the boot module to find (first word) */
	char line[VMDEF_MODULE_LINE_MAX]; /* the whole value: the guest's module string */
};

struct vm_definition {
	char name[VMDEF_NAME_MAX];
	uint32_t memsize_mib;
	uint32_t vcpu_count;
	char kernel[VMDEF_MODULE_NAME_MAX];
	char initrd[VMDEF_MODULE_NAME_MAX];  /* "" when none */
	struct vmdef_module modules[VMDEF_MAX_MODULES];
	unsigned module_count;
	char disks[VMDEF_MAX_DISKS][VMDEF_MODULE_NAME_MAX]; /* boot modules -> virtio-blk */
	unsigned disk_count;
	char cmdline[VMDEF_CMDLINE_MAX];
	bool testdev;
	enum vmdef_triple_fault_action on_triple_fault;
	uint32_t hw_version;
	uint32_t shares;           /* 0: not given (normal) */
	uint32_t reservation_pct;  /* 0: none */
	uint32_t limit_pct;        /* 0: none */
	uint64_t affinity;         /* bit n: pCPU n; 0: every pCPU */
	bool service_console;      /* role = console */
	bool console_restart;      /* console.restart, default on */
	bool autostart;            /* default on */
	struct vmdef_nic nics[VMDEF_MAX_NICS]; /* by index; only present ones are attached */
	bool serial_present;       /* serial0.present, default on */
	enum vmdef_serial_target serial_target;
	char serial_file[VMDEF_PATH_MAX]; /* as written: relative to the definition's directory, or "[ds]/path" */
	enum vmdef_boot_device boot_order[VMDEF_MAX_BOOT_DEVICES];
	unsigned boot_order_count; /* >= 1: [0] = kernel by default */
};

/*
 * Parses length bytes of text (no NUL needed) into *out, defaults applied.
 * Returns 0, or -EINVAL with error holding one sentence that names the line
 * and key ("line 3: unknown key 'memsiz'").
 */
int vmdef_parse(const char *text, size_t length, struct vm_definition *out, char *error,
		size_t error_size);

/* True when a boot module with this command line holds a VM definition:
 * it starts with "vmdef " or its file name (first word) ends in ".vmx". */
bool vmdef_is_definition_module(const char *module_name);

/*
 * The index of the boot module a definition calls name: the module whose
 * command line's first word is name, else the one whose file name (the
 * first word's last path component) is name. -ENOENT when none matches,
 * -EEXIST when only file names match and more than one does, -EINVAL for an
 * empty name.
 */
int vmdef_find_module(const struct boot_module *mods, unsigned count, const char *name);

#endif

/*
 * Guest kernel loaders: put a guest kernel image (Multiboot1, Multiboot2 or
 * a bare x86-64 ELF64) into a VM's guest-physical memory, build its boot
 * information there, and say in which CPU state the kernel must start.
 *
 * Pure logic: guest RAM is reached only through struct guest_memory, so the
 * loaders run the same in the vmkernel and in host unit tests. Every field of
 * the image is untrusted; a bad image is an error value with a sentence in
 * `error`, never a crash.
 *
 * Guest-physical RAM layout (shared with the VM core, which maps it):
 *   [0, 0x9fc00)            usable (conventional memory)
 *   [0x9fc00, 0x100000)     reserved: EBDA, VGA, BIOS. The loader never
 *                           writes there; the core may back it or not.
 *   [1 MiB, low end)        usable; low end = min(size, 3 GiB)
 *   [3 GiB, 4 GiB)          never RAM: the MMIO hole (LAPIC, IOAPIC,
 *                           test device, later PCI BARs)
 *   [4 GiB, 4 GiB + rest)   usable: RAM past 3 GiB continues at 4 GiB
 * That is: RAM byte at offset o (o < size) sits at gpa o when o < 3 GiB and
 * at gpa o + 1 GiB otherwise. guest_ram_map() returns this map.
 *
 * Where the loader puts its own things (none overlaps the kernel, each other
 * or the reserved ranges; all below 3 GiB):
 *   boot area   stack (16 KiB), GDT + TSS, then the boot information. It ends
 *               at 0x9f000 when the kernel leaves that room free, else it
 *               goes to the lowest free place above 1 MiB.
 *   page tables (ELF64 only) identity map, lowest free place above the
 *               kernel's highest address.
 *   modules     each page aligned, in order, after the kernel (and page
 *               tables); if they do not fit there, the lowest free place.
 */
#ifndef KAPSEL_VM_GUEST_LOADER_H
#define KAPSEL_VM_GUEST_LOADER_H

#include <stddef.h>
#include <stdint.h>

#include <arch/x86/virt.h>

#define GUEST_CONVENTIONAL_END 0x9fc00ull
#define GUEST_HIGH_MEMORY_START 0x100000ull
#define GUEST_RAM_BELOW_4G_LIMIT 0xc0000000ull
#define GUEST_RAM_ABOVE_4G_START 0x100000000ull

#define GUEST_LOADER_MAX_MODULES 16
#define GUEST_LOADER_STRING_MAX 1024 /* command lines, module strings: bytes with the NUL */
#define GUEST_LOADER_MAX_SEGMENTS 16 /* loadable ELF segments */
#define GUEST_LOADER_STACK_SIZE 0x4000u
#define GUEST_LOADER_BOOT_AREA_END 0x9f000ull
#define GUEST_LOADER_NAME "Kapsel"

/* Selectors of the GDT the loader builds (also in the segment registers). */
#define GUEST_SELECTOR_CODE32 0x08
#define GUEST_SELECTOR_DATA 0x10
#define GUEST_SELECTOR_CODE64 0x18
#define GUEST_SELECTOR_TSS 0x20

/* The magic values a kernel finds in EAX. */
#define GUEST_MULTIBOOT1_BOOT_MAGIC 0x2badb002u
#define GUEST_MULTIBOOT2_BOOT_MAGIC 0x36d76289u

struct guest_memory {
	uint64_t size; /* bytes of RAM, placed as described above */
	/* Host address of [gpa, gpa + length), or NULL if that is not RAM. The
	 * loader never asks for a range crossing a 4 KiB page boundary, so RAM
	 * need not be host-contiguous. */
	void *(*gpa_to_host)(void *ctx, uint64_t gpa, uint64_t length);
	void *ctx;
};

struct guest_image {
	const uint8_t *data;
	size_t size;
	/* Kernel: for messages only. Module: its string (command line) in the
	 * boot information, e.g. "initrd.img" or "disk.img ro"; NULL = "". */
	const char *name;
};

enum guest_boot_protocol {
	GUEST_BOOT_MULTIBOOT1 = 1,
	GUEST_BOOT_MULTIBOOT2 = 2,
	GUEST_BOOT_ELF64 = 3, /* long mode, RDI = Multiboot2-style information */
	GUEST_BOOT_LINUX64 = 4, /* bzImage 64-bit entry, RSI = zero page (vm/linux_loader.h) */
	GUEST_BOOT_PVH = 5,     /* 32-bit PVH entry, EBX = hvm_start_info (vm/linux_loader.h) */
};

struct guest_address_range {
	uint64_t start;
	uint64_t end; /* exclusive */
};

/*
 * The CPU state a loaded kernel starts in, plus where things went (for the
 * log and the tests). RSP is gprs[VIRT_RSP] (struct virt_sysregs has no RSP
 * field); RIP and RFLAGS are in sysregs. Every sysregs field is set: the
 * core can hand it to set_sysregs() as is.
 *
 * Segments follow virt.h's VMX access-rights layout. That field is 16 bits
 * wide, so it cannot hold the VMX "unusable" bit (16): an unused segment
 * (LDTR) has attributes 0, i.e. P = 0, which backends must enter as
 * unusable.
 */
struct guest_boot_state {
	struct virt_sysregs sysregs;
	uint64_t gprs[VIRT_GPR_COUNT];
	enum guest_boot_protocol protocol;
	struct guest_address_range kernel;      /* lowest to highest byte loaded (with bss) */
	struct guest_address_range boot_area;   /* stack, GDT, TSS, boot information */
	struct guest_address_range page_tables; /* ELF64 only, else {0, 0} */
	uint64_t info_address;                  /* EBX (Multiboot) or RDI (ELF64) */
	struct guest_address_range modules[GUEST_LOADER_MAX_MODULES];
	unsigned module_count;
};

enum guest_ram_type { GUEST_RAM_USABLE = 1, GUEST_RAM_RESERVED = 2 }; /* e820 / Multiboot numbers */

struct guest_ram_range {
	uint64_t base;
	uint64_t length;
	uint32_t type; /* enum guest_ram_type */
};

#define GUEST_RAM_MAP_MAX 4

/* The memory map a VM with ram_size bytes of RAM has (see above), in address
 * order; returns the number of entries. */
unsigned guest_ram_map(uint64_t ram_size, struct guest_ram_range out[GUEST_RAM_MAP_MAX]);

/* One past the highest guest-physical RAM address. */
uint64_t guest_ram_end(uint64_t ram_size);

/*
 * Loads kernel (format detected: a Multiboot2 header, else a Multiboot1
 * header, else a bare ELF64 x86-64 executable), copies the modules, builds
 * the boot information with cmdline (NULL = empty) and fills *out.
 * Returns 0, or -EINVAL (bad arguments), -ENOEXEC (bad or unsupported
 * image), -ENOSPC (does not fit in guest RAM), -EFAULT (gpa_to_host refused
 * RAM it declared); then error holds one sentence and guest RAM may be
 * partly written (only on -EFAULT: every check runs before the first write).
 */
int guest_load(const struct guest_memory *mem, const struct guest_image *kernel,
	       const char *cmdline, const struct guest_image *modules, unsigned module_count,
	       struct guest_boot_state *out, char *error, size_t error_size);

#endif

#include <mm/vmm.h>

#include <arch/x86/cpu.h>
#include <lib/errno.h>
#include <lib/log.h>
#include <lib/spinlock.h>
#include <lib/string.h>
#include <mm/pmm.h>

extern char __kernel_phys_start[], __kernel_text_start[], __kernel_text_end[];
extern char __kernel_rodata_start[], __kernel_rodata_end[];
extern char __kernel_data_start[], __kernel_end[];

static uint64_t physmap_offset;      /* 0 until the switch */
static uint64_t kernel_root;         /* PML4 physical address */
static uint64_t kernel_phys_start;   /* where the image's first byte is */
static uint64_t mmio_next = MMIO_WINDOW_BASE; /* [m] vmm_lock */
static struct spinlock vmm_lock = SPINLOCK_INIT;

/* PAT: entry 1 becomes write-combining; the rest keep their reset values. */
#define PAT_VALUE 0x0007040600070106ul

void *phys_to_virt(uint64_t phys)
{
	return (void *)(phys + physmap_offset);
}

uint64_t virt_to_phys(const void *virt)
{
	uint64_t v = (uint64_t)virt;

	if (v >= BOOT_KERNEL_VIRT_BASE - (BOOT_KERNEL_DEFAULT_PHYS))
		return v - BOOT_KERNEL_VIRT_BASE + kernel_phys_start;
	return v - physmap_offset;
}

static void *pt_env_phys_to_virt(void *ctx, uint64_t phys)
{
	(void)ctx;
	return phys_to_virt(phys);
}

uint64_t vmm_alloc_zeroed_frame(void)
{
	/* Before the switch only [0, 4 GiB) is reachable. */
	uint64_t phys = physmap_offset ? pmm_alloc_frame() : pmm_alloc_in(PMM_LOW_LIMIT, 4ul << 30);
	if (phys)
		memset(phys_to_virt(phys), 0, PAGE_SIZE);
	return phys;
}

static uint64_t pt_env_alloc(void *ctx)
{
	(void)ctx;
	return vmm_alloc_zeroed_frame();
}

static void pt_env_free(void *ctx, uint64_t phys)
{
	(void)ctx;
	pmm_free_frame(phys);
}

static const struct pt_env kernel_env = {
	.alloc_table = pt_env_alloc,
	.free_table = pt_env_free,
	.phys_to_virt = pt_env_phys_to_virt,
};

static int map_image_part(const char *start, const char *end, uint32_t prot)
{
	uint64_t virt = (uint64_t)start;
	uint64_t phys = virt - BOOT_KERNEL_VIRT_BASE + kernel_phys_start;
	uint64_t size = (uint64_t)end - (uint64_t)start;
	return pt_map(&pt_format_host, &kernel_env, kernel_root, virt, phys, size, prot | PT_GLOBAL,
		      false);
}

void vmm_install_on_cpu(void)
{
	if (cpu_features.nx)
		wrmsr(MSR_EFER, rdmsr(MSR_EFER) | EFER_NXE);
	wrmsr(MSR_PAT, PAT_VALUE);
	/* Caches on: APs come out of INIT with CD and NW set, and some
	 * firmware leaves them so on the BSP. */
	write_cr0((read_cr0() | CR0_WP) & ~(CR0_CD | CR0_NW));
	write_cr3(kernel_root);
	/* OSFXSR/OSXMMEXCPT: guests' SSE state is saved with FXSAVE. */
	write_cr4(read_cr4() | CR4_PGE | CR4_OSFXSR | CR4_OSXMMEXCPT);
}

uint64_t vmm_kernel_root(void)
{
	return kernel_root;
}

int vmm_init(const struct boot_info *boot)
{
	int rc;

	kernel_phys_start = boot->kernel_phys_start;
	pt_host_set_nx(cpu_features.nx);
	kernel_root = vmm_alloc_zeroed_frame();
	if (!kernel_root)
		return -ENOMEM;

	/* physmap: the low 1 MiB plus every range in the map, large pages where aligned. */
	rc = pt_map(&pt_format_host, &kernel_env, kernel_root, PHYSMAP_BASE, 0, PMM_LOW_LIMIT,
		    PT_READ | PT_WRITE | PT_GLOBAL, true);
	for (uint32_t i = 0; i < boot->mem_range_count && !rc; i++) {
		const struct boot_mem_range *r = &boot->mem_ranges[i];
		uint64_t start = r->base & ~(PAGE_SIZE - 1);
		uint64_t end = (r->base + r->length + PAGE_SIZE - 1) & ~(PAGE_SIZE - 1);
		if (end <= start || end > (1ul << cpu_features.phys_addr_bits))
			continue;
		rc = pt_map(&pt_format_host, &kernel_env, kernel_root, PHYSMAP_BASE + start, start,
			    end - start, PT_READ | PT_WRITE | PT_GLOBAL, true);
	}
	/* The image: the multiboot stub and .boot data at its high alias, then W^X sections. */
	if (!rc)
		rc = map_image_part((const char *)BOOT_KERNEL_VIRT_BASE, __kernel_text_start,
				    PT_READ | PT_WRITE);
	if (!rc)
		rc = map_image_part(__kernel_text_start, __kernel_text_end, PT_READ | PT_EXEC);
	if (!rc)
		rc = map_image_part(__kernel_rodata_start, __kernel_rodata_end, PT_READ);
	if (!rc)
		rc = map_image_part(__kernel_data_start, __kernel_end, PT_READ | PT_WRITE);
	if (rc) {
		log_error("vmm: cannot build the vmkernel page tables (%d)\n", rc);
		return rc;
	}
	vmm_install_on_cpu();
	physmap_offset = PHYSMAP_BASE;
	static const struct pmm_phys_access physmap_access = { phys_to_virt };
	pmm_set_phys_access(&physmap_access);
	return 0;
}

void *vmm_map_mmio(uint64_t phys, uint64_t size, uint32_t prot)
{
	uint64_t offset = phys & (PAGE_SIZE - 1);
	uint64_t base = phys - offset;
	uint64_t length = (size + offset + PAGE_SIZE - 1) & ~(PAGE_SIZE - 1);

	uint64_t flags = spin_lock_irqsave(&vmm_lock);
	uint64_t virt = mmio_next;
	if (virt + length > MMIO_WINDOW_BASE + MMIO_WINDOW_SIZE) {
		spin_unlock_irqrestore(&vmm_lock, flags);
		return NULL;
	}
	mmio_next += length + PAGE_SIZE; /* an unmapped guard page between mappings */
	int rc = pt_map(&pt_format_host, &kernel_env, kernel_root, virt, base, length,
			(prot ? prot : PT_READ | PT_WRITE | PT_UNCACHED) | PT_GLOBAL, false);
	spin_unlock_irqrestore(&vmm_lock, flags);
	return rc ? NULL : (void *)(virt + offset);
}

int vmm_map_identity(uint64_t phys, uint64_t size, uint32_t prot)
{
	uint64_t flags = spin_lock_irqsave(&vmm_lock);
	int rc = pt_map(&pt_format_host, &kernel_env, kernel_root, phys, phys, size, prot, false);
	spin_unlock_irqrestore(&vmm_lock, flags);
	return rc;
}

int vmm_unmap_identity(uint64_t phys, uint64_t size)
{
	uint64_t flags = spin_lock_irqsave(&vmm_lock);
	int rc = pt_unmap(&pt_format_host, &kernel_env, kernel_root, phys, size);
	spin_unlock_irqrestore(&vmm_lock, flags);
	for (uint64_t v = phys; v < phys + size; v += PAGE_SIZE)
		invlpg(v);
	return rc;
}

/*
 * pmode32: 32-bit protected mode as a multiboot1 loader leaves it, then
 * the guest's own paging on top of the hypervisor's EPT/NPT: non-PAE
 * paging with 4 MiB (PSE) and 4 KiB pages, then PAE paging with 2 MiB and
 * 4 KiB pages. Each time: aliases reach the right guest-physical memory
 * both ways, the CPU sets accessed/dirty bits, INVLPG and a CR3 reload
 * take remappings, and paging turns off again. Needs >= 12 MiB of RAM.
 */
#include "guest.h"

const char guest_name[] = "pmode32";

#define PAGE_PRESENT 0x1u
#define PAGE_WRITABLE 0x2u
#define PAGE_ACCESSED 0x20u
#define PAGE_DIRTY 0x40u
#define PAGE_LARGE 0x80u
#define PAGE_FLAGS (PAGE_PRESENT | PAGE_WRITABLE)

/* Virtual aliases and the guest-physical pages behind them. */
#define ALIAS_LARGE 0x40000000u
#define ALIAS_SMALL 0x41005000u
#define PHYS_LARGE 0x00400000u       /* 4 MiB and 2 MiB aligned */
#define PHYS_LARGE_OTHER 0x00800000u
#define PHYS_SMALL 0x00603000u
#define PHYS_SMALL_OTHER 0x00604000u
#define MARK_LARGE 0x11110000u
#define MARK_LARGE_OTHER 0x22220000u
#define MARK_SMALL 0x33330000u
#define MARK_SMALL_OTHER 0x44440000u

static uint32_t pse_directory[1024] __attribute__((aligned(4096)));
static uint32_t pse_table[1024] __attribute__((aligned(4096)));
static uint64_t pae_pointer_table[4] __attribute__((aligned(32)));
static uint64_t pae_directories[4][512] __attribute__((aligned(4096)));
static uint64_t pae_table[512] __attribute__((aligned(4096)));

static volatile uint32_t *word_at(uint32_t address)
{
	return (volatile uint32_t *)(uintptr_t)address;
}

static void check_loader_state(void)
{
	CHECK((guest_boot_cr0 & (CR0_PE | CR0_PG)) == CR0_PE, "loader left CR0=0x%x, want PE=1 PG=0", guest_boot_cr0);
	CHECK(!(guest_boot_eflags & (EFLAGS_IF | EFLAGS_VM)), "loader left EFLAGS=0x%x, want IF=0 VM=0",
	      guest_boot_eflags);
	uint16_t cs;
	__asm__ volatile("movw %%cs, %0" : "=r"(cs));
	CHECK_EQ(cs, SELECTOR_KERNEL_CODE, "CS after loading our GDT");
}

static void write_marks(void)
{
	*word_at(PHYS_LARGE + 0x10) = MARK_LARGE;
	*word_at(PHYS_LARGE_OTHER + 0x10) = MARK_LARGE_OTHER;
	*word_at(PHYS_SMALL + 0x20) = MARK_SMALL;
	*word_at(PHYS_SMALL_OTHER + 0x20) = MARK_SMALL_OTHER;
}

static void paging_on(uint32_t cr4_bits, uintptr_t root)
{
	write_cr4(read_cr4() | cr4_bits);
	write_cr3(root);
	write_cr0(read_cr0() | CR0_PG);
}

static void paging_off(uint32_t cr4_bits)
{
	write_cr0(read_cr0() & ~CR0_PG);
	write_cr4(read_cr4() & ~cr4_bits);
	CHECK(!(read_cr0() & CR0_PG), "CR0.PG still set");
}

/* The same checks through either paging mode: `large` and `small` are the
 * entries mapping ALIAS_LARGE and ALIAS_SMALL, `small_parent` the
 * directory entry above `small`. Entries' low words hold P/A/D. */
static void check_aliases(const char *mode, volatile uint32_t *large, volatile uint32_t *small,
			  volatile uint32_t *small_parent, void (*remap_large)(uint32_t), void (*remap_small)(uint32_t))
{
	CHECK_EQ(*word_at(ALIAS_LARGE + 0x10), MARK_LARGE, "read through the large-page alias");
	CHECK((*large & (PAGE_ACCESSED | PAGE_DIRTY)) == PAGE_ACCESSED, "%s: after a read the large entry is 0x%x",
	      mode, *large);
	*word_at(ALIAS_LARGE + 0x14) = 0x55;
	CHECK(*large & PAGE_DIRTY, "%s: dirty bit not set in the large entry after a write", mode);
	CHECK_EQ(*word_at(PHYS_LARGE + 0x14), 0x55, "write through the large alias, read through the identity map");

	CHECK_EQ(*word_at(ALIAS_SMALL + 0x20), MARK_SMALL, "read through the 4 KiB alias");
	CHECK((*small & (PAGE_ACCESSED | PAGE_DIRTY)) == PAGE_ACCESSED, "%s: after a read the 4 KiB entry is 0x%x",
	      mode, *small);
	CHECK(*small_parent & PAGE_ACCESSED, "%s: directory entry above the 4 KiB page not accessed", mode);
	*word_at(ALIAS_SMALL + 0x24) = 0x66;
	CHECK(*small & PAGE_DIRTY, "%s: dirty bit not set in the 4 KiB entry", mode);
	CHECK_EQ(*word_at(PHYS_SMALL + 0x24), 0x66, "write through the 4 KiB alias, read through the identity map");

	remap_small(PHYS_SMALL_OTHER);
	invlpg(ALIAS_SMALL);
	CHECK_EQ(*word_at(ALIAS_SMALL + 0x20), MARK_SMALL_OTHER, "4 KiB alias after remapping and INVLPG");
	remap_large(PHYS_LARGE_OTHER);
	write_cr3(read_cr3());
	CHECK_EQ(*word_at(ALIAS_LARGE + 0x10), MARK_LARGE_OTHER, "large alias after remapping and a CR3 reload");
	/* An exit while paging is on (the UART is emulated) must not lose it. */
	guest_printf("pmode32: %s paging: aliases, A/D bits, INVLPG, CR3 reload ok\n", mode);
	CHECK_EQ(*word_at(ALIAS_LARGE + 0x10), MARK_LARGE_OTHER, "large alias after an exit");
}

static void pse_remap_large(uint32_t phys)
{
	pse_directory[ALIAS_LARGE >> 22] = phys | PAGE_FLAGS | PAGE_LARGE;
}

static void pse_remap_small(uint32_t phys)
{
	pse_table[(ALIAS_SMALL >> 12) & 1023] = phys | PAGE_FLAGS;
}

static void check_pse_paging(void)
{
	for (uint32_t i = 0; i < 1024; i++)
		pse_directory[i] = (i << 22) | PAGE_FLAGS | PAGE_LARGE;
	pse_remap_large(PHYS_LARGE);
	pse_directory[ALIAS_SMALL >> 22] = (uint32_t)(uintptr_t)pse_table | PAGE_FLAGS;
	pse_remap_small(PHYS_SMALL);
	paging_on(CR4_PSE, (uintptr_t)pse_directory);
	check_aliases("PSE", &pse_directory[ALIAS_LARGE >> 22], &pse_table[(ALIAS_SMALL >> 12) & 1023],
		      &pse_directory[ALIAS_SMALL >> 22], pse_remap_large, pse_remap_small);
	paging_off(CR4_PSE);
}

static void pae_remap_large(uint32_t phys)
{
	pae_directories[ALIAS_LARGE >> 30][(ALIAS_LARGE >> 21) & 511] = phys | PAGE_FLAGS | PAGE_LARGE;
}

static void pae_remap_small(uint32_t phys)
{
	pae_table[(ALIAS_SMALL >> 12) & 511] = phys | PAGE_FLAGS;
}

static void check_pae_paging(void)
{
	/* PDPTEs allow only P (and cache bits): RW there is reserved. */
	for (uint32_t i = 0; i < 4; i++) {
		pae_pointer_table[i] = (uintptr_t)pae_directories[i] | PAGE_PRESENT;
		for (uint32_t j = 0; j < 512; j++)
			pae_directories[i][j] = (((uint64_t)i << 30) | ((uint64_t)j << 21)) | PAGE_FLAGS | PAGE_LARGE;
	}
	pae_remap_large(PHYS_LARGE);
	pae_directories[ALIAS_SMALL >> 30][(ALIAS_SMALL >> 21) & 511] = (uintptr_t)pae_table | PAGE_FLAGS;
	pae_remap_small(PHYS_SMALL);
	paging_on(CR4_PAE, (uintptr_t)pae_pointer_table);
	check_aliases("PAE", (volatile uint32_t *)&pae_directories[ALIAS_LARGE >> 30][(ALIAS_LARGE >> 21) & 511],
		      (volatile uint32_t *)&pae_table[(ALIAS_SMALL >> 12) & 511],
		      (volatile uint32_t *)&pae_directories[ALIAS_SMALL >> 30][(ALIAS_SMALL >> 21) & 511],
		      pae_remap_large, pae_remap_small);
	paging_off(CR4_PAE);
}

void guest_main(uint32_t multiboot_info)
{
	uint64_t ram_end = multiboot_ram_end(multiboot_info);
	CHECK(ram_end >= 12u << 20, "needs 12 MiB of RAM, the memory map shows 0x%llx bytes",
	      (unsigned long long)ram_end);
	check_loader_state();
	write_marks();
	check_pse_paging();
	write_marks();
	check_pae_paging();
}

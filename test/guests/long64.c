/*
 * long64: 64-bit long mode. The mode's state (CR0, CR4, EFER, a CS with
 * L=1); the guest's own 4-level page tables with 1 GiB, 2 MiB and 4 KiB
 * pages, an alias in the second PML4 slot and a higher-half one, accessed
 * bits at every level; a non-canonical address raises #GP(0); SYSCALL and
 * SYSRET between ring 3 and ring 0 with the selectors from STAR, the
 * return address in RCX, RFLAGS in R11 and masking by SFMASK.
 */
#include "guest.h"

const char guest_name[] = "long64";

#define PAGE_FLAGS 0x7ull /* present, writable, user */
#define PAGE_ACCESSED 0x20ull
#define PAGE_LARGE 0x80ull
#define CPUID_PDPE1GB (1u << 26)

#define LOW_ALIAS 0x0000008000000000ull  /* PML4 slot 1 */
#define HIGH_ALIAS 0xffff800000000000ull /* PML4 slot 256 */
#define PHYS_MARK_1G 0x00500000ull       /* seen through the 1 GiB alias page */
#define PHYS_LARGE 0x00400000ull
#define PHYS_SMALL 0x00603000ull
#define MARK_1G 0x1111222233334444ull
#define MARK_LARGE 0x5555666677778888ull
#define MARK_SMALL 0x99990000aaaabbbbull
#define EFLAGS_TF (1u << 8)
#define SFMASK_VALUE (EFLAGS_IF | EFLAGS_TF | EFLAGS_DF)

extern uint64_t guest_page_directories[4 * 512];
static uint64_t pml4[512] __attribute__((aligned(4096)));
static uint64_t identity_pdpt[512] __attribute__((aligned(4096)));
static uint64_t low_pdpt[512] __attribute__((aligned(4096)));
static uint64_t low_directory[512] __attribute__((aligned(4096)));
static uint64_t low_table[512] __attribute__((aligned(4096)));
static uint64_t high_pdpt[512] __attribute__((aligned(4096)));
static uint64_t high_directory[512] __attribute__((aligned(4096)));

static volatile uint64_t *quad_at(uint64_t address)
{
	return (volatile uint64_t *)(uintptr_t)address;
}

static void check_mode_state(void)
{
	uintptr_t cr0 = read_cr0(), cr4 = read_cr4();
	uint64_t efer = rdmsr(MSR_EFER);
	CHECK((cr0 & (CR0_PE | CR0_PG)) == (CR0_PE | CR0_PG), "CR0 0x%lx: PE and PG must be set", (unsigned long)cr0);
	CHECK(cr4 & CR4_PAE, "CR4 0x%lx: PAE clear in long mode", (unsigned long)cr4);
	CHECK((efer & (EFER_LME | EFER_LMA)) == (EFER_LME | EFER_LMA), "EFER 0x%llx: LME/LMA", (unsigned long long)efer);
	uint32_t access_rights;
	__asm__ volatile("larl %1, %0" : "=r"(access_rights) : "r"((uint32_t)SELECTOR_KERNEL_CODE));
	CHECK((access_rights & (3u << 21)) == (1u << 21), "CS access rights 0x%x: want L=1 D=0", access_rights);
	uint64_t wide = 0xffffffffull;
	__asm__ volatile("addq $1, %0" : "+r"(wide));
	CHECK_EQ(wide, 0x100000000ull, "64-bit add");
}

static void build_page_tables(bool gigabyte_pages)
{
	/* Slot 0: identity 0-4 GiB, by 1 GiB pages or the runtime's 2 MiB directories. */
	for (uint64_t i = 0; i < 4; i++)
		identity_pdpt[i] = gigabyte_pages ? (i << 30) | PAGE_FLAGS | PAGE_LARGE
						  : ((uintptr_t)&guest_page_directories[i * 512]) | PAGE_FLAGS;
	pml4[0] = (uintptr_t)identity_pdpt | PAGE_FLAGS;

	/* Slot 1: a 1 GiB page onto guest-physical 0 (if offered), then a
	 * directory with a 2 MiB page and a table with a 4 KiB page. */
	if (gigabyte_pages)
		low_pdpt[0] = 0 | PAGE_FLAGS | PAGE_LARGE;
	low_pdpt[1] = (uintptr_t)low_directory | PAGE_FLAGS;
	low_directory[0] = PHYS_LARGE | PAGE_FLAGS | PAGE_LARGE;
	low_directory[1] = (uintptr_t)low_table | PAGE_FLAGS;
	low_table[3] = PHYS_SMALL | PAGE_FLAGS;
	pml4[1] = (uintptr_t)low_pdpt | PAGE_FLAGS;

	/* Slot 256: the start of the canonical upper half, onto guest-physical
	 * 0-16 MiB. */
	for (uint64_t i = 0; i < 8; i++)
		high_directory[i] = (i << 21) | PAGE_FLAGS | PAGE_LARGE;
	high_pdpt[0] = (uintptr_t)high_directory | PAGE_FLAGS;
	pml4[256] = (uintptr_t)high_pdpt | PAGE_FLAGS;
}

static void check_paging(void)
{
	bool gigabyte_pages = cpuid(0x80000001, 0).edx & CPUID_PDPE1GB;
	*quad_at(PHYS_MARK_1G) = MARK_1G;
	*quad_at(PHYS_LARGE + 0x10) = MARK_LARGE;
	*quad_at(PHYS_SMALL + 0x20) = MARK_SMALL;
	build_page_tables(gigabyte_pages);
	uintptr_t runtime_cr3 = read_cr3();
	write_cr3((uintptr_t)pml4);

	if (gigabyte_pages) {
		CHECK_EQ(*quad_at(LOW_ALIAS + PHYS_MARK_1G), MARK_1G, "read through a 1 GiB page");
		CHECK(low_pdpt[0] & PAGE_ACCESSED, "1 GiB PDPT entry not accessed");
	} else {
		guest_printf("long64: the CPU offers no 1 GiB pages (CPUID 0x80000001 EDX.26): not checked\n");
	}
	uint64_t large = LOW_ALIAS + (1ull << 30), small = LOW_ALIAS + (1ull << 30) + (1ull << 21) + 3 * 4096;
	CHECK_EQ(*quad_at(large + 0x10), MARK_LARGE, "read through a 2 MiB page in PML4 slot 1");
	CHECK_EQ(*quad_at(small + 0x20), MARK_SMALL, "read through a 4 KiB page in PML4 slot 1");
	CHECK((pml4[1] & PAGE_ACCESSED) && (low_pdpt[1] & PAGE_ACCESSED) && (low_directory[1] & PAGE_ACCESSED) &&
		      (low_table[3] & PAGE_ACCESSED),
	      "accessed bits along the 4 KiB walk: PML4E %d PDPTE %d PDE %d PTE %d", !!(pml4[1] & PAGE_ACCESSED),
	      !!(low_pdpt[1] & PAGE_ACCESSED), !!(low_directory[1] & PAGE_ACCESSED), !!(low_table[3] & PAGE_ACCESSED));
	*quad_at(small + 0x28) = ~MARK_SMALL;
	CHECK_EQ(*quad_at(PHYS_SMALL + 0x28), ~MARK_SMALL, "write through the 4 KiB alias, read through the identity map");

	CHECK_EQ(*quad_at(HIGH_ALIAS + PHYS_LARGE + 0x10), MARK_LARGE, "read through the higher-half alias");

	/* Bits 63:47 not all equal: #GP(0), not #PF. */
	uintptr_t at;
	guest_catch(VECTOR_GP, 2);
	__asm__ volatile("lea 1f(%%rip), %0\n1: movl (%1), %%ecx" /* 8b 08 */
			 : "=&d"(at) : "a"(0x0000800000000000ull) : "rcx", "memory");
	CHECK(guest_caught.count == 1 && guest_caught.vector == VECTOR_GP && guest_caught.error_code == 0 &&
		      guest_caught.ip == at,
	      "non-canonical read: %u faults, vector %u error 0x%lx", guest_caught.count, guest_caught.vector,
	      (unsigned long)guest_caught.error_code);
	guest_uncatch(VECTOR_GP);

	write_cr3(runtime_cr3);
	guest_printf("long64: 4-level paging with %s2 MiB and 4 KiB pages, higher half, canonical check ok\n",
		     gigabyte_pages ? "1 GiB, " : "");
}

void long64_syscall_entry(void);
extern uint64_t long64_syscall_rcx, long64_syscall_r11, long64_syscall_rflags;
extern uint16_t long64_syscall_cs, long64_syscall_ss;
static volatile uint64_t user_expected_rcx, user_rflags_after;
static volatile uint16_t user_cs, user_ss;

/* Ring 3: SYSCALL with DF set, which SFMASK clears in ring 0 and SYSRET
 * restores from R11. */
static void user_syscalls(uint64_t argument)
{
	uint64_t result, return_address, flags;
	__asm__ volatile("lea 1f(%%rip), %1; std; syscall\n1: pushfq; popq %2; cld"
			 : "=a"(result), "=&d"(return_address), "=r"(flags)
			 : "a"(argument) : "rcx", "r11", "memory");
	user_expected_rcx = return_address;
	user_rflags_after = flags;
	__asm__ volatile("movw %%cs, %0; movw %%ss, %1" : "=r"(user_cs), "=r"(user_ss));
	guest_user_return(result);
}

static void check_syscall(void)
{
	uint64_t efer = rdmsr(MSR_EFER);
	wrmsr(MSR_EFER, efer | EFER_SCE);
	/* STAR[47:32]: SYSCALL CS (SS = +8); STAR[63:48]: SYSRET base (CS = +16, SS = +8). */
	wrmsr(MSR_STAR, ((uint64_t)SELECTOR_USER_CODE32 << 48) | ((uint64_t)SELECTOR_KERNEL_CODE << 32));
	wrmsr(MSR_LSTAR, (uintptr_t)long64_syscall_entry);
	wrmsr(MSR_SFMASK, SFMASK_VALUE);

	uint64_t result = guest_call_user(user_syscalls, 41);
	wrmsr(MSR_EFER, efer);
	CHECK_EQ(result, 42, "SYSCALL result through SYSRET");
	CHECK_EQ(long64_syscall_cs, SELECTOR_KERNEL_CODE, "CS in the SYSCALL handler");
	CHECK_EQ(long64_syscall_ss, SELECTOR_KERNEL_DATA, "SS in the SYSCALL handler");
	CHECK_EQ(long64_syscall_rcx, user_expected_rcx, "RCX (return address) in the SYSCALL handler");
	CHECK(long64_syscall_r11 & EFLAGS_DF, "R11 (user RFLAGS 0x%llx) lacks the DF the user set",
	      (unsigned long long)long64_syscall_r11);
	CHECK(!(long64_syscall_rflags & SFMASK_VALUE), "RFLAGS 0x%llx in the handler: SFMASK bits not cleared",
	      (unsigned long long)long64_syscall_rflags);
	CHECK(user_rflags_after & EFLAGS_DF, "RFLAGS after SYSRET 0x%llx: DF not restored from R11",
	      (unsigned long long)user_rflags_after);
	CHECK_EQ(user_cs, SELECTOR_USER_CODE | 3, "CS in ring 3 after SYSRET");
	CHECK_EQ(user_ss, SELECTOR_USER_DATA | 3, "SS in ring 3 after SYSRET");
	guest_printf("long64: SYSCALL/SYSRET ok\n");
}

void guest_main(uint32_t multiboot_info)
{
	uint64_t ram_end = multiboot_ram_end(multiboot_info);
	CHECK(ram_end >= 12u << 20, "needs 12 MiB of RAM, the memory map shows 0x%llx bytes",
	      (unsigned long long)ram_end);
	check_mode_state();
	check_paging();
	check_syscall();
}

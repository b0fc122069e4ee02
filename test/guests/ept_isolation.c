/*
 * ept_isolation: the guest reaches only its own memory. Guest-physical
 * addresses past the end of RAM (the multiboot memory map's top) read
 * all-ones at every width and drop writes, with no fault. Guest-physical
 * 0x200000, where the host vmkernel lives in host-physical memory, is
 * plain guest RAM: zeroed at start (no host data shows through) and it
 * keeps a pattern written over a whole MiB. The test harness checks the
 * host kept running. 32-bit protected mode, paging off.
 */
#include "guest.h"

const char guest_name[] = "ept_isolation";

#define HOST_KERNEL_ADDRESS 0x200000u
#define PATTERN_SIZE 0x100000u
#define MMIO_HOLE_START 0xc0000000ull /* Kapsel: RAM never reaches past 3 GiB below 4 GiB */

static volatile uint32_t *word_at(uint32_t address)
{
	return (volatile uint32_t *)(uintptr_t)address;
}

static void check_past_end(uint32_t address)
{
	volatile uint8_t *byte = (volatile uint8_t *)(uintptr_t)address;
	volatile uint16_t *half = (volatile uint16_t *)(uintptr_t)address;
	CHECK(*word_at(address) == 0xffffffff && *half == 0xffff && *byte == 0xff,
	      "past the end of RAM at 0x%x: read 0x%x / 0x%x / 0x%x, want all-ones", address, *word_at(address), *half,
	      *byte);
	*word_at(address) = 0x12345678;
	*byte = 0;
	CHECK_EQ(*word_at(address), 0xffffffff, "past the end of RAM after writes (must be dropped)");
}

static void check_past_end_of_ram(uint64_t ram_end)
{
	CHECK(ram_end + 0x200000 <= MMIO_HOLE_START, "RAM end 0x%llx leaves no room below the MMIO hole",
	      (unsigned long long)ram_end);
	uint32_t end = (uint32_t)ram_end;
	/* The last RAM page is RAM. */
	*word_at(end - 4) = 0xa5a5a5a5;
	CHECK_EQ(*word_at(end - 4), 0xa5a5a5a5, "the last word of RAM");

	static const uint32_t offsets[] = { 0, 0xffc, 0x1000, 0x12344, 0x100000, 0x1ffffc };
	for (unsigned i = 0; i < sizeof(offsets) / sizeof(offsets[0]); i++)
		check_past_end(end + offsets[i]);

	/* A copy out of unbacked memory (REP MOVS) brings all-ones into RAM. */
	static uint32_t copy[4];
	const void *source = (const void *)(uintptr_t)(end + 0x2000);
	void *destination = copy;
	uint32_t count = 4;
	__asm__ volatile("rep movsl" : "+S"(source), "+D"(destination), "+c"(count) : : "memory");
	CHECK(copy[0] == 0xffffffff && copy[3] == 0xffffffff, "rep movsl from past RAM copied 0x%x .. 0x%x", copy[0],
	      copy[3]);
	CHECK_EQ(*word_at(end - 4), 0xa5a5a5a5, "the last word of RAM after writes past the end");
	guest_printf("ept_isolation: past RAM end 0x%x reads all-ones, writes dropped\n", end);
}

static void check_host_kernel_address(uint32_t multiboot_info)
{
	CHECK((uintptr_t)guest_image_end <= HOST_KERNEL_ADDRESS, "guest image reaches 0x%lx",
	      (unsigned long)(uintptr_t)guest_image_end);
	CHECK(multiboot_info < HOST_KERNEL_ADDRESS || multiboot_info >= HOST_KERNEL_ADDRESS + PATTERN_SIZE,
	      "the multiboot info at 0x%x is inside the range checked", multiboot_info);
	for (uint32_t address = HOST_KERNEL_ADDRESS; address < HOST_KERNEL_ADDRESS + PATTERN_SIZE; address += 4)
		CHECK(*word_at(address) == 0, "guest RAM at 0x%x holds 0x%x at start: not zeroed (host data?)", address,
		      *word_at(address));
	for (uint32_t address = HOST_KERNEL_ADDRESS; address < HOST_KERNEL_ADDRESS + PATTERN_SIZE; address += 4)
		*word_at(address) = address ^ 0x5a5aa5a5;
	for (uint32_t address = HOST_KERNEL_ADDRESS; address < HOST_KERNEL_ADDRESS + PATTERN_SIZE; address += 4)
		CHECK(*word_at(address) == (address ^ 0x5a5aa5a5), "pattern at 0x%x reads back 0x%x", address,
		      *word_at(address));
	guest_printf("ept_isolation: 0x%x-0x%x is the guest's own zeroed RAM and keeps a pattern\n",
		     HOST_KERNEL_ADDRESS, HOST_KERNEL_ADDRESS + PATTERN_SIZE);
}

void guest_main(uint32_t multiboot_info)
{
	uint64_t ram_end = multiboot_ram_end(multiboot_info);
	CHECK(ram_end >= HOST_KERNEL_ADDRESS + PATTERN_SIZE, "RAM end 0x%llx: needs more than 3 MiB",
	      (unsigned long long)ram_end);
	check_host_kernel_address(multiboot_info);
	/* Bare QEMU puts ACPI tables right after RAM and reads zeros past them. */
	if (!skip_unless_kapsel("past the end of RAM: bare QEMU has firmware tables there"))
		check_past_end_of_ram(ram_end);
}

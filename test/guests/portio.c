/*
 * portio: port I/O emulation. The UART's scratch, line-control and divisor
 * registers keep what is written; an unassigned port reads all-ones at
 * every width and drops writes, with no fault; IN through DX and through an
 * immediate port; only AL/AX is written by narrow INs; string I/O (REP
 * INS/OUTS, both directions) moves the right bytes and leaves ECX/ESI/EDI
 * where the CPU would. 32-bit protected mode.
 */
#include "guest.h"

const char guest_name[] = "portio";

#define UART_LINE_CONTROL 3u
#define UART_LINE_CONTROL_DLAB 0x80u
#define UART_LINE_STATUS_TRANSMITTER_EMPTY 0x40u
/* Unassigned on a PC, on QEMU's pc machine and on a Kapsel VM. */
#define UNASSIGNED_PORT 0x120u
#define UNASSIGNED_PORT_IMMEDIATE 0xe0 /* reachable by IN/OUT imm8 */
#define SCRATCH_PORT (GUEST_UART_BASE + UART_SCRATCH)

static void check_uart_registers(void)
{
	static const uint8_t patterns[] = { 0x00, 0x5a, 0xa5, 0xff, 0x01 };
	for (unsigned i = 0; i < sizeof(patterns); i++) {
		outb(SCRATCH_PORT, patterns[i]);
		CHECK_EQ(inb(SCRATCH_PORT), patterns[i], "UART scratch register round trip");
	}
	uint8_t status = inb(GUEST_UART_BASE + UART_LINE_STATUS);
	CHECK(status & UART_LINE_STATUS_THR_EMPTY, "UART line status 0x%x: transmitter holding register not empty",
	      status);

	/* Divisor latch behind DLAB, then back to 115200 8N1. */
	outb(GUEST_UART_BASE + UART_LINE_CONTROL, UART_LINE_CONTROL_DLAB | 0x03);
	CHECK_EQ(inb(GUEST_UART_BASE + UART_LINE_CONTROL), UART_LINE_CONTROL_DLAB | 0x03, "UART LCR with DLAB");
	outb(GUEST_UART_BASE + 0, 0x0c);
	outb(GUEST_UART_BASE + 1, 0x00);
	CHECK_EQ(inb(GUEST_UART_BASE + 0), 0x0c, "UART divisor latch low");
	CHECK_EQ(inb(GUEST_UART_BASE + 1), 0x00, "UART divisor latch high");
	outb(GUEST_UART_BASE + 0, 0x01);
	outb(GUEST_UART_BASE + UART_LINE_CONTROL, 0x03);
	CHECK_EQ(inb(GUEST_UART_BASE + UART_LINE_CONTROL), 0x03, "UART LCR");
	guest_printf("portio: UART scratch, LCR, divisor latch ok (LSR 0x%x)\n", status);
}

static void check_unassigned_port(void)
{
	CHECK_EQ(inb(UNASSIGNED_PORT), 0xff, "inb (dx) from unassigned port 0x120");
	CHECK_EQ(inw(UNASSIGNED_PORT), 0xffff, "inw (dx) from unassigned port 0x120");
	CHECK_EQ(inl(UNASSIGNED_PORT), 0xffffffff, "inl (dx) from unassigned port 0x120");

	uint32_t value;
	__asm__ volatile("xorl %0, %0; inb $0xe0, %%al" : "=a"(value));
	CHECK_EQ(value, 0xff, "inb $0xe0 (imm8) from an unassigned port");
	__asm__ volatile("xorl %0, %0; inw $0xe0, %%ax" : "=a"(value));
	CHECK_EQ(value, 0xffff, "inw $0xe0 (imm8) from an unassigned port");
	__asm__ volatile("xorl %0, %0; inl $0xe0, %%eax" : "=a"(value));
	CHECK_EQ(value, 0xffffffff, "inl $0xe0 (imm8) from an unassigned port");

	/* Writes are dropped: no fault (any exception FAILs), nothing stored. */
	outb(UNASSIGNED_PORT, 0x12);
	outw(UNASSIGNED_PORT, 0x1234);
	outl(UNASSIGNED_PORT, 0x12345678);
	__asm__ volatile("outb %%al, $0xe0; outw %%ax, $0xe0; outl %%eax, $0xe0" : : "a"(0x5a5a5a5au));
	CHECK_EQ(inl(UNASSIGNED_PORT), 0xffffffff, "unassigned port 0x120 after writes");
	CHECK_EQ(inb(UNASSIGNED_PORT_IMMEDIATE), 0xff, "unassigned port 0xe0 after writes");
	guest_printf("portio: unassigned ports read all-ones, writes dropped\n");
}

/* A narrow IN writes only AL or AX: the rest of EAX is the CPU's to keep. */
static void check_partial_register_writes(void)
{
	uint32_t value = 0x12345600;
	outb(SCRATCH_PORT, 0x9c);
	__asm__ volatile("inb %w1, %%al" : "+a"(value) : "d"(SCRATCH_PORT));
	CHECK_EQ(value, 0x1234569c, "EAX after inb: upper 24 bits must survive");
	value = 0x87654321;
	__asm__ volatile("inw %w1, %%ax" : "+a"(value) : "d"(UNASSIGNED_PORT));
	CHECK_EQ(value, 0x8765ffff, "EAX after inw: upper 16 bits must survive");
}

static void check_string_io(void)
{
	static uint8_t source[5] = { 0x11, 0x22, 0x33, 0x44, 0x55 };
	static uint8_t bytes[8];
	static uint16_t words[4];
	static uint32_t dwords[4];
	const void *si;
	void *di;
	uint32_t count;

	/* REP OUTSB: every byte goes out in order; the last one stays. */
	si = source;
	count = sizeof(source);
	__asm__ volatile("rep outsb" : "+S"(si), "+c"(count) : "d"(SCRATCH_PORT) : "memory");
	CHECK_EQ(inb(SCRATCH_PORT), 0x55, "scratch after rep outsb (last byte)");
	CHECK(count == 0 && si == source + sizeof(source), "rep outsb left ECX=%u ESI=%p (want 0, %p)", count,
	      si, (const void *)(source + sizeof(source)));

	/* REP INSB forwards, then backwards (DF=1): EDI moves, bytes fill. */
	memset(bytes, 0, sizeof(bytes));
	di = bytes;
	count = 4;
	__asm__ volatile("rep insb" : "+D"(di), "+c"(count) : "d"(SCRATCH_PORT) : "memory");
	CHECK(count == 0 && di == bytes + 4, "rep insb left ECX=%u EDI=%p", count, di);
	CHECK(bytes[0] == 0x55 && bytes[3] == 0x55 && bytes[4] == 0, "rep insb stored %x %x %x %x %x", bytes[0],
	      bytes[1], bytes[2], bytes[3], bytes[4]);

	outb(SCRATCH_PORT, 0x66);
	di = bytes + 7;
	count = 3;
	__asm__ volatile("std; rep insb; cld" : "+D"(di), "+c"(count) : "d"(SCRATCH_PORT) : "memory");
	CHECK(count == 0 && di == bytes + 4, "std; rep insb left ECX=%u EDI=%p (want 0, %p)", count, di,
	      (void *)(bytes + 4));
	CHECK(bytes[4] == 0 && bytes[5] == 0x66 && bytes[7] == 0x66 && bytes[3] == 0x55,
	      "std; rep insb stored %x %x %x %x", bytes[4], bytes[5], bytes[6], bytes[7]);

	/* Wider string INs from an unassigned port fill with all-ones. */
	di = words;
	count = 4;
	__asm__ volatile("rep insw" : "+D"(di), "+c"(count) : "d"(UNASSIGNED_PORT) : "memory");
	CHECK(words[0] == 0xffff && words[3] == 0xffff && di == words + 4, "rep insw from 0x120: %x .. %x",
	      words[0], words[3]);
	di = dwords;
	count = 4;
	__asm__ volatile("rep insl" : "+D"(di), "+c"(count) : "d"(UNASSIGNED_PORT) : "memory");
	CHECK(dwords[0] == 0xffffffff && dwords[3] == 0xffffffff && di == dwords + 4,
	      "rep insl from 0x120: %x .. %x", dwords[0], dwords[3]);

	/* REP OUTSL to an unassigned port: dropped, registers still advance. */
	si = dwords;
	count = 4;
	__asm__ volatile("rep outsl" : "+S"(si), "+c"(count) : "d"(UNASSIGNED_PORT) : "memory");
	CHECK(count == 0 && si == dwords + 4, "rep outsl left ECX=%u ESI=%p", count, si);
	guest_printf("portio: string I/O ok\n");
}

void guest_main(uint32_t multiboot_info)
{
	(void)multiboot_info;
	check_uart_registers();
	check_unassigned_port();
	check_partial_register_writes();
	check_string_io();
}

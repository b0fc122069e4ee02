/*
 * mmio32: the hypervisor's instruction emulator on the test device (4 KiB
 * of emulated memory at 0xfeb00000, reads return what was written), in
 * 32-bit protected mode with paging on. Every access below is one chosen
 * encoding (written as inline asm, with the bytes in the comments): MOV of
 * 8/16/32 bits both ways, immediates, moffs, every ModRM/SIB addressing
 * shape, segment and address-size overrides, MOVZX/MOVSX, high-byte
 * registers, STOS/MOVS/LODS with REP in both directions. Loads must write
 * only the destination's width. Read-modify-write forms: mmio_rmw.
 */
#include "guest.h"

const char guest_name[] = "mmio32";

#define DEVICE KAPSEL_TESTDEV_MMIO_BASE
/* A data segment whose base sits one page below the device: offset
 * 0x1000 + x reaches device byte x only if the base is added. */
#define SELECTOR_DEVICE_SEGMENT SELECTOR_SPARE_FIRST
#define DEVICE_SEGMENT_BASE (DEVICE - 0x1000)

/* Reference accesses (plain MOV through a register), against which the
 * other forms are checked. */
static void poke8(uint32_t offset, uint8_t value)
{
	__asm__ volatile("movb %1, (%0)" : : "r"(DEVICE + offset), "q"(value) : "memory");
}

static void poke32(uint32_t offset, uint32_t value)
{
	__asm__ volatile("movl %1, (%0)" : : "r"(DEVICE + offset), "r"(value) : "memory");
}

static uint8_t peek8(uint32_t offset)
{
	uint8_t value;
	__asm__ volatile("movb (%1), %0" : "=q"(value) : "r"(DEVICE + offset) : "memory");
	return value;
}

static uint16_t peek16(uint32_t offset)
{
	uint16_t value;
	__asm__ volatile("movw (%1), %0" : "=r"(value) : "r"(DEVICE + offset) : "memory");
	return value;
}

static uint32_t peek32(uint32_t offset)
{
	uint32_t value;
	__asm__ volatile("movl (%1), %0" : "=r"(value) : "r"(DEVICE + offset) : "memory");
	return value;
}

static void check_widths_and_byte_order(void)
{
	poke8(0x10, 0xa5);
	CHECK_EQ(peek8(0x10), 0xa5, "mov r8 -> m8 -> r8 (88 /r, 8a /r)");
	__asm__ volatile("movw %1, (%0)" : : "r"(DEVICE + 0x12), "r"((uint16_t)0xbeef) : "memory"); /* 66 89 */
	CHECK_EQ(peek16(0x12), 0xbeef, "mov r16 -> m16 -> r16 (66 89, 66 8b)");
	poke32(0x14, 0xcafef00d);
	CHECK_EQ(peek32(0x14), 0xcafef00d, "mov r32 -> m32 -> r32 (89, 8b)");

	poke32(0x20, 0x11223344);
	CHECK(peek8(0x20) == 0x44 && peek8(0x21) == 0x33 && peek8(0x22) == 0x22 && peek8(0x23) == 0x11,
	      "32-bit write read as bytes: %x %x %x %x, want little-endian 44 33 22 11", peek8(0x20), peek8(0x21),
	      peek8(0x22), peek8(0x23));
	CHECK_EQ(peek16(0x21), 0x2233, "unaligned 16-bit read inside a 32-bit word");
	poke32(0x31, 0xa1b2c3d4); /* unaligned */
	poke32(0x36, 0x01020304); /* crosses the 8-byte boundary at 0x38 */
	CHECK_EQ(peek32(0x31), 0xa1b2c3d4, "unaligned 32-bit round trip at +0x31");
	CHECK_EQ(peek32(0x36), 0x01020304, "32-bit round trip across an 8-byte boundary");
	CHECK_EQ(peek8(0x38), 0x02, "byte 0x38 of that write");
	CHECK_EQ(peek32(0xffc), 0, "last dword of the device (never written: zero)");
	poke32(0xffc, 0x5555aaaa);
	CHECK_EQ(peek32(0xffc), 0x5555aaaa, "last dword of the device");
}

static void check_immediates(void)
{
	uint32_t base = DEVICE + 0x40;
	__asm__ volatile("movb $0x5a, (%0)" : : "r"(base) : "memory");            /* c6 /0 ib */
	__asm__ volatile("movw $0x1234, 2(%0)" : : "r"(base) : "memory");         /* 66 c7 /0 disp8 iw */
	__asm__ volatile("movl $0xdeadbeef, 4(%0)" : : "r"(base) : "memory");     /* c7 /0 disp8 id */
	__asm__ volatile("movl $0x0badf00d, 0x100(%0)" : : "r"(base) : "memory"); /* c7 /0 disp32 id */
	CHECK_EQ(peek8(0x40), 0x5a, "movb $imm8, (reg)");
	CHECK_EQ(peek16(0x42), 0x1234, "movw $imm16, disp8(reg)");
	CHECK_EQ(peek32(0x44), 0xdeadbeef, "movl $imm32, disp8(reg)");
	CHECK_EQ(peek32(0x140), 0x0badf00d, "movl $imm32, disp32(reg)");
	/* Absolute address and immediate: c7 05 disp32 imm32. */
	__asm__ volatile("movl $0x600df00d, %c0" : : "i"(DEVICE + 0x48) : "memory");
	CHECK_EQ(peek32(0x48), 0x600df00d, "movl $imm32, disp32 (no base)");
}

static void check_moffs(void)
{
	uint32_t value = 0x89abcdef;
	__asm__ volatile("movl %%eax, %c1" : : "a"(value), "i"(DEVICE + 0x50) : "memory"); /* a3 */
	CHECK_EQ(peek32(0x50), 0x89abcdef, "mov eax -> moffs32 (a3)");
	value = 0;
	__asm__ volatile("movl %c1, %%eax" : "=a"(value) : "i"(DEVICE + 0x50) : "memory"); /* a1 */
	CHECK_EQ(value, 0x89abcdef, "mov moffs32 -> eax (a1)");
	value = 0x77;
	__asm__ volatile("movb %%al, %c1" : : "a"(value), "i"(DEVICE + 0x54) : "memory"); /* a2 */
	value = 0xffffff00;
	__asm__ volatile("movb %c1, %%al" : "+a"(value) : "i"(DEVICE + 0x54) : "memory"); /* a0 */
	CHECK_EQ(value, 0xffffff77, "mov moffs8 -> al (a0): only AL changes");
	value = 0x4321;
	__asm__ volatile("movw %%ax, %c1" : : "a"(value), "i"(DEVICE + 0x56) : "memory"); /* 66 a3 */
	value = 0xffff0000;
	__asm__ volatile("movw %c1, %%ax" : "+a"(value) : "i"(DEVICE + 0x56) : "memory"); /* 66 a1 */
	CHECK_EQ(value, 0xffff4321, "mov moffs16 -> ax (66 a1): only AX changes");
}

static void check_addressing_forms(void)
{
	uint32_t value, index = 3;
	__asm__ volatile("movl %1, 0x7c(%0)" : : "b"(DEVICE), "c"(0x10000001u) : "memory"); /* 89 4b 7c */
	CHECK_EQ(peek32(0x7c), 0x10000001, "[ebx + disp8]");
	__asm__ volatile("movl %1, 0x400(%0)" : : "b"(DEVICE), "c"(0x10000002u) : "memory"); /* 89 8b disp32 */
	CHECK_EQ(peek32(0x400), 0x10000002, "[ebx + disp32]");
	__asm__ volatile("movl %0, %c1" : : "c"(0x10000003u), "i"(DEVICE + 0x60) : "memory"); /* 89 0d disp32 */
	CHECK_EQ(peek32(0x60), 0x10000003, "[disp32] with ECX (ModRM mod 00 r/m 101)");
	__asm__ volatile("movl %2, 0x8(%0,%1,4)" : : "b"(DEVICE), "S"(index), "c"(0x10000004u) : "memory");
	CHECK_EQ(peek32(0x8 + 3 * 4), 0x10000004, "[ebx + esi*4 + disp8] (SIB)");
	__asm__ volatile("movl %1, %c2(,%0,8)" : : "S"(index), "c"(0x10000005u), "i"(DEVICE + 0x80) : "memory");
	CHECK_EQ(peek32(0x80 + 3 * 8), 0x10000005, "[esi*8 + disp32] (SIB, no base)");
	__asm__ volatile("movl %2, 0x100(%0,%1,2)" : : "D"(DEVICE), "S"(index), "c"(0x10000006u) : "memory");
	CHECK_EQ(peek32(0x106), 0x10000006, "[edi + esi*2 + disp32] (SIB)");
	/* [ebp] must be encoded with a zero disp8 (mod 00 r/m 101 means disp32). */
	__asm__ volatile("pushl %%ebp; movl %1, %%ebp; movl %0, (%%ebp); popl %%ebp"
			 : : "c"(0x10000007u), "r"(DEVICE + 0x90) : "memory"); /* 89 4d 00 */
	CHECK_EQ(peek32(0x90), 0x10000007, "[ebp] (mod 01, disp8 0)");
	/* [esp + disp8] needs a SIB byte. Interrupts are off and no fault is
	 * expected, so the stack can point at the device for one instruction. */
	__asm__ volatile("movl %%esp, %%edi; movl %1, %%esp; movl %0, 0x10(%%esp); movl %%edi, %%esp"
			 : : "c"(0x10000008u), "r"(DEVICE + 0x90) : "edi", "memory"); /* 89 4c 24 10 */
	CHECK_EQ(peek32(0xa0), 0x10000008, "[esp + disp8] (SIB with ESP base)");
	__asm__ volatile("movl 0x8(%1,%2,4), %0" : "=d"(value) : "b"(DEVICE), "S"(index) : "memory"); /* 8b 54 b3 08 */
	CHECK_EQ(value, 0x10000004, "load from [ebx + esi*4 + disp8]");
}

static void load_device_segment(void)
{
	guest_gdt[SELECTOR_DEVICE_SEGMENT / 8] = gdt_data_descriptor(DEVICE_SEGMENT_BASE, 0x1fff);
	__asm__ volatile("movw %w0, %%fs; movw %w0, %%gs" : : "r"(SELECTOR_DEVICE_SEGMENT) : "memory");
}

static void unload_device_segment(void)
{
	__asm__ volatile("movw %w0, %%fs; movw %w0, %%gs" : : "r"(SELECTOR_KERNEL_DATA) : "memory");
}

static void check_segment_overrides(void)
{
	uint32_t value;
	load_device_segment();
	__asm__ volatile("movl %0, %%fs:0x10b0" : : "c"(0x20000001u) : "memory"); /* 64 89 0d disp32 */
	CHECK_EQ(peek32(0xb0), 0x20000001, "FS override: fs.base + disp32");
	__asm__ volatile("movl %%fs:(%1), %0" : "=d"(value) : "b"(0x10b0) : "memory"); /* 64 8b 13 */
	CHECK_EQ(value, 0x20000001, "FS override load through [ebx]");
	__asm__ volatile("movl %%eax, %%gs:0x10b4" : : "a"(0x20000002u) : "memory"); /* 65 a3 (moffs) */
	CHECK_EQ(peek32(0xb4), 0x20000002, "GS override on moffs (65 a3)");
	/* 16-bit addressing in 32-bit code: FS base + BX. */
	__asm__ volatile("addr16 movl %0, %%fs:(%%bx)" : : "c"(0x20000003u), "b"(0x10b8) : "memory"); /* 64 67 89 0f */
	CHECK_EQ(peek32(0xb8), 0x20000003, "address-size override: [bx] with FS base (64 67 89 0f)");
	unload_device_segment();
}

static void check_extensions(void)
{
	uint32_t value;
	poke32(0xc0, 0x80018081); /* bytes 81 80 01 80 */
	__asm__ volatile("movzbl (%1), %0" : "=r"(value) : "r"(DEVICE + 0xc0) : "memory"); /* 0f b6 */
	CHECK_EQ(value, 0x81, "movzx r32, m8");
	__asm__ volatile("movzwl (%1), %0" : "=r"(value) : "r"(DEVICE + 0xc0) : "memory"); /* 0f b7 */
	CHECK_EQ(value, 0x8081, "movzx r32, m16");
	__asm__ volatile("movsbl (%1), %0" : "=r"(value) : "r"(DEVICE + 0xc0) : "memory"); /* 0f be */
	CHECK_EQ(value, 0xffffff81, "movsx r32, m8");
	__asm__ volatile("movswl 2(%1), %0" : "=r"(value) : "r"(DEVICE + 0xc0) : "memory"); /* 0f bf */
	CHECK_EQ(value, 0xffff8001, "movsx r32, m16");
	__asm__ volatile("movsbl 2(%1), %0" : "=r"(value) : "r"(DEVICE + 0xc0) : "memory");
	CHECK_EQ(value, 0x00000001, "movsx r32, m8 (positive)");
	value = 0xaaaaaaaa;
	__asm__ volatile("movsbw 1(%1), %w0" : "+r"(value) : "r"(DEVICE + 0xc0) : "memory"); /* 66 0f be */
	CHECK_EQ(value, 0xaaaaff80, "movsx r16, m8: upper 16 bits of the register kept");
}

static void check_partial_loads(void)
{
	uint32_t value = 0xaaaaaaaa;
	poke32(0xd0, 0x12345678);
	__asm__ volatile("movb (%1), %b0" : "+q"(value) : "r"(DEVICE + 0xd0) : "memory");
	CHECK_EQ(value, 0xaaaaaa78, "mov m8 -> r8: the other 24 bits kept");
	value = 0xaaaaaaaa;
	__asm__ volatile("movw (%1), %w0" : "+r"(value) : "r"(DEVICE + 0xd0) : "memory");
	CHECK_EQ(value, 0xaaaa5678, "mov m16 -> r16: the upper 16 bits kept");
}

/* AH/CH/DH/BH are ModRM register numbers 4-7 without REX. */
static void check_high_byte_registers(void)
{
	uint32_t a = 0x0000ab00, b = 0x11223344;
	__asm__ volatile("movb %%ah, (%0)" : : "S"(DEVICE + 0xe0), "a"(a) : "memory"); /* 88 26 */
	CHECK_EQ(peek8(0xe0), 0xab, "mov ah -> m8 (88 26)");
	poke8(0xe1, 0xcd);
	__asm__ volatile("movb 1(%1), %%bh" : "+b"(b) : "S"(DEVICE + 0xe0) : "memory"); /* 8a 7e 01 */
	CHECK_EQ(b, 0x1122cd44, "mov m8 -> bh (8a 7e 01): only BH changes");
	uint32_t c = 0x00ef0000;
	__asm__ volatile("shrl $8, %%ecx; movb %%ch, 2(%1)" : "+c"(c) : "S"(DEVICE + 0xe0) : "memory"); /* 88 6e 02 */
	CHECK_EQ(peek8(0xe2), 0xef, "mov ch -> m8");
}

static void check_string_stores(void)
{
	uint32_t di = DEVICE + 0x200, count = 8;
	__asm__ volatile("rep stosl" : "+D"(di), "+c"(count) : "a"(0x01020304u) : "memory");
	CHECK(di == DEVICE + 0x220 && count == 0, "rep stosl left EDI=0x%x ECX=%u", di, count);
	for (uint32_t offset = 0x200; offset < 0x220; offset += 4)
		CHECK_EQ(peek32(offset), 0x01020304, "rep stosl into the device");
	CHECK_EQ(peek32(0x220), 0, "rep stosl wrote past its count");

	/* Backwards: DF=1, EDI from the top down. */
	di = DEVICE + 0x23f;
	count = 16;
	__asm__ volatile("std; rep stosb; cld" : "+D"(di), "+c"(count) : "a"(0xcc) : "memory");
	CHECK(di == DEVICE + 0x22f && count == 0, "std; rep stosb left EDI=0x%x ECX=%u", di, count);
	CHECK(peek32(0x230) == 0xcccccccc && peek32(0x23c) == 0xcccccccc && peek32(0x22c) == 0,
	      "std; rep stosb filled %x .. %x, below %x", peek32(0x230), peek32(0x23c), peek32(0x22c));

	di = DEVICE + 0x240;
	__asm__ volatile("stosw" : "+D"(di) : "a"(0x9988) : "memory"); /* 66 ab, no REP */
	CHECK(di == DEVICE + 0x242 && peek16(0x240) == 0x9988, "stosw: EDI=0x%x value 0x%x", di, peek16(0x240));
}

static void check_string_moves(void)
{
	static uint32_t ram[8] = { 0xa0a0a0a0, 0xa1a1a1a1, 0xa2a2a2a2, 0xa3a3a3a3 };
	static uint8_t ram_bytes[16];
	uint32_t si, di, count;

	/* RAM -> device. */
	si = (uintptr_t)ram, di = DEVICE + 0x300, count = 4;
	__asm__ volatile("rep movsl" : "+S"(si), "+D"(di), "+c"(count) : : "memory");
	CHECK(count == 0 && si == (uintptr_t)(ram + 4) && di == DEVICE + 0x310, "rep movsl RAM->device registers");
	CHECK(peek32(0x300) == 0xa0a0a0a0 && peek32(0x30c) == 0xa3a3a3a3, "rep movsl RAM->device: %x .. %x",
	      peek32(0x300), peek32(0x30c));

	/* Device -> RAM. */
	si = DEVICE + 0x300, di = (uintptr_t)ram_bytes, count = 6;
	__asm__ volatile("rep movsb" : "+S"(si), "+D"(di), "+c"(count) : : "memory");
	CHECK(count == 0 && si == DEVICE + 0x306 && di == (uintptr_t)(ram_bytes + 6), "rep movsb device->RAM registers");
	CHECK(ram_bytes[0] == 0xa0 && ram_bytes[5] == 0xa1 && ram_bytes[6] == 0, "rep movsb device->RAM: %x %x %x",
	      ram_bytes[0], ram_bytes[5], ram_bytes[6]);

	/* Device -> device, both operands emulated. */
	si = DEVICE + 0x300, di = DEVICE + 0x340, count = 8;
	__asm__ volatile("rep movsw" : "+S"(si), "+D"(di), "+c"(count) : : "memory");
	CHECK(count == 0 && si == DEVICE + 0x310 && di == DEVICE + 0x350, "rep movsw device->device registers");
	CHECK(peek32(0x340) == 0xa0a0a0a0 && peek32(0x34c) == 0xa3a3a3a3, "rep movsw device->device: %x .. %x",
	      peek32(0x340), peek32(0x34c));

	/* Backwards, device -> device: last dword first. */
	si = DEVICE + 0x30c, di = DEVICE + 0x38c, count = 4;
	__asm__ volatile("std; rep movsl; cld" : "+S"(si), "+D"(di), "+c"(count) : : "memory");
	CHECK(count == 0 && si == DEVICE + 0x2fc && di == DEVICE + 0x37c, "std; rep movsl left ESI=0x%x EDI=0x%x",
	      si, di);
	CHECK(peek32(0x380) == 0xa0a0a0a0 && peek32(0x38c) == 0xa3a3a3a3, "std; rep movsl: %x .. %x",
	      peek32(0x380), peek32(0x38c));

	/* Segment override on the source (FS base one page below). */
	load_device_segment();
	si = 0x1300, di = DEVICE + 0x3c0, count = 4;
	__asm__ volatile("rep movsb %%fs:(%%esi), %%es:(%%edi)" : "+S"(si), "+D"(di), "+c"(count) : : "memory");
	unload_device_segment();
	CHECK_EQ(peek32(0x3c0), 0xa0a0a0a0, "rep movsb with FS-overridden source (64 f3 a4)");

	/* LODS from the device. */
	uint32_t value;
	si = DEVICE + 0x304;
	__asm__ volatile("lodsl" : "=a"(value), "+S"(si) : : "memory");
	CHECK(value == 0xa1a1a1a1 && si == DEVICE + 0x308, "lodsl: EAX=0x%x ESI=0x%x", value, si);
	value = 0xffffff00;
	__asm__ volatile("lodsb" : "+a"(value), "+S"(si) : : "memory");
	CHECK(value == 0xffffffa2 && si == DEVICE + 0x309, "lodsb: EAX=0x%x ESI=0x%x", value, si);
}

void guest_main(uint32_t multiboot_info)
{
	(void)multiboot_info;
	guest_testdev_map(DEVICE);
	CHECK_EQ(peek32(0x0), 0, "the device starts zeroed");
	check_widths_and_byte_order();
	check_immediates();
	check_moffs();
	check_addressing_forms();
	check_segment_overrides();
	check_extensions();
	check_partial_loads();
	check_high_byte_registers();
	check_string_stores();
	check_string_moves();
	guest_printf("mmio32: all forms ok\n");
}

/* The alias of the test device near the code, for RIP-relative operands.
 * Defined apart from mmio64.c so the assembler there cannot fold it into a
 * constant displacement: the linker must make it RIP-relative. */
	.globl testdev_alias
	.set testdev_alias, 0x40000000

	.section .note.GNU-stack, "", @progbits

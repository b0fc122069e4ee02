/*
 * hypercall: the Kapsel hypercall ABI (kapsel_guest.h). VERSION returns 1
 * through VMCALL and VMMCALL alike (the CPU vendor's own first); every
 * register but RAX survives a call; CONSOLE_WRITE prints a string and
 * refuses a length over 4096 (EINVAL) and a buffer outside RAM (EFAULT);
 * an unknown number returns ENOSYS; ring 3 gets EPERM; EXIT ends the VM
 * with the given status. Hypervisor-only: SKIP on bare QEMU. 64-bit.
 */
#include "guest.h"

const char guest_name[] = "hypercall";

#define CONSOLE_WRITE_LIMIT 4096u
#define UNKNOWN_HYPERCALL 0x7fffu

typedef long (*hypercall_instruction)(unsigned long, unsigned long, unsigned long, unsigned long);

struct instruction {
	const char *name;
	hypercall_instruction call;
};

/* A call that must not raise #UD (VMCALL and VMMCALL are 3 bytes). */
static long call_checked(const struct instruction *instruction, unsigned long number, unsigned long arg0,
			 unsigned long arg1, unsigned long arg2)
{
	guest_catch(VECTOR_UD, 3);
	long result = instruction->call(number, arg0, arg1, arg2);
	CHECK(guest_caught.count == 0, "%s raised #UD (call %lu)", instruction->name, number);
	guest_uncatch(VECTOR_UD);
	return result;
}

/* Fills every register but RAX with a known value around one VMCALL. */
static void check_registers_preserved(void)
{
	/* Before the register variables: a call in between could clobber them. */
	bool amd = cpu_is_amd();
	const char *instruction = amd ? "vmmcall" : "vmcall";
	register uint64_t r8 __asm__("r8") = 0x8888888888888888ull;
	register uint64_t r9 __asm__("r9") = 0x9999999999999999ull;
	register uint64_t r10 __asm__("r10") = 0xaaaaaaaaaaaaaaaaull;
	register uint64_t r11 __asm__("r11") = 0xbbbbbbbbbbbbbbbbull;
	register uint64_t r12 __asm__("r12") = 0xccccccccccccccccull;
	register uint64_t r13 __asm__("r13") = 0xddddddddddddddddull;
	register uint64_t r14 __asm__("r14") = 0xeeeeeeeeeeeeeeeeull;
	register uint64_t r15 __asm__("r15") = 0xf0f0f0f0f0f0f0f0ull;
	uint64_t rax = KAPSEL_HC_VERSION, rbx = 0xb0b0b0b0b0b0b0b0ull, rcx = 0xc0c0c0c0c0c0c0c0ull,
		 rdx = 0xd0d0d0d0d0d0d0d0ull, rsi = 0x5151515151515151ull, rdi = 0xd1d1d1d1d1d1d1d1ull;
	uint64_t rbp_before, rbp_after;
	if (amd)
		__asm__ volatile("movq %%rbp, %6; vmmcall; movq %%rbp, %7"
				 : "+a"(rax), "+b"(rbx), "+c"(rcx), "+d"(rdx), "+S"(rsi), "+D"(rdi), "=m"(rbp_before),
				   "=m"(rbp_after), "+r"(r8), "+r"(r9), "+r"(r10), "+r"(r11), "+r"(r12), "+r"(r13),
				   "+r"(r14), "+r"(r15)
				 : : "memory");
	else
		__asm__ volatile("movq %%rbp, %6; vmcall; movq %%rbp, %7"
				 : "+a"(rax), "+b"(rbx), "+c"(rcx), "+d"(rdx), "+S"(rsi), "+D"(rdi), "=m"(rbp_before),
				   "=m"(rbp_after), "+r"(r8), "+r"(r9), "+r"(r10), "+r"(r11), "+r"(r12), "+r"(r13),
				   "+r"(r14), "+r"(r15)
				 : : "memory");
	CHECK_EQ(rax, KAPSEL_HYPERCALL_ABI_VERSION, "VERSION with every register loaded");
	CHECK(rbx == 0xb0b0b0b0b0b0b0b0ull && rcx == 0xc0c0c0c0c0c0c0c0ull && rdx == 0xd0d0d0d0d0d0d0d0ull &&
		      rsi == 0x5151515151515151ull && rdi == 0xd1d1d1d1d1d1d1d1ull && rbp_before == rbp_after,
	      "%s changed RBX/RCX/RDX/RSI/RDI/RBP: %lx %lx %lx %lx %lx", instruction, (unsigned long)rbx,
	      (unsigned long)rcx, (unsigned long)rdx, (unsigned long)rsi, (unsigned long)rdi);
	CHECK(r8 == 0x8888888888888888ull && r9 == 0x9999999999999999ull && r10 == 0xaaaaaaaaaaaaaaaaull &&
		      r11 == 0xbbbbbbbbbbbbbbbbull && r12 == 0xccccccccccccccccull && r13 == 0xddddddddddddddddull &&
		      r14 == 0xeeeeeeeeeeeeeeeeull && r15 == 0xf0f0f0f0f0f0f0f0ull,
	      "%s changed one of R8-R15", instruction);
}

static void user_version(uint64_t use_vmmcall)
{
	guest_user_return((uint64_t)(use_vmmcall ? kapsel_vmmcall(KAPSEL_HC_VERSION, 0, 0, 0)
						 : kapsel_vmcall(KAPSEL_HC_VERSION, 0, 0, 0)));
}

void guest_main(uint32_t multiboot_info)
{
	if (skip_unless_kapsel("hypercalls"))
		return;
	const struct instruction vmcall = { "VMCALL", kapsel_vmcall }, vmmcall = { "VMMCALL", kapsel_vmmcall };
	const struct instruction *order[2] = { &vmcall, &vmmcall };
	if (cpu_is_amd()) {
		order[0] = &vmmcall;
		order[1] = &vmcall;
	}
	for (int i = 0; i < 2; i++) {
		long version = call_checked(order[i], KAPSEL_HC_VERSION, 0, 0, 0);
		CHECK(version == KAPSEL_HYPERCALL_ABI_VERSION, "VERSION through %s returned %ld, want %u", order[i]->name,
		      version, KAPSEL_HYPERCALL_ABI_VERSION);
		long unknown = call_checked(order[i], UNKNOWN_HYPERCALL, 0, 0, 0);
		CHECK(unknown == KAPSEL_HC_ENOSYS, "unknown call 0x%x through %s returned %ld, want %d",
		      UNKNOWN_HYPERCALL, order[i]->name, unknown, KAPSEL_HC_ENOSYS);
	}
	check_registers_preserved();
	guest_printf("hypercall: VERSION, unknown, register preservation ok through %s then %s\n", order[0]->name,
		     order[1]->name);

	static const char text[] = "hypercall: hello through KAPSEL_HC_CONSOLE_WRITE\n";
	long written = call_checked(order[0], KAPSEL_HC_CONSOLE_WRITE, (uintptr_t)text, sizeof(text) - 1, 0);
	CHECK(written >= 0, "CONSOLE_WRITE returned %ld", written);
	long too_long = call_checked(order[0], KAPSEL_HC_CONSOLE_WRITE, (uintptr_t)text, CONSOLE_WRITE_LIMIT + 1, 0);
	CHECK(too_long == KAPSEL_HC_EINVAL, "CONSOLE_WRITE of %u bytes returned %ld, want %d", CONSOLE_WRITE_LIMIT + 1,
	      too_long, KAPSEL_HC_EINVAL);
	uint64_t ram_end = multiboot_ram_end(multiboot_info);
	long outside = call_checked(order[0], KAPSEL_HC_CONSOLE_WRITE, ram_end + 0x1000, 16, 0);
	CHECK(outside == KAPSEL_HC_EFAULT, "CONSOLE_WRITE of a buffer past RAM returned %ld, want %d", outside,
	      KAPSEL_HC_EFAULT);
	long straddling = call_checked(order[0], KAPSEL_HC_CONSOLE_WRITE, ram_end - 8, 16, 0);
	CHECK(straddling == KAPSEL_HC_EFAULT, "CONSOLE_WRITE of a buffer across the end of RAM returned %ld, want %d",
	      straddling, KAPSEL_HC_EFAULT);

	for (int use_vmmcall = 0; use_vmmcall < 2; use_vmmcall++) {
		long from_user = (long)guest_call_user(user_version, (uint64_t)use_vmmcall);
		CHECK(from_user == KAPSEL_HC_EPERM, "VERSION from ring 3 through %s returned %ld, want %d",
		      use_vmmcall ? "VMMCALL" : "VMCALL", from_user, KAPSEL_HC_EPERM);
	}
	guest_printf("hypercall: CONSOLE_WRITE and its errors, EPERM from ring 3 ok\n");

	/* EXIT must end the VM with status 0: the PASS line goes first. */
	guest_pass_line();
	long result = order[0]->call(KAPSEL_HC_EXIT, 0, 0, 0);
	guest_fail("KAPSEL_HC_EXIT returned %ld instead of ending the VM", result);
}

/* What the guest knows about where it runs: Kapsel or not, the CPU vendor,
 * hypercalls, the test device window, the TSC rate, the RAM size. */
#include <multiboot/multiboot.h>

#include "internal.h"

#define FALLBACK_TSC_KHZ 3000000u

bool kapsel_present(void)
{
	static int present = -1;
	if (present < 0) {
		struct cpuid_regs r = cpuid(KAPSEL_CPUID_BASE, 0);
		present = r.ebx == KAPSEL_CPUID_SIGNATURE_EBX && r.ecx == KAPSEL_CPUID_SIGNATURE_ECX &&
			  r.edx == KAPSEL_CPUID_SIGNATURE_EDX;
	}
	return present;
}

bool skip_unless_kapsel(const char *what)
{
	if (kapsel_present())
		return false;
	guest_skip("not under Kapsel (%s)", what);
	return true;
}

/* CPUID 0 vendor: EBX, EDX, ECX spell "GenuineIntel" / "AuthenticAMD". */
bool cpu_is_intel(void)
{
	struct cpuid_regs r = cpuid(0, 0);
	return r.ebx == 0x756e6547 && r.edx == 0x49656e69 && r.ecx == 0x6c65746e;
}

bool cpu_is_amd(void)
{
	struct cpuid_regs r = cpuid(0, 0);
	return r.ebx == 0x68747541 && r.edx == 0x69746e65 && r.ecx == 0x444d4163;
}

/* Kapsel ABI: RAX = number, RDI/RSI/RDX = arguments, RAX = result; every
 * other register is preserved (the hypercall guest checks that). */
long kapsel_vmcall(unsigned long number, unsigned long arg0, unsigned long arg1, unsigned long arg2)
{
	long result;
	__asm__ volatile("vmcall" : "=a"(result) : "a"(number), "D"(arg0), "S"(arg1), "d"(arg2) : "memory");
	return result;
}

long kapsel_vmmcall(unsigned long number, unsigned long arg0, unsigned long arg1, unsigned long arg2)
{
	long result;
	__asm__ volatile("vmmcall" : "=a"(result) : "a"(number), "D"(arg0), "S"(arg1), "d"(arg2) : "memory");
	return result;
}

long kapsel_hypercall(unsigned long number, unsigned long arg0, unsigned long arg1, unsigned long arg2)
{
	/* The vendor asked once: a CPUID per call would be an extra exit (and
	 * would double what the bench guest measures for a hypercall). */
	static int amd = -1;
	if (amd < 0)
		amd = cpu_is_amd();
	return amd ? kapsel_vmmcall(number, arg0, arg1, arg2) : kapsel_vmcall(number, arg0, arg1, arg2);
}

bool guest_testdev_map(uintptr_t virt)
{
	static uint8_t stand_in[KAPSEL_TESTDEV_MMIO_SIZE] __attribute__((aligned(4096)));
	static bool skip_said;
	bool real = kapsel_present();
	guest_map_page(virt, real ? KAPSEL_TESTDEV_MMIO_BASE : (uintptr_t)stand_in);
	if (!real && !skip_said) {
		guest_skip("not under Kapsel (the test device is a RAM page here: checks run against RAM)");
		skip_said = true;
	}
	return real;
}

uint64_t guest_tsc_khz(void)
{
	if (kapsel_present() && cpuid(KAPSEL_CPUID_BASE, 0).eax >= KAPSEL_CPUID_TIMING) {
		uint32_t khz = cpuid(KAPSEL_CPUID_TIMING, 0).eax;
		if (khz)
			return khz;
	}
	uint32_t max_leaf = cpuid(0, 0).eax;
	if (max_leaf >= 0x15) {
		/* TSC = crystal Hz (ECX) * EBX / EAX. */
		struct cpuid_regs r = cpuid(0x15, 0);
		if (r.eax && r.ebx && r.ecx)
			return guest_div64(guest_div64((uint64_t)r.ecx * r.ebx, r.eax, 0), 1000, 0);
	}
	if (max_leaf >= 0x16 && cpuid(0x16, 0).eax)
		return (uint64_t)cpuid(0x16, 0).eax * 1000; /* base MHz */
	return FALLBACK_TSC_KHZ;
}

void guest_delay_us(uint64_t microseconds)
{
	uint64_t ticks = guest_div64(guest_tsc_khz() * microseconds, 1000, 0);
	uint64_t start = rdtsc_ordered();
	while (rdtsc_ordered() - start < ticks)
		cpu_pause();
}

uint64_t multiboot_ram_end(uint32_t multiboot_info)
{
	const multiboot_info_t *info = (const multiboot_info_t *)(uintptr_t)multiboot_info;
	uint64_t end = 0;
	if (info->flags & MULTIBOOT_INFO_MEM_MAP) {
		uintptr_t entry = info->mmap_addr, limit = info->mmap_addr + info->mmap_length;
		while (entry < limit) {
			const multiboot_memory_map_t *region = (const multiboot_memory_map_t *)entry;
			if (region->type == MULTIBOOT_MEMORY_AVAILABLE && region->addr + region->len > end)
				end = region->addr + region->len;
			entry += region->size + sizeof(region->size);
		}
	} else if (info->flags & MULTIBOOT_INFO_MEMORY) {
		end = ((uint64_t)info->mem_upper + 1024) * 1024;
	}
	return end;
}

#include <arch/x86/cpu.h>

#include <lib/string.h>

struct cpu_features cpu_features;

static void cpu_read_brand(void)
{
	if (cpu_features.max_ext_leaf < 0x80000004)
		return;
	uint32_t *out = (uint32_t *)cpu_features.brand;
	for (uint32_t leaf = 0; leaf < 3; leaf++) {
		struct cpuid_regs r = cpuid(0x80000002 + leaf, 0);
		out[leaf * 4 + 0] = r.eax;
		out[leaf * 4 + 1] = r.ebx;
		out[leaf * 4 + 2] = r.ecx;
		out[leaf * 4 + 3] = r.edx;
	}
	cpu_features.brand[48] = '\0';
	/* Brand strings are often padded with leading spaces. */
	char *s = cpu_features.brand;
	while (*s == ' ')
		s++;
	memmove(cpu_features.brand, s, strlen(s) + 1);
}

void cpu_features_init(void)
{
	struct cpuid_regs r = cpuid(0, 0);
	struct cpu_features *f = &cpu_features;

	f->max_leaf = r.eax;
	memcpy(f->vendor + 0, &r.ebx, 4);
	memcpy(f->vendor + 4, &r.edx, 4);
	memcpy(f->vendor + 8, &r.ecx, 4);
	f->vendor[12] = '\0';

	r = cpuid(1, 0);
	f->stepping = r.eax & 0xf;
	f->model = (r.eax >> 4) & 0xf;
	f->family = (r.eax >> 8) & 0xf;
	if (f->family == 0xf)
		f->family += (r.eax >> 20) & 0xff;
	if (f->family >= 6)
		f->model |= ((r.eax >> 16) & 0xf) << 4;
	f->vmx = r.ecx & (1u << 5);
	f->pcid = r.ecx & (1u << 17);
	f->x2apic = r.ecx & (1u << 21);
	f->tsc_deadline = r.ecx & (1u << 24);
	f->hypervisor = r.ecx & (1u << 31);

	f->max_ext_leaf = cpuid(0x80000000, 0).eax;
	if (f->max_ext_leaf >= 0x80000001) {
		r = cpuid(0x80000001, 0);
		f->svm = r.ecx & (1u << 2);
		f->nx = r.edx & (1u << 20);
		f->page_1g = r.edx & (1u << 26);
	}
	if (f->max_ext_leaf >= 0x80000007)
		f->invariant_tsc = cpuid(0x80000007, 0).edx & (1u << 8);
	f->phys_addr_bits = 36;
	f->virt_addr_bits = 48;
	if (f->max_ext_leaf >= 0x80000008) {
		r = cpuid(0x80000008, 0);
		f->phys_addr_bits = r.eax & 0xff;
		f->virt_addr_bits = (r.eax >> 8) & 0xff;
	}
	if (f->max_leaf >= 0x15) {
		r = cpuid(0x15, 0);
		if (r.eax && r.ebx && r.ecx)
			f->tsc_hz_cpuid = (uint64_t)r.ecx * r.ebx / r.eax;
	}
	cpu_read_brand();
}

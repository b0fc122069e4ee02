#include <arch/x86/virt.h>

#include <arch/x86/cpu.h>
#include <lib/printf.h>

static const struct virt_host_services *host_services;
const struct virt_ops *virt_chosen_backend;

void virt_set_host_services(const struct virt_host_services *services)
{
	host_services = services;
}

const struct virt_host_services *virt_host(void)
{
	return host_services;
}

/* Intel CPUs offer VMX, AMD CPUs SVM; a CPU offering both is asked in that order. */
const struct virt_ops *virt_select(char *why, size_t why_size)
{
	const struct virt_ops *candidates[2];
	unsigned count = 0;
	char reason[160] = "";

	if (cpu_features.vmx && &virt_ops_vmx)
		candidates[count++] = &virt_ops_vmx;
	if (cpu_features.svm && &virt_ops_svm)
		candidates[count++] = &virt_ops_svm;
	if (!count) {
		snprintf(why, why_size, "the CPU offers neither VMX nor SVM%s",
			 cpu_features.hypervisor ? " (nested: the outer hypervisor hides them)" : "");
		return NULL;
	}
	for (unsigned i = 0; i < count; i++) {
		if (candidates[i]->probe(reason, sizeof(reason)) == 0) {
			virt_chosen_backend = candidates[i];
			return virt_chosen_backend;
		}
	}
	snprintf(why, why_size, "%s", reason);
	return NULL;
}

void virt_clear_backend(void)
{
	virt_chosen_backend = NULL;
}

/*
 * The exit handlers, one per neutral exit code. A guest's misbehaviour
 * ends here as what hardware would do (a fault injected, all-ones read, a
 * write dropped) or as its VM stopped with a reason — never a vmkernel panic.
 */
#include <vm/exit.h>

#include <arch/x86/cpu.h>
#include <arch/x86/lapic.h>
#include <lib/errno.h>
#include <lib/log.h>
#include <lib/string.h>
#include <public/kapsel_guest.h>
#include <sched/sched.h>
#include <vm/cpuid_policy.h>
#include <vm/mmio.h>
#include <vm/msr_policy.h>
#include <vm/vm.h>

#define EXCEPTION_UD 6
#define EXCEPTION_GP 13
#define RFLAGS_RESERVED_ONE (1ul << 1)

typedef enum exit_result (*exit_handler_fn)(struct vcpu *vcpu, struct vmk_exit *exit);

void vcpu_inject_exception(struct vcpu *vcpu, uint8_t vector, bool has_error, uint32_t error)
{
	vcpu->arch.event = (struct virt_event){ .pending = true, .type = VIRT_EVENT_EXCEPTION,
						.vector = vector, .has_error_code = has_error,
						.error_code = error };
}

/* The backend did not give the length (SVM without NRIPS): decoded. */
static __attribute__((noinline)) int skip_undecoded_instruction(struct vcpu *vcpu)
{
	uint32_t length = vm_instruction_length(vcpu);
	if (!length) {
		vm_stop(vcpu->vm, -1, "vCPU %u: cannot decode the instruction at the exit", vcpu->index);
		return -EINVAL;
	}
	virt_backend()->skip_instruction(&vcpu->arch, length);
	return 0;
}

/* Small, so the handlers here inline it: most exits end in it. */
int vcpu_skip_instruction(struct vcpu *vcpu, const struct vmk_exit *exit)
{
	if (!exit->instruction_length)
		return skip_undecoded_instruction(vcpu);
	virt_backend()->skip_instruction(&vcpu->arch, exit->instruction_length);
	return 0;
}

static uint32_t guest_cpl(struct vcpu *vcpu)
{
	return virt_backend()->guest_cpl(&vcpu->arch);
}

/* What every CPUID exit needs and nothing changes after boot, worked out
 * by the first one: the host's two maximum-leaf answers (every policy
 * lookup asks for both; CPUID itself exits when the vmkernel runs nested)
 * and the clocks CPUID reports. `tsc_khz` is stored last: non-zero, the
 * rest is there. */
static struct cpuid_result host_max_basic, host_max_extended;
static uint64_t tsc_khz, lapic_khz;

static void cpuid_constants_init(void)
{
	struct cpuid_regs b = cpuid(0, 0), e = cpuid(0x80000000, 0);
	host_max_basic = (struct cpuid_result){ b.eax, b.ebx, b.ecx, b.edx };
	host_max_extended = (struct cpuid_result){ e.eax, e.ebx, e.ecx, e.edx };
	lapic_khz = lapic_timer_hz() * 16 / 1000; /* the bus clock, before the divider */
	__atomic_store_n(&tsc_khz, tsc_hz() / 1000, __ATOMIC_RELEASE);
}

static struct cpuid_result host_cpuid(uint32_t leaf, uint32_t subleaf)
{
	if (leaf == 0)
		return host_max_basic;
	if (leaf == 0x80000000)
		return host_max_extended;
	struct cpuid_regs r = cpuid(leaf, subleaf);
	return (struct cpuid_result){ r.eax, r.ebx, r.ecx, r.edx };
}

static enum exit_result handle_none(struct vcpu *vcpu, struct vmk_exit *exit)
{
	(void)exit;
	/* A host interrupt ended the run: look at the run queue if it was a kick. */
	(void)vcpu;
	return sched_resched_pending() ? EXIT_YIELD : EXIT_RESUME;
}

static enum exit_result handle_interrupt_window(struct vcpu *vcpu, struct vmk_exit *exit)
{
	(void)vcpu;
	(void)exit;
	return EXIT_RESUME; /* the run loop injects on the next entry */
}

static enum exit_result handle_cpuid(struct vcpu *vcpu, struct vmk_exit *exit)
{
	if (!__atomic_load_n(&tsc_khz, __ATOMIC_ACQUIRE))
		cpuid_constants_init();
	uint64_t *r = vcpu->arch.gprs;
	struct cpuid_policy_vcpu who = {
		.vcpu_index = vcpu->index,
		.vcpu_count = vcpu->vm->vcpu_count,
		.tsc_khz = tsc_khz,
		.lapic_khz = lapic_khz,
	};
	struct cpuid_result res = cpuid_policy(host_cpuid, &who, (uint32_t)r[VIRT_RAX], (uint32_t)r[VIRT_RCX]);
	r[VIRT_RAX] = res.eax;
	r[VIRT_RBX] = res.ebx;
	r[VIRT_RCX] = res.ecx;
	r[VIRT_RDX] = res.edx;
	return vcpu_skip_instruction(vcpu, exit) ? EXIT_YIELD : EXIT_RESUME;
}

static const struct vm_io_handler *find_io(struct vm *vm, uint16_t port)
{
	for (uint32_t i = 0; i < vm->io_count; i++)
		if (port >= vm->io[i].first && port <= vm->io[i].last)
			return &vm->io[i];
	return NULL;
}

#define STRING_IO_BATCH 1024 /* iterations per exit; the rest re-executes */

/* INS/OUTS, with or without REP: each element moves between guest memory
 * (ES:rDI for INS, seg:rSI for OUTS) and the port. */
static enum exit_result handle_string_io(struct vcpu *vcpu, struct vmk_exit *exit,
					 const struct vm_io_handler *h, uint32_t mask)
{
	const struct virt_ops *ops = virt_backend();
	uint64_t *r = vcpu->arch.gprs;
	struct virt_sysregs s;
	unsigned size = exit->io.size;
	uint64_t address_mask = exit->io.address_size == 8 ? ~0ul : (1ul << (exit->io.address_size * 8)) - 1;

	ops->get_sysregs(&vcpu->arch, &s);
	int64_t step = (s.rflags & (1ul << 10)) ? -(int64_t)size : (int64_t)size;
	uint64_t count = exit->io.rep ? r[VIRT_RCX] & address_mask : 1;
	for (unsigned i = 0; count && i < STRING_IO_BATCH; i++) {
		uint32_t value = mask;
		if (exit->io.in) {
			if (h && h->read && h->read(h->opaque, vcpu, exit->io.port, size, &value) < 0)
				value = mask;
			uint64_t linear = s.segments[VIRT_ES].base + (r[VIRT_RDI] & address_mask);
			if (vcpu_copy_linear(vcpu, &s, linear, &value, size, true))
				goto fault;
			r[VIRT_RDI] = (r[VIRT_RDI] & ~address_mask) | ((r[VIRT_RDI] + (uint64_t)step) & address_mask);
		} else {
			uint8_t segment = exit->io.segment < VIRT_SEGMENT_COUNT ? exit->io.segment : VIRT_DS;
			uint64_t linear = s.segments[segment].base + (r[VIRT_RSI] & address_mask);
			value = 0;
			if (vcpu_copy_linear(vcpu, &s, linear, &value, size, false))
				goto fault;
			if (h && h->write)
				h->write(h->opaque, vcpu, exit->io.port, size, value & mask);
			r[VIRT_RSI] = (r[VIRT_RSI] & ~address_mask) | ((r[VIRT_RSI] + (uint64_t)step) & address_mask);
		}
		count--;
		if (exit->io.rep)
			r[VIRT_RCX] = (r[VIRT_RCX] & ~address_mask) | (count & address_mask);
		if (vcpu->vm->state != VM_RUNNING)
			return EXIT_YIELD;
	}
	if (count)
		return EXIT_RESUME; /* more to do: the instruction runs (and exits) again */
	return vcpu_skip_instruction(vcpu, exit) ? EXIT_YIELD : EXIT_RESUME;
fault:
	/* The guest's buffer is not mapped or not RAM: a real CPU would fault. */
	vcpu_inject_exception(vcpu, EXCEPTION_GP, true, 0);
	return EXIT_RESUME;
}

static enum exit_result handle_io(struct vcpu *vcpu, struct vmk_exit *exit)
{
	struct vm *vm = vcpu->vm;
	unsigned size = exit->io.size;
	uint32_t mask = size == 4 ? 0xffffffffu : (1u << (size * 8)) - 1;

	const struct vm_io_handler *h = find_io(vm, exit->io.port);
	if (exit->io.string)
		return handle_string_io(vcpu, exit, h, mask);
	if (exit->io.in) {
		uint32_t value = mask; /* an unassigned port reads all-ones */
		if (h && h->read && h->read(h->opaque, vcpu, exit->io.port, size, &value) < 0)
			value = mask;
		uint64_t *rax = &vcpu->arch.gprs[VIRT_RAX];
		/* A 32-bit IN zero-extends into RAX; 8/16-bit ones merge. */
		if (size == 4)
			*rax = value;
		else
			*rax = (*rax & ~(uint64_t)mask) | (value & mask);
	} else if (h && h->write) {
		h->write(h->opaque, vcpu, exit->io.port, size, (uint32_t)vcpu->arch.gprs[VIRT_RAX] & mask);
	}
	if (vm->state != VM_RUNNING)
		return EXIT_YIELD;
	return vcpu_skip_instruction(vcpu, exit) ? EXIT_YIELD : EXIT_RESUME;
}

static enum exit_result handle_mmio(struct vcpu *vcpu, struct vmk_exit *exit)
{
	int rc = vm_emulate_mmio(vcpu, exit);
	if (rc == -EFAULT)
		return EXIT_RESUME; /* a fault was injected */
	if (rc) {
		struct virt_sysregs s;
		uint8_t b[15] = { 0 };
		virt_backend()->get_sysregs(&vcpu->arch, &s);
		vm_fetch_instruction(vcpu, &s, b);
		vm_stop(vcpu->vm, -1,
			"vCPU %u: cannot emulate the access to guest-physical 0x%lx (%d) by the instruction at rip 0x%lx: %02x %02x %02x %02x %02x %02x",
			vcpu->index, exit->mmio.gpa, rc, s.rip, b[0], b[1], b[2], b[3], b[4], b[5]);
		return EXIT_YIELD;
	}
	return vcpu->vm->state == VM_RUNNING ? EXIT_RESUME : EXIT_YIELD;
}

static enum exit_result handle_msr(struct vcpu *vcpu, struct vmk_exit *exit)
{
	uint64_t *r = vcpu->arch.gprs;
	uint32_t index = (uint32_t)r[VIRT_RCX];
	int rc;

	if (exit->code == VMK_EXIT_MSR_READ) {
		uint64_t value = 0;
		rc = msr_policy_read(vcpu, index, &value);
		if (!rc) {
			r[VIRT_RAX] = (uint32_t)value;
			r[VIRT_RDX] = value >> 32;
		}
	} else {
		rc = msr_policy_write(vcpu, index, (r[VIRT_RDX] << 32) | (uint32_t)r[VIRT_RAX]);
	}
	if (rc) {
		vcpu_inject_exception(vcpu, EXCEPTION_GP, true, 0);
		return EXIT_RESUME;
	}
	return vcpu_skip_instruction(vcpu, exit) ? EXIT_YIELD : EXIT_RESUME;
}

static enum exit_result handle_hlt(struct vcpu *vcpu, struct vmk_exit *exit)
{
	if (vcpu_skip_instruction(vcpu, exit))
		return EXIT_YIELD;
	vcpu->state = VCPU_HALTED;
	return EXIT_YIELD;
}

static int64_t hypercall_console_write(struct vcpu *vcpu, uint64_t gpa, uint64_t length)
{
	char buffer[257];

	if (length > 4096)
		return KAPSEL_HC_EINVAL;
	while (length) {
		uint64_t n = length < sizeof(buffer) - 1 ? length : sizeof(buffer) - 1;
		if (vm_copy_from_guest(vcpu->vm, gpa, buffer, n))
			return KAPSEL_HC_EFAULT;
		buffer[n] = '\0';
		log_info("vm %s: %s", vcpu->vm->name, buffer);
		gpa += n;
		length -= n;
	}
	return 0;
}

static enum exit_result handle_hypercall(struct vcpu *vcpu, struct vmk_exit *exit)
{
	uint64_t *r = vcpu->arch.gprs;
	int64_t result;

	if (guest_cpl(vcpu) != 0) {
		result = KAPSEL_HC_EPERM;
	} else {
		switch (r[VIRT_RAX]) {
		case KAPSEL_HC_VERSION:
			result = KAPSEL_HYPERCALL_ABI_VERSION;
			break;
		case KAPSEL_HC_CONSOLE_WRITE:
			result = hypercall_console_write(vcpu, r[VIRT_RDI], r[VIRT_RSI]);
			break;
		case KAPSEL_HC_EXIT:
			vm_stop(vcpu->vm, (int64_t)(uint32_t)r[VIRT_RDI], "hypercall exit");
			return EXIT_YIELD;
		default:
			result = KAPSEL_HC_ENOSYS;
			break;
		}
	}
	r[VIRT_RAX] = (uint64_t)result;
	return vcpu_skip_instruction(vcpu, exit) ? EXIT_YIELD : EXIT_RESUME;
}

/* A guest that triple-faults at once after every reset would keep a pCPU
 * busy resetting forever: after this many resets it is stopped instead. */
#define VM_MAX_RESETS 3

static enum exit_result handle_triple_fault(struct vcpu *vcpu, struct vmk_exit *exit)
{
	struct vm *vm = vcpu->vm;
	(void)exit;

	if (vm_restart_service_console(vcpu, "crashed (triple fault)"))
		return EXIT_YIELD;
	if (vm->on_triple_fault == VM_TRIPLE_FAULT_RESET && vm->reset) {
		if (vm->resets >= VM_MAX_RESETS) {
			vm_stop(vm, -1, "vCPU %u: triple fault, and %u resets already: stopped to end a reset loop",
				vcpu->index, vm->resets);
			return EXIT_YIELD;
		}
		vm->resets++;
		log_warn("vm %s: vCPU %u: triple fault: resetting the VM (reset %u of at most %u)\n", vm->name,
			 vcpu->index, vm->resets, VM_MAX_RESETS);
		if (vm->reset(vm))
			vm_stop(vm, -1, "vCPU %u: triple fault, and the reset failed", vcpu->index);
		return EXIT_YIELD;
	}
	vm_stop(vm, -1, "vCPU %u: triple fault (the guest's CPU would shut down)", vcpu->index);
	return EXIT_YIELD;
}

void vcpu_reset_to_sipi(struct vcpu *vcpu, uint8_t vector)
{
	struct virt_sysregs s;

	memset(&s, 0, sizeof(s));
	memset(vcpu->arch.gprs, 0, sizeof(vcpu->arch.gprs));
	s.rip = 0;
	s.rflags = RFLAGS_RESERVED_ONE;
	s.cr0 = 0x10; /* ET; caches on (CD/NW clear) */
	s.pat = 0x0007040600070406ul;
	s.dr7 = 0x400;
	for (int i = 0; i < VIRT_SEGMENT_COUNT; i++) {
		s.segments[i].limit = 0xffff;
		s.segments[i].attributes = 0x93; /* present, read/write data, accessed */
	}
	s.segments[VIRT_CS].selector = (uint16_t)(vector << 8);
	s.segments[VIRT_CS].base = (uint64_t)vector << 12;
	s.segments[VIRT_CS].attributes = 0x9b;
	s.segments[VIRT_LDTR].attributes = 0x82;
	s.segments[VIRT_TR].attributes = 0x8b;
	s.gdtr_limit = s.idtr_limit = 0xffff;
	vcpu->arch.event.pending = false;
	virt_backend()->set_sysregs(&vcpu->arch, &s);
}

static enum exit_result handle_init(struct vcpu *vcpu, struct vmk_exit *exit)
{
	(void)exit;
	vcpu->state = VCPU_WAIT_FOR_SIPI;
	return EXIT_YIELD;
}

static enum exit_result handle_sipi(struct vcpu *vcpu, struct vmk_exit *exit)
{
	if (vcpu->state == VCPU_WAIT_FOR_SIPI) {
		vcpu_reset_to_sipi(vcpu, exit->sipi.vector);
		vcpu->state = VCPU_RUNNABLE;
	}
	return EXIT_RESUME;
}

static enum exit_result handle_xsetbv(struct vcpu *vcpu, struct vmk_exit *exit)
{
	(void)exit;
	/* XSAVE is not offered (CPUID), so XSETBV is undefined for the guest. */
	vcpu_inject_exception(vcpu, EXCEPTION_UD, false, 0);
	return EXIT_RESUME;
}

static enum exit_result handle_invalid_instruction(struct vcpu *vcpu, struct vmk_exit *exit)
{
	(void)exit;
	vcpu_inject_exception(vcpu, EXCEPTION_UD, false, 0);
	return EXIT_RESUME;
}

/* VMCALL (0F 01 C1) and VMMCALL (0F 01 D9) are #UD on the other vendor's
 * CPUs; the ABI promises both work everywhere. */
static bool is_hypercall_instruction(struct vcpu *vcpu)
{
	struct virt_sysregs s;
	uint8_t bytes[15];

	virt_backend()->get_sysregs(&vcpu->arch, &s);
	return vm_fetch_instruction(vcpu, &s, bytes) >= 3 && bytes[0] == 0x0f && bytes[1] == 0x01 &&
	       (bytes[2] == 0xc1 || bytes[2] == 0xd9);
}

static enum exit_result handle_exception(struct vcpu *vcpu, struct vmk_exit *exit)
{
	if (exit->exception.vector == EXCEPTION_UD && is_hypercall_instruction(vcpu)) {
		exit->instruction_length = 3;
		return handle_hypercall(vcpu, exit);
	}
	/* Intercepted exceptions go back to the guest unchanged. */
	vcpu_inject_exception(vcpu, exit->exception.vector, exit->exception.has_error_code,
			      exit->exception.error_code);
	return EXIT_RESUME;
}

static enum exit_result handle_pause(struct vcpu *vcpu, struct vmk_exit *exit)
{
	if (vcpu_skip_instruction(vcpu, exit))
		return EXIT_YIELD;
	return EXIT_YIELD; /* a spinning guest: let others run */
}

/*
 * MOV to/from a control register that the backend did not finish itself:
 * a write changing a bit the CPU forces (VMX keeps CR0.NE and CR4.VMXE on;
 * a real-mode AP's first MOV to CR0 sets NE) or that the core must see.
 * Checked as the CPU would (#GP), then stored through set_sysregs, which
 * keeps the guest's view apart from what the CPU runs with. LMSW and CLTS
 * carry no register operand here: those stop the VM with the reason.
 */
#define CR0_PE_BIT (1ul << 0)
#define CR0_PG_BIT (1ul << 31)
#define CR4_PAE_BIT (1ul << 5)
#define EFER_LMA_BIT (1ul << 10)
/* VME PVI TSD DE PSE PAE MCE PGE PCE OSFXSR OSXMMEXCPT FSGSBASE SMEP SMAP:
 * what a guest may set; the CPUID policy hides the features of the others
 * (UMIP, LA57, VMXE, SMXE, PCIDE, OSXSAVE, PKE). */
#define CR4_GUEST_BITS (0x7fful | (1ul << 16) | (1ul << 20) | (1ul << 21))

static bool cr0_write_is_fault(const struct virt_sysregs *s, uint64_t value, bool code64)
{
	if ((code64 && (value >> 32)) || ((value & CR0_PG_BIT) && !(value & CR0_PE_BIT)) ||
	    ((value & CR0_NW) && !(value & CR0_CD)))
		return true;
	if ((value & CR0_PG_BIT) && !(s->cr0 & CR0_PG_BIT) && (s->efer & EFER_LME) &&
	    !(s->cr4 & CR4_PAE_BIT))
		return true;
	return code64 && !(value & CR0_PG_BIT); /* leaving long mode from 64-bit code */
}

static enum exit_result handle_cr_access(struct vcpu *vcpu, struct vmk_exit *exit)
{
	const struct virt_ops *ops = virt_backend();
	struct virt_sysregs s;
	unsigned cr = exit->cr.cr;

	if (!exit->cr.gpr_valid || exit->cr.gpr >= VIRT_GPR_COUNT || (cr != 0 && cr != 4)) {
		vm_stop(vcpu->vm, -1, "vCPU %u: unhandled %s of CR%u (hardware reason 0x%x, qualification 0x%lx)",
			vcpu->index, exit->cr.write ? "write" : "read", cr, exit->hardware_reason,
			exit->qualification);
		return EXIT_YIELD;
	}
	ops->get_sysregs(&vcpu->arch, &s);
	bool code64 = (s.efer & EFER_LMA_BIT) && (s.segments[VIRT_CS].attributes & VIRT_SEG_ATTR_LONG);
	uint64_t *gpr = &vcpu->arch.gprs[exit->cr.gpr];
	if (!exit->cr.write) {
		*gpr = cr == 0 ? s.cr0 : s.cr4;
		if (!code64)
			*gpr &= 0xffffffffu;
		return vcpu_skip_instruction(vcpu, exit) ? EXIT_YIELD : EXIT_RESUME;
	}
	uint64_t value = code64 ? *gpr : *gpr & 0xffffffffu;
	bool fault = cr == 0 ? cr0_write_is_fault(&s, value, code64)
			     : (value & ~CR4_GUEST_BITS) || ((s.efer & EFER_LMA_BIT) && !(value & CR4_PAE_BIT));
	if (fault) {
		vcpu_inject_exception(vcpu, EXCEPTION_GP, true, 0);
		return EXIT_RESUME;
	}
	if (cr == 0)
		s.cr0 = value;
	else
		s.cr4 = value;
	ops->set_sysregs(&vcpu->arch, &s);
	return vcpu_skip_instruction(vcpu, exit) ? EXIT_YIELD : EXIT_RESUME;
}

static enum exit_result handle_fatal(struct vcpu *vcpu, struct vmk_exit *exit)
{
	if (exit->code == VMK_EXIT_ENTRY_FAILED)
		vm_stop(vcpu->vm, -1, "vCPU %u: the CPU refused the guest state: %s (error 0x%lx)",
			vcpu->index, exit->failure.why ? exit->failure.why : "?", exit->failure.error);
	else
		vm_stop(vcpu->vm, -1, "vCPU %u: unhandled exit %s (hardware reason 0x%x, qualification 0x%lx)%s%s",
			vcpu->index, vmk_exit_name(exit->code), exit->hardware_reason, exit->qualification,
			exit->code == VMK_EXIT_UNHANDLED && exit->failure.why ? ": " : "",
			exit->code == VMK_EXIT_UNHANDLED && exit->failure.why ? exit->failure.why : "");
	return EXIT_YIELD;
}

static const exit_handler_fn exit_handlers[VMK_EXIT_COUNT] = {
	[VMK_EXIT_NONE] = handle_none,
	[VMK_EXIT_INTERRUPT_WINDOW] = handle_interrupt_window,
	[VMK_EXIT_CPUID] = handle_cpuid,
	[VMK_EXIT_IO] = handle_io,
	[VMK_EXIT_MMIO] = handle_mmio,
	[VMK_EXIT_MSR_READ] = handle_msr,
	[VMK_EXIT_MSR_WRITE] = handle_msr,
	[VMK_EXIT_HLT] = handle_hlt,
	[VMK_EXIT_HYPERCALL] = handle_hypercall,
	[VMK_EXIT_TRIPLE_FAULT] = handle_triple_fault,
	[VMK_EXIT_INIT] = handle_init,
	[VMK_EXIT_SIPI] = handle_sipi,
	[VMK_EXIT_CR_ACCESS] = handle_cr_access,
	[VMK_EXIT_XSETBV] = handle_xsetbv,
	[VMK_EXIT_EXCEPTION] = handle_exception,
	[VMK_EXIT_PAUSE] = handle_pause,
	[VMK_EXIT_INVALID_INSTRUCTION] = handle_invalid_instruction,
	[VMK_EXIT_ENTRY_FAILED] = handle_fatal,
	[VMK_EXIT_UNHANDLED] = handle_fatal,
};

enum exit_result vm_handle_exit(struct vcpu *vcpu, struct vmk_exit *exit)
{
	if (exit->code >= VMK_EXIT_COUNT || !exit_handlers[exit->code]) {
		exit->code = VMK_EXIT_UNHANDLED;
		exit->failure.why = NULL;
	}
	return exit_handlers[exit->code](vcpu, exit);
}

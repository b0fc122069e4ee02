/*
 * VMX exit reasons into neutral exits: one table row per basic exit
 * reason, giving the neutral code, whether the exit was caused by an
 * instruction (so VM_EXIT_INSTRUCTION_LENGTH is valid), and a decoder for
 * the reasons that carry more (qualification, interruption information).
 * Rows left empty are reasons the backend never enables: they become
 * VMK_EXIT_UNHANDLED with the number.
 */
#include "vmx.h"

#include <arch/x86/cpu.h>
#include <lib/printf.h>

#define CR0_PE (1ul << 0)
#define EFER_LMA (1ul << 10)
#define EXCEPTION_GP 13
#define EXCEPTION_PF 14
#define EXCEPTION_AC 17
#define EXCEPTION_MC 18

#define RULE_KNOWN (1u << 0)
#define RULE_INSTRUCTION (1u << 1) /* the exit instruction length is valid */

typedef void (*exit_decoder_fn)(struct vmx_vcpu *v, struct vmk_exit *exit);

struct exit_rule {
	uint8_t code;  /* enum vmk_exit_code, unless the decoder decides */
	uint8_t flags;
	exit_decoder_fn decode;
};

static void unhandled(struct vmx_vcpu *v, struct vmk_exit *exit, const char *fmt, uint64_t value)
{
	exit->code = VMK_EXIT_UNHANDLED;
	snprintf(v->why, sizeof(v->why), fmt, value);
	exit->failure.error = value;
	exit->failure.why = v->why;
}

/* The backend delivers a fault the core need not see. */
static void reflect_exception(struct vmx_vcpu *v, uint8_t vector, bool error_code_valid,
			      uint32_t error_code)
{
	uint32_t info = INTERRUPTION_VALID | vector | (INTERRUPTION_TYPE_HARDWARE_EXCEPTION << 8);

	if (error_code_valid && (vmread(VMCS_GUEST_CR0) & CR0_PE))
		info |= INTERRUPTION_ERROR_CODE_VALID;
	v->reinjection = (struct vmx_reinjection){ .pending = true, .info = info, .error_code = error_code };
}

/* IRET unblocked virtual NMIs, then faulted: it will run again, so the
 * blocking must hold until it completes (SDM: NMI unblocking due to IRET). */
static void restore_nmi_blocking(struct vmx_vcpu *v)
{
	if (!vmx_caps.virtual_nmis || v->reinjection.pending)
		return;
	vmwrite(VMCS_GUEST_INTERRUPTIBILITY,
		vmread(VMCS_GUEST_INTERRUPTIBILITY) | INTERRUPTIBILITY_BLOCKING_BY_NMI);
}

static void decode_exception_or_nmi(struct vmx_vcpu *v, struct vmk_exit *exit)
{
	uint32_t info = (uint32_t)vmread(VMCS_EXIT_INTERRUPTION_INFO);
	uint8_t vector = INTERRUPTION_VECTOR(info);
	uint32_t error_code = 0;

	exit->code = VMK_EXIT_NONE;
	if (INTERRUPTION_TYPE(info) == INTERRUPTION_TYPE_NMI) {
		/* The host's NMI (NMI exiting): its handler runs as if it had
		 * arrived here. NMIs are not blocked after this exit. */
		__asm__ volatile("int $2" : : : "memory");
		return;
	}
	if (info & INTERRUPTION_NMI_UNBLOCKED_BY_IRET)
		restore_nmi_blocking(v);
	if (info & INTERRUPTION_ERROR_CODE_VALID)
		error_code = (uint32_t)vmread(VMCS_EXIT_INTERRUPTION_ERROR_CODE);
	switch (vector) {
	case EXCEPTION_MC:
		__asm__ volatile("int $18" : : : "memory"); /* the host's machine check */
		return;
	case EXCEPTION_AC:
		reflect_exception(v, vector, true, error_code);
		return;
	default:
		break;
	}
	exit->code = VMK_EXIT_EXCEPTION;
	exit->exception.vector = vector;
	exit->exception.has_error_code = info & INTERRUPTION_ERROR_CODE_VALID;
	exit->exception.error_code = error_code;
	if (vector == EXCEPTION_PF)
		exit->exception.fault_address = exit->qualification;
	/* INT3/INTO (software exceptions) report their length. */
	if (INTERRUPTION_TYPE(info) == INTERRUPTION_TYPE_SOFTWARE_EXCEPTION ||
	    INTERRUPTION_TYPE(info) == INTERRUPTION_TYPE_PRIVILEGED_SOFTWARE_EXCEPTION)
		exit->instruction_length = (uint32_t)vmread(VMCS_EXIT_INSTRUCTION_LENGTH);
}

/* The interrupt is still pending in the host LAPIC ("acknowledge interrupt
 * on exit" is off): opening the window lets the host IDT take it. */
static void decode_external_interrupt(struct vmx_vcpu *v, struct vmk_exit *exit)
{
	(void)v;
	exit->code = VMK_EXIT_NONE;
	__asm__ volatile("sti; nop; cli" : : : "memory");
}

static void decode_interrupt_window(struct vmx_vcpu *v, struct vmk_exit *exit)
{
	/* A window the backend asked for (an event it held back) is its own business. */
	exit->code = v->vcpu->want_interrupt_window ? VMK_EXIT_INTERRUPT_WINDOW : VMK_EXIT_NONE;
}

static void decode_sipi(struct vmx_vcpu *v, struct vmk_exit *exit)
{
	(void)v;
	exit->sipi.vector = (uint8_t)exit->qualification;
}

static void decode_rdpmc(struct vmx_vcpu *v, struct vmk_exit *exit)
{
	/* No virtual PMU: every counter is invalid, as RDPMC's #GP(0) says. */
	exit->code = VMK_EXIT_NONE;
	reflect_exception(v, EXCEPTION_GP, true, 0);
}

static void decode_task_switch(struct vmx_vcpu *v, struct vmk_exit *exit)
{
	unhandled(v, exit, "hardware task switch (to TSS selector 0x%lx) is not supported",
		  exit->qualification & 0xffff);
}

static void decode_cr_access(struct vmx_vcpu *v, struct vmk_exit *exit)
{
	uint64_t q = exit->qualification;

	exit->cr.cr = CR_QUALIFICATION_NUMBER(q);
	switch (CR_QUALIFICATION_ACCESS(q)) {
	case CR_ACCESS_MOV_TO:
	case CR_ACCESS_MOV_FROM:
		exit->cr.write = CR_QUALIFICATION_ACCESS(q) == CR_ACCESS_MOV_TO;
		exit->cr.gpr = CR_QUALIFICATION_GPR(q);
		exit->cr.gpr_valid = true;
		break;
	default: /* CLTS, LMSW: writes to CR0 without a register operand */
		exit->cr.cr = 0;
		exit->cr.write = true;
		break;
	}
	vmx_paging_cr_access(v, exit);
}

/* Without the CPU's INS/OUTS information: the mode's default address size
 * and DS (an address-size or segment prefix would be missed). */
static void guess_string_io_operands(struct vmk_exit *exit)
{
	uint32_t cs_rights = (uint32_t)vmread(VMCS_GUEST_ES_ACCESS_RIGHTS + 2 * VIRT_CS);

	if ((vmread(VMCS_GUEST_EFER) & EFER_LMA) && (cs_rights & VIRT_SEG_ATTR_LONG))
		exit->io.address_size = 8;
	else
		exit->io.address_size = (cs_rights & VIRT_SEG_ATTR_DB) ? 4 : 2;
	exit->io.segment = exit->io.in ? VIRT_ES : VIRT_DS;
}

static void decode_io(struct vmx_vcpu *v, struct vmk_exit *exit)
{
	uint64_t q = exit->qualification;

	(void)v;
	exit->io.port = IO_QUALIFICATION_PORT(q);
	exit->io.size = (uint8_t)IO_QUALIFICATION_SIZE(q);
	exit->io.in = q & IO_QUALIFICATION_IN;
	exit->io.string = q & IO_QUALIFICATION_STRING;
	exit->io.rep = q & IO_QUALIFICATION_REP;
	if (!exit->io.string)
		return;
	if (!(vmx_caps.basic & VMX_BASIC_IO_INSTRUCTION_INFO)) {
		guess_string_io_operands(exit);
		return;
	}
	uint32_t info = (uint32_t)vmread(VMCS_EXIT_INSTRUCTION_INFO);
	exit->io.address_size = (uint8_t)(2u << IO_INFO_ADDRESS_SIZE(info));
	exit->io.segment = exit->io.in ? VIRT_ES : (uint8_t)IO_INFO_SEGMENT(info);
}

static void decode_msr(struct vmx_vcpu *v, struct vmk_exit *exit)
{
	const uint64_t *gprs = v->vcpu->gprs;

	exit->msr.index = (uint32_t)gprs[VIRT_RCX];
	if (exit->code == VMK_EXIT_MSR_WRITE)
		exit->msr.value = (gprs[VIRT_RDX] << 32) | (uint32_t)gprs[VIRT_RAX];
}

static void decode_ept_violation(struct vmx_vcpu *v, struct vmk_exit *exit)
{
	uint64_t q = exit->qualification;
	uint64_t gpa = vmread(VMCS_GUEST_PHYSICAL_ADDRESS);

	if (v->reinjection.pending) {
		/* The CPU itself touched the address while delivering an event
		 * (IDT, GDT, stack): no instruction to emulate. */
		unhandled(v, exit, "guest-physical 0x%lx outside guest RAM touched while delivering an event", gpa);
		return;
	}
	if ((q & EPT_QUALIFICATION_LINEAR_VALID) && !(q & EPT_QUALIFICATION_LINEAR_TRANSLATION)) {
		/* The CPU's own page walk read a guest page table there. */
		unhandled(v, exit, "guest page tables at guest-physical 0x%lx, outside guest RAM", gpa);
		return;
	}
	if (q & EPT_QUALIFICATION_NMI_UNBLOCKED_BY_IRET)
		restore_nmi_blocking(v);
	exit->mmio.gpa = gpa;
	exit->mmio.write = q & EPT_QUALIFICATION_WRITE;
	exit->mmio.fetch = q & EPT_QUALIFICATION_FETCH;
	exit->mmio.gva_valid = q & EPT_QUALIFICATION_LINEAR_VALID;
	if (exit->mmio.gva_valid)
		exit->mmio.gva = vmread(VMCS_GUEST_LINEAR_ADDRESS);
}

static void decode_ept_misconfig(struct vmx_vcpu *v, struct vmk_exit *exit)
{
	unhandled(v, exit, "EPT misconfiguration at guest-physical 0x%lx",
		  vmread(VMCS_GUEST_PHYSICAL_ADDRESS));
}

#define SIMPLE(neutral) { .code = (neutral), .flags = RULE_KNOWN | RULE_INSTRUCTION }
#define INVALID SIMPLE(VMK_EXIT_INVALID_INSTRUCTION)

static const struct exit_rule exit_rules[VMX_EXIT_REASON_COUNT] = {
	[VMX_EXIT_EXCEPTION_OR_NMI] = { VMK_EXIT_EXCEPTION, RULE_KNOWN, decode_exception_or_nmi },
	[VMX_EXIT_EXTERNAL_INTERRUPT] = { VMK_EXIT_NONE, RULE_KNOWN, decode_external_interrupt },
	[VMX_EXIT_TRIPLE_FAULT] = { VMK_EXIT_TRIPLE_FAULT, RULE_KNOWN, NULL },
	[VMX_EXIT_INIT] = { VMK_EXIT_INIT, RULE_KNOWN, NULL },
	[VMX_EXIT_SIPI] = { VMK_EXIT_SIPI, RULE_KNOWN, decode_sipi },
	[VMX_EXIT_INTERRUPT_WINDOW] = { VMK_EXIT_INTERRUPT_WINDOW, RULE_KNOWN, decode_interrupt_window },
	[VMX_EXIT_NMI_WINDOW] = { VMK_EXIT_NONE, RULE_KNOWN, NULL },
	[VMX_EXIT_TASK_SWITCH] = { VMK_EXIT_UNHANDLED, RULE_KNOWN, decode_task_switch },
	[VMX_EXIT_CPUID] = SIMPLE(VMK_EXIT_CPUID),
	[VMX_EXIT_GETSEC] = INVALID,
	[VMX_EXIT_HLT] = SIMPLE(VMK_EXIT_HLT),
	[VMX_EXIT_INVD] = INVALID,
	[VMX_EXIT_RDPMC] = { VMK_EXIT_NONE, RULE_KNOWN | RULE_INSTRUCTION, decode_rdpmc },
	[VMX_EXIT_VMCALL] = SIMPLE(VMK_EXIT_HYPERCALL),
	[VMX_EXIT_VMCLEAR] = INVALID,
	[VMX_EXIT_VMLAUNCH] = INVALID,
	[VMX_EXIT_VMPTRLD] = INVALID,
	[VMX_EXIT_VMPTRST] = INVALID,
	[VMX_EXIT_VMREAD] = INVALID,
	[VMX_EXIT_VMRESUME] = INVALID,
	[VMX_EXIT_VMWRITE] = INVALID,
	[VMX_EXIT_VMXOFF] = INVALID,
	[VMX_EXIT_VMXON] = INVALID,
	[VMX_EXIT_CR_ACCESS] = { VMK_EXIT_CR_ACCESS, RULE_KNOWN | RULE_INSTRUCTION, decode_cr_access },
	[VMX_EXIT_IO] = { VMK_EXIT_IO, RULE_KNOWN | RULE_INSTRUCTION, decode_io },
	[VMX_EXIT_RDMSR] = { VMK_EXIT_MSR_READ, RULE_KNOWN | RULE_INSTRUCTION, decode_msr },
	[VMX_EXIT_WRMSR] = { VMK_EXIT_MSR_WRITE, RULE_KNOWN | RULE_INSTRUCTION, decode_msr },
	[VMX_EXIT_MWAIT] = INVALID,
	[VMX_EXIT_MONITOR] = INVALID,
	[VMX_EXIT_PAUSE] = SIMPLE(VMK_EXIT_PAUSE),
	[VMX_EXIT_EPT_VIOLATION] = { VMK_EXIT_MMIO, RULE_KNOWN, decode_ept_violation },
	[VMX_EXIT_EPT_MISCONFIG] = { VMK_EXIT_UNHANDLED, RULE_KNOWN, decode_ept_misconfig },
	[VMX_EXIT_INVEPT] = INVALID,
	[VMX_EXIT_INVVPID] = INVALID,
	[VMX_EXIT_XSETBV] = SIMPLE(VMK_EXIT_XSETBV),
	[VMX_EXIT_VMFUNC] = INVALID,
};

void vmx_translate_exit(struct vmx_vcpu *v, uint32_t reason, struct vmk_exit *exit)
{
	uint32_t basic = VMX_EXIT_REASON_BASIC(reason);
	const struct exit_rule *rule = basic < VMX_EXIT_REASON_COUNT ? &exit_rules[basic] : NULL;

	exit->hardware_reason = reason;
	exit->qualification = vmread(VMCS_EXIT_QUALIFICATION);
	if (!rule || !(rule->flags & RULE_KNOWN)) {
		unhandled(v, exit, "VMX exit reason %lu", basic);
		return;
	}
	exit->code = rule->code;
	if (rule->flags & RULE_INSTRUCTION) {
		exit->instruction_length = (uint32_t)vmread(VMCS_EXIT_INSTRUCTION_LENGTH);
		v->last_instruction_length = exit->instruction_length;
	}
	if (rule->decode)
		rule->decode(v, exit);
}

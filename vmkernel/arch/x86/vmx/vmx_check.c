/*
 * Why the CPU refused a guest state: after a VM entry fails with "invalid
 * guest state" (exit reason 33) the hardware says no more, so this walks
 * the SDM's guest-state checks (volume 3, "Checking and Loading Guest
 * State") that loaders and mode switches get wrong most often, and names
 * the first one the VMCS breaks. Not every check is here; the caller's
 * message stands alone when none matches.
 */
#include "vmx.h"

#include <stdarg.h>

#include <lib/printf.h>

#define CR0_PE (1ul << 0)
#define CR0_PG (1ul << 31)
#define CR4_PAE (1ul << 5)
#define EFER_LME (1ul << 8)
#define EFER_LMA (1ul << 10)
#define RFLAGS_IF (1ul << 9)
#define RFLAGS_VM (1ul << 17)
#define RFLAGS_RESERVED_ONE (1ul << 1)
/* Reserved RFLAGS bits that must be 0: 3, 5, 15 and 22..63. */
#define RFLAGS_RESERVED_ZERO ((1ul << 3) | (1ul << 5) | (1ul << 15) | (~0ul << 22))

static const char *const segment_names[VIRT_SEGMENT_COUNT] = {
	"ES", "CS", "SS", "DS", "FS", "GS", "LDTR", "TR",
};

struct segment_state {
	uint16_t selector;
	uint32_t limit;
	uint32_t access_rights;
	uint64_t base;
};

static struct segment_state read_segment(int index)
{
	return (struct segment_state){
		.selector = (uint16_t)vmread(VMCS_GUEST_ES_SELECTOR + 2 * index),
		.limit = (uint32_t)vmread(VMCS_GUEST_ES_LIMIT + 2 * index),
		.access_rights = (uint32_t)vmread(VMCS_GUEST_ES_ACCESS_RIGHTS + 2 * index),
		.base = vmread(VMCS_GUEST_ES_BASE + 2 * index),
	};
}

static bool usable(const struct segment_state *s)
{
	return !(s->access_rights & ACCESS_RIGHTS_UNUSABLE);
}

static unsigned type_of(const struct segment_state *s)
{
	return s->access_rights & 0xf;
}

static unsigned dpl_of(const struct segment_state *s)
{
	return (s->access_rights >> 5) & 3;
}

/* G must match the limit: 4 KiB granular limits end in 0xfff, byte-granular ones fit in 20 bits. */
static bool granularity_consistent(const struct segment_state *s)
{
	bool g = s->access_rights & (1u << 15);

	if ((s->limit & 0xfff) != 0xfff && g)
		return false;
	if ((s->limit & 0xfff00000u) && !g)
		return false;
	return true;
}

/* Formats a finding into buf and returns it. */
__attribute__((format(printf, 3, 4))) static const char *say(char *buf, size_t size, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, size, fmt, ap);
	va_end(ap);
	return buf;
}

static bool canonical(uint64_t address)
{
	return (uint64_t)(((int64_t)address << 16) >> 16) == address;
}

static const char *check_control_registers(char *buf, size_t size, bool ia32e)
{
	const struct vmx_caps *c = &vmx_caps;
	uint64_t cr0 = vmread(VMCS_GUEST_CR0), cr4 = vmread(VMCS_GUEST_CR4);
	uint64_t efer = vmread(VMCS_GUEST_EFER);

	if ((cr0 & c->cr0_forced_on) != c->cr0_forced_on || (cr0 & ~c->cr0_allowed))
		return say(buf, size, ": CR0 0x%lx outside the VMX fixed bits", cr0);
	if ((cr0 & CR0_PG) && !(cr0 & CR0_PE))
		return ": CR0.PG without CR0.PE";
	if ((cr4 & c->cr4_forced_on) != c->cr4_forced_on || (cr4 & ~c->cr4_allowed))
		return say(buf, size, ": CR4 0x%lx outside the VMX fixed bits", cr4);
	if (ia32e && (!(cr0 & CR0_PG) || !(cr4 & CR4_PAE)))
		return ": IA-32e mode guest without CR0.PG and CR4.PAE";
	if (!!(efer & EFER_LMA) != ia32e)
		return ": EFER.LMA differs from the IA-32e mode guest entry control";
	if ((cr0 & CR0_PG) && !!(efer & EFER_LMA) != !!(efer & EFER_LME))
		return ": EFER.LMA differs from EFER.LME with paging on";
	return NULL;
}

static const char *check_segments(char *buf, size_t size, bool ia32e, bool real_mode)
{
	struct segment_state seg[VIRT_SEGMENT_COUNT];
	bool ug = vmx_caps.unrestricted_guest;

	for (int i = 0; i < VIRT_SEGMENT_COUNT; i++)
		seg[i] = read_segment(i);
	const struct segment_state *cs = &seg[VIRT_CS], *ss = &seg[VIRT_SS], *tr = &seg[VIRT_TR];
	unsigned cs_type = type_of(cs);

	if (!(cs_type == 9 || cs_type == 11 || cs_type == 13 || cs_type == 15 || (ug && cs_type == 3)))
		return say(buf, size, ": CS type %u is not an accessed code segment", cs_type);
	if (!(cs->access_rights & (1u << 4)) || !(cs->access_rights & ACCESS_RIGHTS_PRESENT))
		return ": CS must be a present code/data segment (S=1, P=1)";
	if (ia32e && (cs->access_rights & (1u << 13)) && (cs->access_rights & (1u << 14)))
		return ": CS has both L and D set";
	if ((cs_type == 9 || cs_type == 11) && dpl_of(cs) != dpl_of(ss))
		return ": CS.DPL differs from SS.DPL for a non-conforming code segment";
	if ((cs_type == 3 || real_mode) && dpl_of(ss) != 0)
		return ": SS.DPL must be 0 in real mode";
	if (usable(ss) && type_of(ss) != 3 && type_of(ss) != 7)
		return say(buf, size, ": SS type %u is not a writable accessed data segment", type_of(ss));
	for (int i = 0; i < VIRT_LDTR; i++) {
		const struct segment_state *s = &seg[i];
		if (i == VIRT_CS || !usable(s))
			continue;
		if (!(s->access_rights & ACCESS_RIGHTS_PRESENT) || !(s->access_rights & (1u << 4)))
			return say(buf, size, ": usable %s must be present with S=1", segment_names[i]);
		if (i != VIRT_SS && !(type_of(s) & 1))
			return say(buf, size, ": %s type %u is not accessed", segment_names[i], type_of(s));
	}
	for (int i = 0; i < VIRT_SEGMENT_COUNT; i++) {
		const struct segment_state *s = &seg[i];
		if ((i == VIRT_CS || usable(s)) && !granularity_consistent(s))
			return say(buf, size, ": %s limit 0x%x does not match its G bit", segment_names[i],
					s->limit);
		if ((i == VIRT_CS || usable(s)) && (s->access_rights & 0xfffe0f00u))
			return say(buf, size, ": %s access rights 0x%x have reserved bits set",
					segment_names[i], s->access_rights);
	}
	if (!usable(tr) || (tr->access_rights & (1u << 4)) || !(tr->access_rights & ACCESS_RIGHTS_PRESENT))
		return ": TR must be usable, present and a system segment";
	if (type_of(tr) != 11 && (ia32e || type_of(tr) != 3))
		return say(buf, size, ": TR type %u is not a busy TSS", type_of(tr));
	if (tr->selector & 4)
		return ": TR selector points into the LDT";
	if (usable(&seg[VIRT_LDTR]) && (type_of(&seg[VIRT_LDTR]) != 2 ||
					  !(seg[VIRT_LDTR].access_rights & ACCESS_RIGHTS_PRESENT)))
		return ": a usable LDTR must be a present LDT (type 2)";
	if (!canonical(seg[VIRT_FS].base) || !canonical(seg[VIRT_GS].base) || !canonical(tr->base))
		return ": FS, GS or TR base is not canonical";
	return NULL;
}

static const char *check_other(char *buf, size_t size, bool ia32e)
{
	uint64_t rflags = vmread(VMCS_GUEST_RFLAGS);
	uint64_t rip = vmread(VMCS_GUEST_RIP);
	uint64_t cs_rights = vmread(VMCS_GUEST_ES_ACCESS_RIGHTS + 2 * VIRT_CS);
	uint64_t interruptibility = vmread(VMCS_GUEST_INTERRUPTIBILITY);

	if (!(rflags & RFLAGS_RESERVED_ONE) || (rflags & RFLAGS_RESERVED_ZERO))
		return say(buf, size, ": RFLAGS 0x%lx has reserved bits wrong", rflags);
	if (ia32e && (rflags & RFLAGS_VM))
		return ": RFLAGS.VM in IA-32e mode";
	if ((!ia32e || !(cs_rights & (1u << 13))) && (rip >> 32))
		return say(buf, size, ": RIP 0x%lx above 4 GiB outside 64-bit mode", rip);
	if (!canonical(vmread(VMCS_GUEST_GDTR_BASE)) || !canonical(vmread(VMCS_GUEST_IDTR_BASE)))
		return ": GDTR or IDTR base is not canonical";
	if (vmread(VMCS_GUEST_GDTR_LIMIT) > 0xffff || vmread(VMCS_GUEST_IDTR_LIMIT) > 0xffff)
		return ": GDTR or IDTR limit above 0xffff";
	if ((interruptibility & INTERRUPTIBILITY_BLOCKING_BY_STI) && !(rflags & RFLAGS_IF))
		return ": blocking by STI with RFLAGS.IF clear";
	if (vmread(VMCS_GUEST_ACTIVITY_STATE) != ACTIVITY_STATE_ACTIVE)
		return ": activity state is not active";
	if (vmread(VMCS_LINK_POINTER) != ~0ul)
		return ": VMCS link pointer is not ~0";
	for (int i = 0; i < 8; i++) {
		uint8_t type = (uint8_t)(vmread(VMCS_GUEST_PAT) >> (8 * i));
		if (type == 2 || type == 3 || type > 7)
			return ": PAT holds an invalid memory type";
	}
	return NULL;
}

void vmx_explain_guest_state(struct vmx_vcpu *v, char *out, size_t size)
{
	bool ia32e = v->entry_controls & ENTRY_IA32E_MODE_GUEST;
	bool real_mode = !(vmread(VMCS_GUEST_CR0) & CR0_PE);
	char detail[96];
	const char *problem = check_control_registers(detail, sizeof(detail), ia32e);

	if (!problem)
		problem = check_segments(detail, sizeof(detail), ia32e, real_mode);
	if (!problem)
		problem = check_other(detail, sizeof(detail), ia32e);
	snprintf(out, size, "%s", problem ? problem : "");
}

#include <vm/mmio.h>

#include <lib/errno.h>
#include <lib/log.h>
#include <lib/string.h>
#include <vm/insn_decode.h>
#include <vm/insn_emulate.h>
#include <vm/vm.h>

#define CR0_PG (1ul << 31)
#define CR0_WP (1ul << 16)
#define CR4_PSE (1ul << 4)
#define CR4_PAE (1ul << 5)
#define EFER_LMA (1ul << 10)
#define PTE_P (1ul << 0)
#define PTE_W (1ul << 1)
#define PTE_U (1ul << 2)
#define PTE_PS (1ul << 7)
#define PF_PRESENT (1u << 0)
#define PF_WRITE (1u << 1)
#define PF_RESERVED (1u << 3)

/*
 * Walks the guest's page tables, which live in guest RAM: 2-level 32-bit
 * (4 MiB pages with CR4.PSE), 3-level PAE, or 4-level long mode. Only
 * present/write bits matter here (the vmkernel reads instruction bytes and
 * string operands; the guest's own accesses were already checked by the CPU
 * before the exit).
 */
int vcpu_translate(struct vcpu *vcpu, const struct virt_sysregs *s, uint64_t linear, bool write,
		   uint64_t *gpa, uint32_t *fault_error)
{
	struct vm *vm = vcpu->vm;
	int levels, shift_top;
	bool wide = true;

	if (!(s->cr0 & CR0_PG)) {
		*gpa = linear & 0xffffffffu;
		return 0;
	}
	if (s->efer & EFER_LMA) {
		levels = 4;
		shift_top = 39;
	} else if (s->cr4 & CR4_PAE) {
		levels = 3;
		shift_top = 30;
		linear &= 0xffffffffu;
	} else {
		levels = 2;
		shift_top = 22;
		wide = false;
		linear &= 0xffffffffu;
	}
	uint64_t table = levels == 3 ? s->cr3 & 0xffffffe0u : s->cr3 & 0x000ffffffffff000ul;
	for (int level = levels, shift = shift_top; level >= 1; level--, shift -= wide ? 9 : 10) {
		unsigned index;
		uint64_t entry = 0;
		if (levels == 3 && level == 3)
			index = (linear >> 30) & 3;
		else
			index = (linear >> shift) & (wide ? 511 : 1023);
		if (wide) {
			const uint64_t *p = vm_gpa_to_host(vm, table + (uint64_t)index * 8, 8);
			if (!p)
				return -EFAULT;
			entry = *p;
		} else {
			const uint32_t *p = vm_gpa_to_host(vm, table + (uint64_t)index * 4, 4);
			if (!p)
				return -EFAULT;
			entry = *p;
		}
		if (!(entry & PTE_P)) {
			*fault_error = write ? PF_WRITE : 0;
			return -EFAULT;
		}
		bool has_write_bit = !(levels == 3 && level == 3); /* PAE PDPTEs have none */
		if (write && has_write_bit && !(entry & PTE_W) && (s->cr0 & CR0_WP)) {
			*fault_error = PF_PRESENT | PF_WRITE;
			return -EFAULT;
		}
		bool large = (entry & PTE_PS) && ((level == 2) || (level == 3 && levels == 4));
		if (large && !wide && !(s->cr4 & CR4_PSE))
			large = false;
		if (level == 1 || large) {
			uint64_t page_mask = (1ul << shift) - 1;
			uint64_t base = wide ? entry & 0x000ffffffffff000ul : entry & 0xfffff000u;
			if (large && !wide)
				base = (entry & 0xffc00000u) | ((entry & 0x001fe000ul) << 19); /* PSE-36 */
			*gpa = (base & ~page_mask) | (linear & page_mask);
			return 0;
		}
		table = wide ? entry & 0x000ffffffffff000ul : entry & 0xfffff000u;
	}
	return -EFAULT;
}

/* Copies guest memory by linear address, page by page. */
int vcpu_copy_linear(struct vcpu *vcpu, const struct virt_sysregs *s, uint64_t linear, void *data,
		       unsigned size, bool write)
{
	uint8_t *p = data;

	while (size) {
		uint64_t gpa;
		uint32_t error;
		unsigned in_page = 4096 - (unsigned)(linear & 4095);
		unsigned n = size < in_page ? size : in_page;
		if (vcpu_translate(vcpu, s, linear, write, &gpa, &error))
			return -EFAULT;
		uint8_t *host = vm_gpa_to_host(vcpu->vm, gpa, n);
		if (!host)
			return -EFAULT;
		if (write)
			memcpy(host, p, n);
		else
			memcpy(p, host, n);
		linear += n;
		p += n;
		size -= n;
	}
	return 0;
}

int vm_fetch_instruction(struct vcpu *vcpu, const struct virt_sysregs *s, uint8_t bytes[15])
{
	uint64_t linear = s->segments[VIRT_CS].base + s->rip;
	int n = 0;

	/* Stop at the first byte that cannot be read: the decoder says whether it needed it. */
	while (n < 15) {
		unsigned in_page = 4096 - (unsigned)((linear + (unsigned)n) & 4095);
		unsigned want = 15 - (unsigned)n < in_page ? 15 - (unsigned)n : in_page;
		if (vcpu_copy_linear(vcpu, s, linear + (unsigned)n, bytes + n, want, false))
			break;
		n += (int)want;
	}
	return n;
}

static enum insn_mode mode_of(const struct virt_sysregs *s)
{
	if (!(s->cr0 & 1))
		return INSN_MODE_16;
	return insn_mode_of(s->efer & EFER_LMA, s->segments[VIRT_CS].attributes & VIRT_SEG_ATTR_LONG,
			    s->segments[VIRT_CS].attributes & VIRT_SEG_ATTR_DB);
}

uint32_t vm_instruction_length(struct vcpu *vcpu)
{
	struct virt_sysregs s;
	uint8_t bytes[15];
	struct insn insn;

	virt_backend()->get_sysregs(&vcpu->arch, &s);
	int n = vm_fetch_instruction(vcpu, &s, bytes);
	if (n <= 0 || insn_decode(bytes, (size_t)n, mode_of(&s), &insn))
		return 0;
	return insn.length;
}

struct mmio_context {
	struct vcpu *vcpu;
	const struct virt_sysregs *sysregs;
};

static const struct vm_mmio_handler *find_mmio(struct vm *vm, uint64_t gpa, unsigned size)
{
	for (uint32_t i = 0; i < vm->mmio_count; i++) {
		const struct vm_mmio_handler *h = &vm->mmio[i];
		if (gpa >= h->base && gpa + size <= h->base + h->size)
			return h;
	}
	return NULL;
}

static int bus_mmio_read(void *opaque, uint64_t gpa, unsigned size, uint64_t *value)
{
	struct mmio_context *c = opaque;
	const struct vm_mmio_handler *h = find_mmio(c->vcpu->vm, gpa, size);
	*value = size == 8 ? ~0ul : (1ul << (size * 8)) - 1; /* nobody there: all-ones */
	if (h && h->read && h->read(h->opaque, c->vcpu, gpa, size, value) < 0)
		*value = size == 8 ? ~0ul : (1ul << (size * 8)) - 1;
	return 0;
}

static int bus_mmio_write(void *opaque, uint64_t gpa, unsigned size, uint64_t value)
{
	struct mmio_context *c = opaque;
	const struct vm_mmio_handler *h = find_mmio(c->vcpu->vm, gpa, size);
	if (h && h->write)
		h->write(h->opaque, c->vcpu, gpa, size, value); /* else dropped */
	return 0;
}

/* The other side of a MOVS: RAM through the guest's page tables, or a
 * device when that address is not RAM (MMIO to MMIO copies). */
static int bus_memory_access(struct mmio_context *c, uint64_t linear, uint8_t *data, unsigned size,
			     bool write)
{
	while (size) {
		uint64_t gpa;
		uint32_t error;
		unsigned in_page = 4096 - (unsigned)(linear & 4095);
		unsigned n = size < in_page ? size : in_page;
		if (vcpu_translate(c->vcpu, c->sysregs, linear, write, &gpa, &error))
			return -EFAULT;
		uint8_t *host = vm_gpa_to_host(c->vcpu->vm, gpa, n);
		if (host) {
			if (write)
				memcpy(host, data, n);
			else
				memcpy(data, host, n);
		} else {
			for (unsigned done = 0; done < n;) {
				unsigned piece = n - done >= 8 ? 8 : n - done >= 4 ? 4 : n - done >= 2 ? 2 : 1;
				uint64_t value = 0;
				if (write) {
					memcpy(&value, data + done, piece);
					bus_mmio_write(c, gpa + done, piece, value);
				} else {
					bus_mmio_read(c, gpa + done, piece, &value);
					memcpy(data + done, &value, piece);
				}
				done += piece;
			}
		}
		linear += n;
		data += n;
		size -= n;
	}
	return 0;
}

static int bus_memory_read(void *opaque, uint64_t linear, void *data, unsigned size)
{
	return bus_memory_access(opaque, linear, data, size, false);
}

static int bus_memory_write(void *opaque, uint64_t linear, const void *data, unsigned size)
{
	return bus_memory_access(opaque, linear, (uint8_t *)data, size, true);
}

int vm_emulate_mmio(struct vcpu *vcpu, const struct vmk_exit *exit)
{
	const struct virt_ops *ops = virt_backend();
	struct virt_sysregs s;
	uint8_t bytes[15];
	struct insn insn;

	ops->get_sysregs(&vcpu->arch, &s);
	int n = vm_fetch_instruction(vcpu, &s, bytes);
	if (n <= 0)
		return -EIO; /* the code itself is not in RAM */
	enum insn_mode mode = mode_of(&s);
	int rc = insn_decode(bytes, (size_t)n, mode, &insn);
	if (rc)
		return rc;
	struct insn_cpu_state cpu = { .rip = s.rip, .rflags = s.rflags, .mode = mode };
	/* PUSH/POP of an MMIO operand: the stack's address size follows SS.B
	 * outside 64-bit code. */
	if (mode != INSN_MODE_64)
		cpu.stack_address_size = (s.segments[VIRT_SS].attributes & VIRT_SEG_ATTR_DB) ? 4 : 2;
	memcpy(cpu.gprs, vcpu->arch.gprs, sizeof(cpu.gprs));
	static const int order[INSN_SEGMENT_COUNT] = { VIRT_ES, VIRT_CS, VIRT_SS, VIRT_DS, VIRT_FS, VIRT_GS };
	for (int i = 0; i < INSN_SEGMENT_COUNT; i++)
		cpu.segment_base[i] = s.segments[order[i]].base;
	struct mmio_context context = { vcpu, &s };
	const struct insn_bus bus = {
		.mmio_read = bus_mmio_read,
		.mmio_write = bus_mmio_write,
		.memory_read = bus_memory_read,
		.memory_write = bus_memory_write,
		.opaque = &context,
	};
	rc = insn_emulate_mmio(&insn, &cpu, &bus, exit->mmio.gpa, exit->mmio.write);
	if (rc == -ESTALE)
		return 0; /* the guest changed the code under us: just run it again */
	if (rc)
		return rc;
	memcpy(vcpu->arch.gprs, cpu.gprs, sizeof(cpu.gprs));
	ops->set_rip_rflags(&vcpu->arch, cpu.rip, cpu.rflags);
	return 0;
}

#include <vm/vm_log.h>

#include <stdarg.h>

#include <arch/x86/cpu.h>
#include <arch/x86/lapic.h>
#include <lib/printf.h>
#include <lib/string.h>
#include <vm/vm.h>

void vm_log(struct vm *vm, const char *fmt, ...)
{
	struct vm_log *log = vm->log;
	char line[VM_LOG_LINE_MAX + 32];
	va_list ap;

	if (!log)
		return;
	uint64_t per_us = tsc_hz() / 1000000;
	uint64_t us = rdtsc() / (per_us ? per_us : 1);
	int n = snprintf(line, sizeof(line), "%lu.%06lu| ", us / 1000000, us % 1000000);
	va_start(ap, fmt);
	vsnprintf(line + n, VM_LOG_LINE_MAX, fmt, ap);
	va_end(ap);
	size_t length = strlen(line);
	line[length++] = '\n';
	vm_log_put(log, line, length);
}

bool vm_log_put(struct vm_log *log, const char *text, size_t length)
{
	uint64_t flags = spin_lock_irqsave(&log->lock);
	bool fits = log->head - log->tail + length <= VM_LOG_RING_BYTES;

	if (!fits) {
		log->lost_lines++;
	} else {
		for (size_t i = 0; i < length; i++)
			log->ring[(log->head + i) % VM_LOG_RING_BYTES] = text[i];
		log->head += length;
	}
	spin_unlock_irqrestore(&log->lock, flags);
	return fits;
}

uint64_t vm_log_pending(struct vm_log *log)
{
	uint64_t flags = spin_lock_irqsave(&log->lock);
	uint64_t pending = log->head - log->tail;
	spin_unlock_irqrestore(&log->lock, flags);
	return pending;
}

void vm_log_reset(struct vm_log *log)
{
	uint64_t flags = spin_lock_irqsave(&log->lock);
	log->head = log->tail = log->lost_lines = 0;
	spin_unlock_irqrestore(&log->lock, flags);
}

size_t vm_log_take(struct vm_log *log, char *out, size_t size)
{
	uint64_t flags = spin_lock_irqsave(&log->lock);
	size_t n = log->head - log->tail < size ? (size_t)(log->head - log->tail) : size;

	/* Whole lines only: cut after the last newline that fits. */
	while (n && log->ring[(log->tail + n - 1) % VM_LOG_RING_BYTES] != '\n')
		n--;
	for (size_t i = 0; i < n; i++)
		out[i] = log->ring[(log->tail + i) % VM_LOG_RING_BYTES];
	log->tail += n;
	spin_unlock_irqrestore(&log->lock, flags);
	return n;
}

uint64_t vm_log_take_lost(struct vm_log *log)
{
	uint64_t flags = spin_lock_irqsave(&log->lock);
	uint64_t lost = log->lost_lines;
	log->lost_lines = 0;
	spin_unlock_irqrestore(&log->lock, flags);
	return lost;
}

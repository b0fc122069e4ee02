#include <lib/log.h>

#include <lib/printf.h>
#include <lib/spinlock.h>
#include <lib/string.h>

/* Power of two. Its one reader, the status screen, shows its last 8 KiB
 * (core/screen.c LOG_HISTORY_BYTES): a larger ring would be image space
 * nothing reads. */
#define LOG_RING_SIZE 8192
#define LOG_MAX_SINKS 4
#define LOG_LINE_MAX 512

static char log_ring[LOG_RING_SIZE];
static uint64_t log_ring_head; /* total bytes ever written; [m] log_lock */
static log_sink_fn log_sinks[LOG_MAX_SINKS];
static int log_sink_count;
static enum log_level log_level = LOG_INFO;
static struct spinlock log_lock = SPINLOCK_INIT;

void log_set_level(enum log_level level)
{
	log_level = level;
}

enum log_level log_get_level(void)
{
	return log_level;
}

int log_add_sink(log_sink_fn sink)
{
	if (log_sink_count == LOG_MAX_SINKS)
		return -1;
	log_sinks[log_sink_count++] = sink;
	return 0;
}

static void log_emit(const char *text, size_t length)
{
	for (size_t i = 0; i < length; i++)
		log_ring[(log_ring_head + i) & (LOG_RING_SIZE - 1)] = text[i];
	log_ring_head += length;
	for (int i = 0; i < log_sink_count; i++)
		log_sinks[i](text, length);
}

void log_vprintf(enum log_level level, const char *fmt, va_list ap)
{
	char line[LOG_LINE_MAX];

	if (level > log_level)
		return;
	int n = vsnprintf(line, sizeof(line), fmt, ap);
	size_t length = n < 0 ? 0 : (size_t)n >= sizeof(line) ? sizeof(line) - 1 : (size_t)n;
	uint64_t flags = spin_lock_irqsave(&log_lock);
	log_emit(line, length);
	spin_unlock_irqrestore(&log_lock, flags);
}

void log_printf(enum log_level level, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vprintf(level, fmt, ap);
	va_end(ap);
}

void log_emergency(const char *fmt, ...)
{
	char line[LOG_LINE_MAX];
	va_list ap;

	va_start(ap, fmt);
	int n = vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	size_t length = n < 0 ? 0 : (size_t)n >= sizeof(line) ? sizeof(line) - 1 : (size_t)n;
	log_emit(line, length);
}

size_t log_ring_read(char *out, size_t size)
{
	if (!size)
		return 0;
	uint64_t flags = spin_lock_irqsave(&log_lock);
	uint64_t available = log_ring_head < LOG_RING_SIZE ? log_ring_head : LOG_RING_SIZE;
	size_t n = available < size - 1 ? (size_t)available : size - 1;
	uint64_t start = log_ring_head - n;
	for (size_t i = 0; i < n; i++)
		out[i] = log_ring[(start + i) & (LOG_RING_SIZE - 1)];
	out[n] = '\0';
	spin_unlock_irqrestore(&log_lock, flags);
	return n;
}

/* Small freestanding helpers: CRC32C, a printf subset for log lines, bitmaps. */
#include "internal.h"

/* Slicing-by-8 tables: eight bytes per step, about 6x the byte-wise loop,
 * in plain C (the vmkernel runs without SSE, so no crc32 instruction). */
static uint32_t crc32c_table[8][256];
static bool crc32c_ready;

static void crc32c_init(void)
{
	for (uint32_t i = 0; i < 256; i++) {
		uint32_t c = i;
		for (int k = 0; k < 8; k++)
			c = (c & 1) ? (c >> 1) ^ 0x82f63b78u : c >> 1;
		crc32c_table[0][i] = c;
	}
	for (uint32_t i = 0; i < 256; i++)
		for (int t = 1; t < 8; t++)
			crc32c_table[t][i] = (crc32c_table[t - 1][i] >> 8) ^ crc32c_table[0][crc32c_table[t - 1][i] & 0xff];
	crc32c_ready = true;
}

/* CRC32C (Castagnoli). Start with crc = 0; chain by passing the result. */
uint32_t vmfs_crc32c(uint32_t crc, const void *buf, size_t len)
{
	if (!crc32c_ready)
		crc32c_init();
	const uint8_t *p = buf;
	crc = ~crc;
	while (len >= 8) {
		uint32_t lo = crc ^ ((uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24);
		uint32_t hi = (uint32_t)p[4] | (uint32_t)p[5] << 8 | (uint32_t)p[6] << 16 | (uint32_t)p[7] << 24;
		crc = crc32c_table[7][lo & 0xff] ^ crc32c_table[6][(lo >> 8) & 0xff] ^
		      crc32c_table[5][(lo >> 16) & 0xff] ^ crc32c_table[4][lo >> 24] ^ crc32c_table[3][hi & 0xff] ^
		      crc32c_table[2][(hi >> 8) & 0xff] ^ crc32c_table[1][(hi >> 16) & 0xff] ^ crc32c_table[0][hi >> 24];
		p += 8;
		len -= 8;
	}
	while (len--)
		crc = crc32c_table[0][(crc ^ *p++) & 0xff] ^ (crc >> 8);
	return ~crc;
}

uint32_t vmfs_name_hash(const char *name, size_t len)
{
	return vmfs_crc32c(0, name, len);
}

bool vmfs_bit_test(const uint8_t *map, uint32_t bit)
{
	return (map[bit / 8] >> (bit % 8)) & 1;
}

void vmfs_bit_set(uint8_t *map, uint32_t bit, bool value)
{
	if (value)
		map[bit / 8] |= (uint8_t)(1u << (bit % 8));
	else
		map[bit / 8] &= (uint8_t)~(1u << (bit % 8));
}

void *vmfs_zalloc(const struct vmfs_os *os, size_t size)
{
	void *p = os->alloc(os->ctx, size);
	if (p)
		memset(p, 0, size);
	return p;
}

struct out_buf {
	char *p;
	size_t size;
	size_t len;
};

static void out_char(struct out_buf *o, char c)
{
	if (o->len + 1 < o->size)
		o->p[o->len] = c;
	o->len++;
}

static void out_number(struct out_buf *o, uint64_t v, unsigned base, bool negative, int width, char pad)
{
	char digits[24];
	int n = 0;
	do {
		unsigned d = (unsigned)(v % base);
		digits[n++] = (char)(d < 10 ? '0' + d : 'a' + d - 10);
		v /= base;
	} while (v);
	if (negative)
		digits[n++] = '-';
	for (int i = n; i < width; i++)
		out_char(o, pad);
	while (n)
		out_char(o, digits[--n]);
}

/* %s %.*s %c %d %i %u %x with l/ll/z and a zero-padded width: what the log needs. */
int vmfs_vformat(char *out, size_t size, const char *fmt, va_list ap)
{
	struct out_buf o = { out, size, 0 };
	for (; *fmt; fmt++) {
		if (*fmt != '%') {
			out_char(&o, *fmt);
			continue;
		}
		fmt++;
		char pad = ' ';
		int width = 0;
		if (*fmt == '0') {
			pad = '0';
			fmt++;
		}
		while (*fmt >= '0' && *fmt <= '9')
			width = width * 10 + (*fmt++ - '0');
		int precision = -1;
		if (fmt[0] == '.' && fmt[1] == '*') {
			precision = va_arg(ap, int);
			fmt += 2;
		}
		int longs = 0;
		while (*fmt == 'l' || *fmt == 'z') {
			longs = *fmt == 'z' ? 2 : longs + 1;
			fmt++;
		}
		switch (*fmt) {
		case 's': {
			const char *s = va_arg(ap, const char *);
			if (!s)
				s = "(null)";
			size_t len = 0;
			while (s[len] && (precision < 0 || len < (size_t)precision))
				len++;
			for (size_t i = len; i < (size_t)width; i++)
				out_char(&o, ' ');
			for (size_t i = 0; i < len; i++)
				out_char(&o, s[i]);
			break;
		}
		case 'c':
			out_char(&o, (char)va_arg(ap, int));
			break;
		case 'd':
		case 'i': {
			int64_t v = longs >= 2 ? va_arg(ap, long long) : longs == 1 ? va_arg(ap, long) : va_arg(ap, int);
			out_number(&o, v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v, 10, v < 0, width, pad);
			break;
		}
		case 'u':
		case 'x': {
			uint64_t v = longs >= 2 ? va_arg(ap, unsigned long long)
				     : longs == 1 ? va_arg(ap, unsigned long) : va_arg(ap, unsigned int);
			out_number(&o, v, *fmt == 'x' ? 16 : 10, false, width, pad);
			break;
		}
		case '%':
			out_char(&o, '%');
			break;
		default:
			out_char(&o, '?');
			if (!*fmt)
				fmt--;
			break;
		}
	}
	if (size)
		out[o.len < size ? o.len : size - 1] = '\0';
	return (int)o.len;
}

int vmfs_format(char *out, size_t size, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = vmfs_vformat(out, size, fmt, ap);
	va_end(ap);
	return n;
}

void vmfs_logf(const struct vmfs_os *os, enum vmfs_log_level level, const char *fmt, ...)
{
	char line[320];
	va_list ap;
	va_start(ap, fmt);
	vmfs_vformat(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (os->log)
		os->log(os->ctx, level, line);
}

const char *vmfs_strerror(int err)
{
	switch (err < 0 ? -err : err) {
	case 0: return "success";
	case VMFS_EPERM: return "operation not permitted";
	case VMFS_ENOENT: return "no such file or directory";
	case VMFS_EIO: return "input/output error";
	case VMFS_ENOMEM: return "out of memory";
	case VMFS_EBUSY: return "locked by another host";
	case VMFS_EEXIST: return "already exists";
	case VMFS_EXDEV: return "cross-device";
	case VMFS_ENOTDIR: return "not a directory";
	case VMFS_EISDIR: return "is a directory";
	case VMFS_EINVAL: return "invalid argument";
	case VMFS_EFBIG: return "file too large";
	case VMFS_ENOSPC: return "no space left on the volume";
	case VMFS_EROFS: return "read-only";
	case VMFS_EMLINK: return "too many references";
	case VMFS_ENAMETOOLONG: return "name too long";
	case VMFS_ENOTEMPTY: return "directory not empty";
	case VMFS_EBADMSG: return "damaged metadata";
	case VMFS_EOPNOTSUPP: return "not supported";
	case VMFS_ESTALE: return "heartbeat lost: volume fenced";
	case VMFS_EMISCOMPARE: return "compare-and-write mismatch";
	default: return "unknown error";
	}
}

#include <lib/printf.h>

#include <stdbool.h>
#include <stdint.h>

struct out {
	char *buf;
	size_t size;
	size_t len; /* characters produced, even past size */
};

static void put(struct out *o, char c)
{
	if (o->len + 1 < o->size)
		o->buf[o->len] = c;
	o->len++;
}

static void put_padding(struct out *o, char c, int count)
{
	while (count-- > 0)
		put(o, c);
}

struct spec {
	bool left;
	bool zero;
	bool plus;
	bool space;
	bool alt;
	bool pointer; /* %p: 0x even for zero */
	int width;
	int precision; /* -1: none */
};

static void put_number(struct out *o, uint64_t value, bool negative, bool is_signed, unsigned base,
		       bool upper, const struct spec *sp)
{
	const char *digits = upper ? "0123456789ABCDEF" : "0123456789abcdef";
	char tmp[24];
	int n = 0;

	do {
		tmp[n++] = digits[value % base];
		value /= base;
	} while (value);
	if (sp->precision == 0 && n == 1 && tmp[0] == '0')
		n = 0;

	/* '+' and ' ' apply to signed conversions only (C11 7.21.6.1). */
	char sign = negative ? '-' : !is_signed ? 0 : sp->plus ? '+' : sp->space ? ' ' : 0;
	/* '#': 0x only for a non-zero value; octal gets a leading zero digit. */
	const char *prefix = (sp->alt && base == 16 && (sp->pointer || !(n == 0 || (n == 1 && tmp[0] == '0')))) ? (upper ? "0X" : "0x") : "";
	int prefix_len = (int)(sizeof("0x") - 1) * (prefix[0] != 0);
	int zeros = sp->precision > n ? sp->precision - n : 0;
	if (sp->alt && base == 8 && !zeros && (n == 0 || tmp[n - 1] != '0'))
		zeros = 1;
	int total = n + zeros + (sign != 0) + prefix_len;
	int pad = sp->width > total ? sp->width - total : 0;

	if (sp->zero && !sp->left && sp->precision < 0) {
		zeros += pad;
		pad = 0;
	}
	if (!sp->left)
		put_padding(o, ' ', pad);
	if (sign)
		put(o, sign);
	for (const char *p = prefix; *p; p++)
		put(o, *p);
	put_padding(o, '0', zeros);
	while (n)
		put(o, tmp[--n]);
	if (sp->left)
		put_padding(o, ' ', pad);
}

int vsnprintf(char *buf, size_t size, const char *fmt, va_list ap)
{
	struct out o = { buf, size, 0 };

	for (; *fmt; fmt++) {
		if (*fmt != '%') {
			put(&o, *fmt);
			continue;
		}
		struct spec sp = { .precision = -1 };
		for (;; fmt++) {
			char f = fmt[1];
			if (f == '-')
				sp.left = true;
			else if (f == '0')
				sp.zero = true;
			else if (f == '+')
				sp.plus = true;
			else if (f == ' ')
				sp.space = true;
			else if (f == '#')
				sp.alt = true;
			else
				break;
		}
		fmt++;
		if (*fmt == '*') {
			sp.width = va_arg(ap, int);
			if (sp.width < 0) {
				sp.left = true;
				sp.width = -sp.width;
			}
			fmt++;
		}
		while (*fmt >= '0' && *fmt <= '9')
			sp.width = sp.width * 10 + (*fmt++ - '0');
		if (*fmt == '.') {
			fmt++;
			sp.precision = 0;
			if (*fmt == '*') {
				sp.precision = va_arg(ap, int);
				fmt++;
			}
			while (*fmt >= '0' && *fmt <= '9')
				sp.precision = sp.precision * 10 + (*fmt++ - '0');
		}
		int length = 0; /* -2 hh, -1 h, 0 int, 1 long, 2 long long */
		for (;; fmt++) {
			if (*fmt == 'h')
				length--;
			else if (*fmt == 'l')
				length++;
			else if (*fmt == 'z' || *fmt == 't' || *fmt == 'j')
				length = 2;
			else
				break;
		}
		char conv = *fmt;
		if (!conv)
			break;
		switch (conv) {
		case 'd':
		case 'i': {
			int64_t v = length >= 2 ? va_arg(ap, long long)
				    : length == 1 ? va_arg(ap, long)
						  : va_arg(ap, int);
			/* Sign-extend the low 16 or 8 bits: what va_arg promoted. */
			if (length == -1)
				v = ((v & 0xffff) ^ 0x8000) - 0x8000;
			else if (length <= -2)
				v = ((v & 0xff) ^ 0x80) - 0x80;
			uint64_t mag = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
			put_number(&o, mag, v < 0, true, 10, false, &sp);
			break;
		}
		case 'u':
		case 'x':
		case 'X':
		case 'o': {
			uint64_t v = length >= 2 ? va_arg(ap, unsigned long long)
				     : length == 1 ? va_arg(ap, unsigned long)
						   : va_arg(ap, unsigned int);
			if (length == -1)
				v = (unsigned short)v;
			else if (length <= -2)
				v = (unsigned char)v;
			unsigned base = conv == 'u' ? 10 : conv == 'o' ? 8 : 16;
			put_number(&o, v, false, false, base, conv == 'X', &sp);
			break;
		}
		case 'p': {
			struct spec ps = { .alt = true, .pointer = true, .precision = -1, .width = sp.width, .left = sp.left };
			put_number(&o, (uintptr_t)va_arg(ap, void *), false, false, 16, false, &ps);
			break;
		}
		case 'c': {
			put_padding(&o, ' ', sp.left ? 0 : sp.width - 1);
			put(&o, (char)va_arg(ap, int));
			put_padding(&o, ' ', sp.left ? sp.width - 1 : 0);
			break;
		}
		case 's': {
			const char *s = va_arg(ap, const char *);
			if (!s)
				s = "(null)";
			int n = 0;
			while (s[n] && (sp.precision < 0 || n < sp.precision))
				n++;
			if (!sp.left)
				put_padding(&o, ' ', sp.width - n);
			for (int i = 0; i < n; i++)
				put(&o, s[i]);
			if (sp.left)
				put_padding(&o, ' ', sp.width - n);
			break;
		}
		case '%':
			put(&o, '%');
			break;
		default:
			put(&o, '%');
			put(&o, conv);
			break;
		}
	}
	if (size)
		buf[o.len < size ? o.len : size - 1] = '\0';
	return (int)o.len;
}

int snprintf(char *buf, size_t size, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	int n = vsnprintf(buf, size, fmt, ap);
	va_end(ap);
	return n;
}

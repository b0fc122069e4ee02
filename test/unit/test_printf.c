/*
 * The vmkernel's freestanding printf (vmkernel/lib/printf.c), compared with
 * the host libc's for the same format and arguments. printf.c defines
 * vsnprintf/snprintf, which would clash with libc's: it is included here
 * under other names instead of being linked.
 */
#include "unit.h"

#include <limits.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define vsnprintf kapsel_vsnprintf
#define snprintf kapsel_snprintf
#include "../../vmkernel/lib/printf.c"
#undef vsnprintf
#undef snprintf

/*
 * Formats with both implementations into buffers of buffer_size bytes and
 * fails the test on any difference in text or return value. Deliberately
 * not a format-checked function: some cases pass flags gcc would warn about.
 */
static void like_libc_at(int line, const char *fmt, ...)
{
	char mine[512], libc[512];
	va_list ap, ap_libc;

	memset(mine, 0x5a, sizeof(mine));
	va_start(ap, fmt);
	va_copy(ap_libc, ap);
	int n_mine = kapsel_vsnprintf(mine, sizeof(mine), fmt, ap);
	int n_libc = vsnprintf(libc, sizeof(libc), fmt, ap_libc);
	va_end(ap_libc);
	va_end(ap);
	if (n_mine != n_libc || strcmp(mine, libc) != 0) {
		fprintf(stderr, "%s:%d: CHECK failed: format \"%s\": kapsel \"%s\" (%d), libc \"%s\" (%d)\n",
			__FILE__, line, fmt, mine, n_mine, libc, n_libc);
		unit_current_failed = 1;
	}
}
#define LIKE_LIBC(...) like_libc_at(__LINE__, __VA_ARGS__)

/* Formats with the vmkernel's printf only; returns the text. */
static const char *kapsel_format(char *buf, size_t size, int *length, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	*length = kapsel_vsnprintf(buf, size, fmt, ap);
	va_end(ap);
	return buf;
}

UNIT_TEST(signed_decimal)
{
	LIKE_LIBC("%d", 0);
	LIKE_LIBC("%d", 1);
	LIKE_LIBC("%d", -1);
	LIKE_LIBC("%d|%i", INT_MAX, INT_MIN);
	LIKE_LIBC("%ld", LONG_MIN);
	LIKE_LIBC("%lld", LLONG_MAX);
	LIKE_LIBC("%lld", (long long)INT64_MIN);
	LIKE_LIBC("%zd", (ssize_t)-12345);
	LIKE_LIBC("%jd|%td", (intmax_t)INT64_MIN, (ptrdiff_t)-7);
	LIKE_LIBC("a%db%dc", 12, -34);
}

UNIT_TEST(unsigned_hex_and_octal)
{
	LIKE_LIBC("%u %x %X %o", 0u, 0u, 0u, 0u);
	LIKE_LIBC("%u", UINT_MAX);
	LIKE_LIBC("%x|%X", 0xdeadbeefu, 0xdeadbeefu);
	LIKE_LIBC("%o", 0777u);
	LIKE_LIBC("%lx", ULONG_MAX);
	LIKE_LIBC("%llo", ULLONG_MAX);
	LIKE_LIBC("%llu", (unsigned long long)UINT64_MAX);
	LIKE_LIBC("%zu|%zx", SIZE_MAX, (size_t)0xabc);
	LIKE_LIBC("%016lx", 0xffffffff80200000ul);
	LIKE_LIBC("%04lx", 0x3ful);
}

UNIT_TEST(width_and_padding)
{
	LIKE_LIBC("[%5d]", 42);
	LIKE_LIBC("[%-5d]", 42);
	LIKE_LIBC("[%05d]", 42);
	LIKE_LIBC("[%05d]", -42);
	LIKE_LIBC("[%-05d]", -42);
	LIKE_LIBC("[%1d]", 12345);
	LIKE_LIBC("[%*d]", 6, 7);
	LIKE_LIBC("[%*d]", -6, 7);
	LIKE_LIBC("[%08x]", 0xbeefu);
	LIKE_LIBC("[%10s][%-10s]", "left", "right");
	LIKE_LIBC("[%2s]", "longer");
	LIKE_LIBC("[%5c][%-5c]", 'a', 'b');
	LIKE_LIBC("[%-12s]", "vmkernel");
	LIKE_LIBC("[%03lu]", 7ul);
}

UNIT_TEST(precision)
{
	LIKE_LIBC("[%.3d]", 7);
	LIKE_LIBC("[%.3d]", -7);
	LIKE_LIBC("[%.0d]", 0);
	LIKE_LIBC("[%.0x]", 0u);
	LIKE_LIBC("[%.5x]", 0xabu);
	LIKE_LIBC("[%8.3d]", 5);
	LIKE_LIBC("[%-8.3d]", -5);
	/* '0' is ignored when a precision is given. */
	LIKE_LIBC("[%08.3d]", 5);
	LIKE_LIBC("[%.3s]", "abcdef");
	LIKE_LIBC("[%.0s]", "abcdef");
	LIKE_LIBC("[%.10s]", "abc");
	LIKE_LIBC("[%.*s]", 2, "abcdef");
	/* A negative precision through '*' means none. */
	LIKE_LIBC("[%.*s]", -1, "abcdef");
	LIKE_LIBC("[%.*d]", -3, 42);
	LIKE_LIBC("[%*.*s]", 6, 2, "abcdef");
	LIKE_LIBC("[%.20llu]", 1ull);
}

UNIT_TEST(sign_flags_on_signed_conversions)
{
	LIKE_LIBC("[%+d][%+d][%+d]", 5, -5, 0);
	LIKE_LIBC("[% d][% d]", 5, -5);
	LIKE_LIBC("[%+ d]", 5); /* '+' wins over ' ' */
	LIKE_LIBC("[%+05d][% 05d]", 5, 5);
	LIKE_LIBC("[%+.0d]", 0);
	LIKE_LIBC("[%+lld]", (long long)INT64_MIN);
	LIKE_LIBC("[%-+6d]", 3);
}

UNIT_TEST(alternate_form_hex)
{
	LIKE_LIBC("[%#x][%#X]", 255u, 255u);
	LIKE_LIBC("[%#010x]", 255u);
	LIKE_LIBC("[%-#10x]", 255u);
	LIKE_LIBC("[%#lx]", ULONG_MAX);
	LIKE_LIBC("[%#.4x]", 0x1u);
}

UNIT_TEST(length_modifiers_truncate_like_c)
{
	LIKE_LIBC("%hhd", 200);
	LIKE_LIBC("%hhu", 300);
	LIKE_LIBC("%hhx", -1);
	LIKE_LIBC("%hd", 70000);
	LIKE_LIBC("%hu", 70000);
	LIKE_LIBC("%hx", -1);
	LIKE_LIBC("%hd", -32768);
	LIKE_LIBC("%ld|%lu", -1L, 1ul << 63);
	LIKE_LIBC("%lld|%llx", -2LL, 1ull << 63);
}

UNIT_TEST(strings_characters_and_percent)
{
	LIKE_LIBC("%s", "");
	LIKE_LIBC("%s|%s", "hello", "world");
	LIKE_LIBC("%s", (const char *)NULL);
	LIKE_LIBC("[%10s]", (const char *)NULL);
	LIKE_LIBC("%c%c%c", 'K', 'v', 'm');
	LIKE_LIBC("100%%");
	LIKE_LIBC("%%d%d%%", 3);
	LIKE_LIBC("no conversions at all");
	LIKE_LIBC("");
}

UNIT_TEST(pointers)
{
	int local;

	LIKE_LIBC("%p", (void *)&local);
	LIKE_LIBC("%p", (void *)0xffffffff80200000ul);
	LIKE_LIBC("%p", (void *)1);
	/* The vmkernel spells a null pointer as an address (libc: "(nil)"). */
	char buf[32];
	int length;
	CHECK_STR(kapsel_format(buf, sizeof(buf), &length, "%p", (void *)0), "0x0");
	CHECK_EQ(length, 3);
}

UNIT_TEST(flag_width_precision_matrix)
{
	static const char *const flag_sets[] = { "",   "-",  "0",  "+",  " ",  "#",  "-0",
						 "+ ", "#0", "-#", "+0", " 0", "-+", "0- " };
	static const char *const widths[] = { "", "1", "7", "23" };
	static const char *const precisions[] = { "", ".", ".0", ".1", ".3", ".12" };
	static const char conversions[] = "diuxXo";
	static const int values[] = { 0, 1, -1, 8, 42, 255, -4096, INT_MIN, INT_MAX };
	char fmt[32];
	int checked = 0;

	for (size_t f = 0; f < sizeof(flag_sets) / sizeof(flag_sets[0]); f++)
		for (size_t w = 0; w < sizeof(widths) / sizeof(widths[0]); w++)
			for (size_t p = 0; p < sizeof(precisions) / sizeof(precisions[0]); p++)
				for (size_t c = 0; c < sizeof(conversions) - 1; c++)
					for (size_t v = 0; v < sizeof(values) / sizeof(values[0]); v++) {
						sprintf(fmt, "%%%s%s%s%c", flag_sets[f], widths[w],
							precisions[p], conversions[c]);
						LIKE_LIBC(fmt, values[v]);
						checked++;
					}
	/* The same matrix at 64 bits, at the extremes. */
	static const long long wide[] = { 0, -1, LLONG_MIN, LLONG_MAX, 1ll << 40 };
	for (size_t f = 0; f < sizeof(flag_sets) / sizeof(flag_sets[0]); f++)
		for (size_t w = 0; w < sizeof(widths) / sizeof(widths[0]); w++)
			for (size_t c = 0; c < sizeof(conversions) - 1; c++)
				for (size_t v = 0; v < sizeof(wide) / sizeof(wide[0]); v++) {
					sprintf(fmt, "%%%s%sll%c", flag_sets[f], widths[w], conversions[c]);
					LIKE_LIBC(fmt, wide[v]);
					checked++;
				}
	CHECK(checked > 10000);
}

/* Was a bug: C applies '+' and ' ' to signed conversions only; the vmkernel's
 * printf also prefixes unsigned ones ("%+u" of 5 gives "+5", "% x" " 5"). */
UNIT_TEST(plus_and_space_flags_apply_to_signed_conversions_only)
{
	LIKE_LIBC("[%+u]", 5u);
	LIKE_LIBC("[% x]", 5u);
	LIKE_LIBC("[%+o]", 8u);
	LIKE_LIBC("[%+.0u]", 0u);
}

/* Was a bug: '#' adds nothing to octal (C: the first digit is a 0, "%#o" of 8 is
 * "010"), and adds "0x" to a zero (C: "%#x" of 0 is "0", "%#.0x" is ""). */
UNIT_TEST(alternate_form_octal_and_zero)
{
	LIKE_LIBC("[%#o]", 8u);
	LIKE_LIBC("[%#o]", 0u);
	LIKE_LIBC("[%#x]", 0u);
	LIKE_LIBC("[%#.0x]", 0u);
}

/* Was a bug: %p drops the width and '-' it was given ("%18p" is not padded),
 * though printf.h promises width for every conversion. */
UNIT_TEST(pointer_honours_width)
{
	LIKE_LIBC("[%20p]", (void *)0x1234);
	LIKE_LIBC("[%-20p]", (void *)0x1234);
}

UNIT_TEST(truncation_at_every_buffer_size)
{
	static const char fmt[] = "%s-%08x-%d-%c-%5s|";
	char full[128];
	int length = sprintf(full, fmt, "kapsel", 0xc0ffeeu, -1234, 'z', "ab");

	for (int size = 0; size <= length + 2; size++) {
		/* Exactly size bytes on the heap: ASan catches a write past them. */
		char *mine = size ? malloc((size_t)size) : NULL;
		char libc[128];
		int n = kapsel_snprintf(mine, (size_t)size, fmt, "kapsel", 0xc0ffeeu, -1234, 'z', "ab");
		int n_libc = snprintf(libc, (size_t)size, fmt, "kapsel", 0xc0ffeeu, -1234, 'z', "ab");
		CHECK_EQ(n, length);
		CHECK_EQ(n_libc, length);
		if (size) {
			CHECK_EQ(strlen(mine), (size_t)(size - 1 < length ? size - 1 : length));
			CHECK_STR(mine, libc);
		}
		free(mine);
	}
}

UNIT_TEST(size_zero_writes_nothing_and_counts_everything)
{
	char canary[4] = { 'a', 'b', 'c', 'd' };
	int length;

	CHECK_EQ(kapsel_snprintf(NULL, 0, "%d and %s", 123456, "more"), 15);
	kapsel_format(canary, 0, &length, "%s", "overwrite?");
	CHECK_EQ(length, 10);
	CHECK(memcmp(canary, "abcd", 4) == 0);
	/* Size 1: only the terminator. */
	kapsel_format(canary, 1, &length, "%s", "xyz");
	CHECK_EQ(length, 3);
	CHECK_EQ(canary[0], '\0');
	CHECK_EQ(canary[1], 'b');
}

UNIT_TEST(return_value_is_the_full_length)
{
	char small[8];
	int length;

	kapsel_format(small, sizeof(small), &length, "%500d", 1);
	CHECK_EQ(length, 500);
	CHECK_STR(small, "       ");
	kapsel_format(small, sizeof(small), &length, "%-300s|%llu", "x", 18446744073709551615ull);
	CHECK_EQ(length, 300 + 1 + 20);
	CHECK_STR(small, "x      ");
}

/* Not C's business (undefined there): the vmkernel's own promises for
 * broken formats. Nothing is read past the format's terminator. */
UNIT_TEST(malformed_formats_end_cleanly)
{
	static const struct {
		const char *fmt;
		const char *want;
	} cases[] = {
		{ "abc%", "abc" }, { "abc%-", "abc" }, { "x%5", "x" },   { "x%.", "x" },
		{ "x%l", "x" },    { "x%hh", "x" },    { "%q!", "%q!" }, { "a%yb", "a%yb" },
	};
	char buf[32];
	int length;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		size_t n = strlen(cases[i].fmt) + 1;
		char *fmt = malloc(n); /* exact size: an over-read is caught */
		memcpy(fmt, cases[i].fmt, n);
		CHECK_STR(kapsel_format(buf, sizeof(buf), &length, fmt, 0), cases[i].want);
		CHECK_EQ(length, strlen(cases[i].want));
		free(fmt);
	}
}

UNIT_MAIN()

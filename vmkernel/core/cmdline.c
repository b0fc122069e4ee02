#include <core/cmdline.h>

#include <lib/log.h>
#include <lib/printf.h>
#include <lib/string.h>

#include <stddef.h>

enum option_kind { OPTION_FLAG, OPTION_UINT, OPTION_CHOICE, OPTION_STRING };

struct option_spec {
	const char *name;
	enum option_kind kind;
	const char *const *choices; /* OPTION_CHOICE: NULL-terminated, value = index */
	size_t offset;              /* into struct vmkernel_options */
	size_t size;
};

static const char *const log_level_choices[] = { "error", "warn", "info", "debug", NULL };
static const char *const fault_choices[] = { "none", "ud", "pf", "gp", "de", "bp", NULL };

#define FIELD(f) offsetof(struct vmkernel_options, f), sizeof(((struct vmkernel_options *)0)->f)

static const struct option_spec option_table[] = {
	{ "loglevel", OPTION_CHOICE, log_level_choices, FIELD(log_level) },
	{ "poweroff", OPTION_FLAG, NULL, FIELD(power_off) },
	{ "reboot", OPTION_FLAG, NULL, FIELD(reboot) },
	{ "debug_exit", OPTION_FLAG, NULL, FIELD(debug_exit) },
	{ "nosmp", OPTION_FLAG, NULL, FIELD(no_smp) },
	{ "maxcpus", OPTION_UINT, NULL, FIELD(max_cpus) },
	{ "nox2apic", OPTION_FLAG, NULL, FIELD(no_x2apic) },
	{ "noscreen", OPTION_FLAG, NULL, FIELD(no_screen) },
	{ "test_fault", OPTION_CHOICE, fault_choices, FIELD(test_fault) },
	{ "vmfs.format", OPTION_STRING, NULL, FIELD(vmfs_format) },
	{ "vmfs.selftest", OPTION_FLAG, NULL, FIELD(vmfs_selftest) },
	{ "blockdev.selftest", OPTION_UINT, NULL, FIELD(blockdev_selftest) },
};

static void store(void *field, size_t size, uint64_t value)
{
	switch (size) {
	case 1:
		*(uint8_t *)field = (uint8_t)value;
		break;
	case 4:
		*(uint32_t *)field = (uint32_t)value;
		break;
	default:
		*(uint64_t *)field = value;
		break;
	}
}

static bool parse_uint(const char *s, size_t n, uint64_t *out)
{
	uint64_t v = 0;

	if (!n)
		return false;
	for (size_t i = 0; i < n; i++) {
		uint64_t digit = (uint64_t)(s[i] - '0');
		if (s[i] < '0' || s[i] > '9' || v > (UINT32_MAX - digit) / 10)
			return false;
		v = v * 10 + digit;
	}
	*out = v;
	return true;
}

static int apply(const char *word, size_t length, struct vmkernel_options *out,
		 void (*report)(const char *))
{
	char message[160];
	const char *eq = memchr(word, '=', length);
	size_t name_len = eq ? (size_t)(eq - word) : length;
	const char *value = eq ? eq + 1 : NULL;
	size_t value_len = eq ? length - name_len - 1 : 0;

	for (size_t i = 0; i < sizeof(option_table) / sizeof(option_table[0]); i++) {
		const struct option_spec *o = &option_table[i];
		if (strlen(o->name) != name_len || strncmp(o->name, word, name_len) != 0)
			continue;
		void *field = (char *)out + o->offset;
		uint64_t v = 0;
		bool ok = false;
		if (o->kind == OPTION_FLAG) {
			ok = !value || (value_len == 1 && (value[0] == '0' || value[0] == '1'));
			v = !value || value[0] == '1';
		} else if (o->kind == OPTION_UINT) {
			ok = value && parse_uint(value, value_len, &v);
		} else if (o->kind == OPTION_STRING) {
			/* A char array field: a non-empty value that fits, terminated. */
			ok = value && value_len && value_len < o->size;
			if (ok) {
				memcpy(field, value, value_len);
				((char *)field)[value_len] = 0;
				return 0;
			}
		} else {
			for (uint64_t c = 0; value && o->choices[c]; c++)
				if (strlen(o->choices[c]) == value_len &&
				    strncmp(o->choices[c], value, value_len) == 0) {
					v = c;
					ok = true;
				}
		}
		if (!ok) {
			snprintf(message, sizeof(message), "bad value for option '%.*s' ignored",
				 (int)length, word);
			report(message);
			return 1;
		}
		store(field, o->size, v);
		return 0;
	}
	snprintf(message, sizeof(message), "unknown option '%.*s' ignored", (int)name_len, word);
	report(message);
	return 1;
}

/* Multiboot loaders put the kernel's own path first: a word with a '/'
 * before any '='. No option name contains '/'. */
static bool is_kernel_path(const char *word, size_t length)
{
	for (size_t i = 0; i < length && word[i] != '='; i++)
		if (word[i] == '/')
			return true;
	return false;
}

int cmdline_parse(const char *cmdline, struct vmkernel_options *out, void (*report)(const char *))
{
	int problems = 0;

	memset(out, 0, sizeof(*out));
	out->log_level = LOG_INFO;
	if (!cmdline)
		return 0;
	bool first_word = true;
	for (const char *p = cmdline; *p;) {
		while (*p == ' ' || *p == '\t')
			p++;
		const char *start = p;
		while (*p && *p != ' ' && *p != '\t')
			p++;
		size_t length = (size_t)(p - start);
		if (!length)
			break;
		if (first_word && is_kernel_path(start, length)) {
			first_word = false;
			continue;
		}
		first_word = false;
		problems += apply(start, length, out, report);
	}
	return problems;
}

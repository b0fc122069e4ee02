/*
 * boot.cfg: one `key=value` per line; see main.c for the format. The parser
 * is strict on purpose: a hand-edited file on a USB stick with a typo must
 * stop the boot with the line number rather than boot something else.
 */
#include "boot_config.h"

static int is_blank(char c)
{
	return c == ' ' || c == '\t' || c == '\r';
}

/* Firmware file names are UCS-2; paths are converted byte for byte, so
 * only printable ASCII without blanks is allowed. */
static int is_path_char(char c)
{
	return c > ' ' && c < 0x7f;
}

static int fail(struct loader_config_error *error, unsigned int line, const char *message)
{
	error->line = line;
	error->message = message;
	return -1;
}

static size_t string_length(const char *s)
{
	size_t n = 0;

	while (s[n] != '\0')
		n++;
	return n;
}

static int key_is(const char *key, size_t key_length, const char *name)
{
	size_t i;

	if (key_length != string_length(name))
		return 0;
	for (i = 0; i < key_length; i++)
		if (key[i] != name[i])
			return 0;
	return 1;
}

/* Copies a command line; tabs become spaces, other control bytes are refused. */
static int copy_cmdline(char *dest, size_t capacity, const char *src, size_t length)
{
	size_t i;

	if (length >= capacity)
		return -1;
	for (i = 0; i < length; i++) {
		char c = src[i];

		if (c == '\t')
			c = ' ';
		else if ((unsigned char)c < ' ' || c == 0x7f)
			return -2;
		dest[i] = c;
	}
	dest[length] = '\0';
	return 0;
}

/* Copies a path as an absolute, backslash-separated volume path. */
static int copy_path(char *dest, const char *src, size_t length)
{
	size_t out = 0;
	size_t i;

	if (length == 0)
		return -1;
	if (src[0] != '/' && src[0] != '\\')
		dest[out++] = '\\';
	if (out + length >= LOADER_PATH_MAX)
		return -1;
	for (i = 0; i < length; i++) {
		if (!is_path_char(src[i]))
			return -2;
		dest[out++] = src[i] == '/' ? '\\' : src[i];
	}
	dest[out] = '\0';
	return 0;
}

static int parse_module(const char *value, size_t length, struct loader_module_config *module)
{
	size_t path_length = 0;
	size_t rest;
	int rc;

	while (path_length < length && !is_blank(value[path_length]))
		path_length++;
	rc = copy_path(module->path, value, path_length);
	if (rc == -1)
		return path_length == 0 ? -1 : -2;
	if (rc == -2)
		return -3;
	rest = path_length;
	while (rest < length && is_blank(value[rest]))
		rest++;
	rc = copy_cmdline(module->cmdline, sizeof(module->cmdline), value + rest, length - rest);
	if (rc == -1)
		return -4;
	if (rc == -2)
		return -5;
	return 0;
}

int loader_boot_config_parse(const char *text, size_t length, struct loader_boot_config *config,
			     struct loader_config_error *error)
{
	static const char module_errors[][48] = {
		"module= needs a path",
		"module path too long",
		"module path must be printable ASCII",
		"module command line too long (max 127 bytes)",
		"control character in module command line",
	};
	unsigned int line = 0;
	size_t pos = 0;
	int have_kernel = 0, have_cmdline = 0;

	config->kernel_path[0] = '\0';
	config->cmdline[0] = '\0';
	config->module_count = 0;

	/* Editors on some systems add a UTF-8 byte order mark. */
	if (length >= 3 && (unsigned char)text[0] == 0xef && (unsigned char)text[1] == 0xbb &&
	    (unsigned char)text[2] == 0xbf)
		pos = 3;

	while (pos < length) {
		size_t end = pos, begin, key_end, value_begin, value_end, i;

		line++;
		while (end < length && text[end] != '\n')
			end++;
		for (i = pos; i < end; i++)
			if (text[i] == '\0')
				return fail(error, line, "NUL byte in boot.cfg");

		begin = pos;
		pos = end < length ? end + 1 : end;
		while (begin < end && is_blank(text[begin]))
			begin++;
		while (end > begin && is_blank(text[end - 1]))
			end--;
		if (begin == end || text[begin] == '#')
			continue;

		key_end = begin;
		while (key_end < end && text[key_end] != '=')
			key_end++;
		if (key_end == end)
			return fail(error, line, "expected key=value");
		value_begin = key_end + 1;
		value_end = end;
		while (key_end > begin && is_blank(text[key_end - 1]))
			key_end--;
		while (value_begin < value_end && is_blank(text[value_begin]))
			value_begin++;

		if (key_is(text + begin, key_end - begin, "kernel")) {
			int rc;

			if (have_kernel)
				return fail(error, line, "kernel= given twice");
			have_kernel = 1;
			rc = copy_path(config->kernel_path, text + value_begin, value_end - value_begin);
			if (rc == -1)
				return fail(error, line, value_end == value_begin ?
							 "kernel= needs a path" : "kernel path too long");
			if (rc == -2)
				return fail(error, line, "kernel path must be printable ASCII without blanks");
		} else if (key_is(text + begin, key_end - begin, "cmdline")) {
			int rc;

			if (have_cmdline)
				return fail(error, line, "cmdline= given twice");
			have_cmdline = 1;
			rc = copy_cmdline(config->cmdline, sizeof(config->cmdline), text + value_begin,
					  value_end - value_begin);
			if (rc == -1)
				return fail(error, line, "cmdline too long (max 511 bytes)");
			if (rc == -2)
				return fail(error, line, "control character in cmdline");
		} else if (key_is(text + begin, key_end - begin, "module")) {
			int rc;

			if (config->module_count == BOOT_MAX_MODULES)
				return fail(error, line, "too many modules (max 16)");
			rc = parse_module(text + value_begin, value_end - value_begin,
					  &config->modules[config->module_count]);
			if (rc != 0)
				return fail(error, line, module_errors[-rc - 1]);
			config->module_count++;
		} else {
			return fail(error, line, "unknown key (expected kernel, cmdline or module)");
		}
	}

	if (!have_kernel) {
		const char *fallback = LOADER_DEFAULT_KERNEL_PATH;
		size_t i;

		for (i = 0; fallback[i] != '\0'; i++)
			config->kernel_path[i] = fallback[i];
		config->kernel_path[i] = '\0';
	}
	error->line = 0;
	error->message = 0;
	return 0;
}

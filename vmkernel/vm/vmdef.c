#include <vm/vmdef.h>

#include <lib/errno.h>
#include <lib/printf.h>
#include <lib/string.h>

#include <stdarg.h>

/* The text of one value, not NUL-terminated: it points into the input. */
struct text_span {
	const char *start;
	size_t length;
};

struct vmdef_parser {
	struct vm_definition *out;
	char *error;
	size_t error_size;
	unsigned line;
	unsigned index;            /* N of an indexed key (ethernetN.*); 0 otherwise */
};

enum vmdef_key {
	KEY_NAME,
	KEY_MEMSIZE,
	KEY_NUMVCPUS,
	KEY_KERNEL,
	KEY_INITRD,
	KEY_MODULE,
	KEY_CMDLINE,
	KEY_TESTDEV,
	KEY_ON_TRIPLE_FAULT,
	KEY_HW_VERSION,
	KEY_DISK,
	KEY_SHARES,
	KEY_RESERVATION,
	KEY_LIMIT,
	KEY_AFFINITY,
	KEY_ROLE,
	KEY_CONSOLE_RESTART,
	KEY_AUTOSTART,
	KEY_ETHERNET_PRESENT,
	KEY_ETHERNET_NETWORK,
	KEY_ETHERNET_ADDRESS,
	KEY_ETHERNET_VIRTUAL_DEV,
	KEY_SERIAL_PRESENT,
	KEY_SERIAL_FILE_TYPE,
	KEY_SERIAL_FILE_NAME,
	KEY_BOOT_ORDER,
	KEY_COUNT
};

/* The most instances an indexed key has (ethernet0..ethernet3). */
#define KEY_INDEXES_MAX VMDEF_MAX_NICS

typedef int (*vmdef_value_fn)(struct vmdef_parser *parser, struct text_span value);

struct vmdef_key_spec {
	const char *name;          /* lower case; '#' stands for the index of an indexed key */
	bool repeatable;
	vmdef_value_fn parse;
	unsigned indexes;          /* indexed keys: how many instances (0..indexes-1) */
};

__attribute__((format(printf, 2, 3)))
static int vmdef_fail(struct vmdef_parser *parser, const char *fmt, ...)
{
	if (parser->error && parser->error_size) {
		size_t used = 0;
		if (parser->line) {
			int n = snprintf(parser->error, parser->error_size, "line %u: ", parser->line);
			used = n < 0 ? 0 : (size_t)n < parser->error_size ? (size_t)n : parser->error_size - 1;
		}
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(parser->error + used, parser->error_size - used, fmt, ap);
		va_end(ap);
	}
	return -EINVAL;
}

static bool is_blank(char c)
{
	return c == ' ' || c == '\t' || c == '\r';
}

static char lower(char c)
{
	return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
}

static bool span_equals(struct text_span span, const char *word)
{
	size_t length = strlen(word);
	return span.length == length && !memcmp(span.start, word, length);
}

static bool span_equals_ignoring_case(struct text_span span, const char *word)
{
	if (span.length != strlen(word))
		return false;
	for (size_t i = 0; i < span.length; i++)
		if (lower(span.start[i]) != word[i])
			return false;
	return true;
}

/* Copies span into buffer (size bytes with the NUL) or fails naming key. */
static int copy_value(struct vmdef_parser *parser, const char *key, struct text_span value,
		      char *buffer, size_t size)
{
	if (value.length >= size)
		return vmdef_fail(parser, "%s is %zu characters long, more than %zu", key, value.length,
				  size - 1);
	memcpy(buffer, value.start, value.length);
	buffer[value.length] = '\0';
	return 0;
}

/* Decimal number in [min, max]; no sign, no suffix. */
static int parse_number(struct vmdef_parser *parser, const char *key, struct text_span value,
			uint32_t min, uint32_t max, uint32_t *out)
{
	uint64_t number = 0;

	if (!value.length)
		return vmdef_fail(parser, "%s needs a number", key);
	for (size_t i = 0; i < value.length; i++)
		if (value.start[i] < '0' || value.start[i] > '9')
			return vmdef_fail(parser, "%s '%.*s' is not a number", key, (int)value.length,
					  value.start);
	for (size_t i = 0; i < value.length && number <= max; i++)
		number = number * 10 + (uint64_t)(value.start[i] - '0'); /* stops before overflow */
	if (number < min || number > max)
		return vmdef_fail(parser, "%s '%.*s' is out of range %u..%u", key, (int)value.length,
				  value.start, min, max);
	*out = (uint32_t)number;
	return 0;
}

/* A boot module name: one word, no spaces. */
static int parse_module_name(struct vmdef_parser *parser, const char *key, struct text_span value,
			     char *buffer)
{
	if (!value.length)
		return vmdef_fail(parser, "%s needs a module name", key);
	for (size_t i = 0; i < value.length; i++)
		if (is_blank(value.start[i]))
			return vmdef_fail(parser, "%s '%.*s' must be one word (a boot module's name)", key,
					  (int)value.length, value.start);
	return copy_value(parser, key, value, buffer, VMDEF_MODULE_NAME_MAX);
}

static int parse_name(struct vmdef_parser *parser, struct text_span value)
{
	if (!value.length)
		return vmdef_fail(parser, "name is empty");
	for (size_t i = 0; i < value.length; i++) {
		char c = value.start[i];
		bool allowed = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
			       (c >= '0' && c <= '9') || c == '_' || c == '.' || c == '-';
		if (!allowed)
			return vmdef_fail(parser,
					  "name '%.*s' may hold only letters, digits, '_', '.' and '-'",
					  (int)value.length, value.start);
	}
	return copy_value(parser, "name", value, parser->out->name, VMDEF_NAME_MAX);
}

static int parse_memsize(struct vmdef_parser *parser, struct text_span value)
{
	return parse_number(parser, "memsize", value, 1, VMDEF_MEMSIZE_MAX_MIB,
			    &parser->out->memsize_mib);
}

static int parse_numvcpus(struct vmdef_parser *parser, struct text_span value)
{
	return parse_number(parser, "numvcpus", value, 1, VMDEF_MAX_VCPUS,
			    &parser->out->vcpu_count);
}

static int parse_kernel(struct vmdef_parser *parser, struct text_span value)
{
	return parse_module_name(parser, "kernel", value, parser->out->kernel);
}

static int parse_initrd(struct vmdef_parser *parser, struct text_span value)
{
	return parse_module_name(parser, "initrd", value, parser->out->initrd);
}

static int parse_module(struct vmdef_parser *parser, struct text_span value)
{
	struct vm_definition *out = parser->out;

	if (out->module_count == VMDEF_MAX_MODULES)
		return vmdef_fail(parser, "more than %u module lines", VMDEF_MAX_MODULES);
	struct vmdef_module *module = &out->modules[out->module_count];
	struct text_span name = value;
	for (name.length = 0; name.length < value.length && !is_blank(value.start[name.length]);)
		name.length++;
	int rc = parse_module_name(parser, "module", name, module->name);
	if (!rc)
		rc = copy_value(parser, "module", value, module->line, VMDEF_MODULE_LINE_MAX);
	if (!rc)
		out->module_count++;
	return rc;
}

static int parse_disk(struct vmdef_parser *parser, struct text_span value)
{
	struct vm_definition *out = parser->out;

	if (out->disk_count == VMDEF_MAX_DISKS)
		return vmdef_fail(parser, "more than %u disk lines", VMDEF_MAX_DISKS);
	int rc = parse_module_name(parser, "disk", value, out->disks[out->disk_count]);
	if (!rc)
		out->disk_count++;
	return rc;
}

static int parse_cmdline(struct vmdef_parser *parser, struct text_span value)
{
	return copy_value(parser, "cmdline", value, parser->out->cmdline, VMDEF_CMDLINE_MAX);
}

static int parse_testdev(struct vmdef_parser *parser, struct text_span value)
{
	if (span_equals_ignoring_case(value, "on") || span_equals_ignoring_case(value, "true"))
		parser->out->testdev = true;
	else if (span_equals_ignoring_case(value, "off") || span_equals_ignoring_case(value, "false"))
		parser->out->testdev = false;
	else
		return vmdef_fail(parser, "testdev '%.*s' must be on or off", (int)value.length,
				  value.start);
	return 0;
}

/* on/true or off/false into *out. */
static int parse_switch(struct vmdef_parser *parser, const char *key, struct text_span value, bool *out)
{
	if (span_equals_ignoring_case(value, "on") || span_equals_ignoring_case(value, "true"))
		*out = true;
	else if (span_equals_ignoring_case(value, "off") || span_equals_ignoring_case(value, "false"))
		*out = false;
	else
		return vmdef_fail(parser, "%s '%.*s' must be on or off", key, (int)value.length, value.start);
	return 0;
}

static int parse_role(struct vmdef_parser *parser, struct text_span value)
{
	if (!span_equals_ignoring_case(value, "console"))
		return vmdef_fail(parser, "role '%.*s' is unknown (the only role is console)", (int)value.length,
				  value.start);
	parser->out->service_console = true;
	return 0;
}

static int parse_console_restart(struct vmdef_parser *parser, struct text_span value)
{
	return parse_switch(parser, "console.restart", value, &parser->out->console_restart);
}

static int parse_autostart(struct vmdef_parser *parser, struct text_span value)
{
	return parse_switch(parser, "autostart", value, &parser->out->autostart);
}

static int parse_on_triple_fault(struct vmdef_parser *parser, struct text_span value)
{
	if (span_equals_ignoring_case(value, "stop"))
		parser->out->on_triple_fault = VMDEF_TRIPLE_FAULT_STOP;
	else if (span_equals_ignoring_case(value, "reset"))
		parser->out->on_triple_fault = VMDEF_TRIPLE_FAULT_RESET;
	else
		return vmdef_fail(parser, "on_triple_fault '%.*s' must be stop or reset",
				  (int)value.length, value.start);
	return 0;
}

static int parse_hw_version(struct vmdef_parser *parser, struct text_span value)
{
	if (!span_equals(value, "1"))
		return vmdef_fail(parser, "hw.version '%.*s' is not supported (this vmkernel has version %u)",
				  (int)value.length, value.start, VMDEF_HW_VERSION_CURRENT);
	parser->out->hw_version = VMDEF_HW_VERSION_CURRENT;
	return 0;
}

/* low/normal/high as ESX, per vCPU; applied at the end, when numvcpus is known. */
#define SHARES_LOW_MARK 0xfffffff1u
#define SHARES_NORMAL_MARK 0xfffffff2u
#define SHARES_HIGH_MARK 0xfffffff3u

static int parse_shares(struct vmdef_parser *parser, struct text_span value)
{
	if (span_equals_ignoring_case(value, "low"))
		parser->out->shares = SHARES_LOW_MARK;
	else if (span_equals_ignoring_case(value, "normal"))
		parser->out->shares = SHARES_NORMAL_MARK;
	else if (span_equals_ignoring_case(value, "high"))
		parser->out->shares = SHARES_HIGH_MARK;
	else
		return parse_number(parser, "shares", value, 1, VMDEF_SHARES_MAX, &parser->out->shares);
	return 0;
}

/* Percent of one pCPU, with or without '%'; checked against numvcpus at the end. */
static int parse_percent(struct vmdef_parser *parser, const char *key, struct text_span value,
			 uint32_t min, uint32_t *out)
{
	if (value.length && value.start[value.length - 1] == '%')
		value.length--;
	return parse_number(parser, key, value, min, 100 * VMDEF_MAX_VCPUS, out);
}

static int parse_reservation(struct vmdef_parser *parser, struct text_span value)
{
	return parse_percent(parser, "reservation", value, 0, &parser->out->reservation_pct);
}

static int parse_limit(struct vmdef_parser *parser, struct text_span value)
{
	return parse_percent(parser, "limit", value, 1, &parser->out->limit_pct);
}

/* "0,2-3": pCPU numbers and ranges. */
static int parse_affinity(struct vmdef_parser *parser, struct text_span value)
{
	uint64_t mask = 0;
	size_t i = 0;

	while (i < value.length) {
		uint32_t first = 0, last, digits = 0;
		while (i < value.length && value.start[i] >= '0' && value.start[i] <= '9' && digits < 3) {
			first = first * 10 + (uint32_t)(value.start[i++] - '0');
			digits++;
		}
		last = first;
		if (digits && i < value.length && value.start[i] == '-') {
			i++;
			last = 0;
			digits = 0;
			while (i < value.length && value.start[i] >= '0' && value.start[i] <= '9' && digits < 3) {
				last = last * 10 + (uint32_t)(value.start[i++] - '0');
				digits++;
			}
		}
		if (!digits || first >= VMDEF_AFFINITY_CPUS || last >= VMDEF_AFFINITY_CPUS || last < first ||
		    (i < value.length && value.start[i] != ',') || (i + 1 == value.length))
			return vmdef_fail(parser, "affinity '%.*s' must list pCPUs 0..%u, as in 0,2-3",
					  (int)value.length, value.start, VMDEF_AFFINITY_CPUS - 1);
		for (uint32_t cpu = first; cpu <= last; cpu++)
			mask |= 1ull << cpu;
		if (i < value.length)
			i++; /* the comma */
	}
	if (!mask)
		return vmdef_fail(parser, "affinity needs at least one pCPU");
	parser->out->affinity = mask;
	return 0;
}

static int parse_ethernet_present(struct vmdef_parser *parser, struct text_span value)
{
	char key[24];
	snprintf(key, sizeof(key), "ethernet%u.present", parser->index);
	return parse_switch(parser, key, value, &parser->out->nics[parser->index].present);
}

static int parse_ethernet_network(struct vmdef_parser *parser, struct text_span value)
{
	struct vmdef_nic *nic = &parser->out->nics[parser->index];

	if (!value.length)
		return vmdef_fail(parser, "ethernet%u.networkName is empty", parser->index);
	for (size_t i = 0; i < value.length; i++)
		if (value.start[i] < 0x20 || value.start[i] > 0x7e)
			return vmdef_fail(parser, "ethernet%u.networkName may hold only printable characters",
					  parser->index);
	char key[32];
	snprintf(key, sizeof(key), "ethernet%u.networkName", parser->index);
	return copy_value(parser, key, value, nic->network, sizeof(nic->network));
}

static int hex_digit(char c)
{
	c = lower(c);
	return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* "02:4b:00:00:00:01": six hex pairs; unicast and not all zero. */
static int parse_ethernet_address(struct vmdef_parser *parser, struct text_span value)
{
	struct vmdef_nic *nic = &parser->out->nics[parser->index];
	bool zero = true;

	if (value.length != 3 * VMDEF_MAC_SIZE - 1)
		goto bad;
	for (size_t i = 0; i < VMDEF_MAC_SIZE; i++) {
		const char *pair = value.start + 3 * i;
		int high = hex_digit(pair[0]), low = hex_digit(pair[1]);
		if (high < 0 || low < 0 || (i + 1 < VMDEF_MAC_SIZE && pair[2] != ':'))
			goto bad;
		nic->mac[i] = (uint8_t)(high << 4 | low);
		zero &= !nic->mac[i];
	}
	if (zero || (nic->mac[0] & 1))
		return vmdef_fail(parser, "ethernet%u.address '%.*s' is not a unicast address", parser->index,
				  (int)value.length, value.start);
	nic->mac_given = true;
	return 0;
bad:
	return vmdef_fail(parser, "ethernet%u.address '%.*s' must be six hex pairs, as in 02:4b:00:00:00:01",
			  parser->index, (int)value.length, value.start);
}

static int parse_ethernet_virtual_dev(struct vmdef_parser *parser, struct text_span value)
{
	if (!span_equals_ignoring_case(value, "virtio"))
		return vmdef_fail(parser, "ethernet%u.virtualDev '%.*s' is unknown (hw.version 1 has virtio)",
				  parser->index, (int)value.length, value.start);
	return 0;
}

static int parse_serial_present(struct vmdef_parser *parser, struct text_span value)
{
	return parse_switch(parser, "serial0.present", value, &parser->out->serial_present);
}

static int parse_serial_file_type(struct vmdef_parser *parser, struct text_span value)
{
	if (span_equals_ignoring_case(value, "console"))
		parser->out->serial_target = VMDEF_SERIAL_CONSOLE;
	else if (span_equals_ignoring_case(value, "file"))
		parser->out->serial_target = VMDEF_SERIAL_FILE;
	else
		return vmdef_fail(parser, "serial0.fileType '%.*s' must be console or file", (int)value.length,
				  value.start);
	return 0;
}

/* A file next to the definition ("serial.log", "logs/com1.txt") or on a
 * datastore ("[ds1]/vm/com1.txt"); no "..", no empty component. */
static int parse_serial_file_name(struct vmdef_parser *parser, struct text_span value)
{
	size_t start = 0;

	if (!value.length)
		return vmdef_fail(parser, "serial0.fileName is empty");
	if (value.start[0] == '[') {
		const char *close = memchr(value.start, ']', value.length);
		if (!close || close == value.start + 1 || (size_t)(close - value.start) + 1 >= value.length ||
		    close[1] != '/')
			return vmdef_fail(parser, "serial0.fileName '%.*s': a datastore path is [label]/path",
					  (int)value.length, value.start);
		start = (size_t)(close - value.start) + 2;
	}
	for (size_t i = start; i < value.length; i++) {
		char c = value.start[i];
		bool component_start = i == start || value.start[i - 1] == '/';
		if (c < 0x20 || c > 0x7e || (component_start && c == '/') ||
		    (component_start && c == '.' && i + 1 < value.length && value.start[i + 1] == '.'))
			return vmdef_fail(parser, "serial0.fileName '%.*s' is not a plain path (no '..', no '//')",
					  (int)value.length, value.start);
	}
	if (value.start[value.length - 1] == '/')
		return vmdef_fail(parser, "serial0.fileName '%.*s' names a directory", (int)value.length,
				  value.start);
	/* A VM's own files: COM1's output would overwrite a disk or config. */
	static const char *const reserved[] = { ".vmdk", ".vmx", ".nvram", ".log" };
	size_t base = value.length;
	while (base && value.start[base - 1] != '/' && value.start[base - 1] != ']')
		base--;
	for (size_t i = 0; i < sizeof(reserved) / sizeof(reserved[0]); i++) {
		size_t n = strlen(reserved[i]);
		struct text_span ending = { value.start + value.length - n, n };
		bool vm_log = i == 3 && value.length - base >= 6 && !memcmp(value.start + base, "vmware", 6);
		if (value.length - base > n && span_equals_ignoring_case(ending, reserved[i]) && (i < 3 || vm_log))
			return vmdef_fail(parser, "serial0.fileName '%.*s' is a name for a VM's disk, config, NVRAM or log",
					  (int)value.length, value.start);
	}
	return copy_value(parser, "serial0.fileName", value, parser->out->serial_file,
			  sizeof(parser->out->serial_file));
}

static const char *const boot_device_names[] = {
	[VMDEF_BOOT_KERNEL] = "kernel",
	[VMDEF_BOOT_HDD] = "hdd",
	[VMDEF_BOOT_CDROM] = "cdrom",
	[VMDEF_BOOT_ETHERNET] = "ethernet",
};

/* "kernel" or, once a virtual BIOS exists, a list such as "cdrom,hdd". */
static int parse_boot_order(struct vmdef_parser *parser, struct text_span value)
{
	struct vm_definition *out = parser->out;
	size_t at = 0;

	out->boot_order_count = 0;
	while (at <= value.length) {
		struct text_span item = { value.start + at, 0 };
		while (at + item.length < value.length && value.start[at + item.length] != ',')
			item.length++;
		at += item.length + 1;
		while (item.length && is_blank(item.start[0])) {
			item.start++;
			item.length--;
		}
		while (item.length && is_blank(item.start[item.length - 1]))
			item.length--;
		unsigned device = 0;
		while (device < sizeof(boot_device_names) / sizeof(boot_device_names[0]) &&
		       !span_equals_ignoring_case(item, boot_device_names[device]))
			device++;
		if (device == sizeof(boot_device_names) / sizeof(boot_device_names[0]))
			return vmdef_fail(parser, "bios.bootOrder: '%.*s' is not kernel, hdd, cdrom or ethernet",
					  (int)item.length, item.start);
		for (unsigned i = 0; i < out->boot_order_count; i++)
			if (out->boot_order[i] == (enum vmdef_boot_device)device)
				return vmdef_fail(parser, "bios.bootOrder names %s twice", boot_device_names[device]);
		if (device != VMDEF_BOOT_KERNEL)
			return vmdef_fail(parser,
					  "bios.bootOrder: booting from %s needs a virtual BIOS, which hw.version 1 does not have (use kernel)",
					  boot_device_names[device]);
		out->boot_order[out->boot_order_count++] = (enum vmdef_boot_device)device;
	}
	return 0;
}

/* Indexed by enum vmdef_key; names lower case. */
static const struct vmdef_key_spec key_table[KEY_COUNT] = {
	[KEY_NAME] = { "name", false, parse_name },
	[KEY_MEMSIZE] = { "memsize", false, parse_memsize },
	[KEY_NUMVCPUS] = { "numvcpus", false, parse_numvcpus },
	[KEY_KERNEL] = { "kernel", false, parse_kernel },
	[KEY_INITRD] = { "initrd", false, parse_initrd },
	[KEY_MODULE] = { "module", true, parse_module },
	[KEY_CMDLINE] = { "cmdline", false, parse_cmdline },
	[KEY_TESTDEV] = { "testdev", false, parse_testdev },
	[KEY_ON_TRIPLE_FAULT] = { "on_triple_fault", false, parse_on_triple_fault },
	[KEY_HW_VERSION] = { "hw.version", false, parse_hw_version },
	[KEY_DISK] = { "disk", true, parse_disk },
	[KEY_SHARES] = { "shares", false, parse_shares },
	[KEY_RESERVATION] = { "reservation", false, parse_reservation },
	[KEY_LIMIT] = { "limit", false, parse_limit },
	[KEY_AFFINITY] = { "affinity", false, parse_affinity },
	[KEY_ROLE] = { "role", false, parse_role },
	[KEY_CONSOLE_RESTART] = { "console.restart", false, parse_console_restart },
	[KEY_AUTOSTART] = { "autostart", false, parse_autostart },
	[KEY_ETHERNET_PRESENT] = { "ethernet#.present", false, parse_ethernet_present, VMDEF_MAX_NICS },
	[KEY_ETHERNET_NETWORK] = { "ethernet#.networkname", false, parse_ethernet_network, VMDEF_MAX_NICS },
	[KEY_ETHERNET_ADDRESS] = { "ethernet#.address", false, parse_ethernet_address, VMDEF_MAX_NICS },
	[KEY_ETHERNET_VIRTUAL_DEV] = { "ethernet#.virtualdev", false, parse_ethernet_virtual_dev, VMDEF_MAX_NICS },
	[KEY_SERIAL_PRESENT] = { "serial#.present", false, parse_serial_present, 1 },
	[KEY_SERIAL_FILE_TYPE] = { "serial#.filetype", false, parse_serial_file_type, 1 },
	[KEY_SERIAL_FILE_NAME] = { "serial#.filename", false, parse_serial_file_name, 1 },
	[KEY_BOOT_ORDER] = { "bios.bootorder", false, parse_boot_order },
};

/*
 * Whether key matches a table name, case-insensitively, '#' matching a
 * decimal number (stored in *index, saturating past 999).
 */
static bool key_matches(struct text_span key, const char *pattern, unsigned *index)
{
	size_t at = 0;

	*index = 0;
	for (; *pattern; pattern++) {
		if (*pattern == '#') {
			size_t digits = 0;
			while (at < key.length && key.start[at] >= '0' && key.start[at] <= '9') {
				if (*index < 1000)
					*index = *index * 10 + (unsigned)(key.start[at] - '0');
				at++;
				digits++;
			}
			if (!digits)
				return false;
		} else if (at == key.length || lower(key.start[at++]) != *pattern) {
			return false;
		}
	}
	return at == key.length;
}

static bool is_key_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '_' || c == '.' || c == '-';
}

/*
 * One non-blank, non-comment line: key, '=', then a value that is either
 * "quoted" (anything but a quote; then only blanks or a comment) or bare (up
 * to a '#' or the end, trailing blanks dropped).
 */
static int parse_line(struct vmdef_parser *parser, const char *line, size_t length,
		      unsigned first_line[KEY_COUNT][KEY_INDEXES_MAX])
{
	size_t at = 0;

	struct text_span key = { line, 0 };
	while (at < length && is_key_char(line[at]))
		at++;
	key.length = at;
	while (at < length && is_blank(line[at]))
		at++;
	if (!key.length || at == length || line[at] != '=')
		return vmdef_fail(parser, "expected key = \"value\"");
	at++;
	while (at < length && is_blank(line[at]))
		at++;

	struct text_span value = { line + at, 0 };
	if (at < length && line[at] == '"') {
		const char *close = memchr(line + at + 1, '"', length - at - 1);
		if (!close)
			return vmdef_fail(parser, "'%.*s': the value's quote is not closed",
					  (int)key.length, key.start);
		value.start = line + at + 1;
		value.length = (size_t)(close - value.start);
		at = (size_t)(close - line) + 1;
		while (at < length && is_blank(line[at]))
			at++;
		if (at < length && line[at] != '#')
			return vmdef_fail(parser, "'%.*s': text after the closing quote",
					  (int)key.length, key.start);
	} else {
		while (at + value.length < length && line[at + value.length] != '#')
			value.length++;
		while (value.length && is_blank(value.start[value.length - 1]))
			value.length--;
		for (size_t i = 0; i < value.length; i++)
			if (value.start[i] == '"')
				return vmdef_fail(parser, "'%.*s': stray quote in the value",
						  (int)key.length, key.start);
	}

	for (unsigned k = 0; k < KEY_COUNT; k++) {
		unsigned index;
		if (!key_matches(key, key_table[k].name, &index))
			continue;
		if (index >= (key_table[k].indexes ? key_table[k].indexes : 1))
			return vmdef_fail(parser, "'%.*s': the number must be 0..%u", (int)key.length, key.start,
					  key_table[k].indexes - 1);
		unsigned *first = &first_line[k][index];
		if (*first && !key_table[k].repeatable)
			return vmdef_fail(parser, "duplicate key '%.*s' (first set on line %u)", (int)key.length,
					  key.start, *first);
		if (!*first)
			*first = parser->line;
		parser->index = index;
		return key_table[k].parse(parser, value);
	}
	return vmdef_fail(parser, "unknown key '%.*s'", (int)key.length, key.start);
}

/* The NIC and serial keys that only make sense together; the defaults of
 * what was not given. */
static int check_devices(struct vmdef_parser *parser, struct vm_definition *out,
			 unsigned first_line[KEY_COUNT][KEY_INDEXES_MAX])
{
	static const enum vmdef_key nic_settings[] = { KEY_ETHERNET_NETWORK, KEY_ETHERNET_ADDRESS,
						       KEY_ETHERNET_VIRTUAL_DEV };
	bool any_nic_key = false;

	for (unsigned i = 0; i < VMDEF_MAX_NICS; i++) {
		any_nic_key |= first_line[KEY_ETHERNET_PRESENT][i] != 0;
		for (unsigned k = 0; k < sizeof(nic_settings) / sizeof(nic_settings[0]); k++) {
			unsigned line = first_line[nic_settings[k]][i];
			any_nic_key |= line != 0;
			if (line && !out->nics[i].present) {
				parser->line = line;
				return vmdef_fail(parser, "ethernet%u has settings but no ethernet%u.present = \"true\"",
						  i, i);
			}
		}
		for (unsigned j = 0; j < i; j++) {
			if (out->nics[i].present && out->nics[j].present && out->nics[i].mac_given &&
			    out->nics[j].mac_given && !memcmp(out->nics[i].mac, out->nics[j].mac, VMDEF_MAC_SIZE)) {
				parser->line = first_line[KEY_ETHERNET_ADDRESS][i];
				return vmdef_fail(parser, "ethernet%u.address is ethernet%u's too", i, j);
			}
		}
	}
	if (!any_nic_key)
		out->nics[0].present = true; /* hw.version 1: one NIC unless the definition says otherwise */
	for (unsigned i = 0; i < VMDEF_MAX_NICS; i++)
		if (out->nics[i].present && !out->nics[i].network[0])
			memcpy(out->nics[i].network, VMDEF_DEFAULT_NETWORK, sizeof(VMDEF_DEFAULT_NETWORK));

	if (!out->serial_present && (first_line[KEY_SERIAL_FILE_TYPE][0] || first_line[KEY_SERIAL_FILE_NAME][0])) {
		parser->line = first_line[KEY_SERIAL_FILE_TYPE][0] ? first_line[KEY_SERIAL_FILE_TYPE][0]
								  : first_line[KEY_SERIAL_FILE_NAME][0];
		return vmdef_fail(parser, "serial0 has settings but serial0.present is off");
	}
	if (out->serial_target == VMDEF_SERIAL_FILE && !out->serial_file[0]) {
		parser->line = first_line[KEY_SERIAL_FILE_TYPE][0];
		return vmdef_fail(parser, "serial0.fileType file needs serial0.fileName");
	}
	if (out->serial_target != VMDEF_SERIAL_FILE && out->serial_file[0]) {
		parser->line = first_line[KEY_SERIAL_FILE_NAME][0];
		return vmdef_fail(parser, "serial0.fileName needs serial0.fileType = \"file\"");
	}
	parser->line = 0;
	return 0;
}

int vmdef_parse(const char *text, size_t length, struct vm_definition *out, char *error,
		size_t error_size)
{
	struct vmdef_parser parser = { .out = out, .error = error, .error_size = error_size };
	unsigned first_line[KEY_COUNT][KEY_INDEXES_MAX] = { { 0 } };

	if (error && error_size)
		error[0] = '\0';
	if (!out)
		return vmdef_fail(&parser, "no definition to fill");
	memset(out, 0, sizeof(*out));
	out->memsize_mib = VMDEF_MEMSIZE_DEFAULT_MIB;
	out->vcpu_count = 1;
	out->console_restart = true;
	out->autostart = true;
	out->on_triple_fault = VMDEF_TRIPLE_FAULT_STOP;
	out->hw_version = VMDEF_HW_VERSION_CURRENT;
	out->serial_present = true;
	out->boot_order_count = 1; /* kernel */
	if (!text && length)
		return vmdef_fail(&parser, "no text");

	for (size_t at = 0; at < length;) {
		const char *line = text + at;
		const char *newline = memchr(line, '\n', length - at);
		size_t line_length = newline ? (size_t)(newline - line) : length - at;
		at += line_length + (newline ? 1 : 0);
		parser.line++;

		if (memchr(line, '\0', line_length))
			return vmdef_fail(&parser, "NUL byte in the text");
		while (line_length && is_blank(*line)) {
			line++;
			line_length--;
		}
		while (line_length && is_blank(line[line_length - 1]))
			line_length--;
		if (!line_length || line[0] == '#')
			continue;
		int rc = parse_line(&parser, line, line_length, first_line);
		if (rc)
			return rc;
	}

	parser.line = 0;
	if (!first_line[KEY_NAME][0])
		return vmdef_fail(&parser, "missing required key 'name'");
	if (!first_line[KEY_KERNEL][0])
		return vmdef_fail(&parser, "missing required key 'kernel'");
	int rc = check_devices(&parser, out, first_line);
	if (rc)
		return rc;
	if (first_line[KEY_CONSOLE_RESTART][0] && !out->service_console) {
		parser.line = first_line[KEY_CONSOLE_RESTART][0];
		return vmdef_fail(&parser, "console.restart needs role = console");
	}
	if (out->shares >= SHARES_LOW_MARK) {
		uint32_t per_vcpu = out->shares == SHARES_LOW_MARK	 ? VMDEF_SHARES_PER_VCPU_DEFAULT / 2
				    : out->shares == SHARES_NORMAL_MARK ? VMDEF_SHARES_PER_VCPU_DEFAULT
									: VMDEF_SHARES_PER_VCPU_DEFAULT * 2;
		out->shares = per_vcpu * out->vcpu_count;
	}
	if (out->reservation_pct > 100 * out->vcpu_count || out->limit_pct > 100 * out->vcpu_count) {
		parser.line = first_line[out->reservation_pct > 100 * out->vcpu_count ? KEY_RESERVATION : KEY_LIMIT][0];
		return vmdef_fail(&parser, "%s is more than %u%% (100%% per vCPU)",
				  out->reservation_pct > 100 * out->vcpu_count ? "reservation" : "limit",
				  100 * out->vcpu_count);
	}
	if (out->limit_pct && out->reservation_pct > out->limit_pct) {
		parser.line = first_line[KEY_RESERVATION][0];
		return vmdef_fail(&parser, "reservation %u%% is above the limit %u%%", out->reservation_pct,
				  out->limit_pct);
	}
	return 0;
}

/* The first word of a module command line. */
static struct text_span first_word(const char *module_name)
{
	struct text_span word = { module_name, 0 };

	while (word.start[0] == ' ' || word.start[0] == '\t')
		word.start++;
	while (word.start[word.length] && !is_blank(word.start[word.length]))
		word.length++;
	return word;
}

static struct text_span last_path_component(struct text_span path)
{
	struct text_span component = path;

	for (size_t i = path.length; i > 0; i--) {
		if (path.start[i - 1] == '/') {
			component.start = path.start + i;
			component.length = path.length - i;
			break;
		}
	}
	return component;
}

bool vmdef_is_definition_module(const char *module_name)
{
	static const char prefix[] = "vmdef ";
	static const char suffix[] = ".vmx";
	const size_t suffix_length = sizeof(suffix) - 1;

	if (!module_name)
		return false;
	if (!strncmp(module_name, prefix, sizeof(prefix) - 1))
		return true;
	struct text_span file = last_path_component(first_word(module_name));
	if (file.length <= suffix_length)
		return false;
	struct text_span ending = { file.start + file.length - suffix_length, suffix_length };
	return span_equals_ignoring_case(ending, suffix);
}

int vmdef_find_module(const struct boot_module *mods, unsigned count, const char *name)
{
	int by_file_name = -ENOENT;

	if (!name || !name[0])
		return -EINVAL;
	for (unsigned i = 0; i < count; i++) {
		char module_name[BOOT_MODULE_NAME_MAX + 1];
		/* The boot path terminates names, but this must not depend on it. */
		memcpy(module_name, mods[i].name, BOOT_MODULE_NAME_MAX);
		module_name[BOOT_MODULE_NAME_MAX] = '\0';
		struct text_span word = first_word(module_name);
		if (span_equals(word, name))
			return (int)i;
		if (span_equals(last_path_component(word), name))
			by_file_name = by_file_name == -ENOENT ? (int)i : -EEXIST;
	}
	return by_file_name;
}

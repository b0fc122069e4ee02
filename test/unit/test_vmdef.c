/*
 * VM definitions (vmkernel/vm/vmdef.c): every key and its limits, the
 * defaults, the syntax (quotes, comments, blank lines, CRLF, case), every
 * error with the line it names, and the boot-module helpers.
 */
#include "unit.h"

#include <vm/vmdef.h>

#include <lib/errno.h>

static struct vm_definition def;
static char error[256];

/* Parses a NUL-terminated text; stale output must not survive a parse. */
static int parse(const char *text)
{
	memset(&def, 0xa5, sizeof(def));
	memset(error, 0x5a, sizeof(error));
	int rc = vmdef_parse(text, strlen(text), &def, error, sizeof(error));
	CHECK(memchr(error, '\0', sizeof(error)) != NULL);
	if (rc)
		CHECK(error[0] != '\0');
	else
		CHECK_STR(error, "");
	return rc;
}

/* The error of a text that must fail, for CHECK_STR. */
static const char *parse_error(const char *text)
{
	int rc = parse(text);
	CHECK_EQ(rc, -EINVAL);
	return error;
}

#define MINIMAL "name = \"vm1\"\nkernel = \"guest.elf\"\n"

UNIT_TEST(minimal_definition_gets_defaults)
{
	CHECK_EQ(parse(MINIMAL), 0);
	CHECK_STR(def.name, "vm1");
	CHECK_STR(def.kernel, "guest.elf");
	CHECK_EQ(def.memsize_mib, 64);
	CHECK_EQ(def.vcpu_count, 1);
	CHECK_STR(def.initrd, "");
	CHECK_EQ(def.module_count, 0);
	CHECK_STR(def.cmdline, "");
	CHECK_EQ(def.testdev, false);
	CHECK_EQ(def.on_triple_fault, VMDEF_TRIPLE_FAULT_STOP);
	CHECK_EQ(def.hw_version, 1);
}

UNIT_TEST(every_key)
{
	static const char text[] =
		"# A full definition\n"
		"\n"
		"name = \"web-1.test_a\"\n"
		"memsize = \"256\"\n"
		"numvcpus = \"4\"\n"
		"kernel = \"/boot/guest.elf\"\n"
		"initrd = \"initrd.img\"\n"
		"module = \"disk.img ro size=2\"\n"
		"module = \"extra.bin\"\n"
		"cmdline = \"console=ttyS0 root=/dev/vda # not a comment\"\n"
		"testdev = \"on\"\n"
		"on_triple_fault = \"reset\"\n"
		"hw.version = \"1\"\n";
	CHECK_EQ(parse(text), 0);
	CHECK_STR(def.name, "web-1.test_a");
	CHECK_EQ(def.memsize_mib, 256);
	CHECK_EQ(def.vcpu_count, 4);
	CHECK_STR(def.kernel, "/boot/guest.elf");
	CHECK_STR(def.initrd, "initrd.img");
	CHECK_EQ(def.module_count, 2);
	CHECK_STR(def.modules[0].name, "disk.img");
	CHECK_STR(def.modules[0].line, "disk.img ro size=2");
	CHECK_STR(def.modules[1].name, "extra.bin");
	CHECK_STR(def.modules[1].line, "extra.bin");
	CHECK_STR(def.cmdline, "console=ttyS0 root=/dev/vda # not a comment");
	CHECK_EQ(def.testdev, true);
	CHECK_EQ(def.on_triple_fault, VMDEF_TRIPLE_FAULT_RESET);
	CHECK_EQ(def.hw_version, 1);
}

UNIT_TEST(unquoted_values_blanks_comments_and_crlf)
{
	static const char text[] =
		"  # indented comment\r\n"
		"\t\r\n"
		"name=vm2\r\n"
		"  memsize   =  128   # trailing comment\r\n"
		"kernel = k.elf\t\r\n"
		"numvcpus = \"2\"   # after a quoted value\r\n"
		"cmdline = quiet loglevel=3\n";
	CHECK_EQ(parse(text), 0);
	CHECK_STR(def.name, "vm2");
	CHECK_EQ(def.memsize_mib, 128);
	CHECK_STR(def.kernel, "k.elf");
	CHECK_EQ(def.vcpu_count, 2);
	CHECK_STR(def.cmdline, "quiet loglevel=3");
}

UNIT_TEST(last_line_without_newline)
{
	CHECK_EQ(parse("name = a\nkernel = b"), 0);
	CHECK_STR(def.kernel, "b");
}

UNIT_TEST(keys_are_case_insensitive)
{
	CHECK_EQ(parse("NAME = a\nKernel = b\nmemSize = \"512\"\nnumVCPUs = 3\nHW.Version = 1\n"), 0);
	CHECK_STR(def.name, "a");
	CHECK_EQ(def.memsize_mib, 512);
	CHECK_EQ(def.vcpu_count, 3);
	/* Different case is still the same key. */
	CHECK_STR(parse_error(MINIMAL "MemSize = 1\nmemsize = 2\n"),
		  "line 4: duplicate key 'memsize' (first set on line 3)");
}

UNIT_TEST(length_bounds_the_text)
{
	/* Only the first length bytes count: no NUL needed, none read beyond. */
	static const char text[] = MINIMAL "garbage that is not a definition";
	memset(&def, 0, sizeof(def));
	CHECK_EQ(vmdef_parse(text, strlen(MINIMAL), &def, error, sizeof(error)), 0);
	CHECK_STR(def.kernel, "guest.elf");
	char *exact = malloc(strlen(MINIMAL));
	memcpy(exact, MINIMAL, strlen(MINIMAL));
	CHECK_EQ(vmdef_parse(exact, strlen(MINIMAL), &def, error, sizeof(error)), 0);
	free(exact);
}

UNIT_TEST(nul_byte_is_an_error)
{
	static const char text[] = "name = a\nkernel = b\0c\n";
	CHECK_EQ(vmdef_parse(text, sizeof(text) - 1, &def, error, sizeof(error)), -EINVAL);
	CHECK_STR(error, "line 2: NUL byte in the text");
}

UNIT_TEST(missing_required_keys)
{
	CHECK_STR(parse_error("kernel = k\n"), "missing required key 'name'");
	CHECK_STR(parse_error("name = n\n"), "missing required key 'kernel'");
	CHECK_STR(parse_error(""), "missing required key 'name'");
	CHECK_STR(parse_error("# only a comment\n\n"), "missing required key 'name'");
}

UNIT_TEST(unknown_key_names_key_and_line)
{
	CHECK_STR(parse_error(MINIMAL "memsiz = 64\n"), "line 3: unknown key 'memsiz'");
	CHECK_STR(parse_error("guestOS = \"other\"\n" MINIMAL), "line 1: unknown key 'guestOS'");
}

UNIT_TEST(duplicate_keys)
{
	CHECK_STR(parse_error(MINIMAL "name = other\n"),
		  "line 3: duplicate key 'name' (first set on line 1)");
	CHECK_STR(parse_error(MINIMAL "testdev = on\n\ntestdev = off\n"),
		  "line 5: duplicate key 'testdev' (first set on line 3)");
	CHECK_STR(parse_error(MINIMAL "initrd = a\ninitrd = b\n"),
		  "line 4: duplicate key 'initrd' (first set on line 3)");
}

UNIT_TEST(name_rules)
{
	CHECK_EQ(parse("name = \"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\"\nkernel = k\n"), 0); /* 31 */
	CHECK_EQ(strlen(def.name), 31);
	CHECK_STR(parse_error("name = \"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\"\nkernel = k\n"),
		  "line 1: name is 32 characters long, more than 31");
	CHECK_STR(parse_error("name = \"\"\nkernel = k\n"), "line 1: name is empty");
	CHECK_STR(parse_error("name = \"my vm\"\nkernel = k\n"),
		  "line 1: name 'my vm' may hold only letters, digits, '_', '.' and '-'");
	CHECK_STR(parse_error("name = a/b\nkernel = k\n"),
		  "line 1: name 'a/b' may hold only letters, digits, '_', '.' and '-'");
}

UNIT_TEST(memsize_limits)
{
	CHECK_EQ(parse(MINIMAL "memsize = 1\n"), 0);
	CHECK_EQ(def.memsize_mib, 1);
	CHECK_EQ(parse(MINIMAL "memsize = \"65536\"\n"), 0);
	CHECK_EQ(def.memsize_mib, 65536);
	CHECK_EQ(parse(MINIMAL "memsize = 0064\n"), 0);
	CHECK_EQ(def.memsize_mib, 64);
	CHECK_STR(parse_error(MINIMAL "memsize = 0\n"), "line 3: memsize '0' is out of range 1..65536");
	CHECK_STR(parse_error(MINIMAL "memsize = 65537\n"),
		  "line 3: memsize '65537' is out of range 1..65536");
	CHECK_STR(parse_error(MINIMAL "memsize = 99999999999999999999999\n"),
		  "line 3: memsize '99999999999999999999999' is out of range 1..65536");
	CHECK_STR(parse_error(MINIMAL "memsize = 12M\n"), "line 3: memsize '12M' is not a number");
	CHECK_STR(parse_error(MINIMAL "memsize = -1\n"), "line 3: memsize '-1' is not a number");
	CHECK_STR(parse_error(MINIMAL "memsize =\n"), "line 3: memsize needs a number");
}

UNIT_TEST(numvcpus_limits)
{
	CHECK_EQ(parse(MINIMAL "numvcpus = 16\n"), 0);
	CHECK_EQ(def.vcpu_count, 16);
	CHECK_STR(parse_error(MINIMAL "numvcpus = 0\n"), "line 3: numvcpus '0' is out of range 1..16");
	CHECK_STR(parse_error(MINIMAL "numvcpus = 17\n"), "line 3: numvcpus '17' is out of range 1..16");
	CHECK_STR(parse_error(MINIMAL "numvcpus = two\n"), "line 3: numvcpus 'two' is not a number");
}

UNIT_TEST(kernel_and_initrd_are_one_word)
{
	CHECK_STR(parse_error("name = a\nkernel = \"guest.elf console=ttyS0\"\n"),
		  "line 2: kernel 'guest.elf console=ttyS0' must be one word (a boot module's name)");
	CHECK_STR(parse_error("name = a\nkernel = \"\"\n"), "line 2: kernel needs a module name");
	CHECK_STR(parse_error(MINIMAL "initrd = \"a b\"\n"),
		  "line 3: initrd 'a b' must be one word (a boot module's name)");
	CHECK_STR(parse_error(MINIMAL "initrd =\n"), "line 3: initrd needs a module name");
	char text[400];
	snprintf(text, sizeof(text), "name = a\nkernel = %0128d\n", 0);
	CHECK_STR(parse_error(text), "line 2: kernel is 128 characters long, more than 127");
	snprintf(text, sizeof(text), "name = a\nkernel = %0127d\n", 0);
	CHECK_EQ(parse(text), 0);
	CHECK_EQ(strlen(def.kernel), 127);
}

UNIT_TEST(up_to_eight_modules)
{
	char text[1024] = MINIMAL;
	for (int i = 0; i < 8; i++)
		snprintf(text + strlen(text), sizeof(text) - strlen(text), "module = \"m%d arg%d\"\n", i, i);
	CHECK_EQ(parse(text), 0);
	CHECK_EQ(def.module_count, 8);
	CHECK_STR(def.modules[7].name, "m7");
	CHECK_STR(def.modules[7].line, "m7 arg7");
	strcat(text, "module = m8\n");
	CHECK_STR(parse_error(text), "line 11: more than 8 module lines");
}

UNIT_TEST(up_to_four_disks_each_one_module_name)
{
	char text[1024] = MINIMAL;
	CHECK_EQ(parse(text), 0);
	CHECK_EQ(def.disk_count, 0);
	for (int i = 0; i < 4; i++)
		snprintf(text + strlen(text), sizeof(text) - strlen(text), "disk = \"d%d.img\"\n", i);
	CHECK_EQ(parse(text), 0);
	CHECK_EQ(def.disk_count, 4);
	CHECK_STR(def.disks[0], "d0.img");
	CHECK_STR(def.disks[3], "d3.img");
	strcat(text, "disk = d4.img\n");
	CHECK(strstr(parse_error(text), "more than 4 disk lines") != NULL);
	char blank[256] = MINIMAL;
	strcat(blank, "disk = \"two words\"\n");
	CHECK(strstr(parse_error(blank), "must be one word") != NULL);
}

UNIT_TEST(module_line_limits)
{
	CHECK_STR(parse_error(MINIMAL "module = \"\"\n"), "line 3: module needs a module name");
	char text[600];
	snprintf(text, sizeof(text), MINIMAL "module = \"m %0254d\"\n", 0); /* 256 characters */
	CHECK_STR(parse_error(text), "line 3: module is 256 characters long, more than 255");
	snprintf(text, sizeof(text), MINIMAL "module = \"m %0253d\"\n", 0);
	CHECK_EQ(parse(text), 0);
	CHECK_EQ(strlen(def.modules[0].line), 255);
}

UNIT_TEST(cmdline_limits)
{
	char text[1200];
	snprintf(text, sizeof(text), MINIMAL "cmdline = \"%01023d\"\n", 0);
	CHECK_EQ(parse(text), 0);
	CHECK_EQ(strlen(def.cmdline), 1023);
	snprintf(text, sizeof(text), MINIMAL "cmdline = \"%01024d\"\n", 0);
	CHECK_STR(parse_error(text), "line 3: cmdline is 1024 characters long, more than 1023");
	CHECK_EQ(parse(MINIMAL "cmdline = \"\"\n"), 0);
	CHECK_STR(def.cmdline, "");
}

UNIT_TEST(testdev_values)
{
	CHECK_EQ(parse(MINIMAL "testdev = off\n"), 0);
	CHECK_EQ(def.testdev, false);
	CHECK_EQ(parse(MINIMAL "testdev = \"TRUE\"\n"), 0);
	CHECK_EQ(def.testdev, true);
	CHECK_EQ(parse(MINIMAL "testdev = false\n"), 0);
	CHECK_EQ(def.testdev, false);
	CHECK_EQ(parse(MINIMAL "testdev = On\n"), 0);
	CHECK_EQ(def.testdev, true);
	CHECK_STR(parse_error(MINIMAL "testdev = maybe\n"), "line 3: testdev 'maybe' must be on or off");
	CHECK_STR(parse_error(MINIMAL "testdev =\n"), "line 3: testdev '' must be on or off");
}

UNIT_TEST(on_triple_fault_values)
{
	CHECK_EQ(parse(MINIMAL "on_triple_fault = stop\n"), 0);
	CHECK_EQ(def.on_triple_fault, VMDEF_TRIPLE_FAULT_STOP);
	CHECK_EQ(parse(MINIMAL "on_triple_fault = \"reset\"\n"), 0);
	CHECK_EQ(def.on_triple_fault, VMDEF_TRIPLE_FAULT_RESET);
	CHECK_STR(parse_error(MINIMAL "on_triple_fault = reboot\n"),
		  "line 3: on_triple_fault 'reboot' must be stop or reset");
}

UNIT_TEST(hw_version_only_1)
{
	CHECK_EQ(parse(MINIMAL "hw.version = \"1\"\n"), 0);
	CHECK_STR(parse_error(MINIMAL "hw.version = \"2\"\n"),
		  "line 3: hw.version '2' is not supported (this vmkernel has version 1)");
	CHECK_STR(parse_error(MINIMAL "hw.version = 01\n"),
		  "line 3: hw.version '01' is not supported (this vmkernel has version 1)");
}

UNIT_TEST(syntax_errors)
{
	CHECK_STR(parse_error(MINIMAL "memsize 64\n"), "line 3: expected key = \"value\"");
	CHECK_STR(parse_error(MINIMAL "= 64\n"), "line 3: expected key = \"value\"");
	CHECK_STR(parse_error(MINIMAL "memsize\n"), "line 3: expected key = \"value\"");
	CHECK_STR(parse_error(MINIMAL "mem size = 64\n"), "line 3: expected key = \"value\"");
	CHECK_STR(parse_error(MINIMAL "cmdline = \"quiet\n"),
		  "line 3: 'cmdline': the value's quote is not closed");
	CHECK_STR(parse_error(MINIMAL "cmdline = \"quiet\" splash\n"),
		  "line 3: 'cmdline': text after the closing quote");
	CHECK_STR(parse_error(MINIMAL "cmdline = quiet\"\n"), "line 3: 'cmdline': stray quote in the value");
}

UNIT_TEST(small_or_missing_error_buffer)
{
	char small[12];
	memset(small, 0x5a, sizeof(small));
	CHECK_EQ(vmdef_parse("x = 1\n", 6, &def, small, sizeof(small)), -EINVAL);
	CHECK_STR(small, "line 1: unk");
	CHECK_EQ(vmdef_parse("x = 1\n", 6, &def, NULL, 0), -EINVAL);
	char tiny[4];
	CHECK_EQ(vmdef_parse("x = 1\n", 6, &def, tiny, sizeof(tiny)), -EINVAL);
	CHECK_STR(tiny, "lin");
	CHECK_EQ(vmdef_parse(MINIMAL, strlen(MINIMAL), NULL, error, sizeof(error)), -EINVAL);
}

UNIT_TEST(definition_module_predicate)
{
	CHECK(vmdef_is_definition_module("vmdef /boot/web1.cfg"));
	CHECK(vmdef_is_definition_module("/boot/web1.vmx"));
	CHECK(vmdef_is_definition_module("web1.vmx"));
	CHECK(vmdef_is_definition_module("/BOOT/WEB1.VMX some args"));
	CHECK(!vmdef_is_definition_module("/boot/web1.vmx.bak"));
	CHECK(!vmdef_is_definition_module("/boot/.vmx"));
	CHECK(!vmdef_is_definition_module(".vmx"));
	CHECK(!vmdef_is_definition_module("/boot/a.vmx/guest.elf"));
	CHECK(!vmdef_is_definition_module("/boot/guest.elf web.vmx"));
	CHECK(!vmdef_is_definition_module("vmdefs.cfg"));
	CHECK(!vmdef_is_definition_module("vmdef"));
	CHECK(!vmdef_is_definition_module(""));
	CHECK(!vmdef_is_definition_module(NULL));
}

static void set_module(struct boot_module *module, const char *name)
{
	memset(module, 0, sizeof(*module));
	snprintf(module->name, sizeof(module->name), "%s", name);
}

UNIT_TEST(find_module_by_first_word_or_file_name)
{
	struct boot_module mods[4];
	set_module(&mods[0], "/boot/web1.vmx");
	set_module(&mods[1], "/boot/guest.elf console=ttyS0");
	set_module(&mods[2], "initrd.img");
	set_module(&mods[3], "  /iso/disk.img");

	CHECK_EQ(vmdef_find_module(mods, 4, "guest.elf"), 1);
	CHECK_EQ(vmdef_find_module(mods, 4, "/boot/guest.elf"), 1);
	CHECK_EQ(vmdef_find_module(mods, 4, "initrd.img"), 2);
	CHECK_EQ(vmdef_find_module(mods, 4, "disk.img"), 3);
	CHECK_EQ(vmdef_find_module(mods, 4, "console=ttyS0"), -ENOENT);
	CHECK_EQ(vmdef_find_module(mods, 4, "boot/guest.elf"), -ENOENT);
	CHECK_EQ(vmdef_find_module(mods, 4, "guest"), -ENOENT);
	CHECK_EQ(vmdef_find_module(mods, 4, ""), -EINVAL);
	CHECK_EQ(vmdef_find_module(mods, 4, NULL), -EINVAL);
	CHECK_EQ(vmdef_find_module(mods, 0, "guest.elf"), -ENOENT);
}

UNIT_TEST(find_module_ambiguity)
{
	struct boot_module mods[3];
	set_module(&mods[0], "/a/guest.elf");
	set_module(&mods[1], "/b/guest.elf");
	set_module(&mods[2], "guest.elf");
	/* Two file names match, but one module is named exactly that. */
	CHECK_EQ(vmdef_find_module(mods, 3, "guest.elf"), 2);
	/* Only file names match, twice: which one was meant is unknown. */
	CHECK_EQ(vmdef_find_module(mods, 2, "guest.elf"), -EEXIST);
	CHECK_EQ(vmdef_find_module(mods, 2, "/b/guest.elf"), 1);
}

UNIT_TEST(find_module_with_unterminated_name)
{
	struct boot_module mods[1];
	memset(mods[0].name, 'x', sizeof(mods[0].name)); /* no NUL at all */
	char name[BOOT_MODULE_NAME_MAX + 1];
	memset(name, 'x', BOOT_MODULE_NAME_MAX);
	name[BOOT_MODULE_NAME_MAX] = '\0';
	CHECK_EQ(vmdef_find_module(mods, 1, name), 0);
	name[BOOT_MODULE_NAME_MAX - 1] = '\0';
	CHECK_EQ(vmdef_find_module(mods, 1, name), -ENOENT);
}

UNIT_TEST(cpu_scheduling_keys)
{
	CHECK_EQ(parse(MINIMAL), 0);
	CHECK_EQ(def.shares, 0);
	CHECK_EQ(def.reservation_pct, 0);
	CHECK_EQ(def.limit_pct, 0);
	CHECK_EQ(def.affinity, 0);
	CHECK_EQ(parse(MINIMAL "shares = 2000\nreservation = \"30%\"\nlimit = 50\naffinity = \"1\"\n"), 0);
	CHECK_EQ(def.shares, 2000);
	CHECK_EQ(def.reservation_pct, 30);
	CHECK_EQ(def.limit_pct, 50);
	CHECK_EQ(def.affinity, 2);
	/* low/normal/high are per vCPU, whatever the order of the keys. */
	CHECK_EQ(parse(MINIMAL "shares = High\nnumvcpus = 4\n"), 0);
	CHECK_EQ(def.shares, 8000);
	CHECK_EQ(parse(MINIMAL "shares = low\n"), 0);
	CHECK_EQ(def.shares, 500);
	CHECK_EQ(parse(MINIMAL "shares = normal\nnumvcpus = 2\n"), 0);
	CHECK_EQ(def.shares, 2000);
	CHECK_EQ(parse(MINIMAL "affinity = \"0,2-3,63\"\n"), 0);
	CHECK_EQ(def.affinity, 0x800000000000000dull);
	CHECK_EQ(parse(MINIMAL "numvcpus = 2\nreservation = 200%\nlimit = 200\n"), 0);
	CHECK_EQ(def.reservation_pct, 200);
}

UNIT_TEST(cpu_scheduling_errors)
{
	CHECK_STR(parse_error(MINIMAL "shares = 0\n"), "line 3: shares '0' is out of range 1..1000000");
	CHECK_STR(parse_error(MINIMAL "shares = medium\n"), "line 3: shares 'medium' is not a number");
	CHECK_STR(parse_error(MINIMAL "limit = 0\n"), "line 3: limit '0' is out of range 1..1600");
	CHECK_STR(parse_error(MINIMAL "limit = 50%%\n"), "line 3: limit '50%' is not a number");
	CHECK_STR(parse_error(MINIMAL "reservation = 101\n"), "line 3: reservation is more than 100% (100% per vCPU)");
	CHECK_STR(parse_error(MINIMAL "limit = 150\nnumvcpus = 1\n"), "line 3: limit is more than 100% (100% per vCPU)");
	CHECK_STR(parse_error(MINIMAL "limit = 20\nreservation = 30\n"), "line 4: reservation 30% is above the limit 20%");
	CHECK_STR(parse_error(MINIMAL "affinity = \"\"\n"), "line 3: affinity needs at least one pCPU");
	CHECK_STR(parse_error(MINIMAL "affinity = 64\n"), "line 3: affinity '64' must list pCPUs 0..63, as in 0,2-3");
	CHECK_STR(parse_error(MINIMAL "affinity = \"1,\"\n"), "line 3: affinity '1,' must list pCPUs 0..63, as in 0,2-3");
	CHECK_STR(parse_error(MINIMAL "affinity = \"3-1\"\n"), "line 3: affinity '3-1' must list pCPUs 0..63, as in 0,2-3");
	CHECK_STR(parse_error(MINIMAL "affinity = \"a\"\n"), "line 3: affinity 'a' must list pCPUs 0..63, as in 0,2-3");
	CHECK_STR(parse_error(MINIMAL "affinity = \",1\"\n"), "line 3: affinity ',1' must list pCPUs 0..63, as in 0,2-3");
}

UNIT_TEST(service_console_keys)
{
	CHECK_EQ(parse(MINIMAL), 0);
	CHECK(!def.service_console);
	CHECK(def.console_restart);
	CHECK(def.autostart);
	CHECK_EQ(parse(MINIMAL "role = \"console\"\nconsole.restart = off\n"), 0);
	CHECK(def.service_console);
	CHECK(!def.console_restart);
	CHECK_EQ(parse(MINIMAL "Role = Console\n"), 0);
	CHECK(def.service_console);
	CHECK(def.console_restart);
	CHECK_EQ(parse(MINIMAL "autostart = false\n"), 0);
	CHECK(!def.autostart);
	CHECK_STR(parse_error(MINIMAL "role = agent\n"), "line 3: role 'agent' is unknown (the only role is console)");
	CHECK_STR(parse_error(MINIMAL "console.restart = on\n"), "line 3: console.restart needs role = console");
	CHECK_STR(parse_error(MINIMAL "role = console\nconsole.restart = maybe\n"),
		  "line 4: console.restart 'maybe' must be on or off");
	CHECK_STR(parse_error(MINIMAL "autostart = 1\n"), "line 3: autostart '1' must be on or off");
}

UNIT_TEST(default_nic_serial_and_boot_order)
{
	CHECK_EQ(parse(MINIMAL), 0);
	CHECK(def.nics[0].present);
	CHECK_STR(def.nics[0].network, "VM Network");
	CHECK(!def.nics[0].mac_given);
	for (unsigned i = 1; i < VMDEF_MAX_NICS; i++)
		CHECK(!def.nics[i].present);
	CHECK(def.serial_present);
	CHECK_EQ(def.serial_target, VMDEF_SERIAL_CONSOLE);
	CHECK_STR(def.serial_file, "");
	CHECK_EQ(def.boot_order_count, 1);
	CHECK_EQ(def.boot_order[0], VMDEF_BOOT_KERNEL);
}

UNIT_TEST(nic_keys)
{
	CHECK_EQ(parse(MINIMAL "ethernet0.present = \"FALSE\"\n"), 0);
	for (unsigned i = 0; i < VMDEF_MAX_NICS; i++)
		CHECK(!def.nics[i].present);
	CHECK_EQ(parse(MINIMAL "ethernet1.present = \"TRUE\"\nEthernet1.networkName = \"Storage net\"\n"
			       "ethernet1.address = \"02:4B:0a:00:00:fe\"\nethernet1.virtualDev = \"virtio\"\n"
			       "ethernet3.present = true\n"),
		 0);
	CHECK(!def.nics[0].present); /* any ethernet key: only the NICs listed */
	CHECK(def.nics[1].present);
	CHECK_STR(def.nics[1].network, "Storage net");
	CHECK(def.nics[1].mac_given);
	static const uint8_t mac[VMDEF_MAC_SIZE] = { 0x02, 0x4b, 0x0a, 0x00, 0x00, 0xfe };
	CHECK(!memcmp(def.nics[1].mac, mac, sizeof(mac)));
	CHECK(!def.nics[2].present);
	CHECK(def.nics[3].present);
	CHECK_STR(def.nics[3].network, "VM Network");
	CHECK(!def.nics[3].mac_given);
}

UNIT_TEST(nic_errors)
{
	CHECK_STR(parse_error(MINIMAL "ethernet4.present = true\n"), "line 3: 'ethernet4.present': the number must be 0..3");
	CHECK_STR(parse_error(MINIMAL "ethernet.present = true\n"), "line 3: unknown key 'ethernet.present'");
	CHECK_STR(parse_error(MINIMAL "ethernet0.speed = 10\n"), "line 3: unknown key 'ethernet0.speed'");
	CHECK_STR(parse_error(MINIMAL "ethernet0.present = true\nETHERNET0.present = false\n"),
		  "line 4: duplicate key 'ETHERNET0.present' (first set on line 3)");
	CHECK_STR(parse_error(MINIMAL "ethernet2.networkName = x\n"),
		  "line 3: ethernet2 has settings but no ethernet2.present = \"true\"");
	CHECK_STR(parse_error(MINIMAL "ethernet0.present = true\nethernet0.virtualDev = e1000\n"),
		  "line 4: ethernet0.virtualDev 'e1000' is unknown (hw.version 1 has virtio)");
	CHECK_STR(parse_error(MINIMAL "ethernet0.present = true\nethernet0.address = \"01:00:00:00:00:01\"\n"),
		  "line 4: ethernet0.address '01:00:00:00:00:01' is not a unicast address");
	CHECK_STR(parse_error(MINIMAL "ethernet0.present = true\nethernet0.address = \"00:00:00:00:00:00\"\n"),
		  "line 4: ethernet0.address '00:00:00:00:00:00' is not a unicast address");
	CHECK_STR(parse_error(MINIMAL "ethernet0.present = true\nethernet0.address = \"02:00:00:00:00\"\n"),
		  "line 4: ethernet0.address '02:00:00:00:00' must be six hex pairs, as in 02:4b:00:00:00:01");
	CHECK_STR(parse_error(MINIMAL "ethernet0.present = true\nethernet0.address = \"02-00-00-00-00-01\"\n"),
		  "line 4: ethernet0.address '02-00-00-00-00-01' must be six hex pairs, as in 02:4b:00:00:00:01");
	CHECK_STR(parse_error(MINIMAL "ethernet0.present = true\nethernet0.address = \"02:00:00:00:00:0g\"\n"),
		  "line 4: ethernet0.address '02:00:00:00:00:0g' must be six hex pairs, as in 02:4b:00:00:00:01");
	CHECK_STR(parse_error(MINIMAL "ethernet0.present = true\nethernet0.address = \"02:00:00:00:00:01\"\n"
				      "ethernet1.present = true\nethernet1.address = \"02:00:00:00:00:01\"\n"),
		  "line 6: ethernet1.address is ethernet0's too");
	CHECK_STR(parse_error(MINIMAL "ethernet0.present = true\nethernet0.networkName = \"\"\n"),
		  "line 4: ethernet0.networkName is empty");
	CHECK_STR(parse_error(MINIMAL "ethernet0.present = true\nethernet0.networkName = \"an overly long network name 1234\"\n"),
		  "line 4: ethernet0.networkName is 32 characters long, more than 31");
	CHECK_STR(parse_error(MINIMAL "ethernet0.present = yes\n"), "line 3: ethernet0.present 'yes' must be on or off");
}

UNIT_TEST(serial_keys)
{
	CHECK_EQ(parse(MINIMAL "serial0.present = false\n"), 0);
	CHECK(!def.serial_present);
	CHECK_EQ(parse(MINIMAL "serial0.fileType = \"file\"\nserial0.fileName = \"serial.log\"\n"), 0);
	CHECK(def.serial_present);
	CHECK_EQ(def.serial_target, VMDEF_SERIAL_FILE);
	CHECK_STR(def.serial_file, "serial.log");
	CHECK_EQ(parse(MINIMAL "serial0.fileType = file\nserial0.fileName = \"[ds1]/logs/com1.txt\"\n"), 0);
	CHECK_STR(def.serial_file, "[ds1]/logs/com1.txt");
	CHECK_EQ(parse(MINIMAL "serial0.fileType = console\n"), 0);
	CHECK_EQ(def.serial_target, VMDEF_SERIAL_CONSOLE);

	CHECK_STR(parse_error(MINIMAL "serial1.present = true\n"), "line 3: 'serial1.present': the number must be 0..0");
	CHECK_STR(parse_error(MINIMAL "serial0.fileType = pipe\n"), "line 3: serial0.fileType 'pipe' must be console or file");
	CHECK_STR(parse_error(MINIMAL "serial0.fileType = file\n"), "line 3: serial0.fileType file needs serial0.fileName");
	CHECK_STR(parse_error(MINIMAL "serial0.fileName = x.log\n"),
		  "line 3: serial0.fileName needs serial0.fileType = \"file\"");
	CHECK_STR(parse_error(MINIMAL "serial0.present = off\nserial0.fileType = file\nserial0.fileName = x\n"),
		  "line 4: serial0 has settings but serial0.present is off");
	CHECK_STR(parse_error(MINIMAL "serial0.fileType = file\nserial0.fileName = \"../other/x.log\"\n"),
		  "line 4: serial0.fileName '../other/x.log' is not a plain path (no '..', no '//')");
	CHECK_STR(parse_error(MINIMAL "serial0.fileType = file\nserial0.fileName = \"a//b\"\n"),
		  "line 4: serial0.fileName 'a//b' is not a plain path (no '..', no '//')");
	CHECK_STR(parse_error(MINIMAL "serial0.fileType = file\nserial0.fileName = \"/abs\"\n"),
		  "line 4: serial0.fileName '/abs' is not a plain path (no '..', no '//')");
	CHECK_STR(parse_error(MINIMAL "serial0.fileType = file\nserial0.fileName = \"web-flat.VMDK\"\n"),
		  "line 4: serial0.fileName 'web-flat.VMDK' is a name for a VM's disk, config, NVRAM or log");
	CHECK_STR(parse_error(MINIMAL "serial0.fileType = file\nserial0.fileName = \"[ds1]/db/db.vmx\"\n"),
		  "line 4: serial0.fileName '[ds1]/db/db.vmx' is a name for a VM's disk, config, NVRAM or log");
	CHECK_STR(parse_error(MINIMAL "serial0.fileType = file\nserial0.fileName = \"x.nvram\"\n"),
		  "line 4: serial0.fileName 'x.nvram' is a name for a VM's disk, config, NVRAM or log");
	CHECK_STR(parse_error(MINIMAL "serial0.fileType = file\nserial0.fileName = \"vmware-1.log\"\n"),
		  "line 4: serial0.fileName 'vmware-1.log' is a name for a VM's disk, config, NVRAM or log");
	CHECK_EQ(parse(MINIMAL "serial0.fileType = file\nserial0.fileName = \"com1.log\"\n"), 0);
	CHECK_EQ(parse(MINIMAL "serial0.fileType = file\nserial0.fileName = \"logs/.vmx-notes\"\n"), 0);
	CHECK_STR(parse_error(MINIMAL "serial0.fileType = file\nserial0.fileName = \"logs/\"\n"),
		  "line 4: serial0.fileName 'logs/' names a directory");
	CHECK_STR(parse_error(MINIMAL "serial0.fileType = file\nserial0.fileName = \"[]/x\"\n"),
		  "line 4: serial0.fileName '[]/x': a datastore path is [label]/path");
	CHECK_STR(parse_error(MINIMAL "serial0.fileType = file\nserial0.fileName = \"[ds1]x\"\n"),
		  "line 4: serial0.fileName '[ds1]x': a datastore path is [label]/path");
	CHECK_STR(parse_error(MINIMAL "serial0.fileType = file\nserial0.fileName = \"[ds1]/\"\n"),
		  "line 4: serial0.fileName '[ds1]/' names a directory");
}

UNIT_TEST(boot_order)
{
	CHECK_EQ(parse(MINIMAL "bios.bootOrder = \"kernel\"\n"), 0);
	CHECK_EQ(def.boot_order_count, 1);
	CHECK_EQ(def.boot_order[0], VMDEF_BOOT_KERNEL);
	CHECK_EQ(parse(MINIMAL "BIOS.BootOrder = \" Kernel \"\n"), 0);
	CHECK_EQ(def.boot_order[0], VMDEF_BOOT_KERNEL);
	CHECK_STR(parse_error(MINIMAL "bios.bootOrder = \"cdrom,hdd\"\n"),
		  "line 3: bios.bootOrder: booting from cdrom needs a virtual BIOS, which hw.version 1 does not have (use kernel)");
	CHECK_STR(parse_error(MINIMAL "bios.bootOrder = \"kernel,hdd\"\n"),
		  "line 3: bios.bootOrder: booting from hdd needs a virtual BIOS, which hw.version 1 does not have (use kernel)");
	CHECK_STR(parse_error(MINIMAL "bios.bootOrder = \"kernel,kernel\"\n"), "line 3: bios.bootOrder names kernel twice");
	CHECK_STR(parse_error(MINIMAL "bios.bootOrder = \"floppy\"\n"),
		  "line 3: bios.bootOrder: 'floppy' is not kernel, hdd, cdrom or ethernet");
	CHECK_STR(parse_error(MINIMAL "bios.bootOrder = \"kernel,\"\n"),
		  "line 3: bios.bootOrder: '' is not kernel, hdd, cdrom or ethernet");
	CHECK_STR(parse_error(MINIMAL "bios.bootOrder = \"\"\n"),
		  "line 3: bios.bootOrder: '' is not kernel, hdd, cdrom or ethernet");
}

UNIT_MAIN()

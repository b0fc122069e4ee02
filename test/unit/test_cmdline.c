/*
 * The vmkernel command line (vmkernel/core/cmdline.c): every option in the
 * table, flags with and without =0/=1, values that are bad or out of range,
 * unknown words, the loader's kernel path, blank lines.
 */
#include "unit.h"

#include <core/cmdline.h>
#include <lib/log.h>

#define MAX_REPORTS 16

static char reports[MAX_REPORTS][256];
static int report_count;

static void collect(const char *message)
{
	if (report_count < MAX_REPORTS)
		snprintf(reports[report_count], sizeof(reports[0]), "%s", message);
	report_count++;
}

static struct vmkernel_options options;

/* Parses line into options; returns the number of problems it counted,
 * which must match the number of reports. */
static int parse(const char *line)
{
	report_count = 0;
	memset(reports, 0, sizeof(reports));
	/* Stale values must not survive a parse. */
	memset(&options, 0xa5, sizeof(options));
	int problems = cmdline_parse(line, &options, collect);
	CHECK_EQ(problems, report_count);
	return problems;
}

static void check_defaults(void)
{
	CHECK_EQ(options.log_level, LOG_INFO);
	CHECK(!options.power_off);
	CHECK(!options.reboot);
	CHECK(!options.debug_exit);
	CHECK(!options.no_smp);
	CHECK_EQ(options.max_cpus, 0);
	CHECK(!options.no_x2apic);
	CHECK(!options.no_screen);
	CHECK_EQ(options.test_fault, TEST_FAULT_NONE);
}

UNIT_TEST(empty_null_and_blank_lines_give_defaults)
{
	CHECK_EQ(parse(""), 0);
	check_defaults();
	CHECK_EQ(parse(NULL), 0);
	check_defaults();
	CHECK_EQ(parse("   "), 0);
	check_defaults();
	CHECK_EQ(parse(" \t \t"), 0);
	check_defaults();
}

UNIT_TEST(every_flag_by_its_bare_name)
{
	CHECK_EQ(parse("poweroff reboot debug_exit nosmp nox2apic noscreen"), 0);
	CHECK(options.power_off);
	CHECK(options.reboot);
	CHECK(options.debug_exit);
	CHECK(options.no_smp);
	CHECK(options.no_x2apic);
	CHECK(options.no_screen);
	CHECK_EQ(options.log_level, LOG_INFO);
	CHECK_EQ(options.max_cpus, 0);
}

UNIT_TEST(flags_take_0_and_1_and_the_last_word_wins)
{
	CHECK_EQ(parse("nosmp=1 noscreen=0 poweroff=1"), 0);
	CHECK(options.no_smp);
	CHECK(!options.no_screen);
	CHECK(options.power_off);
	CHECK_EQ(parse("nox2apic nox2apic=0"), 0);
	CHECK(!options.no_x2apic);
	CHECK_EQ(parse("reboot=0 reboot"), 0);
	CHECK(options.reboot);
}

UNIT_TEST(bad_flag_values_are_reported_and_ignored)
{
	CHECK_EQ(parse("nosmp=yes"), 1);
	CHECK(!options.no_smp);
	CHECK(strstr(reports[0], "bad value") != NULL);
	CHECK(strstr(reports[0], "nosmp=yes") != NULL);
	CHECK_EQ(parse("nosmp="), 1);
	CHECK(!options.no_smp);
	CHECK_EQ(parse("nosmp=10"), 1);
	CHECK(!options.no_smp);
	CHECK_EQ(parse("nosmp=2"), 1);
	/* A bad value keeps what an earlier word set. */
	CHECK_EQ(parse("debug_exit debug_exit=true"), 1);
	CHECK(options.debug_exit);
}

UNIT_TEST(loglevel_choices)
{
	static const struct {
		const char *line;
		int level;
	} cases[] = {
		{ "loglevel=error", LOG_ERROR },
		{ "loglevel=warn", LOG_WARN },
		{ "loglevel=info", LOG_INFO },
		{ "loglevel=debug", LOG_DEBUG },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		CHECK_EQ(parse(cases[i].line), 0);
		CHECK_EQ(options.log_level, cases[i].level);
	}
	const char *bad[] = { "loglevel=verbose", "loglevel=DEBUG", "loglevel=", "loglevel",
			      "loglevel=debugx", "loglevel=deb" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		CHECK_EQ(parse(bad[i]), 1);
		CHECK_EQ(options.log_level, LOG_INFO);
		CHECK(strstr(reports[0], "bad value") != NULL);
	}
}

UNIT_TEST(test_fault_choices)
{
	static const struct {
		const char *line;
		enum test_fault fault;
	} cases[] = {
		{ "test_fault=none", TEST_FAULT_NONE }, { "test_fault=ud", TEST_FAULT_UD },
		{ "test_fault=pf", TEST_FAULT_PF },     { "test_fault=gp", TEST_FAULT_GP },
		{ "test_fault=de", TEST_FAULT_DE },     { "test_fault=bp", TEST_FAULT_BP },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		CHECK_EQ(parse(cases[i].line), 0);
		CHECK_EQ(options.test_fault, cases[i].fault);
	}
	CHECK_EQ(parse("test_fault=nmi"), 1);
	CHECK_EQ(options.test_fault, TEST_FAULT_NONE);
	CHECK_EQ(parse("test_fault"), 1);
	CHECK_EQ(parse("test_fault=pf test_fault=xx"), 1);
	CHECK_EQ(options.test_fault, TEST_FAULT_PF);
}

UNIT_TEST(maxcpus_numbers)
{
	CHECK_EQ(parse("maxcpus=4"), 0);
	CHECK_EQ(options.max_cpus, 4);
	CHECK_EQ(parse("maxcpus=0"), 0);
	CHECK_EQ(options.max_cpus, 0);
	CHECK_EQ(parse("maxcpus=007"), 0);
	CHECK_EQ(options.max_cpus, 7);
	CHECK_EQ(parse("maxcpus=4294967289"), 0);
	CHECK_EQ(options.max_cpus, 4294967289u);
	CHECK_EQ(parse("maxcpus=2 maxcpus=64"), 0);
	CHECK_EQ(options.max_cpus, 64);
}

UNIT_TEST(maxcpus_bad_and_overflowing_values_are_ignored)
{
	const char *bad[] = { "maxcpus=",     "maxcpus",	    "maxcpus=-1",
			      "maxcpus=4x",   "maxcpus=0x10", "maxcpus=4294967296",
			      "maxcpus=99999999999999999999999" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		CHECK_EQ(parse(bad[i]), 1);
		CHECK_EQ(options.max_cpus, 0);
	}
	/* Two words: an empty value, then an unknown "4". */
	CHECK_EQ(parse("maxcpus= 4"), 2);
	CHECK_EQ(options.max_cpus, 0);
	CHECK_EQ(parse("maxcpus=8 maxcpus=18446744073709551617"), 1);
	CHECK_EQ(options.max_cpus, 8);
}

/* Was a bug: parse_uint() rejects any value above 429496728 before the last
 * digit, so the largest uint32 values (4294967290..4294967295) are called
 * bad though they fit. Check v > (UINT32_MAX - digit) / 10 instead. */
UNIT_TEST(maxcpus_accepts_uint32_max)
{
	CHECK_EQ(parse("maxcpus=4294967295"), 0);
	CHECK_EQ(options.max_cpus, 4294967295u);
}

UNIT_TEST(unknown_options_are_reported_by_name)
{
	CHECK_EQ(parse("frobnicate nosmp"), 1);
	CHECK(options.no_smp);
	CHECK_STR(reports[0], "unknown option 'frobnicate' ignored");
	/* The value is not part of the unknown name. */
	CHECK_EQ(parse("frob=12"), 1);
	CHECK_STR(reports[0], "unknown option 'frob' ignored");
	CHECK_EQ(parse("=5"), 1);
	/* Names match whole, not by prefix. */
	CHECK_EQ(parse("nosmpx nosm poweroffx=1 maxcpu=2"), 4);
	CHECK(!options.no_smp);
	CHECK(!options.power_off);
	CHECK_EQ(options.max_cpus, 0);
}

UNIT_TEST(problems_counted_and_reported_in_order)
{
	CHECK_EQ(parse("a nosmp=x loglevel=debug b=1 maxcpus=y"), 4);
	CHECK(strstr(reports[0], "'a'") != NULL);
	CHECK(strstr(reports[1], "nosmp=x") != NULL);
	CHECK(strstr(reports[2], "'b'") != NULL);
	CHECK(strstr(reports[3], "maxcpus=y") != NULL);
	CHECK_EQ(options.log_level, LOG_DEBUG);
}

UNIT_TEST(tabs_and_runs_of_blanks_separate_words)
{
	CHECK_EQ(parse("\tnosmp  \t maxcpus=3\t\tnoscreen   "), 0);
	CHECK(options.no_smp);
	CHECK_EQ(options.max_cpus, 3);
	CHECK(options.no_screen);
}

UNIT_TEST(kernel_path_as_first_word_is_skipped)
{
	CHECK_EQ(parse("/boot/kapsel/vmkernel.elf nosmp"), 0);
	CHECK(options.no_smp);
	CHECK_EQ(parse("(hd0,gpt2)/vmkernel.elf"), 0);
	/* Only the first word is the loader's: a path later is unknown. */
	CHECK_EQ(parse("nosmp /boot/vmkernel.elf"), 1);
	/* A '/' after '=' is a value, not a path. */
	CHECK_EQ(parse("loglevel=/debug"), 1);
	/* Without a '/' the first word is an ordinary word. */
	CHECK_EQ(parse("vmkernel.elf nosmp"), 1);
	CHECK(options.no_smp);
}

/* Was a bug: the path is recognised only when it starts at the very first byte
 * (start == cmdline), so a line with leading blanks reports the loader's
 * kernel path as an unknown option. */
UNIT_TEST(kernel_path_after_leading_blanks_is_skipped)
{
	CHECK_EQ(parse("  /boot/vmkernel.elf nosmp"), 0);
	CHECK(options.no_smp);
}

UNIT_TEST(overlong_words_are_reported_safely)
{
	static char line[2048];

	memset(line, 'z', sizeof(line) - 1);
	line[sizeof(line) - 1] = '\0';
	CHECK_EQ(parse(line), 1);
	CHECK(strncmp(reports[0], "unknown option 'zzz", 19) == 0);
	CHECK(strlen(reports[0]) < 160);
	memcpy(line, "maxcpus=", 8);
	memset(line + 8, '1', sizeof(line) - 9);
	CHECK_EQ(parse(line), 1);
	CHECK(strncmp(reports[0], "bad value for option 'maxcpus=111", 33) == 0);
	CHECK_EQ(options.max_cpus, 0);
}

UNIT_TEST(vmfs_format_takes_a_string_that_fits)
{
	CHECK_EQ(parse("vmfs.format=vblk0:ds1 vmfs.selftest"), 0);
	CHECK_STR(options.vmfs_format, "vblk0:ds1");
	CHECK(options.vmfs_selftest);
	CHECK_EQ(parse("vmfs.format=a vmfs.format=nvme0n1p2:big:force"), 0);
	CHECK_STR(options.vmfs_format, "nvme0n1p2:big:force");
	CHECK_EQ(parse(""), 0);
	CHECK_STR(options.vmfs_format, "");
	CHECK(!options.vmfs_selftest);
}

UNIT_TEST(vmfs_format_empty_missing_or_too_long_is_refused)
{
	static char line[256];

	CHECK_EQ(parse("vmfs.format="), 1);
	CHECK_STR(reports[0], "bad value for option 'vmfs.format=' ignored");
	CHECK_STR(options.vmfs_format, "");
	CHECK_EQ(parse("vmfs.format"), 1);
	CHECK_STR(options.vmfs_format, "");
	memcpy(line, "vmfs.format=", 12);
	memset(line + 12, 'x', sizeof(options.vmfs_format));
	line[12 + sizeof(options.vmfs_format)] = '\0';
	CHECK_EQ(parse(line), 1);
	CHECK_STR(options.vmfs_format, "");
	line[12 + sizeof(options.vmfs_format) - 1] = '\0'; /* now it just fits */
	CHECK_EQ(parse(line), 0);
	CHECK_EQ(strlen(options.vmfs_format), sizeof(options.vmfs_format) - 1);
}

UNIT_MAIN()

/*
 * The vmkernel command line: space-separated `name` or `name=value` words.
 * Every option is in the table in cmdline.c (and in README.md); an unknown
 * word is reported and ignored, a bad value is reported and the default kept.
 */
#ifndef KAPSEL_CORE_CMDLINE_H
#define KAPSEL_CORE_CMDLINE_H

#include <stdbool.h>
#include <stdint.h>

enum test_fault {
	TEST_FAULT_NONE = 0,
	TEST_FAULT_UD,
	TEST_FAULT_PF,
	TEST_FAULT_GP,
	TEST_FAULT_DE,
	TEST_FAULT_BP,
};

struct vmkernel_options {
	int log_level;          /* loglevel=error|warn|info|debug */
	bool power_off;         /* poweroff: power off once init (and boot VMs) finish */
	bool reboot;            /* reboot: reboot instead */
	bool debug_exit;        /* debug_exit: power off through QEMU isa-debug-exit too */
	bool no_smp;            /* nosmp: run on the BSP only */
	uint32_t max_cpus;      /* maxcpus=N: 0 = all */
	bool no_x2apic;         /* nox2apic: stay in xAPIC mode */
	bool no_screen;         /* noscreen: no status screen */
	enum test_fault test_fault; /* test_fault=ud|pf|gp|de|bp: fault after ready */
	uint32_t blockdev_selftest; /* blockdev.selftest=1: destructive disk check (test images) */
	char vmfs_format[96];   /* vmfs.format=<blockdev>:<label>[:force]: "" = none */
	bool vmfs_selftest;     /* vmfs.selftest: write/read a file on each datastore */
};

/* Reports problems through report(message) and returns how many there were. */
int cmdline_parse(const char *cmdline, struct vmkernel_options *out,
		  void (*report)(const char *message));

#endif

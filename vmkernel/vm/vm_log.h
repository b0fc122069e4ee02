/*
 * A VM's own log (ESX's vmware.log): lines from any context (a vCPU's exit
 * path with device locks held included) go into a bounded ring in vmkernel
 * memory; the BSP's loop takes them out and writes them to the VM's log
 * file (vmkernel/vm_logfile.c). A full ring loses the new lines (counted),
 * never stalls the VM. A VM without a log file (vm->log NULL) logs nothing.
 */
#ifndef KAPSEL_VM_VM_LOG_H
#define KAPSEL_VM_VM_LOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <lib/spinlock.h>

struct vm;

#define VM_LOG_RING_BYTES 16384u
#define VM_LOG_LINE_MAX 240u

struct vm_log {
	struct spinlock lock;
	uint64_t head, tail;   /* [lock] bytes ever put in / taken out */
	uint64_t lost_lines;   /* [lock] since the last vm_log_take_lost() */
	char ring[VM_LOG_RING_BYTES]; /* [lock] */
};

/* One line "<seconds since host boot>| <text>" into vm->log (a trailing
 * newline is added; longer text is cut at VM_LOG_LINE_MAX). */
void vm_log(struct vm *vm, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* @length bytes as they are (whole lines); false when the ring is full. */
bool vm_log_put(struct vm_log *log, const char *text, size_t length);
/* Bytes waiting in the ring. */
uint64_t vm_log_pending(struct vm_log *log);
/* Empties the ring (a new file). */
void vm_log_reset(struct vm_log *log);
/* Moves up to @size bytes of whole lines out of the ring; returns how many. */
size_t vm_log_take(struct vm_log *log, char *out, size_t size);
/* Lines lost to a full ring since the last call. */
uint64_t vm_log_take_lost(struct vm_log *log);

#endif

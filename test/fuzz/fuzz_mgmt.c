/*
 * libFuzzer target: the control service (vmkernel/mgmt/mgmt.c) as the
 * service console's hostile peer. The input is a series of chunks (one
 * length byte, then that many bytes) delivered to one connection as the
 * vsock transport would; when the service closes it, the next chunk opens
 * a new connection, as vmkctl reconnecting would. Stubs stand in for the
 * VM list (the console, a defined VM, a running one), the datastores and
 * the transport, and record what the service does.
 *
 * Checked after every chunk: every byte sent is printable ASCII or a
 * newline, every line is complete and well formed (the greeting, "<id>
 * item|ok ...", "<id> err <ECODE> ..."), each request line gets exactly one
 * final ok/err line while the connection stays open, nothing is sent after
 * the close, the service console is never stopped or started, and the
 * session is freed when its connection ends (LeakSanitizer).
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lib/log.h>
#include <mgmt/mgmt.h>
#include <mm/heap.h>
#include <storage/datastore.h>
#include <vdev/vsock.h>
#include <vm/vm.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void invariant(bool ok, const char *what, const char *detail)
{
	if (!ok) {
		fprintf(stderr, "invariant failed: %s: '%s'\n", what, detail ? detail : "");
		abort();
	}
}

void *kzalloc(size_t size)
{
	return calloc(1, size);
}

void kfree(void *p)
{
	free(p);
}

/* ---- the VMs, as the service sees them ---- */

static struct vm vms[3];
static unsigned stop_calls_on_console;

struct vm *vm_list(void)
{
	return &vms[0];
}

bool vm_stop(struct vm *vm, int64_t exit_status, const char *fmt, ...)
{
	(void)exit_status;
	(void)fmt;
	if (vm->service_console)
		stop_calls_on_console++;
	bool was_running = vm->state == VM_RUNNING;
	vm->state = VM_STOPPED;
	vm->power = VM_POWER_OFF;
	return was_running;
}

static int allow_start(struct vm *vm, char *why, size_t why_size)
{
	(void)vm;
	(void)why;
	(void)why_size;
	return 0;
}

static void reset_vms(void)
{
	memset(vms, 0, sizeof(vms));
	static const char *const names[] = { "console", "alpha", "beta" };
	for (unsigned i = 0; i < 3; i++) {
		strcpy(vms[i].name, names[i]);
		vms[i].next = i < 2 ? &vms[i + 1] : NULL;
		vms[i].vcpu_count = 1;
		vms[i].ram_size = 64u << 20;
		vms[i].start_check = allow_start;
	}
	vms[0].service_console = true;
	vms[0].state = VM_RUNNING;
	vms[0].power = VM_POWER_ON;
	vms[1].state = VM_STOPPED; /* defined, never started */
	vms[2].state = VM_RUNNING;
	vms[2].power = VM_POWER_ON;
	vms[2].start_tsc = 1;
	stop_calls_on_console = 0;
}

/* ---- datastores ---- */

static struct datastore datastores[2];

unsigned datastore_count(void)
{
	return 2;
}

struct datastore *datastore_get(unsigned index)
{
	return index < 2 ? &datastores[index] : NULL;
}

/* ---- the transport ---- */

static const struct vsock_service *service;
struct vsock_connection {
	void *context;
	bool closed;
	char sent[1 << 20];
	size_t sent_length;
	size_t lines_checked_to; /* bytes of sent already checked */
	unsigned finals;          /* ok/err lines */
	unsigned requests;        /* request lines delivered while open */
};
static struct vsock_connection connection;

int vsock_register_service(const struct vsock_service *s)
{
	service = s;
	return 0;
}

int vsock_send(struct vsock_connection *c, const char *data, size_t length)
{
	invariant(!c->closed, "sent after the close", data);
	if (length > sizeof(c->sent) - c->sent_length)
		return -1; /* the guest stopped reading: a full send buffer */
	memcpy(c->sent + c->sent_length, data, length);
	c->sent_length += length;
	return 0;
}

void vsock_close(struct vsock_connection *c)
{
	invariant(!c->closed, "closed twice", NULL);
	c->closed = true;
}

void vsock_set_context(struct vsock_connection *c, void *context)
{
	c->context = context;
}

void *vsock_context(struct vsock_connection *c)
{
	return c->context;
}

/* ---- the checks ---- */

static bool is_upper_word(const char *p, const char *end)
{
	if (p >= end || *p != 'E')
		return false;
	for (; p < end && *p != ' '; p++)
		if (*p < 'A' || *p > 'Z')
			return false;
	return true;
}

/* One complete line (without its newline). */
static void check_line(struct vsock_connection *c, const char *line, size_t length)
{
	char copy[512];
	snprintf(copy, sizeof(copy), "%.*s", (int)length, line);
	invariant(length > 0 && length < 256, "line length", copy);
	if (!strncmp(copy, "kapsel-mgmt ", 12))
		return;
	size_t id = 0;
	while (id < length && copy[id] >= '0' && copy[id] <= '9')
		id++;
	invariant(id > 0 && id <= 10 && id < length && copy[id] == ' ', "line starts with a numeric id", copy);
	const char *kind = copy + id + 1;
	if (!strncmp(kind, "item ", 5))
		return;
	if (!strcmp(kind, "ok") || !strncmp(kind, "ok ", 3)) {
		c->finals++;
		return;
	}
	invariant(!strncmp(kind, "err ", 4) && is_upper_word(kind + 4, copy + length), "ok, item or err <ECODE>",
		  copy);
	c->finals++;
}

static void check_output(struct vsock_connection *c)
{
	for (size_t i = c->lines_checked_to; i < c->sent_length; i++) {
		unsigned char ch = (unsigned char)c->sent[i];
		invariant(ch == '\n' || (ch >= 0x20 && ch <= 0x7e), "printable output", NULL);
	}
	while (c->lines_checked_to < c->sent_length) {
		const char *start = c->sent + c->lines_checked_to;
		const char *newline = memchr(start, '\n', c->sent_length - c->lines_checked_to);
		invariant(newline != NULL, "every reply ends with a newline", start);
		check_line(c, start, (size_t)(newline - start));
		c->lines_checked_to += (size_t)(newline - start) + 1;
	}
	/* While open, every request line had exactly one answer; the service
	 * closes only after answering what broke the protocol. */
	if (!c->closed) {
		invariant(c->finals == c->requests, "one final answer per request", NULL);
	} else {
		const char *last = c->sent + c->sent_length - 1;
		while (last > c->sent && last[-1] != '\n')
			last--;
		invariant(!strncmp(last, "0 err EPROTO ", 13), "a close follows 0 err EPROTO", last);
	}
	invariant(stop_calls_on_console == 0, "the service console was stopped", NULL);
	invariant(vms[0].power == VM_POWER_ON, "the service console's power state was touched", NULL);
}

static void open_connection(void)
{
	memset(&connection, 0, sizeof(connection));
	invariant(service->accept(&connection, &vms[0], VSOCK_CID_CONSOLE) == 0, "the console is accepted", NULL);
	check_output(&connection);
}

static void close_connection(void)
{
	service->closed(&connection);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static bool ready;
	if (!ready) {
		invariant(mgmt_init() == 0, "mgmt_init", NULL);
		ready = true;
		strcpy(datastores[0].label, "ds1");
		strcpy(datastores[1].label, "odd label\n\x01");
		datastores[1].read_only = true;
	}
	reset_vms();
	/* A VM that is not the console is refused before any session exists. */
	struct vsock_connection stranger = { 0 };
	invariant(service->accept(&stranger, &vms[2], VSOCK_CID_CONSOLE) != 0, "a non-console VM is refused", NULL);
	invariant(stranger.sent_length == 0 && !stranger.context, "a refused peer gets nothing", NULL);

	open_connection();
	while (size) {
		size_t length = data[0] % 65;
		data++;
		size--;
		if (length > size)
			length = size;
		if (connection.closed) {
			close_connection();
			open_connection();
		}
		/* Request lines the service will see complete while open. */
		for (size_t i = 0; i < length; i++)
			connection.requests += data[i] == '\n';
		service->receive(&connection, (const char *)data, length);
		check_output(&connection);
		data += length;
		size -= length;
	}
	close_connection();
	return 0;
}

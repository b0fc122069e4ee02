/*
 * The control service (mgmt-console/PROTOCOL.md): one request per line,
 * "<id> <command> [argument...]", answered by zero or more "<id> item
 * key=value..." records and one "<id> ok [key=value...]" or "<id> err
 * <CODE> <message>". Only the service console may connect: the VM with
 * role = console, from its CID 3. A malformed line (too long, a control
 * byte, no numeric id) is answered "0 err EPROTO <why>" and the connection
 * is closed; nothing else is affected.
 */
#include <mgmt/mgmt.h>

#include <lib/errno.h>
#include <lib/log.h>
#include <lib/printf.h>
#include <lib/string.h>
#include <mm/heap.h>
#include <storage/datastore.h>
#include <vdev/vsock.h>
#include <vm/vm.h>

#define MAX_WORDS 4

struct mgmt_session {
	struct vm *console;
	size_t length;
	bool broken;              /* closed after a protocol error: ignore the rest */
	char line[MGMT_LINE_MAX + 1];
};

struct mgmt_request {
	struct vsock_connection *c;
	struct mgmt_session *session;
	const char *id;
	char *words[MAX_WORDS];
	unsigned word_count;
};

typedef void (*mgmt_handler)(struct mgmt_request *r);

__attribute__((format(printf, 2, 3)))
static void reply(struct mgmt_request *r, const char *fmt, ...)
{
	char text[256];
	va_list ap;
	int n = snprintf(text, sizeof(text), "%s ", r->id);
	va_start(ap, fmt);
	n += vsnprintf(text + n, sizeof(text) - (size_t)n, fmt, ap);
	va_end(ap);
	if (n >= (int)sizeof(text) - 1)
		n = (int)sizeof(text) - 2;
	text[n++] = '\n';
	if (vsock_send(r->c, text, (size_t)n))
		vsock_close(r->c); /* the console stopped reading: it loses the connection */
}

static const char *vm_state_name(const struct vm *vm)
{
	uint32_t power = __atomic_load_n(&vm->power, __ATOMIC_ACQUIRE);

	if (__atomic_load_n(&vm->state, __ATOMIC_ACQUIRE) == VM_RUNNING)
		return "running";
	if (power == VM_POWER_ON_PENDING)
		return "starting";
	if (power == VM_POWER_ON)
		return "stopping"; /* its vCPUs are leaving, then its disks are let go */
	return vm->start_tsc ? "stopped" : "defined";
}

static struct vm *find_vm(const char *name)
{
	for (struct vm *vm = vm_list(); vm; vm = vm->next)
		if (strcmp(vm->name, name) == 0)
			return vm;
	return NULL;
}

static void command_version(struct mgmt_request *r)
{
	reply(r, "ok protocol=%s vmkernel=%s console_restarts=%u", MGMT_PROTOCOL_VERSION, KAPSEL_VERSION,
	      r->session->console->resets);
}

static void command_vm_list(struct mgmt_request *r)
{
	unsigned count = 0;
	for (struct vm *vm = vm_list(); vm; vm = vm->next, count++)
		reply(r, "item name=%s state=%s vcpus=%u memsize=%lu%s", vm->name, vm_state_name(vm),
		      vm->vcpu_count, vm->ram_size >> 20, vm->service_console ? " role=console" : "");
	reply(r, "ok count=%u", count);
}

static struct vm *named_vm(struct mgmt_request *r)
{
	struct vm *vm = find_vm(r->words[2]);
	if (!vm)
		reply(r, "err ENOENT no VM is named %s", r->words[2]);
	else if (vm->service_console)
		reply(r, "err EPERM %s is the service console", vm->name);
	else
		return vm;
	return NULL;
}

static void command_vm_start(struct mgmt_request *r)
{
	struct vm *vm = named_vm(r);
	if (!vm)
		return;
	char why[160];
	uint32_t off = VM_POWER_OFF;

	if (vm->state != VM_STOPPED || vm->power != VM_POWER_OFF) {
		reply(r, "err EBUSY %s is %s", vm->name, vm_state_name(vm));
		return;
	}
	if (!vm->start_check) {
		reply(r, "err EBUSY %s cannot be powered on again", vm->name);
		return;
	}
	if (vm->start_check(vm, why, sizeof(why))) {
		reply(r, "err EBUSY %s", why);
		return;
	}
	/* The power-on itself (disks locked, guest loaded) runs in the BSP's
	 * loop: datastore I/O cannot wait under this device's lock. */
	if (!__atomic_compare_exchange_n(&vm->power, &off, VM_POWER_ON_PENDING, false, __ATOMIC_ACQ_REL,
					 __ATOMIC_ACQUIRE)) {
		reply(r, "err EBUSY %s is %s", vm->name, vm_state_name(vm));
		return;
	}
	log_info("mgmt: vm start %s (from the service console)\n", vm->name);
	reply(r, "ok name=%s state=starting", vm->name);
}

static void command_vm_stop(struct mgmt_request *r)
{
	struct vm *vm = named_vm(r);
	if (!vm)
		return;
	if (vm->state != VM_RUNNING) {
		reply(r, "err EALREADY %s is %s", vm->name, vm_state_name(vm));
		return;
	}
	log_info("mgmt: vm stop %s (from the service console)\n", vm->name);
	vm_stop(vm, 0, "stopped by the service console");
	reply(r, "ok name=%s state=%s", vm->name, vm_state_name(vm));
}

/* A label as one protocol word: bytes outside [A-Za-z0-9_.-] become '_'. */
static void label_word(const char *label, char *out, size_t size)
{
	size_t n = 0;
	for (; label[n] && n + 1 < size; n++) {
		char c = label[n];
		bool plain = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
			     c == '_' || c == '.' || c == '-';
		out[n] = plain ? c : '_';
	}
	out[n] = '\0';
}

static void command_datastore_list(struct mgmt_request *r)
{
	unsigned count = datastore_count();
	for (unsigned i = 0; i < count; i++) {
		const struct datastore *ds = datastore_get(i);
		char name[sizeof(ds->label)];
		label_word(ds->label, name, sizeof(name));
		reply(r, "item name=%s access=%s", name, ds->read_only ? "read-only" : "read-write");
	}
	reply(r, "ok count=%u", count);
}

struct mgmt_command {
	const char *verb, *object; /* object NULL: one word */
	unsigned arguments;        /* words after verb [object] */
	mgmt_handler handler;
};

static const struct mgmt_command commands[] = {
	{ "version", NULL, 0, command_version },
	{ "vm", "list", 0, command_vm_list },
	{ "vm", "start", 1, command_vm_start },
	{ "vm", "stop", 1, command_vm_stop },
	{ "datastore", "list", 0, command_datastore_list },
};

/* Splits at single blanks; returns false for an empty word. */
static bool split_words(char *text, struct mgmt_request *r)
{
	r->word_count = 0;
	while (*text) {
		if (r->word_count == MAX_WORDS || *text == ' ')
			return false;
		r->words[r->word_count++] = text;
		char *blank = strchr(text, ' ');
		if (!blank)
			break;
		*blank = '\0';
		text = blank + 1;
		if (!*text)
			return false;
	}
	return true;
}

static void protocol_error(struct vsock_connection *c, struct mgmt_session *s, const char *why)
{
	char text[128];
	int n = snprintf(text, sizeof(text), "0 err EPROTO %s\n", why);
	log_warn("mgmt: malformed request from the service console (%s): connection closed\n", why);
	vsock_send(c, text, (size_t)n);
	vsock_close(c);
	s->broken = true;
}

static void handle_line(struct vsock_connection *c, struct mgmt_session *s)
{
	struct mgmt_request r = { .c = c, .session = s };
	char *line = s->line;
	char *blank = strchr(line, ' ');
	size_t id_length = blank ? (size_t)(blank - line) : strlen(line);

	if (!id_length || id_length > 10 || !blank) {
		protocol_error(c, s, "a request is <id> <command>");
		return;
	}
	for (size_t i = 0; i < id_length; i++) {
		if (line[i] < '0' || line[i] > '9') {
			protocol_error(c, s, "the request id is not a number");
			return;
		}
	}
	*blank = '\0';
	r.id = line;
	if (!split_words(blank + 1, &r) || !r.word_count) {
		reply(&r, "err EINVAL words are separated by one blank; at most %u", MAX_WORDS);
		return;
	}
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
		const struct mgmt_command *command = &commands[i];
		unsigned fixed = command->object ? 2 : 1;
		bool verb_matches = strcmp(r.words[0], command->verb) == 0;
		bool object_matches = !command->object ||
				      (r.word_count >= 2 && strcmp(r.words[1], command->object) == 0);
		if (!verb_matches || !object_matches)
			continue;
		if (r.word_count != fixed + command->arguments) {
			reply(&r, "err EINVAL %s%s%s takes %u argument%s", command->verb, command->object ? " " : "",
			      command->object ? command->object : "", command->arguments,
			      command->arguments == 1 ? "" : "s");
			return;
		}
		command->handler(&r);
		return;
	}
	reply(&r, "err ENOSYS unknown command '%s'", r.words[0]);
}

static int mgmt_accept(struct vsock_connection *c, struct vm *vm, uint64_t peer_cid)
{
	/* The device exists only in the console VM; check both anyway. */
	if (!vm->service_console || peer_cid != VSOCK_CID_CONSOLE) {
		log_warn("mgmt: connection from vm %s CID %lu refused: not the service console\n", vm->name,
			 peer_cid);
		return -EPERM;
	}
	struct mgmt_session *s = kzalloc(sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->console = vm;
	vsock_set_context(c, s);
	char greeting[96];
	int n = snprintf(greeting, sizeof(greeting), "kapsel-mgmt %s vmkernel=%s\n", MGMT_PROTOCOL_VERSION,
			 KAPSEL_VERSION);
	vsock_send(c, greeting, (size_t)n);
	return 0;
}

static void mgmt_receive(struct vsock_connection *c, const char *data, size_t length)
{
	struct mgmt_session *s = vsock_context(c);

	for (size_t i = 0; i < length && !s->broken; i++) {
		char ch = data[i];
		if (ch == '\n') {
			s->line[s->length] = '\0';
			s->length = 0;
			handle_line(c, s);
		} else if ((unsigned char)ch < 0x20 || (unsigned char)ch > 0x7e) {
			protocol_error(c, s, "a control or non-ASCII byte in the request");
		} else if (s->length == MGMT_LINE_MAX) {
			protocol_error(c, s, "request line longer than 1024 bytes");
		} else {
			s->line[s->length++] = ch;
		}
	}
}

static void mgmt_closed(struct vsock_connection *c)
{
	kfree(vsock_context(c));
}

static const struct vsock_service mgmt_service = {
	.port = MGMT_PORT,
	.accept = mgmt_accept,
	.receive = mgmt_receive,
	.closed = mgmt_closed,
};

int mgmt_init(void)
{
	int rc = vsock_register_service(&mgmt_service);
	if (!rc)
		log_info("mgmt: control service on vsock port %u (protocol %s)\n", MGMT_PORT, MGMT_PROTOCOL_VERSION);
	return rc;
}

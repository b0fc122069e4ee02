/*
 * vmkctl: the service console's client of the vmkernel control protocol
 * (mgmt-console/PROTOCOL.md) over virtio-vsock, CID 2 port 1024.
 *   vmkctl version | vm list | vm start NAME | vm stop NAME | datastore list
 * Prints the reply's records, one per line; exit status 0 on "ok", 1 on
 * "err" (its code and message on stderr), 2 on a transport failure.
 *   vmkctl --raw TEXT   sends TEXT and a newline as it is and prints every
 * line until the vmkernel closes the connection (exit 0) or 10 s pass (the
 * tests' malformed requests).
 */
#define _DEFAULT_SOURCE
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>
#include <linux/vm_sockets.h>

#define MGMT_PORT 1024
#define LINE_MAX_BYTES 1024
#define PROTOCOL_MAJOR "1"

static int connection;
static char input[LINE_MAX_BYTES * 4];
static size_t input_length;

/* The next line from the vmkernel (without '\n'), or NULL at EOF/error. */
static char *read_line(void)
{
	static char line[LINE_MAX_BYTES + 1];
	for (;;) {
		char *newline = memchr(input, '\n', input_length);
		if (newline) {
			size_t n = (size_t)(newline - input);
			if (n > LINE_MAX_BYTES)
				return NULL;
			memcpy(line, input, n);
			line[n] = '\0';
			memmove(input, newline + 1, input_length - n - 1);
			input_length -= n + 1;
			return line;
		}
		if (input_length == sizeof(input))
			return NULL;
		ssize_t got = read(connection, input + input_length, sizeof(input) - input_length);
		if (got <= 0)
			return NULL;
		input_length += (size_t)got;
	}
}

static int fail(const char *what)
{
	fprintf(stderr, "vmkctl: %s: %s\n", what, errno ? strerror(errno) : "connection closed");
	return 2;
}

int main(int argc, char **argv)
{
	char request[4 * LINE_MAX_BYTES]; /* raw requests may be too long on purpose */
	int length = snprintf(request, sizeof(request), "1");

	bool raw = argc == 3 && !strcmp(argv[1], "--raw");
	if (argc < 2) {
		fprintf(stderr, "usage: vmkctl version | vm list | vm start NAME | vm stop NAME | datastore list\n");
		return 2;
	}
	if (raw)
		length = 0;
	for (int i = raw ? 2 : 1; i < argc; i++) {
		length += snprintf(request + length, sizeof(request) - (size_t)length, raw ? "%s" : " %s", argv[i]);
		if (length >= (raw ? (int)sizeof(request) : LINE_MAX_BYTES) - 1) {
			fprintf(stderr, "vmkctl: request too long\n");
			return 2;
		}
	}
	request[length++] = '\n';

	connection = socket(AF_VSOCK, SOCK_STREAM, 0);
	if (connection < 0)
		return fail("socket(AF_VSOCK)");
	struct timeval timeout = { .tv_sec = 10 };
	setsockopt(connection, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout));
	struct sockaddr_vm address = { .svm_family = AF_VSOCK, .svm_cid = VMADDR_CID_HOST, .svm_port = MGMT_PORT };
	if (connect(connection, (struct sockaddr *)&address, sizeof(address)))
		return fail("connect to the vmkernel (CID 2 port 1024)");

	/* Greeting: "kapsel-mgmt <major>.<minor> ..." */
	char *line = read_line();
	if (!line)
		return fail("no greeting");
	if (strncmp(line, "kapsel-mgmt " PROTOCOL_MAJOR ".", 14)) {
		fprintf(stderr, "vmkctl: unsupported protocol: %s\n", line);
		return 2;
	}
	for (int sent = 0; sent < length;) {
		ssize_t n = write(connection, request + sent, (size_t)(length - sent));
		if (n <= 0)
			return fail("send");
		sent += (int)n;
	}
	if (raw) {
		errno = 0;
		while ((line = read_line()))
			printf("%s\n", line);
		if (errno) /* the receive timeout: the vmkernel kept the connection */
			return fail("no close");
		printf("(connection closed)\n");
		return 0;
	}
	/* Records "1 item ...", ended by "1 ok ..." or "1 err CODE message". */
	while ((line = read_line())) {
		if (!strncmp(line, "1 item ", 7)) {
			printf("%s\n", line + 7);
		} else if (!strncmp(line, "1 ok", 4)) {
			if (line[4] == ' ')
				printf("%s\n", line + 5);
			return 0;
		} else if (!strncmp(line, "1 err ", 6)) {
			fprintf(stderr, "vmkctl: error %s\n", line + 6);
			return 1;
		} else {
			fprintf(stderr, "vmkctl: unexpected reply: %s\n", line);
			return 2;
		}
	}
	return fail("reply");
}

/* Shared by the VMFS host tools. */
#define _GNU_SOURCE
#include "tool_common.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

const char *tool_name = "vmfs";

void tool_error(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fprintf(stderr, "%s: error: ", tool_name);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
}

bool tool_parse_size(const char *text, uint64_t *out)
{
	if (!text || !*text)
		return false;
	char *end;
	unsigned long long v = strtoull(text, &end, 10);
	if (end == text || text[0] == '-')
		return false;
	unsigned shift = 0;
	switch (*end) {
	case '\0': break;
	case 'k': case 'K': shift = 10; end++; break;
	case 'm': case 'M': shift = 20; end++; break;
	case 'g': case 'G': shift = 30; end++; break;
	case 't': case 'T': shift = 40; end++; break;
	default: return false;
	}
	if (*end == 'i' && end[1] == 'B')
		end += 2;
	else if (*end == 'B')
		end++;
	if (*end)
		return false;
	if (shift && v > (~0ull >> shift))
		return false;
	*out = (uint64_t)v << shift;
	return true;
}

void tool_random_uuid(uint8_t uuid[16])
{
	FILE *f = fopen("/dev/urandom", "rb");
	if (!f || fread(uuid, 1, 16, f) != 16) {
		uint64_t a = (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32), b = (uint64_t)clock() * 2654435761u;
		memcpy(uuid, &a, 8);
		memcpy(uuid + 8, &b, 8);
	}
	if (f)
		fclose(f);
}

static uint32_t env_ms(const char *name)
{
	const char *v = getenv(name);
	if (!v || !*v)
		return 0;
	char *end;
	unsigned long n = strtoul(v, &end, 10);
	if (*end || n == 0 || n > 3600000) {
		tool_error("%s='%s' is not a number of milliseconds; default used", name, v);
		return 0;
	}
	return (uint32_t)n;
}

void tool_mount_options(struct vmfs_mount_options *options, char *name_buf, size_t name_size)
{
	memset(options, 0, sizeof(*options));
	tool_random_uuid(options->host_uuid);
	char host[48] = "host";
	gethostname(host, sizeof(host) - 1);
	snprintf(name_buf, name_size, "%s:%d", host, (int)getpid());
	options->host_name = name_buf;
	options->heartbeat_ms = env_ms("VMFS_HEARTBEAT_MS");
	options->lease_ms = env_ms("VMFS_LEASE_MS");
	options->lock_wait_ms = env_ms("VMFS_LOCK_WAIT_MS");
}

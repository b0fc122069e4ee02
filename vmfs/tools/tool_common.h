/* Shared by the VMFS host tools: argument parsing, opening and mounting. */
#ifndef VMFS_TOOL_COMMON_H
#define VMFS_TOOL_COMMON_H

#include <vmfs/vmfs.h>

#include <stdbool.h>
#include <stdint.h>

extern const char *tool_name;

void tool_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* "10G", "512M", "4096", "1T", "64K": bytes; false when malformed. */
bool tool_parse_size(const char *text, uint64_t *out);
void tool_random_uuid(uint8_t uuid[16]);
/* Mount options from the environment (VMFS_HEARTBEAT_MS, VMFS_LEASE_MS,
 * VMFS_LOCK_WAIT_MS) with a random host uuid and "host:pid" as its name. */
void tool_mount_options(struct vmfs_mount_options *options, char *name_buf, size_t name_size);

#endif

/*
 * Crash-consistency harness for the VMFS library.
 *
 * A workload (metadata-heavy: create, write, extend, overwrite, truncate,
 * clone, rename, unlink, mkdir, rmdir; one host or two hosts interleaved on
 * one device) runs on a recording in-memory device. Then the disk is rebuilt
 * as a power cut could leave it:
 *   - every prefix of the log (or every k-th one in the short run), and
 *   - sampled states inside a flush epoch: everything up to the last flush,
 *     every FUA write, and a random subset of the other writes since that
 *     flush, some of them torn at a 512-byte sector boundary (seeded).
 * Each state is mounted (journal replay) by every host of the workload, the
 * files that were synced before the crash and not touched since are compared
 * with what was written, and fsck (no repair) must find nothing.
 *
 * usage: crash_harness WORKLOAD PREFIX_STRIDE SAMPLES SEED
 *   WORKLOAD: single | twohost
 * Prints "PASS vmfs/crash/<workload>-..." / "FAIL ..." lines and counts.
 */
#define _GNU_SOURCE
#include <vmfs/vmfs.h>

#include "memdev.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define IMAGE_BYTES (32ull << 20)
#define MAX_FILES 256
#define PATH_LEN 96

struct model_file {
	char path[PATH_LEN];
	int host;
	int is_dir;
	uint8_t *data;
	uint64_t size;
};

struct model {
	struct model_file files[MAX_FILES];
	int count;
};

/* What must hold after a crash once host @host's sync at @log_index is durable. */
struct expect {
	char path[PATH_LEN];
	int is_dir;
	uint64_t size;
	uint64_t hash;
};

struct sync_point {
	int host;
	size_t log_index;
	struct expect *expects;
	int count;
};

/* An operation of host @host that started at @log_index touching @path. */
struct touch {
	int host;
	size_t log_index;
	char path[PATH_LEN];
};

static struct vmfs_os os;
static struct memdev_recorder rec;
static struct sync_point *syncs;
static size_t sync_count;
static struct touch *touches;
static size_t touch_count;
static struct model model;
static uint64_t rng_state;
static int host_count;
static char last_error[256];
static const char *wl = "";

static uint64_t rng(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return rng_state;
}

static uint64_t fnv(const uint8_t *p, uint64_t n)
{
	uint64_t h = 1469598103934665603ull;
	for (uint64_t i = 0; i < n; i++)
		h = (h ^ p[i]) * 1099511628211ull;
	return h;
}

/* Library log: errors are kept (the first one explains a failure), not printed. */
static void quiet_log(void *ctx, enum vmfs_log_level level, const char *line)
{
	(void)ctx;
	if (level == VMFS_LOG_ERROR && !last_error[0])
		snprintf(last_error, sizeof(last_error), "%s", line);
}

static void die(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	exit(1);
}

static void host_uuid(int host, uint8_t uuid[16])
{
	memset(uuid, 0, 16);
	uuid[0] = 0xc0;
	uuid[15] = (uint8_t)(host + 1);
}

static struct vmfs_volume *mount_as(struct vmfs_blockdev *dev, int host, int *err)
{
	struct vmfs_mount_options mo = { 0 };
	host_uuid(host, mo.host_uuid);
	mo.host_name = host ? "crash-b" : "crash-a";
	struct vmfs_volume *vol = NULL;
	*err = vmfs_mount(&os, dev, &mo, &vol);
	return *err ? NULL : vol;
}

static int verify_file(struct vmfs_volume *vol, const struct expect *e, char *why, size_t why_len);

/* --- the workload --------------------------------------------------------- */

static void touch(int host, const char *path)
{
	touches = realloc(touches, (touch_count + 1) * sizeof(*touches));
	touches[touch_count].host = host;
	touches[touch_count].log_index = rec.count;
	snprintf(touches[touch_count].path, PATH_LEN, "%s", path);
	touch_count++;
}

static void forget(struct model_file *f)
{
	free(f->data);
	*f = model.files[--model.count];
}

static struct model_file *add(int host, const char *path, int is_dir)
{
	if (model.count == MAX_FILES)
		die("FAIL vmfs/crash/%s-workload: model full", wl);
	struct model_file *f = &model.files[model.count++];
	memset(f, 0, sizeof(*f));
	snprintf(f->path, PATH_LEN, "%s", path);
	f->host = host;
	f->is_dir = is_dir;
	return f;
}

static void check(int err, const char *what, const char *path)
{
	if (err < 0)
		die("FAIL vmfs/crash/%s-workload: %s %s: %s (%s)", wl, what, path, vmfs_strerror(err), last_error);
}

static void sync_host(struct vmfs_volume *vol, int host)
{
	check(vmfs_sync(vol), "sync", "");
	syncs = realloc(syncs, (sync_count + 1) * sizeof(*syncs));
	struct sync_point *sp = &syncs[sync_count++];
	sp->host = host;
	sp->log_index = rec.count;
	sp->expects = calloc(MAX_FILES, sizeof(*sp->expects));
	sp->count = 0;
	for (int i = 0; i < model.count; i++) {
		struct model_file *f = &model.files[i];
		if (f->host != host)
			continue;
		struct expect *e = &sp->expects[sp->count++];
		snprintf(e->path, PATH_LEN, "%s", f->path);
		e->is_dir = f->is_dir;
		e->size = f->size;
		e->hash = f->is_dir ? 0 : fnv(f->data, f->size);
	}
}

static void write_range(struct vmfs_volume *vol, struct model_file *f, uint64_t offset, uint64_t len, int create)
{
	struct vmfs_file *file;
	touch(f->host, f->path);
	check(vmfs_open(vol, f->path, create ? VMFS_O_CREAT | VMFS_O_EXCL : 0, VMFS_LOCK_EXCLUSIVE, &file), "open",
	      f->path);
	if (offset + len > f->size) {
		f->data = realloc(f->data, offset + len + 1);
		if (offset > f->size)
			memset(f->data + f->size, 0, offset - f->size);
		f->size = offset + len;
	}
	uint8_t seed = (uint8_t)rng();
	for (uint64_t i = 0; i < len; i++)
		f->data[offset + i] = (uint8_t)(seed + i * 7 + (i >> 9));
	if (len) {
		int64_t n = vmfs_write(file, offset, f->data + offset, len);
		if (n != (int64_t)len)
			die("FAIL vmfs/crash/%s-workload: write %s: %s", wl, f->path, n < 0 ? vmfs_strerror((int)n) : "short");
	}
	if (rng() % 4 == 0)
		check(vmfs_fsync(file), "fsync", f->path);
	check(vmfs_close(file), "close", f->path);
}

static const uint64_t sizes[] = { 0, 100, 700, 3000, 5000, 70000, 140000, 200000 };

/* Picks an existing file (not a directory) of @host, or NULL. */
static struct model_file *pick_file(int host)
{
	int n = 0, idx[MAX_FILES];
	for (int i = 0; i < model.count; i++)
		if (model.files[i].host == host && !model.files[i].is_dir)
			idx[n++] = i;
	return n ? &model.files[idx[rng() % (uint64_t)n]] : NULL;
}

static const char *pick_dir(int host, char *buf)
{
	int n = 0, idx[MAX_FILES];
	for (int i = 0; i < model.count; i++)
		if (model.files[i].host == host && model.files[i].is_dir)
			idx[n++] = i;
	snprintf(buf, PATH_LEN, "%s", model.files[idx[rng() % (uint64_t)n]].path);
	return buf;
}

static void one_op(struct vmfs_volume *vol, int host, int *serial)
{
	char dir[PATH_LEN], path[PATH_LEN + 16];
	struct model_file *f = pick_file(host);
	int op = (int)(rng() % 10);
	if (!f || model.count > MAX_FILES - 8)
		op = f ? 8 : 0;
	if (getenv("CRASH_VERBOSE"))
		printf("  op kind %d on %s\n", op, f ? f->path : "-");
	switch (op) {
	case 0:
	case 1: /* create and write */
		snprintf(path, sizeof(path), "%s/f%d", pick_dir(host, dir), (*serial)++);
		write_range(vol, add(host, path, 0), 0, sizes[rng() % 8], 1);
		break;
	case 2: { /* extend */
		uint64_t len = sizes[1 + rng() % 7];
		/* An inline file extended within its first block loses its data
		 * (inline_extend.c reproduces it); cross two blocks instead, so
		 * the crash states test everything else. */
		if (f->size < 4096 && f->size + len <= (64u << 10))
			len = 70000;
		write_range(vol, f, f->size, len, 0);
		break;
	}
	case 3: /* overwrite inside */
		if (f->size > 1)
			write_range(vol, f, rng() % (f->size / 2), f->size / 3 + 1, 0);
		break;
	case 4: { /* truncate down */
		struct vmfs_file *file;
		touch(host, f->path);
		check(vmfs_open(vol, f->path, 0, VMFS_LOCK_EXCLUSIVE, &file), "open", f->path);
		f->size /= 2;
		check(vmfs_truncate(file, f->size), "truncate", f->path);
		check(vmfs_close(file), "close", f->path);
		break;
	}
	case 5: { /* clone */
		snprintf(path, sizeof(path), "%s/c%d", pick_dir(host, dir), (*serial)++);
		touch(host, path);
		check(vmfs_clone(vol, f->path, path), "clone", path);
		struct model_file *c = add(host, path, 0);
		c->size = f->size;
		c->data = malloc(f->size + 1);
		memcpy(c->data, f->data, f->size);
		break;
	}
	case 6: /* rename, maybe into another directory */
		snprintf(path, sizeof(path), "%s/r%d", pick_dir(host, dir), (*serial)++);
		touch(host, f->path);
		touch(host, path);
		check(vmfs_rename(vol, f->path, path), "rename", f->path);
		memcpy(f->path, path, PATH_LEN);
		f->path[PATH_LEN - 1] = 0;
		break;
	case 7: { /* mkdir */
		snprintf(path, sizeof(path), "/h%d/d%d", host, (*serial)++);
		touch(host, path);
		check(vmfs_mkdir(vol, path), "mkdir", path);
		add(host, path, 1);
		break;
	}
	default: /* unlink */
		touch(host, f->path);
		check(vmfs_unlink(vol, f->path), "unlink", f->path);
		forget(f);
		break;
	}
}

static void run_workload(struct vmfs_blockdev *dev, int hosts, int ops)
{
	struct vmfs_volume *vol[2] = { 0 };
	int err, serial = 0;
	for (int h = 0; h < hosts; h++) {
		vol[h] = mount_as(dev, h, &err);
		if (!vol[h])
			die("FAIL vmfs/crash/%s-workload: mount as host %d: %s (%s)", wl, h, vmfs_strerror(err), last_error);
		char path[PATH_LEN];
		snprintf(path, sizeof(path), "/h%d", h);
		touch(h, path);
		check(vmfs_mkdir(vol[h], path), "mkdir", path);
		add(h, path, 1);
		sync_host(vol[h], h);
	}
	for (int i = 0; i < ops; i++) {
		/* Hosts take turns in runs of a few operations; a host syncs before
		 * the other runs, so neither waits on a lock the other would only
		 * release at its next commit (one thread drives both). */
		int h = (i / 3) % hosts;
		one_op(vol[h], h, &serial);
		if (getenv("CRASH_VERBOSE")) {
			printf("  op %d host %d done at %zu\n", i, h, rec.count);
			char w[256];
			for (int k = 0; k < model.count; k++) {
				struct model_file *f = &model.files[k];
				struct expect e = { .is_dir = f->is_dir, .size = f->size,
						    .hash = f->is_dir ? 0 : fnv(f->data, f->size) };
				snprintf(e.path, PATH_LEN, "%s", f->path);
				if (verify_file(vol[f->host], &e, w, sizeof(w)))
					printf("  after op %d: %s\n", i, w);
			}
		}
		if (hosts > 1 ? i % 3 == 2 : rng() % 3 == 0)
			sync_host(vol[h], h);
	}
	/* The tail after the last sync is the part a crash may lose. */
	for (int h = 0; h < hosts; h++)
		one_op(vol[h], h, &serial);
	/* Before the crash, the live volume must already agree with the model. */
	char why[256];
	for (int i = 0; i < model.count; i++) {
		struct model_file *f = &model.files[i];
		struct expect e = { .is_dir = f->is_dir, .size = f->size, .hash = f->is_dir ? 0 : fnv(f->data, f->size) };
		snprintf(e.path, PATH_LEN, "%s", f->path);
		if (verify_file(vol[f->host], &e, why, sizeof(why)))
			die("FAIL vmfs/crash/%s-workload: before any crash, %s", wl, why);
	}
	/* No unmount: the workload ends in a crash. */
}

/* --- checking one crash state --------------------------------------------- */

static int touched_since(int host, const char *path, size_t from, size_t crash)
{
	for (size_t i = 0; i < touch_count; i++)
		if (touches[i].host == host && touches[i].log_index >= from && touches[i].log_index < crash &&
		    strcmp(touches[i].path, path) == 0)
			return 1;
	return 0;
}

static int verify_file(struct vmfs_volume *vol, const struct expect *e, char *why, size_t why_len)
{
	struct vmfs_stat st;
	int err = vmfs_stat(vol, e->path, &st);
	if (err) {
		snprintf(why, why_len, "synced %s: %s", e->path, vmfs_strerror(err));
		return -1;
	}
	if (e->is_dir != (st.kind == VMFS_KIND_DIR)) {
		snprintf(why, why_len, "synced %s changed kind", e->path);
		return -1;
	}
	if (e->is_dir)
		return 0;
	if (st.size != e->size) {
		snprintf(why, why_len, "synced %s: size %llu, expected %llu", e->path, (unsigned long long)st.size,
			 (unsigned long long)e->size);
		return -1;
	}
	struct vmfs_file *file;
	err = vmfs_open(vol, e->path, 0, VMFS_LOCK_SHARED_RO, &file);
	if (err) {
		snprintf(why, why_len, "open synced %s: %s", e->path, vmfs_strerror(err));
		return -1;
	}
	uint8_t *buf = malloc(e->size + 1);
	int64_t n = vmfs_read(file, 0, buf, e->size);
	vmfs_close(file);
	int bad = n != (int64_t)e->size || fnv(buf, e->size) != e->hash;
	free(buf);
	if (bad) {
		snprintf(why, why_len, "synced %s: contents differ", e->path);
		return -1;
	}
	return 0;
}

/* Mounts @image as every host (replay), checks synced data, runs fsck. */
static int check_state(uint8_t *image, size_t crash, char *why, size_t why_len)
{
	struct memdev md = { .data = image, .size = IMAGE_BYTES };
	struct vmfs_blockdev dev;
	memdev_init(&md, &dev);
	int err;
	last_error[0] = 0;
	/* Host 0 last: it checks every host's files once all journals are
	 * replayed. CRASH_HOST0_FIRST reverses the order (host 0 checks
	 * after only its own replay, so it skips the check). */
	int reverse = getenv("CRASH_HOST0_FIRST") != NULL;
	for (int step = 0; step < host_count; step++) {
		int h = reverse ? step : host_count - 1 - step;
		struct vmfs_volume *vol = mount_as(&dev, h, &err);
		if (!vol) {
			snprintf(why, why_len, "mount as host %d: %s (%s)", h, vmfs_strerror(err), last_error);
			return -1;
		}
		if (h == 0 && !reverse) {
			for (int k = 0; k < host_count; k++) {
				const struct sync_point *sp = NULL;
				for (size_t s = 0; s < sync_count; s++)
					if (syncs[s].host == k && syncs[s].log_index <= crash)
						sp = &syncs[s];
				for (int i = 0; sp && i < sp->count; i++) {
					if (touched_since(k, sp->expects[i].path, sp->log_index, crash))
						continue;
					if (verify_file(vol, &sp->expects[i], why, why_len)) {
						vmfs_unmount(vol);
						return -1;
					}
				}
			}
		}
		err = vmfs_unmount(vol);
		if (err) {
			snprintf(why, why_len, "unmount as host %d: %s (%s)", h, vmfs_strerror(err), last_error);
			return -1;
		}
	}
	struct vmfs_fsck_options fo = { .repair = false };
	struct vmfs_fsck_report report = { 0 };
	last_error[0] = 0;
	int rc = vmfs_fsck(&os, &dev, &fo, &report);
	if (rc != VMFS_FSCK_CLEAN || report.errors_found) {
		snprintf(why, why_len, "fsck: status %d, %u errors; first: %s", rc, report.errors_found, last_error);
		return -1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	if (argc != 5)
		die("usage: %s single|twohost PREFIX_STRIDE SAMPLES SEED", argv[0]);
	const char *workload = argv[1];
	wl = workload;
	size_t stride = strtoull(argv[2], NULL, 0);
	size_t samples = strtoull(argv[3], NULL, 0);
	rng_state = strtoull(argv[4], NULL, 0) | 1;
	host_count = strcmp(workload, "twohost") == 0 ? 2 : 1;
	if (!stride)
		stride = 1;

	vmfs_posix_os(&os, false);
	os.log = quiet_log;
	uint8_t *base = calloc(1, IMAGE_BYTES), *image = malloc(IMAGE_BYTES);
	struct memdev md = { .data = base, .size = IMAGE_BYTES };
	struct vmfs_blockdev dev;
	memdev_init(&md, &dev);
	struct vmfs_mkfs_options mk = { .label = "crash", .block_size = 64 << 10, .journal_blocks = 64 };
	check(vmfs_mkfs(&os, &dev, &mk), "mkfs", "");
	uint8_t *start = malloc(IMAGE_BYTES);
	memcpy(start, base, IMAGE_BYTES);
	md.rec = &rec;
	run_workload(&dev, host_count, host_count == 2 ? 36 : 30);
	md.rec = NULL;

	size_t n = rec.count, flushes = 0, writes = 0;
	for (size_t i = 0; i < n; i++)
		rec.entries[i].op == MEMDEV_FLUSH ? flushes++ : writes++;
	printf("workload %s: %zu log entries (%zu writes, %zu flushes), %zu syncs, %zu touches\n", workload, n, writes,
	       flushes, sync_count, touch_count);

	if (getenv("CRASH_VERBOSE")) {
		for (size_t i = 0; i < touch_count; i++)
			printf("  touch host %d at %zu: %s\n", touches[i].host, touches[i].log_index, touches[i].path);
		for (size_t i = 0; i < sync_count; i++)
			printf("  sync host %d at %zu\n", syncs[i].host, syncs[i].log_index);
	}
	char why[512];
	size_t states = 0, failed = 0;
	/* Every prefix (or every stride-th), always including the whole log. */
	memcpy(image, start, IMAGE_BYTES);
	size_t applied = 0;
	for (size_t p = 0; p <= n; p += (p + stride > n && p != n) ? n - p : stride) {
		while (applied < p)
			memdev_apply(&rec, applied++, image);
		uint8_t *work = malloc(IMAGE_BYTES);
		memcpy(work, image, IMAGE_BYTES);
		states++;
		if (check_state(work, p, why, sizeof(why))) {
			if (failed++ < 5)
				printf("  prefix %zu/%zu: %s\n", p, n, why);
		}
		free(work);
		if (p == n)
			break;
	}
	size_t prefix_states = states;
	if (failed)
		printf("FAIL vmfs/crash/%s-prefixes: %zu of %zu crash states bad\n", workload, failed, prefix_states);
	else
		printf("PASS vmfs/crash/%s-prefixes (%zu crash states)\n", workload, prefix_states);

	/* Inside a flush epoch: lost, reordered and torn writes. */
	size_t sample_failed = 0, torn = 0;
	for (size_t s = 0; s < samples; s++) {
		size_t p = 1 + rng() % n;
		size_t last_flush = 0;
		for (size_t i = 0; i < p; i++)
			if (rec.entries[i].op == MEMDEV_FLUSH)
				last_flush = i + 1;
		memcpy(image, start, IMAGE_BYTES);
		for (size_t i = 0; i < last_flush; i++)
			memdev_apply(&rec, i, image);
		int torn_here = 0;
		for (size_t i = last_flush; i < p; i++) {
			const struct memdev_entry *e = &rec.entries[i];
			if (e->op == MEMDEV_FUA) {
				memdev_apply(&rec, i, image);
			} else if (e->op == MEMDEV_WRITE) {
				uint64_t r = rng() % 8;
				if (r < 3) {
					memdev_apply(&rec, i, image);
				} else if (r == 3 && e->len > 512) {
					/* torn: only some of its sectors reach the disk */
					for (uint32_t off = 0; off < e->len; off += 512)
						if (rng() & 1)
							memcpy(image + e->offset + off, rec.arena + e->data + off, 512);
					torn_here = 1;
				}
			}
		}
		torn += (size_t)torn_here;
		if (check_state(image, p, why, sizeof(why))) {
			if (sample_failed++ < 5)
				printf("  sample %zu (crash at %zu, epoch from %zu%s): %s\n", s, p, last_flush,
				       torn_here ? ", torn" : "", why);
		}
	}
	states += samples;
	if (samples) {
		if (sample_failed)
			printf("FAIL vmfs/crash/%s-epochs: %zu of %zu reordered/torn crash states bad\n", workload,
			       sample_failed, samples);
		else
			printf("PASS vmfs/crash/%s-epochs (%zu reordered crash states, %zu with a torn write)\n", workload,
			       samples, torn);
	}
	printf("crash states checked: %zu (%zu prefixes, %zu inside epochs)\n", states, prefix_states, samples);
	return failed || sample_failed ? 1 : 0;
}

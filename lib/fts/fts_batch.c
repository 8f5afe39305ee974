/*
 * fts_batch.c - the free-space guard and batched indexing (fts_batch.h).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "core/array.h"
#include "core/log.h"
#include "core/xmalloc.h"
#include "fts/fts.h"
#include "fts/fts_batch.h"

int fts_min_free_parse(const char *text, struct fts_min_free *min_r,
		       struct error *err)
{
	char *end;
	memset(min_r, 0, sizeof(*min_r));
	errno = 0;
	unsigned long long n = strtoull(text, &end, 10);
	if (end == text || errno != 0 || text[0] == '-')
		goto bad;
	if (strcmp(end, "%") == 0) {
		if (n > 100)
			goto bad;
		min_r->percent = (unsigned)n;
		return 0;
	}
	unsigned long long mult = 1;
	if (*end != '\0') {
		switch (*end) {
		case 'k':
		case 'K':
			mult = 1ULL << 10;
			break;
		case 'm':
		case 'M':
			mult = 1ULL << 20;
			break;
		case 'g':
		case 'G':
			mult = 1ULL << 30;
			break;
		case 't':
		case 'T':
			mult = 1ULL << 40;
			break;
		default:
			goto bad;
		}
		if (end[1] != '\0' && strcasecmp(end + 1, "B") != 0)
			goto bad;
	}
	if (n > UINT64_MAX / mult)
		goto bad;
	min_r->bytes = n * mult;
	return 0;
bad:
	return error_set(err, ERR_CONFIG,
			 "full_text_min_free: \"%s\" is neither a percentage "
			 "(5%%) nor a size (200M)",
			 text);
}

int fts_space_check(const char *path, const struct fts_min_free *min,
		    struct error *err)
{
	struct statvfs sv;
	if (min->percent == 0 && min->bytes == 0)
		return 1;
	if (statvfs(path, &sv) < 0)
		return error_set(err, ERR_TEMP, "statvfs %s: %s", path,
				 strerror(errno));
	uint64_t bsize = sv.f_frsize != 0 ? sv.f_frsize : sv.f_bsize;
	uint64_t avail = (uint64_t)sv.f_bavail * bsize;
	uint64_t total = (uint64_t)sv.f_blocks * bsize;
	bool low = avail < min->bytes ||
		   (min->percent > 0 && avail / 100 * 100 + avail % 100 <
					    total / 100 * min->percent);
	if (!low)
		return 1;
	error_set_code(err, ERR_TEMP, FTS_ERR_NOSPACE,
		       "%llu of %llu bytes free, below full_text_min_free",
		       (unsigned long long)avail, (unsigned long long)total);
	return 0;
}

struct item {
	char *mailbox_path;
	char *folder;
	char *unique;
	int fd;	    /* -1: a reset request */
	size_t seq; /* insertion order, for a stable sort */
};

struct fts_batch {
	struct array *items; /* struct item * */
};

struct fts_batch *fts_batch_new(void)
{
	struct fts_batch *b = xcalloc(1, sizeof(*b));
	b->items = array_new();
	return b;
}

void fts_batch_add(struct fts_batch *b, const char *mailbox_path,
		   const char *folder, const char *unique, int fd)
{
	struct item *it = xcalloc(1, sizeof(*it));
	it->mailbox_path = xstrdup(mailbox_path);
	it->folder = folder != NULL ? xstrdup(folder) : NULL;
	it->unique = xstrdup(unique);
	it->fd = fd;
	it->seq = array_len(b->items);
	array_push(b->items, it);
}

void fts_batch_add_reset(struct fts_batch *b, const char *mailbox_path)
{
	struct item *it = xcalloc(1, sizeof(*it));
	it->mailbox_path = xstrdup(mailbox_path);
	it->fd = -1;
	it->seq = array_len(b->items);
	array_push(b->items, it);
}

size_t fts_batch_len(const struct fts_batch *b)
{
	return array_len(b->items);
}

void fts_batch_merge(struct fts_batch *dst, struct fts_batch **src)
{
	struct fts_batch *b = *src;
	for (size_t i = 0; i < array_len(b->items); i++) {
		struct item *it = array_get(b->items, i);
		it->seq = array_len(dst->items);
		array_push(dst->items, it);
	}
	array_free(&b->items);
	free(b);
	*src = NULL;
}

static int cmp_item(const void *pa, const void *pb)
{
	const struct item *a = *(const struct item *const *)pa;
	const struct item *b = *(const struct item *const *)pb;
	int c = strcmp(a->mailbox_path, b->mailbox_path);
	if (c != 0)
		return c;
	return a->seq < b->seq ? -1 : a->seq > b->seq;
}

/* Index items [from, to) of one mailbox in one transaction; false when
 * the file system is full (the rest of the batch is left too). */
static bool run_mailbox(struct fts_batch *b, size_t from, size_t to,
			const struct fts_min_free *min, unsigned busy_ms,
			struct fts_batch_stats *st)
{
	const struct item *first = array_get(b->items, from);
	const char *path = first->mailbox_path;
	unsigned n = 0, added = 0, skipped = 0;
	bool reset = false;
	struct error err = {0};

	for (size_t i = from; i < to; i++) {
		if (((const struct item *)array_get(b->items, i))->fd < 0)
			reset = true;
		else
			n++;
	}
	int room = reset ? 0 : fts_space_check(path, min, &err);
	if (room < 0) {
		log_warn("full-text index of %s: %s; %u message(s) left for "
			 "catch-up",
			 path, err.msg, n);
		st->failed += n;
		return true;
	}
	if (room == 0) {
		/* Mail first: give the index's space back. */
		struct error rerr = {0};
		long long freed = fts_reset(path, busy_ms, &rerr);
		if (freed < 0)
			log_warn("full-text index of %s: store low on space, "
				 "emptying the index failed: %s",
				 path, rerr.msg);
		else if (freed > 0)
			log_warn("full-text index of %s: store low on space "
				 "(%s): index emptied, %lld bytes given back "
				 "to mail; the catch-up rebuilds it",
				 path, reset ? "a delivery failed" : err.msg,
				 freed);
		if (freed > 0)
			st->resets++;
		st->low_space += n;
		return true;
	}
	struct fts *fts = fts_open(path, busy_ms, &err);
	if (fts == NULL || fts_begin(fts, &err) < 0)
		goto fail;
	for (size_t i = from; i < to; i++) {
		const struct item *it = array_get(b->items, i);
		struct error derr = {0};
		if (it->fd < 0)
			continue;
		int r = lseek(it->fd, 0, SEEK_SET) < 0
			    ? error_set(&derr, ERR_TEMP, "lseek: %s",
					strerror(errno))
			    : fts_add_file(fts, it->folder, it->unique, it->fd,
					   &derr);
		if (r == 0) {
			added++;
			continue;
		}
		if (derr.code != NULL &&
		    strcmp(derr.code, FTS_ERR_NOSPACE) == 0) {
			err = derr;
			fts_rollback(fts);
			goto fail;
		}
		log_warn("full-text index of %s: %s (left for catch-up)", path,
			 derr.msg);
		skipped++;
	}
	if (fts_commit(fts, &err) < 0)
		goto fail;
	fts_close(&fts);
	st->indexed += added;
	st->failed += skipped;
	st->txns++;
	return true;
fail:
	log_warn("full-text index of %s: %s; %u message(s) left for catch-up",
		 path, err.msg, n);
	fts_close(&fts);
	if (err.code != NULL && strcmp(err.code, FTS_ERR_NOSPACE) == 0) {
		/* the disk filled meanwhile: the next delivery's guard
		 * empties the index (lmtp-local.c) */
		st->low_space += n;
		return false;
	}
	st->failed += n;
	return true;
}

void fts_batch_run(struct fts_batch *b, const struct fts_min_free *min,
		   unsigned busy_ms, struct fts_batch_stats *stats)
{
	size_t n = array_len(b->items), from = 0;
	array_sort(b->items, cmp_item);
	while (from < n) {
		const struct item *first = array_get(b->items, from);
		size_t to = from + 1;
		while (to < n &&
		       strcmp(((const struct item *)array_get(b->items, to))
				  ->mailbox_path,
			      first->mailbox_path) == 0)
			to++;
		if (!run_mailbox(b, from, to, min, busy_ms, stats)) {
			/* a full file system: the other mailboxes are most
			 * likely on it too */
			stats->low_space += (unsigned)(n - to);
			break;
		}
		from = to;
	}
}

void fts_batch_free(struct fts_batch **bp)
{
	struct fts_batch *b = *bp;
	if (b == NULL)
		return;
	for (size_t i = 0; i < array_len(b->items); i++) {
		struct item *it = array_get(b->items, i);
		if (it->fd >= 0)
			close(it->fd);
		free(it->mailbox_path);
		free(it->folder);
		free(it->unique);
		free(it);
	}
	array_free(&b->items);
	free(b);
	*bp = NULL;
}

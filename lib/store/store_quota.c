/*
 * The Maildir++ quota cache: ROOT/DOMAIN/LOCAL/maildirsize.
 *
 *   1073741824S,0C          the quota it was computed for
 *   52133 17                totals at the last recalculation
 *   2048 1                  one line per delivery (O_APPEND, one write)
 *   -2048 -1                one per expunge
 *
 * The sum of the lines is the usage.  As the Maildir++ spec says, the
 * file is only a cache: it is rebuilt from the S= of every file name
 * when it is missing, unparsable, over 5120 bytes, written for another
 * quota, or when it says "over quota" and is older than 15 minutes.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/buf.h"
#include "core/fsutil.h"
#include "core/xmalloc.h"
#include "store_name.h"
#include "store_private.h"

struct cache {
	bool found; /* the file exists and parsed */
	bool stale; /* must be recalculated */
	time_t mtime;
	struct store_quota quota;
	int64_t bytes, count;
};

static char *cache_path(const struct store_mailbox *mbox)
{
	return xasprintf("%s/maildirsize", store_mailbox_path(mbox));
}

/* "1000S,20C": each part optional; false on anything else. */
static bool parse_quota_line(const char *line, struct store_quota *q)
{
	memset(q, 0, sizeof(*q));
	const char *p = line;
	if (*p == '\0')
		return true;
	for (;;) {
		char *end;
		if (*p < '0' || *p > '9')
			return false;
		errno = 0;
		unsigned long long v = strtoull(p, &end, 10);
		if (errno != 0)
			return false;
		if (*end == 'S')
			q->bytes = v;
		else if (*end == 'C')
			q->messages = v;
		else
			return false;
		p = end + 1;
		if (*p == '\0')
			return true;
		if (*p++ != ',')
			return false;
	}
}

static bool parse_delta_line(const char *line, int64_t *bytes, int64_t *count)
{
	long long b, c;
	int n = 0;
	if (sscanf(line, " %lld %lld %n", &b, &c, &n) != 2 || line[n] != '\0')
		return false;
	*bytes = b;
	*count = c;
	return true;
}

static int cache_read(struct store_mailbox *mbox, struct cache *c,
		      struct error *err)
{
	char *path = cache_path(mbox);
	memset(c, 0, sizeof(*c));
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		int e = errno, ret = 0;
		c->stale = true;
		if (e != ENOENT)
			ret = store_errno(err, e, "open", path);
		free(path);
		return ret;
	}
	struct stat st;
	char data[STORE_MAILDIRSIZE_MAX + 1];
	ssize_t len =
	    fstat(fd, &st) < 0 ? -1 : read(fd, data, sizeof(data) - 1);
	int e = errno;
	close(fd);
	if (len < 0) {
		store_errno(err, e, "read", path);
		free(path);
		return -1;
	}
	free(path);
	c->mtime = st.st_mtime;
	if (st.st_size > STORE_MAILDIRSIZE_MAX || len == 0 ||
	    data[len - 1] != '\n') {
		/* Too big to be worth summing, or a torn last write. */
		c->stale = true;
		return 0;
	}
	data[len] = '\0';
	char *save = NULL;
	char *line = strtok_r(data, "\n", &save);
	if (line == NULL || !parse_quota_line(line, &c->quota)) {
		c->stale = true;
		return 0;
	}
	while ((line = strtok_r(NULL, "\n", &save)) != NULL) {
		int64_t b, n;
		if (!parse_delta_line(line, &b, &n)) {
			c->stale = true;
			return 0;
		}
		c->bytes += b;
		c->count += n;
	}
	if (c->bytes < 0 || c->count < 0)
		c->stale = true;
	c->found = !c->stale;
	return 0;
}

/* Add the files of dir/new and dir/cur to the totals. */
static int scan_maildir(const char *dir, uint64_t *bytes, uint64_t *count,
			struct error *err)
{
	static const char *const subs[] = {"new", "cur"};
	for (size_t i = 0; i < 2; i++) {
		char *sub = xasprintf("%s/%s", dir, subs[i]);
		DIR *d = opendir(sub);
		if (d == NULL) {
			int e = errno;
			if (e == ENOENT) {
				free(sub);
				continue;
			}
			store_errno(err, e, "opendir", sub);
			free(sub);
			return -1;
		}
		struct dirent *de;
		while ((de = readdir(d)) != NULL) {
			if (de->d_name[0] == '.')
				continue;
			struct store_name n;
			struct stat st;
			uint64_t size;
			if (store_name_parse(de->d_name, &n, NULL) == 0 &&
			    n.has_size)
				size = n.size;
			else if (fstatat(dirfd(d), de->d_name, &st, 0) == 0 &&
				 S_ISREG(st.st_mode))
				size = (uint64_t)st.st_size;
			else
				continue; /* moved or expunged meanwhile */
			*bytes += size;
			*count += 1;
		}
		closedir(d);
		free(sub);
	}
	return 0;
}

int store_usage_recalc(struct store_mailbox *mbox,
		       const struct store_quota *quota,
		       struct store_usage *usage_r, struct error *err)
{
	const char *root = store_mailbox_path(mbox);
	uint64_t bytes = 0, count = 0;
	memset(usage_r, 0, sizeof(*usage_r));

	DIR *d = opendir(root);
	if (d == NULL) {
		if (errno == ENOENT)
			return 0; /* never delivered to: empty */
		return store_errno(err, errno, "opendir", root);
	}
	int ret = scan_maildir(root, &bytes, &count, err);
	struct dirent *de;
	while (ret == 0 && (de = readdir(d)) != NULL) {
		/* Maildir++ folders are the ".Name" directories. */
		if (de->d_name[0] != '.' || strcmp(de->d_name, ".") == 0 ||
		    strcmp(de->d_name, "..") == 0)
			continue;
		struct stat st;
		if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) <
			0 ||
		    !S_ISDIR(st.st_mode))
			continue;
		char *sub = xasprintf("%s/%s", root, de->d_name);
		ret = scan_maildir(sub, &bytes, &count, err);
		free(sub);
	}
	closedir(d);
	if (ret < 0)
		return -1;

	struct store_quota q = {0, 0};
	if (quota != NULL)
		q = *quota;
	char text[128];
	int len = snprintf(
	    text, sizeof(text), "%lluS,%lluC\n%llu %llu\n",
	    (unsigned long long)q.bytes, (unsigned long long)q.messages,
	    (unsigned long long)bytes, (unsigned long long)count);
	/* XXX A delivery that appends to the old file between our scan and
	 * the rename is lost from the cache until the next recalculation;
	 * the Maildir++ spec accepts that drift, the stale rule repairs it. */
	char *path = cache_path(mbox);
	ret = fs_write_atomic(path, text, (size_t)len, STORE_FILE_MODE, err);
	if (ret < 0 && err != NULL)
		err->kind = ERR_TEMP; /* even EACCES: see store_errno() */
	free(path);
	if (ret < 0)
		return -1;
	usage_r->bytes = bytes;
	usage_r->messages = count;
	return 0;
}

static bool quota_eq(const struct store_quota *a, const struct store_quota *b)
{
	return a->bytes == b->bytes && a->messages == b->messages;
}

int store_usage(struct store_mailbox *mbox, const struct store_quota *quota,
		struct store_usage *usage_r, struct error *err)
{
	struct cache c;
	if (cache_read(mbox, &c, err) < 0)
		return -1;
	if (c.stale || (quota != NULL && !quota_eq(quota, &c.quota)))
		return store_usage_recalc(
		    mbox, quota != NULL ? quota : &c.quota, usage_r, err);
	usage_r->bytes = (uint64_t)c.bytes;
	usage_r->messages = (uint64_t)c.count;
	return 0;
}

int store_usage_add(struct store_mailbox *mbox, int64_t bytes, int64_t count,
		    struct error *err)
{
	char *path = cache_path(mbox);
	int fd = open(path, O_WRONLY | O_APPEND | O_CLOEXEC);
	if (fd < 0) {
		int e = errno, ret = 0;
		if (e != ENOENT)
			ret = store_errno(err, e, "open", path);
		free(path);
		return ret;
	}
	char line[64];
	int len = snprintf(line, sizeof(line), "%lld %lld\n", (long long)bytes,
			   (long long)count);
	/* One write() with O_APPEND: concurrent deliveries never interleave
	 * inside a line (Maildir++ relies on this too). */
	ssize_t n = write(fd, line, (size_t)len);
	int e = errno;
	close(fd);
	if (n != len) {
		/* A torn line makes the next reader recalculate. */
		store_errno(err, n < 0 ? e : ENOSPC, "append", path);
		free(path);
		return -1;
	}
	free(path);
	return 0;
}

static bool exceeds(const struct store_quota *q, const struct store_usage *u,
		    uint64_t size)
{
	if (q->bytes > 0 && u->bytes + size > q->bytes)
		return true;
	return q->messages > 0 && u->messages + 1 > q->messages;
}

int store_quota_check(struct store_mailbox *mbox,
		      const struct store_quota *quota, uint64_t size,
		      struct error *err)
{
	if (quota->bytes == 0 && quota->messages == 0)
		return 0;
	struct cache c;
	struct store_usage u;
	if (cache_read(mbox, &c, err) < 0)
		return -1;
	bool fresh = c.stale || !quota_eq(quota, &c.quota);
	if (fresh) {
		if (store_usage_recalc(mbox, quota, &u, err) < 0)
			return -1;
	} else {
		u.bytes = (uint64_t)c.bytes;
		u.messages = (uint64_t)c.count;
	}
	if (exceeds(quota, &u, size) && !fresh &&
	    time(NULL) - c.mtime > STORE_MAILDIRSIZE_STALE_SECS) {
		/* Maildir++: an old "over quota" may be drift; check it. */
		if (store_usage_recalc(mbox, quota, &u, err) < 0)
			return -1;
	}
	if (!exceeds(quota, &u, size))
		return 0;
	return error_set_code(
	    err, mbox->store->quota_permanent ? ERR_PERM : ERR_TEMP,
	    STORE_ERR_QUOTA,
	    "mailbox is full: %llu bytes in %llu messages, quota %llu "
	    "bytes / %llu messages, message %llu bytes",
	    (unsigned long long)u.bytes, (unsigned long long)u.messages,
	    (unsigned long long)quota->bytes,
	    (unsigned long long)quota->messages, (unsigned long long)size);
}

int store_over_quota(struct store_mailbox *mbox, uint64_t quota_bytes,
		     uint64_t size_hint, struct error *err)
{
	struct store_quota q = {.bytes = quota_bytes};
	struct store_usage usage;

	if (quota_bytes == 0)
		return 0;
	if (store_usage(mbox, &q, &usage, err) < 0)
		return -1;
	return usage.bytes >= quota_bytes ||
	       (size_hint > 0 && usage.bytes + size_hint > quota_bytes);
}

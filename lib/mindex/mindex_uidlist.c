/*
 * dovecot-uidlist, as Dovecot 2.3 reads and writes it:
 *
 *   3 V<uidvalidity> N<nextuid> G<guid>
 *   <uid>[ <key><value>...] :<file name up to ':'>
 *
 * Changes happen only under the dotlock dovecot-uidlist.lock: either a
 * whole new file written into the lock and renamed over, or new records
 * appended to the file in place (Dovecot does both).  Readers take no
 * lock, so an unfinished last line (no LF yet) is ignored.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/buf.h"
#include "core/xmalloc.h"
#include "mindex_private.h"

int mindex_errno(struct error *err, int e, const char *what, const char *path)
{
	if (e == ENOSPC || e == EDQUOT || e == EFBIG)
		return error_set_code(err, ERR_TEMP, STORE_ERR_NOSPACE,
				      "%s %s: %s", what, path, strerror(e));
	return error_set(err, ERR_TEMP, "%s %s: %s", what, path, strerror(e));
}

int mindex_read_small(const char *path, struct buf *out, struct stat *st_r,
		      struct error *err)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0) {
		if (errno == ENOENT)
			return 0;
		return mindex_errno(err, errno, "open", path);
	}
	struct stat st;
	if (fstat(fd, &st) < 0) {
		int e = errno;
		close(fd);
		return mindex_errno(err, e, "fstat", path);
	}
	char tmp[65536];
	for (;;) {
		ssize_t n = read(fd, tmp, sizeof(tmp));
		if (n < 0) {
			if (errno == EINTR)
				continue;
			int e = errno;
			close(fd);
			return mindex_errno(err, e, "read", path);
		}
		if (n == 0)
			break;
		buf_append(out, tmp, (size_t)n);
	}
	close(fd);
	if (st_r != NULL)
		*st_r = st;
	return 1;
}

void uidlist_init(struct uidlist *ul)
{
	memset(ul, 0, sizeof(*ul));
	ul->next_uid = 1;
}

void uidlist_clear(struct uidlist *ul)
{
	for (size_t i = 0; i < ul->count; i++) {
		free(ul->recs[i].base);
		free(ul->recs[i].ext);
	}
	free(ul->recs);
	free(ul->guid);
	free(ul->hdr_ext);
	uidlist_init(ul);
}

void uidlist_add(struct uidlist *ul, uint32_t uid, const char *base,
		 const char *ext)
{
	if (ul->count == ul->cap) {
		ul->cap = ul->cap == 0 ? 64 : ul->cap * 2;
		ul->recs = xreallocarray(ul->recs, ul->cap, sizeof(*ul->recs));
	}
	struct uidlist_rec *r = &ul->recs[ul->count++];
	r->uid = uid;
	r->base = xstrdup(base);
	r->ext = ext != NULL && *ext != '\0' ? xstrdup(ext) : NULL;
	if (uid >= ul->next_uid)
		ul->next_uid = uid + 1;
}

ssize_t uidlist_find(const struct uidlist *ul, uint32_t uid)
{
	size_t lo = 0, hi = ul->count;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (ul->recs[mid].uid < uid)
			lo = mid + 1;
		else if (ul->recs[mid].uid > uid)
			hi = mid;
		else
			return (ssize_t)mid;
	}
	return -1;
}

static bool parse_u32(const char *s, size_t len, uint32_t *v_r)
{
	uint64_t v = 0;
	if (len == 0 || len > 10)
		return false;
	for (size_t i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		v = v * 10 + (uint64_t)(s[i] - '0');
	}
	if (v > UINT32_MAX)
		return false;
	*v_r = (uint32_t)v;
	return true;
}

static void set_hdr(struct uidlist *ul, const char *line, size_t len)
{
	if (len >= sizeof(ul->hdr))
		len = sizeof(ul->hdr) - 1;
	memcpy(ul->hdr, line, len);
	ul->hdr[len] = '\0';
}

static bool parse_header(struct uidlist *ul, const char *line, size_t len)
{
	if (len < 2 || line[0] != '3' || line[1] != ' ')
		return false;
	struct buf *other = buf_new();
	size_t i = 2;
	uint32_t nextuid = 0;
	while (i < len) {
		while (i < len && line[i] == ' ')
			i++;
		size_t start = i;
		while (i < len && line[i] != ' ')
			i++;
		if (i == start)
			break;
		char key = line[start];
		const char *val = line + start + 1;
		size_t vlen = i - start - 1;
		if (key == 'V') {
			if (!parse_u32(val, vlen, &ul->uidvalidity))
				goto bad;
		} else if (key == 'N') {
			if (!parse_u32(val, vlen, &nextuid))
				goto bad;
		} else if (key == 'G') {
			free(ul->guid);
			ul->guid = xstrndup(val, vlen);
		} else {
			if (buf_len(other) > 0)
				buf_append_char(other, ' ');
			buf_append(other, line + start, i - start);
		}
	}
	if (ul->uidvalidity == 0)
		goto bad;
	if (nextuid > ul->next_uid)
		ul->next_uid = nextuid;
	ul->hdr_ext = buf_len(other) > 0 ? buf_steal(other) : NULL;
	buf_free(&other);
	return true;
bad:
	buf_free(&other);
	return false;
}

/* One record; false for a broken line (skipped: the file gets a new UID,
 * never a wrong one). */
static bool parse_record(struct uidlist *ul, const char *line, size_t len)
{
	size_t i = 0;
	while (i < len && line[i] >= '0' && line[i] <= '9')
		i++;
	uint32_t uid;
	if (!parse_u32(line, i, &uid) || uid == 0 || uid == UINT32_MAX ||
	    i >= len || line[i] != ' ')
		return false;
	if (ul->count > 0 && uid <= ul->recs[ul->count - 1].uid)
		return false; /* not ascending: Dovecot refuses it too */
	const char *colon = memchr(line + i, ':', len - i);
	if (colon == NULL)
		return false;
	const char *name = colon + 1;
	size_t nlen = (size_t)(line + len - name);
	if (nlen == 0 || memchr(name, '/', nlen) != NULL ||
	    memchr(name, ':', nlen) != NULL || name[0] == '.')
		return false;
	/* extensions between the uid and " :" */
	const char *es = line + i;
	size_t elen = (size_t)(colon - es);
	while (elen > 0 && es[elen - 1] == ' ')
		elen--;
	char *ext = elen > 0 ? xstrndup(es, elen) : NULL;
	char *base = xstrndup(name, nlen);
	uidlist_add(ul, uid, base, ext);
	free(base);
	free(ext);
	return true;
}

int uidlist_read(const char *dir, struct uidlist *ul, struct error *err)
{
	uidlist_clear(ul);
	char *path = xasprintf("%s/" MINDEX_UIDLIST, dir);
	struct buf *b = buf_new();
	int ret = mindex_read_small(path, b, &ul->st, err);
	free(path);
	if (ret <= 0) {
		buf_free(&b);
		return ret;
	}
	const char *p = buf_data(b), *end = p + buf_len(b);
	const char *nl = memchr(p, '\n', (size_t)(end - p));
	if (nl == NULL || !parse_header(ul, p, (size_t)(nl - p))) {
		buf_free(&b);
		uidlist_clear(ul);
		return 0;
	}
	set_hdr(ul, p, (size_t)(nl - p));
	p = nl + 1;
	while (p < end) {
		nl = memchr(p, '\n', (size_t)(end - p));
		if (nl == NULL)
			break; /* being appended to right now */
		(void)parse_record(ul, p, (size_t)(nl - p));
		p = nl + 1;
	}
	ul->appendable = p == end;
	ul->parsed_len = (off_t)(p - buf_data(b));
	buf_free(&b);
	return 1;
}

int uidlist_read_tail(const char *dir, struct uidlist *ul, off_t offset,
		      ino_t ino, const char *hdr, struct error *err)
{
	char *path = xasprintf("%s/" MINDEX_UIDLIST, dir);
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0) {
		int r = errno == ENOENT
			    ? 0
			    : mindex_errno(err, errno, "open", path);
		free(path);
		return r;
	}
	struct stat st;
	char first[sizeof(ul->hdr)];
	size_t hlen = strlen(hdr);
	/* the same inode number may come back after two rewrites: the
	 * header line (N, G) tells */
	if (fstat(fd, &st) < 0 || st.st_ino != ino || st.st_size < offset ||
	    hlen == 0 || pread(fd, first, hlen, 0) != (ssize_t)hlen ||
	    memcmp(first, hdr, hlen) != 0) {
		close(fd);
		free(path);
		return 0;
	}
	memcpy(ul->hdr, hdr, hlen + 1);
	struct buf *b = buf_new();
	char tmp[65536];
	off_t pos = offset;
	for (;;) {
		ssize_t n = pread(fd, tmp, sizeof(tmp), pos);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			int r = mindex_errno(err, errno, "read", path);
			close(fd);
			free(path);
			buf_free(&b);
			return r;
		}
		if (n == 0)
			break;
		buf_append(b, tmp, (size_t)n);
		pos += n;
	}
	close(fd);
	free(path);
	const char *p = buf_data(b), *end = p + buf_len(b);
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		if (nl == NULL)
			break;
		(void)parse_record(ul, p, (size_t)(nl - p));
		p = nl + 1;
	}
	ul->appendable = p == end;
	ul->parsed_len = offset + (off_t)(p - buf_data(b));
	ul->st = st;
	buf_free(&b);
	return 1;
}

uint32_t mindex_new_uidvalidity(void)
{
	/* Time based, as Dovecot: a recreated list gets a larger value. */
	static uint32_t last;
	uint32_t v = (uint32_t)time(NULL);
	uint32_t prev = __atomic_load_n(&last, __ATOMIC_RELAXED);
	if (v <= prev)
		v = prev + 1;
	__atomic_store_n(&last, v, __ATOMIC_RELAXED);
	return v;
}

static void new_guid(char out[33])
{
	unsigned char r[16];
	if (getrandom(r, sizeof(r), 0) != (ssize_t)sizeof(r)) {
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		for (size_t i = 0; i < sizeof(r); i++)
			r[i] = (unsigned char)((ts.tv_nsec >> (i % 8)) ^
					       (getpid() >> (i % 4)) ^ i);
	}
	for (size_t i = 0; i < 16; i++)
		snprintf(out + 2 * i, 3, "%02x", r[i]);
}

/* ---- dotlocks ---- */

static bool lock_is_stale(const char *lock)
{
	struct stat st;
	if (stat(lock, &st) < 0)
		return false;
	if (time(NULL) - st.st_mtime > MINDEX_LOCK_STALE_SECS)
		return true;
	/* Our own lock content is "PID:HOST"; a dead local PID is stale. */
	char buf[300];
	int fd = open(lock, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return false;
	ssize_t n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return false;
	buf[n] = '\0';
	char host[256];
	if (gethostname(host, sizeof(host)) < 0)
		return false;
	host[sizeof(host) - 1] = '\0';
	char *colon = strchr(buf, ':');
	if (colon == NULL)
		return false;
	*colon = '\0';
	char *nl = strchr(colon + 1, '\n');
	if (nl != NULL)
		*nl = '\0';
	if (strcmp(colon + 1, host) != 0)
		return false;
	long pid = strtol(buf, NULL, 10);
	if (pid <= 0 || pid == getpid())
		return false;
	return kill((pid_t)pid, 0) < 0 && errno == ESRCH;
}

int mindex_dotlock(const char *dir, const char *name, struct error *err)
{
	char *lock = xasprintf("%s/%s.lock", dir, name);
	int waited = 0, fd;
	for (;;) {
		fd = open(lock, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC,
			  MINDEX_FILE_MODE);
		if (fd >= 0) {
			char host[256], info[300];
			if (gethostname(host, sizeof(host)) < 0)
				host[0] = '\0';
			host[sizeof(host) - 1] = '\0';
			int n = snprintf(info, sizeof(info), "%ld:%s\n",
					 (long)getpid(), host);
			if (n > 0 && write(fd, info, (size_t)n) < 0) {
				/* only an aid for stale detection */
			}
			break;
		}
		if (errno != EEXIST) {
			mindex_errno(err, errno, "create lock", lock);
			free(lock);
			return -1;
		}
		if (lock_is_stale(lock)) {
			/* Dovecot overrides a stale dotlock the same way. */
			(void)unlink(lock);
			continue;
		}
		if (waited >= MINDEX_LOCK_WAIT_MS) {
			error_set(err, ERR_TEMP, "timeout waiting for lock %s",
				  lock);
			free(lock);
			return -1;
		}
		struct timespec ts = {0, 10 * 1000 * 1000};
		nanosleep(&ts, NULL);
		waited += 10;
	}
	free(lock);
	return fd;
}

void mindex_dotunlock(const char *dir, const char *name, int fd)
{
	char *lock = xasprintf("%s/%s.lock", dir, name);
	close(fd);
	(void)unlink(lock);
	free(lock);
}

int mindex_dotlock_replace(const char *dir, const char *name, int fd,
			   const void *data, size_t len, struct error *err)
{
	char *lock = xasprintf("%s/%s.lock", dir, name);
	char *path = xasprintf("%s/%s", dir, name);
	const char *p = data;
	size_t left = len;
	int ret = 0;
	if (ftruncate(fd, 0) < 0 || lseek(fd, 0, SEEK_SET) < 0)
		ret = mindex_errno(err, errno, "truncate", lock);
	while (ret == 0 && left > 0) {
		ssize_t n = write(fd, p, left);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			ret = mindex_errno(err, errno, "write", lock);
			break;
		}
		p += n;
		left -= (size_t)n;
	}
	if (ret == 0 && fdatasync(fd) < 0)
		ret = mindex_errno(err, errno, "fdatasync", lock);
	close(fd);
	if (ret == 0 && rename(lock, path) < 0)
		ret = mindex_errno(err, errno, "rename", lock);
	if (ret < 0)
		(void)unlink(lock);
	free(lock);
	free(path);
	return ret;
}

static void format_record(struct buf *b, const struct uidlist_rec *r)
{
	buf_printf(b, "%u", r->uid);
	if (r->ext != NULL) {
		if (r->ext[0] != ' ')
			buf_append_char(b, ' ');
		buf_append_str(b, r->ext);
	}
	buf_append_str(b, " :");
	buf_append_str(b, r->base);
	buf_append_char(b, '\n');
}

int uidlist_write(const char *dir, int lockfd, struct uidlist *ul,
		  struct error *err)
{
	if (ul->uidvalidity == 0)
		ul->uidvalidity = mindex_new_uidvalidity();
	if (ul->guid == NULL) {
		char g[33];
		new_guid(g);
		ul->guid = xstrdup(g);
	}
	struct buf *b = buf_new_size(64 + ul->count * 80);
	buf_printf(b, "3 V%u N%u G%s", ul->uidvalidity, ul->next_uid, ul->guid);
	if (ul->hdr_ext != NULL)
		buf_printf(b, " %s", ul->hdr_ext);
	set_hdr(ul, buf_data(b), buf_len(b));
	buf_append_char(b, '\n');
	for (size_t i = 0; i < ul->count; i++)
		format_record(b, &ul->recs[i]);
	int ret = mindex_dotlock_replace(dir, MINDEX_UIDLIST, lockfd,
					 buf_data(b), buf_len(b), err);
	if (ret == 0) {
		char *path = xasprintf("%s/" MINDEX_UIDLIST, dir);
		(void)stat(path, &ul->st);
		free(path);
		ul->appendable = true;
		ul->parsed_len = (off_t)buf_len(b);
	}
	buf_free(&b);
	return ret;
}

int uidlist_append(const char *dir, struct uidlist *ul, size_t first,
		   struct error *err)
{
	char *path = xasprintf("%s/" MINDEX_UIDLIST, dir);
	int fd = open(path, O_WRONLY | O_APPEND | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0) {
		int r = mindex_errno(err, errno, "open", path);
		free(path);
		return r;
	}
	struct buf *b = buf_new();
	for (size_t i = first; i < ul->count; i++)
		format_record(b, &ul->recs[i]);
	int ret = 0;
	const char *p = buf_data(b);
	size_t left = buf_len(b);
	while (left > 0) {
		ssize_t n = write(fd, p, left);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			ret = mindex_errno(err, errno, "write", path);
			break;
		}
		p += n;
		left -= (size_t)n;
	}
	if (ret == 0 && fdatasync(fd) < 0)
		ret = mindex_errno(err, errno, "fdatasync", path);
	if (ret == 0 && fstat(fd, &ul->st) == 0)
		ul->parsed_len = ul->st.st_size;
	close(fd);
	buf_free(&b);
	free(path);
	return ret;
}

int uidlist_read_ends(const char *dir, struct uidlist *ul, struct error *err)
{
	uidlist_clear(ul);
	char *path = xasprintf("%s/" MINDEX_UIDLIST, dir);
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0) {
		int r = errno == ENOENT
			    ? 0
			    : mindex_errno(err, errno, "open", path);
		free(path);
		return r;
	}
	free(path);
	struct stat st;
	char head[4096], tail[4096];
	ssize_t hn = -1, tn = -1;
	if (fstat(fd, &st) == 0) {
		hn = pread(fd, head, sizeof(head) - 1, 0);
		off_t from = st.st_size > (off_t)sizeof(tail) - 1
				 ? st.st_size - ((off_t)sizeof(tail) - 1)
				 : 0;
		tn = pread(fd, tail, sizeof(tail) - 1, from);
	}
	close(fd);
	if (hn <= 0 || tn <= 0)
		return 0;
	head[hn] = '\0';
	tail[tn] = '\0';
	char *nl = memchr(head, '\n', (size_t)hn);
	/* appended by someone right now (no final LF): read it all */
	if (nl == NULL || tail[tn - 1] != '\n' ||
	    !parse_header(ul, head, (size_t)(nl - head))) {
		uidlist_clear(ul);
		return 0;
	}
	set_hdr(ul, head, (size_t)(nl - head));
	/* the last record, when the file has one */
	if ((off_t)(nl - head) + 1 < st.st_size) {
		tail[tn - 1] = '\0';
		char *last = strrchr(tail, '\n');
		last = last != NULL ? last + 1 : tail;
		if (last == tail && st.st_size > (off_t)sizeof(tail) - 1) {
			uidlist_clear(ul); /* a record longer than 4 KiB */
			return 0;
		}
		uint32_t uid = 0;
		const char *q = last;
		for (; *q >= '0' && *q <= '9' && uid < 400000000u; q++)
			uid = uid * 10 + (uint32_t)(*q - '0');
		if (uid == 0 || *q != ' ') {
			uidlist_clear(ul); /* not a record: read it all */
			return 0;
		}
		if (uid >= ul->next_uid)
			ul->next_uid = uid + 1;
	}
	ul->st = st;
	ul->appendable = true;
	ul->parsed_len = st.st_size;
	return 1;
}

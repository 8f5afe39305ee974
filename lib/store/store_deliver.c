/*
 * Delivery into Maildir: tmp/ -> fsync -> new/ -> fsync new/, as the
 * Maildir spec and Dovecot's maildir-save.c do.  Line ends are stored as
 * LF (Maildir convention, what Dovecot and mutt expect); W= keeps the
 * CRLF size so IMAP can answer RFC822.SIZE without reading the file.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/buf.h"
#include "core/fsutil.h"
#include "core/xmalloc.h"
#include "store_name.h"
#include "store_private.h"

#define CHUNK (64 * 1024)
/* O_EXCL collisions need the same second, microsecond, pid and counter:
 * only a clock jump with pid reuse; a few retries are plenty. */
#define UNIQUE_TRIES 5

/* The body as stored (LF line ends), written once and copied from the
 * first file for the other recipients of a store_deliver_many(). */
struct body {
	int fd; /* -1 until one file holds the whole body */
	off_t off;
	uint64_t len;
	uint64_t lines; /* LF count, for W= */
	bool lost;	/* input consumed without a complete copy */
	struct error lost_err;
};

/*
 * CRLF -> LF across chunk boundaries; a lone CR is kept as it is.
 * `lines` counts the stored LFs not preceded by CR: the bytes a reader
 * adds when it turns the file back into CRLF form as Dovecot does (its
 * istream-crlf leaves an existing CRLF alone), which makes W= exact.
 */
struct conv {
	bool cr_pending;
	char last; /* last byte written */
	uint64_t len, lines;
};

static size_t conv_chunk(struct conv *c, const char *in, size_t n, char *out)
{
	size_t o = 0;
	for (size_t i = 0; i < n; i++) {
		char ch = in[i];
		if (c->cr_pending) {
			c->cr_pending = false;
			if (ch != '\n') {
				out[o++] = '\r';
				c->last = '\r';
			}
		}
		if (ch == '\r') {
			c->cr_pending = true;
			continue;
		}
		if (ch == '\n' && c->last != '\r')
			c->lines++;
		out[o++] = ch;
		c->last = ch;
	}
	c->len += o;
	return o;
}

static size_t conv_end(struct conv *c, char *out)
{
	if (!c->cr_pending)
		return 0;
	c->cr_pending = false;
	c->last = '\r';
	out[0] = '\r';
	c->len++;
	return 1;
}

static int write_all(int fd, const char *p, size_t len, const char *path,
		     struct error *err)
{
	while (len > 0) {
		ssize_t n = write(fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return store_errno(err, errno, "write", path);
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Copy len bytes at off in `from` to the current offset of `to`. */
static int copy_body(int from, off_t off, uint64_t len, int to,
		     const char *path, struct error *err)
{
	/* In-kernel copy (a reflink on btrfs/xfs); fall back to read/write
	 * across file systems or where it is not supported. */
	while (len > 0) {
		ssize_t n =
		    copy_file_range(from, &off, to, NULL,
				    len > CHUNK * 16 ? CHUNK * 16 : len, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EXDEV || errno == EINVAL ||
			      errno == ENOSYS || errno == EOPNOTSUPP))
			break;
		if (n < 0)
			return store_errno(err, errno, "copy to", path);
		if (n == 0)
			return error_set(err, ERR_TEMP,
					 "copy to %s: body source truncated",
					 path);
		len -= (uint64_t)n;
	}
	char *chunk = len > 0 ? xmalloc(CHUNK) : NULL;
	int ret = 0;
	while (len > 0 && ret == 0) {
		ssize_t n = pread(from, chunk, len > CHUNK ? CHUNK : len, off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			ret = error_set(err, ERR_TEMP, "read body copy: %s",
					n < 0 ? strerror(errno) : "truncated");
			break;
		}
		ret = write_all(to, chunk, (size_t)n, path, err);
		off += n;
		len -= (uint64_t)n;
	}
	free(chunk);
	return ret;
}

/* Stream the input through the converter into fd. */
static int stream_body(struct store_input *in, int fd, const char *path,
		       struct conv *c, struct error *err)
{
	char *inbuf = xmalloc(CHUNK), *outbuf = xmalloc(CHUNK + 1);
	int ret = 0;
	for (;;) {
		ssize_t n = in->read(in->ctx, inbuf, CHUNK, err);
		if (n < 0) {
			ret = -1;
			break;
		}
		size_t o = n == 0 ? conv_end(c, outbuf)
				  : conv_chunk(c, inbuf, (size_t)n, outbuf);
		if (write_all(fd, outbuf, o, path, err) < 0) {
			ret = -1;
			break;
		}
		if (n == 0)
			break;
	}
	free(inbuf);
	free(outbuf);
	return ret;
}

/* A header value from the caller must not smuggle in more lines. */
static bool header_value_ok(const char *v)
{
	return strpbrk(v, "\r\n") == NULL;
}

static int build_headers(const struct store_delivery *d, struct buf *out,
			 uint64_t *lines_r, struct error *err)
{
	if ((d->return_path != NULL && !header_value_ok(d->return_path)) ||
	    (d->delivered_to != NULL && !header_value_ok(d->delivered_to)))
		return error_set(err, ERR_PERM, "line break in a trace header");
	if (d->return_path != NULL)
		buf_printf(out, "Return-Path: <%s>\n", d->return_path);
	if (d->delivered_to != NULL)
		buf_printf(out, "Delivered-To: %s\n", d->delivered_to);
	if (d->extra_headers != NULL && *d->extra_headers != '\0') {
		size_t len = strlen(d->extra_headers);
		struct conv c = {0};
		char *tmp = xmalloc(len + 2);
		size_t o = conv_chunk(&c, d->extra_headers, len, tmp);
		o += conv_end(&c, tmp + o);
		buf_append(out, tmp, o);
		free(tmp);
		if (buf_data(out)[buf_len(out) - 1] != '\n')
			buf_append_char(out, '\n');
	}
	uint64_t lines = 0;
	for (const char *p = buf_data(out); *p != '\0'; p++)
		lines += *p == '\n' && (p == buf_data(out) || p[-1] != '\r');
	*lines_r = lines;
	return 0;
}

/* Open a new tmp file, creating the folder on first delivery. */
static int open_tmp(struct store_delivery *d, const char *fpath, char *unique,
		    size_t usize, char **tmp_r, struct error *err)
{
	bool created = false;
	for (int tries = 0; tries < UNIQUE_TRIES;) {
		store_name_unique(d->mbox->store->host, unique, usize);
		char *tmp = xasprintf("%s/tmp/%s", fpath, unique);
		int fd = open(tmp, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC,
			      STORE_FILE_MODE);
		if (fd >= 0) {
			*tmp_r = tmp;
			return fd;
		}
		int e = errno;
		if (e == ENOENT && !created) {
			/* First delivery: make the layout, then retry. */
			free(tmp);
			if (store_folder_create(d->mbox, d->folder, err) < 0)
				return -1;
			created = true;
			continue;
		}
		if (e != EEXIST) {
			store_errno(err, e, "create", tmp);
			free(tmp);
			return -1;
		}
		free(tmp);
		tries++;
	}
	return error_set(err, ERR_TEMP, "no unique tmp name in %s/tmp", fpath);
}

/* tmp/ -> new/ without ever replacing an existing file. */
static int move_to_new(const char *tmp, const char *dst, struct error *err)
{
	if (renameat2(AT_FDCWD, tmp, AT_FDCWD, dst, RENAME_NOREPLACE) == 0)
		return 0;
	if (errno != EINVAL && errno != ENOSYS)
		return store_errno(err, errno, "rename to", dst);
	/* The file system lacks RENAME_NOREPLACE: the Maildir spec's
	 * link()+unlink() gives the same guarantee. */
	if (link(tmp, dst) < 0)
		return store_errno(err, errno, "link to", dst);
	unlink(tmp);
	return 0;
}

static int deliver_one(struct store_delivery *d, struct store_input *in,
		       struct body *body, struct error *err)
{
	char *fpath = store_folder_path(d->mbox, d->folder, err);
	if (fpath == NULL)
		return -1;
	struct buf *hdr = buf_new();
	char *tmp = NULL, *newdir = NULL, *dst = NULL;
	char unique[STORE_NAME_MAX - 64];
	uint64_t hdr_lines = 0, estimate = 0;
	bool first = body->fd < 0, consumed = false;
	int fd = -1, ret = -1;

	if (build_headers(d, hdr, &hdr_lines, err) < 0)
		goto out;
	if (body->fd < 0 && body->lost) {
		if (err != NULL)
			*err = body->lost_err;
		goto out;
	}
	/* Refuse before writing anything: exact when the body is known,
	 * else the caller's estimate (CRLF input: a little more than the
	 * stored size, so this errs on the refusing side by the number of
	 * lines; the exact check follows the write). */
	estimate = buf_len(hdr) + (first ? in->size_hint : body->len);
	if (store_quota_check(d->mbox, &d->quota, estimate, err) < 0)
		goto out;

	fd = open_tmp(d, fpath, unique, sizeof(unique), &tmp, err);
	if (fd < 0)
		goto out;
	if (write_all(fd, buf_data(hdr), buf_len(hdr), tmp, err) < 0)
		goto fail;

	uint64_t body_len = 0, body_lines = 0;
	if (first) {
		struct conv c = {0};
		consumed = true;
		if (stream_body(in, fd, tmp, &c, err) < 0)
			goto fail;
		body_len = c.len;
		body_lines = c.lines;
	} else {
		if (copy_body(body->fd, body->off, body->len, fd, tmp, err) < 0)
			goto fail;
		body_len = body->len;
		body_lines = body->lines;
	}
	if (fsync(fd) < 0) {
		store_errno(err, errno, "fsync", tmp);
		goto fail;
	}
	if (first) {
		/* The body is complete and durable: keep this descriptor as
		 * the source for the other recipients, even if this one's
		 * file is removed below. */
		body->fd = fd;
		body->off = (off_t)buf_len(hdr);
		body->len = body_len;
		body->lines = body_lines;
	}
	d->size = buf_len(hdr) + body_len;
	d->vsize = d->size + hdr_lines + body_lines;
	if (first && d->size > estimate &&
	    store_quota_check(d->mbox, &d->quota, d->size, err) < 0)
		goto fail;

	snprintf(d->name, sizeof(d->name), "%s,S=%llu,W=%llu", unique,
		 (unsigned long long)d->size, (unsigned long long)d->vsize);
	newdir = xasprintf("%s/new", fpath);
	dst = xasprintf("%s/%s", newdir, d->name);
	if (move_to_new(tmp, dst, err) < 0)
		goto fail;
	if (fs_fsync_dir(newdir, err) < 0) {
		/* Not known to be durable, so report a failure; and remove it
		 * so that the sender's retry does not make a duplicate. */
		if (err != NULL)
			err->kind = ERR_TEMP;
		unlink(dst);
		goto fail_closed;
	}
	if (store_usage_add(d->mbox, (int64_t)d->size, 1, NULL) < 0) {
		/* Delivered; a cache that missed it must be rebuilt. */
		char *cache =
		    xasprintf("%s/maildirsize", store_mailbox_path(d->mbox));
		unlink(cache);
		free(cache);
	}
	ret = 0;
	goto done;

fail:
	unlink(tmp);
fail_closed:
	d->name[0] = '\0';
	if (consumed && body->fd < 0) {
		/* The input is used up without a complete copy: the other
		 * recipients cannot have the message either. */
		body->lost = true;
		if (err != NULL)
			body->lost_err = *err;
		else
			error_set(&body->lost_err, ERR_TEMP,
				  "message input lost");
		if (body->lost_err.kind == ERR_NONE)
			body->lost_err.kind = ERR_TEMP;
	}
done:
	if (fd >= 0 && fd != body->fd)
		close(fd);
out:
	free(dst);
	free(newdir);
	free(tmp);
	free(fpath);
	buf_free(&hdr);
	return ret;
}

size_t store_deliver_many(struct store_delivery *ds, size_t n,
			  struct store_input *in, struct error *errs)
{
	struct body body = {.fd = -1};
	size_t failed = 0;
	for (size_t i = 0; i < n; i++) {
		error_clear(&errs[i]);
		ds[i].name[0] = '\0';
		if (deliver_one(&ds[i], in, &body, &errs[i]) < 0) {
			if (errs[i].kind == ERR_NONE)
				error_set(&errs[i], ERR_TEMP,
					  "delivery failed");
			failed++;
		}
	}
	if (body.fd >= 0)
		close(body.fd);
	return failed;
}

int store_deliver(struct store_delivery *d, struct store_input *in,
		  struct error *err)
{
	struct error e;
	if (store_deliver_many(d, 1, in, &e) == 0)
		return 0;
	if (err != NULL)
		*err = e;
	return -1;
}

static ssize_t fd_read(void *ctx, void *data, size_t size, struct error *err)
{
	int fd = *(int *)ctx;
	for (;;) {
		ssize_t n = read(fd, data, size);
		if (n >= 0)
			return n;
		if (errno != EINTR)
			return error_set(err, ERR_TEMP, "read message: %s",
					 strerror(errno));
	}
}

void store_input_fd(struct store_input *in, int *fd)
{
	struct stat st;
	in->read = fd_read;
	in->ctx = fd;
	in->size_hint = 0;
	off_t pos = lseek(*fd, 0, SEEK_CUR);
	if (fstat(*fd, &st) == 0 && S_ISREG(st.st_mode) && pos >= 0 &&
	    st.st_size >= pos)
		in->size_hint = (uint64_t)(st.st_size - pos);
}

static ssize_t mem_read(void *ctx, void *data, size_t size, struct error *err)
{
	struct store_input_mem *m = ctx;
	size_t n = m->len - m->pos < size ? m->len - m->pos : size;
	memcpy(data, m->data + m->pos, n);
	m->pos += n;
	return (ssize_t)n;
}

void store_input_mem(struct store_input *in, struct store_input_mem *mem,
		     const void *data, size_t len)
{
	mem->data = data;
	mem->len = len;
	mem->pos = 0;
	in->read = mem_read;
	in->ctx = mem;
	in->size_hint = len;
}

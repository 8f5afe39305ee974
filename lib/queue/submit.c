/*
 * submit - the client of postern-queued's socket (see submit.h).
 *
 * One connection per submission.  Everything is written through a
 * struct io, whose output buffer is the only buffer: the caller is told
 * to stop (submit_write returns 1) once it holds SUBMIT_HIGH_WATER bytes.
 */
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/str.h"
#include "core/xmalloc.h"
#include "ev/ev.h"
#include "ev/net.h"
#include "queue/submit.h"
#include "tls/io.h"

/* Chunk size of 'D' records: small enough to interleave, big enough that
 * framing costs nothing. */
#define DATA_CHUNK (64 * 1024)
/* How long to wait for the group commit's answer. */
#define COMMIT_TIMEOUT_MS (300 * 1000)

struct submit_client {
	struct ev *ev;
	char *path;
};

struct submit {
	struct submit_client *client;
	struct io *io;
	struct buf *in;
	struct submit_callbacks cbs;
	void *ctx;
	char id[QUEUE_ID_MAX];
	bool full;	/* submit_write said 1, drain owed */
	bool failed;	/* err holds why */
	bool committed; /* done is owed */
	struct error err;
	submit_done_fn *done;
	void *done_ctx;
	bool hold; /* commit into the hold queue */
};

struct submit_client *submit_client_new(struct ev *ev, const char *path)
{
	struct submit_client *c = xcalloc(1, sizeof(*c));

	c->ev = ev;
	c->path = xstrdup(path);
	return c;
}

void submit_client_free(struct submit_client **client)
{
	if (*client == NULL)
		return;
	free((*client)->path);
	free(*client);
	*client = NULL;
}

static void submit_free(struct submit *s)
{
	io_free(&s->io);
	buf_free(&s->in);
	free(s);
}

static void finish(struct submit *s, const struct error *err)
{
	submit_done_fn *done = s->done;
	void *ctx = s->done_ctx;

	/* Copy the id: s is gone before done returns control to us. */
	char id[QUEUE_ID_MAX];
	str_copy(id, s->id, sizeof(id));
	submit_free(s);
	done(ctx, err, err == NULL ? id : NULL);
}

static void fail(struct submit *s, enum err_kind kind, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void fail(struct submit *s, enum err_kind kind, const char *fmt, ...)
{
	va_list ap;

	if (!s->failed) {
		va_start(ap, fmt);
		error_setv(&s->err, kind, fmt, ap);
		va_end(ap);
		s->failed = true;
	}
	io_free(&s->io);
	if (s->committed) {
		struct error err = s->err;
		finish(s, &err);
		return;
	}
	/* The caller may be waiting for drain before it writes more; let it
	 * go on, its writes now return -1 and the commit reports why. */
	if (s->full) {
		s->full = false;
		if (s->cbs.drain != NULL)
			s->cbs.drain(s->ctx);
	}
}

/* Returns true if s is still alive and reading. */
static bool on_record(struct submit *s, char type, const char *p, size_t len)
{
	char text[512];

	str_copy(text, "", sizeof(text));
	if (len > 0) {
		size_t n = len < sizeof(text) - 1 ? len : sizeof(text) - 1;
		memcpy(text, p, n);
		text[n] = '\0';
	}
	switch (type) {
	case SUBMIT_REC_ID:
		if (len == 0 || len >= QUEUE_ID_MAX || s->id[0] != '\0') {
			fail(s, ERR_TEMP, "queue daemon: bad id record");
			return false;
		}
		str_copy(s->id, text, sizeof(s->id));
		if (s->cbs.id != NULL)
			s->cbs.id(s->ctx, s->id);
		return true;
	case SUBMIT_REC_OK:
		if (!s->committed) {
			fail(s, ERR_TEMP, "queue daemon: answer before commit");
			return false;
		}
		finish(s, NULL);
		return false;
	case SUBMIT_REC_FAIL:
		fail(s, text[0] == '5' ? ERR_PERM : ERR_TEMP, "%s", text);
		return false;
	default:
		fail(s, ERR_TEMP, "queue daemon: unexpected record 0x%02x",
		     (unsigned char)type);
		return false;
	}
}

static void on_io(struct io *io, enum io_event event, void *ctx)
{
	struct submit *s = ctx;
	struct error err;

	switch (event) {
	case IO_CONNECTED:
		return;
	case IO_DATAIN:
		io_read_bytes(io, s->in, SIZE_MAX);
		for (;;) {
			char type;
			const char *p;
			size_t len, used;
			int rc =
			    submit_rec_get(s->in, &type, &p, &len, &used, &err);
			if (rc < 0) {
				fail(s, ERR_TEMP, "queue daemon: %s", err.msg);
				return;
			}
			if (rc == 0)
				return;
			/* Answers are few and short: copy out of the buffer
			 * before handling, which may free s. */
			char *copy = xmalloc(len + 1);
			memcpy(copy, p, len);
			copy[len] = '\0';
			buf_consume(s->in, used);
			bool alive = on_record(s, type, copy, len);
			free(copy);
			if (!alive)
				return; /* s is finished, failed or freed */
		}
	case IO_LOWAT:
		if (s->full) {
			s->full = false;
			if (s->cbs.drain != NULL)
				s->cbs.drain(s->ctx);
		}
		return;
	case IO_TIMEOUT:
		fail(s, ERR_TEMP, "queue daemon: timeout");
		return;
	case IO_DISCONNECTED:
		fail(s, ERR_TEMP, "queue daemon: connection closed");
		return;
	case IO_ERROR:
		fail(s, ERR_TEMP, "queue daemon: %s", io_error(io));
		return;
	case IO_TLSREADY:
		return;
	}
}

static void send_buf(struct submit *s, struct buf *b)
{
	if (s->io != NULL)
		io_write(s->io, buf_data(b), buf_len(b));
	buf_reset(b);
}

struct submit *submit_begin(struct submit_client *client,
			    const struct submit_env *env,
			    const struct submit_callbacks *cbs, void *ctx)
{
	struct submit *s = xcalloc(1, sizeof(*s));
	struct error err;
	struct buf *b;
	int fd;

	s->client = client;
	s->in = buf_new();
	if (cbs != NULL)
		s->cbs = *cbs;
	s->ctx = ctx;
	fd = net_connect_unix(client->path, &err);
	if (fd < 0) {
		error_set(&s->err, ERR_TEMP, "queue daemon unavailable: %s",
			  err.msg);
		s->failed = true;
		return s;
	}
	s->io = io_new_connect(client->ev, fd, on_io, s);
	b = buf_new();
	submit_rec_put_str(b, SUBMIT_REC_BEGIN, SUBMIT_PROTO_VERSION);
	submit_env_encode(b, env);
	send_buf(s, b);
	buf_free(&b);
	return s;
}

void submit_add_rcpt(struct submit *s, const struct submit_rcpt *rcpt)
{
	struct buf *b;

	if (s->failed)
		return;
	b = buf_new();
	submit_rcpt_encode(b, rcpt);
	send_buf(s, b);
	buf_free(&b);
}

const char *submit_id(const struct submit *s)
{
	return s->id[0] != '\0' ? s->id : NULL;
}

int submit_write(struct submit *s, const void *data, size_t len)
{
	const char *p = data;
	struct buf *b;

	if (s->failed)
		return -1;
	b = buf_new_size(len < DATA_CHUNK ? len + 8 : DATA_CHUNK + 8);
	while (len > 0) {
		size_t n = len < DATA_CHUNK ? len : DATA_CHUNK;
		submit_rec_put(b, SUBMIT_REC_DATA, p, n);
		send_buf(s, b);
		p += n;
		len -= n;
	}
	buf_free(&b);
	if (io_outbuf_len(s->io) >= SUBMIT_HIGH_WATER) {
		s->full = true;
		return 1;
	}
	return 0;
}

static void report_failure(struct ev *ev, void *ctx)
{
	struct submit *s = ctx;
	struct error err = s->err;

	finish(s, &err);
}

void submit_commit(struct submit *s, submit_done_fn *done, void *ctx)
{
	struct buf *b;

	s->committed = true;
	s->done = done;
	s->done_ctx = ctx;
	s->full = false; /* no drain after commit */
	if (s->failed) {
		/* Never call back from inside the caller's own call. */
		ev_defer(s->client->ev, report_failure, s);
		return;
	}
	b = buf_new();
	submit_rec_put(b, SUBMIT_REC_COMMIT, s->hold ? "HOLD" : "",
		       s->hold ? 4 : 0);
	send_buf(s, b);
	buf_free(&b);
	io_set_timeout(s->io, COMMIT_TIMEOUT_MS);
}

void submit_set_hold(struct submit *s)
{
	s->hold = true;
}

void submit_redirect(struct submit *s, const char *addr)
{
	struct buf *b;

	if (s->failed)
		return;
	b = buf_new();
	submit_rec_put_str(b, SUBMIT_REC_REDIRECT, addr);
	send_buf(s, b);
	buf_free(&b);
}

void submit_set_filter(struct submit *s, const char *filter)
{
	struct buf *b;

	if (s->failed)
		return;
	b = buf_new();
	submit_rec_put_str(b, SUBMIT_REC_FILTER, filter);
	send_buf(s, b);
	buf_free(&b);
}

void submit_set_dkim_deny(struct submit *s)
{
	struct buf *b;

	if (s->failed)
		return;
	b = buf_new();
	submit_rec_put_str(b, SUBMIT_REC_DKIM_DENY, "");
	send_buf(s, b);
	buf_free(&b);
}

void submit_abort(struct submit **s)
{
	if (*s == NULL)
		return;
	if ((*s)->committed)
		panic("submit_abort after submit_commit");
	submit_free(*s);
	*s = NULL;
}

void submit_set_sender(struct submit *s, const char *sender)
{
	struct buf *b;

	if (s->failed)
		return;
	b = buf_new();
	submit_rec_put_str(b, SUBMIT_REC_SENDER, sender != NULL ? sender : "");
	send_buf(s, b);
	buf_free(&b);
}

/*
 * lmtp-client - the connection glue (lmtp-client.h).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/log.h"
#include "core/xmalloc.h"
#include "ev/ev.h"
#include "ev/worker.h"
#include "store/store.h"
#include "lmtp-client.h"
#include "lmtp-index.h"
#include "lmtp-local.h"
#include "lmtp-session.h"
#include "smtp/smtp_reply.h"
#include "tls/io.h"

/* Bytes taken from the io per lmtp_session_input() call. */
#define READ_CHUNK 16384
/* The io's own timeout is a backstop past lmtpd_timeout, for output that
 * never drains; the idle timer below answers 421 first. */
#define IO_GRACE_MS 30000

struct lmtp_client {
	struct list_node node;
	struct lmtp_daemon *d;
	struct lmtp_backend *be; /* a reference */
	struct io *io;		 /* NULL once the connection is gone */
	struct lmtp_session *s;
	struct buf *rbuf;
	int spool_fd;
	unsigned jobs; /* worker jobs not completed */
	bool paused;
	bool closing; /* io_close() called */
	char id[24];
	char *peer;
};

struct rcpt_job {
	struct lmtp_client *c;
	struct lmtp_recipient *rcpt;
	uint64_t size_hint;
};

struct deliver_job {
	struct lmtp_client *c;
	struct lmtp_message msg;
	struct fts_batch *index; /* delivered, to index after the replies */
};

static void client_idle(struct ev *ev, struct lmtp_client *c);

static void client_free(struct lmtp_client *c)
{
	log_info("%s: disconnect from %s", c->id, c->peer);
	EV_TIMER_DEL(server_ev(c->d->srv), client_idle, c);
	list_remove(&c->node);
	lmtp_session_free(&c->s);
	if (c->spool_fd >= 0)
		close(c->spool_fd);
	io_free(&c->io);
	buf_free(&c->rbuf);
	lmtp_backend_unref(&c->be);
	server_conn_done(c->d->srv);
	free(c->peer);
	free(c);
}

/* The connection is over; the client goes once its jobs are done. */
static void client_end(struct lmtp_client *c)
{
	EV_TIMER_DEL(server_ev(c->d->srv), client_idle, c);
	io_free(&c->io);
	lmtp_session_disconnected(c->s);
	if (c->jobs == 0)
		client_free(c);
}

/* Between commands, no message being read and no job running: a 421
 * now loses nothing, the client retries the transaction. */
static bool session_idle(const struct lmtp_session *s)
{
	enum lmtp_state st = lmtp_session_state(s);
	return st == LMTP_STATE_INIT || st == LMTP_STATE_READY ||
	       st == LMTP_STATE_MAIL;
}

/* Read while the session wants input; pause the io otherwise. */
static void client_sync(struct lmtp_client *c)
{
	if (c->io == NULL || c->closing)
		return;
	if (server_stopping(c->d->srv) && session_idle(c->s)) {
		lmtp_session_abort(c->s, "421 4.3.2 Service shutting down");
		return;
	}
	const struct lmtp_settings *set = lmtp_backend_settings(c->be);
	bool want = lmtp_session_wants_input(c->s);
	if (want && c->paused) {
		c->paused = false;
		io_set_timeout(c->io, set->timeout_ms + IO_GRACE_MS);
		io_resume(c->io);
	} else if (!want && !c->paused) {
		/* Waiting for our own lookup or delivery is not the
		 * client's idleness: a long fsync must not cut the
		 * session before its replies. */
		c->paused = true;
		io_set_timeout(c->io, 0);
		io_pause(c->io);
	}
	/* Each read or completed job restarts the idle time. */
	if (want && set->timeout_ms > 0)
		EV_TIMER_ADD(server_ev(c->d->srv), set->timeout_ms, client_idle,
			     c);
	else
		EV_TIMER_DEL(server_ev(c->d->srv), client_idle, c);
}

/* lmtpd_timeout without input: 421 as Postfix's smtpd, then close. */
static void client_idle(struct ev *ev, struct lmtp_client *c)
{
	char line[SMTP_REPLY_LINE_MAX];

	(void)ev;
	log_info("%s: timeout after %s from %s", c->id,
		 lmtp_state_name(lmtp_session_state(c->s)), c->peer);
	snprintf(line, sizeof(line), "421 4.4.2 %s Error: timeout exceeded",
		 lmtp_backend_settings(c->be)->hostname);
	lmtp_session_abort(c->s, line);
}

static void client_read(struct lmtp_client *c)
{
	while (c->io != NULL && !c->closing && lmtp_session_wants_input(c->s) &&
	       io_inbuf_len(c->io) > 0) {
		buf_reset(c->rbuf);
		size_t n = io_read_bytes(c->io, c->rbuf, READ_CHUNK);
		if (n == 0)
			break;
		lmtp_session_input(c->s, buf_data(c->rbuf), n);
	}
	client_sync(c);
}

static void client_io(struct io *io, enum io_event event, void *ctx)
{
	struct lmtp_client *c = ctx;
	(void)io;

	switch (event) {
	case IO_TLSREADY:
		lmtp_session_start(c->s);
		client_sync(c);
		return;
	case IO_DATAIN:
		client_read(c);
		return;
	case IO_LOWAT:
	case IO_CONNECTED:
		return;
	case IO_TIMEOUT:
		log_info("%s: timeout after %s from %s", c->id,
			 lmtp_state_name(lmtp_session_state(c->s)), c->peer);
		client_end(c);
		return;
	case IO_ERROR:
		log_info("%s: lost connection after %s from %s: %s", c->id,
			 lmtp_state_name(lmtp_session_state(c->s)), c->peer,
			 io_error(c->io));
		client_end(c);
		return;
	case IO_DISCONNECTED:
		client_end(c);
		return;
	}
}

/* --- ops --- */

static void op_send(void *ctx, const char *data, size_t len)
{
	struct lmtp_client *c = ctx;
	if (c->io != NULL && !c->closing)
		io_write(c->io, data, len);
}

static void rcpt_work(void *ctx)
{
	struct rcpt_job *job = ctx;
	lmtp_local_rcpt(job->c->be, job->c->id, job->rcpt, job->size_hint);
}

static void rcpt_done(void *ctx)
{
	struct rcpt_job *job = ctx;
	struct lmtp_client *c = job->c;
	struct lmtp_recipient *rcpt = job->rcpt;

	free(job);
	c->jobs--;
	lmtp_session_rcpt_done(c->s, rcpt);
	if (c->io == NULL && c->jobs == 0)
		client_free(c);
	else
		client_sync(c);
}

static void op_rcpt(void *ctx, struct lmtp_recipient *rcpt, uint64_t size_hint)
{
	struct lmtp_client *c = ctx;
	struct rcpt_job *job = xcalloc(1, sizeof(*job));

	job->c = c;
	job->rcpt = rcpt;
	job->size_hint = size_hint;
	c->jobs++;
	worker_submit(c->d->pool, rcpt_work, rcpt_done, job);
}

static void op_rcpt_free(void *ctx, struct lmtp_recipient *rcpt)
{
	(void)ctx;
	lmtp_local_rcpt_free(rcpt);
}

static int op_spool_write(void *ctx, const void *data, size_t len,
			  struct error *err)
{
	struct lmtp_client *c = ctx;
	const char *p = data;

	if (c->spool_fd < 0) {
		c->spool_fd = lmtp_spool_open(
		    lmtp_backend_settings(c->be)->mail_directory, err);
		if (c->spool_fd < 0)
			return -1;
	}
	/* A page-cache write, never fsync'd: cheap enough for the loop
	 * thread, as Postfix's cleanup writes its queue file. */
	while (len > 0) {
		ssize_t n = write(c->spool_fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == ENOSPC || errno == EDQUOT ||
			      errno == EFBIG))
			return error_set_code(err, ERR_TEMP, STORE_ERR_NOSPACE,
					      "spool write: %s",
					      strerror(errno));
		if (n < 0)
			return error_set(err, ERR_TEMP, "spool write: %s",
					 strerror(errno));
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

static void op_spool_reset(void *ctx)
{
	struct lmtp_client *c = ctx;
	if (c->spool_fd >= 0)
		close(c->spool_fd);
	c->spool_fd = -1;
}

static void deliver_work(void *ctx)
{
	struct deliver_job *job = ctx;
	lmtp_local_deliver(job->c->be, &job->msg, job->c->spool_fd,
			   &job->index);
}

static void deliver_done(void *ctx)
{
	struct deliver_job *job = ctx;
	struct lmtp_client *c = job->c;

	c->jobs--;
	/* The replies first (written to the io here), then the index. */
	lmtp_session_deliver_done(c->s);
	lmtp_indexer_add(c->d->indexer, &job->index,
			 lmtp_backend_fts_min(c->be));
	free(job);
	if (c->io == NULL && c->jobs == 0)
		client_free(c);
	else
		client_sync(c);
}

static void op_deliver(void *ctx, const struct lmtp_message *msg)
{
	struct lmtp_client *c = ctx;
	struct deliver_job *job;
	struct error err;

	if (c->spool_fd < 0) {
		/* An empty message never wrote to the spool. */
		c->spool_fd = lmtp_spool_open(
		    lmtp_backend_settings(c->be)->mail_directory, &err);
		if (c->spool_fd < 0) {
			log_error("%s: spool: %s", c->id, err.msg);
			lmtp_session_deliver_done(c->s);
			return;
		}
	}
	/* The message and its recipients stay untouched in the session
	 * while it waits in LMTP_STATE_DELIVER, so the copy may point
	 * into it. */
	job = xcalloc(1, sizeof(*job));
	job->c = c;
	job->msg = *msg;
	c->jobs++;
	worker_submit(c->d->pool, deliver_work, deliver_done, job);
}

static void op_close(void *ctx)
{
	struct lmtp_client *c = ctx;
	if (c->io == NULL || c->closing)
		return;
	c->closing = true;
	io_close(c->io);
}

static const struct lmtp_session_ops client_ops = {
    .send = op_send,
    .rcpt = op_rcpt,
    .rcpt_free = op_rcpt_free,
    .spool_write = op_spool_write,
    .spool_reset = op_spool_reset,
    .deliver = op_deliver,
    .close = op_close,
};

void lmtp_client_accept(struct lmtp_daemon *d, const struct server_conn *conn)
{
	struct lmtp_client *c = xcalloc(1, sizeof(*c));
	const struct lmtp_settings *set;

	c->d = d;
	c->be = d->be;
	lmtp_backend_ref(c->be);
	set = lmtp_backend_settings(c->be);
	c->spool_fd = -1;
	c->rbuf = buf_new();
	c->peer = xstrdup(conn->peer);
	/* A Postfix-like long queue-id: seconds, microseconds, and the pid
	 * plus a counter, so that the two lmtpd processes (TCP and unix)
	 * do not give the same id in the same microsecond. */
	struct timespec now;
	clock_gettime(CLOCK_REALTIME, &now);
	snprintf(c->id, sizeof(c->id), "%08lX%05lX%04X",
		 (unsigned long)now.tv_sec & 0xffffffffUL,
		 (unsigned long)(now.tv_nsec / 1000),
		 ((unsigned)getpid() + d->next_id++) & 0xffff);
	list_push_back(&d->clients, &c->node);
	c->io = io_new(server_ev(d->srv), conn->fd, client_io, c);
	io_set_timeout(c->io, set->timeout_ms + IO_GRACE_MS);
	c->s = lmtp_session_new(set, c->id, c->peer, &client_ops, c);
	log_info("%s: connect from %s", c->id, conn->peer);

	if (conn->tls == SERVICE_TLS_IMPLICIT) {
		struct error err;
		if (server_tls(d->srv) == NULL ||
		    io_accept_tls(c->io, server_tls(d->srv), &err) < 0) {
			log_warn("%s: TLS with %s: %s", c->id, c->peer,
				 server_tls(d->srv) == NULL ? "no TLS context"
							    : err.msg);
			client_end(c);
		}
		return;
	}
	lmtp_session_start(c->s);
	client_sync(c);
}

void lmtp_clients_stop(struct lmtp_daemon *d)
{
	struct list_node *n, *tmp;

	LIST_FOREACH(n, tmp, &d->clients)
	{
		struct lmtp_client *c = LIST_ENTRY(n, struct lmtp_client, node);
		client_sync(c);
	}
}

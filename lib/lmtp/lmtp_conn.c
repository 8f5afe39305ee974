/*
 * lmtp_conn - the connection glue of the LMTP servers (lmtp_conn.h).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/log.h"
#include "core/xmalloc.h"
#include "ev/ev.h"
#include "ev/worker.h"
#include "lmtp/lmtp_conn.h"
#include "lmtp/lmtp_settings.h"
#include "smtp/smtp_reply.h"
#include "tls/io.h"

/* Bytes taken from the io per lmtp_session_input() call. */
#define READ_CHUNK 16384
/* The io's own timeout is a backstop past lmtpd_timeout, for output that
 * never drains; the idle timer below answers 421 first. */
#define IO_GRACE_MS 30000

struct lmtp_conn {
	struct list_node node;
	struct server *srv;
	const struct lmtp_server_settings *set;
	const struct lmtp_conn_ops *ops;
	void *ctx;
	struct worker_pool *pool; /* for rcpt_resolve */
	struct io *io;		  /* NULL once the connection is gone */
	struct lmtp_session *s;
	struct buf *rbuf;
	unsigned jobs; /* the daemon's jobs not completed */
	bool paused;
	bool closing;  /* io_close() called */
	bool starttls; /* a STARTTLS handshake is running */
	char id[24];
	char *peer;
};

static void conn_idle(struct ev *ev, struct lmtp_conn *c);

static void conn_free(struct lmtp_conn *c)
{
	log_info("%s: disconnect from %s", c->id, c->peer);
	EV_TIMER_DEL(server_ev(c->srv), conn_idle, c);
	list_remove(&c->node);
	lmtp_session_free(&c->s);
	io_free(&c->io);
	buf_free(&c->rbuf);
	c->ops->free(c);
	server_conn_done(c->srv);
	free(c->peer);
	free(c);
}

/* The connection is over; c goes once its jobs are done. */
static void conn_end(struct lmtp_conn *c)
{
	EV_TIMER_DEL(server_ev(c->srv), conn_idle, c);
	io_free(&c->io);
	lmtp_session_disconnected(c->s);
	if (c->jobs == 0)
		conn_free(c);
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
static void conn_sync(struct lmtp_conn *c)
{
	if (c->io == NULL || c->closing)
		return;
	/* Not during a STARTTLS handshake: the 421 would go out in the
	 * middle of it; the session is idle again right after. */
	if (server_stopping(c->srv) && session_idle(c->s) && !c->starttls) {
		lmtp_session_abort(c->s, "421 4.3.2 Service shutting down");
		return;
	}
	bool want = lmtp_session_wants_input(c->s);
	if (want && c->paused) {
		c->paused = false;
		io_set_timeout(c->io, c->set->timeout_ms + IO_GRACE_MS);
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
	if (want && c->set->timeout_ms > 0)
		EV_TIMER_ADD(server_ev(c->srv), c->set->timeout_ms, conn_idle,
			     c);
	else
		EV_TIMER_DEL(server_ev(c->srv), conn_idle, c);
}

/* lmtpd_timeout without input: 421 as Postfix's smtpd, then close. */
static void conn_idle(struct ev *ev, struct lmtp_conn *c)
{
	char line[SMTP_REPLY_LINE_MAX];

	(void)ev;
	log_info("%s: timeout after %s from %s", c->id,
		 lmtp_state_name(lmtp_session_state(c->s)), c->peer);
	snprintf(line, sizeof(line), "421 4.4.2 %s Error: timeout exceeded",
		 c->set->hostname);
	lmtp_session_abort(c->s, line);
}

static void conn_read(struct lmtp_conn *c)
{
	while (c->io != NULL && !c->closing && lmtp_session_wants_input(c->s) &&
	       io_inbuf_len(c->io) > 0) {
		buf_reset(c->rbuf);
		size_t n = io_read_bytes(c->io, c->rbuf, READ_CHUNK);
		if (n == 0)
			break;
		lmtp_session_input(c->s, buf_data(c->rbuf), n);
	}
	conn_sync(c);
}

static void conn_io(struct io *io, enum io_event event, void *ctx)
{
	struct lmtp_conn *c = ctx;
	(void)io;

	switch (event) {
	case IO_TLSREADY:
		if (c->starttls) {
			struct buf *d = buf_new();

			c->starttls = false;
			io_tls_describe(c->io, d);
			log_info("%s: STARTTLS from %s: %s", c->id, c->peer,
				 buf_data(d));
			buf_free(&d);
			lmtp_session_tls_started(c->s);
		} else {
			lmtp_session_start(c->s);
		}
		conn_sync(c);
		return;
	case IO_DATAIN:
		conn_read(c);
		return;
	case IO_LOWAT:
	case IO_CONNECTED:
		return;
	case IO_TIMEOUT:
		log_info("%s: timeout after %s from %s", c->id,
			 lmtp_state_name(lmtp_session_state(c->s)), c->peer);
		conn_end(c);
		return;
	case IO_ERROR:
		log_info("%s: lost connection after %s from %s: %s", c->id,
			 lmtp_state_name(lmtp_session_state(c->s)), c->peer,
			 io_error(c->io));
		conn_end(c);
		return;
	case IO_DISCONNECTED:
		conn_end(c);
		return;
	}
}

/* --- the session ops: send and close here, the rest the daemon's --- */

static void op_send(void *ctx, const char *data, size_t len)
{
	struct lmtp_conn *c = ctx;
	if (c->io != NULL && !c->closing)
		io_write(c->io, data, len);
}

static void op_close(void *ctx)
{
	struct lmtp_conn *c = ctx;
	if (c->io == NULL || c->closing)
		return;
	c->closing = true;
	io_close(c->io);
}

/* The 220 to STARTTLS is queued: io flushes it, then the handshake. */
static void op_starttls(void *ctx)
{
	struct lmtp_conn *c = ctx;
	struct error err;

	if (c->io == NULL || c->closing)
		return;
	if (io_start_tls_server(c->io, server_tls(c->srv), &err) < 0) {
		/* The session waits for a handshake that will not come. */
		log_warn("%s: STARTTLS from %s: %s", c->id, c->peer, err.msg);
		c->closing = true;
		io_close(c->io);
		return;
	}
	c->starttls = true;
}

static void op_rcpt_free(void *ctx, struct lmtp_recipient *rcpt)
{
	struct lmtp_conn *c = ctx;
	if (c->ops->rcpt_free != NULL)
		c->ops->rcpt_free(c, rcpt);
}

static int op_spool_write(void *ctx, const void *data, size_t len,
			  struct error *err)
{
	struct lmtp_conn *c = ctx;
	return c->ops->spool_write(c, data, len, err);
}

static void op_spool_reset(void *ctx)
{
	struct lmtp_conn *c = ctx;
	c->ops->spool_reset(c);
}

static void op_deliver(void *ctx, const struct lmtp_message *msg)
{
	struct lmtp_conn *c = ctx;
	c->ops->deliver(c, msg);
}

struct rcpt_job {
	struct lmtp_conn *c;
	struct lmtp_recipient *rcpt;
	uint64_t size_hint;
};

/* Worker thread. */
static void rcpt_work(void *ctx)
{
	struct rcpt_job *job = ctx;
	job->c->ops->rcpt_resolve(job->c, job->rcpt, job->size_hint);
}

static void rcpt_done(void *ctx)
{
	struct rcpt_job *job = ctx;
	struct lmtp_conn *c = job->c;
	struct lmtp_recipient *rcpt = job->rcpt;

	free(job);
	lmtp_session_rcpt_done(c->s, rcpt);
	lmtp_conn_job_done(c);
}

static void op_rcpt(void *ctx, struct lmtp_recipient *rcpt, uint64_t size_hint)
{
	struct lmtp_conn *c = ctx;
	struct rcpt_job *job = xcalloc(1, sizeof(*job));

	job->c = c;
	job->rcpt = rcpt;
	job->size_hint = size_hint;
	lmtp_conn_job_start(c);
	worker_submit(c->pool, rcpt_work, rcpt_done, job);
}

static const struct lmtp_session_ops conn_session_ops = {
    .send = op_send,
    .rcpt = op_rcpt,
    .rcpt_free = op_rcpt_free,
    .spool_write = op_spool_write,
    .spool_reset = op_spool_reset,
    .deliver = op_deliver,
    .close = op_close,
    .starttls = op_starttls,
};

void *lmtp_conn_ctx(const struct lmtp_conn *c)
{
	return c->ctx;
}

const char *lmtp_conn_id(const struct lmtp_conn *c)
{
	return c->id;
}

struct lmtp_session *lmtp_conn_session(const struct lmtp_conn *c)
{
	return c->s;
}

void lmtp_conn_job_start(struct lmtp_conn *c)
{
	c->jobs++;
}

void lmtp_conn_job_done(struct lmtp_conn *c)
{
	if (c->jobs == 0)
		panic("lmtp_conn_job_done without a job");
	c->jobs--;
	if (c->io == NULL && c->jobs == 0)
		conn_free(c);
	else
		conn_sync(c);
}

/*
 * lmtpd_tls_security_level: STARTTLS on a starttls service that has its
 * TLS context; encrypt requires it of network clients only (a unix socket
 * never leaves the host).  encrypt on a TCP service that cannot offer TLS
 * refuses every MAIL (fail closed) and says why.
 */
static void conn_set_tls(struct lmtp_conn *c, const struct server_conn *conn)
{
	bool unix_peer =
	    conn->peer_port == 0 && strcmp(conn->peer, "unix") == 0;
	bool implicit = conn->tls == SERVICE_TLS_IMPLICIT;
	bool offer = conn->tls == SERVICE_TLS_STARTTLS &&
		     server_tls(c->srv) != NULL &&
		     c->set->tls_level != LMTP_TLS_NONE;
	bool require = c->set->tls_level == LMTP_TLS_ENCRYPT && !unix_peer;

	if (require && !offer && !implicit)
		log_warn("%s: lmtpd_tls_security_level=encrypt but service %s "
			 "offers no STARTTLS (its services line must say "
			 "starttls): mail from %s is refused",
			 c->id, conn->service, c->peer);
	lmtp_session_set_tls(c->s, offer, require, implicit);
}

void lmtp_conn_accept(struct server *srv, const struct server_conn *conn,
		      const struct lmtp_server_settings *set,
		      struct worker_pool *pool, struct list_node *conns,
		      const struct lmtp_conn_ops *ops, void *ctx)
{
	static unsigned next_id;
	struct lmtp_conn *c = xcalloc(1, sizeof(*c));
	struct timespec now;

	c->srv = srv;
	c->set = set;
	c->ops = ops;
	c->ctx = ctx;
	c->pool = pool;
	c->rbuf = buf_new();
	c->peer = xstrdup(conn->peer);
	/* A Postfix-like long queue-id: seconds, microseconds, and the pid
	 * plus a counter, so that two processes (lmtpd on TCP and on the
	 * unix socket) do not give the same id in the same microsecond. */
	clock_gettime(CLOCK_REALTIME, &now);
	snprintf(c->id, sizeof(c->id), "%08lX%05lX%04X",
		 (unsigned long)now.tv_sec & 0xffffffffUL,
		 (unsigned long)(now.tv_nsec / 1000),
		 ((unsigned)getpid() + next_id++) & 0xffff);
	list_push_back(conns, &c->node);
	c->io = io_new(server_ev(srv), conn->fd, conn_io, c);
	io_set_timeout(c->io, set->timeout_ms + IO_GRACE_MS);
	c->s = lmtp_session_new(set, c->id, c->peer, &conn_session_ops, c);
	log_info("%s: connect from %s", c->id, conn->peer);
	conn_set_tls(c, conn);

	if (conn->tls == SERVICE_TLS_IMPLICIT) {
		struct error err;
		if (server_tls(srv) == NULL ||
		    io_accept_tls(c->io, server_tls(srv), &err) < 0) {
			log_warn("%s: TLS with %s: %s", c->id, c->peer,
				 server_tls(srv) == NULL ? "no TLS context"
							 : err.msg);
			conn_end(c);
		}
		return;
	}
	lmtp_session_start(c->s);
	conn_sync(c);
}

void lmtp_conns_stop(struct list_node *conns)
{
	struct list_node *n, *tmp;

	LIST_FOREACH(n, tmp, conns)
	{
		struct lmtp_conn *c = LIST_ENTRY(n, struct lmtp_conn, node);
		conn_sync(c);
	}
}

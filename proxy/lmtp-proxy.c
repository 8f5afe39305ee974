/*
 * lmtp-proxy.c - LMTP proxying by user (services whose name starts with
 * "lmtp"): the MTA hands local delivery here, and each recipient's mail
 * goes to that user's backend (auth/proxy_backend.h), so one user's
 * folders are only written by one backend.
 *
 * The protocol side is lmtpd's own engine (lmtp/lmtp-session.h, linked
 * from postern_lmtp_proto), driven with proxy ops:
 *   rcpt     looks up the backend on the worker (the address, then the
 *            address without its recipient_delimiter extension, as
 *            lmtpd does); unknown: 550 5.1.1, database down: 451 4.3.0;
 *   spool    keeps the message in memory (at most message_size_limit);
 *   deliver  groups the accepted recipients by backend and runs one LMTP
 *            transaction per backend at once (LHLO, then MAIL, every
 *            RCPT and DATA pipelined, RFC 2033 requires PIPELINING), and
 *            sets each recipient's reply from its backend: its RCPT
 *            answer when refused there, else its reply after the
 *            message.  The engine then answers in RCPT order.
 * A backend that cannot be reached, or breaks off, gives its recipients
 * 451 4.4.0 (the MTA retries them).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "auth/proxy_backend.h"
#include "core/array.h"
#include "core/log.h"
#include "core/xmalloc.h"
#include "ev/ev.h"
#include "ev/net.h"
#include "ev/worker.h"
#include "smtp/smtp_reply.h"
#include "tls/io.h"

#include "lmtp-address.h"
#include "lmtp-session.h"
#include "lmtp-settings.h"
#include "proxy.h"

#define READ_CHUNK 16384

struct lclient {
	struct proxy *p;
	const struct lmtp_settings *set;
	struct io *io;
	struct lmtp_session *s;
	struct buf *rbuf;
	struct buf *spool; /* the message, CRLF lines, not dot-stuffed */
	unsigned jobs;	   /* worker jobs and backend transactions */
	struct lmtp_message msg; /* the one being delivered (see op_deliver) */
	bool paused, closing;
	char id[24];
	char *peer;
};

struct rcpt_job {
	struct lclient *c;
	struct lmtp_recipient *rcpt;
};

/* One transaction with one backend. */
struct ltrans {
	struct lclient *c;
	char *backend;
	struct io *io;
	struct smtp_reply_parser *parser;
	struct lmtp_recipient **rcpts; /* this backend's, in RCPT order */
	size_t n;
	const struct lmtp_message *msg;
	enum { LT_GREETING, LT_LHLO, LT_MAIL, LT_RCPT, LT_DATA, LT_BODY,
	       LT_DONE } state;
	size_t rcpt_seen;  /* RCPT replies read */
	size_t body_seen;  /* replies after the message read */
	bool *accepted;	   /* per recipient: RCPT got 2xx */
	size_t naccepted;
	bool failed;
};

static void lclient_free(struct lclient *c)
{
	log_info("%s: disconnect from %s", c->id, c->peer);
	lmtp_session_free(&c->s);
	io_free(&c->io);
	buf_free(&c->rbuf);
	buf_free(&c->spool);
	server_conn_done(c->p->srv);
	free(c->peer);
	free(c);
}

static void lclient_end(struct lclient *c)
{
	io_free(&c->io);
	lmtp_session_disconnected(c->s);
	if (c->jobs == 0)
		lclient_free(c);
}

static void lclient_sync(struct lclient *c)
{
	bool want;

	if (c->io == NULL || c->closing)
		return;
	want = lmtp_session_wants_input(c->s);
	if (want && c->paused) {
		c->paused = false;
		io_set_timeout(c->io, c->set->timeout_ms);
		io_resume(c->io);
	} else if (!want && !c->paused) {
		/* Waiting for our lookup or the backends is not the
		 * client's idleness (as lmtpd's glue). */
		c->paused = true;
		io_set_timeout(c->io, 0);
		io_pause(c->io);
	}
}

static void lclient_read(struct lclient *c)
{
	while (c->io != NULL && !c->closing && lmtp_session_wants_input(c->s) &&
	       io_inbuf_len(c->io) > 0) {
		size_t n;

		buf_reset(c->rbuf);
		n = io_read_bytes(c->io, c->rbuf, READ_CHUNK);
		if (n == 0)
			break;
		lmtp_session_input(c->s, buf_data(c->rbuf), n);
	}
	lclient_sync(c);
}

static void lclient_io(struct io *io, enum io_event event, void *ctx)
{
	struct lclient *c = ctx;

	switch (event) {
	case IO_DATAIN:
		lclient_read(c);
		return;
	case IO_LOWAT:
	case IO_CONNECTED:
	case IO_TLSREADY:
		return;
	default:
		lclient_end(c);
		return;
	}
}

/* A job or transaction of c finished. */
static void lclient_job_done(struct lclient *c)
{
	c->jobs--;
	if (c->io == NULL && c->jobs == 0)
		lclient_free(c);
	else
		lclient_sync(c);
}

/* --- ops --- */

static void op_send(void *ctx, const char *data, size_t len)
{
	struct lclient *c = ctx;

	if (c->io != NULL && !c->closing)
		io_write(c->io, data, len);
}

static void rcpt_work(void *ctx)
{
	struct rcpt_job *job = ctx;
	struct lmtp_recipient *rcpt = job->rcpt;
	struct lclient *c = job->c;
	char *keys[2];
	size_t nkeys = lmtp_address_keys(rcpt->local, rcpt->domain,
					 c->set->recipient_delimiter, keys);
	struct buf *backend = buf_new();
	struct error err;
	int found = 0;

	for (size_t i = 0; i < nkeys && found == 0; i++)
		found = proxy_backend_lookup(c->p->db, c->p->backends, keys[i],
					     backend, &err);
	if (found < 0) {
		log_warn("%s: <%s>: backend lookup: %s", c->id, rcpt->address,
			 err.msg);
		smtp_reply_set(&rcpt->reply, 451, "4.3.0",
			       "<%s>: Temporary lookup failure", rcpt->address);
	} else if (found == 0) {
		smtp_reply_set(&rcpt->reply, 550, "5.1.1",
			       "<%s>: Recipient address rejected: User "
			       "unknown",
			       rcpt->address);
	} else {
		/* The IMAP backend's host, with the LMTP port. */
		const char *b = buf_data(backend);
		const char *colon = strrchr(b, ':');

		rcpt->backend_data =
		    xasprintf("%.*s:%u", (int)(colon - b), b,
			      c->p->lmtp_port);
		smtp_reply_set(&rcpt->reply, 250, "2.1.5", "Ok");
	}
	for (size_t i = 0; i < nkeys; i++)
		free(keys[i]);
	buf_free(&backend);
}

static void rcpt_done(void *ctx)
{
	struct rcpt_job *job = ctx;
	struct lclient *c = job->c;

	lmtp_session_rcpt_done(c->s, job->rcpt);
	free(job);
	lclient_job_done(c);
}

static void op_rcpt(void *ctx, struct lmtp_recipient *rcpt, uint64_t size_hint)
{
	struct lclient *c = ctx;
	struct rcpt_job *job = xcalloc(1, sizeof(*job));

	job->c = c;
	job->rcpt = rcpt;
	c->jobs++;
	worker_submit(c->p->workers, rcpt_work, rcpt_done, job);
}

static void op_rcpt_free(void *ctx, struct lmtp_recipient *rcpt)
{
	free(rcpt->backend_data);
	rcpt->backend_data = NULL;
}

static int op_spool_write(void *ctx, const void *data, size_t len,
			  struct error *err)
{
	struct lclient *c = ctx;

	if (c->set->message_size_limit > 0 &&
	    buf_len(c->spool) + len > c->set->message_size_limit)
		return error_set(err, ERR_PERM, "message too big");
	buf_append(c->spool, data, len);
	return 0;
}

static void op_spool_reset(void *ctx)
{
	struct lclient *c = ctx;

	buf_reset(c->spool);
}

/* --- one backend transaction --- */

static void trans_finish(struct ltrans *t)
{
	struct lclient *c = t->c;

	for (size_t i = 0; i < t->n; i++) {
		struct lmtp_recipient *r = t->rcpts[i];

		/* Refused at RCPT: that answer stands.  Accepted but no
		 * reply after the message: a broken transaction. */
		if (t->failed && (t->accepted[i] || t->rcpt_seen <= i))
			smtp_reply_set(&r->reply, 451, "4.4.0",
				       "<%s>: backend %s: delivery not "
				       "completed",
				       r->address, t->backend);
	}
	io_free(&t->io);
	smtp_reply_parser_free(&t->parser);
	free(t->rcpts);
	free(t->accepted);
	free(t->backend);
	free(t);
	/* The last transaction hands the replies to the engine. */
	if (c->jobs == 1)
		lmtp_session_deliver_done(c->s);
	lclient_job_done(c);
}

static void trans_fail(struct ltrans *t, const char *why)
{
	log_warn("%s: backend %s: %s", t->c->id, t->backend, why);
	t->failed = true;
	trans_finish(t);
}

/* The message, dot-stuffed (RFC 5321 4.5.2), then the final dot. */
static void send_body(struct ltrans *t)
{
	const char *data = buf_data(t->c->spool);
	size_t len = buf_len(t->c->spool), start = 0;

	for (size_t i = 0; i <= len; i++) {
		if (i < len && data[i] != '\n')
			continue;
		if (i < len && start < len && data[start] == '.')
			io_write(t->io, ".", 1);
		io_write(t->io, data + start, (i < len ? i + 1 : i) - start);
		start = i + 1;
	}
	if (len > 0 && data[len - 1] != '\n')
		io_write(t->io, "\r\n", 2);
	io_write(t->io, ".\r\n", 3);
}

static void send_transaction(struct ltrans *t)
{
	const struct lmtp_message *m = t->msg;

	io_printf(t->io, "MAIL FROM:<%s> SIZE=%llu%s\r\n", m->from,
		  (unsigned long long)m->size, m->smtputf8 ? " SMTPUTF8" : "");
	for (size_t i = 0; i < t->n; i++)
		io_printf(t->io, "RCPT TO:<%s>\r\n", t->rcpts[i]->address);
	io_print(t->io, "DATA\r\n");
	t->state = LT_MAIL;
}

/* Returns true when t was freed (the transaction is over). */
static bool trans_reply(struct ltrans *t, const struct smtp_parsed_reply *r)
{
	const char *text = array_len(r->lines) > 0 ? array_get(r->lines, 0)
						   : "";

	switch (t->state) {
	case LT_GREETING:
		if (r->code != 220) {
			trans_fail(t, "bad greeting");
			return true;
		}
		io_printf(t->io, "LHLO %s\r\n", t->c->set->hostname);
		t->state = LT_LHLO;
		return false;
	case LT_LHLO:
		if (r->code != 250) {
			trans_fail(t, "LHLO refused");
			return true;
		}
		send_transaction(t);
		return false;
	case LT_MAIL:
		if (r->code / 100 != 2) {
			/* Every recipient gets the refusal of MAIL. */
			for (size_t i = 0; i < t->n; i++)
				smtp_reply_set(&t->rcpts[i]->reply, r->code,
					       r->enhanced, "%s", text);
			t->rcpt_seen = t->n;
			t->state = LT_DONE;
			trans_finish(t);
			return true;
		}
		t->state = t->n > 0 ? LT_RCPT : LT_DATA;
		return false;
	case LT_RCPT:
		if (r->code / 100 == 2) {
			t->accepted[t->rcpt_seen] = true;
			t->naccepted++;
		} else {
			smtp_reply_set(&t->rcpts[t->rcpt_seen]->reply, r->code,
				       r->enhanced, "%s", text);
		}
		if (++t->rcpt_seen == t->n)
			t->state = LT_DATA;
		return false;
	case LT_DATA:
		if (r->code != 354 || t->naccepted == 0) {
			/* No message to send: finished (refusals set). */
			for (size_t i = 0; i < t->n; i++)
				if (t->accepted[i])
					smtp_reply_set(&t->rcpts[i]->reply,
						       r->code, r->enhanced,
						       "%s", text);
			t->state = LT_DONE;
			trans_finish(t);
			return true;
		}
		send_body(t);
		t->state = LT_BODY;
		return false;
	case LT_BODY:
		while (t->body_seen < t->n && !t->accepted[t->body_seen])
			t->body_seen++;
		if (t->body_seen < t->n)
			smtp_reply_set(&t->rcpts[t->body_seen]->reply, r->code,
				       r->enhanced, "%s", text);
		t->body_seen++;
		while (t->body_seen < t->n && !t->accepted[t->body_seen])
			t->body_seen++;
		if (t->body_seen >= t->n) {
			io_print(t->io, "QUIT\r\n");
			t->state = LT_DONE;
			trans_finish(t);
			return true;
		}
		return false;
	case LT_DONE:
		break;
	}
	return false;
}

static void trans_io(struct io *io, enum io_event event, void *ctx)
{
	struct ltrans *t = ctx;
	const struct smtp_parsed_reply *r;
	struct error err;
	char *line;
	size_t len;

	switch (event) {
	case IO_CONNECTED:
		return;
	case IO_DATAIN:
		while (t->state != LT_DONE) {
			enum io_line_result lr = io_getline(t->io, &line, &len);

			if (lr == IO_LINE_NONE)
				return;
			if (lr == IO_LINE_TOO_LONG)
				return trans_fail(t, "reply line too long");
			int pr = smtp_reply_parser_line(t->parser, line, len,
							&r, &err);
			if (pr < 0)
				return trans_fail(t, err.msg);
			if (pr == 1 && trans_reply(t, r))
				return;
		}
		return;
	case IO_LOWAT:
		return;
	default:
		trans_fail(t, event == IO_TIMEOUT ? "timed out"
			      : event == IO_ERROR ? io_error(io)
						  : "connection lost");
		return;
	}
}

static void trans_start(struct lclient *c, const struct lmtp_message *msg,
			const char *backend, struct lmtp_recipient **rcpts,
			size_t n)
{
	struct ltrans *t = xcalloc(1, sizeof(*t));
	struct net_addr addr;
	struct error err;
	int fd;

	t->c = c;
	t->msg = msg;
	t->backend = xstrdup(backend);
	t->rcpts = rcpts;
	t->n = n;
	t->accepted = xcalloc(n, sizeof(bool));
	t->parser = smtp_reply_parser_new();
	t->state = LT_GREETING;
	c->jobs++;
	if (net_parse_addr(backend, &addr, &err) < 0 ||
	    (fd = net_connect(&addr, &err)) < 0) {
		trans_fail(t, err.msg);
		return;
	}
	t->io = io_new_connect(c->p->ev, fd, trans_io, t);
	io_set_timeout(t->io, c->p->set.connect_timeout_ms * 6);
}

static void op_deliver(void *ctx, const struct lmtp_message *msg)
{
	struct lclient *c = ctx;
	bool *done = xcalloc(msg->nrcpts + 1, sizeof(bool));
	size_t groups = 0;

	/* msg is borrowed for the call; what it points to stays in the
	 * session while it waits in LMTP_STATE_DELIVER. */
	c->msg = *msg;
	msg = &c->msg;

	/* One extra job while starting, so that a backend failing at once
	 * cannot call deliver_done before the others have started. */
	c->jobs++;
	for (size_t i = 0; i < msg->nrcpts; i++) {
		const char *b = msg->rcpts[i]->backend_data;
		struct lmtp_recipient **group;
		size_t n = 0;

		if (done[i] || b == NULL)
			continue;
		group = xcalloc(msg->nrcpts, sizeof(*group));
		for (size_t j = i; j < msg->nrcpts; j++) {
			const char *bj = msg->rcpts[j]->backend_data;

			if (!done[j] && bj != NULL && strcmp(b, bj) == 0) {
				done[j] = true;
				group[n++] = msg->rcpts[j];
			}
		}
		log_info("%s: %zu recipient(s) to backend %s", c->id, n, b);
		groups++;
		trans_start(c, msg, b, group, n);
	}
	free(done);
	if (c->jobs == 1)
		lmtp_session_deliver_done(c->s);
	lclient_job_done(c);
}

static void op_close(void *ctx)
{
	struct lclient *c = ctx;

	if (c->io == NULL || c->closing)
		return;
	c->closing = true;
	io_close(c->io);
}

static const struct lmtp_session_ops lclient_ops = {
    .send = op_send,
    .rcpt = op_rcpt,
    .rcpt_free = op_rcpt_free,
    .spool_write = op_spool_write,
    .spool_reset = op_spool_reset,
    .deliver = op_deliver,
    .close = op_close,
};

void lproxy_accept(struct proxy *p, const struct lmtp_settings *set,
		   const struct server_conn *conn)
{
	struct lclient *c = xcalloc(1, sizeof(*c));
	struct timespec now;
	static unsigned next_id;

	c->p = p;
	c->set = set;
	c->rbuf = buf_new();
	c->spool = buf_new();
	c->peer = xstrdup(conn->peer);
	clock_gettime(CLOCK_REALTIME, &now);
	snprintf(c->id, sizeof(c->id), "%08lX%05lX%04X",
		 (unsigned long)now.tv_sec & 0xffffffffUL,
		 (unsigned long)(now.tv_nsec / 1000),
		 ((unsigned)getpid() + next_id++) & 0xffff);
	c->io = io_new(p->ev, conn->fd, lclient_io, c);
	io_set_timeout(c->io, set->timeout_ms);
	c->s = lmtp_session_new(set, c->id, c->peer, &lclient_ops, c);
	log_info("%s: connect from %s", c->id, conn->peer);
	lmtp_session_start(c->s);
	lclient_sync(c);
}

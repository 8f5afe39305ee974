/*
 * lmtp-proxy.c - LMTP proxying by user (services whose name starts with
 * "lmtp"): the MTA hands local delivery here, and each recipient's mail
 * goes to that user's backend (auth/proxy_backend.h), so one user's
 * folders are only written by one backend.
 *
 * The protocol side and the connection are the shared LMTP server layer
 * (lmtp/lmtp_session.h, lmtp/lmtp_conn.h), driven with proxy ops:
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
 *
 * TLS (proxy_lmtp_tls_security_level): after LHLO, STARTTLS when the
 * backend offers it (may) or must (encrypt: 451 4.7.4 otherwise), then
 * LHLO again; the certificate is verified as on the IMAP leg
 * (proxy_backend_tls_verify, proxy_backend_tls_CAfile, name = the
 * backend's host), a failure gives 451 4.7.5.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "auth/proxy_backend.h"
#include "core/array.h"
#include "core/log.h"
#include "core/xmalloc.h"
#include "ev/ev.h"
#include "ev/net.h"
#include "lmtp/lmtp_address.h"
#include "lmtp/lmtp_conn.h"
#include "lmtp/lmtp_settings.h"
#include "smtp/smtp_reply.h"
#include "tls/io.h"

#include "proxy.h"

/* The proxy's side of one connection (lmtp_conn_ctx). */
struct lclient {
	struct proxy *p;
	const struct lmtp_server_settings *set;
	struct buf *spool; /* the message, CRLF lines, not dot-stuffed */
	struct lmtp_message msg; /* the one being delivered (see op_deliver) */
	/* Backend transactions of the message not finished, plus one
	 * while op_deliver starts them. */
	unsigned pending;
};

/* One transaction with one backend. */
struct ltrans {
	struct lmtp_conn *conn;
	struct lclient *c;
	char *backend;
	struct io *io;
	struct smtp_reply_parser *parser;
	struct lmtp_recipient **rcpts; /* this backend's, in RCPT order */
	size_t n;
	const struct lmtp_message *msg;
	enum { LT_GREETING, LT_LHLO, LT_STARTTLS, LT_TLS, LT_MAIL, LT_RCPT,
	       LT_DATA, LT_BODY, LT_DONE } state;
	bool tls_done; /* STARTTLS done, or skipped (may, not offered) */
	/* A failure's reply to the recipients ("451 4.4.0" unless a TLS
	 * check set 4.7.x). */
	const char *fail_dsn;
	size_t rcpt_seen;  /* RCPT replies read */
	size_t body_seen;  /* replies after the message read */
	bool *accepted;	   /* per recipient: RCPT got 2xx */
	size_t naccepted;
	bool failed;
};

/* --- ops --- */

/* Worker thread (lmtp_conn.h). */
static void rcpt_resolve(struct lmtp_conn *conn, struct lmtp_recipient *rcpt,
			 uint64_t size_hint)
{
	struct lclient *c = lmtp_conn_ctx(conn);
	char *keys[2];
	size_t nkeys = lmtp_address_keys(rcpt->local, rcpt->domain,
					 c->set->recipient_delimiter, keys);
	struct buf *backend = buf_new();
	struct error err;
	int found = 0;

	for (size_t i = 0; i < nkeys && found == 0; i++)
		found = proxy_backend_lookup(c->p->read_db, c->p->backends,
					     keys[i], backend, &err);
	if (found < 0) {
		log_warn("%s: <%s>: backend lookup: %s", lmtp_conn_id(conn),
			 rcpt->address, err.msg);
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

static void op_rcpt_free(struct lmtp_conn *conn, struct lmtp_recipient *rcpt)
{
	free(rcpt->backend_data);
	rcpt->backend_data = NULL;
}

static int op_spool_write(struct lmtp_conn *conn, const void *data,
			  size_t len, struct error *err)
{
	struct lclient *c = lmtp_conn_ctx(conn);

	if (c->set->message_size_limit > 0 &&
	    buf_len(c->spool) + len > c->set->message_size_limit)
		return error_set(err, ERR_PERM, "message too big");
	buf_append(c->spool, data, len);
	return 0;
}

static void op_spool_reset(struct lmtp_conn *conn)
{
	struct lclient *c = lmtp_conn_ctx(conn);

	buf_reset(c->spool);
}

/* One of the message's transactions (or op_deliver) is over: the last
 * hands the replies to the engine. */
static void deliver_step(struct lmtp_conn *conn)
{
	struct lclient *c = lmtp_conn_ctx(conn);

	if (--c->pending == 0)
		lmtp_session_deliver_done(lmtp_conn_session(conn));
}

/* --- one backend transaction --- */

static void trans_finish(struct ltrans *t)
{
	struct lmtp_conn *conn = t->conn;

	for (size_t i = 0; i < t->n; i++) {
		struct lmtp_recipient *r = t->rcpts[i];

		/* Refused at RCPT: that answer stands.  Accepted but no
		 * reply after the message: a broken transaction. */
		if (t->failed && (t->accepted[i] || t->rcpt_seen <= i))
			smtp_reply_set(&r->reply, 451,
				       t->fail_dsn != NULL ? t->fail_dsn
							   : "4.4.0",
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
	deliver_step(conn);
	lmtp_conn_job_done(conn);
}

static void trans_fail(struct ltrans *t, const char *why)
{
	log_warn("%s: backend %s: %s", lmtp_conn_id(t->conn), t->backend, why);
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

static bool offers_starttls(const struct smtp_parsed_reply *r)
{
	for (size_t i = 1; i < array_len(r->lines); i++)
		if (strcasecmp(array_get(r->lines, i), "STARTTLS") == 0)
			return true;
	return false;
}

/*
 * After LHLO: STARTTLS when proxy_lmtp_tls_security_level is may or
 * encrypt and the backend offers it; encrypt without the offer fails.
 * true when t was freed.
 */
static bool trans_tls_step(struct ltrans *t, const struct smtp_parsed_reply *r)
{
	int level = t->c->p->set.lmtp_tls_level;

	if (t->tls_done || level == 0) {
		send_transaction(t);
		return false;
	}
	if (!offers_starttls(r) || t->c->p->backend_tls == NULL) {
		if (level == 2) {
			t->fail_dsn = "4.7.4";
			trans_fail(t, "TLS is required, but was not offered");
			return true;
		}
		t->tls_done = true;
		send_transaction(t);
		return false;
	}
	io_print(t->io, "STARTTLS\r\n");
	t->state = LT_STARTTLS;
	return false;
}

/* 220 to STARTTLS: the handshake, verifying as the IMAP leg does. */
static bool trans_start_tls(struct ltrans *t)
{
	char host[256];
	struct error err;

	if (!pback_host(t->backend, host, sizeof(host))) {
		trans_fail(t, "bad backend address");
		return true;
	}
	if (io_connect_tls(t->io, t->c->p->backend_tls, host, &err) < 0) {
		t->fail_dsn = "4.7.5";
		trans_fail(t, err.msg);
		return true;
	}
	t->state = LT_TLS;
	return false;
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
		return trans_tls_step(t, r);
	case LT_STARTTLS:
		if (r->code != 220) {
			if (t->c->p->set.lmtp_tls_level == 2) {
				t->fail_dsn = "4.7.5";
				trans_fail(t, "STARTTLS refused");
				return true;
			}
			t->tls_done = true;
			send_transaction(t);
			return false;
		}
		return trans_start_tls(t);
	case LT_TLS:
		/* The backend speaks before our handshake: a broken peer. */
		trans_fail(t, "data before the TLS handshake");
		return true;
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
	case IO_TLSREADY: {
		struct buf *d = buf_new();

		io_tls_describe(t->io, d);
		log_info("%s: backend %s: TLS %s", lmtp_conn_id(t->conn),
			 t->backend, buf_data(d));
		buf_free(&d);
		/* RFC 3207 4.2: the extensions again, over TLS. */
		t->tls_done = true;
		io_printf(t->io, "LHLO %s\r\n", t->c->set->hostname);
		t->state = LT_LHLO;
		return;
	}
	default:
		if (t->state == LT_TLS)
			t->fail_dsn = "4.7.5";
		trans_fail(t, event == IO_TIMEOUT ? "timed out"
			      : event == IO_ERROR ? io_error(io)
						  : "connection lost");
		return;
	}
}

static void trans_start(struct lmtp_conn *conn, const struct lmtp_message *msg,
			const char *backend, struct lmtp_recipient **rcpts,
			size_t n)
{
	struct lclient *c = lmtp_conn_ctx(conn);
	struct ltrans *t = xcalloc(1, sizeof(*t));
	struct net_addr addr;
	struct error err;
	int fd;

	t->conn = conn;
	t->c = c;
	t->msg = msg;
	t->backend = xstrdup(backend);
	t->rcpts = rcpts;
	t->n = n;
	t->accepted = xcalloc(n, sizeof(bool));
	t->parser = smtp_reply_parser_new();
	t->state = LT_GREETING;
	c->pending++;
	lmtp_conn_job_start(conn);
	if (net_parse_addr(backend, &addr, &err) < 0 ||
	    (fd = net_connect(&addr, &err)) < 0) {
		trans_fail(t, err.msg);
		return;
	}
	t->io = io_new_connect(c->p->ev, fd, trans_io, t);
	io_set_timeout(t->io, c->p->set.connect_timeout_ms * 6);
}

static void op_deliver(struct lmtp_conn *conn, const struct lmtp_message *msg)
{
	struct lclient *c = lmtp_conn_ctx(conn);
	bool *done = xcalloc(msg->nrcpts + 1, sizeof(bool));
	size_t groups = 0;

	/* msg is borrowed for the call; what it points to stays in the
	 * session while it waits in LMTP_STATE_DELIVER. */
	c->msg = *msg;
	msg = &c->msg;

	/* One extra step while starting, so that a backend failing at
	 * once cannot call deliver_done before the others have started. */
	c->pending = 1;
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
		log_info("%s: %zu recipient(s) to backend %s",
			 lmtp_conn_id(conn), n, b);
		groups++;
		trans_start(conn, msg, b, group, n);
	}
	free(done);
	deliver_step(conn);
}

static void op_free(struct lmtp_conn *conn)
{
	struct lclient *c = lmtp_conn_ctx(conn);

	buf_free(&c->spool);
	free(c);
}

static const struct lmtp_conn_ops lclient_ops = {
    .rcpt_resolve = rcpt_resolve,
    .rcpt_free = op_rcpt_free,
    .spool_write = op_spool_write,
    .spool_reset = op_spool_reset,
    .deliver = op_deliver,
    .free = op_free,
};

void lproxy_accept(struct proxy *p, const struct server_conn *conn)
{
	struct lclient *c = xcalloc(1, sizeof(*c));

	c->p = p;
	c->set = p->lmtp_set;
	c->spool = buf_new();
	lmtp_conn_accept(p->srv, conn, c->set, p->workers, &p->lmtp_conns,
			 &lclient_ops, c);
}

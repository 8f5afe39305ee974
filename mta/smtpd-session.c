/*
 * smtpd-session.c - one SMTP connection: io events, input framing,
 * replies, error limits and the session's end.
 *
 * Input: the session pulls raw bytes from its io into s->in only when it
 * is ready to act on them, and splits lines itself, so DATA and BDAT read
 * the very same buffer as the commands before them (a pipelined command
 * after the end of data stays where it is) and a session waiting for a
 * lookup or the queue leaves the rest in the io (back-pressure: the kernel
 * stops the client).
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include "core/log.h"
#include "core/xmalloc.h"
#include "ev/ev.h"
#include "ev/net.h"
#include "map/map.h"
#include "queue/submit.h"
#include "tls/io.h"

#include "smtpd-notify.h"
#include "smtpd-policy.h"
#include "smtpd.h"

const char *smtpd_state_name(enum smtpd_state state)
{
	switch (state) {
	case SMTPD_STATE_HANDSHAKE:
		return "handshake";
	case SMTPD_STATE_CONNECTED:
		return "connected";
	case SMTPD_STATE_HELO:
		return "helo";
	case SMTPD_STATE_MAIL:
		return "mail";
	case SMTPD_STATE_RCPT:
		return "rcpt";
	case SMTPD_STATE_DATA:
		return "data";
	case SMTPD_STATE_BDAT:
		return "bdat";
	case SMTPD_STATE_AUTH:
		return "auth";
	case SMTPD_STATE_STARTTLS:
		return "starttls";
	case SMTPD_STATE_QUIT:
		return "quit";
	}
	return "?";
}

struct tls_ctx *smtpd_tls(const struct smtpd *smtpd)
{
	return smtpd->srv != NULL ? server_tls(smtpd->srv) : NULL;
}

const char *smtpd_log_id(const struct smtpd_session *s)
{
	if (s->txn != NULL && s->txn->id[0] != '\0')
		return s->txn->id;
	return s->id;
}

static void session_free(struct smtpd_session *s);
static void session_end(struct smtpd_session *s, const char *why);
static void session_io(struct io *io, enum io_event event, void *ctx);
static void resume_cb(struct ev *ev, struct smtpd_session *s);
static void delayed_cb(struct ev *ev, struct smtpd_session *s);

static void greet(struct smtpd_session *s)
{
	s->state = SMTPD_STATE_CONNECTED;
	/* smtpd_client_restrictions at connect: the check greets. */
	if (smtpd_check_connect(s))
		return;
	smtpd_reply(s, 220, NULL, "%s", s->set->banner);
}

bool smtpd_session_secured(const struct smtpd_session *s)
{
	return s->tls_proxy != NULL || (s->io != NULL && io_tls_active(s->io));
}

void smtpd_session_start(struct smtpd *smtpd, const struct server_conn *conn)
{
	struct smtpd_session *s;
	struct error err;
	unsigned char rnd[6];
	struct buf *v = buf_new();
	bool trusted = false, counted;

	if (smtpd->mynetworks != NULL &&
	    map_lookup(smtpd->mynetworks, conn->peer, v, &err) == 1)
		trusted = true;
	buf_free(&v);
	if (smtpd_anvil_connect(smtpd, conn, &counted))
		return;

	s = xcalloc(1, sizeof(*s));
	s->smtpd = smtpd;
	s->set = smtpd_settings_ref(smtpd->set);
	s->service = xstrdup(conn->service);
	s->peer = xstrdup(conn->peer);
	s->peer_port = conn->peer_port;
	s->in_mynetworks = trusted;
	s->limited = counted;
	s->implicit_tls = conn->tls == SERVICE_TLS_IMPLICIT;
	s->starttls_ok =
	    conn->tls == SERVICE_TLS_STARTTLS && smtpd_tls(smtpd) != NULL;
	s->submission = smtpd_settings_is_submission(s->set, conn->service);
	if (conn->local != NULL) {
		s->proxy_local = xstrdup(conn->local);
		s->proxy_local_port = conn->local_port;
	}
	/* A balancer's word on TLS, but not on client certificates: where
	 * one is required, only Postern's own handshake will do. */
	if (conn->proxy_tls && !s->implicit_tls && smtpd->ccert.req)
		log_warn("TLS via proxy [%s]:%u ignored: smtpd_tls_req_ccert "
			 "needs Postern's own TLS",
			 conn->proxy_peer, conn->proxy_peer_port);
	else if (conn->proxy_tls && !s->implicit_tls)
		s->tls_proxy = xasprintf(
		    "%s with cipher %s",
		    *conn->proxy_tls_version != '\0' ? conn->proxy_tls_version
						     : "unknown",
		    *conn->proxy_tls_cipher != '\0' ? conn->proxy_tls_cipher
						    : "unknown");
	s->in = buf_new();
	s->scratch = buf_new();
	smtpd_notify_start(s);
	if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd))
		memset(rnd, 0, sizeof(rnd));
	snprintf(s->id, sizeof(s->id), "%02X%02X%02X%02X%02X%02X", rnd[0],
		 rnd[1], rnd[2], rnd[3], rnd[4], rnd[5]);
	smtpd->sessions++;
	if (!smtpd->list_ready) {
		list_init(&smtpd->session_list);
		smtpd->list_ready = true;
	}
	list_push_back(&smtpd->session_list, &s->node);

	s->io = io_new(smtpd->ev, conn->fd, session_io, s);
	io_set_timeout(s->io, s->set->timeout_ms);
	io_set_handshake_timeout(s->io, s->set->handshake_timeout_ms);
	io_set_max_line(s->io, SMTPD_LINE_MAX);
	log_info("%s: connect from [%s]:%u (%s)", s->id, s->peer, s->peer_port,
		 s->service);
	if (s->tls_proxy != NULL)
		log_info("%s: TLS via proxy [%s]:%u: %s", s->id,
			 conn->proxy_peer, conn->proxy_peer_port, s->tls_proxy);
	if (s->implicit_tls) {
		s->state = SMTPD_STATE_HANDSHAKE;
		if (smtpd_tls(smtpd) == NULL ||
		    io_accept_tls(s->io, smtpd_tls(smtpd), &err) < 0) {
			log_warn("%s: TLS with [%s]: %s", s->id, s->peer,
				 smtpd_tls(smtpd) == NULL ? "no TLS context"
							  : err.msg);
			session_end(s, "TLS unavailable");
		}
		return;
	}
	greet(s);
}

/* The connection is over (or must be): drop everything that is ours. */
static void session_end(struct smtpd_session *s, const char *why)
{
	if (s->dead)
		return;
	log_info("%s: disconnect from [%s]:%u%s%s", s->id, s->peer,
		 s->peer_port, why != NULL ? ": " : "", why != NULL ? why : "");
	smtpd_notify_end(s); /* the postmaster's transcript, when due */
	s->dead = true;
	list_remove(&s->node);
	s->state = SMTPD_STATE_QUIT;
	io_free(&s->io);
	if (s->smtpd->srv != NULL)
		server_conn_done(s->smtpd->srv);
	EV_TIMER_DEL(s->smtpd->ev, delayed_cb, s);
	ev_defer_cancel(s->smtpd->ev, (ev_defer_fn *)(void (*)(void))resume_cb,
			s);
	smtpd_policy_waits_end(s);
	if (s->pending == 0)
		session_free(s);
}

static void session_free(struct smtpd_session *s)
{
	struct smtpd *smtpd = s->smtpd;

	if (s->io != NULL)
		io_free(&s->io);
	EV_TIMER_DEL(smtpd->ev, delayed_cb, s);
	ev_defer_cancel(smtpd->ev, (ev_defer_fn *)(void (*)(void))resume_cb, s);
	smtpd_txn_reset(s);
	smtpd_auth_free(s);
	smtpd_ccert_free(&s->ccert);
	smtpd_notify_end(s);
	if (s->limited)
		smtpd_anvil_disconnect(smtpd, s->service, s->peer);
	buf_free(&s->in);
	buf_free(&s->scratch);
	buf_free(&s->delayed);
	smtpd_settings_unref(&s->set);
	free(s->service);
	free(s->peer);
	free(s->tls_proxy);
	free(s->proxy_local);
	free(s->helo);
	free(s->client_name);
	free(s->auth_user);
	smtpd_check_session_free(s);
	free(s);
	smtpd->sessions--;
}

void smtpd_session_release(struct smtpd_session *s)
{
	ASSERT(s->pending > 0);
	s->pending--;
	if (s->dead && s->pending == 0)
		session_free(s);
}

void smtpd_session_close(struct smtpd_session *s)
{
	if (s->io == NULL || s->state == SMTPD_STATE_QUIT)
		return;
	s->state = SMTPD_STATE_QUIT;
	io_close(s->io);
}

static bool session_idle(const struct smtpd_session *s)
{
	return !s->busy && s->txn == NULL &&
	       (s->state == SMTPD_STATE_CONNECTED ||
		s->state == SMTPD_STATE_HELO);
}

static void shutdown_reply(struct smtpd_session *s)
{
	smtpd_reply(s, 421, "4.3.2", "%s Service shutting down",
		    s->set->myhostname);
	smtpd_session_close(s);
}

void smtpd_sessions_stop(struct smtpd *smtpd)
{
	struct list_node *n, *tmp;

	if (!smtpd->list_ready)
		return;
	LIST_FOREACH(n, tmp, &smtpd->session_list)
	{
		struct smtpd_session *s =
		    LIST_ENTRY(n, struct smtpd_session, node);

		if (session_idle(s))
			shutdown_reply(s);
	}
}

void smtpd_session_suspend(struct smtpd_session *s)
{
	s->busy = true;
	if (s->io != NULL)
		io_pause(s->io);
}

static void resume_cb(struct ev *ev, struct smtpd_session *s)
{
	smtpd_session_process(s);
}

void smtpd_session_resume(struct smtpd_session *s)
{
	/* An error reply held back by the tarpit resumes by itself. */
	if (s->dead || s->delayed != NULL)
		return;
	s->busy = false;
	if (s->io != NULL && s->state != SMTPD_STATE_QUIT)
		io_resume(s->io);
	/* Input already in s->in gets no IO_DATAIN: look at it on the next
	 * iteration (never from inside the caller's own callback). */
	EV_DEFER(s->smtpd->ev, resume_cb, s);
}

/* ---- Replies. */

static void send_reply(struct smtpd_session *s, const struct smtp_reply *r)
{
	struct buf *b;

	if (s->io == NULL || s->state == SMTPD_STATE_QUIT)
		return;
	b = buf_new();
	smtp_reply_write(r, b);
	smtpd_notify_out(s, buf_data(b), buf_len(b));
	smtpd_notify_reply(s, r);
	io_write(s->io, buf_data(b), buf_len(b));
	buf_free(&b);
}

void smtpd_reply(struct smtpd_session *s, unsigned code, const char *enh,
		 const char *fmt, ...)
{
	struct smtp_reply r;
	char text[SMTP_REPLY_TEXT_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	smtp_reply_set(&r, code, enh, "%s", text);
	send_reply(s, &r);
}

void smtpd_reply_raw(struct smtpd_session *s, const char *text)
{
	if (s->io != NULL && s->state != SMTPD_STATE_QUIT) {
		smtpd_notify_out(s, text, strlen(text));
		io_print(s->io, text);
	}
}

static void delayed_cb(struct ev *ev, struct smtpd_session *s)
{
	if (s->io != NULL && s->delayed != NULL)
		io_write(s->io, buf_data(s->delayed), buf_len(s->delayed));
	buf_free(&s->delayed);
	smtpd_session_resume(s);
}

void smtpd_reply_error(struct smtpd_session *s, const struct smtp_reply *r)
{
	s->errors++;
	if (s->errors >= s->set->hard_error_limit) {
		log_warn("%s: too many errors after %s from [%s]", s->id,
			 smtpd_state_name(s->state), s->peer);
		smtpd_notify_mark(s, SMTPD_NOTIFY_PROTOCOL);
		send_reply(s, r);
		smtpd_reply(s, 421, "4.7.0", "%s Error: too many errors",
			    s->set->myhostname);
		smtpd_session_close(s);
		return;
	}
	if (s->errors > s->set->soft_error_limit &&
	    s->set->error_sleep_ms > 0 && s->io != NULL) {
		/* Postfix's tarpit: slow down a client that keeps failing,
		 * without blocking the other sessions of the process. */
		if (s->delayed == NULL)
			s->delayed = buf_new();
		{
			struct buf *b = buf_new();
			smtp_reply_write(r, b);
			smtpd_notify_out(s, buf_data(b), buf_len(b));
			smtpd_notify_reply(s, r);
			buf_free(&b);
		}
		smtp_reply_write(r, s->delayed);
		smtpd_session_suspend(s);
		EV_TIMER_ADD(s->smtpd->ev, s->set->error_sleep_ms, delayed_cb,
			     s);
		return;
	}
	send_reply(s, r);
}

void smtpd_error(struct smtpd_session *s, unsigned code, const char *enh,
		 const char *fmt, ...)
{
	struct smtp_reply r;
	char text[SMTP_REPLY_TEXT_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	smtp_reply_set(&r, code, enh, "%s", text);
	smtpd_reply_error(s, &r);
}

/* ---- Input. */

/* Move more input from the io into s->in; false when none is there. */
static bool pull(struct smtpd_session *s)
{
	if (s->io == NULL)
		return false;
	return io_read_bytes(s->io, s->in, SMTPD_READ_CHUNK) > 0;
}

static bool input_blocked(const struct smtpd_session *s)
{
	return s->busy || s->dead || s->io == NULL ||
	       s->state == SMTPD_STATE_HANDSHAKE ||
	       s->state == SMTPD_STATE_STARTTLS || s->state == SMTPD_STATE_QUIT;
}

/* One line out of s->in.  Returns false when more input is needed. */
static bool next_line(struct smtpd_session *s)
{
	const char *data = buf_data(s->in);
	size_t len = buf_len(s->in);
	const char *lf = memchr(data, '\n', len);
	char *line;
	size_t n;

	if (s->discarding_line) {
		if (lf == NULL) {
			buf_reset(s->in);
			return false;
		}
		buf_consume(s->in, (size_t)(lf - data) + 1);
		s->discarding_line = false;
		return true;
	}
	if (lf == NULL) {
		if (len > SMTPD_LINE_MAX) {
			struct smtp_reply r;

			buf_reset(s->in);
			s->discarding_line = true;
			smtp_reply_line_too_long(&r);
			smtpd_reply_error(s, &r);
			return true;
		}
		return false;
	}
	n = (size_t)(lf - data);
	if (n > SMTPD_LINE_MAX) {
		struct smtp_reply r;

		buf_consume(s->in, n + 1);
		smtp_reply_line_too_long(&r);
		smtpd_reply_error(s, &r);
		return true;
	}
	if (n > 0 && data[n - 1] == '\r')
		n--;
	line = xmemdup(data, n + 1);
	line[n] = '\0';
	buf_consume(s->in, (size_t)(lf - data) + 1);
	smtpd_notify_in(s, line, n);
	if (s->state == SMTPD_STATE_AUTH)
		smtpd_auth_line(s, line, n);
	else
		smtpd_command(s, line, n);
	free(line);
	return true;
}

void smtpd_session_process(struct smtpd_session *s)
{
	while (!input_blocked(s)) {
		bool progress;

		if (s->state == SMTPD_STATE_DATA ||
		    s->state == SMTPD_STATE_BDAT)
			progress = buf_len(s->in) > 0 && smtpd_data_input(s);
		else
			progress = next_line(s);
		if (!progress && !input_blocked(s) && !pull(s))
			break;
	}
}

/* ---- Events. */

static void session_io(struct io *io, enum io_event event, void *ctx)
{
	struct smtpd_session *s = ctx;

	switch (event) {
	case IO_DATAIN:
		smtpd_session_process(s);
		return;
	case IO_LOWAT:
	case IO_CONNECTED:
		return;
	case IO_TLSREADY:
		log_info("%s: TLS established with [%s]: %s with cipher %s",
			 s->id, s->peer, io_tls_protocol(io),
			 io_tls_cipher(io));
		if (smtpd_ccert_tls_ready(s))
			return;
		if (s->state == SMTPD_STATE_HANDSHAKE) {
			greet(s);
		} else {
			/* RFC 3207 4.2: forget everything learnt before
			 * TLS; the client starts over with EHLO. */
			s->state = SMTPD_STATE_CONNECTED;
			s->esmtp = false;
			free(s->helo);
			s->helo = NULL;
			buf_reset(s->in);
		}
		smtpd_session_process(s);
		return;
	case IO_TIMEOUT:
		if (s->state != SMTPD_STATE_HANDSHAKE &&
		    s->state != SMTPD_STATE_STARTTLS && !io_tls_active(io)) {
			/* The io is finished; a plaintext client still gets
			 * told why, as Postfix does (best effort). */
			char line[SMTP_REPLY_LINE_MAX];
			int n = snprintf(line, sizeof(line),
					 "421 4.4.2 %s Error: timeout "
					 "exceeded\r\n",
					 s->set->myhostname);
			if (n > 0 && (size_t)n < sizeof(line) &&
			    write(io_fd(io), line, (size_t)n) < 0)
				log_debug(LOG_TRACE_IO, "%s: 421: %m", s->id);
		}
		session_end(s, s->state == SMTPD_STATE_HANDSHAKE ||
				       s->state == SMTPD_STATE_STARTTLS
				   ? "TLS handshake timeout"
				   : "timeout");
		return;
	case IO_DISCONNECTED:
		session_end(s, NULL);
		return;
	case IO_ERROR:
		session_end(s, io_error(io));
		return;
	}
}

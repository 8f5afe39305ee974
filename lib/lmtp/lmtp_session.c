/*
 * lmtp_session - the LMTP engine: input framing (command lines, the DATA
 * stream, BDAT chunks), the transaction, and the replies after the
 * message (lmtp_session.h).  The verbs are in lmtp_commands.c.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/xmalloc.h"
#include "lmtp/lmtp_session_private.h"
#include "lmtp/lmtp_settings.h"
#include "store/store.h"

/* Message octets are handed to the spool in chunks of this size. */
#define SPOOL_CHUNK 65536
/* A command line with its CRLF; longer lines get 500 5.5.2. */
#define LINE_MAX_CRLF (SMTP_COMMAND_LINE_MAX + 2)

const char *lmtp_state_name(enum lmtp_state state)
{
	static const char *const names[] = {
	    [LMTP_STATE_INIT] = "init",	      [LMTP_STATE_READY] = "ready",
	    [LMTP_STATE_MAIL] = "mail",	      [LMTP_STATE_RCPT_WAIT] = "rcpt",
	    [LMTP_STATE_DATA] = "data",	      [LMTP_STATE_BDAT] = "bdat",
	    [LMTP_STATE_DELIVER] = "deliver", [LMTP_STATE_CLOSED] = "closed",
	};
	return (unsigned)state < sizeof(names) / sizeof(names[0]) ? names[state]
								  : "?";
}

struct lmtp_session *lmtp_session_new(const struct lmtp_server_settings *set,
				      const char *id, const char *peer,
				      const struct lmtp_session_ops *ops,
				      void *ctx)
{
	struct lmtp_session *s = xcalloc(1, sizeof(*s));
	s->set = set;
	s->ops = ops;
	s->ctx = ctx;
	s->id = xstrdup(id);
	s->peer = xstrdup(peer);
	s->state = LMTP_STATE_INIT;
	s->in = buf_new();
	s->helo = buf_new();
	s->scratch = buf_new();
	s->rcpts = array_new();
	s->data = smtp_data_new(set->bare_mode, set->message_size_limit);
	s->bdat = smtp_bdat_new(set->message_size_limit);
	s->body = buf_new();
	return s;
}

void lmtp_session_free(struct lmtp_session **sp)
{
	struct lmtp_session *s = *sp;
	if (s == NULL)
		return;
	lmtp_session_txn_reset(s);
	if (s->pending_rcpt != NULL) {
		if (s->ops->rcpt_free != NULL)
			s->ops->rcpt_free(s->ctx, s->pending_rcpt);
		lmtp_recipient_free(&s->pending_rcpt);
	}
	array_free(&s->rcpts);
	smtp_data_free(&s->data);
	smtp_bdat_free(&s->bdat);
	buf_free(&s->body);
	buf_free(&s->in);
	buf_free(&s->helo);
	buf_free(&s->scratch);
	free(s->id);
	free(s->peer);
	free(s);
	*sp = NULL;
}

void lmtp_recipient_free(struct lmtp_recipient **rp)
{
	struct lmtp_recipient *r = *rp;
	if (r == NULL)
		return;
	free(r->address);
	free(r->local);
	free(r->domain);
	free(r->mailbox);
	free(r->saved_name);
	free(r);
	*rp = NULL;
}

enum lmtp_state lmtp_session_state(const struct lmtp_session *s)
{
	return s->state;
}

const char *lmtp_session_id(const struct lmtp_session *s)
{
	return s->id;
}

static bool session_busy(const struct lmtp_session *s)
{
	return s->state == LMTP_STATE_RCPT_WAIT ||
	       s->state == LMTP_STATE_DELIVER ||
	       s->state == LMTP_STATE_CLOSED || s->tls_pending;
}

void lmtp_session_set_tls(struct lmtp_session *s, bool offer, bool require,
			  bool active)
{
	s->tls_offer = offer && s->ops->starttls != NULL;
	s->tls_require = require;
	s->tls_active = active;
}

void lmtp_session_tls_started(struct lmtp_session *s)
{
	if (!s->tls_pending)
		panic("lmtp_session_tls_started without STARTTLS");
	s->tls_pending = false;
	s->tls_active = true;
	/* RFC 3207 4.2: nothing from before TLS counts, LHLO included. */
	buf_reset(s->helo);
	lmtp_session_txn_reset(s);
	lmtp_session_input(s, NULL, 0);
}

bool lmtp_session_tls_active(const struct lmtp_session *s)
{
	return s->tls_active;
}

bool lmtp_session_wants_input(const struct lmtp_session *s)
{
	return !session_busy(s) &&
	       buf_len(s->in) - s->in_pos < LMTP_SESSION_INPUT_MAX;
}

void lmtp_session_send(struct lmtp_session *s, const char *data, size_t len)
{
	if (s->state != LMTP_STATE_CLOSED && !s->disconnected)
		s->ops->send(s->ctx, data, len);
}

void lmtp_session_send_reply(struct lmtp_session *s, const struct smtp_reply *r)
{
	buf_reset(s->scratch);
	smtp_reply_write(r, s->scratch);
	lmtp_session_send(s, buf_data(s->scratch), buf_len(s->scratch));
}

void lmtp_session_close(struct lmtp_session *s)
{
	if (s->state == LMTP_STATE_CLOSED)
		return;
	s->state = LMTP_STATE_CLOSED;
	s->ops->close(s->ctx);
}

void lmtp_session_reply(struct lmtp_session *s, unsigned code,
			const char *enhanced, const char *fmt, ...)
{
	struct smtp_reply r;
	va_list ap;

	va_start(ap, fmt);
	buf_reset(s->scratch);
	buf_vprintf(s->scratch, fmt, ap);
	va_end(ap);
	smtp_reply_set(&r, code, enhanced, "%s", buf_data(s->scratch));
	lmtp_session_send_reply(s, &r);
	/* As Postfix's smtpd_hard_error_limit: a client that keeps sending
	 * garbage is not worth a connection slot. */
	if (code >= 500 && ++s->errors > LMTP_ERROR_MAX) {
		log_info("%s: too many errors from %s", s->id, s->peer);
		lmtp_session_abort(s, "421 4.7.0 Too many errors");
	}
}

void lmtp_session_abort(struct lmtp_session *s, const char *reply)
{
	if (s->state == LMTP_STATE_CLOSED)
		return;
	buf_reset(s->scratch);
	buf_printf(s->scratch, "%s\r\n", reply);
	lmtp_session_send(s, buf_data(s->scratch), buf_len(s->scratch));
	lmtp_session_close(s);
}

void lmtp_session_start(struct lmtp_session *s)
{
	struct smtp_reply r;
	smtp_reply_set(&r, 220, NULL, "%s LMTP Postern ready",
		       s->set->hostname);
	lmtp_session_send_reply(s, &r);
}

void lmtp_session_txn_reset(struct lmtp_session *s)
{
	for (size_t i = 0; i < array_len(s->rcpts); i++) {
		struct lmtp_recipient *r = array_get(s->rcpts, i);
		if (s->ops->rcpt_free != NULL)
			s->ops->rcpt_free(s->ctx, r);
		lmtp_recipient_free(&r);
	}
	array_clear(s->rcpts);
	XFREE(s->deliver_rcpts);
	if (s->have_mail)
		smtp_mail_clear(&s->mail);
	s->have_mail = false;
	XFREE(s->from);
	smtp_data_reset(s->data);
	smtp_bdat_reset(s->bdat);
	s->bdat_started = false;
	buf_reset(s->body);
	if (s->spooled > 0 || s->spool_failed)
		s->ops->spool_reset(s->ctx);
	s->spooled = 0;
	s->spool_failed = false;
	error_clear(&s->spool_err);
	if (s->state != LMTP_STATE_CLOSED)
		s->state =
		    buf_len(s->helo) > 0 ? LMTP_STATE_READY : LMTP_STATE_INIT;
}

static void spool_flush(struct lmtp_session *s)
{
	if (buf_len(s->body) == 0)
		return;
	if (!s->spool_failed) {
		if (s->ops->spool_write(s->ctx, buf_data(s->body),
					buf_len(s->body), &s->spool_err) < 0) {
			log_error("%s: spool: %s", s->id, s->spool_err.msg);
			s->spool_failed = true;
		} else {
			s->spooled += buf_len(s->body);
		}
	}
	buf_reset(s->body);
}

/* One log line per recipient and outcome, Postfix style. */
static void log_outcome(const struct lmtp_session *s,
			const struct lmtp_recipient *r, uint64_t size)
{
	const char *to = r->mailbox != NULL ? r->mailbox : r->address;
	const char *status = smtp_reply_class(&r->reply) == 2	? "saved"
			     : smtp_reply_class(&r->reply) == 4 ? "deferred"
								: "bounced";
	char orig[600] = "";

	if (strcmp(to, r->address) != 0)
		snprintf(orig, sizeof(orig), ", orig_to=<%s>", r->address);
	if (r->saved_name != NULL && smtp_reply_class(&r->reply) == 2)
		log_info("%s: to=<%s>%s, size=%llu, status=%s (new/%s)", s->id,
			 to, orig, (unsigned long long)size, status,
			 r->saved_name);
	else
		log_info("%s: to=<%s>%s, size=%llu, status=%s (%u %s %s)",
			 s->id, to, orig, (unsigned long long)size, status,
			 r->reply.code, r->reply.enhanced, r->reply.text);
}

/* RFC 2033 4.2: one reply per accepted recipient, in RCPT order. */
static void send_rcpt_replies(struct lmtp_session *s, uint64_t size)
{
	for (size_t i = 0; i < array_len(s->rcpts); i++) {
		struct lmtp_recipient *r = array_get(s->rcpts, i);
		if (r->reply.code == 0)
			smtp_reply_set(&r->reply, 451, "4.3.0",
				       "Temporary local problem");
		lmtp_session_send_reply(s, &r->reply);
		log_outcome(s, r, size);
	}
}

void lmtp_session_message_end(struct lmtp_session *s, int verdict,
			      const struct smtp_reply *refusal)
{
	uint64_t size = s->spooled + buf_len(s->body);

	spool_flush(s);
	if (verdict < 0 || s->spool_failed) {
		struct smtp_reply r;
		if (verdict < 0)
			r = *refusal;
		else if (s->spool_err.code != NULL &&
			 strcmp(s->spool_err.code, STORE_ERR_NOSPACE) == 0)
			smtp_reply_set(&r, 452, "4.3.1",
				       "Insufficient system storage");
		else
			smtp_reply_set(&r, 451, "4.3.0",
				       "Temporary local problem: cannot "
				       "store the message");
		for (size_t i = 0; i < array_len(s->rcpts); i++) {
			struct lmtp_recipient *rc = array_get(s->rcpts, i);
			rc->reply = r;
		}
		send_rcpt_replies(s, size);
		lmtp_session_txn_reset(s);
		return;
	}

	struct lmtp_message msg = {
	    .id = s->id,
	    .helo = buf_data(s->helo),
	    .peer = s->peer,
	    .from = s->from != NULL ? s->from : "",
	    .smtputf8 = s->mail.params.smtputf8,
	    .size = s->spooled,
	    .nrcpts = array_len(s->rcpts),
	    .tls = s->tls_active,
	};
	free(s->deliver_rcpts);
	s->deliver_rcpts = xcalloc(msg.nrcpts, sizeof(*s->deliver_rcpts));
	for (size_t i = 0; i < msg.nrcpts; i++) {
		s->deliver_rcpts[i] = array_get(s->rcpts, i);
		smtp_reply_clear(&s->deliver_rcpts[i]->reply);
	}
	msg.rcpts = s->deliver_rcpts;
	s->state = LMTP_STATE_DELIVER;
	s->ops->deliver(s->ctx, &msg);
}

void lmtp_session_deliver_done(struct lmtp_session *s)
{
	/* CLOSED: aborted while delivering; the outcome is still logged. */
	if (s->state != LMTP_STATE_DELIVER && s->state != LMTP_STATE_CLOSED)
		panic("lmtp_session_deliver_done in state %s",
		      lmtp_state_name(s->state));
	if (s->state == LMTP_STATE_DELIVER)
		s->state = LMTP_STATE_MAIL;
	send_rcpt_replies(s, s->spooled);
	lmtp_session_txn_reset(s);
	lmtp_session_input(s, NULL, 0);
}

void lmtp_session_rcpt_done(struct lmtp_session *s, struct lmtp_recipient *rcpt)
{
	if (s->pending_rcpt != rcpt ||
	    (s->state != LMTP_STATE_RCPT_WAIT && s->state != LMTP_STATE_CLOSED))
		panic("lmtp_session_rcpt_done in state %s",
		      lmtp_state_name(s->state));
	s->pending_rcpt = NULL;
	if (s->state == LMTP_STATE_CLOSED) {
		if (s->ops->rcpt_free != NULL)
			s->ops->rcpt_free(s->ctx, rcpt);
		lmtp_recipient_free(&rcpt);
		return;
	}
	s->state = LMTP_STATE_MAIL;
	if (rcpt->reply.code == 0)
		smtp_reply_set(&rcpt->reply, 451, "4.3.0",
			       "Temporary lookup failure");
	lmtp_session_send_reply(s, &rcpt->reply);
	if (smtp_reply_class(&rcpt->reply) == 2) {
		array_push(s->rcpts, rcpt);
	} else {
		log_info("%s: reject: RCPT from %s: %u %s %s", s->id, s->peer,
			 rcpt->reply.code, rcpt->reply.enhanced,
			 rcpt->reply.text);
		if (s->ops->rcpt_free != NULL)
			s->ops->rcpt_free(s->ctx, rcpt);
		lmtp_recipient_free(&rcpt);
	}
	lmtp_session_input(s, NULL, 0);
}

/* Returns false when more input is needed. */
static bool run_line(struct lmtp_session *s)
{
	const char *p = buf_data(s->in) + s->in_pos;
	size_t avail = buf_len(s->in) - s->in_pos;
	const char *lf = memchr(p, '\n', avail);

	if (s->discard_line) {
		s->in_pos += lf != NULL ? (size_t)(lf - p) + 1 : avail;
		s->discard_line = lf == NULL;
		return lf != NULL;
	}
	if (lf == NULL) {
		if (avail > LINE_MAX_CRLF) {
			struct smtp_reply r;
			smtp_reply_line_too_long(&r);
			lmtp_session_reply(s, r.code, r.enhanced, "%s", r.text);
			s->in_pos += avail;
			s->discard_line = true;
		}
		return false;
	}
	size_t len = (size_t)(lf - p);
	s->in_pos += len + 1;
	if (len > 0 && p[len - 1] == '\r')
		len--;
	lmtp_command(s, p, len);
	return true;
}

static bool run_data(struct lmtp_session *s)
{
	const char *p = buf_data(s->in) + s->in_pos;
	size_t avail = buf_len(s->in) - s->in_pos, used;

	if (avail == 0)
		return false;
	enum smtp_data_status st =
	    smtp_data_feed(s->data, p, avail, s->body, &used);
	s->in_pos += used;
	if (buf_len(s->body) >= SPOOL_CHUNK)
		spool_flush(s);
	if (st == SMTP_DATA_MORE)
		return false;
	struct smtp_reply r;
	int verdict = smtp_data_result(s->data, &r);
	lmtp_session_message_end(s, verdict, &r);
	return true;
}

static bool run_bdat(struct lmtp_session *s)
{
	const char *p = buf_data(s->in) + s->in_pos;
	size_t avail = buf_len(s->in) - s->in_pos, used;

	if (avail == 0 && smtp_bdat_remaining(s->bdat) > 0)
		return false;
	enum smtp_data_status st =
	    smtp_bdat_feed(s->bdat, p, avail, s->body, &used);
	s->in_pos += used;
	if (s->chunk_error.code != 0)
		buf_reset(s->body);
	else if (buf_len(s->body) >= SPOOL_CHUNK)
		spool_flush(s);
	if (st == SMTP_DATA_MORE)
		return false;

	if (s->chunk_error.code != 0) {
		/* A chunk outside a transaction, read only to stay in
		 * sync (RFC 3030 2): answer it, leave the state. */
		struct smtp_reply r = s->chunk_error;
		smtp_reply_clear(&s->chunk_error);
		smtp_bdat_reset(s->bdat);
		s->state = s->chunk_return;
		lmtp_session_reply(s, r.code, r.enhanced, "%s", r.text);
		return true;
	}
	if (smtp_bdat_done(s->bdat)) {
		struct smtp_reply r;
		int verdict = smtp_bdat_result(s->bdat, &r);
		lmtp_session_message_end(s, verdict, &r);
		return true;
	}
	s->state = LMTP_STATE_MAIL;
	spool_flush(s);
	lmtp_session_reply(s, 250, "2.0.0", "%llu octets received",
			   (unsigned long long)smtp_bdat_size(s->bdat));
	return true;
}

static void session_run(struct lmtp_session *s)
{
	bool progress = true;

	if (s->running || s->disconnected)
		return;
	s->running = true;
	while (progress && !session_busy(s)) {
		switch (s->state) {
		case LMTP_STATE_DATA:
			progress = run_data(s);
			break;
		case LMTP_STATE_BDAT:
			progress = run_bdat(s);
			break;
		default:
			progress = run_line(s);
			break;
		}
	}
	s->running = false;
	if (s->state == LMTP_STATE_CLOSED) {
		buf_reset(s->in);
		s->in_pos = 0;
	} else if (s->in_pos > 0) {
		buf_consume(s->in, s->in_pos);
		s->in_pos = 0;
	}
}

void lmtp_session_disconnected(struct lmtp_session *s)
{
	s->disconnected = true;
	buf_reset(s->in);
	s->in_pos = 0;
}

void lmtp_session_input(struct lmtp_session *s, const void *data, size_t len)
{
	if (s->state == LMTP_STATE_CLOSED || s->disconnected)
		return;
	if (len > 0)
		buf_append(s->in, data, len);
	session_run(s);
}

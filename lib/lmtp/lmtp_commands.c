/*
 * lmtp_commands - the LMTP verbs (RFC 2033, RFC 5321 4.1, RFC 3030), one
 * handler each, dispatched by lmtp_command() with the state checks of
 * the explicit state machine (lmtp_session.h).
 */
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/xmalloc.h"
#include "lmtp/lmtp_session_private.h"
#include "lmtp/lmtp_settings.h"

/* What we advertise in LHLO and so accept in MAIL and RCPT.  No DSN:
 * the queue manager, our only client, keeps the envelope itself. */
#define LMTP_EXT                                                               \
	(SMTP_EXT_SIZE | SMTP_EXT_8BITMIME | SMTP_EXT_SMTPUTF8 |               \
	 SMTP_EXT_CHUNKING)

static void reply_parsed(struct lmtp_session *s, const struct smtp_reply *r)
{
	lmtp_session_reply(s, r->code, r->enhanced, "%s", r->text);
}

static void cmd_lhlo(struct lmtp_session *s, const struct smtp_command *cmd)
{
	struct smtp_reply r;
	struct buf *out = s->scratch;

	if (smtp_command_parse_helo(cmd->args, cmd->args_len, s->helo, &r) <
	    0) {
		reply_parsed(s, &r);
		return;
	}
	lmtp_session_txn_reset(s);
	s->state = LMTP_STATE_READY;
	buf_reset(out);
	smtp_reply_write_line(out, 250, NULL, false, "%s", s->set->hostname);
	smtp_reply_write_line(out, 250, NULL, false, "PIPELINING");
	smtp_reply_write_line(out, 250, NULL, false, "ENHANCEDSTATUSCODES");
	smtp_reply_write_line(out, 250, NULL, false, "8BITMIME");
	smtp_reply_write_line(out, 250, NULL, false, "SMTPUTF8");
	smtp_reply_write_line(out, 250, NULL, false, "CHUNKING");
	if (s->tls_offer && !s->tls_active)
		smtp_reply_write_line(out, 250, NULL, false, "STARTTLS");
	if (s->set->message_size_limit > 0)
		smtp_reply_write_line(
		    out, 250, NULL, true, "SIZE %llu",
		    (unsigned long long)s->set->message_size_limit);
	else
		smtp_reply_write_line(out, 250, NULL, true, "SIZE");
	lmtp_session_send(s, buf_data(out), buf_len(out));
}

static void cmd_mail(struct lmtp_session *s, const struct smtp_command *cmd)
{
	struct smtp_reply r;
	struct buf *from;

	if (s->state == LMTP_STATE_INIT) {
		lmtp_session_reply(s, 503, "5.5.1", "Error: send LHLO first");
		return;
	}
	if (s->have_mail) {
		lmtp_session_reply(s, 503, "5.5.1",
				   "Error: nested MAIL command");
		return;
	}
	if (s->tls_require && !s->tls_active) {
		/* lmtpd_tls_security_level=encrypt (RFC 3207 4). */
		lmtp_session_reply(s, 530, "5.7.0",
				   "Must issue a STARTTLS command first");
		return;
	}
	if (smtp_command_parse_mail(cmd->args, cmd->args_len, LMTP_EXT,
				    s->set->message_size_limit, &s->mail,
				    &r) < 0) {
		reply_parsed(s, &r);
		return;
	}
	s->have_mail = true;
	from = buf_new();
	address_format(&s->mail.from, from);
	s->from = buf_steal(from);
	buf_free(&from);
	s->state = LMTP_STATE_MAIL;
	lmtp_session_reply(s, 250, "2.1.0", "Ok");
}

static void cmd_rcpt(struct lmtp_session *s, const struct smtp_command *cmd)
{
	struct smtp_rcpt rcpt;
	struct smtp_reply r;

	if (!s->have_mail) {
		lmtp_session_reply(s, 503, "5.5.1", "Error: need MAIL command");
		return;
	}
	if (s->bdat_started) {
		lmtp_session_reply(s, 503, "5.5.1", "Error: BDAT in progress");
		return;
	}
	if (array_len(s->rcpts) >= LMTP_RCPT_MAX) {
		lmtp_session_reply(s, 452, "4.5.3",
				   "Error: too many recipients");
		return;
	}
	if (smtp_command_parse_rcpt(cmd->args, cmd->args_len, LMTP_EXT,
				    s->mail.params.smtputf8, &rcpt, &r) < 0) {
		reply_parsed(s, &r);
		return;
	}
	if (rcpt.to.domain == NULL || rcpt.to.domain[0] == '\0') {
		/* A bare <Postmaster>: LMTP has no local domain of its
		 * own to complete it with. */
		smtp_rcpt_clear(&rcpt);
		lmtp_session_reply(s, 550, "5.1.1",
				   "<Postmaster>: Recipient address rejected: "
				   "User unknown");
		return;
	}
	struct lmtp_recipient *rc = xcalloc(1, sizeof(*rc));
	rc->local = xstrdup(rcpt.to.local);
	rc->domain = xstrdup(rcpt.to.domain);
	rc->address = xasprintf("%s@%s", rc->local, rc->domain);
	smtp_rcpt_clear(&rcpt);

	s->pending_rcpt = rc;
	s->state = LMTP_STATE_RCPT_WAIT;
	s->ops->rcpt(s->ctx, rc,
		     s->mail.params.has_size ? s->mail.params.size : 0);
}

static bool data_allowed(struct lmtp_session *s)
{
	if (!s->have_mail) {
		lmtp_session_reply(s, 503, "5.5.1", "Error: need MAIL command");
		return false;
	}
	if (array_len(s->rcpts) == 0) {
		/* RFC 2033 4.2: DATA without a successful RCPT is 503. */
		lmtp_session_reply(s, 503, "5.5.1",
				   "Error: no valid recipients");
		return false;
	}
	return true;
}

static void cmd_data(struct lmtp_session *s)
{
	if (s->bdat_started) {
		lmtp_session_reply(s, 503, "5.5.1", "Error: BDAT in progress");
		return;
	}
	if (!data_allowed(s))
		return;
	s->state = LMTP_STATE_DATA;
	lmtp_session_reply(s, 354, NULL, "End data with <CR><LF>.<CR><LF>");
}

static void cmd_bdat(struct lmtp_session *s, const struct smtp_command *cmd)
{
	struct smtp_reply r;
	uint64_t size;
	bool last;

	if (smtp_command_parse_bdat(cmd->args, cmd->args_len, &size, &last,
				    &r) < 0) {
		/* RFC 3030: we cannot know where the chunk ends, so there
		 * is no way to go on. */
		lmtp_session_send_reply(s, &r);
		lmtp_session_close(s);
		return;
	}
	s->chunk_return = s->state;
	if (!s->have_mail)
		smtp_reply_set(&s->chunk_error, 503, "5.5.1",
			       "Error: need MAIL command");
	else if (array_len(s->rcpts) == 0)
		smtp_reply_set(&s->chunk_error, 503, "5.5.1",
			       "Error: no valid recipients");
	if (s->chunk_error.code != 0)
		smtp_bdat_reset(s->bdat);
	else
		s->bdat_started = true;
	smtp_bdat_chunk(s->bdat, size, last);
	s->state = LMTP_STATE_BDAT;
}

static void cmd_rset(struct lmtp_session *s)
{
	lmtp_session_txn_reset(s);
	lmtp_session_reply(s, 250, "2.0.0", "Ok");
}

/* RFC 3207; refusals as Postfix's smtpd words them. */
static void cmd_starttls(struct lmtp_session *s, const struct smtp_command *cmd)
{
	if (!s->tls_offer) {
		lmtp_session_reply(s, 502, "5.5.1",
				   "Error: command not implemented");
		return;
	}
	if (cmd->args_len > 0) {
		lmtp_session_reply(s, 501, "5.5.4", "Syntax: STARTTLS");
		return;
	}
	if (s->tls_active) {
		lmtp_session_reply(s, 554, "5.5.1",
				   "Error: TLS already active");
		return;
	}
	if (s->state == LMTP_STATE_INIT) {
		lmtp_session_reply(s, 503, "5.5.1", "Error: send LHLO first");
		return;
	}
	if (s->have_mail) {
		lmtp_session_reply(s, 503, "5.5.1",
				   "Error: MAIL transaction in progress");
		return;
	}
	lmtp_session_reply(s, 220, "2.0.0", "Ready to start TLS");
	/* RFC 3207 4.2 (and CVE-2011-0411): what the client pipelined after
	 * STARTTLS was sent in plaintext; it is dropped, never run. */
	s->in_pos = buf_len(s->in);
	s->tls_pending = true;
	s->ops->starttls(s->ctx);
}

static void cmd_quit(struct lmtp_session *s)
{
	lmtp_session_reply(s, 221, "2.0.0", "Bye");
	lmtp_session_close(s);
}

void lmtp_command(struct lmtp_session *s, const char *line, size_t len)
{
	struct smtp_command cmd;
	struct smtp_reply r;

	if (smtp_command_parse(line, len, &cmd, &r) < 0) {
		reply_parsed(s, &r);
		return;
	}
	switch (cmd.verb) {
	case SMTP_VERB_LHLO:
		cmd_lhlo(s, &cmd);
		break;
	case SMTP_VERB_HELO:
	case SMTP_VERB_EHLO:
		/* RFC 2033 4.1: an LMTP server speaks LHLO only, so a
		 * client that took us for SMTP learns it at once. */
		lmtp_session_reply(s, 500, "5.5.1",
				   "Error: this is LMTP, use LHLO");
		break;
	case SMTP_VERB_MAIL:
		cmd_mail(s, &cmd);
		break;
	case SMTP_VERB_RCPT:
		cmd_rcpt(s, &cmd);
		break;
	case SMTP_VERB_DATA:
		cmd_data(s);
		break;
	case SMTP_VERB_BDAT:
		cmd_bdat(s, &cmd);
		break;
	case SMTP_VERB_RSET:
		cmd_rset(s);
		break;
	case SMTP_VERB_NOOP:
		lmtp_session_reply(s, 250, "2.0.0", "Ok");
		break;
	case SMTP_VERB_QUIT:
		cmd_quit(s);
		break;
	case SMTP_VERB_VRFY:
		/* RFC 5321 3.5.3: 252 is the polite "cannot verify". */
		lmtp_session_reply(s, 252, "2.3.3", "Try RCPT instead");
		break;
	case SMTP_VERB_HELP:
		lmtp_session_reply(s, 214, "2.0.0",
				   "Commands: LHLO MAIL RCPT DATA BDAT RSET "
				   "NOOP QUIT");
		break;
	case SMTP_VERB_STARTTLS:
		cmd_starttls(s, &cmd);
		break;
	case SMTP_VERB_EXPN:
	case SMTP_VERB_AUTH:
	case SMTP_VERB_XCLIENT:
	case SMTP_VERB_UNKNOWN:
		lmtp_session_reply(s, 502, "5.5.1",
				   "Error: command not implemented");
		break;
	}
}

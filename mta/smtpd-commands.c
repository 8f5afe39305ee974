/*
 * smtpd-commands.c - the command dispatcher and the commands that need
 * no lookup: HELO, EHLO, STARTTLS, MAIL, RSET, NOOP, QUIT, VRFY, HELP.
 */
#include <stdlib.h>
#include <string.h>

#include "core/hash.h"
#include "core/log.h"
#include "core/xmalloc.h"
#include "queue/submit.h"
#include "tls/io.h"

#include "smtpd-authres.h"
#include "smtpd-sign.h"
#include "smtpd.h"

unsigned smtpd_extensions(const struct smtpd_session *s)
{
	unsigned ext = SMTP_EXT_SIZE | SMTP_EXT_8BITMIME | SMTP_EXT_SMTPUTF8 |
		       SMTP_EXT_DSN | SMTP_EXT_CHUNKING;

	if (s->smtpd->sasl != NULL && smtpd_session_secured(s))
		ext |= SMTP_EXT_AUTH;
	return ext;
}

bool smtpd_may_relay(const struct smtpd_session *s)
{
	return s->in_mynetworks || s->auth_user != NULL;
}

void smtpd_txn_reset(struct smtpd_session *s)
{
	struct smtpd_txn *t = s->txn;

	if (t == NULL)
		return;
	smtpd_data_stop(s);
	if (t->submit != NULL)
		submit_abort(&t->submit);
	smtp_mail_clear(&t->mail);
	buf_free(&t->sender);
	hash_free(&t->finals);
	free(t->first_rcpt);
	smtp_data_free(&t->data);
	smtp_bdat_free(&t->bdat);
	smtpd_cleanup_txn_free(t);
	smtpd_authres_txn_free(t);
	smtpd_milter_txn_free(t);
	smtpd_check_txn_free(t);
	smtpd_sign_txn_free(t);
	free(t);
	s->txn = NULL;
	if (s->state == SMTPD_STATE_MAIL || s->state == SMTPD_STATE_RCPT ||
	    s->state == SMTPD_STATE_DATA || s->state == SMTPD_STATE_BDAT)
		s->state =
		    s->helo != NULL ? SMTPD_STATE_HELO : SMTPD_STATE_CONNECTED;
}

/* HELO/EHLO accepted: HELO (owned) becomes the session's. */
static void helo_finish(struct smtpd_session *s, char *helo, bool esmtp)
{
	smtpd_txn_reset(s);
	free(s->helo);
	s->helo = helo;
	s->esmtp = esmtp;
	s->state = SMTPD_STATE_HELO;
	if (!esmtp) {
		smtpd_reply(s, 250, NULL, "%s", s->set->myhostname);
		return;
	}

	struct buf *b = buf_new();
	bool tls = smtpd_session_secured(s);
	unsigned ext = smtpd_extensions(s);

	smtp_reply_write_line(b, 250, NULL, false, "%s", s->set->myhostname);
	smtp_reply_write_line(b, 250, NULL, false, "PIPELINING");
	if (s->set->message_size_limit > 0)
		smtp_reply_write_line(
		    b, 250, NULL, false, "SIZE %llu",
		    (unsigned long long)s->set->message_size_limit);
	else
		smtp_reply_write_line(b, 250, NULL, false, "SIZE");
	if (s->starttls_ok && !tls)
		smtp_reply_write_line(b, 250, NULL, false, "STARTTLS");
	if (ext & SMTP_EXT_AUTH)
		smtp_reply_write_line(b, 250, NULL, false, "AUTH %s",
				      s->set->sasl_mechanisms);
	smtp_reply_write_line(b, 250, NULL, false, "ENHANCEDSTATUSCODES");
	smtp_reply_write_line(b, 250, NULL, false, "8BITMIME");
	smtp_reply_write_line(b, 250, NULL, false, "DSN");
	smtp_reply_write_line(b, 250, NULL, false, "SMTPUTF8");
	smtp_reply_write_line(b, 250, NULL, true, "CHUNKING");
	io_write(s->io, buf_data(b), buf_len(b));
	buf_free(&b);
}

struct helo_arg {
	char *name;
	bool esmtp;
};

/* smtpd_helo_restrictions at HELO (smtpd_delay_reject = no). */
static void helo_checked(struct smtpd_session *s, struct smtpd_check_ctx *c,
			 void *arg)
{
	struct helo_arg *a = arg;

	if (s == NULL) {
		free(a->name);
	} else if (c->ret < 0) {
		smtpd_check_log_reject(s, a->esmtp ? "EHLO" : "HELO", c);
		smtpd_reply_error(s, &c->verdict.reply);
		free(a->name);
	} else {
		/* A new HELO's actions replace the last one's. */
		smtpd_check_save_actions(&s->helo_actions, c);
		helo_finish(s, a->name, a->esmtp);
	}
	free(a);
}

static void cmd_helo(struct smtpd_session *s, const struct smtp_command *cmd,
		     bool esmtp)
{
	struct smtp_reply r;
	struct buf *name = buf_new();

	if (smtp_command_parse_helo(cmd->args, cmd->args_len, name, &r) < 0) {
		if (strcmp(r.enhanced, "5.5.2") != 0) {
			smtpd_reply_error(s, &r);
			buf_free(&name);
			return;
		}
		/* Postfix accepts any HELO unless told otherwise; keep the
		 * name as given (made printable) for the Received header. */
		buf_reset(name);
		for (size_t i = 0; i < cmd->args_len && i < 255; i++) {
			unsigned char c = (unsigned char)cmd->args[i];
			buf_append_char(name, c > 32 && c < 127 && c != '(' &&
						      c != ')'
						  ? (char)c
						  : '?');
		}
	}
	if (smtpd_check_wanted(s, SMTPD_RESTRICT_HELO)) {
		struct helo_arg *a = xcalloc(1, sizeof(*a));
		a->esmtp = esmtp;
		a->name = buf_steal(name);
		buf_free(&name);
		smtpd_check_async(s, SMTPD_RESTRICT_BIT(SMTPD_RESTRICT_HELO),
				  a->name, NULL, helo_checked, a);
		return;
	}
	helo_finish(s, buf_steal(name), esmtp);
	buf_free(&name);
}

static void cmd_starttls(struct smtpd_session *s)
{
	struct error err;

	if (s->io != NULL && smtpd_session_secured(s)) {
		smtpd_error(s, 554, "5.5.1", "Error: TLS already active");
		return;
	}
	if (!s->starttls_ok) {
		smtpd_error(s, 502, "5.5.1", "Error: command not implemented");
		return;
	}
	if (s->state == SMTPD_STATE_MAIL || s->state == SMTPD_STATE_RCPT) {
		smtpd_error(s, 503, "5.5.1",
			    "Error: STARTTLS inside a mail transaction");
		return;
	}
	if (smtpd_anvil_starttls(s))
		return;
	smtpd_reply(s, 220, "2.0.0", "Ready to start TLS");
	/* RFC 3207 4.2: nothing the client sent before the handshake may be
	 * acted upon.  io drops what it buffered; we drop what we pulled. */
	buf_reset(s->in);
	s->discarding_line = false;
	s->state = SMTPD_STATE_STARTTLS;
	if (io_start_tls_server(s->io, smtpd_tls(s->smtpd), &err) < 0) {
		log_warn("%s: STARTTLS: %s", s->id, err.msg);
		smtpd_session_close(s);
	}
}

static void mail_checked(struct smtpd_session *s, struct smtpd_check_ctx *c,
			 void *arg);
static void mail_finish(struct smtpd_session *s, struct smtpd_txn *t);

static void cmd_mail(struct smtpd_session *s, const struct smtp_command *cmd)
{
	struct smtp_reply r;
	struct smtpd_txn *t;

	if (s->state == SMTPD_STATE_CONNECTED) {
		smtpd_error(s, 503, "5.5.1", "Error: send HELO/EHLO first");
		return;
	}
	if (s->txn != NULL) {
		smtpd_error(s, 503, "5.5.1", "Error: nested MAIL command");
		return;
	}
	if (s->submission && !smtpd_session_secured(s)) {
		smtpd_error(s, 530, "5.7.0",
			    "Must issue a STARTTLS command first");
		return;
	}
	if (s->submission && s->auth_user == NULL) {
		smtpd_error(s, 530, "5.7.0", "Authentication required");
		return;
	}
	if (smtpd_anvil_mail(s))
		return;
	t = xcalloc(1, sizeof(*t));
	if (smtp_command_parse_mail(
		cmd->args, cmd->args_len, smtpd_extensions(s),
		s->set->message_size_limit, &t->mail, &r) < 0) {
		free(t);
		smtpd_reply_error(s, &r);
		return;
	}
	t->sender = buf_new();
	address_format(&t->mail.from, t->sender);
	t->finals = hash_new(HASH_FOLD_CASE, NULL);
	if (smtpd_check_wanted(s, SMTPD_RESTRICT_SENDER)) {
		smtpd_check_async(s, SMTPD_RESTRICT_BIT(SMTPD_RESTRICT_SENDER),
				  s->helo, buf_data(t->sender), mail_checked,
				  t);
		return;
	}
	mail_finish(s, t);
}

static void txn_free(struct smtpd_txn *t)
{
	smtp_mail_clear(&t->mail);
	buf_free(&t->sender);
	hash_free(&t->finals);
	free(t);
}

/* smtpd_sender_restrictions at MAIL (smtpd_delay_reject = no). */
static void mail_checked(struct smtpd_session *s, struct smtpd_check_ctx *c,
			 void *arg)
{
	struct smtpd_txn *t = arg;

	if (s == NULL || s->txn != NULL) {
		txn_free(t);
		return;
	}
	if (c->ret < 0) {
		smtpd_check_log_reject(s, "MAIL", c);
		smtpd_reply_error(s, &c->verdict.reply);
		txn_free(t);
		return;
	}
	mail_finish(s, t);
	/* HOLD, DISCARD, FILTER, REDIRECT, PREPEND found at MAIL apply to
	 * the message, as they do at RCPT (smtpd-check.c). */
	if (s->txn == t)
		smtpd_check_keep_actions(s, c);
}

static void mail_accept(struct smtpd_session *s)
{
	/* SPF: a worker job answers MAIL (smtpd-authres.c). */
	if (smtpd_authres_mail(s))
		return;
	smtpd_reply(s, 250, "2.1.0", "Ok");
}

static void mail_finish(struct smtpd_session *s, struct smtpd_txn *t)
{
	s->txn = t;
	s->state = SMTPD_STATE_MAIL;
	smtpd_queue_begin(s);
	/* Actions found at connect and HELO apply to every message. */
	smtpd_check_session_actions(s);
	/* Milters first (smtpd-milter.c): they go on with mail_accept. */
	if (smtpd_milter_mail(s, mail_accept))
		return;
	mail_accept(s);
}

static void cmd_rset(struct smtpd_session *s)
{
	smtpd_txn_reset(s);
	smtpd_reply(s, 250, "2.0.0", "Ok");
}

void smtpd_command(struct smtpd_session *s, const char *line, size_t len)
{
	struct smtp_command cmd;
	struct smtp_reply r;

	if (s->smtpd->stopping && s->txn == NULL) {
		/* Shutting down: no new transaction, whatever comes. */
		smtpd_reply(s, 421, "4.3.2", "%s Service shutting down",
			    s->set->myhostname);
		smtpd_session_close(s);
		return;
	}
	if (smtp_command_parse(line, len, &cmd, &r) < 0) {
		smtpd_reply_error(s, &r);
		return;
	}
	if (s->access_denied && cmd.verb != SMTP_VERB_QUIT) {
		/* The client restrictions refused it at connect. */
		smtpd_error(s, 503, "5.7.0", "Error: access denied for %s[%s]",
			    s->client_name != NULL ? s->client_name : "unknown",
			    s->peer);
		return;
	}
	if (cmd.verb == SMTP_VERB_VRFY && s->helo == NULL &&
	    s->smtpd->restrictions != NULL &&
	    smtpd_restrict_helo_required(s->smtpd->restrictions)) {
		smtpd_error(s, 503, "5.5.1", "Error: send HELO/EHLO first");
		return;
	}
	switch (cmd.verb) {
	case SMTP_VERB_HELO:
		cmd_helo(s, &cmd, false);
		return;
	case SMTP_VERB_EHLO:
		cmd_helo(s, &cmd, true);
		return;
	case SMTP_VERB_STARTTLS:
		cmd_starttls(s);
		return;
	case SMTP_VERB_AUTH:
		smtpd_cmd_auth(s, &cmd);
		return;
	case SMTP_VERB_MAIL:
		cmd_mail(s, &cmd);
		return;
	case SMTP_VERB_RCPT:
		smtpd_cmd_rcpt(s, &cmd);
		return;
	case SMTP_VERB_DATA:
		smtpd_cmd_data(s, &cmd);
		return;
	case SMTP_VERB_BDAT:
		smtpd_cmd_bdat(s, &cmd);
		return;
	case SMTP_VERB_RSET:
		cmd_rset(s);
		return;
	case SMTP_VERB_NOOP:
		smtpd_reply(s, 250, "2.0.0", "Ok");
		return;
	case SMTP_VERB_QUIT:
		smtpd_reply(s, 221, "2.0.0", "Bye");
		smtpd_session_close(s);
		return;
	case SMTP_VERB_VRFY:
		/* RFC 5321 3.5.3: 252 rather than confirm or deny (address
		 * harvesting). */
		smtpd_reply(s, 252, "2.0.0",
			    "Cannot VRFY user, but will accept message and "
			    "attempt delivery");
		return;
	case SMTP_VERB_HELP:
		smtpd_reply(s, 214, "2.0.0",
			    "Commands: HELO EHLO STARTTLS AUTH MAIL RCPT DATA "
			    "BDAT RSET NOOP QUIT VRFY HELP");
		return;
	case SMTP_VERB_EXPN:
	case SMTP_VERB_LHLO:
	case SMTP_VERB_XCLIENT:
	case SMTP_VERB_UNKNOWN:
		break;
	}
	smtpd_error(s, 502, "5.5.2", "Error: command not recognized");
}

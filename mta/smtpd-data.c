/*
 * smtpd-data.c - DATA and BDAT: the message goes to postern-queued as it
 * arrives (lib/queue/submit.h), behind our Received header; "250 ...
 * queued as ID" is sent only from the queue's commit callback, after the
 * group commit's fdatasync (CONTRACT.md: a 250 means the message is on
 * disk).  A queue failure is 451 4.3.0.
 *
 * The queue id comes one local round trip after MAIL FROM (the 'I'
 * record).  The Received header names it, so DATA / the first BDAT waits
 * for it when a pipelining client is faster; if the queue never answers,
 * the header goes without it and the commit reports the failure.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/log.h"
#include "core/xmalloc.h"
#include "ev/ev.h"
#include "queue/submit.h"
#include "tls/io.h"

#include "smtpd-authres.h"
#include "smtpd-content.h"
#include "smtpd-sign.h"
#include "smtpd.h"

/* How long DATA waits for the queue id before going on without it. */
#define ID_WAIT_MS 10000

static void on_queue_id(void *ctx, const char *id);
static void on_queue_drain(void *ctx);
static void id_timeout(struct ev *ev, struct smtpd_session *s);

void smtpd_queue_begin(struct smtpd_session *s)
{
	static const struct submit_callbacks cbs = {
	    .id = on_queue_id,
	    .drain = on_queue_drain,
	};
	struct smtpd_txn *t = s->txn;
	const struct smtp_mail_params *p = &t->mail.params;
	struct buf *tls = buf_new();
	struct submit_env env = {
	    .sender = smtpd_cleanup_sender(s),
	    .envid = p->envid[0] != '\0' ? p->envid : NULL,
	    .ret = p->ret == SMTP_RET_FULL   ? QUEUE_RET_FULL
		   : p->ret == SMTP_RET_HDRS ? QUEUE_RET_HDRS
					     : QUEUE_RET_NONE,
	    .body = p->body == SMTP_BODY_7BIT	      ? QUEUE_BODY_7BIT
		    : p->body == SMTP_BODY_8BITMIME   ? QUEUE_BODY_8BITMIME
		    : p->body == SMTP_BODY_BINARYMIME ? QUEUE_BODY_BINARYMIME
						      : QUEUE_BODY_NONE,
	    .smtputf8 = p->smtputf8,
	    .client_addr = s->peer,
	    .client_name = "unknown",
	    .helo = s->helo,
	    .auth_name = s->auth_user,
	    .filter = s->set->content_filter, /* a FILTER may replace it */
	    /* A trusted filter hands back mail that was not signed on the
	     * way to it (docs/content-filter.md): sign it now. */
	    .dkim_sign = s->set->dkim_sign_reinjected && s->in_mynetworks,
	};

	if (s->io != NULL && io_tls_active(s->io)) {
		io_tls_describe(s->io, tls);
		env.tls = buf_data(tls);
	} else if (s->tls_proxy != NULL) {
		buf_printf(tls, "TLS via proxy: %s", s->tls_proxy);
		env.tls = buf_data(tls);
	}
	t->submit = submit_begin(s->smtpd->queue, &env, &cbs, s);
	buf_free(&tls);
}

static void data_start(struct smtpd_session *s);

void smtpd_data_stop(struct smtpd_session *s)
{
	EV_TIMER_DEL(s->smtpd->ev, id_timeout, s);
}

static void on_queue_id(void *ctx, const char *id)
{
	struct smtpd_session *s = ctx;
	struct smtpd_txn *t = s->txn;

	if (t == NULL || s->dead)
		return;
	snprintf(t->id, sizeof(t->id), "%s", id);
	log_info("%s: client=unknown[%s]:%u%s%s", t->id, s->peer, s->peer_port,
		 s->auth_user != NULL ? ", sasl_username=" : "",
		 s->auth_user != NULL ? s->auth_user : "");
	if (t->waiting_id) {
		EV_TIMER_DEL(s->smtpd->ev, id_timeout, s);
		data_start(s);
	}
}

static void on_queue_drain(void *ctx)
{
	struct smtpd_session *s = ctx;

	if (!s->dead && s->txn != NULL && s->txn->queue_full) {
		s->txn->queue_full = false;
		smtpd_session_resume(s);
	}
}

static void id_timeout(struct ev *ev, struct smtpd_session *s)
{
	if (s->txn != NULL && s->txn->waiting_id)
		data_start(s);
}

/* RFC 5321 4.4 / RFC 3848 protocol names. */
static const char *with_protocol(const struct smtpd_session *s)
{
	bool tls = smtpd_session_secured(s);
	bool auth = s->auth_user != NULL;
	bool utf8 = s->txn->mail.params.smtputf8;

	if (!s->esmtp)
		return "SMTP";
	if (utf8)
		return tls ? (auth ? "UTF8SMTPSA" : "UTF8SMTPS")
			   : (auth ? "UTF8SMTPA" : "UTF8SMTP");
	return tls ? (auth ? "ESMTPSA" : "ESMTPS")
		   : (auth ? "ESMTPA" : "ESMTP");
}

static void write_received(struct smtpd_session *s)
{
	struct smtpd_txn *t = s->txn;
	struct buf *h = buf_new();
	char date[64];
	time_t now = time(NULL);
	struct tm tm;

	localtime_r(&now, &tm);
	strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S %z", &tm);
	smtpd_check_write_prepend(s, h); /* access PREPEND, as Postfix */
	buf_printf(h, "Received: from %s ([%s])\r\n",
		   s->helo != NULL ? s->helo : "unknown", s->peer);
	if (s->io != NULL && io_tls_active(s->io)) {
		buf_append_str(h, "\t(using ");
		io_tls_describe(s->io, h);
		buf_append_str(h, ")\r\n");
		smtpd_ccert_received(s, h);
	} else if (s->tls_proxy != NULL) {
		/* The balancer's TLS, as its PROXY v2 SSL TLV reported it. */
		buf_printf(h, "\t(using TLS via proxy: %s)\r\n", s->tls_proxy);
	}
	buf_printf(h, "\tby %s (Postern) with %s", s->set->myhostname,
		   with_protocol(s));
	if (t->id[0] != '\0')
		buf_printf(h, " id %s", t->id);
	buf_append_str(h, "\r\n\t");
	if (t->nrcpt == 1 && t->first_rcpt != NULL)
		buf_printf(h, "for <%s>; ", t->first_rcpt);
	buf_printf(h, "%s\r\n", date);
	if (smtpd_authres_write(s, buf_data(h), buf_len(h)) < 0)
		t->data_failed = true;
	buf_free(&h);
	t->received_written = true;
}

/* Go on with DATA / the first BDAT chunk once the id is known. */
static void data_start(struct smtpd_session *s)
{
	struct smtpd_txn *t = s->txn;

	t->waiting_id = false;
	write_received(s);
	if (t->pending_verb == SMTP_VERB_DATA) {
		t->data = smtp_data_new(s->set->bare_mode,
					s->set->message_size_limit);
		s->state = SMTPD_STATE_DATA;
		smtpd_reply(s, 354, NULL, "End data with <CR><LF>.<CR><LF>");
	} else {
		s->state = SMTPD_STATE_BDAT;
		smtp_bdat_chunk(t->bdat, t->chunk_size, t->chunk_last);
		/* A zero-size chunk is complete at once. */
		if (t->chunk_size == 0)
			smtpd_data_input(s);
	}
	smtpd_session_resume(s);
}

/* Common checks of DATA and BDAT; false when refused (replied). */
static bool message_allowed(struct smtpd_session *s, bool bdat)
{
	struct smtpd_txn *t = s->txn;

	if (t == NULL) {
		smtpd_error(s, 503, "5.5.1", "Error: need RCPT command");
		return false;
	}
	if (t->nrcpt == 0) {
		smtpd_error(s, 554, "5.5.1", "Error: no valid recipients");
		return false;
	}
	if (!bdat && t->bdat_started) {
		smtpd_error(s, 503, "5.5.1", "Error: BDAT in progress");
		return false;
	}
	if (!bdat && t->mail.params.body == SMTP_BODY_BINARYMIME) {
		/* RFC 3030 3: BINARYMIME content only in BDAT chunks. */
		smtpd_error(s, 503, "5.5.1",
			    "Error: BODY=BINARYMIME requires BDAT");
		return false;
	}
	return true;
}

/* The queue connection already failed: nothing can be accepted. */
static bool queue_broken(struct smtpd_session *s)
{
	return s->txn->submit == NULL ||
	       submit_write(s->txn->submit, "", 0) < 0;
}

static void begin_message(struct smtpd_session *s, enum smtp_verb verb)
{
	struct smtpd_txn *t = s->txn;

	t->pending_verb = verb;
	if (t->id[0] == '\0' && !queue_broken(s)) {
		t->waiting_id = true;
		smtpd_session_suspend(s);
		EV_TIMER_ADD(s->smtpd->ev, ID_WAIT_MS, id_timeout, s);
		return;
	}
	data_start(s);
}

/* smtpd_data_restrictions, at DATA. */
static void data_checked(struct smtpd_session *s, struct smtpd_check_ctx *c,
			 void *arg)
{
	(void)arg;
	if (s == NULL || s->txn == NULL)
		return;
	if (c->ret < 0) {
		smtpd_check_log_reject(s, "DATA", c);
		smtpd_reply_error(s, &c->verdict.reply);
		return;
	}
	smtpd_check_keep_actions(s, c);
	begin_message(s, SMTP_VERB_DATA);
}

void smtpd_cmd_data(struct smtpd_session *s, const struct smtp_command *cmd)
{
	if (!message_allowed(s, false))
		return;
	if (queue_broken(s)) {
		log_warn("%s: queue unavailable", smtpd_log_id(s));
		smtpd_reply(s, 451, "4.3.0", "Error: queue file write error");
		smtpd_txn_reset(s);
		return;
	}
	if (smtpd_check_wanted(s, SMTPD_RESTRICT_DATA)) {
		smtpd_check_async(s, SMTPD_RESTRICT_BIT(SMTPD_RESTRICT_DATA),
				  s->helo, buf_data(s->txn->sender),
				  data_checked, NULL);
		return;
	}
	begin_message(s, SMTP_VERB_DATA);
}

void smtpd_cmd_bdat(struct smtpd_session *s, const struct smtp_command *cmd)
{
	struct smtp_reply r;
	uint64_t size;
	bool last;

	if (smtp_command_parse_bdat(cmd->args, cmd->args_len, &size, &last,
				    &r) < 0) {
		/* RFC 3030: no way to find the next command. */
		smtpd_reply_error(s, &r);
		smtpd_session_close(s);
		return;
	}
	if (!message_allowed(s, true)) {
		/* Read and drop the chunk: its octets are not commands. */
		s->bdat_discard = size;
		s->state_after_discard = s->state;
		if (size > 0)
			s->state = SMTPD_STATE_BDAT;
		return;
	}
	struct smtpd_txn *t = s->txn;
	t->chunk_size = size;
	t->chunk_last = last;
	if (!t->bdat_started) {
		t->bdat_started = true;
		t->bdat = smtp_bdat_new(s->set->message_size_limit);
		begin_message(s, SMTP_VERB_BDAT);
		return;
	}
	s->state = SMTPD_STATE_BDAT;
	smtp_bdat_chunk(t->bdat, size, last);
	/* A zero-size chunk is complete at once. */
	if (size == 0)
		smtpd_data_input(s);
}

static void commit_done(void *ctx, const struct error *err, const char *id)
{
	struct smtpd_session *s = ctx;
	struct smtpd_txn *t = s->txn;

	if (s->dead || t == NULL) {
		if (err == NULL)
			log_warn("%s: queued, but the client left before the "
				 "answer",
				 id);
		smtpd_session_release(s);
		return;
	}
	if (err != NULL) {
		log_warn("%s: queue: %s", smtpd_log_id(s), err->msg);
		if (err->kind == ERR_PERM)
			smtpd_reply(s, 554, "5.3.0",
				    "Error: message refused by the queue");
		else
			smtpd_reply(s, 451, "4.3.0",
				    "Error: queue file write error");
	} else {
		log_info("%s: from=<%s>, size=%llu, nrcpt=%u", id,
			 buf_data(t->sender), (unsigned long long)t->size,
			 t->nfinal);
		/* Postfix forgives earlier errors once a message is in: a
		 * client that delivers is not cut off or tarpitted by
		 * refusals spread over a long session. */
		s->errors = 0;
		smtpd_reply(s, 250, "2.0.0", "Ok: queued as %s", id);
	}
	smtpd_txn_reset(s);
	smtpd_session_release(s);
	smtpd_session_resume(s);
}

/* After smtpd_end_of_data_restrictions (or without them). */
static void message_checked(struct smtpd_session *s)
{
	/* SPF/DKIM/DMARC: a worker job, which goes on with
	 * smtpd_data_commit() (smtpd-authres.c). */
	if (smtpd_authres_message_end(s))
		return;
	smtpd_data_commit(s);
}

/* smtpd_end_of_data_restrictions, as Postfix before the commit: a
 * rejection replaces the 250 and nothing is queued. */
static void eod_checked(struct smtpd_session *s, struct smtpd_check_ctx *c,
			void *arg)
{
	(void)arg;
	if (s == NULL || s->txn == NULL)
		return;
	if (c->ret < 0) {
		smtpd_check_log_reject(s, "END-OF-MESSAGE", c);
		smtpd_txn_reset(s);
		smtpd_reply_error(s, &c->verdict.reply);
		return;
	}
	smtpd_check_keep_actions(s, c);
	message_checked(s);
}

/* The whole message is in: refuse, or commit and wait for the queue. */
static void message_end(struct smtpd_session *s, bool bdat)
{
	struct smtpd_txn *t = s->txn;
	struct smtp_reply r;
	int ret;

	s->state = SMTPD_STATE_RCPT;
	smtpd_cleanup_data_end(s);
	smtpd_content_data_end(s);
	ret = bdat ? smtp_bdat_result(t->bdat, &r)
		   : smtp_data_result(t->data, &r);
	t->size = bdat ? smtp_bdat_size(t->bdat) : smtp_data_size(t->data);
	if (!bdat &&
	    smtp_data_bare_lf(t->data) + smtp_data_bare_cr(t->data) > 0)
		log_info("%s: message has bare LF/CR (%llu/%llu) from [%s]",
			 smtpd_log_id(s),
			 (unsigned long long)smtp_data_bare_lf(t->data),
			 (unsigned long long)smtp_data_bare_cr(t->data),
			 s->peer);
	if (ret < 0) {
		log_info("%s: reject: %s from %s: %u %s %s", smtpd_log_id(s),
			 bdat ? "BDAT" : "DATA", smtpd_client_log(s), r.code,
			 r.enhanced, r.text);
		smtpd_txn_reset(s);
		smtpd_reply_error(s, &r);
		return;
	}
	if (t->data_failed) {
		log_warn("%s: queue write failed", smtpd_log_id(s));
		smtpd_txn_reset(s);
		smtpd_reply(s, 451, "4.3.0", "Error: queue file write error");
		return;
	}
	if (smtpd_check_wanted(s, SMTPD_RESTRICT_END_OF_DATA)) {
		smtpd_check_async(
		    s, SMTPD_RESTRICT_BIT(SMTPD_RESTRICT_END_OF_DATA), s->helo,
		    buf_data(t->sender), eod_checked, NULL);
		return;
	}
	message_checked(s);
}

static bool data_commit_now(struct smtpd_session *s);

static void data_commit_after_milters(struct smtpd_session *s)
{
	(void)data_commit_now(s);
}

bool smtpd_data_commit(struct smtpd_session *s)
{
	/* Milters (smtpd-milter.c) see the message first; they go on
	 * with data_commit_after_milters and hold the session meanwhile. */
	if (smtpd_milter_message_end(s, data_commit_after_milters))
		return true;
	return data_commit_now(s);
}

static bool data_commit_now(struct smtpd_session *s)
{
	struct smtpd_txn *t = s->txn;

	/* May queued DKIM-sign it (smtpd-sign.h)?  A worker job, which
	 * comes back here. */
	if (smtpd_sign_check(s, data_commit_now))
		return true;
	if (smtpd_content_message_end(s) || smtpd_check_message_end(s))
		return false;
	struct submit *sub = t->submit;
	t->submit = NULL; /* the library's now */
	s->pending++;
	smtpd_session_suspend(s);
	submit_commit(sub, commit_done, s);
	return true;
}

static void to_queue(struct smtpd_session *s)
{
	struct smtpd_txn *t = s->txn;
	int ret;

	smtpd_cleanup_data(s, s->scratch);
	smtpd_content_data(s, s->scratch);
	if (buf_len(s->scratch) == 0)
		return;
	ret = t->data_failed ? -1
			     : smtpd_authres_write(s, buf_data(s->scratch),
						   buf_len(s->scratch));
	buf_reset(s->scratch);
	if (ret < 0)
		t->data_failed = true;
	else if (ret == 1) {
		log_debug(LOG_TRACE_IO, "%s: queue busy: pausing the client",
			  smtpd_log_id(s));
		t->queue_full = true;
		smtpd_session_suspend(s); /* on_queue_drain resumes */
	}
}

static bool discard_input(struct smtpd_session *s)
{
	size_t n = buf_len(s->in);

	if (n > s->bdat_discard)
		n = (size_t)s->bdat_discard;
	buf_consume(s->in, n);
	s->bdat_discard -= n;
	if (s->bdat_discard == 0)
		s->state = s->state_after_discard;
	return n > 0 || s->bdat_discard == 0;
}

bool smtpd_data_input(struct smtpd_session *s)
{
	struct smtpd_txn *t = s->txn;
	enum smtp_data_status st;
	size_t used = 0;

	if (s->state == SMTPD_STATE_BDAT &&
	    (t == NULL || t->bdat == NULL || s->bdat_discard > 0))
		return discard_input(s);
	if (s->state == SMTPD_STATE_DATA)
		st = smtp_data_feed(t->data, buf_data(s->in), buf_len(s->in),
				    s->scratch, &used);
	else
		st = smtp_bdat_feed(t->bdat, buf_data(s->in), buf_len(s->in),
				    s->scratch, &used);
	buf_consume(s->in, used);
	to_queue(s);
	if (st != SMTP_DATA_DONE)
		return used > 0;
	if (s->state == SMTPD_STATE_DATA) {
		message_end(s, false);
	} else if (smtp_bdat_done(t->bdat)) {
		message_end(s, true);
	} else {
		s->state = SMTPD_STATE_RCPT;
		smtpd_reply(s, 250, "2.0.0", "Ok: %llu octets",
			    (unsigned long long)t->chunk_size);
	}
	return true;
}

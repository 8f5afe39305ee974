/*
 * smtpd-notify.c - session transcripts for the postmaster (see
 * smtpd-notify.h).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "core/array.h"
#include "core/buf.h"
#include "core/log.h"
#include "core/str.h"
#include "core/xmalloc.h"
#include "ev/worker.h"
#include "queue/submit.h"
#include "smtp/smtp_reply.h"

#include "smtpd-notify.h"
#include "smtpd.h"

struct smtpd_notify {
	struct buf *transcript;
	bool truncated;
	unsigned classes; /* what happened (SMTPD_NOTIFY_*) */
};

static const struct {
	const char *name;
	unsigned bit;
} class_names[] = {
    {"policy", SMTPD_NOTIFY_POLICY},
    {"protocol", SMTPD_NOTIFY_PROTOCOL},
    {"resource", SMTPD_NOTIFY_RESOURCE},
    {"software", SMTPD_NOTIFY_SOFTWARE},
};

unsigned smtpd_notify_classes(const char *list)
{
	struct array *words = str_split(list != NULL ? list : "", ", \t");
	unsigned bits = 0;

	for (size_t i = 0; i < array_len(words); i++)
		for (size_t k = 0;
		     k < sizeof(class_names) / sizeof(*class_names); k++)
			if (strcasecmp(array_get(words, i),
				       class_names[k].name) == 0)
				bits |= class_names[k].bit;
	array_free_with(&words, free);
	return bits;
}

void smtpd_notify_start(struct smtpd_session *s)
{
	if (s->set->notify_classes == 0 || s->notify != NULL)
		return;
	s->notify = xcalloc(1, sizeof(*s->notify));
	s->notify->transcript = buf_new();
}

/* One transcript line: prefix, text without its line end. */
static void record(struct smtpd_notify *n, const char *prefix, const char *text,
		   size_t len)
{
	if (n->truncated)
		return;
	if (buf_len(n->transcript) + strlen(prefix) + len + 2 >
	    SMTPD_NOTIFY_TRANSCRIPT_MAX) {
		buf_append_str(n->transcript, " (transcript truncated)\n");
		n->truncated = true;
		return;
	}
	buf_append_str(n->transcript, prefix);
	/* Keep the notice 7-bit and free of control characters. */
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)text[i];
		buf_append_char(n->transcript,
				(c >= 0x20 && c < 0x7f) || c == '\t' ? (char)c
								     : '?');
	}
	buf_append_char(n->transcript, '\n');
}

void smtpd_notify_in(struct smtpd_session *s, const char *line, size_t len)
{
	if (s->notify == NULL)
		return;
	if (s->state == SMTPD_STATE_AUTH) {
		/* A SASL response: a password, maybe. */
		record(s->notify, " In:  ", "(SASL response)", 15);
		return;
	}
	if (len >= 5 && strncasecmp(line, "AUTH ", 5) == 0) {
		/* The mechanism, not the initial response. */
		size_t mech = 5 + strcspn(line + 5, " ");
		if (mech > len)
			mech = len;
		record(s->notify, " In:  ", line, mech);
		return;
	}
	record(s->notify, " In:  ", line, len);
}

void smtpd_notify_out(struct smtpd_session *s, const char *data, size_t len)
{
	if (s->notify == NULL)
		return;
	while (len > 0) {
		const char *lf = memchr(data, '\n', len);
		size_t n = lf != NULL ? (size_t)(lf - data) : len;
		size_t next = lf != NULL ? n + 1 : len;

		if (n > 0 && data[n - 1] == '\r')
			n--;
		record(s->notify, " Out: ", data, n);
		data += next;
		len -= next;
	}
}

void smtpd_notify_mark(const struct smtpd_session *s, unsigned cls)
{
	if (s->notify != NULL)
		s->notify->classes |= cls;
}

void smtpd_notify_reply(const struct smtpd_session *s,
			const struct smtp_reply *r)
{
	if (s->notify == NULL)
		return;
	if (r->code >= 500 && r->code <= 504)
		smtpd_notify_mark(s, SMTPD_NOTIFY_PROTOCOL);
	else if (strcmp(r->enhanced, "4.3.5") == 0 ||
		 strstr(r->text, "internal error") != NULL)
		smtpd_notify_mark(s, SMTPD_NOTIFY_SOFTWARE);
	else if (strcmp(r->enhanced, "4.3.0") == 0 ||
		 strcmp(r->enhanced, "4.3.1") == 0)
		smtpd_notify_mark(s, SMTPD_NOTIFY_RESOURCE);
}

/* ---- Sending: a worker job (resolution and queue socket block). */

struct notice_job {
	const struct virtual_maps *maps; /* the process's, as RCPT jobs */
	struct virtual_opts opts;
	char *delimiters, *role_addresses, *role_recipient;
	char *rcpt, *queue_socket, *sender, *log_id, *what;
	/* $error_notice_recipient had no domain (the default "postmaster"):
	 * @$myorigin was our guess, so it is used only if it resolves to a
	 * hosted mailbox (see notice_work). */
	bool guessed;
	struct buf *msg;
	int ret;
	char id[64];
	struct error err;
};

static bool any_local(const struct array *finals)
{
	for (size_t i = 0; i < array_len(finals); i++)
		if (((struct virtual_final *)array_get(finals, i))->local)
			return true;
	return false;
}

static void notice_work(void *ctx)
{
	struct notice_job *j = ctx;
	struct array *finals = array_new();
	struct smtp_reply reply;
	struct submit_rcpt *rcpts;
	size_t n;

	if (j->maps == NULL || virtual_resolve(j->maps, j->rcpt, &j->opts,
					     j->log_id, finals, &reply) < 0) {
		if (j->maps != NULL)
			log_warn("%s: notice recipient <%s>: %u %s %s",
				 j->log_id, j->rcpt, reply.code, reply.enhanced,
				 reply.text);
		virtual_finals_free(&finals);
		finals = array_new();
	}
	n = array_len(finals);
	if (j->guessed && !any_local(finals)) {
		/* $myorigin is no hosted domain (or the database is down):
		 * queued would send the notice out by MX and bounce it, once
		 * per session during an outage.  Postfix delivers its
		 * postmaster locally; we have no local postmaster to fall
		 * back on, so the notice is only logged. */
		log_warn("%s: postmaster notification not sent: <%s> is not a "
			 "hosted mailbox (set error_notice_recipient)",
			 j->log_id, j->rcpt);
		virtual_finals_free(&finals);
		j->ret = 1;
		return;
	}
	rcpts = xcalloc(n + 1, sizeof(*rcpts));
	for (size_t i = 0; i < n; i++)
		rcpts[i].addr =
		    ((struct virtual_final *)array_get(finals, i))->addr;
	if (n == 0) {
		/* Unresolved: as given; the queue decides. */
		rcpts[0].addr = j->rcpt;
		n = 1;
	}
	struct submit_env env = {
	    .sender = j->sender,
	    .rcpts = rcpts,
	    .nrcpts = n,
	};
	j->ret = submit_message_blocking(j->queue_socket, &env,
					 buf_data(j->msg), buf_len(j->msg),
					 10000, j->id, sizeof(j->id), &j->err);
	free(rcpts);
	virtual_finals_free(&finals);
}

static void notice_done(void *ctx)
{
	struct notice_job *j = ctx;

	if (j->ret > 0)
		; /* not sent, logged by notice_work */
	else if (j->ret < 0)
		log_warn("%s: could not queue the postmaster notification "
			 "(%s): %s",
			 j->log_id, j->what, j->err.msg);
	else
		log_info("%s: postmaster notification (%s): %s", j->log_id,
			 j->what, j->id);
	free(j->delimiters);
	free(j->role_addresses);
	free(j->role_recipient);
	free(j->rcpt);
	free(j->queue_socket);
	free(j->sender);
	free(j->log_id);
	free(j->what);
	buf_free(&j->msg);
	free(j);
}

static void build(struct buf *out, const struct smtpd_session *s,
		  const struct smtpd_notify *n, const char *what,
		  const char *rcpt)
{
	char date[64];
	time_t now = time(NULL);
	struct tm tm;
	const char *name = s->client_name != NULL ? s->client_name : "unknown";

	localtime_r(&now, &tm);
	strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S %z", &tm);
	buf_printf(out,
		   "From: Mail Delivery System <MAILER-DAEMON@%s>\r\n"
		   "To: <%s>\r\n"
		   "Subject: Postern SMTP server: errors from %s[%s]\r\n"
		   "Date: %s\r\n"
		   "Message-ID: <%s.notify@%s>\r\n"
		   "Auto-Submitted: auto-generated\r\n"
		   "MIME-Version: 1.0\r\n"
		   "Content-Type: text/plain; charset=us-ascii\r\n"
		   "\r\n"
		   "Problems (notify_classes): %s\r\n"
		   "Client: %s[%s]:%u, service %s, session %s\r\n"
		   "\r\n"
		   "Transcript of session follows.\r\n\r\n",
		   s->set->myhostname, rcpt, name, s->peer, date, s->id,
		   s->set->myhostname, what, name, s->peer, s->peer_port,
		   s->service, s->id);
	/* The transcript's "\n" lines as CRLF; none starts with "." (each
	 * has a leading blank). */
	const char *t = buf_data(n->transcript);
	size_t len = buf_len(n->transcript);
	while (len > 0) {
		const char *lf = memchr(t, '\n', len);
		size_t k = lf != NULL ? (size_t)(lf - t) : len;
		buf_append(out, t, k);
		buf_append_str(out, "\r\n");
		t += k + (lf != NULL);
		len -= k + (lf != NULL);
	}
	buf_append_str(out, "\r\nFor other details, see the local mail "
			    "logfile.\r\n");
}

void smtpd_notify_end(struct smtpd_session *s)
{
	struct smtpd_notify *n = s->notify;
	unsigned due;

	if (n == NULL)
		return;
	s->notify = NULL;
	due = n->classes & s->set->notify_classes;
	if (due != 0 && s->smtpd->workers != NULL &&
	    s->set->error_rcpt[0] != '\0') {
		struct notice_job *j = xcalloc(1, sizeof(*j));
		struct buf *what = buf_new();

		for (size_t k = 0;
		     k < sizeof(class_names) / sizeof(*class_names); k++)
			if (due & class_names[k].bit)
				buf_printf(what, "%s%s",
					   buf_len(what) > 0 ? ", " : "",
					   class_names[k].name);
		j->maps = &s->smtpd->maps;
		j->delimiters = xstrdup(s->set->recipient_delimiter);
		j->role_addresses = xstrdup(s->set->role_addresses);
		j->role_recipient = xstrdup(s->set->role_recipient);
		j->opts.delimiters = j->delimiters;
		j->opts.recursion_limit = s->set->alias_recursion_limit;
		j->opts.expansion_limit = s->set->alias_expansion_limit;
		j->opts.relay_ok = true; /* the administrator's address */
		j->opts.role_addresses = j->role_addresses;
		j->opts.role_recipient = j->role_recipient;
		j->rcpt = xstrdup(s->set->error_rcpt);
		j->guessed = s->set->error_rcpt_guessed;
		j->queue_socket = xstrdup(s->set->queue_socket);
		j->sender = xasprintf("double-bounce@%s", s->set->myhostname);
		j->log_id = xstrdup(s->id);
		j->what = xstrdup(buf_data(what));
		j->msg = buf_new();
		build(j->msg, s, n, j->what, j->rcpt);
		buf_free(&what);
		worker_submit(s->smtpd->workers, notice_work, notice_done, j);
	}
	buf_free(&n->transcript);
	free(n);
}

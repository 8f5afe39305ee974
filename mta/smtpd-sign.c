/* smtpd-sign.c - the DKIM decision for authenticated mail (smtpd-sign.h). */
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/log.h"
#include "core/str.h"
#include "core/xmalloc.h"
#include "ev/worker.h"
#include "mail/header.h"
#include "queue/submit.h"

#include "smtpd-login.h"
#include "smtpd-sign.h"
#include "smtpd.h"

/* More header than this is not kept: a From beyond it is not found and
 * the message goes unsigned. */
#define SIGN_HEADER_MAX (256 * 1024)

void smtpd_sign_feed(struct smtpd_session *s, const void *data, size_t len)
{
	struct smtpd_txn *t = s->txn;
	const char *h;
	size_t n;

	if (t == NULL || s->auth_user == NULL || t->sign_hdr_done)
		return;
	if (t->sign_hdr == NULL)
		t->sign_hdr = buf_new();
	if (buf_len(t->sign_hdr) + len > SIGN_HEADER_MAX) {
		t->sign_hdr_done = true;
		return;
	}
	buf_append(t->sign_hdr, data, len);
	h = buf_data(t->sign_hdr);
	n = buf_len(t->sign_hdr);
	if (memmem(h, n, "\n\r\n", 3) != NULL ||
	    memmem(h, n, "\n\n", 2) != NULL)
		t->sign_hdr_done = true;
}

void smtpd_sign_txn_free(struct smtpd_txn *t)
{
	buf_free(&t->sign_hdr);
}

/* The first From: address, "local@domain" with the domain lower-case;
 * NULL if none can be read. */
static char *from_address(const struct buf *hdr)
{
	struct buf *value = buf_new();
	struct header_address *list = NULL;
	char *addr = NULL;

	if (hdr != NULL &&
	    header_get(buf_data(hdr), buf_len(hdr), "From", value))
		list = header_address_parse(buf_data(value), buf_len(value), 1);
	if (list != NULL && !list->invalid && list->mailbox != NULL &&
	    list->host != NULL) {
		addr = xasprintf("%s@%s", list->mailbox, list->host);
		str_lower(strrchr(addr, '@'));
	}
	header_address_free(&list);
	buf_free(&value);
	return addr;
}

struct sign_job {
	struct smtpd_session *s;
	bool (*cont)(struct smtpd_session *s);
	struct smtpd_login_ctx lc;
	char *login, *from, *delimiters, *log_id;
	int owned; /* 1, 0, -1 */
	struct error err;
};

static void sign_work(void *p)
{
	struct sign_job *j = p;

	j->owned = j->from == NULL
		       ? 0
		       : smtpd_login_owns(&j->lc, j->login, j->from, &j->err);
}

static void sign_done(void *p)
{
	struct sign_job *j = p;
	struct smtpd_session *s = j->s;
	bool dead = s->dead, held = false;

	if (!dead && s->txn != NULL) {
		if (j->owned != 1) {
			if (j->owned < 0)
				log_warn("%s: DKIM: owner of From <%s>: %s; "
					 "not signing",
					 j->log_id, j->from, j->err.msg);
			else
				log_info("%s: DKIM: From <%s> is not owned "
					 "by sasl_username=%s: not signing",
					 j->log_id,
					 j->from != NULL ? j->from : "",
					 j->login);
			if (s->txn->submit != NULL)
				submit_set_dkim_deny(s->txn->submit);
		}
		held = j->cont(s);
	}
	free(j->login);
	free(j->from);
	free(j->delimiters);
	free(j->log_id);
	free(j);
	smtpd_session_release(s);
	if (!dead && !held)
		smtpd_session_resume(s);
}

bool smtpd_sign_check(struct smtpd_session *s,
		      bool (*cont)(struct smtpd_session *s))
{
	struct smtpd_txn *t = s->txn;
	struct sign_job *j;

	if (t == NULL || s->auth_user == NULL || t->sign_checked ||
	    t->submit == NULL)
		return false;
	t->sign_checked = true;
	j = xcalloc(1, sizeof(*j));
	j->s = s;
	j->cont = cont;
	j->login = xstrdup(s->auth_user);
	j->from = from_address(t->sign_hdr);
	j->delimiters = xstrdup(s->set->recipient_delimiter);
	j->log_id = xstrdup(smtpd_log_id(s));
	j->lc = (struct smtpd_login_ctx){
	    .login = s->smtpd->login,
	    .maps = &s->smtpd->maps,
	    .delimiters = j->delimiters,
	    .recursion_limit = s->set->alias_recursion_limit,
	    .expansion_limit = s->set->alias_expansion_limit,
	    .log_id = j->log_id,
	};
	s->pending++;
	smtpd_session_suspend(s);
	worker_submit(s->smtpd->workers, sign_work, sign_done, j);
	return true;
}

/*
 * smtpd-limits.c - per-mailbox daily sending limits at RCPT for
 * authenticated sessions (issue 8, docs/ratelimits.md): so that a stolen
 * password cannot spray spam.  The counting itself is lib/provision's
 * prov_send_charge(), which the webmail calls too for its sends: the two
 * ways a password can submit mail share one set of counters.
 *
 * At each RCPT of a session with a SASL login, in the RCPT worker job
 * after the recipient passed the restrictions, resolution and quota: the
 * recipient is charged (a first-time one counts as new), and at the first
 * accepted RCPT of a transaction the message too.  Postfix's anvil counts
 * MAIL and RCPT commands the same way, at the command: a transaction
 * that is then abandoned has still used its share.  Over a limit: 450
 * 4.7.1 with the limit named, and a warning with the user and the count;
 * a database failure: 451 4.3.0.
 */
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/xmalloc.h"
#include "provision/provision.h"
#include "server/server.h"

#include "smtpd.h"

void smtpd_limits_rcpt_init(struct smtpd_limits_job *l,
			    const struct smtpd_session *s)
{
	memset(l, 0, sizeof(*l));
	if (s->auth_user == NULL || s->smtpd->srv == NULL || s->txn == NULL)
		return;
	const struct conf *conf = server_conf(s->smtpd->srv);
	l->db = s->smtpd->db;
	l->user = xstrdup(s->auth_user);
	l->def_messages = conf_int(conf, "user_daily_message_limit");
	l->def_new_rcpts = conf_int(conf, "user_daily_new_recipient_limit");
	l->count_message = !s->txn->user_counted;
}

int smtpd_limits_rcpt_run(struct smtpd_limits_job *l, const char *address,
			  const char *log_id, struct smtp_reply *reply_r)
{
	struct prov_send_limits def = {l->def_messages, l->def_new_rcpts};
	struct prov_send_result res;
	struct error err;
	const char *rcpts[] = {address};
	int rc;

	if (l->db == NULL)
		return 0;
	rc = prov_send_charge(l->db, l->user, &def, l->count_message, rcpts, 1,
			      prov_send_clock(), &res, &err);
	if (rc < 0) {
		log_warn("%s: sending limits of %s: %s", log_id, l->user,
			 err.msg);
		smtp_reply_set(reply_r, 451, "4.3.0",
			       "<%s>: Temporary lookup failure", address);
		return -1;
	}
	if (rc == 0 && res.over == PROV_SEND_OVER_MESSAGES) {
		log_warn("%s: daily message limit exceeded: user=%s count=%lld "
			 "limit=%lld",
			 log_id, l->user, res.messages, res.limits.messages);
		smtp_reply_set(reply_r, 450, "4.7.1",
			       "<%s>: Error: daily message limit (%lld) "
			       "reached for %s",
			       address, res.limits.messages, l->user);
		return -1;
	}
	if (rc == 0) {
		log_warn("%s: daily new recipient limit exceeded: user=%s "
			 "count=%lld limit=%lld to=<%s>",
			 log_id, l->user, res.new_rcpts, res.limits.new_rcpts,
			 address);
		smtp_reply_set(reply_r, 450, "4.7.1",
			       "<%s>: Error: daily limit of new recipients "
			       "(%lld) reached for %s",
			       address, res.limits.new_rcpts, l->user);
		return -1;
	}
	l->charged = l->count_message;
	return 0;
}

void smtpd_limits_rcpt_done(struct smtpd_session *s,
			    const struct smtpd_limits_job *l)
{
	if (l->charged && s->txn != NULL)
		s->txn->user_counted = true;
}

void smtpd_limits_rcpt_clear(struct smtpd_limits_job *l)
{
	free(l->user);
	l->user = NULL;
}

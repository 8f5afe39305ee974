/*
 * smtpd-rcpt.c - RCPT TO: parse on the loop, resolve in the worker pool
 * (SQL lookups must not stall other sessions), answer on the loop.  The
 * session reads nothing more until the answer is out, so pipelined
 * commands are answered in order (RFC 2920).
 */
#include <stdlib.h>
#include <string.h>

#include "core/hash.h"
#include "core/log.h"
#include "core/xmalloc.h"
#include "ev/worker.h"
#include "queue/submit.h"

#include "smtpd-policy.h"
#include "smtpd-quota.h"
#include "smtpd-notify.h"
#include "smtpd.h"

struct rcpt_job {
	struct smtpd_session *s;
	/* Inputs, copied: the worker must not touch the session. */
	const struct virtual_maps *maps;
	struct virtual_opts opts;
	struct smtpd_quota_opts quota;
	struct smtpd_check_ctx check; /* the restriction lists' inputs */
	struct smtpd_limits_job limits; /* the sender's daily limits */
	unsigned stages;
	char *delimiters;
	char *mail_directory;
	char *address;
	char *log_id;
	/* Outputs. */
	struct array *finals;
	struct smtp_reply reply;
	int ret;
	/* Kept for the queue. */
	char *orcpt;
	unsigned notify;
	bool milter_asked; /* smtpd_milter_rcpt answered */
	bool policy_reject; /* refused by the restriction lists */
};

static void job_free(struct rcpt_job *j)
{
	free(j->delimiters);
	free(j->mail_directory);
	free(j->address);
	free(j->log_id);
	free(j->orcpt);
	smtpd_check_ctx_clear(&j->check);
	smtpd_limits_rcpt_clear(&j->limits);
	virtual_finals_free(&j->finals);
	free(j);
}

static void rcpt_work(void *ctx)
{
	struct rcpt_job *j = ctx;

	/* Restrictions first (Postfix's smtpd_check_rcpt), then the
	 * resolution: a recipient they let through may be relayed.  A
	 * suspended run is run again: nothing of the last one counts. */
	j->policy_reject = false;
	if (j->check.restrictions != NULL &&
	    smtpd_check_run(&j->check, j->stages) != 0) {
		/* 1: waits for a policy service or an address
		 * verification (rcpt_done goes on). */
		j->reply = j->check.verdict.reply;
		j->ret = -1;
		j->policy_reject = true;
		return;
	}
	/* relocated and canonical maps (smtpd-cleanup.c); the process
	 * state they read is immutable while the job holds the session. */
	j->ret = smtpd_cleanup_rcpt(j->s->smtpd, &j->address, &j->reply);
	if (j->ret == 0)
		j->ret = virtual_resolve(j->maps, j->address, &j->opts,
				       j->log_id, j->finals, &j->reply);
	if (j->ret == 0)
		j->ret = smtpd_quota_filter(&j->quota, j->address, j->log_id,
					    j->finals, &j->reply);
	if (j->ret == 0)
		j->ret = smtpd_limits_rcpt_run(&j->limits, j->address,
					       j->log_id, &j->reply);
}

/* smtp_notify bits are queue.h's QUEUE_NOTIFY bits, value for value. */
_Static_assert((int)SMTP_NOTIFY_NEVER == (int)QUEUE_NOTIFY_NEVER &&
		   (int)SMTP_NOTIFY_SUCCESS == (int)QUEUE_NOTIFY_SUCCESS &&
		   (int)SMTP_NOTIFY_FAILURE == (int)QUEUE_NOTIFY_FAILURE &&
		   (int)SMTP_NOTIFY_DELAY == (int)QUEUE_NOTIFY_DELAY,
	       "notify bits differ");

static void rcpt_done(void *ctx);

static void rcpt_milter_done(struct smtpd_session *s, void *arg,
			     const struct smtp_reply *refusal)
{
	struct rcpt_job *j = arg;

	(void)s;
	j->milter_asked = true;
	if (refusal != NULL) {
		j->reply = *refusal;
		j->ret = -1;
	}
	rcpt_done(j);
}

static void rcpt_done(void *ctx)
{
	struct rcpt_job *j = ctx;
	struct smtpd_session *s = j->s;
	struct smtpd_txn *t = s->txn;

	if (s->dead || t == NULL) {
		job_free(j);
		smtpd_session_release(s);
		return;
	}
	if (smtpd_policy_suspended(&j->check)) {
		smtpd_policy_continue(s, &j->check, rcpt_work, rcpt_done, j);
		return;
	}
	smtpd_check_learn(s, &j->check);
	/* Milters see only recipients smtpd accepted (Postfix). */
	if (j->ret == 0 && !j->milter_asked &&
	    smtpd_milter_rcpt(s, j->address, rcpt_milter_done, j))
		return;
	if (j->ret < 0) {
		if (j->policy_reject &&
		    strncmp(j->reply.enhanced, "4.3.", 4) != 0)
			smtpd_notify_mark(s, SMTPD_NOTIFY_POLICY);
		log_info("NOQUEUE: reject: RCPT from %s: %u %s %s; from=<%s> "
			 "to=<%s> proto=%s helo=<%s>",
			 smtpd_client_log(s), j->reply.code, j->reply.enhanced,
			 j->reply.text, buf_data(t->sender), j->address,
			 s->esmtp ? "ESMTP" : "SMTP",
			 s->helo != NULL ? s->helo : "");
		smtpd_reply_error(s, &j->reply);
	} else {
		for (size_t i = 0; i < array_len(j->finals); i++) {
			struct virtual_final *f = array_get(j->finals, i);
			struct submit_rcpt rc = {
			    .addr = f->addr,
			    .orcpt = j->orcpt,
			    .notify = j->notify,
			};

			if (hash_contains(t->finals, f->addr))
				continue;
			hash_put(t->finals, f->addr, "");
			if (t->submit != NULL &&
			    !smtpd_milter_keep_rcpt(s, j->address, &rc))
				submit_add_rcpt(t->submit, &rc);
			t->nfinal++;
		}
		smtpd_check_keep_actions(s, &j->check);
		if (t->nrcpt++ == 0)
			t->first_rcpt = xstrdup(j->address);
		smtpd_limits_rcpt_done(s, &j->limits);
		s->state = SMTPD_STATE_RCPT;
		smtpd_reply(s, 250, "2.1.5", "Ok");
	}
	job_free(j);
	smtpd_session_release(s);
	smtpd_session_resume(s);
}

void smtpd_cmd_rcpt(struct smtpd_session *s, const struct smtp_command *cmd)
{
	struct smtpd_txn *t = s->txn;
	struct smtp_rcpt rcpt;
	struct smtp_reply r;
	struct rcpt_job *j;
	struct buf *addr;

	if (t == NULL) {
		smtpd_error(s, 503, "5.5.1", "Error: need MAIL command");
		return;
	}
	if (t->bdat_started) {
		/* RFC 3030 2: the envelope is closed once chunks flow. */
		smtpd_error(s, 503, "5.5.1", "Error: BDAT in progress");
		return;
	}
	if (t->nrcpt >= s->set->recipient_limit) {
		smtpd_reply(s, 452, "4.5.3", "Error: too many recipients");
		return;
	}
	if (smtpd_anvil_rcpt(s))
		return;
	if (smtp_command_parse_rcpt(cmd->args, cmd->args_len,
				    smtpd_extensions(s),
				    t->mail.params.smtputf8, &rcpt, &r) < 0) {
		smtpd_reply_error(s, &r);
		return;
	}
	if (rcpt.to.domain[0] == '\0') {
		/* <Postmaster> (RFC 5321 4.5.1): ours, at $myhostname. */
		free(rcpt.to.domain);
		rcpt.to.domain = xstrdup(s->set->myhostname);
	}
	addr = buf_new();
	address_format(&rcpt.to, addr);

	j = xcalloc(1, sizeof(*j));
	j->s = s;
	j->maps = &s->smtpd->maps;
	j->delimiters = xstrdup(s->set->recipient_delimiter);
	j->opts.delimiters = j->delimiters;
	j->opts.recursion_limit = s->set->alias_recursion_limit;
	j->opts.expansion_limit = s->set->alias_expansion_limit;
	/* The session's settings outlive the job (it holds the session). */
	j->opts.role_addresses = s->set->role_addresses;
	j->opts.role_recipient = s->set->role_recipient;
	/* The relay decision is smtpd_relay_restrictions' (checked in the
	 * job); without lists (tests), today's rule. */
	j->opts.relay_ok = s->smtpd->restrictions != NULL || smtpd_may_relay(s);
	j->mail_directory = xstrdup(s->set->mail_directory);
	j->quota.db = s->smtpd->lookup_db; /* a read: replicas first */
	j->quota.mail_directory = j->mail_directory;
	j->quota.permanent = s->set->quota_permanent;
	j->quota.size_hint = t->mail.params.has_size ? t->mail.params.size : 0;
	j->address = buf_steal(addr);
	j->log_id = xstrdup(smtpd_log_id(s));
	smtpd_limits_rcpt_init(&j->limits, s);
	if (s->smtpd->restrictions != NULL) {
		const struct smtpd_restrict *rs = s->smtpd->restrictions;
		smtpd_check_ctx_init(&j->check, s, s->helo, buf_data(t->sender),
				     j->address);
		j->check.in.pipelined = !s->esmtp && buf_len(s->in) > 0;
		smtpd_policy_enable(&j->check);
		j->stages = SMTPD_RESTRICT_BIT(SMTPD_RESTRICT_RELAY) |
			    SMTPD_RESTRICT_BIT(SMTPD_RESTRICT_RECIPIENT);
		if (smtpd_restrict_delay_reject(rs))
			j->stages |= SMTPD_RESTRICT_BIT(SMTPD_RESTRICT_CLIENT) |
				     SMTPD_RESTRICT_BIT(SMTPD_RESTRICT_HELO) |
				     SMTPD_RESTRICT_BIT(SMTPD_RESTRICT_SENDER);
	}
	j->finals = array_new();
	j->notify = rcpt.params.notify;
	if (rcpt.params.orcpt_type[0] != '\0')
		j->orcpt = xasprintf("%s;%s", rcpt.params.orcpt_type,
				     rcpt.params.orcpt);
	else
		j->orcpt = xasprintf("rfc822;%s", j->address);
	buf_free(&addr);
	smtp_rcpt_clear(&rcpt);

	s->pending++;
	smtpd_session_suspend(s);
	worker_submit(s->smtpd->workers, rcpt_work, rcpt_done, j);
}

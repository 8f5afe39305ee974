/*
 * smtpd-check.c - the restriction lists (smtpd-restrict.h) in the
 * session: opening them with the process, a copy of what a check looks
 * at (workers never touch the session), and the checks that run as
 * worker jobs outside RCPT: at connect, HELO/EHLO and MAIL while
 * smtpd_delay_reject is off, and at DATA.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/xmalloc.h"
#include "dns/dns.h"
#include "ev/worker.h"
#include "queue/submit.h"
#include "tls/io.h"

#include "smtpd-login.h"
#include "smtpd-policy.h"
#include "smtpd-notify.h"
#include "smtpd.h"

int smtpd_restrictions_open(struct smtpd *d, const struct conf *conf,
			    struct error *err)
{
	d->restrictions = smtpd_restrict_new(conf, &d->map_env, err);
	if (d->restrictions == NULL)
		return -1;
	d->login = smtpd_login_new(conf, &d->lookup_env, err);
	if (d->login == NULL) {
		smtpd_restrict_free(&d->restrictions);
		return -1;
	}
	if (smtpd_ccert_open(d, conf, err) < 0) {
		smtpd_restrict_free(&d->restrictions);
		smtpd_login_free(&d->login);
		return -1;
	}
	if (smtpd_restrict_uses_dns(d->restrictions)) {
		/* Blocking lookups from the workers only: no loop. */
		d->dns = dns_resolver_new(NULL, conf, err);
		if (d->dns == NULL) {
			smtpd_restrict_free(&d->restrictions);
			smtpd_login_free(&d->login);
			return -1;
		}
	}
	return 0;
}

void smtpd_restrictions_close(struct smtpd *d)
{
	dns_resolver_free(&d->dns);
	smtpd_restrict_free(&d->restrictions);
	smtpd_login_free(&d->login);
	smtpd_ccert_close(d);
}

static int is_local(void *ctx, const char *address, struct error *err)
{
	struct smtpd_check_ctx *c = ctx;

	return virtual_is_local(c->maps, address, c->delimiters, err);
}

/* reject_unverified_*: a hosted address is deliverable if it resolves. */
static int verify_local(void *ctx, const char *address,
			struct smtp_reply *reply_r)
{
	struct smtpd_check_ctx *c = ctx;
	struct virtual_opts opts = {
	    .delimiters = c->delimiters,
	    .recursion_limit = c->alias_recursion_limit,
	    .expansion_limit = c->alias_expansion_limit,
	    .role_addresses = c->role_addresses,
	    .role_recipient = c->role_recipient,
	};
	struct array *finals = array_new();
	int ret = virtual_resolve(c->maps, address, &opts, c->log_id, finals,
				reply_r);

	virtual_finals_free(&finals);
	return ret;
}

/* *_sender_login_mismatch: the owners of a sender (smtpd-login.h). */
static int sender_owners(void *ctx, const char *address, struct array *owners_r,
			 struct error *err)
{
	struct smtpd_check_ctx *c = ctx;
	struct smtpd_login_ctx lc = {
	    .login = c->login,
	    .maps = c->maps,
	    .delimiters = c->delimiters,
	    .recursion_limit = c->alias_recursion_limit,
	    .expansion_limit = c->alias_expansion_limit,
	    .log_id = c->log_id,
	};

	return smtpd_login_owners(&lc, address, owners_r, err);
}

static char *dup_or_null(const char *s)
{
	return s != NULL ? xstrdup(s) : NULL;
}

void smtpd_check_ctx_init(struct smtpd_check_ctx *c,
			  const struct smtpd_session *s, const char *helo,
			  const char *sender, const char *recipient)
{
	memset(c, 0, sizeof(*c));
	c->restrictions = s->smtpd->restrictions;
	c->maps = &s->smtpd->maps;
	c->client_addr = xstrdup(s->peer);
	c->client_name = dup_or_null(s->client_name);
	c->helo = dup_or_null(helo);
	c->sender = dup_or_null(sender);
	c->recipient = dup_or_null(recipient);
	c->sasl_user = dup_or_null(s->auth_user);
	c->delimiters = xstrdup(s->set->recipient_delimiter);
	c->log_id = xstrdup(smtpd_log_id(s));
	c->in = (struct smtpd_restrict_input){
	    .client_addr = c->client_addr,
	    .client_name = c->client_name,
	    .helo = c->helo,
	    .sender = c->sender,
	    .recipient = c->recipient,
	    .sasl_user = c->sasl_user,
	    .in_mynetworks = s->in_mynetworks,
	    .esmtp = s->esmtp,
	    .delimiters = c->delimiters,
	    .is_local = is_local,
	    .is_local_ctx = c,
	    .dns = s->smtpd->dns,
	    .log_id = c->log_id,
	};
	c->attrs = smtpd_policy_attrs_new(s);
	c->in.attrs = c->attrs;
	c->alias_recursion_limit = s->set->alias_recursion_limit;
	c->alias_expansion_limit = s->set->alias_expansion_limit;
	c->role_addresses = s->set->role_addresses;
	c->role_recipient = s->set->role_recipient;
	c->in.verify_local = verify_local;
	c->login = s->smtpd->login;
	c->in.sender_owners = sender_owners;
	c->in.submission_login_check =
	    s->submission && s->set->submission_login_check;
	c->in.tls = smtpd_session_secured(s);
	c->in.rcpt_count = s->txn != NULL ? s->txn->nrcpt : 0;
	if (s->ccert != NULL && s->ccert->present) {
		c->ccert_fingerprint = dup_or_null(s->ccert->fingerprint);
		c->ccert_pkey_fingerprint =
		    dup_or_null(s->ccert->pkey_fingerprint);
		c->in.ccert_verified = s->ccert->verified;
		c->in.ccert_fingerprint = c->ccert_fingerprint;
		c->in.ccert_pkey_fingerprint = c->ccert_pkey_fingerprint;
		c->ccert_subject = dup_or_null(s->ccert->subject_cn);
		c->in.ccert_subject = c->ccert_subject;
	}
}

void smtpd_check_ctx_clear(struct smtpd_check_ctx *c)
{
	free(c->client_addr);
	free(c->client_name);
	free(c->helo);
	free(c->sender);
	free(c->recipient);
	free(c->sasl_user);
	free(c->delimiters);
	free(c->log_id);
	free(c->ccert_fingerprint);
	free(c->ccert_pkey_fingerprint);
	free(c->ccert_subject);
	smtpd_verdict_clear(&c->verdict);
	smtpd_policy_attrs_free(&c->attrs);
	smtpd_policy_answers_free(&c->answers);
	memset(c, 0, sizeof(*c));
}

int smtpd_check_run(struct smtpd_check_ctx *c, unsigned stages)
{
	c->ret =
	    smtpd_restrict_check(c->restrictions, stages, &c->in, &c->verdict);
	return c->ret;
}

void smtpd_check_learn(struct smtpd_session *s, struct smtpd_check_ctx *c)
{
	if (c->verdict.client_name != NULL && s->client_name == NULL) {
		s->client_name = c->verdict.client_name;
		c->verdict.client_name = NULL;
	}
}

/* ---- Checks as worker jobs. */

struct check_job {
	struct smtpd_session *s;
	struct smtpd_check_ctx ctx;
	unsigned stages;
	smtpd_check_done_fn *done;
	void *arg;
};

static void check_work(void *p)
{
	struct check_job *j = p;

	smtpd_check_run(&j->ctx, j->stages);
}

static void check_done(void *p)
{
	struct check_job *j = p;
	struct smtpd_session *s = j->s;
	bool dead = s->dead;

	if (!dead && smtpd_policy_suspended(&j->ctx)) {
		smtpd_policy_continue(s, &j->ctx, check_work, check_done, j);
		return;
	}

	if (!dead) {
		smtpd_check_learn(s, &j->ctx);
		j->done(s, &j->ctx, j->arg);
	} else {
		j->done(NULL, &j->ctx, j->arg);
	}
	smtpd_check_ctx_clear(&j->ctx);
	free(j);
	smtpd_session_release(s);
	if (!dead)
		smtpd_session_resume(s);
}

void smtpd_check_async(struct smtpd_session *s, unsigned stages,
		       const char *helo, const char *sender,
		       smtpd_check_done_fn *done, void *arg)
{
	struct check_job *j = xcalloc(1, sizeof(*j));

	j->s = s;
	j->stages = stages;
	j->done = done;
	j->arg = arg;
	smtpd_check_ctx_init(&j->ctx, s, helo, sender, NULL);
	smtpd_policy_enable(&j->ctx);
	/* DATA must end a pipelined group (RFC 2920 3.1); other commands
	 * may be pipelined only after EHLO. */
	j->ctx.in.pipelined =
	    buf_len(s->in) > 0 &&
	    (!s->esmtp || (stages & SMTPD_RESTRICT_BIT(SMTPD_RESTRICT_DATA)));
	s->pending++;
	smtpd_session_suspend(s);
	worker_submit(s->smtpd->workers, check_work, check_done, j);
}

bool smtpd_check_wanted(const struct smtpd_session *s,
			enum smtpd_restrict_stage stage)
{
	const struct smtpd_restrict *r = s->smtpd->restrictions;

	if (r == NULL || smtpd_restrict_is_empty(r, stage))
		return false;
	if (stage == SMTPD_RESTRICT_DATA || stage == SMTPD_RESTRICT_END_OF_DATA)
		return true;
	return !smtpd_restrict_delay_reject(r);
}

const char *smtpd_client_log(const struct smtpd_session *s)
{
	static char b[1100];

	snprintf(b, sizeof(b), "%s[%s]",
		 s->client_name != NULL ? s->client_name : "unknown", s->peer);
	return b;
}

void smtpd_check_log_reject(const struct smtpd_session *s, const char *cmd,
			    const struct smtpd_check_ctx *c)
{
	const struct smtp_reply *r = &c->verdict.reply;

	/* A 4.3.x is a lookup or configuration failure: resource or
	 * software (smtpd_notify_reply), not policy, as Postfix. */
	if (strncmp(r->enhanced, "4.3.", 4) != 0)
		smtpd_notify_mark(s, SMTPD_NOTIFY_POLICY);
	log_info("NOQUEUE: reject: %s from %s: %u %s %s; from=<%s> "
		 "to=<%s> proto=%s helo=<%s>",
		 cmd, smtpd_client_log(s), r->code, r->enhanced, r->text,
		 c->sender != NULL ? c->sender : "",
		 c->recipient != NULL ? c->recipient : "",
		 s->esmtp ? "ESMTP" : "SMTP", c->helo != NULL ? c->helo : "");
}

/* ---- HOLD and DISCARD (access(5)), for the whole message as Postfix. */

static void keep_verdict(struct smtpd_session *s, const struct smtpd_verdict *v)
{
	struct smtpd_txn *t = s->txn;

	if (t == NULL)
		return;
	t->hold |= v->hold;
	t->discard |= v->discard;
	if (v->filter != NULL)
		smtpd_filter_set(s, v->filter, "access");
	if (v->redirect != NULL) { /* the last one wins */
		free(t->access_redirect);
		t->access_redirect = xstrdup(v->redirect);
	}
	if (v->prepend != NULL && t->received_written) {
		/* smtpd_end_of_data_restrictions: the header is written. */
		log_warn("%s: PREPEND at the end of the message: ignored",
			 smtpd_log_id(s));
	} else if (v->prepend != NULL) {
		/* "\n" separated lines; the first PREPEND comes first. */
		if (t->access_prepend == NULL)
			t->access_prepend = buf_new();
		for (const char *p = v->prepend; *p != '\0';) {
			/* A stray CR (a policy service's text) must not
			 * end a line of the header early. */
			size_t n = strcspn(p, "\r\n");
			if (n > 0) {
				buf_append(t->access_prepend, p, n);
				buf_append_str(t->access_prepend, "\r\n");
			}
			p += n;
			p += strspn(p, "\r\n");
		}
	}
}

void smtpd_check_keep_actions(struct smtpd_session *s,
			      const struct smtpd_check_ctx *c)
{
	keep_verdict(s, &c->verdict);
}

/* ---- Actions found at connect and HELO (smtpd_delay_reject = no).
 * There is no transaction yet: as Postfix, they stay in force for every
 * message of the session, so they are kept here and given to each new
 * transaction (smtpd_check_session_actions). */

void smtpd_check_save_actions(struct smtpd_verdict **slot,
			      struct smtpd_check_ctx *c)
{
	struct smtpd_verdict *v = &c->verdict;

	if (*slot != NULL) {
		smtpd_verdict_clear(*slot);
		free(*slot);
		*slot = NULL;
	}
	if (!v->hold && !v->discard && v->filter == NULL &&
	    v->redirect == NULL && v->prepend == NULL)
		return;
	*slot = xcalloc(1, sizeof(**slot));
	(*slot)->hold = v->hold;
	(*slot)->discard = v->discard;
	/* Moved, not copied: the check context is cleared after. */
	(*slot)->filter = v->filter;
	(*slot)->redirect = v->redirect;
	(*slot)->prepend = v->prepend;
	v->filter = v->redirect = v->prepend = NULL;
}

void smtpd_check_session_actions(struct smtpd_session *s)
{
	if (s->connect_actions != NULL)
		keep_verdict(s, s->connect_actions);
	if (s->helo_actions != NULL)
		keep_verdict(s, s->helo_actions);
}

void smtpd_check_session_free(struct smtpd_session *s)
{
	struct smtpd_verdict **slots[] = {&s->connect_actions,
					  &s->helo_actions};

	for (size_t i = 0; i < sizeof(slots) / sizeof(slots[0]); i++) {
		if (*slots[i] == NULL)
			continue;
		smtpd_verdict_clear(*slots[i]);
		free(*slots[i]);
		*slots[i] = NULL;
	}
}

void smtpd_check_write_prepend(const struct smtpd_session *s, struct buf *h)
{
	const struct smtpd_txn *t = s->txn;

	if (t != NULL && t->access_prepend != NULL)
		buf_append(h, buf_data(t->access_prepend),
			   buf_len(t->access_prepend));
}

void smtpd_check_txn_free(struct smtpd_txn *t)
{
	free(t->access_redirect);
	t->access_redirect = NULL;
	buf_free(&t->access_prepend);
}

bool smtpd_check_message_end(struct smtpd_session *s)
{
	struct smtpd_txn *t = s->txn;

	if (t->discard) {
		/* Postfix claims delivery and drops the message. */
		log_info("%s: discard: from=<%s>, size=%llu, nrcpt=%u: "
			 "DISCARD action",
			 smtpd_log_id(s), buf_data(t->sender),
			 (unsigned long long)t->size, t->nfinal);
		smtpd_reply(s, 250, "2.0.0", "Ok: queued as %s",
			    t->id[0] != '\0' ? t->id : s->id);
		smtpd_txn_reset(s); /* aborts the submission */
		return true;
	}
	if (t->hold && t->submit != NULL)
		submit_set_hold(t->submit);
	if (t->access_redirect != NULL && t->submit != NULL) {
		log_info("%s: redirect: all recipients replaced by <%s>",
			 smtpd_log_id(s), t->access_redirect);
		submit_redirect(t->submit, t->access_redirect);
	}
	return false;
}

/* ---- At connect (smtpd_delay_reject = no). */

static void connect_done(struct smtpd_session *s, struct smtpd_check_ctx *c,
			 void *arg)
{
	(void)arg;
	if (s == NULL)
		return;
	if (c->ret < 0) {
		smtpd_check_log_reject(s, "CONNECT", c);
		s->access_denied = true;
		/* Postfix answers the refusal in place of the greeting and
		 * then refuses every command but QUIT. */
		smtpd_reply_error(s, &c->verdict.reply);
		return;
	}
	smtpd_check_save_actions(&s->connect_actions, c);
	smtpd_reply(s, 220, NULL, "%s", s->set->banner);
}

bool smtpd_check_connect(struct smtpd_session *s)
{
	if (!smtpd_check_wanted(s, SMTPD_RESTRICT_CLIENT))
		return false;
	smtpd_check_async(s, SMTPD_RESTRICT_BIT(SMTPD_RESTRICT_CLIENT), NULL,
			  NULL, connect_done, NULL);
	return true;
}
